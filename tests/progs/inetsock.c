/* inetsock MODE DIR: TCP and UDP sockets (migrator/sk_inet.c).
 *
 *   carried  every kind binmig carries, set up before "ready", verified
 *            after SIGUSR1:
 *              - TCP listeners on 0.0.0.0 (SO_REUSEADDR, backlog 7) and
 *                on :: (IPV6_V6ONLY), their ports written to DIR/ports as
 *                "port4 N" and "port6 N": after the move the test
 *                connects to port4 and sends a line, which must be
 *                accepted and answered ("hello LINE"); the v6 listener
 *                must accept a connection of the program's own;
 *              - a new TCP socket with TCP_NODELAY, SO_LINGER, SO_RCVTIMEO
 *                and SO_SNDTIMEO set, and one bound to 127.0.0.1 only;
 *              - datagrams queued, each checked with its sender after the
 *                move: on the UDP socket below and on one bound to the
 *                IPv4 wildcard (one from a sender closed since), a 40000
 *                byte one on the IPv6 socket, one over IPv4 on a
 *                dual-stack socket on ::;
 *              - a UDP socket bound to 127.0.0.1 (SO_BROADCAST, SO_RCVBUF,
 *                IP_TOS) connected to another, and an IPv6 one on ::1;
 *              - established loopback TCP connections (IPv4 with a dup of
 *                one end, IPv6) with unread data in both directions, the
 *                IPv4 one with the client's send buffer full (data not yet
 *                sent) and keepalive options: after the move every byte
 *                arrives complete and in order, and new data flows both
 *                ways;
 *            names, peers and options (getsockopt) must be what they were.
 *   dualstack  an IPv4 client connected to a dual-stack IPv6 listener,
 *            both ends in the process (the accepted end sees the client as
 *            ::ffff:127.0.0.1), unread data both ways, a window clamp
 *            set on the accepted end: carried, the data and new data
 *            arrive after the move, both ends' TCP_WINDOW_CLAMP as it was.
 *   kernelset  options the kernel sets as well as the program, set by the
 *            program to values no packet would give: SO_INCOMING_CPU on a
 *            TCP listener, on a connected UDP socket holding a datagram,
 *            on both ends of an established connection (one of them back
 *            to -1), on a bound TCP socket, none on a new UDP socket (-1);
 *            TCP_QUICKACK 0 on the listener (after listen(), which clears
 *            it), on the bound socket and on one end of the connection:
 *            each reads the same after the move; then the
 *            listener's next connection starts in its ACK mode, the
 *            datagram is there and the connection carries data both ways.
 *   mss      segment sizes: an established connection that has carried no
 *            data since its handshake, whose client reads a smaller
 *            TCP_MAXSEG than its accepted end (half the window the accepted
 *            end announced in its SYN-ACK) until their first exchange:
 *            both read the same after the move, before any data; and a
 *            connection that carried data, on whose accepted end the
 *            program set TCP_MAXSEG 1000 (on a connection it shows the
 *            segment size, not that): once its peer resets it, the
 *            ended connection reads 1000; listeners with TCP_MAXSEG 1200
 *            and 536 set, which read it and bound the connections they
 *            accept after the move (the second fails where binmig cannot
 *            load its BPF programs, as does the ended connection: only
 *            they read an MSS set there, and one set to a new socket's).
 *   udpheadpeeked  a UDP socket holding an empty datagram, which the
 *            program peeked (the kernel marks it so), and then "tail":
 *            after the move a peek at offset 0 skips the empty one, and
 *            reads take both.
 *   bound ADDR  a UDP socket bound to ADDR (an address of the source host
 *            only) and a loopback connection with unread data both ways:
 *            the migration must be refused at the destination and the
 *            process go on at the source with its connection intact (its
 *            queues, read in repair mode at the dump, still there and
 *            flowing); checked after SIGUSR1.
 *   Refused at dump (the process goes on and passes): backlog (a
 *   connection waiting in the accept queue), udpempty (an empty datagram
 *   queued behind another), udphead (an empty datagram at the head of a
 *   UDP socket's queue that no peek showed: binmig's own would mark it,
 *   refused where its BPF reader sees it; still unmarked after the
 *   refusal), udphidden (an empty datagram behind another
 *   that the program peeked at an offset, SO_PEEK_OFF turned off since: no
 *   peek of the dump shows it, binmig's BPF reader does; with that reader
 *   off the dump is not refused, and the queue at the source is as it
 *   was), udppeekoff (a datagram queued on a socket with
 *   SO_PEEK_OFF set: an empty one the process peeked there would be seen by
 *   no peek), udpbig6 (a 65500-byte datagram queued on an
 *   IPv6 socket, more than one IPv6 packet over loopback carries whole),
 *   udpreuseport (a datagram queued on a socket with SO_REUSEPORT),
 *   udpforeign (a datagram queued on a socket from another sender than
 *   the peer it connected to since),
 *   filter (SO_ATTACH_FILTER), ttl (IP_TTL), multicast (a group joined),
 *   outside (a connection to another process), halfclosed (a connection
 *   shut down for writing), raw (a raw socket); and state that no option
 *   shows, checked still there after the refusal: urgent (urgent data
 *   not yet read), urgentread (its byte read, the mark still ahead in the
 *   stream), soerror (an ICMP error waiting on a connected UDP socket),
 *   udpcork and udpmore (bytes corked with UDP_CORK or MSG_MORE),
 *   udpshutwr (a connected UDP socket shut down for writing), udpshutrdwr
 *   (an unconnected one shut down both ways), tcpshutrd (an established
 *   connection shut down for reading); options that only a read of every
 *   option number finds: v6ipttl (IP_TTL on an IPv6 socket), ipoptions
 *   (IP_OPTIONS, bytes), udpsegment (UDP_SEGMENT); udpsameport (two UDP sockets bound to one address and
 *   port with SO_REUSEADDR: the one bound last gets the datagrams). */
#include <arpa/inet.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <netinet/udp.h>
#include <poll.h>
#include <sys/socket.h>

#include "testprog.h"

#define BIG (3 << 20)        /* what the IPv4 client tries to write: more than the buffers hold */
#define TO_CLIENT 50000      /* what the IPv4 server writes */
#define EVENT_MS 20000       /* the longest wait for an event on loopback: a passing run waits for the event */

static const char *dir;

/* ---- what a socket is, for the comparison after the move ---- */

static const struct {
	int level, name;
	const char *text;
} opts[] = {
	{SOL_SOCKET, SO_TYPE, "SO_TYPE"}, {SOL_SOCKET, SO_REUSEADDR, "SO_REUSEADDR"},
	{SOL_SOCKET, SO_REUSEPORT, "SO_REUSEPORT"}, {SOL_SOCKET, SO_KEEPALIVE, "SO_KEEPALIVE"},
	{SOL_SOCKET, SO_BROADCAST, "SO_BROADCAST"}, {SOL_SOCKET, SO_RCVBUF, "SO_RCVBUF"},
	{SOL_SOCKET, SO_SNDBUF, "SO_SNDBUF"}, {SOL_SOCKET, SO_ACCEPTCONN, "SO_ACCEPTCONN"},
	{IPPROTO_TCP, TCP_NODELAY, "TCP_NODELAY"}, {IPPROTO_TCP, TCP_KEEPIDLE, "TCP_KEEPIDLE"},
	{IPPROTO_TCP, TCP_KEEPINTVL, "TCP_KEEPINTVL"}, {IPPROTO_TCP, TCP_KEEPCNT, "TCP_KEEPCNT"},
	{IPPROTO_TCP, TCP_MAXSEG, "TCP_MAXSEG"},
	{IPPROTO_IP, IP_TOS, "IP_TOS"}, {IPPROTO_IPV6, IPV6_V6ONLY, "IPV6_V6ONLY"},
	{SOL_SOCKET, SO_BUF_LOCK, "SO_BUF_LOCK"}, /* a size set again locks it */
};
#define NOPTS (int)(sizeof opts / sizeof *opts)

struct snap {
	int fd;
	struct sockaddr_storage name, peer;
	socklen_t name_len, peer_len;
	int opt[NOPTS], opt_rc[NOPTS];
	struct linger linger;
	struct timeval rcvtimeo, sndtimeo;
};

static struct snap snaps[32];
static int nsnaps;

