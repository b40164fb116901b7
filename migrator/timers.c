/* Timers, both directions: the interval timers, POSIX timers and timerfd
 * settings read at dump and set again at restore (timers.h says how time
 * spent frozen is counted). */
#include "timers.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "fault.h"
#include "log.h"
#include "pending_stop.h"

#define NS_PER_S 1000000000LL
#define NS_PER_US 1000LL
#define SI_KERNEL_CODE 0x80  /* si_code of the kernel's own signals (SEND_SIG_PRIV: itimers) */
#define SI_OVERRUN_OFF 20    /* si_overrun, after the timer id (timers.h) */
#define SCRATCH_SIZE BM_SCRATCH_SIZE
#define SPEC_SIZE 32u        /* struct itimerspec, struct itimerval */
#define SPEC_BATCH ((SCRATCH_SIZE - 128u) / SPEC_SIZE)
#define TIMERFD_ATTEMPTS 4
/* Tries at giving a timer its overrun count; each fails only when the
 * restore was slower than one of the timer's periods. */
#define OVERRUN_ATTEMPTS 8

/* Where the restore puts the arguments of its calls in the scratch page. */
enum { OFF_EVENT = 0, OFF_ID = 64, OFF_SPEC = 128, OFF_NOW = 192, OFF_INFO = 256, OFF_TICKS = 512 };

/* struct sigevent as the kernel reads it (64 bytes). */
struct ksigevent {
	uint64_t value;
	int32_t signo;
	int32_t notify;
	int32_t tid;
	int32_t pad[11];
};
_Static_assert(sizeof(struct ksigevent) == 64, "the kernel's sigevent");

static int64_t realtime_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

static uint64_t ts_ns(const struct timespec *ts)
{
	return (uint64_t)ts->tv_sec * NS_PER_S + (uint64_t)ts->tv_nsec;
}

static struct timespec ns_ts(uint64_t ns)
{
	return (struct timespec){.tv_sec = (time_t)(ns / NS_PER_S), .tv_nsec = (long)(ns % NS_PER_S)};
}

/* ==== dump ==== */

static int refuse(pid_t pid, const struct bm_proc_timer *t, const char *why)
{
	return bm_error(BM_EXIT_UNSUPPORTED, "process %d: POSIX timer %d %s; binmig cannot migrate it", pid, t->id,
			why);
}

/* /proc/PID/timers, every timer checked. */
static int read_proc_timers(pid_t pid, const pid_t *tids, size_t ntids, bool frozen, struct bm_proc_timer **out,
			    size_t *n)
{
	int rc = frozen ? bm_fault_rc(BM_FP_READ_TIMERS) : 0;
	if (rc == 0)
		rc = bm_read_timers(pid, out, n);
	if (rc < 0)
		return bm_error_errno(BM_EXIT_TARGET, -rc, "cannot read the POSIX timers of process %d (/proc/%d/timers)",
				      pid, pid);
	if (*n > BM_MAX_POSIX_TIMERS)
		return bm_error(BM_EXIT_UNSUPPORTED, "process %d has %zu POSIX timers, more than the %u binmig carries", pid,
				*n, BM_MAX_POSIX_TIMERS);
	for (size_t i = 0; i < *n; i++) {
		char why[200];
		if (bm_proc_timer_check(&(*out)[i], pid, tids, ntids, why, sizeof why) < 0)
			return refuse(pid, &(*out)[i], why);
	}
	return 0;
}

int bm_check_timers(pid_t pid)
{
	pid_t *tids = NULL;
	size_t ntids = 0;
	struct bm_proc_timer *pt = NULL;
	size_t npt = 0;
	int rc = bm_list_tids(pid, &tids, &ntids);
	if (rc < 0)
		return bm_error_errno(BM_EXIT_TARGET, -rc, "cannot list the threads of process %d", pid);
	rc = read_proc_timers(pid, tids, ntids, false, &pt, &npt);
	free(pt);
	free(tids);
	return rc;
}

struct dump {
	struct bm_frozen *f;
	struct bm_tracee *tr;
	uint64_t scratch;
};

/* Runs a call in the leader; a failure of the call itself is reported
 * with WHAT. */
static int dump_call(struct dump *d, const char *what, long nr, uint64_t a1, uint64_t a2, uint64_t a3)
{
	long r;
	int rc = bm_inject(d->tr, nr, a1, a2, a3, 0, 0, 0, &r);
	if (rc < 0)
		return rc;
	return r < 0 && r > -4096 ? bm_error_errno(BM_EXIT_FAILURE, (int)-r, "%s in process %d", what, d->f->pid) : 0;
}

static int fetch(struct dump *d, uint64_t off, void *buf, size_t len)
{
	int rc = bm_mem_read(d->f->pid, d->scratch + off, buf, len);
	return rc < 0 ? bm_error_errno(BM_EXIT_FAILURE, -rc, "reading the timers of process %d", d->f->pid) : 0;
}

