/* Established TCP connections: which can move, reading them at dump,
 * silencing the source's copy, rebuilding them at restore
 * (sk_tcp_repair.h). */
#include "sk_tcp_repair.h"
#include "sk_udp_queue.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/sockios.h>

#include "fd_policy.h"
#include "log.h"
#include "movaddr.h"
#include "sk_inet_diag.h"
#include "sk_inet_last.h"
#include "wire.h"

#define KNOWN_OPTIONS (TCPI_OPT_TIMESTAMPS | TCPI_OPT_SACK | TCPI_OPT_WSCALE)
/* Queued bytes are written back in pieces of at most this. */
#define CHUNK (64u << 10)

static int set_int(int s, int name, int v)
{
	return setsockopt(s, IPPROTO_TCP, name, &v, sizeof v) < 0 ? -errno : 0;
}

/* --- dump --------------------------------------------------------------- */

/* The kernel keeps moving a connection while its process is frozen:
 * segments arrive, ACKs free the send queue, timers send what was not sent
 * yet.  A queue's length, its bytes and its sequence numbers are therefore
 * read until two reads around the bytes agree; a connection that never
 * holds still that long is not carried. */
#define STABLE_TRIES 16
/* Send queue bytes before snd_una the peek may give: the head of the queue
 * can be a segment the peer acknowledged only in part. */
#define SENDQ_SLACK (256u << 10)

static int get_seq(int s, uint32_t *seq)
{
	socklen_t sl = sizeof *seq;
	return getsockopt(s, IPPROTO_TCP, TCP_QUEUE_SEQ, seq, &sl) < 0 ? -errno : 0;
}

static int queue_lengths(int s, int *outq, int *notsent, int *inq)
{
	if (ioctl(s, SIOCOUTQ, outq) < 0 || ioctl(s, SIOCOUTQNSD, notsent) < 0 || ioctl(s, SIOCINQ, inq) < 0)
		return -errno;
	if (*outq < 0 || *inq < 0 || *notsent < 0 || *notsent > *outq)
		return -EIO;
	return 0;
}

/* The receive queue: t->inq bytes in *out ending at t->rcv_seq (rcv_nxt).
 * Nobody reads it, so it can only grow: the same rcv_nxt before and after
 * the peek means the bytes and the length belong together.
 *
 * While an urgent mark lies ahead in it, SIOCINQ and the peek stop at the
 * mark, and the bytes after it would be lost: sock_diag's count, all
 * that arrived and was not read (rcv_nxt - copied_seq), tells.  1 after
 * refusing such a connection (why). */
static int read_recv_queue(int s, const struct bm_sk_inet *sk, struct bm_sk_tcp *t, uint8_t **out, char *why, size_t n)
{
	int rc = set_int(s, TCP_REPAIR_QUEUE, TCP_RECV_QUEUE);
	for (int tries = 0; rc == 0 && tries < STABLE_TRIES; tries++) {
		uint32_t before, after;
		int outq, notsent, inq;
		struct bm_inet_diag diag;
		rc = get_seq(s, &before);
		if (rc == 0)
			rc = queue_lengths(s, &outq, &notsent, &inq);
		if (rc == 0)
			rc = bm_inet_diag_query(s, sk->family, sk->protocol, &diag);
		if (rc == 0 && (uint32_t)inq > BM_SK_INET_MAX_QUEUE)
			rc = -E2BIG;
		if (rc < 0)
			return rc;
		if (diag.rqueue != (uint32_t)inq && get_seq(s, &after) == 0 && after == before)
			return bm_why(why, n, ", a TCP connection with an urgent mark (MSG_OOB) ahead in its receive "
				      "queue, which binmig does not carry"), 1;
		uint8_t *buf = inq ? malloc((size_t)inq) : NULL;
		if (inq && !buf)
			return -ENOMEM;
		ssize_t got = inq ? recv(s, buf, (size_t)inq, MSG_PEEK | MSG_DONTWAIT) : 0;
		if (got < 0 && errno != EAGAIN) {
			rc = -errno;
			free(buf);
			return rc;
		}
		rc = get_seq(s, &after);
		if (rc == 0 && got == inq && before == after && diag.rqueue == (uint32_t)inq) {
			t->inq = (uint32_t)inq;
			t->rcv_seq = after;
			*out = buf;
			return 0;
		}
		free(buf);
	}
	return rc < 0 ? rc : -EAGAIN;
}

