/* Timers: alarm() and the interval timers (setitimer), POSIX timers
 * (timer_create) and timerfd descriptors.  Read at dump with system calls
 * injected into the stopped process (they are its own state) and
 * /proc/PID/timers, set again at restore with system calls injected into
 * the new one.
 *
 * Time spent frozen counts as time that passed for the clocks that run
 * while a process is stopped (REALTIME, MONOTONIC, BOOTTIME, TAI and the
 * alarm clocks): the image records CLOCK_REALTIME once the timers have
 * been read, and restore takes off what has passed since (the hosts' wall
 * clocks are assumed to agree).  An expiry that fell into that gap fires
 * right after the restore, and an interval timer keeps its phase.  CPU
 * clocks do not advance while a process is frozen: their timers are
 * carried as they are.  What is carried exactly, and the few things that
 * are not, is in docs/image-format.md (TIMERS). */
#ifndef BINMIG_TIMERS_H
#define BINMIG_TIMERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/types.h>

#include "checkpoint.h"
#include "procfs.h"
#include "ptrace_ctl.h"
#include "state.h"

/* siginfo_t on x86-64, as binmig reads pending signals (bm_siginfo.raw):
 * si_signo at 0, si_code at 8, the union from 16; for a POSIX timer's
 * signal (si_code SI_TIMER) its first int is the timer id. */
/* Puts a timerfd's unread expirations (linux/timerfd.h, which cannot be
 * included with fcntl.h; CONFIG_CHECKPOINT_RESTORE). */
#define BM_TFD_IOC_SET_TICKS _IOW('T', 0, uint64_t)

#define BM_SI_TIMER_CODE (-2)
#define BM_SI_CODE_OFF 8
#define BM_SI_TIMERID_OFF 16
/* sigev_notify's SIGEV_THREAD_ID bit, as the kernel keeps it. */
#define BM_SIGEV_THREAD_ID_BIT 4

/* The int at P (a siginfo field), whatever P's alignment. */
static inline int32_t bm_si_i32(const uint8_t *p)
{
	int32_t v;
	__builtin_memcpy(&v, p, sizeof v);
	return v;
}

/* prctl(PR_TIMER_CREATE_RESTORE_IDS) (Linux 6.15; Debian 12's headers
 * lack it): while ON, timer_create takes the id to create from *timerid. */
#define BM_PR_TIMER_CREATE_RESTORE_IDS 77
#define BM_PR_TIMER_CREATE_RESTORE_IDS_OFF 0
#define BM_PR_TIMER_CREATE_RESTORE_IDS_ON 1
#define BM_PR_TIMER_CREATE_RESTORE_IDS_GET 2

/* Most POSIX timers carried (the kernel's own limit is RLIMIT_SIGPENDING). */
#define BM_MAX_POSIX_TIMERS 65536u

/* Dump, before the process is stopped: refuses (BM_EXIT_UNSUPPORTED, one
 * line naming the timer) a POSIX timer that cannot be carried, from
 * /proc/PID/timers, so that the common refusal leaves the process
 * untouched. */
int bm_check_timers(pid_t pid);

/* Dump, with every thread stopped, its descriptors described and its
 * pending signals read: fills f->proc.timers.  Re-reads the pending
 * signals (a timer may fire while the process is frozen) and takes the
 * signals of POSIX timers out of them (they are fired again at restore).
 * Refuses what cannot be carried; the process is left as it was. */
int bm_collect_timers(struct bm_frozen *f);

/* Restore, inside the new process while it still runs binmig's code
 * (system calls only): a timerfd with the clock and O_NONBLOCK of
 * descriptor D, not armed yet.  The new descriptor or -errno. */
int bm_timerfd_open(const struct bm_process *p, const struct bm_fd *d);

/* Restore, once every thread exists and while the process still has
 * binmig's credentials (the alarm clocks need CAP_WAKE_ALARM): creates the
 * POSIX timers with their ids, fires those whose signal was pending again,
 * arms every timer and sets the interval timers and the timerfds, all by
 * system calls injected into LEADER, with SCRATCH (4096 bytes of the
 * process's memory) for their arguments; THREADS (the leader first) take
 * the signals that give a timer its overrun count back. */
