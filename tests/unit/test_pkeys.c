/* The pure parts of the protection key checks (pkeys.c): which mappings
 * refuse a dump by their key, and PKRU read from a saved xstate. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "pkeys.h"

static struct bm_maps_entry vma(uint64_t start, const char *perms, int32_t pkey)
{
	struct bm_maps_entry e = {.start = start, .end = start + 0x1000, .pkey = pkey};
	memcpy(e.perms, perms, 5);
	return e;
}

static void test_refused_vma(void **state)
{
	(void)state;
	bool exec_key = true;
	struct bm_maps_entry e[4] = {vma(0x1000, "rw-p", 0), vma(0x2000, "r-xp", 0), vma(0x3000, "---p", 0),
				     vma(0x4000, "rw-s", 0)};
	assert_null(bm_pkeys_refused_vma(e, 4, &exec_key));
	assert_false(exec_key);
	/* Execute-only memory under key 1: the kernel's own key, given again at restore. */
	e[2] = vma(0x3000, "--xp", 1);
	assert_null(bm_pkeys_refused_vma(e, 4, &exec_key));
	assert_true(exec_key);
	/* Under key 0 it is readable, which it would not be after a restore;
	 * under another key it was keyed by the process. */
	e[2].pkey = 0;
	assert_ptr_equal(bm_pkeys_refused_vma(e, 4, &exec_key), &e[2]);
	e[2].pkey = 2;
	assert_ptr_equal(bm_pkeys_refused_vma(e, 4, &exec_key), &e[2]);
	e[2].pkey = 1;
	e[3].pkey = 1; /* pkey_mprotect */
	assert_ptr_equal(bm_pkeys_refused_vma(e, 4, &exec_key), &e[3]);
	/* The kernel's own mappings are not the process's doing. */
	e[3] = vma(0xffffffffff600000, "--xp", 0);
	strcpy(e[3].path, "[vsyscall]");
	assert_null(bm_pkeys_refused_vma(e, 4, &exec_key));
	/* No "ProtectionKey:" line (-1): nothing to say. */
	e[3].pkey = -1;
	e[2] = vma(0x3000, "--xp", -1);
	assert_null(bm_pkeys_refused_vma(e, 4, &exec_key));
	assert_false(exec_key);
}

static void test_pkru(void **state)
{
	(void)state;
	uint8_t xs[3000] = {0};
	uint32_t pkru = 1, v = 0x55555558;
	memcpy(xs + 2688, &v, 4);
	/* Component 9 left out of XSTATE_BV: its initial state, 0. */
	assert_int_equal(bm_pkeys_pkru(xs, sizeof xs, 2688, &pkru), 0);
	assert_int_equal(pkru, 0);
	xs[513] = 0x02; /* XSTATE_BV bit 9 */
	assert_int_equal(bm_pkeys_pkru(xs, sizeof xs, 2688, &pkru), 0);
	assert_int_equal(pkru, 0x55555558);
	/* Too short, or an offset inside the legacy area and header. */
	assert_int_equal(bm_pkeys_pkru(xs, 2690, 2688, &pkru), -1);
	assert_int_equal(bm_pkeys_pkru(xs, 520, 2688, &pkru), -1);
	assert_int_equal(bm_pkeys_pkru(xs, sizeof xs, 520, &pkru), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_refused_vma),
		cmocka_unit_test(test_pkru),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
