/* The handshake (auth.c): the proof against a known answer, the right and
 * wrong keys, a bad, replayed or reflected proof, timeouts, and peers
 * that do not speak the protocol. */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "unit_net.h"

/* ---- authentication ---- */

/* A key that differs from key_a in its last byte. */
static const uint8_t key_b[BM_KEY_LEN] = "0123456789abcdef0123456789abcdX";

/* The server takes any suite here (the gate's choice is tested in
 * test_serve_gate.c); the client asks for AES-256-GCM. */
#define ANY_SUITE (BM_SEAL_ACCEPT_AEAD | BM_SEAL_ACCEPT(BM_SEAL_NONE))

struct auth_peer {
	int fd;
	const uint8_t *key;
	int timeout_ms;
	int result;
	struct bm_session session;
};

static void *run_auth_server(void *arg)
{
	struct auth_peer *p = arg;
	p->result = bm_auth_server(p->fd, p->key, ANY_SUITE, p->timeout_ms, &p->session);
	return NULL;
}

static void *run_auth_client(void *arg)
{
	struct auth_peer *p = arg;
	p->result = bm_auth_client(p->fd, p->key, BM_SEAL_AES_256_GCM, p->timeout_ms, &p->session);
	return NULL;
}

static int auth_server(int fd, const uint8_t *key, int timeout_ms)
{
	struct bm_session session;
	return bm_auth_server(fd, key, ANY_SUITE, timeout_ms, &session);
}

static int auth_client(int fd, const uint8_t *key, int timeout_ms)
{
	struct bm_session session;
	return bm_auth_client(fd, key, BM_SEAL_AES_256_GCM, timeout_ms, &session);
}

/* The session the proofs of a scripted handshake cover. */
static struct bm_session session_of(const uint8_t *nc, const uint8_t *ns)
{
	struct bm_session s = { .suite = BM_SEAL_AES_256_GCM };
	memcpy(s.nonce_client, nc, BM_NONCE_LEN);
	memcpy(s.nonce_server, ns, BM_NONCE_LEN);
	return s;
}

static void test_auth_proof_known_answer(void **state)
{
	(void)state;
	/* Computed with Python's hmac module from the construction in
	 * docs/protocol.md (version 2, suite 1). */
	static const uint8_t want_client[BM_MAC_LEN] = {
		0xe7, 0x50, 0xaa, 0x9f, 0x2b, 0x0e, 0xa2, 0xae, 0xb1, 0x72, 0xfb, 0x3e, 0xf9, 0x46, 0x09, 0x3d,
		0x3c, 0x44, 0xca, 0xf6, 0x3f, 0x1e, 0x83, 0x80, 0x4b, 0xf6, 0x11, 0xba, 0xa5, 0xce, 0x01, 0x1f,
	};
	static const uint8_t want_server[BM_MAC_LEN] = {
		0xeb, 0x8f, 0x34, 0xa5, 0xbc, 0x4a, 0x80, 0x6c, 0x79, 0x8f, 0x0f, 0x29, 0xb8, 0x89, 0x73, 0xd9,
		0x85, 0x33, 0xf5, 0xcb, 0xf3, 0x13, 0x42, 0x70, 0xdc, 0xa3, 0x29, 0xff, 0x2d, 0x1c, 0xa8, 0x7b,
	};
	uint8_t key[BM_KEY_LEN], nc[BM_NONCE_LEN], ns[BM_NONCE_LEN], mac[BM_MAC_LEN];
	for (int i = 0; i < BM_KEY_LEN; i++)
		key[i] = (uint8_t)i;
	memset(nc, 0x11, sizeof nc);
	memset(ns, 0x22, sizeof ns);
	struct bm_session s = session_of(nc, ns);
	assert_int_equal(bm_auth_proof(key, BM_ROLE_CLIENT, &s, mac), 0);
	assert_memory_equal(mac, want_client, BM_MAC_LEN);
	assert_int_equal(bm_auth_proof(key, BM_ROLE_SERVER, &s, mac), 0);
	assert_memory_equal(mac, want_server, BM_MAC_LEN);
	/* The suite is covered: the same nonces under another suite give
	 * other proofs. */
	s.suite = BM_SEAL_NONE;
	assert_int_equal(bm_auth_proof(key, BM_ROLE_CLIENT, &s, mac), 0);
	assert_memory_not_equal(mac, want_client, BM_MAC_LEN);
}

