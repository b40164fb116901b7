/* TCP and UDP sockets (IPv4 and IPv6), both directions.
 *
 * Carried (BM_FD_TCP, BM_FD_UDP; the socket's details in the descriptor's
 * data, encoded below):
 *   - a socket not yet bound, a bound one (TCP or UDP), a TCP listener
 *     with an empty accept queue (re-created, bound to the same address and
 *     port, listening with the same backlog), a connected UDP socket, the
 *     datagrams queued on a UDP socket (sk_udp_queue.h);
 *   - an established TCP connection whose peer is another descriptor of
 *     the same process, over an address the destination has too (loopback):
 *     both ends are rebuilt with TCP_REPAIR (sequence numbers, queued data
 *     in both directions, windows, MSS, window scale, SACK, timestamps);
 *   - the options a program can read back: SO_REUSEADDR, SO_REUSEPORT,
 *     SO_KEEPALIVE, SO_BROADCAST, SO_PEEK_OFF, SO_RCVBUF, SO_SNDBUF, SO_BUF_LOCK,
 *     SO_RCVTIMEO, SO_SNDTIMEO, SO_LINGER, TCP_NODELAY, TCP_KEEPIDLE,
 *     TCP_KEEPINTVL, TCP_KEEPCNT, IP_TOS, IPV6_V6ONLY, IPV6_TCLASS, the MSS
 *     the program set (TCP_MAXSEG, user_mss below), and SO_INCOMING_CPU
 *     and TCP_QUICKACK (sk_inet_last.h).
 *   - an established TCP connection to a peer outside the process whose
 *     local address moves with the process (migrate --move-addr,
 *     movaddr.h), rebuilt the same way;
 * Refused at dump: a TCP connection to a peer outside the process on an
 * address that does not move with it, one in
 * any state but established, a listener with connections waiting to be
 * accepted, a UDP socket holding datagrams that could not be sent to it
 * again (sk_udp_queue.h says which), urgent data or an urgent mark ahead
 * in a connection, an error waiting on a socket, corked UDP data, a socket
 * shut down in either direction (sk_inet_diag.h), a socket filter, a device binding,
 * multicast memberships, and any other option that differs from a new
 * socket's (sk_inet_opts.h reads them all).
 * Refused at restore (the source then resumes): an address the destination
 * does not have, a port in use there. */
#ifndef BINMIG_SK_INET_H
#define BINMIG_SK_INET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "state.h"

enum bm_sk_state {
	BM_SK_NEW = 1,       /* neither bound nor connected */
	BM_SK_BOUND = 2,     /* bound to a local address */
	BM_SK_LISTEN = 3,    /* TCP listener */
	BM_SK_CONNECTED = 4, /* UDP with a default peer, or established TCP */
};

/* An address: IPv4 in addr[0..4), network byte order; port host order. */
struct bm_sk_addr {
	uint16_t port;
	uint8_t addr[16];
	uint32_t scope_id;   /* IPv6 only */
};

/* The options carried as plain integers, in this order in bm_sk_inet.opt. */
enum {
	BM_SKO_REUSEADDR, BM_SKO_REUSEPORT, BM_SKO_KEEPALIVE, BM_SKO_BROADCAST, BM_SKO_PEEK_OFF,
	BM_SKO_NODELAY, BM_SKO_KEEPIDLE, BM_SKO_KEEPINTVL, BM_SKO_KEEPCNT, BM_SKO_TOS, BM_SKO_V6ONLY,
	BM_SKO_TCLASS, BM_SK_NOPTS
};

