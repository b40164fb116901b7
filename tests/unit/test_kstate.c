/* Kernel state read through BPF iterators (migrator/kstate.c): a child
 * sets up a timer id counter and inotify instances whose next numbers no
 * other interface shows, and the reader must see them exactly, read
 * nothing else, and change nothing (the child then checks its next ids). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/inotify.h>
#include <sys/select.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kstate.h"
#include "unlinked.h"

#define WAIT_S 20 /* for the child, on any machine */

/* The child's descriptors, fixed by dup2. */
enum { FD_INOTIFY_GAP = 50, FD_INOTIFY_FRESH = 51, FD_PIPE = 52, FD_INOTIFY_DUP = 53, FD_TMP = 54, FD_TMP_EXCL = 55 };

/* Timers 0-3 made, 3 (the newest) and 1 deleted: next 4.  An instance
 * with watches 1-3, 3 and 2 removed: next 4; one never used: next 1.  An
 * O_TMPFILE file that may be linked, and one made with O_EXCL.
 * Says 'r' on OUT, then waits for a byte on IN and checks that nothing
 * moved: exits 0 if its next timer and watch get 4. */
static int child(int in, int out)
{
	timer_t t[4];
	for (int i = 0; i < 4; i++)
		if (timer_create(CLOCK_MONOTONIC, NULL, &t[i]) < 0 || (intptr_t)t[i] != i)
			return 10;
	if (timer_delete(t[3]) < 0 || timer_delete(t[1]) < 0)
		return 11;
	int gap = inotify_init1(IN_NONBLOCK), fresh = inotify_init1(0);
	const char *dirs[] = {"/", "/dev", "/proc"};
	for (int i = 0; i < 3; i++)
		if (inotify_add_watch(gap, dirs[i], IN_CREATE) != i + 1)
			return 12;
	if (inotify_rm_watch(gap, 3) < 0 || inotify_rm_watch(gap, 2) < 0)
		return 13;
	int p[2];
	if (fresh < 0 || pipe(p) < 0 || dup2(gap, FD_INOTIFY_GAP) < 0 || dup2(fresh, FD_INOTIFY_FRESH) < 0 ||
	    dup2(p[0], FD_PIPE) < 0 || dup2(gap, FD_INOTIFY_DUP) < 0 ||
	    dup2(open("/tmp", O_TMPFILE | O_RDWR, 0600), FD_TMP) < 0 ||
	    dup2(open("/tmp", O_TMPFILE | O_RDWR | O_EXCL, 0600), FD_TMP_EXCL) < 0)
		return 14;
	char c = 'r';
	if (write(out, &c, 1) != 1 || read(in, &c, 1) != 1)
		return 15;
	timer_t next;
	if (timer_create(CLOCK_MONOTONIC, NULL, &next) < 0 || (intptr_t)next != 4)
		return 16;
	return inotify_add_watch(FD_INOTIFY_GAP, "/sys", IN_CREATE) == 4 ? 0 : 17;
}

static struct bm_fd fd_of(int32_t fd, uint32_t kind, int32_t shares_with)
{
	return (struct bm_fd){.fd = fd, .kind = kind, .shares_with = shares_with};
}

static void reads_the_counters(void **state)
{
	(void)state;
	if (access("/sys/kernel/btf/vmlinux", R_OK) < 0 || geteuid() != 0)
		skip(); /* what the reader needs: root and a kernel with BTF (CI has both) */
	int down[2], up[2];
	assert_int_equal(pipe(down), 0);
	assert_int_equal(pipe(up), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		alarm(WAIT_S);
		_exit(child(down[0], up[1]));
	}
	close(down[0]);
	close(up[1]);
	fd_set set;
	FD_ZERO(&set);
	FD_SET(up[0], &set);
	struct timeval tv = {WAIT_S, 0};
	char c = 0;
	assert_int_equal(select(up[0] + 1, &set, NULL, NULL, &tv), 1);
	assert_int_equal(read(up[0], &c, 1), 1);
	assert_int_equal(c, 'r');

	struct bm_fd fds[] = {
		fd_of(FD_INOTIFY_GAP, BM_FD_INOTIFY, -1), fd_of(FD_INOTIFY_FRESH, BM_FD_INOTIFY, -1),
		fd_of(FD_PIPE, BM_FD_PIPE, -1), fd_of(FD_INOTIFY_DUP, BM_FD_INOTIFY, FD_INOTIFY_GAP),
		fd_of(FD_TMP, BM_FD_UNLINKED_FILE, -1), fd_of(FD_TMP_EXCL, BM_FD_UNLINKED_FILE, -1),
	};
	struct bm_process p = {.pid = pid, .fds = fds, .nfds = 6};
	char why[800] = "";
	int rc = bm_kstate_read(&p, why, sizeof why);
	if (rc < 0)
		fail_msg("bm_kstate_read: %s", why);
	assert_true(p.timers.next_id_known);
	assert_int_equal(p.timers.next_id, 4);
	assert_int_equal(fds[0].next_wd, 4);
	assert_int_equal(fds[1].next_wd, 1);
	assert_int_equal(fds[2].next_wd, 0); /* not an instance */
	assert_int_equal(fds[3].next_wd, 0); /* the instance again: read at its first descriptor */
	assert_int_equal(fds[4].object_flags, BM_UNLINKED_LINK_KNOWN | BM_UNLINKED_LINKABLE);
	assert_int_equal(fds[5].object_flags, BM_UNLINKED_LINK_KNOWN);

	/* Reading moved nothing: the child's next timer and watch get 4. */
	assert_int_equal(write(down[1], "g", 1), 1);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	close(down[1]);
	close(up[0]);

	/* A process that is gone: an error, nothing set. */
	struct bm_process gone = {.pid = pid};
	assert_true(bm_kstate_read(&gone, why, sizeof why) < 0);
	assert_false(gone.timers.next_id_known);
	assert_non_null(strstr(why, "not found"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(reads_the_counters),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
