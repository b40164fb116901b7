/* How a unix stream queue's bytes lie in its skbs (sk_unix_stream_layout.h). */
#include "sk_unix_stream_layout.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "fd_tail.h"
#include "log.h"
#include "sk_unix_take.h"

/* ==== the dump: the records of kstate.bpf.c's read_stream ==== */

void bm_stream_layout_forget(struct bm_fd *d)
{
	free(d->stream_skbs);
	d->stream_skbs = NULL;
	d->nstream_skbs = 0;
	d->stream_consumed = 0;
}

void bm_stream_layout_drop(struct bm_process *p)
{
	for (uint32_t i = 0; i < p->nfds; i++)
		bm_stream_layout_forget(&p->fds[i]);
}

/* The skbs of D's layout, for kstate_chunks.h. */
static uint32_t has_skbs(const struct bm_fd *d)
{
	return d->nstream_skbs;
}

/* Starts the chunk from START of D's queue of COUNT skbs, CONSUMED bytes
 * of the first taken: the first makes its layout, each other must follow
 * on, the same bytes taken (else the queue moved between the runs, and
 * the layout is dropped). */
static void start_chunk(struct bm_process *p, struct bm_chunks *st, struct bm_fd *d, uint32_t start,
			uint32_t count, uint32_t consumed)
{
	if (start == 0) {
		if (d->stream_skbs || !count || count > BM_KSTATE_STREAM_SKBS_MAX)
			return; /* an empty queue, or one not read: written in pieces */
		if (!(d->stream_skbs = calloc(count, sizeof *d->stream_skbs)))
			return;
		d->nstream_skbs = count;
		d->stream_consumed = consumed;
	}
	if (consumed != d->stream_consumed ||
	    !bm_chunks_begin(st, p, d, start, count, d->nstream_skbs, BM_KSTATE_STREAM_CHUNK))
		bm_stream_layout_forget(d);
}

void bm_stream_layout_record(struct bm_process *p, struct bm_chunks *st, const struct bm_kstate_rec *r)
{
	if (r->b & BM_KSTATE_STREAM_COUNT) {
		bm_chunks_finish(st, p, bm_stream_layout_forget);
		struct bm_fd *d = (struct bm_fd *)bm_fd_find(p->fds, p->nfds, r->fd);
		if (d && d->kind == BM_FD_UNIX_SOCKET && d->shares_with < 0)
			start_chunk(p, st, d, (uint32_t)(r->a >> BM_KSTATE_STREAM_START_SHIFT), (uint32_t)r->b,
				    (uint32_t)r->a);
		return;
	}
	if (!st->d || r->fd != st->d->fd)
		return;
	uint64_t two[2] = {r->a, r->b};
	for (int k = 0; k < 2 && st->got <= st->end; k++) {
		if (st->got == st->end) {
			if (two[k])
				st->got = UINT32_MAX; /* more than counted: dropped at the end */
			return;
		}
		uint64_t len = two[k] & ~BM_KSTATE_STREAM_RIGHTS;
		if (!len || len > BM_STREAM_SKB_MAX) {
			st->got = UINT32_MAX; /* not a length */
			return;
		}
		st->d->stream_skbs[st->got++] = (uint32_t)len | ((two[k] & BM_KSTATE_STREAM_RIGHTS) ? BM_STREAM_SKB_RIGHTS : 0);
		st->taken++;
	}
}

uint32_t bm_stream_layout_next(struct bm_process *p, struct bm_chunks *st, uint32_t i)
{
	return bm_chunks_next(st, p, i, has_skbs, bm_stream_layout_forget);
}

void bm_stream_layout_end(struct bm_process *p, struct bm_chunks *st)
{
	bm_chunks_end(st, p, has_skbs, bm_stream_layout_forget);
}

void bm_stream_layout_settle(pid_t pid, struct bm_fd *d)
{
	char why[200];
	if (d->nstream_skbs && !bm_stream_layout_check(d, why, sizeof why)) {
		bm_debug("process %d: the skbs of the queue of socket fd %d not kept (%s): written back in one go", pid,
			 d->fd, why);
		bm_stream_layout_forget(d);
	}
}

/* ==== both: what a layout must be ==== */

/* Walks PIECES a byte count at a time. */
struct cursor {
	const struct bm_stream_piece *pieces;
	uint32_t n, k, used; /* piece k, of which USED bytes are behind */
};

static bool same_writer(const struct bm_stream_piece *a, const struct bm_stream_piece *b)
{
	return a->cred.pid == b->cred.pid && a->cred.uid == b->cred.uid && a->cred.gid == b->cred.gid;
}

/* Takes the bytes of skb SKB (its LEN bytes less SKIP taken) from C into
 * OUT (NULL: not copied); its first piece into *FIRST.  false where they
 * are not there, span two writers, or do not match the descriptors: an
 * skb with RIGHTS is exactly one piece with descriptors, any other lies
 * within pieces without. */
