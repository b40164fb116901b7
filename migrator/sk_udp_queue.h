/* The datagrams queued on a UDP socket, both directions.
 *
 * At dump, with the process stopped, the queue is read without taking
 * anything from it: the head with a plain peek (which sees it even if the
 * process peeked it already), every later datagram with a peek at an
 * offset (SO_PEEK_OFF, which UDP has had since Linux 4.7; a kernel without
 * it carries an empty socket and refuses one holding datagrams), each with
 * its sender's address; the socket's own peek offset is put back after.  An
 * empty datagram behind others is refused: once peeked at an offset, the
 * kernel hides it from every later peek at one.
 *
 * In the image the datagrams follow the socket's fixed state, in the
 * order they arrived, each a record of BM_UDP_RECORD_HDR bytes (u32 the
 * sender's family, u16 its port, u16 zero, 16 bytes its address, u32 the
 * datagram's length) and its bytes.
 *
 * At restore, once the new socket is bound (and connected), each datagram
 * is sent to it again from its sender's address and port, built whole on
 * a raw socket (which needs CAP_NET_RAW): to the socket's own address, or
 * to loopback when it is bound to the wildcard; an IPv4 sender of a
 * dual-stack IPv6 socket over IPv4.  The restore then waits (at most a
 * second) until the socket holds all of them, in order, and fails
 * otherwise; live traffic reaching the socket meanwhile stays, before or
 * among them (each is looked for by its sender and bytes, not counted). */
#ifndef BINMIG_SK_UDP_QUEUE_H
#define BINMIG_SK_UDP_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "sk_inet.h"

#define BM_UDP_RECORD_HDR 28u
#define BM_UDP_MAX_DATAGRAMS 4096u
/* The largest datagram sent again in one packet, as a raw socket sends
 * what it is given: never in fragments, and no bigger than the device's
 * MTU (loopback's, 65536 unless changed).  Over IPv4 (an IPv4 socket, or
 * an IPv4 sender of a dual-stack one) what the 16-bit total length
 * leaves after the IPv4 and UDP headers, 65535 - 20 - 8; over IPv6 what
 * loopback's MTU leaves after the IPv6 and UDP headers, 65536 - 40 - 8
 * (a bigger one, up to 65527, arrives in fragments).  The queue of a
 * socket holding a bigger one is refused at dump. */
#define BM_UDP_MAX_V4 65507u
#define BM_UDP_MAX_V6 65488u

/* Reads the queue of UDP socket s into *out (malloc'd, *len
 * bytes; NULL and 0 for an empty queue).  0; 1 after refusing, the
 * reason in why (", ..."); -errno. */
int bm_udp_queue_read(int s, uint8_t **out, uint32_t *len, char *why, size_t n);

/* At dump, the process stopped: the queue of UDP socket descriptor d of
 * process pid into its state (d->data), or refused (exit 4). */
struct bm_fd;
int bm_udp_queue_collect(pid_t pid, struct bm_fd *d);

/* The records of a socket of family: well formed, zero where zero, at
 * most BM_UDP_MAX_DATAGRAMS, senders of the socket's family, none longer
 * than its limit (BM_UDP_MAX_V4, BM_UDP_MAX_V6).  Their number in *count,
 * or false with the reason in why. */
bool bm_udp_queue_check(const uint8_t *b, uint32_t len, uint32_t family, uint32_t *count, char *why, size_t n);

/* At dump, sk holding datagrams (sk->dgrams): whether they can be sent
 * to it again.  Not on a socket without an address, nor with SO_REUSEPORT
 * (the datagrams could reach another socket of its port), nor, on a
 * connected socket, from another sender than its peer (received before
 * it connected).  false with the reason in why (", ..."). */
bool bm_udp_queue_carriable(const struct bm_sk_inet *sk, char *why, size_t n);

/* Inside the new process (system calls only): sends the datagrams of sk
 * to socket s, bound as sk says, and waits until s holds them.  0, or -1
 * with the reason in err. */
int bm_udp_queue_refill(int s, const struct bm_sk_inet *sk, char *err, size_t errlen);

#endif
