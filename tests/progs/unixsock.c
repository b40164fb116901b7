/* unixsock MODE DIR: UNIX-domain sockets (migrator/sk_unix.c), with DIR an
 * empty scratch directory.
 *
 *   carried   every kind binmig carries, all inside the process:
 *             - stream socket pair with data queued both ways (two writes
 *               one way, one the other), SO_RCVBUF/SO_SNDBUF set, and
 *               SO_PEEK_OFF moved to 3 by a peek;
 *             - stream socket pair half shut down (one end wrote, then
 *               shutdown(SHUT_WR)), the other end non-blocking;
 *             - datagram socket pair with three datagrams one way (one
 *               empty) and one the other, SO_PASSCRED on the receiver so
 *               that each carries the process's credentials;
 *             - seqpacket socket pair with records both ways, SO_RCVTIMEO
 *               and SO_SNDTIMEO set, shut down for reading on one end;
 *             - a stream listener on an abstract name, backlog 7, with one
 *               connection accepted (data queued both ways; the client
 *               bound to an abstract name of its own first) and two clients
 *               waiting in its accept queue, in order;
 *             - a seqpacket listener on DIR/seq.sock (mode 0640) with a
 *               connection accepted holding a record;
 *             - a seqpacket connection accepted from a listener on an
 *               abstract name since closed (the name free again);
 *             - a datagram socket on DIR/dgram.sock holding datagrams from
 *               a socket bound to an abstract name, from an unnamed one and
 *               from one connected to it (one way), and a socket that is
 *               neither bound nor connected.
 *             After the wake-up each property is read back: types, names
 *             (getsockname, getpeername), the queues with their message
 *             boundaries and senders, credentials, the accept queue and
 *             its order, shutdown states, options; then every connection
 *             still carries data both ways.
 *   rights    a pseudo-terminal master in flight (SCM_RIGHTS) that the
 *             process holds no descriptor of: refused, as it would be held.
 *   foreign   a datagram with another process's credentials in flight:
 *             refused.
 *   forked    a socket pair made by another process (SO_PEERCRED names it),
 *             received through SCM_RIGHTS: refused.
 *   outside   a socket pair whose other end is in another process:
 *             refused.
 *   closed    a stream socket whose peer has closed, data still queued:
 *             refused.
 *   oob       an out-of-band byte queued on a stream socket: refused.
 *   oobinline the same, received inline (SO_OOBINLINE): refused.
 *   waiting   a client waiting in an accept queue that already sent data:
 *             refused.
 *   removed   a socket bound to a path in a directory since removed:
 *             refused.
 *   path      only a datagram socket on DIR/p.sock holding one datagram
 *             (for the test of a path taken at the destination).
 *   groups    a socket pair made before the process changed its
 *             supplementary groups (SO_PEERGROUPS shows the old ones):
 *             refused.
 *   shutrd    a seqpacket and a datagram socket pair, each with records
 *             queued both ways and one end shut down for reading: that end
 *             reads its queue, then end of file, and no longer gets
 *             messages; the other end reads its own.
 *   shutpre   connections through a stream and a seqpacket listener whose
 *             clients shut down before they connected (for writing, for
 *             reading) and one that shut down after: only the last reaches
 *             the accepted end (which reads end of file).
 *   unconn    stream and seqpacket sockets never connected: unbound, on an
 *             abstract name, on DIR/uc.sock, one shut down: names and
 *             shutdown states kept; the named ones listen and take a
 *             connection, an unbound one connects.
 *   waitshut  a client waiting in an accept queue that shut down before it
 *             connected (whether before or after cannot be told): refused.
 *   user      as user and group 65534 with the supplementary groups 1234
 *             and 4321: a stream pair holding data, a listener on an
 *             abstract name with a connection accepted and a client
 *             waiting, each showing those ids in SO_PEERCRED and those
 *             groups in SO_PEERGROUPS.
 *             (carried checks SO_PEERCRED too: this process, root.)
 * In the refused modes the process is left alone and checks that its
 * queues are whole. */
#include <poll.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <grp.h>

#include "testprog.h"

static char dir[4000];
static char tag[64]; /* makes the abstract names of this run unique */

static socklen_t abstract(struct sockaddr_un *a, const char *name)
{
	memset(a, 0, sizeof(*a));
	a->sun_family = AF_UNIX;
	int n = snprintf(a->sun_path + 1, sizeof(a->sun_path) - 1, "binmig-%s-%s", tag, name);
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n);
}

static socklen_t in_dir(struct sockaddr_un *a, const char *name)
{
	memset(a, 0, sizeof(*a));
	a->sun_family = AF_UNIX;
	int n = snprintf(a->sun_path, sizeof(a->sun_path), "%s/%s", dir, name);
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
}

static int sock(int type)
{
	int s = socket(AF_UNIX, type, 0);
	SETUP(s >= 0, "socket");
	return s;
}

static void pair(int type, int sv[2])
{
	SETUP(socketpair(AF_UNIX, type, 0, sv) == 0, "socketpair");
}

static void put(int s, const char *text, size_t len)
{
	SETUP(send(s, text, len, MSG_NOSIGNAL) == (ssize_t)len, "send");
}

static int intopt(int s, int name)
{
	int v = -12345;
	socklen_t len = sizeof(v);
	getsockopt(s, SOL_SOCKET, name, &v, &len);
	return v;
}

static void setint(int s, int name, int v)
{
	SETUP(setsockopt(s, SOL_SOCKET, name, &v, sizeof(v)) == 0, "setsockopt");
}

/* The next message: its length (-1 with errno when none), its sender's
 * name and credentials (pid -1 when none came). */
static ssize_t take(int s, char *buf, size_t len, struct sockaddr_un *from, socklen_t *fromlen, struct ucred *cred)
{
	union {
		struct cmsghdr align;
		char bytes[CMSG_SPACE(sizeof(struct ucred)) + CMSG_SPACE(16 * sizeof(int))];
	} control;
	struct sockaddr_un ignored;
	struct iovec iov = {buf, len};
	struct msghdr mh = {.msg_name = from ? from : &ignored, .msg_namelen = sizeof(ignored), .msg_iov = &iov,
			    .msg_iovlen = 1, .msg_control = &control, .msg_controllen = sizeof(control)};
	ssize_t n = recvmsg(s, &mh, MSG_DONTWAIT);
	if (fromlen)
		*fromlen = mh.msg_namelen;
	if (cred)
		cred->pid = -1;
	for (struct cmsghdr *c = n >= 0 ? CMSG_FIRSTHDR(&mh) : NULL; c; c = CMSG_NXTHDR(&mh, c))
		if (cred && c->cmsg_type == SCM_CREDENTIALS)
			memcpy(cred, CMSG_DATA(c), sizeof(*cred));
	return n;
}

