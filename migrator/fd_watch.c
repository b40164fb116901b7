/* Signalfds and epoll instances: read at dump, rebuilt at restore
 * (fd_watch.h). */
#include "fd_watch.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/kcmp.h>

#include "fd_policy.h"
#include "fd_watch_prime.h"
#include "log.h"
#include "procfs.h"
#include "wire.h"

/* The flags epoll keeps beside the events (fs/eventpoll.c EP_PRIVATE_BITS). */
#define WATCH_PRIVATE (EPOLLWAKEUP | EPOLLONESHOT | EPOLLET | EPOLLEXCLUSIVE)
/* Every bit epoll_ctl accepts. */
#define WATCH_KNOWN                                                                                     \
	(EPOLLIN | EPOLLPRI | EPOLLOUT | EPOLLERR | EPOLLHUP | EPOLLRDNORM | EPOLLRDBAND |             \
	 EPOLLWRNORM | EPOLLWRBAND | EPOLLMSG | EPOLLRDHUP | WATCH_PRIVATE)
/* The events a registration asks for; EPOLLERR and EPOLLHUP it always gets. */
#define WATCH_EVENTS (WATCH_KNOWN & ~(uint32_t)(WATCH_PRIVATE | EPOLLERR | EPOLLHUP))

/* --- fdinfo ------------------------------------------------------------- */

int bm_parse_signalfd_mask(const char *fdinfo, uint64_t *mask)
{
	for (const char *line = fdinfo; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
		if (strncmp(line, "sigmask:", 8) != 0)
			continue;
		const char *s = line + 8;
		while (*s == '\t' || *s == ' ')
			s++;
		char *end;
		errno = 0;
		unsigned long long v = strtoull(s, &end, 16);
		if (errno || end == s || (*end && *end != '\n'))
			return -EINVAL;
		*mask = v;
		return 0;
	}
	return -EINVAL;
}

int bm_parse_epoll_watches(const char *fdinfo, struct bm_watch **w, size_t *n)
{
	*w = NULL;
	*n = 0;
	size_t cap = 0;
	for (const char *line = fdinfo; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
		if (strncmp(line, "tfd:", 4) != 0)
			continue;
		/* "tfd: %8d events: %8x data: %16llx  pos:%lli ino:%lx sdev:%x" */
		int fd, used = 0;
		unsigned events;
		unsigned long long data;
		if (sscanf(line, "tfd: %d events: %x data: %llx%n", &fd, &events, &data, &used) != 3 || used == 0 ||
		    fd < 0 || (line[used] != ' ' && line[used] != '\n' && line[used] != 0)) {
			free(*w);
			*w = NULL;
			*n = 0;
			return -EINVAL;
		}
		if (*n == cap) {
			size_t ncap = cap ? cap * 2 : 8;
			struct bm_watch *grown = ncap <= BM_WATCH_MAX ? realloc(*w, ncap * sizeof **w) : NULL;
			if (!grown) {
				free(*w);
				*w = NULL;
				*n = 0;
				return ncap <= BM_WATCH_MAX ? -ENOMEM : -E2BIG;
			}
			*w = grown;
			cap = ncap;
		}
		(*w)[(*n)++] = (struct bm_watch){fd, events, data};
	}
	return 0;
}

/* --- dump --------------------------------------------------------------- */

int bm_describe_watch(pid_t pid, int fd, const char *link, uint64_t ino, struct bm_fd *out)
{
	if (strcmp(link, "anon_inode:[eventpoll]") == 0) {
		out->kind = BM_FD_EPOLL;
		out->object_id = ino; /* dups of one instance share it; registrations come later */
		return 1;
	}
	if (strcmp(link, "anon_inode:[signalfd]") != 0)
		return 0;
	char name[32], *text;
	snprintf(name, sizeof name, "fdinfo/%d", fd);
	int rc = bm_read_proc_text(pid, name, &text);
	if (rc < 0)
		return bm_error_errno(BM_EXIT_TARGET, -rc, "cannot read fdinfo of fd %d", fd);
	uint64_t mask;
	rc = bm_parse_signalfd_mask(text, &mask);
	free(text);
	if (rc < 0)
		return bm_error(BM_EXIT_TARGET, "fd %d of process %d: the signalfd's fdinfo has no signal mask", fd, pid);
	out->kind = BM_FD_SIGNALFD;
	out->object_id = mask;
	return 1;
}

/* Whether the file registered as W in instance EPFD is the one open at
 * W->fd now (it may have been closed, or another file put at its number). */
