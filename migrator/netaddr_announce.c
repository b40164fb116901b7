/* The announcement of an address that has just arrived on an interface
 * (netaddr.h): a gratuitous ARP for IPv4, an unsolicited Neighbour
 * Advertisement for IPv6.  Either reaches the neighbours that still send
 * the address to the host it left: they learn the new hardware address
 * now rather than when their entry expires, seconds later. */
#include "netaddr.h"

#include <errno.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>

/* The Ethernet address of A's interface into hw, asked through S. */
static int hardware_address(int s, const struct bm_netaddr *a, uint8_t hw[ETH_ALEN])
{
	struct ifreq ifr;
	memset(&ifr, 0, sizeof ifr);
	if (!if_indextoname((unsigned)a->ifindex, ifr.ifr_name))
		return -errno;
	if (ioctl(s, SIOCGIFHWADDR, &ifr) < 0)
		return -errno;
	if (ifr.ifr_hwaddr.sa_family != ARPHRD_ETHER)
		return -EOPNOTSUPP;
	memcpy(hw, ifr.ifr_hwaddr.sa_data, ETH_ALEN);
	return 0;
}

/* An ARP packet for IPv4 over Ethernet (RFC 826). */
struct arp_eth {
	struct arphdr h;
	uint8_t sha[ETH_ALEN], spa[4], tha[ETH_ALEN], tpa[4];
} __attribute__((packed));

static int announce_v4(const struct bm_netaddr *a)
{
	int s = socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC, htons(ETH_P_ARP));
	if (s < 0)
		return -errno;
	struct arp_eth p;
	memset(&p, 0, sizeof p);
	int rc = hardware_address(s, a, p.sha);
	if (rc == 0) {
		p.h.ar_hrd = htons(ARPHRD_ETHER);
		p.h.ar_pro = htons(ETH_P_IP);
		p.h.ar_hln = ETH_ALEN;
		p.h.ar_pln = 4;
		p.h.ar_op = htons(ARPOP_REQUEST);
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

/* A Neighbour Advertisement with its target link-layer address option
 * (RFC 4861 §4.4, §4.6.1). */
struct na_eth {
	struct nd_neighbor_advert na;
	uint8_t opt_type, opt_len, tlla[ETH_ALEN];
} __attribute__((packed));

/* Sent through a raw ICMPv6 socket, whose kernel writes the IPv6 header
 * and the checksum.  A receiver takes neighbour discovery only with hop
 * limit 255 (proof that it was not routed); the override flag makes it
 * replace the hardware address it has for A; not solicited, the entry
 * becomes stale, so it checks that A answers there before long. */
static int announce_v6(const struct bm_netaddr *a)
{
	int s = socket(AF_INET6, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMPV6);
	if (s < 0)
		return -errno;
	struct na_eth p;
	memset(&p, 0, sizeof p);
	int rc = hardware_address(s, a, p.tlla);
	int hops = 255, loop = 0, ifindex = a->ifindex;
	if (rc == 0 && (setsockopt(s, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, &hops, sizeof hops) < 0 ||
			setsockopt(s, IPPROTO_IPV6, IPV6_MULTICAST_LOOP, &loop, sizeof loop) < 0 ||
			setsockopt(s, IPPROTO_IPV6, IPV6_MULTICAST_IF, &ifindex, sizeof ifindex) < 0))
		rc = -errno;
	/* From A itself: an address of the interface, as RFC 4861 asks. */
	struct sockaddr_in6 from = {.sin6_family = AF_INET6};
	memcpy(&from.sin6_addr, a->addr, 16);
	if (IN6_IS_ADDR_LINKLOCAL(&from.sin6_addr))
		from.sin6_scope_id = (uint32_t)a->ifindex;
	if (rc == 0 && bind(s, (struct sockaddr *)&from, sizeof from) < 0)
		rc = -errno;
	if (rc == 0) {
		p.na.nd_na_type = ND_NEIGHBOR_ADVERT;
		p.na.nd_na_flags_reserved = ND_NA_FLAG_OVERRIDE;
		memcpy(&p.na.nd_na_target, a->addr, 16);
		p.opt_type = ND_OPT_TARGET_LINKADDR;
		p.opt_len = 1; /* in units of 8 bytes */
		struct sockaddr_in6 to = {.sin6_family = AF_INET6, .sin6_scope_id = (uint32_t)a->ifindex};
		to.sin6_addr.s6_addr[0] = 0xff;
		to.sin6_addr.s6_addr[1] = 0x02;
		to.sin6_addr.s6_addr[15] = 0x01; /* ff02::1, all nodes */
		ssize_t n = sendto(s, &p, sizeof p, 0, (struct sockaddr *)&to, sizeof to);
		rc = n < 0 ? -errno : (size_t)n == sizeof p ? 0 : -EIO;
	}
	close(s);
	return rc;
}

int bm_netaddr_announce(const struct bm_netaddr *a)
{
	if (a->family == AF_INET)
		return announce_v4(a);
	if (a->family == AF_INET6)
		return announce_v6(a);
	return -EAFNOSUPPORT;
}
