/* Every option of a TCP or UDP socket against a new socket's
 * (sk_inet_opts.h). */
#include "sk_inet_opts.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "sk_inet.h"

/* The option numbers read at each level: past them lie netfilter's
 * (IPT_SO_GET_INFO is 64 at IPPROTO_IP and IPPROTO_IPV6), whose reads
 * can load kernel modules. */
struct level {
	int level;
	const char *text;
	int end;
};

static const struct level levels[] = {
	{SOL_SOCKET, "SOL_SOCKET", 96},  {IPPROTO_IP, "IPPROTO_IP", 64}, {IPPROTO_IPV6, "IPPROTO_IPV6", 80},
	{IPPROTO_TCP, "IPPROTO_TCP", 64}, {IPPROTO_UDP, "IPPROTO_UDP", 128},
};

/* Where a read shows what the socket is or holds, not a setting. */
enum { ALWAYS, TCP_ONLY, CONNECTED_TCP, CONNECTED };

struct skip {
	int level, name, when;
};

static const struct skip skips[] = {
	{SOL_SOCKET, SO_ERROR, ALWAYS}, /* reading it clears it (sk_inet_diag.h tells without) */
	{SOL_SOCKET, SO_ACCEPTCONN, ALWAYS},
	{SOL_SOCKET, SO_PEERCRED, ALWAYS},
	{SOL_SOCKET, SO_PEERNAME, ALWAYS},
	{SOL_SOCKET, SO_PEERSEC, ALWAYS},
	{SOL_SOCKET, SO_MEMINFO, ALWAYS},
	{SOL_SOCKET, 56, ALWAYS}, /* SO_INCOMING_NAPI_ID */
	{SOL_SOCKET, 57, ALWAYS}, /* SO_COOKIE */
	{SOL_SOCKET, 59, ALWAYS}, /* SO_PEERGROUPS */
	{SOL_SOCKET, 71, ALWAYS}, /* SO_NETNS_COOKIE */
	{SOL_SOCKET, 77, ALWAYS}, /* SO_PEERPIDFD */
	/* Carried (sk_inet_last.h), and moved by each packet: not compared. */
	{SOL_SOCKET, SO_INCOMING_CPU, ALWAYS},
	{IPPROTO_TCP, TCP_QUICKACK, ALWAYS},
	{IPPROTO_IP, IP_MTU, CONNECTED},
	{IPPROTO_IP, 52, ALWAYS}, /* IP_PROTOCOL: the local port (inet_num) of a TCP or UDP socket */
	/* An accepted connection has the SYN's TTL and interface there. */
	{IPPROTO_IP, IP_MULTICAST_TTL, TCP_ONLY},
	{IPPROTO_IP, IP_MULTICAST_IF, TCP_ONLY},
	{IPPROTO_IPV6, IPV6_MULTICAST_HOPS, TCP_ONLY},
	{IPPROTO_IPV6, IPV6_MULTICAST_IF, TCP_ONLY},
	{IPPROTO_IPV6, IPV6_ADDRFORM, CONNECTED}, /* the family, ENOTCONN before */
	{IPPROTO_IPV6, IPV6_MTU, CONNECTED},
	{IPPROTO_IPV6, IPV6_PATHMTU, CONNECTED},
	{IPPROTO_IPV6, 64, ALWAYS}, /* netfilter's IP6T_SO_GET_INFO, _ENTRIES, _REVISION_* */
	{IPPROTO_IPV6, 65, ALWAYS},
	{IPPROTO_IPV6, 68, ALWAYS},
	{IPPROTO_IPV6, 69, ALWAYS},
	{IPPROTO_TCP, TCP_INFO, ALWAYS},
	{IPPROTO_TCP, TCP_CC_INFO, ALWAYS},
	{IPPROTO_TCP, TCP_QUEUE_SEQ, ALWAYS},
	{IPPROTO_TCP, TCP_TIMESTAMP, ALWAYS},
	{IPPROTO_TCP, TCP_SAVED_SYN, ALWAYS}, /* reading it frees it */
	{IPPROTO_TCP, TCP_REPAIR_WINDOW, ALWAYS},
	{IPPROTO_TCP, 35, ALWAYS}, /* TCP_ZEROCOPY_RECEIVE: a read that receives */
	{IPPROTO_TCP, 40, ALWAYS}, /* TCP_AO_INFO, TCP_AO_GET_KEYS, TCP_AO_REPAIR: read a request */
	{IPPROTO_TCP, 41, ALWAYS},
	{IPPROTO_TCP, 42, ALWAYS},
	/* A connection's segment size (carried by TCP_REPAIR, or derived
	 * again: docs/process-state.md), window clamp (carried by
	 * sk_tcp_repair.c). */
	{IPPROTO_TCP, TCP_MAXSEG, CONNECTED_TCP},
	{IPPROTO_TCP, TCP_WINDOW_CLAMP, CONNECTED_TCP},
};