/* Reads one message and checks it is TEXT (of LEN bytes). */
static void expect(int s, const char *text, size_t len, const char *what)
{
	char buf[256];
	ssize_t n = take(s, buf, sizeof(buf), NULL, NULL, NULL);
	CHECK(n == (ssize_t)len && memcmp(buf, text, len) == 0, "%s: read %zd bytes \"%.*s\", expected \"%.*s\"", what,
	      n, n > 0 ? (int)n : 0, buf, (int)len, text);
}

static void expect_empty(int s, const char *what)
{
	char buf[16];
	ssize_t n = recv(s, buf, sizeof(buf), MSG_DONTWAIT);
	CHECK(n < 0 && errno == EAGAIN, "%s: expected nothing queued, read %zd", what, n);
}

static void expect_eof(int s, const char *what)
{
	char buf[16];
	CHECK(recv(s, buf, sizeof(buf), MSG_DONTWAIT) == 0, "%s: expected end of file", what);
}

/* NAME of socket S (own or peer's) is the address A of LEN bytes. */
static void expect_name(int s, bool peer, const struct sockaddr_un *a, socklen_t len, const char *what)
{
	struct sockaddr_un got;
	socklen_t glen = sizeof(got);
	memset(&got, 0, sizeof(got));
	int rc = peer ? getpeername(s, (struct sockaddr *)&got, &glen) : getsockname(s, (struct sockaddr *)&got, &glen);
	CHECK(rc == 0 && glen == len && memcmp(&got, a, len) == 0, "%s: %s is %.*s (%u bytes), expected %.*s (%u)", what,
	      peer ? "peer name" : "name", (int)(glen > 3 ? glen - 3 : 0), got.sun_path + 1, glen,
	      (int)(len > 3 ? len - 3 : 0), a->sun_path + 1, len);
}

static void expect_unnamed(int s, const char *what)
{
	struct sockaddr_un got;
	socklen_t glen = sizeof(got);
	CHECK(getsockname(s, (struct sockaddr *)&got, &glen) == 0 && glen == sizeof(sa_family_t),
	      "%s: named (%u bytes)", what, glen);
}

static void expect_type(int s, int type, const char *what)
{
	CHECK(intopt(s, SO_TYPE) == type, "%s: type %d, expected %d", what, intopt(s, SO_TYPE), type);
}

/* Both ends of a connection still carry data. */
static void still_connected(int a, int b, int type, const char *what)
{
	put(a, "ping", 4);
	expect(b, "ping", 4, what);
	put(b, "pong!", 5);
	expect(a, "pong!", 5, what);
	(void)type;
}

/* SO_PEERCRED of S names this process with the effective ids UID, GID. */
static void expect_peercred(int s, uid_t uid, gid_t gid, const char *what)
{
	struct ucred c = {0, 0, 0};
	socklen_t len = sizeof(c);
	CHECK(getsockopt(s, SOL_SOCKET, SO_PEERCRED, &c, &len) == 0 && c.pid == getpid() && c.uid == uid && c.gid == gid,
	      "%s: SO_PEERCRED pid %d uid %u gid %u, expected %d %u %u", what, c.pid, c.uid, c.gid, (int)getpid(), uid,
	      gid);
}

/* SO_PEERGROUPS of S: the groups 1234 and 4321 (user mode's). */
static void expect_peergroups(int s, const char *what)
{
	gid_t g[8];
	socklen_t len = sizeof(g);
	CHECK(getsockopt(s, SOL_SOCKET, SO_PEERGROUPS, g, &len) == 0 && len == 2 * sizeof(*g) && g[0] == 1234 &&
		      g[1] == 4321,
	      "%s: SO_PEERGROUPS %u groups, the first %u, expected 1234 and 4321", what, (unsigned)(len / sizeof(*g)),
	      len ? (unsigned)g[0] : 0);
}

/* ---- carried ------------------------------------------------------------ */

struct carried {
	int st[2], half[2], dg[2], sq[2];
	int lis, acc, cli, wait1, wait2;
	struct sockaddr_un lis_a, cli_a;
	socklen_t lis_len, cli_len;
	int seql, seqa, seqc;
	struct sockaddr_un seq_a;
	socklen_t seq_len;
	int rcv, named, unnamed, oneway, loose;
	struct sockaddr_un rcv_a, named_a;
	socklen_t rcv_len, named_len;
	int rcvbuf, sndbuf;
	int big[2], big_sndbuf; /* 100000 bytes queued, then the send buffer made as small as it goes */
	int orphan, orphan_cli; /* accepted from a listener since closed */
	struct sockaddr_un orphan_a;
	socklen_t orphan_len;
};

#define BIG 100000
static char big_data[BIG], big_back[BIG];

