/* Pre-copy, the source side (precopy.h). */
#include "precopy.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>
#include <linux/userfaultfd.h>

#include "fault.h"
#include "log.h"
#include "migrate.h"
#include "pagescan.h"
#include "ptrace_ctl.h"
#include "wire.h"

/* Newer than some system headers. */
#define FEATURE_WP_UNPOPULATED (1ULL << 13)
#define FEATURE_WP_ASYNC (1ULL << 15)
#define WANT_FEATURES (FEATURE_WP_ASYNC | FEATURE_WP_UNPOPULATED)
#define UFFD_USER_MODE_ONLY_FLAG 1

static const struct bm_scan_query q_present = {
	0, 0, BM_PAGE_IS_PRESENT | BM_PAGE_IS_SWAPPED,
	BM_PAGE_IS_PRESENT | BM_PAGE_IS_SWAPPED | BM_PAGE_IS_FILE | BM_PAGE_IS_PFNZERO,
};
/* PAGE_IS_WRITTEN alone, as mask and return mask: the kernel's fast path,
 * which also counts a page zapped since (MADV_DONTNEED) as written. */
static const struct bm_scan_query q_dirty = {0, BM_PAGE_IS_WRITTEN, 0, BM_PAGE_IS_WRITTEN};
static const struct bm_scan_query q_dirty_rearm = {BM_PM_SCAN_WP_MATCHING, BM_PAGE_IS_WRITTEN, 0, BM_PAGE_IS_WRITTEN};
static const struct bm_scan_query q_tracked = {0, BM_PAGE_IS_WPALLOWED, 0, BM_PAGE_IS_WPALLOWED};

static int parse_u64(const char *text, const char *suffix_ok, uint64_t *v, bool *suffixed)
{
	char *end;
	errno = 0;
	unsigned long long n = strtoull(text, &end, 10);
	if (errno || end == text || text[0] == '-')
		return -EINVAL;
	*suffixed = *end != 0;
	if (*end && (!suffix_ok || (strcmp(end, "MiB") && strcmp(end, "M"))))
		return -EINVAL;
	*v = n;
	return 0;
}

int bm_precopy_parse_rounds(const char *text, unsigned *rounds)
{
	uint64_t v;
	bool sfx;
	if (parse_u64(text, NULL, &v, &sfx) < 0 || v < 1 || v > BM_PRECOPY_MAX_ROUNDS)
		return -EINVAL;
	*rounds = (unsigned)v;
	return 0;
}

int bm_precopy_parse_threshold(const char *text, uint64_t *pages)
{
	uint64_t v;
	bool mib;
	if (parse_u64(text, "MiB", &v, &mib) < 0 || v > (1ULL << 40))
		return -EINVAL;
	*pages = mib ? v * (1048576 / BM_PAGE_SIZE) : v;
	return 0;
}

int bm_precopy_parse_mib(const char *text, uint64_t *bytes)
{
	uint64_t v;
	bool sfx;
	if (parse_u64(text, "MiB", &v, &sfx) < 0 || v < 1 || v > (1ULL << 30))
		return -EINVAL;
	*bytes = v << 20;
	return 0;
}

int bm_precopy_probe(char *why, size_t n)
{
	if (bm_pagescan_probe(why, n) < 0)
		return -EOPNOTSUPP;
	int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | UFFD_USER_MODE_ONLY_FLAG);
	if (fd < 0) {
		snprintf(why, n, "userfaultfd is not available (%s)", strerror(errno));
		return -EOPNOTSUPP;
	}
	struct uffdio_api api = {.api = UFFD_API, .features = WANT_FEATURES};
	int rc = ioctl(fd, UFFDIO_API, &api);
	int e = errno;
	close(fd);
	if (rc < 0 || (api.features & WANT_FEATURES) != WANT_FEATURES) {
		snprintf(why, n, "this kernel's userfaultfd lacks asynchronous write-protection (WP_ASYNC, WP_UNPOPULATED)%s%s",
			 rc < 0 ? ": " : "", rc < 0 ? strerror(e) : "");
		return -EOPNOTSUPP;
	}
	return 0;
}