/* Names for the message; others are given by number. */
struct named {
	int level, name;
	const char *text;
};

static const struct named names[] = {
	{SOL_SOCKET, 72, "SO_BUF_LOCK"}, {SOL_SOCKET, 74, "SO_TXREHASH"}, {SOL_SOCKET, 75, "SO_RCVMARK"},
	{SOL_SOCKET, 63, "SO_TIMESTAMP_NEW"}, {SOL_SOCKET, 64, "SO_TIMESTAMPNS_NEW"}, {SOL_SOCKET, SO_NO_CHECK, "SO_NO_CHECK"},
	{SOL_SOCKET, 41, "SO_WIFI_STATUS"}, {SOL_SOCKET, 43, "SO_NOFCS"}, {SOL_SOCKET, 47, "SO_MAX_PACING_RATE"},
	{SOL_SOCKET, 69, "SO_PREFER_BUSY_POLL"}, {SOL_SOCKET, 70, "SO_BUSY_POLL_BUDGET"}, {SOL_SOCKET, 61, "SO_TXTIME"},
	{SOL_SOCKET, 73, "SO_RESERVE_MEM"}, {SOL_SOCKET, 65, "SO_TIMESTAMPING_NEW"},
	{IPPROTO_IP, IP_TOS, "IP_TOS"}, {IPPROTO_IP, IP_TTL, "IP_TTL"}, {IPPROTO_IP, IP_OPTIONS, "IP_OPTIONS"},
	{IPPROTO_IP, IP_PKTINFO, "IP_PKTINFO"}, {IPPROTO_IP, IP_RECVERR, "IP_RECVERR"},
	{IPPROTO_IP, IP_MTU_DISCOVER, "IP_MTU_DISCOVER"}, {IPPROTO_IP, IP_MULTICAST_LOOP, "IP_MULTICAST_LOOP"},
	{IPPROTO_IP, 21, "IP_MINTTL"}, {IPPROTO_IP, 23, "IP_CHECKSUM"}, {IPPROTO_IP, 25, "IP_RECVFRAGSIZE"},
	{IPPROTO_IP, 18, "IP_PASSSEC"}, {IPPROTO_IP, 50, "IP_UNICAST_IF"}, {IPPROTO_IP, 51, "IP_LOCAL_PORT_RANGE"},
	{IPPROTO_IP, 26, "IP_RECVERR_RFC4884"}, {IPPROTO_IP, IP_FREEBIND, "IP_FREEBIND"},
	{IPPROTO_IPV6, IPV6_RECVRTHDR, "IPV6_RECVRTHDR"}, {IPPROTO_IPV6, IPV6_RECVHOPOPTS, "IPV6_RECVHOPOPTS"},
	{IPPROTO_IPV6, IPV6_RECVDSTOPTS, "IPV6_RECVDSTOPTS"}, {IPPROTO_IPV6, IPV6_2292PKTINFO, "IPV6_2292PKTINFO"},
	{IPPROTO_IPV6, IPV6_2292HOPLIMIT, "IPV6_2292HOPLIMIT"}, {IPPROTO_IPV6, IPV6_RECVPATHMTU, "IPV6_RECVPATHMTU"},
	{IPPROTO_IPV6, 74, "IPV6_RECVORIGDSTADDR"}, {IPPROTO_IPV6, 70, "IPV6_AUTOFLOWLABEL"},
	{IPPROTO_IPV6, IPV6_DONTFRAG, "IPV6_DONTFRAG"}, {IPPROTO_IPV6, 11, "IPV6_FLOWINFO"},
	{IPPROTO_IPV6, 72, "IPV6_ADDR_PREFERENCES"}, {IPPROTO_IPV6, 73, "IPV6_MINHOPCOUNT"},
	{IPPROTO_IPV6, 29, "IPV6_MULTICAST_ALL"}, {IPPROTO_IPV6, 77, "IPV6_RECVFRAGSIZE"},
	{IPPROTO_IPV6, 31, "IPV6_RECVERR_RFC4884"}, {IPPROTO_IPV6, IPV6_HOPOPTS, "IPV6_HOPOPTS"},
	{IPPROTO_IPV6, IPV6_RTHDR, "IPV6_RTHDR"}, {IPPROTO_IPV6, IPV6_DSTOPTS, "IPV6_DSTOPTS"},
	{IPPROTO_IPV6, 76, "IPV6_UNICAST_IF"},
	{IPPROTO_TCP, TCP_MAXSEG, "TCP_MAXSEG"}, {IPPROTO_TCP, TCP_WINDOW_CLAMP, "TCP_WINDOW_CLAMP"},
	{IPPROTO_TCP, TCP_QUICKACK, "TCP_QUICKACK"}, {IPPROTO_TCP, 30, "TCP_FASTOPEN_CONNECT"},
	{IPPROTO_TCP, 34, "TCP_FASTOPEN_NO_COOKIE"}, {IPPROTO_TCP, 33, "TCP_FASTOPEN_KEY"},
	{IPPROTO_TCP, 44, "TCP_RTO_MAX_MS"}, {IPPROTO_TCP, 45, "TCP_RTO_MIN_US"}, {IPPROTO_TCP, 46, "TCP_DELACK_MAX_US"},
	{IPPROTO_UDP, 1, "UDP_CORK"}, {IPPROTO_UDP, 100, "UDP_ENCAP"}, {IPPROTO_UDP, 101, "UDP_NO_CHECK6_TX"},
	{IPPROTO_UDP, 102, "UDP_NO_CHECK6_RX"}, {IPPROTO_UDP, 103, "UDP_SEGMENT"}, {IPPROTO_UDP, 104, "UDP_GRO"},
};

