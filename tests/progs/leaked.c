/* leaked KIND FD ACTION [TEXT]: a process holding, at descriptor FD, the
 * end of something whose other end stays behind in another process (as a
 * shell, a CI runner or a service manager leaks them), which binmig refuses
 * unless told what to do with it (--fd FD=ACTION).
 *   KIND   pipe-read   FD is the read end of a pipe whose write end is in
 *                      another process
 *          pipe-write  FD is the write end, the read end in the other process
 *          stream, dgram, seqpacket
 *                      FD is one end of an AF_UNIX socket pair of that
 *                      type, the other end in the other process (stream: also
 *                      O_NONBLOCK, to see the flag carried)
 *          pipe-both   FD is the read end and FD+1 the write end of one
 *                      pipe, both here (no other process)
 *   ACTION what the restored process must find at FD, checked after
 *          SIGUSR1:
 *          null    /dev/null with the same access mode and fd flags:
 *                  reading gives end of file, writing succeeds
 *          close   nothing (EBADF)
 *          file    a regular file with the same access mode: a read-only
 *                  FD reads exactly TEXT, another appends TEXT
 *          broken  the same kind of end (pipe in the same direction, or
 *                  socket of the same type) whose peer is gone: end of
 *                  file on read, EPIPE on write (SIGPIPE is ignored)
 *          split   (pipe-both) FD gives end of file, FD+1 is /dev/null
 *          none    nothing is checked (for refusals)
 * Every descriptor is close-on-exec, which must stay so.  The peer (not a
 * child: a process with children is refused) ends when the original
 * process does, so it is never left behind.  Prints "peer PID" (0 without
 * a peer) and "ready", waits for
 * SIGUSR1, checks, prints PASS or FAIL lines. */
#include <poll.h>
#include <sys/syscall.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "testprog.h"

static int kind_type(const char *kind)
{
	if (strcmp(kind, "stream") == 0)
		return SOCK_STREAM;
	if (strcmp(kind, "dgram") == 0)
		return SOCK_DGRAM;
	if (strcmp(kind, "seqpacket") == 0)
		return SOCK_SEQPACKET;
	return -1;
}

/* Puts END at FD (close-on-exec); the other end goes to another process
 * that lives as long as this one.  Not a child: binmig refuses a process
 * with children (the peer is a grandchild whose parent has gone), and it
 * follows this process through a pidfd instead of PR_SET_PDEATHSIG. */
static pid_t leak(int end, int other, int fd)
{
	pid_t me = getpid();
	pid_t peer = tp_fork_peer();
	if (peer == 0) {
		close(end);
		int pidfd = (int)syscall(SYS_pidfd_open, me, 0);
		struct pollfd p = {pidfd, POLLIN, 0};
		while (pidfd >= 0 && poll(&p, 1, -1) < 0 && errno == EINTR)
			;
		_exit(0); /* the original has ended (or is gone already) */
	}
	close(other);
	SETUP(dup3(end, fd, O_CLOEXEC) == fd, "dup3");
	close(end);
	return peer;
}

static const char *acc_name(int flags)
{
	switch (flags & O_ACCMODE) {
	case O_RDONLY: return "read-only";
	case O_WRONLY: return "write-only";
	default: return "read-write";
	}
}

/* The flags a replacement keeps: access mode, O_NONBLOCK, FD_CLOEXEC. */
static void check_flags(int fd, int fl_before, int fd_before)
{
	int fl = fcntl(fd, F_GETFL), fdf = fcntl(fd, F_GETFD);
	CHECK((fl & O_ACCMODE) == (fl_before & O_ACCMODE), "fd %d is %s, was %s", fd, acc_name(fl), acc_name(fl_before));
	CHECK((fl & O_NONBLOCK) == (fl_before & O_NONBLOCK), "fd %d: O_NONBLOCK %s", fd, fl & O_NONBLOCK ? "set" : "lost");
	CHECK(fdf == fd_before, "fd %d: fd flags %#x, were %#x", fd, fdf, fd_before);
}

static void check_eof(int fd)
{
	char buf[16];
	ssize_t n = read(fd, buf, sizeof(buf));
	CHECK(n == 0, "fd %d: read gave %zd (%s), expected end of file", fd, n, n < 0 ? strerror(errno) : "data");
}

static void check_epipe(int fd)
{
	ssize_t n = write(fd, "x", 1);
	CHECK(n == -1 && errno == EPIPE, "fd %d: write gave %zd (%s), expected EPIPE", fd, n,
	      n < 0 ? strerror(errno) : "written");
}