static void carried_setup(struct carried *c)
{
	pair(SOCK_STREAM, c->st);
	put(c->st[0], "first ", 6);
	put(c->st[0], "second", 6);
	put(c->st[1], "back", 4);
	setint(c->st[0], SO_RCVBUF, 50000);
	setint(c->st[0], SO_SNDBUF, 40000);
	c->rcvbuf = intopt(c->st[0], SO_RCVBUF);
	c->sndbuf = intopt(c->st[0], SO_SNDBUF);
	setint(c->st[1], SO_PEEK_OFF, 0);
	char peek[3];
	SETUP(recv(c->st[1], peek, 3, MSG_PEEK) == 3, "peek");

	pair(SOCK_STREAM, c->big);
	for (int i = 0; i < BIG; i++)
		big_data[i] = (char)(mix64((uint64_t)i) >> 56);
	SETUP(send(c->big[0], big_data, BIG, 0) == BIG, "a big write");
	setint(c->big[0], SO_SNDBUF, 1);
	c->big_sndbuf = intopt(c->big[0], SO_SNDBUF);

	pair(SOCK_STREAM, c->half);
	put(c->half[0], "last words", 10);
	SETUP(shutdown(c->half[0], SHUT_WR) == 0, "shutdown");
	SETUP(fcntl(c->half[1], F_SETFL, O_NONBLOCK) == 0, "O_NONBLOCK");

	/* A descriptor of another kind among the sockets: the restore makes
	 * the sockets before it, and a pair must not land on its number. */
	SETUP(open("/dev/null", O_RDONLY) >= 0, "a descriptor among the sockets");

	pair(SOCK_DGRAM, c->dg);
	setint(c->dg[1], SO_PASSCRED, 1);
	put(c->dg[0], "", 0); /* an empty one first (tests/progs/peekedmsg.c has more) */
	put(c->dg[0], "one", 3);
	put(c->dg[0], "three", 5);
	put(c->dg[1], "reply", 5);

	pair(SOCK_SEQPACKET, c->sq);
	put(c->sq[0], "rec1", 4);
	put(c->sq[0], "record2", 7);
	put(c->sq[1], "r3", 2);
	struct timeval rt = {2, 500000}, snd = {1, 0};
	SETUP(setsockopt(c->sq[0], SOL_SOCKET, SO_RCVTIMEO, &rt, sizeof(rt)) == 0, "SO_RCVTIMEO");
	SETUP(setsockopt(c->sq[0], SOL_SOCKET, SO_SNDTIMEO, &snd, sizeof(snd)) == 0, "SO_SNDTIMEO");
	SETUP(shutdown(c->sq[1], SHUT_RD) == 0, "shutdown");

	c->lis = sock(SOCK_STREAM);
	c->lis_len = abstract(&c->lis_a, "listener");
	SETUP(bind(c->lis, (struct sockaddr *)&c->lis_a, c->lis_len) == 0 && listen(c->lis, 7) == 0, "listener");
	c->cli = sock(SOCK_STREAM);
	c->cli_len = abstract(&c->cli_a, "client");
	SETUP(bind(c->cli, (struct sockaddr *)&c->cli_a, c->cli_len) == 0, "bind client");
	SETUP(connect(c->cli, (struct sockaddr *)&c->lis_a, c->lis_len) == 0, "connect");
	c->acc = accept(c->lis, NULL, NULL);
	SETUP(c->acc >= 0, "accept");
	put(c->cli, "to server", 9);
	put(c->acc, "to client", 9);
	c->wait1 = sock(SOCK_STREAM);
	c->wait2 = sock(SOCK_STREAM | SOCK_CLOEXEC);
	SETUP(connect(c->wait1, (struct sockaddr *)&c->lis_a, c->lis_len) == 0, "connect 1");
	SETUP(connect(c->wait2, (struct sockaddr *)&c->lis_a, c->lis_len) == 0, "connect 2");

	c->seql = sock(SOCK_SEQPACKET);
	c->seq_len = in_dir(&c->seq_a, "seq.sock");
	SETUP(bind(c->seql, (struct sockaddr *)&c->seq_a, c->seq_len) == 0 && listen(c->seql, 3) == 0, "seq listener");
	SETUP(chmod(c->seq_a.sun_path, 0640) == 0, "chmod");
	c->seqc = sock(SOCK_SEQPACKET);
	SETUP(connect(c->seqc, (struct sockaddr *)&c->seq_a, c->seq_len) == 0, "seq connect");
	c->seqa = accept(c->seql, NULL, NULL);
	SETUP(c->seqa >= 0, "seq accept");
	put(c->seqc, "seq record", 10);

	c->rcv = sock(SOCK_DGRAM);
	c->rcv_len = in_dir(&c->rcv_a, "dgram.sock");
	SETUP(bind(c->rcv, (struct sockaddr *)&c->rcv_a, c->rcv_len) == 0, "bind dgram");
	c->named = sock(SOCK_DGRAM);
	c->named_len = abstract(&c->named_a, "sender");
	SETUP(bind(c->named, (struct sockaddr *)&c->named_a, c->named_len) == 0, "bind sender");
	c->unnamed = sock(SOCK_DGRAM);
	c->oneway = sock(SOCK_DGRAM);
	SETUP(connect(c->oneway, (struct sockaddr *)&c->rcv_a, c->rcv_len) == 0, "connect dgram");
	SETUP(sendto(c->named, "from named", 10, 0, (struct sockaddr *)&c->rcv_a, c->rcv_len) == 10, "sendto");
	SETUP(sendto(c->unnamed, "from unnamed", 12, 0, (struct sockaddr *)&c->rcv_a, c->rcv_len) == 12, "sendto");
	put(c->oneway, "from connected", 14);
	SETUP(sendto(c->named, "again", 5, 0, (struct sockaddr *)&c->rcv_a, c->rcv_len) == 5, "sendto");
	c->loose = sock(SOCK_DGRAM | SOCK_NONBLOCK);

	int gone = sock(SOCK_SEQPACKET);
	c->orphan_len = abstract(&c->orphan_a, "gone");
	SETUP(bind(gone, (struct sockaddr *)&c->orphan_a, c->orphan_len) == 0 && listen(gone, 1) == 0, "listener");
	c->orphan_cli = sock(SOCK_SEQPACKET);
	SETUP(connect(c->orphan_cli, (struct sockaddr *)&c->orphan_a, c->orphan_len) == 0, "connect");
	c->orphan = accept(gone, NULL, NULL);
	SETUP(c->orphan >= 0, "accept");
	close(gone);
	put(c->orphan_cli, "orphaned", 8);
}

