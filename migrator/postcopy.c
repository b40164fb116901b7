/* Post-copy, the source side (postcopy.h). */
#include "postcopy.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/uio.h>
#include <unistd.h>

#include "fault.h"
#include "log.h"
#include "migrate.h"
#include "pagescan.h"
#include "precopy.h"
#include "restore_inplace.h"
#include "wire.h"

/* --- the plan, frozen ------------------------------------------------------ */

struct plan {
	struct bm_postcopy_src *pc;
	const struct bm_vma *v;
	const struct bm_range *out; /* pages that are not lazy: the restore touches them, or pre-copy sent them */
	size_t nout, at;
	size_t cap;
	int failed;
};

static int add_lazy(struct plan *p, uint64_t start, uint64_t end)
{
	struct bm_postcopy_src *pc = p->pc;
	if (pc->nlazy && pc->lazy[pc->nlazy - 1].end == start && start > p->v->start) {
		pc->lazy[pc->nlazy - 1].end = end;
	} else {
		if (pc->nlazy == p->cap) {
			size_t cap = p->cap ? p->cap * 2 : 256;
			struct bm_range *r = realloc(pc->lazy, cap * sizeof *r);
			if (!r)
				return p->failed = bm_error(BM_EXIT_FAILURE, "out of memory");
			pc->lazy = r;
			p->cap = cap;
		}
		pc->lazy[pc->nlazy++] = (struct bm_range){start, end};
	}
	pc->lazy_pages += (end - start) / BM_PAGE_SIZE;
	return 0;
}

/* Pages [start, end) of p->v: lazy, but for those that are not. */
static int lazy_but_out(struct plan *p, uint64_t start, uint64_t end)
{
	uint64_t s = start;
	while (p->at < p->nout && p->out[p->at].end <= s)
		p->at++;
	for (size_t i = p->at; i < p->nout && p->out[i].start < end; i++) {
		if (p->out[i].start > s && add_lazy(p, s, p->out[i].start) < 0)
			return p->failed;
		if (p->out[i].end > s)
			s = p->out[i].end;
	}
	return s < end ? add_lazy(p, s, end) : 0;
}

/* A run of present pages found at the freeze. */
static int plan_run(void *ctx, const struct bm_scan_run *run)
{
	struct plan *p = ctx;
	if (!bm_scan_wanted(p->v, run->cats) || (run->cats & BM_PAGE_IS_PFNZERO))
		return 0;
	return lazy_but_out(p, run->start, run->end);
}