/* One reading of every interval timer and POSIX timer (value, interval). */
static int read_timers(struct dump *d, struct bm_itimer itimers[BM_NITIMERS], struct bm_itimer *posix)
{
	const struct bm_timers *tm = &d->f->proc.timers;
	uint64_t words[SPEC_BATCH * 4];
	int rc = 0;
	for (int w = 0; rc == 0 && w < BM_NITIMERS; w++)
		rc = dump_call(d, "getitimer", SYS_getitimer, (uint64_t)w, d->scratch + (uint64_t)w * SPEC_SIZE, 0);
	if (rc == 0)
		rc = fetch(d, 0, words, BM_NITIMERS * SPEC_SIZE);
	/* struct itimerval: interval, then value, each seconds and microseconds. */
	for (int w = 0; rc == 0 && w < BM_NITIMERS; w++)
		itimers[w] = (struct bm_itimer){words[4 * w + 2] * NS_PER_S + words[4 * w + 3] * NS_PER_US,
						words[4 * w] * NS_PER_S + words[4 * w + 1] * NS_PER_US};
	for (uint32_t first = 0; rc == 0 && first < tm->nposix; first += SPEC_BATCH) {
		uint32_t count = tm->nposix - first < SPEC_BATCH ? tm->nposix - first : SPEC_BATCH;
		for (uint32_t k = 0; rc == 0 && k < count; k++)
			rc = dump_call(d, "timer_gettime", SYS_timer_gettime, (uint64_t)tm->posix[first + k].id,
				       d->scratch + 128 + (uint64_t)k * SPEC_SIZE, 0);
		if (rc == 0)
			rc = fetch(d, 128, words, count * SPEC_SIZE);
		/* struct itimerspec: interval, then value, each a timespec. */
		for (uint32_t k = 0; rc == 0 && k < count; k++)
			posix[first + k] = (struct bm_itimer){words[4 * k + 2] * NS_PER_S + words[4 * k + 3],
							      words[4 * k] * NS_PER_S + words[4 * k + 1]};
	}
	return rc;
}

/* The pending signals again, now that the timers have been read once:
 * the dump's final reading, with the signals no siginfo shows. */
static int reread_pending(struct bm_frozen *f)
{
	struct bm_process *p = &f->proc;
	free(p->shared_pending);
	p->shared_pending = NULL;
	p->nshared_pending = 0;
	int rc = bm_peek_pending(f->pid, true, &p->shared_pending, &p->nshared_pending);
	if (rc == 0)
		rc = bm_pending_add_unqueued(f->pid, true, &p->shared_pending, &p->nshared_pending);
	for (uint32_t i = 0; rc == 0 && i < p->nthreads; i++) {
		struct bm_thread *t = &p->threads[i];
		free(t->pending);
		t->pending = NULL;
		t->npending = 0;
		rc = bm_peek_pending(t->tid, false, &t->pending, &t->npending);
		if (rc == 0)
			rc = bm_pending_add_unqueued(t->tid, false, &t->pending, &t->npending);
	}
	return rc < 0 ? rc : bm_pending_refuse_stop(p, f->tracees, f->ntracees);
}

/* One timerfd: its settings and unread expirations, consistent with each
 * other.  timerfd_gettime first moves an expired interval timer on to its
 * next period and counts the periods it missed (what the process's next
 * read would do); fdinfo then shows ticks and time left under one lock,
 * unless the timer expires again in between, when it is read again. */
static int read_timerfd(struct dump *d, const struct bm_fd *fd, struct bm_timerfd *out)
{
	pid_t pid = d->f->pid;
	for (int attempt = 0; attempt < TIMERFD_ATTEMPTS; attempt++) {
		uint64_t spec[4];
		struct bm_fdinfo info;
		int rc = dump_call(d, "timerfd_gettime", SYS_timerfd_gettime, (uint64_t)fd->fd, d->scratch, 0);
		if (rc == 0)
			rc = fetch(d, 0, spec, sizeof spec);
		if (rc < 0)
			return rc;
		uint64_t before = spec[2] * NS_PER_S + spec[3];
		if ((rc = bm_read_fdinfo(pid, fd->fd, &info)) < 0 || !info.has_timerfd)
			return bm_error_errno(BM_EXIT_TARGET, rc < 0 ? -rc : EINVAL, "cannot read the timerfd fd %d of process %d",
					      fd->fd, pid);
		bool settled = info.tfd_interval_ns ? info.tfd_value_ns > 0 : !(before > 0 && info.tfd_value_ns == 0);
		if (!settled)
			continue;
		if (info.tfd_settime_flags & ~(uint32_t)(TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET))
			return bm_error(BM_EXIT_UNSUPPORTED, "fd %d of process %d is a timerfd with settime flags 0%o; binmig "
					"cannot migrate it", fd->fd, pid, info.tfd_settime_flags);
		/* Setting the wall clock counts as an event of such a timerfd, and
		 * makes its next read fail with ECANCELED instead of returning the
		 * count; nothing shows whether that has happened. */
		bool may_cancel = (info.tfd_clockid == CLOCK_REALTIME || info.tfd_clockid == CLOCK_REALTIME_ALARM) &&
				  (info.tfd_settime_flags & TFD_TIMER_ABSTIME) &&
				  (info.tfd_settime_flags & TFD_TIMER_CANCEL_ON_SET);
		if (may_cancel && info.tfd_ticks)
			return bm_error(BM_EXIT_UNSUPPORTED,
					"fd %d of process %d is a timerfd that is cancelled when the wall clock is set "
					"(TFD_TIMER_CANCEL_ON_SET) with %llu events not read, which may be such a cancellation: "
					"binmig cannot tell, and cannot migrate it", fd->fd, pid, (unsigned long long)info.tfd_ticks);
		*out = (struct bm_timerfd){fd->fd, info.tfd_clockid, info.tfd_settime_flags, info.tfd_value_ns,
					   info.tfd_value_ns ? info.tfd_interval_ns : 0, info.tfd_ticks};
		return 0;
	}
	return bm_error(BM_EXIT_UNSUPPORTED, "fd %d of process %d is a timerfd that expires faster than binmig can read "
			"it; binmig cannot migrate it", fd->fd, pid);
}