static void carried_check(struct carried *c)
{
	/* stream pair */
	expect_type(c->st[0], SOCK_STREAM, "stream pair");
	CHECK(intopt(c->st[0], SO_RCVBUF) == c->rcvbuf, "SO_RCVBUF %d, was %d", intopt(c->st[0], SO_RCVBUF), c->rcvbuf);
	CHECK(intopt(c->st[0], SO_SNDBUF) == c->sndbuf, "SO_SNDBUF %d, was %d", intopt(c->st[0], SO_SNDBUF), c->sndbuf);
	CHECK(intopt(c->st[1], SO_PEEK_OFF) == 3, "SO_PEEK_OFF %d, expected 3", intopt(c->st[1], SO_PEEK_OFF));
	CHECK(intopt(c->st[0], SO_PEEK_OFF) == -1, "SO_PEEK_OFF of the other end %d", intopt(c->st[0], SO_PEEK_OFF));
	char buf[64];
	ssize_t n = recv(c->st[1], buf, 4, MSG_PEEK | MSG_DONTWAIT);
	CHECK(n == 4 && memcmp(buf, "st s", 4) == 0, "a peek goes on at offset 3: \"%.*s\"", n > 0 ? (int)n : 0, buf);
	setint(c->st[1], SO_PEEK_OFF, -1);
	n = recv(c->st[1], buf, sizeof(buf), MSG_DONTWAIT);
	CHECK(n == 12 && memcmp(buf, "first second", 12) == 0, "stream queue \"%.*s\"", n > 0 ? (int)n : 0, buf);
	expect(c->st[0], "back", 4, "stream queue back");
	expect_empty(c->st[0], "stream pair");
	expect_empty(c->st[1], "stream pair");
	still_connected(c->st[0], c->st[1], SOCK_STREAM, "stream pair");

	/* a queue bigger than its sender's buffer now */
	CHECK(intopt(c->big[0], SO_SNDBUF) == c->big_sndbuf, "small SO_SNDBUF %d, was %d", intopt(c->big[0], SO_SNDBUF),
	      c->big_sndbuf);
	size_t got = 0;
	while (got < BIG && (n = recv(c->big[1], big_back + got, BIG - got, MSG_DONTWAIT)) > 0)
		got += (size_t)n;
	CHECK(got == BIG && memcmp(big_back, big_data, BIG) == 0, "big queue: %zu bytes back", got);
	expect_empty(c->big[1], "big queue");

	/* half shut down */
	CHECK(fcntl(c->half[1], F_GETFL) & O_NONBLOCK, "O_NONBLOCK lost");
	expect(c->half[1], "last words", 10, "half-closed pair");
	expect_eof(c->half[1], "half-closed pair");
	CHECK(send(c->half[0], "x", 1, MSG_NOSIGNAL) < 0 && errno == EPIPE, "writing after SHUT_WR: %s", strerror(errno));
	put(c->half[1], "still", 5);
	expect(c->half[0], "still", 5, "half-closed pair, other way");

	/* datagram pair with credentials */
	expect_type(c->dg[0], SOCK_DGRAM, "datagram pair");
	CHECK(intopt(c->dg[1], SO_PASSCRED) == 1, "SO_PASSCRED %d", intopt(c->dg[1], SO_PASSCRED));
	CHECK(intopt(c->dg[0], SO_PASSCRED) == 0, "SO_PASSCRED of the sender %d", intopt(c->dg[0], SO_PASSCRED));
	static const char *const dgrams[] = {"", "one", "three"};
	for (int i = 0; i < 3; i++) {
		struct ucred cred;
		n = take(c->dg[1], buf, sizeof(buf), NULL, NULL, &cred);
		CHECK(n == (ssize_t)strlen(dgrams[i]) && memcmp(buf, dgrams[i], (size_t)n) == 0,
		      "datagram %d: %zd bytes \"%.*s\"", i, n, n > 0 ? (int)n : 0, buf);
		CHECK(cred.pid == getpid() && cred.uid == getuid() && cred.gid == getgid(),
		      "datagram %d: credentials pid %d uid %u gid %u", i, cred.pid, cred.uid, cred.gid);
	}
	expect_empty(c->dg[1], "datagram pair");
	expect(c->dg[0], "reply", 5, "datagram back");
	still_connected(c->dg[0], c->dg[1], SOCK_DGRAM, "datagram pair");

	/* seqpacket pair */
	expect_type(c->sq[1], SOCK_SEQPACKET, "seqpacket pair");
	struct timeval tv;
	socklen_t tl = sizeof(tv);
	CHECK(getsockopt(c->sq[0], SOL_SOCKET, SO_RCVTIMEO, &tv, &tl) == 0 && tv.tv_sec == 2 && tv.tv_usec == 500000,
	      "SO_RCVTIMEO %ld.%06ld", (long)tv.tv_sec, (long)tv.tv_usec);
	tl = sizeof(tv);
	CHECK(getsockopt(c->sq[0], SOL_SOCKET, SO_SNDTIMEO, &tv, &tl) == 0 && tv.tv_sec == 1 && tv.tv_usec == 0,
	      "SO_SNDTIMEO %ld.%06ld", (long)tv.tv_sec, (long)tv.tv_usec);
	expect(c->sq[1], "rec1", 4, "record 1");
	expect(c->sq[1], "record2", 7, "record 2");
	expect_eof(c->sq[1], "seqpacket shut for reading");
	expect(c->sq[0], "r3", 2, "record back");
	CHECK(send(c->sq[0], "x", 1, MSG_NOSIGNAL) < 0 && errno == EPIPE, "sending to an end shut for reading: %s",
	      strerror(errno));
	put(c->sq[1], "more", 4);
	expect(c->sq[0], "more", 4, "seqpacket after");

	/* abstract listener, accepted connection, waiting clients */
	CHECK(intopt(c->lis, SO_ACCEPTCONN) == 1, "the listener does not listen");
	expect_name(c->lis, false, &c->lis_a, c->lis_len, "listener");
	expect_name(c->acc, false, &c->lis_a, c->lis_len, "accepted");
	expect_name(c->acc, true, &c->cli_a, c->cli_len, "accepted");
	expect_name(c->cli, false, &c->cli_a, c->cli_len, "client");
	expect_name(c->cli, true, &c->lis_a, c->lis_len, "client");
	expect_peercred(c->acc, 0, 0, "accepted");
	expect_peercred(c->cli, 0, 0, "client");
	expect_peercred(c->lis, 0, 0, "listener");
	expect_peercred(c->st[1], 0, 0, "stream pair");
	expect(c->acc, "to server", 9, "accepted queue");
	expect(c->cli, "to client", 9, "client queue");
	still_connected(c->acc, c->cli, SOCK_STREAM, "accepted connection");
	expect_name(c->wait1, true, &c->lis_a, c->lis_len, "waiting client");
	expect_unnamed(c->wait1, "waiting client");
	int a1 = accept(c->lis, NULL, NULL), a2 = accept(c->lis, NULL, NULL);
	CHECK(a1 >= 0 && a2 >= 0, "accepting the waiting clients: %s", strerror(errno));
	if (a1 >= 0 && a2 >= 0) {
		still_connected(a1, c->wait1, SOCK_STREAM, "first waiting client");
		still_connected(a2, c->wait2, SOCK_STREAM, "second waiting client");
	}
	SETUP(fcntl(c->lis, F_SETFL, O_NONBLOCK) == 0, "O_NONBLOCK");
	CHECK(accept(c->lis, NULL, NULL) < 0 && errno == EAGAIN, "a third connection waited");

	/* path listener */
	struct stat st;
	CHECK(stat(c->seq_a.sun_path, &st) == 0 && S_ISSOCK(st.st_mode) && (st.st_mode & 07777) == 0640,
	      "%s: mode %o", c->seq_a.sun_path, st.st_mode);
	expect_name(c->seql, false, &c->seq_a, c->seq_len, "seqpacket listener");
	expect_name(c->seqa, false, &c->seq_a, c->seq_len, "seqpacket accepted");
	expect_name(c->seqc, true, &c->seq_a, c->seq_len, "seqpacket client");
	expect(c->seqa, "seq record", 10, "seqpacket accepted queue");
	still_connected(c->seqa, c->seqc, SOCK_SEQPACKET, "seqpacket connection");
	int again = sock(SOCK_SEQPACKET);
	CHECK(connect(again, (struct sockaddr *)&c->seq_a, c->seq_len) == 0, "connecting to %s: %s", c->seq_a.sun_path,
	      strerror(errno));
	int acc2 = accept(c->seql, NULL, NULL);
	CHECK(acc2 >= 0, "accept on the path listener: %s", strerror(errno));
	if (acc2 >= 0) {
		still_connected(again, acc2, SOCK_SEQPACKET, "new seqpacket connection");
		close(acc2);
	}
	close(again);

	/* datagram server and its senders */
	expect_name(c->rcv, false, &c->rcv_a, c->rcv_len, "datagram server");
	expect_name(c->named, false, &c->named_a, c->named_len, "datagram sender");
	expect_name(c->oneway, true, &c->rcv_a, c->rcv_len, "connected sender");
	static const struct {
		const char *text;
		bool named;
	} from[] = {{"from named", true}, {"from unnamed", false}, {"from connected", false}, {"again", true}};
	for (int i = 0; i < 4; i++) {
		struct sockaddr_un a;
		socklen_t alen = 0;
		memset(&a, 0, sizeof(a));
		n = take(c->rcv, buf, sizeof(buf), &a, &alen, NULL);
		CHECK(n == (ssize_t)strlen(from[i].text) && memcmp(buf, from[i].text, (size_t)n) == 0,
		      "server datagram %d: \"%.*s\"", i, n > 0 ? (int)n : 0, buf);
		if (from[i].named)
			CHECK(alen == c->named_len && memcmp(&a, &c->named_a, alen) == 0, "datagram %d: sender name of %u bytes",
			      i, alen);
		else
			CHECK(alen <= sizeof(sa_family_t), "datagram %d: a named sender (%u bytes)", i, alen);
	}
	expect_empty(c->rcv, "datagram server");
	put(c->oneway, "new", 3);
	expect(c->rcv, "new", 3, "connected sender, after");
	CHECK(sendto(c->loose, "x", 1, 0, (struct sockaddr *)&c->rcv_a, c->rcv_len) == 1, "sendto: %s", strerror(errno));
	expect(c->rcv, "x", 1, "unconnected sender, after");
	expect_unnamed(c->loose, "unconnected socket");

	/* accepted from a listener since closed */
	expect_name(c->orphan, false, &c->orphan_a, c->orphan_len, "accepted, listener closed");
	expect_name(c->orphan_cli, true, &c->orphan_a, c->orphan_len, "client of a closed listener");
	expect_peercred(c->orphan, 0, 0, "accepted, listener closed");
	expect(c->orphan, "orphaned", 8, "accepted, listener closed");
	still_connected(c->orphan, c->orphan_cli, SOCK_SEQPACKET, "accepted, listener closed");
	int again2 = sock(SOCK_SEQPACKET);
	CHECK(bind(again2, (struct sockaddr *)&c->orphan_a, c->orphan_len) == 0, "the closed listener's name is held: %s",
	      strerror(errno));
	close(again2);
	struct sockaddr_un none;
	socklen_t nl = sizeof(none);
	CHECK(getpeername(c->loose, (struct sockaddr *)&none, &nl) < 0 && errno == ENOTCONN, "unconnected socket has a peer");
}

