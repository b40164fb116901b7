/* Descriptors in flight (SCM_RIGHTS) in unix socket queues, left unreceived
 * over a dump and restore (tests/e2e/scmrights.sh, migrator/sk_unix_rights.c).
 *
 *   scmrights carried DIR   over a seqpacket pair: "head" (no rights), then
 *       "RIGHT" with a regular file open here at offset 7 (O_RDWR|O_APPEND),
 *       the write end of a pipe whose read end is here and the sending
 *       socket itself, then "tail"; over a datagram pair: "plain", then
 *       "dgram" with the pipe's write end and the sending socket.  After
 *       the restore each is received in the same grouping and checked:
 *       kcmp shows the very description of the descriptor here, the file's
 *       offset and flags, the pipe carries bytes to the end held here.
 *       Over a stream pair: "plain1", "RIGHTS" with the file and the
 *       pipe's write end, "mid", "ADJ1" with the write end and "ADJ2" with
 *       the file back to back, "end", and "back" the other way; read
 *       with reads of 3, 5 and then 64 bytes, it comes as a stream does
 *       in the kernel: "pla", "in1RI" with both (the read reaching the
 *       first byte of "RIGHTS"), "GHTSmidADJ1" with the write end (a read
 *       ends after a piece with rights), "ADJ2" with the file, "end".
 *   scmrights stream DIR    over a stream pair, "x" with the read end of a
 *       pipe whose read end is open here too (carried).
 *   scmrights pipe DIR      over a stream pair, both ends of a pipe not open
 *       here in flight (carried: sk_unix_adopt.h);
 *   scmrights file DIR      over a stream pair, a regular file no longer open
 *       here in flight (carried).
 *       After the restore the message is received whole, with its
 *       descriptors.
 *   scmrights adopt DIR     open files in flight that no descriptor here
 *       refers to any more, each checked after the restore: over a stream
 *       pair "P" with both ends of a pipe holding "buffered"; over a
 *       stream pair too "H" with the write end of a pipe whose read end
 *       is here; over a seqpacket pair "F" and "F2" with one regular file (O_APPEND, at
 *       offset 5) twice; over a datagram pair "S" with one end of a stream
 *       pair whose other end is here, "ping" queued to the end here and
 *       "pong" to the one in flight; over another stream pair "N" with the
 *       receiving end of a datagram pair (its sender here) whose own queue
 *       holds "inner" with a second file in flight (at offset 3).  Nothing
 *       beyond the descriptors it had is open here after the restore.
 *   scmrights locked DIR    a file in flight that this process also holds a
 *       POSIX lock on through a descriptor of its own (refused: closing
 *       the adopted descriptor would release the lock); after the
 *       refusal the lock is still held and no descriptor was added.
 *   scmrights netlink DIR   a netlink socket in flight (refused, as it
 *       would be held); afterwards no descriptor was added.
 *   scmrights tree DIR      a file opened here, inherited by a child, sent
 *       over a pair and closed here: in flight in this process's queue,
 *       held by the child only (a tree; adopted here, shared with the
 *       child).  After the restore the file received is the very open
 *       file description the child holds (kcmp). */
#include <dirent.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <linux/kcmp.h>

#include "testprog.h"

#define MAXR 4

static void send_rights(int s, const char *text, const int *fds, int n)
{
	union {
		struct cmsghdr align;
		char bytes[CMSG_SPACE(MAXR * sizeof(int))];
	} control;
	struct iovec iov = {(void *)text, strlen(text)};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	if (n) {
		mh.msg_control = &control;
		mh.msg_controllen = CMSG_SPACE(n * sizeof(int));
		struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(n * sizeof(int));
		memcpy(CMSG_DATA(cm), fds, n * sizeof(int));
	}
	SETUP(sendmsg(s, &mh, 0) == (ssize_t)strlen(text), "sendmsg");
}

/* With a read of SIZE bytes (a stream's, or one datagram) receives
 * exactly WANT and the descriptors that come with it, into got. */
