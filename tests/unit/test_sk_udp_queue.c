/* The datagrams queued on a UDP socket (sk_udp_queue.c), in a network
 * namespace of the test's own (root only, as binmig; skipped otherwise):
 *  - read without taking them: three datagrams from two senders, a head
 *    the program had peeked already, come out in order with their
 *    senders, the socket's peek offset put back, and the queue is still
 *    there, whole;
 *  - an empty datagram behind another is refused; a queue of records
 *    damaged in any way is refused by the check;
 *  - each family's limit on a datagram's length holds, one byte more
 *    is refused by the check, at dump too (an IPv6 datagram that came
 *    in fragments), and so is a queue whose records with their headers
 *    pass the limit of a socket's state;
 *  - refused at dump: datagrams on a socket with SO_REUSEPORT, and on a
 *    connected one any from another sender than its peer;
 *  - on a socket the kernel cannot peek at an offset on (a raw socket
 *    stands in for the UDP socket of a kernel before 4.7) an empty queue
 *    is no error and a queue holding anything is refused, left whole;
 *  - sent again to a new socket on the same address (IPv4, IPv6, and
 *    IPv4 to a dual-stack socket on ::), each arrives with its bytes and
 *    its sender (among them the largest each family carries), and the
 *    socket has its buffer size and peek offset back;
 *  - live traffic reaching the new socket during the refill is no fault,
 *    but cannot stand in for a datagram sent again that is lost;
 *  - a refill waiting in vain for a datagram that does not arrive fails
 *    after its second, having used little CPU time in it. */
#include <arpa/inet.h>
#include <linux/filter.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/sock_diag.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "sk_udp_queue.h"
#include "wire.h"

static int setup_netns(void **state)
{
	(void)state;
	if (geteuid() != 0 || unshare(CLONE_NEWNET) < 0)
		return 0; /* each test skips */
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct ifreq ifr = {.ifr_name = "lo"};
	assert_int_equal(ioctl(s, SIOCGIFFLAGS, &ifr), 0);
	ifr.ifr_flags |= IFF_UP;
	assert_int_equal(ioctl(s, SIOCSIFFLAGS, &ifr), 0);
	close(s);
	return 0;
}

static bool have_netns(void)
{
	return geteuid() == 0;
}

static socklen_t addr(int family, const char *text, int port, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof *ss);
	if (family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)ss;
		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)port);
		assert_int_equal(inet_pton(AF_INET, text, &in->sin_addr), 1);
		return sizeof *in;
	}
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
	in6->sin6_family = AF_INET6;
	in6->sin6_port = htons((uint16_t)port);
	assert_int_equal(inet_pton(AF_INET6, text, &in6->sin6_addr), 1);
	return sizeof *in6;
}

static int udp(int family, const char *text, int port)
{
	int s = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(s >= 0);
	int off = 0;
	if (family == AF_INET6)
		assert_int_equal(setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off), 0);
	struct sockaddr_storage ss;
	socklen_t len = addr(family, text, port, &ss);
	assert_int_equal(bind(s, (struct sockaddr *)&ss, len), 0);
	return s;
}

static int port_of(int s)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	assert_int_equal(getsockname(s, (struct sockaddr *)&ss, &len), 0);
	return ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
					     : ((struct sockaddr_in6 *)&ss)->sin6_port);
}

static void send_to(int from, int to, const char *text, const void *data, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl = addr(strchr(text, ':') ? AF_INET6 : AF_INET, text, port_of(to), &ss);
	assert_int_equal(sendto(from, data, len, 0, (struct sockaddr *)&ss, sl), (ssize_t)len);
}

static const char *const msgs[] = {"first", "the second, longer", "3"};

/* Three datagrams on a new socket at 127.0.0.1: two from a, one from b. */
static int three(int *a, int *b)
{
	int r = udp(AF_INET, "127.0.0.1", 0);
	*a = udp(AF_INET, "127.0.0.1", 0);
	*b = udp(AF_INET, "127.0.0.1", 0);
	send_to(*a, r, "127.0.0.1", msgs[0], strlen(msgs[0]));
	send_to(*b, r, "127.0.0.1", msgs[1], strlen(msgs[1]));
	send_to(*a, r, "127.0.0.1", msgs[2], strlen(msgs[2]));
	return r;
}

