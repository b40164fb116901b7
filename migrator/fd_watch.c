/* Signalfds and epoll instances: read at dump, rebuilt at restore
 * (fd_watch.h). */
#include "fd_watch.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/kcmp.h>

#include "fd_policy.h"
#include "log.h"
#include "procfs.h"
#include "wire.h"

/* The flags epoll keeps beside the events (fs/eventpoll.c EP_PRIVATE_BITS). */
#define WATCH_PRIVATE (EPOLLWAKEUP | EPOLLONESHOT | EPOLLET | EPOLLEXCLUSIVE)
/* Every bit epoll_ctl accepts. */
#define WATCH_KNOWN                                                                                     \
	(EPOLLIN | EPOLLPRI | EPOLLOUT | EPOLLERR | EPOLLHUP | EPOLLRDNORM | EPOLLRDBAND |             \
	 EPOLLWRNORM | EPOLLWRBAND | EPOLLMSG | EPOLLRDHUP | WATCH_PRIVATE)

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

/* Whether W is a one-shot registration that fired (the kernel keeps only
 * its private flags) on a file that can report an error or hangup: pipes,
 * FIFOs, sockets and the rest.  An eventfd, timerfd, signalfd, epoll or
 * inotify instance reports neither, so the EPOLLERR|EPOLLHUP that adding
 * it again arms cannot show. */
static bool fired_may_hang_up(const struct bm_watch *w, const struct bm_fd *t)
{
	bool fired = (w->events & EPOLLONESHOT) && !(w->events & ~(uint32_t)WATCH_PRIVATE);
	return fired && t->kind != BM_FD_EVENTFD && t->kind != BM_FD_TIMERFD && t->kind != BM_FD_SIGNALFD &&
	       t->kind != BM_FD_EPOLL && t->kind != BM_FD_INOTIFY;
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
		else if (fired_may_hang_up(&w[i], t))
			rc = refuse_watch(pid, d->fd, &w[i], "a one-shot registration (EPOLLONESHOT) that fired; added "
					  "again, it would report an error or hangup (EPOLL_CTL_ADD always arms EPOLLERR "
					  "and EPOLLHUP), which the original no longer does");
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

int bm_watch_restore(const struct bm_process *p, char *err, size_t errlen)
{
	for (uint32_t i = 0; i < p->nfds; i++) {
		const struct bm_fd *d = &p->fds[i];
		uint32_t count = bm_watch_count(d);
		for (uint32_t k = 0; k < count; k++) {
			struct bm_watch w = bm_watch_get(d, k);
			struct epoll_event ev = {.events = w.events, .data.u64 = w.data};
			if (epoll_ctl(d->fd, EPOLL_CTL_ADD, w.fd, &ev) < 0) {
				snprintf(err, errlen, "fd %d: cannot watch fd %d again (events %#x): %s", d->fd, w.fd,
					 w.events, strerror(errno));
				return -1;
			}
		}
	}
	return 0;
}
