/* Helpers of the tests that change a host's addresses or make TCP
 * connections (test_netaddr.c, test_movaddr_guard.c, test_tcp_repair.c):
 * a private network namespace for the test group, with a veth pair of
 * its own (made by ip(8), the test's tool, not binmig's), gone with the
 * namespace when the group leaves it (root only: the group's tests skip
 * when `unit_netns_home` is -1), and an established connection over
 * loopback.  A test that wants the namespace defines UNIT_NETNS_VETH, the
 * veth's name (its peer is that name with "p"), before including this
 * file. */
#ifndef BINMIG_UNIT_NETNS_H
#define BINMIG_UNIT_NETNS_H

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "netaddr.h"

#ifdef UNIT_NETNS_VETH
static int unit_netns_home = -1; /* the namespace the test started in */

static int enter_private_netns(void **state)
{
	(void)state;
	if (geteuid() != 0 || system("command -v ip >/dev/null 2>&1") != 0)
		return 0;
	unit_netns_home = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (unit_netns_home < 0 || unshare(CLONE_NEWNET) < 0)
		return -1;
	return system("ip link add " UNIT_NETNS_VETH " type veth peer name " UNIT_NETNS_VETH "p && ip link set "
		      UNIT_NETNS_VETH "p up && ip link set " UNIT_NETNS_VETH " up && ip link set lo up") == 0 ? 0 : -1;
}

static int leave_private_netns(void **state)
{
	(void)state;
	if (unit_netns_home < 0)
		return 0;
	int rc = setns(unit_netns_home, CLONE_NEWNET);
	close(unit_netns_home);
	unit_netns_home = -1;
	return rc;
}
#endif

/* Whether the host's list holds A on its interface with its prefix. */
static inline bool unit_listed(const struct bm_netaddr *a)
{
	struct bm_netaddr *all;
	size_t n;
	assert_int_equal(bm_netaddr_list(AF_INET, &all, &n), 0);
	bool found = false;
	for (size_t i = 0; i < n; i++)
		found |= all[i].ifindex == a->ifindex && all[i].prefixlen == a->prefixlen &&
			 memcmp(all[i].addr, a->addr, 4) == 0;
	free(all);
	return found;
}

/* An established TCP connection over loopback: *client and *server. */
static inline void unit_loopback_connection(int *client, int *server)
{
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof a;
	assert_int_equal(bind(l, (struct sockaddr *)&a, sizeof a), 0);
	assert_int_equal(listen(l, 1), 0);
	assert_int_equal(getsockname(l, (struct sockaddr *)&a, &alen), 0);
	*client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(connect(*client, (struct sockaddr *)&a, sizeof a), 0);
	*server = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	assert_true(*server >= 0);
	close(l);
}

#endif
