/* Dump: whether the queued signal of a disarmed one-shot POSIX timer is
 * its own or stale (timers.h, bm_timers_tell_stale).
 *
 * A one-shot that fired is disarmed, its signal queued.  A timer set (or
 * disarmed) after its signal was queued is disarmed too, and the kernel
 * drops that signal when it would be delivered.  Nothing shows which: the
 * sequence number that tells them apart reads 0 through PTRACE_PEEKSIGINFO.
 * So the signals are taken: in the thread they go to, an injected
 * rt_sigtimedwait with no wait takes every signal of that number, in
 * order, and returns the timers' own; the stale ones the kernel drops on
 * the way.  Then each timer is fired again, in the order their signals
 * were queued, at a deadline that has passed, and a stale one disarmed at
 * once, which makes its signal stale again: the queue is as it was.
 *
 * Only where that is exact: every signal of that number in that queue is
 * the signal of such a timer, on a clock that runs while the process is
 * frozen (wall clocks: a CPU-time timer would not fire), with no overrun
 * count to lose (taking a signal sets it); otherwise refused.  Should
 * binmig be killed between the taking and the firing, those signals are
 * lost. */
#include "timers.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>

#include "checkpoint.h"
#include "log.h"
#include "ptrace_ctl.h"

/* A timer fired at a deadline that has passed queues its signal at once;
 * this long is a broken kernel, not a slow machine. */
#define FIRE_TIMEOUT_US 2000000ULL
/* In binmig's scratch page of the process. */
#define OFF_SET 0u
#define OFF_TS 16u
#define OFF_SPEC 64u
#define OFF_INFO 128u

static bool ambiguous(const struct bm_posix_timer *t)
{
	return t->pending && !t->stale && !t->interval_ns && !t->value_ns && t->notify != SIGEV_NONE;
}

static pid_t target_of(const struct bm_process *p, const struct bm_posix_timer *t)
{
	return (t->notify & BM_SIGEV_THREAD_ID_BIT) ? t->tid : p->pid;
}

static struct bm_tracee *tracee_of(struct bm_frozen *f, pid_t tid)
{
	for (size_t i = 0; i < f->ntracees; i++)
		if (f->tracees[i].tid == tid)
			return &f->tracees[i];
	return NULL;
}

static bool has_signal(const struct bm_siginfo *list, uint32_t n, int signo)
{
	for (uint32_t i = 0; i < n; i++)
		if (bm_si_i32(list[i].raw) == signo)
			return true;
	return false;
}

/* The private queue of thread TID, as read (timer signals taken out). */
static bool thread_has_signal(const struct bm_process *p, pid_t tid, int signo)
{
	for (uint32_t i = 0; i < p->nthreads; i++)
		if (p->threads[i].tid == tid)
			return has_signal(p->threads[i].pending, p->threads[i].npending, signo);
	return false;
}

static int refuse(pid_t pid, const struct bm_posix_timer *t, const char *why)
{
	return bm_error(BM_EXIT_UNSUPPORTED, "process %d: POSIX timer %d, disarmed with its signal %d queued, %s, so "
			"binmig cannot tell whether that signal is its own or stale (the kernel would drop it); binmig "
			"cannot migrate it", pid, t->id, t->signo, why);
}

/* The timers whose signals are queued with T's, T's group, into G
 * (indices into the process's timers, in the order their signals were
 * queued).  Their count, or negative after refusing. */
static int group_of(struct bm_frozen *f, const struct bm_posix_timer *t, uint32_t *g)
{
	struct bm_process *p = &f->proc;
	struct bm_timers *tm = &p->timers;
	pid_t target = target_of(p, t);
	bool thread = t->notify & BM_SIGEV_THREAD_ID_BIT;
	uint32_t n = 0;
	for (uint32_t rank = 1; rank <= tm->nposix; rank++)
		for (uint32_t i = 0; i < tm->nposix; i++) {
			const struct bm_posix_timer *u = &tm->posix[i];
			if (u->pending != rank || u->signo != t->signo || target_of(p, u) != target ||
			    !(u->notify & BM_SIGEV_THREAD_ID_BIT) != !thread)
				continue;
			if (!ambiguous(u))
				return refuse(f->pid, t, "queued with the signal of a timer that is armed");
			if (!bm_timer_clock_is_wall(u->clockid))
				return refuse(f->pid, u, "on a CPU-time clock, which does not run while the process is frozen");
			g[n++] = i;
		}
	/* Other signals of that number where rt_sigtimedwait takes from: the
	 * taking thread's own queue, then the process's. */
	pid_t taker = thread ? target : f->pid;
	if (thread_has_signal(p, taker, t->signo) || has_signal(p->shared_pending, p->nshared_pending, t->signo))
		return refuse(f->pid, t, "queued with another signal of that number");
	for (uint32_t i = 0; i < tm->nposix; i++) {
		const struct bm_posix_timer *u = &tm->posix[i];
		bool u_thread = u->notify & BM_SIGEV_THREAD_ID_BIT;
		if (u->pending && u->signo == t->signo && u_thread != thread && (!u_thread || u->tid == taker))
			return refuse(f->pid, t, "queued with a signal of that number that the same thread would take");
	}
	return (int)n;
}

