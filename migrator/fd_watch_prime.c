/* Targets of fired one-shot registrations made to report an event for a
 * moment at the restore (fd_watch_prime.h). */
#include "fd_watch_prime.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "fd_inotify.h"
#include "timers.h"


/* The signals whose sending or taking does more than queue and dequeue
 * them: SIGCONT drops pending stop signals and, the new process being
 * seized by binmig, makes it trap for its tracer; a stop signal drops a
 * pending SIGCONT, and taking it marks the thread (JOBCTL_STOP_DEQUEUED). */
#define JOB_CONTROL ((1ull << (SIGCONT - 1)) | (1ull << (SIGTSTP - 1)) | (1ull << (SIGTTIN - 1)) | \
		     (1ull << (SIGTTOU - 1)) | (1ull << (SIGKILL - 1)) | (1ull << (SIGSTOP - 1)))

static int fail(char *err, size_t errlen, const char *what, int fd)
{
	snprintf(err, errlen, "fd %d: %s, to fire a one-shot registration (EPOLLONESHOT) on it again: %s", fd, what,
		 strerror(errno));
	return -1;
}

/* What the restore cannot do exactly: the registration would differ. */
static int cannot(char *err, size_t errlen, int fd, const char *why)
{
	snprintf(err, errlen, "fd %d: the one-shot registration (EPOLLONESHOT) on it fired, and the restore cannot "
		 "make it fire again: %s; added plainly it would arm EPOLLERR and EPOLLHUP, which the original no "
		 "longer has", fd, why);
	return -1;
}

/* A kernel without CONFIG_CHECKPOINT_RESTORE has neither ioctl. */
static int no_ioctl(char *err, size_t errlen, int fd, const char *what)
{
	if (errno != ENOTTY)
		return fail(err, errlen, what, fd);
	char why[120];
	snprintf(why, sizeof why, "this kernel has no %s (CONFIG_CHECKPOINT_RESTORE)", what);
	return cannot(err, errlen, fd, why);
}

/* A timerfd never armed, with no expiration: one, read back by the undo. */
static int prime_timerfd(int fd, char *err, size_t errlen)
{
	struct itimerspec now;
	if (syscall(SYS_timerfd_gettime, fd, &now) < 0)
		return fail(err, errlen, "timerfd_gettime", fd);
	if (now.it_value.tv_sec || now.it_value.tv_nsec)
		return cannot(err, errlen, fd, "the timerfd is armed already (an expiry could join the one set)");
	uint64_t one = 1;
	return ioctl(fd, BM_TFD_IOC_SET_TICKS, &one) == 0 ? 0 : no_ioctl(err, errlen, fd, "TFD_IOC_SET_TICKS");
}

/* An inotify instance without watches: one added and removed at once
 * queues its IN_IGNORED; the undo reads it and sets the cursor back. */
static int prime_inotify(int fd, char *err, size_t errlen)
{
	/* The cursor of a new instance: its first watch gets number 1. */
	if (ioctl(fd, BM_INOTIFY_IOC_SETNEXTWD, 1L) < 0)
		return no_ioctl(err, errlen, fd, "INOTIFY_IOC_SETNEXTWD");
	/* The root cannot be deleted: this watch sees no event of its own. */
	int wd = inotify_add_watch(fd, "/", IN_DELETE_SELF);
	if (wd != 1) {
		if (wd >= 0)
			errno = EEXIST; /* the instance has watches already */
		return fail(err, errlen, "a watch added for a moment", fd);
	}
	return inotify_rm_watch(fd, wd) == 0 ? 0 : fail(err, errlen, "inotify_rm_watch", fd);
}

/* The lowest signal of MASK (a signalfd's) that only queues when sent,
 * blocked in this thread (as every signal is in the new process then), or 0. */
static int quiet_signal(uint64_t mask)
{
	uint64_t blocked = 0;
	if (syscall(SYS_rt_sigprocmask, SIG_BLOCK, NULL, &blocked, sizeof blocked) < 0)
		return 0;
	mask &= blocked & ~(uint64_t)JOB_CONTROL;
	return mask ? __builtin_ctzll(mask) + 1 : 0;
}

