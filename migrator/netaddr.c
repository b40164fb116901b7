/* Addresses through rtnetlink (netaddr.h); their announcement is in
 * netaddr_announce.c. */
#include "netaddr.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <linux/if_addr.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

/* The kernel answers a request at once; this only bounds a wait that
 * should never happen. */
#define REPLY_TIMEOUT_S 5
/* A new IPv6 address's local route comes from the kernel's address work,
 * which runs from a work queue and takes the routing lock (RTNL), which
 * other work on the machine may hold for a while. */
#define LOCAL_ROUTE_TIMEOUT_S 20
#define BUF_SIZE 32768
/* Room for one acknowledgement, answer or notification of one route or
 * address. */
#define NOTE_SIZE 8192

/* A route netlink socket, listening to GROUPS (RTMGRP_*) too. */
static int nl_open(unsigned groups)
{
	int s = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (s < 0)
		return -errno;
	struct timeval tv = {REPLY_TIMEOUT_S, 0};
	struct sockaddr_nl local = {.nl_family = AF_NETLINK, .nl_groups = groups};
	if (setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0 ||
	    bind(s, (struct sockaddr *)&local, sizeof local) < 0) {
		int e = errno;
		close(s);
		return -e;
	}
	return s;
}

static int nl_send(int s, struct nlmsghdr *h)
{
	struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
	ssize_t n = sendto(s, h, h->nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof kernel);
	if (n < 0)
		return -errno;
	return (size_t)n == h->nlmsg_len ? 0 : -EIO;
}

/* One datagram of replies into buf; its length or -errno. */
static ssize_t nl_recv(int s, void *buf, size_t len)
{
	for (;;) {
		ssize_t n = recv(s, buf, len, 0);
		if (n >= 0)
			return n;
		if (errno != EINTR)
			return errno == EAGAIN ? -ETIMEDOUT : -errno;
	}
}

struct addr_req {
	struct nlmsghdr h;
	struct ifaddrmsg ifa;
	char attrs[64];
};

static void put_attr(struct nlmsghdr *h, unsigned short type, const void *data, size_t len)
{
	struct rtattr *rta = (struct rtattr *)((char *)h + NLMSG_ALIGN(h->nlmsg_len));
	rta->rta_type = type;
	rta->rta_len = (unsigned short)RTA_LENGTH(len);
	memcpy(RTA_DATA(rta), data, len);
	h->nlmsg_len = NLMSG_ALIGN(h->nlmsg_len) + RTA_ALIGN(rta->rta_len);
}

/* Whether the kernel routes A's address to this host (a route of type
 * RTN_LOCAL, RTM_GETROUTE): 1 yes, 0 not yet, or -errno.  The answer is
 * the message of S's PORT with SEQ; *changed is set if a route
 * notification came meanwhile. */
static int is_local(int s, uint32_t port, const struct bm_netaddr *a, uint32_t seq, bool *changed)
{
	struct {
		struct nlmsghdr h;
		struct rtmsg rt;
		char attrs[32];
	} req;
	memset(&req, 0, sizeof req);
	req.h.nlmsg_len = NLMSG_LENGTH(sizeof req.rt);
	req.h.nlmsg_type = RTM_GETROUTE;
	req.h.nlmsg_flags = NLM_F_REQUEST;
	req.h.nlmsg_seq = seq;
	req.rt.rtm_family = AF_INET6;
	req.rt.rtm_dst_len = 128;
	put_attr(&req.h, RTA_DST, a->addr, 16);
	int rc = nl_send(s, &req.h);
	char buf[NOTE_SIZE];
	while (rc == 0) {
		ssize_t n = nl_recv(s, buf, sizeof buf);
		if (n < 0)
			return (int)n;
		int left = (int)n;
		for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, left); h = NLMSG_NEXT(h, left)) {
			if (h->nlmsg_seq != seq || h->nlmsg_pid != port) {
				*changed = true;
			} else if (h->nlmsg_type == RTM_NEWROUTE && h->nlmsg_len >= NLMSG_LENGTH(sizeof(struct rtmsg))) {
				const struct rtmsg *rt = NLMSG_DATA(h);
				return rt->rtm_type == RTN_LOCAL;
			} else {
				return 0; /* an error: no route to it at all yet */
			}
		}
	}
	return rc;
}