/* The send queue: t->outq bytes in *out ending at t->snd_seq (write_seq,
 * fixed while the process is frozen), of which the last t->notsent not yet
 * sent.  ACKs shorten it and sending moves the split: the same lengths
 * before and after the peek mean they match the bytes. */
static int read_send_queue(int s, struct bm_sk_tcp *t, uint8_t **out)
{
	int rc = set_int(s, TCP_REPAIR_QUEUE, TCP_SEND_QUEUE);
	if (rc == 0)
		rc = get_seq(s, &t->snd_seq);
	for (int tries = 0; rc == 0 && tries < STABLE_TRIES; tries++) {
		int outq, notsent, inq, outq2, notsent2;
		rc = queue_lengths(s, &outq, &notsent, &inq);
		if (rc == 0 && (uint32_t)outq > BM_SK_INET_MAX_QUEUE)
			rc = -E2BIG;
		if (rc < 0)
			return rc;
		size_t cap = (size_t)outq + SENDQ_SLACK;
		uint8_t *buf = outq ? malloc(cap) : NULL;
		if (outq && !buf)
			return -ENOMEM;
		ssize_t got = outq ? recv(s, buf, cap, MSG_PEEK | MSG_DONTWAIT) : 0;
		if (got < 0 && errno != EAGAIN && errno != EFAULT) {
			rc = -errno;
			free(buf);
			return rc;
		}
		uint32_t seq2 = 0;
		rc = queue_lengths(s, &outq2, &notsent2, &inq);
		if (rc == 0)
			rc = get_seq(s, &seq2);
		/* write_seq holds still unless someone outside the freeze writes. */
		if (rc == 0 && seq2 == t->snd_seq && got >= outq && (size_t)got < cap && outq == outq2 &&
		    notsent == notsent2) {
			/* Bytes before snd_una, if any, come first. */
			if (got > outq)
				memmove(buf, buf + (got - outq), (size_t)outq);
			t->outq = (uint32_t)outq;
			t->notsent = (uint32_t)notsent;
			*out = buf;
			return 0;
		}
		free(buf);
	}
	return rc < 0 ? rc : -EAGAIN;
}