int bm_restore_timers(struct bm_tracee *const *threads, size_t nthreads, uint64_t scratch,
		      const struct bm_process *p);

/* ---- the logic, without a process (timers_plan.c, tests/unit/test_timers.c) ---- */

/* Whether CLOCKID runs while a process is stopped (a wall clock, not a CPU clock). */
bool bm_timer_clock_is_wall(int32_t clockid);

/* Whether a timer on CLOCKID can be carried for process PID with threads
 * TIDS: 0, or -1 with the reason in WHY.  *WALL: the clock runs while the
 * process is frozen (else it counts CPU time). */
int bm_timer_clock_check(int32_t clockid, pid_t pid, const pid_t *tids, size_t ntids, bool *wall, char *why,
			 size_t why_size);

/* Whether the POSIX timer T of /proc/PID/timers can be carried: 0, or -1
 * with the reason in WHY. */
int bm_proc_timer_check(const struct bm_proc_timer *t, pid_t pid, const pid_t *tids, size_t ntids, char *why,
			size_t why_size);

/* What to arm at restore for a timer whose next unsignalled expiry was due
 * DUE_NS after the dump read it (<= 0: already due then, its signal
 * pending), with INTERVAL_NS, ELAPSED_NS after that reading. */
struct bm_timer_plan {
	uint64_t value_ns;   /* from now to the next expiry still to come; 0: none (a one-shot that is over) */
	uint64_t missed;     /* expiries due by now that have not signalled */
	uint64_t late_ns;    /* how long ago the first of them was due */
};
void bm_timer_plan(int64_t due_ns, uint64_t interval_ns, int64_t elapsed_ns, struct bm_timer_plan *plan);

/* Whether a timer read as V1 and later as V2 (remaining times, 0 when not
 * armed) expired in between: a one-shot ran out, or an interval timer
 * moved on to a later period. */
bool bm_timer_fired_between(uint64_t v1, uint64_t v2, uint64_t interval);

/* An interval timer from its readings before (R1) and after (R2) the
 * pending signals were read, SIGNAL_SEEN whether its signal was among
 * them.  *FIRED: it expired in between, so its signal is pending whether
 * seen or not.  An ITIMER_REAL that expired waits with value 0 until its
 * SIGALRM is taken before it starts its next period: carried as one whole
 * period from the restore (its phase is not known). */
struct bm_itimer bm_itimer_settle(enum bm_itimer_which which, struct bm_itimer r1, struct bm_itimer r2,
				  bool signal_seen, bool *fired);

/* Takes the signals of POSIX timers out of one queue of pending signals
 * (the process's when QUEUE_TID is 0, else thread QUEUE_TID's): each
 * SI_TIMER signal of a timer of TIMERS whose notification goes to this
 * queue is removed and gives the timer the next pending rank from *RANK
 * (so that the timers fire again in the order their signals were queued).
 * -1 with the reason in WHY when a timer's signal is followed in the queue
 * by another signal of the same number (fired again last, it would change
 * their order), or when a signal of a timer that no longer exists is
 * queued (the kernel drops it when it would be delivered; until then the
 * process sees it pending). */
int bm_take_timer_signals(struct bm_siginfo *list, uint32_t *n, struct bm_posix_timer *timers, uint32_t ntimers,
			  int32_t queue_tid, uint32_t *rank, char *why, size_t why_size);

/* Whether signal SIG is among the N pending signals of LIST. */
bool bm_signal_in(const struct bm_siginfo *list, uint32_t n, int32_t sig);

/* Whether an armed CLOCK_REALTIME timer was armed with TIMER_ABSTIME, from
 * where the kernel queued it (/proc/timer_list, LIST[0..N)): the kernel's
 * reading of the clock when it reported REMAINING_NS lay in [MONO_LO,
 * MONO_HI] on CLOCK_MONOTONIC and [REAL_LO, REAL_HI] on CLOCK_REALTIME, so
 * the timer expires in one of those windows shifted by REMAINING_NS: on
 * the REALTIME base if absolute, on the MONOTONIC one if relative.
 * OWN[0..NOWN): where the process's CLOCK_MONOTONIC timers that are
 * certainly queued expire (windows on the MONOTONIC base): each holds one
 * entry of its window, so entries they take all cannot be this timer's
 * (a program often arms several timers for the same time).
 * BM_RT_ABSOLUTE sets *DEADLINE_NS to its expiry on CLOCK_REALTIME. */