static bool registered_file_is_open(pid_t pid, int epfd, const struct bm_watch *w)
{
	struct kcmp_epoll_slot slot = {.efd = (uint32_t)epfd, .tfd = (uint32_t)w->fd, .toff = 0};
	return syscall(SYS_kcmp, pid, pid, KCMP_EPOLL_TFD, w->fd, &slot) == 0;
}

static int refuse_watch(pid_t pid, int epfd, const struct bm_watch *w, const char *why)
{
	return bm_error(BM_EXIT_UNSUPPORTED, "fd %d of process %d is an epoll instance watching fd %d, %s; binmig "
			"cannot rebuild that registration (--fd %d=close leaves the instance out)", epfd, pid, w->fd, why, epfd);
}

/* Whether W is a one-shot registration that fired: the kernel keeps only
 * its private flags once it reported it. */
static bool fired(const struct bm_watch *w)
{
	return (w->events & EPOLLONESHOT) && !(w->events & ~(uint32_t)WATCH_PRIVATE);
}

/* Files that never report EPOLLERR or EPOLLHUP: an eventfd, timerfd,
 * signalfd, epoll or inotify instance.  One that reports nothing at the
 * restore is made to report an event for a moment (fd_watch_prime.h), so
 * that a fired one-shot registration on it fires again; any other file, a
 * pipe, FIFO or socket, must report one then by itself. */
static bool never_hangs_up(uint32_t kind)
{
	return kind == BM_FD_EVENTFD || kind == BM_FD_TIMERFD || kind == BM_FD_SIGNALFD || kind == BM_FD_EPOLL ||
	       kind == BM_FD_INOTIFY;
}

/* What FD reports now, without waiting (poll): the events of WATCH_EVENTS
 * it is ready for, with EPOLLERR and EPOLLHUP, into *events (0: none).
 * Polling reads nothing.  0, or -errno. */
static int ready_now(int fd, uint32_t *events)
{
	struct pollfd pfd = {.fd = fd, .events = (short)WATCH_EVENTS};
	if (poll(&pfd, 1, 0) < 0)
		return -errno;
	if (pfd.revents & POLLNVAL)
		return -EBADF;
	*events = (uint16_t)pfd.revents;
	return 0;
}

/* A fired one-shot registration W of instance EPFD on a file that can
 * hang up: the restore makes it fire again (fire_again), which needs its
 * file to report something then.  Whether it does now, seen through a
 * copy of the process's descriptor; refused if not.  A file whose
 * readiness changes until the restore (a socket's peer elsewhere) is
 * checked again there. */
static int check_fires_again(pid_t pid, int epfd, const struct bm_watch *w)
{
	int copy = bm_fd_copy(pid, w->fd);
	if (copy < 0)
		return bm_error_errno(BM_EXIT_TARGET, errno, "cannot look at fd %d of process %d", w->fd, pid);
	uint32_t now = 0;
	int rc = ready_now(copy, &now);
	close(copy);
	if (rc < 0)
		return bm_error_errno(BM_EXIT_TARGET, -rc, "cannot poll fd %d of process %d", w->fd, pid);
	if (!now)
		return refuse_watch(pid, epfd, w, "a one-shot registration (EPOLLONESHOT) that fired, on a file that "
				    "reports no event now; added again, it would report an error or hangup "
				    "(EPOLL_CTL_ADD always arms EPOLLERR and EPOLLHUP) that the original no longer "
				    "does, and only a file that reports an event lets the restore make it fire again");
	return 0;
}

static int collect_instance(pid_t pid, const struct bm_process *p, struct bm_fd *d)
{
	char name[32], *text;
	snprintf(name, sizeof name, "fdinfo/%d", d->fd);
	int rc = bm_read_proc_text(pid, name, &text);
	if (rc < 0)
		return bm_error_errno(BM_EXIT_TARGET, -rc, "cannot read fdinfo of fd %d", d->fd);
	struct bm_watch *w;
	size_t n;
	rc = bm_parse_epoll_watches(text, &w, &n);
	free(text);
	if (rc == -E2BIG)
		return bm_error(BM_EXIT_UNSUPPORTED, "fd %d of process %d is an epoll instance with more than %u "
				"registrations; binmig cannot carry so many", d->fd, pid, BM_WATCH_MAX);
	if (rc < 0)
		return bm_error_errno(BM_EXIT_TARGET, -rc, "cannot read the registrations of epoll fd %d", d->fd);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		const struct bm_fd *t = bm_fd_find(p->fds, p->nfds, w[i].fd);
		if (!t || !registered_file_is_open(pid, d->fd, &w[i]))
			rc = refuse_watch(pid, d->fd, &w[i], "whose file is no longer open at that number");
		else if (t->replaced)
			rc = refuse_watch(pid, d->fd, &w[i], "which a --fd or --stdio policy replaces");
		else if (fired(&w[i]) && !never_hangs_up(t->kind))
			rc = check_fires_again(pid, d->fd, &w[i]);
		else if (fired(&w[i]) && t->kind == BM_FD_SIGNALFD && !bm_watch_signalfd_primable(t->object_id))
			rc = refuse_watch(pid, d->fd, &w[i], "a one-shot registration (EPOLLONESHOT) that fired, on a "
					  "signalfd for job-control signals only (SIGCONT, SIGTSTP, SIGTTIN, SIGTTOU): the "
					  "restore can make it fire again only by sending it one of them, which does more "
					  "than queue it");
	}
	if (rc == 0 && n) {
		d->data = malloc(n * BM_WATCH_SIZE);
		if (!d->data)
			rc = bm_error(BM_EXIT_FAILURE, "out of memory");
	}
	for (size_t i = 0; rc == 0 && i < n; i++) {
		uint8_t *at = d->data + i * BM_WATCH_SIZE;
		bm_store_le32(at, (uint32_t)w[i].fd);
		bm_store_le32(at + 4, w[i].events);
		bm_store_le64(at + 8, w[i].data);
	}
	if (rc == 0)
		d->data_len = (uint32_t)(n * BM_WATCH_SIZE);
	free(w);
	return rc;
}

