/* Channels a process not moved holds too (fd_outside.c): this process is
 * the one moved, a child of its own the one left behind, holding (or not)
 * a pipe, an eventfd (told apart with kcmp: every eventfd has the same
 * link) and an unlinked FIFO of it; a named FIFO, reached by its name, is
 * not looked at. */
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
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "fd_outside.h"
#include "unit_image.h"

static struct bm_fd fd_of(int fd, uint32_t kind)
{
	struct stat st;
	assert_int_equal(fstat(fd, &st), 0);
	return (struct bm_fd){.fd = fd, .kind = kind, .shares_with = -1, .mode = st.st_mode};
}

/* The check over FDS[0..n) of this process, its message thrown away. */
static int check(struct bm_fd *fds, uint32_t n)
{
	struct bm_process p = {0};
	struct bm_process *procs[1] = {&p};
	p.pid = getpid();
	p.fds = fds;
	p.nfds = n;
	quiet_begin();
	int rc = bm_fd_outside_check(procs, 1);
	stderr_restore();
	return rc;
}

/* A child that holds KEEP[0..n) (and closes every other descriptor
 * above 2), until killed; it says so on a pipe first. */
static pid_t holder(const int *keep, int n)
{
	int ready[2];
	assert_int_equal(pipe(ready), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		for (int fd = 3; fd < 1024; fd++) {
			bool kept = fd == ready[1];
			for (int i = 0; i < n; i++)
				kept |= fd == keep[i];
			if (!kept)
				close(fd);
		}
		(void)!write(ready[1], "r", 1);
		for (;;)
			pause();
	}
	close(ready[1]);
	char c;
	assert_int_equal(read(ready[0], &c, 1), 1);
	close(ready[0]);
	return pid;
}

static void reap(pid_t pid)
{
	kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, NULL, 0), pid);
}

static void test_pipe_and_eventfd(void **state)
{
	(void)state;
	int p[2];
	assert_int_equal(pipe(p), 0);
	int ev = eventfd(0, 0), other_ev = eventfd(0, 0);
	assert_true(ev >= 0 && other_ev >= 0);
	struct bm_fd fds[3] = {fd_of(p[0], BM_FD_PIPE), fd_of(p[1], BM_FD_PIPE), fd_of(ev, BM_FD_EVENTFD)};
	assert_int_equal(check(fds, 3), 0);

	/* The write end held elsewhere: refused. */
	pid_t h = holder(&p[1], 1);
	assert_int_equal(check(fds, 3), -1);
	/* ... unless a policy replaces the ends. */
	fds[0].replaced = fds[1].replaced = BM_FD_TO_NULL;
	assert_int_equal(check(fds, 3), 0);
	fds[0].replaced = fds[1].replaced = BM_FD_CARRIED;
	reap(h);
	assert_int_equal(check(fds, 3), 0);

	/* Another eventfd held elsewhere is not this one; this one is. */
	h = holder(&other_ev, 1);
	assert_int_equal(check(fds, 3), 0);
	reap(h);
	h = holder(&ev, 1);
	assert_int_equal(check(fds, 3), -1);
	reap(h);
	close(p[0]);
	close(p[1]);
	close(ev);
	close(other_ev);
}

static void test_fifo(void **state)
{
	(void)state;
	char dir[] = "/tmp/binmig-fd-outside.XXXXXX", path[64];
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/fifo", dir);
	assert_int_equal(mkfifo(path, 0600), 0);
	int f = open(path, O_RDWR), again = open(path, O_RDWR);
	assert_true(f >= 0 && again >= 0);
	struct bm_fd fds[1] = {fd_of(f, BM_FD_FIFO)};
	assert_int_equal(check(fds, 1), 0);
	pid_t h = holder(&again, 1); /* the same FIFO through another description */
	assert_int_equal(check(fds, 1), 0);
	/* Unlinked, it is reached through the descriptors only. */
	assert_int_equal(unlink(path), 0);
	fds[0].kind = BM_FD_UNLINKED_FIFO;
	assert_int_equal(check(fds, 1), -1);
	reap(h);
	assert_int_equal(check(fds, 1), 0);
	close(f);
	close(again);
	rmdir(dir);
}

/* A file whose description holds a flock lock (owned by the description)
 * is refused when another process shares that description, not when it
 * only opened the same file; a POSIX lock (owned by the process) is not. */
static void test_locked_file(void **state)
{
	(void)state;
	char path[] = "/tmp/binmig-fd-outside-lock.XXXXXX";
	int f = mkstemp(path), other = open(path, O_RDWR);
	assert_true(f >= 0 && other >= 0);
	assert_int_equal(flock(f, LOCK_EX), 0);
	struct bm_fd fds[1] = {fd_of(f, BM_FD_REGULAR)};
	fds[0].locks_seen = 1;
	pid_t h = holder(&other, 1); /* the same file, another description */
	assert_int_equal(check(fds, 1), 0);
	reap(h);
	h = holder(&f, 1);
	assert_int_equal(check(fds, 1), -1);
	reap(h);
	assert_int_equal(flock(f, LOCK_UN), 0);
	struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
	assert_int_equal(fcntl(f, F_SETLK, &fl), 0);
	h = holder(&f, 1);
	assert_int_equal(check(fds, 1), 0);
	reap(h);
	close(f);
	close(other);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pipe_and_eventfd),
		cmocka_unit_test(test_fifo),
		cmocka_unit_test(test_locked_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
