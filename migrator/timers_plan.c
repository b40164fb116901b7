/* The timers' logic, without a process (tests/unit/test_timers.c): which
 * timers can be carried, what to arm at restore for time that passed, and
 * which pending signals belong to POSIX timers.  timers.c reads and sets
 * them in a live process. */
#include "timers.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "wire.h"

static bool in_list(const pid_t *tids, size_t n, pid_t tid)
{
	for (size_t i = 0; i < n; i++)
		if (tids[i] == tid)
			return true;
	return false;
}

bool bm_timer_clock_is_wall(int32_t c)
{
	return c == CLOCK_REALTIME || c == CLOCK_MONOTONIC || c == CLOCK_BOOTTIME || c == CLOCK_REALTIME_ALARM ||
	       c == CLOCK_BOOTTIME_ALARM || c == CLOCK_TAI;
}

int bm_timer_clock_check(int32_t clockid, pid_t pid, const pid_t *tids, size_t ntids, bool *wall, char *why,
			 size_t why_size)
{
	*wall = bm_timer_clock_is_wall(clockid);
	if (*wall)
		return 0;
	bool thread;
	pid_t owner; /* 0: the process itself, or the thread that created the timer */
	if (clockid == CLOCK_PROCESS_CPUTIME_ID || clockid == CLOCK_THREAD_CPUTIME_ID) {
		thread = clockid == CLOCK_THREAD_CPUTIME_ID;
		owner = 0;
	} else if (clockid < 0 && (clockid & 3) != 3) {
		/* A CPU clock encoded as ((~pid) << 3) | per-thread << 2 | which;
		 * which 3 is a dynamic clock (a device's). */
		thread = clockid & 4;
		owner = ~(clockid >> 3);
	} else {
		return bm_why_rc(-1, why, why_size, "runs on clock %d, which binmig does not know", clockid);
	}
	if (thread && owner == 0 && ntids > 1)
		return bm_why_rc(
			-1, why, why_size,
			"counts the CPU time of the thread that created it, and /proc does not say which of the "
			"%zu threads that was",
			ntids);
	if (thread && owner != 0 && !in_list(tids, ntids, owner))
		return bm_why_rc(-1, why, why_size, "counts the CPU time of thread %d, not a thread of this process",
				 owner);
	if (!thread && owner != 0 && owner != pid)
		return bm_why_rc(-1, why, why_size, "counts the CPU time of process %d, which would stay behind",
				 owner);
	return 0;
}

int bm_proc_timer_check(const struct bm_proc_timer *t, pid_t pid, const pid_t *tids, size_t ntids, char *why,
			size_t why_size)
{
	bool wall;
	if (t->notify != SIGEV_SIGNAL && t->notify != SIGEV_NONE && t->notify != SIGEV_THREAD &&
	    t->notify != (SIGEV_SIGNAL | BM_SIGEV_THREAD_ID_BIT))
		return bm_why_rc(-1, why, why_size, "notifies in a way (%u) binmig does not know", t->notify);
	if ((t->notify & BM_SIGEV_THREAD_ID_BIT) && !in_list(tids, ntids, t->target))
		return bm_why_rc(-1, why, why_size,
				 "signals thread %d, which has exited (the kernel drops its signals)", t->target);
	if (!(t->notify & BM_SIGEV_THREAD_ID_BIT) && t->target != pid)
		return bm_why_rc(-1, why, why_size, "signals process %d instead of its own", t->target);
	if (t->notify != SIGEV_NONE && (t->signo < 1 || t->signo > BM_NSIG))
		return bm_why_rc(-1, why, why_size, "sends signal %d", t->signo);
	return bm_timer_clock_check(t->clockid, pid, tids, ntids, &wall, why, why_size);
}

void bm_timer_plan(int64_t due_ns, uint64_t interval_ns, int64_t elapsed_ns, struct bm_timer_plan *plan)
{
	/* A wall clock that went back between the hosts does not lengthen a timer. */
	if (elapsed_ns < 0)
		elapsed_ns = 0;
	*plan = (struct bm_timer_plan){0};
	if (due_ns > elapsed_ns) {
		plan->value_ns = (uint64_t)(due_ns - elapsed_ns);
		return;
	}
	/* Due already: once, and once more every interval since. */
	plan->late_ns = (uint64_t)elapsed_ns - (uint64_t)due_ns;
	if (!interval_ns) {
		plan->missed = 1;
		return;
	}
	plan->missed = 1 + plan->late_ns / interval_ns;
	plan->value_ns = interval_ns - plan->late_ns % interval_ns;
}

bool bm_timer_fired_between(uint64_t v1, uint64_t v2, uint64_t interval)
{
	return (v1 > 0 && v2 == 0) || (interval > 0 && v2 > v1);
}