/* Private memory that the process can write: anonymous, or private file
 * mappings (their written pages are anonymous copies).  Not droppable
 * memory: userfaultfd refuses it, and the kernel empties its pages
 * without their counting as written; the final image carries it whole. */
static bool trackable(const struct bm_vma *v)
{
	return bm_vma_has_pages(v) && !(v->flags & (BM_VMA_SHARED | BM_VMA_SHMEM | BM_VMA_SHMFILE | BM_VMA_DROPPABLE)) &&
	       (v->prot & PROT_WRITE);
}

static int unavailable(struct bm_precopy *pc, const char *fmt, const char *detail)
{
	snprintf(pc->why, sizeof pc->why, fmt, detail);
	return -EOPNOTSUPP;
}

/* With the process frozen: the userfaultfd made inside it, taken out, and
 * its own descriptor closed again. */
static int take_uffd(struct bm_precopy *pc, struct bm_frozen *f)
{
	long fd;
	int rc = bm_inject(&f->tracees[0], SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK, 0, 0, 0, 0, 0, &fd);
	if (rc < 0)
		return rc;
	if (bm_fault(BM_FP_PRECOPY_UFFD)) {
		if (fd >= 0)
			bm_inject(&f->tracees[0], SYS_close, (uint64_t)fd, 0, 0, 0, 0, 0, &(long){0});
		fd = -errno;
	}
	if (fd < 0)
		return unavailable(pc, "userfaultfd() failed in the process (%s)", strerror((int)-fd));
	int pidfd = (int)syscall(SYS_pidfd_open, pc->pid, 0);
	pc->uffd = pidfd < 0 ? -1 : (int)syscall(SYS_pidfd_getfd, pidfd, (int)fd, 0);
	int e = errno;
	if (pidfd >= 0)
		close(pidfd);
	long closed;
	rc = bm_inject(&f->tracees[0], SYS_close, (uint64_t)fd, 0, 0, 0, 0, 0, &closed);
	if (rc < 0)
		return rc;
	if (closed < 0)
		return bm_error_errno(BM_EXIT_TARGET, (int)-closed, "cannot close the userfaultfd in process %d again",
				      pc->pid);
	if (pc->uffd < 0)
		return bm_error_errno(BM_EXIT_FAILURE, e, "pidfd_getfd of process %d's userfaultfd", pc->pid);
	struct uffdio_api api = {.api = UFFD_API, .features = WANT_FEATURES};
	if (ioctl(pc->uffd, UFFDIO_API, &api) < 0)
		return unavailable(pc, "the userfaultfd lacks asynchronous write-protection (%s)", strerror(errno));
	return 0;
}

/* Registers and write-protects every trackable VMA.  One that the kernel
 * refuses (already registered by the process itself, a special mapping)
 * is simply not tracked: the final image carries it whole. */
static int track(struct bm_precopy *pc, const struct bm_process *p)
{
	pc->tracked = calloc(p->nvmas ? p->nvmas : 1, sizeof *pc->tracked);
	pc->sent = calloc(p->nvmas ? p->nvmas : 1, sizeof *pc->sent);
	if (!pc->tracked || !pc->sent)
		return bm_error(BM_EXIT_FAILURE, "out of memory");
	for (uint32_t i = 0; i < p->nvmas && pc->ntracked < BM_PRECOPY_MAX_RANGES; i++) {
		const struct bm_vma *v = &p->vmas[i];
		if (!trackable(v))
			continue;
		struct uffdio_register reg = {.range = {v->start, v->end - v->start}, .mode = UFFDIO_REGISTER_MODE_WP};
		if (ioctl(pc->uffd, UFFDIO_REGISTER, &reg) < 0) {
			bm_debug("pre-copy: 0x%llx-0x%llx not tracked: %s", (unsigned long long)v->start,
				 (unsigned long long)v->end, strerror(errno));
			continue;
		}
		struct uffdio_writeprotect wp = {.range = reg.range, .mode = UFFDIO_WRITEPROTECT_MODE_WP};
		if (ioctl(pc->uffd, UFFDIO_WRITEPROTECT, &wp) < 0)
			return bm_error_errno(BM_EXIT_FAILURE, errno, "cannot write-protect 0x%llx in process %d",
					      (unsigned long long)v->start, pc->pid);
		uint64_t pages = (v->end - v->start) / BM_PAGE_SIZE;
		if (!(pc->sent[pc->ntracked] = calloc((pages + 63) / 64, sizeof **pc->sent)))
			return bm_error(BM_EXIT_FAILURE, "out of memory");
		pc->tracked[pc->ntracked++] = (struct bm_range){v->start, v->end};
	}
	return 0;
}

