/* Live migration: the source side (`binmig migrate`) and the destination
 * daemon (`binmig serve`).  Total Copy: suspend, checkpoint, transfer,
 * restore at the destination; the original is terminated only once the
 * destination reports that the process runs there, and resumed on any
 * failure before that.  Protocol: docs/protocol.md. */
#ifndef BINMIG_MIGRATE_H
#define BINMIG_MIGRATE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "files.h"
#include "movaddr.h"
#include "precopy.h"
#include "stats.h"
#include "transport.h"

/* Time limits, in milliseconds. */
#define BM_CONNECT_TIMEOUT_MS 10000
#define BM_AUTH_TIMEOUT_MS 10000
#define BM_IO_TIMEOUT_MS 30000       /* any single wait for the peer during the transfer */
#define BM_RESULT_TIMEOUT_MS 120000  /* from the end of the image to RESULT */

struct bm_migrate_opts {
	const char *target;                /* HOST:PORT */
	uint8_t key[BM_KEY_LEN];
	enum bm_seal_suite seal;           /* what the frames after the handshake are sealed with */
	enum bm_transfer_mode mode;
	int zlib_level;                    /* -1: none */
	const char *workdir;               /* file mode: where the image is written */
	struct bm_fd_policy fd_policy;     /* --stdio, --fd */
	bool skip_cpu_check;               /* --no-cpu-check: do not judge the code against the destination's CPU */
	struct bm_precopy_opts precopy;    /* --mode precopy: --precopy-rounds, --precopy-threshold, --no-fallback */
	bool no_prefault;                  /* --no-prefault: stream mode sends no memory plan (memplan.h) */
	struct bm_movaddr *move_addrs;     /* --move-addr: addresses moving with the process (movaddr.h), or NULL */
};

/* Migrates process PID.  0 when the process runs at the destination and
 * the original is gone; otherwise the original runs on at the source. */
int bm_migrate(pid_t pid, const struct bm_migrate_opts *o, struct bm_stats *st);

struct bm_serve_opts {
	const char *listen;                /* ADDR:PORT */
	uint8_t key[BM_KEY_LEN];
	unsigned seal_accept;              /* the seal suites a source may ask for (BM_SEAL_ACCEPT) */
	const char *workdir;               /* file mode: where received images are kept until restored */
	int io_timeout_ms;                 /* any single wait for an authenticated peer */
	int handshake_timeout_ms;          /* from accept to the key proved */
	const char *cpu_profile;           /* --cpu-profile: reported instead of this machine's, or NULL */
	uint64_t precopy_store_max;        /* --precopy-store-max: bytes of pre-copied pages held at most */
	const struct bm_movable *movable;  /* --movable: the addresses this host takes with a process (movaddr.h) */
};

/* The daemon logs connections dropped before authentication one line each,
 * up to BM_SERVE_DROP_LINES per BM_SERVE_DROP_WINDOW_S seconds, then only
 * counts them and logs the count when the window ends. */
#define BM_SERVE_DROP_LINES 10
#define BM_SERVE_DROP_WINDOW_S 10

/* Runs the daemon until SIGTERM or SIGINT.  0 on a clean stop. */
int bm_serve(const struct bm_serve_opts *o);

/* "HOST:PORT", "[V6ADDR]:PORT": resolves to a socket address. */
int bm_parse_hostport(const char *text, struct sockaddr_storage *addr, socklen_t *len);

#endif