/* An established connection (TCP_REPAIR's view). */
struct bm_sk_tcp {
	uint32_t snd_seq;    /* sequence number after the last byte written (write_seq) */
	uint32_t rcv_seq;    /* after the last byte received (rcv_nxt) */
	uint32_t outq;       /* bytes written, not yet acknowledged (sent or not) */
	uint32_t notsent;    /* of which not yet sent */
	uint32_t inq;        /* bytes received, not yet read */
	uint32_t mss;
	uint32_t options;    /* TCPI_OPT_TIMESTAMPS | TCPI_OPT_SACK | TCPI_OPT_WSCALE */
	uint32_t snd_wscale, rcv_wscale;
	uint32_t timestamp;  /* TCP_TIMESTAMP */
	uint32_t snd_wl1, snd_wnd, max_window, rcv_wnd, rcv_wup; /* TCP_REPAIR_WINDOW */
	uint32_t window_clamp; /* TCP_WINDOW_CLAMP (format 2; 0: not known, format 1) */
};

struct bm_sk_inet {
	uint32_t family;     /* AF_INET, AF_INET6 */
	uint32_t type;       /* SOCK_STREAM (TCP), SOCK_DGRAM (UDP) */
	uint32_t protocol;   /* IPPROTO_TCP, IPPROTO_UDP */
	uint32_t state;      /* enum bm_sk_state */
	struct bm_sk_addr local, peer;
	int32_t backlog;     /* BM_SK_LISTEN */
	int32_t opt[BM_SK_NOPTS];
	int32_t rcvbuf, sndbuf;          /* as getsockopt gives them (doubled) */
	int32_t linger_on, linger_secs;
	int64_t rcvtimeo_us, sndtimeo_us;
	/* SO_BUF_LOCK (1 send, 2 receive buffer locked), set again after the
	 * sizes; -1 unknown (a format 1 state, or a kernel before 5.14): the
	 * sizes set again lock what they set, as before. */
	int32_t buf_lock;
	/* The options the kernel sets as well as the program (sk_inet_last.h),
	 * read at dump when last_known (format 3): SO_INCOMING_CPU (any int;
	 * -1 until a packet or the program sets it) and TCP_QUICKACK (0 or 1
	 * for TCP; -1 for UDP).  Not known (formats 1 and 2): both left as
	 * the restore leaves them. */
	bool last_known;
	int32_t incoming_cpu, quickack;
	/* A socket without a port (BM_SK_NEW) shut down for writing, which
	 * only the kernel's socket shows (sk_inet_kernel.h): shut down again
	 * at restore.  Format 4 (image version 14), written only for such a
	 * socket; needs last_known. */
	bool shut_wr;
	/* A TCP socket's MSS set by the program (TCP_MAXSEG; 0 none), which
	 * bounds its connections' (format 5, image version 15, with shut_wr;
	 * needs last_known).  getsockopt shows it on a socket that is not
	 * connected, where it differs from a new socket's 536; one set to
	 * 536 there, and any on a connection (getsockopt shows the segment
	 * size), only the kernel's socket shows (sk_inet_kernel.h). */
	uint32_t user_mss;
	struct bm_sk_tcp tcp;            /* BM_SK_CONNECTED TCP only; else zero */
	const uint8_t *sendq, *recvq;    /* tcp.outq and tcp.inq bytes, in the encoded data */
	uint32_t dgram_bytes;            /* UDP: its queued datagrams (sk_udp_queue.h), after the fixed part */
	const uint8_t *dgrams;
};

/* The fixed part of the encoding; the send and receive queues of a TCP
 * connection, or the datagrams queued on a UDP socket, follow it.  The
 * state of format 1 (binmig before SO_BUF_LOCK was carried) has no
 * buf_lock and window_clamp: its fixed part is 8 bytes shorter; that of
 * format 2 (image versions before 13) has no incoming_cpu and quickack:
 * 8 bytes shorter.  A state whose last_known is false is written in
 * format 2. */
#define BM_SK_INET_HDR_KERNEL 240u /* format 5: format 4's and user_mss */
#define BM_SK_INET_HDR_SHUT 236u /* format 4: format 3's and shut_wr */
#define BM_SK_INET_HDR 232u
#define BM_SK_INET_HDR_V2 224u
#define BM_SK_INET_HDR_V1 216u
#define BM_SK_INET_MAX_QUEUE (32u << 20)
#define BM_SK_INET_MAX_DATA (BM_SK_INET_HDR + 2 * BM_SK_INET_MAX_QUEUE)