/* Whether this kernel can give a timerfd unread expirations. */
static bool can_set_ticks(void)
{
	int fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
	uint64_t one = 1;
	bool ok = fd >= 0 && ioctl(fd, BM_TFD_IOC_SET_TICKS, &one) == 0;
	if (fd >= 0)
		close(fd);
	return ok;
}

static int read_timerfds(struct dump *d)
{
	struct bm_process *p = &d->f->proc;
	uint32_t n = 0;
	for (uint32_t i = 0; i < p->nfds; i++)
		n += p->fds[i].kind == BM_FD_TIMERFD && p->fds[i].shares_with < 0;
	if (!n)
		return 0;
	if (!(p->timers.timerfds = calloc(n, sizeof *p->timers.timerfds)))
		return bm_error(BM_EXIT_FAILURE, "out of memory");
	bool ticks_ok = can_set_ticks();
	for (uint32_t i = 0; i < p->nfds; i++) {
		const struct bm_fd *fd = &p->fds[i];
		if (fd->kind != BM_FD_TIMERFD || fd->shares_with >= 0)
			continue;
		struct bm_timerfd *t = &p->timers.timerfds[p->timers.ntimerfds];
		int rc = read_timerfd(d, fd, t);
		if (rc < 0)
			return rc;
		p->timers.ntimerfds++;
		if (t->ticks && !ticks_ok)
			return bm_error(BM_EXIT_UNSUPPORTED, "fd %d of process %d is a timerfd with %llu expirations not read "
					"yet, and this kernel cannot give them back (no TFD_IOC_SET_TICKS)", fd->fd,
					d->f->pid, (unsigned long long)t->ticks);
	}
	return 0;
}

static int compare_timer_id(const void *a, const void *b)
{
	int32_t x = ((const struct bm_proc_timer *)a)->id, y = ((const struct bm_proc_timer *)b)->id;
	return (x > y) - (x < y);
}

/* The POSIX timers of /proc/PID/timers into the model, by id. */
static int list_posix(struct bm_frozen *f)
{
	struct bm_process *p = &f->proc;
	pid_t *tids = calloc(p->nthreads, sizeof *tids);
	struct bm_proc_timer *pt = NULL;
	size_t npt = 0;
	if (!tids)
		return bm_error(BM_EXIT_FAILURE, "out of memory");
	for (uint32_t i = 0; i < p->nthreads; i++)
		tids[i] = p->threads[i].tid;
	int rc = read_proc_timers(f->pid, tids, p->nthreads, true, &pt, &npt);
	free(tids);
	if (rc == 0 && npt && !(p->timers.posix = calloc(npt, sizeof *p->timers.posix)))
		rc = bm_error(BM_EXIT_FAILURE, "out of memory");
	if (rc == 0 && npt) {
		int32_t newest = pt[0].id; /* the kernel lists the newest first */
		qsort(pt, npt, sizeof *pt, compare_timer_id);
		for (size_t i = 0; i < npt; i++)
			p->timers.posix[i] = (struct bm_posix_timer){
				.id = pt[i].id, .clockid = pt[i].clockid, .notify = pt[i].notify, .signo = pt[i].signo,
				.tid = (pt[i].notify & BM_SIGEV_THREAD_ID_BIT) ? pt[i].target : 0, .sigval = pt[i].sigval,
				.newest = pt[i].id == newest};
		p->timers.nposix = (uint32_t)npt;
	}
	free(pt);
	return rc;
}

/* Adds the kernel's own SIG (an interval timer's) to the process's pending
 * signals, unless one is there already (a second would be merged). */
static int add_kernel_signal(struct bm_process *p, int sig)
{
	if (bm_signal_in(p->shared_pending, p->nshared_pending, sig))
		return 0;
	struct bm_siginfo *grown = realloc(p->shared_pending, (p->nshared_pending + 1) * sizeof *grown);
	if (!grown)
		return bm_error(BM_EXIT_FAILURE, "out of memory");
	p->shared_pending = grown;
	struct bm_siginfo *si = &grown[p->nshared_pending++];
	memset(si, 0, sizeof *si);
	int32_t code = SI_KERNEL_CODE;
	memcpy(si->raw, &sig, sizeof(int32_t));
	memcpy(si->raw + BM_SI_CODE_OFF, &code, sizeof code);
	return 0;
}

/* From the two readings around the pending signals: the interval timers
 * and which POSIX timers have their signal pending. */
