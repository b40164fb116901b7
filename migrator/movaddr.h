/* Local addresses that move with a process, so that its TCP connections
 * to peers outside it survive the migration (`migrate --move-addr`,
 * `serve --movable`).  IPv4 and IPv6, mixed in one migration if need be;
 * an IPv6 address that cannot leave its host or link (loopback,
 * link-local, multicast, unspecified) or stands for an IPv4 one
 * (v4-mapped) is refused.  A connection of a dual-stack IPv6 socket from
 * ::ffff:a.b.c.d moves with a.b.c.d.
 *
 * Source side, in this order:
 *   - bm_movaddr_locate, before anything: each address is on one of this
 *     host's interfaces (noted, to be put back);
 *   - bm_movaddr_offer, after PROFILE: MOVE_ADDRS to the destination,
 *     which answers MOVE_ADDRS_OK or refuses (ERROR) before the freeze;
 *   - at the freeze, sk_inet.c carries the connections to outside peers
 *     whose local address moves, without reading their queues yet;
 *   - bm_movaddr_detach, frozen, before the image: the addresses leave
 *     this host's interfaces (RTM_DELADDR), so that this kernel no longer
 *     receives, acknowledges or resets anything for them, and only then
 *     are those connections read in repair mode (bm_sk_inet_read_outside);
 *   - bm_movaddr_reattach, after any failure once detached: the addresses
 *     are put back (an IPv6 one without duplicate address detection, and
 *     without the lifetimes it may have had) and announced before the
 *     process resumes;
 *   - should binmig die once they are detached (SIGKILL, OOM, a crash),
 *     the guardian forked just before the detach (movaddr_guard.h) puts
 *     them back, announces them and takes the carried connections out of
 *     repair mode, if the original runs on here (the source seizes it
 *     without EXITKILL, and parks it first, bm_frozen_park, so that the
 *     kernel's implicit detach lets it run); if the original is gone or
 *     being killed it does nothing.  binmig dismisses it at every normal
 *     end: after its own reattach, or on a RESULT with status 0, from which
 *     on the process is the destination's.  The window left: binmig dying
 *     after the destination sent RESULT 0 and before binmig read it.  The
 *     destination, hearing nothing, runs its copy (docs/protocol.md §7),
 *     the original runs on here too, and both hosts hold the addresses
 *     (the guardian cannot reach the destination to tell).
 * Destination side (one migration per worker process):
 *   - bm_movaddr_answer, after PROFILE: each address offered must lie in
 *     a --movable range, not be on any interface here, and lie in the
 *     subnet of an interface here, which will take it; refused with a
 *     message (exit 6 at the source) otherwise;
 *   - bm_movaddr_place, when the restore reaches the sockets (the source
 *     froze its process and gave up the addresses before the image): each
 *     address is added, as /32 or /128 (without duplicate address
 *     detection: usable at once), and announced, with a gratuitous ARP or
 *     an unsolicited Neighbour Advertisement (netaddr.h); the
 *     connections are then rebuilt bound to it (sk_inet.c,
 *     bm_sk_bind_addr);
 *   - bm_movaddr_undo, when the restore fails: what was added goes. */
#ifndef BINMIG_MOVADDR_H
#define BINMIG_MOVADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "netaddr.h"
#include "transport.h"

#define BM_MOVADDR_MAX 16

/* migrate --move-addr ADDR, each as located on this host. */
struct bm_movaddr {
	size_t n;
	struct bm_netaddr addr[BM_MOVADDR_MAX];
	bool detached[BM_MOVADDR_MAX];
};

/* serve --movable ADDR[/PREFIX]: the ranges this host takes. */
struct bm_movable {
	size_t n;
	struct bm_netaddr range[BM_MOVADDR_MAX];
};

/* Parses one --move-addr (an IPv4 or IPv6 address) into M: -EINVAL if it
 * is not one that can move, -EEXIST if given before, -E2BIG past
 * BM_MOVADDR_MAX (not reported). */
int bm_movaddr_add_option(struct bm_movaddr *m, const char *text);
/* Parses one --movable (ADDR[/PREFIX], IPv4 or IPv6) into M: -EINVAL,
 * -E2BIG. */
int bm_movable_add_option(struct bm_movable *m, const char *text);

/* Whether M (NULL: none) moves ADDR of FAMILY (4 or 16 bytes; an IPv6
 * ::ffff:a.b.c.d is a.b.c.d). */
bool bm_movaddr_has(const struct bm_movaddr *m, uint32_t family, const uint8_t *addr);

/* Source side, see above.  0, or the error reported. */
int bm_movaddr_locate(struct bm_movaddr *m);
int bm_movaddr_offer(struct bm_conn *c, const struct bm_movaddr *m, int timeout_ms);
struct bm_frozen;
int bm_movaddr_detach(struct bm_movaddr *m, struct bm_frozen *f);
void bm_movaddr_reattach(struct bm_movaddr *m);

/* Destination side, see above. */
int bm_movaddr_answer(struct bm_conn *c, const struct bm_movable *allowed, int timeout_ms);
int bm_movaddr_place(void);
void bm_movaddr_undo(void);

/* MOVE_ADDRS's payload: u32 count, then per address u32 family (2,
 * AF_INET, or 10, AF_INET6) and 16 bytes of address in network byte
 * order (IPv4 in the first 4, the rest zero). */
#define BM_MOVADDR_ENTRY 20u
size_t bm_movaddr_encode(const struct bm_movaddr *m, uint8_t *out, size_t max);
/* The addresses of a MOVE_ADDRS payload into M (ifindex zero, prefixlen
 * 32 or 128); false with the reason in why. */
bool bm_movaddr_decode(const uint8_t *p, size_t len, struct bm_movaddr *m, char *why, size_t n);

#endif
