/* The datagrams queued on a UDP socket (sk_udp_queue.h). */
#include "sk_udp_queue.h"

#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/ip6.h>
#include <netinet/udp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "fd_policy.h"
#include "log.h"
#include "sk_inet_diag.h"
#include "sk_inet_last.h"
#include "sk_tcp_repair.h"
#include "wire.h"

#define MAX_DATAGRAM 65535u /* the peek buffer: more than either limit */
#define WAIT_MS 1000

/* A queued datagram, as its record says. */
struct record {
	uint32_t family;  /* the sender's: the socket's own */
	uint16_t port;
	uint8_t addr[16]; /* IPv4 in the first 4 bytes */
	uint32_t len;
	const uint8_t *data;
};

static const uint8_t v4_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

/* Whether r is sent again over IPv4: to an IPv4 socket, or from an IPv4
 * sender (mapped) to a dual-stack one. */
static bool over_v4(const struct record *r)
{
	return r->family == AF_INET || memcmp(r->addr, v4_mapped, 12) == 0;
}

static uint32_t max_len(const struct record *r)
{
	return over_v4(r) ? BM_UDP_MAX_V4 : BM_UDP_MAX_V6;
}

/* --- dump --------------------------------------------------------------- */

static void put_record(struct bm_wbuf *w, const struct record *r)
{
	bm_put_u32(w, r->family);
	bm_put_u16(w, r->port);
	bm_put_u16(w, 0);
	bm_put_bytes(w, r->addr, 16);
	bm_put_u32(w, r->len);
	bm_put_bytes(w, r->data, r->len);
}

/* One peek into r (its data in buf): 0, or -errno.  MSG_TRUNC: the
 * datagram's whole length even if the buffer holds less of it. */
static int peek(int s, uint8_t *buf, struct record *r)
{
	struct sockaddr_storage from = {0};
	struct iovec iov = {buf, MAX_DATAGRAM};
	struct msghdr m = {.msg_name = &from, .msg_namelen = sizeof from, .msg_iov = &iov, .msg_iovlen = 1};
	ssize_t got = recvmsg(s, &m, MSG_PEEK | MSG_DONTWAIT | MSG_TRUNC);
	if (got < 0)
		return -errno;
	memset(r, 0, sizeof *r);
	r->family = from.ss_family;
	if (from.ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)&from;
		memcpy(r->addr, &in->sin_addr, 4);
		r->port = ntohs(in->sin_port);
	} else {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&from;
		memcpy(r->addr, &in6->sin6_addr, 16);
		r->port = ntohs(in6->sin6_port);
	}
	r->len = (uint32_t)got;
	r->data = buf;
	return 0;
}

static int set_peek_off(int s, int off)
{
	return setsockopt(s, SOL_SOCKET, SO_PEEK_OFF, &off, sizeof off) < 0 ? -errno : 0;
}

/* Whether datagram r can follow count records of have bytes: 0, or 1
 * after refusing (why). */
static int fits(const struct record *r, uint32_t count, size_t have, char *why, size_t n)
{
	int v = over_v4(r) ? 4 : 6;
	if (r->len > max_len(r))
		return bm_why(why, n, ", a UDP socket holding a datagram of %u bytes sent over IPv%d, more than the %u "
			      "binmig can send again in one IPv%d packet", r->len, v, max_len(r), v), 1;
	if (r->len == 0 && count > 0)
		return bm_why(why, n, ", a UDP socket holding an empty datagram behind others (once peeked at an "
			      "offset the kernel hides it from every later such peek: this dump would see it, a "
			      "later one not)"), 1;
	if (count == BM_UDP_MAX_DATAGRAMS || have + BM_UDP_RECORD_HDR + r->len > BM_SK_INET_MAX_QUEUE)
		return bm_why(why, n, ", a UDP socket holding more than %u datagrams or %u bytes of them (%u more "
			      "for each)", BM_UDP_MAX_DATAGRAMS, BM_SK_INET_MAX_QUEUE, BM_UDP_RECORD_HDR), 1;
	return 0;
}