static void check_null(int fd, int fl)
{
	struct stat st;
	CHECK(fstat(fd, &st) == 0 && S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3), "fd %d is not /dev/null", fd);
	if ((fl & O_ACCMODE) != O_WRONLY)
		check_eof(fd);
	if ((fl & O_ACCMODE) != O_RDONLY) {
		ssize_t n = write(fd, "nothing", 7);
		CHECK(n == 7, "fd %d: write to /dev/null gave %zd (%s)", fd, n, n < 0 ? strerror(errno) : "");
	}
}

int main(int argc, char **argv)
{
	if (argc < 4 || argc > 5)
		goto usage;
	const char *kind = argv[1], *action = argv[3], *text = argc == 5 ? argv[4] : "";
	int fd = atoi(argv[2]), type = kind_type(kind);
	pid_t peer = 0;
	int ends[2];
	if (fd < 3)
		goto usage;
	signal(SIGPIPE, SIG_IGN);
	alarm(60); /* a check that blocks must not hang the test */
	if (strcmp(kind, "pipe-read") == 0 || strcmp(kind, "pipe-write") == 0) {
		SETUP(pipe(ends) == 0, "pipe");
		bool reader = strcmp(kind, "pipe-read") == 0;
		peer = leak(ends[reader ? 0 : 1], ends[reader ? 1 : 0], fd);
	} else if (type >= 0) {
		SETUP(socketpair(AF_UNIX, type, 0, ends) == 0, "socketpair");
		peer = leak(ends[0], ends[1], fd);
		if (type == SOCK_STREAM)
			SETUP(fcntl(fd, F_SETFL, O_NONBLOCK) == 0, "O_NONBLOCK");
	} else if (strcmp(kind, "pipe-both") == 0) {
		SETUP(pipe2(ends, O_CLOEXEC) == 0, "pipe");
		SETUP(dup3(ends[0], fd, O_CLOEXEC) == fd && dup3(ends[1], fd + 1, O_CLOEXEC) == fd + 1, "dup3");
		close(ends[0]);
		close(ends[1]);
	} else {
		goto usage;
	}
	int fl = fcntl(fd, F_GETFL), fdf = fcntl(fd, F_GETFD);
	usr1_setup();
	say("peer %d", (int)peer);
	say("ready");
	usr1_wait();

	struct stat st;
	if (strcmp(action, "none") == 0) {
	} else if (strcmp(action, "close") == 0) {
		CHECK(fcntl(fd, F_GETFD) == -1 && errno == EBADF, "fd %d is open", fd);
	} else if (strcmp(action, "null") == 0) {
		check_flags(fd, fl, fdf);
		check_null(fd, fl);
	} else if (strcmp(action, "file") == 0) {
		check_flags(fd, fl, fdf);
		CHECK(fstat(fd, &st) == 0 && S_ISREG(st.st_mode), "fd %d is not a regular file", fd);
		if ((fl & O_ACCMODE) == O_RDONLY) {
			char buf[256] = { 0 };
			ssize_t n = read(fd, buf, sizeof(buf) - 1);
			CHECK(n == (ssize_t)strlen(text) && memcmp(buf, text, n) == 0, "fd %d: read \"%s\", expected \"%s\"",
			      fd, buf, text);
		} else {
			ssize_t n = write(fd, text, strlen(text));
			CHECK(n == (ssize_t)strlen(text), "fd %d: write gave %zd (%s)", fd, n, n < 0 ? strerror(errno) : "");
		}
	} else if (strcmp(action, "broken") == 0) {
		check_flags(fd, fl, fdf);
		if (type >= 0) {
			int got = -1, domain = -1;
			socklen_t len = sizeof(got);
			getsockopt(fd, SOL_SOCKET, SO_TYPE, &got, &len);
			len = sizeof(domain);
			getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len);
			CHECK(got == type && domain == AF_UNIX, "fd %d: socket type %d domain %d, expected %d AF_UNIX", fd, got,
			      domain, type);
			check_eof(fd);
			check_epipe(fd);
		} else {
			CHECK(fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode), "fd %d is not a pipe", fd);
			if ((fl & O_ACCMODE) == O_RDONLY)
				check_eof(fd);
			else
				check_epipe(fd);
		}
	} else if (strcmp(action, "split") == 0) {
		check_flags(fd, fl, fdf);
		CHECK(fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode), "fd %d is not a pipe", fd);
		check_eof(fd);
		check_flags(fd + 1, O_WRONLY, fdf);
		check_null(fd + 1, O_WRONLY);
	} else {
		goto usage;
	}
	return tp_finish();
usage:
	say("FAIL: usage: leaked pipe-read|pipe-write|stream|dgram|seqpacket|pipe-both FD "
	    "null|close|file|broken|split|none [TEXT]");
	return 2;
}
