/* Post-copy, the destination side (postcopy.h): the lazy pages of the
 * new process placed through its userfaultfd as they arrive, its faults
 * served, its own changes to its memory followed. */
#include "postcopy.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/userfaultfd.h>

#include "fault.h"
#include "log.h"
#include "migrate.h"
#include "pagescan.h"
#include "precopy.h"
#include "procfs.h"
#include "ptrace_ctl.h"
#include "wire.h"

/* Newer than some system headers (Linux 6.6). */
#ifndef UFFD_FEATURE_POISON
#define UFFD_FEATURE_POISON (1 << 14)
#endif
#ifndef UFFDIO_POISON
struct uffdio_poison {
	struct uffdio_range range;
	__u64 mode;
	__s64 updated;
};
#define UFFDIO_POISON _IOWR(UFFDIO, 0x08, struct uffdio_poison)
#endif

#define FEATURES                                                                                      \
	(UFFD_FEATURE_EVENT_FORK | UFFD_FEATURE_EVENT_REMAP | UFFD_FEATURE_EVENT_REMOVE |              \
	 UFFD_FEATURE_EVENT_UNMAP)
#define RECV_MAX (BM_POSTCOPY_PAGES_HEADER + (size_t)BM_POSTCOPY_PAGES_MAX * BM_PAGE_SIZE)
#define MAX_RUNS (1u << 24)
#define MAX_MMS 256 /* the process and the processes it forks meanwhile */

/* Where lazy pages are in one address space: [dst, end) holds the pages
 * that were at src at the source.  The process's own memory starts with
 * one segment per lazy run, in place; mremap moves them, munmap cuts them. */
struct seg {
	uint64_t dst, end, src;
};

struct bm_postcopy_mm {
	int uffd;
	uint64_t *needed;      /* per lazy page: still to be placed here */
	struct seg *by_dst;    /* sorted by dst */
	struct seg *by_src;    /* the same, sorted by src */
	size_t nsegs;
	bool gone;             /* the address space ended */
};

/* A thread waiting for a page from the source. */
struct waiter {
	size_t mm;
	uint64_t addr, page, t0;
};

/* A fault to answer with a zero page once the map stops changing. */
struct retry {
	size_t mm;
	uint64_t addr;
};

struct serve {
	struct bm_postcopy_dest *d;
	struct bm_conn *conn;
	uint64_t *arrived, *requested; /* per lazy page */
	struct waiter *w;
	size_t nw, capw;
	struct retry *retry;           /* zero pages refused with EAGAIN (an event not read yet) */
	size_t nretry, capretry;
	uint8_t *buf;
	int failed;
};

static int proto(const char *what)
{
	return bm_error_errno(BM_EXIT_NETWORK, EPROTO, "malformed post-copy message: %s", what);
}

static bool bit(const uint64_t *b, uint64_t i)
{
	return b[i / 64] & (1ULL << (i % 64));
}

static void set_bit(uint64_t *b, uint64_t i, bool on)
{
	if (on)
		b[i / 64] |= 1ULL << (i % 64);
	else
		b[i / 64] &= ~(1ULL << (i % 64));
}

/* The index of the lazy page at source address addr, or -1. */
static int64_t page_of(const struct bm_postcopy_dest *d, uint64_t addr)
{
	ssize_t r = bm_range_find(d->lazy, d->nlazy, sizeof *d->lazy, addr);
	return r < 0 ? -1 : (int64_t)(d->first_page[r] + (addr - d->lazy[r].start) / BM_PAGE_SIZE);
}

/* --- the plan ------------------------------------------------------------- */

static int add_runs(struct bm_postcopy_dest *d, const uint8_t *buf, size_t len, size_t *cap)
{
	if (len == 0 || len % 16 || len / 16 > BM_POSTCOPY_RUNS_PER_FRAME || d->nlazy + len / 16 > MAX_RUNS)
		return proto("POSTCOPY_RUNS");
	for (size_t i = 0; i < len / 16; i++) {
		uint64_t s = bm_load_le64(buf + i * 16), n = bm_load_le64(buf + i * 16 + 8);
		uint64_t prev = d->nlazy ? d->lazy[d->nlazy - 1].end : 0;
		if (n == 0 || n > (1ULL << 35) || !bm_precopy_range_ok(s, s + n * BM_PAGE_SIZE, prev))
			return proto("POSTCOPY_RUNS ranges");
		if (d->nlazy == *cap) {
			*cap = *cap ? *cap * 2 : 1024;
			struct bm_range *r = realloc(d->lazy, *cap * sizeof *r);
			if (!r)
				return bm_error(BM_EXIT_FAILURE, "out of memory");
			d->lazy = r;
		}
		d->lazy[d->nlazy++] = (struct bm_range){s, s + n * BM_PAGE_SIZE};
		d->lazy_pages += n;
	}
	return 0;
}

