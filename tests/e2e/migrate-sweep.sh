#!/usr/bin/env bash
# test-timeout: 1200
# test-needs: hosts
# The injection sweep of a live migration between the emulated hosts:
# every system call binmig runs inside a process (ptrace injection,
# migrator/ptrace_ctl.c) is made to fail in turn (BINMIG_FAULT=inject:N),
# on each side of `binmig migrate PID HOST:PORT`, for programs whose state
# is read or set with such calls: timers made with given ids and a next
# timer id that the source reads after the destination's RESULT and the
# destination sets after CONFIRM (timerids), file locks let go of at the
# source and taken at the destination (locks), process and thread
# attributes (attrs).  inject-sweep.sh does the same for dump and restore.
#
#  1. The source (BINMIG_FAULT in the migrating binmig), N from 1 to the
#     count a clean migration reports (--stats: syscalls_injected), then
#     N + 1, which must not fire.  Before the point of no return (the
#     destination's RESULT), migrate fails with a documented exit and
#     names the phase, the process runs on untraced at the source exactly
#     as before (fault-lib's snapshot: maps, fdinfo, timers, each thread's
#     status), seen while migrate is held before it exits, and nothing is
#     left at the destination (no process at the PID, no worker, no
#     received image).  After it, the copy runs at the destination and
#     passes its program's checks, the original is gone, and migrate
#     printed a warning, each line once.
#  2. The destination (inject:N in the file serve reads for each
#     migration), N from 1 until it no longer fires: the migration fails
#     with a documented exit, the source resumes (it says so) exactly as
#     before, nothing is left at the destination; a call made after
#     CONFIRM (the next timer id set in the copy) that fails leaves the
#     copy running at the destination, checked as in 1.
#
# Each program then migrates once more and passes its checks.
# MIGRATE_SWEEP=quick (make test) sweeps timerids deleted at every
# MIGRATE_SWEEP_STEP-th N (default 6), the first and the last, and every
# N between two samples whose outcome differs (around the point of no
# return and the end); `make migrate-sweep` (MIGRATE_SWEEP=full) every N
# of every program.  Prints which N fell on which side.
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/migrate-lib.sh"
source "$(dirname "$0")/fault-lib.sh"
fault_hosts_init migsweep timerids locks attrs

# The source reads the next timer id in the original after RESULT, as it
# does where it cannot load its BPF program (migrator/kstate.h), which
# would read it at the freeze: those calls are swept too.
export BINMIG_TEST_NO_BPF=1
PROGRAMS=("timerids deleted" "timerids given" "locks carried DIR" "attrs carried")
STEP=1
if [[ ${MIGRATE_SWEEP:-quick} != full ]]; then
	PROGRAMS=("timerids deleted")
	STEP=${MIGRATE_SWEEP_STEP:-6}
fi
MAX_CALLS=5000 # a bound on every sweep
WORKDIR=$E2E_TMP/workdir
mkdir -p "$WORKDIR"
PHASES="suspend|checkpoint and transfer|restore at the destination|timer ids"

# start PROG: the program (a PROGRAMS entry) in host A at the workload's
# PID, ready and asleep in sigsuspend; its snapshot taken.  Sets pid, out.
RUNS=0
start() {
	local -a cmd
	read -r -a cmd <<<"$1"
	RUNS=$((RUNS + 1))
	name=${cmd[0]}-${cmd[1]}
	if [[ ${cmd[2]:-} == DIR ]]; then
		cmd[2]=$E2E_TMP/$name.$RUNS.dir
		mkdir -p "${cmd[2]}"
	fi
	out=$E2E_TMP/$name.$RUNS.out
	pid=$(mig_spawn A "$out" --pid "$MIG_WORKLOAD_PID" "$PROGS/${cmd[0]}" "${cmd[@]:1}")
	mig_in A "$TOOLS/waitfor" --pid "$pid" -x "$out" ready 20 || { e2e_show "$out"; e2e_fail "$1 did not get ready"; }
	settled A
}

# settled HOST: the program sleeps in sigsuspend there; its snapshot is
# what the next failed migration must leave.
settled() {
	mig_in "$1" "$TOOLS/waitsyscall" "$pid" "${E2E_SYSCALL_NR[rt_sigsuspend]}" 10 ||
		e2e_fail "process $pid in host $1 is not asleep in sigsuspend"
	snap "$1" >"$E2E_TMP/snap.before"
}

