/* Dump: what /proc/timer_list tells of the POSIX timers of a frozen
 * process (timers.h, bm_timers_read_queued).
 *
 * Whether each armed CLOCK_REALTIME timer was armed with TIMER_ABSTIME.
 * No interface says so, but
 * the kernel queues such a timer's hrtimer on its REALTIME clock base and a
 * relative one on the MONOTONIC base (a relative timer must not follow a
 * change of the wall clock), and /proc/timer_list (root only) lists every
 * queued hrtimer with its base and expiry.  The timer is found there by
 * its expiry: timer_gettime reports the time left R counted from the
 * kernel's reading of the timer's clock, which lies between binmig's own
 * readings of both clocks just before and after the call, so the timer
 * expires at most that far from (reading + R) on the one base or the
 * other.  The process's CLOCK_MONOTONIC timers are found the same way, so
 * that one armed for the same time does not hide which base a
 * CLOCK_REALTIME timer is on.  What cannot be told is refused, never
 * guessed: a timer that is not queued (SIGEV_NONE, an interval timer
 * whose signal is pending or ignored, one that fired meanwhile), and one
 * with another timer in the window of the other base.
 *
 * Whether the queued signal of an interval timer is stale.  The kernel
 * does not queue an interval timer again until its signal is taken, but
 * setting the timer queues it (and makes that signal stale: the kernel
 * drops it at delivery).  On the clocks whose timers the list shows
 * (MONOTONIC, BOOTTIME, TAI) a timer with its signal queued that is not
 * in the list is the one that fired, its signal good; one in the list
 * (or another timer at its expiry) is refused. */
#include "timers.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>

#include "log.h"

#define NS_PER_S 1000000000ULL
/* Most the wall clock's offset from CLOCK_MONOTONIC may move across one
 * bracketed call without counting as set (slewing moves it by far less);
 * the windows are widened by as much. */
#define STEP_TOLERANCE_NS 20000ULL
#define BRACKET_ATTEMPTS 4

