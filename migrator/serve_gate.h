/* The daemon's door: connections that have not yet proved they hold the
 * key.  Their handshakes run side by side in the daemon's own loop, each
 * with its own deadline, none waiting on another.  How many may wait is
 * bounded in total and per source address; a newcomer beyond a bound takes
 * the place of the waiting connection that has shown least (one that has
 * not even said HELLO before one that has, the oldest first), so that
 * silent, slow or garbled strangers can neither keep an honest peer out
 * nor make the daemon grow.  Only a connection that has proved the key
 * leaves the gate for a worker. */
#ifndef BINMIG_SERVE_GATE_H
#define BINMIG_SERVE_GATE_H

#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "transport.h"

#define BM_GATE_MAX_PENDING 64     /* handshakes under way at once, in all */
#define BM_GATE_MAX_PER_SOURCE 16  /* ... from one source address */
#define BM_GATE_DEADLINE_MS 5000   /* from accept to the server's PROOF sent */

enum bm_gate_drop {
	BM_GATE_TIMED_OUT,  /* the deadline passed */
	BM_GATE_EVICTED,    /* made room for a newer connection */
	BM_GATE_FAILED,     /* closed, garbled, or did not prove the key */
	BM_GATE_REFUSED,    /* proved the key, but the owner refused it (busy) */
};

struct bm_gate_conn {
	int fd;                 /* -1: a free slot */
	uint8_t source[16];     /* the peer's address, IPv4 as IPv4-mapped IPv6 */
	char name[64];          /* ADDR:PORT, for the log */
	uint64_t seq;           /* order of admission: lower is older */
	uint64_t deadline_ns;
	bool said_hello;        /* a well-formed HELLO arrived */
	bool authenticated;     /* proved the key; leaves once the reply is out */
	struct bm_auth_hs hs;
	struct bm_frame_in in;
	uint8_t payload[BM_HELLO_LEN];
	uint8_t out[BM_FRAME_HEADER_SIZE + 4 + BM_MESSAGE_MAX]; /* the reply being sent */
	size_t out_len, out_sent;
};

/* What the gate tells its owner and asks it.  `refusal` is asked when a
 * peer has proved the key, before the gate proves the server's: NULL to
 * take it, or the reason it cannot be taken now, which the peer gets in an
 * ERROR in place of the server's PROOF (so that it fails its handshake
 * before it suspends anything).  `authenticated` takes over fd (the gate
 * forgets it), with what the handshake settled (the connection's keys
 * derive from it); `dropped` is told after the gate has closed the
 * connection, with the reason in words (detail). */
struct bm_gate_events {
	const char *(*refusal)(void *ctx);
	void (*authenticated)(void *ctx, int fd, const char *name, const struct bm_session *session);
	void (*dropped)(void *ctx, const char *name, enum bm_gate_drop why, const char *detail);
	void *ctx;
};

struct bm_gate {
	const uint8_t *key;
	unsigned accept;        /* seal suites taken (BM_SEAL_ACCEPT) */
	uint64_t deadline_ns;   /* per connection */
	unsigned max_pending, max_per_source;
	uint64_t admitted;      /* connections admitted so far */
	struct bm_gate_events ev;
	struct bm_gate_conn conns[BM_GATE_MAX_PENDING];
};

/* max_pending is at most BM_GATE_MAX_PENDING.  The key must outlive the
 * gate.  accept: the seal suites a client may ask for (BM_SEAL_ACCEPT). */
void bm_gate_init(struct bm_gate *g, const uint8_t *key, unsigned accept, unsigned max_pending,
		  unsigned max_per_source, int deadline_ms, const struct bm_gate_events *ev);

/* Takes a freshly accepted connection (made non-blocking here), closing
 * another one first if a bound says so. */
void bm_gate_admit(struct bm_gate *g, int fd, const struct sockaddr_storage *peer, uint64_t now_ns);

/* Fills p (room entries) with the connections to poll; returns how many. */
int bm_gate_pollfds(const struct bm_gate *g, struct pollfd *p, int room);

/* Moves every connection in p (as filled by bm_gate_pollfds and polled)
 * on as far as what has arrived allows, then drops those past their
 * deadline. */
void bm_gate_service(struct bm_gate *g, const struct pollfd *p, int n, uint64_t now_ns);

/* Milliseconds until the next deadline (at least 1), -1 if none. */
int bm_gate_timeout_ms(const struct bm_gate *g, uint64_t now_ns);

/* How many connections wait; from one source when source is given. */
unsigned bm_gate_pending(const struct bm_gate *g, const uint8_t *source);

/* Closes every connection without a word (a worker after fork: they are
 * the daemon's, not its). */
void bm_gate_forget_all(struct bm_gate *g);

/* Closes every connection, telling each that it was dropped. */
void bm_gate_close_all(struct bm_gate *g);

/* The source key of a socket address (IPv4 as IPv4-mapped IPv6). */
void bm_gate_source_of(const struct sockaddr_storage *a, uint8_t source[16]);

/* "ADDR:PORT" of a socket address, for messages. */
void bm_peer_name(const struct sockaddr_storage *a, char *buf, size_t len);

#endif
