/* Memory a new process keeps in place (restore_inplace.c): which VMAs may
 * keep binmig's pages (private writable anonymous memory only, no stack,
 * no MAP_NORESERVE), the parts of them inside binmig's ranges, and the
 * pieces between sorted ranges. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

#include <cmocka.h>

#include "restore_inplace.h"

#define RW (PROT_READ | PROT_WRITE)

static struct bm_vma vma(uint64_t s, uint64_t e, int kind, int prot, uint32_t flags)
{
	return (struct bm_vma){.start = s, .end = e, .kind = kind, .prot = prot, .flags = flags};
}

static void eligible(void **state)
{
	(void)state;
	struct bm_vma ok = vma(0x1000, 0x2000, BM_VMA_ANON, RW, 0);
	assert_true(bm_rs_inplace_eligible(&ok));
	ok.flags = BM_VMA_HEAP | BM_VMA_HUGEPAGE | BM_VMA_LOCKED;
	assert_true(bm_rs_inplace_eligible(&ok));
	ok.prot = RW | PROT_EXEC;
	assert_true(bm_rs_inplace_eligible(&ok));
	const struct bm_vma no[] = {
		vma(0x1000, 0x2000, BM_VMA_ANON, PROT_READ, 0),
		vma(0x1000, 0x2000, BM_VMA_ANON, PROT_NONE, 0),
		vma(0x1000, 0x2000, BM_VMA_FILE, RW, 0),
		vma(0x1000, 0x2000, BM_VMA_ANON, RW, BM_VMA_SHARED | BM_VMA_SHMEM),
		vma(0x1000, 0x2000, BM_VMA_ANON, RW, BM_VMA_STACK | BM_VMA_GROWSDOWN),
		vma(0x1000, 0x2000, BM_VMA_ANON, RW, BM_VMA_NORESERVE),
		vma(0x1000, 0x2000, BM_VMA_VDSO, RW, 0),
	};
	for (size_t i = 0; i < sizeof no / sizeof *no; i++)
		assert_false(bm_rs_inplace_eligible(&no[i]));
}

static void plan(void **state)
{
	(void)state;
	struct bm_vma v[] = {
		vma(0x10000, 0x20000, BM_VMA_ANON, RW, 0),       /* half inside */
		vma(0x20000, 0x30000, BM_VMA_ANON, PROT_READ, 0), /* not eligible */
		vma(0x30000, 0x50000, BM_VMA_ANON, RW, 0),       /* two ranges, a hole */
		vma(0x60000, 0x70000, BM_VMA_FILE, RW, 0),       /* not eligible */
		vma(0x80000, 0x90000, BM_VMA_ANON, RW, 0),       /* outside every range */
	};
	struct bm_process p = {.vmas = v, .nvmas = 5};
	const struct bm_range pre[] = {{0x18000, 0x34000}, {0x38000, 0x40000}, {0x48000, 0x70000}};
	struct bm_range *r;
	size_t n;
	assert_int_equal(bm_rs_plan_inplace(&p, pre, 3, &r, &n), 0);
	const struct bm_range want[] = {{0x18000, 0x20000}, {0x30000, 0x34000}, {0x38000, 0x40000}, {0x48000, 0x50000}};
	assert_int_equal(n, 4);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(r[i].start, want[i].start);
		assert_int_equal(r[i].end, want[i].end);
	}
	free(r);
	assert_int_equal(bm_rs_plan_inplace(&p, NULL, 0, &r, &n), 0);
	assert_int_equal(n, 0);
	free(r);
}

/* Two adjacent areas alike in everything binmig sets: the second is kept
 * apart (mapped afresh, not kept in place), other neighbours are not. */