struct start_args {
	struct bm_precopy *pc;
	const struct bm_fd_policy *policy;
};

/* Frozen for a moment, on the tracing thread (bm_run_traced). */
static int start_tracking(void *arg)
{
	const struct start_args *a = arg;
	struct bm_frozen f;
	int rc = bm_freeze(a->pc->pid, &f, a->policy, NULL);
	if (rc < 0)
		return rc;
	rc = take_uffd(a->pc, &f);
	if (rc == 0)
		rc = track(a->pc, &f.proc);
	if (rc == 0)
		bm_memory_own_uffd(a->pc->pid, a->pc->tracked, a->pc->ntracked);
	int rel = bm_release(&f, false);
	return rc == 0 && rel < 0 ? rel : rc;
}

int bm_precopy_start(struct bm_precopy *pc, pid_t pid, const struct bm_fd_policy *policy)
{
	memset(pc, 0, sizeof *pc);
	pc->pid = pid;
	pc->uffd = pc->pagemap = -1;
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/pagemap", pid);
	pc->pagemap = open(path, O_RDONLY | O_CLOEXEC);
	pc->buf = aligned_alloc(BM_PAGE_SIZE, (size_t)BM_PRECOPY_RUN_PAGES * BM_PAGE_SIZE);
	if (pc->pagemap < 0)
		return bm_error_errno(BM_EXIT_TARGET, errno, "cannot open %s", path);
	if (!pc->buf)
		return bm_error(BM_EXIT_FAILURE, "out of memory");
	if (!bm_pagescan_available(pc->pagemap))
		return unavailable(pc, "%s", "this kernel has no PAGEMAP_SCAN ioctl");
	/* This freeze leaves the process running on (sk_dgram_kernel.h). */
	struct bm_fd_policy first = *policy;
	first.original_runs_on = true;
	struct start_args a = {pc, &first};
	int rc = bm_run_traced(start_tracking, &a);
	if (rc < 0 && pc->uffd >= 0) {
		close(pc->uffd); /* unregisters whatever was registered */
		pc->uffd = -1;
		bm_memory_own_uffd(0, NULL, 0);
	}
	if (rc < 0) {
		for (size_t i = 0; pc->sent && i < pc->ntracked; i++)
			free(pc->sent[i]);
		pc->ntracked = 0;
	}
	return rc;
}

/* The tracked range holding addr, or -1. */
ssize_t bm_range_find(const void *base, size_t n, size_t stride, uint64_t addr)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		const struct bm_range *r = (const void *)((const char *)base + mid * stride);
		if (r->end <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && ((const struct bm_range *)(const void *)((const char *)base + lo * stride))->start <= addr
		       ? (ssize_t)lo
		       : -1;
}

static ssize_t range_of(const struct bm_precopy *pc, uint64_t addr)
{
	return bm_range_find(pc->tracked, pc->ntracked, sizeof *pc->tracked, addr);
}

static void mark_sent(struct bm_precopy *pc, uint64_t addr, uint32_t n)
{
	ssize_t i = range_of(pc, addr);
	for (uint32_t j = 0; i >= 0 && j < n; j++) {
		uint64_t a = addr + (uint64_t)j * BM_PAGE_SIZE;
		if (a >= pc->tracked[i].end && (i = range_of(pc, a)) < 0)
			break;
		uint64_t pg = (a - pc->tracked[i].start) / BM_PAGE_SIZE;
		pc->sent[i][pg / 64] |= 1ULL << (pg % 64);
	}
}

