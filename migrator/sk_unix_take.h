/* A stream socket's queue that holds descriptors in flight (SCM_RIGHTS),
 * read by taking it and written straight back (sk_unix_take.c).
 *
 * A peek cannot tell where the piece that carries rights begins: a peek
 * of any byte before it, from the same writer, runs on and shows its
 * descriptors too.  A read can: a read of one byte stops in the piece it
 * reads from, and returns the descriptors of a piece only when that byte
 * is one of its.  So the queue is taken, one byte at a time before each
 * piece with rights, and written back at once through the peer in the
 * same pieces, with the same credentials and the very descriptors taken:
 * a reader then meets the same boundaries and descriptors as before. */
#ifndef BINMIG_SK_UNIX_TAKE_H
#define BINMIG_SK_UNIX_TAKE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/types.h>

#include "sk_unix.h"

/* Bytes [off, off + len) of the queue, from one writer (its credentials),
 * with the descriptors fl[0..nfl) that came with its first byte (binmig's
 * own, open until bm_unix_taken_free). */
struct bm_unix_piece {
	uint32_t off, len;
	struct ucred cred;
	uint32_t nfl;
	int *fl;
};

struct bm_unix_taken {
	uint8_t *data;
	size_t len, cap;
	struct bm_unix_piece *pieces;
	uint32_t n, ncap;
};

/* What one read (or peek) returned: its length (with MSG_TRUNC the whole
 * message's), the sender's name and credentials, and the descriptors
 * that came with it (binmig's, open until bm_unix_got_close). */
struct bm_unix_got {
	size_t len;
	struct ucred cred;
	bool has_cred;
	uint32_t nfl;
	int fl[BM_UNIX_MAX_RIGHTS];
	bool ctrunc;             /* control data cut short (MSG_CTRUNC) */
	bool odd;                /* control data of another kind (SCM_SECURITY, ...) */
	struct sockaddr_un from; /* the sender's name */
	socklen_t fromlen;
};
/* One recvmsg of S into BUF[0..len) with FLAGS (MSG_DONTWAIT added):
 * 0 or -errno. */
int bm_unix_recv(int s, uint8_t *buf, size_t len, int flags, struct bm_unix_got *g);
/* Closes the descriptors G holds. */
void bm_unix_got_close(struct bm_unix_got *g);
/* The length of G's sender name (0: unnamed; a path without its NUL). */
uint32_t bm_unix_got_name_len(const struct bm_unix_got *g);

/* Takes the whole queue of stream socket S (SO_PASSCRED on, SO_PEEK_OFF
 * off) into T, in pieces that end where a reader's reads end (a change of
 * writer, the end of a piece with rights) and that begin each piece with
 * rights where it began.  At most LIMIT bytes.  0, or -errno: -EMSGSIZE
 * (more than LIMIT), -EPROTO (the queue did not read as it peeked),
 * -EMFILE (descriptors in flight binmig had no room for: they are lost).
 * T holds what was taken either way. */
int bm_unix_take(int s, size_t limit, struct bm_unix_taken *t);
/* A datagram or seqpacket queue taken whole (sk_unix_peeked.h): every
 * message of S (SO_PASSCRED on, SO_PEEK_OFF off), whatever its size, one
 * piece of T each, with its credentials and descriptors (binmig's own).
 * 0, or -errno: -EXDEV (a message came from another sender than
 * NAME[0..name_len)), -EBADMSG (one had control data of another kind,
 * which writing back loses), -EMFILE (descriptors in flight binmig had no
 * room for: they are lost), all after taking everything.
 * T holds what was taken either way. */
int bm_unix_take_messages(int s, const uint8_t *name, uint32_t name_len, struct bm_unix_taken *t);

/* Writes T back through PEER, the connected peer of RECEIVER (the socket
 * it was taken from; a datagram peer not connected to it sends to TO, its
 * name), each piece in one send with its credentials (none when it had
 * none) and descriptors; meanwhile the peer's send buffer is made room
 * for and SO_PASSCRED is off at both ends.  An empty piece is one empty
 * message.  A stream's queue whose skbs the dump read (SKBS[0..nskbs),
 * CONSUMED bytes of the head taken, sk_unix_stream_layout.h) goes back
 * skb by skb where they fit its pieces.  0 or -errno. */
int bm_unix_put_back(int peer, int receiver, const struct bm_unix_taken *t, const struct sockaddr_un *to,
		     socklen_t tolen, const uint32_t *skbs, uint32_t nskbs, uint32_t consumed);
/* Closes the descriptors T holds and frees it. */
void bm_unix_taken_free(struct bm_unix_taken *t);

/* Sends B[0..n) from socket FROM (to TO when not NULL) in one sendmsg,
 * with credentials CRED (pid 0: none given) and the descriptors
 * FL[0..nfl) (at most BM_UNIX_MAX_RIGHTS): how many bytes went, or
 * -errno.  The dump's writing back and the restore send this way. */
ssize_t bm_unix_send_piece(int from, const uint8_t *b, size_t n, const struct ucred *cred, const int *fl,
			   uint32_t nfl, const struct sockaddr_un *to, socklen_t tolen);
/* Whether binmig may send a message with credentials CRED (another
 * process's): tried on a socket pair of its own.  0 or -errno. */
int bm_unix_can_send_as(const struct ucred *cred);
/* Whether binmig has room for N more descriptors.  0 or -EMFILE. */
int bm_unix_fd_room(uint32_t n);

#endif
