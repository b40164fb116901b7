#!/usr/bin/env bash
# Timers binmig cannot carry faithfully: a POSIX timer on the CPU time of
# the thread that created it in a process of two threads (/proc does not
# say which thread), one on another process's CPU time, a timer's pending
# signal queued before another signal of the same number (re-created, it
# would come after), a timer whose target thread has exited, a timerfd
# that is cancelled when the wall clock is set with an event not read
# (which may be such a cancellation), a timer whose last signal counted
# overruns (timer_getoverrun) while another signal of its number is
# pending (the restore sets the count by taking the timer's signal), a
# deleted timer's signal still queued (the kernel drops it when taken,
# binmig cannot queue one), an interval timer set again with its signal
# queued (stale: binmig cannot tell it from another timer expiring
# there); and
# a CLOCK_REALTIME timer of which nothing shows whether it was armed with
# TIMER_ABSTIME (tests/progs/rttimers.c): a SIGEV_NONE one, an interval
# timer whose signal is pending, one whose signal is ignored.  Each dump exits 4 with one line
# naming the timer and leaves the process running, untraced;
# woken, it finds its state intact (tests/progs/timers.c, rttimers.c).
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/lib.sh"
e2e_init timers rttimers
declare -A expect=(
	[refuse-thread-cpu]='POSIX timer [0-9]+ counts the CPU time of the thread that created it'
	[refuse-foreign-cpu]='POSIX timer [0-9]+ counts the CPU time of process [0-9]+, which would stay behind'
	[refuse-order]='the pending signal [0-9]+ of POSIX timer [0-9]+ is queued before another signal'
	[refuse-exited-thread]='POSIX timer [0-9]+ signals thread [0-9]+, which has exited'
	[refuse-timerfd-cancel]='fd [0-9]+ of process [0-9]+ is a timerfd that is cancelled when the wall clock is set'
	[refuse-overrun]='POSIX timer [0-9]+ has an overrun count of 4 while another signal [0-9]+ is pending'
	[refuse-deleted]='a signal [0-9]+ of POSIX timer [0-9]+, which no longer exists, is queued'
	[refuse-stale-interval]='POSIX timer [0-9]+ is an interval timer whose signal is queued, yet the kernel has queued the timer again'
	[refuse-stale-mixed]='POSIX timer [0-9]+, disarmed with its signal [0-9]+ queued, queued with the signal of a timer that is armed'
	[refuse-cpu-pending]='POSIX timer [0-9]+ is an interval timer with its signal queued on a clock whose timers nothing lists'
	[refuse-none]='POSIX timer [0-9]+ on CLOCK_REALTIME is armed without a signal \(SIGEV_NONE\).*TIMER_ABSTIME'
	[refuse-pending]='POSIX timer [0-9]+ on CLOCK_REALTIME is an interval timer whose signal is pending.*TIMER_ABSTIME'
	[refuse-ignored]='POSIX timer [0-9]+ on CLOCK_REALTIME is an interval timer whose signal the process ignores.*TIMER_ABSTIME'
)
declare -A prog=([refuse-none]=rttimers [refuse-pending]=rttimers [refuse-ignored]=rttimers)
for mode in refuse-thread-cpu refuse-foreign-cpu refuse-order refuse-exited-thread refuse-timerfd-cancel refuse-overrun \
	refuse-deleted refuse-stale-interval refuse-stale-mixed refuse-cpu-pending refuse-none refuse-pending refuse-ignored; do
	out=$E2E_TMP/$mode.out
	e2e_start "$out" "$PROGS/${prog[$mode]:-timers}" "$mode"
	pid=$E2E_PID
	e2e_wait_ready "$out" "$pid"
	e2e_wait_syscall "$pid" rt_sigsuspend
	bm dump "$pid" -o "$E2E_TMP/$mode.img"
	e2e_expect_error 4 "dump ($mode)"
	grep -Eq "^binmig: (process $pid: )?.*${expect[$mode]}.*" "$BM_ERR" ||
		e2e_fail "$mode: the refusal does not say \"${expect[$mode]}\": $(cat "$BM_ERR")"
	[[ ! -e $E2E_TMP/$mode.img && ! -e $E2E_TMP/$mode.img.partial ]] || e2e_fail "$mode: an image is left"
	e2e_assert_alive "$pid"
	e2e_signal "$pid" "$out"
	e2e_wait_exit "$pid"
	status=0
	wait "$pid" || status=$?
	[[ $status == 0 ]] || e2e_fail "$mode: exited with $status after the refused dump"
	e2e_expect_pass "$out"
	e2e_log "$mode: refused ($(cut -c1-150 "$BM_ERR")), the process intact"
done
