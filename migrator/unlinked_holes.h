/* Where an unlinked file carried in an image has data, and where holes
 * (image version 10).
 *
 * A sparse file (or memfd) read whole and written back whole would come
 * back with every hole filled: more blocks (st_blocks), more memory for a
 * memfd, and SEEK_DATA/SEEK_HOLE telling another story.  The dump reads
 * the file's data extents with SEEK_DATA and SEEK_HOLE; the restore makes
 * the file its size with ftruncate and writes only those extents.  Space
 * reserved past the end (fallocate with FALLOC_FL_KEEP_SIZE) is not seen
 * and not carried. */
#ifndef BINMIG_UNLINKED_HOLES_H
#define BINMIG_UNLINKED_HOLES_H

#include <stddef.h>
#include <stdint.h>

#include "state.h"
#include "wire.h"

/* Dump: the data extents of the open file FD of SIZE bytes into *out
 * (malloc'd; known set); a file of more extents than an image lists is
 * taken as one of data throughout.  0, or -errno (not logged). */
int bm_holes_read(int fd, uint64_t size, struct bm_holes *out);

/* Restore: FD, a new empty file, gets LEN bytes: DATA where H says data
 * (everything when H is NULL or not known), holes elsewhere.  0, or -1
 * with errno. */
int bm_holes_write(int fd, const uint8_t *data, size_t len, const struct bm_holes *h);

/* The image encoding, after the entry it belongs to: u32 count, then
 * count × (u64 start, u64 end), ascending, apart, within SIZE.  The
 * decoder checks that (why: the reason). */
void bm_holes_encode(struct bm_wbuf *b, const struct bm_holes *h);
void bm_holes_decode(struct bm_rcur *c, uint64_t size, struct bm_holes *h);

void bm_holes_free(struct bm_holes *h);

#endif