static void take(struct snap *s, int fd)
{
	memset(s, 0, sizeof *s);
	s->fd = fd;
	s->name_len = sizeof s->name;
	s->peer_len = sizeof s->peer;
	getsockname(fd, (struct sockaddr *)&s->name, &s->name_len);
	if (getpeername(fd, (struct sockaddr *)&s->peer, &s->peer_len) < 0)
		s->peer_len = 0;
	for (int i = 0; i < NOPTS; i++) {
		socklen_t len = sizeof(int);
		s->opt_rc[i] = getsockopt(fd, opts[i].level, opts[i].name, &s->opt[i], &len) < 0 ? errno : 0;
	}
	socklen_t len = sizeof s->linger;
	getsockopt(fd, SOL_SOCKET, SO_LINGER, &s->linger, &len);
	len = sizeof s->rcvtimeo;
	getsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &s->rcvtimeo, &len);
	len = sizeof s->sndtimeo;
	getsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &s->sndtimeo, &len);
}

static void remember(int fd)
{
	take(&snaps[nsnaps++], fd);
}

static void compare_all(void)
{
	for (int k = 0; k < nsnaps; k++) {
		const struct snap *b = &snaps[k];
		struct snap a;
		take(&a, b->fd);
		CHECK(a.name_len == b->name_len && memcmp(&a.name, &b->name, a.name_len) == 0, "fd %d: local address changed",
		      b->fd);
		CHECK(a.peer_len == b->peer_len && memcmp(&a.peer, &b->peer, a.peer_len) == 0, "fd %d: peer address changed",
		      b->fd);
		for (int i = 0; i < NOPTS; i++)
			CHECK(a.opt_rc[i] == b->opt_rc[i] && a.opt[i] == b->opt[i], "fd %d: %s is %d (error %d), was %d (error %d)",
			      b->fd, opts[i].text, a.opt[i], a.opt_rc[i], b->opt[i], b->opt_rc[i]);
		CHECK(memcmp(&a.linger, &b->linger, sizeof a.linger) == 0, "fd %d: SO_LINGER %d/%d, was %d/%d", b->fd,
		      a.linger.l_onoff, a.linger.l_linger, b->linger.l_onoff, b->linger.l_linger);
		CHECK(memcmp(&a.rcvtimeo, &b->rcvtimeo, sizeof a.rcvtimeo) == 0 &&
		      memcmp(&a.sndtimeo, &b->sndtimeo, sizeof a.sndtimeo) == 0, "fd %d: timeouts changed", b->fd);
	}
}

/* ---- helpers ---- */

static int opt(int fd, int level, int name, int value)
{
	return setsockopt(fd, level, name, &value, sizeof value);
}

static socklen_t any_addr(int family, const char *text, int port, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof *ss);
	if (family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)ss;
		in->sin_family = AF_INET;
		in->sin_port = htons(port);
		SETUP(inet_pton(AF_INET, text, &in->sin_addr) == 1, text);
		return sizeof *in;
	}
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
	in6->sin6_family = AF_INET6;
	in6->sin6_port = htons(port);
	SETUP(inet_pton(AF_INET6, text, &in6->sin6_addr) == 1, text);
	return sizeof *in6;
}

static int bound(int family, int type, const char *addr)
{
	int s = socket(family, type, 0);
	SETUP(s >= 0, "socket");
	struct sockaddr_storage ss;
	socklen_t len = any_addr(family, addr, 0, &ss);
	SETUP(bind(s, (struct sockaddr *)&ss, len) == 0, "bind");
	return s;
}

static int port_of(int s)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	SETUP(getsockname(s, (struct sockaddr *)&ss, &len) == 0, "getsockname");
	return ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
					     : ((struct sockaddr_in6 *)&ss)->sin6_port);
}

/* ---- queued datagrams ---- */

struct queued {
	int to;                          /* the socket it waits on */
	struct sockaddr_storage from;    /* its sender */
	socklen_t from_len;
	size_t len;
	int seed;
};
static struct queued queued[8];
static int nqueued;

static void datagram(char *buf, size_t len, int seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (char)('a' + (i * 7 + (size_t)seed * 13) % 26);
}

/* Sends a datagram (LEN bytes, or a short one if 0) from FROM to TO at
 * ADDR, and waits until TO holds it. */
static void queue_datagram(int from, int to, const char *addr, int seed, size_t len)
{
	static char buf[65536];
	struct queued *q = &queued[nqueued++];
	q->to = to;
	q->seed = seed;
	q->len = len ? len : 5 + (size_t)seed;
	q->from_len = sizeof q->from;
	SETUP(getsockname(from, (struct sockaddr *)&q->from, &q->from_len) == 0, "getsockname of a sender");
	struct sockaddr_storage ss;
	socklen_t sl = any_addr(strchr(addr, ':') ? AF_INET6 : AF_INET, addr, port_of(to), &ss);
	datagram(buf, q->len, seed);
	SETUP(sendto(from, buf, q->len, 0, (struct sockaddr *)&ss, sl) == (ssize_t)q->len, "sendto");
	struct pollfd p = {to, POLLIN, 0};
	SETUP(poll(&p, 1, EVENT_MS) == 1, "a queued datagram did not arrive");
}

/* Queued datagram k, read after the move: its bytes, from its sender (an
 * IPv4 one as a dual-stack socket names it). */
static void check_queued(int k)
{
	static char buf[65536], want[65536];
	const struct queued *q = &queued[k];
	struct sockaddr_storage from;
	socklen_t flen = sizeof from;
	ssize_t n = recvfrom(q->to, buf, sizeof buf, MSG_DONTWAIT, (struct sockaddr *)&from, &flen);
	datagram(want, q->len, q->seed);
	CHECK(n == (ssize_t)q->len && memcmp(buf, want, q->len) == 0, "queued datagram %d: %zd bytes, expected %zu", k,
	      n, q->len);
	const struct sockaddr_in *in = (const struct sockaddr_in *)&q->from;
	const struct sockaddr_in6 *got6 = (const struct sockaddr_in6 *)&from;
	bool mapped = from.ss_family == AF_INET6 && q->from.ss_family == AF_INET &&
		      IN6_IS_ADDR_V4MAPPED(&got6->sin6_addr) && memcmp(&got6->sin6_addr.s6_addr[12], &in->sin_addr, 4) == 0 &&
		      got6->sin6_port == in->sin_port;
	CHECK(mapped || (flen == q->from_len && memcmp(&from, &q->from, flen) == 0), "queued datagram %d: sender differs",
	      k);
}

/* A connection over loopback: *client connected to *server (accepted). */
static void pair(int family, int *client, int *server, int *listener_out)
{
	const char *lo = family == AF_INET ? "127.0.0.1" : "::1";
	int l = bound(family, SOCK_STREAM, lo);
	SETUP(listen(l, 4) == 0, "listen");
	*client = socket(family, SOCK_STREAM, 0);
	struct sockaddr_storage ss;
	socklen_t len = any_addr(family, lo, port_of(l), &ss);
	SETUP(*client >= 0 && connect(*client, (struct sockaddr *)&ss, len) == 0, "connect");
	*server = accept(l, NULL, NULL);
	SETUP(*server >= 0, "accept");
	if (listener_out)
		*listener_out = l;
	else
		close(l);
}

static unsigned char pattern(long i, int salt)
{
	return (unsigned char)(mix64((uint64_t)(i / 8) * 31 + (uint64_t)salt) >> (8 * (i % 8)));
}

/* Writes bytes FROM.. of stream SALT until the socket would block or
 * LIMIT is reached; returns the new count. */
static long fill(int s, long from, long limit, int salt)
{
	static unsigned char buf[16384];
	while (from < limit) {
		long n = limit - from < (long)sizeof buf ? limit - from : (long)sizeof buf;
		for (long i = 0; i < n; i++)
			buf[i] = pattern(from + i, salt);
		ssize_t w = send(s, buf, (size_t)n, MSG_DONTWAIT);
		if (w <= 0)
			break;
		from += w;
	}
	return from;
}

/* A stalled connection, for the log: every TCP socket of this network
 * namespace as the kernel sees it, and the TCP counters whose changes tell
 * why segments were dropped or not sent. */