static void test_auth_right_key(void **state)
{
	(void)state;
	int sv[2];
	make_pair(sv);
	struct auth_peer server = { .fd = sv[1], .key = key_a, .timeout_ms = LONG_TIMEOUT_MS };
	pthread_t thread;
	assert_int_equal(pthread_create(&thread, NULL, run_auth_server, &server), 0);
	struct bm_session session;
	int client = bm_auth_client(sv[0], key_a, BM_SEAL_CHACHA20_POLY1305, LONG_TIMEOUT_MS, &session);
	pthread_join(thread, NULL);
	assert_int_equal(client, 0);
	assert_int_equal(server.result, 0);
	assert_false(bm_error_reported());
	/* Both ends settled the same session. */
	assert_int_equal(server.session.suite, BM_SEAL_CHACHA20_POLY1305);
	assert_memory_equal(&server.session, &session, sizeof session);
	/* The connection is in step afterwards. */
	assert_int_equal(bm_frame_send_buf(PLAIN(sv[0]), BM_MSG_CONFIRM, NULL, 0, SHORT_TIMEOUT_MS), 0);
	size_t len;
	assert_int_equal(bm_frame_expect(PLAIN(sv[1]), BM_MSG_CONFIRM, NULL, 0, &len, SHORT_TIMEOUT_MS), 0);
	assert_int_equal(unread_bytes(sv[0]) + unread_bytes(sv[1]), 0);
	close_pair(sv);
}

static void test_auth_wrong_key_both_fail(void **state)
{
	(void)state;
	int sv[2];
	make_pair(sv);
	struct auth_peer client = { .fd = sv[0], .key = key_b, .timeout_ms = LONG_TIMEOUT_MS };
	pthread_t thread;
	assert_int_equal(pthread_create(&thread, NULL, run_auth_client, &client), 0);
	int server = auth_server(sv[1], key_a, LONG_TIMEOUT_MS);
	pthread_join(thread, NULL);
	assert_int_equal(server, -EACCES);
	assert_int_equal(client.result, -EACCES);
	assert_int_equal(bm_exit_code(), BM_EXIT_NETWORK);
	close_pair(sv);
}

/* The client side played by the test: HELLO with nonce_client and
 * AES-256-GCM, then the CHALLENGE's nonce into nonce_server. */
static void scripted_hello(int fd, const uint8_t nonce_client[BM_NONCE_LEN], uint8_t nonce_server[BM_NONCE_LEN])
{
	size_t len;
	uint8_t hello[BM_HELLO_LEN];
	memcpy(hello, nonce_client, BM_NONCE_LEN);
	hello[BM_NONCE_LEN] = BM_SEAL_AES_256_GCM;
	assert_int_equal(bm_frame_send_buf(PLAIN(fd), BM_MSG_HELLO, hello, sizeof hello, LONG_TIMEOUT_MS), 0);
	assert_int_equal(bm_frame_expect(PLAIN(fd), BM_MSG_CHALLENGE, nonce_server, BM_NONCE_LEN, &len, LONG_TIMEOUT_MS), 0);
	assert_int_equal(len, BM_NONCE_LEN);
}

static void test_auth_server_reads_nothing_after_bad_proof(void **state)
{
	(void)state;
	int sv[2];
	make_pair(sv);
	struct auth_peer server = { .fd = sv[1], .key = key_a, .timeout_ms = LONG_TIMEOUT_MS };
	pthread_t thread;
	assert_int_equal(pthread_create(&thread, NULL, run_auth_server, &server), 0);

	uint8_t nc[BM_NONCE_LEN], ns[BM_NONCE_LEN], mac[BM_MAC_LEN];
	memset(nc, 0x5a, sizeof nc);
	scripted_hello(sv[0], nc, ns);
	struct bm_session s = session_of(nc, ns);
	assert_int_equal(bm_auth_proof(key_b, BM_ROLE_CLIENT, &s, mac), 0);
	/* The proof and an image frame in one write: the server must stop
	 * after the proof. */
	uint8_t burst[256], data[40];
	fill_pattern(data, sizeof data, 1);
	size_t n = encode_frame(burst, BM_PROTO_VERSION, BM_MSG_PROOF, mac, sizeof mac);
	size_t image_frame = encode_frame(burst + n, BM_PROTO_VERSION, BM_MSG_IMAGE_DATA, data, sizeof data);
	write_raw(sv[0], burst, n + image_frame);
	pthread_join(thread, NULL);

	assert_int_equal(server.result, -EACCES);
	assert_int_equal(unread_bytes(sv[1]), image_frame);
	/* The client is told why. */
	size_t len;
	assert_int_equal(bm_frame_expect(PLAIN(sv[0]), BM_MSG_PROOF, mac, sizeof mac, &len, SHORT_TIMEOUT_MS), -EREMOTEIO);
	close_pair(sv);
}