static int call(struct bm_tracee *tr, pid_t pid, const char *what, long nr, uint64_t a1, uint64_t a2, uint64_t a3,
		uint64_t a4, long *ret)
{
	long r;
	int rc = bm_inject(tr, nr, a1, a2, a3, a4, 0, 0, &r);
	if (rc < 0)
		return rc;
	if (r < 0 && r > -4096 && !ret)
		return bm_error_errno(BM_EXIT_TARGET, (int)-r, "%s in process %d", what, pid);
	if (ret)
		*ret = r;
	return 0;
}

/* Takes every signal of T's number queued where it goes, noting in OWN
 * which timers of G[0..n) returned theirs (in G's order, or -EPROTO). */
static int take_all(struct bm_frozen *f, struct bm_tracee *tr, uint64_t scratch, const struct bm_posix_timer *t,
		    const uint32_t *g, uint32_t n, bool *own)
{
	struct bm_timers *tm = &f->proc.timers;
	uint64_t set = 1ULL << (t->signo - 1);
	struct timespec zero = {0, 0};
	int rc = bm_mem_write(f->pid, scratch + OFF_SET, &set, sizeof set);
	if (rc == 0)
		rc = bm_mem_write(f->pid, scratch + OFF_TS, &zero, sizeof zero);
	if (rc < 0)
		return bm_error_errno(BM_EXIT_TARGET, -rc, "cannot write to process %d", f->pid);
	uint32_t next = 0;
	for (uint32_t k = 0; k <= n; k++) {
		long got;
		if ((rc = call(tr, f->pid, "rt_sigtimedwait", SYS_rt_sigtimedwait, scratch + OFF_SET, scratch + OFF_INFO,
			       scratch + OFF_TS, 8, &got)) < 0)
			return rc;
		if (got == -EAGAIN)
			return 0;
		uint8_t info[128];
		if (got != t->signo || (rc = bm_mem_read(f->pid, scratch + OFF_INFO, info, sizeof info)) < 0 ||
		    bm_si_i32(info + BM_SI_CODE_OFF) != BM_SI_TIMER_CODE)
			return bm_error(BM_EXIT_TARGET, "process %d: taking the signals %d of its timers gave %ld", f->pid,
					t->signo, got);
		int32_t id = bm_si_i32(info + BM_SI_TIMERID_OFF);
		while (next < n && tm->posix[g[next]].id != id)
			next++;
		if (next == n)
			return bm_error(BM_EXIT_TARGET, "process %d: timer %d's signal came out of its order", f->pid, id);
		own[next++] = true;
	}
	return bm_error(BM_EXIT_TARGET, "process %d: more signals %d than its timers queued", f->pid, t->signo);
}

int bm_timer_wait_queued(pid_t pid, const struct bm_posix_timer *t)
{
	bool thread = t->notify & BM_SIGEV_THREAD_ID_BIT;
	uint64_t deadline = bm_now_us() + FIRE_TIMEOUT_US;
	for (;;) {
		struct bm_siginfo *list = NULL;
		uint32_t n = 0;
		int rc = bm_peek_pending(thread ? t->tid : pid, !thread, &list, &n);
		bool found = false;
		for (uint32_t i = 0; i < n; i++)
			found |= bm_si_i32(list[i].raw + BM_SI_CODE_OFF) == BM_SI_TIMER_CODE &&
				 bm_si_i32(list[i].raw + BM_SI_TIMERID_OFF) == t->id;
		free(list);
		if (rc < 0 || found)
			return rc;
		if (bm_now_us() >= deadline)
			return -ETIMEDOUT;
		sched_yield();
	}
}

