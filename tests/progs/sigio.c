/* sigio MODE: signal-driven I/O (migrator/fd_sigio.c).
 *
 *   carried [DIR]  open files whose signals go somewhere:
 *              a pipe's read end with O_ASYNC, owned by
 *              a thread of the process (F_OWNER_TID), signal SIGRTMIN+1
 *              (F_SETSIG), handled with SA_SIGINFO;
 *              a unix stream socket pair's end with O_ASYNC, owned by the
 *              process (F_SETOWN), the default SIGIO;
 *              a unix datagram socket pair's end with O_ASYNC, owned by
 *              the process's group (F_OWNER_PGRP; the process leads a
 *              group of its own), signal SIGRTMIN+2;
 *            a pipe's write end (and a dup of it) with only a signal
 *            set (F_SETSIG, SIGRTMIN+3, no owner);
 *            with DIR: a named FIFO's read end (DIR/fifo, reopened by
 *            its name) owned by the process, signal SIGRTMIN+4, without
 *            O_ASYNC; a regular file (DIR/file) opened with O_ASYNC (the
 *            only way a regular file gets it), owned by the helper
 *            thread, signal SIGRTMIN+3 (read back only: neither sends
 *            signals).
 *   fifoasync DIR  a named FIFO's read end with O_ASYNC (F_SETFL): as
 *            open(2) with O_ASYNC would show it, unarmed; the dump must
 *            refuse it.
 *   dupasync  a pipe's read end with O_ASYNC owned by the process, and a
 *            dup of it: its signals would name (si_fd, with F_SETSIG)
 *            the descriptor O_ASYNC was set through, which only the
 *            kernel's fasync entry shows; the dump must refuse it where
 *            it cannot read that (without BPF).
 *   numbers  O_ASYNC (owner the process, SIGRTMIN+2) on a pipe's read end
 *            held at fds 30 and 31, set through 31; and on another's,
 *            set through fd 32, closed since (held at 33): its signals
 *            report fd 32, which stays closed.
 *   taken    as the second pipe of numbers, with another pipe's read end
 *            at fd 32 now: the dump must refuse it.
 *   credchange  (started as root) O_ASYNC on a pipe whose owner (the
 *            process, SIGRTMIN+2) was set as user 65534, the process root
 *            again since: the owner keeps 65534 (F_GETOWNER_UIDS), which
 *            may not signal root: writing sends the process nothing.
 *            Checked before "ready" and after the wake-up.
 *            Before "ready" and again after the wake-up: fcntl reads back
 *            every flag, owner and signal, and writing to each makes
 *            exactly its signal arrive at its thread, with the same
 *            siginfo (code, si_fd, si_band) both times.
 *   tree     a tree of two: the process, leading a group of its own, and
 *            a child ("child PID") in that group, both holding (fork)
 *            a pipe's read end with O_ASYNC owned by the group
 *            (SIGRTMIN+2: both get it) and another one's owned by the
 *            child (SIGRTMIN+1).  Before "ready"
 *            and after the wake-up the process reads the settings back,
 *            writes to both and the child checks that it got both
 *            signals (si_fd, si_band) and says so on a pipe.
 *   creds [shared]  (started as root) a tree of two in a group of
 *            their own: the child becomes user 65533, the process user
 *            65534 and then makes the group owner of a pipe's read end
 *            with O_ASYNC (SIGRTMIN+2), which the child closes (with
 *            "shared": holds too).  The kernel records the setter's
 *            credentials with the owner: writing signals the process,
 *            not the child, which it may not signal.  Checked before
 *            "ready" and after the wake-up.  Shared, the dump must refuse
 *            it: either holder may have set the owner.
 *   outside  a pipe's read end with O_ASYNC owned by another process
 *            ("owner PID"), which does not move with it: the dump must
 *            refuse it.
 * In the refused mode the process is left alone and passes its checks. */
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "testprog.h"

#define WAIT_S 20 /* a signal to another thread or process: a loaded machine may run it late */

struct got {
	pid_t tid;
	int signo, code, fd;
	long band;
};

