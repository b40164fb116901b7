/* Shared helpers for the programs that the end-to-end tests migrate.
 *
 * Protocol: a program sets up its state, prints "ready", waits (by default
 * in sigsuspend until SIGUSR1), then checks its state and prints "PASS"
 * (exit 0) or one "FAIL: ..." line per broken check and a final "FAIL"
 * (exit 1).  Output goes straight to fd 1 with write(2): no stdio buffer
 * whose state would depend on when the process was frozen, and no malloc
 * behind our back (heap.c manages the break itself). */
#ifndef TESTPROG_H
#define TESTPROG_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

static int tp_failures __attribute__((unused));

static inline void tp_write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			_exit(3); /* nowhere left to report it */
		buf += n;
		len -= n;
	}
}

__attribute__((format(printf, 1, 2))) static inline void say(const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n > sizeof(buf) - 2)
		n = sizeof(buf) - 2;
	buf[n++] = '\n';
	tp_write_all(1, buf, n);
}

__attribute__((format(printf, 4, 5))) static inline void tp_check_failed(const char *file, int line,
									    const char *cond, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	tp_failures++;
	say("FAIL: %s:%d: %s (%s)", file, line, msg, cond);
}

/* CHECK(cond, fmt, ...): reports a failed check and carries on, so one run
 * shows every broken piece of state. */
#define CHECK(cond, ...)                                                          \
	do {                                                                      \
		if (!(cond))                                                      \
			tp_check_failed(__FILE__, __LINE__, #cond, __VA_ARGS__);  \
	} while (0)

/* A failure during setup, before "ready": the test cannot even start. */
#define SETUP(cond, what)                                                                  \
	do {                                                                               \
		if (!(cond)) {                                                             \
			say("FAIL: setup: %s: %s", what, strerror(errno));                 \
			exit(1);                                                           \
		}                                                                          \
	} while (0)

static inline int tp_finish(void)
{
	if (tp_failures) {
		say("FAIL");
		return 1;
	}
	say("PASS");
	return 0;
}

static inline uint64_t mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static inline int64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Reads a whole (small) file; returns its length or -1. */
static inline ssize_t read_file(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	size_t used = 0;
	while (used < size) {
		ssize_t n = read(fd, buf + used, size - used);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		used += n;
	}
	close(fd);
	return used;
}

/* Reads a whole (small) text file into BUF of SIZE bytes, ended by a NUL;
 * returns its length, or 0 or less if it could not be read. */
static inline ssize_t read_text(const char *path, char *buf, size_t size)
{
	ssize_t n = read_file(path, buf, size - 1);
	buf[n > 0 ? n : 0] = 0;
	return n;
}

/* The state letter in stat file PATH (/proc/PID/stat, /proc/PID/task/TID/stat), '?' if unreadable. */
static inline char tp_stat_state(const char *path)
{
	char buf[1024];
	if (read_text(path, buf, sizeof buf) <= 0)
		return '?';
	char *p = strrchr(buf, ')');
	return p && p[1] ? p[2] : '?';
}

/* The state letter of process pid (/proc/PID/stat: its main thread), '?' if unreadable. */
static inline char tp_proc_state(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	return tp_stat_state(path);
}

/* Whether every thread of process pid is in state s (/proc/PID/task/TID/stat):
 * a group stop reaches the threads one by one, the main one's 'T' says
 * nothing of the others.  false if the process is gone. */
static inline bool tp_threads_state(pid_t pid, char s)
{
	char dir[64], path[128];
	snprintf(dir, sizeof dir, "/proc/%d/task", (int)pid);
	DIR *d = opendir(dir);
	if (!d)
		return false;
	int count = 0;
	bool all = true;
	for (struct dirent *e; all && (e = readdir(d));) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, "%s/%.32s/stat", dir, e->d_name);
		all = tp_stat_state(path) == s;
		count++;
	}
	closedir(d);
	return all && count > 0;
}

