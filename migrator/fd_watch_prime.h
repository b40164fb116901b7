/* Making a file that reports no event report one for a moment, and
 * putting it back exactly: how the restore fires a one-shot epoll
 * registration that fired again (fd_watch.c) when its target is a
 * timerfd, epoll, inotify instance or signalfd.
 *
 * At that point of the restore (bm_watch_restore, inside the new process)
 * each such target is as its maker left it: a timerfd not armed, with no
 * expiration (armed later, from outside: timers.c); an epoll instance
 * with no registration but fired one-shots (the others come later); an
 * inotify instance without watches (added later: fd_inotify.c) or events;
 * no signal pending (queued later).  Priming gives it one event, which
 * its undo takes away again:
 *   timerfd   TFD_IOC_SET_TICKS(1), then the expiration read;
 *   epoll     a registration of a descriptor that can be written (the
 *             restore's control pipe), then deleted;
 *   inotify   a watch added and removed at once (its IN_IGNORED event),
 *             the event read, the next watch number set back to 1;
 *   signalfd  a signal of its mask sent to the restoring thread
 *             (tgkill, blocked there), then read through the signalfd.
 * A target that cannot be primed exactly fails the restore rather than
 * have its registration added plainly, which would arm EPOLLERR and
 * EPOLLHUP that the fired one no longer has: a timerfd or inotify
 * instance on a kernel without the ioctls of CONFIG_CHECKPOINT_RESTORE,
 * a signalfd for job-control signals only (sending or taking SIGCONT or a
 * stop signal changes more than the queue; the dump refuses it already),
 * an epoll instance without such a descriptor, a timerfd already armed,
 * any other kind. */
#ifndef BINMIG_FD_WATCH_PRIME_H
#define BINMIG_FD_WATCH_PRIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "state.h"

struct bm_primed {
	uint32_t kind; /* BM_FD_*; 0: nothing to undo */
	int fd;        /* the target */
	int ready_fd;  /* epoll: the descriptor registered in it */
	int sig;       /* signalfd: the signal sent */
};

/* Makes T, open at its number, report an event (0), with *pr to undo it;
 * -1 with the reason in err, also when T's kind or this kernel does not
 * allow it exactly (nothing done then).  READY_FD: a descriptor that
 * reports EPOLLOUT and is not the process's (-1: none).  System calls
 * only. */
int bm_watch_prime(const struct bm_fd *t, int ready_fd, struct bm_primed *pr, char *err, size_t errlen);

/* Whether a signalfd of signals MASK (bit N-1 for signal N) can be primed:
 * whether one of them only queues when sent (not a job-control signal). */
bool bm_watch_signalfd_primable(uint64_t mask);

/* Puts the target back as it was before bm_watch_prime: 0, or -1 with the
 * reason in err (when err is still empty: a reason of its own first). */
int bm_watch_unprime(struct bm_primed *pr, char *err, size_t errlen);

#endif
