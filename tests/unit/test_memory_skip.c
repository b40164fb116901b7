/* The pages a checkpoint leaves out (memory.c, struct bm_page_skip) and
 * those it counts for pre-copy: the pages the image carries of private
 * memory within the counted ranges, kept pages and untouched ones not
 * among them, shared memory never. */
#include <sys/mman.h>

#include "checkpoint.h"
#include "memory.h"
#include "shmem.h"
#include "unit_process.h"

#define NPAGES 16

/* Writes this process's mapping [at, at + NPAGES pages) with skip into a
 * memory image; its pages_total in *total. */
static void write_region(char *at, uint32_t flags, const struct bm_page_skip *skip, int64_t *total, bool member)
{
	struct bm_process p;
	make_process(&p, false);
	for (uint32_t i = 0; i < p.nvmas; i++)
		free(p.vmas[i].path);
	p.nvmas = 0;
	add_vma(&p, (uintptr_t)at, (uintptr_t)at + NPAGES * PAGE, PROT_READ | PROT_WRITE, BM_VMA_ANON, flags, 0, NULL);
	struct bm_wbuf img;
	bm_wbuf_init(&img);
	struct bm_image_writer w;
	assert_int_equal(bm_image_writer_init(&w, (struct bm_sink){mem_writev, &img}, -1), 0);
	assert_int_equal(bm_image_write_process(&w, &p), 0);
	struct bm_stats st = {0};
	struct bm_shmem_seen seen = {0};
	if (member) /* a tree member's pages: nothing skipped, only counted */
		assert_int_equal(bm_write_pages(getpid(), &p, &w, &st, &seen, skip), 0);
	else
		assert_int_equal(bm_write_pages_skip(getpid(), &p, &w, &st, skip), 0);
	bm_shmem_seen_free(&seen);
	*total = st.pages_total;
	bm_image_writer_free(&w);
	bm_wbuf_free(&img);
	bm_process_free(&p);
}

static void test_counted(void **state)
{
	(void)state;
	char *m = mmap(NULL, NPAGES * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(m != MAP_FAILED);
	assert_int_equal(madvise(m, NPAGES * PAGE, MADV_NOHUGEPAGE), 0);
	for (int i = 0; i < 10; i++) /* pages 10..15 never touched: not in the image */
		m[i * PAGE] = (char)(i + 1);
	/* Page 6 the shared zero page: written as zero without being read. */
	assert_int_equal(madvise(m + 6 * PAGE, PAGE, MADV_DONTNEED), 0);
	assert_int_equal(*(volatile char *)(m + 6 * PAGE), 0);
	uint64_t base = (uintptr_t)m;
	struct bm_range kept[] = {{base + 2 * PAGE, base + 4 * PAGE}};
	struct bm_range counted[] = {{base, base + PAGE}, {base + PAGE * 3, base + 8 * PAGE},
				     {base + 9 * PAGE, base + 14 * PAGE}};
	uint64_t carried = 0;
	struct bm_page_skip skip = {kept, 1, counted, 3, &carried};
	int64_t total;
	write_region(m, 0, &skip, &total, false);
	/* Written: 0, 1, 4..9 (8 pages, 6 as zero); counted: 0, 4..7, 9. */
	assert_int_equal(total, 8);
	assert_int_equal(carried, 6);
	/* A tree member's pages, counted only: every written page in the ranges. */
	struct bm_page_skip count = {NULL, 0, counted, 3, &carried};
	carried = 0;
	write_region(m, 0, &count, &total, true);
	assert_int_equal(total, 10);
	assert_int_equal(carried, 7);
	/* Without counted ranges nothing is counted. */
	struct bm_page_skip plain = {kept, 1, NULL, 0, NULL};
	write_region(m, 0, &plain, &total, false);
	assert_int_equal(total, 8);
	munmap(m, NPAGES * PAGE);
}

static void test_shared_not_counted(void **state)
{
	(void)state;
	char *m = mmap(NULL, NPAGES * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(m != MAP_FAILED);
	memset(m, 1, NPAGES * PAGE);
	uint64_t base = (uintptr_t)m;
	struct bm_range counted[] = {{base, base + NPAGES * PAGE}};
	uint64_t carried = 0;
	struct bm_page_skip skip = {NULL, 0, counted, 1, &carried};
	int64_t total;
	write_region(m, BM_VMA_SHARED, &skip, &total, false);
	assert_int_equal(total, NPAGES);
	assert_int_equal(carried, 0);
	munmap(m, NPAGES * PAGE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_counted),
		cmocka_unit_test(test_shared_not_counted),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