static bool was_sent(const struct bm_precopy *pc, size_t i, uint64_t addr)
{
	uint64_t pg = (addr - pc->tracked[i].start) / BM_PAGE_SIZE;
	return pc->sent[i][pg / 64] & (1ULL << (pg % 64));
}

static int send_run(struct bm_precopy *pc, uint64_t addr, uint32_t n, const void *data, struct bm_precopy_round *r)
{
	uint8_t h[BM_PRECOPY_PAGES_HEADER];
	bm_store_le64(h, addr);
	bm_store_le32(h + 8, n);
	bm_store_le32(h + 12, data ? 0 : BM_PRECOPY_ZERO);
	struct iovec iov[2] = {{h, sizeof h}, {(void *)data, data ? (size_t)n * BM_PAGE_SIZE : 0}};
	int rc = bm_fault(BM_FP_PRECOPY_SEND) ? bm_error_errno(BM_EXIT_NETWORK, errno, "sending a pre-copy round")
					       : bm_frame_send(pc->conn, BM_MSG_PRECOPY_PAGES, iov, data ? 2 : 1,
							       BM_IO_TIMEOUT_MS);
	if (rc == 0) {
		r->pages += n;
		r->bytes += data ? (uint64_t)n * BM_PAGE_SIZE : 0;
		mark_sent(pc, addr, n);
	}
	return rc;
}

/* A page that cannot be read now (unmapped or made inaccessible while the
 * process runs): marked written again, so that a later round, or the
 * final image, looks at it.  Gone from the map: nothing to do. */
static int unreadable(struct bm_precopy *pc, uint64_t addr)
{
	struct uffdio_writeprotect wp = {.range = {addr, BM_PAGE_SIZE}, .mode = 0};
	if (ioctl(pc->uffd, UFFDIO_WRITEPROTECT, &wp) == 0 || errno == ENOENT || errno == EINVAL)
		return 0;
	return bm_error_errno(BM_EXIT_TARGET, errno, "pre-copy: cannot re-mark page 0x%llx of process %d",
			      (unsigned long long)addr, pc->pid);
}

/* Reads pages [addr, addr + n pages) (n <= BM_PRECOPY_RUN_PAGES) and sends
 * them as runs of zero and non-zero pages. */
static int send_chunk(struct bm_precopy *pc, uint64_t addr, uint32_t n, struct bm_precopy_round *r)
{
	size_t len = (size_t)n * BM_PAGE_SIZE;
	struct iovec local = {pc->buf, len}, remote = {(void *)addr, len};
	if (process_vm_readv(pc->pid, &local, 1, &remote, 1, 0) != (ssize_t)len) {
		/* Page by page: the readable ones go, the others are looked at again later. */
		int rc = 0;
		for (uint32_t i = 0; rc == 0 && i < n; i++) {
			uint64_t a = addr + (uint64_t)i * BM_PAGE_SIZE;
			if (bm_mem_read(pc->pid, a, pc->buf, BM_PAGE_SIZE) < 0)
				rc = unreadable(pc, a);
			else
				rc = send_run(pc, a, 1, bm_page_is_zero(pc->buf) ? NULL : pc->buf, r);
		}
		return rc;
	}
	uint32_t i = 0;
	while (i < n) {
		bool zero;
		uint32_t j = bm_same_zero_run(pc->buf, i, n, &zero);
		int rc = send_run(pc, addr + (uint64_t)i * BM_PAGE_SIZE, j - i,
				  zero ? NULL : pc->buf + (size_t)i * BM_PAGE_SIZE, r);
		if (rc < 0)
			return rc;
		i = j;
	}
	return 0;
}

struct round_ctx {
	struct bm_precopy *pc;
	struct bm_precopy_round *r;
	int failed;
};