static int settle(struct bm_frozen *f, const struct bm_itimer *it1, const struct bm_itimer *it2,
		  const struct bm_itimer *pt1, const struct bm_itimer *pt2)
{
	static const int itimer_signal[BM_NITIMERS] = {SIGALRM, SIGVTALRM, SIGPROF};
	struct bm_process *p = &f->proc;
	struct bm_timers *tm = &p->timers;
	char why[256];
	uint32_t rank = 0;
	int rc = bm_take_timer_signals(p->shared_pending, &p->nshared_pending, tm->posix, tm->nposix, 0, &rank, why,
				       sizeof why);
	for (uint32_t i = 0; rc == 0 && i < p->nthreads; i++)
		rc = bm_take_timer_signals(p->threads[i].pending, &p->threads[i].npending, tm->posix, tm->nposix,
					   p->threads[i].tid, &rank, why, sizeof why);
	if (rc < 0)
		return bm_error(BM_EXIT_UNSUPPORTED, "process %d: %s; binmig cannot migrate it", f->pid, why);
	for (uint32_t i = 0; i < tm->nposix; i++) {
		struct bm_posix_timer *t = &tm->posix[i];
		/* Expired after the signals were read: its signal is queued all the same. */
		if (!t->pending && t->notify != SIGEV_NONE && bm_timer_fired_between(pt1[i].value_ns, pt2[i].value_ns,
										    pt2[i].interval_ns))
			t->pending = ++rank;
		t->value_ns = pt2[i].value_ns;
		t->interval_ns = pt2[i].value_ns || t->pending ? pt2[i].interval_ns : 0;
		/* A one-shot that fired is disarmed until it is set again, which
		 * makes the kernel drop the signal it queued (unless it fires once
		 * more first, when that signal counts again where it is). */
		t->stale = t->pending && !t->interval_ns && t->value_ns;
		if (t->stale)
			continue;
		/* A pending interval timer has been moved on to its next period. */
		if (t->pending && t->interval_ns && (t->value_ns == 0 || t->value_ns > t->interval_ns))
			t->value_ns = t->interval_ns;
		if (t->pending && !t->interval_ns)
			t->value_ns = 0;
	}
	for (int w = 0; w < BM_NITIMERS; w++) {
		bool fired;
		tm->itimers[w] = bm_itimer_settle((enum bm_itimer_which)w, it1[w], it2[w],
						  bm_signal_in(p->shared_pending, p->nshared_pending, itimer_signal[w]), &fired);
		if (fired && (rc = add_kernel_signal(p, itimer_signal[w])) < 0)
			return rc;
	}
	return 0;
}

/* The overrun count of each POSIX timer's last signal, and whether it can
 * be set again. */
static int read_overruns(struct dump *d)
{
	struct bm_process *p = &d->f->proc;
	for (uint32_t i = 0; i < p->timers.nposix; i++) {
		struct bm_posix_timer *t = &p->timers.posix[i];
		long ret;
		if (t->notify == SIGEV_NONE)
			continue; /* no signal, no count */
		int rc = bm_inject(d->tr, SYS_timer_getoverrun, (uint64_t)t->id, 0, 0, 0, 0, 0, &ret);
		if (rc < 0)
			return rc;
		if (ret < 0)
			return bm_error_errno(BM_EXIT_FAILURE, (int)-ret, "timer_getoverrun of POSIX timer %d in process %d",
					      t->id, d->f->pid);
		t->overrun = (int32_t)ret;
		char why[200];
		if (bm_overrun_check(p, t, why, sizeof why) < 0)
			return bm_error(BM_EXIT_UNSUPPORTED, "process %d: POSIX timer %d %s; binmig cannot migrate it",
					d->f->pid, t->id, why);
	}
	return 0;
}

int bm_collect_timers(struct bm_frozen *f)
{
	struct bm_process *p = &f->proc;
	struct dump d = {f, &f->tracees[0], 0};
	int rc = list_posix(f);
	if (rc < 0)
		return rc;
	struct bm_itimer it1[BM_NITIMERS], it2[BM_NITIMERS];
	struct bm_itimer *pt1 = calloc(p->timers.nposix + 1, sizeof *pt1), *pt2 = calloc(p->timers.nposix + 1, sizeof *pt2);
	long ret;
	if (!pt1 || !pt2) {
		rc = bm_error(BM_EXIT_FAILURE, "out of memory");
		goto out;
	}
	if ((rc = bm_scratch_map(d.tr, &d.scratch)) < 0)
		goto out;
	/* A timer may expire while the process is frozen: read each twice, the
	 * pending signals in between, and judge from both readings. */
	if ((rc = read_timers(&d, it1, pt1)) < 0 || (rc = reread_pending(f)) < 0 || (rc = read_timers(&d, it2, pt2)) < 0 ||
	    (rc = read_timerfds(&d)) < 0 ||
	    (rc = bm_inject(d.tr, SYS_prctl, BM_PR_TIMER_CREATE_RESTORE_IDS, BM_PR_TIMER_CREATE_RESTORE_IDS_GET, 0, 0, 0, 0,
			    &ret)) < 0)
		goto unmap;
	/* Any time read later than the timers is safe: a timer restored from
	 * it fires a little late, never early. */
	p->timers.realtime_ns = realtime_ns();
	p->timers.restore_ids = ret == 1; /* EINVAL: the kernel has no such mode */
	if ((rc = settle(f, it1, it2, pt1, pt2)) == 0 && (rc = bm_timers_tell_stale(f, d.scratch)) == 0 &&
	    (rc = bm_timers_read_queued(d.tr, d.scratch, p, f->pid)) == 0)
		rc = read_overruns(&d);
unmap:;
	int rc2 = bm_scratch_unmap(d.tr, d.scratch);
	if (rc == 0)
		rc = rc2;
out:
	free(pt1);
	free(pt2);
	return rc;
}

/* ==== restore ==== */

struct restore {
	struct bm_tracee *tr;            /* the leader */
	struct bm_tracee *const *threads; /* every thread, the leader first */
	size_t nthreads;
	uint64_t scratch;
	pid_t pid;
	int64_t elapsed_ns; /* CLOCK_REALTIME since the dump read the timers */
	int64_t dumped_ns;  /* CLOCK_REALTIME when the dump read them (bm_timers.realtime_ns) */
};

