/* TCP and UDP sockets: the encoding of their state, reading it at dump,
 * re-creating the sockets at restore (sk_inet.h).  Established
 * connections are read and rebuilt with TCP_REPAIR in sk_tcp_repair.c. */
#include "sk_inet.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <netinet/udp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/sockios.h>

#include "fd_policy.h"
#include "files.h"
#include "log.h"
#include "movaddr.h"
#include "procfs.h"
#include "sk_inet_diag.h"
#include "sk_inet_kernel.h"
#include "sk_inet_last.h"
#include "sk_inet_opts.h"
#include "sk_tcp_repair.h"
#include "sk_udp_queue.h"
#include "wire.h"

#define FORMAT 5u

/* Where an option applies. */
#define ON_ANY 0u
#define ON_TCP 1u
#define ON_V4 2u
#define ON_V6 4u
#define ON_UDP 8u /* multicast: a TCP socket has no use for it (an accepted one has the SYN's TTL as its multicast TTL) */

struct sk_opt {
	int level, name;
	const char *text;
	unsigned on;
};

static const struct sk_opt carried[BM_SK_NOPTS] = {
	[BM_SKO_REUSEADDR] = {SOL_SOCKET, SO_REUSEADDR, "SO_REUSEADDR", ON_ANY},
	[BM_SKO_REUSEPORT] = {SOL_SOCKET, SO_REUSEPORT, "SO_REUSEPORT", ON_ANY},
	[BM_SKO_KEEPALIVE] = {SOL_SOCKET, SO_KEEPALIVE, "SO_KEEPALIVE", ON_ANY},
	[BM_SKO_BROADCAST] = {SOL_SOCKET, SO_BROADCAST, "SO_BROADCAST", ON_ANY},
	[BM_SKO_PEEK_OFF] = {SOL_SOCKET, SO_PEEK_OFF, "SO_PEEK_OFF", ON_ANY},
	[BM_SKO_NODELAY] = {IPPROTO_TCP, TCP_NODELAY, "TCP_NODELAY", ON_TCP},
	[BM_SKO_KEEPIDLE] = {IPPROTO_TCP, TCP_KEEPIDLE, "TCP_KEEPIDLE", ON_TCP},
	[BM_SKO_KEEPINTVL] = {IPPROTO_TCP, TCP_KEEPINTVL, "TCP_KEEPINTVL", ON_TCP},
	[BM_SKO_KEEPCNT] = {IPPROTO_TCP, TCP_KEEPCNT, "TCP_KEEPCNT", ON_TCP},
	[BM_SKO_TOS] = {IPPROTO_IP, IP_TOS, "IP_TOS", ON_V4},
	[BM_SKO_V6ONLY] = {IPPROTO_IPV6, IPV6_V6ONLY, "IPV6_V6ONLY", ON_V6},
	[BM_SKO_TCLASS] = {IPPROTO_IPV6, IPV6_TCLASS, "IPV6_TCLASS", ON_V6},
};

/* Options binmig does not carry: a socket whose value differs from a new
 * socket's is refused. */
static const struct sk_opt uncarried[] = {
	{SOL_SOCKET, SO_PRIORITY, "SO_PRIORITY", ON_ANY},
	{SOL_SOCKET, SO_MARK, "SO_MARK", ON_ANY},
	{SOL_SOCKET, SO_OOBINLINE, "SO_OOBINLINE", ON_ANY},
	{SOL_SOCKET, SO_DONTROUTE, "SO_DONTROUTE", ON_ANY},
	{SOL_SOCKET, SO_RCVLOWAT, "SO_RCVLOWAT", ON_ANY},
	{SOL_SOCKET, SO_TIMESTAMP, "SO_TIMESTAMP", ON_ANY},
	{SOL_SOCKET, SO_TIMESTAMPNS, "SO_TIMESTAMPNS", ON_ANY},
	{SOL_SOCKET, SO_TIMESTAMPING, "SO_TIMESTAMPING", ON_ANY},
	{SOL_SOCKET, SO_PASSCRED, "SO_PASSCRED", ON_ANY},
	{SOL_SOCKET, SO_RXQ_OVFL, "SO_RXQ_OVFL", ON_ANY},
	{SOL_SOCKET, SO_ZEROCOPY, "SO_ZEROCOPY", ON_ANY},
	{SOL_SOCKET, SO_BUSY_POLL, "SO_BUSY_POLL", ON_ANY},
	{SOL_SOCKET, SO_LOCK_FILTER, "SO_LOCK_FILTER", ON_ANY},
	{SOL_SOCKET, SO_SELECT_ERR_QUEUE, "SO_SELECT_ERR_QUEUE", ON_ANY},
	{IPPROTO_IP, IP_TTL, "IP_TTL", ON_V4},
	{IPPROTO_IP, IP_MULTICAST_TTL, "IP_MULTICAST_TTL", ON_V4 | ON_UDP},
	{IPPROTO_IP, IP_MULTICAST_LOOP, "IP_MULTICAST_LOOP", ON_V4 | ON_UDP},
	{IPPROTO_IP, IP_MULTICAST_ALL, "IP_MULTICAST_ALL", ON_V4 | ON_UDP},
	{IPPROTO_IP, IP_MULTICAST_IF, "IP_MULTICAST_IF", ON_V4 | ON_UDP},
	{IPPROTO_IP, IP_RECVERR, "IP_RECVERR", ON_V4},
	{IPPROTO_IP, IP_PKTINFO, "IP_PKTINFO", ON_V4},
	{IPPROTO_IP, IP_RECVTTL, "IP_RECVTTL", ON_V4},
	{IPPROTO_IP, IP_RECVTOS, "IP_RECVTOS", ON_V4},
	{IPPROTO_IP, IP_RECVOPTS, "IP_RECVOPTS", ON_V4},
	{IPPROTO_IP, IP_RETOPTS, "IP_RETOPTS", ON_V4},
	{IPPROTO_IP, IP_TRANSPARENT, "IP_TRANSPARENT", ON_V4},
	{IPPROTO_IP, IP_FREEBIND, "IP_FREEBIND", ON_V4},
	{IPPROTO_IP, IP_MTU_DISCOVER, "IP_MTU_DISCOVER", ON_V4},
	{IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, "IP_BIND_ADDRESS_NO_PORT", ON_V4},
	{IPPROTO_IP, IP_RECVORIGDSTADDR, "IP_RECVORIGDSTADDR", ON_V4},
	{IPPROTO_IPV6, IPV6_UNICAST_HOPS, "IPV6_UNICAST_HOPS", ON_V6},
	{IPPROTO_IPV6, IPV6_MULTICAST_HOPS, "IPV6_MULTICAST_HOPS", ON_V6 | ON_UDP},
	{IPPROTO_IPV6, IPV6_MULTICAST_LOOP, "IPV6_MULTICAST_LOOP", ON_V6 | ON_UDP},
	{IPPROTO_IPV6, IPV6_MULTICAST_IF, "IPV6_MULTICAST_IF", ON_V6 | ON_UDP},
	{IPPROTO_IPV6, IPV6_RECVPKTINFO, "IPV6_RECVPKTINFO", ON_V6},
	{IPPROTO_IPV6, IPV6_RECVERR, "IPV6_RECVERR", ON_V6},
	{IPPROTO_IPV6, IPV6_MTU_DISCOVER, "IPV6_MTU_DISCOVER", ON_V6},
	{IPPROTO_IPV6, IPV6_RECVTCLASS, "IPV6_RECVTCLASS", ON_V6},
	{IPPROTO_IPV6, IPV6_RECVHOPLIMIT, "IPV6_RECVHOPLIMIT", ON_V6},
	{IPPROTO_IPV6, IPV6_TRANSPARENT, "IPV6_TRANSPARENT", ON_V6},
	{IPPROTO_IPV6, IPV6_FREEBIND, "IPV6_FREEBIND", ON_V6},
	{IPPROTO_TCP, TCP_CORK, "TCP_CORK", ON_TCP},
	{IPPROTO_TCP, TCP_DEFER_ACCEPT, "TCP_DEFER_ACCEPT", ON_TCP},
	{IPPROTO_TCP, TCP_USER_TIMEOUT, "TCP_USER_TIMEOUT", ON_TCP},
	{IPPROTO_TCP, TCP_NOTSENT_LOWAT, "TCP_NOTSENT_LOWAT", ON_TCP},
	{IPPROTO_TCP, TCP_THIN_LINEAR_TIMEOUTS, "TCP_THIN_LINEAR_TIMEOUTS", ON_TCP},
	{IPPROTO_TCP, TCP_FASTOPEN, "TCP_FASTOPEN", ON_TCP},
	{IPPROTO_TCP, TCP_SYNCNT, "TCP_SYNCNT", ON_TCP},
	{IPPROTO_TCP, TCP_LINGER2, "TCP_LINGER2", ON_TCP},
	{IPPROTO_TCP, TCP_SAVE_SYN, "TCP_SAVE_SYN", ON_TCP},
	{IPPROTO_TCP, TCP_INQ, "TCP_INQ", ON_TCP},
	{IPPROTO_TCP, TCP_TX_DELAY, "TCP_TX_DELAY", ON_TCP},
};