enum bm_rt_mode {
	BM_RT_UNSEEN,    /* in neither window: not queued (or not this timer's) */
	BM_RT_RELATIVE,
	BM_RT_ABSOLUTE,
	BM_RT_BOTH,      /* another timer expires in the other window: cannot tell */
	BM_RT_UNCLEAR,   /* absolute, but timers of different expiries lie in its window */
};
struct bm_rt_window {
	uint64_t mono_lo, mono_hi, real_lo, real_hi;
};
struct bm_ns_range {
	uint64_t lo, hi;
};
/* How many entries of LIST[0..N) on base index BASE (or its soft
 * variant, BASE + 4) expire in [LO, HI]. */
size_t bm_timer_list_count(const struct bm_hrtimer_entry *list, size_t n, uint32_t base, uint64_t lo, uint64_t hi);

enum bm_rt_mode bm_timer_mode_find(const struct bm_hrtimer_entry *list, size_t n, const struct bm_rt_window *w,
				   uint64_t remaining_ns, const struct bm_ns_range *own, size_t nown,
				   uint64_t *deadline_ns);

/* Whether the process ignores signal SIG (SIG_IGN, or SIG_DFL for a signal
 * whose default is to ignore it): the kernel then parks an interval timer
 * that fires, unqueued, until the signal is no longer ignored. */
bool bm_signal_ignored(const struct bm_process *p, int32_t sig);

/* Whether the overrun count (timer_getoverrun) of timer T of P can be set
 * again: 0, or -1 with the reason in WHY.  The restore sets it by letting
 * the timer expire at a deadline that many periods past and taking its
 * signal in the process, which needs an armed interval timer on a clock
 * that has run that long, and no other signal of its number queued where
 * that signal goes.  A timer whose signal is pending is not held to it:
 * the process takes that signal, whose count replaces it, before it can
 * see the old one (docs/image-format.md, 4.9). */
int bm_overrun_check(const struct bm_process *p, const struct bm_posix_timer *t, char *why, size_t why_size);

/* Dump, once the timers have been read and the pending signals settled
 * (timers_queued.c): where the kernel queued the POSIX timers of the
 * frozen process (/proc/timer_list), read with timer_gettime injected
 * through TR with SCRATCH, tells whether each armed CLOCK_REALTIME timer
 * was armed with TIMER_ABSTIME (an absolute one gets t->absolute and
 * value_ns to its deadline from p->timers.realtime_ns), and whether the
 * queued signal of an interval timer is stale (its timer queued again).
 * Refuses (BM_EXIT_UNSUPPORTED, one line naming the timer) what cannot be
 * told. */
int bm_timers_read_queued(struct bm_tracee *tr, uint64_t scratch, struct bm_process *p, pid_t pid);

/* Dump, the timers settled: for each disarmed one-shot with its signal
 * queued, whether that signal is its own or stale (timers_stale.c): the
 * signals are taken and the timers fired again, stale ones disarmed at
 * once, the queue as it was; bm_posix_timer.stale set for those.  SCRATCH
 * is binmig's page in the frozen process F.  0, or negative after
 * refusing what cannot be told exactly. */
struct bm_frozen;
int bm_timers_tell_stale(struct bm_frozen *f, uint64_t scratch);

/* The index of the POSIX timer the process made last (bm_posix_timer.newest;
 * an image without one: the highest id), which the restore makes last so
 * that the kernel's id counter follows it.  TM has at least one. */
uint32_t bm_timers_made_last(const struct bm_timers *tm);

/* Waits (2 s at most) until POSIX timer T of process PID has its signal
 * queued where the kernel sends it.  0, -ETIMEDOUT, or -errno. */
int bm_timer_wait_queued(pid_t pid, const struct bm_posix_timer *t);

#endif
