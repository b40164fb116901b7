/* What the kernel's sock_diag (NETLINK_SOCK_DIAG, inet_diag) says of one
 * TCP or UDP socket at dump (sk_inet_diag.c): what no socket option
 * shows, its shutdown state and, for TCP, the bytes between what the
 * process read and what arrived. */
#ifndef BINMIG_SK_INET_DIAG_H
#define BINMIG_SK_INET_DIAG_H

#include <stddef.h>
#include <stdint.h>

struct bm_inet_diag {
	uint32_t state;    /* TCP_ESTABLISHED, TCP_LISTEN, TCP_CLOSE... (UDP: TCP_CLOSE or TCP_ESTABLISHED) */
	uint32_t rqueue;   /* TCP: rcv_nxt - copied_seq, urgent mark or not; UDP: receive memory */
	uint32_t shutdown; /* bit 0 receiving, bit 1 sending (RCV_SHUTDOWN, SEND_SHUTDOWN) */
};

/* Asks about socket S (a copy of the process's descriptor, of FAMILY and
 * PROTOCOL) in its own network namespace.  0; -ENOENT when sock_diag does
 * not list it (a socket with no port: sock_diag knows only the sockets in
 * the kernel's tables); or -errno. */
int bm_inet_diag_query(int s, uint32_t family, uint32_t protocol, struct bm_inet_diag *out);

/* Whether an error waits on socket S (SO_ERROR, as an ICMP error leaves
 * on a connected UDP socket, or its error queue), which any read of it
 * would take: poll() tells without taking it.  0; 1 after refusing (why,
 * WHAT naming the socket's kind); -errno. */
int bm_inet_error_waits(int s, const char *what, char *why, size_t n);

#endif