static int send_range(struct round_ctx *rc_, uint64_t start, uint64_t end, bool zero)
{
	for (uint64_t a = start; a < end;) {
		uint64_t n = (end - a) / BM_PAGE_SIZE;
		if (n > BM_PRECOPY_RUN_PAGES)
			n = BM_PRECOPY_RUN_PAGES;
		int rc = zero ? send_run(rc_->pc, a, (uint32_t)n, NULL, rc_->r) : send_chunk(rc_->pc, a, (uint32_t)n, rc_->r);
		if (rc < 0)
			return rc_->failed = rc;
		a += n * BM_PAGE_SIZE;
	}
	return 0;
}

/* Round 1: every present page; a page-cache page of a private file
 * mapping comes from the file at the destination.  "Swapped" pages are
 * mostly the write-protect markers of pages never touched: reading them
 * would fill the whole area; the few really swapped go in the image. */
static int present_run(void *ctx, const struct bm_scan_run *run)
{
	if ((run->cats & BM_PAGE_IS_FILE) || !(run->cats & BM_PAGE_IS_PRESENT))
		return 0;
	return send_range(ctx, run->start, run->end, (run->cats & BM_PAGE_IS_PFNZERO) != 0);
}

static int dirty_run(void *ctx, const struct bm_scan_run *run)
{
	return send_range(ctx, run->start, run->end, false);
}

static int count_run(void *ctx, const struct bm_scan_run *run)
{
	*(uint64_t *)ctx += (run->end - run->start) / BM_PAGE_SIZE;
	return 0;
}

static int scan_failed(struct bm_precopy *pc, int rc, const struct bm_range *t)
{
	return bm_error_errno(BM_EXIT_TARGET, -rc, "pre-copy: cannot scan the pages of process %d at 0x%llx", pc->pid,
			      (unsigned long long)t->start);
}

static int run_round(struct bm_precopy *pc, unsigned k)
{
	struct bm_precopy_round *r = &pc->rounds[k];
	struct round_ctx ctx = {pc, r, 0};
	uint64_t t0 = bm_now_us();
	for (size_t i = 0; i < pc->ntracked; i++) {
		const struct bm_range *t = &pc->tracked[i];
		int rc = k == 0 ? bm_pagescan(pc->pagemap, t->start, t->end, &q_present, present_run, &ctx)
				: bm_pagescan(pc->pagemap, t->start, t->end, &q_dirty_rearm, dirty_run, &ctx);
		if (rc < 0)
			return ctx.failed ? rc : scan_failed(pc, rc, t);
	}
	uint8_t end[24];
	bm_store_le32(end, k + 1);
	bm_store_le32(end + 4, 0);
	bm_store_le64(end + 8, r->pages);
	bm_store_le64(end + 16, r->bytes);
	int rc = bm_frame_send_buf(pc->conn, BM_MSG_PRECOPY_ROUND, end, sizeof end, BM_IO_TIMEOUT_MS);
	r->us = bm_now_us() - t0;
	pc->nrounds = k + 1;
	return rc;
}

/* Test builds: with BINMIG_TEST_PRECOPY_SYNC=DIR, after round K binmig
 * creates DIR/round-K (the line "round K") and waits (at most 30 s) for DIR/ack-K, so that a
 * test program can change its memory between rounds deterministically. */
static void test_sync(unsigned k)
{
	const char *dir = getenv("BINMIG_TEST_PRECOPY_SYNC");
	if (!dir || !*dir)
		return;
	char made[32], line[32], awaited[32];
	snprintf(made, sizeof made, "round-%u", k);
	snprintf(line, sizeof line, "round %u", k);
	snprintf(awaited, sizeof awaited, "ack-%u", k);
	bm_test_gate(dir, made, line, awaited);
}

/* Pages written since the last round, counted without protecting them. */
static int count_dirty(struct bm_precopy *pc, uint64_t *n)
{
	*n = 0;
	for (size_t i = 0; i < pc->ntracked; i++) {
		int rc = bm_pagescan(pc->pagemap, pc->tracked[i].start, pc->tracked[i].end, &q_dirty, count_run, n);
		if (rc < 0)
			return scan_failed(pc, rc, &pc->tracked[i]);
	}
	return 0;
}

