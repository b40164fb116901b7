#!/usr/bin/env bash
# Timers carried by a local dump and restore: interval timers (alarm,
# setitimer), POSIX timers (same ids, signals, values, target threads,
# clocks, a SIGEV_THREAD one, pending timer signals in their order) and
# timerfds (clocks, flags, dup, unread expirations; two in an epoll
# instance, one ready), each kind in a process of its own (tests/progs/timers.c says what each checks).  The
# four start together with deadlines TIMERS_S ahead, the test's own time
# limit, so that on any machine each is dumped, restored and woken before
# any of them expires (each image must show them armed: binmig inspect;
# a timer that falls due while frozen is e2e/timers-expired's concern);
# once woken each program checks the time left, then sets its timers
# again as they were armed to fall due NEAR_S later, and they must fire
# as they should.  Then the id the next timer_create hands out
# (tests/progs/timerids.c), which the dump reads through BPF
# (migrator/kstate.h) and the image shows: after timers made with given
# ids out of order (the restore makes the newest last, as the image says,
# so the counter follows it), after plain timers, after the newest timers
# were deleted and after all were (the restore sets the counter), and in a
# tree whose root deleted its newest.  Each process waits in sigsuspend
# before the dump and after the restore, and /proc shows the same of it
# (e2e_procstate).
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/lib.sh"
e2e_init timers timerids
# TIMERS_S is run-tests' time limit for this test (its default, 300 s);
# with a longer TEST_TIMEOUT, a machine slow enough fails the check before
# the wake-ups instead.
TIMERS_S=300 NEAR_S=2
MODES=(itimer posix timerfd epoll)
due=$(($(date +%s%N) + TIMERS_S * 1000000000))
declare -A pids
for mode in "${MODES[@]}"; do
	e2e_start "$E2E_TMP/$mode.out" "$PROGS/timers" "$mode" "$TIMERS_S" "$NEAR_S"
	pids[$mode]=$E2E_PID
done
# What each image must show: the timers armed, not yet expired (POSIX
# timer B armed with TIMER_ABSTIME on CLOCK_REALTIME, and so marked; S's
# signal pending and stale, S armed again).
declare -A shows=(
	[itimer]='^  ITIMER_REAL +[0-9]+\.[0-9]+ s left, every 3600\.000000000 s$'
	[posix]='^  POSIX timer [0-9]+: clock REALTIME \(0\), notify signal [0-9]+ to thread [0-9]+, value 0xca, absolute, [0-9.]+ s left, every 60\.000000000 s$'
	[timerfd]='^  timerfd fd [0-9]+: clock REALTIME, absolute, 0 unread, [0-9.]+ s left$'
	[epoll]='^  timerfd fd [0-9]+: clock BOOTTIME, 1 unread, disarmed$'
)
STALE='^  POSIX timer [0-9]+: clock MONOTONIC \(1\), notify signal [0-9]+ to the process, value 0x3e9, stale signal pending \([0-9]+\), [0-9.]+ s left$'
for mode in "${MODES[@]}"; do
	pid=${pids[$mode]}
	e2e_wait_ready "$E2E_TMP/$mode.out" "$pid"
	e2e_wait_syscall "$pid" rt_sigsuspend
	e2e_procstate "$pid" "$E2E_TMP/$mode.proc-before"
	e2e_dump "$pid" "$E2E_TMP/$mode.img"
	bm inspect "$E2E_TMP/$mode.img"
	e2e_expect_ok "inspect $mode.img"
	grep -Eq "${shows[$mode]}" "$BM_OUT" ||
		{ sed -n '/^timers/,$p' "$BM_OUT" >&2; e2e_fail "$mode.img does not show its timers armed (dumped too late?)"; }
	[[ $mode != posix ]] || grep -Eq "$STALE" "$BM_OUT" ||
		{ sed -n '/^timers/,$p' "$BM_OUT" >&2; e2e_fail "$mode.img does not show S's stale signal"; }
	e2e_restore "$E2E_TMP/$mode.img" "$pid"
	e2e_wait_syscall "$pid" rt_sigsuspend
	e2e_procstate "$pid" "$E2E_TMP/$mode.proc-after"
	e2e_procstate_same "$E2E_TMP/$mode.proc" "timers $mode"
	(($(date +%s%N) < due)) || e2e_fail "the dumps and restores took more than TIMERS_S=$TIMERS_S s: the timers fell due"
	e2e_signal "$pid" "$E2E_TMP/$mode.out"
