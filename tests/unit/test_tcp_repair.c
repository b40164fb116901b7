/* Established TCP connections through TCP_REPAIR (sk_tcp_repair.c).
 *  - bm_tcp_repair_pair over every case of one direction, sequence
 *    numbers wrapping included;
 *  - a live loopback connection, in a network namespace of the test's own
 *    (root only, as binmig; skipped otherwise), whose sender is read with
 *    its send buffer full and its window closed, whose bytes then move to
 *    the receiver before that is read too (the kernel moves a frozen
 *    process's connections while binmig reads them, one end after the
 *    other).  Rebuilt from the two reads as bm_tcp_repair_pair has them,
 *    every byte arrives once and in order and new data flows; rebuilt with
 *    the sender's bytes still counted as unsent, the receiver's ACKs
 *    acknowledge data never sent and the connection stalls for good.  The
 *    sender's queue, rebuilt in other pieces, no longer fits its buffer:
 *    the buffer grows for the refill and has its size back after.  The
 *    segment sizes (TCP_MAXSEG) are those of the originals;
 *  - an IPv6 connection accepted by a dual-stack listener (IPV6_V6ONLY
 *    clear) on an address that is not the one the kernel would choose for
 *    its peer (as a moved address need not be: bm_sk_bind_addr): it is
 *    rebuilt bound to that address (bm_sk_bind_addr), with the address it
 *    had, and carries bytes both ways; one whose address is the kernel's
 *    choice still binds to the wildcard. */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <linux/sockios.h>

#include <cmocka.h>

#include "netaddr.h"
#include "sk_inet.h"
#include "sk_tcp_repair.h"
#include "unit_netns.h"

static void test_pair_cases(void **state)
{
	(void)state;
	/* Sent and unacknowledged: 900..960; not sent: 960..1000. */
	struct bm_sk_tcp sender = {.snd_seq = 1000, .outq = 100, .notsent = 40}, receiver = {0};
	static const struct {
		uint32_t rcv_nxt;
		enum bm_tcp_pair verdict;
		uint32_t notsent;
	} cases[] = {
		{899, BM_TCP_READ_RECEIVER_AGAIN, 40}, {900, BM_TCP_CONSISTENT, 40}, {930, BM_TCP_CONSISTENT, 40},
		{960, BM_TCP_CONSISTENT, 40},          {961, BM_TCP_CONSISTENT, 39}, {1000, BM_TCP_CONSISTENT, 0},
		{1001, BM_TCP_INCONSISTENT, 40},
	};
	for (uint32_t wrap = 0; wrap < 2; wrap++) {
		/* The second time around, write_seq lies just past 2^32. */
		uint32_t shift = wrap ? UINT32_MAX - 949 : 0;
		sender.snd_seq = 1000 + shift;
		for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
			uint32_t notsent = 12345;
			receiver.rcv_seq = cases[i].rcv_nxt + shift;
			assert_int_equal(bm_tcp_repair_pair(&sender, &receiver, &notsent), cases[i].verdict);
			assert_int_equal(notsent, cases[i].notsent);
		}
	}
}

/* ---- a live connection ---- */

static unsigned char pattern(uint64_t i)
{
	return (unsigned char)(i * 7 + i / 251);
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int ioctl_int(int s, unsigned long req)
{
	int v = -1;
	assert_int_equal(ioctl(s, req, &v), 0);
	return v;
}

static int maxseg(int s)
{
	int v = 0;
	socklen_t len = sizeof v;
	assert_int_equal(getsockopt(s, IPPROTO_TCP, TCP_MAXSEG, &v, &len), 0);
	return v;
}

/* A's port and address into *to. */
static void address_of(const struct sockaddr_storage *a, struct bm_sk_addr *to)
{
	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)a;
		to->port = ntohs(in->sin_port);
		memcpy(to->addr, &in->sin_addr, 4);
	} else {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)a;
		to->port = ntohs(in6->sin6_port);
		memcpy(to->addr, &in6->sin6_addr, 16);
	}
}

