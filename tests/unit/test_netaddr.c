/* Addresses through rtnetlink and their announcement (netaddr.c), in a
 * network namespace the test creates and leaves (root only; skipped
 * otherwise), with a veth pair of its own (made by ip(8), the
 * test's tool, not binmig's):
 *  - an address added is listed on its interface with its prefix, a
 *    second add of it is -EEXIST, a delete removes it, a second delete is
 *    -EADDRNOTAVAIL; IPv4 and IPv6, an IPv6 one usable at once (not
 *    tentative: added without duplicate address detection), and a list of
 *    both families holds both;
 *  - the announcement leaves the interface as a gratuitous ARP request
 *    (sender and target the address, sender hardware address the
 *    interface's, to broadcast), or for IPv6 as an unsolicited Neighbour
 *    Advertisement (from the address to ff02::1 at Ethernet
 *    33:33:00:00:00:01, hop limit 255, ICMPv6 type 136 with only the
 *    override flag, the address as target, the interface's hardware
 *    address as target link-layer option, a checksum that verifies),
 *    seen by a packet socket at the other end of the veth; on loopback,
 *    which has no Ethernet address, it is -EOPNOTSUPP; an IPv6 address
 *    not on the interface is -EADDRNOTAVAIL;
 *  - other families are refused (-EAFNOSUPPORT);
 *  - subnets: bm_netaddr_in_subnet at /0, /24, /32, and IPv6 at /0, /64,
 *    /65 (a prefix that ends inside a byte), /128. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <net/if_arp.h>
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
#include <sys/socket.h>
#include <unistd.h>
#include <linux/if_ether.h>
#include <linux/if_addr.h>
#include <linux/if_packet.h>

#include <cmocka.h>

#include "netaddr.h"

#define DUMMY "bmtest0" /* and its peer, bmtest0p */
#define UNIT_NETNS_VETH DUMMY
#include "unit_netns.h"

/* The veth end the test works on, or the test is skipped (not root). */
static int test_ifindex(void)
{
	if (unit_netns_home < 0)
		skip();
	int ifindex = (int)if_nametoindex(DUMMY);
	assert_true(ifindex > 0);
	return ifindex;
}

static struct bm_netaddr addr_of(int family, const char *text, unsigned prefix, int ifindex)
{
	struct bm_netaddr a = {.ifindex = ifindex, .family = (uint32_t)family, .prefixlen = (uint8_t)prefix};
	assert_int_equal(inet_pton(family, text, a.addr), 1);
	return a;
}

static struct bm_netaddr v4(const char *text, unsigned prefix, int ifindex)
{
	return addr_of(AF_INET, text, prefix, ifindex);
}

static struct bm_netaddr v6(const char *text, unsigned prefix, int ifindex)
{
	return addr_of(AF_INET6, text, prefix, ifindex);
}

/* Whether the list of FAMILY holds A on its interface with its prefix;
 * its flags in *flags. */
static bool listed_in(uint32_t family, const struct bm_netaddr *a, uint32_t *flags)
{
	struct bm_netaddr *all;
	size_t n;
	assert_int_equal(bm_netaddr_list(family, &all, &n), 0);
	bool found = false;
	for (size_t i = 0; i < n && !found; i++) {
		found = all[i].ifindex == a->ifindex && all[i].prefixlen == a->prefixlen &&
			bm_netaddr_is(&all[i], a->family, a->addr);
		if (found && flags)
			*flags = all[i].flags;
	}
	free(all);
	return found;
}

static bool listed(const struct bm_netaddr *a)
{
	return listed_in(a->family, a, NULL);
}

/* A (one address alone) and B (a subnet) added and listed, A a second
 * time -EEXIST, A deleted (B stays) and a second time -EADDRNOTAVAIL, B
 * deleted; CHECK, if any, runs while both are there. */
static void add_list_del(struct bm_netaddr a, struct bm_netaddr b, void (*check)(const struct bm_netaddr *a))
{
	assert_false(listed(&a));
	assert_int_equal(bm_netaddr_add(&a), 0);
	assert_int_equal(bm_netaddr_add(&b), 0);
	assert_true(listed(&a));
	assert_true(listed(&b));
	if (check)
		check(&a);
	assert_int_equal(bm_netaddr_add(&a), -EEXIST);
	assert_int_equal(bm_netaddr_del(&a), 0);
	assert_false(listed(&a));
	assert_true(listed(&b));
	assert_int_equal(bm_netaddr_del(&a), -EADDRNOTAVAIL);
	assert_int_equal(bm_netaddr_del(&b), 0);
	assert_false(listed(&b));
}

static void test_add_list_del(void **state)
{
	(void)state;
	int ifindex = test_ifindex();
	add_list_del(v4("10.99.0.5", 32, ifindex), v4("10.99.1.1", 24, ifindex), NULL);
}

static struct bm_netaddr other_family; /* an IPv4 address beside the IPv6 ones */

/* An IPv6 address added is usable at once, and lists of both families
 * hold it and an IPv4 one, of one family only its own. */
