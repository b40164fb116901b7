/* The size of a descriptor table (fd_table.c): which sizes an image may
 * hold, the slot that grows a table to a size, and, on child processes of
 * this test, what the kernel makes of it: a table grown by a descriptor at
 * that slot (also injected, as the restore does) has exactly the size, a
 * table already that large is left alone, and the limit of open files
 * the child has is raised, within its hard limit, as the slot needs; and
 * a process cloned sharing a large table takes one of its own, small; a
 * copy of a descriptor goes to the lowest number allowed, and a new
 * process closes all but the descriptors it keeps. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/sched.h>

#include <cmocka.h>

#include "fd_table.h"
#include "log.h"
#include "procfs.h"
#include "unit_trace.h"

static uint32_t fd_size_of(pid_t pid)
{
	struct bm_proc_status st;
	assert_int_equal(bm_read_status(pid, &st), 0);
	return st.fd_size;
}

static void sizes_an_image_may_hold(void **state)
{
	(void)state;
	char why[128];
	const uint32_t good[] = {0, 64, 128, 512, 960 /* fs.nr_open 1000, rounded down */, BM_FD_TABLE_MAX};
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
		assert_true(bm_fd_table_size_check(good[i], why, sizeof why));
	const uint32_t bad[] = {1, 63, 100, 320 + 1, BM_FD_TABLE_MAX + 64, UINT32_MAX};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		assert_false(bm_fd_table_size_check(bad[i], why, sizeof why));
		assert_non_null(strstr(why, "descriptor table size"));
	}
	assert_int_equal(bm_fd_table_slot(0), -1);
	assert_int_equal(bm_fd_table_slot(64), -1);
	assert_int_equal(bm_fd_table_slot(128), 64);
	assert_int_equal(bm_fd_table_slot(512), 256);
}

/* The process of fds[0..n) with a table of SIZE slots. */
static int place(const int *fds, uint32_t n, uint32_t size, unsigned need)
{
	struct bm_fd f[8] = {0};
	for (uint32_t i = 0; i < n; i++)
		f[i].fd = fds[i];
	struct bm_process p = {.fds = f, .nfds = n, .fd_table_size = size};
	return bm_fd_table_place(&p, need);
}

/* Above the highest while that fits the table; else the lowest free run
 * from 3 that holds them; else above the highest all the same. */
static void where_the_restore_s_own_go(void **state)
{
	(void)state;
	const int few[] = {0, 1, 2, 5};
	assert_int_equal(place(few, 4, 64, 10), 6);
	assert_int_equal(place(few, 0, 64, 10), 3);
	assert_int_equal(place(few, 4, 0, 100), 6); /* size not known */
	const int top[] = {0, 1, 2, 60, 61, 62};
	assert_int_equal(place(top, 6, 64, 13), 3);
	assert_int_equal(place(top, 6, 128, 13), 63);
	const int holes[] = {0, 5, 10, 30, 63};
	assert_int_equal(place(holes, 5, 64, 4), 6);   /* 3-4 hold 2 only; 6-9 hold 4 */
	assert_int_equal(place(holes, 5, 64, 10), 11);
	assert_int_equal(place(holes, 5, 64, 40), 64); /* no room below: above, the table grows */
	const int full[] = {3, 511};
	assert_int_equal(place(full, 2, 512, 30), 4);
}

/* A process whose table is the default 64 slots (the test's own may be
 * larger, and a child's is sized by its parent's highest open
 * descriptor): a grandchild, forked by a child that closed all but its
 * standard descriptors and waits for it.  It pauses until killed. */
struct small {
	pid_t middle, pid;
	struct bm_tracee tr;
};

static void small_child(struct small *s)
{
	int p[2];
	assert_int_equal(pipe(p), 0);
	s->middle = fork();
	assert_true(s->middle >= 0);
	if (s->middle == 0) {
		if (dup2(p[1], 3) != 3)
			_exit(1);
		syscall(SYS_close_range, 4, ~0U, 0);
		pid_t g = fork();
		if (g == 0) {
			close(3);
			for (;;)
				pause();
		}
		if (g < 0 || write(3, &g, sizeof g) != sizeof g)
			_exit(1);
		close(3);
		int status;
		_exit(waitpid(g, &status, 0) == g ? 0 : 1);
	}
	close(p[1]);
	assert_int_equal(read(p[0], &s->pid, sizeof s->pid), (ssize_t)sizeof s->pid);
	close(p[0]);
	assert_int_equal(fd_size_of(s->pid), BM_FD_TABLE_DEFAULT);
	unit_trace(s->pid, &s->tr);
}