static bool skipped(int level, int name, uint32_t type, uint32_t state)
{
	bool tcp = type == SOCK_STREAM, connected = state == BM_SK_CONNECTED;
	for (size_t i = 0; i < sizeof skips / sizeof *skips; i++) {
		const struct skip *k = &skips[i];
		if (k->level == level && k->name == name &&
		    (k->when == ALWAYS || (k->when == TCP_ONLY && tcp) || (k->when == CONNECTED && connected) ||
		     (k->when == CONNECTED_TCP && connected && tcp)))
			return true;
	}
	return false;
}

static void name_of(const struct level *l, int name, char *buf, size_t n)
{
	for (size_t i = 0; i < sizeof names / sizeof *names; i++)
		if (names[i].level == l->level && names[i].name == name) {
			snprintf(buf, n, "%s", names[i].text);
			return;
		}
	snprintf(buf, n, "%d of level %s", name, l->text);
}

/* One read: the error or 0, and the bytes in buf (*len). */
static int read_opt(int s, int level, int name, uint8_t *buf, socklen_t *len)
{
	memset(buf, 0, *len);
	return getsockopt(s, level, name, buf, len) < 0 ? errno : 0;
}

const char *bm_sk_inet_opts_differ(int s, int fresh, uint32_t family, uint32_t type, uint32_t state, char *name,
				   size_t n)
{
	for (size_t i = 0; i < sizeof levels / sizeof *levels; i++) {
		const struct level *l = &levels[i];
		if ((l->level == IPPROTO_IPV6 && family != AF_INET6) || (l->level == IPPROTO_TCP && type != SOCK_STREAM) ||
		    (l->level == IPPROTO_UDP && type != SOCK_DGRAM))
			continue;
		for (int o = 0; o < l->end; o++) {
			uint8_t a[256], b[256];
			socklen_t la = sizeof a, lb = sizeof b;
			if (skipped(l->level, o, type, state))
				continue;
			int ea = read_opt(s, l->level, o, a, &la), eb = read_opt(fresh, l->level, o, b, &lb);
			if (ea == eb && (ea || (la == lb && memcmp(a, b, la) == 0)))
				continue;
			name_of(l, o, name, n);
			return name;
		}
	}
	return NULL;
}