/* Every datagram into w: the head with a plain peek (peeked before or
 * not), the others at offsets.  0, 1 after refusing (why), -errno. */
static int read_all(int s, uint8_t *buf, struct bm_wbuf *w, char *why, size_t n)
{
	struct record r;
	int rc = 0;
	for (uint32_t count = 0; rc == 0; count++) {
		rc = peek(s, buf, &r);
		if (rc == -EAGAIN)
			return 0;
		if (rc < 0 || (rc = fits(&r, count, w->len, why, n)) != 0)
			return rc;
		put_record(w, &r);
		if (count == 0)
			rc = set_peek_off(s, (int)r.len);
	}
	return rc;
}

/* A kernel that cannot peek at an offset on this socket (UDP got
 * SO_PEEK_OFF in Linux 4.7): the queue cannot be read without taking it,
 * so a socket holding anything is refused; an empty one is carried.  A
 * plain peek tells, where SIOCINQ could not (it gives the length of the
 * first datagram, 0 for an empty one too).  0, 1 after refusing, -errno. */
static int without_peek_off(int s, char *why, size_t n)
{
	char c;
	if (recv(s, &c, 1, MSG_PEEK | MSG_DONTWAIT) >= 0)
		return bm_why(why, n, ", a UDP socket holding received datagrams, which this kernel cannot read without "
			      "taking them (it has no SO_PEEK_OFF for UDP, which came in Linux 4.7)"), 1;
	return errno == EAGAIN ? 0 : -errno;
}

int bm_udp_queue_read(int s, uint8_t **out, uint32_t *len, char *why, size_t n)
{
	*out = NULL;
	*len = 0;
	/* An error waiting would be taken by the first peek. */
	int rc = bm_inet_error_waits(s, "UDP", why, n);
	if (rc != 0)
		return rc;
	int was = -1;
	socklen_t wl = sizeof was;
	if (getsockopt(s, SOL_SOCKET, SO_PEEK_OFF, &was, &wl) < 0) {
		if (errno == EOPNOTSUPP || errno == ENOPROTOOPT || errno == EINVAL)
			return without_peek_off(s, why, n);
		return -errno;
	}
	uint8_t *buf = malloc(MAX_DATAGRAM);
	if (!buf)
		return -ENOMEM;
	struct bm_wbuf w;
	bm_wbuf_init(&w);
	rc = set_peek_off(s, -1); /* a plain peek shows the head */
	if (rc == 0)
		rc = read_all(s, buf, &w, why, n);
	/* The process peeks at offsets: an empty datagram it peeked behind
	 * others would be seen by no peek (docs/process-state.md). */
	if (rc == 0 && was >= 0 && w.len) {
		bm_why(why, n, ", a UDP socket with SO_PEEK_OFF set and datagrams queued (an empty datagram the process "
		       "peeked at an offset would be seen by no peek of the dump)");
		rc = 1;
	}
	int back = set_peek_off(s, was);
	free(buf);
	if (rc == 0 && (rc = back) == 0 && (rc = bm_wbuf_status(&w)) == 0 && w.len) {
		*out = w.data;
		*len = (uint32_t)w.len;
		return 0;
	}
	bm_wbuf_free(&w);
	return rc;
}

