/* How a pipe's bytes lie in the buffers of its ring (pipe_layout.h). */
#include "pipe_layout.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fd_policy.h"
#include "fd_tail.h"
#include "image_model.h"

bool bm_pipe_layout_wanted(const struct bm_fd *d)
{
	bool pipe = d->kind == BM_FD_PIPE || d->kind == BM_FD_FIFO || d->kind == BM_FD_UNLINKED_FIFO;
	return pipe && d->data_len > 0 && !d->in_flight && d->replaced == BM_FD_CARRIED;
}

/* ==== the dump: the records of kstate.bpf.c's read_pipe ==== */

static void forget(struct bm_fd *d)
{
	free(d->pipe_bufs);
	d->pipe_bufs = NULL;
	d->npipe_bufs = 0;
}

/* The buffers of D's layout, for kstate_chunks.h. */
static uint32_t has_bufs(const struct bm_fd *d)
{
	return d->npipe_bufs;
}

/* Starts the chunk from START of D, which has COUNT buffers: the first
 * makes its layout, each other must follow on (else the pipe moved
 * between the runs: a FIFO written to, and the layout is dropped). */
static void start_chunk(struct bm_process *p, struct bm_chunks *st, struct bm_fd *d, uint32_t start, uint32_t count)
{
	if (start == 0) {
		if (d->pipe_bufs || !count || count > BM_KSTATE_PIPE_BUFS_MAX)
			return;
		if (!(d->pipe_bufs = calloc(count, sizeof *d->pipe_bufs)))
			return;
		d->npipe_bufs = count;
	}
	if (!bm_chunks_begin(st, p, d, start, count, d->npipe_bufs, BM_KSTATE_PIPE_CHUNK))
		forget(d);
}

void bm_pipe_layout_record(struct bm_process *p, struct bm_chunks *st, const struct bm_kstate_rec *r)
{
	if (r->b & BM_KSTATE_PIPE_COUNT) {
		bm_chunks_finish(st, p, forget);
		struct bm_fd *d = (struct bm_fd *)bm_fd_find(p->fds, p->nfds, r->fd);
		if (d && bm_pipe_layout_wanted(d) && r->a < UINT32_MAX)
			start_chunk(p, st, d, (uint32_t)r->a, (uint32_t)r->b);
		return; /* not read: its bytes go in one go */
	}
	if (!st->d || r->fd != st->d->fd)
		return;
	if (st->got >= st->end) {
		st->got = UINT32_MAX; /* more than the chunk holds: dropped at its end */
		return;
	}
	uint32_t kflags = (uint32_t)r->b;
	st->d->pipe_bufs[st->got++] = (struct bm_pipe_buf){
		.offset = (uint32_t)r->a,
		.len = (uint32_t)(r->a >> 32),
		.flags = ((kflags & BM_KERNEL_PIPE_BUF_FLAG_CAN_MERGE) ? BM_PIPE_BUF_CAN_MERGE : 0) |
			 ((kflags & BM_KERNEL_PIPE_BUF_FLAG_PACKET) ? BM_PIPE_BUF_PACKET : 0),
	};
	st->taken++;
}

uint32_t bm_pipe_layout_next(struct bm_process *p, struct bm_chunks *st, uint32_t i)
{
	return bm_chunks_next(st, p, i, has_bufs, forget);
}

void bm_pipe_layout_end(struct bm_process *p, struct bm_chunks *st)
{
	bm_chunks_end(st, p, has_bufs, forget); /* those read in part */
	char why[160];
	for (uint32_t i = 0; i < p->nfds; i++)
		if (p->fds[i].npipe_bufs && !bm_pipe_layout_check(&p->fds[i], why, sizeof why))
			forget(&p->fds[i]); /* read while it moved (a FIFO), or not one to rebuild */
}

void bm_pipe_layout_drop(struct bm_process *p)
{
	for (uint32_t i = 0; i < p->nfds; i++)
		forget(&p->fds[i]);
}

/* Whether a write end of pipe OBJECT in F's live processes is in packet
 * mode. */
