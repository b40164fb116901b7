/* Addresses through rtnetlink, announced by gratuitous ARP (netaddr.h). */
#include "netaddr.h"

#include <errno.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

/* The kernel answers a request at once; this only bounds a wait that
 * should never happen. */
#define REPLY_TIMEOUT_S 5
#define BUF_SIZE 32768

static int nl_open(void)
{
	int s = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (s < 0)
		return -errno;
	struct timeval tv = {REPLY_TIMEOUT_S, 0};
	struct sockaddr_nl local = {.nl_family = AF_NETLINK};
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

/* RTM_NEWADDR or RTM_DELADDR of A, acknowledged. */
static int change(int type, int flags, const struct bm_netaddr *a)
{
	if (a->family != AF_INET)
		return -EAFNOSUPPORT;
	struct addr_req req;
	memset(&req, 0, sizeof req);
	req.h.nlmsg_len = NLMSG_LENGTH(sizeof req.ifa);
	req.h.nlmsg_type = (unsigned short)type;
	req.h.nlmsg_flags = (unsigned short)(NLM_F_REQUEST | NLM_F_ACK | flags);
	req.h.nlmsg_seq = 1;
	req.ifa.ifa_family = AF_INET;
	req.ifa.ifa_prefixlen = a->prefixlen;
	req.ifa.ifa_index = (unsigned)a->ifindex;
	put_attr(&req.h, IFA_LOCAL, a->addr, 4);
	put_attr(&req.h, IFA_ADDRESS, a->addr, 4);
	int s = nl_open();
	if (s < 0)
		return s;
	int rc = nl_send(s, &req.h);
	char buf[1024];
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

/* One RTM_NEWADDR of the dump into *out, if it is of FAMILY. */
static int take(const struct nlmsghdr *h, uint32_t family, struct bm_netaddr **out, size_t *n, size_t *cap)
{
	const struct ifaddrmsg *ifa = NLMSG_DATA(h);
	if (h->nlmsg_len < NLMSG_LENGTH(sizeof *ifa) || ifa->ifa_family != family)
		return 0;
	struct bm_netaddr a = {.ifindex = (int)ifa->ifa_index, .family = family, .prefixlen = ifa->ifa_prefixlen,
			       .flags = ifa->ifa_flags};
	bool have = false;
	int len = (int)(h->nlmsg_len - NLMSG_LENGTH(sizeof *ifa));
	for (const struct rtattr *rta = IFA_RTA(ifa); RTA_OK(rta, len); rta = RTA_NEXT(rta, len)) {
		/* IFA_LOCAL is the host's own address (IFA_ADDRESS the peer's on a
		 * point-to-point link); IFA_FLAGS holds the flags beyond 8 bits. */
		if ((rta->rta_type == IFA_LOCAL || (rta->rta_type == IFA_ADDRESS && !have)) && RTA_PAYLOAD(rta) == 4) {
			memcpy(a.addr, RTA_DATA(rta), 4);
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
	if (family != AF_INET)
		return -EAFNOSUPPORT;
	struct addr_req req;
	memset(&req, 0, sizeof req);
	req.h.nlmsg_len = NLMSG_LENGTH(sizeof req.ifa);
	req.h.nlmsg_type = RTM_GETADDR;
	req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	req.h.nlmsg_seq = 2;
	req.ifa.ifa_family = (unsigned char)family;
	int s = nl_open();
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

/* An ARP packet for IPv4 over Ethernet (RFC 826). */
struct arp_eth {
	struct arphdr h;
	uint8_t sha[ETH_ALEN], spa[4], tha[ETH_ALEN], tpa[4];
} __attribute__((packed));

int bm_netaddr_announce(const struct bm_netaddr *a)
{
	if (a->family != AF_INET)
		return -EAFNOSUPPORT;
	struct ifreq ifr;
	memset(&ifr, 0, sizeof ifr);
	if (!if_indextoname((unsigned)a->ifindex, ifr.ifr_name))
		return -errno;
	int s = socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC, htons(ETH_P_ARP));
	if (s < 0)
		return -errno;
	int rc = ioctl(s, SIOCGIFHWADDR, &ifr) < 0 ? -errno : 0;
	if (rc == 0 && ifr.ifr_hwaddr.sa_family != ARPHRD_ETHER)
		rc = -EOPNOTSUPP;
	if (rc == 0) {
		struct arp_eth p;
		memset(&p, 0, sizeof p);
		p.h.ar_hrd = htons(ARPHRD_ETHER);
		p.h.ar_pro = htons(ETH_P_IP);
		p.h.ar_hln = ETH_ALEN;
		p.h.ar_pln = 4;
		p.h.ar_op = htons(ARPOP_REQUEST);
		memcpy(p.sha, ifr.ifr_hwaddr.sa_data, ETH_ALEN);
		memcpy(p.spa, a->addr, 4);
		memcpy(p.tpa, a->addr, 4);
		struct sockaddr_ll to = {.sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ARP),
					 .sll_ifindex = a->ifindex, .sll_halen = ETH_ALEN};
		memset(to.sll_addr, 0xff, ETH_ALEN);
		ssize_t n = sendto(s, &p, sizeof p, 0, (struct sockaddr *)&to, sizeof to);
		rc = n < 0 ? -errno : (size_t)n == sizeof p ? 0 : -EIO;
	}
	close(s);
	return rc;
}

bool bm_netaddr_in_subnet(const struct bm_netaddr *net, uint32_t family, const uint8_t *addr)
{
	if (net->family != family || family != AF_INET || net->prefixlen > 32)
		return false;
	uint32_t a, b;
	memcpy(&a, net->addr, 4);
	memcpy(&b, addr, 4);
	uint32_t mask = net->prefixlen ? htonl(~0u << (32 - net->prefixlen)) : 0;
	return (a & mask) == (b & mask);
}