int bm_postcopy_receive_plan(struct bm_postcopy_dest *d, struct bm_conn *conn, int timeout_ms)
{
	memset(d, 0, sizeof *d);
	d->proc_fd = -1;
	uint8_t *buf = malloc((size_t)BM_POSTCOPY_RUNS_PER_FRAME * 16);
	if (!buf)
		return bm_error(BM_EXIT_FAILURE, "out of memory");
	size_t cap = 0;
	int rc = 0;
	for (;;) {
		uint8_t type;
		size_t len;
		if ((rc = bm_frame_recv(conn, &type, buf, (size_t)BM_POSTCOPY_RUNS_PER_FRAME * 16, &len, timeout_ms)) < 0)
			break;
		if (type == BM_MSG_POSTCOPY_RUNS) {
			if ((rc = add_runs(d, buf, len, &cap)) < 0)
				break;
			continue;
		}
		if (type != BM_MSG_POSTCOPY_RUNS_END || len != 16)
			rc = proto("POSTCOPY_RUNS_END expected");
		else if (bm_load_le64(buf) != d->nlazy || bm_load_le64(buf + 8) != d->lazy_pages)
			rc = proto("POSTCOPY_RUNS_END totals");
		break;
	}
	free(buf);
	if (rc == 0 && !(d->first_page = malloc((d->nlazy ? d->nlazy : 1) * sizeof *d->first_page)))
		rc = bm_error(BM_EXIT_FAILURE, "out of memory");
	for (size_t i = 0, at = 0; rc == 0 && i < d->nlazy; i++) {
		d->first_page[i] = at;
		at += (d->lazy[i].end - d->lazy[i].start) / BM_PAGE_SIZE;
	}
	return rc;
}

/* --- the userfaultfd, during the restore ---------------------------------- */

static uint64_t *bitmap(uint64_t bits, bool ones)
{
	uint64_t *b = malloc(((bits + 63) / 64 + 1) * sizeof *b);
	if (b)
		memset(b, ones ? 0xff : 0, ((bits + 63) / 64 + 1) * sizeof *b);
	return b;
}

static int by_dst(const void *a, const void *b)
{
	uint64_t x = ((const struct seg *)a)->dst, y = ((const struct seg *)b)->dst;
	return x < y ? -1 : x > y;
}

static int by_src(const void *a, const void *b)
{
	uint64_t x = ((const struct seg *)a)->src, y = ((const struct seg *)b)->src;
	return x < y ? -1 : x > y;
}

/* mm's segments sorted both ways, from by_dst (n of them). */
static int sort_segs(struct bm_postcopy_mm *m, size_t n)
{
	struct seg *s = realloc(m->by_src, (n ? n : 1) * sizeof *s);
	if (!s)
		return bm_error(BM_EXIT_FAILURE, "out of memory");
	m->by_src = s;
	m->nsegs = n;
	qsort(m->by_dst, n, sizeof *m->by_dst, by_dst);
	memcpy(m->by_src, m->by_dst, n * sizeof *s);
	qsort(m->by_src, n, sizeof *s, by_src);
	return 0;
}

/* A new address space: the process's own (parent -1: every lazy page
 * needed, in place), or a copy of mms[parent] for a process it forked. */
static int add_mm(struct bm_postcopy_dest *d, int uffd, ssize_t parent_at)
{
	if (d->nmms == MAX_MMS) {
		close(uffd);
		return bm_error(BM_EXIT_UNSUPPORTED, "the process forked more than %d times during post-copy", MAX_MMS - 1);
	}
	struct bm_postcopy_mm *ms = realloc(d->mms, (d->nmms + 1) * sizeof *ms);
	if (!ms) {
		close(uffd);
		return bm_error(BM_EXIT_FAILURE, "out of memory");
	}
	d->mms = ms;
	const struct bm_postcopy_mm *parent = parent_at < 0 ? NULL : &ms[parent_at];
	struct bm_postcopy_mm *m = &ms[d->nmms];
	*m = (struct bm_postcopy_mm){.uffd = uffd};
	size_t n = parent ? parent->nsegs : d->nlazy;
	m->needed = bitmap(d->lazy_pages, !parent);
	m->by_dst = malloc((n ? n : 1) * sizeof *m->by_dst);
	if (!m->needed || !m->by_dst) {
		free(m->needed);
		free(m->by_dst);
		close(uffd);
		return bm_error(BM_EXIT_FAILURE, "out of memory");
	}
	if (parent) {
		memcpy(m->needed, parent->needed, ((d->lazy_pages + 63) / 64 + 1) * sizeof *m->needed);
		memcpy(m->by_dst, parent->by_dst, n * sizeof *m->by_dst);
	} else {
		for (size_t i = 0; i < n; i++)
			m->by_dst[i] = (struct seg){d->lazy[i].start, d->lazy[i].end, d->lazy[i].start};
	}
	d->nmms++;
	int rc = sort_segs(m, n);
	if (rc < 0) {
		d->nmms--;
		free(m->needed);
		free(m->by_dst);
		close(uffd);
	}
	return rc;
}

/* UFFDIO_API with the events binmig follows, and poisoning where the
 * kernel has it (a failed call leaves the descriptor as it was). */
