/* How a unix stream queue's bytes lie in its skbs (sk_unix_stream_layout.h). */
#include "sk_unix_stream_layout.h"

#include <errno.h>
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

void bm_stream_layout_end(struct bm_stream_reading *st)
{
	if (st->d && st->got != st->d->nstream_skbs)
		bm_stream_layout_forget(st->d);
	*st = (struct bm_stream_reading){0};
}

void bm_stream_layout_record(struct bm_process *p, struct bm_stream_reading *st, const struct bm_kstate_rec *r)
{
	if (r->b & BM_KSTATE_STREAM_COUNT) {
		bm_stream_layout_end(st);
		struct bm_fd *d = (struct bm_fd *)bm_fd_find(p->fds, p->nfds, r->fd);
		uint32_t count = (uint32_t)r->b;
		if (!d || d->kind != BM_FD_UNIX_SOCKET || d->shares_with >= 0 || d->stream_skbs || !count ||
		    count > BM_KSTATE_STREAM_SKBS_MAX || r->a > UINT32_MAX)
			return; /* an empty queue, or one not read: written in one go */
		if (!(d->stream_skbs = calloc(count, sizeof *d->stream_skbs)))
			return;
		d->nstream_skbs = count;
		d->stream_consumed = (uint32_t)r->a;
		st->d = d;
		return;
	}
	if (!st->d || r->fd != st->d->fd)
		return;
	uint64_t two[2] = {r->a, r->b};
	for (int k = 0; k < 2 && st->got <= st->d->nstream_skbs; k++) {
		if (st->got == st->d->nstream_skbs) {
			if (two[k])
				st->got = UINT32_MAX; /* more than counted: dropped at the end */
			return;
		}
		if (!two[k] || two[k] > BM_STREAM_SKB_MAX) {
			st->got = UINT32_MAX; /* not a length */
			return;
		}
		st->d->stream_skbs[st->got++] = (uint32_t)two[k];
	}
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

/* Walks S's messages a byte count at a time: the credentials of the next
 * byte, and how many bytes of its message are left. */
struct msg_cursor {
	const struct bm_unix_sock *s;
	uint32_t at, k, left;
	struct bm_unix_msg m;
};

static void cursor_next(struct msg_cursor *c)
{
	while (!c->left && c->k < c->s->nmsgs) {
		bm_unix_next_msg(c->s, &c->at, &c->m);
		c->k++;
		c->left = c->m.len;
	}
}

static bool same_writer(const struct bm_unix_msg *a, const struct bm_unix_msg *b)
{
	return a->pid == b->pid && a->uid == b->uid && a->gid == b->gid;
}

/* Advances C by N bytes, which must all be of one writer, into OUT
 * (NULL: not copied); the first byte's message into *FIRST. */
static bool cursor_take(struct msg_cursor *c, uint32_t n, uint8_t *out, struct bm_unix_msg *first)
{
	cursor_next(c);
	if (!c->left)
		return false;
	*first = c->m;
	while (n) {
		cursor_next(c);
		if (!c->left || !same_writer(first, &c->m))
			return false;
		uint32_t step = n < c->left ? n : c->left;
		if (out) {
			memcpy(out, c->m.data + (c->m.len - c->left), step);
			out += step;
		}
		c->left -= step;
		n -= step;
	}
	return true;
}

bool bm_stream_layout_check(const struct bm_fd *d, char *why, size_t n)
{
	if (!d->nstream_skbs)
		return true;
	struct bm_unix_sock s;
	if (d->kind != BM_FD_UNIX_SOCKET || !bm_unix_head(d, &s) || s.type != SOCK_STREAM ||
	    (s.flags & BM_UNIX_RIGHTS)) {
		snprintf(why, n, "not a unix stream socket's first descriptor, without descriptors in flight");
		return false;
	}
	if (d->nstream_skbs > BM_KSTATE_STREAM_SKBS_MAX || d->stream_consumed >= d->stream_skbs[0]) {
		snprintf(why, n, "%u skbs, %u bytes of the first taken: more than %u, or all of it", d->nstream_skbs,
			 d->stream_consumed, BM_KSTATE_STREAM_SKBS_MAX);
		return false;
	}
	uint64_t bytes = 0, queued = 0;
	for (uint32_t k = 0; k < d->nstream_skbs; k++) {
		if (!d->stream_skbs[k] || d->stream_skbs[k] > BM_STREAM_SKB_MAX) {
			snprintf(why, n, "skb %u of %u bytes (1..%u)", k, d->stream_skbs[k], BM_STREAM_SKB_MAX);
			return false;
		}
		bytes += d->stream_skbs[k];
	}
	struct msg_cursor c = {.s = &s};
	for (uint32_t k = 0; k < s.nmsgs; k++) {
		bm_unix_next_msg(&s, &c.at, &c.m);
		queued += c.m.len;
	}
	if (bytes - d->stream_consumed != queued) {
		snprintf(why, n, "skbs of %llu bytes in all, %u taken, for %llu bytes queued", (unsigned long long)bytes,
			 d->stream_consumed, (unsigned long long)queued);
		return false;
	}
	c = (struct msg_cursor){.s = &s};
	struct bm_unix_msg first;
	for (uint32_t k = 0; k < d->nstream_skbs; k++)
		if (!cursor_take(&c, d->stream_skbs[k] - (k ? 0 : d->stream_consumed), NULL, &first)) {
			snprintf(why, n, "skb %u holds bytes of two writers' credentials", k);
			return false;
		}
	return true;
}

/* ==== the restore ==== */

int bm_stream_refill(int from, int receiver, const struct bm_fd *d, const struct bm_unix_sock *s)
{
	uint32_t longest = 0;
	for (uint32_t k = 0; k < d->nstream_skbs; k++)
		longest = d->stream_skbs[k] > longest ? d->stream_skbs[k] : longest;
	uint8_t *buf = calloc(longest, 1);
	if (!buf)
		return -ENOMEM;
	struct msg_cursor c = {.s = s};
	int rc = 0;
	for (uint32_t k = 0; rc == 0 && k < d->nstream_skbs; k++) {
		/* The head's taken bytes in front of its others: zeros, read
		 * away below. */
		uint32_t skip = k ? 0 : d->stream_consumed, len = d->stream_skbs[k];
		struct bm_unix_msg first;
		memset(buf, 0, skip);
		if (!cursor_take(&c, len - skip, buf + skip, &first)) {
			rc = -EPROTO; /* checked when the image was read */
			break;
		}
		struct ucred cred = {first.pid, first.uid, first.gid};
		ssize_t sent = bm_unix_send_piece(from, buf, len, &cred, NULL, 0, NULL, 0);
		rc = sent < 0 ? (int)sent : (size_t)sent != len ? -EMSGSIZE : 0;
	}
	if (rc == 0 && d->stream_consumed) {
		ssize_t got = recv(receiver, buf, d->stream_consumed, MSG_DONTWAIT);
		rc = got < 0 ? -errno : (size_t)got != d->stream_consumed ? -EPROTO : 0;
	}
	free(buf);
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