static int call_in(struct restore *c, struct bm_tracee *tr, const char *what, long nr, uint64_t a1, uint64_t a2,
		   uint64_t a3, uint64_t a4, long *ret)
{
	long r;
	int rc = bm_inject(tr, nr, a1, a2, a3, a4, 0, 0, &r);
	if (rc < 0)
		return rc;
	/* This kernel lacks what the restore needs (PR_TIMER_CREATE_RESTORE_IDS,
	 * TFD_IOC_SET_TICKS): impossible here, as a missing file would be. */
	bool lacking = (nr == SYS_prctl || nr == SYS_ioctl) && (r == -EINVAL || r == -ENOTTY);
	if (r < 0 && r > -4096)
		return bm_error_errno(lacking ? BM_EXIT_CONFLICT : BM_EXIT_FAILURE, (int)-r, "restoring process %d: %s",
				      c->pid, what);
	if (ret)
		*ret = r;
	return 0;
}

static int call(struct restore *c, const char *what, long nr, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4,
		long *ret)
{
	return call_in(c, c->tr, what, nr, a1, a2, a3, a4, ret);
}

static int put(struct restore *c, uint64_t off, const void *buf, size_t len)
{
	int rc = bm_mem_write(c->pid, c->scratch + off, buf, len);
	return rc < 0 ? bm_error_errno(BM_EXIT_FAILURE, -rc, "writing to the scratch page") : 0;
}

/* CLOCKID's time as the process sees it. */
static int clock_now(struct restore *c, int32_t clockid, int64_t *now)
{
	struct timespec ts;
	int rc = call(c, "clock_gettime", SYS_clock_gettime, (uint64_t)(int64_t)clockid, c->scratch + OFF_NOW, 0, 0, NULL);
	if (rc == 0 && (rc = bm_mem_read(c->pid, c->scratch + OFF_NOW, &ts, sizeof ts)) < 0)
		return bm_error_errno(BM_EXIT_FAILURE, -rc, "reading the scratch page");
	*now = (int64_t)ts_ns(&ts);
	return rc;
}

/* An absolute deadline LATE_NS before CLOCKID's now (never before its
 * start: 0 would disarm). */
static int past_deadline(struct restore *c, int32_t clockid, uint64_t late_ns, struct timespec *at)
{
	int64_t now;
	int rc = clock_now(c, clockid, &now);
	int64_t ns = (uint64_t)now > late_ns ? now - (int64_t)late_ns : 1;
	*at = ns_ts((uint64_t)ns);
	return rc;
}

uint32_t bm_timers_made_last(const struct bm_timers *tm)
{
	for (uint32_t i = 0; i < tm->nposix; i++)
		if (tm->posix[i].newest)
			return i;
	return tm->nposix - 1;
}

static int create_one(struct restore *c, const struct bm_posix_timer *t)
{
	char what[96];
	struct ksigevent ev = {.value = t->sigval, .signo = t->signo, .notify = (int32_t)t->notify, .tid = t->tid};
	int32_t id = t->id;
	long ret;
	snprintf(what, sizeof what, "timer_create of POSIX timer %d", t->id);
	int rc = put(c, OFF_EVENT, &ev, sizeof ev);
	if (rc == 0)
		rc = put(c, OFF_ID, &id, sizeof id);
	if (rc == 0)
		rc = call(c, what, SYS_timer_create, (uint64_t)(int64_t)t->clockid, c->scratch + OFF_EVENT,
			  c->scratch + OFF_ID, 0, &ret);
	if (rc == 0 && (rc = bm_mem_read(c->pid, c->scratch + OFF_ID, &id, sizeof id)) < 0)
		return bm_error_errno(BM_EXIT_FAILURE, -rc, "reading the scratch page");
	if (rc < 0)
		return rc;
	if (id != t->id)
		return bm_error(BM_EXIT_FAILURE, "restoring process %d: POSIX timer %d was created as %d", c->pid, t->id, id);
	return 0;
}

/* Each timer with its id; the one made last last, as the process made it,
 * since each creation sets the kernel's id counter after its id. */
static int create_posix(struct restore *c, const struct bm_timers *tm)
{
	uint32_t last = bm_timers_made_last(tm);
	int rc = 0;
	for (uint32_t i = 0; rc == 0 && i < tm->nposix; i++)
		if (i != last)
			rc = create_one(c, &tm->posix[i]);
	return rc < 0 ? rc : create_one(c, &tm->posix[last]);
}

/* Disarms timer T, fired again for its stale signal: the kernel then
 * drops that signal, as it would have. */
static int disarm(struct restore *c, const struct bm_posix_timer *t)
{
	struct itimerspec off = {{0, 0}, {0, 0}};
	char what[96];
	snprintf(what, sizeof what, "timer_settime of POSIX timer %d", t->id);
	int rc = put(c, OFF_SPEC, &off, sizeof off);
	return rc < 0 ? rc : call(c, what, SYS_timer_settime, (uint64_t)t->id, 0, c->scratch + OFF_SPEC, 0, NULL);
}

/* Arms timer T: to its next expiry, or, when one fell due (its signal was
 * pending, or it expired during the migration), at that past deadline,
 * so that it fires at once and an interval timer counts its overruns and
 * keeps its phase from there. */