static void small_end(struct small *s)
{
	kill(s->pid, SIGKILL);
	int status;
	waitpid(s->pid, &status, __WALL); /* its tracer's report */
	assert_int_equal(waitpid(s->middle, &status, 0), s->middle);
}

/* Each power of two from 128 slots: reached exactly from 64 by the one
 * descriptor at its slot (half the size), closed again. */
static void grows_to_exactly_the_size(void **state)
{
	(void)state;
	const uint32_t sizes[] = {128, 256, 512, 2048};
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		struct small s;
		small_child(&s);
		struct bm_process p = {.fd_table_size = sizes[i]};
		assert_int_equal(bm_fd_table_grow(&s.tr, s.pid, &p, STDIN_FILENO), 0);
		assert_int_equal(fd_size_of(s.pid), sizes[i]);
		char path[64];
		snprintf(path, sizeof path, "/proc/%d/fd/%u", s.pid, sizes[i] / 2);
		assert_int_equal(access(path, F_OK), -1); /* closed again */
		assert_int_equal(bm_fd_table_check(s.pid, &p), sizes[i]);
		/* Larger already: left alone (and warned of by the check). */
		p.fd_table_size = 128;
		assert_int_equal(bm_fd_table_grow(&s.tr, s.pid, &p, STDIN_FILENO), 0);
		assert_int_equal(bm_fd_table_check(s.pid, &p), sizes[i]);
		assert_int_equal(bm_tracee_restore(&s.tr), 0);
		small_end(&s);
	}
}

/* Nothing to do for an image that does not know the size, or the default
 * one; a limit of open files below the slot is raised for it. */
static void default_unknown_and_the_limit(void **state)
{
	(void)state;
	struct small s;
	small_child(&s);
	struct bm_process p = {.fd_table_size = 0};
	assert_int_equal(bm_fd_table_grow(&s.tr, s.pid, &p, STDIN_FILENO), 0);
	p.fd_table_size = 64;
	assert_int_equal(bm_fd_table_grow(&s.tr, s.pid, &p, STDIN_FILENO), 0);
	assert_int_equal(fd_size_of(s.pid), 64);
	assert_int_equal(bm_fd_table_check(s.pid, &p), 64);
	struct rlimit lim = {64, 4096}; /* (raising the hard limit needs CAP_SYS_RESOURCE) */
	assert_int_equal(prlimit(s.pid, RLIMIT_NOFILE, &lim, NULL), 0);
	p.fd_table_size = 1024;
	assert_int_equal(bm_fd_table_grow(&s.tr, s.pid, &p, STDIN_FILENO), 0);
	assert_int_equal(fd_size_of(s.pid), 1024);
	assert_int_equal(prlimit(s.pid, RLIMIT_NOFILE, NULL, &lim), 0);
	assert_true(lim.rlim_cur > 512);
	assert_int_equal(bm_tracee_restore(&s.tr), 0);
	small_end(&s);
}

/* A size the kernel cannot give (its slot at or past fs.nr_open): the
 * grow fails as a restore-time conflict (exit 6), the table untouched. */
static void a_size_past_nr_open(void **state)
{
	(void)state;
	FILE *in = fopen("/proc/sys/fs/nr_open", "r");
	unsigned long nr_open = 0;
	assert_non_null(in);
	assert_int_equal(fscanf(in, "%lu", &nr_open), 1);
	fclose(in);
	uint64_t size = 128;
	while (size / 2 < nr_open)
		size *= 2;
	if (size > BM_FD_TABLE_MAX)
		skip(); /* fs.nr_open at its largest: every size an image holds fits */
	struct small s;
	small_child(&s);
	struct bm_process p = {.fd_table_size = (uint32_t)size};
	bm_hold_errors();
	assert_int_equal(bm_fd_table_grow(&s.tr, s.pid, &p, STDIN_FILENO), -1);
	assert_int_equal(bm_exit_code(), BM_EXIT_CONFLICT);
	assert_non_null(strstr(bm_error_message(), "above the open-files limit binmig can give it"));
	bm_release_errors(false);
	assert_int_equal(fd_size_of(s.pid), 64);
	assert_int_equal(bm_tracee_restore(&s.tr), 0);
	small_end(&s);
}