static int api(int uffd)
{
	struct uffdio_api a = {.api = UFFD_API, .features = FEATURES | UFFD_FEATURE_POISON};
	if (ioctl(uffd, UFFDIO_API, &a) == 0)
		return 0;
	a = (struct uffdio_api){.api = UFFD_API, .features = FEATURES};
	if (ioctl(uffd, UFFDIO_API, &a) == 0)
		return 0;
	return bm_error_errno(BM_EXIT_CONFLICT, errno,
			      "this kernel's userfaultfd cannot follow a process's memory (fork, mremap, munmap and "
			      "madvise events): post-copy is not possible here");
}

int bm_postcopy_make_uffd(struct bm_postcopy_dest *d, pid_t pid, struct bm_tracee *tr)
{
	d->pid = pid;
	long fd;
	int rc = bm_inject(tr, SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK, 0, 0, 0, 0, 0, &fd);
	if (rc < 0)
		return rc;
	if (fd < 0)
		return bm_error_errno(BM_EXIT_CONFLICT, (int)-fd, "cannot make a userfaultfd in the new process %d",
				      (int)pid);
	/* Out of the way of the numbers the process will open next. */
	long high;
	if ((rc = bm_inject(tr, SYS_fcntl, (uint64_t)fd, F_DUPFD_CLOEXEC, BM_POSTCOPY_PROC_FD, 0, 0, 0, &high)) < 0 ||
	    (rc = bm_inject(tr, SYS_close, (uint64_t)fd, 0, 0, 0, 0, 0, &(long){0})) < 0)
		return rc;
	if (high < 0)
		return bm_error_errno(BM_EXIT_FAILURE, (int)-high, "cannot move the userfaultfd of process %d", (int)pid);
	fd = high;
	d->proc_fd = (int)fd;
	int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	int uffd = pidfd < 0 ? -1 : (int)syscall(SYS_pidfd_getfd, pidfd, (int)fd, 0);
	int e = errno;
	if (pidfd >= 0)
		close(pidfd);
	if (uffd < 0)
		return bm_error_errno(BM_EXIT_FAILURE, e, "pidfd_getfd of the new process's userfaultfd");
	if ((rc = api(uffd)) < 0) {
		close(uffd);
		return rc;
	}
	return add_mm(d, uffd, -1);
}

static const struct bm_scan_query q_present = {0, 0, BM_PAGE_IS_PRESENT | BM_PAGE_IS_SWAPPED,
					       BM_PAGE_IS_PRESENT | BM_PAGE_IS_SWAPPED};

static int found_present(void *ctx, const struct bm_scan_run *run)
{
	*(uint64_t *)ctx = run->start;
	return -EEXIST;
}

int bm_postcopy_register(struct bm_postcopy_dest *d)
{
	struct bm_maps_entry *maps;
	size_t nmaps;
	int rc = bm_read_maps(d->pid, &maps, &nmaps);
	if (rc < 0)
		return bm_error_errno(BM_EXIT_FAILURE, -rc, "cannot read the maps of the new process %d", (int)d->pid);
	size_t r = 0;
	for (size_t i = 0; rc == 0 && i < nmaps && r < d->nlazy; i++) {
		if (d->lazy[r].start < maps[i].start) {
			rc = bm_error(BM_EXIT_FAILURE, "post-copy: pages at 0x%llx lie outside the new process's memory",
				      (unsigned long long)d->lazy[r].start);
			break;
		}
		if (d->lazy[r].start >= maps[i].end)
			continue;
		struct uffdio_register reg = {.range = {maps[i].start, maps[i].end - maps[i].start},
					      .mode = UFFDIO_REGISTER_MODE_MISSING};
		if (ioctl(d->mms[0].uffd, UFFDIO_REGISTER, &reg) < 0)
			rc = bm_error_errno(BM_EXIT_FAILURE, errno, "post-copy: cannot register 0x%llx-0x%llx of process %d",
					    (unsigned long long)maps[i].start, (unsigned long long)maps[i].end, (int)d->pid);
		while (r < d->nlazy && d->lazy[r].end <= maps[i].end)
			r++;
		if (rc == 0 && r < d->nlazy && d->lazy[r].start < maps[i].end)
			rc = bm_error(BM_EXIT_FAILURE, "post-copy: pages at 0x%llx span two areas of the new process",
				      (unsigned long long)d->lazy[r].start);
	}
	free(maps);
	if (rc == 0 && r < d->nlazy)
		rc = bm_error(BM_EXIT_FAILURE, "post-copy: pages at 0x%llx lie outside the new process's memory",
			      (unsigned long long)d->lazy[r].start);
	/* Nothing may have filled a lazy page before this point: the page
	 * would then stay as it was filled, and the process differ. */
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/pagemap", (int)d->pid);
	int pagemap = rc == 0 ? open(path, O_RDONLY | O_CLOEXEC) : -1;
	if (rc == 0 && pagemap < 0)
		rc = bm_error_errno(BM_EXIT_FAILURE, errno, "cannot open %s", path);
	uint64_t filled = 0;
	for (size_t i = 0; rc == 0 && i < d->nlazy; i++) {
		rc = bm_pagescan(pagemap, d->lazy[i].start, d->lazy[i].end, &q_present, found_present, &filled);
		if (rc == -EEXIST)
			rc = bm_error(BM_EXIT_FAILURE, "post-copy: page 0x%llx of the new process was filled before its "
				      "contents came", (unsigned long long)filled);
		else if (rc < 0)
			rc = bm_error_errno(BM_EXIT_FAILURE, -rc, "cannot scan the pages of process %d", (int)d->pid);
	}
	if (pagemap >= 0)
		close(pagemap);
	return rc;
}

