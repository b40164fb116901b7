/* Guard regions: found at dump, checked in the image, installed again at
 * restore (memguard.h). */
#include "memguard.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"
#include "memory.h"
#include "pagescan.h"
#include "procfs.h"
#include "ptrace_ctl.h"
#include "wire.h"

#define MADV_GUARD_INSTALL_ 102 /* Linux 6.13; newer than some system headers */
#define MADV_GUARD_REMOVE_ 103
#define PM_GUARD_REGION (1ULL << 58)
#define PAGEMAP_BATCH 4096 /* entries per pagemap read */

static int add_range(struct bm_guard_list *g, uint64_t start, uint64_t end)
{
	if (g->n && g->r[g->n - 1].end == start && g->r[g->n - 1].start >= g->merge_from) {
		g->r[g->n - 1].end = end;
		return 0;
	}
	if (g->n == BM_GUARD_MAX_RANGES)
		return -E2BIG;
	if (g->n == g->cap) {
		uint32_t cap = g->cap ? g->cap * 2 : 16;
		struct bm_range *r = realloc(g->r, cap * sizeof *r);
		if (!r)
			return -ENOMEM;
		g->r = r;
		g->cap = cap;
	}
	g->r[g->n++] = (struct bm_range){start, end};
	return 0;
}

static int scanned_guard(void *ctx, const struct bm_scan_run *run)
{
	return add_range(ctx, run->start, run->end);
}

static const struct bm_scan_query q_guard = {0, BM_PAGE_IS_GUARD, 0, BM_PAGE_IS_GUARD};

static int find_in_pagemap(int pagemap_fd, uint64_t start, uint64_t end, struct bm_guard_list *g)
{
	uint64_t *pm = malloc(PAGEMAP_BATCH * sizeof *pm);
	int rc = pm ? 0 : -ENOMEM;
	for (uint64_t at = start; rc == 0 && at < end;) {
		size_t n = (end - at) / BM_PAGE_SIZE < PAGEMAP_BATCH ? (size_t)((end - at) / BM_PAGE_SIZE) : PAGEMAP_BATCH;
		ssize_t got = pread(pagemap_fd, pm, n * sizeof *pm, (off_t)(at / BM_PAGE_SIZE * sizeof *pm));
		if (got != (ssize_t)(n * sizeof *pm))
			rc = got < 0 ? -errno : -EIO;
		for (size_t i = 0; rc == 0 && i < n; i++) {
			uint64_t a = at + i * BM_PAGE_SIZE;
			if (pm[i] & PM_GUARD_REGION)
				rc = add_range(g, a, a + BM_PAGE_SIZE);
		}
		at += n * BM_PAGE_SIZE;
	}
	free(pm);
	return rc;
}

int bm_guards_find(int pagemap_fd, uint64_t start, uint64_t end, bool scan, struct bm_guard_list *g)
{
	if (scan) {
		uint32_t before = g->n;
		int rc = bm_pagescan(pagemap_fd, start, end, &q_guard, scanned_guard, g);
		if (rc != -EINVAL) /* EINVAL: a kernel that lacks PAGE_IS_GUARD (6.7 to 6.13) */
			return rc;
		g->n = before;
	}
	return find_in_pagemap(pagemap_fd, start, end, g);
}

/* Why v cannot carry guard pages, or NULL. */
static const char *cannot_carry(const struct bm_vma *v)
{
	if (v->flags & (BM_VMA_SHARED | BM_VMA_SHMEM | BM_VMA_SHMFILE))
		return "in shared memory";
	if (v->kind != BM_VMA_ANON && v->kind != BM_VMA_FILE)
		return "in a special mapping";
	/* mlock fails on a range holding guards (it faults every page in),
	 * and guards on a locked one; locked on fault, it takes them. */
	if ((v->flags & BM_VMA_LOCKED) && !(v->flags & BM_VMA_LOCKONFAULT))
		return "in locked memory (mlock)";
	return NULL;
}

int bm_guards_collect(pid_t pid, const struct bm_maps_entry *maps, struct bm_process *p)
{
	int fd = -1, rc = 0;
	bool scan = false;
	struct bm_guard_list g = {0};
	for (uint32_t i = 0; rc == 0 && i < p->nvmas; i++) {
		const struct bm_vma *v = &p->vmas[i];
		if (!(maps[i].vmflags & BM_VMFLAG_GU))
			continue;
		if (fd < 0) {
			char path[64];
			snprintf(path, sizeof path, "/proc/%d/pagemap", pid);
			if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
				rc = bm_error_errno(BM_EXIT_TARGET, errno, "cannot open %s", path);
				break;
			}
			scan = bm_pagescan_available(fd);
		}
		uint32_t before = g.n;
		g.merge_from = v->start; /* a range never spans two VMAs */
		rc = bm_guards_find(fd, v->start, v->end, scan, &g);
		if (rc == -E2BIG)
			rc = bm_error(BM_EXIT_UNSUPPORTED, "process %d has more than %u guard regions; binmig cannot carry "
				      "them", pid, BM_GUARD_MAX_RANGES);
		else if (rc < 0)
			rc = bm_error_errno(BM_EXIT_TARGET, -rc, "cannot find the guard pages of process %d at 0x%llx", pid,
					    (unsigned long long)v->start);
		else if (g.n > before && cannot_carry(v))
			rc = bm_error(BM_EXIT_UNSUPPORTED, "process %d has guard regions (madvise MADV_GUARD_INSTALL) %s "
				      "at 0x%llx (%s); binmig cannot carry them", pid, cannot_carry(v),
				      (unsigned long long)g.r[before].start, maps[i].path[0] ? maps[i].path : "anonymous");
	}
	if (fd >= 0)
		close(fd);
	if (rc < 0) {
		free(g.r);
		return rc;
	}
	p->guards = g.r;
	p->nguards = g.n;
	return 0;
}