static int arm_posix(struct restore *c, const struct bm_posix_timer *t)
{
	bool pending = t->pending && !t->stale; /* a stale one's signal is not its last expiry's */
	if (!t->value_ns && !pending)
		return t->stale ? disarm(c, t) : 0;
	int64_t due = !pending ? (int64_t)t->value_ns : t->interval_ns ? (int64_t)t->value_ns - (int64_t)t->interval_ns : 0;
	struct bm_timer_plan plan;
	bm_timer_plan(due, t->interval_ns, bm_timer_clock_is_wall(t->clockid) ? c->elapsed_ns : 0, &plan);
	struct itimerspec its = {.it_interval = ns_ts(t->interval_ns), .it_value = ns_ts(plan.value_ns)};
	int flags = 0, rc = 0;
	if (t->absolute) {
		/* At its deadline on the wall clock: the kernel fires one that
		 * passed at once and keeps an interval timer's grid. */
		flags = TIMER_ABSTIME;
		its.it_value = ns_ts((uint64_t)c->dumped_ns + t->value_ns);
	} else if (plan.missed) {
		/* Only a deadline that passed fires it at once, keeps its grid
		 * and counts its overruns.  A relative CLOCK_REALTIME interval
		 * timer armed so is absolute from now on: it would follow a step
		 * of the wall clock (docs/process-state.md). */
		flags = TIMER_ABSTIME;
		rc = past_deadline(c, t->clockid, plan.late_ns, &its.it_value);
	}
	char what[96];
	snprintf(what, sizeof what, "timer_settime of POSIX timer %d", t->id);
	if (rc == 0)
		rc = put(c, OFF_SPEC, &its, sizeof its);
	return rc < 0 ? rc : call(c, what, SYS_timer_settime, (uint64_t)t->id, (uint64_t)flags, c->scratch + OFF_SPEC, 0, NULL);
}

/* Fires timer T once, at once (a deadline of its clock's now), so that its
 * signal is queued: T has a stale signal, which setting T afterwards makes
 * stale again. */
static int fire_once(struct restore *c, const struct bm_posix_timer *t)
{
	struct itimerspec its = {{0, 0}, {0, 0}};
	char what[96];
	snprintf(what, sizeof what, "timer_settime of POSIX timer %d", t->id);
	int rc = past_deadline(c, t->clockid, 0, &its.it_value);
	if (rc == 0)
		rc = put(c, OFF_SPEC, &its, sizeof its);
	return rc < 0 ? rc : call(c, what, SYS_timer_settime, (uint64_t)t->id, TIMER_ABSTIME, c->scratch + OFF_SPEC, 0, NULL);
}

/* Waits until timer T's signal is queued where the kernel sends it, so that
 * the next one fired again comes after it. */
static int wait_queued(struct restore *c, const struct bm_posix_timer *t)
{
	int rc = bm_timer_wait_queued(c->pid, t);
	if (rc == -ETIMEDOUT)
		return bm_error(BM_EXIT_FAILURE, "restoring process %d: POSIX timer %d did not fire again", c->pid, t->id);
	return rc < 0 ? bm_error_errno(BM_EXIT_FAILURE, -rc, "restoring process %d: reading its pending signals", c->pid)
		      : 0;
}

/* The thread that takes timer T's signals. */
static struct bm_tracee *taker_of(struct restore *c, const struct bm_posix_timer *t)
{
	for (size_t i = 0; (t->notify & BM_SIGEV_THREAD_ID_BIT) && i < c->nthreads; i++)
		if (c->threads[i]->tid == t->tid)
			return c->threads[i];
	return c->tr;
}

/* Interval timer T, next due after VALUE_NS (an absolute one: at NEXT_AT
 * on the wall clock), with its overrun count: armed at a deadline
 * t->overrun + 1 periods earlier, it fires at once; taken in the process,
 * its signal makes the kernel count the periods since as the overruns
 * timer_getoverrun reports, and move the timer on to its next expiry.  A
 * restore slow enough to pass that expiry in between counts one more:
 * then again. */