static struct got seen[8];
static volatile sig_atomic_t nseen;
static sem_t arrived;
static pid_t helper_tid;
static volatile sig_atomic_t helper_up;

static void on_signal(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	if (nseen < 8) {
		struct got *g = &seen[nseen];
		g->tid = (pid_t)syscall(SYS_gettid);
		g->signo = sig;
		g->code = si->si_code;
		g->fd = si->si_code > 0 ? si->si_fd : -1;
		g->band = si->si_code > 0 ? si->si_band : 0;
		nseen++;
	}
	sem_post(&arrived);
}

/* The thread that owns the pipe's signals: it sleeps with only SIGRTMIN+1
 * open, so that the process-directed signals go to the main thread. */
static void *helper(void *arg)
{
	(void)arg;
	helper_tid = (pid_t)syscall(SYS_gettid);
	sigset_t open_one;
	sigfillset(&open_one);
	sigdelset(&open_one, SIGRTMIN + 1);
	helper_up = 1;
	sem_post(&arrived);
	for (;;)
		sigsuspend(&open_one);
	return NULL;
}

/* Writes to W and waits for one signal: what arrived, in *g. */
static bool fire(int w, struct got *g, const char *what)
{
	int before = nseen;
	CHECK(write(w, "x", 1) == 1, "writing to the %s", what);
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += WAIT_S;
	/* (a post may be left from a signal the main thread took itself) */
	while (nseen == before)
		if (sem_timedwait(&arrived, &until) < 0 && errno != EINTR)
			break;
	if (nseen != before + 1) {
		CHECK(false, "%d signals for the %s within %d s, not 1", nseen - before, what, WAIT_S);
		return false;
	}
	*g = seen[before];
	return true;
}

static void drain(int r)
{
	char buf[16];
	while (read(r, buf, sizeof buf) > 0)
		;
}

static void check_owner(int fd, int type, pid_t pid, int sig, bool async, const char *what)
{
	struct f_owner_ex owner = {0};
	CHECK(fcntl(fd, F_GETOWN_EX, &owner) == 0 && owner.pid == pid && (!pid || (int)owner.type == type),
	      "%s: owner %d of type %d, not %d of type %d", what, owner.pid, owner.type, pid, type);
	CHECK(fcntl(fd, F_GETSIG) == sig, "%s: signal %d, not %d", what, fcntl(fd, F_GETSIG), sig);
	CHECK(!!(fcntl(fd, F_GETFL) & O_ASYNC) == async, "%s: O_ASYNC %s", what, async ? "lost" : "appeared");
}

struct files {
	int pipe[2], stream[2], dgram[2], sigonly[2], sigonly_dup, fifo, file;
};

#define NFIRED 3

/* Reads back every setting and fires every file once; what arrived in got[0..NFIRED-1]. */
static void check_all(const struct files *f, pid_t main_tid, struct got got[NFIRED])
{
	check_owner(f->pipe[0], F_OWNER_TID, helper_tid, SIGRTMIN + 1, true, "the pipe");
	check_owner(f->stream[0], F_OWNER_PID, getpid(), 0, true, "the stream socket");
	check_owner(f->dgram[0], F_OWNER_PGRP, getpgrp(), SIGRTMIN + 2, true, "the datagram socket");
	check_owner(f->sigonly[1], F_OWNER_PID, 0, SIGRTMIN + 3, false, "the pipe with only a signal");
	check_owner(f->sigonly_dup, F_OWNER_PID, 0, SIGRTMIN + 3, false, "the dup of the pipe with only a signal");
	if (f->fifo >= 0) {
		check_owner(f->fifo, F_OWNER_PID, getpid(), SIGRTMIN + 4, false, "the FIFO");
		check_owner(f->file, F_OWNER_TID, helper_tid, SIGRTMIN + 3, true, "the regular file");
	}
	static const char *what[3] = {"pipe", "stream socket", "datagram socket"};
	int w[3] = {f->pipe[1], f->stream[1], f->dgram[1]}, r[3] = {f->pipe[0], f->stream[0], f->dgram[0]};
	for (int i = 0; i < 3; i++) {
		got[i] = (struct got){0};
		if (fire(w[i], &got[i], what[i]))
			drain(r[i]);
	}
	CHECK(got[0].tid == helper_tid && got[0].signo == SIGRTMIN + 1 && got[0].code == POLL_IN &&
	      got[0].fd == f->pipe[0] && (got[0].band & POLLIN),
	      "pipe: thread %d signal %d code %d fd %d band %#lx", got[0].tid, got[0].signo, got[0].code, got[0].fd,
	      got[0].band);
	CHECK(got[1].tid == main_tid && got[1].signo == SIGIO && got[1].code == SI_KERNEL,
	      "stream socket: thread %d signal %d code %d", got[1].tid, got[1].signo, got[1].code);
	CHECK(got[2].tid == main_tid && got[2].signo == SIGRTMIN + 2 && got[2].code == POLL_IN &&
	      got[2].fd == f->dgram[0] && (got[2].band & POLLIN),
	      "datagram socket: thread %d signal %d code %d fd %d band %#lx", got[2].tid, got[2].signo, got[2].code,
	      got[2].fd, got[2].band);
}

