/* cpu_profile.c: the text `binmig cpu-profile` prints parses back to the
 * same profile, hand edits work (a flag removed, comments, blank lines),
 * malformed text is refused with the line, and xstate layouts are
 * compared component by component. */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <stddef.h>
#include <cmocka.h>

#include "cpu_profile.h"
#include "isa_classify.h"

static struct bm_cpu_profile a, b;

static void test_round_trip(void **state)
{
	(void)state;
	assert_int_equal(bm_cpu_profile_local(&a), 0);
	assert_true(a.nflags > 10);
	assert_true(bm_cpu_profile_has(&a, "sse2"));
	char *text;
	size_t len;
	assert_int_equal(bm_cpu_profile_text(&a, &text, &len), 0);
	char why[160];
	assert_int_equal(bm_cpu_profile_parse(text, len, &b, why, sizeof why), 0);
	assert_int_equal(b.nflags, a.nflags);
	assert_memory_equal(&a, &b, sizeof a);
	assert_int_equal(bm_xstate_incompatible(&a, &b, why, sizeof why), 0);
	free(text);
}

static void test_hand_edited(void **state)
{
	(void)state;
	static const char text[] = "# a comment\n\nsse2\r\n  avx  \nbmi2\nxstate size 2432\nxstate mask 0xe7\n"
				   "xstate component 2 offset 576 size 256\nxstate component 5 offset 832 size 64\n"
				   "xstate component 6 offset 896 size 512\nxstate component 7 offset 1408 size 1024";
	char why[160];
	assert_int_equal(bm_cpu_profile_parse(text, sizeof text - 1, &a, why, sizeof why), 0);
	assert_int_equal(a.nflags, 3);
	assert_int_equal(bm_cpu_profile_exts(&a), BM_EXT_BIT(BM_EXT_AVX) | BM_EXT_BIT(BM_EXT_BMI2));
	assert_int_equal(a.xstate_mask, 0xe7);
	assert_int_equal(a.comp_offset[6], 896);

	b = a;
	assert_int_equal(bm_xstate_incompatible(&a, &b, why, sizeof why), 0);
	/* Components missing there, other offsets, another area size: the
	 * state is translated after the freeze (test_xstate), not refused. */
	b.xstate_mask = 0x7;
	assert_int_equal(bm_xstate_incompatible(&a, &b, why, sizeof why), 0);
	b = a;
	b.comp_offset[7] = 1536;
	b.xstate_size = 2696;
	assert_int_equal(bm_xstate_incompatible(&a, &b, why, sizeof why), 0);
	assert_int_equal(bm_xstate_incompatible(&b, &a, why, sizeof why), 0);
	/* A component of another size cannot be carried across. */
	b = a;
	b.comp_size[7] = 512;
	assert_int_equal(bm_xstate_incompatible(&a, &b, why, sizeof why), 1);
	assert_non_null(strstr(why, "component 7"));
	/* No layout at all there. */
	b.has_xstate = false;
	assert_int_equal(bm_xstate_incompatible(&a, &b, why, sizeof why), 1);
}

static void refused(const char *text, const char *expect)
{
	char why[160] = "";
	assert_int_equal(bm_cpu_profile_parse(text, strlen(text), &a, why, sizeof why), -EINVAL);
	if (!strstr(why, expect))
		fail_msg("'%s': reason '%s' lacks '%s'", text, why, expect);
}

static void test_refused(void **state)
{
	(void)state;
	refused("", "no CPU flags");
	refused("# only a comment\n", "no CPU flags");
	refused("sse2\nAVX2\n", "line 2");
	refused("sse2\nxstate size -1\n", "line 2");
	refused("sse2\nxstate component 1 offset 0 size 0\n", "line 2");
	refused("sse2\nxstate component 64 offset 0 size 0\n", "line 2");
	refused("sse2 avx\n", "line 1");
	refused("a_flag_name_much_longer_than_thirty_two\n", "line 1");
	char big[400];
	memset(big, 'a', sizeof big - 1);
	big[sizeof big - 1] = 0;
	refused(big, "too long");
	static const char nul[] = "sse2\n\0avx\n";
	char why[160];
	assert_int_equal(bm_cpu_profile_parse(nul, sizeof nul - 1, &a, why, sizeof why), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_hand_edited),
		cmocka_unit_test(test_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
