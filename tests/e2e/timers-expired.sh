#!/usr/bin/env bash
# Time spent frozen counts: a process whose timers (ITIMER_REAL, a one-shot
# and an interval POSIX timer, a one-shot and an interval timerfd) are due
# TIMERS_S after the arming is dumped before that (its image shows them
# armed) and restored only after the deadline has passed.  Each timer
# fires right after the restore: when the process is woken its signals are
# pending and its timerfds readable already; the interval ones counted the
# periods they missed and kept their phase (tests/progs/timers.c,
# expired).  So does a relative CLOCK_REALTIME interval timer (tests/progs/
# rttimers.c late), which keeps its grid and comes back absolute: armed at
# the deadline that passed, the only way to fire it at once on its grid.
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/lib.sh"
e2e_init timers rttimers
# Each process waits in sigsuspend before the dump and after the restore,
# and /proc shows the same of it (e2e_procstate) but for its pending
# signals: its timers fell due meanwhile, and the program checks those
# signals when it wakes.
FIRED='^(status|thread [0-9]+) (SigPnd|ShdPnd):'
# Both dumps must come before the deadline, however slow the machine: 20
# s ahead, some thirty times what the two programs' start and dumps take
# here (under a second beside another test run).
TIMERS_S=20
out=$E2E_TMP/expired.out img=$E2E_TMP/expired.img
late_out=$E2E_TMP/late.out late_img=$E2E_TMP/late.img
e2e_start "$late_out" "$PROGS/rttimers" late "$TIMERS_S"
late_pid=$E2E_PID
e2e_start "$out" "$PROGS/timers" expired "$TIMERS_S"
pid=$E2E_PID
e2e_wait_ready "$late_out" "$late_pid"
e2e_wait_ready "$out" "$pid"
deadline=$(sed -n 's/^deadline \([0-9]*\)$/\1/p' "$out")
[[ -n $deadline ]] || e2e_fail "no deadline line in $(basename "$out")"
late_deadline=$(sed -n 's/^deadline \([0-9]*\)$/\1/p' "$late_out")
[[ -n $late_deadline ]] || e2e_fail "no deadline line in $(basename "$late_out")"
# The later of the two: which program armed its timers first is the
# scheduler's choice, and rttimers reads where the kernel queued its own.
((late_deadline > deadline)) && deadline=$late_deadline
e2e_wait_syscall "$late_pid" rt_sigsuspend
e2e_procstate "$late_pid" "$late_img.proc-before"
e2e_dump "$late_pid" "$late_img"
e2e_wait_syscall "$pid" rt_sigsuspend
e2e_procstate "$pid" "$img.proc-before"
e2e_dump "$pid" "$img"
bm inspect "$img"
e2e_expect_ok "inspect"
armed=$(sed -n '/^timers/,$p' "$BM_OUT" | grep -Ec ' s left(, every 0\.250000000 s)?$') || true
((armed == 5)) || { sed -n '/^timers/,$p' "$BM_OUT" >&2; e2e_fail "the image shows $armed of 5 timers armed (dumped too late?)"; }
# Frozen past both deadlines (a whole second past the later, so that the
# interval timers missed several periods): a wait for the clock itself.
now=$(date +%s%N)
((now < deadline + 1000000000)) && sleep "$(printf '%d.%09d' $(((deadline + 1000000000 - now) / 1000000000)) $(((deadline + 1000000000 - now) % 1000000000)))"
e2e_restore "$late_img" "$late_pid"
e2e_wait_syscall "$late_pid" rt_sigsuspend
e2e_procstate "$late_pid" "$late_img.proc-after"
E2E_PROCSTATE_ACCEPT=$FIRED e2e_procstate_same "$late_img.proc" "rttimers late"
e2e_signal "$late_pid" "$late_out"
e2e_wait_exit "$late_pid" 60
e2e_expect_pass "$late_out"
e2e_restore "$img" "$pid"
e2e_wait_syscall "$pid" rt_sigsuspend
e2e_procstate "$pid" "$img.proc-after"
E2E_PROCSTATE_ACCEPT=$FIRED e2e_procstate_same "$img.proc" "timers expired"
e2e_signal "$pid" "$out"
e2e_wait_exit "$pid" 60
e2e_expect_pass "$out"
e2e_log "restored $((($(date +%s%N) - deadline) / 1000000)) ms after the deadline: every timer fired right after the restore"
