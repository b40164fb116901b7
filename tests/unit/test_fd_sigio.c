/* Where a descriptor's signals go (fd_sigio.c): read from this process's
 * own open files; carried when the owner is this process, one of its
 * threads; refused (with the reason) for an owner outside (a child of its
 * own, a process group others are in), a thread of another process of
 * a tree holding the same open file first, holders of other users whose
 * credentials would decide who gets the signals where the owner's
 * recorded ids were not read, a directory's owner (dnotify),
 * O_ASYNC that open(2) may have set or that is set on an open file held at
 * two numbers where the number its signals report (si_fd) was not read,
 * or where it cannot be set through that number, an open file only in
 * flight, other kinds; and the image rules of an entry.  Without BPF
 * (BINMIG_TEST_NO_BPF): what the BPF reader gives (kstate.h) is set by
 * hand, and test_kstate reads it. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "fd_sigio.h"
#include "log.h"

static char said[1024];

/* Runs the check over PROCS, its message (held, not printed) in said. */
static int check(struct bm_process *const *procs, size_t n)
{
	bm_hold_errors();
	int rc = bm_sigio_check(procs, n);
	snprintf(said, sizeof said, "%s", bm_error_message());
	bm_release_errors(false);
	return rc;
}

static int check_one(struct bm_fd *d)
{
	struct bm_process p = {.pid = getpid(), .fds = d, .nfds = 1};
	struct bm_process *procs[1] = {&p};
	return check(procs, 1);
}

/* A pipe end of this process as the dump describes it, with its owner and signal read. */
static struct bm_fd described(int fd, uint32_t kind, const char *path)
{
	struct stat st;
	assert_int_equal(fstat(fd, &st), 0);
	struct bm_fd d = {.fd = fd, .kind = kind, .shares_with = -1, .mode = st.st_mode, .path = (char *)path,
			  .flags = (uint32_t)fcntl(fd, F_GETFL)};
	assert_int_equal(bm_sigio_read(getpid(), fd, path, st.st_mode, &d), 0);
	return d;
}

static volatile pid_t thread_tid;
static void *sleeper(void *arg)
{
	(void)arg;
	thread_tid = (pid_t)syscall(SYS_gettid);
	for (;;)
		pause();
	return NULL;
}

static void set_owner(int fd, int type, pid_t pid)
{
	struct f_owner_ex owner = {type, pid};
	assert_int_equal(fcntl(fd, F_SETOWN_EX, &owner), 0);
}

