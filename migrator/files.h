/* File descriptors: collected at dump (checkpoint.h: bm_collect_fds),
 * checked and reopened at restore. */
#ifndef BINMIG_FILES_H
#define BINMIG_FILES_H

#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "fd_policy.h"
#include "state.h"

/* The status flags F_SETFL changes that a restore sets with the others
 * (O_DIRECT: a pipe's packet mode, or what open already gave a file);
 * O_ASYNC is set last, once its owner is (fd_sigio.h). */
#define BM_SETFL_FLAGS (O_APPEND | O_NONBLOCK | O_NOATIME | O_DIRECT)

enum bm_fds_mode {
	BM_FDS_PROBE,   /* before stopping: everything but the bytes buffered in pipes and FIFOs */
	BM_FDS_STOPPED, /* the process is stopped: with those bytes */
	BM_FDS_TREE,    /* one process of a tree: pipes, FIFOs and the policy's presence are checked
			   across the tree afterwards (bm_collect_shared_fds) */
};

/* Describes every descriptor of PID into p (p->pid set); replaces those
 * the policy names (fd_policy.h) and refuses (BM_EXIT_UNSUPPORTED, naming
 * the descriptor and the way out) what cannot be carried otherwise.
 * policy may be NULL. */
int bm_collect_fds(pid_t pid, struct bm_process *p, const struct bm_fd_policy *policy, enum bm_fds_mode mode);

/* What descriptors of processes moved together share: every pipe must
 * have all its ends among them; read_data copies the bytes buffered in
 * pipes and FIFOs (only while all are stopped), once per pipe. */
int bm_collect_shared_fds(struct bm_process *const *procs, size_t nprocs, const struct bm_fd_policy *policy,
			  bool read_data);

/* Inside the new process (system calls only): gives a named FIFO, open
 * for reading at READER and still reachable at d->path, the capacity and
 * bytes it had (kinds BM_FD_FIFO and BM_FD_UNLINKED_FIFO).  0, or -1 with
 * errno. */
int bm_fifo_refill(const struct bm_fd *d, int reader);

/* Checks before restoring that every descriptor's file can be reopened,
 * and that unlinked objects and a removed cwd can be made again. */
int bm_check_fds(const struct bm_process *p);

/* Runs inside the new process before it loses binmig's code: opens every
 * descriptor at its number, with its flags and offset (one a policy closed
 * stays closed).  No descriptor of the image may be open yet, nor any
 * above ctl_fd, the write end of the restore's error pipe (nothing written
 * to it yet: epoll instances register it for a moment, fd_watch_prime.h).
 * On failure writes the reason to err and returns -1 (the child reports it
 * to the parent over a pipe).  A tree's member takes its file locks in
 * their turns (TURNS, file_lock_order.h; NULL: as listed). */
struct bm_lock_turns;
int bm_restore_fds(const struct bm_process *p, int ctl_fd, const bool *skip, const struct bm_lock_turns *turns,
		   char *err, size_t errlen);
/* ... and, once the new process has made its mapped files and its cwd (which
 * touch directories it may watch): the inotify watches, then closing what was
 * only in flight (sk_unix_adopt.h).  0, or -1 with the reason in err. */
int bm_restore_fds_last(const struct bm_process *p, const bool *skip, char *err, size_t errlen);

/* Makes D's pipe or socket as its owner's filesystem user and group, from
 * an image of version 9 (raw calls: this thread only), so that the open
 * file records that maker (f_cred, which a firewall's owner match reads),
 * as the original's did; bm_fd_maker_back undoes it.  Only around the
 * call that makes the object: binmig keeps its own rights otherwise. */
struct bm_fd_maker {
	long uid, gid; /* binmig's, or -1: nothing changed */
};
struct bm_fd_maker bm_fd_maker_become(const struct bm_fd *d);
void bm_fd_maker_back(struct bm_fd_maker was);

/* D, a unix socket (made with its SO_PEERCRED ids, or as root) or a broken
 * end a policy put in its place, at its number: the owner its original had
 * (who made it: st_uid, st_gid, and a socket's uid in sock_diag), from an
 * image of version 9; 0, or -1 with err.  Pipes and TCP and UDP sockets
 * are made as their owners (bm_fd_maker_become), the unlinked objects get
 * theirs as they are made (unlinked.h); other kinds are not the restore's
 * own objects. */
int bm_fd_give_owner(const struct bm_fd *d, char *err, size_t errlen);
/* (skip, may be NULL: per descriptor of the image, true for one that is
 * in place already, inherited from a tree's restorer.) */

/* Opens the object of descriptor p->fds[i] once, in binmig, for a
 * description that several processes of a tree share (kinds regular,
 * directory, device, FIFO, eventfd, unlinked file or memfd), with its
 * flags and offset.  The descriptor, or -1 with
 * the reason in err. */
int bm_open_description(const struct bm_process *p, uint32_t i, char *err, size_t errlen);
/* Sets the status flags F_SETFL changes to those of d on fd: 0 or -1. */
int bm_set_status_flags(int fd, const struct bm_fd *d);

#endif