static void test_read(void **state)
{
	(void)state;
	if (!have_netns())
		skip();
	int a, b, r = three(&a, &b);
	char buf[64];
	assert_int_equal(recv(r, buf, sizeof buf, MSG_PEEK), 5); /* the program peeked the head */
	/* The program peeks at offsets: refused, its offset as it was. */
	int off = 2;
	assert_int_equal(setsockopt(r, SOL_SOCKET, SO_PEEK_OFF, &off, sizeof off), 0);
	uint8_t *q;
	uint32_t len, count;
	char why[200] = "";
	assert_int_equal(bm_udp_queue_read(r, &q, &len, why, sizeof why), 1);
	assert_non_null(strstr(why, "SO_PEEK_OFF set"));
	assert_null(q);
	int now = -2;
	socklen_t nl = sizeof now;
	assert_int_equal(getsockopt(r, SOL_SOCKET, SO_PEEK_OFF, &now, &nl), 0);
	assert_int_equal(now, 2);
	off = -1;
	assert_int_equal(setsockopt(r, SOL_SOCKET, SO_PEEK_OFF, &off, sizeof off), 0);
	assert_int_equal(bm_udp_queue_read(r, &q, &len, why, sizeof why), 0);
	assert_true(bm_udp_queue_check(q, len, AF_INET, &count, why, sizeof why));
	assert_int_equal(count, 3);
	uint32_t at = 0;
	for (int k = 0; k < 3; k++) {
		const uint8_t *p = q + at;
		uint32_t n = bm_load_le32(p + 24);
		assert_int_equal(bm_load_le32(p), AF_INET);
		assert_int_equal(bm_load_le16(p + 4), port_of(k == 1 ? b : a));
		assert_int_equal(n, strlen(msgs[k]));
		assert_memory_equal(p + BM_UDP_RECORD_HDR, msgs[k], n);
		at += BM_UDP_RECORD_HDR + n;
	}
	assert_int_equal(at, len);
	assert_int_equal(getsockopt(r, SOL_SOCKET, SO_PEEK_OFF, &now, &nl), 0);
	assert_int_equal(now, -1);
	for (int k = 0; k < 3; k++)
		assert_int_equal(recv(r, buf, sizeof buf, MSG_DONTWAIT), (ssize_t)strlen(msgs[k]));
	free(q);
	/* Empty: no records. */
	assert_int_equal(bm_udp_queue_read(r, &q, &len, why, sizeof why), 0);
	assert_null(q);
	assert_int_equal(len, 0);
	free(q);
	close(a);
	close(b);
	close(r);
}

static void test_refused_and_damaged(void **state)
{
	(void)state;
	if (!have_netns())
		skip();
	int a, b, r = three(&a, &b);
	send_to(a, r, "127.0.0.1", "", 0);
	uint8_t *q;
	uint32_t len, count;
	char why[300] = "";
	assert_int_equal(bm_udp_queue_read(r, &q, &len, why, sizeof why), 1);
	assert_non_null(strstr(why, "an empty datagram behind others"));
	close(r);
	r = three(&a, &b);
	assert_int_equal(bm_udp_queue_read(r, &q, &len, why, sizeof why), 0);
	/* Every cut is refused, but at a record's end. */
	for (uint32_t cut = 1; cut < len; cut++) {
		bool end = cut == BM_UDP_RECORD_HDR + 5 || cut == 2 * BM_UDP_RECORD_HDR + 5 + 18;
		assert_int_equal(bm_udp_queue_check(q, cut, AF_INET, &count, why, sizeof why), end);
	}
	assert_false(bm_udp_queue_check(q, len, AF_INET6, &count, why, sizeof why)); /* wrong family */
	bm_store_le32(q + 24, 70000);
	assert_false(bm_udp_queue_check(q, len, AF_INET, &count, why, sizeof why));
	free(q);
	close(a);
	close(b);
	close(r);
}

/* 127.0.0.1 as a record holds it. */
static const uint8_t lo4[16] = {127, 0, 0, 1};

/* A record of LEN zero bytes at p from ADDR (16 bytes), port 9. */
static uint32_t record(uint8_t *p, uint32_t family, const uint8_t *addr, uint32_t len)
{
	memset(p, 0, BM_UDP_RECORD_HDR + len);
	bm_store_le32(p, family);
	bm_store_le16(p + 4, 9);
	memcpy(p + 8, addr, 16);
	bm_store_le32(p + 24, len);
	return BM_UDP_RECORD_HDR + len;
}

