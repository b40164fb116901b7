/* Addresses moving with a process: the options, the offer and its
 * answer, giving the addresses up at the source and taking them at the
 * destination (movaddr.h). */
#include "movaddr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/if_addr.h>

#include "checkpoint.h"
#include "log.h"
#include "sk_inet.h"
#include "wire.h"

static void text_of(const struct bm_netaddr *a, char *buf, size_t len)
{
	if (!inet_ntop(a->family == AF_INET6 ? AF_INET6 : AF_INET, a->addr, buf, (socklen_t)len))
		snprintf(buf, len, "?");
}

/* The prefix length of one address alone: 32 or 128. */
static uint8_t host_prefix(uint32_t family)
{
	return (uint8_t)(8 * bm_netaddr_len(family));
}

/* Whether an IPv6 address can move with a process: not one that names no
 * host (unspecified, multicast), never leaves this host (loopback), is
 * only meaningful on one link (link-local: it would need its interface
 * too) or stands for an IPv4 address (v4-mapped: give that one). */
static bool movable_v6(const uint8_t *addr)
{
	struct in6_addr a;
	memcpy(&a, addr, sizeof a);
	return !IN6_IS_ADDR_UNSPECIFIED(&a) && !IN6_IS_ADDR_LOOPBACK(&a) && !IN6_IS_ADDR_MULTICAST(&a) &&
	       !IN6_IS_ADDR_LINKLOCAL(&a) && !IN6_IS_ADDR_V4MAPPED(&a);
}

static const char *ifname(int ifindex, char buf[IF_NAMESIZE])
{
	if (!if_indextoname((unsigned)ifindex, buf))
		snprintf(buf, IF_NAMESIZE, "#%d", ifindex);
	return buf;
}

/* ADDR[/PREFIX] (with_prefix) or ADDR, IPv4 or IPv6, into *a; false if
 * malformed. */
static bool parse(const char *text, bool with_prefix, struct bm_netaddr *a)
{
	char addr[INET6_ADDRSTRLEN];
	const char *slash = with_prefix ? strchr(text, '/') : NULL;
	size_t alen = slash ? (size_t)(slash - text) : strlen(text);
	if (alen >= sizeof addr)
		return false;
	memcpy(addr, text, alen);
	addr[alen] = 0;
	memset(a, 0, sizeof *a);
	a->family = strchr(addr, ':') ? AF_INET6 : AF_INET;
	a->prefixlen = host_prefix(a->family);
	if (inet_pton((int)a->family, addr, a->addr) != 1)
		return false;
	if (slash) {
		char *end;
		long p = strtol(slash + 1, &end, 10);
		if (!slash[1] || *end || p < 0 || p > a->prefixlen)
			return false;
		a->prefixlen = (uint8_t)p;
	}
	return true;
}

int bm_movaddr_add_option(struct bm_movaddr *m, const char *text)
{
	struct bm_netaddr a;
	if (!parse(text, false, &a) || (a.family == AF_INET6 && !movable_v6(a.addr)))
		return -EINVAL;
	if (bm_movaddr_has(m, a.family, a.addr))
		return -EEXIST;
	if (m->n == BM_MOVADDR_MAX)
		return -E2BIG;
	m->addr[m->n] = a;
	m->detached[m->n++] = false;
	return 0;
}

int bm_movable_add_option(struct bm_movable *m, const char *text)
{
	struct bm_netaddr a;
	if (!parse(text, true, &a))
		return -EINVAL;
	if (m->n == BM_MOVADDR_MAX)
		return -E2BIG;
	m->range[m->n++] = a;
	return 0;
}

bool bm_movaddr_has(const struct bm_movaddr *m, uint32_t family, const uint8_t *addr)
{
	/* A dual-stack IPv6 socket talks IPv4 from ::ffff:a.b.c.d. */
	struct in6_addr a6;
	memcpy(&a6, addr, family == AF_INET6 ? sizeof a6 : 0);
	if (family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&a6))
		return bm_movaddr_has(m, AF_INET, addr + 12);
	for (size_t i = 0; m && i < m->n; i++)
		if (bm_netaddr_is(&m->addr[i], family, addr))
			return true;
	return false;
}