snap() { # HOST: fault-lib's snapshot of pid, taken in HOST
	# shellcheck disable=SC2016 # expanded in the host
	mig_in "$1" bash -c "$(declare -f snapshot)"'; snapshot "$1"' snap "$pid"
}

# finish HOST WHAT: wakes the program there; it must pass its checks.
finish() {
	mig_in "$1" kill -USR1 "$pid"
	mig_in "$1" "$TOOLS/waitfor" --pid "$pid" "$out" PASS 30 || true
	mig_in "$1" "$TOOLS/pidwait" --reaped "$pid" 30 || e2e_fail "$2: $pid did not end in host $1"
	e2e_expect_pass "$out"
}

# untraced_in HOST WHAT: every thread of pid in HOST runs untraced.
untraced_in() {
	local line
	# shellcheck disable=SC2016 # expanded in the host
	line=$(mig_in "$1" sh -c 'for t in /proc/$1/task/*; do
		echo "${t##*/} $(cut -d" " -f3 "$t/stat") $(awk "/^TracerPid:/ { print \$2 }" "$t/status")"; done' \
		untraced "$pid" 2>/dev/null) || true
	[[ -n $line ]] || e2e_fail "$2: process $pid is gone from host $1"
	while read -r tid state tracer; do
		[[ $state != [ZXxTt] && $tracer == 0 ]] ||
			e2e_fail "$2: thread $tid of $pid in host $1 is in state '$state', traced by '$tracer'"
	done <<<"$line"
}

# received: image files serve left in its workdir (/tmp, shared by the hosts).
received() { compgen -G "/tmp/binmig-received.*" || true; }

# attempt SIDE N: one migration A -> B with inject:N armed in SIDE (src:
# migrate; dst: serve), held before migrate exits: if it says the process
# resumed, every thread runs untraced already.  Sets BM_RC, BM_OUT,
# BM_ERR and FIRED (1 if the call failed, else 0; checked against the
# fault log).
attempt() {
	local side=$1 n=$2 gate=$E2E_TMP/gate.$((E2E_BM_COUNT + 1)) new
	local -a args=(migrate "$pid" "${MIG_ADDR[B]}:$MIG_PORT" --key "$MIG_KEY" --workdir "$WORKDIR")
	mkdir "$gate"
	last_serve_lines B >/dev/null
	[[ $side == dst ]] && echo "inject:$n" >"$BINMIG_SERVE_FAULT_FILE"
	if [[ $side == src ]]; then
		BINMIG_FAULT=inject:$n BINMIG_TEST_EXIT_GATE=$gate mig_bm_bg A "${args[@]}"
	else
		BINMIG_TEST_EXIT_GATE=$gate mig_bm_bg A "${args[@]}"
	fi
	"$TOOLS/waitfor" --pid "$MIG_BG_JOB" -x "$gate/exiting" exiting "$E2E_BINMIG_TIMEOUT" ||
		{ e2e_show "$MIG_BG_ERR"; e2e_fail "migrate ended, or did not come to its exit gate"; }
	! grep -q "resumed at the source" "$MIG_BG_ERR" || untraced_in A "$side inject:$n, migrate held before it exits"
	touch "$gate/go"
	mig_bm_wait
	: >"$BINMIG_SERVE_FAULT_FILE"
	# The destination's worker may still be at it (logging, or ending
	# the copy it restored after an ABORT).
	workers_done B "$side inject:$n"
	last_serve_lines B >"$SERVE_B_LAST"
	new=$(tail -n +"$((FAULT_LOG_LINES + 1))" "$BINMIG_FAULT_LOG")
	FIRED=0
	[[ -z $new ]] || { expect_fired inject "$side inject:$n" && FIRED=1; }
}

# failed_as_promised WHAT: the last migration failed with a documented
# exit and named its phase; the process runs on at the source as it was
# (but for a page binmig could not unmap); nothing is left in host B.
failed_as_promised() {
	mig_expect_failure any "$PHASES" "$pid" "$1"
	documented_failure "$1"
	untraced_in A "$1"
	mig_assert_gone B "$pid" "$1"
	snap A >"$E2E_TMP/snap.after"
	same_but_unreturned_page "$E2E_TMP/snap" "$1"
	no_leftovers "$1"
}

no_leftovers() { # WHAT
	local left
	left=$(ls -A "$WORKDIR")$(received)
	[[ -z $left ]] || e2e_fail "$1: files left: $left"
}

# counter_lost LOG: LOG warns of that loss, and the failed call is one
# after which it cannot be undone: at the source a timer_delete or the
# timer_create of the reading (a call before the first timer is deleted
# fails the migration: timers_next_id.c), at the destination any call of
# the setting but the munmap of binmig's page, which comes after it.
counter_lost() {
	if grep -q "warning: the next POSIX timer id of process $pid is not carried" "$1"; then
		grep -Eq "injecting (timer_delete|timer_create) into thread" "$1"
	elif grep -q "warning: process $pid: its next POSIX timer id could not be set" "$1"; then
		if grep -q "injecting munmap" "$1"; then return 1; fi
	else
		return 1
	fi
}

# moved_anyway PROG WHAT LOG: the last migration succeeded although an
# injected call failed after the point of no return: the copy runs in B,
# the original is gone from A, LOG (migrate's stderr, or serve's log)
# names the failed call if it warns, and has no line twice; the copy
# passes its checks.  But for one loss that no one can undo, which LOG
# must then warn of: a timer deleted in the original before the counter
# was read, or the counter not set in the copy, leaves it after the
# copy's newest timer, and the copy fails only its checks of new timers'
# ids.  Then the program starts afresh in A.
LOST_COUNTER=()
moved_anyway() {
	local prog=$1 what=$2 log=$3 dup
	mig_assert_running B "$pid" "$what"
	mig_assert_gone A "$pid" "$what"
	if e2e_said "$log" | grep -q "warning: " && ! grep -q "injecting .* into thread " "$log"; then
		e2e_fail "$what: a warning does not name the failed call: $(cat "$log")"
	fi
	dup=$(sed 's/^[0-9TZ:-]* //' "$log" | sort | uniq -d)
	[[ -z $dup ]] || e2e_fail "$what: said twice: $dup"
	no_leftovers "$what"
	if ! (finish B "$what") 2>"$E2E_TMP/finish.err"; then
		cat "$E2E_TMP/finish.err" >&2
		counter_lost "$log" || e2e_fail "$what: the copy failed its checks (above)"
		grep -v -E '^(ready|FAIL|FAIL: .* new timer [0-9]+ got id [0-9]+, the original would have given [0-9]+ .*)$' "$out" |
			grep -q . && { e2e_show "$out"; e2e_fail "$what: the copy failed more than its timer ids"; }
		grep -q "new timer" "$out" || { e2e_show "$out"; e2e_fail "$what: the copy failed"; }
		e2e_log "$what: the counter of timer ids was lost, as warned"
		LOST_COUNTER+=("$what")
	fi
	start "$prog"
}

# sweep SIDE PROG: inject:N in SIDE for N = 1, 1 + STEP, ... until a
# migration runs through without the call failing, and every N between
# two samples whose outcomes differ.  Outcomes: "before" (the migration
# failed), "after" (it succeeded anyway), "end" (nothing failed).  Sets
# LAST (the last N that fired) and SIDES (N=outcome, in order).
sweep() {
	local side=$1 prog=$2 n=1 prev=0 prev_outcome=before m
	declare -gA OUTCOME=()
	LAST=0
	while ((n <= MAX_CALLS)); do
		probe "$side" "$prog" "$n"
		if [[ ${OUTCOME[$n]} != "$prev_outcome" ]]; then
			for ((m = prev + 1; m < n; m++)); do
				probe "$side" "$prog" "$m"
				[[ ${OUTCOME[$m]} != end ]] || break
			done
		fi
		[[ ${OUTCOME[$n]} == end ]] && break
		prev=$n prev_outcome=${OUTCOME[$n]}
		n=$((n + STEP))
	done
	((n <= MAX_CALLS)) || e2e_fail "$side: inject:$MAX_CALLS still fires"
	# The outcomes in order: before..., after..., end; nothing after an end.
	# SIDES: each outcome with the first and last N probed that had it.
	SIDES=
	local seen=before k first=
	for k in $(printf '%s\n' "${!OUTCOME[@]}" | sort -n); do
		case $seen:${OUTCOME[$k]} in
		before:* | after:after | after:end | end:end) ;;
		*) e2e_fail "$side, $prog: inject:$k ${OUTCOME[$k]} after an N that was $seen" ;;
		esac
		[[ ${OUTCOME[$k]} == "$seen" && -n $first ]] || { [[ -z $first ]] || SIDES+="-$LAST"; SIDES+=" ${OUTCOME[$k]} $k"; }
		first=$k seen=${OUTCOME[$k]}
		[[ $seen == end ]] || LAST=$k
	done
	# The first N that did not fire is LAST + 1: probed, or probed now.
	[[ -n ${OUTCOME[$((LAST + 1))]:-} ]] || probe "$side" "$prog" $((LAST + 1))
	[[ ${OUTCOME[$((LAST + 1))]} == end ]] || e2e_fail "$side, $prog: inject:$((LAST + 1)) fired"
}