done
for mode in "${MODES[@]}"; do
	e2e_wait_exit "${pids[$mode]}" $((NEAR_S + 60))
	e2e_expect_pass "$E2E_TMP/$mode.out"
	e2e_log "$mode: PASS after the restore"
done
# The id each mode's next timer_create gets (tests/progs/timerids.c).
declare -A next_id=([given]=3 [plain]=3 [deleted]=4 [none]=5)
for mode in given plain deleted none; do
	e2e_start "$E2E_TMP/ids-$mode.out" "$PROGS/timerids" "$mode"
	pid=$E2E_PID
	e2e_wait_ready "$E2E_TMP/ids-$mode.out" "$pid"
	e2e_wait_syscall "$pid" rt_sigsuspend
	e2e_procstate "$pid" "$E2E_TMP/ids-$mode.proc-before"
	e2e_dump "$pid" "$E2E_TMP/ids-$mode.img"
	bm inspect "$E2E_TMP/ids-$mode.img"
	e2e_expect_ok "inspect ids-$mode.img"
	# Timer 2 is the newest in both (given: 0, 7, then 2).
	[[ $mode != given && $mode != plain ]] || grep -q "^  POSIX timer 2 was made last" "$BM_OUT" ||
		e2e_fail "ids-$mode.img does not mark timer 2 made last"
	# The counter, read by the dump (BPF, migrator/kstate.h).
	grep -q "^  next POSIX timer id ${next_id[$mode]}\$" "$BM_OUT" ||
		e2e_fail "ids-$mode.img does not carry the next timer id ${next_id[$mode]}"
	e2e_restore "$E2E_TMP/ids-$mode.img" "$pid"
	e2e_wait_syscall "$pid" rt_sigsuspend
	e2e_procstate "$pid" "$E2E_TMP/ids-$mode.proc-after"
	e2e_procstate_same "$E2E_TMP/ids-$mode.proc" "timerids $mode"
	e2e_signal "$pid" "$E2E_TMP/ids-$mode.out"
	e2e_wait_exit "$pid" 30
	e2e_expect_pass "$E2E_TMP/ids-$mode.out"
	e2e_log "timerids $mode: the next timer ids as the original's after the restore"
done
# A tree (timerids tree: the root as in deleted, its child as in given):
# each member's counter read by the dump and set by the tree's restore.
e2e_start "$E2E_TMP/ids-tree.out" "$PROGS/timerids" tree
root=$E2E_PID
e2e_wait_ready "$E2E_TMP/ids-tree.out" "$root"
kid=$(tr -d ' \n' <"/proc/$root/task/$root/children")
[[ $kid =~ ^[0-9]+$ ]] || e2e_fail "timerids tree: the root has no one child ($kid)"
e2e_wait_syscall "$root" rt_sigsuspend
e2e_wait_syscall "$kid" rt_sigsuspend
e2e_tree_dump_restore "$E2E_TMP/ids-tree.img" 1 "timerids tree" "$root" "$kid"
e2e_wait_syscall "$root" rt_sigsuspend
e2e_signal "$root" "$E2E_TMP/ids-tree.out"
e2e_wait_exit "$root" 30
e2e_expect_pass "$E2E_TMP/ids-tree.out"
e2e_log "timerids tree: each member's next timer ids as the original's after the restore"