/* --- source ------------------------------------------------------------- */

int bm_movaddr_locate(struct bm_movaddr *m)
{
	struct bm_netaddr *all = NULL;
	size_t n = 0;
	int rc = m->n ? bm_netaddr_list(AF_UNSPEC, &all, &n) : 0;
	if (rc < 0)
		return bm_error_errno(BM_EXIT_FAILURE, -rc, "cannot list this host's addresses (rtnetlink)");
	for (size_t i = 0; rc == 0 && i < m->n; i++) {
		char text[INET6_ADDRSTRLEN], name[IF_NAMESIZE];
		text_of(&m->addr[i], text, sizeof text);
		const struct bm_netaddr *at = NULL;
		for (size_t j = 0; j < n && !at; j++)
			if (bm_netaddr_is(&all[j], m->addr[i].family, m->addr[i].addr))
				at = &all[j];
		if (!at) {
			rc = bm_error(BM_EXIT_USAGE, "--move-addr %s: no interface of this host has that address", text);
			break;
		}
		/* Removing the primary address of an IPv4 subnet removes its
		 * secondary ones too (unless promote_secondaries is set); IPv6 has
		 * no such order. */
		for (size_t j = 0; j < n && rc == 0 && at->family == AF_INET; j++)
			if (&all[j] != at && all[j].ifindex == at->ifindex && !(at->flags & IFA_F_SECONDARY) &&
			    at->prefixlen < 32 && bm_netaddr_in_subnet(at, AF_INET, all[j].addr))
				rc = bm_error(BM_EXIT_USAGE, "--move-addr %s: it is the primary address of %s/%u on %s, "
					      "which has other addresses that would go with it; give the moving "
					      "address a prefix of its own (/32)", text, text, at->prefixlen,
					      ifname(at->ifindex, name));
		m->addr[i] = *at;
		m->detached[i] = false;
	}
	free(all);
	return rc;
}

size_t bm_movaddr_encode(const struct bm_movaddr *m, uint8_t *out, size_t max)
{
	size_t len = 4 + m->n * BM_MOVADDR_ENTRY;
	if (len > max)
		return 0;
	memset(out, 0, len);
	bm_store_le32(out, (uint32_t)m->n);
	for (size_t i = 0; i < m->n; i++) {
		bm_store_le32(out + 4 + i * BM_MOVADDR_ENTRY, m->addr[i].family);
		memcpy(out + 8 + i * BM_MOVADDR_ENTRY, m->addr[i].addr, bm_netaddr_len(m->addr[i].family));
	}
	return len;
}

bool bm_movaddr_decode(const uint8_t *p, size_t len, struct bm_movaddr *m, char *why, size_t n)
{
	memset(m, 0, sizeof *m);
	if (len < 4)
		return bm_why(why, n, "%zu bytes, too short", len);
	uint32_t count = bm_load_le32(p);
	if (count == 0 || count > BM_MOVADDR_MAX || len != 4 + count * BM_MOVADDR_ENTRY)
		return bm_why(why, n, "%u addresses in %zu bytes", count, len);
	for (uint32_t i = 0; i < count; i++) {
		const uint8_t *e = p + 4 + i * BM_MOVADDR_ENTRY;
		static const uint8_t zero[12];
		uint32_t family = bm_load_le32(e);
		if (family == AF_INET && memcmp(e + 8, zero, sizeof zero) != 0)
			return bm_why(why, n, "address %u, IPv4, has more than 4 bytes", i);
		if (family == AF_INET6 && !movable_v6(e + 4))
			return bm_why(why, n, "address %u is an IPv6 address that cannot move", i);
		if (family != AF_INET && family != AF_INET6)
			return bm_why(why, n, "address %u is of family %u, neither IPv4 nor IPv6", i, family);
		m->addr[i].family = family;
		m->addr[i].prefixlen = host_prefix(family);
		memcpy(m->addr[i].addr, e + 4, bm_netaddr_len(family));
		for (uint32_t j = 0; j < i; j++)
			if (bm_netaddr_is(&m->addr[j], family, m->addr[i].addr))
				return bm_why(why, n, "address %u given twice", i);
	}
	m->n = count;
	return true;
}