/* ---- refused ------------------------------------------------------------ */

struct refused {
	int a, b;
	char check[64];
};

static void refused_setup(const char *mode, struct refused *r)
{
	r->a = r->b = -1;
	if (strcmp(mode, "rights") == 0) {
		int sv[2];
		pair(SOCK_STREAM, sv);
		r->a = sv[0], r->b = sv[1];
		int payload = open("/dev/ptmx", O_RDWR | O_NOCTTY); /* no descriptor of it here */
		SETUP(payload >= 0, "open /dev/ptmx");
		union {
			struct cmsghdr align;
			char bytes[CMSG_SPACE(sizeof(int))];
		} control;
		struct iovec iov = {"fd", 2};
		struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = &control,
				    .msg_controllen = sizeof(control)};
		struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &payload, sizeof(int));
		SETUP(sendmsg(sv[0], &mh, 0) == 2, "sendmsg SCM_RIGHTS");
		close(payload);
		snprintf(r->check, sizeof(r->check), "fd");
	} else if (strcmp(mode, "emptydgram") == 0) {
		/* A named socket others may send to, whose queue binmig cannot
		 * take (a pair's it takes: tests/progs/peekedmsg.c). */
		r->a = sock(SOCK_DGRAM);
		r->b = sock(SOCK_DGRAM);
		struct sockaddr_un a;
		socklen_t len = abstract(&a, "emptydgram");
		SETUP(bind(r->b, (struct sockaddr *)&a, len) == 0, "bind");
		SETUP(sendto(r->a, "one", 3, 0, (struct sockaddr *)&a, len) == 3 &&
		      sendto(r->a, "", 0, 0, (struct sockaddr *)&a, len) == 0 &&
		      sendto(r->a, "two", 3, 0, (struct sockaddr *)&a, len) == 3, "datagrams");
		snprintf(r->check, sizeof(r->check), "one");
	} else if (strcmp(mode, "foreign") == 0) {
		r->b = sock(SOCK_DGRAM);
		struct sockaddr_un a;
		socklen_t len = abstract(&a, "foreign");
		SETUP(bind(r->b, (struct sockaddr *)&a, len) == 0, "bind");
		setint(r->b, SO_PASSCRED, 1);
		pid_t peer = tp_fork_peer();
		if (peer == 0) {
			int s = socket(AF_UNIX, SOCK_DGRAM, 0);
			_exit(sendto(s, "not mine", 8, 0, (struct sockaddr *)&a, len) == 8 ? 0 : 1);
		}
		char buf[16];
		SETUP(recv(r->b, buf, sizeof(buf), MSG_PEEK) == 8, "the other process's datagram");
		say("peer %d", peer);
		snprintf(r->check, sizeof(r->check), "not mine");
	} else if (strcmp(mode, "forked") == 0) {
		int x[2];
		pair(SOCK_STREAM, x);
		union {
			struct cmsghdr align;
			char bytes[CMSG_SPACE(2 * sizeof(int))];
		} control;
		char byte = 'y';
		struct iovec iov = {&byte, 1};
		struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = &control,
				    .msg_controllen = sizeof(control)};
		pid_t peer = tp_fork_peer();
		if (peer == 0) {
			int y[2];
			close(x[0]);
			if (socketpair(AF_UNIX, SOCK_STREAM, 0, y) < 0)
				_exit(1);
			struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
			cm->cmsg_level = SOL_SOCKET;
			cm->cmsg_type = SCM_RIGHTS;
			cm->cmsg_len = CMSG_LEN(2 * sizeof(int));
			memcpy(CMSG_DATA(cm), y, sizeof(y));
			_exit(sendmsg(x[1], &mh, 0) == 1 ? 0 : 1);
		}
		close(x[1]);
		SETUP(recvmsg(x[0], &mh, 0) == 1 && CMSG_FIRSTHDR(&mh) && CMSG_FIRSTHDR(&mh)->cmsg_type == SCM_RIGHTS,
		      "the pair made by the other process");
		int y[2];
		memcpy(y, CMSG_DATA(CMSG_FIRSTHDR(&mh)), sizeof(y));
		close(x[0]);
		r->a = y[0], r->b = y[1];
		put(r->a, "made elsewhere", 14);
		snprintf(r->check, sizeof(r->check), "made elsewhere");
		say("peer %d", peer);
	} else if (strcmp(mode, "outside") == 0) {
		int sv[2];
		pair(SOCK_STREAM, sv);
		pid_t peer = tp_fork_peer();
		if (peer == 0) {
			close(sv[1]);
			char buf[8];
			while (read(sv[0], buf, sizeof(buf)) > 0)
				;
			_exit(0);
		}
		close(sv[0]);
		r->b = sv[1];
		say("peer %d", peer);
	} else if (strcmp(mode, "closed") == 0) {
		int sv[2];
		pair(SOCK_STREAM, sv);
		put(sv[0], "orphan", 6);
		close(sv[0]);
		r->b = sv[1];
		snprintf(r->check, sizeof(r->check), "orphan");
	} else if (strcmp(mode, "oob") == 0 || strcmp(mode, "oobinline") == 0) {
		int sv[2];
		pair(SOCK_STREAM, sv);
		if (mode[3])
			setint(sv[1], SO_OOBINLINE, 1);
		put(sv[0], "ab", 2);
		SETUP(send(sv[0], "!", 1, MSG_OOB) == 1, "MSG_OOB");
		r->a = sv[0], r->b = sv[1];
	} else if (strcmp(mode, "waiting") == 0) {
		r->a = sock(SOCK_STREAM);
		struct sockaddr_un a;
		socklen_t len = abstract(&a, "waiting");
		SETUP(bind(r->a, (struct sockaddr *)&a, len) == 0 && listen(r->a, 2) == 0, "listener");
		r->b = sock(SOCK_STREAM);
		SETUP(connect(r->b, (struct sockaddr *)&a, len) == 0, "connect");
		put(r->b, "early", 5);
	} else if (strcmp(mode, "groups") == 0) {
		int sv[2];
		pair(SOCK_STREAM, sv);
		r->a = sv[0], r->b = sv[1];
		put(r->a, "grouped", 7);
		const gid_t later[] = {777};
		SETUP(setgroups(1, later) == 0, "setgroups");
		snprintf(r->check, sizeof(r->check), "grouped");
	} else if (strcmp(mode, "removed") == 0) {
		char sub[4100];
		snprintf(sub, sizeof(sub), "%s/gone", dir);
		SETUP(mkdir(sub, 0700) == 0, "mkdir");
		r->b = sock(SOCK_DGRAM);
		struct sockaddr_un a;
		socklen_t len = in_dir(&a, "gone/s.sock");
		SETUP(bind(r->b, (struct sockaddr *)&a, len) == 0, "bind");
		SETUP(unlink(a.sun_path) == 0 && rmdir(sub) == 0, "removing the directory");
	} else {
		say("FAIL: usage: unixsock carried|rights|emptydgram|foreign|forked|outside|closed|oob|oobinline|waiting|removed|groups|path|user DIR");
		exit(2);
	}
}