bool bm_guards_valid(const struct bm_process *p, char *why, size_t n)
{
	uint32_t v = 0;
	for (uint32_t i = 0; i < p->nguards; i++) {
		const struct bm_range *r = &p->guards[i];
		if ((r->start | r->end) & (BM_PAGE_SIZE - 1) || r->start >= r->end)
			return bm_why(why, n, "guard range %u (%#llx-%#llx) is empty or not page aligned", i,
				      (unsigned long long)r->start, (unsigned long long)r->end);
		if (i && r->start < p->guards[i - 1].end)
			return bm_why(why, n, "guard range %u (%#llx) overlaps or precedes the one before", i,
				      (unsigned long long)r->start);
		while (v < p->nvmas && p->vmas[v].end <= r->start)
			v++;
		if (v == p->nvmas || r->start < p->vmas[v].start || r->end > p->vmas[v].end)
			return bm_why(why, n, "guard range %u (%#llx-%#llx) is not within one memory area", i,
				      (unsigned long long)r->start, (unsigned long long)r->end);
		if (!(p->vmas[v].flags & BM_VMA_MAYBE_GUARD))
			return bm_why(why, n, "guard range %u (%#llx) is in memory without the flag of guard regions", i,
				      (unsigned long long)r->start);
		const char *no = cannot_carry(&p->vmas[v]);
		if (no)
			return bm_why(why, n, "guard range %u (%#llx) is %s", i, (unsigned long long)r->start, no);
	}
	return true;
}

size_t bm_guards_within(const struct bm_process *p, uint64_t start, uint64_t end, size_t *first)
{
	size_t i = bm_ranges_after(p->guards, p->nguards, start), k = i;
	while (k < p->nguards && p->guards[k].start < end)
		k++;
	*first = i;
	return k - i;
}

/* madvise(advice) on [start, end) in the new process. */
static int guard_advice(struct bm_tracee *tr, pid_t pid, uint64_t start, uint64_t end, int advice)
{
	long ret;
	int rc = bm_inject(tr, SYS_madvise, start, end - start, (uint64_t)advice, 0, 0, 0, &ret);
	if (rc < 0)
		return rc;
	if (ret == -EINVAL || ret == -ENOSYS)
		return bm_error(BM_EXIT_CONFLICT, "restoring process %d: this kernel cannot install guard regions "
				"(madvise MADV_GUARD_INSTALL, Linux 6.13) at 0x%llx", pid, (unsigned long long)start);
	if (ret < 0)
		return bm_error_errno(BM_EXIT_FAILURE, (int)-ret, "restoring process %d: %s guard pages at 0x%llx", pid,
				      advice == MADV_GUARD_INSTALL_ ? "installing" : "removing", (unsigned long long)start);
	return 0;
}

int bm_guards_install(struct bm_tracee *tr, pid_t pid, const struct bm_process *p)
{
	for (uint32_t i = 0; i < p->nguards; i++) {
		int rc = guard_advice(tr, pid, p->guards[i].start, p->guards[i].end, MADV_GUARD_INSTALL_);
		if (rc < 0)
			return rc;
	}
	return 0;
}

int bm_guards_mark(struct bm_tracee *tr, pid_t pid, const struct bm_process *p, const struct bm_vma *v, bool kept)
{
	size_t first;
	if (!(v->flags & BM_VMA_MAYBE_GUARD) || bm_guards_within(p, v->start, v->end, &first))
		return 0; /* none, or its guard pages give it "gu" */
	static uint8_t page[BM_PAGE_SIZE];
	int rc = kept ? bm_mem_read(pid, v->start, page, sizeof page) : 0;
	if (rc < 0)
		return bm_error_errno(BM_EXIT_FAILURE, -rc, "reading memory of process %d at 0x%llx", pid,
				      (unsigned long long)v->start);
	if ((rc = guard_advice(tr, pid, v->start, v->start + BM_PAGE_SIZE, MADV_GUARD_INSTALL_)) < 0 ||
	    (rc = guard_advice(tr, pid, v->start, v->start + BM_PAGE_SIZE, MADV_GUARD_REMOVE_)) < 0)
		return rc;
	if (kept && !bm_page_is_zero(page) && (rc = bm_mem_write(pid, v->start, page, sizeof page)) < 0)
		return bm_error_errno(BM_EXIT_FAILURE, -rc, "writing memory of process %d at 0x%llx", pid,
				      (unsigned long long)v->start);
	return 0;
}