bool bm_watch_signalfd_primable(uint64_t mask)
{
	return (mask & ~(uint64_t)JOB_CONTROL) != 0;
}

int bm_watch_prime(const struct bm_fd *t, int ready_fd, struct bm_primed *pr, char *err, size_t errlen)
{
	*pr = (struct bm_primed){0, t->fd, ready_fd, 0};
	int rc;
	if (t->kind == BM_FD_TIMERFD) {
		rc = prime_timerfd(t->fd, err, errlen);
	} else if (t->kind == BM_FD_INOTIFY) {
		rc = prime_inotify(t->fd, err, errlen);
	} else if (t->kind == BM_FD_EPOLL && ready_fd >= 0) {
		struct epoll_event ev = {.events = EPOLLOUT};
		rc = epoll_ctl(t->fd, EPOLL_CTL_ADD, ready_fd, &ev) == 0 ? 0
									   : fail(err, errlen, "a registration added for a moment", t->fd);
	} else if (t->kind == BM_FD_SIGNALFD && (pr->sig = quiet_signal(t->object_id))) {
		/* Blocked in the restoring thread: it stays pending, to it alone. */
		rc = syscall(SYS_tgkill, syscall(SYS_getpid), syscall(SYS_gettid), pr->sig) == 0
			     ? 0 : fail(err, errlen, "a signal of its mask sent for a moment", t->fd);
	} else {
		rc = cannot(err, errlen, t->fd, t->kind == BM_FD_SIGNALFD ? "no signal of its mask only queues when sent "
			    "(job-control signals, or one the restoring thread does not block)"
			    : "its file reports no event, and nothing can make it report one for a moment");
	}
	if (rc == 0)
		pr->kind = t->kind;
	return rc;
}

/* Reads the one event of size SIZE the priming queued into buf, which
 * has room for CAP bytes: anything more fails. */
static int take(struct bm_primed *pr, void *buf, size_t size, size_t cap, char *err, size_t errlen)
{
	ssize_t n = read(pr->fd, buf, cap);
	if (n == (ssize_t)size)
		return 0;
	if (n >= 0)
		errno = EPROTO;
	return fail(err, errlen, "reading the event queued for a moment", pr->fd);
}

int bm_watch_unprime(struct bm_primed *pr, char *err, size_t errlen)
{
	uint32_t kind = pr->kind;
	pr->kind = 0;
	if (kind == BM_FD_TIMERFD) {
		uint64_t ticks = 0;
		if (take(pr, &ticks, sizeof ticks, sizeof ticks, err, errlen) < 0)
			return -1;
		errno = EPROTO;
		return ticks == 1 ? 0 : fail(err, errlen, "the expiration set for a moment", pr->fd);
	}
	if (kind == BM_FD_INOTIFY) {
		/* Room for more: anything but the filler's one event fails. */
		char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
		if (take(pr, buf, sizeof(struct inotify_event), sizeof buf, err, errlen) < 0)
			return -1;
		const struct inotify_event *ev = (const struct inotify_event *)buf;
		errno = EPROTO;
		if (ev->wd != 1 || ev->mask != IN_IGNORED || ev->len)
			return fail(err, errlen, "the event of the watch added for a moment", pr->fd);
		return ioctl(pr->fd, BM_INOTIFY_IOC_SETNEXTWD, 1L) == 0 ? 0
									  : fail(err, errlen, "INOTIFY_IOC_SETNEXTWD", pr->fd);
	}
	if (kind == BM_FD_EPOLL)
		return epoll_ctl(pr->fd, EPOLL_CTL_DEL, pr->ready_fd, NULL) == 0
			       ? 0 : fail(err, errlen, "deleting the registration added for a moment", pr->fd);
	if (kind == BM_FD_SIGNALFD) {
		struct signalfd_siginfo si;
		if (take(pr, &si, sizeof si, sizeof si, err, errlen) < 0)
			return -1;
		errno = EPROTO;
		return (int)si.ssi_signo == pr->sig && si.ssi_code == SI_TKILL
			       ? 0 : fail(err, errlen, "the signal sent for a moment", pr->fd);
	}
	return 0;
}