static void usable_and_listed(const struct bm_netaddr *a)
{
	uint32_t flags = 0;
	assert_true(listed_in(AF_INET6, a, &flags));
	assert_true(flags & IFA_F_NODAD);
	assert_false(flags & (IFA_F_TENTATIVE | IFA_F_DADFAILED));
	assert_true(listed_in(AF_UNSPEC, a, NULL));
	assert_true(listed_in(AF_UNSPEC, &other_family, NULL));
	assert_false(listed_in(AF_INET, a, NULL));
	assert_false(listed_in(AF_INET6, &other_family, NULL));
}

static void test_add_list_del_v6(void **state)
{
	(void)state;
	int ifindex = test_ifindex();
	other_family = v4("10.99.2.1", 24, ifindex);
	assert_int_equal(bm_netaddr_add(&other_family), 0);
	add_list_del(v6("fd00:99::5", 128, ifindex), v6("fd00:99:1::1", 64, ifindex), usable_and_listed);
	assert_int_equal(bm_netaddr_del(&other_family), 0);
}

/* A packet socket that sees what arrives of PROTOCOL at the other end of
 * the veth; the hardware address of the test's end in *ifr. */
static int open_tap(int protocol, struct ifreq *ifr)
{
	int tap = socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC, htons((uint16_t)protocol));
	assert_true(tap >= 0);
	struct sockaddr_ll at = {.sll_family = AF_PACKET, .sll_protocol = htons((uint16_t)protocol),
				 .sll_ifindex = (int)if_nametoindex(DUMMY "p")};
	assert_int_equal(bind(tap, (struct sockaddr *)&at, sizeof at), 0);
	memset(ifr, 0, sizeof *ifr);
	strcpy(ifr->ifr_name, DUMMY);
	assert_int_equal(ioctl(tap, SIOCGIFHWADDR, ifr), 0);
	return tap;
}

static void test_announce(void **state)
{
	(void)state;
	int ifindex = test_ifindex();
	struct bm_netaddr a = v4("10.99.0.7", 32, ifindex);
	struct ifreq ifr;
	int tap = open_tap(ETH_P_ARP, &ifr);

	assert_int_equal(bm_netaddr_announce(&a), 0);
	struct pollfd p = {tap, POLLIN, 0};
	assert_int_equal(poll(&p, 1, 20000), 1);
	uint8_t pkt[64];
	struct sockaddr_ll from;
	socklen_t fl = sizeof from;
	ssize_t n = recvfrom(tap, pkt, sizeof pkt, 0, (struct sockaddr *)&from, &fl);
	close(tap);
	assert_int_equal(n, 28);
	assert_int_equal(from.sll_pkttype, PACKET_BROADCAST);
	static const uint8_t head[8] = {0, 1, 8, 0, 6, 4, 0, 1}; /* Ethernet, IPv4, request */
	static const uint8_t zero[6];
	assert_memory_equal(pkt, head, 8);
	assert_memory_equal(pkt + 8, ifr.ifr_hwaddr.sa_data, 6);
	assert_memory_equal(pkt + 14, a.addr, 4);
	assert_memory_equal(pkt + 18, zero, 6);
	assert_memory_equal(pkt + 24, a.addr, 4);

	struct bm_netaddr lo = v4("127.0.0.1", 8, (int)if_nametoindex("lo"));
	assert_int_equal(bm_netaddr_announce(&lo), -EOPNOTSUPP);
}

/* The one's complement sum of LEN bytes at P, added to SUM. */
static uint32_t sum16(uint32_t sum, const uint8_t *p, size_t len)
{
	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		sum += (uint32_t)(p[len - 1] << 8);
	return sum;
}