static void test_auth_replayed_proof_rejected(void **state)
{
	(void)state;
	uint8_t nc[BM_HELLO_LEN], ns1[BM_NONCE_LEN], ns2[BM_NONCE_LEN], recorded[BM_MAC_LEN], check[BM_MAC_LEN];
	size_t len;

	/* Session 1: a genuine client, the test as server; record its proof. */
	int sv[2];
	make_pair(sv);
	struct auth_peer client = { .fd = sv[0], .key = key_a, .timeout_ms = LONG_TIMEOUT_MS };
	pthread_t thread;
	assert_int_equal(pthread_create(&thread, NULL, run_auth_client, &client), 0);
	assert_int_equal(bm_frame_expect(PLAIN(sv[1]), BM_MSG_HELLO, nc, sizeof nc, &len, LONG_TIMEOUT_MS), 0);
	memset(ns1, 0x33, sizeof ns1);
	assert_int_equal(bm_frame_send_buf(PLAIN(sv[1]), BM_MSG_CHALLENGE, ns1, sizeof ns1, LONG_TIMEOUT_MS), 0);
	assert_int_equal(bm_frame_expect(PLAIN(sv[1]), BM_MSG_PROOF, recorded, sizeof recorded, &len, LONG_TIMEOUT_MS), 0);
	close(sv[1]);
	sv[1] = -1;
	pthread_join(thread, NULL);
	assert_int_equal(client.result, -ECONNRESET);
	close_pair(sv);
	/* The recording is a valid proof for session 1. */
	struct bm_session s1 = session_of(nc, ns1);
	assert_int_equal(bm_auth_proof(key_a, BM_ROLE_CLIENT, &s1, check), 0);
	assert_memory_equal(recorded, check, BM_MAC_LEN);

	/* Session 2: a genuine server, the test replays the same HELLO and proof. */
	bm_reset_errors();
	make_pair(sv);
	struct auth_peer server = { .fd = sv[1], .key = key_a, .timeout_ms = LONG_TIMEOUT_MS };
	assert_int_equal(pthread_create(&thread, NULL, run_auth_server, &server), 0);
	scripted_hello(sv[0], nc, ns2);
	assert_int_equal(bm_frame_send_buf(PLAIN(sv[0]), BM_MSG_PROOF, recorded, sizeof recorded, LONG_TIMEOUT_MS), 0);
	pthread_join(thread, NULL);
	assert_int_equal(server.result, -EACCES);
	assert_memory_not_equal(ns1, ns2, BM_NONCE_LEN);
	close_pair(sv);
}

static void test_auth_reflection_rejected(void **state)
{
	(void)state;
	uint8_t nc[BM_HELLO_LEN], ns[BM_NONCE_LEN], proof[BM_MAC_LEN];
	size_t len;
	pthread_t thread;
	int sv[2];

	/* A fake server sends the client's own proof back as its proof. */
	make_pair(sv);
	struct auth_peer client = { .fd = sv[0], .key = key_a, .timeout_ms = LONG_TIMEOUT_MS };
	assert_int_equal(pthread_create(&thread, NULL, run_auth_client, &client), 0);
	assert_int_equal(bm_frame_expect(PLAIN(sv[1]), BM_MSG_HELLO, nc, sizeof nc, &len, LONG_TIMEOUT_MS), 0);
	memset(ns, 0x44, sizeof ns);
	assert_int_equal(bm_frame_send_buf(PLAIN(sv[1]), BM_MSG_CHALLENGE, ns, sizeof ns, LONG_TIMEOUT_MS), 0);
	assert_int_equal(bm_frame_expect(PLAIN(sv[1]), BM_MSG_PROOF, proof, sizeof proof, &len, LONG_TIMEOUT_MS), 0);
	assert_int_equal(bm_frame_send_buf(PLAIN(sv[1]), BM_MSG_PROOF, proof, sizeof proof, LONG_TIMEOUT_MS), 0);
	pthread_join(thread, NULL);
	assert_int_equal(client.result, -EACCES);
	close_pair(sv);

	/* A fake client presents a server-role proof (as it would have if a
	 * server's proof for these nonces leaked): the roles do not mix. */
	bm_reset_errors();
	make_pair(sv);
	struct auth_peer server = { .fd = sv[1], .key = key_a, .timeout_ms = LONG_TIMEOUT_MS };
	assert_int_equal(pthread_create(&thread, NULL, run_auth_server, &server), 0);
	memset(nc, 0x55, sizeof nc);
	scripted_hello(sv[0], nc, ns);
	struct bm_session s = session_of(nc, ns);
	assert_int_equal(bm_auth_proof(key_a, BM_ROLE_SERVER, &s, proof), 0);
	assert_int_equal(bm_frame_send_buf(PLAIN(sv[0]), BM_MSG_PROOF, proof, sizeof proof, LONG_TIMEOUT_MS), 0);
	pthread_join(thread, NULL);
	assert_int_equal(server.result, -EACCES);
	close_pair(sv);
}

