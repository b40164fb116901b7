/* PAGEMAP_SCAN (pagescan.h). */
#include "pagescan.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <linux/types.h>

#include "fault.h"

struct pm_scan_arg_abi {
	uint64_t size, flags, start, end, walk_end, vec, vec_len, max_pages;
	uint64_t category_inverted, category_mask, category_anyof_mask, return_mask;
};
struct page_region_abi {
	uint64_t start, end, categories;
};
#define PAGEMAP_SCAN_IOCTL _IOWR('f', 16, struct pm_scan_arg_abi)
#define SCAN_VEC 512

int bm_pagescan(int pagemap_fd, uint64_t start, uint64_t end, const struct bm_scan_query *q, bm_scan_fn fn, void *ctx)
{
	struct page_region_abi vec[SCAN_VEC];
	struct bm_scan_run pending = {0, 0, 0};
	uint64_t at = start;
	while (at < end) {
		struct pm_scan_arg_abi a = {
			.size = sizeof a, .flags = q->flags, .start = at, .end = end, .vec = (uintptr_t)vec,
			.vec_len = SCAN_VEC, .category_mask = q->all, .category_anyof_mask = q->any, .return_mask = q->ret,
		};
		long n = ioctl(pagemap_fd, PAGEMAP_SCAN_IOCTL, &a);
		if (n < 0)
			return -errno;
		for (long i = 0; i < n; i++) {
			if (pending.end == vec[i].start && pending.cats == vec[i].categories && pending.end > pending.start) {
				pending.end = vec[i].end;
				continue;
			}
			if (pending.end > pending.start) {
				int rc = fn(ctx, &pending);
				if (rc < 0)
					return rc;
			}
			pending = (struct bm_scan_run){vec[i].start, vec[i].end, vec[i].categories};
		}
		if (a.walk_end <= at)
			return -EIO; /* no progress: never loop */
		at = a.walk_end;
	}
	return pending.end > pending.start ? fn(ctx, &pending) : 0;
}

static int ignore_run(void *ctx, const struct bm_scan_run *run)
{
	(void)ctx;
	(void)run;
	return 0;
}

bool bm_pagescan_available(int pagemap_fd)
{
	static int known = -1;
	if (known >= 0)
		return known;
	if (bm_fault(BM_FP_PAGEMAP_SCAN)) {
		known = 0;
		return false;
	}
	/* An empty range: only the ioctl's existence is tested. */
	struct bm_scan_query q = {0, 0, BM_PAGE_IS_PRESENT, BM_PAGE_IS_PRESENT};
	int rc = bm_pagescan(pagemap_fd, 0x10000, 0x11000, &q, ignore_run, NULL);
	known = rc == 0;
	return known;
}

int bm_pagescan_probe(char *why, size_t n)
{
	int pm = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	bool scan = pm >= 0 && bm_pagescan_available(pm);
	if (pm >= 0)
		close(pm);
	if (scan)
		return 0;
	snprintf(why, n, "this kernel has no PAGEMAP_SCAN ioctl (Linux 6.7 or later)");
	return -EOPNOTSUPP;
}
