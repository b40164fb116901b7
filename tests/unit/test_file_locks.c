/* File locks (file_locks.c): the fdinfo lines the kernel writes, the image
 * rules, and taking locks again on this process's own descriptors, with a
 * conflicting holder in a child process named in the error; in a tree, a
 * lock of a shared description left to the member that took it; a lock
 * whose taker is gone, marked at dump and taken again by a stand-in. */
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
#include <sched.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "fault.h"
#include "file_locks.h"
#include "image.h"
#include "log.h"
#include "state.h"

static void test_parse(void **state)
{
	(void)state;
	struct bm_file_lock l;
	char what[16];
	assert_int_equal(bm_lock_parse("\t1: POSIX  ADVISORY  WRITE 31768 fe:00:10953679 0 99\n", &l, what, sizeof what), 0);
	assert_int_equal(l.kind, BM_LOCK_POSIX);
	assert_int_equal(l.write, 1);
	assert_int_equal(l.start, 0);
	assert_int_equal(l.len, 100);
	assert_int_equal(bm_lock_parse("\t2: POSIX  ADVISORY  READ 31768 fe:00:10953679 200 EOF", &l, what, sizeof what), 0);
	assert_int_equal(l.write, 0);
	assert_int_equal(l.start, 200);
	assert_int_equal(l.len, 0);
	assert_int_equal(bm_lock_parse("\t1: OFDLCK ADVISORY  WRITE -1 fe:00:10961753 10 19", &l, what, sizeof what), 0);
	assert_int_equal(l.kind, BM_LOCK_OFD);
	assert_int_equal(l.start, 10);
	assert_int_equal(l.len, 10);
	assert_int_equal(bm_lock_parse("\t3: FLOCK  ADVISORY  READ 7 08:01:5 0 EOF", &l, what, sizeof what), 0);
	assert_int_equal(l.kind, BM_LOCK_FLOCK);
	assert_int_equal(l.write, 0);
	/* Leases and delegations are named and refused. */
	assert_int_equal(bm_lock_parse("\t1: LEASE  ACTIVE    READ 4711 fe:00:123 0 EOF", &l, what, sizeof what),
			 -ENOTSUP);
	assert_string_equal(what, "LEASE");
	assert_int_equal(bm_lock_parse("\t1: DELEG  ACTIVE    READ 4711 fe:00:123 0 EOF", &l, what, sizeof what),
			 -ENOTSUP);
	/* Lines that cannot be what the kernel writes. */
	static const char *const bad[] = {
		"", "garbage", "\t1: POSIX  ADVISORY  WRITE 1 fe:00:1 0", "\t1: POSIX  ADVISORY  BOTH 1 fe:00:1 0 EOF",
		"\t1: POSIX  ADVISORY  WRITE 1 fe:00:1 10 9", "\t1: POSIX  ADVISORY  WRITE 1 fe:00:1 -1 EOF",
		"\t1: POSIX  ADVISORY  WRITE 1 fe:00:1 0 12x", "\t1: FLOCK  ADVISORY  WRITE 1 fe:00:1 5 EOF",
		"\t1: POSIX  ADVISORY  WRITE 1 fe:00:1 0 9223372036854775807",
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		assert_int_equal(bm_lock_parse(bad[i], &l, what, sizeof what), -EINVAL);
}

static void test_describe(void **state)
{
	(void)state;
	char buf[96];
	bm_lock_describe(&(struct bm_file_lock){3, BM_LOCK_POSIX, 1, 0, 100}, buf, sizeof buf);
	assert_string_equal(buf, "POSIX write lock on bytes 0-99");
	bm_lock_describe(&(struct bm_file_lock){3, BM_LOCK_OFD, 0, 7, 0}, buf, sizeof buf);
	assert_string_equal(buf, "OFD read lock on bytes 7 to the end");
	bm_lock_describe(&(struct bm_file_lock){3, BM_LOCK_FLOCK, 1, 0, 0}, buf, sizeof buf);
	assert_string_equal(buf, "flock write lock");
}

/* A process with a file at fd 3 (and its dup at 4), a pipe end at 5. */
static void model(struct bm_process *p, const struct bm_file_lock *locks, uint32_t n)
{
	memset(p, 0, sizeof *p);
	p->fds = calloc(3, sizeof *p->fds);
	assert_non_null(p->fds);
	p->fds[0] = (struct bm_fd){.fd = 3, .kind = BM_FD_REGULAR, .shares_with = -1, .path = strdup("/tmp/f")};
	p->fds[1] = (struct bm_fd){.fd = 4, .kind = BM_FD_REGULAR, .shares_with = 3, .path = strdup("/tmp/f")};
	p->fds[2] = (struct bm_fd){.fd = 5, .kind = BM_FD_PIPE, .shares_with = -1};
	p->nfds = 3;
	p->locks = calloc(n ? n : 1, sizeof *p->locks);
	assert_non_null(p->locks);
	if (n)
		memcpy(p->locks, locks, n * sizeof *locks);
	p->nlocks = n;
}

/* Encodes p's locks; returns whether the encoder accepted them, and
 * checks the decoder agrees and reads them back the same. */
static bool round_trip(struct bm_process *p)
{
	struct bm_wbuf b;
	bm_wbuf_init(&b);
	char why[160];
	bool ok = bm_encode_locks(&b, p, why, sizeof why) == 0;
	if (!ok) {
		/* The same bytes, written by hand, are rejected by the decoder. */
		bm_wbuf_free(&b);
		bm_wbuf_init(&b);
		bm_put_u32(&b, p->nlocks);
		for (uint32_t i = 0; i < p->nlocks; i++) {
			bm_put_i32(&b, p->locks[i].fd);
			bm_put_u32(&b, p->locks[i].kind);
			bm_put_u32(&b, p->locks[i].write);
			bm_put_i64(&b, p->locks[i].start);
			bm_put_i64(&b, p->locks[i].len);
			bm_put_u32(&b, p->locks[i].by_standin);
			bm_put_i32(&b, p->locks[i].standin_pid);
			bm_put_u32(&b, p->locks[i].order);
			bm_put_i32(&b, p->locks[i].through_pid);
		}
	}
	struct bm_process q = *p;
	q.locks = NULL;
	q.nlocks = 0;
	struct bm_rcur c;
	bm_rcur_init(&c, b.data, b.len);
	c.version = BM_IMAGE_VERSION;
	bm_decode_locks(&c, &q);
	bool decoded = bm_rcur_finish(&c);
	assert_int_equal(decoded, ok);
	if (ok) {
		assert_int_equal(q.nlocks, p->nlocks);
		assert_memory_equal(q.locks, p->locks, p->nlocks * sizeof *p->locks);
	}
	free(q.locks);
	bm_wbuf_free(&b);
	return ok;
}

static void test_image_rules(void **state)
{
	(void)state;
	/* fd, kind, write, start, len, shown_pid (not in the image: 0), by_standin, standin_pid */
	static const struct bm_file_lock good[] = {
		{3, BM_LOCK_POSIX, 1, 0, 100}, {3, BM_LOCK_OFD, 0, 5, 0}, {3, BM_LOCK_FLOCK, 1, 0, 0},
		{3, BM_LOCK_FLOCK, 0, 0, 0, 0, 1, 4242}, {3, BM_LOCK_OFD, 1, 0, 10, 0, 1, 0}};
	struct bm_process p;
	model(&p, good, 5);
	assert_true(round_trip(&p));
	bm_process_free(&p);
	model(&p, NULL, 0);
	assert_true(round_trip(&p));
	bm_process_free(&p);
	static const struct bm_file_lock bad[] = {
		{9, BM_LOCK_POSIX, 1, 0, 0},      /* no such descriptor */
		{4, BM_LOCK_POSIX, 1, 0, 0},      /* a dup: the lock belongs to the first */
		{5, BM_LOCK_FLOCK, 1, 0, 0},      /* a pipe */
		{3, 0, 1, 0, 0},                  /* no kind */
		{3, 4, 1, 0, 0},                  /* an unknown kind */
		{3, BM_LOCK_POSIX, 2, 0, 0},      /* neither read nor write */
		{3, BM_LOCK_POSIX, 1, -1, 0},     /* before the file */
		{3, BM_LOCK_POSIX, 1, 0, -5},     /* a negative length */
		{3, BM_LOCK_POSIX, 1, INT64_MAX, 2}, /* past the largest offset */
		{3, BM_LOCK_FLOCK, 1, 0, 10},     /* flock with a range */
		{3, BM_LOCK_POSIX, 1, 0, 0, 0, 1, 0},  /* a stand-in's POSIX lock would go with it */
		{3, BM_LOCK_FLOCK, 1, 0, 0, 0, 2, 0},  /* neither by a stand-in nor not */
		{3, BM_LOCK_FLOCK, 1, 0, 0, 0, 1, -1}, /* a negative PID */
		{3, BM_LOCK_FLOCK, 1, 0, 0, 0, 0, 7},  /* a PID without a stand-in */
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		model(&p, &bad[i], 1);
		assert_false(round_trip(&p));
		bm_process_free(&p);
	}
	/* Orders (version 19): rising, equal, none between; not on a flock,
	 * not going down. */
	struct bm_file_lock ordered[] = {{3, BM_LOCK_OFD, 0, 0, 10}, {3, BM_LOCK_POSIX, 0, 20, 10},
					 {3, BM_LOCK_FLOCK, 0, 0, 0}, {3, BM_LOCK_POSIX, 0, 40, 10}};
	ordered[0].order = 1;
	ordered[1].order = ordered[3].order = 4;
	model(&p, ordered, 4);
	assert_true(round_trip(&p));
	bm_process_free(&p);
	ordered[2].order = 5;
	model(&p, ordered, 4);
	assert_false(round_trip(&p)); /* a flock with an order */
	bm_process_free(&p);
	ordered[2].order = 0;
	ordered[3].order = 2;
	model(&p, ordered, 4);
	assert_false(round_trip(&p)); /* 2 after 4, a flock without between */
	bm_process_free(&p);
	/* Through another member's descriptor (version 20): a flock, on a
	 * number the process need not have (the tree's restore checks it). */
	struct bm_file_lock through = {9, BM_LOCK_FLOCK, 1, 0, 0};
	through.through_pid = 77;
	model(&p, &through, 1);
	p.pid = 70;
	assert_true(round_trip(&p));
	/* which a single process's image cannot hold */
	assert_true(bm_locks_check_alone(&p) < 0);
	assert_int_equal(bm_exit_code(), BM_EXIT_IMAGE);
	bm_reset_errors();
	p.locks[0].through_pid = 0;
	p.locks[0].fd = 3;
	assert_int_equal(bm_locks_check_alone(&p), 0);
	bm_process_free(&p);
	struct bm_file_lock wrong[] = {{9, BM_LOCK_OFD, 1, 0, 10}, {9, BM_LOCK_FLOCK, 1, 0, 0, 0, 1, 0},
				       {9, BM_LOCK_FLOCK, 1, 0, 0}, {-1, BM_LOCK_FLOCK, 1, 0, 0}};
	const int32_t through_of[] = {77, 77, 70 /* its own PID */, 77};
	for (size_t i = 0; i < sizeof wrong / sizeof *wrong; i++) {
		wrong[i].through_pid = through_of[i];
		model(&p, &wrong[i], 1);
		p.pid = 70;
		assert_false(round_trip(&p));
		bm_process_free(&p);
	}
}

static char path[PATH_MAX];

static int setup(void **state)
{
	(void)state;
	snprintf(path, sizeof path, "/tmp/binmig-unit-locks.XXXXXX");
	int fd = mkstemp(path);
	return fd < 0 ? -1 : close(fd);
}

static int teardown(void **state)
{
	(void)state;
	bm_reset_errors();
	return unlink(path);
}

/* This process's fd as the first descriptor of a file in p, with locks. */
static void model_fd(struct bm_process *p, int fd, const struct bm_file_lock *locks, uint32_t n)
{
	memset(p, 0, sizeof *p);
	p->fds = calloc(1, sizeof *p->fds);
	assert_non_null(p->fds);
	p->fds[0] = (struct bm_fd){.fd = fd, .kind = BM_FD_REGULAR, .shares_with = -1, .path = strdup(path)};
	p->nfds = 1;
	p->locks = malloc(n * sizeof *locks);
	assert_non_null(p->locks);
	memcpy(p->locks, locks, n * sizeof *locks);
	p->nlocks = n;
	for (uint32_t i = 0; i < n; i++)
		p->locks[i].fd = fd;
}

/* In a child: what another process sees of the file's locks. */
static pid_t holder_of(short type, off_t start, off_t len)
{
	int fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	struct flock fl = {.l_type = type, .l_whence = SEEK_SET, .l_start = start, .l_len = len};
	assert_int_equal(fcntl(fd, F_GETLK, &fl), 0);
	close(fd);
	return fl.l_type == F_UNLCK ? 0 : fl.l_pid;
}

static void test_take(void **state)
{
	(void)state;
	int fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	static const struct bm_file_lock locks[] = {{0, BM_LOCK_POSIX, 1, 0, 100}, {0, BM_LOCK_POSIX, 0, 200, 0}};
	struct bm_process p;
	model_fd(&p, fd, locks, 2);
	char err[256] = "";
	assert_int_equal(bm_locks_take(&p, NULL, err, sizeof err), 0);
	pid_t self = getpid();
	pid_t kid = fork();
	assert_true(kid >= 0);
	if (kid == 0)
		_exit(holder_of(F_WRLCK, 50, 1) == self && holder_of(F_WRLCK, 150, 1) == 0 &&
			      holder_of(F_WRLCK, 300, 1) == self && holder_of(F_RDLCK, 300, 1) == 0
		      ? 0 : 1);
	int status;
	assert_int_equal(waitpid(kid, &status, 0), kid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	bm_process_free(&p);
	close(fd);
}

/* A child made with clone flags (fork's, plus CLONE_FILES or not) that
 * takes a flock exclusive lock through fd (-1: a POSIX write lock on bytes
 * 50-59 of the file, opened anew), says so on ready and waits for go
 * (ended with this process when a check fails). */
static pid_t taker(int fd, unsigned long flags, int ready[2], int go[2])
{
	assert_int_equal(pipe(ready), 0);
	assert_int_equal(pipe(go), 0);
	pid_t self = getpid();
	pid_t kid = (pid_t)syscall(SYS_clone, flags | SIGCHLD, 0, NULL, NULL, 0);
	assert_true(kid >= 0);
	if (kid == 0) {
		struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 50, .l_len = 10};
		int own = fd < 0 ? open(path, O_RDWR) : -1;
		char c = (fd >= 0 ? flock(fd, LOCK_EX) : own >= 0 ? fcntl(own, F_SETLK, &fl) : -1) == 0 ? 'y' : 'n';
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != self) /* ends with this process */
			_exit(2);
		if (write(ready[1], &c, 1) != 1 || read(go[0], &c, 1) < 0)
			_exit(2);
		_exit(0);
	}
	char c;
	assert_int_equal(read(ready[0], &c, 1), 1);
	assert_int_equal(c, 'y');
	return kid;
}

