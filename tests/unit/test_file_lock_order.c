/* The order of a file's POSIX and OFD locks (file_lock_order.c): each
 * lock's place from where its owner is in its file's list, the sort that
 * keeps one owner's locks and other files' in their order, a place not
 * read; a tree's turns across its members, and two processes passing the
 * turn; and, through binmig's BPF reader, a child's locks of four owners
 * on one file put in the order of the kernel's list, not that of the
 * child's descriptors. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "file_lock_order.h"
#include "file_locks.h"
#include "log.h"
#include "state.h"

#define WAIT_S 20 /* for the child, on any machine */

/* The child's descriptors: three open files of one file (A, B, C), and a
 * fourth for flock. */
enum { FD_A = 40, FD_B = 41, FD_C = 42, FD_F = 43 };

static struct bm_file_lock lock(int32_t fd, uint32_t kind, int64_t start, int64_t len)
{
	return (struct bm_file_lock){.fd = fd, .kind = kind, .start = start, .len = len};
}

/* P with descriptors A, B, C and F, and LOCKS. */
static void model(struct bm_process *p, const struct bm_file_lock *locks, uint32_t n)
{
	memset(p, 0, sizeof *p);
	p->fds = calloc(4, sizeof *p->fds);
	p->locks = calloc(n + 1, sizeof *p->locks);
	assert_true(p->fds && p->locks);
	for (int i = 0; i < 4; i++)
		p->fds[i] = (struct bm_fd){.fd = FD_A + i, .kind = BM_FD_REGULAR, .shares_with = -1, .locks_seen = 1};
	p->nfds = 4;
	if (n)
		memcpy(p->locks, locks, n * sizeof *locks);
	p->nlocks = n;
}

/* The locks as the dump reads them (descriptor order): A's POSIX and OFD
 * locks, B's, C's, F's flock. */
static const struct bm_file_lock *read_order(void)
{
	static struct bm_file_lock locks[5];
	locks[0] = lock(FD_A, BM_LOCK_POSIX, 50, 60);
	locks[1] = lock(FD_A, BM_LOCK_OFD, 100, 100);
	locks[2] = lock(FD_B, BM_LOCK_OFD, 120, 10);
	locks[3] = lock(FD_C, BM_LOCK_OFD, 0, 100);
	locks[4] = lock(FD_F, BM_LOCK_FLOCK, 0, 0);
	return locks;
}

/* The list's order: C, the POSIX lock, B, A; then the flock. */
static void assert_list_order(const struct bm_process *p)
{
	static const int32_t fds[] = {FD_C, FD_A, FD_B, FD_A, FD_F};
	static const uint32_t kinds[] = {BM_LOCK_OFD, BM_LOCK_POSIX, BM_LOCK_OFD, BM_LOCK_OFD, BM_LOCK_FLOCK};
	assert_int_equal(p->nlocks, 5);
	for (uint32_t i = 0; i < 5; i++) {
		assert_int_equal(p->locks[i].fd, fds[i]);
		assert_int_equal(p->locks[i].kind, kinds[i]);
	}
}

static void test_keys_and_sort(void **state)
{
	(void)state;
	struct bm_process p;
	model(&p, read_order(), 5);
	struct bm_kstate_lockpos pos[4] = {
		{.read = true, .ofd = 3, .posix = 1}, /* A */
		{.read = true, .ofd = 2, .posix = 1}, /* B: no POSIX lock through it, the process's is at 1 */
		{.read = true, .ofd = 0, .posix = 1}, /* C */
		{.read = false},                      /* F: a flock, not asked */
	};
	int32_t keys[5], fd = -1;
	assert_int_equal(bm_lock_order_keys(&p, pos, keys, &fd), 0);
	static const int32_t want[] = {1, 3, 2, 0, INT32_MAX};
	assert_memory_equal(keys, want, sizeof want);
	assert_int_equal(bm_lock_order_sort(&p, keys), 0);
	assert_list_order(&p);
	bm_process_free(&p);
}