/* The kernel acknowledges a new IPv6 address before it is usable: its
 * local route, without which nothing sent to it is received, is added
 * afterwards, from a work queue (where duplicate address detection would
 * have run).  S, subscribed to IPv6 route changes before the request,
 * waits for it: asked, then asked again after each change and after
 * each REPLY_TIMEOUT_S seconds without one, for at most
 * LOCAL_ROUTE_TIMEOUT_S seconds.  -ETIMEDOUT if it never comes (an
 * interface that is down, for example). */
static int wait_local(int s, const struct bm_netaddr *a)
{
	char buf[NOTE_SIZE];
	struct sockaddr_nl me;
	socklen_t len = sizeof me;
	if (getsockname(s, (struct sockaddr *)&me, &len) < 0)
		return -errno;
	struct timespec start, now;
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (uint32_t seq = 3;; seq++) {
		bool changed = false;
		int rc = is_local(s, me.nl_pid, a, seq, &changed);
		if (rc != 0)
			return rc < 0 ? rc : 0;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - start.tv_sec >= LOCAL_ROUTE_TIMEOUT_S)
			return -ETIMEDOUT;
		/* A change seen while asking may have come just after the answer. */
		if (!changed && (rc = (int)nl_recv(s, buf, sizeof buf)) < 0 && rc != -ETIMEDOUT)
			return rc;
	}
}

/* RTM_NEWADDR or RTM_DELADDR of A, acknowledged (an IPv6 address added
 * usable: wait_local). */
static int change(int type, int flags, const struct bm_netaddr *a)
{
	size_t len = bm_netaddr_len(a->family);
	if (!len)
		return -EAFNOSUPPORT;
	struct addr_req req;
	memset(&req, 0, sizeof req);
	req.h.nlmsg_len = NLMSG_LENGTH(sizeof req.ifa);
	req.h.nlmsg_type = (unsigned short)type;
	req.h.nlmsg_flags = (unsigned short)(NLM_F_REQUEST | NLM_F_ACK | flags);
	req.h.nlmsg_seq = 1;
	req.ifa.ifa_family = (unsigned char)a->family;
	req.ifa.ifa_prefixlen = a->prefixlen;
	req.ifa.ifa_index = (unsigned)a->ifindex;
	/* binmig adds an IPv6 address only when it has just left another host
	 * (or this one): duplicate address detection would only keep it
	 * tentative, unusable by the connections waiting for it and unable to
	 * be announced, for a second or more. */
	if (type == RTM_NEWADDR && a->family == AF_INET6)
		req.ifa.ifa_flags = IFA_F_NODAD;
	put_attr(&req.h, IFA_LOCAL, a->addr, len);
	put_attr(&req.h, IFA_ADDRESS, a->addr, len);
	bool v6_add = type == RTM_NEWADDR && a->family == AF_INET6;
	/* Listening to route changes from before the request (wait_local). */
	int s = nl_open(v6_add ? RTMGRP_IPV6_ROUTE : 0);
	if (s < 0)
		return s;
	int rc = nl_send(s, &req.h);
	char buf[NOTE_SIZE];
	while (rc == 0) {
		ssize_t n = nl_recv(s, buf, sizeof buf);
		if (n < 0) {
			rc = (int)n;
			break;
		}
		struct nlmsghdr *h = (struct nlmsghdr *)buf;
		int left = (int)n;
		for (; NLMSG_OK(h, left); h = NLMSG_NEXT(h, left)) {
			if (h->nlmsg_seq != req.h.nlmsg_seq || h->nlmsg_type != NLMSG_ERROR)
				continue;
			if (h->nlmsg_len < NLMSG_LENGTH(sizeof(struct nlmsgerr))) {
				rc = -EIO;
			} else {
				const struct nlmsgerr *e = NLMSG_DATA(h);
				rc = e->error ? e->error : 1; /* 1: acknowledged */
			}
			break;
		}
	}
	if (rc > 0 && v6_add && (rc = wait_local(s, a)) < 0)
		change(RTM_DELADDR, 0, a); /* not half there */
	close(s);
	return rc < 0 ? rc : 0;
}

int bm_netaddr_add(const struct bm_netaddr *a)
{
	return change(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, a);
}

int bm_netaddr_del(const struct bm_netaddr *a)
{
	return change(RTM_DELADDR, 0, a);
}

/* One RTM_NEWADDR of the dump into *out, if it is of FAMILY (AF_UNSPEC:
 * IPv4 or IPv6). */
