/* Guard regions (madvise MADV_GUARD_INSTALL, Linux 6.13): pages of a
 * private mapping that fault on any access (SIGSEGV) without a mapping of
 * their own, as newer C libraries put at the low end of thread stacks and
 * between allocator arenas.  smaps shows "gu" on a VMA that may hold some
 * (Linux 6.18); pagemap bit 58 (6.15) and PAGEMAP_SCAN's PAGE_IS_GUARD
 * (6.14) show which pages are.
 *
 * The dump lists them (bm_process.guards): reading one gives EIO, so the
 * page writer leaves them out; the restore installs them again once the
 * mapping's contents are in, before any mlock (guards cannot be added to
 * locked memory).  Guards in shared memory, and in memory locked other
 * than on fault (mlock fails on it), are refused. */
#ifndef BINMIG_MEMGUARD_H
#define BINMIG_MEMGUARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "state.h"

#define BM_GUARD_MAX_RANGES (1u << 20) /* in one process; an image holding more is rejected */

struct bm_maps_entry;
struct bm_tracee;

/* Guard ranges found, growing. */
struct bm_guard_list {
	struct bm_range *r;
	uint32_t n, cap;
	uint64_t merge_from; /* a new range extends the last one only if that starts here or above */
};

/* The guard pages of [start, end) (page aligned), appended to g (merged
 * with a last range that ends at start): through PAGEMAP_SCAN when scan,
 * else (or when the kernel lacks PAGE_IS_GUARD) from pagemap's bit 58.
 * 0 or -errno (not reported). */
int bm_guards_find(int pagemap_fd, uint64_t start, uint64_t end, bool scan, struct bm_guard_list *g);

/* Dump, the process frozen, its VMAs described (maps[i] is p->vmas[i]):
 * the guard pages of every VMA smaps marks "gu", into p->guards.  A VMA
 * that may hold guards and cannot carry them is refused (exit 4). */
int bm_guards_collect(pid_t pid, const struct bm_maps_entry *maps, struct bm_process *p);

/* The rule of the image: sorted, disjoint, page-aligned, non-empty
 * ranges, each within one private anonymous or file VMA that has the flag
 * BM_VMA_MAYBE_GUARD.  false with the reason in why. */
bool bm_guards_valid(const struct bm_process *p, char *why, size_t n);

/* The guard ranges that meet [start, end): *first is the index of the
 * first; returns how many. */
size_t bm_guards_within(const struct bm_process *p, uint64_t start, uint64_t end, size_t *first);

/* Restore: installs every guard range of p in the new process (traced as
 * tr), by injected madvise calls.  0, or a reported error (exit 6 where
 * this kernel cannot install them). */
int bm_guards_install(struct bm_tracee *tr, pid_t pid, const struct bm_process *p);

/* Restore, v just mapped, before its pages are written: a VMA that had
 * "gu" but holds no guard page any more (all removed) gets "gu" again, by
 * a guard installed on its first page and removed.  kept: that page is
 * memory the new process keeps (restore_inplace.h), whose contents are
 * read first and written back. */
int bm_guards_mark(struct bm_tracee *tr, pid_t pid, const struct bm_process *p, const struct bm_vma *v, bool kept);

#endif