/* Each family's limit holds, one byte more does not (the 16-bit lengths
 * of the packet built at restore would wrap, or the packet not go out
 * whole); bytes that must be zero are. */
static void test_limits(void **state)
{
	(void)state;
	static uint8_t q[BM_UDP_RECORD_HDR + 65535];
	static const uint8_t v6[16] = {[15] = 1},
			     mapped[16] = {[10] = 0xff, [11] = 0xff, [12] = 127, [15] = 1};
	const struct {
		uint32_t family;
		const uint8_t *addr;
		uint32_t max;
	} cases[] = {{AF_INET, lo4, BM_UDP_MAX_V4}, {AF_INET6, v6, BM_UDP_MAX_V6}, {AF_INET6, mapped, BM_UDP_MAX_V4}};
	uint32_t count;
	char why[200] = "";
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		uint32_t len = record(q, cases[i].family, cases[i].addr, cases[i].max);
		assert_true(bm_udp_queue_check(q, len, cases[i].family, &count, why, sizeof why));
		len = record(q, cases[i].family, cases[i].addr, cases[i].max + 1);
		assert_false(bm_udp_queue_check(q, len, cases[i].family, &count, why, sizeof why));
		assert_non_null(strstr(why, "more than the"));
	}
	assert_int_equal(BM_UDP_MAX_V4, 65535 - 20 - 8);
	assert_int_equal(BM_UDP_MAX_V6, 65536 - 40 - 8);
	uint32_t len = record(q, AF_INET, lo4, 3);
	q[6] = 1; /* the u16 after the port */
	assert_false(bm_udp_queue_check(q, len, AF_INET, &count, why, sizeof why));
	record(q, AF_INET, lo4, 3);
	q[8 + 4] = 1; /* past an IPv4 address */
	assert_false(bm_udp_queue_check(q, len, AF_INET, &count, why, sizeof why));
}

/* At dump: an IPv6 datagram too big to go out again whole (it came in
 * fragments) is refused; so is a queue whose records, headers counted,
 * pass the limit of a socket's state. */
static void test_too_big(void **state)
{
	(void)state;
	if (!have_netns())
		skip();
	static char big[65500];
	memset(big, 'y', sizeof big);
	int r = udp(AF_INET6, "::1", 0), from = udp(AF_INET6, "::1", 0);
	send_to(from, r, "::1", big, sizeof big);
	uint8_t *q;
	uint32_t len;
	char why[300] = "";
	assert_int_equal(bm_udp_queue_read(r, &q, &len, why, sizeof why), 1);
	assert_non_null(strstr(why, "a datagram of 65500 bytes sent over IPv6, more than the 65488"));
	assert_int_equal(recv(r, big, sizeof big, MSG_DONTWAIT), (ssize_t)sizeof big); /* left there */
	close(r);
	close(from);
	/* 516 records of 65000 bytes: 16 bytes over, 12 under without
	 * the last one's header. */
	r = udp(AF_INET, "127.0.0.1", 0);
	from = udp(AF_INET, "127.0.0.1", 0);
	int size = 256 << 20;
	assert_int_equal(setsockopt(r, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size), 0);
	uint32_t n = 516, each = 65000;
	assert_int_equal((uint64_t)n * (BM_UDP_RECORD_HDR + each), (uint64_t)BM_SK_INET_MAX_QUEUE + 16);
	for (uint32_t k = 0; k < n; k++)
		send_to(from, r, "127.0.0.1", big, each);
	uint32_t mem[SK_MEMINFO_VARS];
	socklen_t ml = sizeof mem;
	assert_int_equal(getsockopt(r, SOL_SOCKET, SO_MEMINFO, mem, &ml), 0);
	assert_int_equal(mem[SK_MEMINFO_DROPS], 0);
	assert_int_equal(bm_udp_queue_read(r, &q, &len, why, sizeof why), 1);
	assert_non_null(strstr(why, "more than 4096 datagrams or 33554432 bytes of them"));
	close(r);
	close(from);
}

/* Refused at dump: datagrams on a socket with SO_REUSEPORT (sent again
 * they could reach another socket of its port), and on a connected one
 * any from another sender than its peer (it would not take them again):
 * a peer of another port, or address, as an IPv4 or a dual-stack socket
 * names it. */