static void test_sort_keeps_equal_keys(void **state)
{
	(void)state;
	/* One owner's locks, and another file's lock at the same place, stay
	 * as they were among themselves. */
	const struct bm_file_lock locks[] = {lock(FD_A, BM_LOCK_POSIX, 0, 10), lock(FD_B, BM_LOCK_OFD, 0, 10),
					     lock(FD_A, BM_LOCK_POSIX, 20, 10), lock(FD_C, BM_LOCK_OFD, 5, 1)};
	struct bm_process p;
	model(&p, locks, 4);
	const int32_t keys[] = {1, 0, 1, 1};
	assert_int_equal(bm_lock_order_sort(&p, keys), 0);
	assert_int_equal(p.locks[0].fd, FD_B);
	assert_int_equal(p.locks[1].start, 0);
	assert_int_equal(p.locks[1].fd, FD_A);
	assert_int_equal(p.locks[2].start, 20);
	assert_int_equal(p.locks[3].fd, FD_C);
	bm_process_free(&p);
}

static void test_place_not_read(void **state)
{
	(void)state;
	struct bm_process p;
	model(&p, read_order(), 5);
	struct bm_kstate_lockpos pos[4] = {
		{.read = true, .ofd = 3, .posix = 1},
		{.read = false}, /* B's list not walked to its end */
		{.read = true, .ofd = 0, .posix = 1},
		{.read = false},
	};
	int32_t keys[5], fd = -1;
	assert_int_equal(bm_lock_order_keys(&p, pos, keys, &fd), -ENOENT);
	assert_int_equal(fd, FD_B);
	/* Read, but with no lock of that kind found: not a place either. */
	pos[1] = (struct bm_kstate_lockpos){.read = true, .ofd = -1, .posix = 1};
	fd = -1;
	assert_int_equal(bm_lock_order_keys(&p, pos, keys, &fd), -ENOENT);
	assert_int_equal(fd, FD_B);
	bm_process_free(&p);
}

/* --- a tree's turns ----------------------------------------------------- */

static void test_turns(void **state)
{
	(void)state;
	/* Member 0: an OFD lock first in its file's list, its POSIX lock
	 * third, a flock; member 1: the second and fourth owners, and a lock
	 * of a description both hold (order 5, listed by both). */
	struct bm_file_lock l0[] = {lock(FD_A, BM_LOCK_OFD, 0, 1), lock(FD_A, BM_LOCK_POSIX, 5, 1),
				    lock(FD_F, BM_LOCK_FLOCK, 0, 0), lock(FD_B, BM_LOCK_OFD, 9, 1)};
	struct bm_file_lock l1[] = {lock(FD_A, BM_LOCK_POSIX, 2, 1), lock(FD_C, BM_LOCK_OFD, 7, 1),
				    lock(FD_B, BM_LOCK_OFD, 9, 1)};
	l0[0].order = 1, l0[1].order = 3, l0[3].order = 5;
	l1[0].order = 2, l1[1].order = 4, l1[2].order = 5;
	struct bm_process m0, m1;
	model(&m0, l0, 4);
	model(&m1, l1, 3);
	const struct bm_process *procs[] = {&m0, &m1};
	uint32_t *turns[2] = {NULL, NULL};
	assert_int_equal(bm_lock_order_turns(procs, 2, turns), 0);
	const uint32_t want0[] = {0, 2, BM_LOCK_NO_TURN, 4}, want1[] = {1, 3, 5};
	assert_memory_equal(turns[0], want0, sizeof want0);
	assert_memory_equal(turns[1], want1, sizeof want1);
	free(turns[0]);
	free(turns[1]);
	/* The whole sequence (a source's take-back): the flock last. */
	struct bm_lock_step *steps;
	size_t count = 0;
	assert_int_equal(bm_lock_order_sequence(procs, 2, &steps, &count), 0);
	const struct bm_lock_step want[] = {{0, 0}, {1, 0}, {0, 1}, {1, 1}, {0, 3}, {1, 2}, {0, 2}};
	assert_int_equal(count, 7);
	assert_memory_equal(steps, want, sizeof want);
	free(steps);
	bm_process_free(&m0);
	bm_process_free(&m1);
}

/* Two processes pass the turn: the child's lock is second and fourth of
 * the sequence, this process's first and third. */