/* The system call thread TID of this process is blocked in (the first
 * field of /proc/self/task/TID/syscall), -1 while it runs ("running"), -2
 * if that file cannot be read (the thread is gone). */
static inline long tp_thread_syscall(pid_t tid)
{
	char path[64], buf[256];
	snprintf(path, sizeof path, "/proc/self/task/%d/syscall", (int)tid);
	if (read_text(path, buf, sizeof buf) <= 0)
		return -2;
	return buf[0] >= '0' && buf[0] <= '9' ? strtol(buf, NULL, 10) : -1;
}

/* Whether thread TID of this process is blocked in system call NR,
 * waiting for it at most 10 s: a thread that goes back to its wait after
 * some work of its own (a signal handler, say) is where a test may look at
 * it only once it is there again. */
static inline bool tp_thread_blocked_in(pid_t tid, long nr)
{
	const struct timespec ms = {0, 1000000};
	for (int64_t end = mono_ns() + 10 * 1000000000LL; mono_ns() < end; nanosleep(&ms, NULL)) {
		long got = tp_thread_syscall(tid);
		if (got == -2)
			return false;
		if (got == nr)
			return true;
	}
	return false;
}

/* The number of threads of this process but the calling one and SKIP (0:
 * none) once each of them is blocked in system call NR, waiting for that at
 * most 10 s; -1 if not all are by then.  For threads a library starts, whose
 * tids the program does not know (glibc's helper for SIGEV_THREAD timers
 * sets its signal mask only once it runs, then waits in rt_sigtimedwait). */
static inline int tp_other_threads_blocked_in(pid_t skip, long nr)
{
	const struct timespec ms = {0, 1000000};
	for (int64_t end = mono_ns() + 10 * 1000000000LL; mono_ns() < end; nanosleep(&ms, NULL)) {
		DIR *d = opendir("/proc/self/task");
		if (!d)
			return -1;
		int count = 0;
		bool all = true;
		for (struct dirent *e; (e = readdir(d));) {
			pid_t tid = (pid_t)strtol(e->d_name, NULL, 10);
			if (tid <= 0 || tid == gettid() || tid == skip)
				continue;
			count++;
			all = all && tp_thread_syscall(tid) == nr;
		}
		closedir(d);
		if (all)
			return count;
	}
	return -1;
}

/* The size of process pid's descriptor table ("FDSize:" of
 * /proc/PID/status, which the kernel grows and never shrinks), -1 if
 * unreadable. */
static inline long tp_fd_table_size(pid_t pid)
{
	char path[64], buf[4096];
	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	if (read_text(path, buf, sizeof buf) <= 0)
		return -1;
	char *p = strstr(buf, "\nFDSize:");
	return p ? strtol(p + 9, NULL, 10) : -1;
}

/* The value of FIELD ("VmFlags:", "ProtectionKey:") in the smaps entry of
 * the mapping that starts at ADDR, or "" where it has none. */
static inline void tp_smaps_field(const void *addr, const char *field, char *buf, size_t len)
{
	static char smaps[1 << 20];
	buf[0] = 0;
	ssize_t n = read_file("/proc/self/smaps", smaps, sizeof smaps);
	if (n <= 0)
		return;
	bool in = false;
	for (char *line = smaps; line && *line;) {
		char *next = strchr(line, '\n');
		if (next)
			*next++ = 0;
		size_t hex = strspn(line, "0123456789abcdef");
		if (hex > 0 && line[hex] == '-') /* a VMA's header line */
			in = strtoul(line, NULL, 16) == (unsigned long)addr;
		else if (in && strncmp(line, field, strlen(field)) == 0) {
			snprintf(buf, len, "%s", line + strlen(field));
			return;
		}
		line = next;
	}
}

/* The VmFlags line of this process's VMA starting at addr, or "" (into
 * buf); tp_has_vmflag: whether such a line has the two-letter code. */