/* The state binmig reads of an established socket (sk_inet.c's part). */
static struct bm_sk_inet described(int s)
{
	struct bm_sk_inet sk = {.type = SOCK_STREAM, .protocol = IPPROTO_TCP, .state = BM_SK_CONNECTED};
	sk.opt[BM_SKO_PEEK_OFF] = -1;
	int family = 0;
	socklen_t olen = sizeof family;
	assert_int_equal(getsockopt(s, SOL_SOCKET, SO_DOMAIN, &family, &olen), 0);
	sk.family = (uint32_t)family;
	olen = sizeof sk.opt[BM_SKO_V6ONLY];
	if (family == AF_INET6)
		assert_int_equal(getsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &sk.opt[BM_SKO_V6ONLY], &olen), 0);
	olen = sizeof sk.rcvbuf;
	assert_int_equal(getsockopt(s, SOL_SOCKET, SO_RCVBUF, &sk.rcvbuf, &olen), 0);
	olen = sizeof sk.sndbuf;
	assert_int_equal(getsockopt(s, SOL_SOCKET, SO_SNDBUF, &sk.sndbuf, &olen), 0);
	struct sockaddr_storage a;
	socklen_t len = sizeof a;
	assert_int_equal(getsockname(s, (struct sockaddr *)&a, &len), 0);
	address_of(&a, &sk.local);
	len = sizeof a;
	assert_int_equal(getpeername(s, (struct sockaddr *)&a, &len), 0);
	address_of(&a, &sk.peer);
	return sk;
}

struct image {
	struct bm_sk_inet sk;
	uint8_t *sendq, *recvq;
};

static void read_end(int s, struct image *im)
{
	char why[200] = "";
	im->sk = described(s);
	int rc = bm_tcp_repair_read(s, &im->sk, &im->sendq, &im->recvq, why, sizeof why);
	if (rc != 0)
		fail_msg("bm_tcp_repair_read: %d%s", rc, why);
	im->sk.sendq = im->sendq;
	im->sk.recvq = im->recvq;
}

