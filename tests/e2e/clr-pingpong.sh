#!/usr/bin/env bash
# test-timeout: 600
# test-needs: hosts
# Live migration of C# programs on Mono back and forth between the emulated
# hosts, each started in host A and migrated A -> B -> A ... 6 times
# (CLR_ROUNDS; make soak goes on far longer) in the middle of its work:
#   - filecopy: FileStream I/O, copying a file back and forth in 64 KiB
#     blocks through two open streams;
#   - recordstore: read-modify-write of records through a FileStream and a
#     buffer pool, a System.Threading.Timer checkpointing it from the
#     thread pool (7 threads: main, finalizer, SGen worker, timer, pool);
#   - logappend --threads 3: three threads appending to their own files
#     and reading them back through second handles;
#   - recordstore once more with MONO_GC_PARAMS=major=marksweep-conc-par,
#     which starts a second SGen worker thread (one per core; checked by
#     counting the threads named "SGen worker" against the default run,
#     where the process may run on two CPUs or more);
#   - logappend --threads 3 once more in pre-copy mode (--mode precopy):
#     JIT code in rwx memory kept in place at the destination (serve's log
#     must show pages kept in place), and once more in post-copy mode
#     (--mode postcopy: every migration's pages all arrive, says the log).
# Mono runs with MONO_DISABLE_SHARED_AREA=1: by default it maps a file
# /dev/shm/mono.PID for its performance counters, and every Mono that
# starts removes such files whose PID it does not see in its own PID
# namespace.  /dev/shm is one for the whole machine (the emulated hosts
# share it), so any Mono started elsewhere (in the root namespace, in
# someone else's namespaces) could remove the migrated process's file at
# any time, and binmig rightly refuses a process that maps a deleted file.
# Between real hosts the file would not exist at the destination at all.
# Each works in small batches until the test tells it to finish (--until),
# so before each migration its result is not out yet, whatever the
# machine's speed; each migrate succeeds with a CSV row; the process then
# runs (untraced) in the destination and nothing is left at the source;
# its long-lived threads (those that have not been replaced by Mono's
# thread pool meanwhile) are still there with their TIDs.  Told to finish,
# it prints the units it did; its result equals that of an unmigrated run
# of exactly those units (the result covers the contents of every file it
# wrote), and every file it wrote is byte for byte the unmigrated run's.
# What /proc shows of it after the last migration (back in host A) is
# what it showed when it got ready, on the lines a working runtime does
# not change (E2E_PROCSTATE_RUNNING, CLR_MOVING, clr_steady): its
# limits, attributes, identity, descriptors and the mappings of its files.
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/migrate-lib.sh"
source "$(dirname "$0")/threads-lib.sh"
command -v mono >/dev/null || e2e_skip "mono is missing (mono-runtime)"
CLR=$BINMIG_ROOT/workloads/build/clr
for w in filecopy recordstore logappend; do
	[[ -f $CLR/$w.exe ]] || e2e_fail "workload $CLR/$w.exe not built (make workloads)"
done
mig_init
ROUNDS=${CLR_ROUNDS:-6}
GC_PARAMS=major=marksweep-conc-par

# same_files DIR_REF DIR: the same files with the same contents.
same_files() {
	local ref=$1 dir=$2 f ref_files dir_files
	ref_files=$(cd "$ref" && printf '%s ' *)
	dir_files=$(cd "$dir" && printf '%s ' *)
	[[ $ref_files == "$dir_files" ]] || e2e_fail "files differ: $ref_files vs $dir_files"
	for f in "$ref"/*; do
		cmp -s "$f" "$dir/${f##*/}" || e2e_fail "${f##*/} differs from the unmigrated run's"
	done
}

SGEN_WORKERS_DEFAULT=
# What /proc shows of a Mono workload that changes as it works: its
# threads (the thread pool's come and go), its files' offsets, and
# (clr_steady) its anonymous memory (the heap, JIT code, stacks).
CLR_MOVING='^(thread [0-9]+ |fd [0-9]+ pos:)'