static void refused_check(const char *mode, struct refused *r)
{
	char buf[64];
	if (r->check[0]) {
		size_t len = strlen(r->check);
		ssize_t n = recv(r->b, buf, sizeof(buf), MSG_DONTWAIT);
		CHECK(n == (ssize_t)len && memcmp(buf, r->check, len) == 0, "%s: queue \"%.*s\"", mode, n > 0 ? (int)n : 0,
		      buf);
	}
	if (strcmp(mode, "oobinline") == 0) {
		size_t got = 0;
		ssize_t n;
		while (got < 3 && (n = recv(r->b, buf + got, 3 - got, MSG_DONTWAIT)) > 0)
			got += (size_t)n;
		CHECK(got == 3 && memcmp(buf, "ab!", 3) == 0, "the bytes with the inline out-of-band one");
	}
	if (strcmp(mode, "oob") == 0) {
		CHECK(recv(r->b, buf, 1, MSG_OOB) == 1 && buf[0] == '!', "the out-of-band byte is gone");
		CHECK(recv(r->b, buf, sizeof(buf), 0) == 2, "the in-band bytes");
	}
	if (strcmp(mode, "waiting") == 0) {
		int s = accept(r->a, NULL, NULL);
		CHECK(s >= 0 && recv(s, buf, sizeof(buf), MSG_DONTWAIT) == 5, "the waiting connection and its data");
	}
	if (strcmp(mode, "outside") == 0)
		CHECK(send(r->b, "x", 1, MSG_NOSIGNAL) == 1, "the peer outside is gone");
}

/* ---- shutdown states and sockets never connected -------------------- */

#define NSHUT 16
struct shut {
	int fd[NSHUT], n;
	short revents[NSHUT]; /* at setup: poll shows the shutdown state */
	int qp[2], dp[2];                /* shutrd */
	int cw, aw, cr, ar, qw, qa, cp, ap; /* shutpre */
	int su, sa, sq, squ, ss;         /* unconn */
	struct sockaddr_un sa_a, sq_a;
	socklen_t sa_len, sq_len;
};

