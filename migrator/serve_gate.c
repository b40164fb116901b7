/* The daemon's door (serve_gate.h): handshakes of connections that have not
 * yet proved the key, side by side and bounded. */
#include "serve_gate.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

void bm_peer_name(const struct sockaddr_storage *a, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN] = "?";
	int port = 0;
	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)a;
		inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
		port = ntohs(in->sin_port);
	} else if (a->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)a;
		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
		port = ntohs(in6->sin6_port);
	}
	snprintf(buf, len, "%s:%d", host, port);
}

void bm_gate_source_of(const struct sockaddr_storage *a, uint8_t source[16])
{
	memset(source, 0, 16);
	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)a;
		source[10] = source[11] = 0xff;
		memcpy(source + 12, &in->sin_addr, 4);
	} else if (a->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)a;
		memcpy(source, &in6->sin6_addr, 16);
	}
}

void bm_gate_init(struct bm_gate *g, const uint8_t *key, unsigned accept, unsigned max_pending,
		  unsigned max_per_source, int deadline_ms, const struct bm_gate_events *ev)
{
	memset(g, 0, sizeof *g);
	g->key = key;
	g->accept = accept;
	g->max_pending = max_pending < BM_GATE_MAX_PENDING ? max_pending : BM_GATE_MAX_PENDING;
	g->max_per_source = max_per_source ? max_per_source : 1;
	g->deadline_ns = (uint64_t)deadline_ms * 1000000u;
	g->ev = *ev;
	for (unsigned i = 0; i < BM_GATE_MAX_PENDING; i++)
		g->conns[i].fd = -1;
}

unsigned bm_gate_pending(const struct bm_gate *g, const uint8_t *source)
{
	unsigned n = 0;
	for (unsigned i = 0; i < g->max_pending; i++)
		n += g->conns[i].fd >= 0 && (!source || memcmp(g->conns[i].source, source, 16) == 0);
	return n;
}

static void drop(struct bm_gate *g, struct bm_gate_conn *c, enum bm_gate_drop why, const char *detail)
{
	char name[sizeof c->name];
	memcpy(name, c->name, sizeof name);
	close(c->fd);
	c->fd = -1;
	if (g->ev.dropped)
		g->ev.dropped(g->ev.ctx, name, why, detail);
}

/* The connection that has shown least, among those from source (any
 * source when NULL): one that has not said HELLO before one that has,
 * then the oldest. */
static struct bm_gate_conn *least_shown(struct bm_gate *g, const uint8_t *source)
{
	struct bm_gate_conn *victim = NULL;
	for (unsigned i = 0; i < g->max_pending; i++) {
		struct bm_gate_conn *c = &g->conns[i];
		if (c->fd < 0 || c->authenticated || (source && memcmp(c->source, source, 16) != 0))
			continue;
		if (!victim || (victim->said_hello && !c->said_hello) ||
		    (victim->said_hello == c->said_hello && c->seq < victim->seq))
			victim = c;
	}
	return victim;
}

/* The source with the most connections waiting (one of its connections). */
static const uint8_t *busiest_source(const struct bm_gate *g)
{
	const uint8_t *best = NULL;
	unsigned best_n = 0;
	for (unsigned i = 0; i < g->max_pending; i++) {
		if (g->conns[i].fd < 0)
			continue;
		unsigned n = bm_gate_pending(g, g->conns[i].source);
		if (n > best_n) {
			best_n = n;
			best = g->conns[i].source;
		}
	}
	return best;
}

void bm_gate_admit(struct bm_gate *g, int fd, const struct sockaddr_storage *peer, uint64_t now_ns)
{
	uint8_t source[16];
	bm_gate_source_of(peer, source);
	struct bm_gate_conn *victim = NULL;
	if (bm_gate_pending(g, source) >= g->max_per_source)
		victim = least_shown(g, source);
	else if (bm_gate_pending(g, NULL) >= g->max_pending)
		victim = least_shown(g, busiest_source(g));
	if (victim)
		drop(g, victim, BM_GATE_EVICTED, "made room for a newer connection");

	struct bm_gate_conn *c = NULL;
	for (unsigned i = 0; i < g->max_pending && !c; i++)
		if (g->conns[i].fd < 0)
			c = &g->conns[i];
	char name[sizeof c->name];
	bm_peer_name(peer, name, sizeof name);
	if (!c || fcntl(fd, F_SETFL, O_NONBLOCK) < 0) {
		/* Only when every slot is held by a connection that is
		 * already leaving (authenticated, reply on its way). */
		close(fd);
		if (g->ev.dropped)
			g->ev.dropped(g->ev.ctx, name, BM_GATE_FAILED, "no room for another handshake");
		return;
	}
	memset(c, 0, sizeof *c);
	c->fd = fd;
	memcpy(c->source, source, 16);
	memcpy(c->name, name, sizeof name);
	c->seq = ++g->admitted;
	c->deadline_ns = now_ns + g->deadline_ns;
	bm_auth_hs_init(&c->hs, g->key, g->accept);
	bm_frame_in_init(&c->in, c->payload, sizeof c->payload);
}

