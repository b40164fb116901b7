/* How the bytes of a unix stream socket's receive queue lie in its skbs,
 * carried so that the restored writer's send buffer holds what the
 * original's held.
 *
 * Each write to a unix stream socket queues new skbs on its peer
 * (net/unix/af_unix.c, unix_stream_sendmsg: one per write, up to a size),
 * and every skb is charged to the writer's send buffer at its true size
 * until the reader has read it whole: SIOCOUTQ shows that charge, and a
 * non-blocking write fails once it reaches SO_SNDBUF.  Six writes of a
 * few bytes cost six skbs where one write of the same bytes costs one, so
 * a queue written back in one go lets the writer write more than the
 * original could.  A read that takes part of the head skb leaves it
 * queued, whole, with the bytes taken counted in it (UNIXCB consumed).
 *
 * The dump reads each stream queue's skbs through BPF (kstate.h,
 * BM_KSTATE_STREAM): the length of each, oldest first, whether
 * descriptors ride with it (only the first skb of a write carries them),
 * and the bytes taken from the head.  The lengths less those must add up
 * to the bytes of the queue's pieces, each skb within bytes of one
 * writer's credentials, and each skb with descriptors exactly the piece
 * that holds them, else the layout is dropped.  The restore writes the
 * queue skb by skb, each as one write of its length (with its
 * descriptors), the head with as many bytes in front as reads had taken,
 * which it then reads away, its writer's send buffer made large enough
 * for them all; so does the dump when it takes a queue with descriptors
 * in flight and writes it back (sk_unix_take.h).  The reader reads a
 * queue in chunks of BM_KSTATE_STREAM_CHUNK skbs, one a run.  Without a
 * layout (no BPF, an image before version 16, more than
 * BM_KSTATE_STREAM_SKBS_MAX skbs) the queue is written in its pieces.
 * Bytes spliced into a stream (splice, sendfile) lie in page fragments
 * that a write does not make: written back, they cost what a write of
 * them costs. */
#ifndef BINMIG_SK_UNIX_STREAM_LAYOUT_H
#define BINMIG_SK_UNIX_STREAM_LAYOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "bpf/kstate_rec.h"
#include "kstate_chunks.h"
#include "sk_unix.h"
#include "state.h"
#include "wire.h"

/* The longest skb a layout may name: a write of one skb never passes it
 * (SKB_MAX_HEAD plus UNIX_SKB_FRAGS_SZ is some 36 KiB). */
#define BM_STREAM_SKB_MAX (1u << 20)
/* An skb as a layout has it: its length, and the flag of one that
 * carries descriptors in flight. */
#define BM_STREAM_SKB_LEN 0x7fffffffu
#define BM_STREAM_SKB_RIGHTS 0x80000000u

/* A piece of a stream queue: bytes of one writer (its credentials, pid 0:
 * none), with the descriptors that ride with it (FL[0..nfl)). */
struct bm_stream_piece {
	const uint8_t *data;
	uint32_t len;
	struct ucred cred;
	uint32_t nfl;
	const int *fl;
};

/* Takes one BM_KSTATE_STREAM record R into P, read chunk by chunk in ST
 * (kstate_chunks.h: a descriptor's first record starts a chunk, its first
 * of a layout, or the next of one read in part). */
void bm_stream_layout_record(struct bm_process *p, struct bm_chunks *st, const struct bm_kstate_rec *r);
/* After a run: the first skb of the next chunk of P->fds[I], whose layout
 * is read in part; 0 for none. */
uint32_t bm_stream_layout_next(struct bm_process *p, struct bm_chunks *st, uint32_t i);
/* After the last run: drops each layout with records missing, or read in
 * part. */
void bm_stream_layout_end(struct bm_process *p, struct bm_chunks *st);
/* Drops D's layout, every one of P's. */
void bm_stream_layout_forget(struct bm_fd *d);
void bm_stream_layout_drop(struct bm_process *p);

/* At dump, D's socket described (its data encoded): keeps D's layout only
 * where the image may hold it (bm_stream_layout_check). */
void bm_stream_layout_settle(pid_t pid, struct bm_fd *d);

/* Whether the skbs SKBS[0..nskbs) (BM_STREAM_SKB_*), CONSUMED bytes of
 * the first taken, hold PIECES[0..npieces): their bytes less those taken
 * are the pieces', each skb within bytes of one writer's credentials, an
 * skb with BM_STREAM_SKB_RIGHTS exactly one piece with descriptors and
 * any other none; else false with why. */
bool bm_stream_layout_fits(const uint32_t *skbs, uint32_t nskbs, uint32_t consumed,
			   const struct bm_stream_piece *pieces, uint32_t npieces, char *why, size_t n);
/* Whether D's layout (if any) fits D: a unix stream socket's first
 * descriptor whose queue's pieces it fits; else false with why. */
bool bm_stream_layout_check(const struct bm_fd *d, char *why, size_t n);

/* At most what the skbs SKBS[0..nskbs) charge their writer's send buffer:
 * each its bytes and less than two pages more (its struct sk_buff and
 * head, a page fragment's rounding).  Whoever writes them makes that much
 * room first. */
uint64_t bm_stream_layout_charge(const uint32_t *skbs, uint32_t nskbs);

/* Writes PIECES from FROM, the peer of RECEIVER, skb by skb as SKBS say
 * (checked to fit), each in one sendmsg with its credentials and, where
 * it has RIGHTS, its piece's descriptors; then reads the CONSUMED bytes
 * of the head off RECEIVER.  0, or -errno. */
int bm_stream_write_skbs(int from, int receiver, const uint32_t *skbs, uint32_t nskbs, uint32_t consumed,
			 const struct bm_stream_piece *pieces, uint32_t npieces);
/* Writes S's queue (D's, decoded) from FROM, the peer (binmig's socket),
 * skb by skb as D's layout says, then reads the bytes taken from the head
 * off RECEIVER (D's socket); the descriptors in flight are the process's
 * numbers, already restored.  0, or -errno. */
int bm_stream_refill(int from, int receiver, const struct bm_fd *d, const struct bm_unix_sock *s);

/* The end of the image's FDS section (version 16, after the signal-driven
 * I/O entries): u32 n, then n layouts in rising descriptor order, each i32
 * fd, u32 consumed, u32 nskbs and nskbs × u32 len.  decode fails C on
 * anything else. */
void bm_stream_layouts_encode(struct bm_wbuf *b, const struct bm_process *p);
void bm_stream_layouts_decode(struct bm_rcur *c, struct bm_process *p);

#endif
