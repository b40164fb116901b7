/* The receive queues of UDP sockets and of unix datagram and seqpacket
 * sockets as only the kernel's structures show them, read at dump through
 * binmig's BPF reader (kstate.h, bm_kstate_dgram) before the queues are
 * peeked.
 *
 * The kernel marks an empty message once a peek shows it, and every later
 * peek at an offset (SO_PEEK_OFF) skips a marked one (net/core/datagram.c,
 * __skb_try_recv_from_queue).  The dump reads a queue it does not take
 * (every UDP queue; a unix queue others may send to) with a plain peek at
 * its head and peeks at offsets after it: an empty message behind the head
 * that the process peeked while SO_PEEK_OFF was on, and turned it off
 * since, no peek of the dump shows.  Read here, it is refused, as the
 * empty messages behind others the peeks show are (the restore could not
 * write such a queue back exactly: a sender outside the process may write
 * among the messages).  So is a queue of more than BM_KSTATE_DGRAM_MAX
 * messages, which the reader does not walk to the end.  And whether an
 * empty message at the head of a unix queue was marked (the dump's own
 * head peek marks it, whoever peeked it before) goes into the image, so
 * that the restore marks it as the original had it (sk_unix_peeked.h).
 *
 * Where binmig cannot load its BPF programs nothing is read here (the
 * dump warns after the freeze): such a hidden message goes unseen and the
 * restored queue lacks it, and an empty head of a unix queue comes back
 * unmarked, as before. */
#ifndef BINMIG_SK_DGRAM_KERNEL_H
#define BINMIG_SK_DGRAM_KERNEL_H

#include <stdbool.h>
#include <sys/types.h>

#include "state.h"

/* bm_fd.queue_seen of a unix socket (at dump only): */
#define BM_QUEUE_READ 1u        /* its queue was read */
#define BM_QUEUE_HIDDEN 2u      /* an empty message behind the head */
#define BM_QUEUE_TOO_LONG 4u    /* more messages than the reader walks */
#define BM_QUEUE_HEAD_MARKED 8u /* the head is an empty message a peek showed */
#define BM_QUEUE_HEAD_UNMARKED 16u /* the head is an empty message no peek showed */

/* P's UDP, unix datagram and seqpacket sockets (described; P->pid is
 * PID): refuses a UDP socket whose queue holds an empty datagram behind
 * others or at its head unshown, or more than BM_KSTATE_DGRAM_MAX, and notes in each unix
 * socket's queue_seen what its queue holds, for the unix reader
 * (bm_sk_dgram_unix_check), which alone knows whether it takes the queue.
 * 0, or -1 after refusing one (exit 4) or an error. */
int bm_sk_dgram_kernel_check(pid_t pid, struct bm_process *p);

/* Unix socket D of process PID, whose queue the dump reads with peeks
 * rather than taking it: 0, or -1 after refusing it where its queue
 * holds what no peek shows (queue_seen), or, where the process runs on
 * after the dump (RUNS_ON), an empty message at its head that no peek has
 * shown, which the dump's peek would mark in it. */
int bm_sk_dgram_unix_check(pid_t pid, const struct bm_fd *d, bool runs_on);

#endif