/* Waits until timer T's signal is queued where it goes. */
static int wait_queued(struct bm_frozen *f, const struct bm_posix_timer *t)
{
	int rc = bm_timer_wait_queued(f->pid, t);
	if (rc == -ETIMEDOUT)
		return bm_error(BM_EXIT_TARGET, "process %d: its POSIX timer %d did not fire again", f->pid, t->id);
	return rc < 0 ? bm_error_errno(BM_EXIT_TARGET, -rc, "cannot read the signals pending in process %d", f->pid) : 0;
}

/* Fires each timer of G[0..n) again in order, disarming at once those
 * whose signal was stale (not OWN), which makes it stale again. */
static int fire_again(struct bm_frozen *f, struct bm_tracee *tr, uint64_t scratch, const uint32_t *g, uint32_t n,
		      const bool *own)
{
	struct bm_timers *tm = &f->proc.timers;
	const struct itimerspec past = {{0, 0}, {0, 1}}, off = {{0, 0}, {0, 0}};
	for (uint32_t k = 0; k < n; k++) {
		struct bm_posix_timer *u = &tm->posix[g[k]];
		int rc = bm_mem_write(f->pid, scratch + OFF_SPEC, &past, sizeof past);
		if (rc < 0)
			return bm_error_errno(BM_EXIT_TARGET, -rc, "cannot write to process %d", f->pid);
		if ((rc = call(tr, f->pid, "timer_settime", SYS_timer_settime, (uint64_t)u->id, TIMER_ABSTIME,
			       scratch + OFF_SPEC, 0, NULL)) < 0 ||
		    (rc = wait_queued(f, u)) < 0)
			return rc;
		if (own[k])
			continue;
		if ((rc = bm_mem_write(f->pid, scratch + OFF_SPEC, &off, sizeof off)) < 0)
			return bm_error_errno(BM_EXIT_TARGET, -rc, "cannot write to process %d", f->pid);
		if ((rc = call(tr, f->pid, "timer_settime", SYS_timer_settime, (uint64_t)u->id, 0, scratch + OFF_SPEC, 0,
			       NULL)) < 0)
			return rc;
		u->stale = true;
	}
	return 0;
}

/* T's group: no overrun count that taking a signal would change, then
 * taken and fired again. */
static int tell_group(struct bm_frozen *f, uint64_t scratch, const struct bm_posix_timer *t, uint32_t *g)
{
	struct bm_timers *tm = &f->proc.timers;
	struct bm_tracee *tr = tracee_of(f, target_of(&f->proc, t));
	if (!tr)
		return refuse(f->pid, t, "whose signal goes to a thread binmig does not hold");
	int n = group_of(f, t, g);
	if (n <= 0)
		return n;
	for (int k = 0; k < n; k++) {
		long overrun;
		int rc = call(tr, f->pid, "timer_getoverrun", SYS_timer_getoverrun, (uint64_t)tm->posix[g[k]].id, 0, 0, 0,
			      &overrun);
		if (rc < 0)
			return rc;
		if (overrun)
			return refuse(f->pid, &tm->posix[g[k]], "whose last signal taken counted overruns");
	}
	bool *own = calloc((size_t)n, sizeof *own);
	if (!own)
		return bm_error(BM_EXIT_FAILURE, "out of memory");
	int rc = take_all(f, tr, scratch, t, g, (uint32_t)n, own);
	/* Fired again whatever the taking found: what was taken must come back. */
	int fired = fire_again(f, tr, scratch, g, (uint32_t)n, own);
	free(own);
	return rc < 0 ? rc : fired;
}

int bm_timers_tell_stale(struct bm_frozen *f, uint64_t scratch)
{
	struct bm_timers *tm = &f->proc.timers;
	uint32_t *g = calloc(tm->nposix + 1, sizeof *g);
	if (!g)
		return bm_error(BM_EXIT_FAILURE, "out of memory");
	int rc = 0;
	bool *done = calloc(tm->nposix + 1, sizeof *done);
	if (!done)
		rc = bm_error(BM_EXIT_FAILURE, "out of memory");
	for (uint32_t i = 0; rc == 0 && i < tm->nposix; i++) {
		if (done[i] || !ambiguous(&tm->posix[i]))
			continue;
		const struct bm_posix_timer t = tm->posix[i];
		rc = tell_group(f, scratch, &t, g);
		/* Its whole group is told. */
		for (uint32_t j = 0; j < tm->nposix; j++)
			done[j] |= tm->posix[j].pending && tm->posix[j].signo == t.signo &&
				   target_of(&f->proc, &tm->posix[j]) == target_of(&f->proc, &t);
	}
	free(done);
	free(g);
	return rc;
}