static inline void tp_vmflags(void *addr, char *buf, size_t len)
{
	tp_smaps_field(addr, "VmFlags:", buf, len);
}

static inline bool tp_has_vmflag(const char *flags, const char *code)
{
	for (const char *p = flags; (p = strstr(p, code)) != NULL; p += 2)
		if ((p == flags || p[-1] == ' ') && (p[2] == ' ' || p[2] == 0))
			return true;
	return false;
}

/* Field N (numbered as in proc(5), from 1) of /proc/self/stat; fields after
 * the command name only.  Returns false if it cannot be read. */
static inline bool self_stat_field(int n, unsigned long long *value)
{
	char buf[2048];
	ssize_t len = read_file("/proc/self/stat", buf, sizeof(buf) - 1);
	if (len <= 0 || n < 3)
		return false;
	buf[len] = '\0';
	char *p = strrchr(buf, ')');
	if (!p)
		return false;
	p += 2; /* field 3, the state letter */
	for (int field = 3; field < n; field++) {
		p = strchr(p, ' ');
		if (!p)
			return false;
		p++;
	}
	char *end;
	*value = strtoull(p, &end, 10);
	return end != p;
}

/* ---- gates ---- */

/* fork(), but the new process is not a child of this one: binmig refuses
 * a process with children, and these programs give their peers (the other
 * end of a pipe or socket) to a process of their own.  The new process is
 * a grandchild whose parent has exited at once; it gets 0, the caller its
 * PID. */
static inline pid_t tp_fork_peer(void)
{
	int report[2];
	SETUP(pipe(report) == 0, "pipe");
	pid_t middle = fork();
	SETUP(middle >= 0, "fork");
	if (middle == 0) {
		pid_t peer = fork();
		if (peer == 0) {
			close(report[0]);
			close(report[1]);
			return 0;
		}
		ssize_t n = write(report[1], &peer, sizeof peer);
		_exit(peer > 0 && n == (ssize_t)sizeof peer ? 0 : 1);
	}
	close(report[1]);
	pid_t peer = -1;
	int status;
	SETUP(read(report[0], &peer, sizeof peer) == (ssize_t)sizeof peer && peer > 0, "the peer's PID");
	SETUP(waitpid(middle, &status, 0) == middle, "waitpid");
	close(report[0]);
	return peer;
}

/* A program given a gate (--gate FILE) keeps working past its counted work,
 * left out of its output and result, until FILE exists: a test opens the
 * gate once it has done what it needed the program alive for, however fast
 * or slow the machine is.  No gate (NULL) is always open. */
static inline bool tp_gate_open(const char *gate)
{
	return !gate || access(gate, F_OK) == 0;
}

/* Where uncounted work leaves its value, so that the compiler keeps it. */
static volatile uint64_t tp_sink __attribute__((unused));

/* ---- waiting for SIGUSR1 ---- */

static volatile sig_atomic_t tp_usr1_seen __attribute__((unused));
static sigset_t tp_mask_before_wait __attribute__((unused));

static inline void tp_on_usr1(int sig)
{
	(void)sig;
	tp_usr1_seen = 1;
}

/* Installs the SIGUSR1 handler and blocks SIGUSR1, so a signal sent before
 * the program waits is kept pending rather than lost.  Call before "ready". */
static inline void usr1_setup(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = tp_on_usr1;
	sigemptyset(&sa.sa_mask);
	SETUP(sigaction(SIGUSR1, &sa, NULL) == 0, "sigaction SIGUSR1");
	sigset_t usr1;
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	SETUP(sigprocmask(SIG_BLOCK, &usr1, NULL) == 0, "block SIGUSR1");
}

static inline bool same_sigset(const sigset_t *a, const sigset_t *b)
{
	for (int sig = 1; sig <= 64; sig++)
		if (sigismember(a, sig) != sigismember(b, sig))
			return false;
	return true;
}

