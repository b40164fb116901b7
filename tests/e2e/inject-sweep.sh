#!/usr/bin/env bash
# test-timeout: 900
# The injection sweep: every system call binmig runs inside a process
# (ptrace injection, migrator/ptrace_ctl.c) is made to fail in turn, the
# first, then the second, and so on to the last (BINMIG_FAULT=inject:N),
# in the dump and in the restore of programs whose state binmig reads or
# sets with such calls: process attributes and modes, epoll, signalfd and
# eventfd instances, file locks, POSIX timers made with given ids, a unix
# socket with descriptors in flight, signal-driven I/O, guard regions.
# The fault walk (fault-walk.sh) makes only the first call fail; a
# failure between two calls that change the process (a probe page
# mapped, a mask blocked, a lock released) is what this one finds.
# For each N:
#
#  1. `binmig dump --leave-running`: a documented failure, every thread
#     running untraced while binmig is still held before it exits, no
#     image left, and the process exactly as it was: its memory map,
#     descriptors with their fdinfo, timers, and each thread's status
#     (masks, credentials, modes) as before the first dump.  The one
#     exception: when the failing call is the munmap that gives back a
#     page binmig mapped in the process, that page stays (no call is left
#     to give it back).  After the
#     last N the program still passes its own checks, so nothing it
#     checks was changed either.
#  2. `binmig restore IMAGE`: a documented failure, nothing left at the
#     PID, the image unchanged.  The restore that follows succeeds and
#     the program passes its checks.
#
# The number of calls of each is counted by a run without failure
# (--stats: syscalls_injected); the sweep checks that call N+1 of that
# count is never reached (the point does not fire).  INJECT_SWEEP=quick
# (make test) sweeps the first two programs; `make inject-sweep` all, and
# sends the SIGSTOP below at every call of each dump.
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/fault-lib.sh"
e2e_init attrs modes watch locks timerids scmrights sigio memguard
e2e_has_faults ||
	e2e_fail "$BINMIG is built without fault injection (make test-build)"
export BINMIG_FAULT_LOG=$E2E_TMP/fault.log
: >"$BINMIG_FAULT_LOG"

PROGRAMS=("attrs carried" "scmrights carried DIR" "modes carried" "watch carried" "locks carried DIR" "timerids given"
	"sigio carried DIR")
"$PROGS/memguard" probe >/dev/null && PROGRAMS+=("memguard carried DIR")
[[ ${INJECT_SWEEP:-quick} == full ]] || PROGRAMS=("${PROGRAMS[@]:0:2}")

# sweep_dump PID NAME: makes each of the dump's injected calls fail.
sweep_dump() {
	local pid=$1 name=$2 img=$E2E_TMP/$2.img calls n what
	snapshot "$pid" >"$E2E_TMP/$name.before"
	bm dump "$pid" -o "$img" --leave-running --stats csv
	e2e_expect_ok "$name: dump without failures"
	calls=$(injected_calls "$BM_OUT")
	[[ $calls =~ ^[1-9][0-9]*$ ]] || e2e_fail "$name: no count of injected calls in: $(cat "$BM_OUT")"
	rm -f "$img"
	for ((n = 1; n <= calls + 1; n++)); do
		what="$name: dump, injected call $n of $calls failing"
		BINMIG_FAULT=inject:$n bm_held dump "$pid" -o "$img" --leave-running
		untraced_running "$pid" "$what"
		bm_unhold
		if ((n > calls)); then
			e2e_expect_ok "$name: dump with call $n armed, beyond the last"
			(($(wc -l <"$BINMIG_FAULT_LOG") == FAULT_LOG_LINES)) ||
				e2e_fail "$name: the dump ran more than the $calls calls counted"
			rm -f "$img"
		else
			expect_fired inject "$what"
			documented_failure "$what"
			[[ ! -e $img && ! -e $img.partial ]] || e2e_fail "$what: an image is left: $(ls "$img"*)"
		fi
		snapshot "$pid" >"$E2E_TMP/$name.after"
		same_but_unreturned_page "$E2E_TMP/$name" "$what"
	done
	e2e_log "$name: each of the dump's $calls injected calls failed in turn; the process is as it was"
	DUMP_CALLS=$calls
}

# sweep_restore PID NAME: dumps PID, makes each of the restore's injected
# calls fail, then restores it.
sweep_restore() {
	local pid=$1 name=$2 img=$E2E_TMP/$2.img calls n what
	bm dump "$pid" -o "$img"
	e2e_expect_ok "$name: dump for the restores"
	e2e_reap "$pid"
	bm restore "$img" --stats csv
	e2e_expect_ok "$name: restore without failures"
	calls=$(injected_calls <(tail -n 2 "$BM_OUT"))
	[[ $calls =~ ^[1-9][0-9]*$ ]] || e2e_fail "$name: no count of injected calls in: $(cat "$BM_OUT")"
	kill -KILL "$pid"
	e2e_wait_exit "$pid"
	cp "$img" "$img.orig"
	for ((n = 1; n <= calls; n++)); do
		what="$name: restore, injected call $n of $calls failing"
		BINMIG_FAULT=inject:$n bm restore "$img"
		expect_fired inject "$what"
		documented_failure "$what"
		e2e_wait_exit "$pid" 10
		cmp -s "$img" "$img.orig" || e2e_fail "$what: the image changed"
	done
	bm restore "$img"
	e2e_expect_ok "$name: restore after the sweep"
	e2e_track "$pid"
	e2e_log "$name: each of the restore's $calls injected calls failed in turn; then it was restored"
}

