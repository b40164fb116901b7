/* Control group membership (cgroup.c): /proc/PID/cgroup in the image's
 * form, the image rule, this process's own membership read as a dump
 * reads it, and the restore's plan: nothing to enter where the restorer
 * is already, a hierarchy or path this machine lacks refused unless
 * --cgroup here. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cgroup.h"
#include "log.h"
#include "state.h"

static void test_normalise(void **state)
{
	(void)state;
	char out[256], why[160];
	assert_int_equal(bm_cgroup_normalise("12:pids:/a\n4:cpu,cpuacct:/b:c\n1:name=systemd:/\n0::/user.slice\n", out,
					     sizeof out, why, sizeof why),
			 0);
	assert_string_equal(out, "pids:/a\ncpu,cpuacct:/b:c\nname=systemd:/\n:/user.slice\n");
	assert_true(bm_cgroup_text_valid(out));
	/* Without a final newline, too. */
	assert_int_equal(bm_cgroup_normalise("0::/x", out, sizeof out, why, sizeof why), 0);
	assert_string_equal(out, ":/x\n");
	static const char *const bad[] = {"pids:/a\n", "x:pids:/a\n", "1:pids:a\n", "1:pids\n", ":pids:/a\n"};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		assert_int_equal(bm_cgroup_normalise(bad[i], out, sizeof out, why, sizeof why), -EINVAL);
	assert_int_equal(bm_cgroup_normalise("0::/a-rather-long-path\n", out, 10, why, sizeof why), -E2BIG);
}

static void test_text_valid(void **state)
{
	(void)state;
	assert_true(bm_cgroup_text_valid(NULL));
	assert_true(bm_cgroup_text_valid(""));
	assert_true(bm_cgroup_text_valid(":/\nmemory:/a\n"));
	assert_false(bm_cgroup_text_valid(":/"));       /* no newline */
	assert_false(bm_cgroup_text_valid("memory/a\n")); /* no colon */
	assert_false(bm_cgroup_text_valid("memory:a\n")); /* relative */
	assert_false(bm_cgroup_text_valid("a\nmemory:/a\n"));
}

static void quietly(bool on)
{
	static int saved = -1;
	fflush(stderr);
	if (on) {
		saved = dup(2);
		FILE *null = fopen("/dev/null", "w");
		dup2(fileno(null), 2);
		fclose(null);
	} else {
		dup2(saved, 2);
		close(saved);
	}
}

static void test_own_membership_and_plan(void **state)
{
	(void)state;
	pid_t self = getpid();
	struct bm_process p = {.pid = self};
	assert_int_equal(bm_cgroup_collect(self, &self, 1, &p), 0);
	assert_non_null(p.cgroups);
	assert_true(bm_cgroup_text_valid(p.cgroups));
	assert_non_null(strstr(p.cgroups, ":/")); /* every machine has a cgroup v2 line at least */
	/* Where the restorer is: nothing to enter. */
	char *procs = (char *)1;
	assert_int_equal(bm_cgroup_plan(&p, &procs), 0);
	assert_null(procs);
	/* A path no hierarchy has: refused, exit 6; here: nothing to enter. */
	free(p.cgroups);
	p.cgroups = strdup(":/binmig-unit-test-no-such-cgroup\n");
	quietly(true);
	int rc = bm_cgroup_plan(&p, &procs);
	quietly(false);
	assert_true(rc < 0);
	assert_int_equal(bm_exit_code(), BM_EXIT_CONFLICT);
	assert_non_null(strstr(bm_error_message(), "was in cgroup /binmig-unit-test-no-such-cgroup of the cgroup v2 "
						   "hierarchy"));
	assert_non_null(strstr(bm_error_message(), "--cgroup here"));
	bm_reset_errors();
	free(p.cgroups);
	p.cgroups = strdup("no-such-controller:/\n");
	quietly(true);
	rc = bm_cgroup_plan(&p, &procs);
	quietly(false);
	assert_true(rc < 0);
	assert_non_null(strstr(bm_error_message(), "of the no-such-controller hierarchy, which is not mounted here"));
	bm_reset_errors();
	bm_cgroup_set_mode(BM_CGROUP_HERE);
	quietly(true);
	assert_int_equal(bm_cgroup_plan(&p, &procs), 0);
	quietly(false);
	assert_null(procs);
	bm_cgroup_set_mode(BM_CGROUP_SAME);
	/* An image without cgroups (older version): nothing to enter. */
	free(p.cgroups);
	p.cgroups = NULL;
	assert_int_equal(bm_cgroup_plan(&p, &procs), 0);
	assert_null(procs);
	/* Entering nothing succeeds. */
	char err[64];
	assert_int_equal(bm_cgroup_enter(NULL, err, sizeof err), 0);
}

static void test_modes(void **state)
{
	(void)state;
	enum bm_cgroup_mode m;
	assert_int_equal(bm_cgroup_parse_mode("same", &m), 0);
	assert_int_equal(m, BM_CGROUP_SAME);
	assert_int_equal(bm_cgroup_parse_mode("here", &m), 0);
	assert_int_equal(m, BM_CGROUP_HERE);
	assert_int_equal(bm_cgroup_parse_mode("there", &m), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_normalise),
		cmocka_unit_test(test_text_valid),
		cmocka_unit_test(test_own_membership_and_plan),
		cmocka_unit_test(test_modes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