static int arm_with_overrun(struct restore *c, const struct bm_posix_timer *t, uint64_t value_ns, uint64_t next_at)
{
	uint64_t sigset = 1ull << (t->signo - 1);
	struct timespec zero = {0, 0};
	uint64_t back;
	bool too_far = __builtin_mul_overflow((uint64_t)t->overrun + 1, t->interval_ns, &back);
	char what[96];
	if (t->clockid == CLOCK_REALTIME && !t->absolute) /* a dump refuses it (bm_overrun_check) */
		return bm_error(BM_EXIT_CONFLICT, "restoring process %d: POSIX timer %d on CLOCK_REALTIME, armed relative, "
				"has an overrun count, which binmig can set only by arming it with TIMER_ABSTIME", c->pid, t->id);
	snprintf(what, sizeof what, "taking the signal of POSIX timer %d", t->id);
	for (int attempt = 0; attempt < OVERRUN_ATTEMPTS; attempt++) {
		int64_t now;
		int rc = clock_now(c, t->clockid, &now);
		if (rc < 0)
			return rc;
		uint64_t next = t->absolute ? next_at : (uint64_t)now + value_ns;
		if (too_far || next <= back)
			return bm_error(BM_EXIT_CONFLICT, "restoring process %d: POSIX timer %d: its clock %d has not run the "
					"%d periods its overrun count needs", c->pid, t->id, t->clockid, t->overrun);
		struct itimerspec its = {.it_interval = ns_ts(t->interval_ns), .it_value = ns_ts(next - back)};
		snprintf(what, sizeof what, "timer_settime of POSIX timer %d", t->id);
		if ((rc = put(c, OFF_SPEC, &its, sizeof its)) < 0 || (rc = put(c, OFF_TICKS, &sigset, sizeof sigset)) < 0 ||
		    (rc = put(c, OFF_NOW, &zero, sizeof zero)) < 0 ||
		    (rc = call(c, what, SYS_timer_settime, (uint64_t)t->id, TIMER_ABSTIME, c->scratch + OFF_SPEC, 0, NULL)) < 0 ||
		    (rc = wait_queued(c, t)) < 0)
			return rc;
		long got;
		uint8_t info[128];
		snprintf(what, sizeof what, "taking the signal of POSIX timer %d", t->id);
		if ((rc = call_in(c, taker_of(c, t), what, SYS_rt_sigtimedwait, c->scratch + OFF_TICKS, c->scratch + OFF_INFO,
				  c->scratch + OFF_NOW, sizeof sigset, &got)) < 0)
			return rc;
		if ((rc = bm_mem_read(c->pid, c->scratch + OFF_INFO, info, sizeof info)) < 0)
			return bm_error_errno(BM_EXIT_FAILURE, -rc, "reading the scratch page");
		if (got != t->signo || bm_si_i32(info + BM_SI_CODE_OFF) != BM_SI_TIMER_CODE || bm_si_i32(info + BM_SI_TIMERID_OFF) != t->id)
			return bm_error(BM_EXIT_FAILURE, "restoring process %d: took signal %ld instead of POSIX timer %d's",
					c->pid, got, t->id);
		if (bm_si_i32(info + SI_OVERRUN_OFF) == t->overrun)
			return 0;
	}
	return bm_error(BM_EXIT_FAILURE, "restoring process %d: could not give POSIX timer %d its overrun count %d in %d "
			"attempts", c->pid, t->id, t->overrun, OVERRUN_ATTEMPTS);
}

static int restore_posix(struct restore *c, const struct bm_timers *tm)
{
	if (!tm->nposix)
		return 0;
	int rc = call(c, "prctl(PR_TIMER_CREATE_RESTORE_IDS) (timers with given ids need Linux 6.15 or later)", SYS_prctl,
		      BM_PR_TIMER_CREATE_RESTORE_IDS, BM_PR_TIMER_CREATE_RESTORE_IDS_ON, 0, 0, NULL);
	if (rc == 0)
		rc = create_posix(c, tm);
	if (rc == 0)
		rc = call(c, "prctl(PR_TIMER_CREATE_RESTORE_IDS)", SYS_prctl, BM_PR_TIMER_CREATE_RESTORE_IDS,
			  BM_PR_TIMER_CREATE_RESTORE_IDS_OFF, 0, 0, NULL);
	/* Those with an overrun count first, while no timer signal is queued. */
	bool *done = calloc(tm->nposix, sizeof *done);
	if (!done)
		return bm_error(BM_EXIT_FAILURE, "out of memory");
	for (uint32_t i = 0; rc == 0 && i < tm->nposix; i++) {
		const struct bm_posix_timer *t = &tm->posix[i];
		if (!t->overrun || t->pending || !t->value_ns || !t->interval_ns)
			continue;
		struct bm_timer_plan plan;
		bm_timer_plan((int64_t)t->value_ns, t->interval_ns, bm_timer_clock_is_wall(t->clockid) ? c->elapsed_ns : 0,
			      &plan);
		uint64_t next_at = (uint64_t)c->dumped_ns + t->value_ns;
		int64_t now = 0;
		if (t->absolute && (rc = clock_now(c, CLOCK_REALTIME, &now)) == 0)
			plan.missed = next_at <= (uint64_t)now;
		/* One that fell due meanwhile fires at once: its new signal's count
		 * replaces the old one (docs/image-format.md, 4.9). */
		if (rc == 0 && !plan.missed)
			done[i] = (rc = arm_with_overrun(c, t, plan.value_ns, next_at)) == 0;
	}
	/* Those whose signal was pending, in the order they were queued; a
	 * stale one fires at once here and is set below, which makes the kernel
	 * drop that signal again. */
	for (uint32_t rank = 1; rc == 0 && rank <= tm->nposix; rank++)
		for (uint32_t i = 0; rc == 0 && i < tm->nposix; i++)
			if (tm->posix[i].pending == rank &&
			    (rc = tm->posix[i].stale ? fire_once(c, &tm->posix[i]) : arm_posix(c, &tm->posix[i])) == 0)
				rc = wait_queued(c, &tm->posix[i]);
	for (uint32_t i = 0; rc == 0 && i < tm->nposix; i++)
		if ((!tm->posix[i].pending || tm->posix[i].stale) && !done[i])
			rc = arm_posix(c, &tm->posix[i]);
	free(done);
	return rc;
}

static struct timeval ns_tv_up(uint64_t ns)
{
	uint64_t us = (ns + NS_PER_US - 1) / NS_PER_US;
	return (struct timeval){.tv_sec = (time_t)(us / 1000000), .tv_usec = (suseconds_t)(us % 1000000)};
}

/* The interval timers: ITIMER_REAL less the time that passed, its missed
 * expiry delivered as the kernel delivers it (a SIGALRM of its own, pending
 * when the process resumes), its next one on the same grid. */