int bm_udp_queue_collect(pid_t pid, struct bm_fd *d)
{
	struct bm_sk_inet sk;
	char why[400] = "";
	if (!bm_sk_inet_decode(d->data, d->data_len, &sk, why, sizeof why))
		return bm_error(BM_EXIT_FAILURE, "fd %d of process %d: %s", d->fd, pid, why);
	int s = bm_sk_grab(pid, d->fd);
	if (s < 0)
		return bm_error_errno(BM_EXIT_TARGET, -s, "cannot look at the socket fd %d of process %d", d->fd, pid);
	uint8_t *q;
	int rc = bm_udp_queue_read(s, &q, &sk.dgram_bytes, why, sizeof why);
	/* SO_INCOMING_CPU as it was when the queue was read. */
	int32_t cpu = sk.incoming_cpu;
	if (rc == 0 && (rc = bm_sk_inet_last_read(s, &sk)) < 0)
		free(q);
	close(s);
	if (rc < 0)
		return bm_error_errno(BM_EXIT_TARGET, -rc, "cannot read the datagrams queued on fd %d of process %d", d->fd,
				      pid);
	sk.dgrams = q;
	if (rc == 0 && q)
		rc = bm_udp_queue_carriable(&sk, why, sizeof why) ? bm_sk_inet_store(d, &sk) : 1;
	else if (rc == 0 && sk.incoming_cpu != cpu)
		rc = bm_sk_inet_store(d, &sk);
	free(q);
	return rc > 0 ? bm_fd_refuse(pid, d->fd, d->path ? d->path : "socket", d->mode, why) : rc;
}

/* --- the records -------------------------------------------------------- */

/* Record r at *at (its fields as they are), *at moved past it; false
 * if it runs past len. */
static bool next_record(const uint8_t *b, uint32_t len, uint32_t *at, struct record *r, uint16_t *pad)
{
	if (len - *at < BM_UDP_RECORD_HDR)
		return false;
	const uint8_t *p = b + *at;
	r->family = bm_load_le32(p);
	r->port = bm_load_le16(p + 4);
	*pad = bm_load_le16(p + 6);
	memcpy(r->addr, p + 8, 16);
	r->len = bm_load_le32(p + 24);
	if (len - *at - BM_UDP_RECORD_HDR < r->len)
		return false;
	r->data = p + BM_UDP_RECORD_HDR;
	*at += BM_UDP_RECORD_HDR + r->len;
	return true;
}

static bool zero(const uint8_t *a, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (a[i])
			return false;
	return true;
}

bool bm_udp_queue_check(const uint8_t *b, uint32_t len, uint32_t family, uint32_t *count, char *why, size_t n)
{
	*count = 0;
	for (uint32_t at = 0; at < len;) {
		struct record r;
		uint16_t pad;
		if (!next_record(b, len, &at, &r, &pad))
			return bm_why(why, n, "queued datagram %u runs past the socket's state", *count);
		if (r.family != family)
			return bm_why(why, n, "queued datagram %u from a sender of family %u on a socket of family %u", *count,
				      r.family, family);
		if (pad || (family == AF_INET && !zero(r.addr + 4, 12)))
			return bm_why(why, n, "queued datagram %u has bytes set that must be zero", *count);
		/* The 16-bit lengths of the packet built at restore hold it. */
		if (r.len > max_len(&r))
			return bm_why(why, n, "queued datagram %u of %u bytes, more than the %u of an IPv%d packet", *count,
				      r.len, max_len(&r), over_v4(&r) ? 4 : 6);
		if (r.len == 0 && *count > 0)
			return bm_why(why, n, "queued datagram %u is empty, behind others", *count);
		if (++*count > BM_UDP_MAX_DATAGRAMS)
			return bm_why(why, n, "more than %u queued datagrams", BM_UDP_MAX_DATAGRAMS);
	}
	return true;
}