/* A process cloned sharing this test's table, which has descriptor 300,
 * takes its own of the descriptors below 3: the default 64 slots; this
 * test waits until it has, and keeps descriptor 300. */
static void a_table_of_its_own(void **state)
{
	(void)state;
	assert_int_equal(dup2(STDIN_FILENO, 300), 300);
	assert_true(fd_size_of(getpid()) >= 512);
	struct clone_args args = {.flags = CLONE_FILES, .exit_signal = SIGCHLD};
	long child = syscall(SYS_clone3, &args, sizeof args);
	assert_true(child >= 0);
	if (child == 0) {
		if (bm_fd_table_own(3) < 0)
			_exit(2);
		struct bm_proc_status st;
		_exit(bm_read_status(getpid(), &st) == 0 && st.fd_size == BM_FD_TABLE_DEFAULT &&
		      fcntl(300, F_GETFD) < 0 ? 0 : 1);
	}
	assert_int_equal(bm_fd_table_wait_own((pid_t)child), 0);
	int status;
	assert_int_equal(waitpid((pid_t)child, &status, 0), child);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_true(fcntl(300, F_GETFD) >= 0);
	close(300);
	/* Gone: nothing to wait for. */
	assert_int_equal(bm_fd_table_wait_own((pid_t)child), 0);
}

static bool avoid_listed(int n, const void *arg)
{
	for (const int *a = arg; *a >= 0; a++)
		if (*a == n)
			return true;
	return false;
}

/* The lowest number from the start that this test has free and that the
 * caller does not refuse, with FD_CLOEXEC; an error as -errno. */
static void a_copy_at_the_lowest_number_allowed(void **state)
{
	(void)state;
	const int avoid[] = {200, 201, 203, -1};
	assert_int_equal(dup2(STDIN_FILENO, 202), 202);
	int got = bm_fd_table_dup_low(STDIN_FILENO, 200, avoid_listed, avoid);
	assert_int_equal(got, 204);
	assert_int_equal(fcntl(got, F_GETFD), FD_CLOEXEC);
	for (int n = 200; n < 204; n++)
		assert_true(n == 202 ? fcntl(n, F_GETFD) >= 0 : fcntl(n, F_GETFD) < 0);
	assert_int_equal(bm_fd_table_dup_low(STDIN_FILENO, 210, avoid_listed, avoid), 210);
	assert_int_equal(bm_fd_table_dup_low(300, 3, avoid_listed, avoid), -EBADF);
	close(202);
	close(204);
	close(210);
}

/* In a child with descriptors 0 to 40 and 100 open: after closing all
 * but KEPT and KEEP, exactly those are open. */
static void close_all_but_in_child(int kept, const int *keep, uint32_t n)
{
	pid_t child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		for (int fd = 3; fd <= 40; fd++)
			if (fcntl(fd, F_GETFD) < 0 && dup2(STDIN_FILENO, fd) != fd)
				_exit(2);
		if (dup2(STDIN_FILENO, 100) != 100)
			_exit(2);
		bm_fd_table_close_all_but(kept, keep, n);
		for (int fd = 0; fd < 128; fd++) {
			bool want = fd == kept;
			for (uint32_t i = 0; i < n; i++)
				want |= fd == keep[i];
			if ((fcntl(fd, F_GETFD) >= 0) != want)
				_exit(1);
		}
		_exit(0);
	}
	int status;
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* The control descriptor below, among, above the kept ones, at 0 or the
 * last number open, or none; no kept ones at all. */
static void all_but_the_kept_closed(void **state)
{
	(void)state;
	const int keep[] = {4, 9, 10, 15, 100};
	const int kept[] = {3, 7, 12, 30, 0, 40, -1};
	for (size_t i = 0; i < sizeof kept / sizeof kept[0]; i++) {
		close_all_but_in_child(kept[i], keep, 5);
		close_all_but_in_child(kept[i], keep + 1, 2);
		close_all_but_in_child(kept[i], NULL, 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(sizes_an_image_may_hold),
		cmocka_unit_test(where_the_restore_s_own_go),
		cmocka_unit_test(grows_to_exactly_the_size),
		cmocka_unit_test(default_unknown_and_the_limit),
		cmocka_unit_test(a_size_past_nr_open),
		cmocka_unit_test(a_table_of_its_own),
		cmocka_unit_test(a_copy_at_the_lowest_number_allowed),
		cmocka_unit_test(all_but_the_kept_closed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