int bm_collect_watches(pid_t pid, struct bm_process *p)
{
	for (uint32_t i = 0; i < p->nfds; i++) {
		struct bm_fd *d = &p->fds[i];
		if (d->kind != BM_FD_EPOLL || d->shares_with >= 0)
			continue;
		int rc = collect_instance(pid, p, d);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* --- image -------------------------------------------------------------- */

uint32_t bm_watch_count(const struct bm_fd *d)
{
	return d->kind == BM_FD_EPOLL ? d->data_len / BM_WATCH_SIZE : 0;
}

struct bm_watch bm_watch_get(const struct bm_fd *d, uint32_t i)
{
	const uint8_t *at = d->data + (size_t)i * BM_WATCH_SIZE;
	return (struct bm_watch){(int32_t)bm_load_le32(at), bm_load_le32(at + 4), bm_load_le64(at + 8)};
}

bool bm_watch_check(const struct bm_fd *fds, uint32_t nfds, char *why, size_t n)
{
	for (uint32_t i = 0; i < nfds; i++) {
		const struct bm_fd *d = &fds[i];
		if (d->kind != BM_FD_EPOLL)
			continue;
		if (d->shares_with >= 0 && d->data_len)
			return bm_why(why, n, "epoll fd %d shares its instance with fd %d yet lists registrations", d->fd,
				      d->shares_with);
		if (d->data_len % BM_WATCH_SIZE || d->data_len / BM_WATCH_SIZE > BM_WATCH_MAX)
			return bm_why(why, n, "epoll fd %d: %u bytes of registrations", d->fd, d->data_len);
		uint32_t count = bm_watch_count(d);
		for (uint32_t k = 0; k < count; k++) {
			struct bm_watch w = bm_watch_get(d, k);
			const struct bm_fd *t = w.fd >= 0 ? bm_fd_find(fds, nfds, w.fd) : NULL;
			if (!t || t->kind == BM_FD_CLOSED || t == d)
				return bm_why(why, n, "epoll fd %d watches fd %d, which is not another open descriptor", d->fd,
					      w.fd);
			if (w.events & ~(uint32_t)WATCH_KNOWN)
				return bm_why(why, n, "epoll fd %d watches fd %d for unknown events %#x", d->fd, w.fd,
					      w.events & ~(uint32_t)WATCH_KNOWN);
			for (uint32_t j = 0; j < k; j++)
				if (bm_watch_get(d, j).fd == w.fd)
					return bm_why(why, n, "epoll fd %d watches fd %d twice", d->fd, w.fd);
		}
	}
	return true;
}

/* --- restore (inside the new process) ----------------------------------- */

int bm_watch_open(const struct bm_fd *d)
{
	int fd = -1;
	if (d->kind == BM_FD_SIGNALFD) {
		/* The kernel's sigset is 8 bytes; glibc's sigset_t is larger. */
		uint64_t mask = d->object_id;
		fd = (int)syscall(SYS_signalfd4, -1, &mask, sizeof mask, (int)d->flags & O_NONBLOCK);
	} else if (d->kind == BM_FD_EPOLL) {
		fd = epoll_create1(0);
	} else {
		errno = EINVAL;
	}
	return fd < 0 ? -errno : fd;
}

static int add_watch(int epfd, const struct bm_watch *w, uint32_t events, char *err, size_t errlen)
{
	struct epoll_event ev = {.events = events, .data.u64 = w->data};
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, w->fd, &ev) == 0)
		return 0;
	snprintf(err, errlen, "fd %d: cannot watch fd %d again (events %#x): %s", epfd, w->fd, events, strerror(errno));
	return -1;
}