static void test_carriable(void **state)
{
	(void)state;
	static uint8_t q[4 * (BM_UDP_RECORD_HDR + 3)];
	static const uint8_t v4b[16] = {127, 0, 0, 2},
			     mapped[16] = {[10] = 0xff, [11] = 0xff, [12] = 127, [15] = 1};
	char why[300] = "";
	struct bm_sk_inet sk = {.family = AF_INET, .type = SOCK_DGRAM, .protocol = IPPROTO_UDP, .state = BM_SK_BOUND,
				.dgrams = q, .local = {.port = 7, .addr = {127, 0, 0, 1}}};
	sk.dgram_bytes = record(q, AF_INET, lo4, 3);
	sk.dgram_bytes += record(q + sk.dgram_bytes, AF_INET, v4b, 3);
	assert_true(bm_udp_queue_carriable(&sk, why, sizeof why));
	sk.opt[BM_SKO_REUSEPORT] = 1;
	assert_false(bm_udp_queue_carriable(&sk, why, sizeof why));
	assert_non_null(strstr(why, "SO_REUSEPORT"));
	sk.opt[BM_SKO_REUSEPORT] = 0;
	sk.state = BM_SK_NEW;
	assert_false(bm_udp_queue_carriable(&sk, why, sizeof why));
	/* Connected to 127.0.0.1:9, the sender of every record() */
	sk.state = BM_SK_CONNECTED;
	sk.peer = (struct bm_sk_addr){.port = 9, .addr = {127, 0, 0, 1}};
	sk.dgram_bytes = record(q, AF_INET, lo4, 3);
	sk.dgram_bytes += record(q + sk.dgram_bytes, AF_INET, lo4, 3);
	assert_true(bm_udp_queue_carriable(&sk, why, sizeof why));
	sk.peer.port = 10;
	assert_false(bm_udp_queue_carriable(&sk, why, sizeof why));
	assert_non_null(strstr(why, "a connected UDP socket holding a datagram from 127.0.0.1:9, not from its peer "
				    "127.0.0.1:10"));
	sk.peer.port = 9;
	sk.dgram_bytes += record(q + sk.dgram_bytes, AF_INET, v4b, 3); /* the third from 127.0.0.2 */
	assert_false(bm_udp_queue_carriable(&sk, why, sizeof why));
	assert_non_null(strstr(why, "from 127.0.0.2:9"));
	/* A dual-stack socket connected to an IPv4 peer: mapped both sides. */
	sk.family = AF_INET6;
	memcpy(sk.peer.addr, mapped, 16);
	memcpy(sk.local.addr, mapped, 16);
	sk.dgram_bytes = record(q, AF_INET6, mapped, 3);
	assert_true(bm_udp_queue_carriable(&sk, why, sizeof why));
	sk.peer.addr[15] = 2;
	assert_false(bm_udp_queue_carriable(&sk, why, sizeof why));
}

static void test_without_peek_off(void **state)
{
	(void)state;
	if (!have_netns())
		skip();
	int r = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, 253), w = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, 253);
	assert_true(r >= 0 && w >= 0);
	int off = 0;
	assert_int_equal(setsockopt(r, SOL_SOCKET, SO_PEEK_OFF, &off, sizeof off), -1);
	assert_int_equal(errno, EOPNOTSUPP);
	uint8_t *q;
	uint32_t len;
	char why[300] = "";
	assert_int_equal(bm_udp_queue_read(r, &q, &len, why, sizeof why), 0);
	assert_null(q);
	struct sockaddr_storage ss;
	socklen_t sl = addr(AF_INET, "127.0.0.1", 0, &ss);
	assert_int_equal(sendto(w, "x", 1, 0, (struct sockaddr *)&ss, sl), 1);
	struct pollfd p = {r, POLLIN, 0};
	assert_int_equal(poll(&p, 1, 20000), 1);
	assert_int_equal(bm_udp_queue_read(r, &q, &len, why, sizeof why), 1);
	assert_non_null(strstr(why, "cannot read without taking them (it has no SO_PEEK_OFF for UDP"));
	char buf[64];
	assert_int_equal(recv(r, buf, sizeof buf, MSG_DONTWAIT), 21); /* still there: IP header and byte */
	close(w);
	close(r);
}

/* Reads the queue of a socket on FAMILY/TEXT with one datagram from
 * SENDER, closes it, sends it again to a new one, and receives it. */