static void show_tcp_state(void)
{
	say("---- TCP sockets and counters at the stall:");
	if (system("ss -tinoemHa 2>&1; nstat -asz 2>&1 | grep -E '^(Tcp|TcpExt)' | awk '$2 != 0'") != 0)
		say("(ss or nstat failed)");
	say("----");
}

/* Reads exactly COUNT bytes of stream SALT from byte FROM on (10 s at
 * most); false if short or different. */
static bool drain(int s, long from, long count, int salt, const char *what)
{
	static unsigned char buf[16384];
	long got = 0;
	while (got < count) {
		struct pollfd p = {s, POLLIN, 0};
		if (poll(&p, 1, 10000) != 1) {
			CHECK(0, "%s: %ld of %ld bytes, then nothing for 10 s", what, got, count);
			show_tcp_state();
			return false;
		}
		long want = count - got < (long)sizeof buf ? count - got : (long)sizeof buf;
		ssize_t n = recv(s, buf, (size_t)want, 0);
		if (n <= 0) {
			CHECK(0, "%s: %ld of %ld bytes, then %s", what, got, count, n == 0 ? "end of file" : strerror(errno));
			return false;
		}
		for (ssize_t i = 0; i < n; i++)
			if (buf[i] != pattern(from + got + i, salt)) {
				CHECK(0, "%s: byte %ld differs", what, got + i);
				return false;
			}
		got += n;
	}
	return true;
}

static bool nothing_more(int s)
{
	char c;
	return recv(s, &c, 1, MSG_DONTWAIT) < 0 && errno == EAGAIN;
}

/* ---- carried ---- */

static int carried(void)
{
	/* Listeners. */
	int l4 = socket(AF_INET, SOCK_STREAM, 0);
	SETUP(opt(l4, SOL_SOCKET, SO_REUSEADDR, 1) == 0, "SO_REUSEADDR");
	struct sockaddr_storage ss;
	socklen_t len = any_addr(AF_INET, "0.0.0.0", 0, &ss);
	SETUP(bind(l4, (struct sockaddr *)&ss, len) == 0 && listen(l4, 7) == 0, "listen on 0.0.0.0");
	int l6 = socket(AF_INET6, SOCK_STREAM, 0);
	SETUP(l6 >= 0 && opt(l6, IPPROTO_IPV6, IPV6_V6ONLY, 1) == 0, "IPV6_V6ONLY");
	len = any_addr(AF_INET6, "::", 0, &ss);
	SETUP(bind(l6, (struct sockaddr *)&ss, len) == 0 && listen(l6, 3) == 0, "listen on ::");
	/* New and bound TCP sockets. */
	int fresh = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	struct linger lg = {1, 5};
	struct timeval rt = {1, 500000}, st = {2, 250000};
	SETUP(fresh >= 0 && opt(fresh, IPPROTO_TCP, TCP_NODELAY, 1) == 0 &&
	      setsockopt(fresh, SOL_SOCKET, SO_LINGER, &lg, sizeof lg) == 0 &&
	      setsockopt(fresh, SOL_SOCKET, SO_RCVTIMEO, &rt, sizeof rt) == 0 &&
	      setsockopt(fresh, SOL_SOCKET, SO_SNDTIMEO, &st, sizeof st) == 0, "options of the new TCP socket");
	int tcp_bound = bound(AF_INET, SOCK_STREAM, "127.0.0.1");
	/* UDP. */
	int ua = socket(AF_INET, SOCK_DGRAM, 0);
	SETUP(ua >= 0 && opt(ua, SOL_SOCKET, SO_BROADCAST, 1) == 0 && opt(ua, SOL_SOCKET, SO_RCVBUF, 65536) == 0 &&
	      opt(ua, IPPROTO_IP, IP_TOS, 0x10) == 0, "UDP options");
	len = any_addr(AF_INET, "127.0.0.1", 0, &ss);
	SETUP(bind(ua, (struct sockaddr *)&ss, len) == 0, "bind UDP");
	int ub = bound(AF_INET, SOCK_DGRAM, "127.0.0.1");
	len = any_addr(AF_INET, "127.0.0.1", port_of(ub), &ss);
	SETUP(connect(ua, (struct sockaddr *)&ss, len) == 0, "connect UDP");
	int u6 = bound(AF_INET6, SOCK_DGRAM, "::1");
	/* Connections with data both ways. */
	int c4, s4, c6, s6, l4conn;
	pair(AF_INET, &c4, &s4, &l4conn);
	SETUP(opt(c4, SOL_SOCKET, SO_KEEPALIVE, 1) == 0 && opt(c4, IPPROTO_TCP, TCP_KEEPIDLE, 77) == 0 &&
	      opt(c4, IPPROTO_TCP, TCP_KEEPINTVL, 9) == 0 && opt(c4, IPPROTO_TCP, TCP_KEEPCNT, 4) == 0 &&
	      opt(c4, IPPROTO_TCP, TCP_NODELAY, 1) == 0, "keepalive options");
	SETUP(opt(c4, SOL_SOCKET, SO_SNDBUF, 65536) == 0 && opt(s4, SOL_SOCKET, SO_RCVBUF, 65536) == 0,
	      "small buffers, so that the client's fills");
	long to_server = fill(c4, 0, BIG, 1);
	SETUP(to_server > 0 && to_server < BIG, "filling the IPv4 connection");
	long to_client = fill(s4, 0, TO_CLIENT, 2);
	SETUP(to_client == TO_CLIENT, "writing to the IPv4 client");
	SETUP(dup2(s4, 50) == 50, "dup2");
	pair(AF_INET6, &c6, &s6, NULL);
	SETUP(fill(c6, 0, 1000, 3) == 1000 && fill(s6, 0, 2000, 4) == 2000, "writing over IPv6");

	/* Datagrams queued: on ua from ub (its peer); on a socket bound to
	 * the IPv4 wildcard from ub and from a sender since closed; on u6 a
	 * large one; on a dual-stack socket on :: one over IPv4. */
	int uw = bound(AF_INET, SOCK_DGRAM, "0.0.0.0"), ud = socket(AF_INET6, SOCK_DGRAM, 0);
	SETUP(ud >= 0 && opt(ud, IPPROTO_IPV6, IPV6_V6ONLY, 0) == 0, "a dual-stack UDP socket");
	len = any_addr(AF_INET6, "::", 0, &ss);
	SETUP(bind(ud, (struct sockaddr *)&ss, len) == 0, "bind the dual-stack socket");
	int gone = bound(AF_INET, SOCK_DGRAM, "127.0.0.1"), from6 = bound(AF_INET6, SOCK_DGRAM, "::1");
	queue_datagram(ub, ua, "127.0.0.1", 0, 0);
	queue_datagram(ub, ua, "127.0.0.1", 1, 0);
	queue_datagram(ub, uw, "127.0.0.1", 2, 0);
	queue_datagram(gone, uw, "127.0.0.1", 3, 0);
	queue_datagram(from6, u6, "::1", 4, 40000);
	queue_datagram(gone, ud, "127.0.0.1", 5, 0);
	close(gone);
	close(from6);

	int all[] = {l4, l6, fresh, tcp_bound, ua, ub, u6, c4, s4, 50, l4conn, c6, s6, uw, ud};
	for (size_t i = 0; i < sizeof all / sizeof *all; i++)
		remember(all[i]);
	char text[64];
	snprintf(text, sizeof text, "port4 %d\nport6 %d\n", port_of(l4), port_of(l6));
	char path[4096];
	snprintf(path, sizeof path, "%s/ports", dir);
	int f = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	SETUP(f >= 0 && write(f, text, strlen(text)) == (ssize_t)strlen(text) && close(f) == 0, "writing the ports");
	struct fd_set_snapshot fds_before;
	fd_snapshot(&fds_before);
	say("ready");
	usr1_wait();
	fd_check_same(&fds_before);
	compare_all();

	/* The connections: what was queued, complete and in order, then more. */
	struct pollfd pw = {c4, POLLOUT, 0};
	drain(s4, 0, to_server, 1, "IPv4 client to server, queued");
	CHECK(poll(&pw, 1, EVENT_MS) == 1, "the IPv4 client cannot write again");
	long more = fill(c4, to_server, to_server + 1000, 1);
	CHECK(more == to_server + 1000, "the IPv4 client wrote %ld of 1000 bytes", more - to_server);
	drain(50, to_server, more - to_server, 1, "IPv4 client to server, after the move (through the dup)");
	CHECK(nothing_more(s4), "more data from the IPv4 client than written");
	drain(c4, 0, to_client, 2, "IPv4 server to client, queued");
	CHECK(nothing_more(c4), "more data from the IPv4 server than written");
	drain(s6, 0, 1000, 3, "IPv6 client to server");
	drain(c6, 0, 2000, 4, "IPv6 server to client");
	CHECK(fill(s6, 0, 500, 5) == 500 && drain(c6, 0, 500, 5, "IPv6 server to client, after the move"), "IPv6 again");
	/* The queued datagrams, in order, from their senders. */
	for (int k = 0; k < nqueued; k++)
		check_queued(k);
	/* UDP, both ways, with the sender's address. */
	CHECK(send(ua, "ping", 4, 0) == 4, "UDP send: %s", strerror(errno));
	char buf[64];
	struct sockaddr_storage from;
	socklen_t flen = sizeof from;
	struct pollfd pu = {ub, POLLIN, 0};
	CHECK(poll(&pu, 1, EVENT_MS) == 1 && recvfrom(ub, buf, sizeof buf, 0, (struct sockaddr *)&from, &flen) == 4 &&
	      memcmp(buf, "ping", 4) == 0, "UDP datagram not received");
	CHECK(flen == snaps[4].name_len && memcmp(&from, &snaps[4].name, flen) == 0, "UDP sender address differs");
	CHECK(sendto(ub, "pong", 4, 0, (struct sockaddr *)&from, flen) == 4, "UDP reply");
	pu.fd = ua;
	CHECK(poll(&pu, 1, EVENT_MS) == 1 && recv(ua, buf, sizeof buf, 0) == 4 && memcmp(buf, "pong", 4) == 0,
	      "UDP reply not received");
	/* The listeners: the test's connection, then one of our own over IPv6. */
	struct pollfd pl = {l4, POLLIN, 0};
	CHECK(poll(&pl, 1, 20000) == 1, "no connection to the IPv4 listener within 20 s");
	int a = accept(l4, NULL, NULL);
	CHECK(a >= 0, "accept: %s", strerror(errno));
	ssize_t n = 0;
	pl.fd = a;
	if (a >= 0 && poll(&pl, 1, 10000) == 1)
		n = recv(a, buf, sizeof buf - 1, 0);
	CHECK(n > 0, "nothing read from the test's connection");
	if (n > 0) {
		buf[n] = 0;
		char reply[128];
		snprintf(reply, sizeof reply, "hello %s", buf);
		CHECK(send(a, reply, strlen(reply), 0) == (ssize_t)strlen(reply), "reply to the test");
	}
	int c = socket(AF_INET6, SOCK_STREAM, 0);
	len = any_addr(AF_INET6, "::1", port_of(l6), &ss);
	CHECK(c >= 0 && connect(c, (struct sockaddr *)&ss, len) == 0, "connect to the IPv6 listener: %s", strerror(errno));
	int a6 = accept(l6, NULL, NULL);
	CHECK(a6 >= 0 && send(c, "x", 1, 0) == 1 && recv(a6, buf, 1, 0) == 1, "the IPv6 listener's connection");
	return tp_finish();
}

