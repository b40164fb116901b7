/* What sock_diag says of one TCP or UDP socket (sk_inet_diag.h). */
#include "sk_inet_diag.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stdbool.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/sockios.h>

#include "wire.h"

/* A sock_diag socket in the network namespace of S, which may not be
 * binmig's: sock_diag lists the sockets of its own namespace only.  A
 * descriptor or -errno. */
static int diag_socket(int s)
{
	int ns = ioctl(s, SIOCGSKNS);
	if (ns < 0)
		return -errno;
	struct stat theirs, ours;
	int nl = -1, rc = 0;
	if (fstat(ns, &theirs) < 0 || stat("/proc/thread-self/ns/net", &ours) < 0) {
		rc = -errno;
	} else if (theirs.st_ino == ours.st_ino && theirs.st_dev == ours.st_dev) {
		nl = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
		rc = nl < 0 ? -errno : 0;
	} else {
		/* Made over there, the socket stays there once this thread is back. */
		int back = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
		if (back < 0 || setns(ns, CLONE_NEWNET) < 0) {
			rc = -errno;
		} else {
			nl = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
			rc = nl < 0 ? -errno : 0;
			if (setns(back, CLONE_NEWNET) < 0)
				rc = -errno;
		}
		if (back >= 0)
			close(back);
	}
	close(ns);
	if (rc < 0 && nl >= 0)
		close(nl);
	return rc < 0 ? rc : nl;
}

/* Fills OUT from message H if it is the socket of inode INO: 1, else 0. */
static int take(const struct nlmsghdr *h, uint64_t ino, struct bm_inet_diag *out)
{
	if (h->nlmsg_len < NLMSG_LENGTH(sizeof(struct inet_diag_msg)))
		return 0;
	const struct inet_diag_msg *m = NLMSG_DATA(h);
	if (m->idiag_inode != (uint32_t)ino)
		return 0;
	out->state = m->idiag_state;
	out->rqueue = m->idiag_rqueue;
	int left = (int)(h->nlmsg_len - NLMSG_LENGTH(sizeof *m));
	for (const struct rtattr *a = (const void *)(m + 1); RTA_OK(a, left); a = RTA_NEXT(a, left))
		if (a->rta_type == INET_DIAG_SHUTDOWN && RTA_PAYLOAD(a) >= 1)
			out->shutdown = *(const uint8_t *)RTA_DATA(a);
	return 1;
}

int bm_inet_diag_query(int s, uint32_t family, uint32_t protocol, struct bm_inet_diag *out)
{
	memset(out, 0, sizeof *out);
	struct stat st;
	if (fstat(s, &st) < 0)
		return -errno;
	int nl = diag_socket(s);
	if (nl < 0)
		return nl;
	/* Every socket of the protocol, in every state (bit 13 asks for TCP
	 * sockets that are bound only, Linux 6.8), matched by inode. */
	struct {
		struct nlmsghdr h;
		struct inet_diag_req_v2 r;
	} req;
	memset(&req, 0, sizeof req);
	req.h.nlmsg_len = sizeof req;
	req.h.nlmsg_type = SOCK_DIAG_BY_FAMILY;
	req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	req.r.sdiag_family = (uint8_t)family;
	req.r.sdiag_protocol = (uint8_t)protocol;
	req.r.idiag_states = ~0u;
	static uint8_t buf[64 << 10] __attribute__((aligned(8)));
	int rc = send(nl, &req, sizeof req, 0) == (ssize_t)sizeof req ? -ENOENT : -errno;
	for (bool done = rc != -ENOENT; !done;) {
		ssize_t got = recv(nl, buf, sizeof buf, 0);
		if (got <= 0) {
			rc = got < 0 ? -errno : -EPROTO;
			break;
		}
		for (const struct nlmsghdr *h = (const void *)buf; NLMSG_OK(h, (size_t)got) && !done;
		     h = NLMSG_NEXT(h, got)) {
			if (h->nlmsg_type == NLMSG_DONE) {
				done = true;
			} else if (h->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = NLMSG_DATA(h);
				rc = h->nlmsg_len >= NLMSG_LENGTH(sizeof *e) && e->error ? e->error : -EPROTO;
				done = true;
			} else if (h->nlmsg_type == SOCK_DIAG_BY_FAMILY && rc == -ENOENT && take(h, st.st_ino, out)) {
				rc = 0; /* read on to the end of the dump */
			}
		}
	}
	close(nl);
	return rc;
}

int bm_inet_error_waits(int s, const char *what, char *why, size_t n)
{
	struct pollfd p = {s, 0, 0};
	if (poll(&p, 1, 0) < 0)
		return -errno;
	if (p.revents & POLLERR)
		return bm_why(why, n, ", a %s socket with an error not yet read (SO_ERROR or its error queue), which "
			      "binmig does not carry", what), 1;
	return 0;
}
