/* Pre-copy, the destination side (precopy.h): the store of pages sent
 * before the freeze, and the kept ones copied into the new process. */
#include "precopy.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "log.h"
#include "ptrace_ctl.h"
#include "restore_inplace.h"
#include "wire.h"

/* One range of PRECOPY_BEGIN: its pages at their offsets in a mapping of
 * the same size (untouched pages cost nothing), and which of them are held. */
struct bm_precopy_area {
	uint64_t start, end; /* first, as a struct bm_range (bm_range_find) */
	uint8_t *mem;
	uint64_t *held; /* bitmap, one bit per page */
	bool placed;    /* mem is at start: the new process can keep it (settle) */
};

#define RECV_MAX (BM_PRECOPY_PAGES_HEADER + (size_t)BM_PRECOPY_RUN_PAGES * BM_PAGE_SIZE)
#define BEGIN_MAX (8 + (size_t)BM_PRECOPY_MAX_RANGES * 16)
#define TASK_TOP 0x800000000000ULL

static int proto(const char *what)
{
	return bm_error_errno(BM_EXIT_NETWORK, EPROTO, "malformed pre-copy message: %s", what);
}

static struct bm_precopy_area *area_of(struct bm_precopy_store *st, uint64_t addr, uint64_t len)
{
	ssize_t i = bm_range_find(st->areas, st->nareas, sizeof *st->areas, addr);
	if (i >= 0 && addr + len <= st->areas[i].end && addr + len > addr)
		return &st->areas[i];
	return NULL;
}

/* Where binmig's own memory leaves room, at the address the process has
 * it, mapped as the process's private writable memory is (accounted, the
 * offset its address): the new process, created by fork, keeps those
 * pages where they are (restore.h, premapped) and the downtime copies
 * none.  Elsewhere, address space only (MAP_NORESERVE) that the fork
 * leaves out; its kept pages are copied. */