/* ---- carried: an IPv4 client of a dual-stack listener ---- */

static bool read_stream(int s, const char *want);

/* Both ends in the process: the client an IPv4 socket, the accepted one
 * IPv6, seeing it as ::ffff:127.0.0.1.  Unread data both ways, then new
 * data, after the move. */
static int dualstack(void)
{
	int l = socket(AF_INET6, SOCK_STREAM, 0);
	struct sockaddr_storage ss;
	socklen_t len = any_addr(AF_INET6, "::", 0, &ss);
	SETUP(l >= 0 && opt(l, IPPROTO_IPV6, IPV6_V6ONLY, 0) == 0 && bind(l, (struct sockaddr *)&ss, len) == 0 &&
	      listen(l, 4) == 0, "a dual-stack listener");
	int c = socket(AF_INET, SOCK_STREAM, 0);
	len = any_addr(AF_INET, "127.0.0.1", port_of(l), &ss);
	SETUP(c >= 0 && connect(c, (struct sockaddr *)&ss, len) == 0, "connect over IPv4");
	int a = accept(l, NULL, NULL);
	SETUP(a >= 0, "accept");
	SETUP(send(c, "ping", 4, 0) == 4 && send(a, "pong!", 5, 0) == 5, "writing both ways");
	/* A window clamp the program set, and the kernel's own on the other end. */
	SETUP(opt(a, IPPROTO_TCP, TCP_WINDOW_CLAMP, 30000) == 0, "TCP_WINDOW_CLAMP");
	int clamp[2];
	socklen_t cl = sizeof clamp[0];
	SETUP(getsockopt(a, IPPROTO_TCP, TCP_WINDOW_CLAMP, &clamp[0], &cl) == 0 &&
	      getsockopt(c, IPPROTO_TCP, TCP_WINDOW_CLAMP, &clamp[1], &cl) == 0, "TCP_WINDOW_CLAMP");
	remember(c);
	remember(a);
	say("ready");
	usr1_wait();
	compare_all();
	for (int k = 0; k < 2; k++) {
		int now = 0;
		CHECK(getsockopt(k ? c : a, IPPROTO_TCP, TCP_WINDOW_CLAMP, &now, &cl) == 0 && now == clamp[k],
		      "TCP_WINDOW_CLAMP of the %s is %d, was %d", k ? "client" : "accepted end", now, clamp[k]);
	}
	CHECK(read_stream(a, "ping") && read_stream(c, "pong!"), "the unread data");
	CHECK(send(a, "more", 4, 0) == 4 && read_stream(c, "more"), "new data");
	return tp_finish();
}

/* ---- carried: options the kernel sets as well as the program ---- */

static void udp_pair(int fds[2]);

struct kset {
	int fd, level, name, want;
	const char *text;
};

static int kernelset(void)
{
	int c, a, l, u[2], fresh = socket(AF_INET, SOCK_DGRAM, 0), tb = bound(AF_INET, SOCK_STREAM, "127.0.0.1");
	pair(AF_INET, &c, &a, &l);
	udp_pair(u);
	queue_datagram(u[1], u[0], "127.0.0.1", 6, 0);
	SETUP(fresh >= 0, "socket");
	const struct kset want[] = {
		{l, SOL_SOCKET, SO_INCOMING_CPU, 1001, "the listener's SO_INCOMING_CPU"},
		{u[0], SOL_SOCKET, SO_INCOMING_CPU, 1002, "the connected UDP socket's SO_INCOMING_CPU"},
		{c, SOL_SOCKET, SO_INCOMING_CPU, 1003, "the client's SO_INCOMING_CPU"},
		{a, SOL_SOCKET, SO_INCOMING_CPU, -1, "the accepted end's SO_INCOMING_CPU"},
		{fresh, SOL_SOCKET, SO_INCOMING_CPU, -1, "the new UDP socket's SO_INCOMING_CPU"},
		{tb, SOL_SOCKET, SO_INCOMING_CPU, 1004, "the bound TCP socket's SO_INCOMING_CPU"},
		{tb, IPPROTO_TCP, TCP_QUICKACK, 0, "the bound TCP socket's TCP_QUICKACK"},
		{l, IPPROTO_TCP, TCP_QUICKACK, 0, "the listener's TCP_QUICKACK"},
		{c, IPPROTO_TCP, TCP_QUICKACK, 0, "the client's TCP_QUICKACK"},
		{a, IPPROTO_TCP, TCP_QUICKACK, 1, "the accepted end's TCP_QUICKACK"},
	};
	int n = (int)(sizeof want / sizeof *want), v;
	socklen_t vl = sizeof v;
	for (int i = 0; i < n; i++)
		SETUP((want[i].fd == fresh || want[i].want == 1 || opt(want[i].fd, want[i].level, want[i].name, want[i].want) == 0) &&
		      getsockopt(want[i].fd, want[i].level, want[i].name, &v, &vl) == 0 && v == want[i].want, want[i].text);
	/* Not the connection's ends: their TCP_MAXSEG, derived again, may
	 * differ before they carried data. */
	int all[] = {l, u[0], u[1], fresh, tb};
	for (size_t i = 0; i < sizeof all / sizeof *all; i++)
		remember(all[i]);
	say("ready");
	usr1_wait();
	for (int i = 0; i < n; i++)
		CHECK(getsockopt(want[i].fd, want[i].level, want[i].name, &v, &vl) == 0 && v == want[i].want,
		      "%s is %d, was %d", want[i].text, v, want[i].want);
	compare_all();
	/* The listener's ACK mode is its connections' from the start. */
	int c2 = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_storage ss;
	socklen_t len = any_addr(AF_INET, "127.0.0.1", port_of(l), &ss);
	CHECK(c2 >= 0 && connect(c2, (struct sockaddr *)&ss, len) == 0, "connect to the listener: %s", strerror(errno));
	int a2 = accept(l, NULL, NULL);
	CHECK(a2 >= 0 && getsockopt(a2, IPPROTO_TCP, TCP_QUICKACK, &v, &vl) == 0 && v == 0,
	      "the listener's new connection has TCP_QUICKACK %d, not 0", v);
	check_queued(0);
	CHECK(send(c, "ping", 4, 0) == 4 && read_stream(a, "ping") && send(a, "pong", 4, 0) == 4 && read_stream(c, "pong"),
	      "the connection after the move");
	return tp_finish();
}