int bm_gate_pollfds(const struct bm_gate *g, struct pollfd *p, int room)
{
	int n = 0;
	for (unsigned i = 0; i < g->max_pending && n < room; i++) {
		const struct bm_gate_conn *c = &g->conns[i];
		if (c->fd >= 0)
			p[n++] = (struct pollfd){c->fd, c->out_sent < c->out_len ? POLLOUT : POLLIN, 0};
	}
	return n;
}

/* Sends what is left of the reply.  1 when all of it is out, 0 when the
 * socket takes no more now, -1 on failure (reported). */
static int flush_reply(struct bm_gate_conn *c)
{
	while (c->out_sent < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_sent, c->out_len - c->out_sent, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (n < 0)
			return bm_error_errno(BM_EXIT_NETWORK, errno, "sending %s", bm_msg_name(c->out[3]));
		c->out_sent += (size_t)n;
	}
	return 1;
}

/* Moves one connection on.  0 while it waits, 1 once it has proved the
 * key and its reply is out, -1 when it failed (reported), -2 when the
 * owner refused it (the reason in *refused). */
static int step(const struct bm_gate *g, struct bm_gate_conn *c, const char **refused)
{
	for (;;) {
		int r = flush_reply(c);
		if (r <= 0)
			return r;
		if (c->authenticated)
			return 1;
		const char *want = bm_msg_name(bm_auth_hs_expects(&c->hs));
		r = bm_frame_in_recv(c->fd, &c->in, want);
		if (r <= 0)
			return r;
		struct bm_auth_reply reply;
		r = bm_auth_hs_frame(&c->hs, c->in.type, c->payload, c->in.len, &reply);
		bm_frame_in_init(&c->in, c->payload, sizeof c->payload);
		c->said_hello = true;
		if (r == 1 && g->ev.refusal && (*refused = g->ev.refusal(g->ev.ctx)) != NULL) {
			reply.type = BM_MSG_ERROR;
			reply.len = bm_encode_message(reply.payload, BM_EXIT_NETWORK, *refused);
			r = -2;
		}
		c->out_len = reply.type ? bm_frame_encode(c->out, reply.type, reply.payload, reply.len) : 0;
		c->out_sent = 0;
		if (r < 0) {
			/* Tell the peer why, if its socket takes it at once. */
			if (c->out_len)
				send(c->fd, c->out, c->out_len, MSG_DONTWAIT | MSG_NOSIGNAL);
			return r < -1 ? r : -1;
		}
		c->authenticated = r == 1;
	}
}

void bm_gate_service(struct bm_gate *g, const struct pollfd *p, int n, uint64_t now_ns)
{
	for (int k = 0; k < n; k++) {
		if (!p[k].revents)
			continue;
		struct bm_gate_conn *c = NULL;
		for (unsigned i = 0; i < g->max_pending && !c; i++)
			if (g->conns[i].fd == p[k].fd)
				c = &g->conns[i];
		if (!c)
			continue; /* dropped meanwhile */
		bm_reset_errors();
		const char *refused = NULL;
		int r = step(g, c, &refused);
		if (r == -2) {
			drop(g, c, BM_GATE_REFUSED, refused);
		} else if (r < 0) {
			drop(g, c, BM_GATE_FAILED, bm_error_message());
		} else if (r == 1) {
			int fd = c->fd;
			char name[sizeof c->name];
			memcpy(name, c->name, sizeof name);
			struct bm_session session = c->hs.session;
			c->fd = -1;
			g->ev.authenticated(g->ev.ctx, fd, name, &session);
		}
		bm_reset_errors();
	}
	for (unsigned i = 0; i < g->max_pending; i++) {
		struct bm_gate_conn *c = &g->conns[i];
		if (c->fd >= 0 && now_ns >= c->deadline_ns) {
			char detail[96];
			snprintf(detail, sizeof detail, "no %s within %llu ms",
				 c->authenticated ? "room for the reply" : bm_msg_name(bm_auth_hs_expects(&c->hs)),
				 (unsigned long long)(g->deadline_ns / 1000000u));
			drop(g, c, BM_GATE_TIMED_OUT, detail);
		}
	}
}

int bm_gate_timeout_ms(const struct bm_gate *g, uint64_t now_ns)
{
	uint64_t next = 0;
	for (unsigned i = 0; i < g->max_pending; i++)
		if (g->conns[i].fd >= 0 && (!next || g->conns[i].deadline_ns < next))
			next = g->conns[i].deadline_ns;
	if (!next)
		return -1;
	if (next <= now_ns)
		return 1;
	uint64_t ms = (next - now_ns + 999999) / 1000000;
	return ms > 60000 ? 60000 : (int)ms;
}

void bm_gate_forget_all(struct bm_gate *g)
{
	for (unsigned i = 0; i < g->max_pending; i++)
		if (g->conns[i].fd >= 0) {
			close(g->conns[i].fd);
			g->conns[i].fd = -1;
		}
}

void bm_gate_close_all(struct bm_gate *g)
{
	for (unsigned i = 0; i < g->max_pending; i++)
		if (g->conns[i].fd >= 0)
			drop(g, &g->conns[i], BM_GATE_FAILED, "the daemon is stopping");
}
