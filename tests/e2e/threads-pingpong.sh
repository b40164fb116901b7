#!/usr/bin/env bash
# test-needs: hosts
# Live migration of a multi-threaded process back and forth between the
# emulated hosts: threads8 (13 threads: 8 workers sharing a work queue
# under a mutex and condition variables, one thread blocked in read on an
# internal pipe that main feeds in bursts, one in poll on an eventfd, one
# in sigtimedwait for queued real-time signals, one in nanosleep, main in
# pthread_cond_wait) is started in host A and migrated A -> B -> A ... 8
# times (THREADS_ROUNDS, an even number) while it works: it does its 20
# counted phases, then goes on working (uncounted) until the test opens
# its gate after the last migration, so its answer does not depend on
# how fast the migrations are.  Before each migration its result is not
# out yet and it runs; each migrate succeeds
# with a CSV row showing 13 threads; the process then runs (untraced) in
# the destination with exactly the TIDs it started with (/proc/PID/task
# inside that host), and nothing is left at the source.  Its output in
# the end equals an unmigrated run's; the program itself checks every
# thread's TID, mask, alternate stack, robust list, clear_child_tid, rseq,
# MXCSR, that no wait returned before its deadline and that the pipe,
# eventfd and signal queue lost nothing.  What /proc shows of it that it
# does not change itself (mig_live_state) is, after the last migration,
# what it was before the first.
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/migrate-lib.sh"
source "$(dirname "$0")/threads-lib.sh"
mig_init threads8
ROUNDS=${THREADS_ROUNDS:-8}
PHASES=20
T8=("$PROGS/threads8" --phases "$PHASES" --cost 2000000)
gate=$E2E_TMP/gate

ref=$E2E_TMP/reference.out
touch "$E2E_TMP/open-gate"
e2e_start "$ref" "${T8[@]}" --gate "$E2E_TMP/open-gate"
ref_pid=$E2E_PID

out=$E2E_TMP/threads8.out
pid=$(mig_spawn A "$out" "${T8[@]}" --gate "$gate")
mig_in A "$TOOLS/waitfor" --pid "$pid" "$out" ready 20 || { e2e_show "$out" "$out.err"; e2e_fail "threads8 $pid did not get ready"; }
tids=$(tasks_in A "$pid")
(($(wc -w <<<"$tids") == 13)) || e2e_fail "threads8 has the threads $tids in host A, expected 13"
e2e_log "threads8 $pid in host A, threads $tids"

mig_live_state A "$pid" "$E2E_TMP/threads8.live-before"
here=A there=B
downtimes=()
in_counted=0
start=$SECONDS
for ((round = 1; round <= ROUNDS; round++)); do
	what="migration $round ($here -> $there)"
	mig_assert_unfinished "$out" "before $what"
	grep -qx "phase $PHASES" "$out" || in_counted=$round
	mig_assert_running "$here" "$pid" "before $what"
	started=$(mig_starttime "$here" "$pid")
	mig_bm "$here" migrate "$pid" "${MIG_ADDR[$there]}:$MIG_PORT" --key "$MIG_KEY" --stats csv
	if ((BM_RC != 0)); then
		show_fds "$here" "$pid"
		e2e_show "$out" "$out.err"
	fi
	e2e_expect_ok "$what"
	mig_csv_check "$pid" 0
	threads=$(csv_column threads)
	[[ $threads == 13 ]] || e2e_fail "$what: the CSV shows ${threads:-no} threads, expected 13"
	downtimes+=("$(csv_column downtime_us)")
	mig_assert_running "$there" "$pid" "after $what"
	left_source "$here" "$pid" "$started" "after $what"
	after=$(tasks_in "$there" "$pid")
	[[ $after == "$tids" ]] || e2e_fail "after $what: threads $after in host $there, expected $tids"
	tmp=$here here=$there there=$tmp
done
mig_live_state "$here" "$pid" "$E2E_TMP/threads8.live-after"
e2e_procstate_same "$E2E_TMP/threads8.live" "threads8 after $ROUNDS migrations"
e2e_log "$ROUNDS migrations in $((SECONDS - start)) s ($in_counted in counted phases), TIDs kept; downtimes (us): ${downtimes[*]}"
touch "$gate"

mig_in "$here" "$TOOLS/waitfor" --pid "$pid" "$out" "result " 120 ||
	{ e2e_show "$out" "$out.err"; e2e_fail "threads8 did not finish in host $here"; }
e2e_wait_exit "$ref_pid" 120
wait "$ref_pid" || e2e_fail "the unmigrated run exited with status $?"
if ! cmp -s "$ref" "$out"; then
	e2e_show "$ref" "$out" "$out.err"
	e2e_fail "the migrated run's output differs from the unmigrated run's"
fi
[[ ! -s $out.err ]] || { e2e_show "$out.err"; e2e_fail "threads8 wrote on stderr"; }
for h in A B; do
	n=$(grep -c "process $pid migrated in" "$HOSTS_STATE/serve-$h.log" || true)
	((n == ROUNDS / 2)) || e2e_fail "serve-$h.log shows $n migrations in, expected $((ROUNDS / 2))"
done
e2e_log "threads8 finished in host $here with the unmigrated run's $(tail -n 1 "$out")"