static int restore_itimers(struct restore *c, const struct bm_timers *tm)
{
	static const int itimer_signal[BM_NITIMERS] = {SIGALRM, SIGVTALRM, SIGPROF};
	for (int w = 0; w < BM_NITIMERS; w++) {
		const struct bm_itimer *it = &tm->itimers[w];
		if (!it->value_ns)
			continue;
		struct bm_timer_plan plan;
		bm_timer_plan((int64_t)it->value_ns, it->interval_ns, w == BM_ITIMER_REAL ? c->elapsed_ns : 0, &plan);
		int rc = 0;
		if (plan.missed) {
			struct bm_siginfo si = {{0}};
			int32_t code = SI_KERNEL_CODE;
			memcpy(si.raw, &itimer_signal[w], sizeof(int32_t));
			memcpy(si.raw + BM_SI_CODE_OFF, &code, sizeof code);
			if ((rc = put(c, OFF_INFO, si.raw, sizeof si.raw)) < 0 ||
			    (rc = call(c, "rt_sigqueueinfo of a missed interval timer", SYS_rt_sigqueueinfo, (uint64_t)c->pid,
				       (uint64_t)itimer_signal[w], c->scratch + OFF_INFO, 0, NULL)) < 0)
				return rc;
		}
		if (!plan.value_ns)
			continue;
		struct itimerval iv = {.it_interval = ns_tv_up(it->interval_ns), .it_value = ns_tv_up(plan.value_ns)};
		if ((rc = put(c, OFF_SPEC, &iv, sizeof iv)) < 0 ||
		    (rc = call(c, "setitimer", SYS_setitimer, (uint64_t)w, c->scratch + OFF_SPEC, 0, 0, NULL)) < 0)
			return rc;
	}
	return 0;
}

/* A timerfd: armed as it was (absolute or relative, its flags), less the
 * time that passed; its expiries in the meantime are added to the unread
 * ones. */
static int restore_timerfd(struct restore *c, const struct bm_timerfd *t)
{
	struct bm_timer_plan plan = {0};
	if (t->value_ns)
		bm_timer_plan((int64_t)t->value_ns, t->interval_ns, c->elapsed_ns, &plan);
	uint64_t ticks = t->ticks + plan.missed < t->ticks ? UINT64_MAX : t->ticks + plan.missed;
	char what[96];
	int rc = 0;
	if (plan.value_ns || t->settime_flags) {
		struct itimerspec its = {.it_interval = ns_ts(plan.value_ns ? t->interval_ns : 0),
					 .it_value = ns_ts(plan.value_ns)};
		int64_t now = 0;
		if ((t->settime_flags & TFD_TIMER_ABSTIME) && plan.value_ns &&
		    (rc = clock_now(c, t->clockid, &now)) == 0)
			its.it_value = ns_ts((uint64_t)now + plan.value_ns);
		snprintf(what, sizeof what, "timerfd_settime of fd %d", t->fd);
		if (rc == 0 && (rc = put(c, OFF_SPEC, &its, sizeof its)) == 0)
			rc = call(c, what, SYS_timerfd_settime, (uint64_t)t->fd, t->settime_flags, c->scratch + OFF_SPEC, 0,
				  NULL);
	}
	if (rc == 0 && ticks) {
		/* After timerfd_settime, which clears them. */
		snprintf(what, sizeof what, "setting the unread expirations of timerfd fd %d (TFD_IOC_SET_TICKS)", t->fd);
		if ((rc = put(c, OFF_TICKS, &ticks, sizeof ticks)) == 0)
			rc = call(c, what, SYS_ioctl, (uint64_t)t->fd, BM_TFD_IOC_SET_TICKS, c->scratch + OFF_TICKS, 0, NULL);
	}
	return rc;
}

int bm_restore_timers(struct bm_tracee *const *threads, size_t nthreads, uint64_t scratch,
		      const struct bm_process *p)
{
	const struct bm_timers *tm = &p->timers;
	struct restore c = {threads[0], threads, nthreads, scratch, threads[0]->tid,
			    tm->realtime_ns ? realtime_ns() - tm->realtime_ns : 0, tm->realtime_ns};
	if (bm_fault(BM_FP_SET_TIMERS))
		return bm_error_errno(BM_EXIT_FAILURE, errno, "restoring process %d: setting its timers", c.pid);
	int rc = restore_posix(&c, tm);
	if (rc == 0)
		rc = restore_itimers(&c, tm);
	for (uint32_t i = 0; rc == 0 && i < tm->ntimerfds; i++)
		rc = restore_timerfd(&c, &tm->timerfds[i]);
	if (rc == 0 && tm->restore_ids)
		rc = call(&c, "prctl(PR_TIMER_CREATE_RESTORE_IDS)", SYS_prctl, BM_PR_TIMER_CREATE_RESTORE_IDS,
			  BM_PR_TIMER_CREATE_RESTORE_IDS_ON, 0, 0, NULL);
	return rc;
}

int bm_timerfd_open(const struct bm_process *p, const struct bm_fd *d)
{
	for (uint32_t i = 0; i < p->timers.ntimerfds; i++)
		if (p->timers.timerfds[i].fd == d->fd) {
			int fd = timerfd_create(p->timers.timerfds[i].clockid, (d->flags & O_NONBLOCK) ? TFD_NONBLOCK : 0);
			return fd < 0 ? -errno : fd;
		}
	return -EINVAL;
}