static int recv_sized(int s, size_t size, const char *want, int *got)
{
	union {
		struct cmsghdr align;
		char bytes[CMSG_SPACE(MAXR * sizeof(int))];
	} control;
	char buf[64] = "";
	size_t len = strlen(want);
	struct iovec iov = {buf, size};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = &control, .msg_controllen = sizeof control};
	ssize_t n = recvmsg(s, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	CHECK(n == (ssize_t)len && memcmp(buf, want, len) == 0, "received \"%.*s\" for \"%s\"", n > 0 ? (int)n : 0, buf,
	      want);
	CHECK(!(mh.msg_flags & (MSG_CTRUNC | MSG_TRUNC)), "\"%s\" truncated (flags %#x)", want, mh.msg_flags);
	int k = 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
			for (size_t i = 0; i < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int) && k < MAXR; i++)
				memcpy(&got[k++], CMSG_DATA(c) + i * sizeof(int), sizeof(int));
	return k;
}

static int recv_rights(int s, const char *want, int *got)
{
	return recv_sized(s, strlen(want), want, got);
}

static bool same_file(int a, int b)
{
	pid_t me = getpid();
	return syscall(SYS_kcmp, me, me, KCMP_FILE, a, b) == 0;
}

static void check_pipe(int w, int r, const char *what)
{
	char buf[8] = "";
	CHECK(write(w, "xyz", 3) == 3, "%s: write to the received pipe end", what);
	CHECK(read(r, buf, sizeof buf) == 3 && memcmp(buf, "xyz", 3) == 0, "%s: the pipe read \"%s\"", what, buf);
}

static void pair(int type, int *sv)
{
	SETUP(socketpair(AF_UNIX, type, 0, sv) == 0, "socketpair");
}

static void stream_send(int *sv, int file, const int *p)
{
	pair(SOCK_STREAM, sv);
	send_rights(sv[0], "plain1", NULL, 0);
	send_rights(sv[0], "RIGHTS", (int[]){file, p[1]}, 2);
	send_rights(sv[0], "mid", NULL, 0);
	send_rights(sv[0], "ADJ1", (int[]){p[1]}, 1);
	send_rights(sv[0], "ADJ2", (int[]){file}, 1);
	send_rights(sv[0], "end", NULL, 0);
	send_rights(sv[1], "back", NULL, 0);
}

static void check_file(int f, int file, const char *what)
{
	CHECK(same_file(f, file), "%s: the file is not the description held here", what);
	CHECK(lseek(f, 0, SEEK_CUR) == 7, "%s: the file's offset", what);
}

static void stream_check(const int *sv, int file, const int *p)
{
	int got[MAXR];
	CHECK(recv_sized(sv[1], 3, "pla", got) == 0, "stream: \"pla\" came with descriptors");
	int n = recv_sized(sv[1], 5, "in1RI", got);
	CHECK(n == 2, "stream: %d descriptors with \"in1RI\"", n);
	if (n == 2) {
		check_file(got[0], file, "stream");
		CHECK(same_file(got[1], p[1]), "stream: the pipe end is not the one held here");
		check_pipe(got[1], p[0], "stream");
	}
	for (int i = 0; i < n; i++)
		close(got[i]);
	n = recv_sized(sv[1], 64, "GHTSmidADJ1", got);
	CHECK(n == 1 && same_file(got[0], p[1]), "stream: \"GHTSmidADJ1\" with %d descriptors, not the pipe end", n);
	for (int i = 0; i < n; i++)
		close(got[i]);
	n = recv_sized(sv[1], 64, "ADJ2", got);
	CHECK(n == 1, "stream: %d descriptors with \"ADJ2\"", n);
	if (n == 1)
		check_file(got[0], file, "stream");
	for (int i = 0; i < n; i++)
		close(got[i]);
	CHECK(recv_sized(sv[1], 64, "end", got) == 0, "stream: \"end\" came with descriptors");
	CHECK(recv_sized(sv[0], 64, "back", got) == 0, "stream: \"back\" came with descriptors");
}