static bool packet_mode(struct bm_frozen *f, uint64_t object)
{
	for (size_t m = 0; m < bm_frozen_count(f); m++) {
		const struct bm_process *p = &bm_frozen_at(f, m)->proc;
		for (uint32_t i = 0; bm_frozen_at(f, m)->ntracees && i < p->nfds; i++)
			if (p->fds[i].kind == BM_FD_PIPE && p->fds[i].object_id == object && (p->fds[i].flags & O_DIRECT))
				return true;
	}
	return false;
}

int bm_pipe_refuse_packets(struct bm_frozen *f)
{
	for (size_t m = 0; m < bm_frozen_count(f); m++) {
		const struct bm_frozen *one = bm_frozen_at(f, m);
		for (uint32_t i = 0; one->ntracees && i < one->proc.nfds; i++) {
			const struct bm_fd *d = &one->proc.fds[i];
			if (d->kind != BM_FD_PIPE || !bm_pipe_layout_wanted(d) || d->npipe_bufs ||
			    !packet_mode(f, d->object_id))
				continue;
			char link[40];
			snprintf(link, sizeof link, "pipe:[%llu]", (unsigned long long)d->object_id);
			return bm_fd_refuse(one->pid, d->fd, link, d->mode, ", a packet-mode pipe (O_DIRECT) holding data, "
					    "whose packet boundaries binmig could not read (its buffers, through BPF)");
		}
	}
	return 0;
}

bool bm_pipe_layout_check(const struct bm_fd *d, char *why, size_t n)
{
	if (!d->npipe_bufs)
		return true;
	if (!bm_pipe_layout_wanted(d))
		return bm_why(why, n, "a buffer layout on a descriptor that carries no pipe's bytes");
	if (!d->pipe_bufs || d->npipe_bufs > BM_KSTATE_PIPE_BUFS_MAX)
		return bm_why(why, n, "%u pipe buffers, not 1..%u", d->npipe_bufs, BM_KSTATE_PIPE_BUFS_MAX);
	uint64_t sum = 0;
	for (uint32_t i = 0; i < d->npipe_bufs; i++) {
		const struct bm_pipe_buf *b = &d->pipe_bufs[i];
		if (!b->len || b->offset >= BM_PIPE_PAGE || b->len > BM_PIPE_PAGE - b->offset)
			return bm_why(why, n, "pipe buffer %u holds %u bytes at %u, not within a page", i, b->len,
				      b->offset);
		if (b->flags != 0 && b->flags != BM_PIPE_BUF_CAN_MERGE && b->flags != BM_PIPE_BUF_PACKET)
			return bm_why(why, n, "pipe buffer %u has flags %#x", i, b->flags);
		sum += b->len;
	}
	if (sum != d->data_len)
		return bm_why(why, n, "pipe buffers of %llu bytes in all, for %u bytes buffered", (unsigned long long)sum,
			      d->data_len);
	return true;
}

/* ==== the restore ==== */

/* Whole writes and reads of N bytes, or -errno (-EIO for a short one). */
static int whole(ssize_t done, size_t n)
{
	return done == (ssize_t)n ? 0 : done < 0 ? -errno : -EIO;
}

/* Puts buffer B, holding BYTES, into WRITER: as a new buffer of SCRATCH
 * (a plain pipe, or one in packet mode for a packet), with its first
 * B->offset bytes spliced away into SINK and read from there; then moved
 * whole (keeping CAN_MERGE or PACKET), or copied with tee (without
 * CAN_MERGE) and read away from SCRATCH. */
