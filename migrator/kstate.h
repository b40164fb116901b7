/* Kernel state that no user-space interface shows (or none without
 * changing it), read at dump through BPF iterator programs
 * (bpf/kstate.bpf.c):
 *
 *  - the id the next timer_create hands out (signal_struct's
 *    next_posix_timer_id; timers_next_id.h), which only a timer_create
 *    reads, moving it on;
 *  - the number an inotify instance's next watch gets (its idr's
 *    idr_next; inotify_next_wd.h), which only adding a watch reads;
 *  - whether an unlinked file may be linked again (its inode's
 *    I_LINKABLE: made with O_TMPFILE without O_EXCL, never linked since;
 *    unlinked.h), which only a linkat shows, giving it a name;
 *  - whether a thread's time slice is its own (se.custom_slice, Linux
 *    6.12): sched_getattr shows one equal to the base slice as none
 *    (attrs.c);
 *  - the number the signals of an open file with O_ASYNC report (si_fd:
 *    its fasync entry's fa_fd, the descriptor O_ASYNC was set through,
 *    which may be closed since; fd_sigio.h), read while the descriptors
 *    are collected (bm_kstate_fasync);
 *  - whether a process made with an exit signal other than SIGCHLD will
 *    send SIGCHLD instead, its parent having run a program since
 *    (parent_exec_id against the parent's self_exec_id; tree.h refuses
 *    it);
 *  - how the bytes buffered in a pipe or FIFO lie in the buffers of its
 *    ring, and which are packets (pipe_layout.h): reading and writing
 *    change them.
 *  - the receive queue of a UDP or unix datagram or seqpacket socket:
 *    its messages, the empty ones behind its head, and whether an empty
 *    head was marked by a peek (skb->peeked), which a peek at an offset
 *    skips (sk_dgram_kernel.h);
 *  - the credentials an open file keeps from its opening (f_cred;
 *    fd_opener.h), which only the kernel's checks see.
 *
 * The programs only read the kernel's structures of the frozen process;
 * nothing in it changes, so `dump` (and `--leave-running`) carries them as
 * `migrate` does.  They need a kernel with BTF (/sys/kernel/btf/vmlinux,
 * against which libbpf relocates each read), BPF iterators over one
 * process (Linux 6.1; the timer counter as Linux 6.14 keeps it), and
 * CAP_BPF with CAP_PERFMON (root; in any PID namespace).  Where any is missing the reader says why and the
 * dump goes on without them: its restore leaves each counter after the
 * newest timer or watch, as before (the dump warns; `migrate` reads them
 * its own way). */
#ifndef BINMIG_KSTATE_H
#define BINMIG_KSTATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "checkpoint.h"
#include "state.h"

/* Loads the programs, if not yet: tens of milliseconds (libbpf reads the
 * kernel's BTF, the verifier checks them), which a caller spends before
 * it freezes the process rather than while it is frozen.  A failure is
 * kept for bm_kstate_read to say. */
void bm_kstate_prepare(void);

/* Whether the layouts of pipes can be read here: the programs load and
 * the kernel numbers a pipe buffer's flags as binmig reads them. */
bool bm_kstate_pipes_readable(void);

/* Reads into P (frozen, its descriptors and attributes described, P->pid
 * its leader) p->timers.next_id (next_id_known), each inotify instance's
 * next_wd, each unlinked file's BM_UNLINKED_LINK_BITS in its object_flags,
 * each thread's sched_slice, p->exit_sends_sigchld, and the buffer layout
 * of each pipe and FIFO whose bytes it carries (pipe_bufs, pipe_layout.h;
 * one whose lengths do not add up to its bytes is left without).
 * 0; or -errno, with why binmig cannot read them here in WHY, and P as
 * it was, but for -ENOENT on a kernel without the timer counter (before
 * Linux 6.14), where the rest is read: not an error (nothing is logged),
 * the caller decides. */
int bm_kstate_read(struct bm_process *p, char *why, size_t why_size);

/* Reads, for each TCP and UDP socket of P (P->pid; its descriptors
 * described, dups marked) what only the kernel's socket shows: BITS[i],
 * for P->fds[i], BM_KSTATE_SK_READ with the BM_KSTATE_SK_* bits of
 * bpf/kstate_rec.h (sk_shutdown, a SO_REUSEPORT group's program, TCP
 * urgent data unacknowledged) and a TCP socket's MSS set by
 * the program above BM_KSTATE_SK_USER_MSS_SHIFT; 0 for a descriptor not
 * read.  0; or
 * -errno with why in WHY, BITS all 0, as bm_kstate_read. */