bool bm_udp_queue_carriable(const struct bm_sk_inet *sk, char *why, size_t n)
{
	if (sk->state < BM_SK_BOUND)
		return bm_why(why, n, ", a UDP socket without an address holding datagrams");
	/* Sent again, a datagram finds its socket as any other does: with
	 * SO_REUSEPORT, any socket of the group on the port may get it. */
	if (sk->opt[BM_SKO_REUSEPORT])
		return bm_why(why, n, ", a UDP socket with SO_REUSEPORT holding datagrams (sent again, they could reach "
			      "another socket sharing its port)");
	if (sk->state != BM_SK_CONNECTED)
		return true;
	/* A connected socket takes datagrams from its peer only: one queued
	 * before it connected, from another sender, cannot reach it again. */
	size_t alen = sk->family == AF_INET ? 4 : 16;
	struct record r;
	uint16_t pad;
	for (uint32_t at = 0; next_record(sk->dgrams, sk->dgram_bytes, &at, &r, &pad);) {
		if (r.port == sk->peer.port && memcmp(r.addr, sk->peer.addr, alen) == 0)
			continue;
		struct bm_sk_addr from = {.port = r.port};
		memcpy(from.addr, r.addr, 16);
		char text[80], peer[80];
		bm_sk_addr_text(sk->family, &from, text, sizeof text);
		bm_sk_addr_text(sk->family, &sk->peer, peer, sizeof peer);
		return bm_why(why, n, ", a connected UDP socket holding a datagram from %s, not from its peer %s (received "
			      "before it connected; sent again, it could not reach the socket)", text, peer);
	}
	return true;
}

/* --- restore (inside the new process) ----------------------------------- */

static uint32_t sum16(uint32_t sum, const uint8_t *p, size_t len)
{
	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)p[i] << 8 | p[i + 1];
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	return sum;
}

static uint16_t fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* The datagram r as the socket got it: an IPv4 packet to dst (4 bytes). */
static size_t build_v4(uint8_t *pkt, const struct record *r, const uint8_t *src, const uint8_t *dst, uint16_t dport)
{
	struct iphdr ip = {.ihl = 5, .version = 4, .tot_len = htons((uint16_t)(20 + 8 + r->len)), .ttl = 64,
			   .protocol = IPPROTO_UDP};
	memcpy(&ip.saddr, src, 4);
	memcpy(&ip.daddr, dst, 4);
	struct udphdr u = {.source = htons(r->port), .dest = htons(dport), .len = htons((uint16_t)(8 + r->len))};
	memcpy(pkt, &ip, 20);
	memcpy(pkt + 20, &u, 8); /* no checksum: IPv4 allows none */
	memcpy(pkt + 28, r->data, r->len);
	return 28 + r->len;
}

/* The same as an IPv6 packet, whose UDP checksum is mandatory. */
static size_t build_v6(uint8_t *pkt, const struct record *r, const uint8_t *dst, uint16_t dport)
{
	struct ip6_hdr ip = {0};
	ip.ip6_flow = htonl(6u << 28);
	ip.ip6_plen = htons((uint16_t)(8 + r->len));
	ip.ip6_nxt = IPPROTO_UDP;
	ip.ip6_hlim = 64;
	memcpy(&ip.ip6_src, r->addr, 16);
	memcpy(&ip.ip6_dst, dst, 16);
	struct udphdr u = {.source = htons(r->port), .dest = htons(dport), .len = htons((uint16_t)(8 + r->len))};
	memcpy(pkt, &ip, 40);
	memcpy(pkt + 40, &u, 8);
	memcpy(pkt + 48, r->data, r->len);
	uint8_t pseudo[40] = {0};
	memcpy(pseudo, r->addr, 16);
	memcpy(pseudo + 16, dst, 16);
	bm_store_le32(pseudo + 32, 0);
	pseudo[34] = (uint8_t)((8 + r->len) >> 8);
	pseudo[35] = (uint8_t)(8 + r->len);
	pseudo[39] = IPPROTO_UDP;
	uint16_t c = fold(sum16(sum16(0, pseudo, 40), pkt + 40, 8 + r->len));
	c = c ? c : 0xffff;
	pkt[46] = (uint8_t)(c >> 8);
	pkt[47] = (uint8_t)c;
	return 48 + r->len;
}

static int fail(char *err, size_t errlen, const char *what)
{
	snprintf(err, errlen, "UDP socket: %s: %s", what, strerror(errno));
	return -1;
}