static void taker_done(pid_t kid, int ready[2], int go[2])
{
	assert_int_equal(write(go[1], "x", 1), 1);
	int status;
	assert_int_equal(waitpid(kid, &status, 0), kid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	for (int i = 0; i < 2; i++) {
		close(ready[i]);
		close(go[i]);
	}
}

static void test_take_conflict(void **state)
{
	(void)state;
	/* A child holds bytes 50-59 until told to go. */
	int ready[2], go[2];
	pid_t kid = taker(-1, 0, ready, go);
	int fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	static const struct bm_file_lock posix[] = {{0, BM_LOCK_POSIX, 1, 0, 100}};
	struct bm_process p;
	model_fd(&p, fd, posix, 1);
	char err[256] = "", want[128];
	assert_int_equal(bm_locks_take(&p, NULL, err, sizeof err), -1);
	snprintf(want, sizeof want, "cannot take its POSIX write lock on bytes 0-99 again: process %d holds a conflicting lock",
		 (int)kid);
	assert_non_null(strstr(err, want));
	bm_process_free(&p);
	/* A flock is not in the way of a POSIX lock; another flock of the file is. */
	int other = open(path, O_RDONLY);
	assert_int_equal(flock(other, LOCK_EX), 0);
	static const struct bm_file_lock fl[] = {{0, BM_LOCK_FLOCK, 0, 0, 0}};
	model_fd(&p, fd, fl, 1);
	assert_int_equal(bm_locks_take(&p, NULL, err, sizeof err), -1);
	assert_non_null(strstr(err, "cannot take its flock read lock again: another open file holds a conflicting lock"));
	bm_process_free(&p);
	close(other);
	taker_done(kid, ready, go);
	close(fd);
}

/* A tree member in the model: pid, with fd as the first descriptor of
 * the file, its locks read from /proc (none when fd is -1). */
static void member(struct bm_process *p, pid_t pid, int fd)
{
	memset(p, 0, sizeof *p);
	p->pid = pid;
	if (fd < 0)
		return;
	p->fds = calloc(1, sizeof *p->fds);
	assert_non_null(p->fds);
	p->fds[0] = (struct bm_fd){.fd = fd, .kind = BM_FD_REGULAR, .shares_with = -1, .path = strdup(path),
				   .locks_seen = 1};
	p->nfds = 1;
	assert_int_equal(bm_locks_collect(pid, p), 0);
}

static void test_keep_takers(void **state)
{
	(void)state;
	int fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	int ready[2], go[2];
	pid_t kid = taker(fd, 0, ready, go);
	struct bm_process self, child, none;
	member(&self, getpid(), fd);
	member(&child, kid, fd);
	/* Both list the child's lock, with its PID; the child keeps it. */
	assert_int_equal(self.nlocks, 1);
	assert_int_equal(child.nlocks, 1);
	assert_int_equal(self.locks[0].shown_pid, kid);
	/* Read in this process, it is marked for a stand-in with the taker's
	 * PID; in the taker's own list, not. */
	assert_int_equal(self.locks[0].by_standin, 1);
	assert_int_equal(self.locks[0].standin_pid, kid);
	assert_int_equal(child.locks[0].by_standin, 0);
	struct bm_process *tree[] = {&self, &child};
	assert_int_equal(bm_locks_keep_takers(tree, 2), 0);
	assert_int_equal(self.nlocks, 0);
	assert_int_equal(child.nlocks, 1);
	assert_int_equal(child.locks[0].kind, BM_LOCK_FLOCK);
	assert_int_equal(child.locks[0].by_standin, 0);
	bm_process_free(&self);
	/* The taker not a member (still there, its descriptors of the file
	 * closed as far as the tree knows): the lock stays, for a stand-in
	 * with its PID. */
	member(&self, getpid(), fd);
	assert_int_equal(bm_locks_keep_takers(tree, 1), 0);
	assert_int_equal(self.nlocks, 1);
	assert_int_equal(self.locks[0].by_standin, 1);
	assert_int_equal(self.locks[0].standin_pid, kid);
	/* A member without the description (it closed its descriptors of
	 * it): the flock goes to its list, taken through the holder's
	 * descriptor, once however many members hold the description (here
	 * this process, modelled twice). */
	struct bm_process again;
	member(&again, getpid(), fd);
	member(&none, kid, -1);
	struct bm_process *without[] = {&self, &again, &none};
	assert_int_equal(bm_locks_keep_takers(without, 3), 0);
	assert_int_equal(self.nlocks, 0);
	assert_int_equal(again.nlocks, 0);
	assert_int_equal(none.nlocks, 1);
	assert_int_equal(none.locks[0].kind, BM_LOCK_FLOCK);
	assert_int_equal(none.locks[0].write, 1);
	assert_int_equal(none.locks[0].fd, fd);
	assert_int_equal(none.locks[0].through_pid, getpid());
	assert_int_equal(none.locks[0].by_standin, 0);
	assert_int_equal(none.locks[0].standin_pid, 0);
	bm_process_free(&none);
	bm_process_free(&again);
	bm_process_free(&self);
	bm_process_free(&child);
	taker_done(kid, ready, go);
	close(fd);
}

static void test_keep_takers_table(void **state)
{
	(void)state;
	int fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	int ready[2], go[2];
	pid_t kid = taker(fd, CLONE_FILES, ready, go);
	/* A member with this process's table: its model has no descriptors. */
	struct bm_process self, sharer;
	member(&self, getpid(), fd);
	member(&sharer, kid, -1);
	struct bm_process *tree[] = {&self, &sharer};
	assert_int_equal(bm_locks_keep_takers(tree, 2), -1);
	assert_int_equal(bm_exit_code(), BM_EXIT_UNSUPPORTED);
	char want[PATH_MAX + 160];
	snprintf(want, sizeof want, "process %d took the flock write lock on fd %d (%s) through the descriptor table it "
		 "shares with process %d", (int)kid, fd, path, (int)getpid());
	assert_non_null(strstr(bm_error_message(), want));
	bm_process_free(&self);
	taker_done(kid, ready, go);
	close(fd);
}

/* The PID this process's fdinfo shows for the one lock on fd. */
static int shown_pid(int fd)
{
	char name[64], line[256];
	snprintf(name, sizeof name, "/proc/self/fdinfo/%d", fd);
	FILE *f = fopen(name, "r");
	assert_non_null(f);
	int pid = INT_MIN, n = 0;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "lock: %*d: %*s %*s %*s %d", &pid) == 1)
			n++;
	fclose(f);
	assert_int_equal(n, 1);
	return pid;
}