static void test_auth_timeouts(void **state)
{
	(void)state;
	int sv[2];
	make_pair(sv);
	/* The client says nothing. */
	uint64_t start = now_ms();
	int r = auth_server(sv[1], key_a, SHORT_TIMEOUT_MS);
	uint64_t took = now_ms() - start;
	assert_int_equal(r, -ETIMEDOUT);
	assert_true(took >= SHORT_TIMEOUT_MS && took < 5000);
	close_pair(sv);

	/* The server says nothing after the HELLO. */
	make_pair(sv);
	start = now_ms();
	r = auth_client(sv[0], key_a, SHORT_TIMEOUT_MS);
	took = now_ms() - start;
	assert_int_equal(r, -ETIMEDOUT);
	assert_true(took >= SHORT_TIMEOUT_MS && took < 5000);
	assert_int_equal(unread_bytes(sv[1]), BM_FRAME_HEADER_SIZE + BM_HELLO_LEN);
	close_pair(sv);

	/* A client that trickles a byte now and then is bounded by the same
	 * deadline for the whole handshake: here it sends half a HELLO. */
	make_pair(sv);
	uint8_t frame[64], nonce[BM_HELLO_LEN] = { 0 };
	encode_frame(frame, BM_PROTO_VERSION, BM_MSG_HELLO, nonce, sizeof nonce);
	write_raw(sv[0], frame, 24);
	r = auth_server(sv[1], key_a, SHORT_TIMEOUT_MS);
	assert_int_equal(r, -ETIMEDOUT);
	close_pair(sv);
}

static void test_auth_foreign_or_closing_peer(void **state)
{
	(void)state;
	int sv[2];
	make_pair(sv);
	const char http[] = "GET / HTTP/1.0\r\n\r\n";
	write_raw(sv[0], http, sizeof http - 1);
	capture_begin();
	int r = auth_server(sv[1], key_a, SHORT_TIMEOUT_MS);
	const char *msg = capture_end();
	assert_int_equal(r, -EPROTO);
	assert_non_null(strstr(msg, "does not speak the binmig protocol"));
	close_pair(sv);

	make_pair(sv);
	close(sv[0]);
	sv[0] = -1;
	assert_int_equal(auth_server(sv[1], key_a, SHORT_TIMEOUT_MS), -ECONNRESET);
	close_pair(sv);

	/* A HELLO of the wrong size. */
	make_pair(sv);
	uint8_t frame[64];
	size_t n = encode_frame(frame, BM_PROTO_VERSION, BM_MSG_HELLO, "short", 5);
	write_raw(sv[0], frame, n);
	assert_int_equal(auth_server(sv[1], key_a, SHORT_TIMEOUT_MS), -EPROTO);
	close_pair(sv);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_auth_proof_known_answer, setup),
		cmocka_unit_test_setup(test_auth_right_key, setup),
		cmocka_unit_test_setup(test_auth_wrong_key_both_fail, setup),
		cmocka_unit_test_setup(test_auth_server_reads_nothing_after_bad_proof, setup),
		cmocka_unit_test_setup(test_auth_replayed_proof_rejected, setup),
		cmocka_unit_test_setup(test_auth_reflection_rejected, setup),
		cmocka_unit_test_setup(test_auth_timeouts, setup),
		cmocka_unit_test_setup(test_auth_foreign_or_closing_peer, setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
