/* Descriptors that watch others: signalfds and epoll instances, both
 * directions.
 *
 * A signalfd is its signal mask.  An epoll instance is the list of its
 * registrations (target descriptor, events, user data), read from fdinfo
 * at dump and registered again at restore once every descriptor of the
 * process is back; what is ready is not state of the instance but of the
 * targets, which travel themselves.  A one-shot registration that fired
 * (only its private flags left) is made to fire again at the restore, on
 * a file that reports an event then, or that is made to report one for
 * that moment (a timerfd, epoll, inotify instance or signalfd:
 * fd_watch_prime.h); where neither can be, it is added plainly where the
 * file never reports EPOLLERR or EPOLLHUP (only fdinfo shows the two
 * armed), and refused on any other.  A registration whose target is no
 * longer open at the descriptor number it was added with, or was replaced
 * by a --fd policy, cannot be rebuilt and is refused. */
#ifndef BINMIG_FD_WATCH_H
#define BINMIG_FD_WATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "state.h"

/* One registration in an image: int32 target fd, uint32 events (with
 * EPOLLET, EPOLLONESHOT, EPOLLWAKEUP, EPOLLEXCLUSIVE), uint64 user data,
 * little-endian, in the order fdinfo lists them. */
#define BM_WATCH_SIZE 16u
/* At most this many registrations per instance (the image's bound on a
 * descriptor's data). */
#define BM_WATCH_MAX (1u << 16)

struct bm_watch {
	int32_t fd;
	uint32_t events;
	uint64_t data;
};

/* fdinfo text parsers.  -EINVAL when the text is not what the kernel
 * writes. */
int bm_parse_signalfd_mask(const char *fdinfo, uint64_t *mask);
/* *w is malloc'd (NULL when there are none). */
int bm_parse_epoll_watches(const char *fdinfo, struct bm_watch **w, size_t *n);

/* At dump, for a descriptor whose /proc link is LINK: 1 if it is a
 * signalfd or epoll instance, which fills out->kind and out->object_id;
 * 0 if it is neither; negative after reporting. */
int bm_describe_watch(pid_t pid, int fd, const char *link, uint64_t ino, struct bm_fd *out);

/* At dump, once every descriptor of p is described: stores each epoll
 * instance's registrations and refuses (BM_EXIT_UNSUPPORTED) those that
 * cannot be rebuilt, among them a fired one-shot registration on a file
 * that can hang up and reports no event now (polled through a copy of
 * the descriptor). */
int bm_collect_watches(pid_t pid, struct bm_process *p);

/* Registration I of descriptor D (an epoll instance). */
uint32_t bm_watch_count(const struct bm_fd *d);
struct bm_watch bm_watch_get(const struct bm_fd *d, uint32_t i);

/* Image rules over the whole (sorted) descriptor list: every registration
 * names a descriptor of the list that is open, once per instance, with
 * known event bits.  false with the reason in why. */
bool bm_watch_check(const struct bm_fd *fds, uint32_t nfds, char *why, size_t n);

/* Inside the new process (system calls only).  bm_watch_open creates the
 * signalfd, or the epoll instance without registrations: a descriptor, or
 * -errno.  bm_watch_restore then adds every registration, once all
 * descriptors are in place: the fired one-shot ones first, each added with
 * the events its file reports (poll; made to report one for the moment if
 * it can be: fd_watch_prime.h, READY_FD a descriptor of the restore's that
 * can be written, or -1) and reported at once (epoll_wait), then the
 * others; -1 with the reason in err (also when a fired one-shot
 * registration on a file that can hang up finds it reporting nothing). */
int bm_watch_open(const struct bm_fd *d);
int bm_watch_restore(const struct bm_process *p, int ready_fd, char *err, size_t errlen);

#endif