static int carried(const char *dir)
{
	char path[4200];
	snprintf(path, sizeof path, "%s/data", dir);
	int file = open(path, O_RDWR | O_CREAT | O_APPEND, 0600);
	SETUP(file >= 0 && write(file, "0123456789", 10) == 10 && lseek(file, 7, SEEK_SET) == 7, "data file");
	int p[2], st[2], dg[2], sm[2];
	SETUP(pipe(p) == 0, "pipe");
	stream_send(sm, file, p);
	pair(SOCK_SEQPACKET, st);
	pair(SOCK_DGRAM, dg);
	send_rights(st[0], "head", NULL, 0);
	send_rights(st[0], "RIGHT", (int[]){file, p[1], st[0]}, 3);
	send_rights(st[0], "tail", NULL, 0);
	send_rights(dg[0], "plain", NULL, 0);
	send_rights(dg[0], "dgram", (int[]){p[1], dg[0]}, 2);
	int flags = fcntl(file, F_GETFL);
	say("ready");
	usr1_wait();

	int got[MAXR];
	CHECK(recv_rights(st[1], "head", got) == 0, "seqpacket: \"head\" came with descriptors");
	int n = recv_rights(st[1], "RIGHT", got);
	CHECK(n == 3, "seqpacket: %d descriptors with \"RIGHT\"", n);
	if (n == 3) {
		CHECK(same_file(got[0], file), "seqpacket: the file is not the description held here");
		CHECK(lseek(got[0], 0, SEEK_CUR) == 7, "seqpacket: the file's offset");
		CHECK(fcntl(got[0], F_GETFL) == flags, "seqpacket: the file's flags %#x, not %#x", fcntl(got[0], F_GETFL),
		      flags);
		CHECK(same_file(got[1], p[1]), "seqpacket: the pipe end is not the one held here");
		check_pipe(got[1], p[0], "seqpacket");
		CHECK(same_file(got[2], st[0]), "seqpacket: the socket is not the sender itself");
		for (int i = 0; i < n; i++)
			close(got[i]);
	}
	CHECK(recv_rights(st[1], "tail", got) == 0, "seqpacket: \"tail\" came with descriptors");
	CHECK(recv_rights(dg[1], "plain", got) == 0, "datagram: \"plain\" came with descriptors");
	n = recv_rights(dg[1], "dgram", got);
	CHECK(n == 2, "datagram: %d descriptors with \"dgram\"", n);
	if (n == 2) {
		CHECK(same_file(got[0], p[1]), "datagram: the pipe end is not the one held here");
		check_pipe(got[0], p[0], "datagram");
		CHECK(same_file(got[1], dg[0]), "datagram: the socket is not the sender itself");
	}
	CHECK(send(st[0], "more", 4, 0) == 4 && recv_rights(st[1], "more", got) == 0, "the pair carries data");
	stream_check(sm, file, p);
	return tp_finish();
}

/* Over a stream pair, descriptors in flight that are (stream) or are not
 * (pipe, file) held here too; received after the restore. */
static int in_flight(const char *mode, const char *dir)
{
	char path[4200];
	snprintf(path, sizeof path, "%s/gone", dir);
	int st[2], fl[2] = {-1, -1}, held[2];
	pair(SOCK_STREAM, st);
	if (strcmp(mode, "stream") == 0) {
		SETUP(pipe(held) == 0, "pipe");
		fl[0] = dup(held[0]), fl[1] = held[1]; /* fl[0] closed below, held[0] stays */
	} else if (strcmp(mode, "pipe") == 0) {
		SETUP(pipe(fl) == 0, "pipe");
	} else {
		fl[0] = open(path, O_RDWR | O_CREAT, 0600);
		SETUP(fl[0] >= 0, "file");
	}
	bool both = strcmp(mode, "pipe") == 0; /* both ends in flight, neither held here */
	send_rights(st[0], "x", fl, both ? 2 : 1);
	close(fl[0]);
	if (both)
		close(fl[1]);
	say("ready");
	usr1_wait();
	int got[MAXR];
	int n = recv_rights(st[1], "x", got);
	CHECK(n == (both ? 2 : 1), "%s: %d descriptors after the restore", mode, n);
	if (both && n == 2)
		check_pipe(got[1], got[0], mode);
	else if (n == 1 && fl[1] >= 0)
		check_pipe(fl[1], got[0], mode); /* the read end, in flight, still reads */
	return tp_finish();
}

/* How many descriptors this process has open. */
static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;
	SETUP(d != NULL, "opendir /proc/self/fd");
	for (struct dirent *e; (e = readdir(d));)
		n += e->d_name[0] != '.';
	closedir(d);
	return n - 1; /* the directory's own */
}

static int open_at(const char *dir, const char *name, int offset)
{
	char path[4200];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	int f = open(path, O_RDWR | O_CREAT | O_TRUNC | O_APPEND, 0600);
	SETUP(f >= 0 && write(f, "0123456789", 10) == 10 && lseek(f, offset, SEEK_SET) == offset, "file in flight");
	return f;
}