static int send_begin(struct bm_precopy *pc)
{
	struct bm_wbuf b;
	bm_wbuf_init(&b);
	bm_put_u32(&b, (uint32_t)pc->ntracked);
	bm_put_u32(&b, pc->uffd < 0 ? BM_PRECOPY_UNTRACKED : 0);
	for (size_t i = 0; i < pc->ntracked; i++) {
		bm_put_u64(&b, pc->tracked[i].start);
		bm_put_u64(&b, pc->tracked[i].end);
	}
	int rc = bm_wbuf_status(&b) < 0 ? bm_error(BM_EXIT_FAILURE, "out of memory")
					: bm_frame_send_buf(pc->conn, BM_MSG_PRECOPY_BEGIN, b.data, b.len, BM_IO_TIMEOUT_MS);
	bm_wbuf_free(&b);
	return rc;
}

int bm_precopy_rounds(struct bm_precopy *pc, struct bm_conn *conn, const struct bm_precopy_opts *o)
{
	pc->conn = conn;
	if (pc->uffd < 0)
		pc->ntracked = 0;
	int rc = send_begin(pc);
	if (rc < 0 || pc->uffd < 0)
		return rc;
	uint64_t prev = UINT64_MAX;
	for (unsigned k = 0;; k++) {
		if ((rc = run_round(pc, k)) < 0)
			return rc;
		test_sync(k + 1);
		uint64_t t_end = bm_now_us(), dirty;
		/* How much was written while this round went out decides. */
		if ((rc = count_dirty(pc, &dirty)) < 0)
			return rc;
		pc->dirty_last = dirty;
		pc->dirty_us = pc->rounds[k].us + (bm_now_us() - t_end);
		bm_debug("pre-copy round %u: %llu pages sent in %.1f ms, %llu dirty since", k + 1,
			 (unsigned long long)pc->rounds[k].pages, pc->rounds[k].us / 1000.0, (unsigned long long)dirty);
		if (dirty <= o->threshold_pages || k + 1 >= o->max_rounds || (k > 0 && dirty >= prev))
			return 0;
		prev = dirty;
	}
}

/* --- the final phase, frozen ------------------------------------------- */

struct runs {
	struct bm_range *r;
	size_t n, cap;
	size_t first_mergeable; /* runs before it end a tracked range: never extended */
	int failed;
};

static int runs_add(struct runs *rs, uint64_t start, uint64_t end)
{
	if (rs->n > rs->first_mergeable && rs->r[rs->n - 1].end == start) {
		rs->r[rs->n - 1].end = end;
		return 0;
	}
	if (rs->n == rs->cap) {
		size_t cap = rs->cap ? rs->cap * 2 : 256;
		struct bm_range *r = realloc(rs->r, cap * sizeof *r);
		if (!r)
			return rs->failed = bm_error(BM_EXIT_FAILURE, "out of memory");
		rs->r = r;
		rs->cap = cap;
	}
	rs->r[rs->n++] = (struct bm_range){start, end};
	return 0;
}

static int collect_run(void *ctx, const struct bm_scan_run *run)
{
	return runs_add(ctx, run->start, run->end);
}

struct keep_ctx {
	struct bm_precopy *pc;
	size_t range;          /* index of the tracked range being looked at */
	const struct bm_vma *v;
	struct runs dirty;     /* of the tracked run being looked at */
	size_t dirty_at;
	struct runs keep;
	int reported;          /* a failure of a callback, reported already */
};

/* Wanted pages of one present-scan run: kept unless written (or the zero
 * page, which costs the image nothing and may be newer than the copy). */
/* Pages [s, e) not written since the last round: kept where the
 * destination has them, else carried by the image. */