/* Options with a text value, compared the same way. */
static const struct sk_opt uncarried_text[] = {
	{SOL_SOCKET, SO_BINDTODEVICE, "SO_BINDTODEVICE", ON_ANY},
	{IPPROTO_TCP, TCP_CONGESTION, "TCP_CONGESTION", ON_TCP},
	{IPPROTO_TCP, TCP_ULP, "TCP_ULP", ON_TCP},
};

static bool applies(const struct sk_opt *o, uint32_t family, uint32_t type)
{
	if ((o->on & ON_TCP) && type != SOCK_STREAM)
		return false;
	if ((o->on & ON_UDP) && type != SOCK_DGRAM)
		return false;
	if ((o->on & ON_V4) && family != AF_INET)
		return false;
	return !(o->on & ON_V6) || family == AF_INET6;
}

/* --- addresses ---------------------------------------------------------- */

socklen_t bm_sk_sockaddr(uint32_t family, const struct bm_sk_addr *a, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof *ss);
	if (family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)ss;
		in->sin_family = AF_INET;
		in->sin_port = htons(a->port);
		memcpy(&in->sin_addr, a->addr, 4);
		return sizeof *in;
	}
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
	in6->sin6_family = AF_INET6;
	in6->sin6_port = htons(a->port);
	memcpy(&in6->sin6_addr, a->addr, 16);
	in6->sin6_scope_id = a->scope_id;
	return sizeof *in6;
}

static void from_sockaddr(const struct sockaddr_storage *ss, struct bm_sk_addr *a)
{
	memset(a, 0, sizeof *a);
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
		a->port = ntohs(in->sin_port);
		memcpy(a->addr, &in->sin_addr, 4);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
		a->port = ntohs(in6->sin6_port);
		memcpy(a->addr, &in6->sin6_addr, 16);
		a->scope_id = in6->sin6_scope_id;
	}
}

void bm_sk_addr_text(uint32_t family, const struct bm_sk_addr *a, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN] = "?";
	inet_ntop(family == AF_INET ? AF_INET : AF_INET6, a->addr, host, sizeof host);
	if (family == AF_INET)
		snprintf(buf, len, "%s:%u", host, a->port);
	else
		snprintf(buf, len, "[%s]:%u", host, a->port);
}

/* Whether the kernel, choosing the local address of a connect from an
 * IPv6 socket to SK's peer, would choose SK's.  A UDP socket's connect
 * asks it without sending anything. */
static bool kernel_chooses_local(const struct bm_sk_inet *sk)
{
	struct sockaddr_storage ss, got;
	socklen_t len = bm_sk_sockaddr(sk->family, &sk->peer, &ss), glen = sizeof got;
	int s = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0), off = 0;
	bool same = s >= 0 && setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off) == 0 &&
		    connect(s, (struct sockaddr *)&ss, len) == 0 && getsockname(s, (struct sockaddr *)&got, &glen) == 0 &&
		    got.ss_family == AF_INET6 && memcmp(&((struct sockaddr_in6 *)&got)->sin6_addr, sk->local.addr, 16) == 0;
	if (s >= 0)
		close(s);
	return same;
}

/* Where a socket binds at restore.  Binding an IPv6 socket to an address
 * of its own (not v4-mapped) sets IPV6_V6ONLY, which can then no longer
 * be cleared: a connected one that has it clear was never bound to an
 * address, only given one by connect, and binds to the wildcard with its
 * port, leaving the address to connect, when connect would give it the
 * same one.  It may not for an address that moved with the process
 * (movaddr.h): the destination has its own addresses too, and Linux
 * prefers the moved /128 only where it matches more of the peer's address
 * than their prefixes do (a peer on the subnet), not for a peer beyond a
 * router, where they tie, nor for a peer that is one of the host's own.
 * Such a socket binds to its address, and reads IPV6_V6ONLY set from then
 * on: a flag that changes nothing for a connected socket. */
struct bm_sk_addr bm_sk_bind_addr(const struct bm_sk_inet *sk)
{
	struct bm_sk_addr at = sk->local;
	if (sk->family == AF_INET6 && sk->state == BM_SK_CONNECTED && !sk->opt[BM_SKO_V6ONLY] &&
	    kernel_chooses_local(sk)) {
		memset(at.addr, 0, sizeof at.addr);
		at.scope_id = 0;
	}
	return at;
}

static bool any_address(uint32_t family, const struct bm_sk_addr *a)
{
	static const uint8_t zero[16];
	return memcmp(a->addr, zero, family == AF_INET ? 4 : 16) == 0;
}

/* --- encoding ----------------------------------------------------------- */

