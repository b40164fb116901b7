/* What the kernel's sock_diag (NETLINK_SOCK_DIAG) says of one unix
 * socket, by inode, at dump (sk_unix_diag.c). */
#ifndef BINMIG_SK_UNIX_DIAG_H
#define BINMIG_SK_UNIX_DIAG_H

#include <stdbool.h>
#include <stdint.h>

#include "sk_unix.h"

struct bm_unix_diag {
	uint32_t type, state, shutdown; /* shutdown: bit 0 receiving, bit 1 sending */
	/* UNIX_DIAG_RQLEN: a listener's waiting clients and backlog; else the
	 * bytes queued (a datagram socket's first message's) and those sent
	 * and not yet read */
	uint32_t rqueue, wqueue;
	uint64_t peer;
	bool has_peer;  /* 0 with it: connected to a socket since closed */
	uint32_t name_len;
	uint8_t name[BM_UNIX_NAME_MAX];
	bool has_vfs;
	uint32_t vfs_ino, vfs_dev;
	uint32_t nicons;
	uint64_t *icons; /* malloc'd */
};

/* Asks about the socket of inode INO into OUT (icons malloc'd, the
 * caller frees them, also on failure).  0 or -errno. */
int bm_unix_diag_query(uint64_t ino, struct bm_unix_diag *out);

#endif