static void check_adopted_file(int f, int offset, int flags, const char *what)
{
	char buf[4] = "";
	CHECK(lseek(f, 0, SEEK_CUR) == offset, "%s: offset %ld, not %d", what, (long)lseek(f, 0, SEEK_CUR), offset);
	CHECK(fcntl(f, F_GETFL) == flags, "%s: flags %#x, not %#x", what, fcntl(f, F_GETFL), flags);
	CHECK(read(f, buf, 3) == 3 && memcmp(buf, "0123456789" + offset, 3) == 0, "%s: read \"%.3s\"", what, buf);
}

static int adopt(const char *dir)
{
	int sm[2], sq[2], dg[2], ns[2], x[2], inner[2], q[2];
	/* Both ends of a pipe, with bytes in it. */
	SETUP(pipe(q) == 0 && write(q[1], "buffered", 8) == 8, "pipe");
	pair(SOCK_STREAM, sm);
	send_rights(sm[0], "P", q, 2);
	close(q[0]);
	close(q[1]);
	/* One file, twice. */
	int file = open_at(dir, "adopted", 5), flags = fcntl(file, F_GETFL);
	pair(SOCK_SEQPACKET, sq);
	send_rights(sq[0], "F", &file, 1);
	send_rights(sq[0], "F2", &file, 1);
	close(file);
	/* A socket whose peer is here, with data queued both ways. */
	pair(SOCK_STREAM, x);
	send_rights(x[0], "ping", NULL, 0);
	send_rights(x[1], "pong", NULL, 0);
	pair(SOCK_DGRAM, dg);
	send_rights(dg[0], "S", &x[0], 1);
	close(x[0]);
	/* In flight inside what is in flight. */
	int file2 = open_at(dir, "inner", 3);
	pair(SOCK_DGRAM, inner);
	send_rights(inner[0], "inner", &file2, 1);
	close(file2);
	pair(SOCK_STREAM, ns);
	send_rights(ns[0], "N", &inner[1], 1);
	close(inner[1]);
	/* A pipe whose write end is only in flight, its read end here. */
	int h[2];
	SETUP(pipe(h) == 0, "pipe");
	send_rights(sm[0], "H", &h[1], 1);
	close(h[1]);
	int before = count_fds();
	say("ready");
	usr1_wait();

	CHECK(count_fds() == before, "%d descriptors open, not %d", count_fds(), before);
	int got[MAXR], got2[MAXR];
	int n = recv_rights(sm[1], "P", got);
	CHECK(n == 2, "pipe: %d descriptors with \"P\"", n);
	if (n == 2) {
		char buf[16] = "";
		CHECK(read(got[0], buf, sizeof buf) == 8 && memcmp(buf, "buffered", 8) == 0, "pipe: read \"%s\"", buf);
		check_pipe(got[1], got[0], "pipe");
	}
	n = recv_rights(sm[1], "H", got);
	CHECK(n == 1, "half pipe: %d descriptors with \"H\"", n);
	if (n == 1)
		check_pipe(got[0], h[0], "half pipe");
	n = recv_rights(sq[1], "F", got);
	int n2 = recv_rights(sq[1], "F2", got2);
	CHECK(n == 1 && n2 == 1, "file: %d and %d descriptors with \"F\" and \"F2\"", n, n2);
	if (n == 1 && n2 == 1) {
		CHECK(same_file(got[0], got2[0]), "file: \"F\" and \"F2\" are not one open file");
		check_adopted_file(got[0], 5, flags, "file");
	}
	n = recv_rights(dg[1], "S", got);
	CHECK(n == 1, "socket: %d descriptors with \"S\"", n);
	char buf[8] = "";
	CHECK(recv(x[1], buf, sizeof buf, MSG_DONTWAIT) == 4 && memcmp(buf, "ping", 4) == 0, "socket: read \"%s\"", buf);
	if (n == 1) {
		CHECK(recv(got[0], buf, sizeof buf, MSG_DONTWAIT) == 4 && memcmp(buf, "pong", 4) == 0,
		      "socket in flight: read \"%s\"", buf);
		CHECK(send(got[0], "more", 4, 0) == 4 && recv(x[1], buf, sizeof buf, MSG_DONTWAIT) == 4 &&
		      memcmp(buf, "more", 4) == 0, "socket in flight: the pair carries data");
	}
	n = recv_rights(ns[1], "N", got);
	CHECK(n == 1, "nested: %d descriptors with \"N\"", n);
	if (n == 1) {
		n2 = recv_rights(got[0], "inner", got2);
		CHECK(n2 == 1, "nested: %d descriptors with \"inner\"", n2);
		if (n2 == 1)
			check_adopted_file(got2[0], 3, flags, "nested file");
		CHECK(send(inner[0], "again", 5, 0) == 5 && recv_rights(got[0], "again", got2) == 0,
		      "nested: the datagram pair carries data");
	}
	return tp_finish();
}