static void put_addr(uint8_t *at, const struct bm_sk_addr *a)
{
	bm_store_le16(at, a->port);
	bm_store_le16(at + 2, 0);
	memcpy(at + 4, a->addr, 16);
	bm_store_le32(at + 20, a->scope_id);
}

static void get_addr(const uint8_t *at, struct bm_sk_addr *a)
{
	a->port = bm_load_le16(at);
	memcpy(a->addr, at + 4, 16);
	a->scope_id = bm_load_le32(at + 20);
}

/* The TCP fields in their order in the encoding. */
static uint32_t *tcp_field(struct bm_sk_tcp *t, unsigned i)
{
	uint32_t *f[] = {&t->snd_seq, &t->rcv_seq, &t->outq, &t->notsent, &t->inq, &t->mss, &t->options,
			 &t->snd_wscale, &t->rcv_wscale, &t->timestamp, &t->snd_wl1, &t->snd_wnd, &t->max_window,
			 &t->rcv_wnd, &t->rcv_wup};
	return i < sizeof f / sizeof *f ? f[i] : NULL;
}
#define TCP_FIELDS 15u
/* The range setsockopt(TCP_MAXSEG) takes (Linux's TCP_MIN_MSS and
 * MAX_TCP_WINDOW). */
#define TCP_MIN_MSS 88u
#define TCP_MAX_USER_MSS 32767u

/* The fixed part's length in FORMAT (any other: format 5's, rejected
 * after). */
static uint32_t format_hdr(uint32_t format)
{
	static const uint32_t hdr[] = {0, BM_SK_INET_HDR_V1, BM_SK_INET_HDR_V2, BM_SK_INET_HDR, BM_SK_INET_HDR_SHUT,
				       BM_SK_INET_HDR_KERNEL};
	return format >= 1 && format <= FORMAT ? hdr[format] : BM_SK_INET_HDR_KERNEL;
}

int bm_sk_inet_encode(const struct bm_sk_inet *s, uint8_t **data, uint32_t *len)
{
	if (s->tcp.outq > BM_SK_INET_MAX_QUEUE || s->tcp.inq > BM_SK_INET_MAX_QUEUE)
		return -E2BIG;
	if (s->dgram_bytes > BM_SK_INET_MAX_QUEUE)
		return -E2BIG;
	/* Without the options of sk_inet_last.h, as format 2 has it; format 5
	 * for a socket shut down without a port or with an MSS set (format 4,
	 * for the first alone, is read, no longer written). */
	uint32_t format = !s->last_known ? 2 : s->shut_wr || s->user_mss ? FORMAT : 3;
	uint32_t hdr = format_hdr(format);
	uint32_t n = hdr + s->tcp.outq + s->tcp.inq + s->dgram_bytes;
	uint8_t *b = calloc(1, n);
	if (!b)
		return -ENOMEM;
	bm_store_le32(b, format);
	bm_store_le32(b + 4, s->family);
	bm_store_le32(b + 8, s->type);
	bm_store_le32(b + 12, s->protocol);
	bm_store_le32(b + 16, s->state);
	put_addr(b + 20, &s->local);
	put_addr(b + 44, &s->peer);
	bm_store_le32(b + 68, (uint32_t)s->backlog);
	bm_store_le32(b + 72, BM_SK_NOPTS);
	for (unsigned i = 0; i < BM_SK_NOPTS; i++)
		bm_store_le32(b + 76 + 4 * i, (uint32_t)s->opt[i]);
	bm_store_le32(b + 124, (uint32_t)s->rcvbuf);
	bm_store_le32(b + 128, (uint32_t)s->sndbuf);
	bm_store_le32(b + 132, (uint32_t)s->linger_on);
	bm_store_le32(b + 136, (uint32_t)s->linger_secs);
	bm_store_le64(b + 140, (uint64_t)s->rcvtimeo_us);
	bm_store_le64(b + 148, (uint64_t)s->sndtimeo_us);
	struct bm_sk_tcp t = s->tcp;
	for (unsigned i = 0; i < TCP_FIELDS; i++)
		bm_store_le32(b + 156 + 4 * i, *tcp_field(&t, i));
	bm_store_le32(b + BM_SK_INET_HDR_V1, (uint32_t)s->buf_lock);
	bm_store_le32(b + BM_SK_INET_HDR_V1 + 4, t.window_clamp);
	if (s->last_known) {
		bm_store_le32(b + BM_SK_INET_HDR_V2, (uint32_t)s->incoming_cpu);
		bm_store_le32(b + BM_SK_INET_HDR_V2 + 4, (uint32_t)s->quickack);
	}
	if (format == FORMAT) {
		bm_store_le32(b + BM_SK_INET_HDR, s->shut_wr);
		bm_store_le32(b + BM_SK_INET_HDR_SHUT, s->user_mss);
	}
	if (s->tcp.outq)
		memcpy(b + hdr, s->sendq, s->tcp.outq);
	if (s->tcp.inq)
		memcpy(b + hdr + s->tcp.outq, s->recvq, s->tcp.inq);
	if (s->dgram_bytes)
		memcpy(b + hdr, s->dgrams, s->dgram_bytes);
	*data = b;
	*len = n;
	return 0;
}

int bm_sk_inet_store(struct bm_fd *d, const struct bm_sk_inet *s)
{
	uint8_t *data;
	uint32_t len;
	if (bm_sk_inet_encode(s, &data, &len) < 0)
		return bm_error(BM_EXIT_FAILURE, "out of memory");
	free(d->data);
	d->data = data;
	d->data_len = len;
	return 0;
}

#define MAX_TIMEO_US (365ll * 24 * 3600 * 1000000)