static void set_owner(int fd, int type, pid_t pid, int sig, const char *what)
{
	struct f_owner_ex owner = {type, pid};
	SETUP(fcntl(fd, F_SETOWN_EX, &owner) == 0 && fcntl(fd, F_SETSIG, sig) == 0 &&
	      fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_ASYNC | O_NONBLOCK) == 0, what);
}

/* A tree of two: the child, the command and verdict pipes' ends, the pipes owned. */
struct tree_run {
	pid_t kid;
	int cmd, ack, p[2], q[2];
};

/* In the child of "tree": one round per byte on CMD, its verdict on ACK. */
static void tree_child(int cmd, int ack, int pipe_r, int q_r)
{
	char c;
	while (read(cmd, &c, 1) == 1) {
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += WAIT_S;
		while (nseen < 2)
			if (sem_timedwait(&arrived, &until) < 0 && errno != EINTR)
				break;
		/* (in either order: the second may come while the first is handled) */
		pid_t me = getpid();
		int first = nseen == 2 && seen[0].signo == SIGRTMIN + 2;
		const struct got *a = &seen[first], *b = &seen[1 - first];
		bool ok = nseen == 2 && a->tid == me && a->signo == SIGRTMIN + 1 && a->code == POLL_IN && a->fd == pipe_r &&
			  (a->band & POLLIN) && b->tid == me && b->signo == SIGRTMIN + 2 && b->code == POLL_IN &&
			  b->fd == q_r && (b->band & POLLIN);
		if (!ok)
			say("FAIL: child: %d signals: %d code %d fd %d, then %d code %d fd %d", (int)nseen, seen[0].signo,
			    seen[0].code, seen[0].fd, seen[1].signo, seen[1].code, seen[1].fd);
		nseen = 0;
		char verdict = ok ? 'P' : 'F';
		if (write(ack, &verdict, 1) != 1)
			_exit(1);
	}
	_exit(0);
}

/* One round of "tree" in the process: settings, signals, the child's verdict. */
static void tree_round(const struct tree_run *t)
{
	int cmd = t->cmd, ack = t->ack;
	pid_t kid = t->kid;
	const int *p = t->p, *q = t->q;
	check_owner(p[0], F_OWNER_PID, kid, SIGRTMIN + 1, true, "the pipe");
	check_owner(q[0], F_OWNER_PGRP, getpgrp(), SIGRTMIN + 2, true, "the group's pipe");
	int before = nseen;
	CHECK(write(p[1], "x", 1) == 1 && write(q[1], "x", 1) == 1, "writing to the pipes");
	/* The group's signal reached this process (the main thread) during its write. */
	CHECK(nseen == before + 1 && seen[before].signo == SIGRTMIN + 2 && seen[before].fd == q[0],
	      "%d signals here, the last %d for fd %d", nseen - before, seen[nseen ? nseen - 1 : 0].signo,
	      seen[nseen ? nseen - 1 : 0].fd);
	char c = 'c', verdict = 0;
	CHECK(write(cmd, &c, 1) == 1 && read(ack, &verdict, 1) == 1 && verdict == 'P', "the child's verdict %c",
	      verdict ? verdict : '-');
	drain(p[0]);
	drain(q[0]);
}

