/* Pre-copy pieces that need no second process: the option parsers,
 * PAGEMAP_SCAN on this process's own memory, and the destination's store
 * fed over a socket pair (bounds, refusals, the kept pages applied). */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "pagescan.h"
#include "precopy.h"
#include "wire.h"

#define PG 4096u

static void test_options(void **state)
{
	(void)state;
	unsigned r;
	uint64_t v;
	assert_int_equal(bm_precopy_parse_rounds("3", &r), 0);
	assert_int_equal(r, 3);
	assert_int_equal(bm_precopy_parse_rounds("0", &r), -EINVAL);
	assert_int_equal(bm_precopy_parse_rounds("65", &r), -EINVAL);
	assert_int_equal(bm_precopy_parse_rounds("2x", &r), -EINVAL);
	assert_int_equal(bm_precopy_parse_threshold("0", &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(bm_precopy_parse_threshold("4MiB", &v), 0);
	assert_int_equal(v, 1024);
	assert_int_equal(bm_precopy_parse_threshold("2M", &v), 0);
	assert_int_equal(v, 512);
	assert_int_equal(bm_precopy_parse_threshold("-1", &v), -EINVAL);
	assert_int_equal(bm_precopy_parse_threshold("1GiB", &v), -EINVAL);
	assert_int_equal(bm_precopy_parse_mib("64", &v), 0);
	assert_int_equal(v, 64u << 20);
	assert_int_equal(bm_precopy_parse_mib("0", &v), -EINVAL);
}

struct seen {
	uint64_t base;
	uint64_t cats[8];
};

static int note(void *ctx, const struct bm_scan_run *run)
{
	struct seen *s = ctx;
	for (uint64_t a = run->start; a < run->end; a += PG)
		s->cats[(a - s->base) / PG] = run->cats | (1ULL << 63);
	return 0;
}

static void test_scan_own_memory(void **state)
{
	(void)state;
	int pm = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	assert_true(pm >= 0);
	if (!bm_pagescan_available(pm)) {
		close(pm);
		skip();
	}
	uint8_t *m = mmap(NULL, 8 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(m != MAP_FAILED);
	madvise(m, 8 * PG, MADV_NOHUGEPAGE);
	m[0] = m[PG] = m[3 * PG] = 1;
	struct seen s = {.base = (uintptr_t)m};
	const struct bm_scan_query q = {0, 0, BM_PAGE_IS_PRESENT | BM_PAGE_IS_SWAPPED,
					BM_PAGE_IS_PRESENT | BM_PAGE_IS_FILE | BM_PAGE_IS_PFNZERO};
	assert_int_equal(bm_pagescan(pm, (uintptr_t)m, (uintptr_t)m + 8 * PG, &q, note, &s), 0);
	for (int i = 0; i < 8; i++) {
		bool written = i == 0 || i == 1 || i == 3;
		if (written)
			assert_int_equal(s.cats[i], (1ULL << 63) | BM_PAGE_IS_PRESENT);
		else
			assert_int_equal(s.cats[i], 0);
	}
	munmap(m, 8 * PG);
	close(pm);
}

struct pair {
	int fd[2];
	struct bm_conn tx, rx;
};

static void pair_open(struct pair *p)
{
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, p->fd), 0);
	p->tx = bm_conn_plain(p->fd[0]);
	p->rx = bm_conn_plain(p->fd[1]);
}

static void pair_close(struct pair *p)
{
	close(p->fd[0]);
	close(p->fd[1]);
}

static void send_begin(struct pair *p, uint64_t start, uint64_t end)
{
	uint8_t b[24];
	bm_store_le32(b, 1);
	bm_store_le32(b + 4, 0);
	bm_store_le64(b + 8, start);
	bm_store_le64(b + 16, end);
	assert_int_equal(bm_frame_send_buf(&p->tx, BM_MSG_PRECOPY_BEGIN, b, sizeof b, 1000), 0);
}

static void send_page(struct pair *p, uint64_t addr, uint8_t fillbyte)
{
	static uint8_t b[BM_PRECOPY_PAGES_HEADER + PG];
	bm_store_le64(b, addr);
	bm_store_le32(b + 8, 1);
	bm_store_le32(b + 12, 0);
	memset(b + BM_PRECOPY_PAGES_HEADER, fillbyte, PG);
	assert_int_equal(bm_frame_send_buf(&p->tx, BM_MSG_PRECOPY_PAGES, b, sizeof b, 1000), 0);
}

static void send_keep(struct pair *p, uint64_t addr, uint64_t n)
{
	uint8_t b[16];
	bm_store_le64(b, addr);
	bm_store_le64(b + 8, n);
	assert_int_equal(bm_frame_send_buf(&p->tx, BM_MSG_PRECOPY_KEEP, b, sizeof b, 1000), 0);
	bm_store_le64(b, 1);
	bm_store_le64(b + 8, n);
	assert_int_equal(bm_frame_send_buf(&p->tx, BM_MSG_PRECOPY_KEEP_END, b, sizeof b, 1000), 0);
}

/* The latest version of a page wins, and the kept pages land in the
 * process (this one, at a buffer of its own). */
static void test_store_keeps_latest_and_applies(void **state)
{
	(void)state;
	uint8_t *target = mmap(NULL, 4 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(target != MAP_FAILED);
	uint64_t t = (uintptr_t)target;
	struct pair p;
	pair_open(&p);
	send_begin(&p, t, t + 4 * PG);
	send_page(&p, t + PG, 0x11);
	send_page(&p, t + 2 * PG, 0x22);
	send_page(&p, t + PG, 0x33); /* a later round */
	send_keep(&p, t + PG, 2);
	struct bm_precopy_store st;
	assert_int_equal(bm_precopy_receive(&st, &p.rx, 1 << 20, 1000), 0);
	assert_int_equal(st.held_pages, 2);
	assert_int_equal(st.keep_pages, 2);
	assert_int_equal(bm_precopy_store_apply(&st, getpid()), 0);
	assert_int_equal(target[PG], 0x33);
	assert_int_equal(target[2 * PG + 100], 0x22);
	assert_int_equal(target[0], 0);
	assert_int_equal(target[3 * PG], 0);
	bm_precopy_store_free(&st);
	pair_close(&p);
	munmap(target, 4 * PG);
}

/* A range free here is held at its own address: once the kept runs are
 * known, it holds exactly the kept pages (a page sent but not kept reads
 * zero), it is listed as placed, and pages adopted in place are not
 * copied again. */
static void test_store_in_place(void **state)
{
	(void)state;
	/* Far below where mmap places memory by itself: nothing of this
	 * process (the store's own allocations included) lands there. */
	uint8_t *probe = MAP_FAILED;
	for (uint64_t at = 0x3d0000000000ULL; probe == MAP_FAILED && at < 0x3e0000000000ULL; at += 1ULL << 30)
		probe = mmap((void *)(uintptr_t)at, 4 * PG, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	assert_true(probe != MAP_FAILED);
	munmap(probe, 4 * PG);
	uint64_t t = (uintptr_t)probe;
	struct pair p;
	pair_open(&p);
	send_begin(&p, t, t + 4 * PG);
	send_page(&p, t, 0x44);          /* sent, then written again: not kept */
	send_page(&p, t + 2 * PG, 0x55); /* kept */
	send_keep(&p, t + 2 * PG, 1);
	struct bm_precopy_store st;
	assert_int_equal(bm_precopy_receive(&st, &p.rx, 1 << 20, 1000), 0);
	assert_int_equal(st.nplaced, 1);
	assert_int_equal(st.placed[0].start, t);
	assert_int_equal(st.placed[0].end, t + 4 * PG);
	const uint8_t *held = (const uint8_t *)(uintptr_t)t;
	assert_int_equal(held[0], 0);
	assert_int_equal(held[2 * PG + 7], 0x55);
	/* As the new process does: binmig's copy goes, nothing is copied. */
	bm_precopy_store_adopted(&st, st.placed, 1);
	assert_int_equal(bm_precopy_store_apply(&st, getpid()), 0);
	assert_int_equal(st.copied_pages, 0);
	assert_int_equal(st.adopted_pages, 1);
	assert_int_equal(st.adopted_bytes, 4 * PG);
	bm_precopy_store_free(&st);
	pair_close(&p);
}

/* A kept page never sent, pages outside the ranges, a store over its bound:
 * refused, never made up. */
static void test_store_refusals(void **state)
{
	(void)state;
	uint64_t t = 0x10000000;
	for (int c = 0; c < 3; c++) {
		struct pair p;
		pair_open(&p);
		send_begin(&p, t, t + 4 * PG);
		send_page(&p, c == 1 ? t + 8 * PG : t, 0x11);
		if (c == 2)
			send_page(&p, t + PG, 0x11);
		send_keep(&p, t, c == 0 ? 2 : 1);
		struct bm_precopy_store st;
		assert_true(bm_precopy_receive(&st, &p.rx, c == 2 ? PG : 1 << 20, 1000) < 0);
		bm_precopy_store_free(&st);
		pair_close(&p);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_options),
		cmocka_unit_test(test_scan_own_memory),
		cmocka_unit_test(test_store_keeps_latest_and_applies),
		cmocka_unit_test(test_store_in_place),
		cmocka_unit_test(test_store_refusals),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