static bool take(struct cursor *c, uint32_t skb, uint32_t skip, uint8_t *out, const struct bm_stream_piece **first)
{
	uint32_t n = (skb & BM_STREAM_SKB_LEN) - skip;
	bool rights = (skb & BM_STREAM_SKB_RIGHTS) != 0;
	if (c->k >= c->n)
		return false;
	*first = &c->pieces[c->k];
	if (rights && (c->used || (*first)->len != n || !(*first)->nfl))
		return false;
	while (n) {
		if (c->k >= c->n)
			return false;
		const struct bm_stream_piece *pc = &c->pieces[c->k];
		if (!same_writer(*first, pc) || (!rights && pc->nfl))
			return false;
		uint32_t step = n < pc->len - c->used ? n : pc->len - c->used;
		if (out) {
			memcpy(out, pc->data + c->used, step);
			out += step;
		}
		c->used += step;
		n -= step;
		if (c->used == pc->len) {
			c->k++;
			c->used = 0;
		}
	}
	return true;
}

bool bm_stream_layout_fits(const uint32_t *skbs, uint32_t nskbs, uint32_t consumed,
			   const struct bm_stream_piece *pieces, uint32_t npieces, char *why, size_t n)
{
	if (!nskbs || nskbs > BM_KSTATE_STREAM_SKBS_MAX || consumed >= (skbs[0] & BM_STREAM_SKB_LEN)) {
		snprintf(why, n, "%u skbs, %u bytes of the first taken: none, more than %u, or all of it", nskbs,
			 consumed, BM_KSTATE_STREAM_SKBS_MAX);
		return false;
	}
	uint64_t bytes = 0, queued = 0;
	for (uint32_t k = 0; k < nskbs; k++) {
		uint32_t len = skbs[k] & BM_STREAM_SKB_LEN;
		if (!len || len > BM_STREAM_SKB_MAX) {
			snprintf(why, n, "skb %u of %u bytes (1..%u)", k, len, BM_STREAM_SKB_MAX);
			return false;
		}
		bytes += len;
	}
	for (uint32_t k = 0; k < npieces; k++) {
		if (!pieces[k].len) {
			snprintf(why, n, "piece %u is empty", k);
			return false;
		}
		queued += pieces[k].len;
	}
	if (bytes - consumed != queued) {
		snprintf(why, n, "skbs of %llu bytes in all, %u taken, for %llu bytes queued", (unsigned long long)bytes,
			 consumed, (unsigned long long)queued);
		return false;
	}
	struct cursor c = {pieces, npieces, 0, 0};
	const struct bm_stream_piece *first;
	for (uint32_t k = 0; k < nskbs; k++)
		if (!take(&c, skbs[k], k ? 0 : consumed, NULL, &first)) {
			snprintf(why, n, "skb %u holds bytes of two writers' credentials, or descriptors in flight are "
				 "not its alone", k);
			return false;
		}
	return true;
}

/* D's queue (S) as pieces, their descriptors the process's numbers (FL,
 * BM_UNIX_MAX_RIGHTS for each): malloc'd, or NULL. */
static struct bm_stream_piece *pieces_of(const struct bm_unix_sock *s, int **fl)
{
	struct bm_stream_piece *pieces = calloc(s->nmsgs ? s->nmsgs : 1, sizeof *pieces);
	uint32_t nfl = 0, at = 0;
	struct bm_unix_msg m;
	for (uint32_t k = 0; k < s->nmsgs; k++) {
		bm_unix_next_msg(s, &at, &m);
		nfl += m.nrights;
	}
	*fl = calloc(nfl ? nfl : 1, sizeof **fl);
	if (!pieces || !*fl) {
		free(pieces);
		free(*fl);
		*fl = NULL;
		return NULL;
	}
	at = 0;
	nfl = 0;
	for (uint32_t k = 0; k < s->nmsgs; k++) {
		bm_unix_next_msg(s, &at, &m);
		pieces[k] = (struct bm_stream_piece){m.data, m.len, {m.pid, m.uid, m.gid}, m.nrights, *fl + nfl};
		for (uint32_t r = 0; r < m.nrights; r++)
			(*fl)[nfl++] = bm_unix_right(&m, r);
	}
	return pieces;
}

bool bm_stream_layout_check(const struct bm_fd *d, char *why, size_t n)
{
	if (!d->nstream_skbs)
		return true;
	struct bm_unix_sock s;
	if (d->kind != BM_FD_UNIX_SOCKET || !bm_unix_head(d, &s) || s.type != SOCK_STREAM) {
		snprintf(why, n, "not a unix stream socket's first descriptor");
		return false;
	}
	int *fl;
	struct bm_stream_piece *pieces = pieces_of(&s, &fl);
	if (!pieces) {
		snprintf(why, n, "out of memory");
		return false;
	}
	bool fits = bm_stream_layout_fits(d->stream_skbs, d->nstream_skbs, d->stream_consumed, pieces, s.nmsgs, why, n);
	free(pieces);
	free(fl);
	return fits;
}

/* ==== writing a queue skb by skb: the restore, and the dump's writing back ==== */

