/* keyrings.h: which session keyrings hold keys of their own. */
#include <stdbool.h>
#include <stdint.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "keyrings.h"

static void test_holds_own(void **state)
{
	(void)state;
	const int32_t user = 111, only_user[] = {111}, more[] = {111, 222}, other[] = {333};
	assert_false(bm_keyrings_holds_own(NULL, 0, user));         /* empty */
	assert_false(bm_keyrings_holds_own(only_user, 1, user));    /* pam_keyinit's link */
	assert_true(bm_keyrings_holds_own(more, 2, user));
	assert_true(bm_keyrings_holds_own(other, 1, user));
	assert_true(bm_keyrings_holds_own(only_user, 1, 0));        /* no user keyring: any key is its own */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_holds_own),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
