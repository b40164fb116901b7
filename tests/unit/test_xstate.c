/* Saved register state between xstate layouts (xstate.c), on synthetic
 * layouts of real CPUs: this machine's (no MPX: AVX-512's opmask at 832,
 * 2432 bytes), one with MPX (opmask at 1088, 2688 bytes) and one with AVX2
 * only (832 bytes).  Every component lands at its place and comes back
 * the same; a component in use that the destination lacks is refused,
 * one in its initial state is dropped; damaged input is refused. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "log.h"
#include "xstate.h"

static struct bm_cpu_profile here, mpx, avx2;

static void component(struct bm_cpu_profile *p, unsigned k, uint32_t offset, uint32_t size)
{
	p->xstate_mask |= 1ULL << k;
	p->comp_offset[k] = offset;
	p->comp_size[k] = size;
}

static int setup(void **state)
{
	(void)state;
	memset(&here, 0, sizeof here);
	here.has_xstate = true;
	here.xstate_mask = 3;
	here.xstate_size = 2432;
	component(&here, 2, 576, 256);
	component(&here, 5, 832, 64);
	component(&here, 6, 896, 512);
	component(&here, 7, 1408, 1024);
	mpx = here;
	mpx.xstate_size = 2688;
	component(&mpx, 3, 960, 64);
	component(&mpx, 4, 1024, 64);
	component(&mpx, 5, 1088, 64);
	component(&mpx, 6, 1152, 512);
	component(&mpx, 7, 1664, 1024);
	memset(&avx2, 0, sizeof avx2);
	avx2.has_xstate = true;
	avx2.xstate_mask = 3;
	avx2.xstate_size = 832;
	component(&avx2, 2, 576, 256);
	return 0;
}

/* A saved state of `here` with components BV, each filled with its own
 * pattern, and the kernel's software-reserved bytes. */
static uint8_t *saved(uint64_t bv)
{
	uint8_t *b = calloc(1, here.xstate_size);
	for (unsigned i = 0; i < 464; i++)
		b[i] = (uint8_t)(i * 7 + 1);
	const uint32_t magic = 0x46505853, ext = here.xstate_size + 4;
	memcpy(b + 464, &magic, 4);
	memcpy(b + 468, &ext, 4);
	memcpy(b + 472, &here.xstate_mask, 8);
	memcpy(b + 480, &here.xstate_size, 4);
	memcpy(b + 512, &bv, 8);
	for (unsigned k = 2; k < 64; k++)
		if (bv >> k & 1)
			for (uint32_t i = 0; i < here.comp_size[k]; i++)
				b[here.comp_offset[k] + i] = (uint8_t)(k * 31 + i % 251 + 1);
	return b;
}

static uint64_t bv_of(const uint8_t *b)
{
	uint64_t v;
	memcpy(&v, b + 512, 8);
	return v;
}

static void test_layouts(void **state)
{
	(void)state;
	assert_true(bm_xstate_same_layout(&here, &here));
	assert_false(bm_xstate_same_layout(&here, &mpx));
	assert_false(bm_xstate_same_layout(&here, &avx2));
	struct bm_cpu_profile other = here;
	other.comp_offset[7] = 1416;
	assert_false(bm_xstate_same_layout(&here, &other));
}

static void test_there_and_back(void **state)
{
	(void)state;
	char why[200] = "";
	uint8_t *src = saved(0xe7), *there, *back;
	uint32_t there_len, back_len;
	assert_int_equal(bm_xstate_translate(src, here.xstate_size, &here, &mpx, &there, &there_len, why, sizeof why), 0);
	assert_int_equal(there_len, 2688);
	assert_true(bv_of(there) == 0xe7);
	assert_memory_equal(there, src, 464); /* x87, SSE, MXCSR */
	for (unsigned k = 2; k < 8; k++)
		if (here.xstate_mask >> k & 1)
			assert_memory_equal(there + mpx.comp_offset[k], src + here.comp_offset[k], here.comp_size[k]);
	uint32_t size;
	uint64_t mask;
	memcpy(&mask, there + 472, 8);
	memcpy(&size, there + 480, 4);
	assert_true(mask == mpx.xstate_mask && size == 2688);
	/* MPX is not in use: its area stays in its initial state. */
	for (uint32_t i = 960; i < 1088; i++)
		assert_int_equal(there[i], 0);
	assert_int_equal(bm_xstate_translate(there, there_len, &mpx, &here, &back, &back_len, why, sizeof why), 0);
	assert_int_equal(back_len, here.xstate_size);
	assert_memory_equal(back, src, here.xstate_size);
	free(src);
	free(there);
	free(back);
}

