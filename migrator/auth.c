/* Mutual challenge-response authentication with a shared key (HMAC-SHA256
 * from libcrypto), which also settles how the connection goes on: sealed
 * (and with which AEAD) or not.  The construction and its reasons:
 * docs/protocol.md. */
#include "transport.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
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

#define PROOF_INPUT_SIZE (sizeof client_label - 1 + 2 + BM_HELLO_LEN + BM_NONCE_LEN)

int bm_auth_proof(const uint8_t key[BM_KEY_LEN], enum bm_auth_role role, const struct bm_session *session,
		  uint8_t mac[BM_MAC_LEN])
{
	const char *label = role == BM_ROLE_CLIENT ? client_label : server_label;
	uint8_t input[PROOF_INPUT_SIZE];
	size_t n = sizeof client_label - 1;
	memcpy(input, label, n);
	input[n++] = 0;
	input[n++] = BM_PROTO_VERSION;
	/* HELLO's payload, then CHALLENGE's, as sent: the suite is covered,
	 * so a choice changed on the way makes both proofs fail. */
	memcpy(input + n, session->nonce_client, BM_NONCE_LEN);
	n += BM_NONCE_LEN;
	input[n++] = (uint8_t)session->suite;
	memcpy(input + n, session->nonce_server, BM_NONCE_LEN);
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

void bm_auth_hs_init(struct bm_auth_hs *hs, const uint8_t key[BM_KEY_LEN], unsigned accept)
{
	memset(hs, 0, sizeof *hs);
	hs->key = key;
	hs->accept = accept;
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
	size_t want_len = type == BM_MSG_HELLO ? BM_HELLO_LEN : BM_MAC_LEN;
	if (len != want_len)
		return bm_error(BM_EXIT_NETWORK, "malformed %s from peer (%zu bytes, %zu expected)", bm_msg_name(type), len,
				want_len),
		       hs_fail(hs, -EPROTO);

	if (hs->state == BM_HS_AWAIT_HELLO) {
		memcpy(hs->session.nonce_client, payload, BM_NONCE_LEN);
		hs->session.suite = payload[BM_NONCE_LEN];
		if (hs->session.suite > BM_SEAL_SUITE_LAST || !(hs->accept & BM_SEAL_ACCEPT(hs->session.suite))) {
			/* Both ends must have chosen alike: never a silent
			 * downgrade, nor an upgrade the operator did not ask for. */
			char why[BM_MESSAGE_MAX];
			snprintf(why, sizeof why, "the source asks for %s frames (migrate --seal %s), this destination "
				 "takes %s: both ends must use the same --seal",
				 hs->session.suite ? "sealed" : "unsealed", bm_seal_name(hs->session.suite),
				 hs->accept == BM_SEAL_ACCEPT(BM_SEAL_NONE) ? "only unsealed frames (serve --seal none)"
				 : hs->accept == BM_SEAL_ACCEPT_AEAD	     ? "only sealed frames (serve --seal auto)"
				 : hs->accept & BM_SEAL_ACCEPT(BM_SEAL_AES_256_GCM) ? "only aes-256-gcm"
									     : "only chacha20-poly1305");
			reply->type = BM_MSG_ERROR;
			reply->len = bm_encode_message(reply->payload, BM_EXIT_NETWORK, why);
			return bm_error(BM_EXIT_NETWORK, "%s", why), hs_fail(hs, -EPROTO);
		}
		int r = random_nonce(hs->session.nonce_server);
		if (r < 0)
			return hs_fail(hs, r);
		reply->type = BM_MSG_CHALLENGE;
		memcpy(reply->payload, hs->session.nonce_server, BM_NONCE_LEN);
		reply->len = BM_NONCE_LEN;
		hs->state = BM_HS_AWAIT_PROOF;
		return 0;
	}

	uint8_t expected[BM_MAC_LEN];
	int r = bm_auth_proof(hs->key, BM_ROLE_CLIENT, &hs->session, expected);
	if (r == 0 && CRYPTO_memcmp(payload, expected, BM_MAC_LEN) != 0) {
		/* Telling the client why costs nothing: it learns no more
		 * than the closed connection would tell it. */
		reply->type = BM_MSG_ERROR;
		reply->len = bm_encode_message(reply->payload, BM_EXIT_NETWORK,
					       "authentication failed: the client's proof does not match the server's key");
		bm_error(BM_EXIT_NETWORK, "authentication failed: the client's proof does not match our key "
					  "(it holds another key, replays an old proof, or the handshake was altered)");
		r = -EACCES;
	}
	if (r == 0)
		r = bm_auth_proof(hs->key, BM_ROLE_SERVER, &hs->session, reply->payload);
	OPENSSL_cleanse(expected, sizeof expected);
	if (r < 0)
		return hs_fail(hs, r);
	reply->type = BM_MSG_PROOF;
	reply->len = BM_MAC_LEN;
	hs->state = BM_HS_DONE;
	return 1;
}

int bm_auth_server(int fd, const uint8_t key[BM_KEY_LEN], unsigned accept, int timeout_ms, struct bm_session *session)
{
	uint64_t deadline = now_ns() + (uint64_t)timeout_ms * 1000000u;
	struct bm_auth_hs hs;
	struct bm_auth_reply reply;
	uint8_t frame[BM_HELLO_LEN];
	int r;
	bm_auth_hs_init(&hs, key, accept);
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
	*session = hs.session;
	return r < 0 ? r : 0;
}

int bm_auth_client(int fd, const uint8_t key[BM_KEY_LEN], enum bm_seal_suite suite, int timeout_ms,
		   struct bm_session *session)
{
	uint64_t deadline = now_ns() + (uint64_t)timeout_ms * 1000000u;
	uint8_t hello[BM_HELLO_LEN];
	uint8_t proof[BM_MAC_LEN], expected[BM_MAC_LEN];

	memset(session, 0, sizeof *session);
	session->suite = suite;
	int r = random_nonce(session->nonce_client);
	memcpy(hello, session->nonce_client, BM_NONCE_LEN);
	hello[BM_NONCE_LEN] = (uint8_t)suite;
	if (r == 0)
		r = bm_frame_send_until(fd, BM_MSG_HELLO, hello, sizeof hello, deadline, timeout_ms);
	if (r == 0)
		r = expect_exact(fd, BM_MSG_CHALLENGE, session->nonce_server, BM_NONCE_LEN, deadline, timeout_ms);
	if (r == 0)
		r = bm_auth_proof(key, BM_ROLE_CLIENT, session, proof);
	if (r == 0)
		r = bm_frame_send_until(fd, BM_MSG_PROOF, proof, sizeof proof, deadline, timeout_ms);
	if (r == 0) {
		r = expect_exact(fd, BM_MSG_PROOF, proof, sizeof proof, deadline, timeout_ms);
		if (r == -EREMOTEIO) /* the server's ERROR: it rejected our proof */
			r = -EACCES;
	}
	if (r == 0)
		r = bm_auth_proof(key, BM_ROLE_SERVER, session, expected);
	if (r == 0 && CRYPTO_memcmp(proof, expected, BM_MAC_LEN) != 0) {
		struct bm_conn plain = bm_conn_plain(fd);
		bm_send_message(&plain, BM_MSG_ERROR, BM_EXIT_NETWORK,
				"authentication failed: the server's proof does not match the client's key",
				remaining_ms(deadline));
		bm_error(BM_EXIT_NETWORK, "authentication failed: the server's proof does not match our key "
					  "(it holds another key, it is not a binmig server, or the handshake was altered)");
		r = -EACCES;
	}
	OPENSSL_cleanse(expected, sizeof expected);
	return r;
}

/* ---- The connection after the handshake ---- */

int bm_conn_open(struct bm_conn *c, int fd, const uint8_t key[BM_KEY_LEN], const struct bm_session *session,
		 enum bm_auth_role role)
{
	*c = bm_conn_plain(fd);
	if (session->suite == BM_SEAL_NONE)
		return 0;
	uint8_t to_server[BM_SEAL_KEY_LEN], to_client[BM_SEAL_KEY_LEN];
	int r = bm_seal_session_keys(key, session->suite, session->nonce_client, session->nonce_server, to_server,
				     to_client);
	bool client = role == BM_ROLE_CLIENT;
	if (r == 0)
		r = bm_aead_init(&c->send, session->suite, client ? to_server : to_client, true);
	if (r == 0)
		r = bm_aead_init(&c->recv, session->suite, client ? to_client : to_server, false);
	OPENSSL_cleanse(to_server, sizeof to_server);
	OPENSSL_cleanse(to_client, sizeof to_client);
	if (r == 0 && !(c->scratch = malloc(BM_SEAL_PIECE)))
		r = (bm_error(BM_EXIT_FAILURE, "out of memory for sealing"), -ENOMEM);
	c->suite = session->suite;
	if (r < 0)
		bm_conn_free(c);
	return r;
}

void bm_conn_free(struct bm_conn *c)
{
	bm_aead_free(&c->send);
	bm_aead_free(&c->recv);
	free(c->scratch);
	c->scratch = NULL;
	c->suite = BM_SEAL_NONE;
}