# clr_steady BASE: of the snapshots BASE-before and BASE-after, the
# mappings of files only, and in BASE-after only those mapped at
# BASE-before's addresses (the runtime maps more as it works, and never
# unmaps a library): one that moved, or changed its permissions, offset,
# file or flags, shows as missing.
clr_steady() {
	local f
	for f in "$1-before" "$1-after"; do
		awk -v before="$1-before" -v after="$f" '
			BEGIN { if (after != before) while ((getline l < before) > 0) if (l ~ /^map [0-9a-f]+-/) known[l] = 1 }
			/^map [0-9a-f]+-/ { keep = NF >= 7 && $7 ~ /^\// && (after == before || known[$0]) }
			/^map / { if (keep) print; next }
			{ print }' "$f" >"$f.steady"
	done
	mv "$1-after.steady" "$1-after"
	mv "$1-before.steady" "$1-before"
}
CLR_MODE=()

# clr_pingpong TAG GC_PARAMS BATCH WORKLOAD ARGS...: a run in the hosts,
# in batches of BATCH units until told to finish, migrated ROUNDS times;
# then an unmigrated run of the same units in the root namespace, each in
# its own directory; same result and files.
# cpus_of PID: how many CPUs PID (in host A) may run on; fails if that
# cannot be told.
cpus_of() {
	local n
	n=$(mig_in A python3 -c 'import os, sys; print(len(os.sched_getaffinity(int(sys.argv[1]))))' "$1") &&
		[[ $n =~ ^[0-9]+$ ]] && echo "$n"
}

clr_pingpong() {
	local tag=$1 gc=$2 batch=$3 name=$4
	shift 4
	local args=("$@") ref_dir=$E2E_TMP/$tag-ref dir=$E2E_TMP/$tag
	local out=$E2E_TMP/$tag.out stop=$E2E_TMP/$tag.stop
	local cmd=(env MONO_DISABLE_SHARED_AREA=1 mono "$CLR/$name.exe" "${args[@]}")
	[[ -z $gc ]] || cmd=(env "MONO_GC_PARAMS=$gc" "${cmd[@]}")
	local pid
	pid=$(mig_spawn A "$out" "${cmd[@]}" --dir "$dir" --work "$batch" --until "$stop")
	mig_in A "$TOOLS/waitfor" --pid "$pid" "$out" ready 60 || { e2e_show "$out" "$out.err"; e2e_fail "$tag did not get ready"; }

	# The GC's worker threads: counted before any migration (binmig does
	# not carry thread names); one a CPU the process may run on.
	local workers
	workers=$(tids_named A "$pid" "SGen worker")
	local nworkers
	nworkers=$(wc -w <<<"$workers")
	e2e_log "$tag: $pid in host A, threads $(tasks_in A "$pid")($nworkers SGen workers)"
	if [[ -z $gc ]]; then
		((nworkers >= 1)) || e2e_fail "$tag: no SGen worker thread"
		[[ -n $SGEN_WORKERS_DEFAULT ]] || SGEN_WORKERS_DEFAULT=$nworkers
	else
		local ncpus
		ncpus=$(cpus_of "$pid") || e2e_fail "$tag: cannot tell the CPUs process $pid may run on"
		if ((ncpus >= 2)); then
			((nworkers > SGEN_WORKERS_DEFAULT)) ||
				e2e_fail "$tag: MONO_GC_PARAMS=$gc gives $nworkers SGen workers, no more than the default $SGEN_WORKERS_DEFAULT"
		else
			e2e_log "$tag: one CPU to run on, so $nworkers SGen workers, as by default: a second one is not tried"
		fi
	fi
	# Threads that live as long as the runtime: main, finalizer, GC workers.
	local lasting
	lasting="$pid $(tids_named A "$pid" Finalizer)$workers"

	local here=A there=B round what threads=() downtimes=() before after t started
	local start=$SECONDS
	mig_procstate_running A "$pid" "$E2E_TMP/$tag.proc-before"
	for ((round = 1; round <= ROUNDS; round++)); do
		what="$tag migration $round ($here -> $there)"
		mig_assert_unfinished "$out" "before $what"
		mig_assert_running "$here" "$pid" "before $what"
		started=$(mig_starttime "$here" "$pid")
		before=$(tasks_in "$here" "$pid")
		mig_bm "$here" migrate "$pid" "${MIG_ADDR[$there]}:$MIG_PORT" --key "$MIG_KEY" --stats csv "${CLR_MODE[@]}"
		e2e_expect_ok "$what"
		mig_csv_check "$pid" 1
		threads+=("$(csv_column threads)")
		downtimes+=("$(csv_column downtime_us)")
		mig_assert_running "$there" "$pid" "after $what"
		left_source "$here" "$pid" "$started" "after $what"
		after=" $(tasks_in "$there" "$pid")"
		for t in $lasting; do
			[[ $after == *" $t "* ]] || e2e_fail "after $what: thread $t is missing in host $there (threads:$after, before: $before)"
		done
		local tmp=$here
		here=$there there=$tmp
	done
	e2e_log "$tag: $ROUNDS migrations in $((SECONDS - start)) s; threads: ${threads[*]}; downtimes (us): ${downtimes[*]}"
	if [[ $here == A ]]; then
		mig_procstate_running A "$pid" "$E2E_TMP/$tag.proc-after"
		clr_steady "$E2E_TMP/$tag.proc"
		E2E_PROCSTATE_ACCEPT="$E2E_PROCSTATE_RUNNING|$CLR_MOVING" e2e_procstate_same "$E2E_TMP/$tag.proc" "$tag after $ROUNDS migrations"
	fi

	touch "$stop"
	mig_in "$here" "$TOOLS/waitfor" --pid "$pid" "$out" "result " 300 ||
		{ e2e_show "$out" "$out.err"; e2e_fail "$tag did not finish in host $here"; }
	mig_in "$here" "$TOOLS/pidwait" "$pid" 30 || e2e_fail "$tag: process $pid did not exit after its result"
	# stderr holds timing-dependent statistics (recordstore's checkpoint
	# count), so only stdout is compared.
	e2e_until_result "$out" 300 "${cmd[@]}" --dir "$ref_dir"
	same_files "$ref_dir" "$dir"
	e2e_log "$tag: finished in host $here after $E2E_UNITS units with the unmigrated run's result, files identical"
	rm -rf "$ref_dir" "$dir"
}

# Batches of about 0.1 s of work (workloads/README.md gives the rates).
clr_pingpong filecopy "" 3000 filecopy
clr_pingpong recordstore "" 30000 recordstore
clr_pingpong logappend "" 100000 logappend --threads 3
clr_pingpong recordstore-gcpar "$GC_PARAMS" 30000 recordstore
# Pre-copy: JIT code in rwx memory, the GC's threads, the shared area
# left out; the process keeps the pre-copied pages in place.
CLR_MODE=(--mode precopy)
clr_pingpong logappend-precopy "" 100000 logappend --threads 3
grep -q "pre-copy: process [0-9]* kept [1-9][0-9]* pages in place" "$HOSTS_STATE/serve-A.log" ||
	e2e_fail "no pre-copy migration of logappend kept pages in place"
# Post-copy: the heap, JIT code and thread stacks arrive while the runtime
# runs at the destination, its threads faulting on them.
CLR_MODE=(--mode postcopy)
clr_pingpong logappend-postcopy "" 100000 logappend --threads 3
n=$(cat "$HOSTS_STATE/serve-A.log" "$HOSTS_STATE/serve-B.log" | grep -c "post-copy: process [0-9]* has all its [1-9][0-9]* pages")
((n == ROUNDS)) || e2e_fail "the serve logs show $n post-copy migrations of logappend that finished, expected $ROUNDS"