static void test_owners(void **state)
{
	(void)state;
	int p[2];
	assert_int_equal(pipe(p), 0);
	/* Nothing set: nothing read, nothing refused. */
	struct bm_fd d = described(p[0], BM_FD_PIPE, "pipe:[1]");
	assert_false(bm_sigio_present(&d));
	/* The process itself, with F_SETSIG and O_ASYNC. */
	set_owner(p[0], F_OWNER_PID, getpid());
	assert_int_equal(fcntl(p[0], F_SETSIG, SIGRTMIN + 1), 0);
	assert_int_equal(fcntl(p[0], F_SETFL, O_ASYNC), 0);
	d = described(p[0], BM_FD_PIPE, "pipe:[1]");
	assert_int_equal(d.sig_owner, getpid());
	assert_int_equal(d.sig_owner_type, F_OWNER_PID);
	assert_int_equal(d.sig, SIGRTMIN + 1);
	assert_true(d.flags & O_ASYNC);
	assert_int_equal(check_one(&d), 0);
	/* A thread of it. */
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, sleeper, NULL), 0);
	while (!thread_tid)
		sched_yield();
	set_owner(p[0], F_OWNER_TID, thread_tid);
	d = described(p[0], BM_FD_PIPE, "pipe:[1]");
	assert_int_equal(d.sig_owner, thread_tid);
	assert_int_equal(d.sig_owner_type, F_OWNER_TID);
	assert_int_equal(check_one(&d), 0);
	/* A child of its own, which does not move with it. */
	pid_t kid = fork();
	assert_true(kid >= 0);
	if (kid == 0) {
		for (;;)
			pause();
	}
	set_owner(p[0], F_OWNER_PID, kid);
	d = described(p[0], BM_FD_PIPE, "pipe:[1]");
	assert_true(check_one(&d) < 0);
	char want[200];
	snprintf(want, sizeof want, "whose signals go to process %d (F_SETOWN), which does not move with it", kid);
	assert_non_null(strstr(said, want));
	/* As a tree with the child: carried. */
	struct bm_process me = {.pid = getpid(), .fds = &d, .nfds = 1}, other = {.pid = kid};
	struct bm_process *tree[2] = {&me, &other};
	assert_int_equal(check(tree, 2), 0);
	/* This process's group has the child in it too. */
	set_owner(p[0], F_OWNER_PGRP, getpgrp());
	d = described(p[0], BM_FD_PIPE, "pipe:[1]");
	assert_true(check_one(&d) < 0);
	assert_non_null(strstr(said, "whose signals go to process group"));
	assert_non_null(strstr(said, "which does not move with it"));
	/* A thread of this process owning a file the child (before it, in a
	 * tree) holds too: the child's restore would set it before the thread
	 * exists. */
	set_owner(p[0], F_OWNER_TID, thread_tid);
	d = described(p[0], BM_FD_PIPE, "pipe:[1]");
	struct bm_fd theirs = {.fd = p[0], .kind = BM_FD_PIPE, .shares_with = -1};
	struct bm_process first = {.pid = kid, .fds = &theirs, .nfds = 1};
	struct bm_process *shared[2] = {&first, &me};
	assert_true(check(shared, 2) < 0);
	snprintf(want, sizeof want, "whose signals go to thread %d of process %d", thread_tid, getpid());
	assert_non_null(strstr(said, want));
	/* Owned by this process and held by both: the user ids its owner
	 * recorded are read (F_GETOWNER_UIDS, this process's), and the
	 * restore sets it with them: carried, whoever holds it. */
	set_owner(p[0], F_OWNER_PID, getpid());
	d = described(p[0], BM_FD_PIPE, "pipe:[1]");
	assert_int_equal(d.sig_known, BM_SIGIO_CREDS_KNOWN);
	assert_int_equal(d.sig_cred_uid, getuid());
	assert_int_equal(d.sig_cred_euid, geteuid());
	assert_int_equal(check(shared, 2), 0);
	for (int i = 0; i < 4; i++)
		me.uid[i] = 65534, first.uid[i] = 65533;
	assert_int_equal(check(shared, 2), 0);
	/* Not read (a kernel without F_GETOWNER_UIDS): of two users, whether
	 * this process gets the signals depends on which set the owner. */
	d.sig_known = 0;
	assert_true(check(shared, 2) < 0);
	snprintf(want, sizeof want, "of other users, whose credentials its owner keeps decide whether process %d gets "
		 "its signals", getpid());
	assert_non_null(strstr(said, want));
	first.nfds = 0; /* held by this process alone: its own credentials */
	assert_int_equal(check(shared, 2), 0);
	kill(kid, SIGKILL);
	waitpid(kid, NULL, 0);
	close(p[0]);
	close(p[1]);
}

static void test_refused_kinds(void **state)
{
	(void)state;
	int p[2];
	assert_int_equal(pipe(p), 0);
	assert_int_equal(fcntl(p[0], F_SETFL, O_ASYNC), 0);
	struct bm_fd d = described(p[0], BM_FD_PIPE, "pipe:[1]");
	assert_int_equal(check_one(&d), 0);
	/* Opened by open(2) (O_LARGEFILE), or a FIFO: O_ASYNC may be unarmed. */
	d.flags |= 0100000;
	assert_true(check_one(&d) < 0);
	assert_non_null(strstr(said, "with O_ASYNC, which open(2) sets without sending signals"));
	d.flags &= ~0100000u;
	d.kind = BM_FD_FIFO;
	assert_true(check_one(&d) < 0);
	/* A regular file's O_ASYNC comes from open, and is opened so again. */
	d.kind = BM_FD_REGULAR;
	assert_int_equal(check_one(&d), 0);
	d.kind = BM_FD_EPOLL;
	assert_true(check_one(&d) < 0);
	assert_non_null(strstr(said, "which binmig carries only for pipes"));
	d.kind = BM_FD_PIPE;
	d.in_flight = 1;
	assert_true(check_one(&d) < 0);
	assert_non_null(strstr(said, "an open file only in flight (SCM_RIGHTS)"));
	d.in_flight = 0;
	d.replaced = BM_FD_TO_NULL;
	assert_true(check_one(&d) < 0);
	assert_non_null(strstr(said, "that a policy would drop"));
	close(p[0]);
	close(p[1]);
	/* A directory's owner may be dnotify's. */
	int dir = open("/", O_RDONLY | O_DIRECTORY);
	assert_true(dir >= 0);
	set_owner(dir, F_OWNER_PID, getpid());
	struct bm_fd dd = {.fd = dir};
	bm_hold_errors();
	int rc = bm_sigio_read(getpid(), dir, "/", S_IFDIR | 0755, &dd);
	snprintf(said, sizeof said, "%s", bm_error_message());
	bm_release_errors(false);
	assert_true(rc < 0);
	assert_non_null(strstr(said, "which may be dnotify's"));
	close(dir);
}