bool bm_sk_inet_decode(const uint8_t *b, uint32_t len, struct bm_sk_inet *s, char *why, size_t n)
{
	memset(s, 0, sizeof *s);
	if (!b || len < BM_SK_INET_HDR_V1)
		return bm_why(why, n, "%u bytes of socket state, fewer than %u", len, BM_SK_INET_HDR_V1);
	uint32_t format = bm_load_le32(b);
	uint32_t hdr = format_hdr(format);
	if (format < 1 || format > FORMAT)
		return bm_why(why, n, "socket state of format %u", format);
	if (len < hdr)
		return bm_why(why, n, "%u bytes of socket state, fewer than %u", len, hdr);
	s->buf_lock = format == 1 ? -1 : (int32_t)bm_load_le32(b + BM_SK_INET_HDR_V1);
	s->tcp.window_clamp = format == 1 ? 0 : bm_load_le32(b + BM_SK_INET_HDR_V1 + 4);
	if (s->buf_lock < -1 || s->buf_lock > 3)
		return bm_why(why, n, "SO_BUF_LOCK %d out of range", s->buf_lock);
	s->last_known = format >= 3;
	s->incoming_cpu = s->last_known ? (int32_t)bm_load_le32(b + BM_SK_INET_HDR_V2) : -1;
	s->quickack = s->last_known ? (int32_t)bm_load_le32(b + BM_SK_INET_HDR_V2 + 4) : -1;
	uint32_t shut = format >= 4 ? bm_load_le32(b + BM_SK_INET_HDR) : 0;
	if (shut > 1 || (format == 4 && shut != 1))
		return bm_why(why, n, "shutdown %u in socket state of format %u", shut, format);
	s->shut_wr = shut;
	s->user_mss = format == FORMAT ? bm_load_le32(b + BM_SK_INET_HDR_SHUT) : 0;
	s->family = bm_load_le32(b + 4);
	s->type = bm_load_le32(b + 8);
	s->protocol = bm_load_le32(b + 12);
	s->state = bm_load_le32(b + 16);
	get_addr(b + 20, &s->local);
	get_addr(b + 44, &s->peer);
	s->backlog = (int32_t)bm_load_le32(b + 68);
	uint32_t nopts = bm_load_le32(b + 72);
	for (unsigned i = 0; i < BM_SK_NOPTS; i++)
		s->opt[i] = (int32_t)bm_load_le32(b + 76 + 4 * i);
	s->rcvbuf = (int32_t)bm_load_le32(b + 124);
	s->sndbuf = (int32_t)bm_load_le32(b + 128);
	s->linger_on = (int32_t)bm_load_le32(b + 132);
	s->linger_secs = (int32_t)bm_load_le32(b + 136);
	s->rcvtimeo_us = (int64_t)bm_load_le64(b + 140);
	s->sndtimeo_us = (int64_t)bm_load_le64(b + 148);
	for (unsigned i = 0; i < TCP_FIELDS; i++)
		*tcp_field(&s->tcp, i) = bm_load_le32(b + 156 + 4 * i);
	if (s->family != AF_INET && s->family != AF_INET6)
		return bm_why(why, n, "socket family %u is neither IPv4 nor IPv6", s->family);
	if (!(s->type == SOCK_STREAM && s->protocol == IPPROTO_TCP) && !(s->type == SOCK_DGRAM && s->protocol == IPPROTO_UDP))
		return bm_why(why, n, "socket type %u protocol %u is neither TCP nor UDP", s->type, s->protocol);
	if (s->last_known && (s->type == SOCK_STREAM ? s->quickack != 0 && s->quickack != 1 : s->quickack != -1))
		return bm_why(why, n, "TCP_QUICKACK %d on a %s socket", s->quickack, s->type == SOCK_STREAM ? "TCP" : "UDP");
	if (s->state < BM_SK_NEW || s->state > BM_SK_CONNECTED || (s->state == BM_SK_LISTEN && s->type != SOCK_STREAM))
		return bm_why(why, n, "socket state %u is not known for its type", s->state);
	if (s->shut_wr && s->state != BM_SK_NEW)
		return bm_why(why, n, "a socket with a port shut down for writing");
	if (s->user_mss && (s->type != SOCK_STREAM || s->user_mss < TCP_MIN_MSS || s->user_mss > TCP_MAX_USER_MSS))
		return bm_why(why, n, "TCP_MAXSEG %u out of range for the socket", s->user_mss);
	if (nopts != BM_SK_NOPTS)
		return bm_why(why, n, "%u socket options, expected %u", nopts, BM_SK_NOPTS);
	if (s->family == AF_INET && (s->local.scope_id || s->peer.scope_id))
		return bm_why(why, n, "an IPv4 address with an IPv6 scope");
	if (s->state >= BM_SK_BOUND && s->local.port == 0)
		return bm_why(why, n, "a bound socket without a port");
	if (s->state == BM_SK_CONNECTED && (s->peer.port == 0 || any_address(s->family, &s->peer)))
		return bm_why(why, n, "a connected socket without a peer address");
	if (s->state != BM_SK_CONNECTED && (s->peer.port || !any_address(s->family, &s->peer)))
		return bm_why(why, n, "a peer address on a socket that is not connected");
	if (s->backlog < 0 || (s->state != BM_SK_LISTEN && s->backlog))
		return bm_why(why, n, "backlog %d", s->backlog);
	if (s->rcvbuf < 0 || s->sndbuf < 0 || s->linger_on < 0 || s->linger_on > 1 || s->linger_secs < 0)
		return bm_why(why, n, "buffer sizes %d/%d or linger %d/%d out of range", s->rcvbuf, s->sndbuf, s->linger_on,
			      s->linger_secs);
	if (s->rcvtimeo_us < 0 || s->rcvtimeo_us > MAX_TIMEO_US || s->sndtimeo_us < 0 || s->sndtimeo_us > MAX_TIMEO_US)
		return bm_why(why, n, "socket timeouts out of range");
	bool tcp_conn = s->type == SOCK_STREAM && s->state == BM_SK_CONNECTED;
	if (!tcp_conn) {
		struct bm_sk_tcp zero = {0};
		if (memcmp(&s->tcp, &zero, sizeof zero) != 0)
			return bm_why(why, n, "connection state on a socket that is no TCP connection");
	} else {
		const struct bm_sk_tcp *t = &s->tcp;
		if (t->outq > BM_SK_INET_MAX_QUEUE || t->inq > BM_SK_INET_MAX_QUEUE || t->notsent > t->outq)
			return bm_why(why, n, "queues of %u (%u not sent) and %u bytes", t->outq, t->notsent, t->inq);
		if (t->snd_wscale > 14 || t->rcv_wscale > 14 || t->mss == 0 || t->mss > 65535)
			return bm_why(why, n, "window scales %u/%u or MSS %u out of range", t->snd_wscale, t->rcv_wscale,
				      t->mss);
		if (t->options & ~(uint32_t)(TCPI_OPT_TIMESTAMPS | TCPI_OPT_SACK | TCPI_OPT_WSCALE))
			return bm_why(why, n, "TCP options %#x not known", t->options);
		if (t->window_clamp > INT32_MAX)
			return bm_why(why, n, "TCP window clamp %u out of range", t->window_clamp);
	}
	if (s->type == SOCK_DGRAM) {
		uint32_t count;
		s->dgram_bytes = len - hdr;
		s->dgrams = b + hdr;
		if (s->dgram_bytes > BM_SK_INET_MAX_QUEUE)
			return bm_why(why, n, "%u bytes of queued datagrams, more than %u", s->dgram_bytes,
				      BM_SK_INET_MAX_QUEUE);
		return bm_udp_queue_check(s->dgrams, s->dgram_bytes, s->family, &count, why, n);
	}
	if ((uint64_t)len != (uint64_t)hdr + s->tcp.outq + s->tcp.inq)
		return bm_why(why, n, "%u bytes of socket state, expected %llu", len,
			      (unsigned long long)hdr + s->tcp.outq + s->tcp.inq);
	s->sendq = b + hdr;
	s->recvq = b + hdr + s->tcp.outq;
	return true;
}

