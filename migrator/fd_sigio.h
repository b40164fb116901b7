/* Where a descriptor's signals go (fd_sigio.c): signal-driven I/O
 * (O_ASYNC), the owner of its open file (F_SETOWN, F_SETOWN_EX: a
 * process, a thread or a process group; a socket's SIGURG goes to it too)
 * and the signal sent (F_SETSIG; 0 is SIGIO, without siginfo details).
 *
 * At dump they are read through a copy of the open file (pidfd_getfd,
 * F_GETOWN_EX, F_GETSIG: no injected call; fdinfo shows neither).  They
 * are carried for pipes, FIFOs, unix, TCP and UDP sockets, eventfds,
 * inotify instances, timerfds, signalfds and regular files (deleted ones
 * too) when the owner moves too: a process or thread of what is moved, or
 * a process group all of whose processes are moved.  Refused: an owner
 * outside (named), a thread owner of a process of a tree that is not the
 * only holder of the open file (the threads of each process are made in
 * its own rebuild), where the kernel does not show the user ids the
 * owner recorded from its setter (F_GETOWNER_UIDS), an open file held by
 * processes of other users whose credentials decide whether a process of
 * the owner gets the signals, an open file only in flight (SCM_RIGHTS), a
 * replaced descriptor, any other kind of file, and the owner of a
 * directory, which may be dnotify's (F_NOTIFY sets it, and shows nowhere
 * else).  A lease (O_ASYNC with a lock) is refused in files.c.
 *
 * The signals of an open file with O_ASYNC report (si_fd) the number of
 * the descriptor O_ASYNC was set through, which may be closed since: read
 * through BPF (kstate.h, fa_fd); refused where the restore cannot set it
 * through that number (another file there now, past the table, record
 * locks a copy's close would drop).  Without BPF, an open file with
 * O_ASYNC held at several numbers is refused (which one shows nowhere).
 *
 * At restore the open file is made without O_ASYNC (open(2) would set
 * the flag without arming it); once the process has its own credentials
 * (the kernel records the setter's: sigio_perm), injected calls give it
 * its signal (F_SETSIG), its owner (F_SETOWN_EX; set by binmig itself, its
 * thread's user ids those the owner recorded, where they are not the
 * process's), then O_ASYNC (F_SETFL),
 * once per open file, through the number its signals reported (a copy of
 * it put there for the call where that number was closed), or where not
 * read, through its first descriptor. */
#ifndef BINMIG_FD_SIGIO_H
#define BINMIG_FD_SIGIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ptrace_ctl.h"
#include "state.h"
#include "wire.h"

/* At dump: reads the owner and signal of fd FD of PID (LINK its /proc
 * link text, MODE its st_mode) into OUT.  0, 1 if the descriptor was
 * closed meanwhile, or negative after refusing (a directory's owner). */
int bm_sigio_read(pid_t pid, int fd, const char *link, mode_t mode, struct bm_fd *out);

/* At dump, once every descriptor of PROCS (what is moved) is known:
 * refuses (BM_EXIT_UNSUPPORTED, negative) what cannot be carried. */
int bm_sigio_check(struct bm_process *const *procs, size_t nprocs);

/* Image rules for one entry: false with the reason in why. */
bool bm_sigio_check_entry(const struct bm_fd *f, char *why, size_t n);

/* Whether D has anything of this to restore. */
bool bm_sigio_present(const struct bm_fd *d);

/* Once the process has its credentials, its threads exist and nothing
 * more is written to its descriptors: injected into its leader TR, with
 * the scratch page at SCRATCH.  ELSEWHERE (per image descriptor, or NULL):
 * its open file is another tree member's, which sets it. */
int bm_sigio_restore(const struct bm_process *p, const bool *elsewhere, struct bm_tracee *tr, uint64_t scratch);

/* The image (version 15, after FDS's inotify next watch numbers): what
 * the dump read of each descriptor's signal-driven I/O (sig_known). */
void bm_sigio_known_encode(struct bm_wbuf *b, const struct bm_process *p);
void bm_sigio_known_decode(struct bm_rcur *c, struct bm_process *p);

#endif