/* The child of "creds": for each byte on CMD, whether no signal came. */
static void creds_child(int cmd, int ack)
{
	char c;
	while (read(cmd, &c, 1) == 1) {
		char verdict = nseen == 0 ? 'P' : 'F';
		if (nseen)
			say("FAIL: child (user %d): signal %d for fd %d", (int)getuid(), seen[0].signo, seen[0].fd);
		if (write(ack, &verdict, 1) != 1)
			_exit(1);
	}
	_exit(0);
}

static void creds_round(const struct tree_run *t)
{
	int cmd = t->cmd, ack = t->ack;
	const int *p = t->p;
	check_owner(p[0], F_OWNER_PGRP, getpgrp(), SIGRTMIN + 2, true, "the pipe");
	int before = nseen;
	/* The group's signals are sent during the write: the child's, if any,
	 * is pending before it reads the command. */
	CHECK(write(p[1], "x", 1) == 1, "writing to the pipe");
	CHECK(nseen == before + 1 && seen[before].signo == SIGRTMIN + 2 && seen[before].fd == p[0],
	      "%d signals here", nseen - before);
	char c = 'c', verdict = 0;
	CHECK(write(cmd, &c, 1) == 1 && read(ack, &verdict, 1) == 1 && verdict == 'P', "the child's verdict %c",
	      verdict ? verdict : '-');
	drain(p[0]);
}

/* "numbers" and "taken": O_ASYNC through fd 31 of a pipe held at 30 and
 * 31, and through fd 32 of one held at 33 (with TAKEN another pipe at 32). */
enum { NUM_HELD = 30, NUM_SET = 31, NUM_CLOSED = 32, NUM_KEPT = 33 };

static int numbers_mode(bool taken)
{
	int a[2], c[2], other[2];
	SETUP(pipe(a) == 0 && pipe(c) == 0 && dup2(a[0], NUM_HELD) == NUM_HELD && dup2(a[0], NUM_SET) == NUM_SET &&
	      dup2(c[0], NUM_CLOSED) == NUM_CLOSED && dup2(c[0], NUM_KEPT) == NUM_KEPT, "pipes at fds 30 to 33");
	close(a[0]);
	close(c[0]);
	set_owner(NUM_SET, F_OWNER_PID, getpid(), SIGRTMIN + 2, "the pipe held at two numbers");
	set_owner(NUM_CLOSED, F_OWNER_PID, getpid(), SIGRTMIN + 2, "the pipe set through fd 32");
	close(NUM_CLOSED);
	if (taken)
		SETUP(pipe(other) == 0 && dup2(other[0], NUM_CLOSED) == NUM_CLOSED, "another pipe at fd 32");
	for (int round = 0; round < 2; round++) {
		if (round) {
			usr1_setup();
			say("ready");
			usr1_wait();
		}
		check_owner(NUM_HELD, F_OWNER_PID, getpid(), SIGRTMIN + 2, true, "the pipe held at two numbers");
		check_owner(NUM_KEPT, F_OWNER_PID, getpid(), SIGRTMIN + 2, true, "the pipe held at fd 33");
		struct got g = {0};
		if (fire(a[1], &g, "pipe held at two numbers"))
			CHECK(g.signo == SIGRTMIN + 2 && g.fd == NUM_SET && g.code == POLL_IN,
			      "round %d: the pipe held at two numbers: signal %d for fd %d code %d", round, g.signo, g.fd,
			      g.code);
		drain(NUM_HELD);
		if (fire(c[1], &g, "pipe held at fd 33"))
			CHECK(g.signo == SIGRTMIN + 2 && g.fd == NUM_CLOSED && g.code == POLL_IN,
			      "round %d: the pipe held at fd 33: signal %d for fd %d code %d", round, g.signo, g.fd, g.code);
		drain(NUM_KEPT);
		CHECK(taken || (fcntl(NUM_CLOSED, F_GETFD) < 0 && errno == EBADF), "round %d: fd 32 is open", round);
	}
	return tp_finish();
}