int bm_kstate_inet(struct bm_process *p, uint32_t *bits, char *why, size_t why_size);

/* A socket's receive queue as bm_kstate_dgram read it. */
struct bm_kstate_queue {
	bool read;            /* false: not read (a stream, a dup, not asked, or no BPF) */
	uint32_t n;           /* its messages (at most BM_KSTATE_DGRAM_MAX) */
	uint32_t empty_behind; /* empty messages behind the head */
	bool head_empty;      /* the head is an empty message */
	bool head_marked;     /* ... that a peek showed: a peek at an offset skips it */
	bool more;            /* more than BM_KSTATE_DGRAM_MAX messages: the rest not walked */
};

/* Reads, for each UDP socket and each unix datagram or seqpacket socket
 * of P (P->pid; its descriptors described, dups marked), its receive
 * queue as a peek at an offset sees it: QUEUES[i], for P->fds[i].  The
 * kernel marks an empty message once a peek shows it, and every later
 * peek at an offset skips it (net/core/datagram.c): such a message no
 * peek of the dump shows, where it is behind others.  And of each unix
 * stream socket, the skbs of its queue, into its descriptor's
 * stream_skbs (sk_unix_stream_layout.h).  0; or -errno with why in WHY,
 * QUEUES all unread and no skbs, as bm_kstate_read. */
int bm_kstate_dgram(struct bm_process *p, struct bm_kstate_queue *queues, char *why, size_t why_size);
/* Reads, for each descriptor P->fds[i] (P frozen, P->pid) whose ASK[i]
 * is set (a pipe, FIFO, socket or inotify instance with O_ASYNC), the
 * number its signals report (si_fd: its entry in its object's fasync
 * list, fs/fcntl.c) into sig_async_fd, with BM_SIGIO_ASYNC_FD_KNOWN in
 * sig_known where the entry was found (each value read is the kernel's,
 * even where a later one fails).  0; or -errno with why in WHY. */
int bm_kstate_fasync(struct bm_process *p, const bool *ask, char *why, size_t why_size);

/* An open file's credentials as bm_kstate_openers read them. */
struct bm_kstate_opener {
	uint32_t parts;       /* a bit per fixed part read (BM_KSTATE_OPENER_ALL: each) */
	uint32_t ngroups;     /* its supplementary groups as the kernel counts them */
	uint32_t groups_read; /* of them, those read into creds (the first BM_KSTATE_OPENER_GROUPS_MAX) */
	struct bm_creds creds;
};
#define BM_KSTATE_OPENER_ALL 0x1fu

/* Reads, for each descriptor P->fds[i] (P->pid) whose ASK[i] is set (a
 * file the restore opens by name), the credentials its open file keeps
 * from its opening (f_cred) into OPENERS[i]; fd_opener.h.  0; or -errno
 * with why in WHY, OPENERS then not to be used. */
int bm_kstate_openers(struct bm_process *p, const bool *ask, struct bm_kstate_opener *openers, char *why,
		      size_t why_size);

/* Where an open file's locks are in the list of its file's POSIX and OFD
 * locks, as bm_kstate_lockpos read it (0 the head; -1: it has none). */
struct bm_kstate_lockpos {
	bool read;     /* the list was walked to its end */
	int32_t ofd;   /* its first OFD lock */
	int32_t posix; /* the first POSIX lock of the process on its file */
};

/* Reads, for each descriptor P->fds[i] (P frozen, P->pid) whose ASK[i]
 * is set (the first of an open file holding a POSIX or OFD lock), where
 * its locks are in their file's list into POS[i] (file_lock_order.c takes
 * them again in that order).  0; or -errno with why in WHY. */
int bm_kstate_lockpos(struct bm_process *p, const bool *ask, struct bm_kstate_lockpos *pos, char *why,
		      size_t why_size);

/* The same for every live process of F: 0, or the first failure's
 * -errno and WHY, the others read all the same. */
int bm_kstate_read_frozen(struct bm_frozen *f, char *why, size_t why_size);

/* Warns, once bm_kstate_read_frozen failed for WHY, of what the restored
 * process can then tell apart (README, "What a restored process can
 * still tell apart").  COUNTERS_LATER: the next timer id and watch
 * numbers are read in the original later (migrate), so are not named. */
void bm_kstate_warn_unseen(const char *why, bool counters_later);

#endif