static void kept_apart(void **state)
{
	(void)state;
	struct bm_vma a = vma(0x10000, 0x14000, BM_VMA_ANON, RW, BM_VMA_ACCOUNT);
	struct bm_vma b = vma(0x14000, 0x16000, BM_VMA_ANON, RW, BM_VMA_ACCOUNT);
	assert_true(bm_rs_kept_apart(&a, &b));
	const struct bm_vma no[] = {
		vma(0x15000, 0x16000, BM_VMA_ANON, RW, BM_VMA_ACCOUNT),                  /* a hole between */
		vma(0x14000, 0x16000, BM_VMA_ANON, PROT_READ, BM_VMA_ACCOUNT),           /* other permissions */
		vma(0x14000, 0x16000, BM_VMA_ANON, RW, BM_VMA_ACCOUNT | BM_VMA_HUGEPAGE), /* other flags */
		vma(0x14000, 0x16000, BM_VMA_FILE, RW, BM_VMA_ACCOUNT),                  /* a file */
		vma(0x14000, 0x16000, BM_VMA_ANON, RW, BM_VMA_ACCOUNT | BM_VMA_GROWSDOWN), /* a stack */
	};
	for (size_t i = 0; i < sizeof no / sizeof *no; i++)
		assert_false(bm_rs_kept_apart(&a, &no[i]));
	/* The plan keeps a's pages in place, not b's: b is mapped afresh. */
	struct bm_vma v[] = {a, b};
	struct bm_process p = {.vmas = v, .nvmas = 2};
	const struct bm_range pre[] = {{0x10000, 0x16000}};
	struct bm_range *r;
	size_t n;
	assert_int_equal(bm_rs_plan_inplace(&p, pre, 1, &r, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(r[0].start, 0x10000);
	assert_int_equal(r[0].end, 0x14000);
	free(r);
}

struct pieces {
	struct bm_range got[8];
	size_t n;
	int fail_at; /* piece index that fails, or -1 */
};

static int collect(void *arg, uint64_t s, uint64_t e)
{
	struct pieces *p = arg;
	if ((int)p->n == p->fail_at)
		return -EIO;
	assert_true(s < e);
	p->got[p->n++] = (struct bm_range){s, e};
	return 0;
}

static void gaps(void **state)
{
	(void)state;
	const struct bm_range r[] = {{0x2000, 0x3000}, {0x3000, 0x5000}, {0x8000, 0x9000}, {0xa000, 0xc000}};
	struct pieces p = {.fail_at = -1};
	assert_int_equal(bm_ranges_each_gap(0x1000, 0xb000, r, 4, collect, &p), 0);
	const struct bm_range want[] = {{0x1000, 0x2000}, {0x5000, 0x8000}, {0x9000, 0xa000}};
	assert_int_equal(p.n, 3);
	for (size_t i = 0; i < p.n; i++) {
		assert_int_equal(p.got[i].start, want[i].start);
		assert_int_equal(p.got[i].end, want[i].end);
	}
	p = (struct pieces){.fail_at = -1};
	assert_int_equal(bm_ranges_each_gap(0x2000, 0x5000, r, 4, collect, &p), 0);
	assert_int_equal(p.n, 0);
	p = (struct pieces){.fail_at = -1};
	assert_int_equal(bm_ranges_each_gap(0xd000, 0xe000, r, 4, collect, &p), 0);
	assert_int_equal(p.n, 1);
	assert_int_equal(p.got[0].start, 0xd000);
	p = (struct pieces){.fail_at = -1};
	assert_int_equal(bm_ranges_each_gap(0x0, 0x1000, NULL, 0, collect, &p), 0);
	assert_int_equal(p.n, 1);
	p = (struct pieces){.fail_at = 1};
	assert_int_equal(bm_ranges_each_gap(0x1000, 0xb000, r, 4, collect, &p), -EIO);
	assert_int_equal(p.n, 1);

	assert_int_equal(bm_ranges_after(r, 4, 0), 0);
	assert_int_equal(bm_ranges_after(r, 4, 0x3000), 1);
	assert_int_equal(bm_ranges_after(r, 4, 0x4fff), 1);
	assert_int_equal(bm_ranges_after(r, 4, 0x5000), 2);
	assert_int_equal(bm_ranges_after(r, 4, 0xc000), 4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(eligible),
		cmocka_unit_test(plan),
		cmocka_unit_test(kept_apart),
		cmocka_unit_test(gaps),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