static int put_buffer(int writer, const int scratch[2], const int sink[2], const struct bm_pipe_buf *b,
		      const uint8_t *bytes)
{
	uint8_t page[BM_PIPE_PAGE];
	memset(page, 0, b->offset);
	memcpy(page + b->offset, bytes, b->len);
	int rc = whole(write(scratch[1], page, b->offset + b->len), b->offset + b->len);
	if (rc == 0 && b->offset &&
	    (rc = whole(splice(scratch[0], NULL, sink[1], NULL, b->offset, SPLICE_F_NONBLOCK), b->offset)) == 0)
		rc = whole(read(sink[0], page, b->offset), b->offset);
	if (rc < 0)
		return rc;
	if (b->flags)
		return whole(splice(scratch[0], NULL, writer, NULL, b->len, SPLICE_F_NONBLOCK), b->len);
	rc = whole(tee(scratch[0], writer, b->len, SPLICE_F_NONBLOCK), b->len);
	return rc ? rc : whole(read(scratch[0], page, b->len), b->len);
}

int bm_pipe_refill(int writer, const struct bm_fd *d)
{
	if (!d->data_len)
		return 0;
	if (!d->npipe_bufs)
		return whole(write(writer, d->data, d->data_len), d->data_len);
	int plain[2] = {-1, -1}, packet[2] = {-1, -1}, sink[2] = {-1, -1}, rc = 0;
	if (pipe2(plain, O_CLOEXEC | O_NONBLOCK) < 0 || pipe2(packet, O_CLOEXEC | O_NONBLOCK | O_DIRECT) < 0 ||
	    pipe2(sink, O_CLOEXEC | O_NONBLOCK) < 0)
		rc = -errno;
	uint32_t at = 0;
	for (uint32_t i = 0; rc == 0 && i < d->npipe_bufs; i++) {
		const struct bm_pipe_buf *b = &d->pipe_bufs[i];
		rc = put_buffer(writer, (b->flags & BM_PIPE_BUF_PACKET) ? packet : plain, sink, b, d->data + at);
		at += b->len;
	}
	int *ends[] = {plain, packet, sink};
	for (size_t k = 0; k < 3; k++)
		for (int e = 0; e < 2; e++)
			if (ends[k][e] >= 0)
				close(ends[k][e]);
	return rc;
}

/* ==== the image ==== */

static bool has_layout(const struct bm_fd *d)
{
	return d->npipe_bufs > 0;
}

static void put_layout(struct bm_wbuf *b, const struct bm_fd *d)
{
	bm_put_u32(b, d->npipe_bufs);
	for (uint32_t k = 0; k < d->npipe_bufs; k++) {
		bm_put_u32(b, d->pipe_bufs[k].offset);
		bm_put_u32(b, d->pipe_bufs[k].len);
		bm_put_u32(b, d->pipe_bufs[k].flags);
	}
}

static bool take_layout(struct bm_rcur *c, struct bm_fd *d, char *why, size_t n)
{
	/* Version 15 read a ring in one run of the reader, 16 in chunks. */
	uint32_t most = c->version >= 16 ? BM_KSTATE_PIPE_BUFS_MAX : BM_PIPE_BUFS_MAX_V15;
	uint32_t nbufs = bm_get_count(c, most, 12, "pipe buffer count");
	if (bm_rcur_failed(c))
		return true; /* said by the cursor */
	if (d->npipe_bufs || !nbufs) {
		snprintf(why, n, "a second layout, or no buffers");
		return false;
	}
	if (!(d->pipe_bufs = calloc(nbufs, sizeof *d->pipe_bufs))) {
		bm_rcur_nomem(c);
		return true;
	}
	d->npipe_bufs = nbufs;
	for (uint32_t k = 0; k < nbufs; k++) {
		d->pipe_bufs[k].offset = bm_get_u32(c);
		d->pipe_bufs[k].len = bm_get_u32(c);
		d->pipe_bufs[k].flags = bm_get_u32(c);
	}
	return bm_rcur_failed(c) || bm_pipe_layout_check(d, why, n);
}

void bm_pipe_layouts_encode(struct bm_wbuf *b, const struct bm_process *p)
{
	bm_fd_tail_encode(b, p, has_layout, put_layout);
}

void bm_pipe_layouts_decode(struct bm_rcur *c, struct bm_process *p)
{
	bm_fd_tail_decode(c, p, 20, "pipe layout", take_layout);
}