int bm_stream_write_skbs(int from, int receiver, const uint32_t *skbs, uint32_t nskbs, uint32_t consumed,
			 const struct bm_stream_piece *pieces, uint32_t npieces)
{
	uint32_t longest = 0;
	for (uint32_t k = 0; k < nskbs; k++)
		longest = (skbs[k] & BM_STREAM_SKB_LEN) > longest ? skbs[k] & BM_STREAM_SKB_LEN : longest;
	uint8_t *buf = calloc(longest ? longest : 1, 1);
	if (!buf)
		return -ENOMEM;
	struct cursor c = {pieces, npieces, 0, 0};
	int rc = 0;
	for (uint32_t k = 0; rc == 0 && k < nskbs; k++) {
		/* The head's taken bytes in front of its others: zeros, read
		 * away below. */
		uint32_t skip = k ? 0 : consumed, len = skbs[k] & BM_STREAM_SKB_LEN;
		const struct bm_stream_piece *first;
		memset(buf, 0, skip);
		if (!take(&c, skbs[k], skip, buf + skip, &first)) {
			rc = -EPROTO; /* checked before */
			break;
		}
		bool rights = (skbs[k] & BM_STREAM_SKB_RIGHTS) != 0;
		ssize_t sent = bm_unix_send_piece(from, buf, len, &first->cred, rights ? first->fl : NULL,
						  rights ? first->nfl : 0, NULL, 0);
		rc = sent < 0 ? (int)sent : (size_t)sent != len ? -EMSGSIZE : 0;
	}
	if (rc == 0 && consumed) {
		ssize_t got = recv(receiver, buf, consumed, MSG_DONTWAIT);
		rc = got < 0 ? -errno : (size_t)got != consumed ? -EPROTO : 0;
	}
	free(buf);
	return rc;
}

uint64_t bm_stream_layout_charge(const uint32_t *skbs, uint32_t nskbs)
{
	uint64_t charge = (uint64_t)nskbs * 8192;
	for (uint32_t k = 0; k < nskbs; k++)
		charge += skbs[k] & BM_STREAM_SKB_LEN;
	return charge;
}

/* Room in FROM's send buffer for the skbs of D, where a few thousand
 * small ones already fill the restore's roomy buffers.  The socket's
 * options set the process's own size afterwards. */
static int make_room(int from, const struct bm_fd *d)
{
	uint64_t want = bm_stream_layout_charge(d->stream_skbs, d->nstream_skbs);
	int now = 0;
	socklen_t len = sizeof now;
	if (getsockopt(from, SOL_SOCKET, SO_SNDBUF, &now, &len) < 0)
		return -errno;
	if (want <= (uint64_t)now)
		return 0;
	int half = want / 2 >= INT_MAX / 2 ? INT_MAX / 2 : (int)(want / 2) + 1; /* the kernel doubles it */
	return setsockopt(from, SOL_SOCKET, SO_SNDBUFFORCE, &half, sizeof half) < 0 ? -errno : 0;
}

int bm_stream_refill(int from, int receiver, const struct bm_fd *d, const struct bm_unix_sock *s)
{
	int rc = make_room(from, d);
	if (rc < 0)
		return rc;
	int *fl;
	struct bm_stream_piece *pieces = pieces_of(s, &fl);
	if (!pieces)
		return -ENOMEM;
	rc = bm_stream_write_skbs(from, receiver, d->stream_skbs, d->nstream_skbs, d->stream_consumed, pieces, s->nmsgs);
	free(pieces);
	free(fl);
	return rc;
}

/* ==== the image (version 16) ==== */

static bool has_layout(const struct bm_fd *d)
{
	return d->nstream_skbs > 0;
}

static void put_layout(struct bm_wbuf *b, const struct bm_fd *d)
{
	bm_put_u32(b, d->stream_consumed);
	bm_put_u32(b, d->nstream_skbs);
	for (uint32_t k = 0; k < d->nstream_skbs; k++)
		bm_put_u32(b, d->stream_skbs[k]);
}

static bool take_layout(struct bm_rcur *c, struct bm_fd *d, char *why, size_t n)
{
	uint32_t consumed = bm_get_u32(c);
	uint32_t count = bm_get_count(c, BM_KSTATE_STREAM_SKBS_MAX, 4, "stream skb count");
	if (bm_rcur_failed(c))
		return true; /* said by the cursor */
	if (d->nstream_skbs || !count) {
		snprintf(why, n, "a second layout, or no skbs");
		return false;
	}
	if (!(d->stream_skbs = calloc(count, sizeof *d->stream_skbs))) {
		bm_rcur_nomem(c);
		return true;
	}
	d->nstream_skbs = count;
	d->stream_consumed = consumed;
	for (uint32_t k = 0; k < count; k++)
		d->stream_skbs[k] = bm_get_u32(c);
	if (bm_rcur_failed(c) || bm_stream_layout_check(d, why, n))
		return true;
	bm_stream_layout_forget(d);
	return false;
}

void bm_stream_layouts_encode(struct bm_wbuf *b, const struct bm_process *p)
{
	bm_fd_tail_encode(b, p, has_layout, put_layout);
}

void bm_stream_layouts_decode(struct bm_rcur *c, struct bm_process *p)
{
	bm_fd_tail_decode(c, p, 12, "stream layout", take_layout);
}