static int rebuilt(const struct image *im)
{
	char err[300] = "";
	int s = socket((int)im->sk.family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(s >= 0);
	/* The buffer sizes the originals had, as sk_inet.c sets them; a queue
	 * that no longer fits in them makes bm_tcp_repair_open grow them. */
	int half = im->sk.sndbuf / 2;
	assert_int_equal(setsockopt(s, SOL_SOCKET, SO_SNDBUFFORCE, &half, sizeof half), 0);
	half = im->sk.rcvbuf / 2;
	assert_int_equal(setsockopt(s, SOL_SOCKET, SO_RCVBUFFORCE, &half, sizeof half), 0);
	if (bm_tcp_repair_open(s, &im->sk, err, sizeof err) < 0)
		fail_msg("bm_tcp_repair_open: %s (outq %u, notsent %u, inq %u)", err, im->sk.tcp.outq, im->sk.tcp.notsent, im->sk.tcp.inq);
	return s;
}

/* Connection C-S (and listener L, -1: none left) moved as binmig moves
 * it: the originals go without a word, as at the source, and are rebuilt
 * from CI and SI into *c2 and *s2, out of repair mode. */
static void move(int c, int s, int l, const struct image *ci, const struct image *si, int *c2, int *s2)
{
	int on = 1;
	assert_int_equal(setsockopt(c, IPPROTO_TCP, TCP_REPAIR, &on, sizeof on), 0);
	assert_int_equal(setsockopt(s, IPPROTO_TCP, TCP_REPAIR, &on, sizeof on), 0);
	close(c);
	close(s);
	if (l >= 0)
		close(l);
	*c2 = rebuilt(ci);
	*s2 = rebuilt(si);
	char err[300] = "";
	if (bm_tcp_repair_finish(*c2, &ci->sk, err, sizeof err) < 0 || bm_tcp_repair_finish(*s2, &si->sk, err, sizeof err) < 0)
		fail_msg("bm_tcp_repair_finish: %s", err);
}

static void drop(struct image *im)
{
	free(im->sendq);
	free(im->recvq);
}

/* Reads from S until *GOT reaches WANT (bytes numbered from FROM on, each
 * checked) or nothing came for TIMEOUT_MS. */
static void receive(int s, uint64_t from, uint64_t *got, uint64_t want, int timeout_ms)
{
	static unsigned char buf[16384];
	while (*got < want) {
		struct pollfd p = {s, POLLIN, 0};
		if (poll(&p, 1, timeout_ms) != 1)
			return;
		ssize_t n = recv(s, buf, sizeof buf, MSG_DONTWAIT);
		assert_true(n > 0);
		for (ssize_t i = 0; i < n; i++)
			if (buf[i] != pattern(from + *got + (uint64_t)i))
				fail_msg("byte %llu differs", (unsigned long long)(from + *got + (uint64_t)i));
		*got += (uint64_t)n;
	}
}

/* A network namespace of the test's own, its loopback up; or the test is
 * skipped (TCP_REPAIR and a network namespace need root). */
static void private_loopback(void)
{
	if (geteuid() != 0 || unshare(CLONE_NEWNET) < 0)
		skip();
	int ifs = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct ifreq ifr = {.ifr_name = "lo"};
	assert_int_equal(ioctl(ifs, SIOCGIFFLAGS, &ifr), 0);
	ifr.ifr_flags |= IFF_UP;
	assert_int_equal(ioctl(ifs, SIOCSIFFLAGS, &ifr), 0);
	close(ifs);
}

static void test_moved_while_read(void **state)
{
	(void)state;
	private_loopback();

	/* A connection whose client wrote until its buffer was full. */
	int c, s;
	unit_loopback_connection(&c, &s);
	/* A receive buffer much smaller than the send buffer, so that bytes
	 * wait unsent whatever the machine's defaults. */
	int sndbuf = 65536, rcvbuf = 4096;
	assert_int_equal(setsockopt(c, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf), 0);
	assert_int_equal(setsockopt(s, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf), 0);
	static unsigned char buf[16384];
	uint64_t written = 0;
	for (;;) {
		for (size_t i = 0; i < sizeof buf; i++)
			buf[i] = pattern(written + i);
		ssize_t n = send(c, buf, sizeof buf, MSG_DONTWAIT);
		if (n <= 0)
			break;
		written += (uint64_t)n;
	}

	/* The client is read while bytes wait unsent behind a closed window... */
	struct image ci, si;
	int mss_c = maxseg(c), mss_s;
	read_end(c, &ci);
	assert_true(ci.sk.tcp.notsent > 0);
	/* ...then they move: the server's reader opens the window, and they
	 * are sent and acknowledged before the server is read. */
	uint64_t consumed = 0, deadline = now_ms() + 10000;
	while (ioctl_int(c, SIOCOUTQ) > 0 && now_ms() < deadline)
		receive(s, 0, &consumed, consumed + 1, 10);
	assert_int_equal(ioctl_int(c, SIOCOUTQ), 0);
	mss_s = maxseg(s);
	read_end(s, &si);

	uint32_t notsent;
	assert_int_equal(bm_tcp_repair_pair(&ci.sk.tcp, &si.sk.tcp, &notsent), BM_TCP_CONSISTENT);
	assert_true(notsent < ci.sk.tcp.notsent);
	ci.sk.tcp.notsent = notsent;
	/* The other direction never moved. */
	assert_int_equal(bm_tcp_repair_pair(&si.sk.tcp, &ci.sk.tcp, &notsent), BM_TCP_CONSISTENT);
	assert_int_equal(notsent, si.sk.tcp.notsent);

	int c2, s2;
	move(c, s, -1, &ci, &si, &c2, &s2);
	/* The segment sizes as they were (not the 524 bytes derived from the
	 * default MSS at the repair-mode connect). */
	assert_int_equal(maxseg(c2), mss_c);
	assert_int_equal(maxseg(s2), mss_s);
	/* Buffer sizes as they were, everything written once and in order,
	 * then new bytes. */
	for (int k = 0; k < 2; k++) {
		int fd = k ? s2 : c2, v = 0;
		const struct bm_sk_inet *sk = k ? &si.sk : &ci.sk;
		socklen_t vl = sizeof v;
		assert_int_equal(getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, &vl), 0);
		assert_int_equal(v, sk->sndbuf);
		assert_int_equal(getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, &vl), 0);
		assert_int_equal(v, sk->rcvbuf);
	}
	uint64_t got = 0;
	receive(s2, consumed, &got, written - consumed, 10000);
	assert_int_equal(consumed + got, written);
	for (size_t i = 0; i < 1000; i++)
		buf[i] = pattern(written + i);
	assert_int_equal(send(c2, buf, 1000, MSG_DONTWAIT), 1000);
	got = 0;
	receive(s2, written, &got, 1000, 10000);
	if (got != 1000)
		fail_msg("%llu of 1000 new bytes arrived: the rebuilt connection stalls", (unsigned long long)got);
	close(c2);
	close(s2);
	drop(&ci);
	drop(&si);
}