/* O_ASYNC on an open file held at two numbers: its signals name (si_fd)
 * the one it was set through, which only the kernel's fasync entry shows. */
static void test_async_numbers(void **state)
{
	(void)state;
	int p[2], other[2];
	assert_int_equal(pipe(p), 0);
	int q = dup(p[0]);
	assert_true(q >= 0);
	/* A dup without O_ASYNC: carried. */
	set_owner(p[0], F_OWNER_PID, getpid());
	struct bm_fd two[2] = {described(p[0], BM_FD_PIPE, "pipe:[1]"), described(q, BM_FD_PIPE, "pipe:[1]")};
	two[1].shares_with = p[0];
	struct bm_process me = {.pid = getpid(), .fds = two, .nfds = 2};
	struct bm_process *procs[1] = {&me};
	assert_int_equal(check(procs, 1), 0);
	/* With it, the number its signals report not read: refused, naming
	 * the other number. */
	assert_int_equal(fcntl(q, F_SETFL, O_ASYNC), 0);
	two[0] = described(p[0], BM_FD_PIPE, "pipe:[1]");
	two[1] = described(q, BM_FD_PIPE, "pipe:[1]");
	two[1].shares_with = p[0];
	assert_true(check(procs, 1) < 0);
	char want[200];
	snprintf(want, sizeof want, "with O_ASYNC, held at fd %d of process %d too", q, getpid());
	assert_non_null(strstr(said, want));
	assert_non_null(strstr(said, "(si_fd)"));
	/* Read (as the BPF reader gives it: fa_fd, the higher): carried. */
	for (int i = 0; i < 2; i++)
		two[i].sig_known |= BM_SIGIO_ASYNC_FD_KNOWN, two[i].sig_async_fd = q;
	assert_int_equal(check(procs, 1), 0);
	/* Set through a number closed since (q, held at p[0] only): carried
	 * where it is free within the table and the process holds no record
	 * lock of that kind; refused past the table, with a lock, or where
	 * another file is at that number now. */
	close(q);
	me.nfds = 1;
	assert_int_equal(check(procs, 1), 0);
	me.fd_table_size = (uint32_t)q;
	assert_true(check(procs, 1) < 0);
	snprintf(want, sizeof want, "with O_ASYNC set through fd %d, closed since, beyond its descriptor table", q);
	assert_non_null(strstr(said, want));
	me.fd_table_size = 0;
	two[0].locks_seen = 1;
	assert_true(check(procs, 1) < 0);
	assert_non_null(strstr(said, "whose closing would drop the record locks"));
	two[0].locks_seen = 0;
	assert_int_equal(pipe(other), 0);
	assert_true(dup2(other[0], q) == q);
	two[1] = described(q, BM_FD_PIPE, "pipe:[2]");
	me.nfds = 2;
	assert_true(check(procs, 1) < 0);
	snprintf(want, sizeof want, "with O_ASYNC set through fd %d, which now holds another file", q);
	assert_non_null(strstr(said, want));
	/* Held at one number (in a tree, the same in every holder): carried. */
	close(q);
	close(other[0]);
	close(other[1]);
	two[0].sig_known = 0;
	me.nfds = 1;
	struct bm_fd theirs = {.fd = p[0], .kind = BM_FD_PIPE, .shares_with = -1};
	struct bm_process them = {.pid = getpid(), .fds = &theirs, .nfds = 1};
	struct bm_process *tree[2] = {&me, &them};
	assert_int_equal(check(tree, 2), 0);
	close(p[0]);
	close(p[1]);
}