static void round_trip(int family, const char *text, int sender_family, const char *sender_text)
{
	int r = udp(family, text, 0), from = udp(sender_family, sender_text, 0);
	static char big[BM_UDP_MAX_V4];
	size_t bigsize = sender_family == AF_INET ? BM_UDP_MAX_V4 : BM_UDP_MAX_V6; /* the largest carried */
	memset(big, 'x', sizeof big);
	send_to(from, r, strcmp(text, "::") == 0 ? "127.0.0.1" : text, "hello", 5);
	send_to(from, r, strcmp(text, "::") == 0 ? "127.0.0.1" : text, big, bigsize);
	struct bm_sk_inet sk = {.family = (uint32_t)family, .type = SOCK_DGRAM, .protocol = IPPROTO_UDP,
				.state = BM_SK_BOUND};
	sk.local.port = (uint16_t)port_of(r);
	inet_pton(family, text, sk.local.addr);
	sk.opt[BM_SKO_PEEK_OFF] = -1;
	socklen_t ol = sizeof sk.rcvbuf;
	assert_int_equal(getsockopt(r, SOL_SOCKET, SO_RCVBUF, &sk.rcvbuf, &ol), 0);
	uint8_t *q;
	char why[200] = "";
	assert_int_equal(bm_udp_queue_read(r, &q, &sk.dgram_bytes, why, sizeof why), 0);
	sk.dgrams = q;
	close(r);
	int n = udp(family, text, sk.local.port);
	char err[300] = "";
	if (bm_udp_queue_refill(n, &sk, err, sizeof err) < 0)
		fail_msg("refill: %s", err);
	static char buf[65536];
	struct sockaddr_storage got, want;
	socklen_t gl = sizeof got, wl = sizeof want;
	assert_int_equal(getsockname(from, (struct sockaddr *)&want, &wl), 0);
	for (int k = 0; k < 2; k++) {
		gl = sizeof got;
		ssize_t len = recvfrom(n, buf, sizeof buf, MSG_DONTWAIT, (struct sockaddr *)&got, &gl);
		assert_int_equal(len, k ? (ssize_t)bigsize : 5);
		assert_memory_equal(buf, k ? big : "hello", (size_t)len);
		if (family == sender_family) {
			assert_int_equal(gl, wl);
			assert_memory_equal(&got, &want, gl);
		} else { /* IPv4 to a dual-stack socket: mapped */
			const struct sockaddr_in6 *g = (const struct sockaddr_in6 *)&got;
			const struct sockaddr_in *w = (const struct sockaddr_in *)&want;
			assert_true(IN6_IS_ADDR_V4MAPPED(&g->sin6_addr));
			assert_memory_equal(&g->sin6_addr.s6_addr[12], &w->sin_addr, 4);
			assert_int_equal(g->sin6_port, w->sin_port);
		}
	}
	assert_int_equal(recv(n, buf, sizeof buf, MSG_DONTWAIT), -1);
	int v = 0;
	ol = sizeof v;
	assert_int_equal(getsockopt(n, SOL_SOCKET, SO_RCVBUF, &v, &ol), 0);
	assert_int_equal(v, sk.rcvbuf);
	assert_int_equal(getsockopt(n, SOL_SOCKET, SO_PEEK_OFF, &v, &ol), 0);
	assert_int_equal(v, -1);
	free(q);
	close(n);
	close(from);
}

static void test_refill(void **state)
{
	(void)state;
	if (!have_netns())
		skip();
	round_trip(AF_INET, "127.0.0.1", AF_INET, "127.0.0.1");
	round_trip(AF_INET, "0.0.0.0", AF_INET, "127.0.0.1");
	round_trip(AF_INET6, "::1", AF_INET6, "::1");
	round_trip(AF_INET6, "::", AF_INET, "127.0.0.1");
}

/* A UDP socket on 127.0.0.1 that drops every datagram of DROP bytes
 * (a socket filter), and its state as the refill wants it in *sk. */
