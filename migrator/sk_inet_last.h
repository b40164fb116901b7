/* The options of a TCP or UDP socket that the kernel sets as well as the
 * program, carried exactly (sk_inet_last.c):
 *   - SO_INCOMING_CPU: what the program set (any int, which setsockopt
 *     takes as it is, a CPU this host lacks too), or the CPU that took the
 *     socket's last packet: an established TCP connection's and a
 *     connected UDP socket's, at each packet; an accepted connection's at
 *     its making; -1 until either;
 *   - TCP_QUICKACK of a TCP socket of any state: 0 while it is in the
 *     kernel's delayed-ACK ("ping-pong") mode, which the program enters
 *     with 0 and leaves with 1, listen() leaves, and a connection enters
 *     and leaves by itself (data sent soon after data received; a delayed
 *     ACK falling due).  An accepted connection starts in its listener's.
 * Read at dump with the rest of the socket, and for a connection or a UDP
 * socket again where its queues are read, the process stopped.  Set at
 * restore last, once everything the restore does to the sockets is done
 * (listen() clears TCP_QUICKACK; the datagrams sent again to a UDP socket
 * and the segments the rebuilt connections exchange move SO_INCOMING_CPU),
 * so that each reads right after the restore what it read at the dump.
 * A packet that reaches a socket later moves them as it would have at the
 * source. */
#ifndef BINMIG_SK_INET_LAST_H
#define BINMIG_SK_INET_LAST_H

#include <stddef.h>

#include "sk_inet.h"
#include "state.h"

/* At dump: S's SO_INCOMING_CPU and (TCP) TCP_QUICKACK into SK, which
 * then has them (last_known).  0 or -errno. */
int bm_sk_inet_last_read(int s, struct bm_sk_inet *sk);

/* In the new process, once every connection left repair mode: TCP_QUICKACK
 * of every TCP socket; then, once each connection whose peer is in the
 * process has taken in what the other end sent it during the restore
 * (the window probe it sends leaving repair mode, the bytes not sent at
 * the dump, the answers to both: each end's segments in counted up to
 * the other's segments out, twice, at most BM_SK_LAST_WAIT_MS), every
 * socket's SO_INCOMING_CPU.  -1 with the reason in err. */
#define BM_SK_LAST_WAIT_MS 2000
int bm_sk_inet_last_restore(const struct bm_process *p, char *err, size_t errlen);

#endif
