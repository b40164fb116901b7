/* SO_INCOMING_CPU and TCP_QUICKACK of TCP and UDP sockets: read at dump,
 * set last at restore (sk_inet_last.h). */
#include "sk_inet_last.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "sk_tcp_repair.h"

static int get_int(int s, int level, int name, int *v)
{
	socklen_t len = sizeof *v;
	*v = 0;
	return getsockopt(s, level, name, v, &len) < 0 ? -errno : 0;
}

int bm_sk_inet_last_read(int s, struct bm_sk_inet *sk)
{
	int cpu = -1, quickack = -1;
	int rc = get_int(s, SOL_SOCKET, SO_INCOMING_CPU, &cpu);
	if (rc == 0 && sk->type == SOCK_STREAM)
		rc = get_int(s, IPPROTO_TCP, TCP_QUICKACK, &quickack);
	if (rc < 0)
		return rc;
	sk->incoming_cpu = cpu;
	sk->quickack = quickack;
	sk->last_known = true;
	return 0;
}

/* Option NAME of S to WANT where it reads otherwise: 0, or -1 with the
 * reason in err.  Setting TCP_QUICKACK 0 only enters the delayed-ACK
 * mode; 1 leaves it and sends an ACK the connection owes, as the program's
 * would. */
static int set_to(int fd, int level, int name, const char *text, int want, char *err, size_t errlen)
{
	int now;
	if (get_int(fd, level, name, &now) == 0 && now == want)
		return 0;
	if (setsockopt(fd, level, name, &want, sizeof want) == 0)
		return 0;
	snprintf(err, errlen, "fd %d: socket: setting %s to %d: %s", fd, text, want, strerror(errno));
	return -1;
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* The segments counted out of (IN false) or into connection S. */
static int segments(int s, bool in, uint32_t *count)
{
	struct bm_tcp_info_more more;
	memset(&more, 0, sizeof more);
	socklen_t len = sizeof more;
	if (getsockopt(s, IPPROTO_TCP, TCP_INFO, &more, &len) < 0)
		return -1;
	if (len < sizeof more) {
		errno = ENOPROTOOPT; /* a kernel before 4.2 counts no segments */
		return -1;
	}
	*count = in ? more.segs_in : more.segs_out;
	return 0;
}

/* P's connection D decoded in SK: the descriptor of its other end in the
 * process, or -1. */
static int peer_fd(const struct bm_process *p, const struct bm_fd *d, const struct bm_sk_inet *sk)
{
	if (sk->type != SOCK_STREAM || sk->state != BM_SK_CONNECTED)
		return -1;
	const struct bm_fd *e = bm_sk_inet_peer_end(p, d, sk);
	return e ? e->fd : -1;
}

/* Until connection FD's peer PEER counts in as many segments as FD
 * counted out when asked (TCP counts a segment in as it takes it, under
 * the lock that TCP_INFO's read waits for, and answers it before letting
 * go).  0, or -1 with the reason in err, also past END. */
static int wait_taken(int fd, int peer, uint64_t end, char *err, size_t errlen)
{
	uint32_t out, in;
	if (segments(fd, false, &out) < 0)
		goto cannot;
	for (;;) {
		if (segments(peer, true, &in) < 0)
			goto cannot;
		if ((int32_t)(in - out) >= 0)
			return 0;
		if (now_ms() >= end) {
			snprintf(err, errlen, "fd %d: TCP connection: its peer fd %d took in %u of the %u segments it sent "
				 "during the restore within %d ms", fd, peer, in, out, BM_SK_LAST_WAIT_MS);
			return -1;
		}
		struct timespec ts = {0, 1000000};
		nanosleep(&ts, NULL);
	}
cannot:
	snprintf(err, errlen, "fd %d: TCP connection: counting its segments: %s", fd, strerror(errno));
	return -1;
}

/* One round: every connection with its peer in the process, each end
 * waited for in turn. */
static int settle_round(const struct bm_process *p, uint64_t end, char *err, size_t errlen)
{
	for (uint32_t i = 0; i < p->nfds; i++) {
		struct bm_sk_inet sk;
		const struct bm_fd *d = bm_sk_inet_own(p, i, &sk);
		int peer = d ? peer_fd(p, d, &sk) : -1;
		if (peer >= 0 && wait_taken(d->fd, peer, end, err, errlen) < 0)
			return -1;
	}
	return 0;
}

int bm_sk_inet_last_restore(const struct bm_process *p, char *err, size_t errlen)
{
	/* TCP_QUICKACK first: leaving the delayed-ACK mode may send an ACK,
	 * which the rounds below then see taken in. */
	for (int pass = 0; pass < 2; pass++) {
		if (pass == 1) {
			/* The window probes first, then what answered them. */
			uint64_t end = now_ms() + BM_SK_LAST_WAIT_MS;
			for (int round = 0; round < 2; round++)
				if (settle_round(p, end, err, errlen) < 0)
					return -1;
		}
		for (uint32_t i = 0; i < p->nfds; i++) {
			struct bm_sk_inet sk;
			const struct bm_fd *d = bm_sk_inet_own(p, i, &sk);
			if (!d || !sk.last_known)
				continue;
			int rc = pass == 0 ? (sk.quickack < 0 ? 0 : set_to(d->fd, IPPROTO_TCP, TCP_QUICKACK, "TCP_QUICKACK",
									   sk.quickack, err, errlen))
					   : set_to(d->fd, SOL_SOCKET, SO_INCOMING_CPU, "SO_INCOMING_CPU", sk.incoming_cpu, err,
						    errlen);
			if (rc < 0)
				return -1;
		}
	}
	return 0;
}