/* The runs found before the freeze that lie in p->v. */
static int plan_found(struct plan *p, const struct bm_range *found, size_t n)
{
	const struct bm_vma *v = p->v;
	for (size_t i = bm_ranges_after(found, n, v->start); i < n && found[i].start < v->end; i++) {
		uint64_t s = found[i].start > v->start ? found[i].start : v->start;
		uint64_t e = found[i].end < v->end ? found[i].end : v->end;
		int rc = lazy_but_out(p, s, e);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int by_start(const void *a, const void *b)
{
	uint64_t x = ((const struct bm_range *)a)->start, y = ((const struct bm_range *)b)->start;
	return x < y ? -1 : x > y;
}

/* The pages that are not lazy although present: each thread's rseq area
 * (the kernel fills in its CPU number on the way back from the
 * registration, during the restore), those pre-copy's store holds
 * (kept), and guard pages (which pagemap shows as swapped; none can be
 * read, the restore installs them again).  Sorted; rseq pages may overlap
 * kept runs. */
static int not_lazy(const struct bm_process *proc, const struct bm_page_skip *kept, struct bm_range **out, size_t *n)
{
	size_t nkept = kept ? kept->n : 0;
	*n = 0;
	*out = malloc(((size_t)proc->nthreads + nkept + proc->nguards + 1) * sizeof **out);
	if (!*out)
		return bm_error(BM_EXIT_FAILURE, "out of memory");
	for (uint32_t i = 0; i < proc->nthreads; i++) {
		const struct bm_thread *t = &proc->threads[i];
		if (!t->rseq_addr)
			continue;
		uint64_t first = t->rseq_addr & ~(uint64_t)(BM_PAGE_SIZE - 1);
		uint64_t end = (t->rseq_addr + (t->rseq_len ? t->rseq_len : 1) + BM_PAGE_SIZE - 1) & ~(uint64_t)(BM_PAGE_SIZE - 1);
		(*out)[(*n)++] = (struct bm_range){first, end};
	}
	for (size_t i = 0; i < nkept; i++)
		(*out)[(*n)++] = kept->r[i];
	for (uint32_t i = 0; i < proc->nguards; i++)
		(*out)[(*n)++] = proc->guards[i];
	qsort(*out, *n, sizeof **out, by_start);
	return 0;
}

/* The image leaves out the lazy runs and the kept ones: both sorted,
 * disjoint from each other; merged. */
static int merge_skip(struct bm_postcopy_src *pc, const struct bm_page_skip *kept)
{
	size_t nkept = kept ? kept->n : 0, i = 0, j = 0, n = 0;
	pc->skip_runs = malloc((pc->nlazy + nkept + 1) * sizeof *pc->skip_runs);
	if (!pc->skip_runs)
		return bm_error(BM_EXIT_FAILURE, "out of memory");
	while (i < pc->nlazy || j < nkept)
		pc->skip_runs[n++] = j == nkept || (i < pc->nlazy && pc->lazy[i].start < kept->r[j].start) ? pc->lazy[i++]
													    : kept->r[j++];
	pc->skip = (struct bm_page_skip){pc->skip_runs, n};
	if (kept) { /* hybrid: what pre-copy counts (precopy_final_pages) */
		pc->skip.counted = kept->counted;
		pc->skip.ncounted = kept->ncounted;
		pc->skip.carried = kept->carried;
	}
	return 0;
}

static int send_runs(struct bm_postcopy_src *pc, struct bm_conn *conn)
{
	uint8_t *buf = malloc((size_t)BM_POSTCOPY_RUNS_PER_FRAME * 16);
	if (!buf)
		return bm_error(BM_EXIT_FAILURE, "out of memory");
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < pc->nlazy; i += BM_POSTCOPY_RUNS_PER_FRAME) {
		size_t n = pc->nlazy - i < BM_POSTCOPY_RUNS_PER_FRAME ? pc->nlazy - i : BM_POSTCOPY_RUNS_PER_FRAME;
		for (size_t j = 0; j < n; j++) {
			bm_store_le64(buf + j * 16, pc->lazy[i + j].start);
			bm_store_le64(buf + j * 16 + 8, (pc->lazy[i + j].end - pc->lazy[i + j].start) / BM_PAGE_SIZE);
		}
		rc = bm_frame_send_buf(conn, BM_MSG_POSTCOPY_RUNS, buf, n * 16, BM_IO_TIMEOUT_MS);
	}
	if (rc == 0) {
		bm_store_le64(buf, pc->nlazy);
		bm_store_le64(buf + 8, pc->lazy_pages);
		rc = bm_frame_send_buf(conn, BM_MSG_POSTCOPY_RUNS_END, buf, 16, BM_IO_TIMEOUT_MS);
	}
	free(buf);
	return rc;
}

int bm_postcopy_plan(struct bm_postcopy_src *pc, struct bm_frozen *f, struct bm_conn *conn)
{
	const struct bm_page_skip *kept = f->skip_pages;
	struct bm_range *found = pc->found;
	size_t nfound = pc->nfound;
	memset(pc, 0, sizeof *pc);
	pc->found = found;
	pc->nfound = nfound;
	pc->pid = f->pid;
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/pagemap", (int)f->pid);
	int pagemap = open(path, O_RDONLY | O_CLOEXEC);
	if (pagemap < 0)
		return bm_error_errno(BM_EXIT_TARGET, errno, "cannot open %s", path);
	struct plan p = {.pc = pc};
	struct bm_range *out = NULL;
	int rc = not_lazy(&f->proc, kept, &out, &p.nout);
	p.out = out;
	for (uint32_t i = 0; rc == 0 && i < f->proc.nvmas; i++) {
		const struct bm_vma *v = &f->proc.vmas[i];
		/* Locked memory is faulted in, sealed memory cannot be
		 * registered, by the restore: both come whole in the image. */
		if (!bm_rs_inplace_eligible(v) || (v->flags & (BM_VMA_LOCKED | BM_VMA_LOCKONFAULT | BM_VMA_SEALED)))
			continue;
		p.v = v;
		p.at = 0;
		rc = pc->found ? plan_found(&p, pc->found, pc->nfound)
			       : bm_pagescan(pagemap, v->start, v->end, &bm_scan_wanted_query, plan_run, &p);
		if (rc < 0 && !p.failed)
			rc = bm_error_errno(BM_EXIT_TARGET, -rc, "post-copy: cannot scan the pages of process %d at 0x%llx",
					    (int)f->pid, (unsigned long long)v->start);
	}
	free(out);
	close(pagemap);
	pc->sent = calloc(pc->nlazy ? pc->nlazy : 1, sizeof *pc->sent);
	pc->buf = aligned_alloc(BM_PAGE_SIZE, (size_t)BM_POSTCOPY_PAGES_MAX * BM_PAGE_SIZE);
	if (rc == 0 && (!pc->sent || !pc->buf))
		rc = bm_error(BM_EXIT_FAILURE, "out of memory");
	for (size_t i = 0; rc == 0 && i < pc->nlazy; i++) {
		uint64_t pages = (pc->lazy[i].end - pc->lazy[i].start) / BM_PAGE_SIZE;
		if (!(pc->sent[i] = calloc((pages + 63) / 64, sizeof **pc->sent)))
			rc = bm_error(BM_EXIT_FAILURE, "out of memory");
	}
	if (rc < 0 || (rc = merge_skip(pc, kept)) < 0)
		return rc;
	f->skip_pages = &pc->skip;
	bm_debug("post-copy: %llu pages in %zu runs come after the process runs",
		 (unsigned long long)pc->lazy_pages, pc->nlazy);
	return send_runs(pc, conn);
}

/* --- before the freeze ------------------------------------------------------ */

/* Private writable memory as /proc/PID/maps shows it (the freeze's model
 * says which of it is eligible). */
static bool private_writable(const struct bm_maps_entry *e)
{
	return e->perms[1] == 'w' && e->perms[3] == 'p' &&
	       (e->path[0] == 0 || strcmp(e->path, "[heap]") == 0 || strncmp(e->path, "[anon:", 6) == 0);
}

static const struct bm_scan_query q_found = {
	0, 0, BM_PAGE_IS_PRESENT | BM_PAGE_IS_SWAPPED, BM_PAGE_IS_FILE | BM_PAGE_IS_PFNZERO,
};

static int add_found(void *ctx, const struct bm_scan_run *run)
{
	struct bm_postcopy_src *pc = ctx;
	if (run->cats)
		return 0;
	if (pc->nfound && pc->found[pc->nfound - 1].end == run->start) {
		pc->found[pc->nfound - 1].end = run->end;
		return 0;
	}
	if (pc->nfound == pc->capfound) {
		size_t cap = pc->capfound ? pc->capfound * 2 : 256;
		struct bm_range *r = realloc(pc->found, cap * sizeof *r);
		if (!r)
			return -ENOMEM;
		pc->found = r;
		pc->capfound = cap;
	}
	pc->found[pc->nfound++] = (struct bm_range){run->start, run->end};
	return 0;
}

int bm_postcopy_find(struct bm_postcopy_src *pc, pid_t pid)
{
	memset(pc, 0, sizeof *pc);
	struct bm_maps_entry *maps;
	size_t nmaps;
	int rc = bm_read_maps(pid, &maps, &nmaps);
	if (rc < 0)
		return bm_error_errno(BM_EXIT_TARGET, -rc, "cannot read the memory map of process %d", (int)pid);
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/pagemap", (int)pid);
	int pagemap = open(path, O_RDONLY | O_CLOEXEC);
	if (pagemap < 0)
		rc = bm_error_errno(BM_EXIT_TARGET, errno, "cannot open %s", path);
	/* The process runs on: an area it changes meanwhile may fail to scan;
	 * what is found stands, what is missed the image carries. */
	for (size_t i = 0; rc == 0 && i < nmaps; i++)
		if (private_writable(&maps[i]) &&
		    bm_pagescan(pagemap, maps[i].start, maps[i].end, &q_found, add_found, pc) == -ENOMEM)
			rc = bm_error(BM_EXIT_FAILURE, "out of memory");
	free(maps);
	if (pagemap >= 0)
		close(pagemap);
	return rc;
}

/* --- the pages, once the process runs at the destination ------------------ */

static bool is_sent(const struct bm_postcopy_src *pc, size_t run, uint64_t pg)
{
	return pc->sent[run][pg / 64] & (1ULL << (pg % 64));
}

static int send_pages(struct bm_postcopy_src *pc, struct bm_conn *conn, uint64_t addr, uint32_t n, const void *data)
{
	uint8_t h[BM_POSTCOPY_PAGES_HEADER];
	bm_store_le64(h, addr);
	bm_store_le32(h + 8, n);
	bm_store_le32(h + 12, data ? 0 : BM_POSTCOPY_ZERO);
	struct iovec iov[2] = {{h, sizeof h}, {(void *)data, data ? (size_t)n * BM_PAGE_SIZE : 0}};
	int rc = bm_fault(BM_FP_POSTCOPY_SEND) ? bm_error_errno(BM_EXIT_NETWORK, errno, "sending pages")
					       : bm_frame_send(conn, BM_MSG_POSTCOPY_PAGES, iov, data ? 2 : 1,
							       BM_IO_TIMEOUT_MS);
	if (rc == 0) {
		pc->pages_sent += n;
		pc->bytes_sent += data ? (uint64_t)n * BM_PAGE_SIZE : 0;
	}
	return rc;
}

/* Sends pages [pg, pg + n) of lazy run `run` (none of them sent yet, at
 * most BM_POSTCOPY_PAGES_MAX), as runs of zero and non-zero pages. */
static int send_chunk(struct bm_postcopy_src *pc, struct bm_conn *conn, size_t run, uint64_t pg, uint32_t n)
{
	uint64_t addr = pc->lazy[run].start + pg * BM_PAGE_SIZE;
	size_t len = (size_t)n * BM_PAGE_SIZE;
	struct iovec local = {pc->buf, len}, remote = {(void *)addr, len};
	/* The original is frozen: every page reads, or the process is lost. */
	if (process_vm_readv(pc->pid, &local, 1, &remote, 1, 0) != (ssize_t)len)
		return bm_error_errno(BM_EXIT_TARGET, errno, "cannot read pages at 0x%llx of the frozen process %d",
				      (unsigned long long)addr, (int)pc->pid);
	for (uint32_t i = 0; i < n;) {
		bool zero;
		uint32_t j = bm_same_zero_run(pc->buf, i, n, &zero);
		int rc = send_pages(pc, conn, addr + (uint64_t)i * BM_PAGE_SIZE, j - i,
				    zero ? NULL : pc->buf + (size_t)i * BM_PAGE_SIZE);
		if (rc < 0)
			return rc;
		i = j;
	}
	for (uint32_t i = 0; i < n; i++)
		pc->sent[run][(pg + i) / 64] |= 1ULL << ((pg + i) % 64);
	return 0;
}

/* From page pg of run on, the next pages not sent yet (at most max):
 * sends them; *done says whether the run had any left from pg on. */
static int send_from(struct bm_postcopy_src *pc, struct bm_conn *conn, size_t run, uint64_t *pg, uint32_t max,
		     bool stop_at_sent)
{
	uint64_t pages = (pc->lazy[run].end - pc->lazy[run].start) / BM_PAGE_SIZE;
	while (*pg < pages && is_sent(pc, run, *pg)) {
		if (stop_at_sent)
			return 0;
		++*pg;
	}
	uint32_t n = 0;
	while (*pg + n < pages && n < max && !is_sent(pc, run, *pg + n))
		n++;
	int rc = n ? send_chunk(pc, conn, run, *pg, n) : 0;
	*pg += n;
	return rc;
}

static int request(struct bm_postcopy_src *pc, struct bm_conn *conn, const uint8_t *buf, size_t len)
{
	uint64_t addr = len == 8 ? bm_load_le64(buf) : 1;
	ssize_t run = addr % BM_PAGE_SIZE ? -1 : bm_range_find(pc->lazy, pc->nlazy, sizeof *pc->lazy, addr);
	if (run < 0)
		return bm_error_errno(BM_EXIT_NETWORK, EPROTO, "malformed POSTCOPY_REQUEST (0x%llx is no lazy page)",
				      (unsigned long long)addr);
	pc->requests++;
	uint64_t pg = (addr - pc->lazy[run].start) / BM_PAGE_SIZE;
	return send_from(pc, conn, (size_t)run, &pg, BM_POSTCOPY_REQUEST_PAGES, true);
}

static int done(struct bm_postcopy_src *pc, const uint8_t *buf, size_t len)
{
	if (len != BM_POSTCOPY_DONE_SIZE)
		return bm_error_errno(BM_EXIT_NETWORK, EPROTO, "malformed POSTCOPY_DONE");
	uint64_t *f[] = {&pc->dest.pages, &pc->dest.faults, &pc->dest.p50_us,
			 &pc->dest.p90_us, &pc->dest.p99_us, &pc->dest.max_us};
	for (size_t i = 0; i < sizeof f / sizeof *f; i++)
		*f[i] = bm_load_le64(buf + 8 * i);
	if (pc->dest.pages != pc->lazy_pages)
		return bm_error_errno(BM_EXIT_NETWORK, EPROTO, "the destination placed %llu pages of %llu",
				      (unsigned long long)pc->dest.pages, (unsigned long long)pc->lazy_pages);
	return 1;
}

/* One frame from the destination: a request (0), DONE (1), or an error. */
static int incoming(struct bm_postcopy_src *pc, struct bm_conn *conn, int timeout_ms)
{
	static uint8_t buf[BM_RESULT_FIXED_SIZE + BM_MESSAGE_MAX];
	uint8_t type;
	size_t len;
	struct bm_result res = {0};
	int rc = bm_frame_recv(conn, &type, buf, sizeof buf, &len, timeout_ms);
	if (rc < 0)
		return rc;
	if (type == BM_MSG_POSTCOPY_REQUEST)
		return request(pc, conn, buf, len);
	if (type == BM_MSG_POSTCOPY_DONE)
		return done(pc, buf, len);
	if (bm_peer_failure(type, buf, len, &res))
		return bm_error(res.status <= BM_EXIT_NETWORK ? (enum bm_exit)res.status : BM_EXIT_FAILURE,
				"the destination gave up: %s", res.message[0] ? res.message : "no reason given");
	return bm_error_errno(BM_EXIT_NETWORK, EPROTO, "unexpected %s during post-copy", bm_msg_name(type));
}

/* Test builds: with BINMIG_TEST_POSTCOPY_SYNC=DIR, once the process runs
 * at the destination binmig creates DIR/running and sends only the pages
 * its threads wait for until DIR/go exists (at most 30 s), so that a test
 * can have the process change its memory while most of it is missing. */
static bool held_back(uint64_t t0)
{
	const char *dir = getenv("BINMIG_TEST_POSTCOPY_SYNC");
	return dir && *dir && bm_now_us() - t0 < 30000000 && !bm_test_gate_open(dir, "running", "running", "go");
}

int bm_postcopy_send(struct bm_postcopy_src *pc, struct bm_conn *conn)
{
	uint64_t t0 = bm_now_us();
	size_t run = 0;
	uint64_t pg = 0;
	int rc = 0;
	/* Pages in address order, a request from the destination first
	 * whenever one waits; then the wait for DONE. */
	while (rc == 0) {
		bool hold = held_back(t0);
		bool all_sent = run >= pc->nlazy;
		struct pollfd p = {conn->fd, POLLIN, 0};
		int ready = poll(&p, 1, hold ? 10 : all_sent ? BM_IO_TIMEOUT_MS : 0);
		if (ready < 0 && errno != EINTR) {
			rc = bm_error_errno(BM_EXIT_NETWORK, errno, "poll");
		} else if (ready > 0) {
			rc = incoming(pc, conn, BM_IO_TIMEOUT_MS);
		} else if (hold) {
			continue;
		} else if (all_sent) {
			if (ready == 0)
				rc = bm_error_errno(BM_EXIT_NETWORK, ETIMEDOUT, "the destination did not report the end");
		} else {
			rc = send_from(pc, conn, run, &pg, BM_POSTCOPY_PAGES_MAX, false);
			if (pc->lazy[run].start + pg * BM_PAGE_SIZE >= pc->lazy[run].end)
				run++, pg = 0;
		}
	}
	pc->us = bm_now_us() - t0;
	return rc < 0 ? rc : 0;
}

int bm_postcopy_bind_original(struct bm_frozen *f)
{
	for (size_t i = 0; i < f->ntracees; i++)
		if (ptrace(PTRACE_SETOPTIONS, f->tracees[i].tid, 0, PTRACE_O_EXITKILL) < 0 && errno != ESRCH)
			return bm_error_errno(BM_EXIT_FAILURE, errno, "PTRACE_SETOPTIONS on thread %d", (int)f->tracees[i].tid);
	return 0;
}

void bm_postcopy_src_free(struct bm_postcopy_src *pc)
{
	for (size_t i = 0; pc->sent && i < pc->nlazy; i++)
		free(pc->sent[i]);
	free(pc->sent);
	free(pc->lazy);
	free(pc->skip_runs);
	free(pc->found);
	free(pc->buf);
	memset(pc, 0, sizeof *pc);
}

void bm_postcopy_stats(const struct bm_postcopy_src *pc, struct bm_stats *st)
{
	st->postcopy_pages = (int64_t)pc->lazy_pages;
	st->postcopy_bytes = (int64_t)pc->bytes_sent;
	st->postcopy_us = (int64_t)pc->us;
	st->postcopy_remote_faults = (int64_t)pc->dest.faults;
	st->postcopy_fault_p50_us = (int64_t)pc->dest.p50_us;
	st->postcopy_fault_p90_us = (int64_t)pc->dest.p90_us;
	st->postcopy_fault_p99_us = (int64_t)pc->dest.p99_us;
	st->postcopy_fault_max_us = (int64_t)pc->dest.max_us;
}
