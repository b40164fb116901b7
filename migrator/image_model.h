/* Payloads of the image sections that carry the process model (PROCESS,
 * VMAS, FDS, SIGNALS, THREAD, TIMERS): encoding, decoding and the rules both
 * directions enforce.  Internal to image.c; the layouts are documented in
 * docs/image-format.md. */
#ifndef BINMIG_IMAGE_MODEL_H
#define BINMIG_IMAGE_MODEL_H

#include <stddef.h>

#include "state.h"
#include "wire.h"

#define BM_IMG_MAX_STRING 4095u      /* bytes, PATH_MAX without the terminator */
#define BM_IMG_MAX_VMAS (1u << 20)
#define BM_IMG_MAX_FDS 65536u
#define BM_IMG_MAX_THREADS 65536u
#define BM_IMG_MAX_PENDING 4096u     /* per list */
#define BM_IMG_MAX_XSTATE 65536u     /* bytes */

/* Encoders append one payload to B.  They refuse (-EINVAL, reason in WHY)
 * a model the decoder would reject, so that binmig never writes an image
 * it cannot read; -ENOMEM if the buffer could not grow. */
int bm_encode_process(struct bm_wbuf *b, const struct bm_process *p, char *why, size_t why_size);
int bm_encode_vmas(struct bm_wbuf *b, const struct bm_process *p, char *why, size_t why_size);
int bm_encode_fds(struct bm_wbuf *b, const struct bm_process *p, char *why, size_t why_size);
int bm_encode_signals(struct bm_wbuf *b, const struct bm_process *p, char *why, size_t why_size);
int bm_encode_thread(struct bm_wbuf *b, const struct bm_process *p, uint32_t index, char *why,
		     size_t why_size);
int bm_encode_timers(struct bm_wbuf *b, const struct bm_process *p, char *why, size_t why_size);

/* Decoders read one whole payload into P and check it; a problem is
 * recorded in the cursor (bm_rcur_failed).  What they allocate belongs to
 * P even on failure (bm_process_free releases it).  bm_decode_process
 * allocates P->threads for P->nthreads zeroed threads; bm_decode_thread
 * fills P->threads[INDEX]. */
void bm_decode_process(struct bm_rcur *c, struct bm_process *p);
void bm_decode_vmas(struct bm_rcur *c, struct bm_process *p);
void bm_decode_fds(struct bm_rcur *c, struct bm_process *p);
void bm_decode_signals(struct bm_rcur *c, struct bm_process *p);
void bm_decode_thread(struct bm_rcur *c, struct bm_process *p, uint32_t index);
/* TIMERS after the THREADs: checked against the descriptors and threads. */
void bm_decode_timers(struct bm_rcur *c, struct bm_process *p);

#endif
