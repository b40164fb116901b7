/* Lists of per-descriptor entries at the end of the image's FDS section,
 * each added by a later image version for some descriptors only: u32 n,
 * then n entries in rising descriptor order, each i32 fd first, then what
 * its owner writes (inotify next watch numbers, pipe layouts, signal-driven
 * I/O, stream layouts). */
#ifndef BINMIG_FD_TAIL_H
#define BINMIG_FD_TAIL_H

#include <stdbool.h>
#include <stddef.h>

#include "state.h"
#include "wire.h"

/* Writes the entry of each descriptor of P that HAS one: its fd, then PUT. */
void bm_fd_tail_encode(struct bm_wbuf *b, const struct bm_process *p, bool (*has)(const struct bm_fd *d),
		       void (*put)(struct bm_wbuf *b, const struct bm_fd *d));

/* Reads a list: each entry's fd, which must name a descriptor of P after
 * the last entry's, then TAKE reads the rest of it into that descriptor
 * (false: a bad entry, why in WHY; a failure of C itself is C's).
 * MIN_ENTRY is an entry's least size, fd included; WHAT names an entry in
 * messages ("WHAT of fd N: ..."). */
void bm_fd_tail_decode(struct bm_rcur *c, struct bm_process *p, size_t min_entry, const char *what,
		       bool (*take)(struct bm_rcur *c, struct bm_fd *d, char *why, size_t n));

#endif