static void test_turn_handoff(void **state)
{
	(void)state;
	_Atomic uint32_t *turn = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(turn != MAP_FAILED);
	static const uint32_t mine[] = {0, 2, BM_LOCK_NO_TURN}, its[] = {1, 3};
	struct bm_lock_turns me = {.turn = turn, .turn_of = mine}, kid_turns = {.turn = turn, .turn_of = its};
	pid_t kid = fork();
	assert_true(kid >= 0);
	if (kid == 0) {
		char err[256];
		for (uint32_t i = 0; i < 2; i++) {
			if (bm_lock_turn_wait(&kid_turns, i, err, sizeof err) < 0)
				_exit(1);
			bm_lock_turn_done(&kid_turns, i);
		}
		_exit(0);
	}
	char err[256] = "";
	for (uint32_t i = 0; i < 3; i++) {
		assert_int_equal(bm_lock_turn_wait(&me, i, err, sizeof err), 0);
		assert_true(mine[i] == BM_LOCK_NO_TURN || atomic_load(turn) == mine[i]);
		bm_lock_turn_done(&me, i);
	}
	int status = -1;
	assert_int_equal(waitpid(kid, &status, 0), kid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_int_equal(atomic_load(turn), 4);
	munmap((void *)turn, 4096);
}

/* --- the kernel's list, read ------------------------------------------- */

static char path[PATH_MAX];

static void take(int fd, int cmd, short type, off_t start, off_t len)
{
	struct flock fl = {.l_type = type, .l_whence = SEEK_SET, .l_start = start, .l_len = len};
	if (fcntl(fd, cmd, &fl) < 0)
		_exit(2);
}

/* The child: A, B, C and F open at their numbers, the locks taken in the
 * list's order, then "ready" on ready[1]; it waits until go closes (or
 * WAIT_S, or this process's end). */
static pid_t locker(int ready[2], int go[2])
{
	pid_t kid = fork();
	assert_true(kid >= 0);
	if (kid > 0)
		return kid;
	alarm(WAIT_S);
	close(ready[0]);
	close(go[1]);
	for (int fd = FD_A; fd <= FD_F; fd++) {
		int o = open(path, O_RDWR);
		if (o < 0 || dup2(o, fd) != fd)
			_exit(2);
		close(o);
	}
	take(FD_C, F_OFD_SETLK, F_RDLCK, 0, 100);
	take(FD_A, F_SETLK, F_RDLCK, 50, 60);
	take(FD_B, F_OFD_SETLK, F_RDLCK, 120, 10);
	take(FD_A, F_OFD_SETLK, F_RDLCK, 100, 100);
	if (flock(FD_F, LOCK_SH) < 0 || write(ready[1], "r", 1) != 1)
		_exit(2);
	char c;
	_exit(read(go[0], &c, 1) == 0 ? 0 : 3);
}

static void test_reads_the_list(void **state)
{
	(void)state;
	if (access("/sys/kernel/btf/vmlinux", R_OK) < 0 || geteuid() != 0)
		skip(); /* what the reader needs: root and a kernel with BTF (CI has both) */
	snprintf(path, sizeof path, "/tmp/binmig-unit-lockorder.XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0 && ftruncate(fd, 4096) == 0);
	close(fd);
	int ready[2], go[2];
	assert_int_equal(pipe(ready), 0);
	assert_int_equal(pipe(go), 0);
	pid_t kid = locker(ready, go);
	close(ready[1]);
	close(go[0]);
	char c;
	bool up = read(ready[0], &c, 1) == 1;
	struct bm_process p;
	model(&p, NULL, 0);
	p.pid = kid;
	int collected = up ? bm_locks_collect(kid, &p) : -1;
	int ordered = collected == 0 ? bm_locks_order(&p, false) : -1;
	close(go[1]);
	int status = -1;
	waitpid(kid, &status, 0);
	close(ready[0]);
	unlink(path);
	assert_true(up);
	assert_int_equal(collected, 0);
	assert_int_equal(ordered, 0);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	/* Read in descriptor order, now in the list's: C's, the POSIX lock, B's, A's, F's flock. */
	assert_list_order(&p);
	assert_int_equal(p.locks[0].start, 0);
	assert_int_equal(p.locks[1].start, 50);
	assert_int_equal(p.locks[2].start, 120);
	assert_int_equal(p.locks[3].start, 100);
	/* Each with its owner's place, for a tree's turns; the flock none. */
	for (uint32_t i = 0; i < 5; i++)
		assert_int_equal(p.locks[i].order, i < 4 ? i + 1 : 0);
	bm_process_free(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_keys_and_sort),
		cmocka_unit_test(test_sort_keeps_equal_keys),
		cmocka_unit_test(test_place_not_read),
		cmocka_unit_test(test_turns),
		cmocka_unit_test(test_turn_handoff),
		cmocka_unit_test(test_reads_the_list),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