bool bm_sk_inet_check(const struct bm_fd *fds, uint32_t nfds, char *why, size_t n)
{
	for (uint32_t i = 0; i < nfds; i++) {
		const struct bm_fd *d = &fds[i];
		if (d->kind != BM_FD_TCP && d->kind != BM_FD_UDP)
			continue;
		if (d->shares_with >= 0) {
			if (d->data_len)
				return bm_why(why, n, "socket fd %d shares with fd %d yet has state of its own", d->fd,
					      d->shares_with);
			continue;
		}
		struct bm_sk_inet s;
		char detail[160];
		if (!bm_sk_inet_decode(d->data, d->data_len, &s, detail, sizeof detail))
			return bm_why(why, n, "socket fd %d: %s", d->fd, detail);
		if ((d->kind == BM_FD_TCP) != (s.protocol == IPPROTO_TCP))
			return bm_why(why, n, "socket fd %d: kind %u with protocol %u", d->fd, d->kind, s.protocol);
	}
	return true;
}

const struct bm_fd *bm_sk_inet_own(const struct bm_process *p, uint32_t i, struct bm_sk_inet *sk)
{
	const struct bm_fd *d = &p->fds[i];
	char why[160];
	bool own = (d->kind == BM_FD_TCP || d->kind == BM_FD_UDP) && d->shares_with < 0 &&
		   bm_sk_inet_decode(d->data, d->data_len, sk, why, sizeof why);
	return own ? d : NULL;
}

bool bm_sk_inet_check_version(const struct bm_fd *fds, uint32_t nfds, uint32_t version, char *why, size_t n)
{
	uint32_t newest = version < 13 ? 2 : version < 14 ? 3 : 4; /* the newest format such an image holds */
	for (uint32_t i = 0; i < nfds && version < 15; i++) {
		const struct bm_fd *d = &fds[i];
		if ((d->kind == BM_FD_TCP || d->kind == BM_FD_UDP) && d->data_len >= 4 && bm_load_le32(d->data) > newest)
			return bm_why(why, n, "socket fd %d: state of format %u in an image of version %u", d->fd,
				      bm_load_le32(d->data), version);
	}
	return true;
}

/* --- dump --------------------------------------------------------------- */

int bm_sk_grab(pid_t pid, int fd)
{
	int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (pidfd < 0)
		return -errno;
	int s = (int)syscall(SYS_pidfd_getfd, pidfd, fd, 0);
	int e = errno;
	close(pidfd);
	return s < 0 ? -e : s;
}

static int get_int(int s, int level, int name, int *v)
{
	socklen_t len = sizeof *v;
	*v = 0;
	return getsockopt(s, level, name, v, &len) < 0 ? -errno : 0;
}

/* The first option of TABLE that differs between S and FRESH, or NULL. */
static const char *first_difference(int s, int fresh, const struct bm_sk_inet *sk)
{
	for (size_t i = 0; i < sizeof uncarried / sizeof *uncarried; i++) {
		const struct sk_opt *o = &uncarried[i];
		if (!applies(o, sk->family, sk->type))
			continue;
		int a, b, ra = get_int(s, o->level, o->name, &a), rb = get_int(fresh, o->level, o->name, &b);
		if (ra != rb || a != b)
			return o->text;
	}
	for (size_t i = 0; i < sizeof uncarried_text / sizeof *uncarried_text; i++) {
		const struct sk_opt *o = &uncarried_text[i];
		if (!applies(o, sk->family, sk->type))
			continue;
		char a[64] = "", b[64] = "";
		socklen_t la = sizeof a - 1, lb = sizeof b - 1;
		int ra = getsockopt(s, o->level, o->name, a, &la) < 0 ? -errno : 0;
		int rb = getsockopt(fresh, o->level, o->name, b, &lb) < 0 ? -errno : 0;
		if (ra != rb || la != lb || memcmp(a, b, la) != 0)
			return o->text;
	}
	/* A classic filter has a length; an eBPF one cannot be read (EACCES). */
	socklen_t flen = 0;
	if (getsockopt(s, SOL_SOCKET, SO_GET_FILTER, NULL, &flen) < 0 || flen)
		return "SO_ATTACH_FILTER";
	return NULL;
}

/* Whether S has joined one of the multicast groups of its network
 * namespace (/proc/PID/net/igmp, igmp6), asked group by group. */
static bool has_membership(pid_t pid, int s, uint32_t family)
{
	char *text;
	if (bm_read_proc_text(pid, family == AF_INET ? "net/igmp" : "net/igmp6", &text) < 0)
		return false;
	bool member = false;
	int ifindex = 0;
	for (char *line = text; line && *line && !member; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
		struct group_filter gf;
		memset(&gf, 0, sizeof gf);
		if (family == AF_INET) {
			unsigned group;
			if (line[0] >= '0' && line[0] <= '9') {
				ifindex = atoi(line);
				continue;
			}
			if (line[0] != '\t' || sscanf(line, " %x", &group) != 1)
				continue;
			struct sockaddr_in *in = (struct sockaddr_in *)&gf.gf_group;
			in->sin_family = AF_INET;
			in->sin_addr.s_addr = group; /* printed as the raw big-endian word */
		} else {
			char hex[33];
			if (sscanf(line, "%d %*s %32s", &ifindex, hex) != 2 || strlen(hex) != 32)
				continue;
			struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&gf.gf_group;
			in6->sin6_family = AF_INET6;
			for (int k = 0; k < 16; k++) {
				unsigned byte;
				sscanf(hex + 2 * k, "%2x", &byte);
				in6->sin6_addr.s6_addr[k] = (uint8_t)byte;
			}
		}
		gf.gf_interface = (uint32_t)ifindex;
		socklen_t len = sizeof gf;
		member = getsockopt(s, family == AF_INET ? IPPROTO_IP : IPPROTO_IPV6, MCAST_MSFILTER, &gf, &len) == 0;
	}
	free(text);
	return member;
}

static const char *tcp_state_name(unsigned state)
{
	static const char *const names[] = {"?", "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2",
					    "TIME_WAIT", "CLOSE", "CLOSE_WAIT", "LAST_ACK", "LISTEN", "CLOSING"};
	return state < sizeof names / sizeof *names ? names[state] : "?";
}

/* The carried options on S, each set only where S differs: NULL, or the
 * name of the option that failed (errno set). */