/* Sleeps in sigsuspend (everything else that is blocked stays blocked) until
 * SIGUSR1 arrives.  Afterwards the signal mask must be what it was before:
 * a migrator that saves the temporary sigsuspend mask instead of the real
 * one breaks this. */
static inline void usr1_wait(void)
{
	SETUP(sigprocmask(SIG_SETMASK, NULL, &tp_mask_before_wait) == 0, "sigprocmask");
	sigset_t during = tp_mask_before_wait;
	sigdelset(&during, SIGUSR1);
	while (!tp_usr1_seen)
		sigsuspend(&during);
	sigset_t after;
	sigprocmask(SIG_SETMASK, NULL, &after);
	CHECK(same_sigset(&after, &tp_mask_before_wait), "signal mask changed across the wait");
}

/* ---- spinning until SIGUSR1 (keeps the registers busy) ---- */

/* A chain of dependent register operations; the caller recomputes it from
 * the iteration count afterwards.  A migrator that freezes the loop and
 * puts back a wrong register changes the result. */
static inline uint64_t spin_step(uint64_t x, uint64_t i)
{
	return mix64(x ^ i) + (x >> 7);
}

/* Spins with SIGUSR1 unblocked until its handler ran; returns the number of
 * iterations and checks the chain's value against a recomputation. */
static inline uint64_t usr1_spin(void)
{
	sigset_t usr1;
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	sigprocmask(SIG_UNBLOCK, &usr1, NULL);
	uint64_t x = 1, i = 0;
	while (!tp_usr1_seen)
		x = spin_step(x, i++);
	sigprocmask(SIG_BLOCK, &usr1, NULL);
	uint64_t y = 1;
	for (uint64_t j = 0; j < i; j++)
		y = spin_step(y, j);
	CHECK(x == y, "spin chain %#llx after %llu steps, recomputed %#llx", (unsigned long long)x,
	      (unsigned long long)i, (unsigned long long)y);
	return i;
}

/* ---- the set of open descriptors ---- */

#define TP_MAX_FD 1024
struct fd_set_snapshot {
	unsigned char open[TP_MAX_FD];
	int status[TP_MAX_FD]; /* F_GETFL */
	int fd_flags[TP_MAX_FD]; /* F_GETFD */
	int count;
};

static inline void fd_snapshot(struct fd_set_snapshot *s)
{
	memset(s, 0, sizeof(*s));
	DIR *d = opendir("/proc/self/fd");
	SETUP(d != NULL, "opendir /proc/self/fd");
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		int fd = atoi(e->d_name);
		if (fd == dirfd(d) || fd < 0 || fd >= TP_MAX_FD)
			continue;
		s->open[fd] = 1;
		s->status[fd] = fcntl(fd, F_GETFL);
		s->fd_flags[fd] = fcntl(fd, F_GETFD);
		s->count++;
	}
	closedir(d);
}

/* Every descriptor that was open is open again, with the same status
 * flags (O_APPEND, O_NONBLOCK, O_DIRECT, O_NOATIME, access mode, ...) and
 * FD_CLOEXEC, and no other is open. */
static inline void fd_check_same(const struct fd_set_snapshot *before)
{
	struct fd_set_snapshot now;
	fd_snapshot(&now);
	for (int fd = 0; fd < TP_MAX_FD; fd++) {
		CHECK(!before->open[fd] || now.open[fd], "fd %d was open and is gone", fd);
		CHECK(before->open[fd] || !now.open[fd], "fd %d is open but was not", fd);
		CHECK(!before->open[fd] || !now.open[fd] || before->status[fd] == now.status[fd],
		      "fd %d: status flags %#o, were %#o", fd, now.status[fd], before->status[fd]);
		CHECK(!before->open[fd] || !now.open[fd] || before->fd_flags[fd] == now.fd_flags[fd],
		      "fd %d: descriptor flags %#x, were %#x", fd, now.fd_flags[fd], before->fd_flags[fd]);
	}
}

#endif