static void test_image_rules(void **state)
{
	(void)state;
	char why[200];
	struct bm_fd f = {.kind = BM_FD_PIPE, .flags = O_ASYNC, .sig_owner = 7, .sig_owner_type = F_OWNER_PGRP,
			  .sig = 64};
	assert_true(bm_sigio_check_entry(&f, why, sizeof why));
	f.sig = 65;
	assert_false(bm_sigio_check_entry(&f, why, sizeof why));
	f.sig = 0;
	f.sig_owner_type = 3;
	assert_false(bm_sigio_check_entry(&f, why, sizeof why));
	f.sig_owner_type = F_OWNER_PID;
	f.sig_owner = -1;
	assert_false(bm_sigio_check_entry(&f, why, sizeof why));
	f.sig_owner = 0; /* no owner: no type */
	assert_false(bm_sigio_check_entry(&f, why, sizeof why));
	f.sig_owner_type = F_OWNER_TID; /* (0) */
	assert_true(bm_sigio_check_entry(&f, why, sizeof why));
	f.in_flight = 1;
	assert_false(bm_sigio_check_entry(&f, why, sizeof why));
	f.in_flight = 0;
	f.kind = BM_FD_FIFO; /* O_ASYNC that open may have set */
	assert_false(bm_sigio_check_entry(&f, why, sizeof why));
	f.flags = 0;
	f.sig = 40;
	assert_true(bm_sigio_check_entry(&f, why, sizeof why));
	f.kind = BM_FD_DIRECTORY;
	assert_false(bm_sigio_check_entry(&f, why, sizeof why));
	/* What the dump read: the number its signals report only with O_ASYNC
	 * armed, the owner's user ids only with an owner. */
	f = (struct bm_fd){.kind = BM_FD_PIPE, .flags = O_ASYNC, .sig_known = BM_SIGIO_ASYNC_FD_KNOWN, .sig_async_fd = 9};
	assert_true(bm_sigio_check_entry(&f, why, sizeof why));
	f.sig_async_fd = -1;
	assert_false(bm_sigio_check_entry(&f, why, sizeof why));
	f.sig_async_fd = 9;
	f.flags = 0;
	assert_false(bm_sigio_check_entry(&f, why, sizeof why));
	f.flags = O_ASYNC;
	f.kind = BM_FD_REGULAR; /* O_ASYNC from open(2): no fasync entry */
	assert_false(bm_sigio_check_entry(&f, why, sizeof why));
	f.kind = BM_FD_PIPE;
	f.sig_known = BM_SIGIO_CREDS_KNOWN;
	assert_false(bm_sigio_check_entry(&f, why, sizeof why));
	f.sig_owner = 7;
	f.sig_owner_type = F_OWNER_PID;
	assert_true(bm_sigio_check_entry(&f, why, sizeof why));
	f.sig_known = 4;
	assert_false(bm_sigio_check_entry(&f, why, sizeof why));
}

/* The image's tail of what the dump read (version 15): as encoded, and
 * refused for a descriptor it does not have or out of order. */
static void test_image_tail(void **state)
{
	(void)state;
	struct bm_fd fds[3] = {
		{.fd = 3, .kind = BM_FD_PIPE, .flags = O_ASYNC, .shares_with = -1, .sig_known = BM_SIGIO_KNOWN_ALL,
		 .sig_async_fd = 8, .sig_owner = 5, .sig_owner_type = F_OWNER_PID, .sig_cred_uid = 65534,
		 .sig_cred_euid = 65533},
		{.fd = 4, .kind = BM_FD_PIPE, .shares_with = -1},
		{.fd = 6, .kind = BM_FD_UNIX_SOCKET, .flags = O_ASYNC, .shares_with = -1,
		 .sig_known = BM_SIGIO_ASYNC_FD_KNOWN, .sig_async_fd = 6},
	};
	struct bm_process p = {.fds = fds, .nfds = 3};
	struct bm_wbuf b;
	bm_wbuf_init(&b);
	bm_sigio_known_encode(&b, &p);
	assert_false(b.failed);
	struct bm_fd back[3] = {fds[0], fds[1], fds[2]};
	for (int i = 0; i < 3; i++)
		back[i].sig_known = 0, back[i].sig_async_fd = 0, back[i].sig_cred_uid = back[i].sig_cred_euid = 0;
	struct bm_process q = {.fds = back, .nfds = 3};
	struct bm_rcur c;
	bm_rcur_init(&c, b.data, b.len);
	c.version = 15;
	bm_sigio_known_decode(&c, &q);
	assert_false(bm_rcur_failed(&c));
	assert_int_equal(c.pos, b.len);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(back[i].sig_known, fds[i].sig_known);
		assert_int_equal(back[i].sig_async_fd, fds[i].sig_async_fd);
		assert_int_equal(back[i].sig_cred_uid, fds[i].sig_cred_uid);
		assert_int_equal(back[i].sig_cred_euid, fds[i].sig_cred_euid);
	}
	/* Without the descriptor it names. */
	q.nfds = 2;
	bm_rcur_init(&c, b.data, b.len);
	c.version = 15;
	bm_sigio_known_decode(&c, &q);
	assert_true(bm_rcur_failed(&c));
	bm_wbuf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_owners),
		cmocka_unit_test(test_refused_kinds),
		cmocka_unit_test(test_async_numbers),
		cmocka_unit_test(test_image_rules),
		cmocka_unit_test(test_image_tail),
	};
	/* What BPF reads is set by hand (test_kstate reads it). */
	setenv("BINMIG_TEST_NO_BPF", "1", 1);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