/* What the file of W reports now, into *now. */
static int poll_target(int epfd, const struct bm_watch *w, uint32_t *now, char *err, size_t errlen)
{
	int rc = ready_now(w->fd, now);
	if (rc < 0)
		snprintf(err, errlen, "fd %d: cannot poll fd %d: %s", epfd, w->fd, strerror(-rc));
	return rc < 0 ? -1 : 0;
}

/* Adds W to EPFD with the events NOW its file reports and takes the
 * report at once: it is left only its private flags. */
static int fire(int epfd, const struct bm_watch *w, uint32_t now, char *err, size_t errlen)
{
	if (!now) {
		snprintf(err, errlen, "fd %d: the one-shot registration (EPOLLONESHOT) of fd %d, which fired, cannot "
			 "fire again: the file reports no event now, though it did at the dump", epfd, w->fd);
		return -1;
	}
	if (add_watch(epfd, w, w->events | (now & WATCH_EVENTS), err, errlen) < 0)
		return -1;
	struct epoll_event got[2];
	int n = epoll_wait(epfd, got, 2, 0);
	if (n != 1 || got[0].data.u64 != w->data) {
		snprintf(err, errlen, "fd %d: the one-shot registration (EPOLLONESHOT) of fd %d, which fired, did not "
			 "fire again (epoll_wait gave %d%s%s)", epfd, w->fd, n, n < 0 ? ": " : "",
			 n < 0 ? strerror(errno) : "");
		return -1;
	}
	return 0;
}

/* A fired one-shot registration W of instance EPFD on file T, made
 * again as the kernel has it: added with the events its file reports
 * now and reported at once by epoll_wait, which leaves it only its
 * private flags, as the report did in the original.  The instance has
 * nothing else to report then (its other registrations come later; the
 * fired ones before can report nothing), and epoll_wait reads nothing
 * from the file.  A timerfd, epoll, inotify instance or signalfd that
 * reports nothing is made to report an event for the moment of it and
 * put back (fd_watch_prime.h; READY_FD: a descriptor of the restore's
 * that can be written).  Where that cannot be done exactly, or another
 * file reports nothing (the dump saw it report something: it changed
 * since), the restore fails: added plainly, the registration would have
 * EPOLLERR and EPOLLHUP armed, which the original no longer has. */
static int fire_again(int epfd, const struct bm_watch *w, const struct bm_fd *t, int ready_fd, char *err,
		      size_t errlen)
{
	uint32_t now = 0;
	if (poll_target(epfd, w, &now, err, errlen) < 0)
		return -1;
	struct bm_primed primed = {0};
	if (!now && t && never_hangs_up(t->kind) && bm_watch_prime(t, ready_fd, &primed, err, errlen) < 0)
		return -1;
	int rc = primed.kind ? poll_target(epfd, w, &now, err, errlen) : 0;
	if (rc == 0)
		rc = fire(epfd, w, now, err, errlen);
	char later[256];
	if (bm_watch_unprime(&primed, rc < 0 ? later : err, rc < 0 ? sizeof later : errlen) < 0)
		rc = -1;
	return rc;
}

/* The registrations of every instance that are fired one-shots (FIRED)
 * or the others. */
static int restore_watches(const struct bm_process *p, bool fired_ones, int ready_fd, char *err, size_t errlen)
{
	for (uint32_t i = 0; i < p->nfds; i++) {
		const struct bm_fd *d = &p->fds[i];
		uint32_t count = bm_watch_count(d);
		for (uint32_t k = 0; k < count; k++) {
			struct bm_watch w = bm_watch_get(d, k);
			if (fired(&w) != fired_ones)
				continue;
			int rc = fired_ones ? fire_again(d->fd, &w, bm_fd_find(p->fds, p->nfds, w.fd), ready_fd, err, errlen)
					    : add_watch(d->fd, &w, w.events, err, errlen);
			if (rc < 0)
				return -1;
		}
	}
	return 0;
}

int bm_watch_restore(const struct bm_process *p, int ready_fd, char *err, size_t errlen)
{
	/* The fired one-shot registrations of every instance first, while no
	 * instance holds anything that can be reported or wake another (a
	 * fired one ignores its file's wake-ups); then the others, in
	 * fdinfo's order, as if those were not there. */
	return restore_watches(p, true, ready_fd, err, errlen) < 0 || restore_watches(p, false, ready_fd, err, errlen) < 0
		       ? -1 : 0;
}
