/* Mutual challenge-response authentication with a shared key (HMAC-SHA256
 * from libcrypto).  The construction and its reasons: docs/protocol.md. */
#include "transport.h"

#include <errno.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

/* The role labels have the same length, so the MAC input has one fixed
 * layout, and differ so that neither side's proof is valid as the other's. */
static const char client_label[] = "binmig client proof";
static const char server_label[] = "binmig server proof";
_Static_assert(sizeof client_label == sizeof server_label, "role labels must have the same length");

#define PROOF_INPUT_SIZE (sizeof client_label - 1 + 2 + 2 * BM_NONCE_LEN)

int bm_auth_proof(const uint8_t key[BM_KEY_LEN], enum bm_auth_role role, const uint8_t nonce_client[BM_NONCE_LEN],
		  const uint8_t nonce_server[BM_NONCE_LEN], uint8_t mac[BM_MAC_LEN])
{
	const char *label = role == BM_ROLE_CLIENT ? client_label : server_label;
	uint8_t input[PROOF_INPUT_SIZE];
	size_t n = sizeof client_label - 1;
	memcpy(input, label, n);
	input[n++] = 0;
	input[n++] = BM_PROTO_VERSION;
	memcpy(input + n, nonce_client, BM_NONCE_LEN);
	n += BM_NONCE_LEN;
	memcpy(input + n, nonce_server, BM_NONCE_LEN);
	n += BM_NONCE_LEN;

	unsigned int mac_len = 0;
	if (!HMAC(EVP_sha256(), key, BM_KEY_LEN, input, n, mac, &mac_len) || mac_len != BM_MAC_LEN)
		return bm_error(BM_EXIT_FAILURE, "HMAC-SHA256 failed in libcrypto"), -EIO;
	return 0;
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int remaining_ms(uint64_t deadline_ns)
{
	uint64_t now = now_ns();
	if (now >= deadline_ns)
		return 1;
	return (int)((deadline_ns - now + 999999) / 1000000);
}

static int random_nonce(uint8_t nonce[BM_NONCE_LEN])
{
	if (RAND_bytes(nonce, BM_NONCE_LEN) != 1)
		return bm_error(BM_EXIT_FAILURE, "libcrypto could not provide random bytes for a nonce"), -EIO;
	return 0;
}

/* Receives a frame of `type` whose payload must be exactly `size` bytes. */
static int expect_exact(int fd, enum bm_msg_type type, uint8_t *buf, size_t size, uint64_t deadline_ns,
			int timeout_ms)
{
	size_t len;
	int r = bm_frame_expect_until(fd, type, buf, size, &len, deadline_ns, timeout_ms);
	if (r < 0)
		return r;
	if (len != size)
		return bm_error(BM_EXIT_NETWORK, "malformed %s from peer (%zu bytes, %zu expected)", bm_msg_name(type),
				len, size),
		       -EPROTO;
	return 0;
}

void bm_auth_hs_init(struct bm_auth_hs *hs, const uint8_t key[BM_KEY_LEN])
{
	memset(hs, 0, sizeof *hs);
	hs->key = key;
	hs->state = BM_HS_AWAIT_HELLO;
}

enum bm_msg_type bm_auth_hs_expects(const struct bm_auth_hs *hs)
{
	return hs->state == BM_HS_AWAIT_PROOF ? BM_MSG_PROOF : BM_MSG_HELLO;
}

static int hs_fail(struct bm_auth_hs *hs, int err)
{
	hs->state = BM_HS_FAILED;
	return err;
}

int bm_auth_hs_frame(struct bm_auth_hs *hs, uint8_t type, const uint8_t *payload, size_t len,
		     struct bm_auth_reply *reply)
{
	reply->type = 0;
	reply->len = 0;
	if (hs->state != BM_HS_AWAIT_HELLO && hs->state != BM_HS_AWAIT_PROOF)
		return bm_error(BM_EXIT_FAILURE, "internal error: handshake fed after its end"), -EINVAL;
	enum bm_msg_type want = bm_auth_hs_expects(hs);
	if (type != want)
		return bm_error(BM_EXIT_NETWORK, "peer sent frame type %u (%s) where %s was expected", type,
				bm_msg_name(type), bm_msg_name(want)),
		       hs_fail(hs, -EPROTO);
	if (len != BM_NONCE_LEN) /* a nonce and a proof have one size */
		return bm_error(BM_EXIT_NETWORK, "malformed %s from peer (%zu bytes, %d expected)", bm_msg_name(type), len,
				BM_NONCE_LEN),
		       hs_fail(hs, -EPROTO);

	if (hs->state == BM_HS_AWAIT_HELLO) {
		memcpy(hs->nonce_client, payload, BM_NONCE_LEN);
		int r = random_nonce(hs->nonce_server);
		if (r < 0)
			return hs_fail(hs, r);
		reply->type = BM_MSG_CHALLENGE;
		memcpy(reply->payload, hs->nonce_server, BM_NONCE_LEN);
		reply->len = BM_NONCE_LEN;
		hs->state = BM_HS_AWAIT_PROOF;
		return 0;
	}

	uint8_t expected[BM_MAC_LEN];
	int r = bm_auth_proof(hs->key, BM_ROLE_CLIENT, hs->nonce_client, hs->nonce_server, expected);
	if (r == 0 && CRYPTO_memcmp(payload, expected, BM_MAC_LEN) != 0) {
		/* Telling the client why costs nothing: it learns no more
		 * than the closed connection would tell it. */
		reply->type = BM_MSG_ERROR;
		reply->len = bm_encode_message(reply->payload, BM_EXIT_NETWORK,
					       "authentication failed: the client's proof does not match the server's key");
		bm_error(BM_EXIT_NETWORK, "authentication failed: the client's proof does not match our key "
					  "(it holds another key, or replays an old proof)");
		r = -EACCES;
	}
	if (r == 0)
		r = bm_auth_proof(hs->key, BM_ROLE_SERVER, hs->nonce_client, hs->nonce_server, reply->payload);
	OPENSSL_cleanse(expected, sizeof expected);
	if (r < 0)
		return hs_fail(hs, r);
	reply->type = BM_MSG_PROOF;
	reply->len = BM_MAC_LEN;
	hs->state = BM_HS_DONE;
	return 1;
}

int bm_auth_server(int fd, const uint8_t key[BM_KEY_LEN], int timeout_ms)
{
	uint64_t deadline = now_ns() + (uint64_t)timeout_ms * 1000000u;
	struct bm_auth_hs hs;
	struct bm_auth_reply reply;
	uint8_t frame[BM_NONCE_LEN];
	int r;
	bm_auth_hs_init(&hs, key);
	do {
		enum bm_msg_type want = bm_auth_hs_expects(&hs);
		size_t len;
		r = bm_frame_expect_until(fd, want, frame, sizeof frame, &len, deadline, timeout_ms);
		if (r < 0)
			break;
		r = bm_auth_hs_frame(&hs, want, frame, len, &reply);
		if (reply.type) {
			int s = bm_frame_send_until(fd, reply.type, reply.payload, reply.len, deadline, timeout_ms);
			if (s < 0 && r >= 0)
				r = s;
		}
	} while (r == 0);
	return r < 0 ? r : 0;
}

int bm_auth_client(int fd, const uint8_t key[BM_KEY_LEN], int timeout_ms)
{
	uint64_t deadline = now_ns() + (uint64_t)timeout_ms * 1000000u;
	uint8_t nonce_client[BM_NONCE_LEN], nonce_server[BM_NONCE_LEN];
	uint8_t proof[BM_MAC_LEN], expected[BM_MAC_LEN];

	int r = random_nonce(nonce_client);
	if (r == 0)
		r = bm_frame_send_until(fd, BM_MSG_HELLO, nonce_client, sizeof nonce_client, deadline, timeout_ms);
	if (r == 0)
		r = expect_exact(fd, BM_MSG_CHALLENGE, nonce_server, sizeof nonce_server, deadline, timeout_ms);
	if (r == 0)
		r = bm_auth_proof(key, BM_ROLE_CLIENT, nonce_client, nonce_server, proof);
	if (r == 0)
		r = bm_frame_send_until(fd, BM_MSG_PROOF, proof, sizeof proof, deadline, timeout_ms);
	if (r == 0) {
		r = expect_exact(fd, BM_MSG_PROOF, proof, sizeof proof, deadline, timeout_ms);
		if (r == -EREMOTEIO) /* the server's ERROR: it rejected our proof */
			r = -EACCES;
	}
	if (r == 0)
		r = bm_auth_proof(key, BM_ROLE_SERVER, nonce_client, nonce_server, expected);
	if (r == 0 && CRYPTO_memcmp(proof, expected, BM_MAC_LEN) != 0) {
		bm_send_message(fd, BM_MSG_ERROR, BM_EXIT_NETWORK,
				"authentication failed: the server's proof does not match the client's key",
				remaining_ms(deadline));
		bm_error(BM_EXIT_NETWORK, "authentication failed: the server's proof does not match our key "
					  "(it holds another key, or it is not a binmig server)");
		r = -EACCES;
	}
	OPENSSL_cleanse(expected, sizeof expected);
	return r;
}