/* Sends datagram r to the socket at local (family's), on raw[0] (IPv4) or
 * raw[1] (IPv6), made when first needed. */
static int send_one(const struct record *r, uint32_t family, const struct bm_sk_addr *local, int raw[2], uint8_t *pkt,
		    char *err, size_t errlen)
{
	static const uint8_t lo4[4] = {127, 0, 0, 1}, lo6[16] = {[15] = 1};
	bool v4 = over_v4(r);
	const uint8_t *src = family == AF_INET ? r->addr : r->addr + 12;
	struct sockaddr_storage to = {0};
	socklen_t tolen;
	size_t len;
	if (v4) {
		const uint8_t *dst = family == AF_INET ? local->addr : local->addr + 12;
		if (family == AF_INET6 && memcmp(local->addr, v4_mapped, 12) != 0)
			dst = lo4; /* a dual-stack socket on the IPv6 wildcard */
		if (zero(dst, 4))
			dst = lo4;
		len = build_v4(pkt, r, src, dst, local->port);
		struct sockaddr_in *in = (struct sockaddr_in *)&to;
		in->sin_family = AF_INET;
		memcpy(&in->sin_addr, dst, 4);
		tolen = sizeof *in;
	} else {
		const uint8_t *dst = zero(local->addr, 16) ? lo6 : local->addr;
		len = build_v6(pkt, r, dst, local->port);
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&to;
		in6->sin6_family = AF_INET6;
		memcpy(&in6->sin6_addr, dst, 16);
		in6->sin6_scope_id = local->scope_id;
		tolen = sizeof *in6;
	}
	int *rs = &raw[v4 ? 0 : 1];
	if (*rs < 0 && (*rs = socket(v4 ? AF_INET : AF_INET6, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW)) < 0)
		return fail(err, errlen, "a raw socket to send its queued datagrams again (needs CAP_NET_RAW)");
	if (sendto(*rs, pkt, len, 0, (struct sockaddr *)&to, tolen) != (ssize_t)len)
		return fail(err, errlen, "sending a queued datagram again");
	return 0;
}

/* How far the refill has walked the queue of its socket: the datagrams
 * seen, their bytes (the peek offset after them), how many of the
 * records were found among them in order, where the next one starts. */
struct walk {
	uint32_t seen, off;
	uint32_t found, at;
};

static bool same(const struct record *a, const struct record *b)
{
	return a->family == b->family && a->port == b->port && memcmp(a->addr, b->addr, 16) == 0 && a->len == b->len &&
	       memcmp(a->data, b->data, a->len) == 0;
}

/* Walks on through what arrived at s since the last call, looking for
 * the records of sk: only the new datagrams are peeked, so a call that
 * finds nothing new costs two system calls.  Nothing reads the queue
 * meanwhile: it only grows.  The head is peeked plainly, the others at
 * offsets (an empty one is shown once, then hidden from such peeks).  0,
 * or -errno. */