/* --- serving ------------------------------------------------------------------ */

static const struct seg *seg_find(const struct seg *s, size_t n, uint64_t addr, bool src)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		uint64_t start = src ? s[mid].src : s[mid].dst;
		if (start + (s[mid].end - s[mid].dst) <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == n || (src ? s[lo].src : s[lo].dst) > addr)
		return NULL;
	return &s[lo];
}

static int waiter_add(struct serve *s, size_t mm, uint64_t addr, uint64_t page)
{
	if (s->nw == s->capw) {
		size_t cap = s->capw ? s->capw * 2 : 64;
		struct waiter *w = realloc(s->w, cap * sizeof *w);
		if (!w)
			return bm_error(BM_EXIT_FAILURE, "out of memory");
		s->w = w;
		s->capw = cap;
	}
	s->w[s->nw++] = (struct waiter){mm, addr, page, bm_now_us()};
	return 0;
}

static int latency_add(struct bm_postcopy_dest *d, uint64_t us)
{
	if (d->nlatency == d->caplatency) {
		size_t cap = d->caplatency ? d->caplatency * 2 : 256;
		uint32_t *l = realloc(d->latency_us, cap * sizeof *l);
		if (!l)
			return bm_error(BM_EXIT_FAILURE, "out of memory");
		d->latency_us = l;
		d->caplatency = cap;
	}
	d->latency_us[d->nlatency++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
	return 0;
}

/* Waiters on address range [start, end) of mm (every one when end is 0)
 * are let go: they fault again and are served afresh.  Those whose page
 * was placed count their wait. */
static int release_waiters(struct serve *s, size_t mm, uint64_t start, uint64_t end, bool placed)
{
	size_t k = 0;
	int rc = 0;
	for (size_t i = 0; i < s->nw; i++) {
		struct waiter *w = &s->w[i];
		if (w->mm != mm || (end && (w->addr < start || w->addr >= end))) {
			s->w[k++] = *w;
			continue;
		}
		if (placed && rc == 0)
			rc = latency_add(s->d, bm_now_us() - w->t0);
		if (!placed && !s->d->mms[mm].gone) {
			struct uffdio_range wake = {w->addr, BM_PAGE_SIZE};
			ioctl(s->d->mms[mm].uffd, UFFDIO_WAKE, &wake);
		}
	}
	s->nw = k;
	return rc;
}

/* Page dst of mm is no lazy page (or no longer): zero, as fresh memory. */
static int zero_page(struct serve *s, size_t mm, uint64_t dst)
{
	struct bm_postcopy_mm *m = &s->d->mms[mm];
	struct uffdio_zeropage z = {.range = {dst, BM_PAGE_SIZE}};
	if (ioctl(m->uffd, UFFDIO_ZEROPAGE, &z) == 0 || errno == ENOENT)
		return 0;
	if (errno == EEXIST) { /* placed meanwhile: the thread only needs waking */
		ioctl(m->uffd, UFFDIO_WAKE, &z.range);
		return 0;
	}
	if (errno == ESRCH) {
		m->gone = true;
		return 0;
	}
	if (errno == EAGAIN) { /* the map is changing: again once its event is read */
		if (s->nretry == s->capretry) {
			size_t cap = s->capretry ? s->capretry * 2 : 16;
			struct retry *r = realloc(s->retry, cap * sizeof *r);
			if (!r)
				return bm_error(BM_EXIT_FAILURE, "out of memory");
			s->retry = r;
			s->capretry = cap;
		}
		s->retry[s->nretry++] = (struct retry){mm, dst};
		return 0;
	}
	return bm_error_errno(BM_EXIT_FAILURE, errno, "post-copy: cannot map a zero page at 0x%llx",
			      (unsigned long long)dst);
}

/* The zero pages the kernel refused while the map changed, again (those
 * refused once more go back on the list). */
static int retry_zero_pages(struct serve *s)
{
	size_t n = s->nretry;
	struct retry *r = s->retry;
	s->retry = NULL;
	s->nretry = s->capretry = 0;
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < n; i++)
		rc = s->d->mms[r[i].mm].gone ? 0 : zero_page(s, r[i].mm, r[i].addr);
	free(r);
	return rc;
}

