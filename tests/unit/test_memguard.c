/* Guard regions (memguard.c): found in this process's own page map, both
 * ways (PAGEMAP_SCAN and pagemap's bit 58); held to the image's rule; and
 * carried through an image, a version-10 one having none. */
#include <sys/mman.h>

#include "unit_raw_image.h"
#include "image_model.h"
#include "memguard.h"

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif


/* 16 pages with guards at page 0, pages 5 and 6, and page 15; NULL
 * (skipped) on a kernel without guard regions. */
static char *guarded(void)
{
	char *p = mmap(NULL, 16 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(p != MAP_FAILED);
	memset(p, 1, 16 * PAGE);
	if (madvise(p, PAGE, MADV_GUARD_INSTALL) != 0) {
		munmap(p, 16 * PAGE);
		return NULL;
	}
	assert_int_equal(madvise(p + 5 * PAGE, 2 * PAGE, MADV_GUARD_INSTALL), 0);
	assert_int_equal(madvise(p + 15 * PAGE, PAGE, MADV_GUARD_INSTALL), 0);
	return p;
}

static void test_guards_found_both_ways(void **state)
{
	(void)state;
	char *p = guarded();
	if (!p)
		skip(); /* before Linux 6.13 */
	int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	uint64_t a = (uintptr_t)p;
	for (int scan = 0; scan < 2; scan++) {
		struct bm_guard_list g = {0};
		assert_int_equal(bm_guards_find(fd, a, a + 16 * PAGE, scan, &g), 0);
		assert_int_equal(g.n, 3);
		assert_true(g.r[0].start == a && g.r[0].end == a + PAGE);
		assert_true(g.r[1].start == a + 5 * PAGE && g.r[1].end == a + 7 * PAGE);
		assert_true(g.r[2].start == a + 15 * PAGE && g.r[2].end == a + 16 * PAGE);
		/* Found in two pieces, a range is merged, but not one that starts
		 * below merge_from (a range never spans two VMAs). */
		g.n = 0;
		assert_int_equal(bm_guards_find(fd, a + 5 * PAGE, a + 6 * PAGE, scan, &g), 0);
		assert_int_equal(bm_guards_find(fd, a + 6 * PAGE, a + 7 * PAGE, scan, &g), 0);
		assert_int_equal(g.n, 1);
		g.n = 0;
		assert_int_equal(bm_guards_find(fd, a + 5 * PAGE, a + 6 * PAGE, scan, &g), 0);
		g.merge_from = a + 6 * PAGE;
		assert_int_equal(bm_guards_find(fd, a + 6 * PAGE, a + 7 * PAGE, scan, &g), 0);
		assert_int_equal(g.n, 2);
		assert_true(g.r[1].start == a + 6 * PAGE && g.r[1].end == a + 7 * PAGE);
		free(g.r);
	}
	close(fd);
	munmap(p, 16 * PAGE);
}

/* A process with two private VMAs that hold guard ranges. */
static void with_guards(struct bm_process *q)
{
	make_process(q, true);
	q->guards = calloc(3, sizeof *q->guards);
	assert_non_null(q->guards);
	q->nguards = 3;
	q->guards[0] = (struct bm_range){0x600000, 0x601000};          /* [heap] */
	q->guards[1] = (struct bm_range){0x610000, 0x612000};
	q->guards[2] = (struct bm_range){0x7ffffffde000, 0x7ffffffdf000}; /* [stack]'s low end */
	q->vmas[1].flags |= BM_VMA_MAYBE_GUARD;
	q->vmas[q->nvmas - 2].flags |= BM_VMA_MAYBE_GUARD;
	assert_true(q->vmas[q->nvmas - 2].start == 0x7ffffffde000);
}

static void expect_invalid(struct bm_process *q, const char *why_part)
{
	char why[200] = "";
	assert_false(bm_guards_valid(q, why, sizeof why));
	if (!strstr(why, why_part))
		fail_msg("\"%s\" does not say \"%s\"", why, why_part);
}

static void test_the_image_rule(void **state)
{
	(void)state;
	struct bm_process q;
	with_guards(&q);
	char why[200];
	assert_true(bm_guards_valid(&q, why, sizeof why));
	q.guards[1].end = 0x611800;
	expect_invalid(&q, "not page aligned");
	q.guards[1] = (struct bm_range){0x600000, 0x602000};
	expect_invalid(&q, "overlaps or precedes");
	q.guards[1] = (struct bm_range){0x620000, 0x622000}; /* past the heap's end */
	expect_invalid(&q, "not within one memory area");
	q.guards[1] = (struct bm_range){0x610000, 0x612000};
	q.vmas[1].flags |= BM_VMA_SHARED;
	expect_invalid(&q, "in shared memory");
	q.vmas[1].flags &= ~BM_VMA_SHARED;
	q.vmas[1].flags |= BM_VMA_LOCKED;
	expect_invalid(&q, "in locked memory");
	q.vmas[1].flags |= BM_VMA_LOCKONFAULT; /* mlock2(MLOCK_ONFAULT) takes them */
	assert_true(bm_guards_valid(&q, why, sizeof why));
	q.vmas[1].flags &= ~BM_VMA_MAYBE_GUARD;
	expect_invalid(&q, "without the flag of guard regions");
	bm_process_free(&q);
}

static void test_carried_through_the_image(void **state)
{
	(void)state;
	struct bm_process q;
	with_guards(&q);
	struct bm_wbuf img;
	write_image(&img, &q, NULL, 0, -1, NULL);
	struct mem_input in = {img.data, img.len, 0, 0};
	struct bm_image_reader r;
	assert_int_equal(bm_image_reader_init(&r, (struct bm_source){mem_read, &in}), 0);
	assert_int_equal(r.version, BM_IMAGE_VERSION);
	struct bm_process got;
	assert_int_equal(bm_image_read_process(&r, &got), 0);
	assert_process_equal(&q, &got);
	size_t first;
	assert_int_equal(bm_guards_within(&got, 0x600000, 0x621000, &first), 2);
	assert_int_equal(first, 0);
	assert_int_equal(bm_guards_within(&got, 0x611000, 0x7f0000000000, &first), 1);
	assert_int_equal(first, 1);
	bm_process_free(&got);
	bm_image_reader_free(&r);
	/* A range the rule refuses, made with a valid CRC: rejected. */
	struct raw_image ri;
	split_image(&img, &ri);
	bm_wbuf_free(&img);
	struct raw_section *vmas = &ri.s[find_section(&ri, BM_SEC_VMAS, 0)];
	bm_store_le64(vmas->payload + vmas->len - 8, 0x7ffffffde800);
	assemble(&ri, &img, true);
	assert_rejected(img.data, img.len, "guard range 2 (0x7ffffffde000-0x7ffffffde800) is empty or not page aligned");
	bm_wbuf_free(&img);
	/* Nor may an encoder write one. */
	q.guards[2].end = 0x7ffffffde800;
	bm_wbuf_init(&img);
	char why[200];
	assert_int_equal(bm_encode_vmas(&img, &q, why, sizeof why), -EINVAL);
	bm_wbuf_free(&img);
	free_raw_image(&ri);
	bm_process_free(&q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_guards_found_both_ways),
		cmocka_unit_test(test_the_image_rule),
		cmocka_unit_test_teardown(test_carried_through_the_image, restore_stderr_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