struct bm_itimer bm_itimer_settle(enum bm_itimer_which which, struct bm_itimer r1, struct bm_itimer r2,
				  bool signal_seen, bool *fired)
{
	*fired = bm_timer_fired_between(r1.value_ns, r2.value_ns, r2.interval_ns);
	struct bm_itimer it = r2;
	if (which == BM_ITIMER_REAL && it.value_ns == 0 && it.interval_ns > 0)
		/* Expired, waiting for its SIGALRM to be taken; without one pending
		 * (ignored when it came) it never starts another period. */
		it.value_ns = signal_seen || *fired ? it.interval_ns : 0;
	if (it.value_ns == 0)
		it.interval_ns = 0;
	return it;
}

/* What happens to one pending signal: kept as it is, or the signal of a
 * timer (taken out; the timer fires again), or of a deleted one (refused). */
enum take { KEEP, TAKE, GONE };

static enum take classify(const struct bm_siginfo *si, struct bm_posix_timer *timers, uint32_t ntimers,
			  int32_t queue_tid, struct bm_posix_timer **timer)
{
	int32_t signo = bm_si_i32(si->raw), id = bm_si_i32(si->raw + BM_SI_TIMERID_OFF);
	if (bm_si_i32(si->raw + BM_SI_CODE_OFF) != BM_SI_TIMER_CODE)
		return KEEP;
	for (uint32_t k = 0; k < ntimers; k++) {
		struct bm_posix_timer *t = &timers[k];
		if (t->id != id)
			continue;
		bool here = (t->notify & BM_SIGEV_THREAD_ID_BIT) ? t->tid == queue_tid : queue_tid == 0;
		/* Anything else calling itself this timer's signal was queued by hand. */
		if (!here || t->notify == SIGEV_NONE || t->signo != signo || t->pending)
			return KEEP;
		*timer = t;
		return TAKE;
	}
	return GONE;
}

int bm_take_timer_signals(struct bm_siginfo *list, uint32_t *n, struct bm_posix_timer *timers, uint32_t ntimers,
			  int32_t queue_tid, uint32_t *rank, char *why, size_t why_size)
{
	uint8_t *fate = calloc(*n + 1, 1);
	if (!fate)
		return bm_why_rc(-1, why, why_size, "out of memory");
	uint32_t first_rank = *rank;
	for (uint32_t i = 0; i < *n; i++) {
		struct bm_posix_timer *t = NULL;
		fate[i] = (uint8_t)classify(&list[i], timers, ntimers, queue_tid, &t);
		if (t)
			t->pending = ++*rank;
	}
	int rc = 0;
	for (uint32_t i = 0; rc == 0 && i < *n; i++)
		for (uint32_t j = i + 1; fate[i] == TAKE && j < *n; j++)
			if (fate[j] == KEEP && bm_si_i32(list[j].raw) == bm_si_i32(list[i].raw)) {
				rc = bm_why_rc(
					-1, why, why_size,
					"the pending signal %d of POSIX timer %d is queued before another signal %d, "
					"and binmig would queue it after",
					bm_si_i32(list[i].raw), bm_si_i32(list[i].raw + BM_SI_TIMERID_OFF),
					bm_si_i32(list[i].raw));
				break;
			}
	/* Queued, it shows in sigpending() and /proc until the kernel drops it
	 * at delivery; binmig could queue it again only by making such a timer. */
	for (uint32_t i = 0; rc == 0 && i < *n; i++)
		if (fate[i] == GONE)
			rc = bm_why_rc(
				-1, why, why_size,
				"a signal %d of POSIX timer %d, which no longer exists, is queued (the kernel drops it when "
				"it would be delivered; or it was queued by hand, and is not), and binmig cannot queue such a "
				"signal",
				bm_si_i32(list[i].raw), bm_si_i32(list[i].raw + BM_SI_TIMERID_OFF));
	uint32_t kept = 0;
	for (uint32_t i = 0; rc == 0 && i < *n; i++)
		if (fate[i] == KEEP)
			list[kept++] = list[i];
	if (rc == 0)
		*n = kept;
	else { /* the model is given up; leave it consistent all the same */
		for (uint32_t k = 0; k < ntimers; k++)
			if (timers[k].pending > first_rank)
				timers[k].pending = 0;
		*rank = first_rank;
	}
	free(fate);
	return rc;
}

bool bm_signal_in(const struct bm_siginfo *list, uint32_t n, int32_t sig)
{
	for (uint32_t i = 0; i < n; i++)
		if (bm_si_i32(list[i].raw) == sig)
			return true;
	return false;
}

