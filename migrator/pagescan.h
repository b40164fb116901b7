/* The PAGEMAP_SCAN ioctl of /proc/PID/pagemap (Linux 6.7+): which pages of
 * a range are present, swapped, the shared zero page, file-backed, or
 * written since they were last write-protected through a userfaultfd in
 * WP_ASYNC mode, as runs of pages, in one call per range instead of one
 * 8-byte pagemap entry per page.  The ABI is declared here because the
 * system's headers may predate it (Documentation/admin-guide/mm/pagemap.rst). */
#ifndef BINMIG_PAGESCAN_H
#define BINMIG_PAGESCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Page categories (struct bm_page_run.cats). */
#define BM_PAGE_IS_WPALLOWED (1ULL << 0) /* in a range registered for async write-protect */
#define BM_PAGE_IS_WRITTEN (1ULL << 1)   /* written since last write-protected */
#define BM_PAGE_IS_FILE (1ULL << 2)      /* a file (page-cache) page, not an anonymous copy */
#define BM_PAGE_IS_PRESENT (1ULL << 3)
#define BM_PAGE_IS_SWAPPED (1ULL << 4)   /* swapped out, or a uffd-wp marker of a never-filled page */
#define BM_PAGE_IS_PFNZERO (1ULL << 5)   /* the shared zero page: all zero, nothing to read */
#define BM_PAGE_IS_GUARD (1ULL << 8)     /* a guard page (MADV_GUARD_INSTALL; Linux 6.14): also "swapped" */

/* Scan flags. */
#define BM_PM_SCAN_WP_MATCHING (1ULL << 0)  /* write-protect the matching pages again, in the same walk */
#define BM_PM_SCAN_CHECK_WPASYNC (1ULL << 1) /* fail unless the whole range is registered for async WP */

struct bm_scan_run {
	uint64_t start, end; /* [start, end), page aligned */
	uint64_t cats;       /* the categories of the query's return mask that these pages have */
};

/* One query: the pages of [start, end) that have all categories in
 * `all` and, when `any` is non-zero, at least one of `any`; each run
 * reports the categories in `ret`. */
struct bm_scan_query {
	uint64_t flags;
	uint64_t all, any, ret;
};

/* Calls fn for every run, in address order; the runs of one call are
 * merged where the kernel splits them only for its buffer.  fn returns 0
 * to go on or a negative errno to stop.  Returns 0, fn's error, or the
 * ioctl's -errno (not reported: the caller knows what it was doing). */
typedef int (*bm_scan_fn)(void *ctx, const struct bm_scan_run *run);
int bm_pagescan(int pagemap_fd, uint64_t start, uint64_t end, const struct bm_scan_query *q, bm_scan_fn fn, void *ctx);

/* Whether the kernel has PAGEMAP_SCAN (probed once on pagemap_fd, then
 * remembered; the fault point PAGEMAP_SCAN makes it say no, for tests). */
bool bm_pagescan_available(int pagemap_fd);

/* Whether this kernel has PAGEMAP_SCAN, asked on binmig's own pagemap:
 * 0, or -EOPNOTSUPP with the reason in why. */
int bm_pagescan_probe(char *why, size_t n);

#endif