static void test_missing_components(void **state)
{
	(void)state;
	char why[200] = "";
	uint8_t *out = NULL;
	uint32_t len;
	/* AVX-512 in use: refused, naming the first such component. */
	uint8_t *src = saved(0xe7);
	assert_int_equal(bm_xstate_translate(src, here.xstate_size, &here, &avx2, &out, &len, why, sizeof why), -EINVAL);
	assert_string_equal(why, "its saved state uses xstate component 5 (AVX-512 opmask), which the destination lacks");
	assert_null(out);
	/* Marked in use but in the initial state (all zero): dropped. */
	memset(src + 832, 0, 2432 - 832);
	assert_int_equal(bm_xstate_translate(src, here.xstate_size, &here, &avx2, &out, &len, why, sizeof why), 0);
	assert_int_equal(len, 832);
	assert_true(bv_of(out) == 0x7);
	assert_memory_equal(out + 576, src + 576, 256);
	free(out);
	free(src);
	/* Not marked at all: whatever the area holds is not state. */
	src = saved(0x7);
	memset(src + 832, 0x5a, 2432 - 832);
	assert_int_equal(bm_xstate_translate(src, here.xstate_size, &here, &avx2, &out, &len, why, sizeof why), 0);
	assert_true(bv_of(out) == 0x7);
	free(out);
	free(src);
}

static void test_damaged(void **state)
{
	(void)state;
	char why[200] = "";
	uint8_t *out = NULL, *src = saved(0xe7);
	uint32_t len;
	assert_int_equal(bm_xstate_translate(src, 2400, &here, &mpx, &out, &len, why, sizeof why), -EINVAL);
	assert_non_null(strstr(why, "2400 bytes"));
	uint64_t compacted = 1ULL << 63 | 0xe7;
	memcpy(src + 520, &compacted, 8);
	assert_int_equal(bm_xstate_translate(src, here.xstate_size, &here, &mpx, &out, &len, why, sizeof why), -EINVAL);
	assert_non_null(strstr(why, "compacted"));
	free(src);
	src = saved(0xe7 | 1ULL << 9); /* PKRU: not enabled here */
	assert_int_equal(bm_xstate_translate(src, here.xstate_size, &here, &mpx, &out, &len, why, sizeof why), -EINVAL);
	assert_non_null(strstr(why, "does not enable"));
	free(src);
	struct bm_cpu_profile wide = mpx;
	wide.comp_size[6] = 576;
	src = saved(0xe7);
	assert_int_equal(bm_xstate_translate(src, here.xstate_size, &here, &wide, &out, &len, why, sizeof why), -EINVAL);
	assert_non_null(strstr(why, "component 6"));
	assert_null(out);
	free(src);
}

static void test_threads_all_or_nothing(void **state)
{
	(void)state;
	struct bm_thread threads[2] = { { .tid = 100 }, { .tid = 101 } };
	threads[0].xstate = saved(0x7);
	threads[1].xstate = saved(0xe7);
	threads[0].xstate_len = threads[1].xstate_len = here.xstate_size;
	uint8_t *first = threads[0].xstate;
	struct bm_process p = { .pid = 100, .threads = threads, .nthreads = 2 };
	assert_int_equal(bm_xstate_translate_threads(&p, &here, &avx2), -1);
	assert_int_equal(bm_exit_code(), BM_EXIT_UNSUPPORTED);
	assert_non_null(strstr(bm_error_message(), "thread 101: its saved state uses xstate component 5"));
	bm_reset_errors();
	assert_ptr_equal(threads[0].xstate, first);
	assert_int_equal(threads[0].xstate_len, here.xstate_size);
	/* Both fit the MPX layout; the same layout changes nothing. */
	assert_int_equal(bm_xstate_translate_threads(&p, &here, &mpx), 0);
	assert_int_equal(threads[0].xstate_len, 2688);
	assert_int_equal(threads[1].xstate_len, 2688);
	uint8_t *now = threads[1].xstate;
	assert_int_equal(bm_xstate_translate_threads(&p, &mpx, &mpx), 0);
	assert_ptr_equal(threads[1].xstate, now);
	free(threads[0].xstate);
	free(threads[1].xstate);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_layouts, setup),
		cmocka_unit_test_setup(test_there_and_back, setup),
		cmocka_unit_test_setup(test_missing_components, setup),
		cmocka_unit_test_setup(test_damaged, setup),
		cmocka_unit_test_setup(test_threads_all_or_nothing, setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
