/* Kernel state read through BPF iterators (migrator/kstate.c): a child
 * sets up a timer id counter and inotify instances whose next numbers no
 * other interface shows, and the reader must see them exactly, read
 * nothing else, and change nothing (the child then checks its next ids);
 * also with binmig in a PID namespace of its own, as in the emulated
 * hosts.  The child's slice is its own and equal to the base slice.  A
 * process made to send SIGUSR1 at its exit does so until its parent runs
 * a program.  And of this process's own TCP and UDP sockets, the
 * shutdown, a SO_REUSEPORT group's program and urgent data not
 * acknowledged; and the receive queues of UDP and unix datagram sockets:
 * their messages, the empty ones behind the head (also one a peek at an
 * offset no longer shows) and whether an empty head was peeked.  And of
 * the child's open files with O_ASYNC, the number their signals report
 * (si_fd): that of the descriptor O_ASYNC was set through, closed since
 * or a dup's. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <sched.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/select.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bpf/kstate_rec.h"
#include "kstate.h"
#include "unlinked.h"

#define WAIT_S 20 /* for the child, on any machine */

/* The child's descriptors, fixed by dup2. */
enum { FD_INOTIFY_GAP = 50, FD_INOTIFY_FRESH = 51, FD_PIPE = 52, FD_INOTIFY_DUP = 53, FD_TMP = 54, FD_TMP_EXCL = 55 };

/* sched_setattr's argument (linux/sched/types.h clashes with glibc's
 * sched.h), with the fields used. */
struct sched_attr {
	uint32_t size, sched_policy;
	uint64_t sched_flags;
	int32_t nice_and_priority[2];
	uint64_t sched_runtime, deadline_and_period[2];
	uint32_t util_clamps[2];
};

/* The base slice, as a thread with none of its own has it; 0 before
 * Linux 6.12. */
static uint64_t base_slice(void)
{
	struct sched_attr sa = {.size = sizeof sa};
	return syscall(SYS_sched_getattr, 0, &sa, sizeof sa, 0) == 0 ? sa.sched_runtime : 0;
}

/* Makes the calling thread's slice its own, equal to the base slice: a
 * first call with another slice, as one with the slice it has changes
 * nothing (migrator/attrs.c). */
static bool own_base_slice(uint64_t base)
{
	struct sched_attr sa = {.size = sizeof sa, .sched_policy = SCHED_OTHER, .sched_runtime = base + 1};
	if (syscall(SYS_sched_setattr, 0, &sa, 0) < 0)
		return false;
	sa.sched_runtime = base;
	return syscall(SYS_sched_setattr, 0, &sa, 0) == 0;
}

/* The child's open files with O_ASYNC (FA_*): 0, or what failed. */
enum { FA_PIPE = 60, FA_PIPE_SET = 61, FA_SOCK = 62, FA_NOTIFY = 63, FA_NOTIFY_SET = 64, FA_WRITER = 65,
       FA_CLEARED = 66, FA_BOTH = 67 };

static int set_async(void)
{
	int p[2], s[2], n = inotify_init1(0), q[2];
	char both[64];
	if (pipe(p) < 0 || socketpair(AF_UNIX, SOCK_STREAM, 0, s) < 0 || n < 0 || pipe(q) < 0)
		return 20;
	/* a pipe's read end, set through 61, which is closed (held at 60) */
	if (dup2(p[0], FA_PIPE) < 0 || dup2(p[0], FA_PIPE_SET) < 0 || fcntl(FA_PIPE_SET, F_SETFL, O_ASYNC) < 0 ||
	    close(FA_PIPE_SET) < 0)
		return 21;
	/* a socket, through its own number; its peer, with O_ASYNC cleared since */
	if (dup2(s[0], FA_SOCK) < 0 || fcntl(FA_SOCK, F_SETFL, O_ASYNC) < 0 || dup2(s[1], FA_CLEARED) < 0 ||
	    fcntl(FA_CLEARED, F_SETFL, O_ASYNC) < 0 || fcntl(FA_CLEARED, F_SETFL, 0) < 0)
		return 22;
	/* an inotify instance held at 63 and 64, set through the higher */
	if (dup2(n, FA_NOTIFY) < 0 || dup2(n, FA_NOTIFY_SET) < 0 || fcntl(FA_NOTIFY_SET, F_SETFL, O_ASYNC) < 0)
		return 23;
	/* another pipe's write end (the writers' list), and the pipe opened
	 * again for both directions (in both lists) */
	snprintf(both, sizeof both, "/proc/self/fd/%d", q[0]);
	if (dup2(q[1], FA_WRITER) < 0 || fcntl(FA_WRITER, F_SETFL, O_ASYNC) < 0 ||
	    dup2(open(both, O_RDWR), FA_BOTH) < 0 || fcntl(FA_BOTH, F_SETFL, O_ASYNC) < 0)
		return 24;
	return 0;
}