static const char *apply_carried(int s, const struct bm_sk_inet *sk)
{
	for (unsigned i = 0; i < BM_SK_NOPTS; i++) {
		const struct sk_opt *o = &carried[i];
		int now;
		if (!applies(o, sk->family, sk->type) || get_int(s, o->level, o->name, &now) < 0 || now == sk->opt[i])
			continue;
		if (setsockopt(s, o->level, o->name, &sk->opt[i], sizeof(int)) < 0)
			return o->text;
	}
	/* The kernel doubles what it is given; the forcing variants pass rmem_max. */
	int now, half;
	if (get_int(s, SOL_SOCKET, SO_RCVBUF, &now) == 0 && now != sk->rcvbuf &&
	    (half = sk->rcvbuf / 2, setsockopt(s, SOL_SOCKET, SO_RCVBUFFORCE, &half, sizeof half) < 0))
		return "SO_RCVBUF";
	if (get_int(s, SOL_SOCKET, SO_SNDBUF, &now) == 0 && now != sk->sndbuf &&
	    (half = sk->sndbuf / 2, setsockopt(s, SOL_SOCKET, SO_SNDBUFFORCE, &half, sizeof half) < 0))
		return "SO_SNDBUF";
	if (bm_sk_buf_lock_back(s, sk) < 0)
		return "SO_BUF_LOCK";
	struct linger lg = {sk->linger_on, sk->linger_secs};
	if ((lg.l_onoff || lg.l_linger) && setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof lg) < 0)
		return "SO_LINGER";
	/* A connection's after its rebuild (bm_tcp_repair_finish): before, it
	 * would bound what the repair-mode connect derives. */
	if (sk->user_mss && sk->state != BM_SK_CONNECTED &&
	    setsockopt(s, IPPROTO_TCP, TCP_MAXSEG, &sk->user_mss, sizeof sk->user_mss) < 0)
		return "TCP_MAXSEG";
	struct timeval rt = {sk->rcvtimeo_us / 1000000, sk->rcvtimeo_us % 1000000};
	struct timeval st = {sk->sndtimeo_us / 1000000, sk->sndtimeo_us % 1000000};
	if (sk->rcvtimeo_us && setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &rt, sizeof rt) < 0)
		return "SO_RCVTIMEO";
	if (sk->sndtimeo_us && setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &st, sizeof st) < 0)
		return "SO_SNDTIMEO";
	return NULL;
}

/* Refuses S if an error waits on it (SO_ERROR, an ICMP error on a
 * connected UDP socket, or its error queue) or if it was shut down in
 * either direction, which binmig does not carry.  poll() tells the first
 * without taking the error, and a shutdown for reading; sock_diag tells
 * the shutdown bits of a socket with a port (of one without, only a
 * shutdown for reading shows).  0, 1 after refusing (why), -errno. */
static int shut_down(int s, const struct bm_sk_inet *sk, char *why, size_t n)
{
	const char *what = sk->type == SOCK_STREAM ? "TCP" : "UDP";
	int rc = bm_inet_error_waits(s, what, why, n);
	if (rc != 0)
		return rc;
	struct pollfd p = {s, POLLRDHUP, 0};
	if (poll(&p, 1, 0) < 0)
		return -errno;
	struct bm_inet_diag diag;
	rc = bm_inet_diag_query(s, sk->family, sk->protocol, &diag);
	if (rc < 0 && rc != -ENOENT)
		return rc;
	unsigned bits = (rc == 0 ? diag.shutdown : 0) | ((p.revents & POLLRDHUP) ? 1u : 0u);
	if (bits & 3)
		return bm_why(why, n, ", a %s socket shut down for %s, which binmig does not carry", what,
			      (bits & 3) == 3 ? "reading and writing" : (bits & 1) ? "reading" : "writing"), 1;
	return 0;
}

/* Reads what S is into SK; a refusal reason in why (then returns 1). */
static int read_socket(pid_t pid, int s, struct bm_sk_inet *sk, char *why, size_t n)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	if (getsockname(s, (struct sockaddr *)&ss, &len) < 0)
		return -errno;
	from_sockaddr(&ss, &sk->local);
	len = sizeof ss;
	bool connected = getpeername(s, (struct sockaddr *)&ss, &len) == 0;
	if (connected)
		from_sockaddr(&ss, &sk->peer);
	int rc;
	if (sk->type == SOCK_STREAM) {
		struct bm_tcp_info_more more;
		memset(&more, 0, sizeof more);
		len = sizeof more;
		if (getsockopt(s, IPPROTO_TCP, TCP_INFO, &more, &len) < 0)
			return -errno;
		const struct tcp_info ti = more.ti;
		if (ti.tcpi_state == TCP_LISTEN) {
			/* For a listener TCP_INFO gives the accept queue and the backlog. */
			char addr[80];
			bm_sk_addr_text(sk->family, &sk->local, addr, sizeof addr);
			if (ti.tcpi_unacked)
				return bm_why(why, n, ", a TCP listener on %s with %u connection%s waiting to be accepted, which "
					      "binmig cannot carry", addr, ti.tcpi_unacked, ti.tcpi_unacked == 1 ? "" : "s"), 1;
			sk->state = BM_SK_LISTEN;
			sk->backlog = (int32_t)ti.tcpi_sacked;
		} else if (ti.tcpi_state == TCP_ESTABLISHED && connected) {
			/* The rest of the connection is read once the process is stopped. */
			sk->state = BM_SK_CONNECTED;
			int mss = 0;
			if ((rc = get_int(s, IPPROTO_TCP, TCP_MAXSEG, &mss)) < 0)
				return rc;
			sk->tcp.mss = (uint32_t)mss;
		} else if (ti.tcpi_state == TCP_CLOSE && !connected) {
			/* A socket whose connection ended reads end of file, a new one ENOTCONN. */
			if (more.segs_in || more.segs_out)
				return bm_why(why, n, ", a TCP socket whose connection has ended"), 1;
			sk->state = sk->local.port ? BM_SK_BOUND : BM_SK_NEW;
		} else {
			return bm_why(why, n, ", a TCP socket in state %s (binmig carries listening, bound and established "
				      "ones)", tcp_state_name(ti.tcpi_state)), 1;
		}
	} else {
		sk->state = connected ? BM_SK_CONNECTED : sk->local.port ? BM_SK_BOUND : BM_SK_NEW;
		/* Corked bytes wait in the socket for the datagram they begin,
		 * which the restore would not have (SIOCOUTQ counts them). */
		int corked = 0, outq = 0;
		if ((rc = get_int(s, IPPROTO_UDP, UDP_CORK, &corked)) < 0 || ioctl(s, SIOCOUTQ, &outq) < 0)
			return rc < 0 ? rc : -errno;
		if (corked || outq)
			return bm_why(why, n, ", a UDP socket %s, which binmig does not carry", corked ? "with UDP_CORK set" :
				      "holding a datagram begun with MSG_MORE and not yet sent"), 1;
	}
	if ((rc = shut_down(s, sk, why, n)) != 0)
		return rc;
	for (unsigned i = 0; i < BM_SK_NOPTS; i++)
		if (applies(&carried[i], sk->family, sk->type) &&
		    (rc = get_int(s, carried[i].level, carried[i].name, &sk->opt[i])) < 0)
			return rc;
	if ((rc = get_int(s, SOL_SOCKET, SO_RCVBUF, &sk->rcvbuf)) < 0 ||
	    (rc = get_int(s, SOL_SOCKET, SO_SNDBUF, &sk->sndbuf)) < 0)
		return rc;
	if (get_int(s, SOL_SOCKET, SO_BUF_LOCK, &sk->buf_lock) < 0)
		sk->buf_lock = -1; /* before Linux 5.14 */
	struct linger lg;
	struct timeval rt, st;
	socklen_t ll = sizeof lg, rl = sizeof rt, sl = sizeof st;
	if (getsockopt(s, SOL_SOCKET, SO_LINGER, &lg, &ll) < 0 || getsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &rt, &rl) < 0 ||
	    getsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &st, &sl) < 0)
		return -errno;
	sk->linger_on = lg.l_onoff ? 1 : 0;
	sk->linger_secs = lg.l_linger;
	sk->rcvtimeo_us = (int64_t)rt.tv_sec * 1000000 + rt.tv_usec;
	sk->sndtimeo_us = (int64_t)st.tv_sec * 1000000 + st.tv_usec;
	if ((rc = bm_sk_inet_last_read(s, sk)) < 0)
		return rc;

	/* Compared with a new socket given the carried options, as the restore
	 * will (IP_TOS sets SO_PRIORITY too). */
	int fresh = socket((int)sk->family, (int)sk->type | SOCK_CLOEXEC, (int)sk->protocol);
	if (fresh < 0)
		return -errno;
	char other[64];
	/* Not connected, TCP_MAXSEG shows the MSS the program set, where it
	 * set one (else the new socket's segment size, the same). */
	int mine = 0, theirs = 0;
	if (sk->type == SOCK_STREAM && sk->state != BM_SK_CONNECTED &&
	    ((rc = get_int(s, IPPROTO_TCP, TCP_MAXSEG, &mine)) < 0 || (rc = get_int(fresh, IPPROTO_TCP, TCP_MAXSEG, &theirs)) < 0)) {
		close(fresh);
		return rc;
	}
	sk->user_mss = mine != theirs ? (uint32_t)mine : 0;
	const char *differs = apply_carried(fresh, sk);
	if (!differs)
		differs = first_difference(s, fresh, sk);
	if (!differs)
		differs = bm_sk_inet_opts_differ(s, fresh, sk->family, sk->type, sk->state, other, sizeof other);
	close(fresh);
	if (differs)
		return bm_why(why, n, ", a %s socket with option %s set, which binmig does not carry",
			      sk->type == SOCK_STREAM ? "TCP" : "UDP", differs), 1;
	if (has_membership(pid, s, sk->family))
		return bm_why(why, n, ", a socket that joined a multicast group, which binmig does not carry"), 1;
	return 0;
}