int bm_overrun_check(const struct bm_process *p, const struct bm_posix_timer *t, char *why, size_t why_size)
{
	if (!t->overrun || t->pending)
		return 0;
	if (!bm_timer_clock_is_wall(t->clockid))
		return bm_why_rc(-1, why, why_size,
				 "has an overrun count of %d on a CPU-time clock, which binmig cannot set again",
				 t->overrun);
	if (!t->value_ns || !t->interval_ns)
		return bm_why_rc(-1, why, why_size, "has an overrun count of %d without being an armed interval timer",
				 t->overrun);
	/* The count is set by arming the timer absolute at a deadline that
	 * passed, which would leave a relative one absolute. */
	if (t->clockid == CLOCK_REALTIME && !t->absolute)
		return bm_why_rc(
			-1, why, why_size,
			"has an overrun count of %d on CLOCK_REALTIME armed relative, which binmig can set again only "
			"by arming it with TIMER_ABSTIME",
			t->overrun);
	/* Where its signal goes, and so where the restore takes it from: the
	 * target thread's queue or the leader's, then the process's. */
	const struct bm_thread *taker = &p->threads[0];
	for (uint32_t i = 0; (t->notify & BM_SIGEV_THREAD_ID_BIT) && i < p->nthreads; i++)
		if (p->threads[i].tid == t->tid)
			taker = &p->threads[i];
	if (bm_signal_in(p->shared_pending, p->nshared_pending, t->signo) || bm_signal_in(taker->pending, taker->npending, t->signo))
		return bm_why_rc(
			-1, why, why_size,
			"has an overrun count of %d while another signal %d is pending where its signal goes, and "
			"binmig can set the count again only by taking such a signal",
			t->overrun, t->signo);
	return 0;
}

/* How many entries of LIST on base index BASE (or its soft variant) expire
 * in [LO, HI]; *FIRST and *OTHER: the expiry of the first, and whether one
 * differs from it. */
static size_t count_in(const struct bm_hrtimer_entry *list, size_t n, uint32_t base, uint64_t lo, uint64_t hi,
		       uint64_t *first, bool *other)
{
	size_t found = 0;
	for (size_t i = 0; i < n; i++) {
		if (list[i].base % 4 != base || list[i].expires_ns < lo || list[i].expires_ns > hi)
			continue;
		if (!found++)
			*first = list[i].expires_ns;
		else if (list[i].expires_ns != *first)
			*other = true;
	}
	return found;
}

size_t bm_timer_list_count(const struct bm_hrtimer_entry *list, size_t n, uint32_t base, uint64_t lo, uint64_t hi)
{
	uint64_t first;
	bool other = false;
	return count_in(list, n, base, lo, hi, &first, &other);
}

enum bm_rt_mode bm_timer_mode_find(const struct bm_hrtimer_entry *list, size_t n, const struct bm_rt_window *w,
				   uint64_t remaining_ns, const struct bm_ns_range *own, size_t nown,
				   uint64_t *deadline_ns)
{
	enum { BASE_MONOTONIC = 0, BASE_REALTIME = 1 };
	uint64_t mono_first = 0, real_first = 0;
	bool mono_other = false, real_other = false;
	uint64_t mono_lo = w->mono_lo + remaining_ns, mono_hi = w->mono_hi + remaining_ns;
	size_t mono = count_in(list, n, BASE_MONOTONIC, mono_lo, mono_hi, &mono_first, &mono_other);
	size_t real = count_in(list, n, BASE_REALTIME, w->real_lo + remaining_ns, w->real_hi + remaining_ns, &real_first,
			       &real_other);
	/* The process's own CLOCK_MONOTONIC timers whose entries can only be
	 * among those of this window each take one of them: when they are as
	 * many as the entries, none is left for this timer. */
	size_t taken = 0;
	for (size_t i = 0; mono && i < nown; i++) {
		uint64_t first;
		bool other = false;
		size_t in_own = count_in(list, n, BASE_MONOTONIC, own[i].lo, own[i].hi, &first, &other);
		size_t in_both = count_in(list, n, BASE_MONOTONIC, own[i].lo > mono_lo ? own[i].lo : mono_lo,
					  own[i].hi < mono_hi ? own[i].hi : mono_hi, &first, &other);
		taken += in_own && in_own == in_both;
	}
	if (taken >= mono)
		mono = 0;
	if (mono && real)
		return BM_RT_BOTH;
	if (mono)
		return BM_RT_RELATIVE;
	if (!real)
		return BM_RT_UNSEEN;
	if (real_other)
		return BM_RT_UNCLEAR;
	*deadline_ns = real_first;
	return BM_RT_ABSOLUTE;
}

bool bm_signal_ignored(const struct bm_process *p, int32_t sig)
{
	if (sig < 1 || sig > BM_NSIG)
		return false;
	uint64_t handler = p->sigactions[sig - 1].handler;
	bool ignored_by_default = sig == SIGCHLD || sig == SIGCONT || sig == SIGURG || sig == SIGWINCH;
	return handler == (uint64_t)(uintptr_t)SIG_IGN || (handler == (uint64_t)(uintptr_t)SIG_DFL && ignored_by_default);
}