static int fault(struct serve *s, size_t mm, uint64_t addr)
{
	struct bm_postcopy_dest *d = s->d;
	struct bm_postcopy_mm *m = &d->mms[mm];
	addr &= ~(uint64_t)(BM_PAGE_SIZE - 1);
	const struct seg *g = seg_find(m->by_dst, m->nsegs, addr, false);
	int64_t page = g ? page_of(d, g->src + (addr - g->dst)) : -1;
	if (page < 0 || !bit(m->needed, (uint64_t)page))
		return zero_page(s, mm, addr);
	int rc = waiter_add(s, mm, addr, (uint64_t)page);
	if (rc == 0 && !bit(s->requested, (uint64_t)page)) {
		set_bit(s->requested, (uint64_t)page, true);
		uint8_t req[8];
		bm_store_le64(req, g->src + (addr - g->dst));
		d->fig.faults++;
		rc = bm_frame_send_buf(s->conn, BM_MSG_POSTCOPY_REQUEST, req, sizeof req, BM_IO_TIMEOUT_MS);
	}
	return rc;
}

/* mm's segments with the parts in [start, end) of its address space cut
 * out (munmap), or, with `move`, moved to `to` (mremap). */
static int reshape(struct bm_postcopy_mm *m, uint64_t start, uint64_t end, bool move, uint64_t to)
{
	struct seg *out = malloc((m->nsegs * 3 + 1) * sizeof *out);
	if (!out)
		return bm_error(BM_EXIT_FAILURE, "out of memory");
	size_t n = 0;
	for (size_t i = 0; i < m->nsegs; i++) {
		struct seg g = m->by_dst[i];
		if (g.end <= start || g.dst >= end) {
			out[n++] = g;
			continue;
		}
		if (g.dst < start)
			out[n++] = (struct seg){g.dst, start, g.src};
		uint64_t a = g.dst > start ? g.dst : start, b = g.end < end ? g.end : end;
		if (move)
			out[n++] = (struct seg){a - start + to, b - start + to, g.src + (a - g.dst)};
		if (g.end > end)
			out[n++] = (struct seg){end, g.end, g.src + (end - g.dst)};
	}
	free(m->by_dst);
	m->by_dst = out;
	return sort_segs(m, n);
}

/* Lazy pages of mm with dst in [start, end) are no longer needed: the
 * process dropped them (MADV_DONTNEED: they read as zero) or unmapped
 * them (cut: nothing may be placed there again). */
static int drop(struct serve *s, size_t mm, uint64_t start, uint64_t end, bool cut)
{
	struct bm_postcopy_mm *m = &s->d->mms[mm];
	for (size_t i = 0; i < m->nsegs; i++) {
		struct seg *g = &m->by_dst[i];
		uint64_t a = g->dst > start ? g->dst : start, b = g->end < end ? g->end : end;
		for (uint64_t x = a; x < b; x += BM_PAGE_SIZE)
			set_bit(m->needed, (uint64_t)page_of(s->d, g->src + (x - g->dst)), false);
	}
	int rc = release_waiters(s, mm, start, end, false);
	return rc < 0 || !cut ? rc : reshape(m, start, end, false, 0);
}

/* mremap moved [from, from + len) of mm to `to`. */
static int remap(struct serve *s, size_t mm, uint64_t from, uint64_t to, uint64_t len)
{
	int rc = reshape(&s->d->mms[mm], from, from + len, true, to);
	return rc < 0 ? rc : release_waiters(s, mm, from, from + len, false);
}

static int event(struct serve *s, size_t mm, const struct uffd_msg *msg)
{
	switch (msg->event) {
	case UFFD_EVENT_PAGEFAULT:
		return fault(s, mm, msg->arg.pagefault.address);
	case UFFD_EVENT_FORK: /* the new descriptor has the flags of the one it came from; made sure of */
		fcntl((int)msg->arg.fork.ufd, F_SETFL, O_NONBLOCK);
		return add_mm(s->d, (int)msg->arg.fork.ufd, (ssize_t)mm);
	case UFFD_EVENT_REMAP:
		return remap(s, mm, msg->arg.remap.from, msg->arg.remap.to, msg->arg.remap.len);
	case UFFD_EVENT_REMOVE:
		return drop(s, mm, msg->arg.remove.start, msg->arg.remove.end, false);
	case UFFD_EVENT_UNMAP:
		return drop(s, mm, msg->arg.remove.start, msg->arg.remove.end, true);
	default:
		return bm_error(BM_EXIT_FAILURE, "post-copy: unknown userfaultfd event %u", msg->event);
	}
}

/* Every event waiting on mm's userfaultfd. */
static int events(struct serve *s, size_t mm)
{
	for (;;) {
		if (s->d->mms[mm].gone)
			return 0;
		struct uffd_msg msg[32];
		ssize_t n = read(s->d->mms[mm].uffd, msg, sizeof msg);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return 0;
		if (n < 0)
			return bm_error_errno(BM_EXIT_FAILURE, errno, "post-copy: reading the userfaultfd");
		if (n == 0) {
			s->d->mms[mm].gone = true;
			return 0;
		}
		for (size_t i = 0; i < (size_t)n / sizeof *msg; i++) {
			int rc = event(s, mm, &msg[i]);
			if (rc < 0)
				return rc;
		}
	}
}

/* Places pages [page, page + n) (source address src, contents data, or
 * zero when data is NULL) in mm, where it still needs them. */