static uint64_t clock_ns(clockid_t c)
{
	struct timespec ts;
	clock_gettime(c, &ts);
	return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

static int refuse(pid_t pid, const struct bm_posix_timer *t, const char *why)
{
	return bm_error(BM_EXIT_UNSUPPORTED,
			"process %d: POSIX timer %d on CLOCK_REALTIME %s, so binmig cannot tell whether it was armed with "
			"TIMER_ABSTIME; binmig cannot migrate it", pid, t->id, why);
}

/* Whether T is a CLOCK_MONOTONIC timer that the kernel has queued. */
static bool queued_monotonic(const struct bm_process *p, const struct bm_posix_timer *t)
{
	return t->clockid == CLOCK_MONOTONIC && t->value_ns && !t->pending && t->notify != SIGEV_NONE &&
	       !(t->interval_ns && bm_signal_ignored(p, t->signo));
}

/* Whether T's setting could matter and must be found: armed, or an
 * interval timer that goes on; 1 to look it up, 0 not to, or a refusal. */
static int needs_lookup(const struct bm_process *p, const struct bm_posix_timer *t, pid_t pid)
{
	if (t->clockid != CLOCK_REALTIME)
		return queued_monotonic(p, t);
	if (t->pending && !t->stale)
		/* A one-shot is over (the next timer_settime chooses again); an
		 * interval timer is not queued until its signal is taken. */
		return t->interval_ns ? refuse(pid, t, "is an interval timer whose signal is pending (the kernel does "
					       "not queue it until the signal is taken)") : 0;
	if (!t->value_ns)
		return 0;
	if (t->notify == SIGEV_NONE)
		return refuse(pid, t, "is armed without a signal (SIGEV_NONE), which the kernel never queues");
	if (t->interval_ns && bm_signal_ignored(p, t->signo))
		return refuse(pid, t, "is an interval timer whose signal the process ignores (the kernel does not queue "
			      "it after it fires)");
	return 1;
}

struct lookup {
	struct bm_posix_timer *t;
	uint64_t remaining;
	struct bm_rt_window w;
	struct bm_ns_range own; /* where it expires on its own clock's base */
};

/* timer_gettime of L's timer between readings of both clocks and its own,
 * for a timer on a clock that follows the wall clock (REALTIME, TAI) the
 * wall clock not set meanwhile: the time left and the windows of the
 * kernel's reading. */
static int bracket(struct bm_tracee *tr, uint64_t scratch, pid_t pid, struct lookup *l)
{
	const struct bm_posix_timer *t = l->t;
	for (int attempt = 0; attempt < BRACKET_ATTEMPTS; attempt++) {
		uint64_t own0 = clock_ns(t->clockid), real0 = clock_ns(CLOCK_REALTIME), mono0 = clock_ns(CLOCK_MONOTONIC);
		long r;
		int rc = bm_inject(tr, SYS_timer_gettime, (uint64_t)t->id, scratch, 0, 0, 0, 0, &r);
		uint64_t mono1 = clock_ns(CLOCK_MONOTONIC), real1 = clock_ns(CLOCK_REALTIME), own1 = clock_ns(t->clockid);
		if (rc < 0)
			return rc;
		if (r < 0)
			return bm_error_errno(BM_EXIT_FAILURE, (int)-r, "timer_gettime of POSIX timer %d in process %d", t->id,
					      pid);
		uint64_t spec[4]; /* struct itimerspec: interval, then value */
		if ((rc = bm_mem_read(pid, scratch, spec, sizeof spec)) < 0)
			return bm_error_errno(BM_EXIT_FAILURE, -rc, "reading the timers of process %d", pid);
		int64_t moved = (int64_t)((real1 - mono1) - (real0 - mono0));
		bool set = moved > (int64_t)STEP_TOLERANCE_NS || moved < -(int64_t)STEP_TOLERANCE_NS;
		if (set && (t->clockid == CLOCK_REALTIME || t->clockid == CLOCK_TAI))
			continue; /* the wall clock was set: again */
		l->remaining = spec[2] * NS_PER_S + spec[3];
		l->w = (struct bm_rt_window){mono0 - STEP_TOLERANCE_NS, mono1 + STEP_TOLERANCE_NS, real0 - STEP_TOLERANCE_NS,
					     real1 + STEP_TOLERANCE_NS};
		l->own = (struct bm_ns_range){own0 + l->remaining - STEP_TOLERANCE_NS, own1 + l->remaining + STEP_TOLERANCE_NS};
		return 0;
	}
	if (t->clockid == CLOCK_REALTIME)
		return refuse(pid, t, "was read while the wall clock was being set");
	return bm_error(BM_EXIT_UNSUPPORTED, "process %d: POSIX timer %d was read while the wall clock was being set; "
			"binmig cannot migrate it", pid, t->id);
}

/* Whether L is a CLOCK_MONOTONIC timer the kernel has queued (a witness). */
static bool queued_monotonic_lookup(const struct lookup *l)
{
	return l->t->clockid == CLOCK_MONOTONIC && !l->t->pending && l->t->value_ns && l->t->notify != SIGEV_NONE;
}

/* Whether the timer of L may have expired by ENDED (the readings once the
 * list was read). */
static bool may_have_fired(const struct lookup *l, const struct bm_rt_window *ended)
{
	return l->w.mono_lo + l->remaining <= ended->mono_hi || l->w.real_lo + l->remaining <= ended->real_hi;
}

/* Judges one CLOCK_REALTIME timer against the list read once the windows
 * were taken, ENDED the clocks' readings after that, OWN the windows of
 * the process's CLOCK_MONOTONIC timers still queued. */
static int judge(struct lookup *l, const struct bm_hrtimer_entry *list, size_t n, const struct bm_rt_window *ended,
		 const struct bm_ns_range *own, size_t nown, int64_t realtime_ns, pid_t pid)
{
	struct bm_posix_timer *t = l->t;
	uint64_t deadline = 0;
	char why[160];
	switch (bm_timer_mode_find(list, n, &l->w, l->remaining, own, nown, &deadline)) {
	case BM_RT_RELATIVE:
		return 0;
	case BM_RT_ABSOLUTE:
		/* Read after realtime_ns, it expires later than that. */
		if ((int64_t)deadline <= realtime_ns)
			return refuse(pid, t, "expires before binmig's reading of the wall clock");
		t->absolute = true;
		t->value_ns = deadline - (uint64_t)realtime_ns;
		return 0;
	case BM_RT_BOTH:
		return refuse(pid, t, "expires within microseconds of another timer on the other clock");
	case BM_RT_UNCLEAR:
		return refuse(pid, t, "expires within microseconds of another absolute timer");
	case BM_RT_UNSEEN:
		break;
	}
	/* Gone from the list: it may have fired in between.  A one-shot is then
	 * over, and fires at once after the restore whatever its setting. */
	bool fired = may_have_fired(l, ended);
	if (fired && !t->interval_ns)
		return 0;
	snprintf(why, sizeof why, "is not among the timers the kernel has queued (/proc/timer_list)%s",
		 fired ? ": it fired while binmig read it" : "");
	return refuse(pid, t, why);
}

/* The base index of /proc/timer_list where a timer on CLOCKID (not
 * CLOCK_REALTIME) is queued; false for clocks whose timers it does not
 * show as posix_timer_fn (the alarm clocks, CPU-time clocks). */
static bool listed_base(int32_t clockid, uint32_t *base)
{
	*base = clockid == CLOCK_MONOTONIC ? 0 : clockid == CLOCK_BOOTTIME ? 2 : 3;
	return clockid == CLOCK_MONOTONIC || clockid == CLOCK_BOOTTIME || clockid == CLOCK_TAI;
}

/* Whether T is an interval timer with its own signal queued (not stale
 * already) on a clock whose timers the list shows. */
static bool pending_listed(const struct bm_posix_timer *t)
{
	uint32_t base;
	return t->pending && !t->stale && t->interval_ns && t->clockid != CLOCK_REALTIME && listed_base(t->clockid, &base);
}

/* An interval timer with its signal queued that the kernel has queued
 * again has been set since: that signal is stale. */
static int check_pending(const struct lookup *l, const struct bm_hrtimer_entry *list, size_t n, pid_t pid)
{
	uint32_t base;
	listed_base(l->t->clockid, &base);
	if (!bm_timer_list_count(list, n, base, l->own.lo, l->own.hi))
		return 0;
	return bm_error(BM_EXIT_UNSUPPORTED,
			"process %d: POSIX timer %d is an interval timer whose signal is queued, yet the kernel has queued "
			"the timer again (or another timer expires within microseconds of it): set since, which makes that "
			"signal stale, and binmig cannot tell; binmig cannot migrate it", pid, l->t->id);
}

/* Judges every timer of TODO[0..N) (bracketed) against /proc/timer_list:
 * the CLOCK_REALTIME ones, and the interval timers with their signal
 * queued; the CLOCK_MONOTONIC ones among them serve as witnesses. */
static int judge_all(struct lookup *todo, size_t ntodo, int64_t realtime_ns, pid_t pid)
{
	struct bm_hrtimer_entry *list = NULL;
	struct bm_ns_range *own = calloc(ntodo, sizeof *own);
	size_t n = 0, nown = 0;
	if (!own)
		return bm_error(BM_EXIT_FAILURE, "out of memory");
	int rc = bm_read_timer_list(&list, &n);
	struct bm_rt_window ended = {0, clock_ns(CLOCK_MONOTONIC), 0, clock_ns(CLOCK_REALTIME)};
	if (rc < 0)
		rc = bm_error_errno(BM_EXIT_UNSUPPORTED, -rc,
				    "process %d: cannot read /proc/timer_list (root only), which tells how POSIX timer %d "
				    "was set; binmig cannot migrate it", pid, todo[0].t->id);
	/* The CLOCK_MONOTONIC timers certainly still queued when the list was read. */
	for (size_t i = 0; rc == 0 && i < ntodo; i++)
		if (queued_monotonic_lookup(&todo[i]) && !may_have_fired(&todo[i], &ended))
			own[nown++] = todo[i].own;
	for (size_t i = 0; rc == 0 && i < ntodo; i++)
		if (todo[i].t->clockid == CLOCK_REALTIME)
			rc = judge(&todo[i], list, n, &ended, own, nown, realtime_ns, pid);
		else if (pending_listed(todo[i].t))
			rc = check_pending(&todo[i], list, n, pid);
	free(own);
	free(list);
	return rc;
}

int bm_timers_read_queued(struct bm_tracee *tr, uint64_t scratch, struct bm_process *p, pid_t pid)
{
	struct bm_timers *tm = &p->timers;
	struct lookup *todo = calloc(tm->nposix + 1, sizeof *todo);
	size_t ntodo = 0, nrealtime = 0;
	int rc = todo ? 0 : bm_error(BM_EXIT_FAILURE, "out of memory");
	/* The CLOCK_REALTIME timers to find and the interval timers with their
	 * signal queued first, then, only with CLOCK_REALTIME ones, the
	 * CLOCK_MONOTONIC timers that may share their windows. */
	for (uint32_t i = 0; rc == 0 && i < tm->nposix; i++) {
		struct bm_posix_timer *t = &tm->posix[i];
		uint32_t base;
		if (t->pending && !t->stale && t->interval_ns && t->clockid != CLOCK_REALTIME &&
		    !listed_base(t->clockid, &base)) {
			rc = bm_error(BM_EXIT_UNSUPPORTED, "process %d: POSIX timer %d is an interval timer with its signal "
				      "queued on a clock whose timers nothing lists (an alarm or CPU-time clock), so binmig "
				      "cannot tell whether it was set since, which makes that signal stale; binmig cannot "
				      "migrate it", pid, t->id);
			break;
		}
		int need = t->clockid == CLOCK_REALTIME ? needs_lookup(p, t, pid) : pending_listed(t);
		if (need < 0)
			rc = need;
		else if (need)
			todo[ntodo++].t = t;
		nrealtime += need > 0 && t->clockid == CLOCK_REALTIME;
	}
	for (uint32_t i = 0; rc == 0 && nrealtime && i < tm->nposix; i++)
		if (!pending_listed(&tm->posix[i]) && tm->posix[i].clockid == CLOCK_MONOTONIC &&
		    needs_lookup(p, &tm->posix[i], pid) == 1)
			todo[ntodo++].t = &tm->posix[i];
	for (size_t i = 0; rc == 0 && i < ntodo; i++)
		rc = bracket(tr, scratch, pid, &todo[i]);
	if (rc == 0 && ntodo)
		rc = judge_all(todo, ntodo, tm->realtime_ns, pid);
	free(todo);
	return rc;
}