/* Whether another open file of path can take lock kind k (flock or OFD,
 * exclusive) now. */
static bool free_for_another(int kind)
{
	int other = open(path, O_RDWR);
	assert_true(other >= 0);
	struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
	bool got = (kind == BM_LOCK_FLOCK ? flock(other, LOCK_EX | LOCK_NB) : fcntl(other, F_OFD_SETLK, &fl)) == 0;
	close(other);
	return got;
}

/* A lock whose taker had exited: taken by a stand-in that exits, /proc
 * showing its PID (a PID freed is not handed out again before the PIDs
 * wrap around); the dump marks such a lock; a taken PID falls back to any;
 * a POSIX lock and a conflict fail, and a stand-in that cannot be made. */
static void test_standin(void **state)
{
	(void)state;
	int fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	pid_t self = getpid();
	struct bm_file_lock l = {.fd = fd, .kind = BM_LOCK_FLOCK, .write = 1, .by_standin = 1};
	assert_int_equal(bm_lock_by_standin(fd, &l, NULL), 0);
	int gone = shown_pid(fd);
	/* 0 where this test runs below the first PID namespace. */
	assert_true(gone == 0 || (gone > 0 && gone != self && kill(gone, 0) < 0 && errno == ESRCH));
	assert_false(free_for_another(BM_LOCK_FLOCK));
	/* The dump marks it, with the PID /proc shows. */
	struct bm_process p;
	member(&p, self, fd);
	assert_int_equal(p.nlocks, 1);
	assert_int_equal(p.locks[0].by_standin, 1);
	assert_int_equal(p.locks[0].standin_pid, gone);
	bm_process_free(&p);
	assert_int_equal(flock(fd, LOCK_UN), 0);
	/* Taken again with that PID, which no process has. */
	if (gone > 0 && geteuid() == 0) {
		l.standin_pid = gone;
		assert_int_equal(bm_lock_by_standin(fd, &l, NULL), 0);
		assert_int_equal(shown_pid(fd), gone);
		assert_int_equal(flock(fd, LOCK_UN), 0);
	}
	/* A PID that is taken: any other, gone as well. */
	l.standin_pid = self;
	assert_int_equal(bm_lock_by_standin(fd, &l, NULL), 0);
	int other = shown_pid(fd);
	assert_true(other == 0 || (other != self && kill(other, 0) < 0 && errno == ESRCH));
	assert_int_equal(flock(fd, LOCK_UN), 0);
	/* An OFD lock alike (fdinfo may hide its taker: -1). */
	struct bm_file_lock ofd = {.fd = fd, .kind = BM_LOCK_OFD, .write = 1, .by_standin = 1};
	assert_int_equal(bm_lock_by_standin(fd, &ofd, NULL), 0);
	assert_false(free_for_another(BM_LOCK_OFD));
	struct flock un = {.l_type = F_UNLCK, .l_whence = SEEK_SET};
	assert_int_equal(fcntl(fd, F_OFD_SETLK, &un), 0);
	/* A POSIX lock would go with the stand-in; a conflict is the lock's error. */
	struct bm_file_lock posix = {.fd = fd, .kind = BM_LOCK_POSIX, .write = 1, .by_standin = 1};
	assert_int_equal(bm_lock_by_standin(fd, &posix, NULL), -EINVAL);
	int holder = open(path, O_RDONLY);
	assert_int_equal(flock(holder, LOCK_SH), 0);
	l.standin_pid = 0;
	bool standin_failed = true;
	assert_int_equal(bm_lock_by_standin(fd, &l, &standin_failed), -EWOULDBLOCK);
	assert_false(standin_failed);
	close(holder);
#ifdef BM_FAULT_INJECTION
	/* A stand-in that cannot be made says so, and takes nothing. */
	assert_int_equal(bm_fault_arm("lock-standin"), 0);
	assert_int_equal(bm_lock_by_standin(fd, &l, &standin_failed), -EAGAIN);
	assert_true(standin_failed);
	assert_true(free_for_another(BM_LOCK_FLOCK));
#endif
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_describe),
		cmocka_unit_test(test_image_rules),
		cmocka_unit_test_setup_teardown(test_take, setup, teardown),
		cmocka_unit_test_setup_teardown(test_take_conflict, setup, teardown),
		cmocka_unit_test_setup_teardown(test_keep_takers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_keep_takers_table, setup, teardown),
		cmocka_unit_test_setup_teardown(test_standin, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