int bm_sk_inet_describe(pid_t pid, int fd, const char *link, const struct stat *st, struct bm_fd *out)
{
	int s = bm_sk_grab(pid, fd);
	if (s < 0)
		return bm_error_errno(BM_EXIT_TARGET, -s, "cannot look at the socket fd %d of process %d", fd, pid);
	struct bm_sk_inet sk;
	memset(&sk, 0, sizeof sk);
	int family = 0, type = 0, protocol = 0, rc;
	if ((rc = get_int(s, SOL_SOCKET, SO_DOMAIN, &family)) < 0 || (rc = get_int(s, SOL_SOCKET, SO_TYPE, &type)) < 0 ||
	    (rc = get_int(s, SOL_SOCKET, SO_PROTOCOL, &protocol)) < 0) {
		close(s);
		return bm_error_errno(BM_EXIT_TARGET, -rc, "cannot look at the socket fd %d of process %d", fd, pid);
	}
	if (family != AF_INET && family != AF_INET6) {
		close(s);
		return 0;
	}
	char why[256] = "";
	if (!(type == SOCK_STREAM && protocol == IPPROTO_TCP) && !(type == SOCK_DGRAM && protocol == IPPROTO_UDP)) {
		close(s);
		snprintf(why, sizeof why, ", an IPv%d socket of type %d protocol %d (binmig carries TCP and UDP)",
			 family == AF_INET ? 4 : 6, type, protocol);
		return bm_fd_refuse(pid, fd, link, st->st_mode, why);
	}
	sk.family = (uint32_t)family;
	sk.type = (uint32_t)type;
	sk.protocol = (uint32_t)protocol;
	rc = read_socket(pid, s, &sk, why, sizeof why);
	close(s);
	if (rc < 0)
		return bm_error_errno(BM_EXIT_TARGET, -rc, "cannot read the socket fd %d of process %d", fd, pid);
	if (rc > 0)
		return bm_fd_refuse(pid, fd, link, st->st_mode, why);
	if ((rc = bm_sk_inet_encode(&sk, &out->data, &out->data_len)) < 0)
		return bm_error(BM_EXIT_FAILURE, "out of memory");
	out->kind = protocol == IPPROTO_TCP ? BM_FD_TCP : BM_FD_UDP;
	out->object_id = st->st_ino; /* dups of one socket share it */
	return 1;
}

/* --- restore ------------------------------------------------------------ */

int bm_sk_inet_precheck(const struct bm_process *p)
{
	/* The addresses moving with the process arrive before its sockets. */
	if (bm_movaddr_place() < 0)
		return -1;
	for (uint32_t i = 0; i < p->nfds; i++) {
		const struct bm_fd *d = &p->fds[i];
		struct bm_sk_inet sk;
		char why[160];
		if ((d->kind != BM_FD_TCP && d->kind != BM_FD_UDP) || d->shares_with >= 0 ||
		    !bm_sk_inet_decode(d->data, d->data_len, &sk, why, sizeof why) || sk.state < BM_SK_BOUND)
			continue;
		/* A connection shares its port with its listener: only its address is tried. */
		bool conn = sk.type == SOCK_STREAM && sk.state == BM_SK_CONNECTED;
		struct bm_sk_addr at = sk.local;
		if (conn)
			at.port = 0;
		struct sockaddr_storage ss;
		socklen_t len = bm_sk_sockaddr(sk.family, &at, &ss);
		int s = socket((int)sk.family, (int)sk.type | SOCK_CLOEXEC, (int)sk.protocol);
		int rc = s < 0 ? -errno : 0;
		int one = 1;
		if (rc == 0 && !conn && sk.opt[BM_SKO_REUSEADDR])
			setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
		if (rc == 0 && !conn && sk.opt[BM_SKO_REUSEPORT])
			setsockopt(s, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
		if (rc == 0 && sk.family == AF_INET6)
			setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &sk.opt[BM_SKO_V6ONLY], sizeof(int));
		if (rc == 0 && bind(s, (struct sockaddr *)&ss, len) < 0)
			rc = -errno;
		if (s >= 0)
			close(s);
		char addr[80];
		bm_sk_addr_text(sk.family, &sk.local, addr, sizeof addr);
		const char *what = sk.type == SOCK_STREAM ? "TCP" : "UDP";
		if (rc == -EADDRNOTAVAIL)
			return bm_error(BM_EXIT_CONFLICT, "fd %d: a %s socket bound to %s, an address this host does not have",
					d->fd, what, addr);
		if (rc == -EADDRINUSE)
			return bm_error(BM_EXIT_CONFLICT, "fd %d: a %s socket bound to %s, which is in use on this host",
					d->fd, what, addr);
		if (rc < 0)
			return bm_error_errno(BM_EXIT_CONFLICT, -rc, "fd %d: cannot bind a %s socket to %s here", d->fd, what,
					      addr);
	}
	return 0;
}