/* Timers 0-3 made, 3 (the newest) and 1 deleted: next 4.  An instance
 * with watches 1-3, 3 and 2 removed: next 4; one never used: next 1.  An
 * O_TMPFILE file that may be linked, and one made with O_EXCL.  Its
 * slice its own, equal to the base.  Open files with O_ASYNC (set_async).
 * Says 'r' on OUT, then waits for a byte on IN and checks that nothing
 * moved: exits 0 if its next timer and watch get 4. */
static int child(int in, int out)
{
	uint64_t base = base_slice();
	if (base && !own_base_slice(base))
		return 9;
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
	int rc = set_async();
	if (rc)
		return rc;
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

/* Fails the scenario with WHAT where COND is false. */
#define EXPECT(cond, what)                                                                                         \
	do {                                                                                                       \
		if (!(cond))                                                                                       \
			return (what);                                                                             \
	} while (0)

/* The child set up, read, then checked: NULL, or what failed (WHY gets
 * the reader's reason).  Runs in binmig's PID namespace, whichever. */
static const char *scenario(char *why, size_t why_size)
{
	int down[2], up[2];
	EXPECT(pipe(down) == 0 && pipe(up) == 0, "pipe");
	pid_t pid = fork();
	EXPECT(pid >= 0, "fork");
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
	EXPECT(select(up[0] + 1, &set, NULL, NULL, &tv) == 1 && read(up[0], &c, 1) == 1 && c == 'r',
	       "the child did not get ready");

	struct bm_fd fds[] = {
		fd_of(FD_INOTIFY_GAP, BM_FD_INOTIFY, -1), fd_of(FD_INOTIFY_FRESH, BM_FD_INOTIFY, -1),
		fd_of(FD_PIPE, BM_FD_PIPE, -1), fd_of(FD_INOTIFY_DUP, BM_FD_INOTIFY, FD_INOTIFY_GAP),
		fd_of(FD_TMP, BM_FD_UNLINKED_FILE, -1), fd_of(FD_TMP_EXCL, BM_FD_UNLINKED_FILE, -1),
	};
	struct bm_thread_attrs thread = {.tid = pid, .sched_policy = SCHED_OTHER};
	struct bm_process p = {.pid = pid, .fds = fds, .nfds = 6, .attrs = {.threads = &thread, .nthreads = 1}};
	EXPECT(bm_kstate_read(&p, why, why_size) == 0, "bm_kstate_read failed");
	/* its own, though the base: 0 before Linux 6.12 */
	EXPECT(thread.sched_slice == base_slice(), "its own slice equal to the base was not read");
	EXPECT(!p.exit_sends_sigchld, "made to send SIGCHLD, read as sending it instead of another");
	EXPECT(p.timers.next_id_known && p.timers.next_id == 4, "the timer id counter is not 4");
	EXPECT(fds[0].next_wd == 4 && fds[1].next_wd == 1, "the next watch numbers are not 4 and 1");
	EXPECT(fds[2].next_wd == 0, "a pipe was read as an inotify instance");
	EXPECT(fds[3].next_wd == 0, "an instance was read at a descriptor not its first");
	EXPECT(fds[4].object_flags == (BM_UNLINKED_LINK_KNOWN | BM_UNLINKED_LINKABLE), "O_TMPFILE: not linkable");
	EXPECT(fds[5].object_flags == BM_UNLINKED_LINK_KNOWN, "O_TMPFILE | O_EXCL: linkable");
	EXPECT(fds[0].sig_known == 0, "an open file without O_ASYNC read as having it");

	/* The numbers the signals of its open files with O_ASYNC report. */
	struct bm_fd fa[] = {
		fd_of(FA_PIPE, BM_FD_PIPE, -1), fd_of(FA_SOCK, BM_FD_UNIX_SOCKET, -1),
		fd_of(FA_NOTIFY, BM_FD_INOTIFY, -1), fd_of(FA_NOTIFY_SET, BM_FD_INOTIFY, FA_NOTIFY),
		fd_of(FA_WRITER, BM_FD_PIPE, -1), fd_of(FA_CLEARED, BM_FD_UNIX_SOCKET, -1), fd_of(FA_BOTH, BM_FD_PIPE, -1),
	};
	bool ask[] = {true, true, true, true, true, true, true};
	int32_t expect[] = {FA_PIPE_SET, FA_SOCK, FA_NOTIFY_SET, FA_NOTIFY_SET, FA_WRITER, -1, FA_BOTH};
	struct bm_process pa = {.pid = pid, .fds = fa, .nfds = 7};
	EXPECT(bm_kstate_fasync(&pa, ask, why, why_size) == 0, "bm_kstate_fasync failed");
	for (int i = 0; i < 7; i++)
		EXPECT(expect[i] < 0 ? fa[i].sig_known == 0 /* no entry: O_ASYNC cleared */
				     : fa[i].sig_known == BM_SIGIO_ASYNC_FD_KNOWN && fa[i].sig_async_fd == expect[i],
		       "the number an open file's signals report (fa_fd) was not read as set");

	/* Reading moved nothing: the child's next timer and watch get 4. */
	int status;
	EXPECT(write(down[1], "g", 1) == 1 && waitpid(pid, &status, 0) == pid, "waking the child");
	EXPECT(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the child's next timer or watch moved");
	close(down[1]);
	close(up[0]);

	/* A process that is gone: an error, nothing set. */
	struct bm_process gone = {.pid = pid};
	EXPECT(bm_kstate_read(&gone, why, why_size) < 0 && !gone.timers.next_id_known, "a gone process was read");
	EXPECT(strstr(why, "not found"), "a gone process: not said");
	return NULL;
}

static void needs_bpf(void)
{
	if (access("/sys/kernel/btf/vmlinux", R_OK) < 0 || geteuid() != 0)
		skip(); /* what the reader needs: root and a kernel with BTF (CI has both) */
}

static void reads_the_counters(void **state)
{
	(void)state;
	needs_bpf();
	char why[800] = "";
	const char *failed = scenario(why, sizeof why);
	if (failed)
		fail_msg("%s (%s)", failed, why);
}

/* binmig in a PID namespace of its own (as in the emulated hosts): the
 * programs see the first namespace's PIDs, and must read the process
 * binmig names by its PID in binmig's.  The scenario runs in such a
 * namespace's first process, which says what failed on a pipe. */
static void reads_in_a_pid_namespace(void **state)
{
	(void)state;
	needs_bpf();
	int out[2];
	assert_int_equal(pipe(out), 0);
	pid_t outer = fork();
	assert_true(outer >= 0);
	if (outer == 0) {
		if (unshare(CLONE_NEWPID) < 0)
			_exit(3);
		pid_t init = fork();
		if (init == 0) {
			char why[800] = "", said[1000];
			const char *failed = getpid() == 1 ? scenario(why, sizeof why) : "not in a new PID namespace";
			int n = snprintf(said, sizeof said, "%s (%s)", failed ? failed : "", why);
			_exit(failed && write(out[1], said, (size_t)n) >= 0 ? 1 : failed ? 2 : 0);
		}
		int status;
		_exit(init > 0 && waitpid(init, &status, 0) == init && WIFEXITED(status) ? WEXITSTATUS(status) : 4);
	}
	close(out[1]);
	int status;
	assert_int_equal(waitpid(outer, &status, 0), outer);
	char said[1000] = "";
	ssize_t n = read(out[0], said, sizeof said - 1);
	close(out[0]);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail_msg("in a PID namespace: exit %d: %s", WIFEXITED(status) ? WEXITSTATUS(status) : -1,
			 n > 0 ? said : "");
}

/* Reads P's exit_sends_sigchld; its thread's slice (none of its own)
 * must read 0. */
static bool sends_sigchld(pid_t pid)
{
	struct bm_thread_attrs thread = {.tid = pid, .sched_policy = SCHED_OTHER, .sched_slice = 12345};
	struct bm_process p = {.pid = pid, .attrs = {.threads = &thread, .nthreads = 1}};
	char why[800] = "";
	if (bm_kstate_read(&p, why, sizeof why) < 0)
		fail_msg("bm_kstate_read: %s", why);
	assert_int_equal(thread.sched_slice, 0);
	return p.exit_sends_sigchld;
}

/* A helper makes a child with clone() to send it SIGUSR1 at its exit,
 * then, told to, runs a program (sleep): only then does the kernel send
 * SIGCHLD instead, and the reader says so. */
static void reads_the_exit_signal(void **state)
{
	(void)state;
	needs_bpf();
	int down[2], up[2];
	assert_int_equal(pipe(down), 0);
	assert_int_equal(pipe2(up, O_CLOEXEC), 0);
	pid_t helper = fork();
	assert_true(helper >= 0);
	if (helper == 0) {
		alarm(WAIT_S);
		close(up[0]);
		pid_t kid = (pid_t)syscall(SYS_clone, SIGUSR1, 0, 0, 0, 0);
		if (kid == 0) {
			close(up[1]);
			pause(); /* ended by the alarm or the test */
			_exit(0);
		}
		char c;
		if (kid < 0 || write(up[1], &kid, sizeof kid) != sizeof kid || read(down[0], &c, 1) != 1)
			_exit(1);
		execl("/bin/sleep", "sleep", "20", (char *)NULL);
		_exit(2);
	}
	close(down[0]);
	close(up[1]);
	pid_t kid = 0;
	fd_set set;
	FD_ZERO(&set);
	FD_SET(up[0], &set);
	struct timeval tv = {WAIT_S, 0};
	assert_int_equal(select(up[0] + 1, &set, NULL, NULL, &tv), 1);
	assert_int_equal(read(up[0], &kid, sizeof kid), sizeof kid);
	bool before = sends_sigchld(kid);
	/* The helper's execve closes up[1]: end of file once it ran. */
	assert_int_equal(write(down[1], "x", 1), 1);
	FD_SET(up[0], &set);
	tv = (struct timeval){WAIT_S, 0};
	char c;
	bool execed = select(up[0] + 1, &set, NULL, NULL, &tv) == 1 && read(up[0], &c, 1) == 0;
	bool after = execed && sends_sigchld(kid);
	kill(kid, SIGKILL);
	kill(helper, SIGKILL);
	int status;
	assert_int_equal(waitpid(helper, &status, 0), helper);
	close(down[1]);
	close(up[0]);
	assert_false(before);
	assert_true(execed);
	assert_true(after);
}

static int opt(int s, int name, int v)
{
	return setsockopt(s, SOL_SOCKET, name, &v, sizeof v);
}

/* A TCP socket of 127.0.0.1 (PORT 0: any), SO_REUSEPORT on, listening. */
static int listener(uint16_t port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(s >= 0);
	assert_int_equal(opt(s, SO_REUSEPORT, 1), 0);
	assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof a), 0);
	assert_int_equal(listen(s, 4), 0);
	return s;
}