static int place_in(struct serve *s, size_t mm, uint64_t src, uint64_t page, uint32_t n, const uint8_t *data)
{
	struct bm_postcopy_mm *m = &s->d->mms[mm];
	for (uint32_t i = 0; i < n && !m->gone;) {
		if (!bit(m->needed, page + i)) {
			i++;
			continue;
		}
		uint64_t a = src + (uint64_t)i * BM_PAGE_SIZE;
		const struct seg *g = seg_find(m->by_src, m->nsegs, a, true);
		if (!g) { /* unmapped meanwhile */
			set_bit(m->needed, page + i, false);
			i++;
			continue;
		}
		uint32_t j = i + 1;
		uint64_t seg_src_end = g->src + (g->end - g->dst);
		while (j < n && bit(m->needed, page + j) && src + (uint64_t)j * BM_PAGE_SIZE < seg_src_end)
			j++;
		uint64_t dst = g->dst + (a - g->src), len = (uint64_t)(j - i) * BM_PAGE_SIZE;
		long done;
		int rc = 0;
		if (bm_fault(BM_FP_POSTCOPY_PLACE)) {
			done = -errno;
		} else if (data) {
			struct uffdio_copy c = {.dst = dst, .src = (uint64_t)(data + (size_t)i * BM_PAGE_SIZE), .len = len};
			rc = ioctl(m->uffd, UFFDIO_COPY, &c);
			done = rc == 0 ? (long)len : c.copy ? c.copy : -errno;
		} else {
			struct uffdio_zeropage z = {.range = {dst, len}};
			rc = ioctl(m->uffd, UFFDIO_ZEROPAGE, &z);
			done = rc == 0 ? (long)len : z.zeropage ? z.zeropage : -errno;
		}
		if (done > 0) {
			uint32_t k = (uint32_t)((uint64_t)done / BM_PAGE_SIZE);
			for (uint32_t x = i; x < i + k; x++)
				set_bit(m->needed, page + x, false);
			if ((rc = release_waiters(s, mm, dst, dst + (uint64_t)k * BM_PAGE_SIZE, true)) < 0)
				return rc;
			i += k;
			continue;
		}
		if (done == -EAGAIN) { /* the map is changing: its events first */
			if ((rc = events(s, mm)) < 0)
				return rc;
			m = &s->d->mms[mm]; /* a fork among them moves the array */
			continue;
		}
		if (done == -ENOENT) { /* no registered memory there any more */
			set_bit(m->needed, page + i, false);
			i++;
			continue;
		}
		if (done == -ESRCH) {
			m->gone = true;
			break;
		}
		if (done == -EEXIST)
			return bm_error(BM_EXIT_FAILURE, "post-copy: page 0x%llx of process %d was filled before it came",
					(unsigned long long)dst, (int)s->d->pid);
		return bm_error_errno(BM_EXIT_FAILURE, (int)-done, "post-copy: cannot place pages at 0x%llx",
				      (unsigned long long)dst);
	}
	return 0;
}

static int place(struct serve *s, const uint8_t *buf, size_t len)
{
	struct bm_postcopy_dest *d = s->d;
	uint64_t addr = len >= BM_POSTCOPY_PAGES_HEADER ? bm_load_le64(buf) : 0;
	uint32_t n = len >= BM_POSTCOPY_PAGES_HEADER ? bm_load_le32(buf + 8) : 0;
	uint32_t flags = len >= BM_POSTCOPY_PAGES_HEADER ? bm_load_le32(buf + 12) : ~0u;
	bool zero = flags == BM_POSTCOPY_ZERO;
	ssize_t r = bm_range_find(d->lazy, d->nlazy, sizeof *d->lazy, addr);
	if (n == 0 || n > BM_POSTCOPY_PAGES_MAX || (flags & ~BM_POSTCOPY_ZERO) || addr % BM_PAGE_SIZE || r < 0 ||
	    addr + (uint64_t)n * BM_PAGE_SIZE > d->lazy[r].end ||
	    len != BM_POSTCOPY_PAGES_HEADER + (zero ? 0 : (size_t)n * BM_PAGE_SIZE))
		return proto("POSTCOPY_PAGES");
	uint64_t page = (uint64_t)page_of(d, addr);
	for (uint32_t i = 0; i < n; i++)
		if (bit(s->arrived, page + i))
			return proto("a page sent twice");
	for (size_t mm = 0; mm < d->nmms; mm++) {
		int rc = place_in(s, mm, addr, page, n, zero ? NULL : buf + BM_POSTCOPY_PAGES_HEADER);
		if (rc < 0)
			return rc;
	}
	for (uint32_t i = 0; i < n; i++)
		set_bit(s->arrived, page + i, true);
	d->arrived += n;
	return 0;
}

static int from_source(struct serve *s, int timeout_ms)
{
	uint8_t type;
	size_t len;
	int rc = bm_frame_recv(s->conn, &type, s->buf, RECV_MAX, &len, timeout_ms);
	if (rc < 0)
		return rc;
	if (type == BM_MSG_POSTCOPY_PAGES)
		return place(s, s->buf, len);
	if (type == BM_MSG_ABORT || type == BM_MSG_ERROR) {
		enum bm_exit class;
		char msg[BM_MESSAGE_MAX + 1];
		bm_decode_message(s->buf, len, &class, msg, sizeof msg);
		return bm_error(class, "the source gave up: %s", msg);
	}
	return proto(bm_msg_name(type));
}

