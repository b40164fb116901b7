/* autogroup.h: the nice value of /proc/PID/autogroup, and the process's
 * own read, set and read back in a child that leads its session. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "autogroup.h"
#include "log.h"

static void test_parse(void **state)
{
	(void)state;
	int32_t nice = 99;
	assert_true(bm_autogroup_parse("/autogroup-16012 nice 7\n", &nice));
	assert_int_equal(nice, 7);
	assert_true(bm_autogroup_parse("/autogroup-1 nice -20\n", &nice));
	assert_int_equal(nice, -20);
	assert_false(bm_autogroup_parse("/autogroup-1 nice 20\n", &nice));
	assert_false(bm_autogroup_parse("/autogroup-1 nice x\n", &nice));
	assert_false(bm_autogroup_parse("/autogroup-1 nice 3 more\n", &nice));
	assert_false(bm_autogroup_parse("nice 3\n", &nice));
}

/* A child in a session of its own: collected, its autogroup given another
 * nice from outside, read again. */
static void test_collect_apply(void **state)
{
	(void)state;
	if (access("/proc/self/autogroup", F_OK) != 0)
		skip(); /* a kernel without autogroups */
	int go[2];
	assert_int_equal(pipe(go), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(go[1]);
		char c;
		_exit(setsid() < 0 || read(go[0], &c, 1) < 0);
	}
	close(go[0]);
	/* until it leads its session */
	for (int i = 0; i < 10000 && getsid(pid) != pid; i++)
		usleep(1000);
	struct bm_attrs a = {0};
	assert_int_equal(bm_autogroup_collect(pid, &a), 0);
	assert_int_equal(a.autogroup_own, 1);
	assert_int_equal(a.autogroup_nice, 0);
	a.autogroup_nice = 5;
	assert_int_equal(bm_autogroup_apply(pid, &a), 0);
	struct bm_attrs b = {0};
	assert_int_equal(bm_autogroup_collect(pid, &b), 0);
	assert_int_equal(b.autogroup_nice, 5);
	/* ours is not its own session's: collected as such, left alone */
	struct bm_attrs mine = {0};
	assert_int_equal(bm_autogroup_collect(getpid(), &mine), 0);
	assert_int_equal(mine.autogroup_own, getsid(0) == getpid());
	close(go[1]);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_collect_apply),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