static uint32_t state_of(const struct bm_fd *d)
{
	return d->data && d->data_len >= BM_SK_INET_HDR_V1 ? bm_load_le32(d->data + 16) : 0;
}

bool bm_sk_inet_deferred(const struct bm_process *p, const struct bm_fd *d)
{
	if (d->shares_with >= 0)
		d = bm_fd_find(p->fds, p->nfds, d->shares_with);
	return d && d->kind == BM_FD_TCP && state_of(d) == BM_SK_CONNECTED;
}

static int fail(char *err, size_t errlen, const struct bm_fd *d, const char *what)
{
	snprintf(err, errlen, "fd %d: socket: %s: %s", d->fd, what, strerror(errno));
	return -1;
}

int bm_sk_inet_open(const struct bm_fd *d, char *err, size_t errlen)
{
	struct bm_sk_inet sk;
	char why[160];
	if (!bm_sk_inet_decode(d->data, d->data_len, &sk, why, sizeof why)) {
		snprintf(err, errlen, "fd %d: %s", d->fd, why);
		return -1;
	}
	struct bm_fd_maker was = bm_fd_maker_become(d);
	int s = socket((int)sk.family, (int)sk.type | SOCK_CLOEXEC, (int)sk.protocol), e = errno;
	bm_fd_maker_back(was);
	errno = e;
	if (s < 0)
		return fail(err, errlen, d, "socket");
	struct sockaddr_storage ss;
	socklen_t len;
	char addr[80];
	const char *bad = apply_carried(s, &sk);
	int rc = bad ? fail(err, errlen, d, bad) : 0;
	if (rc == 0 && sk.type == SOCK_DGRAM && sk.dgram_bytes && sk.state < BM_SK_BOUND) {
		errno = EINVAL;
		rc = fail(err, errlen, d, "datagrams queued on a socket without an address");
	}
	if (rc == 0 && sk.shut_wr && bm_sk_inet_shut_back(s) < 0)
		rc = fail(err, errlen, d, "shutdown(SHUT_WR)");
	if (rc == 0 && sk.type == SOCK_STREAM && sk.state == BM_SK_CONNECTED) {
		rc = bm_tcp_repair_open(s, &sk, err, errlen);
		if (rc < 0) {
			char inner[256];
			snprintf(inner, sizeof inner, "%s", err);
			snprintf(err, errlen, "fd %d: %s", d->fd, inner);
		}
	} else if (rc == 0 && sk.state >= BM_SK_BOUND) {
		struct bm_sk_addr at = bm_sk_bind_addr(&sk);
		len = bm_sk_sockaddr(sk.family, &at, &ss);
		bm_sk_addr_text(sk.family, &sk.local, addr, sizeof addr);
		if (bind(s, (struct sockaddr *)&ss, len) < 0)
			rc = fail(err, errlen, d, addr);
		if (rc == 0 && sk.state == BM_SK_LISTEN && listen(s, sk.backlog) < 0)
			rc = fail(err, errlen, d, "listen");
		if (rc == 0 && sk.state == BM_SK_CONNECTED) {
			len = bm_sk_sockaddr(sk.family, &sk.peer, &ss);
			bm_sk_addr_text(sk.family, &sk.peer, addr, sizeof addr);
			if (connect(s, (struct sockaddr *)&ss, len) < 0)
				rc = fail(err, errlen, d, addr);
		}
		if (rc == 0 && bm_udp_queue_refill(s, &sk, err, errlen) < 0) {
			char inner[256];
			snprintf(inner, sizeof inner, "%s", err);
			snprintf(err, errlen, "fd %d: %s", d->fd, inner);
			rc = -1;
		}
	}
	if (rc < 0) {
		close(s);
		return -1;
	}
	return s;
}

int bm_sk_inet_finish(const struct bm_process *p, char *err, size_t errlen)
{
	for (uint32_t i = 0; i < p->nfds; i++) {
		const struct bm_fd *d = &p->fds[i];
		struct bm_sk_inet sk;
		char why[160];
		if (d->kind != BM_FD_TCP || d->shares_with >= 0 || state_of(d) != BM_SK_CONNECTED ||
		    !bm_sk_inet_decode(d->data, d->data_len, &sk, why, sizeof why))
			continue;
		if (bm_tcp_repair_finish(d->fd, &sk, err, errlen) < 0) {
			char inner[256];
			snprintf(inner, sizeof inner, "%s", err);
			snprintf(err, errlen, "fd %d: %s", d->fd, inner);
			return -1;
		}
	}
	return bm_sk_inet_last_restore(p, err, errlen);
}

void bm_sk_inet_describe_text(const struct bm_fd *d, char *buf, size_t len)
{
	struct bm_sk_inet sk;
	char why[160], local[80], peer[80];
	if (d->shares_with >= 0 || !bm_sk_inet_decode(d->data, d->data_len, &sk, why, sizeof why)) {
		snprintf(buf, len, "%s", "");
		return;
	}
	static const char *const states[] = {"?", "new", "bound", "listening", "connected"};
	bm_sk_addr_text(sk.family, &sk.local, local, sizeof local);
	bm_sk_addr_text(sk.family, &sk.peer, peer, sizeof peer);
	int n = snprintf(buf, len, "  (%s %s, %s", sk.type == SOCK_STREAM ? "tcp" : "udp", states[sk.state], local);
	if (n >= 0 && (size_t)n < len && sk.state == BM_SK_CONNECTED)
		n += snprintf(buf + n, len - (size_t)n, " -> %s", peer);
	if (n >= 0 && (size_t)n < len && sk.state == BM_SK_LISTEN)
		n += snprintf(buf + n, len - (size_t)n, ", backlog %d", sk.backlog);
	uint32_t count = 0;
	if (n >= 0 && (size_t)n < len && sk.dgram_bytes &&
	    bm_udp_queue_check(sk.dgrams, sk.dgram_bytes, sk.family, &count, why, sizeof why))
		n += snprintf(buf + n, len - (size_t)n, ", %u datagram%s queued", count, count == 1 ? "" : "s");
	if (n >= 0 && (size_t)n < len && sk.tcp.outq + sk.tcp.inq)
		n += snprintf(buf + n, len - (size_t)n, ", %u bytes to send, %u to read", sk.tcp.outq, sk.tcp.inq);
	if (n >= 0 && (size_t)n < len && sk.shut_wr)
		n += snprintf(buf + n, len - (size_t)n, ", shut down for writing");
	if (n >= 0 && (size_t)n < len && sk.user_mss)
		n += snprintf(buf + n, len - (size_t)n, ", TCP_MAXSEG %u set", sk.user_mss);
	if (n >= 0 && (size_t)n < len)
		snprintf(buf + n, len - (size_t)n, ")");
}