# stop_in_calls PID NAME CALLS: a SIGSTOP sent to the process as call 1,
# the middle call and the last of CALLS start (INJECT_SWEEP=full: every
# call) (stop-in-call:N), which no mask of binmig's holds back.  `dump
# --leave-running` is refused (exit 4) or, after its final reading of the
# pending signals, succeeds; either way the process is stopped after it,
# then, continued, as it was.
stop_in_calls() {
	local pid=$1 name=$2 calls=$3 n what img=$E2E_TMP/$2.stop.img
	local at=(1 $((($3 + 1) / 2)) "$3")
	[[ ${INJECT_SWEEP:-quick} != full ]] || mapfile -t at < <(seq 1 "$calls")
	for n in "${at[@]}"; do
		what="$name: dump, SIGSTOP sent as injected call $n of $calls starts"
		BINMIG_FAULT=stop-in-call:$n bm dump "$pid" -o "$img" --leave-running
		# Refused when it came before the final reading of the pending
		# signals, else dumped (it then goes with the original only).
		((BM_RC == 0)) || { e2e_expect_error 4 "$what" && grep -q "was stopped (SIGSTOP)" "$BM_ERR"; } ||
			e2e_fail "$what: exit $BM_RC: $(cat "$BM_ERR")"
		expect_fired stop-in-call "$what"
		e2e_wait_state "$pid" T "$what: the process is not stopped"
		kill -CONT "$pid"
		e2e_wait_state "$pid" S "$what: the process did not continue"
		snapshot "$pid" >"$E2E_TMP/$name.after"
		same_but_unreturned_page "$E2E_TMP/$name" "$what"
		rm -f "$img"
	done
}

# stop_in_dump_and_restore PID NAME: a SIGSTOP as the first call of a
# dump starts refuses it (exit 4: binmig does not carry a stopped
# process) and the process is stopped after it; one sent as a call of the
# restore starts does not fail it (it is dropped: pending_stop.h).
stop_in_dump_and_restore() {
	local pid=$1 name=$2 img=$E2E_TMP/$2.stop.img
	BINMIG_FAULT=stop-in-call:1 bm dump "$pid" -o "$img"
	e2e_expect_error 4 "$name: dump with a SIGSTOP at its first call"
	grep -q "was stopped (SIGSTOP) while binmig dumped it" "$BM_ERR" || e2e_fail "$name: the refusal does not say why"
	expect_fired stop-in-call "$name: dump"
	[[ ! -e $img ]] || e2e_fail "$name: a refused dump left an image"
	e2e_wait_state "$pid" T "$name: the process is not stopped after the refused dump"
	kill -CONT "$pid"
	e2e_wait_state "$pid" S "$name: the process did not continue"
	bm dump "$pid" -o "$img"
	e2e_expect_ok "$name: dump"
	e2e_wait_exit "$pid"
	BINMIG_FAULT=stop-in-call:2 bm restore "$img"
	e2e_expect_ok "$name: restore with a SIGSTOP at its second call"
	expect_fired stop-in-call "$name: restore"
	e2e_track "$pid"
	e2e_log "$name: a SIGSTOP during the dump refused it; one during the restore did not fail it"
}

for prog in "${PROGRAMS[@]}"; do
	read -r -a cmd <<<"$prog"
	name=${cmd[0]}-${cmd[1]}
	[[ ${cmd[2]:-} == DIR ]] && mkdir -p "$E2E_TMP/$name.dir" && cmd[2]=$E2E_TMP/$name.dir
	out=$E2E_TMP/$name.out
	e2e_start "$out" "$PROGS/${cmd[0]}" "${cmd[@]:1}"
	pid=$E2E_PID
	e2e_wait_ready "$out" "$pid"
	e2e_wait_syscall "$pid" rt_sigsuspend
	sweep_dump "$pid" "$name"
	stop_in_calls "$pid" "$name" "$DUMP_CALLS"
	sweep_restore "$pid" "$name"
	[[ $prog != "${PROGRAMS[0]}" ]] || stop_in_dump_and_restore "$pid" "$name"
	e2e_wait_syscall "$pid" rt_sigsuspend
	e2e_signal "$pid" "$out"
	e2e_wait_exit "$pid"
	e2e_expect_pass "$out"
	e2e_log "$prog: PASS after both sweeps"
done
echo "injection sweep: ${#PROGRAMS[@]} programs, $FAULTS_FIRED armings fired (an injected call failed, or a SIGSTOP came as one started)" >&2