static short revents_of(int s)
{
	struct pollfd p = {s, POLLIN | POLLOUT | POLLRDHUP, 0};
	return poll(&p, 1, 0) < 0 ? -1 : p.revents;
}

static int watched(struct shut *t, int s)
{
	SETUP(t->n < NSHUT, "too many sockets watched");
	t->fd[t->n++] = s;
	return s;
}

static void shut_down(int s, int how)
{
	SETUP(shutdown(s, how) == 0, "shutdown");
}

/* A client of listener L at A (LEN) shut down with HOW (-1: none) before
 * it connects, or after (AFTER); the accepted end into *acc. */
static int client(struct shut *t, int type, int l, const struct sockaddr_un *a, socklen_t len, int how, bool after,
		  int *acc)
{
	int c = watched(t, sock(type));
	if (how >= 0 && !after)
		shut_down(c, how);
	SETUP(connect(c, (const struct sockaddr *)a, len) == 0, "connect");
	*acc = watched(t, accept(l, NULL, NULL));
	SETUP(*acc >= 0, "accept");
	if (how >= 0 && after)
		shut_down(c, how);
	return c;
}

static int listener(int type, const struct sockaddr_un *a, socklen_t len)
{
	int l = sock(type);
	SETUP(bind(l, (const struct sockaddr *)a, len) == 0 && listen(l, 4) == 0, "listener");
	return l;
}

static void shut_setup(const char *mode, struct shut *t)
{
	struct sockaddr_un a;
	socklen_t len;
	if (strcmp(mode, "shutrd") == 0) {
		pair(SOCK_SEQPACKET, t->qp);
		pair(SOCK_DGRAM, t->dp);
		for (int i = 0; i < 2; i++) {
			int *p = i ? t->dp : t->qp;
			watched(t, p[0]), watched(t, p[1]);
			put(p[1], "in", 2);
			put(p[0], "out", 3);
			shut_down(p[0], SHUT_RD);
		}
	} else if (strcmp(mode, "shutpre") == 0) {
		len = abstract(&a, "shutpre");
		int l = listener(SOCK_STREAM, &a, len);
		t->cw = client(t, SOCK_STREAM, l, &a, len, SHUT_WR, false, &t->aw);
		t->cr = client(t, SOCK_STREAM, l, &a, len, SHUT_RD, false, &t->ar);
		t->cp = client(t, SOCK_STREAM, l, &a, len, SHUT_WR, true, &t->ap);
		len = abstract(&a, "shutpre-seq");
		t->qw = client(t, SOCK_SEQPACKET, listener(SOCK_SEQPACKET, &a, len), &a, len, SHUT_WR, false, &t->qa);
	} else if (strcmp(mode, "unconn") == 0) {
		t->su = watched(t, sock(SOCK_STREAM));
		t->squ = watched(t, sock(SOCK_SEQPACKET));
		t->sa = watched(t, sock(SOCK_STREAM));
		t->sa_len = abstract(&t->sa_a, "unconn");
		SETUP(bind(t->sa, (struct sockaddr *)&t->sa_a, t->sa_len) == 0, "bind");
		t->sq = watched(t, sock(SOCK_SEQPACKET));
		t->sq_len = in_dir(&t->sq_a, "uc.sock");
		SETUP(bind(t->sq, (struct sockaddr *)&t->sq_a, t->sq_len) == 0, "bind");
		t->ss = watched(t, sock(SOCK_STREAM));
		shut_down(t->ss, SHUT_RDWR);
	} else if (strcmp(mode, "waitshut") == 0) {
		len = abstract(&a, "waitshut");
		int l = listener(SOCK_STREAM, &a, len);
		t->cw = sock(SOCK_STREAM);
		shut_down(t->cw, SHUT_WR);
		SETUP(connect(t->cw, (struct sockaddr *)&a, len) == 0, "connect");
		t->aw = l;
	}
	for (int i = 0; i < t->n; i++)
		t->revents[i] = revents_of(t->fd[i]);
}