static int by_value(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

static void figures(struct bm_postcopy_dest *d)
{
	d->fig.pages = d->arrived;
	if (!d->nlatency)
		return;
	qsort(d->latency_us, d->nlatency, sizeof *d->latency_us, by_value);
	d->fig.p50_us = d->latency_us[(d->nlatency - 1) * 50 / 100];
	d->fig.p90_us = d->latency_us[(d->nlatency - 1) * 90 / 100];
	d->fig.p99_us = d->latency_us[(d->nlatency - 1) * 99 / 100];
	d->fig.max_us = d->latency_us[d->nlatency - 1];
}

/* Every page in place: the process's memory is its own again.  Once
 * nothing is registered no event can come; those already queued are read
 * (their threads wait for that; a process forked since has all its pages,
 * or a page placed after the fork would have waited for the event).  The
 * forked processes' userfaultfds go (the kernel unregisters their memory),
 * and the process's own descriptor too, through one injected call in a
 * thread stopped for it.  A failure of that last step leaves a correct
 * process with one descriptor too many: said, not fatal. */
static void unregister_all(struct bm_postcopy_dest *d, uint64_t *vs, uint64_t *ve)
{
	struct bm_maps_entry *maps;
	size_t nmaps;
	if (bm_read_maps(d->pid, &maps, &nmaps) < 0)
		return;
	for (size_t i = 0; i < nmaps; i++) {
		struct uffdio_range r = {maps[i].start, maps[i].end - maps[i].start};
		if (strcmp(maps[i].path, "[vdso]") == 0)
			*vs = maps[i].start, *ve = maps[i].end;
		else if (maps[i].path[0] == 0 || strcmp(maps[i].path, "[heap]") == 0 || strncmp(maps[i].path, "[anon:", 6) == 0)
			ioctl(d->mms[0].uffd, UFFDIO_UNREGISTER, &r);
	}
	free(maps);
}

static void drain(struct bm_postcopy_mm *m)
{
	struct uffd_msg msg[32];
	ssize_t n;
	while ((n = read(m->uffd, msg, sizeof msg)) > 0)
		for (size_t i = 0; i < (size_t)n / sizeof *msg; i++)
			if (msg[i].event == UFFD_EVENT_FORK)
				close((int)msg[i].arg.fork.ufd);
}

static int inject_close(struct bm_postcopy_dest *d, uint64_t vs, uint64_t ve)
{
	uint64_t ip = 0;
	int rc = vs ? bm_find_vdso_syscall(d->pid, vs, ve, &ip) : -ENOENT;
	if (rc < 0)
		return rc;
	/* Any thread will do: the leader, unless it has ended. */
	pid_t *tids;
	size_t ntids;
	if ((rc = bm_list_tids(d->pid, &tids, &ntids)) < 0)
		return rc;
	rc = -ESRCH;
	for (size_t i = 0; rc == -ESRCH && i < ntids; i++) {
		pid_t tid = i == 0 ? d->pid : tids[i] == d->pid ? tids[0] : tids[i];
		if ((rc = bm_seize(tid)) < 0)
			continue;
		int sig = 0;
		struct bm_tracee tr;
		long closed = 0;
		if ((rc = bm_wait_interrupted(tid, &sig)) == 0 && (rc = bm_tracee_init(&tr, tid, ip)) == 0) {
			rc = bm_inject(&tr, SYS_close, (uint64_t)d->proc_fd, 0, 0, 0, 0, 0, &closed);
			int restored = bm_tracee_restore(&tr);
			rc = rc < 0 ? rc : restored < 0 ? restored : closed < 0 ? (int)closed : 0;
		}
		ptrace(PTRACE_DETACH, tid, 0, sig == SIGTRAP ? 0 : sig);
	}
	free(tids);
	return rc;
}

static void finish(struct bm_postcopy_dest *d)
{
	uint64_t vs = 0, ve = 0;
	if (!d->mms[0].gone)
		unregister_all(d, &vs, &ve);
	for (size_t i = 0; i < d->nmms; i++)
		if (!d->mms[i].gone)
			drain(&d->mms[i]);
	for (size_t i = 0; i < d->nmms; i++) {
		close(d->mms[i].uffd);
		d->mms[i].uffd = -1;
	}
	int rc = d->mms[0].gone ? 0 : inject_close(d, vs, ve);
	if (rc < 0)
		bm_warn("post-copy: process %d keeps descriptor %d, its finished userfaultfd: closing it failed%s%s",
			(int)d->pid, d->proc_fd, rc == -1 ? "" : ": ", rc == -1 ? "" : strerror(-rc));
	d->proc_fd = -1;
}

static int send_done(struct bm_postcopy_dest *d, struct bm_conn *conn, int timeout_ms)
{
	figures(d);
	uint8_t out[BM_POSTCOPY_DONE_SIZE];
	const uint64_t v[] = {d->fig.pages, d->fig.faults, d->fig.p50_us, d->fig.p90_us, d->fig.p99_us, d->fig.max_us};
	for (size_t i = 0; i < sizeof v / sizeof *v; i++)
		bm_store_le64(out + 8 * i, v[i]);
	return bm_frame_send_buf(conn, BM_MSG_POSTCOPY_DONE, out, sizeof out, timeout_ms);
}

int bm_postcopy_serve(struct bm_postcopy_dest *d, struct bm_conn *conn, int timeout_ms)
{
	struct serve s = {.d = d, .conn = conn};
	s.arrived = bitmap(d->lazy_pages, false);
	s.requested = bitmap(d->lazy_pages, false);
	s.buf = malloc(RECV_MAX);
	int rc = s.arrived && s.requested && s.buf ? 0 : bm_error(BM_EXIT_FAILURE, "out of memory");
	uint64_t last = bm_now_us();
	struct pollfd *p = NULL;
	while (rc == 0 && d->arrived < d->lazy_pages) {
		struct pollfd *np = realloc(p, (d->nmms + 1) * sizeof *p);
		if (!np) {
			rc = bm_error(BM_EXIT_FAILURE, "out of memory");
			break;
		}
		p = np;
		p[0] = (struct pollfd){conn->fd, POLLIN, 0};
		for (size_t i = 0; i < d->nmms; i++)
			p[i + 1] = (struct pollfd){d->mms[i].gone ? -1 : d->mms[i].uffd, POLLIN, 0};
		uint64_t waited = (bm_now_us() - last) / 1000;
		int left = waited >= (uint64_t)timeout_ms ? 0 : timeout_ms - (int)waited;
		int n = poll(p, d->nmms + 1, s.nretry && left > 1 ? 1 : left);
		if (n < 0 && errno != EINTR) {
			rc = bm_error_errno(BM_EXIT_FAILURE, errno, "poll");
		} else if (n == 0 && !s.nretry) {
			rc = bm_error_errno(BM_EXIT_NETWORK, ETIMEDOUT, "post-copy: the source sent no page for %d ms",
					    timeout_ms);
		} else if (n > 0) {
			size_t nmms = d->nmms;
			for (size_t i = 0; rc == 0 && i < nmms; i++)
				if (p[i + 1].revents)
					rc = events(&s, i);
			if (rc == 0 && p[0].revents) {
				rc = from_source(&s, timeout_ms);
				last = bm_now_us();
			}
		}
		if (rc == 0 && s.nretry)
			rc = retry_zero_pages(&s);
	}
	free(p);
	if (rc == 0) {
		/* Threads still waiting here wait for pages of address spaces
		 * that ended: none.  The memory goes back to being plain memory. */
		finish(d);
		rc = send_done(d, conn, timeout_ms);
	}
	free(s.arrived);
	free(s.requested);
	free(s.w);
	free(s.retry);
	free(s.buf);
	return rc;
}

/* The missing lazy pages of mm made fatal to touch (SIGBUS), where the
 * kernel can. */
static void poison(struct bm_postcopy_dest *d, struct bm_postcopy_mm *m)
{
	for (size_t i = 0; i < m->nsegs; i++) {
		const struct seg *g = &m->by_dst[i];
		for (uint64_t a = g->dst; a < g->end; a += BM_PAGE_SIZE) {
			int64_t page = page_of(d, g->src + (a - g->dst));
			if (page < 0 || !bit(m->needed, (uint64_t)page))
				continue;
			struct uffdio_poison pz = {.range = {a, BM_PAGE_SIZE}};
			ioctl(m->uffd, UFFDIO_POISON, &pz);
		}
	}
}

static void kill_descendants(pid_t pid)
{
	pid_t kids[256];
	size_t n = 0;
	if (bm_list_children(pid, kids, sizeof kids / sizeof *kids, &n) < 0)
		return;
	for (size_t i = 0; i < n && i < sizeof kids / sizeof *kids; i++) {
		kill_descendants(kids[i]);
		kill(kids[i], SIGKILL);
	}
}

void bm_postcopy_abandon(struct bm_postcopy_dest *d)
{
	if (d->pid > 0) {
		kill_descendants(d->pid);
		kill(d->pid, SIGKILL);
	}
	for (size_t i = 0; i < d->nmms; i++)
		if (d->mms[i].uffd >= 0 && !d->mms[i].gone)
			poison(d, &d->mms[i]);
	for (size_t i = 0; i < d->nmms; i++) {
		if (d->mms[i].uffd >= 0)
			close(d->mms[i].uffd);
		d->mms[i].uffd = -1;
	}
}

void bm_postcopy_dest_free(struct bm_postcopy_dest *d)
{
	for (size_t i = 0; i < d->nmms; i++) {
		if (d->mms[i].uffd >= 0)
			close(d->mms[i].uffd);
		free(d->mms[i].needed);
		free(d->mms[i].by_dst);
		free(d->mms[i].by_src);
	}
	free(d->mms);
	free(d->lazy);
	free(d->first_page);
	free(d->latency_us);
	memset(d, 0, sizeof *d);
	d->proc_fd = -1;
}