/* A UDP socket holding an empty datagram and then "tail", both from
 * another socket; the empty one peeked (a plain peek: the kernel marks it
 * shown) where PEEKED. */
static int empty_head(bool peeked)
{
	int a = bound(AF_INET, SOCK_DGRAM, "127.0.0.1"), b = bound(AF_INET, SOCK_DGRAM, "127.0.0.1");
	struct sockaddr_storage ss;
	socklen_t len = any_addr(AF_INET, "127.0.0.1", port_of(b), &ss);
	SETUP(sendto(a, "", 0, 0, (struct sockaddr *)&ss, len) == 0 && sendto(a, "tail", 4, 0, (struct sockaddr *)&ss, len) == 4,
	      "sendto");
	char buf[16];
	SETUP(!peeked || recv(b, buf, sizeof buf, MSG_PEEK | MSG_DONTWAIT) == 0, "peeking the empty datagram");
	return b;
}

/* S's queue as empty_head left it: a peek at offset 0 shows the empty
 * datagram where no peek has (PEEKED false), skips it to "tail" where one
 * has; reads then take both. */
static void check_empty_head(int s, bool peeked)
{
	char buf[16];
	ssize_t n = opt(s, SOL_SOCKET, SO_PEEK_OFF, 0) == 0 ? recv(s, buf, sizeof buf, MSG_PEEK | MSG_DONTWAIT) : -2;
	CHECK(n == (peeked ? 4 : 0), "a peek at offset 0 read %zd bytes: the empty head datagram is %s", n,
	      peeked ? "not marked as peeked, as it was" : "marked as peeked, which it was not");
	CHECK(opt(s, SOL_SOCKET, SO_PEEK_OFF, -1) == 0 && recv(s, buf, sizeof buf, MSG_DONTWAIT) == 0 &&
	      recv(s, buf, sizeof buf, MSG_DONTWAIT) == 4 && memcmp(buf, "tail", 4) == 0,
	      "the queued datagrams, the empty one first");
}

/* An empty datagram at the head of a UDP socket's queue that the program
 * peeked (marked): carried so. */
static int udpheadpeeked(void)
{
	int s = empty_head(true);
	say("ready");
	usr1_wait();
	check_empty_head(s, true);
	return tp_finish();
}

/* New TCP and UDP sockets, without a port, shut down for writing (which
 * answers ENOTCONN but marks them all the same) next to ones that are not:
 * a shut one's datagram and the data it sends once connected fail with
 * EPIPE, the others' go. */
static int shutwr(void)
{
	int t[2], u[2];
	for (int i = 0; i < 2; i++) {
		t[i] = socket(AF_INET, SOCK_STREAM, 0);
		u[i] = socket(AF_INET, SOCK_DGRAM, 0);
		SETUP(t[i] >= 0 && u[i] >= 0, "socket");
		remember(t[i]);
		remember(u[i]);
	}
	SETUP(shutdown(t[1], SHUT_WR) < 0 && errno == ENOTCONN && shutdown(u[1], SHUT_WR) < 0 && errno == ENOTCONN,
	      "shutdown(SHUT_WR) of sockets without a port");
	say("ready");
	usr1_wait();
	compare_all();
	int r = bound(AF_INET, SOCK_DGRAM, "127.0.0.1"), l = bound(AF_INET, SOCK_STREAM, "127.0.0.1");
	CHECK(listen(l, 4) == 0, "listen");
	struct sockaddr_storage ss;
	for (int i = 0; i < 2; i++) {
		const char *was = i ? "shut down" : "not shut down";
		socklen_t len = any_addr(AF_INET, "127.0.0.1", port_of(r), &ss);
		ssize_t n = sendto(u[i], "d", 1, MSG_NOSIGNAL, (struct sockaddr *)&ss, len);
		CHECK(i ? n < 0 && errno == EPIPE : n == 1, "the UDP socket %s: sendto gives %zd (%s)", was, n,
		      n < 0 ? strerror(errno) : "sent");
		len = any_addr(AF_INET, "127.0.0.1", port_of(l), &ss);
		CHECK(connect(t[i], (struct sockaddr *)&ss, len) == 0, "connect: %s", strerror(errno));
		n = send(t[i], "s", 1, MSG_NOSIGNAL);
		CHECK(i ? n < 0 && errno == EPIPE : n == 1, "the TCP socket %s, connected: send gives %zd (%s)", was, n,
		      n < 0 ? strerror(errno) : "sent");
	}
	return tp_finish();
}

static int mss(void)
{
	int c, a, c2, a2;
	pair(AF_INET, &c, &a, NULL);
	pair(AF_INET, &c2, &a2, NULL);
	SETUP(send(c2, "ping", 4, 0) == 4 && read_stream(a2, "ping") && send(a2, "pong", 4, 0) == 4 &&
	      read_stream(c2, "pong"), "data both ways");
	SETUP(opt(a2, IPPROTO_TCP, TCP_MAXSEG, 1000) == 0, "TCP_MAXSEG on the connection");
	const int set[2] = {1200, 536};
	int ls[2];
	for (int k = 0; k < 2; k++) {
		ls[k] = bound(AF_INET, SOCK_STREAM, "127.0.0.1");
		SETUP(opt(ls[k], IPPROTO_TCP, TCP_MAXSEG, set[k]) == 0 && listen(ls[k], 4) == 0, "TCP_MAXSEG on a listener");
		remember(ls[k]);
	}
	int before[2];
	socklen_t vl = sizeof before[0];
	SETUP(getsockopt(c, IPPROTO_TCP, TCP_MAXSEG, &before[0], &vl) == 0 &&
	      getsockopt(a, IPPROTO_TCP, TCP_MAXSEG, &before[1], &vl) == 0, "TCP_MAXSEG");
	remember(c);
	remember(a);
	remember(c2);
	remember(a2);
	say("ready");
	usr1_wait();
	compare_all();
	for (int k = 0; k < 2; k++) {
		int now = 0;
		CHECK(getsockopt(k ? a : c, IPPROTO_TCP, TCP_MAXSEG, &now, &vl) == 0 && now == before[k],
		      "TCP_MAXSEG of the %s before any data is %d, was %d", k ? "accepted end" : "client", now, before[k]);
	}
	CHECK(send(c, "x", 1, 0) == 1 && read_stream(a, "x") && send(a, "y", 1, 0) == 1 && read_stream(c, "y"),
	      "the idle connection carries data both ways");
	/* Reset by its peer (SO_LINGER 0, close), the connection ends: its
	 * TCP_MAXSEG then shows the MSS the program set. */
	struct linger hard = {1, 0};
	SETUP(setsockopt(c2, SOL_SOCKET, SO_LINGER, &hard, sizeof hard) == 0 && close(c2) == 0, "reset");
	struct pollfd p = {a2, POLLIN, 0};
	char byte;
	CHECK(poll(&p, 1, EVENT_MS) == 1 && recv(a2, &byte, 1, MSG_DONTWAIT) < 0 && errno == ECONNRESET,
	      "the connection reset by its peer");
	int ended = 0;
	CHECK(getsockopt(a2, IPPROTO_TCP, TCP_MAXSEG, &ended, &vl) == 0 && ended == 1000,
	      "the ended connection's TCP_MAXSEG is %d, not the 1000 set (the user MSS)", ended);
	/* The listeners' MSS bounds what they announce to a client. */
	for (int k = 0; k < 2; k++) {
		struct sockaddr_storage ss;
		socklen_t len = any_addr(AF_INET, "127.0.0.1", port_of(ls[k]), &ss);
		int cl = socket(AF_INET, SOCK_STREAM, 0), got = 0;
		SETUP(cl >= 0 && connect(cl, (struct sockaddr *)&ss, len) == 0, "connect");
		int ac = accept(ls[k], NULL, NULL);
		CHECK(ac >= 0 && getsockopt(cl, IPPROTO_TCP, TCP_MAXSEG, &got, &vl) == 0 && got <= set[k],
		      "a client of the listener with TCP_MAXSEG %d set sends segments of %d (the user MSS)", set[k], got);
		close(cl);
		if (ac >= 0)
			close(ac);
	}
	return tp_finish();
}

