/* A layout of one descriptor read in chunks, one a run of kstate.c's file
 * program, over as many runs as it takes (a pipe's ring of buffers,
 * pipe_layout.h; a unix stream's queue of skbs,
 * sk_unix_stream_layout.h): the iterator writes at most 32 KiB for one
 * descriptor in a run.  Each run reads a chunk of each descriptor, its
 * first record then its entries; the first chunk makes the layout, each
 * later one must follow on where the last ended, of as many entries in
 * all, else the thing moved between the runs and its layout is dropped. */
#ifndef BINMIG_KSTATE_CHUNKS_H
#define BINMIG_KSTATE_CHUNKS_H

#include <stdbool.h>
#include <stdint.h>

#include "state.h"

struct bm_chunks {
	struct bm_fd *d; /* the descriptor whose chunk is being read, or NULL */
	uint32_t got;    /* its entries read, this chunk's with those before (UINT32_MAX: a bad record) */
	uint32_t end;    /* where this chunk ends */
	uint32_t *done;  /* per descriptor of the process: 1 + its entries read in whole chunks (0: not
			    read, or a layout the reading did not make) */
	uint64_t taken;  /* entries taken in all, of every descriptor */
};

/* Starts the chunk from START of D (a descriptor of P) of COUNT entries in
 * all, in chunks of SIZE; HAS is the number of entries D's layout has
 * (the caller makes it before the first chunk).  False where it does not
 * follow on (its layout to drop), or there is no memory. */
bool bm_chunks_begin(struct bm_chunks *c, const struct bm_process *p, struct bm_fd *d, uint32_t start,
		     uint32_t count, uint32_t has, uint32_t size);

/* What the caller keeps of a descriptor's layout: how many entries it
 * has (0: none), and how it drops it. */
typedef uint32_t bm_chunks_has(const struct bm_fd *d);
typedef void bm_chunks_forget(struct bm_fd *d);

/* Ends the chunk being read: where it was not read whole, drops its
 * descriptor's layout (FORGET). */
void bm_chunks_finish(struct bm_chunks *c, const struct bm_process *p, bm_chunks_forget *forget);

/* After a run (the chunk being read ended): where the next chunk of
 * P->fds[I], whose layout is read in part, starts; 0 for none. */
uint32_t bm_chunks_next(struct bm_chunks *c, const struct bm_process *p, uint32_t i, bm_chunks_has *has,
			bm_chunks_forget *forget);

/* After the last run: drops each layout read in part (a run after its
 * first failed, or took nothing), frees C's memory and starts it afresh. */
void bm_chunks_end(struct bm_chunks *c, struct bm_process *p, bm_chunks_has *has, bm_chunks_forget *forget);

#endif