int bm_tcp_repair_read(int s, struct bm_sk_inet *sk, uint8_t **sendq, uint8_t **recvq, char *why, size_t n)
{
	struct bm_sk_tcp *t = &sk->tcp;
	int outq = 0, notsent = 0, inq = 0;
	struct tcp_info ti;
	memset(&ti, 0, sizeof ti);
	socklen_t len = sizeof ti;
	*sendq = *recvq = NULL;
	int rc = queue_lengths(s, &outq, &notsent, &inq);
	if (rc < 0)
		return rc;
	if (getsockopt(s, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0)
		return -errno;
	/* A first look, to refuse early; the queues are read below. */
	if ((uint32_t)outq > BM_SK_INET_MAX_QUEUE || (uint32_t)inq > BM_SK_INET_MAX_QUEUE)
		return bm_why(why, n, ", a TCP connection with %d bytes to send and %d to read, more than binmig "
			      "carries (%u)", outq, inq, BM_SK_INET_MAX_QUEUE), 1;
	/* The window clamp: set by the program, or the kernel's own (derived
	 * at the connect, followed by receive buffer tuning); the rebuilt
	 * connection would derive its own. */
	int clamp = 0;
	socklen_t cl = sizeof clamp;
	if (getsockopt(s, IPPROTO_TCP, TCP_WINDOW_CLAMP, &clamp, &cl) < 0)
		return -errno;
	t->window_clamp = clamp > 0 ? (uint32_t)clamp : 0;
	t->options = ti.tcpi_options & KNOWN_OPTIONS;
	t->snd_wscale = ti.tcpi_snd_wscale;
	t->rcv_wscale = ti.tcpi_rcv_wscale;
	/* Urgent data not yet read (the kernel holds its byte out of the
	 * stream) or announced and not yet arrived: repair mode has no way to
	 * put it back.  A peek at it takes nothing; EINVAL says there is none. */
	char urgent;
	if (recv(s, &urgent, 1, MSG_OOB | MSG_PEEK | MSG_DONTWAIT) >= 0 || errno == EAGAIN)
		return bm_why(why, n, ", a TCP connection with urgent data (MSG_OOB) not yet read, which binmig does not "
			      "carry"), 1;
	/* Peeking honours SO_PEEK_OFF: off while the queues are read. */
	int peek_off = sk->opt[BM_SKO_PEEK_OFF], none = -1;
	if (peek_off >= 0 && setsockopt(s, SOL_SOCKET, SO_PEEK_OFF, &none, sizeof none) < 0)
		return -errno;
	rc = set_int(s, TCP_REPAIR, TCP_REPAIR_ON);
	if (rc < 0) {
		if (peek_off >= 0)
			setsockopt(s, SOL_SOCKET, SO_PEEK_OFF, &peek_off, sizeof peek_off);
		return rc;
	}
	struct tcp_repair_window w;
	int mss = 0;
	socklen_t wl = sizeof w, tl = sizeof t->timestamp, ml = sizeof mss;
	/* In repair mode TCP_MAXSEG is the peer's MSS (the clamp), from which
	 * the kernel derives the segment size, not the segment size itself. */
	if (getsockopt(s, IPPROTO_TCP, TCP_REPAIR_WINDOW, &w, &wl) < 0 ||
	    getsockopt(s, IPPROTO_TCP, TCP_TIMESTAMP, &t->timestamp, &tl) < 0 ||
	    getsockopt(s, IPPROTO_TCP, TCP_MAXSEG, &mss, &ml) < 0)
		rc = -errno;
	t->mss = (uint32_t)mss;
	if (rc == 0) {
		t->snd_wl1 = w.snd_wl1;
		t->snd_wnd = w.snd_wnd;
		t->max_window = w.max_window;
		t->rcv_wnd = w.rcv_wnd;
		t->rcv_wup = w.rcv_wup;
		rc = read_send_queue(s, t, sendq);
	}
	if (rc == 0)
		rc = read_recv_queue(s, sk, t, recvq, why, n);
	/* Back as it was: no queue selected, repair off without a window
	 * probe, SO_REUSEADDR (which leaving repair mode clears) and the peek
	 * offset as the program set them. */
	set_int(s, TCP_REPAIR_QUEUE, TCP_NO_QUEUE);
	int off = set_int(s, TCP_REPAIR, TCP_REPAIR_OFF_NO_WP);
	if (rc == 0)
		rc = off;
	int one = 1;
	if (sk->opt[BM_SKO_REUSEADDR] && setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 && rc == 0)
		rc = -errno;
	if (peek_off >= 0 && setsockopt(s, SOL_SOCKET, SO_PEEK_OFF, &peek_off, sizeof peek_off) < 0 && rc == 0)
		rc = -errno;
	if (rc == -EAGAIN || rc == -E2BIG) {
		if (rc == -EAGAIN)
			bm_why(why, n, ", a TCP connection whose queues kept changing while binmig read them");
		else
			bm_why(why, n, ", a TCP connection with more queued than binmig carries (%u bytes a queue)",
			       BM_SK_INET_MAX_QUEUE);
		rc = 1;
	}
	if (rc != 0) {
		free(*sendq);
		free(*recvq);
		*sendq = *recvq = NULL;
	}
	return rc;
}

/* The IPv4 address of an IPv4 end, or of an IPv6 one as ::ffff:a.b.c.d
 * (a dual-stack socket's IPv4 traffic), in *v4; false if it has none. */
static bool as_v4(uint32_t family, const struct bm_sk_addr *a, const uint8_t **v4)
{
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	*v4 = family == AF_INET ? a->addr : a->addr + 12;
	return family == AF_INET || memcmp(a->addr, mapped, 12) == 0;
}

/* Whether end A of family FA is end B of family FB: an IPv4 socket
 * connected to a dual-stack IPv6 one sees it as an IPv4 address, and is
 * seen as ::ffff:a.b.c.d. */
static bool same_addr(uint32_t fa, const struct bm_sk_addr *a, uint32_t fb, const struct bm_sk_addr *b)
{
	if (a->port != b->port)
		return false;
	if (fa == fb)
		return memcmp(a->addr, b->addr, fa == AF_INET ? 4 : 16) == 0;
	const uint8_t *x, *y;
	return as_v4(fa, a, &x) && as_v4(fb, b, &y) && memcmp(x, y, 4) == 0;
}

const struct bm_fd *bm_sk_inet_peer_end(const struct bm_process *p, const struct bm_fd *d, const struct bm_sk_inet *sk)
{
	for (uint32_t j = 0; j < p->nfds; j++) {
		const struct bm_fd *e = &p->fds[j];
		struct bm_sk_inet o;
		char why[160];
		if (e == d || e->kind != BM_FD_TCP || e->shares_with >= 0 ||
		    !bm_sk_inet_decode(e->data, e->data_len, &o, why, sizeof why))
			continue;
		if (o.state == BM_SK_CONNECTED && o.type == SOCK_STREAM && same_addr(o.family, &o.local, sk->family, &sk->peer) &&
		    same_addr(o.family, &o.peer, sk->family, &sk->local))
			return e;
	}
	return NULL;
}

/* Which connections collect_one reads. */
enum which { INSIDE, OUTSIDE };

static int collect_one(pid_t pid, const struct bm_process *p, struct bm_fd *d, bool read_queues,
		       const struct bm_movaddr *moving, enum which which)
{
	struct bm_sk_inet sk;
	char why[400] = "";
	if (!bm_sk_inet_decode(d->data, d->data_len, &sk, why, sizeof why))
		return bm_error(BM_EXIT_FAILURE, "fd %d of process %d: %s", d->fd, pid, why);
	if (sk.type != SOCK_STREAM || sk.state != BM_SK_CONNECTED)
		return 0;
	bool outside = !bm_sk_inet_peer_end(p, d, &sk);
	if (outside && !bm_movaddr_has(moving, sk.family, sk.local.addr)) {
		char local[80], peer[80];
		bm_sk_addr_text(sk.family, &sk.local, local, sizeof local);
		bm_sk_addr_text(sk.family, &sk.peer, peer, sizeof peer);
		snprintf(why, sizeof why, ", a TCP connection from %s to %s, whose peer is not in the process (binmig "
			 "moves such a connection only with its local address: migrate --move-addr ADDR)", local, peer);
		return bm_fd_refuse(pid, d->fd, d->path ? d->path : "socket", d->mode, why);
	}
	/* A connection to an outside peer is read once its address has left
	 * this host (bm_sk_inet_read_outside): before, the kernel could still
	 * acknowledge bytes the image would not hold. */
	if (!read_queues || outside != (which == OUTSIDE))
		return 0;
	int s = bm_sk_grab(pid, d->fd);
	if (s < 0)
		return bm_error_errno(BM_EXIT_TARGET, -s, "cannot look at the socket fd %d of process %d", d->fd, pid);
	uint8_t *sendq, *recvq;
	int rc = bm_tcp_repair_read(s, &sk, &sendq, &recvq, why, sizeof why);
	/* As they were when the queues were read. */
	if (rc == 0 && (rc = bm_sk_inet_last_read(s, &sk)) < 0) {
		free(sendq);
		free(recvq);
	}
	close(s);
	if (rc > 0)
		return bm_fd_refuse(pid, d->fd, d->path ? d->path : "socket", d->mode, why);
	if (rc < 0)
		return bm_error_errno(BM_EXIT_TARGET, -rc, "cannot read the TCP connection of fd %d of process %d "
				      "(TCP_REPAIR needs CAP_NET_ADMIN)", d->fd, pid);
	sk.sendq = sendq;
	sk.recvq = recvq;
	rc = bm_sk_inet_store(d, &sk);
	free(sendq);
	free(recvq);
	return rc;
}

/* D's image with its notsent bytes NOTSENT. */
static int set_notsent(struct bm_fd *d, struct bm_sk_inet *sk, uint32_t notsent)
{
	sk->tcp.notsent = notsent;
	return bm_sk_inet_store(d, sk);
}

enum bm_tcp_pair bm_tcp_repair_pair(const struct bm_sk_tcp *sender, const struct bm_sk_tcp *receiver, uint32_t *notsent)
{
	uint32_t snd_una = sender->snd_seq - sender->outq, snd_nxt = sender->snd_seq - sender->notsent;
	*notsent = sender->notsent;
	if ((int32_t)(receiver->rcv_seq - snd_una) < 0)
		return BM_TCP_READ_RECEIVER_AGAIN;
	if ((int32_t)(receiver->rcv_seq - sender->snd_seq) > 0)
		return BM_TCP_INCONSISTENT;
	if ((int32_t)(receiver->rcv_seq - snd_nxt) > 0)
		*notsent = sender->snd_seq - receiver->rcv_seq;
	return BM_TCP_CONSISTENT;
}

/* The two ends of a connection are read one after the other, and the
 * kernel moves the connection's segments meanwhile: each direction is
 * judged by bm_tcp_repair_pair.  A receiver read too early is read again,
 * which only moves its rcv_nxt on; its own sending side may then have
 * moved too, so the pairs are checked again, a bounded number of times. */
static int settle_connections(pid_t pid, struct bm_process *p)
{
	for (int round = 0; round < 16; round++) {
		bool again = false;
		for (uint32_t i = 0; i < p->nfds; i++) {
			struct bm_fd *d = &p->fds[i];
			struct bm_sk_inet sk, o;
			char why[160];
			if (d->kind != BM_FD_TCP || d->shares_with >= 0 || !bm_sk_inet_decode(d->data, d->data_len, &sk, why, sizeof why) ||
			    sk.type != SOCK_STREAM || sk.state != BM_SK_CONNECTED)
				continue;
			const struct bm_fd *e = bm_sk_inet_peer_end(p, d, &sk);
			if (!e || !bm_sk_inet_decode(e->data, e->data_len, &o, why, sizeof why))
				continue;
			uint32_t notsent;
			int rc = 0;
			switch (bm_tcp_repair_pair(&sk.tcp, &o.tcp, &notsent)) {
			case BM_TCP_READ_RECEIVER_AGAIN:
				rc = collect_one(pid, p, &p->fds[e - p->fds], true, NULL, INSIDE);
				again = true;
				break;
			case BM_TCP_INCONSISTENT:
				rc = bm_error(BM_EXIT_TARGET, "fd %d of process %d: its TCP peer (fd %d) received more "
					      "than it wrote", d->fd, pid, e->fd);
				break;
			case BM_TCP_CONSISTENT:
				if (notsent != sk.tcp.notsent)
					rc = set_notsent(d, &sk, notsent);
				break;
			}
			if (rc < 0)
				return rc;
		}
		if (!again)
			return 0;
	}
	return bm_error(BM_EXIT_TARGET, "the TCP connections of process %d kept moving while it was frozen: binmig "
			"could not read both ends of one consistently", pid);
}

int bm_sk_inet_read_outside(pid_t pid, struct bm_process *p, const struct bm_movaddr *moving)
{
	for (uint32_t i = 0; i < p->nfds; i++) {
		struct bm_fd *d = &p->fds[i];
		int rc = d->kind == BM_FD_TCP && d->shares_with < 0 ? collect_one(pid, p, d, true, moving, OUTSIDE) : 0;
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* Two UDP sockets of P on one address and port with the same peer (or
 * none): the kernel gives a datagram for them to one chosen by the order
 * they were bound in (the last bound one; SO_REUSEPORT: by their order in
 * the group), which the restore, binding in descriptor order, cannot
 * repeat.  0, or the refusal reported. */
static int same_port(pid_t pid, const struct bm_process *p)
{
	for (uint32_t i = 0; i < p->nfds; i++) {
		const struct bm_fd *d = &p->fds[i];
		struct bm_sk_inet a, b;
		char why[400];
		if (d->kind != BM_FD_UDP || d->shares_with >= 0 || !bm_sk_inet_decode(d->data, d->data_len, &a, why, sizeof why) ||
		    a.state < BM_SK_BOUND)
			continue;
		for (uint32_t j = 0; j < i; j++) {
			const struct bm_fd *e = &p->fds[j];
			if (e->kind != BM_FD_UDP || e->shares_with >= 0 ||
			    !bm_sk_inet_decode(e->data, e->data_len, &b, why, sizeof why) || b.state < BM_SK_BOUND ||
			    a.family != b.family || !same_addr(a.family, &a.local, b.family, &b.local) ||
			    !same_addr(a.family, &a.peer, b.family, &b.peer))
				continue;
			char local[80];
			bm_sk_addr_text(a.family, &a.local, local, sizeof local);
			snprintf(why, sizeof why, ", a UDP socket bound to %s as fd %d is (the kernel gives their datagrams to "
				 "one chosen by the order they were bound in, which the restore cannot repeat)", local, e->fd);
			return bm_fd_refuse(pid, d->fd, d->path ? d->path : "socket", d->mode, why);
		}
	}
	return 0;
}

int bm_sk_inet_collect(pid_t pid, struct bm_process *p, bool read_queues, const struct bm_movaddr *moving)
{
	int shared = same_port(pid, p);
	if (shared < 0)
		return shared;
	/* A dup carries nothing of its own: the socket travels with the first. */
	for (uint32_t i = 0; i < p->nfds; i++) {
		struct bm_fd *d = &p->fds[i];
		if ((d->kind == BM_FD_TCP || d->kind == BM_FD_UDP) && d->shares_with >= 0) {
			free(d->data);
			d->data = NULL;
			d->data_len = 0;
		}
	}
	for (uint32_t i = 0; i < p->nfds; i++) {
		struct bm_fd *d = &p->fds[i];
		int rc = 0;
		if (d->kind == BM_FD_TCP && d->shares_with < 0)
			rc = collect_one(pid, p, d, read_queues, moving, INSIDE);
		else if (d->kind == BM_FD_UDP && d->shares_with < 0 && read_queues)
			rc = bm_udp_queue_collect(pid, d);
		if (rc < 0)
			return rc;
	}
	return read_queues ? settle_connections(pid, p) : 0;
}

void bm_sk_inet_silence(pid_t pid, const struct bm_process *p)
{
	for (uint32_t i = 0; i < p->nfds; i++) {
		const struct bm_fd *d = &p->fds[i];
		if (d->kind != BM_FD_TCP || d->shares_with >= 0 || d->data_len < BM_SK_INET_HDR_V1 ||
		    d->data[16] != BM_SK_CONNECTED)
			continue;
		/* Closed in repair mode, a connection goes without FIN or RST: the
		 * destination's copy carries on. */
		int s = bm_sk_grab(pid, d->fd);
		int rc = s < 0 ? s : set_int(s, TCP_REPAIR, TCP_REPAIR_ON);
		if (s >= 0)
			close(s);
		if (rc < 0)
			bm_warn("fd %d of process %d: cannot put its TCP connection in repair mode (%s); the source may "
				"close it with a FIN or RST", d->fd, pid, strerror(-rc));
	}
}

/* --- restore (inside the new process) ----------------------------------- */

static int failed(char *err, size_t errlen, const char *what)
{
	snprintf(err, errlen, "TCP connection: %s: %s", what, strerror(errno));
	return -1;
}

/* Writes LEN bytes to the queue selected (repair mode) or, out of repair
 * mode, sends them.  The bytes fitted the program's buffer at the source,
 * but rebuilt in other pieces they may take more memory: if the buffer
 * (SO_SNDBUF or SO_RCVBUF, NAME, set with FORCE) is full before the end,
 * it is made large enough, once, and bm_tcp_repair_finish sets it back.
 * Only then, because a size set by hand stops the kernel's tuning of it. */
static int write_all(int s, const uint8_t *data, uint32_t len, int name, int force)
{
	bool grown = false;
	for (uint32_t done = 0; done < len;) {
		uint32_t piece = len - done < CHUNK ? len - done : CHUNK;
		ssize_t n = send(s, data + done, piece, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0 && (errno == EAGAIN || errno == ENOMEM) && !grown) {
			int now = 0;
			socklen_t sl = sizeof now;
			if (getsockopt(s, SOL_SOCKET, name, &now, &sl) < 0)
				return -1;
			/* Room for the whole queue four times over; the kernel doubles
			 * what it is given. */
			uint64_t room = ((uint64_t)now + 4ull * len) / 2;
			int want = room > INT32_MAX ? INT32_MAX : (int)room;
			if (setsockopt(s, SOL_SOCKET, force, &want, sizeof want) < 0)
				return -1;
			grown = true;
			continue;
		}
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			return -1;
		}
		done += (uint32_t)n;
	}
	return 0;
}

/* Buffer NAME of S back to CARRIED, as getsockopt gave it at dump, if
 * write_all grew it. */
static int buffer_back(int s, int name, int force, int32_t carried)
{
	int now = 0, half = carried / 2;
	socklen_t len = sizeof now;
	if (carried <= 0)
		return 0;
	if (getsockopt(s, SOL_SOCKET, name, &now, &len) < 0)
		return -1;
	return now == carried ? 0 : setsockopt(s, SOL_SOCKET, force, &half, sizeof half);
}


int bm_sk_buf_lock_back(int s, const struct bm_sk_inet *sk)
{
	int now = 0;
	socklen_t len = sizeof now;
	if (sk->buf_lock < 0 || (getsockopt(s, SOL_SOCKET, SO_BUF_LOCK, &now, &len) == 0 && now == sk->buf_lock))
		return 0;
	return setsockopt(s, SOL_SOCKET, SO_BUF_LOCK, &sk->buf_lock, sizeof sk->buf_lock);
}

/* The segment size of a connection made in repair mode is fixed at the
 * connect, from the default MSS (536; IPv6 1220), before
 * TCP_REPAIR_OPTIONS may give the peer's.  Setting the IP options again
 * (none: no IPv4 options; for IPv6 sticky options that hold no header)
 * makes the kernel derive it again from the MSS and the windows given
 * since, as it had derived the original's. */
static int derive_mss(int s, int family)
{
	if (family == AF_INET)
		return setsockopt(s, IPPROTO_IP, IP_OPTIONS, NULL, 0);
	union {
		struct cmsghdr h;
		char bytes[CMSG_SPACE(sizeof(int))];
	} u;
	memset(&u, 0, sizeof u);
	u.h.cmsg_len = CMSG_LEN(sizeof(int));
	u.h.cmsg_level = IPPROTO_IPV6;
	u.h.cmsg_type = IPV6_TCLASS;
	int keep = -1; /* the socket's own traffic class */
	memcpy(CMSG_DATA(&u.h), &keep, sizeof keep);
	return setsockopt(s, IPPROTO_IPV6, IPV6_2292PKTOPTIONS, &u, CMSG_SPACE(sizeof(int)));
}

int bm_tcp_repair_open(int s, const struct bm_sk_inet *sk, char *err, size_t errlen)
{
	const struct bm_sk_tcp *t = &sk->tcp;
	struct sockaddr_storage ss;
	socklen_t len;
	if (set_int(s, TCP_REPAIR, TCP_REPAIR_ON) < 0)
		return failed(err, errlen, "TCP_REPAIR (needs CAP_NET_ADMIN)");
	struct bm_sk_addr at = bm_sk_bind_addr(sk);
	len = bm_sk_sockaddr(sk->family, &at, &ss);
	if (bind(s, (struct sockaddr *)&ss, len) < 0)
		return failed(err, errlen, "bind to its local address");
	/* Sequence numbers of the first byte of each queue, which the writes
	 * below advance to where they were. */
	if (set_int(s, TCP_REPAIR_QUEUE, TCP_SEND_QUEUE) < 0 || set_int(s, TCP_QUEUE_SEQ, (int)(t->snd_seq - t->outq)) < 0 ||
	    set_int(s, TCP_REPAIR_QUEUE, TCP_RECV_QUEUE) < 0 || set_int(s, TCP_QUEUE_SEQ, (int)(t->rcv_seq - t->inq)) < 0)
		return failed(err, errlen, "TCP_QUEUE_SEQ");
	len = bm_sk_sockaddr(sk->family, &sk->peer, &ss);
	if (connect(s, (struct sockaddr *)&ss, len) < 0) /* in repair mode: no handshake */
		return failed(err, errlen, "connect in repair mode");
	struct sockaddr_storage got;
	socklen_t glen = sizeof got;
	if (getsockname(s, (struct sockaddr *)&got, &glen) < 0)
		return failed(err, errlen, "getsockname");
	len = bm_sk_sockaddr(sk->family, &sk->local, &ss);
	if (glen != len || memcmp(&got, &ss, len) != 0) {
		errno = EADDRNOTAVAIL;
		return failed(err, errlen, "its local address came back different");
	}
	struct tcp_repair_opt opts[4];
	unsigned nopts = 0;
	opts[nopts++] = (struct tcp_repair_opt){TCPOPT_MAXSEG, t->mss};
	if (t->options & TCPI_OPT_WSCALE)
		opts[nopts++] = (struct tcp_repair_opt){TCPOPT_WINDOW, t->snd_wscale | t->rcv_wscale << 16};
	if (t->options & TCPI_OPT_SACK)
		opts[nopts++] = (struct tcp_repair_opt){TCPOPT_SACK_PERMITTED, 0};
	if (t->options & TCPI_OPT_TIMESTAMPS)
		opts[nopts++] = (struct tcp_repair_opt){TCPOPT_TIMESTAMP, 0};
	if (setsockopt(s, IPPROTO_TCP, TCP_REPAIR_OPTIONS, opts, nopts * sizeof *opts) < 0)
		return failed(err, errlen, "TCP_REPAIR_OPTIONS");
	if ((t->options & TCPI_OPT_TIMESTAMPS) && set_int(s, TCP_TIMESTAMP, (int)t->timestamp) < 0)
		return failed(err, errlen, "TCP_TIMESTAMP");
	/* What was sent and not acknowledged goes back as sent (retransmitted
	 * if need be); what was not sent yet is sent once out of repair mode. */
	if (set_int(s, TCP_REPAIR_QUEUE, TCP_SEND_QUEUE) < 0 || write_all(s, sk->sendq, t->outq - t->notsent, SO_SNDBUF, SO_SNDBUFFORCE) < 0)
		return failed(err, errlen, "refilling the send queue");
	if (set_int(s, TCP_REPAIR_QUEUE, TCP_RECV_QUEUE) < 0 || write_all(s, sk->recvq, t->inq, SO_RCVBUF, SO_RCVBUFFORCE) < 0)
		return failed(err, errlen, "refilling the receive queue");
	struct tcp_repair_window w = {t->snd_wl1, t->snd_wnd, t->max_window, t->rcv_wnd, t->rcv_wup};
	if (setsockopt(s, IPPROTO_TCP, TCP_REPAIR_WINDOW, &w, sizeof w) < 0)
		return failed(err, errlen, "TCP_REPAIR_WINDOW");
	if (derive_mss(s, sk->family) < 0)
		return failed(err, errlen, "deriving the segment size again");
	if (set_int(s, TCP_REPAIR_QUEUE, TCP_NO_QUEUE) < 0)
		return failed(err, errlen, "TCP_REPAIR_QUEUE");
	return 0;
}

/* Whether the connection has nothing to tell its peer: every byte it
 * sent acknowledged, every byte it received acknowledged (rcv_wup, where
 * its last ACK left the window, is rcv_nxt: no delayed ACK due).  Such a
 * one leaves repair mode without the window probe, which would make its
 * peer answer with its window now and so move this end's windows and
 * segment size (an idle connection that carried no data since its
 * handshake reads a smaller TCP_MAXSEG until its first exchange), and
 * stays as quiet as the original.  Any other needs the probe to move on
 * at once (its retransmission timer would, later). */
static bool quiet(const struct bm_sk_tcp *t)
{
	return t->outq == t->notsent && t->rcv_seq == t->rcv_wup;
}

int bm_tcp_repair_finish(int s, const struct bm_sk_inet *sk, char *err, size_t errlen)
{
	const struct bm_sk_tcp *t = &sk->tcp;
	if (set_int(s, TCP_REPAIR, quiet(t) ? TCP_REPAIR_OFF_NO_WP : TCP_REPAIR_OFF) < 0)
		return failed(err, errlen, "leaving repair mode");
	/* The MSS the program set: it bounds the next connection's. */
	if (sk->user_mss && set_int(s, TCP_MAXSEG, (int)sk->user_mss) < 0)
		return failed(err, errlen, "TCP_MAXSEG");
	int one = 1;
	if (sk->opt[BM_SKO_REUSEADDR] && setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0)
		return failed(err, errlen, "SO_REUSEADDR");
	if (t->notsent && write_all(s, sk->sendq + (t->outq - t->notsent), t->notsent, SO_SNDBUF, SO_SNDBUFFORCE) < 0)
		return failed(err, errlen, "sending what was not sent yet");
	if (buffer_back(s, SO_SNDBUF, SO_SNDBUFFORCE, sk->sndbuf) < 0 ||
	    buffer_back(s, SO_RCVBUF, SO_RCVBUFFORCE, sk->rcvbuf) < 0 || bm_sk_buf_lock_back(s, sk) < 0)
		return failed(err, errlen, "setting its buffer sizes back");
	if (t->window_clamp && set_int(s, TCP_WINDOW_CLAMP, (int)t->window_clamp) < 0)
		return failed(err, errlen, "TCP_WINDOW_CLAMP");
	return 0;
}