static void test_announce_v6(void **state)
{
	(void)state;
	int ifindex = test_ifindex();
	struct bm_netaddr a = v6("fd00:99::7", 128, ifindex);
	/* From the address itself: not there yet, nothing to send from. */
	assert_int_equal(bm_netaddr_announce(&a), -EADDRNOTAVAIL);
	assert_int_equal(bm_netaddr_add(&a), 0);
	struct ifreq ifr;
	int tap = open_tap(ETH_P_IPV6, &ifr);

	assert_int_equal(bm_netaddr_announce(&a), 0);
	/* The link carries other IPv6 traffic of its own (router and multicast
	 * listener messages): the first advertisement is the one. */
	uint8_t pkt[256];
	struct sockaddr_ll from;
	ssize_t n = 0;
	for (int tries = 0; tries < 64; tries++) {
		struct pollfd p = {tap, POLLIN, 0};
		assert_int_equal(poll(&p, 1, 20000), 1);
		socklen_t fl = sizeof from;
		n = recvfrom(tap, pkt, sizeof pkt, 0, (struct sockaddr *)&from, &fl);
		assert_true(n >= 40);
		if (pkt[6] == IPPROTO_ICMPV6 && n >= 41 && pkt[40] == 136)
			break;
		n = 0;
	}
	close(tap);
	assert_int_equal(n, 40 + 32);
	assert_int_equal(from.sll_pkttype, PACKET_MULTICAST);
	static const uint8_t all_nodes[16] = {0xff, 2, [15] = 1};
	assert_int_equal(pkt[0] >> 4, 6);
	assert_int_equal(pkt[4] << 8 | pkt[5], 32); /* payload length */
	assert_int_equal(pkt[7], 255);               /* hop limit */
	assert_memory_equal(pkt + 8, a.addr, 16);
	assert_memory_equal(pkt + 24, all_nodes, 16);
	const uint8_t *icmp = pkt + 40;
	assert_int_equal(icmp[0], 136);
	assert_int_equal(icmp[1], 0);
	static const uint8_t flags[4] = {0x20, 0, 0, 0}; /* override only */
	assert_memory_equal(icmp + 4, flags, 4);
	assert_memory_equal(icmp + 8, a.addr, 16);
	assert_int_equal(icmp[24], 2); /* target link-layer address */
	assert_int_equal(icmp[25], 1);
	assert_memory_equal(icmp + 26, ifr.ifr_hwaddr.sa_data, 6);
	/* The checksum over the pseudo-header (addresses, length, next header)
	 * and the message verifies: the sum is all ones. */
	uint32_t sum = sum16(0, pkt + 8, 32) + 32 + IPPROTO_ICMPV6;
	sum = sum16(sum, icmp, 32);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	assert_int_equal(sum, 0xffff);
	assert_int_equal(bm_netaddr_del(&a), 0);

	struct bm_netaddr lo = v6("::1", 128, (int)if_nametoindex("lo"));
	assert_int_equal(bm_netaddr_announce(&lo), -EOPNOTSUPP);
}

static void test_other_family_refused(void **state)
{
	(void)state;
	struct bm_netaddr a = {.ifindex = 1, .family = AF_PACKET, .prefixlen = 32};
	struct bm_netaddr *all;
	size_t n;
	assert_int_equal(bm_netaddr_add(&a), -EAFNOSUPPORT);
	assert_int_equal(bm_netaddr_del(&a), -EAFNOSUPPORT);
	assert_int_equal(bm_netaddr_announce(&a), -EAFNOSUPPORT);
	assert_int_equal(bm_netaddr_list(AF_PACKET, &all, &n), -EAFNOSUPPORT);
	assert_int_equal(bm_netaddr_len(AF_PACKET), 0);
	assert_int_equal(bm_netaddr_len(AF_INET), 4);
	assert_int_equal(bm_netaddr_len(AF_INET6), 16);
}

static void test_subnets(void **state)
{
	(void)state;
	struct bm_netaddr net = v4("10.78.0.1", 24, 1), any = v4("0.0.0.0", 0, 1), host = v4("10.78.0.100", 32, 1);
	struct bm_netaddr in = v4("10.78.0.100", 32, 0), out = v4("10.78.1.100", 32, 0);
	assert_true(bm_netaddr_in_subnet(&net, AF_INET, in.addr));
	assert_false(bm_netaddr_in_subnet(&net, AF_INET, out.addr));
	assert_true(bm_netaddr_in_subnet(&any, AF_INET, out.addr));
	assert_true(bm_netaddr_in_subnet(&host, AF_INET, in.addr));
	assert_false(bm_netaddr_in_subnet(&host, AF_INET, out.addr));
	assert_false(bm_netaddr_in_subnet(&net, AF_INET6, in.addr));

	static const struct {
		const char *net;
		unsigned prefix;
		const char *addr;
		bool in;
	} v6_cases[] = {
		{"fd00:78::1", 64, "fd00:78::100", true},
		{"fd00:78::1", 64, "fd00:79::100", false},
		{"fd00:78::1", 64, "fd00:78::8000:0:0:1", true},
		{"::", 0, "fd00:79::100", true},
		{"fd00:78::100", 128, "fd00:78::100", true},
		{"fd00:78::100", 128, "fd00:78::8000:0:0:1", false},
		{"fd00:78::", 65, "fd00:78::100", true},  /* the prefix ends inside a byte */
		{"fd00:78::", 65, "fd00:78::8000:0:0:1", false},
	};
	for (size_t i = 0; i < sizeof v6_cases / sizeof *v6_cases; i++) {
		struct bm_netaddr n6 = v6(v6_cases[i].net, v6_cases[i].prefix, 1), a6 = v6(v6_cases[i].addr, 128, 0);
		assert_int_equal(bm_netaddr_in_subnet(&n6, AF_INET6, a6.addr), v6_cases[i].in);
	}
	struct bm_netaddr net6 = v6("fd00:78::1", 64, 1);
	assert_false(bm_netaddr_in_subnet(&net6, AF_INET, in.addr));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_add_list_del),
		cmocka_unit_test(test_add_list_del_v6),
		cmocka_unit_test(test_announce),
		cmocka_unit_test(test_announce_v6),
		cmocka_unit_test(test_other_family_refused),
		cmocka_unit_test(test_subnets),
	};
	return cmocka_run_group_tests(tests, enter_private_netns, leave_private_netns);
}