/* ---- refused: state of a socket no option shows ---- */

/* Reads WANT from stream S, across urgent marks (5 s at most). */
static bool read_stream(int s, const char *want)
{
	char buf[32];
	size_t got = 0, len = strlen(want);
	while (got < len) {
		struct pollfd p = {s, POLLIN, 0};
		ssize_t n = poll(&p, 1, EVENT_MS) == 1 ? recv(s, buf + got, len - got, MSG_DONTWAIT) : -1;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	return got == len && memcmp(buf, want, len) == 0;
}

/* Two UDP sockets on 127.0.0.1, the first connected to the second. */
static void udp_pair(int fds[2])
{
	fds[0] = bound(AF_INET, SOCK_DGRAM, "127.0.0.1");
	fds[1] = bound(AF_INET, SOCK_DGRAM, "127.0.0.1");
	struct sockaddr_storage ss;
	socklen_t len = any_addr(AF_INET, "127.0.0.1", port_of(fds[1]), &ss);
	SETUP(connect(fds[0], (struct sockaddr *)&ss, len) == 0, "connect");
}

/* urgentsent: the bytes written before the urgent byte. */
static long before_urgent;

/* Sets up MODE in fds (false: not one of these modes). */
static bool state_setup(const char *mode, int fds[2])
{
	struct pollfd p = {-1, 0, 0};
	struct sockaddr_storage ss;
	socklen_t len;
	if (strcmp(mode, "urgent") == 0 || strcmp(mode, "urgentread") == 0) {
		pair(AF_INET, &fds[0], &fds[1], NULL);
		p = (struct pollfd){fds[1], POLLPRI, 0};
		SETUP(send(fds[0], "abc", 3, 0) == 3 && send(fds[0], "X", 1, MSG_OOB) == 1 && send(fds[0], "def", 3, 0) == 3 &&
		      poll(&p, 1, EVENT_MS) == 1, "urgent data");
		char c = 0;
		if (strcmp(mode, "urgentread") == 0)
			SETUP(recv(fds[1], &c, 1, MSG_OOB) == 1 && c == 'X', "reading the urgent byte");
	} else if (strcmp(mode, "urgentsent") == 0) {
		/* The peer reads nothing into a small buffer: the urgent byte
		 * waits in the send queue behind bytes it has no room for. */
		pair(AF_INET, &fds[0], &fds[1], NULL);
		SETUP(opt(fds[1], SOL_SOCKET, SO_RCVBUF, 4096) == 0 && opt(fds[0], SOL_SOCKET, SO_SNDBUF, 1 << 20) == 0,
		      "the buffers");
		before_urgent = fill(fds[0], 0, 64 << 10, 8);
		SETUP(before_urgent == 64 << 10 && send(fds[0], "X", 1, MSG_OOB | MSG_DONTWAIT) == 1, "urgent data");
	} else if (strcmp(mode, "reuseportbpf") == 0) {
		/* Two listeners sharing a port; the program gives every connection
		 * to the second. */
		struct sock_filter code[] = {{BPF_RET | BPF_K, 0, 0, 1}};
		struct sock_fprog prog = {1, code};
		len = any_addr(AF_INET, "127.0.0.1", 0, &ss);
		for (int i = 0; i < 2; i++) {
			fds[i] = socket(AF_INET, SOCK_STREAM, 0);
			SETUP(fds[i] >= 0 && opt(fds[i], SOL_SOCKET, SO_REUSEPORT, 1) == 0 &&
			      bind(fds[i], (struct sockaddr *)&ss, len) == 0 && listen(fds[i], 4) == 0, "a listener");
			len = any_addr(AF_INET, "127.0.0.1", port_of(fds[0]), &ss);
		}
		SETUP(setsockopt(fds[0], SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog, sizeof prog) == 0,
		      "SO_ATTACH_REUSEPORT_CBPF");
	} else if (strcmp(mode, "soerror") == 0) {
		udp_pair(fds);
		close(fds[1]);
		fds[1] = -1;
		p = (struct pollfd){fds[0], 0, 0};
		SETUP(send(fds[0], "x", 1, 0) == 1 && poll(&p, 1, EVENT_MS) == 1 && (p.revents & POLLERR), "an ICMP error");
	} else if (strcmp(mode, "udpcork") == 0 || strcmp(mode, "udpmore") == 0) {
		udp_pair(fds);
		bool cork = strcmp(mode, "udpcork") == 0;
		SETUP(!cork || opt(fds[0], IPPROTO_UDP, UDP_CORK, 1) == 0, "UDP_CORK");
		SETUP(send(fds[0], "abc", 3, cork ? 0 : MSG_MORE) == 3, "corked bytes");
	} else if (strcmp(mode, "udpshutwr") == 0) {
		udp_pair(fds);
		SETUP(shutdown(fds[0], SHUT_WR) == 0, "shutdown");
	} else if (strcmp(mode, "udpshutrdwr") == 0) {
		/* Unconnected: ENOTCONN, but the socket is shut down all the same. */
		fds[0] = bound(AF_INET, SOCK_DGRAM, "127.0.0.1");
		SETUP(shutdown(fds[0], SHUT_RDWR) < 0 && errno == ENOTCONN, "shutdown");
	} else if (strcmp(mode, "tcpshutrd") == 0) {
		pair(AF_INET, &fds[0], &fds[1], NULL);
		SETUP(shutdown(fds[0], SHUT_RD) == 0, "shutdown");
	} else if (strcmp(mode, "udpsameport") == 0) {
		/* SO_REUSEADDR: the kernel gives a datagram to the socket bound last. */
		int first = socket(AF_INET, SOCK_DGRAM, 0);
		fds[1] = socket(AF_INET, SOCK_DGRAM, 0);
		len = any_addr(AF_INET, "127.0.0.1", 0, &ss);
		SETUP(first >= 0 && fds[1] >= 0 && opt(first, SOL_SOCKET, SO_REUSEADDR, 1) == 0 &&
		      opt(fds[1], SOL_SOCKET, SO_REUSEADDR, 1) == 0 && bind(first, (struct sockaddr *)&ss, len) == 0, "bind");
		len = any_addr(AF_INET, "127.0.0.1", port_of(first), &ss);
		SETUP(bind(fds[1], (struct sockaddr *)&ss, len) == 0, "bind to the same port");
		fds[0] = first;
	} else if (strcmp(mode, "v6ipttl") == 0) { /* IPv4 options of an IPv6 socket serve its IPv4 traffic */
		fds[0] = bound(AF_INET6, SOCK_DGRAM, "::");
		SETUP(opt(fds[0], IPPROTO_IP, IP_TTL, 33) == 0, "IP_TTL");
	} else if (strcmp(mode, "ipoptions") == 0) { /* bytes, not an integer */
		fds[0] = bound(AF_INET, SOCK_DGRAM, "127.0.0.1");
		static const unsigned char nops[4] = {1, 1, 1, 0};
		SETUP(setsockopt(fds[0], IPPROTO_IP, IP_OPTIONS, nops, sizeof nops) == 0, "IP_OPTIONS");
	} else if (strcmp(mode, "udpsegment") == 0) {
		fds[0] = bound(AF_INET, SOCK_DGRAM, "127.0.0.1");
		SETUP(opt(fds[0], IPPROTO_UDP, UDP_SEGMENT, 1000) == 0, "UDP_SEGMENT");
	} else {
		return false;
	}
	return true;
}

/* After the refusal: the state MODE set up is still there. */
static void state_check(const char *mode, const int fds[2])
{
	char c = 0;
	int e = 0;
	socklen_t el = sizeof e;
	struct pollfd p = {fds[0], POLLRDHUP, 0};
	if (strcmp(mode, "urgent") == 0) {
		CHECK(recv(fds[1], &c, 1, MSG_OOB) == 1 && c == 'X', "the urgent byte");
		CHECK(read_stream(fds[1], "abcdef"), "the stream around the urgent byte");
	} else if (strcmp(mode, "urgentread") == 0) {
		CHECK(read_stream(fds[1], "abcdef"), "the stream around the urgent byte");
	} else if (strcmp(mode, "urgentsent") == 0) {
		CHECK(opt(fds[1], SOL_SOCKET, SO_RCVBUF, 1 << 20) == 0, "room to read");
		CHECK(drain(fds[1], 0, before_urgent, 8, "the bytes before the urgent byte"), "the stream");
		p = (struct pollfd){fds[1], POLLPRI, 0};
		CHECK(poll(&p, 1, EVENT_MS) == 1 && recv(fds[1], &c, 1, MSG_OOB) == 1 && c == 'X', "the urgent byte");
	} else if (strcmp(mode, "reuseportbpf") == 0) {
		struct sockaddr_storage ss;
		socklen_t len = any_addr(AF_INET, "127.0.0.1", port_of(fds[0]), &ss);
		for (int i = 0; i < 3; i++) {
			int cl = socket(AF_INET, SOCK_STREAM, 0);
			p = (struct pollfd){fds[1], POLLIN, 0};
			CHECK(cl >= 0 && connect(cl, (struct sockaddr *)&ss, len) == 0 && poll(&p, 1, EVENT_MS) == 1, "connect");
			int a = accept(fds[1], NULL, NULL);
			CHECK(a >= 0, "connection %d not given to the second listener", i);
			close(a);
			close(cl);
		}
		p = (struct pollfd){fds[0], POLLIN, 0};
		CHECK(poll(&p, 1, 0) == 0, "a connection given to the first listener");
	} else if (strcmp(mode, "soerror") == 0) {
		CHECK(getsockopt(fds[0], SOL_SOCKET, SO_ERROR, &e, &el) == 0 && e == ECONNREFUSED, "SO_ERROR %d", e);
	} else if (strcmp(mode, "udpcork") == 0 || strcmp(mode, "udpmore") == 0) {
		CHECK(send(fds[0], "def", 3, 0) == 3 && opt(fds[0], IPPROTO_UDP, UDP_CORK, 0) == 0, "the rest of the datagram");
		char buf[16];
		p = (struct pollfd){fds[1], POLLIN, 0};
		CHECK(poll(&p, 1, EVENT_MS) == 1 && recv(fds[1], buf, sizeof buf, 0) == 6 && memcmp(buf, "abcdef", 6) == 0,
		      "the corked datagram");
	} else if (strcmp(mode, "udpshutwr") == 0) {
		CHECK(send(fds[0], "x", 1, 0) < 0 && errno == EPIPE, "send after SHUT_WR: %s", strerror(errno));
	} else if (strcmp(mode, "udpshutrdwr") == 0) {
		CHECK(poll(&p, 1, 0) == 1 && (p.revents & POLLHUP), "POLLHUP after SHUT_RDWR");
	} else if (strcmp(mode, "tcpshutrd") == 0) {
		CHECK(poll(&p, 1, 0) == 1 && (p.revents & POLLRDHUP), "POLLRDHUP after SHUT_RD");
	} else if (strcmp(mode, "v6ipttl") == 0 || strcmp(mode, "udpsegment") == 0) {
		int level = mode[0] == 'v' ? IPPROTO_IP : IPPROTO_UDP;
		int name = mode[0] == 'v' ? IP_TTL : UDP_SEGMENT;
		int want = mode[0] == 'v' ? 33 : 1000;
		CHECK(getsockopt(fds[0], level, name, &e, &el) == 0 && e == want, "the option reads %d, was %d", e, want);
	} else if (strcmp(mode, "udpsameport") == 0) {
		int c = bound(AF_INET, SOCK_DGRAM, "127.0.0.1");
		struct sockaddr_storage ss;
		socklen_t len = any_addr(AF_INET, "127.0.0.1", port_of(fds[0]), &ss);
		p = (struct pollfd){fds[1], POLLIN, 0};
		CHECK(sendto(c, "q", 1, 0, (struct sockaddr *)&ss, len) == 1 && poll(&p, 1, EVENT_MS) == 1 && nothing_more(fds[0]),
		      "the datagram for both reaches the socket bound last");
	} else if (strcmp(mode, "ipoptions") == 0) {
		unsigned char got[40];
		socklen_t gl = sizeof got;
		CHECK(getsockopt(fds[0], IPPROTO_IP, IP_OPTIONS, got, &gl) == 0 && gl == 4, "IP_OPTIONS of %u bytes", gl);
	}
}

/* ---- refused ---- */

static int refused(const char *mode, const char *arg)
{
	int keep[4] = {-1, -1, -1, -1};
	int conn[2] = {-1, -1};
	if (strcmp(mode, "backlog") == 0) {
		int l = bound(AF_INET, SOCK_STREAM, "127.0.0.1");
		SETUP(listen(l, 4) == 0, "listen");
		int c = socket(AF_INET, SOCK_STREAM, 0);
		struct sockaddr_storage ss;
		socklen_t len = any_addr(AF_INET, "127.0.0.1", port_of(l), &ss);
		SETUP(c >= 0 && connect(c, (struct sockaddr *)&ss, len) == 0, "connect");
	} else if (strcmp(mode, "udpempty") == 0) {
		int a = bound(AF_INET, SOCK_DGRAM, "127.0.0.1"), b = bound(AF_INET, SOCK_DGRAM, "127.0.0.1");
		struct sockaddr_storage ss;
		socklen_t len = any_addr(AF_INET, "127.0.0.1", port_of(b), &ss);
		SETUP(sendto(a, "queued", 6, 0, (struct sockaddr *)&ss, len) == 6 &&
		      sendto(a, "", 0, 0, (struct sockaddr *)&ss, len) == 0, "sendto");
		keep[0] = b;
	} else if (strcmp(mode, "udphidden") == 0) {
		int a = bound(AF_INET, SOCK_DGRAM, "127.0.0.1"), b = bound(AF_INET, SOCK_DGRAM, "127.0.0.1");
		struct sockaddr_storage ss;
		socklen_t len = any_addr(AF_INET, "127.0.0.1", port_of(b), &ss);
		SETUP(sendto(a, "queued", 6, 0, (struct sockaddr *)&ss, len) == 6 &&
		      sendto(a, "", 0, 0, (struct sockaddr *)&ss, len) == 0 &&
		      sendto(a, "tail", 4, 0, (struct sockaddr *)&ss, len) == 4, "sendto");
		char buf[16];
		SETUP(opt(b, SOL_SOCKET, SO_PEEK_OFF, 6) == 0 && recv(b, buf, sizeof buf, MSG_PEEK | MSG_DONTWAIT) == 0 &&
		      opt(b, SOL_SOCKET, SO_PEEK_OFF, -1) == 0, "the empty datagram peeked at an offset");
		keep[0] = b;
	} else if (strcmp(mode, "udphead") == 0) {
		keep[0] = empty_head(false);
	} else if (strcmp(mode, "udppeekoff") == 0) {
		int a = bound(AF_INET, SOCK_DGRAM, "127.0.0.1"), b = bound(AF_INET, SOCK_DGRAM, "127.0.0.1");
		struct sockaddr_storage ss;
		socklen_t len = any_addr(AF_INET, "127.0.0.1", port_of(b), &ss);
		SETUP(sendto(a, "queued", 6, 0, (struct sockaddr *)&ss, len) == 6, "sendto");
		SETUP(opt(b, SOL_SOCKET, SO_PEEK_OFF, 0) == 0, "SO_PEEK_OFF");
		keep[0] = b;
	} else if (strcmp(mode, "udpreuseport") == 0 || strcmp(mode, "udpforeign") == 0) {
		bool reuseport = strcmp(mode, "udpreuseport") == 0;
		int a = bound(AF_INET, SOCK_DGRAM, "127.0.0.1"), b = socket(AF_INET, SOCK_DGRAM, 0);
		struct sockaddr_storage ss;
		socklen_t len = any_addr(AF_INET, "127.0.0.1", 0, &ss);
		SETUP(b >= 0 && opt(b, SOL_SOCKET, SO_REUSEPORT, reuseport) == 0 &&
		      bind(b, (struct sockaddr *)&ss, len) == 0, "a UDP socket");
		len = any_addr(AF_INET, "127.0.0.1", port_of(b), &ss);
		struct pollfd p = {b, POLLIN, 0};
		SETUP(sendto(a, "queued", 6, 0, (struct sockaddr *)&ss, len) == 6 && poll(&p, 1, EVENT_MS) == 1, "sendto");
		if (!reuseport) { /* then connected to another */
			int c = bound(AF_INET, SOCK_DGRAM, "127.0.0.1");
			len = any_addr(AF_INET, "127.0.0.1", port_of(c), &ss);
			SETUP(connect(b, (struct sockaddr *)&ss, len) == 0, "connect");
		}
		keep[0] = b;
	} else if (strcmp(mode, "udpbig6") == 0) {
		static char big[65500];
		int a = bound(AF_INET6, SOCK_DGRAM, "::1"), b = bound(AF_INET6, SOCK_DGRAM, "::1");
		struct sockaddr_storage ss;
		socklen_t len = any_addr(AF_INET6, "::1", port_of(b), &ss);
		memset(big, 'b', sizeof big);
		struct pollfd p = {b, POLLIN, 0};
		SETUP(sendto(a, big, sizeof big, 0, (struct sockaddr *)&ss, len) == (ssize_t)sizeof big &&
		      poll(&p, 1, EVENT_MS) == 1, "a 65500-byte datagram over IPv6");
		keep[0] = b;
	} else if (strcmp(mode, "filter") == 0) {
		int s = bound(AF_INET, SOCK_DGRAM, "127.0.0.1");
		struct sock_filter code[] = {{BPF_RET | BPF_K, 0, 0, 0xffff}};
		struct sock_fprog prog = {1, code};
		SETUP(setsockopt(s, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog) == 0, "SO_ATTACH_FILTER");
	} else if (strcmp(mode, "ttl") == 0) {
		int s = socket(AF_INET, SOCK_STREAM, 0);
		SETUP(s >= 0 && opt(s, IPPROTO_IP, IP_TTL, 5) == 0, "IP_TTL");
	} else if (strcmp(mode, "multicast") == 0) {
		int s = bound(AF_INET, SOCK_DGRAM, "0.0.0.0");
		struct ip_mreqn m = {.imr_ifindex = 1};
		inet_pton(AF_INET, "239.1.2.3", &m.imr_multiaddr);
		SETUP(setsockopt(s, IPPROTO_IP, IP_ADD_MEMBERSHIP, &m, sizeof m) == 0, "IP_ADD_MEMBERSHIP on lo");
	} else if (strcmp(mode, "outside") == 0) {
		int l = bound(AF_INET, SOCK_STREAM, "127.0.0.1");
		SETUP(listen(l, 1) == 0, "listen");
		pid_t peer = tp_fork_peer();
		if (peer == 0) {
			int a = accept(l, NULL, NULL);
			char c;
			/* Until the test's process goes. */
			_exit(a >= 0 && read(a, &c, 1) >= 0 ? 0 : 1);
		}
		int c = socket(AF_INET, SOCK_STREAM, 0);
		struct sockaddr_storage ss;
		socklen_t len = any_addr(AF_INET, "127.0.0.1", port_of(l), &ss);
		close(l);
		SETUP(c >= 0 && connect(c, (struct sockaddr *)&ss, len) == 0, "connect to the peer process");
	} else if (strcmp(mode, "halfclosed") == 0) {
		int c, s;
		pair(AF_INET, &c, &s, NULL);
		SETUP(shutdown(c, SHUT_WR) == 0, "shutdown");
	} else if (strcmp(mode, "raw") == 0) {
		SETUP(socket(AF_INET, SOCK_RAW, IPPROTO_ICMP) >= 0, "raw socket");
	} else if (state_setup(mode, keep + 2)) {
		/* checked by state_check */
	} else if (strcmp(mode, "bound") == 0) {
		keep[0] = bound(AF_INET, SOCK_DGRAM, arg);
		pair(AF_INET, &conn[0], &conn[1], NULL);
		SETUP(fill(conn[0], 0, 3000, 6) == 3000 && fill(conn[1], 0, 4000, 7) == 4000, "writing both ways");
		for (int i = 0; i < 2; i++)
			remember(i ? conn[1] : keep[0]);
		remember(conn[0]);
	} else {
		say("FAIL: unknown mode %s", mode);
		return 2;
	}
	say("ready");
	usr1_wait();
	compare_all();
	state_check(mode, keep + 2);
	if (conn[0] >= 0) {
		drain(conn[1], 0, 3000, 6, "client to server");
		drain(conn[0], 0, 4000, 7, "server to client");
		CHECK(fill(conn[0], 3000, 3100, 6) == 3100 && drain(conn[1], 3000, 100, 6, "client to server, later"),
		      "the connection after the failed migration");
	}
	if (keep[0] >= 0 && strcmp(mode, "udpempty") == 0) {
		char buf[16];
		CHECK(recv(keep[0], buf, sizeof buf, MSG_DONTWAIT) == 6 && memcmp(buf, "queued", 6) == 0 &&
		      recv(keep[0], buf, sizeof buf, MSG_DONTWAIT) == 0, "the queued datagrams, the empty one last");
	}
	if (keep[0] >= 0 && strcmp(mode, "udphead") == 0)
		check_empty_head(keep[0], false);
	if (keep[0] >= 0 && strcmp(mode, "udphidden") == 0) {
		char buf[16];
		int off = 6;
		/* Still marked: a peek at an offset skips it; reads take all three. */
		CHECK(setsockopt(keep[0], SOL_SOCKET, SO_PEEK_OFF, &off, sizeof off) == 0 &&
		      recv(keep[0], buf, sizeof buf, MSG_PEEK | MSG_DONTWAIT) == 4 && memcmp(buf, "tail", 4) == 0,
		      "the empty datagram, marked, skipped by a peek at an offset");
		CHECK(recv(keep[0], buf, sizeof buf, MSG_DONTWAIT) == 6 && memcmp(buf, "queued", 6) == 0 &&
		      recv(keep[0], buf, sizeof buf, MSG_DONTWAIT) == 0 &&
		      recv(keep[0], buf, sizeof buf, MSG_DONTWAIT) == 4 && memcmp(buf, "tail", 4) == 0,
		      "the queued datagrams, the empty one between the others");
	}
	if (keep[0] >= 0 && (strcmp(mode, "udpreuseport") == 0 || strcmp(mode, "udpforeign") == 0 ||
			     strcmp(mode, "udppeekoff") == 0)) {
		char buf[16];
		CHECK(recv(keep[0], buf, sizeof buf, MSG_DONTWAIT) == 6 && memcmp(buf, "queued", 6) == 0,
		      "the queued datagram");
	}
	if (keep[0] >= 0 && strcmp(mode, "udpbig6") == 0) {
		static char buf[65536];
		CHECK(recv(keep[0], buf, sizeof buf, MSG_DONTWAIT) == 65500, "the queued 65500-byte datagram");
	}
	return tp_finish();
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		say("usage: inetsock MODE DIR|ARG");
		return 2;
	}
	dir = argv[2];
	usr1_setup();
	if (strcmp(argv[1], "carried") == 0)
		return carried();
	if (strcmp(argv[1], "dualstack") == 0)
		return dualstack();
	if (strcmp(argv[1], "kernelset") == 0)
		return kernelset();
	if (strcmp(argv[1], "shutwr") == 0)
		return shutwr();
	if (strcmp(argv[1], "mss") == 0)
		return mss();
	if (strcmp(argv[1], "udpheadpeeked") == 0)
		return udpheadpeeked();
	return refused(argv[1], argv[2]);
}