#ifndef F_GETOWNER_UIDS
#define F_GETOWNER_UIDS 17
#endif

/* "credchange": the owner set as user 65534, the process root again since. */
static int credchange_mode(void)
{
	int p[2];
	SETUP(getuid() == 0, "started as root");
	SETUP(pipe(p) == 0 && setresuid(65534, 65534, 0) == 0, "a pipe, as user 65534");
	set_owner(p[0], F_OWNER_PID, getpid(), SIGRTMIN + 2, "the pipe's owner");
	SETUP(setresuid(0, 0, 0) == 0, "root again");
	for (int round = 0; round < 2; round++) {
		if (round) {
			usr1_setup();
			say("ready");
			usr1_wait();
		}
		check_owner(p[0], F_OWNER_PID, getpid(), SIGRTMIN + 2, true, "the pipe");
		uid_t ids[2] = {0, 0};
		CHECK(fcntl(p[0], F_GETOWNER_UIDS, ids) == 0 && ids[0] == 65534 && ids[1] == 65534,
		      "round %d: the owner's user ids %u and %u, not 65534", round, ids[0], ids[1]);
		/* Its signal would come during the write. */
		int before = nseen;
		CHECK(write(p[1], "x", 1) == 1 && nseen == before, "round %d: %d signals for a pipe whose owner may not "
		      "signal it", round, nseen - before);
		drain(p[0]);
	}
	return tp_finish();
}

/* A round before "ready", one after the wake-up, then the child's end. */
static int run_rounds(const struct tree_run *t, void (*round)(const struct tree_run *))
{
	round(t);
	if (tp_failures)
		return tp_finish();
	usr1_setup();
	say("child %d", t->kid);
	say("ready");
	usr1_wait();
	round(t);
	close(t->cmd);
	int status = 0;
	CHECK(waitpid(t->kid, &status, 0) == t->kid && WIFEXITED(status) && WEXITSTATUS(status) == 0,
	      "the child ended with %#x", status);
	return tp_finish();
}

static int creds_mode(bool shared)
{
	SETUP(getuid() == 0, "started as root");
	SETUP(getpgrp() == getpid() || setpgid(0, 0) == 0, "a process group of its own");
	int p[2], cmd[2], ack[2];
	SETUP(pipe(p) == 0 && pipe(cmd) == 0 && pipe(ack) == 0, "pipes");
	SETUP(fcntl(p[0], F_SETFL, O_NONBLOCK) == 0, "O_NONBLOCK");
	pid_t kid = fork();
	SETUP(kid >= 0, "fork");
	if (kid == 0) {
		SETUP(setresgid(65533, 65533, 65533) == 0 && setresuid(65533, 65533, 65533) == 0, "user 65533");
		if (!shared)
			close(p[0]);
		close(cmd[1]);
		close(ack[0]);
		creds_child(cmd[0], ack[1]);
	}
	close(cmd[0]);
	close(ack[1]);
	SETUP(setresgid(65534, 65534, 65534) == 0 && setresuid(65534, 65534, 65534) == 0, "user 65534");
	set_owner(p[0], F_OWNER_PGRP, getpgrp(), SIGRTMIN + 2, "the pipe's owner");
	struct tree_run t = {kid, cmd[1], ack[0], {p[0], p[1]}, {-1, -1}};
	return run_rounds(&t, creds_round);
}

