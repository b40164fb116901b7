/* bm_seize (ptrace_ctl.c): a thread that ends between the listing of a
 * process's threads and the seize is "gone" (-ESRCH, nothing reported),
 * also while the kernel still shows it as a zombie and refuses the seize
 * with EPERM, as it does for a protected or already traced thread; those
 * stay errors.  A process whose main thread called exit(2) alone (its
 * other thread runs on) keeps a zombie leader: the ending thread the test
 * can hold still. */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "ptrace_ctl.h"

static char state_of(pid_t tid)
{
	char path[64], buf[512];
	snprintf(path, sizeof path, "/proc/%d/stat", tid);
	FILE *f = fopen(path, "re");
	if (!f)
		return 0;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = 0;
	const char *p = strrchr(buf, ')');
	return p && p[1] == ' ' ? p[2] : '?';
}

/* The other thread of the child: runs until the child is killed. */
static int sleeper(void *arg)
{
	(void)arg;
	for (;;)
		pause();
	return 0;
}

/* The child of the running test, killed and reaped on every path (with
 * any thread of it this process traces). */
static pid_t child = -1;

static int reap_child(void **state)
{
	(void)state;
	if (child > 0) {
		kill(child, SIGKILL);
		while (waitpid(-1, NULL, __WALL) > 0 || errno == EINTR)
			;
	}
	child = -1;
	return 0;
}

static void test_zombie_leader(void **state)
{
	(void)state;
	int ctl[2];
	assert_int_equal(pipe(ctl), 0);
	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		/* A thread of its own (CLONE_THREAD), then the leader exits alone. */
		static char stack[64 << 10];
		pid_t t = clone(sleeper, stack + sizeof stack,
				CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM, NULL);
		if (t < 0)
			_exit(1);
		if (write(ctl[1], &t, sizeof t) != sizeof t)
			_exit(1);
		syscall(SYS_exit, 0);
	}
	close(ctl[1]);
	pid_t other = 0;
	assert_int_equal(read(ctl[0], &other, sizeof other), (ssize_t)sizeof other);
	close(ctl[0]);
	/* The leader becomes a zombie once it has exited, which a loaded
	 * machine may run late: 20 s at most. */
	for (int i = 0; i < 20000 && state_of(child) != 'Z'; i++)
		nanosleep(&(struct timespec){0, 1000000}, NULL);
	assert_int_equal(state_of(child), 'Z');
	errno = 0;
	assert_int_equal(ptrace(PTRACE_SEIZE, child, 0, 0), -1);
	assert_int_equal(errno, EPERM); /* what bm_seize sees */
	assert_int_equal(bm_seize(child), -ESRCH);
	/* The live thread is seized; seized again, it is an error, not "gone". */
	assert_int_equal(bm_seize(other), 0);
	int rc = bm_seize(other);
	assert_true(rc < 0 && rc != -ESRCH);
}

static void test_gone(void **state)
{
	(void)state;
	pid_t gone = fork();
	assert_true(gone >= 0);
	if (gone == 0)
		_exit(0);
	assert_int_equal(waitpid(gone, NULL, 0), gone);
	assert_int_equal(bm_seize(gone), -ESRCH);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_zombie_leader, reap_child),
		cmocka_unit_test(test_gone),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