static uint16_t port_of(int s)
{
	struct sockaddr_in a;
	socklen_t len = sizeof a;
	assert_int_equal(getsockname(s, (struct sockaddr *)&a, &len), 0);
	return ntohs(a.sin_port);
}

static void reads_the_sockets(void **state)
{
	(void)state;
	needs_bpf();
	int shut = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), plain = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(shut >= 0 && plain >= 0);
	assert_true(shutdown(shut, SHUT_WR) < 0 && errno == ENOTCONN);
	int dup_of_shut = dup(shut);
	int l1 = listener(0), l2 = listener(port_of(l1));
	struct sock_filter code[] = {{BPF_RET | BPF_K, 0, 0, 1}};
	struct sock_fprog prog = {1, code};
	assert_int_equal(setsockopt(l1, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog, sizeof prog), 0);
	/* A connection to l2 (the program's choice) whose peer's 4 KiB buffer
	 * holds up the urgent byte sent behind 64 KiB. */
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port_of(l1)),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(c >= 0);
	assert_int_equal(connect(c, (struct sockaddr *)&a, sizeof a), 0);
	struct pollfd pf = {l2, POLLIN, 0};
	assert_int_equal(poll(&pf, 1, WAIT_S * 1000), 1);
	int peer = accept4(l2, NULL, NULL, SOCK_CLOEXEC);
	assert_true(peer >= 0);
	assert_int_equal(opt(peer, SO_RCVBUF, 4096), 0);
	assert_int_equal(opt(c, SO_SNDBUF, 1 << 20), 0);
	static char bytes[64 << 10];
	assert_int_equal(send(c, bytes, sizeof bytes, MSG_DONTWAIT), (ssize_t)sizeof bytes);
	assert_int_equal(send(c, "X", 1, MSG_OOB | MSG_DONTWAIT), 1);
	int p[2];
	assert_int_equal(pipe(p), 0);

	struct bm_fd fds[] = {
		fd_of(shut, BM_FD_TCP, -1), fd_of(plain, BM_FD_UDP, -1), fd_of(dup_of_shut, BM_FD_TCP, shut),
		fd_of(l1, BM_FD_TCP, -1), fd_of(l2, BM_FD_TCP, -1), fd_of(c, BM_FD_TCP, -1), fd_of(peer, BM_FD_TCP, -1),
		fd_of(p[0], BM_FD_PIPE, -1),
	};
	struct bm_process self = {.pid = getpid(), .fds = fds, .nfds = 8};
	uint32_t bits[8];
	char why[800] = "";
	if (bm_kstate_inet(&self, bits, why, sizeof why) < 0)
		fail_msg("bm_kstate_inet: %s", why);
	assert_int_equal(bits[0], BM_KSTATE_SK_READ | 2); /* SEND_SHUTDOWN */
	assert_int_equal(bits[1], BM_KSTATE_SK_READ);
	assert_int_equal(bits[2], 0); /* a dup: read at the first */
	assert_int_equal(bits[3], BM_KSTATE_SK_READ | BM_KSTATE_SK_REUSEPORT_PROG);
	assert_int_equal(bits[4], BM_KSTATE_SK_READ | BM_KSTATE_SK_REUSEPORT_PROG);
	assert_int_equal(bits[5], BM_KSTATE_SK_READ | BM_KSTATE_SK_URGENT);
	assert_int_equal(bits[6], BM_KSTATE_SK_READ);
	assert_int_equal(bits[7], 0); /* not a socket */
	int all[] = {shut, plain, dup_of_shut, l1, l2, c, peer, p[0], p[1]};
	for (size_t i = 0; i < sizeof all / sizeof *all; i++)
		close(all[i]);
}

