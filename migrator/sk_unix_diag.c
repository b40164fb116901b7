/* What sock_diag says of one unix socket (sk_unix_diag.h). */
#include "sk_unix_diag.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>

int bm_unix_diag_query(uint64_t ino, struct bm_unix_diag *out)
{
	memset(out, 0, sizeof *out);
	int nl = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (nl < 0)
		return -errno;
	struct {
		struct nlmsghdr h;
		struct unix_diag_req r;
	} req = {0};
	req.h.nlmsg_len = sizeof req;
	req.h.nlmsg_type = SOCK_DIAG_BY_FAMILY;
	req.h.nlmsg_flags = NLM_F_REQUEST;
	req.r.sdiag_family = AF_UNIX;
	req.r.udiag_ino = (uint32_t)ino;
	req.r.udiag_states = ~0u;
	req.r.udiag_cookie[0] = req.r.udiag_cookie[1] = ~0u;
	req.r.udiag_show = UDIAG_SHOW_NAME | UDIAG_SHOW_VFS | UDIAG_SHOW_PEER | UDIAG_SHOW_ICONS | UDIAG_SHOW_RQLEN;
	static uint8_t buf[1 << 20] __attribute__((aligned(8)));
	int rc = 0;
	ssize_t got = send(nl, &req, sizeof req, 0) != (ssize_t)sizeof req ? -1 : recv(nl, buf, sizeof buf, 0);
	if (got < 0)
		rc = -errno;
	close(nl);
	if (rc < 0)
		return rc;
	const struct nlmsghdr *h = (const struct nlmsghdr *)buf;
	if (!NLMSG_OK(h, (size_t)got))
		return -EPROTO;
	if (h->nlmsg_type == NLMSG_ERROR) {
		const struct nlmsgerr *e = NLMSG_DATA(h);
		return h->nlmsg_len >= NLMSG_LENGTH(sizeof *e) && e->error ? e->error : -EPROTO;
	}
	if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY || h->nlmsg_len < NLMSG_LENGTH(sizeof(struct unix_diag_msg)))
		return -EPROTO;
	const struct unix_diag_msg *m = NLMSG_DATA(h);
	if (m->udiag_ino != (uint32_t)ino)
		return -EPROTO;
	out->type = m->udiag_type;
	out->state = m->udiag_state;
	int left = (int)(h->nlmsg_len - NLMSG_LENGTH(sizeof *m));
	for (const struct rtattr *a = (const void *)(m + 1); RTA_OK(a, left); a = RTA_NEXT(a, left)) {
		const void *p = RTA_DATA(a);
		size_t len = RTA_PAYLOAD(a);
		switch (a->rta_type) {
		case UNIX_DIAG_NAME:
			if (len > BM_UNIX_NAME_MAX)
				return -EPROTO;
			memcpy(out->name, p, len);
			out->name_len = (uint32_t)len;
			break;
		case UNIX_DIAG_VFS:
			if (len >= sizeof(struct unix_diag_vfs)) {
				const struct unix_diag_vfs *v = p;
				out->has_vfs = true;
				out->vfs_ino = v->udiag_vfs_ino;
				out->vfs_dev = v->udiag_vfs_dev;
			}
			break;
		case UNIX_DIAG_PEER:
			if (len >= 4) {
				out->peer = *(const uint32_t *)p;
				out->has_peer = true;
			}
			break;
		case UNIX_DIAG_ICONS:
			out->nicons = (uint32_t)(len / 4);
			free(out->icons);
			out->icons = calloc(out->nicons ? out->nicons : 1, sizeof *out->icons);
			if (!out->icons)
				return -ENOMEM;
			for (uint32_t i = 0; i < out->nicons; i++)
				out->icons[i] = ((const uint32_t *)p)[i];
			break;
		case UNIX_DIAG_RQLEN:
			if (len >= sizeof(struct unix_diag_rqlen)) {
				const struct unix_diag_rqlen *q = p;
				out->rqueue = q->udiag_rqueue;
				out->wqueue = q->udiag_wqueue;
			}
			break;
		case UNIX_DIAG_SHUTDOWN:
			if (len >= 1)
				out->shutdown = *(const uint8_t *)p;
			break;
		}
	}
	/* A path name as the kernel keeps it ends with its NUL. */
	if (out->name_len && out->name[0])
		out->name_len = (uint32_t)strnlen((const char *)out->name, out->name_len);
	return 0;
}