/* Encoding: malloc'd *data of *len bytes; -ENOMEM or -E2BIG. */
int bm_sk_inet_encode(const struct bm_sk_inet *s, uint8_t **data, uint32_t *len);
/* d's data becomes s encoded: 0, or the error reported (out of memory). */
int bm_sk_inet_store(struct bm_fd *d, const struct bm_sk_inet *s);
/* Decoding with every field checked (the data comes from the network);
 * s->sendq and s->recvq point into DATA.  false with the reason in why. */
bool bm_sk_inet_decode(const uint8_t *data, uint32_t len, struct bm_sk_inet *s, char *why, size_t n);
/* P's descriptor I, if it is a TCP or UDP socket (not a dup) whose state
 * decodes: it, its state in SK; else NULL. */
const struct bm_fd *bm_sk_inet_own(const struct bm_process *p, uint32_t i, struct bm_sk_inet *sk);
/* "127.0.0.1:80", "[::1]:80". */
void bm_sk_addr_text(uint32_t family, const struct bm_sk_addr *a, char *buf, size_t len);

/* Image rules over the descriptor list: every BM_FD_TCP / BM_FD_UDP has
 * well-formed data of its kind.  false with the reason in why. */
bool bm_sk_inet_check(const struct bm_fd *fds, uint32_t nfds, char *why, size_t n);
/* In an image of VERSION: before 13, no socket state of format 3; before
 * 14, none of format 4. */
bool bm_sk_inet_check_version(const struct bm_fd *fds, uint32_t nfds, uint32_t version, char *why, size_t n);

/* At dump, for a socket descriptor (LINK "socket:[INO]"): 1 if it is a
 * TCP or UDP socket binmig carries (out->kind, object_id, data filled);
 * 0 if it is not an inet socket; -1 after refusing it. */
int bm_sk_inet_describe(pid_t pid, int fd, const char *link, const struct stat *st, struct bm_fd *out);
/* At dump, once every descriptor is described: refuses connections whose
 * peer is not in the process, unless their local address moves with it
 * (MOVING, movaddr.h; NULL: none), and, when the process is stopped
 * (read_queues), reads each connection's repair state and queues, those
 * of connections to outside peers excepted: bm_sk_inet_read_outside reads
 * them once their address has left this host, and must be called. */
struct bm_movaddr;
int bm_sk_inet_collect(pid_t pid, struct bm_process *p, bool read_queues, const struct bm_movaddr *moving);
/* Stopped, the addresses of MOVING removed from this host: reads the
 * connections to outside peers whose local address moves.  0 or the
 * error reported (a refusal, exit 4, for queues binmig cannot carry). */
int bm_sk_inet_read_outside(pid_t pid, struct bm_process *p, const struct bm_movaddr *moving);
/* At the end of a successful dump, before the source is killed: puts its
 * connections in repair mode so that closing them sends nothing. */
void bm_sk_inet_silence(pid_t pid, const struct bm_process *p);

/* At restore, before the process is created: every bound address exists
 * here and its port is free (BM_EXIT_CONFLICT otherwise). */
int bm_sk_inet_precheck(const struct bm_process *p);
/* Inside the new process.  Whether D is restored in the second pass
 * (established connections and their dups, after every listener). */
bool bm_sk_inet_deferred(const struct bm_process *p, const struct bm_fd *d);
/* The socket of D (connections left in repair mode): a descriptor, or -1
 * with the reason in err. */
int bm_sk_inet_open(const struct bm_fd *d, char *err, size_t errlen);
/* Once every descriptor is in place: connections leave repair mode and
 * send what had not been sent.  -1 with the reason in err. */
int bm_sk_inet_finish(const struct bm_process *p, char *err, size_t errlen);

/* One line for inspect. */
void bm_sk_inet_describe_text(const struct bm_fd *d, char *buf, size_t len);

#endif