# probe SIDE PROG N: one attempt, checked; OUTCOME[N] set.
probe() {
	local side=$1 prog=$2 n=$3 what log
	what="$prog, $side, injected call $n failing"
	attempt "$side" "$n"
	if ((!FIRED)); then
		e2e_expect_ok "$what: nothing fired, but"
		OUTCOME[$n]=end
		mig_assert_running B "$pid" "$what"
		mig_assert_gone A "$pid" "$what"
		no_leftovers "$what"
		# Back to A, for the next N.
		mig_bm B migrate "$pid" "${MIG_ADDR[A]}:$MIG_PORT" --key "$MIG_KEY"
		e2e_expect_ok "$what: back to host A"
		mig_assert_gone B "$pid" "$what: back to host A"
		settled A
	elif ((BM_RC != 0)); then
		OUTCOME[$n]=before
		failed_as_promised "$what"
	else
		OUTCOME[$n]=after
		log=$BM_ERR
		[[ $side == src ]] || log=$SERVE_B_LAST
		moved_anyway "$prog" "$what" "$log"
	fi
}

# last_serve_lines HOST: serve's log lines since the last call (of its
# last migration, once its worker is done).
SERVE_LOG_SEEN=0 SERVE_B_LAST=$E2E_TMP/serve-B.last
last_serve_lines() {
	local log=$HOSTS_STATE/serve-$1.log n
	n=$(wc -l <"$log")
	tail -n +"$((SERVE_LOG_SEEN + 1))" "$log"
	SERVE_LOG_SEEN=$n
}

