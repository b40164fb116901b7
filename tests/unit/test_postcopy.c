/* Post-copy's plan (postcopy_dest.c): the lazy runs the source announces
 * reach the destination with each run's first page index; runs that are
 * out of order, overlapping, empty, misaligned, or whose totals do not
 * match, are refused before anything is restored (a protocol failure). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "postcopy.h"
#include "unit_net.h"
#include "wire.h"

#define PG 4096ull

struct run {
	uint64_t addr, pages;
};

/* Sends RUNS (in frames of `per` runs) and RUNS_END with the given totals
 * over a socketpair, and receives them on the other end. */
static int exchange(const struct run *runs, size_t n, size_t per, uint64_t end_runs, uint64_t end_pages,
		    struct bm_postcopy_dest *d)
{
	int sv[2];
	make_pair(sv);
	uint8_t buf[16 * 8];
	for (size_t i = 0; i < n; i += per) {
		size_t k = n - i < per ? n - i : per;
		for (size_t j = 0; j < k; j++) {
			bm_store_le64(buf + 16 * j, runs[i + j].addr);
			bm_store_le64(buf + 16 * j + 8, runs[i + j].pages);
		}
		assert_int_equal(bm_frame_send_buf(PLAIN(sv[0]), BM_MSG_POSTCOPY_RUNS, buf, 16 * k, 1000), 0);
	}
	bm_store_le64(buf, end_runs);
	bm_store_le64(buf + 8, end_pages);
	assert_int_equal(bm_frame_send_buf(PLAIN(sv[0]), BM_MSG_POSTCOPY_RUNS_END, buf, 16, 1000), 0);
	int rc = bm_postcopy_receive_plan(d, PLAIN(sv[1]), 1000);
	close(sv[0]);
	close(sv[1]);
	return rc;
}

static void test_plan_received(void **state)
{
	(void)state;
	const struct run runs[] = {{0x10000, 3}, {0x20000, 1}, {0x7f0000000000, 16}};
	struct bm_postcopy_dest d;
	assert_int_equal(exchange(runs, 3, 2, 3, 20, &d), 0);
	assert_int_equal(d.nlazy, 3);
	assert_int_equal(d.lazy_pages, 20);
	assert_int_equal(d.lazy[0].start, 0x10000);
	assert_int_equal(d.lazy[0].end, 0x10000 + 3 * PG);
	assert_int_equal(d.lazy[2].end, 0x7f0000000000 + 16 * PG);
	assert_int_equal(d.first_page[0], 0);
	assert_int_equal(d.first_page[1], 3);
	assert_int_equal(d.first_page[2], 4);
	assert_int_equal(d.proc_fd, -1);
	bm_postcopy_dest_free(&d);
}

static void test_plan_malformed(void **state)
{
	(void)state;
	struct {
		struct run r[2];
		size_t n;
		uint64_t end_runs, end_pages;
	} bad[] = {
		{{{0x20000, 1}, {0x10000, 1}}, 2, 2, 2},        /* out of order */
		{{{0x10000, 2}, {0x11000, 1}}, 2, 2, 3},        /* overlapping */
		{{{0x10000, 0}}, 1, 1, 0},                      /* empty */
		{{{0x10800, 1}}, 1, 1, 1},                      /* misaligned */
		{{{0x10000, 2}}, 1, 1, 3},                      /* pages total */
		{{{0x10000, 2}}, 1, 2, 2},                      /* runs total */
		{{{0x800000000000, 1}}, 1, 1, 1},               /* beyond user space */
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		struct bm_postcopy_dest d;
		bm_reset_errors();
		int rc = exchange(bad[i].r, bad[i].n, 2, bad[i].end_runs, bad[i].end_pages, &d);
		bm_postcopy_dest_free(&d);
		if (rc >= 0 || !strstr(bm_error_message(), "malformed post-copy message"))
			print_error("case %zu: %d (%s), expected a refusal\n", i, rc, bm_error_message());
		assert_true(rc < 0 && strstr(bm_error_message(), "malformed post-copy message"));
	}
}

int main(void)
{
	bm_hold_errors();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plan_received),
		cmocka_unit_test(test_plan_malformed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
