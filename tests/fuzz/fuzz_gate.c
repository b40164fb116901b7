/* The daemon's gate (serve_gate.c) against a stranger that sends the
 * input: frames assembled piece by piece from a non-blocking socket
 * (bm_frame_in_recv), the server's handshake fed one frame at a time
 * (bm_auth_hs_frame), replies, drops and deadlines.  The nonces are
 * random, so a proof in the input never matches: what is exercised is
 * everything the gate reads before the proof is checked. */
#include <poll.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>

#include "fuzz.h"
#include "log.h"
#include "serve_gate.h"

static const uint8_t test_key[BM_KEY_LEN] = { [0 ... BM_KEY_LEN - 1] = 0x5a }; /* a test key, not a secret */

static void authenticated(void *ctx, int fd, const char *name, const struct bm_session *session)
{
	(void)ctx, (void)name, (void)session;
	close(fd); /* cannot happen without the proof; closed if it does */
}

static void dropped(void *ctx, const char *name, enum bm_gate_drop why, const char *detail)
{
	(void)ctx, (void)name, (void)why, (void)detail;
}

static void stranger(const uint8_t *data, size_t size)
{
	struct fuzz_peer peer;
	if (fuzz_peer_start(&peer, data, size) < 0)
		return;
	int fd = dup(peer.fd); /* the gate closes its own */
	if (fd < 0) {
		fuzz_peer_stop(&peer);
		return;
	}
	struct bm_gate gate;
	struct bm_gate_events ev = { NULL, authenticated, dropped, NULL };
	struct sockaddr_storage addr = { .ss_family = AF_INET };
	fuzz_quiet_begin();
	bm_gate_init(&gate, test_key, BM_SEAL_ACCEPT_AEAD, 4, 4, FUZZ_TIMEOUT_MS, &ev);
	bm_gate_admit(&gate, fd, &addr, 0);
	/* Each round takes what has arrived; the input ends with the
	 * writer's shutdown, so the connection ends one way or another. */
	for (int round = 0; round < 64 && bm_gate_pending(&gate, NULL); round++) {
		struct pollfd p[BM_GATE_MAX_PENDING];
		int n = bm_gate_pollfds(&gate, p, BM_GATE_MAX_PENDING);
		if (poll(p, (nfds_t)n, FUZZ_TIMEOUT_MS) <= 0)
			break;
		bm_gate_service(&gate, p, n, (uint64_t)round * 1000000u);
	}
	/* Past every deadline: whatever still waits is dropped. */
	bm_gate_service(&gate, NULL, 0, (uint64_t)FUZZ_TIMEOUT_MS * 1000000u * 2);
	bm_gate_forget_all(&gate);
	fuzz_quiet_end();
	fuzz_peer_stop(&peer);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_run_with_repair(data, size, fuzz_fix_frame_crcs, stranger);
	return 0;
}
