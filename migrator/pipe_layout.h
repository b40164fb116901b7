/* How the bytes of a pipe or FIFO lie in the buffers of its ring, carried
 * so that the restored pipe takes later writes as the original would.
 *
 * The kernel keeps a pipe's bytes in a ring of buffers, each a part of one
 * page (fs/pipe.c): an offset into the page, a length, and flags.  A write
 * adds to the newest buffer while that one may be merged into
 * (PIPE_BUF_FLAG_CAN_MERGE) and its page has room, else it takes a new
 * slot; a full ring makes a non-blocking write fail.  A buffer written in
 * packet mode (pipe2 O_DIRECT) is read as one packet (PIPE_BUF_FLAG_PACKET)
 * and is never merged into.  So two pipes holding the same bytes can take
 * different numbers of bytes more, and a reader of a packet-mode pipe sees
 * the boundaries.
 *
 * The dump reads each buffered pipe's ring through BPF (kstate.h,
 * BM_KSTATE_PIPE; 512 buffers a run of the reader, as many runs as the
 * ring takes): offset, length and flags of each buffer, oldest first;
 * the lengths must add up to the bytes tee(2) read (files.c), else the
 * layout is dropped.  The restore rebuilds each buffer through a scratch
 * pipe: it writes the buffer's offset and length in bytes there (one new
 * buffer, at offset 0), splices the first OFFSET bytes away (the buffer
 * then starts at OFFSET), and moves the buffer whole into the restored
 * pipe with splice(2), which keeps its flags (fs/splice.c
 * splice_pipe_to_pipe): CAN_MERGE from a plain scratch pipe, PACKET from
 * one in packet mode; a buffer with neither is copied with tee(2), which
 * clears CAN_MERGE (link_pipe).  Without a layout the bytes are written in
 * one go, as before image version 15. */
#ifndef BINMIG_PIPE_LAYOUT_H
#define BINMIG_PIPE_LAYOUT_H

#include <stdbool.h>
#include <stdint.h>

#include "bpf/kstate_rec.h"
#include "checkpoint.h"
#include "kstate_chunks.h"
#include "state.h"
#include "wire.h"

/* One buffer's flags as the image has them. */
#define BM_PIPE_BUF_CAN_MERGE 1u /* later writes may add to it */
#define BM_PIPE_BUF_PACKET 2u    /* read as one packet */

/* The kernel's numbers of those flags (include/linux/pipe_fs_i.h), which
 * are no enum that BPF could relocate: kstate.c checks them on a pipe of
 * its own before it reads any layout. */
#define BM_KERNEL_PIPE_BUF_FLAG_PACKET 0x08u
#define BM_KERNEL_PIPE_BUF_FLAG_CAN_MERGE 0x10u

/* The size of a page, which no buffer's offset and length pass. */
#define BM_PIPE_PAGE 4096u

/* Whether the dump reads D's layout: the descriptor of a pipe or FIFO
 * that carries its bytes. */
bool bm_pipe_layout_wanted(const struct bm_fd *d);

/* Takes one BM_KSTATE_PIPE record R into P, read chunk by chunk in ST
 * (kstate_chunks.h: a descriptor's first record starts a chunk, its first
 * of a layout, or the next of one read in part). */
void bm_pipe_layout_record(struct bm_process *p, struct bm_chunks *st, const struct bm_kstate_rec *r);

/* After a run: the first buffer of the next chunk of P->fds[I], whose
 * layout is read in part; 0 for none. */
uint32_t bm_pipe_layout_next(struct bm_process *p, struct bm_chunks *st, uint32_t i);

/* After the last run: keeps each layout read whole whose lengths add up
 * to the descriptor's bytes, each buffer within a page, with at most one
 * of the two flags; drops the others (their pipes are refilled in one
 * go). */
void bm_pipe_layout_end(struct bm_process *p, struct bm_chunks *st);

/* Drops every layout of P (a reading that failed). */
void bm_pipe_layout_drop(struct bm_process *p);

/* At dump, once the kernel's state is read (kstate.h): refuses (exit 4,
 * naming it) a pipe of F's processes in packet mode (a write end with
 * O_DIRECT) holding bytes whose layout was not read, as its packets'
 * boundaries would be lost.  0, or the refusal's -1. */
int bm_pipe_refuse_packets(struct bm_frozen *f);

/* Whether descriptor D's layout (if any) is one the image may hold;
 * else false with why. */
bool bm_pipe_layout_check(const struct bm_fd *d, char *why, size_t n);

/* Writes D's buffered bytes into WRITER, a write end of an empty pipe or
 * FIFO with room for them: buffer by buffer as D's layout says, or in one
 * write where it has none.  0, or -errno. */
int bm_pipe_refill(int writer, const struct bm_fd *d);

/* The most buffers a layout of an image of version 15 holds: a ring read
 * in one run (from version 16, BM_KSTATE_PIPE_BUFS_MAX). */
#define BM_PIPE_BUFS_MAX_V15 512u

/* The end of the image's FDS section (version 15, after the next watch
 * numbers): u32 n, then n layouts in rising descriptor order, each i32 fd,
 * u32 nbufs and nbufs × (u32 offset, u32 len, u32 flags).  decode fails C
 * on anything else. */
void bm_pipe_layouts_encode(struct bm_wbuf *b, const struct bm_process *p);
void bm_pipe_layouts_decode(struct bm_rcur *c, struct bm_process *p);

#endif