static struct sockaddr_in6 v6(const char *text, uint16_t port)
{
	struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_port = htons(port)};
	assert_int_equal(inet_pton(AF_INET6, text, &a.sin6_addr), 1);
	return a;
}

/* N bytes written at one end arrive at the other, in order. */
static void carries(int from, int to, uint64_t at, size_t n)
{
	static unsigned char buf[4096];
	for (size_t i = 0; i < n; i++)
		buf[i] = pattern(at + i);
	assert_int_equal(send(from, buf, n, MSG_DONTWAIT), (ssize_t)n);
	uint64_t got = 0;
	receive(to, at, &got, n, 10000);
	assert_int_equal(got, n);
}

static void test_v6_not_the_kernels_choice(void **state)
{
	(void)state;
	private_loopback();
	/* ::1 is the kernel's choice for a peer at fd00:99::1 (the peer's own
	 * address), ::100 is not. */
	struct bm_netaddr one = {.ifindex = 1, .family = AF_INET6, .prefixlen = 64};
	struct bm_netaddr moved = {.ifindex = 1, .family = AF_INET6, .prefixlen = 128};
	struct sockaddr_in6 a1 = v6("fd00:99::1", 0), a100 = v6("fd00:99::100", 0), any = v6("::", 0);
	memcpy(one.addr, &a1.sin6_addr, 16);
	memcpy(moved.addr, &a100.sin6_addr, 16);
	assert_int_equal(bm_netaddr_add(&one), 0);
	assert_int_equal(bm_netaddr_add(&moved), 0);

	int l = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0), off = 0;
	assert_int_equal(setsockopt(l, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off), 0);
	socklen_t alen = sizeof any;
	assert_int_equal(bind(l, (struct sockaddr *)&any, sizeof any), 0);
	assert_int_equal(listen(l, 1), 0);
	assert_int_equal(getsockname(l, (struct sockaddr *)&any, &alen), 0);
	a100.sin6_port = any.sin6_port;
	int c = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(bind(c, (struct sockaddr *)&a1, sizeof a1), 0);
	if (connect(c, (struct sockaddr *)&a100, sizeof a100) < 0)
		fail_msg("connect: %s", strerror(errno));
	int s = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	assert_true(s >= 0);
	carries(c, s, 0, 100);

	struct image ci, si;
	read_end(c, &ci);
	read_end(s, &si);
	assert_int_equal(si.sk.opt[BM_SKO_V6ONLY], 0);
	assert_memory_equal(si.sk.local.addr, &a100.sin6_addr, 16);
	struct bm_sk_addr at = bm_sk_bind_addr(&si.sk);
	assert_memory_equal(at.addr, &a100.sin6_addr, 16);
	/* The same socket, had it the kernel's choice, binds to the wildcard. */
	struct bm_sk_inet chosen = si.sk;
	memcpy(chosen.local.addr, &a1.sin6_addr, 16);
	static const uint8_t zero[16];
	assert_memory_equal(bm_sk_bind_addr(&chosen).addr, zero, 16);

	/* bm_tcp_repair_open checks that the local address came back. */
	int c2, s2;
	move(c, s, l, &ci, &si, &c2, &s2);
	carries(c2, s2, 100, 1000);
	carries(s2, c2, 0, 1000);
	close(c2);
	close(s2);
	drop(&ci);
	drop(&si);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pair_cases),
		cmocka_unit_test(test_moved_while_read),
		cmocka_unit_test(test_v6_not_the_kernels_choice),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