static uint8_t *map_area(uint64_t start, uint64_t len, bool placed_only, bool *placed)
{
	void *m = mmap((void *)start, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	*placed = m == (void *)start;
	if (*placed)
		return m;
	if (m != MAP_FAILED)
		munmap(m, len); /* a kernel that takes MAP_FIXED_NOREPLACE as a hint */
	if (placed_only)
		return NULL;
	m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (m != MAP_FAILED)
		madvise(m, len, MADV_DONTFORK);
	return m == MAP_FAILED ? NULL : m;
}

int bm_precopy_store_add(struct bm_precopy_store *st, uint64_t start, uint64_t end, bool placed_only)
{
	struct bm_precopy_area *a = &st->areas[st->nareas];
	a->start = start;
	a->end = end;
	a->mem = map_area(start, end - start, placed_only, &a->placed);
	if (!a->mem)
		return placed_only ? 0 : bm_error(BM_EXIT_FAILURE, "out of memory for the pre-copy store (%llu MiB of address space)",
						  (unsigned long long)((end - start) >> 20));
	a->held = calloc((end - start) / BM_PAGE_SIZE / 64 + 1, sizeof *a->held);
	if (!a->held) {
		munmap(a->mem, end - start);
		return bm_error(BM_EXIT_FAILURE, "out of memory");
	}
	st->nareas++;
	return 0;
}

bool bm_precopy_range_ok(uint64_t start, uint64_t end, uint64_t prev_end)
{
	return start % BM_PAGE_SIZE == 0 && end % BM_PAGE_SIZE == 0 && start < end && start >= prev_end && end <= TASK_TOP;
}

int bm_precopy_store_init(struct bm_precopy_store *st, uint32_t nareas, uint64_t max_bytes)
{
	memset(st, 0, sizeof *st);
	st->max_pages = max_bytes / BM_PAGE_SIZE;
	st->areas = calloc(nareas ? nareas : 1, sizeof *st->areas);
	return st->areas ? 0 : bm_error(BM_EXIT_FAILURE, "out of memory");
}

static int begin(struct bm_precopy_store *st, const uint8_t *p, size_t len, uint64_t max_bytes)
{
	struct bm_rcur c;
	bm_rcur_init(&c, p, len);
	uint32_t n = bm_get_u32(&c), flags = bm_get_u32(&c);
	if (bm_rcur_failed(&c) || n > BM_PRECOPY_MAX_RANGES || bm_rcur_left(&c) != (size_t)n * 16 ||
	    (flags & ~BM_PRECOPY_UNTRACKED))
		return proto("PRECOPY_BEGIN");
	int rc = bm_precopy_store_init(st, n, max_bytes);
	st->untracked = flags & BM_PRECOPY_UNTRACKED;
	uint64_t prev_end = 0;
	for (uint32_t i = 0; rc == 0 && i < n; i++) {
		uint64_t s = bm_get_u64(&c), e = bm_get_u64(&c);
		if (!bm_precopy_range_ok(s, e, prev_end))
			return proto("PRECOPY_BEGIN ranges");
		prev_end = e;
		rc = bm_precopy_store_add(st, s, e, false);
	}
	return rc;
}

static int zap(void *arg, uint64_t start, uint64_t end)
{
	struct bm_precopy_area *a = arg;
	return madvise(a->mem + (start - a->start), end - start, MADV_DONTNEED) < 0 ? -errno : 0;
}

static bool held(const struct bm_precopy_area *a, uint64_t page)
{
	return a->held[page / 64] & (1ULL << (page % 64));
}

static int pages(struct bm_precopy_store *st, const uint8_t *p, size_t len)
{
	if (len < BM_PRECOPY_PAGES_HEADER)
		return proto("PRECOPY_PAGES");
	uint64_t addr = bm_load_le64(p);
	uint32_t n = bm_load_le32(p + 8), flags = bm_load_le32(p + 12);
	bool zero = flags & BM_PRECOPY_ZERO;
	if (n == 0 || n > BM_PRECOPY_RUN_PAGES || (flags & ~BM_PRECOPY_ZERO) || addr % BM_PAGE_SIZE ||
	    len != BM_PRECOPY_PAGES_HEADER + (zero ? 0 : (size_t)n * BM_PAGE_SIZE))
		return proto("PRECOPY_PAGES");
	struct bm_precopy_area *a = area_of(st, addr, (uint64_t)n * BM_PAGE_SIZE);
	if (!a)
		return proto("pages outside the announced ranges");
	uint64_t first = (addr - a->start) / BM_PAGE_SIZE;
	for (uint32_t i = 0; i < n; i++) {
		uint64_t pg = first + i;
		if (!held(a, pg)) {
			if (st->held_pages == st->max_pages)
				return bm_error(BM_EXIT_FAILURE,
						"the pre-copy store is full (%llu MiB; serve --precopy-store-max)",
						(unsigned long long)(st->max_pages * BM_PAGE_SIZE >> 20));
			a->held[pg / 64] |= 1ULL << (pg % 64);
			st->held_pages++;
		}
	}
	uint8_t *dst = a->mem + first * BM_PAGE_SIZE;
	size_t bytes = (size_t)n * BM_PAGE_SIZE;
	/* Zero pages cost nothing: absent anonymous memory reads as zero.
	 * Others are faulted in by one call before the copy, not one fault
	 * per page (each costs several times more, in a virtual machine
	 * most of all); where that fails, the copy faults them in. */
	if (zero) {
		if (madvise(dst, bytes, MADV_DONTNEED) < 0)
			memset(dst, 0, bytes);
	} else {
		madvise(dst, bytes, MADV_POPULATE_WRITE);
		memcpy(dst, p + BM_PRECOPY_PAGES_HEADER, bytes);
	}
	st->recv_pages += n;
	return 0;
}

/* Every kept page must be one the store holds: a source that says
 * otherwise is refused, never a page made up. */
static int keep(struct bm_precopy_store *st, const uint8_t *p, size_t len)
{
	if (len == 0 || len % 16 || len / 16 > BM_PRECOPY_KEEP_PER_FRAME)
		return proto("PRECOPY_KEEP");
	for (size_t off = 0; off < len; off += 16) {
		uint64_t addr = bm_load_le64(p + off), n = bm_load_le64(p + off + 8);
		if (n == 0 || addr % BM_PAGE_SIZE || n > TASK_TOP / BM_PAGE_SIZE ||
		    (st->nkeep && st->keep[st->nkeep - 1].end > addr))
			return proto("PRECOPY_KEEP runs");
		struct bm_precopy_area *a = area_of(st, addr, n * BM_PAGE_SIZE);
		if (!a)
			return proto("kept pages outside the announced ranges");
		uint64_t first = (addr - a->start) / BM_PAGE_SIZE;
		for (uint64_t i = 0; i < n; i++)
			if (!held(a, first + i))
				return bm_error_errno(BM_EXIT_NETWORK, EPROTO,
						      "the source keeps page 0x%llx, which it never sent",
						      (unsigned long long)(addr + i * BM_PAGE_SIZE));
		if (st->nkeep == st->capkeep) {
			size_t cap = st->capkeep ? st->capkeep * 2 : 256;
			struct bm_range *r = realloc(st->keep, cap * sizeof *r);
			if (!r)
				return bm_error(BM_EXIT_FAILURE, "out of memory");
			st->keep = r;
			st->capkeep = cap;
		}
		st->keep[st->nkeep++] = (struct bm_range){addr, addr + n * BM_PAGE_SIZE};
		st->keep_pages += n;
	}
	return 0;
}

int bm_precopy_store_list_placed(struct bm_precopy_store *st)
{
	free(st->placed);
	st->nplaced = 0;
	st->placed = calloc(st->nareas ? st->nareas : 1, sizeof *st->placed);
	if (!st->placed)
		return bm_error(BM_EXIT_FAILURE, "out of memory");
	for (size_t i = 0; i < st->nareas; i++)
		if (st->areas[i].placed)
			st->placed[st->nplaced++] = (struct bm_range){st->areas[i].start, st->areas[i].end};
	return 0;
}

/* Once the kept runs are known, the placed areas are made exactly what
 * the new process keeps: their kept pages, and zero elsewhere (pages
 * written or dropped since they were sent). */
static int settle(struct bm_precopy_store *st)
{
	for (size_t i = 0; i < st->nareas; i++) {
		struct bm_precopy_area *a = &st->areas[i];
		size_t k = bm_ranges_after(st->keep, st->nkeep, a->start);
		if (a->placed && bm_ranges_each_gap(a->start, a->end, st->keep + k, st->nkeep - k, zap, a) < 0)
			a->placed = false; /* its kept pages are copied, as for any other */
	}
	return bm_precopy_store_list_placed(st);
}

int bm_precopy_store_populate(struct bm_precopy_store *st, uint64_t start, uint64_t end)
{
	struct bm_precopy_area *a = area_of(st, start, end - start);
	if (!a || !a->placed)
		return -ENOENT;
	uint64_t pages = (end - start) / BM_PAGE_SIZE;
	if (st->held_pages + pages > st->max_pages)
		return -ENOSPC;
	if (madvise(a->mem + (start - a->start), end - start, MADV_POPULATE_WRITE) < 0)
		return -errno;
	st->held_pages += pages;
	return 0;
}

uint64_t bm_precopy_default_store_max(void)
{
	long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
	return pages > 0 && size > 0 ? (uint64_t)pages * (uint64_t)size : (uint64_t)1 << 30;
}

int bm_precopy_receive(struct bm_precopy_store *st, struct bm_conn *conn, uint64_t max_bytes, int timeout_ms)
{
	memset(st, 0, sizeof *st);
	size_t cap = RECV_MAX > BEGIN_MAX ? RECV_MAX : BEGIN_MAX;
	uint8_t *buf = malloc(cap);
	if (!buf)
		return bm_error(BM_EXIT_FAILURE, "out of memory");
	size_t len;
	int rc = bm_frame_expect(conn, BM_MSG_PRECOPY_BEGIN, buf, BEGIN_MAX, &len, timeout_ms);
	if (rc == 0)
		rc = begin(st, buf, len, max_bytes);
	while (rc == 0) {
		uint8_t type;
		if ((rc = bm_frame_recv(conn, &type, buf, cap, &len, timeout_ms)) < 0)
			break;
		if (type == BM_MSG_PRECOPY_PAGES) {
			rc = pages(st, buf, len);
		} else if (type == BM_MSG_PRECOPY_ROUND) {
			if (len != 24 || bm_load_le32(buf) != st->rounds + 1)
				rc = proto("PRECOPY_ROUND");
			st->rounds++;
		} else if (type == BM_MSG_PRECOPY_KEEP) {
			rc = keep(st, buf, len);
		} else if (type == BM_MSG_PRECOPY_KEEP_END) {
			if (len != 16 || bm_load_le64(buf) != st->nkeep || bm_load_le64(buf + 8) != st->keep_pages)
				rc = proto("PRECOPY_KEEP_END does not match the runs received");
			else
				rc = settle(st);
			break;
		} else if (type == BM_MSG_ABORT || type == BM_MSG_ERROR) {
			enum bm_exit class;
			char msg[BM_MESSAGE_MAX + 1];
			bm_decode_message(buf, len, &class, msg, sizeof msg);
			rc = bm_error_errno(class, type == BM_MSG_ABORT ? ECANCELED : EREMOTEIO, "the source gave up: %s", msg);
		} else {
			rc = bm_error_errno(BM_EXIT_NETWORK, EPROTO, "unexpected %s during pre-copy", bm_msg_name(type));
		}
	}
	free(buf);
	return rc;
}

void bm_precopy_store_adopted(struct bm_precopy_store *st, const struct bm_range *r, size_t n)
{
	st->adopted = malloc((n ? n : 1) * sizeof *r);
	if (!st->adopted)
		return; /* binmig keeps its copies, and copies them over the same pages */
	memcpy(st->adopted, r, n * sizeof *r);
	st->nadopted = n;
	for (size_t i = 0; i < n; i++) {
		munmap((void *)r[i].start, r[i].end - r[i].start);
		st->adopted_bytes += r[i].end - r[i].start;
	}
}

/* Copied 2 MiB at a time, each piece of the store given back right after:
 * the new process's next pages come from memory just freed, still warm,
 * and the store and the process never both hold the whole. */
#define APPLY_CHUNK (2u << 20)

struct apply_to {
	struct bm_precopy_store *st;
	pid_t pid;
};

static int copy_kept(void *arg, uint64_t start, uint64_t end)
{
	struct apply_to *to = arg;
	struct bm_precopy_area *a = area_of(to->st, start, end - start);
	for (uint64_t at = start; at < end;) {
		uint64_t len = end - at < APPLY_CHUNK ? end - at : APPLY_CHUNK;
		uint8_t *src = a ? a->mem + (at - a->start) : NULL;
		int rc = src ? bm_mem_write(to->pid, at, src, len) : -EFAULT;
		if (rc < 0)
			return bm_error_errno(BM_EXIT_FAILURE, -rc, "writing pre-copied pages into process %d at 0x%llx",
					      to->pid, (unsigned long long)at);
		madvise(src, len, MADV_DONTNEED);
		to->st->copied_pages += len / BM_PAGE_SIZE;
		at += len;
	}
	return 0;
}

/* The kept pages the new process did not adopt in place. */
int bm_precopy_store_apply(struct bm_precopy_store *st, pid_t pid)
{
	struct apply_to to = {st, pid};
	for (size_t i = 0; i < st->nkeep; i++) {
		const struct bm_range *r = &st->keep[i];
		size_t k = bm_ranges_after(st->adopted, st->nadopted, r->start);
		int rc = bm_ranges_each_gap(r->start, r->end, st->adopted + k, st->nadopted - k, copy_kept, &to);
		if (rc < 0)
			return rc;
	}
	st->adopted_pages = st->keep_pages - st->copied_pages;
	return 0;
}

void bm_precopy_store_free(struct bm_precopy_store *st)
{
	for (size_t i = 0; i < st->nareas; i++) {
		munmap(st->areas[i].mem, st->areas[i].end - st->areas[i].start);
		free(st->areas[i].held);
	}
	free(st->areas);
	free(st->keep);
	free(st->placed);
	free(st->adopted);
	memset(st, 0, sizeof *st);
}