static void expect_epipe(int s, const char *what)
{
	CHECK(send(s, "x", 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0 && errno == EPIPE, "%s: sending did not fail with EPIPE",
	      what);
}

/* Reading S, shut down for reading and its queue read, ends as reading a
 * new pair's end of that type so shut down does (end of file, or for a
 * datagram socket, nothing to read). */
static void expect_drained_shut_rd(int s, int type, const char *what)
{
	int ref[2];
	pair(type, ref);
	shut_down(ref[0], SHUT_RD);
	char buf[16];
	errno = 0;
	ssize_t want = recv(ref[0], buf, sizeof(buf), MSG_DONTWAIT);
	int want_errno = errno;
	errno = 0;
	ssize_t got = recv(s, buf, sizeof(buf), MSG_DONTWAIT);
	CHECK(got == want && errno == want_errno, "%s: read %zd (errno %d), a new one so shut down reads %zd (errno %d)",
	      what, got, errno, want, want_errno);
	close(ref[0]);
	close(ref[1]);
}

/* A listener L at A takes a connection from a new client. */
static void takes_connection(int l, int type, const struct sockaddr_un *a, socklen_t len, const char *what)
{
	int c = socket(AF_UNIX, type, 0);
	CHECK(listen(l, 2) == 0 && connect(c, (const struct sockaddr *)a, len) == 0, "%s: listen, connect: %s", what,
	      strerror(errno));
	int s = accept(l, NULL, NULL);
	CHECK(s >= 0, "%s: accept: %s", what, strerror(errno));
	if (s >= 0)
		still_connected(c, s, type, what);
}

static void shut_check(const char *mode, struct shut *t)
{
	for (int i = 0; i < t->n; i++)
		CHECK(revents_of(t->fd[i]) == t->revents[i], "fd %d: poll shows %#x, was %#x", t->fd[i],
		      revents_of(t->fd[i]), t->revents[i]);
	if (strcmp(mode, "shutrd") == 0) {
		for (int i = 0; i < 2; i++) {
			int *p = i ? t->dp : t->qp;
			const char *what = i ? "datagram pair shut down for reading" : "seqpacket pair shut down for reading";
			expect(p[0], "in", 2, what);
			expect_drained_shut_rd(p[0], i ? SOCK_DGRAM : SOCK_SEQPACKET, what);
			expect_epipe(p[1], what);
			expect(p[1], "out", 3, what);
			put(p[0], "more", 4);
			expect(p[1], "more", 4, what);
		}
	} else if (strcmp(mode, "shutpre") == 0) {
		expect_empty(t->aw, "accepted from a client shut down for writing before it connected");
		expect_epipe(t->cw, "client shut down for writing before it connected");
		put(t->aw, "down", 4);
		expect(t->cw, "down", 4, "client shut down for writing before it connected");
		expect_eof(t->cr, "client shut down for reading before it connected");
		expect_epipe(t->ar, "accepted from a client shut down for reading before it connected");
		put(t->cr, "up", 2);
		expect(t->ar, "up", 2, "accepted from a client shut down for reading before it connected");
		expect_empty(t->ar, "accepted from a client shut down for reading before it connected");
		expect_empty(t->qa, "seqpacket accepted from a client shut down for writing before it connected");
		expect_epipe(t->qw, "seqpacket client shut down for writing before it connected");
		expect_eof(t->ap, "accepted from a client shut down for writing after it connected");
	} else if (strcmp(mode, "unconn") == 0) {
		expect_unnamed(t->su, "unbound stream socket");
		expect_unnamed(t->squ, "unbound seqpacket socket");
		expect_name(t->sa, false, &t->sa_a, t->sa_len, "stream socket on an abstract name");
		expect_name(t->sq, false, &t->sq_a, t->sq_len, "seqpacket socket on a path");
		expect_type(t->su, SOCK_STREAM, "unbound stream socket");
		expect_type(t->squ, SOCK_SEQPACKET, "unbound seqpacket socket");
		CHECK(intopt(t->sa, SO_ACCEPTCONN) == 0, "the stream socket on an abstract name listens");
		takes_connection(t->sa, SOCK_STREAM, &t->sa_a, t->sa_len, "stream socket on an abstract name");
		takes_connection(t->sq, SOCK_SEQPACKET, &t->sq_a, t->sq_len, "seqpacket socket on a path");
		struct sockaddr_un a;
		socklen_t len = abstract(&a, "unconn-l");
		int l = listener(SOCK_STREAM, &a, len);
		CHECK(connect(t->su, (struct sockaddr *)&a, len) == 0, "the unbound stream socket connects: %s",
		      strerror(errno));
		int s = accept(l, NULL, NULL);
		CHECK(s >= 0, "accept: %s", strerror(errno));
		if (s >= 0)
			still_connected(t->su, s, SOCK_STREAM, "the unbound stream socket, connected");
	} else if (strcmp(mode, "waitshut") == 0) {
		int s = accept(t->aw, NULL, NULL);
		CHECK(s >= 0, "the waiting client: %s", strerror(errno));
		if (s >= 0)
			expect_empty(s, "accepted from a client shut down before it connected");
	}
}

int main(int argc, char **argv)
{
	const char *mode = argc >= 3 ? argv[1] : "";
	if (argc < 3) {
		say("FAIL: usage: unixsock MODE DIR");
		return 2;
	}
	snprintf(dir, sizeof(dir), "%s", argv[2]);
	snprintf(tag, sizeof(tag), "%d", (int)getpid());
	usr1_setup();
	static struct carried c;
	static struct refused r;
	static struct shut t;
	bool shut_mode = strcmp(mode, "shutrd") == 0 || strcmp(mode, "shutpre") == 0 || strcmp(mode, "unconn") == 0 ||
			 strcmp(mode, "waitshut") == 0;
	int path = -1, user[5] = {-1, -1, -1, -1, -1};
	if (strcmp(mode, "carried") == 0) {
		carried_setup(&c);
	} else if (strcmp(mode, "user") == 0) {
		const gid_t groups[] = {1234, 4321};
		SETUP(setgroups(2, groups) == 0 && setresgid(65534, 65534, 65534) == 0 && setresuid(65534, 65534, 65534) == 0,
		      "becoming 65534");
		pair(SOCK_STREAM, user);
		put(user[0], "as nobody", 9);
		user[2] = sock(SOCK_STREAM);
		struct sockaddr_un a;
		socklen_t len = abstract(&a, "user");
		SETUP(bind(user[2], (struct sockaddr *)&a, len) == 0 && listen(user[2], 2) == 0, "listener");
		user[3] = sock(SOCK_STREAM);
		SETUP(connect(user[3], (struct sockaddr *)&a, len) == 0, "connect");
		user[4] = accept(user[2], NULL, NULL);
		int waiting = sock(SOCK_STREAM);
		SETUP(user[4] >= 0 && connect(waiting, (struct sockaddr *)&a, len) == 0, "accept, connect");
	} else if (strcmp(mode, "path") == 0) {
		path = sock(SOCK_DGRAM);
		struct sockaddr_un a;
		socklen_t len = in_dir(&a, "p.sock");
		SETUP(bind(path, (struct sockaddr *)&a, len) == 0, "bind");
		int s = sock(SOCK_DGRAM);
		SETUP(sendto(s, "kept", 4, 0, (struct sockaddr *)&a, len) == 4, "sendto");
		close(s);
	} else if (shut_mode) {
		shut_setup(mode, &t);
	} else {
		refused_setup(mode, &r);
	}
	struct fd_set_snapshot before;
	fd_snapshot(&before);
	say("ready");
	usr1_wait();
	fd_check_same(&before);
	if (strcmp(mode, "carried") == 0) {
		carried_check(&c);
	} else if (user[0] >= 0) {
		CHECK(geteuid() == 65534 && getegid() == 65534, "ids %u %u", geteuid(), getegid());
		expect(user[1], "as nobody", 9, "pair as nobody");
		for (int i = 0; i < 5; i++) {
			expect_peercred(user[i], 65534, 65534, i == 2 ? "listener as nobody" : "as nobody");
			expect_peergroups(user[i], i == 2 ? "listener as nobody" : "as nobody");
		}
		int w = accept(user[2], NULL, NULL);
		CHECK(w >= 0, "the waiting client: %s", strerror(errno));
		if (w >= 0) {
			expect_peercred(w, 65534, 65534, "the waiting client, accepted");
			expect_peergroups(w, "the waiting client, accepted");
		}
	} else if (path >= 0) {
		expect(path, "kept", 4, "path socket");
		struct sockaddr_un a;
		socklen_t len = in_dir(&a, "p.sock");
		expect_name(path, false, &a, len, "path socket");
	} else if (shut_mode) {
		shut_check(mode, &t);
	} else {
		refused_check(mode, &r);
	}
	return tp_finish();
}