int bm_movaddr_offer(struct bm_conn *c, const struct bm_movaddr *m, int timeout_ms)
{
	uint8_t buf[4 + BM_MOVADDR_MAX * BM_MOVADDR_ENTRY];
	size_t len = bm_movaddr_encode(m, buf, sizeof buf);
	int rc = bm_frame_send_buf(c, BM_MSG_MOVE_ADDRS, buf, len, timeout_ms);
	if (rc == 0)
		rc = bm_frame_expect(c, BM_MSG_MOVE_ADDRS_OK, NULL, 0, &len, timeout_ms);
	return rc;
}

void bm_movaddr_reattach(struct bm_movaddr *m)
{
	for (size_t i = 0; m && i < m->n; i++) {
		if (!m->detached[i])
			continue;
		char text[INET6_ADDRSTRLEN], name[IF_NAMESIZE];
		text_of(&m->addr[i], text, sizeof text);
		int rc = bm_netaddr_add(&m->addr[i]);
		if (rc < 0) {
			bm_warn("cannot put %s/%u back on %s: %s; the process's connections on it are cut off", text,
				m->addr[i].prefixlen, ifname(m->addr[i].ifindex, name), strerror(-rc));
			continue;
		}
		m->detached[i] = false;
		/* The destination may have announced it already. */
		if ((rc = bm_netaddr_announce(&m->addr[i])) < 0)
			bm_warn("%s is back on %s, but announcing it failed (%s): peers may take a while to find it", text,
				ifname(m->addr[i].ifindex, name), strerror(-rc));
	}
}

int bm_movaddr_detach(struct bm_movaddr *m, struct bm_frozen *f)
{
	int rc = 0;
	for (size_t i = 0; m && i < m->n && rc == 0; i++) {
		char text[INET6_ADDRSTRLEN], name[IF_NAMESIZE];
		text_of(&m->addr[i], text, sizeof text);
		rc = bm_netaddr_del(&m->addr[i]);
		if (rc < 0)
			rc = bm_error_errno(BM_EXIT_FAILURE, -rc, "cannot remove %s/%u from %s", text, m->addr[i].prefixlen,
					    ifname(m->addr[i].ifindex, name));
		else
			m->detached[i] = true;
	}
	/* Nothing reaches those connections any more: their state holds still. */
	for (size_t i = 0; m && m->n && rc == 0 && i < bm_frozen_count(f); i++) {
		struct bm_frozen *one = bm_frozen_at(f, i);
		rc = bm_sk_inet_read_outside(one->pid, &one->proc, m);
	}
	if (rc < 0)
		bm_movaddr_reattach(m);
	return rc;
}

/* --- destination -------------------------------------------------------- */

/* What this worker was offered and took, and which of those it has added. */
static struct bm_movaddr taken;
static bool added[BM_MOVADDR_MAX];

/* Why this host cannot take *A (NULL if it can), and the interface that
 * will (into A): the one with the longest prefix whose subnet holds it. */
static const char *judge(struct bm_netaddr *a, const struct bm_movable *allowed, const struct bm_netaddr *all, size_t n)
{
	bool ok = false;
	for (size_t i = 0; allowed && i < allowed->n && !ok; i++)
		ok = bm_netaddr_in_subnet(&allowed->range[i], a->family, a->addr);
	if (!ok)
		return "it is not one this destination takes (binmig serve --movable)";
	const struct bm_netaddr *via = NULL;
	for (size_t i = 0; i < n; i++) {
		if (bm_netaddr_is(&all[i], a->family, a->addr))
			return "this host has it already";
		if (all[i].prefixlen < host_prefix(a->family) && bm_netaddr_in_subnet(&all[i], a->family, a->addr) &&
		    (!via || all[i].prefixlen > via->prefixlen))
			via = &all[i];
	}
	if (!via)
		return "no interface of this host is in its subnet";
	a->ifindex = via->ifindex;
	a->prefixlen = host_prefix(a->family);
	return NULL;
}