static int tree(const char *dir)
{
	int file = open_at(dir, "shared", 2), sv[2];
	pid_t child = fork();
	SETUP(child >= 0, "fork");
	if (child == 0) {
		for (;;)
			pause();
	}
	pair(SOCK_DGRAM, sv); /* the parent's alone */
	send_rights(sv[0], "T", &file, 1);
	int number = file; /* the child's descriptor of it */
	close(file);
	say("ready");
	usr1_wait();
	int got[MAXR];
	int n = recv_rights(sv[1], "T", got);
	CHECK(n == 1, "tree: %d descriptors with \"T\"", n);
	if (n == 1) {
		CHECK(syscall(SYS_kcmp, getpid(), child, KCMP_FILE, got[0], number) == 0,
		      "tree: the file is not the open file description child %d holds", (int)child);
		CHECK(lseek(got[0], 0, SEEK_CUR) == 2, "tree: the file's offset");
	}
	kill(child, SIGKILL);
	SETUP(waitpid(child, NULL, 0) == child, "waitpid");
	return tp_finish();
}

/* Whether /proc/locks shows a POSIX lock of this process. */
static bool holds_posix_lock(void)
{
	FILE *f = fopen("/proc/locks", "re");
	char line[256], kind[16];
	int owner;
	bool found = false;
	SETUP(f != NULL, "/proc/locks");
	while (!found && fgets(line, sizeof line, f))
		found = sscanf(line, "%*d: %15s %*s %*s %d", kind, &owner) == 2 && strcmp(kind, "POSIX") == 0 &&
			owner == getpid();
	fclose(f);
	return found;
}

static int refused_adoption(const char *mode, const char *dir)
{
	int st[2], fl;
	pair(SOCK_STREAM, st);
	bool locked = strcmp(mode, "locked") == 0;
	int held = locked ? open_at(dir, "locked", 0) : -1;
	if (locked) {
		char path[4200];
		snprintf(path, sizeof path, "%s/locked", dir);
		fl = open(path, O_RDONLY); /* another open file of it */
		SETUP(fl >= 0, "open");
	} else {
		fl = socket(AF_NETLINK, SOCK_RAW, 0);
		SETUP(fl >= 0, "netlink socket");
	}
	send_rights(st[0], "x", &fl, 1);
	close(fl);
	/* Taken after the close, which would have released it. */
	struct flock lk = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 4};
	SETUP(!locked || fcntl(held, F_SETLK, &lk) == 0, "F_SETLK");
	int before = count_fds();
	say("ready");
	usr1_wait();
	CHECK(count_fds() == before, "%s: %d descriptors open after the refusal, not %d", mode, count_fds(), before);
	CHECK(!locked || holds_posix_lock(), "%s: the POSIX lock was released", mode);
	int got[MAXR];
	CHECK(recv_rights(st[1], "x", got) == 1, "%s: the descriptor in flight is gone", mode);
	return tp_finish();
}

int main(int argc, char **argv)
{
	usr1_setup();
	if (argc == 3 && strcmp(argv[1], "carried") == 0)
		return carried(argv[2]);
	if (argc == 3 && strcmp(argv[1], "adopt") == 0)
		return adopt(argv[2]);
	if (argc == 3 && strcmp(argv[1], "tree") == 0)
		return tree(argv[2]);
	if (argc == 3 && (strcmp(argv[1], "locked") == 0 || strcmp(argv[1], "netlink") == 0))
		return refused_adoption(argv[1], argv[2]);
	if (argc == 3 && (strcmp(argv[1], "pipe") == 0 || strcmp(argv[1], "file") == 0 ||
			  strcmp(argv[1], "stream") == 0))
		return in_flight(argv[1], argv[2]);
	say("FAIL: usage: scmrights carried|adopt|locked|netlink|tree|pipe|file|stream DIR");
	return 2;
}
