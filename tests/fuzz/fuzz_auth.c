/* The handshake (bm_auth_server, bm_auth_client) against a peer that sends
 * the input.  The nonces are random, so a proof in the input never
 * matches: what is exercised is everything the handshake reads before and
 * around the proofs (frames of the wrong type, size or version, ERROR in
 * place of a PROOF, the connection closing at any point). */
#include "fuzz.h"
#include "log.h"
#include "transport.h"

static const uint8_t test_key[BM_KEY_LEN] = { [0 ... BM_KEY_LEN - 1] = 0x5a }; /* a test key, not a secret */

static int server(int fd, const uint8_t *key, int timeout_ms)
{
	struct bm_session session;
	return bm_auth_server(fd, key, BM_SEAL_ACCEPT_AEAD, timeout_ms, &session);
}

static int client(int fd, const uint8_t *key, int timeout_ms)
{
	struct bm_session session;
	return bm_auth_client(fd, key, BM_SEAL_AES_256_GCM, timeout_ms, &session);
}

static void handshake(const uint8_t *data, size_t size)
{
	int (*const sides[])(int, const uint8_t *, int) = { server, client };
	for (size_t i = 0; i < sizeof sides / sizeof sides[0]; i++) {
		struct fuzz_peer peer;
		if (fuzz_peer_start(&peer, data, size) < 0)
			continue;
		fuzz_quiet_begin();
		sides[i](peer.fd, test_key, FUZZ_TIMEOUT_MS);
		fuzz_quiet_end();
		fuzz_peer_stop(&peer);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_run_with_repair(data, size, fuzz_fix_frame_crcs, handshake);
	return 0;
}