static int keep_sent(struct keep_ctx *k, uint64_t s, uint64_t e)
{
	uint64_t run = s;
	for (uint64_t a = s; a < e; a += BM_PAGE_SIZE) {
		if (was_sent(k->pc, k->range, a))
			continue;
		if (a > run && runs_add(&k->keep, run, a) < 0)
			return k->keep.failed;
		run = a + BM_PAGE_SIZE;
	}
	return e > run && runs_add(&k->keep, run, e) < 0 ? k->keep.failed : 0;
}

static int keep_run(void *ctx, const struct bm_scan_run *run)
{
	struct keep_ctx *k = ctx;
	if (!bm_scan_wanted(k->v, run->cats) || (run->cats & BM_PAGE_IS_PFNZERO))
		return 0;
	uint64_t s = run->start;
	while (s < run->end) {
		while (k->dirty_at < k->dirty.n && k->dirty.r[k->dirty_at].end <= s)
			k->dirty_at++;
		const struct bm_range *d = k->dirty_at < k->dirty.n ? &k->dirty.r[k->dirty_at] : NULL;
		if (!d || d->start >= run->end) {
			if (keep_sent(k, s, run->end) < 0)
				return k->keep.failed;
			break;
		}
		if (d->start > s && keep_sent(k, s, d->start) < 0)
			return k->keep.failed;
		s = d->end < run->end ? d->end : run->end;
	}
	return 0;
}

static int keep_tracked(void *ctx, const struct bm_scan_run *t)
{
	struct keep_ctx *k = ctx;
	k->dirty.n = 0;
	k->dirty_at = 0;
	int rc = bm_pagescan(k->pc->pagemap, t->start, t->end, &q_dirty, collect_run, &k->dirty);
	if (rc == 0)
		rc = bm_pagescan(k->pc->pagemap, t->start, t->end, &bm_scan_wanted_query, keep_run, k);
	if (rc < 0 && !k->dirty.failed && !k->keep.failed)
		rc = scan_failed(k->pc, rc, &(struct bm_range){t->start, t->end});
	return k->reported = rc;
}

static int send_keep(struct bm_precopy *pc, uint64_t pages)
{
	uint8_t *buf = malloc((size_t)BM_PRECOPY_KEEP_PER_FRAME * 16);
	if (!buf)
		return bm_error(BM_EXIT_FAILURE, "out of memory");
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < pc->nkeep; i += BM_PRECOPY_KEEP_PER_FRAME) {
		size_t n = pc->nkeep - i < BM_PRECOPY_KEEP_PER_FRAME ? pc->nkeep - i : BM_PRECOPY_KEEP_PER_FRAME;
		for (size_t j = 0; j < n; j++) {
			bm_store_le64(buf + j * 16, pc->keep[i + j].start);
			bm_store_le64(buf + j * 16 + 8, (pc->keep[i + j].end - pc->keep[i + j].start) / BM_PAGE_SIZE);
		}
		rc = bm_frame_send_buf(pc->conn, BM_MSG_PRECOPY_KEEP, buf, n * 16, BM_IO_TIMEOUT_MS);
	}
	if (rc == 0) {
		bm_store_le64(buf, pc->nkeep);
		bm_store_le64(buf + 8, pages);
		rc = bm_frame_send_buf(pc->conn, BM_MSG_PRECOPY_KEEP_END, buf, 16, BM_IO_TIMEOUT_MS);
	}
	free(buf);
	return rc;
}

/* Once the kept runs are known, the tracking is over: binmig's userfaultfd
 * is closed, which unregisters the process's memory and takes out the
 * write-protect markers the kernel left in its untouched pages.  The
 * checkpoint that follows (and hybrid's post-copy plan) would else find
 * them as swapped pages and read them: as zero pages of anonymous memory,
 * and as file contents of a private file mapping, whose pages would then
 * be copies at the destination that no longer follow the file. */
static void untrack(struct bm_precopy *pc)
{
	if (pc->uffd < 0)
		return;
	bm_memory_own_uffd(0, NULL, 0);
	close(pc->uffd);
	pc->uffd = -1;
}

