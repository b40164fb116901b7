/* Addresses through rtnetlink and their announcement (netaddr.c), in a
 * network namespace the test creates and leaves (root only; skipped
 * otherwise), with a veth pair of its own (made by ip(8), the
 * test's tool, not binmig's):
 *  - an address added is listed on its interface with its prefix, a
 *    second add of it is -EEXIST, a delete removes it, a second delete is
 *    -EADDRNOTAVAIL;
 *  - the announcement leaves the interface as a gratuitous ARP request
 *    (sender and target the address, sender hardware address the
 *    interface's, to broadcast), seen by a packet socket at the other end
 *    of the veth; on
 *    loopback, which has no Ethernet address, it is -EOPNOTSUPP;
 *  - IPv6 is refused (-EAFNOSUPPORT);
 *  - subnets: bm_netaddr_in_subnet at /0, /24, /32. */
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
#include <linux/if_packet.h>

#include <cmocka.h>

#include "netaddr.h"

#define DUMMY "bmtest0" /* and its peer, bmtest0p */
#define UNIT_NETNS_VETH DUMMY
#include "unit_netns.h"

static struct bm_netaddr v4(const char *text, unsigned prefix, int ifindex)
{
	struct bm_netaddr a = {.ifindex = ifindex, .family = AF_INET, .prefixlen = (uint8_t)prefix};
	assert_int_equal(inet_pton(AF_INET, text, a.addr), 1);
	return a;
}

static void test_add_list_del(void **state)
{
	(void)state;
	if (unit_netns_home < 0)
		skip();
	int ifindex = (int)if_nametoindex(DUMMY);
	assert_true(ifindex > 0);
	struct bm_netaddr a = v4("10.99.0.5", 32, ifindex), b = v4("10.99.1.1", 24, ifindex);
	assert_false(unit_listed(&a));
	assert_int_equal(bm_netaddr_add(&a), 0);
	assert_int_equal(bm_netaddr_add(&b), 0);
	assert_true(unit_listed(&a));
	assert_true(unit_listed(&b));
	assert_int_equal(bm_netaddr_add(&a), -EEXIST);
	assert_int_equal(bm_netaddr_del(&a), 0);
	assert_false(unit_listed(&a));
	assert_true(unit_listed(&b));
	assert_int_equal(bm_netaddr_del(&a), -EADDRNOTAVAIL);
	assert_int_equal(bm_netaddr_del(&b), 0);
	assert_false(unit_listed(&b));
}

static void test_announce(void **state)
{
	(void)state;
	if (unit_netns_home < 0)
		skip();
	int ifindex = (int)if_nametoindex(DUMMY);
	struct bm_netaddr a = v4("10.99.0.7", 32, ifindex);
	int tap = socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC, htons(ETH_P_ARP));
	assert_true(tap >= 0);
	/* What arrives at the other end of the veth. */
	struct sockaddr_ll at = {.sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ARP),
				 .sll_ifindex = (int)if_nametoindex(DUMMY "p")};
	assert_int_equal(bind(tap, (struct sockaddr *)&at, sizeof at), 0);
	struct ifreq ifr;
	memset(&ifr, 0, sizeof ifr);
	strcpy(ifr.ifr_name, DUMMY);
	assert_int_equal(ioctl(tap, SIOCGIFHWADDR, &ifr), 0);

	assert_int_equal(bm_netaddr_announce(&a), 0);
	struct pollfd p = {tap, POLLIN, 0};
	assert_int_equal(poll(&p, 1, 5000), 1);
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

static void test_ipv6_refused(void **state)
{
	(void)state;
	struct bm_netaddr a = {.ifindex = 1, .family = AF_INET6, .prefixlen = 128};
	struct bm_netaddr *all;
	size_t n;
	assert_int_equal(bm_netaddr_add(&a), -EAFNOSUPPORT);
	assert_int_equal(bm_netaddr_del(&a), -EAFNOSUPPORT);
	assert_int_equal(bm_netaddr_announce(&a), -EAFNOSUPPORT);
	assert_int_equal(bm_netaddr_list(AF_INET6, &all, &n), -EAFNOSUPPORT);
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
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_add_list_del),
		cmocka_unit_test(test_announce),
		cmocka_unit_test(test_ipv6_refused),
		cmocka_unit_test(test_subnets),
	};
	return cmocka_run_group_tests(tests, enter_private_netns, leave_private_netns);
}
