/* TCP and UDP socket state only the kernel's structures show
 * (sk_inet_kernel.h). */
#include "sk_inet_kernel.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "bpf/kstate_rec.h"
#include "fd_policy.h"
#include "kstate.h"
#include "log.h"
#include "sk_inet.h"

/* Why D (SK, the kernel's BITS) is refused, in WHY; NULL if it is not. */
static const char *refusal(const struct bm_sk_inet *sk, uint32_t bits, char *why, size_t n)
{
	const char *what = sk->type == SOCK_STREAM ? "TCP" : "UDP";
	char addr[80];
	bm_sk_addr_text(sk->family, &sk->local, addr, sizeof addr);
	uint32_t shut = bits & BM_KSTATE_SK_SHUTDOWN;
	if (bits & BM_KSTATE_SK_REUSEPORT_PROG)
		snprintf(why, n, ", a %s socket on %s whose SO_REUSEPORT group has a program attached "
			 "(SO_ATTACH_REUSEPORT_CBPF or _EBPF), which no option reads back", what, addr);
	else if (bits & BM_KSTATE_SK_URGENT)
		snprintf(why, n, ", a TCP connection on %s with urgent data (MSG_OOB) sent and not yet acknowledged, "
			 "which the restore would send as ordinary data", addr);
	else if (shut && !(shut == 2 && sk->state == BM_SK_NEW)) /* SEND_SHUTDOWN alone there: carried */
		snprintf(why, n, ", a %s socket shut down for %s, which binmig does not carry", what,
			 shut == 3 ? "reading and writing" : shut == 1 ? "reading" : "writing");
	else
		return NULL;
	return why;
}

int bm_sk_inet_kernel_check(pid_t pid, struct bm_process *p)
{
	uint32_t n = 0;
	for (uint32_t i = 0; i < p->nfds; i++)
		n += (p->fds[i].kind == BM_FD_TCP || p->fds[i].kind == BM_FD_UDP) && p->fds[i].shares_with < 0;
	if (!n)
		return 0;
	uint32_t *bits = calloc(p->nfds, sizeof *bits);
	if (!bits)
		return bm_error(BM_EXIT_FAILURE, "out of memory");
	char why[700];
	if (bm_kstate_inet(p, bits, why, sizeof why) < 0)
		bm_debug("process %d: its sockets unread by BPF (%s)", pid, why);
	int rc = 0;
	for (uint32_t i = 0; i < p->nfds && rc == 0; i++) {
		struct bm_fd *d = &p->fds[i];
		struct bm_sk_inet sk;
		if (!(bits[i] & BM_KSTATE_SK_READ) || !bm_sk_inet_decode(d->data, d->data_len, &sk, why, sizeof why))
			continue;
		if (refusal(&sk, bits[i], why, sizeof why)) {
			rc = bm_fd_refuse(pid, d->fd, d->path ? d->path : "socket", d->mode, why);
		} else if (sk.last_known) { /* format 5 needs it */
			bool shut = (bits[i] & BM_KSTATE_SK_SHUTDOWN) != 0;
			/* Exact: also one set to a new socket's, which TCP_MAXSEG
			 * does not tell from none. */
			uint32_t mss = sk.type == SOCK_STREAM ? bits[i] >> BM_KSTATE_SK_USER_MSS_SHIFT : 0;
			if (shut != sk.shut_wr || mss != sk.user_mss) {
				sk.shut_wr = shut;
				sk.user_mss = mss;
				rc = bm_sk_inet_store(d, &sk);
			}
		}
	}
	free(bits);
	return rc;
}

int bm_sk_inet_shut_back(int s)
{
	/* Without a port the socket is in TCP_CLOSE: inet_shutdown (Linux's
	 * net/ipv4/af_inet.c) answers ENOTCONN, yet sets SEND_SHUTDOWN in
	 * sk_shutdown all the same, as the original's shutdown did. */
	return shutdown(s, SHUT_WR) == 0 || errno == ENOTCONN ? 0 : -1;
}