int bm_precopy_final(struct bm_precopy *pc, struct bm_frozen *f)
{
	struct keep_ctx k = {.pc = pc};
	int rc = 0;
	size_t t = 0;
	for (uint32_t i = 0; rc == 0 && pc->uffd >= 0 && i < f->proc.nvmas; i++) {
		const struct bm_vma *v = &f->proc.vmas[i];
		if (!bm_vma_has_pages(v) || (v->flags & (BM_VMA_SHARED | BM_VMA_SHMEM | BM_VMA_SHMFILE)))
			continue;
		k.v = v;
		while (t < pc->ntracked && pc->tracked[t].end <= v->start)
			t++;
		/* Only what is still registered has been watched all along. */
		for (size_t j = t; rc == 0 && j < pc->ntracked && pc->tracked[j].start < v->end; j++) {
			/* A kept run never spans two ranges: the destination stores each apart. */
			if (pc->tracked[j].start >= v->start)
				k.keep.first_mergeable = k.keep.n;
			k.range = j;
			uint64_t s = pc->tracked[j].start > v->start ? pc->tracked[j].start : v->start;
			uint64_t e = pc->tracked[j].end < v->end ? pc->tracked[j].end : v->end;
			rc = bm_pagescan(pc->pagemap, s, e, &q_tracked, keep_tracked, &k);
			if (rc < 0 && !k.reported)
				rc = scan_failed(pc, rc, &(struct bm_range){s, e});
		}
	}
	free(k.dirty.r);
	pc->keep = k.keep.r;
	pc->nkeep = k.keep.n;
	pc->capkeep = k.keep.cap;
	if (rc < 0)
		return rc;
	/* A process that forked since the rounds is frozen as a tree, whose
	 * checkpoint writes every member's pages whole: nothing is kept (the
	 * destination would copy the root's pages into every member). */
	if (f->tree)
		pc->nkeep = 0;
	uint64_t pages = 0;
	for (size_t i = 0; i < pc->nkeep; i++)
		pages += (pc->keep[i].end - pc->keep[i].start) / BM_PAGE_SIZE;
	/* The checkpoint counts the tracked pages it writes (final_dirty):
	 * no second scan of the frozen process. */
	pc->final_dirty = 0;
	pc->skip = (struct bm_page_skip){pc->keep, pc->nkeep, pc->tracked, pc->ntracked, &pc->final_dirty};
	f->skip_pages = &pc->skip;
	untrack(pc);
	bm_debug("pre-copy final: %llu pages kept in %zu runs", (unsigned long long)pages, pc->nkeep);
	return send_keep(pc, pages);
}

void bm_precopy_end(struct bm_precopy *pc)
{
	untrack(pc);
	if (pc->pagemap >= 0)
		close(pc->pagemap);
	for (size_t i = 0; pc->sent && i < pc->ntracked; i++)
		free(pc->sent[i]);
	free(pc->sent);
	pc->sent = NULL;
	free(pc->tracked);
	free(pc->keep);
	free(pc->buf);
	pc->uffd = pc->pagemap = -1;
	pc->tracked = pc->keep = NULL;
	pc->buf = NULL;
}

void bm_precopy_stats(const struct bm_precopy *pc, struct bm_stats *st)
{
	st->precopy_rounds = pc->nrounds;
	st->precopy_pages = st->precopy_bytes = 0;
	size_t at = 0;
	for (unsigned i = 0; i < pc->nrounds; i++) {
		st->precopy_pages += (int64_t)pc->rounds[i].pages;
		st->precopy_bytes += (int64_t)pc->rounds[i].bytes;
		at += (size_t)snprintf(st->precopy_detail + at, sizeof st->precopy_detail - at, "%s%llu/%llu/%llu",
				       i ? ";" : "", (unsigned long long)pc->rounds[i].pages,
				       (unsigned long long)pc->rounds[i].bytes, (unsigned long long)pc->rounds[i].us);
		if (at >= sizeof st->precopy_detail)
			break;
	}
	st->precopy_final_pages = (int64_t)pc->final_dirty;
	st->dirty_pages_per_s = pc->dirty_us ? (int64_t)(pc->dirty_last * 1000000 / pc->dirty_us) : 0;
}
