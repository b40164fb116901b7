/* Every socket option a program can read back from a TCP or UDP socket,
 * compared at dump with a new socket's (sk_inet_opts.c): binmig carries
 * a fixed set (sk_inet.c), and any other that differs is refused, those
 * a later kernel adds too. */
#ifndef BINMIG_SK_INET_OPTS_H
#define BINMIG_SK_INET_OPTS_H

#include <stddef.h>
#include <stdint.h>

/* S the process's socket, FRESH a new one of the same family, type and
 * protocol given the carried options as the restore would; STATE its
 * enum bm_sk_state.  Reads every option number of every level that
 * applies (SOL_SOCKET, IPPROTO_IP, IPPROTO_IPV6 for AF_INET6, IPPROTO_TCP
 * or IPPROTO_UDP) on both, as bytes, skipping only those that show
 * state rather than a setting (and those a read would change): the name
 * of the first that differs, in NAME (N bytes), or NULL. */
const char *bm_sk_inet_opts_differ(int s, int fresh, uint32_t family, uint32_t type, uint32_t state, char *name,
				   size_t n);

#endif