/* A UDP socket of 127.0.0.1 on any port. */
static int udp_bound(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(s >= 0);
	assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof a), 0);
	return s;
}

/* Sends TEXT from S to UDP socket TO (over loopback: queued at TO when
 * the call returns). */
static void udp_put(int s, int to, const char *text)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port_of(to)),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	assert_int_equal(sendto(s, text, strlen(text), 0, (struct sockaddr *)&a, sizeof a), (ssize_t)strlen(text));
}

/* One peek of S at offset OFF (-1: plainly): the length it shows. */
static ssize_t peek_at(int s, int off)
{
	char b[16];
	assert_int_equal(opt(s, SO_PEEK_OFF, off), 0);
	ssize_t got = recv(s, b, sizeof b, MSG_PEEK | MSG_DONTWAIT);
	assert_int_equal(opt(s, SO_PEEK_OFF, -1), 0);
	return got;
}

static void reads_the_queues(void **state)
{
	(void)state;
	needs_bpf();
	int from = udp_bound(), u = udp_bound(), head = udp_bound(), dg[2], st[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, dg), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, st), 0);
	/* U: "a", "" (peeked at an offset: no such peek shows it again),
	 * "b", ""; the peeks move them to the reader queue, where "c" and ""
	 * then follow them from the socket's own queue. */
	udp_put(from, u, "a");
	udp_put(from, u, "");
	udp_put(from, u, "b");
	udp_put(from, u, "");
	assert_int_equal(peek_at(u, 1), 0);
	assert_int_equal(peek_at(u, 1), 1); /* "b": the empty one skipped */
	udp_put(from, u, "c");
	udp_put(from, u, "");
	/* HEAD: an empty head peeked plainly, then "x". */
	udp_put(from, head, "");
	udp_put(from, head, "x");
	assert_int_equal(peek_at(head, -1), 0);
	/* A datagram pair: an empty head nobody peeked, "y", "". */
	assert_int_equal(send(dg[0], "", 0, 0), 0);
	assert_int_equal(send(dg[0], "y", 1, 0), 1);
	assert_int_equal(send(dg[0], "", 0, 0), 0);
	assert_int_equal(send(st[0], "z", 1, 0), 1);
	int dup_of_u = dup(u);
	assert_true(dup_of_u >= 0);

	struct bm_fd fds[] = {
		fd_of(u, BM_FD_UDP, -1), fd_of(head, BM_FD_UDP, -1), fd_of(dg[1], BM_FD_UNIX_SOCKET, -1),
		fd_of(st[1], BM_FD_UNIX_SOCKET, -1), fd_of(dup_of_u, BM_FD_UDP, u), fd_of(from, BM_FD_UDP, -1),
	};
	struct bm_process self = {.pid = getpid(), .fds = fds, .nfds = 6};
	struct bm_kstate_queue q[6];
	char why[800] = "";
	if (bm_kstate_dgram(&self, q, why, sizeof why) < 0)
		fail_msg("bm_kstate_dgram: %s", why);
	assert_true(q[0].read && q[0].n == 6 && q[0].empty_behind == 3 && !q[0].head_empty && !q[0].more);
	assert_true(q[1].read && q[1].n == 2 && q[1].empty_behind == 0 && q[1].head_empty && q[1].head_marked);
	assert_true(q[2].read && q[2].n == 3 && q[2].empty_behind == 1 && q[2].head_empty && !q[2].head_marked);
	assert_false(q[3].read); /* a stream */
	assert_false(q[4].read); /* a dup: read at the first */
	assert_true(q[5].read && q[5].n == 0);
	/* Only read: the empty messages not peeked are still shown. */
	assert_int_equal(peek_at(dg[1], 0), 0);
	int all[] = {from, u, head, dg[0], dg[1], st[0], st[1], dup_of_u};
	for (size_t i = 0; i < sizeof all / sizeof *all; i++)
		close(all[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(reads_the_counters),
		cmocka_unit_test(reads_in_a_pid_namespace),
		cmocka_unit_test(reads_the_exit_signal),
		cmocka_unit_test(reads_the_sockets),
		cmocka_unit_test(reads_the_queues),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
