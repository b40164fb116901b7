/* Empty messages a process peeked, in the queue of a datagram or
 * seqpacket unix socket (sk_unix_peeked.c).
 *
 * The kernel marks an empty message (datagram or record) once a peek has
 * shown it, and from then on every peek at an offset (SO_PEEK_OFF) skips
 * it; a peek without an offset shows only the head.  So an empty message
 * the process itself peeked at an offset is seen by no peek of the dump,
 * and the peek that shows one that was not marked marks it.  Only taking
 * the queue shows every message.
 *
 * So the queue of a socket whose only possible sender is its peer in the
 * process (a socket pair, a seqpacket connection, datagram sockets
 * connected to each other, or a datagram socket on an abstract name
 * connected to one that sends to that name) is read this way, the
 * process frozen:
 *   1. walk it with peeks from offset 0, noting what each shows (the
 *      messages not marked: every non-empty one, and the empty ones no
 *      peek has shown);
 *   2. take it whole, and write it straight back through the peer with
 *      the same credentials and descriptors;
 *   3. the empty messages taken that the walk did not show are those the
 *      process had peeked: mark them again with peeks.
 * Within a run of empty messages (between two non-empty ones, or at
 * either end) the marked ones are always the first of the run: a peek
 * marks the first unmarked one there, and messages leave from the head
 * and arrive at the tail.  So marking "the first K of each run" again is
 * exact, and the image records, for each empty message, whether it was
 * marked (sk_unix.h, BM_UNIX_PEEKS); the restore marks them the same way
 * once it has written the queue. */
#ifndef BINMIG_SK_UNIX_PEEKED_H
#define BINMIG_SK_UNIX_PEEKED_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "sk_unix.h"
#include "sk_unix_take.h"

/* What a peek showed of one message. */
struct bm_unix_seen {
	uint32_t len, nrights;
	bool other;        /* control data besides credentials and rights, or cut short (MSG_CTRUNC) */
	struct ucred cred;
	uint32_t addr_len; /* the sender's name, as recvmsg gives it (0: unnamed) */
	uint8_t addr[BM_UNIX_NAME_MAX];
};

/* Step 1 on socket S (SO_PASSCRED on): every message a peek at an offset
 * shows, from offset 0 on, into *SEEN (malloc'd) and *N.  SO_PEEK_OFF is
 * left at some offset; the caller puts it back.  0 or -errno. */
int bm_unix_walk_seen(int s, struct bm_unix_seen **seen, uint32_t *n);

/* Step 2 is bm_unix_take_messages (sk_unix_take.h), then
 * bm_unix_put_back. */

/* Step 3: which messages of T the process had peeked (PEEKED[i] = 1),
 * SEEN[0..nseen) being what the walk showed.  0, or -EPROTO when T is
 * not SEEN with some empty messages first in their runs. */
int bm_unix_find_peeked(const struct bm_unix_seen *seen, uint32_t nseen, const struct bm_unix_taken *t,
			uint8_t *peeked);

/* Marks the messages of the queue of S whose PEEKED is set (each empty,
 * and first in its run) as a peek does; LENS[0..n) are the lengths of the
 * queue's messages, oldest first.  SO_PEEK_OFF and SO_PASSCRED are put
 * back.  0 or
 * -errno (-EPROTO: the queue is not as described). */
int bm_unix_mark_peeked(int s, const uint32_t *lens, const uint8_t *peeked, uint32_t n);

/* The image rule, message by message, oldest first: PEEKED (0 or 1) set
 * only on an empty message, first in its run.  *MAY starts true. */
bool bm_unix_peeked_step(bool *may, uint32_t len, uint32_t peeked);

#endif