for prog in "${PROGRAMS[@]}"; do
	start "$prog"
	# A clean migration and back: its count of injected calls.
	mig_bm A migrate "$pid" "${MIG_ADDR[B]}:$MIG_PORT" --key "$MIG_KEY" --stats csv
	e2e_expect_ok "$prog: a migration without failures"
	grep -qF "$E2E_UNSEEN" "$BM_ERR" ||
		e2e_fail "$prog: migrate without the BPF programs does not warn of what goes unseen: $(cat "$BM_ERR")"
	calls=$(injected_calls "$BM_OUT")
	[[ $calls =~ ^[1-9][0-9]*$ ]] || e2e_fail "$prog: no count of injected calls in: $(cat "$BM_OUT")"
	mig_bm B migrate "$pid" "${MIG_ADDR[A]}:$MIG_PORT" --key "$MIG_KEY"
	e2e_expect_ok "$prog: back to host A"
	settled A
	sweep src "$prog"
	((LAST == calls)) ||
		e2e_fail "$prog: the source ran $LAST injected calls, its --stats says $calls"
	e2e_log "$prog: source, $calls injected calls:$SIDES"
	echo "$prog: source: $calls calls;$SIDES" >>"$E2E_TMP/summary"

	sweep dst "$prog"
	e2e_log "$prog: destination, $LAST injected calls:$SIDES"
	echo "$prog: destination: $LAST calls;$SIDES" >>"$E2E_TMP/summary"

	finish A "$prog after both sweeps"
	e2e_log "$prog: PASS after both sweeps"
done
sed 's/^/migrate sweep: /' "$E2E_TMP/summary" >&2
echo "migrate sweep: ${#PROGRAMS[@]} programs, $FAULTS_FIRED injected calls failed" >&2
for what in "${LOST_COUNTER[@]}"; do echo "migrate sweep: counter of timer ids lost (warned): $what" >&2; done