static int dropping(uint32_t drop, struct bm_sk_inet *sk)
{
	int s = udp(AF_INET, "127.0.0.1", 0);
	struct sock_filter code[] = {
		{BPF_LD | BPF_W | BPF_LEN, 0, 0, 0},                   /* the UDP header and payload */
		{BPF_JMP | BPF_JEQ | BPF_K, 0, 1, 8 + drop}, {BPF_RET | BPF_K, 0, 0, 0},
		{BPF_RET | BPF_K, 0, 0, 0x40000},
	};
	struct sock_fprog prog = {sizeof code / sizeof *code, code};
	assert_int_equal(setsockopt(s, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog), 0);
	*sk = (struct bm_sk_inet){.family = AF_INET, .type = SOCK_DGRAM, .protocol = IPPROTO_UDP, .state = BM_SK_BOUND,
				  .local = {.port = (uint16_t)port_of(s), .addr = {127, 0, 0, 1}}};
	sk->opt[BM_SKO_PEEK_OFF] = -1;
	socklen_t ol = sizeof sk->rcvbuf;
	assert_int_equal(getsockopt(s, SOL_SOCKET, SO_RCVBUF, &sk->rcvbuf, &ol), 0);
	return s;
}

/* Live traffic reaching the new socket during the refill is no fault:
 * the datagrams sent again are found among it.  But it cannot stand in
 * for one of them that does not arrive (dropped by a filter here). */
static void test_refill_live(void **state)
{
	(void)state;
	if (!have_netns())
		skip();
	static uint8_t q[2 * (BM_UDP_RECORD_HDR + 7)];
	for (uint32_t second = 6; second <= 7; second++) { /* 7 bytes are dropped */
		struct bm_sk_inet sk;
		int s = dropping(7, &sk), live = udp(AF_INET, "127.0.0.1", 0);
		sk.dgrams = q;
		sk.dgram_bytes = record(q, AF_INET, lo4, 5);
		sk.dgram_bytes += record(q + sk.dgram_bytes, AF_INET, lo4, second);
		q[BM_UDP_RECORD_HDR] = 'a';
		send_to(live, s, "127.0.0.1", "live", 4);
		char err[300] = "";
		int rc = bm_udp_queue_refill(s, &sk, err, sizeof err);
		if (second == 7) {
			assert_int_equal(rc, -1);
			assert_non_null(strstr(err, "1 of its 2 queued datagrams arrived again (2 datagrams there)"));
		} else {
			if (rc < 0)
				fail_msg("refill: %s", err);
			char buf[16];
			struct sockaddr_in from;
			socklen_t fl = sizeof from;
			assert_int_equal(recv(s, buf, sizeof buf, MSG_DONTWAIT), 4);
			assert_memory_equal(buf, "live", 4);
			assert_int_equal(recvfrom(s, buf, sizeof buf, MSG_DONTWAIT, (struct sockaddr *)&from, &fl), 5);
			assert_int_equal(buf[0], 'a');
			assert_int_equal(ntohs(from.sin_port), 9);
			assert_int_equal(recv(s, buf, sizeof buf, MSG_DONTWAIT), 6);
			assert_int_equal(recv(s, buf, sizeof buf, MSG_DONTWAIT), -1);
		}
		close(live);
		close(s);
	}
}

/* A refill that waits in vain (the last of 2001 datagrams is dropped)
 * fails after its second, having looked at what arrived once, not again
 * each millisecond (no time is measured: the count says it). */
static void test_refill_wait_cheap(void **state)
{
	(void)state;
	if (!have_netns())
		skip();
	static uint8_t q[2001 * (BM_UDP_RECORD_HDR + 7)];
	struct bm_sk_inet sk;
	int s = dropping(7, &sk);
	uint32_t len = 0;
	for (int k = 0; k < 2000; k++)
		len += record(q + len, AF_INET, lo4, 5);
	len += record(q + len, AF_INET, lo4, 7);
	sk.dgrams = q;
	sk.dgram_bytes = len;
	char err[300] = "";
	assert_int_equal(bm_udp_queue_refill(s, &sk, err, sizeof err), -1);
	/* Every datagram looked at once over the whole wait (a wait that
	 * peeked the queue again on each look would count thousands). */
	assert_non_null(strstr(err, "2000 of its 2001 queued datagrams arrived again (2000 datagrams there)"));
	close(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_read),
		cmocka_unit_test(test_refused_and_damaged),
		cmocka_unit_test(test_without_peek_off),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_carriable),
		cmocka_unit_test(test_too_big),
		cmocka_unit_test(test_refill),
		cmocka_unit_test(test_refill_live),
		cmocka_unit_test(test_refill_wait_cheap),
	};
	return cmocka_run_group_tests(tests, setup_netns, NULL);
}
