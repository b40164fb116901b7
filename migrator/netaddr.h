/* The host's IP addresses through rtnetlink (RTM_GETADDR, RTM_NEWADDR,
 * RTM_DELADDR) and the announcement of an address that has just arrived
 * on an interface (a gratuitous ARP for IPv4, an unsolicited Neighbour
 * Advertisement for IPv6), in the calling thread's network namespace.
 * Used to move an address with a process (movaddr.h).
 *
 * IPv4 and IPv6: every function refuses another family with
 * -EAFNOSUPPORT.  Each returns 0 or -errno and logs nothing: the caller
 * knows what the address is for and says so. */
#ifndef BINMIG_NETADDR_H
#define BINMIG_NETADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct bm_netaddr {
	int ifindex;
	uint32_t family;     /* AF_INET or AF_INET6 */
	uint8_t addr[16];    /* network byte order; IPv4 in [0..4) */
	uint8_t prefixlen;
	uint32_t flags;      /* IFA_F_* as listed (IFA_F_SECONDARY, ...) */
};

/* Every address of FAMILY (AF_UNSPEC: of both) on this host: *out
 * malloc'd (NULL when none), *n entries. */
int bm_netaddr_list(uint32_t family, struct bm_netaddr **out, size_t *n);
/* Adds A to its interface; -EEXIST if the interface has it already.  An
 * IPv6 address is added without duplicate address detection
 * (IFA_F_NODAD), usable at once: binmig adds only addresses that have
 * just left a host. */
int bm_netaddr_add(const struct bm_netaddr *a);
/* Removes A (its address and prefix length) from its interface;
 * -EADDRNOTAVAIL if it is not there. */
int bm_netaddr_del(const struct bm_netaddr *a);
/* Tells the link that A is now on its interface, so that the neighbours
 * that know A update where they send it (netaddr_announce.c):
 *   IPv4: a gratuitous ARP request (sender and target both A, from the
 *         interface's hardware address, to broadcast);
 *   IPv6: an unsolicited Neighbour Advertisement (ICMPv6 type 136,
 *         override flag set, target A with the interface's hardware
 *         address as its option) from A to all nodes, ff02::1, hop limit
 *         255; A must be on the interface (-EADDRNOTAVAIL otherwise).
 * -EOPNOTSUPP on an interface without an Ethernet address. */
int bm_netaddr_announce(const struct bm_netaddr *a);

/* The length of an address of FAMILY: 4, 16, or 0 for another family. */
size_t bm_netaddr_len(uint32_t family);
/* Whether A lies in the subnet NET/NET->prefixlen (both of one family). */
bool bm_netaddr_in_subnet(const struct bm_netaddr *net, uint32_t family, const uint8_t *addr);
/* Whether A is ADDR of FAMILY. */
bool bm_netaddr_is(const struct bm_netaddr *a, uint32_t family, const uint8_t *addr);

#endif