int bm_movaddr_answer(struct bm_conn *c, const struct bm_movable *allowed, int timeout_ms)
{
	uint8_t buf[4 + BM_MOVADDR_MAX * BM_MOVADDR_ENTRY];
	size_t len;
	struct bm_movaddr offered;
	char why[160], text[INET6_ADDRSTRLEN];
	memset(&taken, 0, sizeof taken);
	memset(added, 0, sizeof added);
	int rc = bm_frame_expect(c, BM_MSG_MOVE_ADDRS, buf, sizeof buf, &len, timeout_ms);
	if (rc < 0)
		return rc;
	if (!bm_movaddr_decode(buf, len, &offered, why, sizeof why))
		return bm_error(BM_EXIT_NETWORK, "malformed MOVE_ADDRS: %s", why);
	struct bm_netaddr *all;
	size_t n;
	if ((rc = bm_netaddr_list(AF_UNSPEC, &all, &n)) < 0)
		rc = bm_error_errno(BM_EXIT_FAILURE, -rc, "cannot list this host's addresses (rtnetlink)");
	for (size_t i = 0; rc == 0 && i < offered.n; i++) {
		const char *no = judge(&offered.addr[i], allowed, all, n);
		text_of(&offered.addr[i], text, sizeof text);
		if (no)
			rc = bm_error(BM_EXIT_CONFLICT, "the destination does not take address %s, which moves with the "
				      "process: %s", text, no);
	}
	free(all);
	if (rc < 0) {
		/* The source hears why, before it freezes anything. */
		bm_send_message(c, BM_MSG_ERROR, bm_exit_code(), bm_error_message(), timeout_ms);
		return rc;
	}
	rc = bm_frame_send_buf(c, BM_MSG_MOVE_ADDRS_OK, NULL, 0, timeout_ms);
	if (rc == 0)
		taken = offered;
	return rc;
}

/* The interface of this host that has A's address (taken since the
 * answer), or 0. */
static int holder(const struct bm_netaddr *a)
{
	struct bm_netaddr *all;
	size_t n;
	int found = 0;
	if (bm_netaddr_list(a->family, &all, &n) < 0)
		return 0; /* the add below then fails or succeeds on its own */
	for (size_t j = 0; j < n && !found; j++)
		if (bm_netaddr_is(&all[j], a->family, a->addr))
			found = all[j].ifindex;
	free(all);
	return found;
}

int bm_movaddr_place(void)
{
	for (size_t i = 0; i < taken.n; i++) {
		if (added[i])
			continue;
		char text[INET6_ADDRSTRLEN], name[IF_NAMESIZE];
		text_of(&taken.addr[i], text, sizeof text);
		int other = holder(&taken.addr[i]);
		if (other)
			return bm_error(BM_EXIT_CONFLICT, "address %s, which moves with the process, is in use on %s", text,
					ifname(other, name));
		ifname(taken.addr[i].ifindex, name);
		int rc = bm_netaddr_add(&taken.addr[i]);
		if (rc == -EEXIST)
			return bm_error(BM_EXIT_CONFLICT, "address %s, which moves with the process, is in use on %s", text,
					name);
		if (rc < 0)
			return bm_error_errno(BM_EXIT_CONFLICT, -rc, "cannot add address %s, which moves with the process, "
					      "to %s", text, name);
		added[i] = true;
		if ((rc = bm_netaddr_announce(&taken.addr[i])) < 0)
			return bm_error_errno(BM_EXIT_FAILURE, -rc, "cannot announce address %s on %s", text, name);
	}
	return 0;
}

void bm_movaddr_undo(void)
{
	for (size_t i = 0; i < taken.n; i++) {
		if (!added[i])
			continue;
		int rc = bm_netaddr_del(&taken.addr[i]);
		char text[INET6_ADDRSTRLEN], name[IF_NAMESIZE];
		text_of(&taken.addr[i], text, sizeof text);
		if (rc < 0)
			bm_warn("cannot remove address %s from %s after the failed restore: %s", text,
				ifname(taken.addr[i].ifindex, name), strerror(-rc));
		else
			added[i] = false;
	}
}