static int walk_on(int s, const struct bm_sk_inet *sk, uint8_t *buf, struct walk *w)
{
	int rc = set_peek_off(s, w->seen ? (int)w->off : -1);
	while (rc == 0) {
		struct record got, want;
		uint16_t pad;
		if ((rc = peek(s, buf, &got)) < 0)
			return rc == -EAGAIN ? 0 : rc;
		if (got.len > (uint32_t)INT_MAX - w->off)
			return -EOVERFLOW; /* past what a peek offset holds */
		if (w->seen++ == 0)
			rc = set_peek_off(s, (int)got.len);
		w->off += got.len;
		uint32_t next = w->at;
		if (next_record(sk->dgrams, sk->dgram_bytes, &next, &want, &pad) && same(&got, &want)) {
			w->found++;
			w->at = next;
		}
	}
	return rc;
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int bm_udp_queue_refill(int s, const struct bm_sk_inet *sk, char *err, size_t errlen)
{
	uint32_t count;
	char why[160];
	if (!sk->dgram_bytes)
		return 0;
	if (!bm_udp_queue_check(sk->dgrams, sk->dgram_bytes, sk->family, &count, why, sizeof why)) {
		snprintf(err, errlen, "UDP socket: %s", why);
		return -1;
	}
	/* Room for them, whatever memory each takes here; the size the
	 * program had is put back once they are in. */
	int room = (int)(sk->dgram_bytes + count * 4096u), now = 0;
	socklen_t nl = sizeof now;
	if (getsockopt(s, SOL_SOCKET, SO_RCVBUF, &now, &nl) < 0 ||
	    (now / 2 < room && setsockopt(s, SOL_SOCKET, SO_RCVBUFFORCE, &room, sizeof room) < 0))
		return fail(err, errlen, "making room for its queued datagrams");
	uint8_t *pkt = mmap(NULL, MAX_DATAGRAM + 64, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (pkt == MAP_FAILED)
		return fail(err, errlen, "mmap");
	int raw[2] = {-1, -1}, rc = 0;
	struct record r;
	uint16_t pad;
	for (uint32_t at = 0; rc == 0 && next_record(sk->dgrams, sk->dgram_bytes, &at, &r, &pad);)
		rc = send_one(&r, sk->family, &sk->local, raw, pkt, err, errlen);
	for (int k = 0; k < 2; k++)
		if (raw[k] >= 0)
			close(raw[k]);
	/* Delivered through loopback, at once as a rule: waited for, each
	 * millisecond a look at what arrived since the last.
	 *
	 * The socket is bound (and connected) before the refill, so live
	 * traffic can reach it too, before, among or after the datagrams sent
	 * again.  That is no fault: it would have reached the source.  So the
	 * socket may hold more than count datagrams, and then a count proves
	 * nothing: a live datagram could stand in for one sent again that is
	 * still on its way, or was lost (dropped, the buffer full), and the
	 * restore would go on without it.  The wait therefore looks for the
	 * records themselves: each datagram that arrives is compared with the
	 * next record not yet found (sender, port, length, bytes), and the
	 * wait ends when all were found, in their order, live ones among them
	 * or not.  A live datagram equal to a record still on its way is taken
	 * for it; what the program reads is then the same either way, and if
	 * the copy sent again is lost after all, one datagram is missing as
	 * if the network had lost the live one.  Sent from one thread over
	 * loopback, the copies arrive in order (one CPU's backlog is a queue):
	 * were two reordered (the thread moved to another CPU while one still
	 * waited in the backlog of the first), the restore fails after
	 * WAIT_MS and the source resumes, rather than carry a reordered queue. */
	struct walk w = {0};
	for (uint64_t end = now_ms() + WAIT_MS; rc == 0;) {
		int walked = walk_on(s, sk, pkt, &w);
		if (walked < 0) {
			errno = -walked;
			rc = fail(err, errlen, "looking at its queue");
		}
		if (rc < 0 || w.found == count || now_ms() >= end)
			break;
		struct timespec ts = {0, 1000000};
		nanosleep(&ts, NULL);
	}
	munmap(pkt, MAX_DATAGRAM + 64);
	if (rc == 0 && w.found != count) {
		snprintf(err, errlen, "UDP socket: %u of its %u queued datagrams arrived again (%u datagrams there)", w.found,
			 count, w.seen);
		return -1;
	}
	int half = sk->rcvbuf / 2;
	if (rc == 0 && ((now / 2 < room && setsockopt(s, SOL_SOCKET, SO_RCVBUFFORCE, &half, sizeof half) < 0) ||
			bm_sk_buf_lock_back(s, sk) < 0 || set_peek_off(s, sk->opt[BM_SKO_PEEK_OFF]) < 0))
		return fail(err, errlen, "its buffer size and peek offset");
	return rc;
}