static int take(const struct nlmsghdr *h, uint32_t family, struct bm_netaddr **out, size_t *n, size_t *cap)
{
	const struct ifaddrmsg *ifa = NLMSG_DATA(h);
	if (h->nlmsg_len < NLMSG_LENGTH(sizeof *ifa) || (family != AF_UNSPEC && ifa->ifa_family != family))
		return 0;
	size_t alen = bm_netaddr_len(ifa->ifa_family);
	if (!alen)
		return 0;
	struct bm_netaddr a = {.ifindex = (int)ifa->ifa_index, .family = ifa->ifa_family,
			       .prefixlen = ifa->ifa_prefixlen, .flags = ifa->ifa_flags};
	bool have = false;
	int len = (int)(h->nlmsg_len - NLMSG_LENGTH(sizeof *ifa));
	for (const struct rtattr *rta = IFA_RTA(ifa); RTA_OK(rta, len); rta = RTA_NEXT(rta, len)) {
		/* IFA_LOCAL is the host's own address (IFA_ADDRESS the peer's on a
		 * point-to-point link); IFA_FLAGS holds the flags beyond 8 bits. */
		if ((rta->rta_type == IFA_LOCAL || (rta->rta_type == IFA_ADDRESS && !have)) && RTA_PAYLOAD(rta) == alen) {
			memcpy(a.addr, RTA_DATA(rta), alen);
			have = true;
		} else if (rta->rta_type == IFA_FLAGS && RTA_PAYLOAD(rta) == 4) {
			memcpy(&a.flags, RTA_DATA(rta), 4);
		}
	}
	if (!have)
		return 0;
	if (*n == *cap) {
		size_t more = *cap ? *cap * 2 : 16;
		struct bm_netaddr *grown = realloc(*out, more * sizeof *grown);
		if (!grown)
			return -ENOMEM;
		*out = grown;
		*cap = more;
	}
	(*out)[(*n)++] = a;
	return 0;
}

int bm_netaddr_list(uint32_t family, struct bm_netaddr **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	if (family != AF_UNSPEC && !bm_netaddr_len(family))
		return -EAFNOSUPPORT;
	struct addr_req req;
	memset(&req, 0, sizeof req);
	req.h.nlmsg_len = NLMSG_LENGTH(sizeof req.ifa);
	req.h.nlmsg_type = RTM_GETADDR;
	req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	req.h.nlmsg_seq = 2;
	req.ifa.ifa_family = (unsigned char)family;
	int s = nl_open(0);
	if (s < 0)
		return s;
	char *buf = malloc(BUF_SIZE);
	int rc = buf ? nl_send(s, &req.h) : -ENOMEM;
	size_t cap = 0;
	bool done = false;
	while (rc == 0 && !done) {
		ssize_t got = nl_recv(s, buf, BUF_SIZE);
		if (got < 0) {
			rc = (int)got;
			break;
		}
		int left = (int)got;
		for (struct nlmsghdr *h = (struct nlmsghdr *)buf; rc == 0 && NLMSG_OK(h, left); h = NLMSG_NEXT(h, left)) {
			if (h->nlmsg_seq != req.h.nlmsg_seq)
				continue;
			if (h->nlmsg_type == NLMSG_DONE) {
				done = true;
				break;
			}
			if (h->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = NLMSG_DATA(h);
				rc = h->nlmsg_len >= NLMSG_LENGTH(sizeof *e) && e->error ? e->error : -EIO;
			} else if (h->nlmsg_type == RTM_NEWADDR) {
				rc = take(h, family, out, n, &cap);
			}
		}
	}
	free(buf);
	close(s);
	if (rc < 0) {
		free(*out);
		*out = NULL;
		*n = 0;
	}
	return rc;
}

size_t bm_netaddr_len(uint32_t family)
{
	return family == AF_INET ? 4 : family == AF_INET6 ? 16 : 0;
}

bool bm_netaddr_in_subnet(const struct bm_netaddr *net, uint32_t family, const uint8_t *addr)
{
	size_t len = bm_netaddr_len(family);
	if (net->family != family || !len || net->prefixlen > 8 * len)
		return false;
	size_t whole = net->prefixlen / 8u;
	unsigned rest = net->prefixlen % 8u;
	if (memcmp(net->addr, addr, whole) != 0)
		return false;
	uint8_t mask = (uint8_t)(0xff00u >> rest);
	return !rest || ((net->addr[whole] ^ addr[whole]) & mask) == 0;
}

bool bm_netaddr_is(const struct bm_netaddr *a, uint32_t family, const uint8_t *addr)
{
	size_t len = bm_netaddr_len(family);
	return len && a->family == family && memcmp(a->addr, addr, len) == 0;
}