static int tree_mode(void)
{
	SETUP(getpgrp() == getpid() || setpgid(0, 0) == 0, "a process group of its own");
	int p[2], q[2], cmd[2], ack[2];
	SETUP(pipe(p) == 0 && pipe(q) == 0 && pipe(cmd) == 0 && pipe(ack) == 0, "pipes");
	pid_t kid = fork();
	SETUP(kid >= 0, "fork");
	if (kid == 0) {
		close(cmd[1]);
		close(ack[0]);
		tree_child(cmd[0], ack[1], p[0], q[0]);
	}
	close(cmd[0]);
	close(ack[1]);
	set_owner(p[0], F_OWNER_PID, kid, SIGRTMIN + 1, "the pipe's owner");
	set_owner(q[0], F_OWNER_PGRP, getpgrp(), SIGRTMIN + 2, "the group pipe's owner");
	struct tree_run t = {kid, cmd[1], ack[0], {p[0], p[1]}, {q[0], q[1]}};
	return run_rounds(&t, tree_round);
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";
	int fds[2];
	if (strcmp(mode, "outside") == 0) {
		/* The owner: a process of its own, which ends with this one. */
		pid_t self = getpid();
		pid_t peer = tp_fork_peer();
		if (peer == 0) {
			signal(SIGIO, SIG_IGN);
			struct pollfd q = {.fd = (int)syscall(SYS_pidfd_open, self, 0), .events = POLLIN};
			_exit(q.fd >= 0 && poll(&q, 1, -1) == 1 ? 0 : 1);
		}
		SETUP(pipe(fds) == 0, "pipe");
		set_owner(fds[0], F_OWNER_PID, peer, 0, "an owner outside");
		usr1_setup();
		say("owner %d", peer);
		say("ready");
		usr1_wait();
		check_owner(fds[0], F_OWNER_PID, peer, 0, true, "the pipe");
		return tp_finish();
	}
	if (strcmp(mode, "dupasync") == 0) {
		SETUP(pipe(fds) == 0, "pipe");
		int dup_fd = dup(fds[0]);
		SETUP(dup_fd >= 0, "dup");
		set_owner(dup_fd, F_OWNER_PID, getpid(), 0, "the dup's owner");
		usr1_setup();
		say("ready");
		usr1_wait();
		check_owner(fds[0], F_OWNER_PID, getpid(), 0, true, "the pipe");
		return tp_finish();
	}
	if (strcmp(mode, "fifoasync") == 0 && argc == 3) {
		char fifo[4200];
		snprintf(fifo, sizeof fifo, "%s/fifo", argv[2]);
		SETUP(mkfifo(fifo, 0600) == 0 && (fds[0] = open(fifo, O_RDONLY | O_NONBLOCK)) >= 0, "DIR/fifo");
		set_owner(fds[0], F_OWNER_PID, getpid(), 0, "the FIFO's owner");
		usr1_setup();
		say("ready");
		usr1_wait();
		check_owner(fds[0], F_OWNER_PID, getpid(), 0, true, "the FIFO");
		return tp_finish();
	}
	if (strcmp(mode, "carried") != 0 && strcmp(mode, "tree") != 0 && strcmp(mode, "creds") != 0 &&
	    strcmp(mode, "numbers") != 0 && strcmp(mode, "taken") != 0 && strcmp(mode, "credchange") != 0) {
		say("FAIL: usage: sigio carried [DIR]|tree|creds [shared]|numbers|taken|credchange|outside|dupasync|"
		    "fifoasync DIR");
		return 2;
	}
	SETUP(sem_init(&arrived, 0, 0) == 0, "sem_init");
	struct sigaction sa = {.sa_sigaction = on_signal, .sa_flags = SA_SIGINFO | SA_RESTART};
	sigemptyset(&sa.sa_mask);
	int sigs[] = {SIGIO, SIGRTMIN + 1, SIGRTMIN + 2, SIGRTMIN + 3, SIGRTMIN + 4};
	for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++)
		SETUP(sigaction(sigs[i], &sa, NULL) == 0, "sigaction");
	if (strcmp(mode, "tree") == 0)
		return tree_mode();
	if (strcmp(mode, "creds") == 0)
		return creds_mode(argc > 2 && strcmp(argv[2], "shared") == 0);
	if (strcmp(mode, "numbers") == 0 || strcmp(mode, "taken") == 0)
		return numbers_mode(strcmp(mode, "taken") == 0);
	if (strcmp(mode, "credchange") == 0)
		return credchange_mode();
	SETUP(getpgrp() == getpid() || setpgid(0, 0) == 0, "a process group of its own");
	/* The main thread never takes the helper's signal. */
	sigset_t rt1;
	sigemptyset(&rt1);
	sigaddset(&rt1, SIGRTMIN + 1);
	SETUP(pthread_sigmask(SIG_BLOCK, &rt1, NULL) == 0, "block SIGRTMIN+1");
	pthread_t th;
	SETUP(pthread_create(&th, NULL, helper, NULL) == 0, "pthread_create");
	while (!helper_up)
		sem_wait(&arrived);
	struct files f;
	SETUP(pipe(f.pipe) == 0 && socketpair(AF_UNIX, SOCK_STREAM, 0, f.stream) == 0 &&
	      socketpair(AF_UNIX, SOCK_DGRAM, 0, f.dgram) == 0 && pipe(f.sigonly) == 0, "pipes and sockets");
	set_owner(f.pipe[0], F_OWNER_TID, helper_tid, SIGRTMIN + 1, "the pipe's owner");
	set_owner(f.stream[0], F_OWNER_PID, getpid(), 0, "the stream socket's owner");
	set_owner(f.dgram[0], F_OWNER_PGRP, getpgrp(), SIGRTMIN + 2, "the datagram socket's owner");
	SETUP(fcntl(f.sigonly[1], F_SETSIG, SIGRTMIN + 3) == 0, "a signal without owner");
	f.sigonly_dup = dup(f.sigonly[1]);
	SETUP(f.sigonly_dup >= 0, "dup");
	f.fifo = f.file = -1;
	if (argc > 2) {
		char fifo[4200], file[4200];
		snprintf(fifo, sizeof fifo, "%s/fifo", argv[2]);
		snprintf(file, sizeof file, "%s/file", argv[2]);
		SETUP(mkfifo(fifo, 0600) == 0 && (f.fifo = open(fifo, O_RDONLY | O_NONBLOCK)) >= 0 &&
		      (f.file = open(file, O_RDWR | O_CREAT | O_TRUNC | O_ASYNC, 0600)) >= 0, "DIR/fifo and DIR/file");
		struct f_owner_ex process = {F_OWNER_PID, getpid()}, thread = {F_OWNER_TID, helper_tid};
		SETUP(fcntl(f.fifo, F_SETOWN_EX, &process) == 0 && fcntl(f.fifo, F_SETSIG, SIGRTMIN + 4) == 0 &&
		      fcntl(f.file, F_SETOWN_EX, &thread) == 0 && fcntl(f.file, F_SETSIG, SIGRTMIN + 3) == 0,
		      "the FIFO's and the file's owners");
	}
	pid_t main_tid = (pid_t)syscall(SYS_gettid);
	struct got before[NFIRED], after[NFIRED];
	check_all(&f, main_tid, before);
	if (tp_failures)
		return tp_finish();
	/* The helper took its signal (the pipe's) in its sigsuspend: ready
	 * once it waits there again, out of its handler. */
	SETUP(tp_thread_blocked_in(helper_tid, SYS_rt_sigsuspend), "the helper waits again");
	usr1_setup();
	say("ready");
	usr1_wait();
	check_all(&f, main_tid, after);
	for (int i = 0; i < NFIRED; i++)
		CHECK(memcmp(&before[i], &after[i], sizeof before[i]) == 0,
		      "file %d: signal %d code %d fd %d band %#lx to thread %d; before, %d %d %d %#lx to %d", i,
		      after[i].signo, after[i].code, after[i].fd, after[i].band, after[i].tid, before[i].signo,
		      before[i].code, before[i].fd, before[i].band, before[i].tid);
	CHECK(nseen == 2 * NFIRED, "%d signals in all, not %d", (int)nseen, 2 * NFIRED);
	return tp_finish();
}
