/* The daemon's gate (migrator/serve_gate.c): handshakes side by side, the
 * bounds per source and in total, who is evicted, deadlines.  Connections
 * are socketpairs given made-up source addresses; time is passed in, so
 * deadlines are tested without waiting.  An honest client runs
 * bm_auth_client in a thread while the test drives the gate; the
 * session the gate hands over must be the one the client settled. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"
#include "serve_gate.h"
#include "transport.h"

#define MS 1000000ull
#define WAIT_MS 20000 /* bound of every real wait in these tests */

static const uint8_t key_a[BM_KEY_LEN] = {1, 2, 3, 4, 5, 6, 7, 8};
static const uint8_t key_b[BM_KEY_LEN] = {8, 7, 6, 5, 4, 3, 2, 1};

/* What the gate told us. */
struct seen {
	int authenticated_fd;
	char authenticated_name[64];
	struct bm_session session;
	unsigned drops[4];
	const char *refuse; /* what the owner answers when asked */
	char last_drop[256];
	char last_drop_name[64];
};

static void on_auth(void *ctx, int fd, const char *name, const struct bm_session *session)
{
	struct seen *s = ctx;
	s->authenticated_fd = fd;
	s->session = *session;
	snprintf(s->authenticated_name, sizeof s->authenticated_name, "%s", name);
}

static void on_drop(void *ctx, const char *name, enum bm_gate_drop why, const char *detail)
{
	struct seen *s = ctx;
	s->drops[why]++;
	snprintf(s->last_drop, sizeof s->last_drop, "%s", detail);
	snprintf(s->last_drop_name, sizeof s->last_drop_name, "%s", name);
}

static const char *refusal(void *ctx)
{
	return ((struct seen *)ctx)->refuse;
}

static struct seen seen;
static struct bm_gate gate;

static void setup_gate_accepting(unsigned total, unsigned per_source, unsigned accept)
{
	memset(&seen, 0, sizeof seen);
	seen.authenticated_fd = -1;
	struct bm_gate_events ev = {refusal, on_auth, on_drop, &seen};
	bm_gate_init(&gate, key_a, accept, total, per_source, 5000, &ev);
}

static void setup_gate(unsigned total, unsigned per_source)
{
	setup_gate_accepting(total, per_source, BM_SEAL_ACCEPT_AEAD);
}

static struct sockaddr_storage address(const char *ip, int port)
{
	struct sockaddr_storage ss = {0};
	struct sockaddr_in *in = (struct sockaddr_in *)&ss;
	in->sin_family = AF_INET;
	in->sin_port = htons((uint16_t)port);
	assert_int_equal(inet_pton(AF_INET, ip, &in->sin_addr), 1);
	return ss;
}

/* Admits the server end of a new socketpair at time now; returns the
 * client end. */
static int connect_from(const char *ip, int port, uint64_t now)
{
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	struct sockaddr_storage a = address(ip, port);
	bm_gate_admit(&gate, sv[1], &a, now);
	return sv[0];
}

/* One round of the daemon's loop: poll the gate's connections (up to
 * ms), then service them at time now. */
static void round_at(uint64_t now, int ms)
{
	struct pollfd p[BM_GATE_MAX_PENDING];
	int n = bm_gate_pollfds(&gate, p, BM_GATE_MAX_PENDING);
	if (n)
		assert_true(poll(p, (nfds_t)n, ms) >= 0);
	bm_gate_service(&gate, p, n, now);
}

static bool closed_by_peer(int fd)
{
	struct pollfd p = {fd, POLLIN, 0};
	if (poll(&p, 1, WAIT_MS) != 1)
		return false;
	char c;
	return recv(fd, &c, 1, MSG_DONTWAIT) == 0;
}

static size_t unread_bytes(int fd)
{
	int n = -1;
	assert_int_equal(ioctl(fd, FIONREAD, &n), 0);
	return (size_t)n;
}

static void send_hello(int fd)
{
	uint8_t hello[BM_HELLO_LEN] = {0x11, [BM_NONCE_LEN] = BM_SEAL_AES_256_GCM};
	struct bm_conn c = bm_conn_plain(fd);
	assert_int_equal(bm_frame_send_buf(&c, BM_MSG_HELLO, hello, sizeof hello, WAIT_MS), 0);
}

struct client {
	int fd;
	const uint8_t *key;
	enum bm_seal_suite suite;
	struct bm_session session;
	int result;
};

static void *run_client(void *arg)
{
	struct client *c = arg;
	c->result = bm_auth_client(c->fd, c->key, c->suite, WAIT_MS, &c->session);
	return NULL;
}

/* Drives the gate until the client thread has finished. */
static void drive_until_client_done(struct client *c, pthread_t thread)
{
	for (int i = 0; i < 1000 && seen.authenticated_fd < 0; i++) {
		round_at(0, 50);
		if (c->result != 1 && pthread_tryjoin_np(thread, NULL) == 0)
			return;
	}
	pthread_join(thread, NULL);
}

/* Runs the client's handshake against the gate to its end. */
static void handshake(struct client *c)
{
	pthread_t thread;
	assert_int_equal(pthread_create(&thread, NULL, run_client, c), 0);
	drive_until_client_done(c, thread);
}

static int setup(void **state)
{
	(void)state;
	bm_hold_errors();
	bm_reset_errors();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	bm_gate_forget_all(&gate);
	if (seen.authenticated_fd >= 0)
		close(seen.authenticated_fd);
	bm_release_errors(false);
	bm_reset_errors();
	return 0;
}

/* 50 silent connections from the same address, one that sends garbage
 * and one halfway through a HELLO are all waiting when an honest client
 * arrives: it authenticates at once, and the connection handed over is in
 * step (nothing after the PROOF was read). */
static void test_honest_client_among_strangers(void **state)
{
	(void)state;
	setup_gate(BM_GATE_MAX_PENDING, BM_GATE_MAX_PER_SOURCE);
	int idle[50];
	for (int i = 0; i < 50; i++)
		idle[i] = connect_from("10.0.0.1", 1000 + i, 0);
	int garbage = connect_from("10.0.0.1", 2000, 0);
	assert_int_equal(write(garbage, "GET / HTTP/1.0\r\n\r\n", 18), 18);
	int slow = connect_from("10.0.0.1", 2001, 0);
	assert_int_equal(write(slow, "BM", 2), 2);
	round_at(0, 0);
	assert_int_equal(seen.drops[BM_GATE_FAILED], 1);
	assert_non_null(strstr(seen.last_drop, "does not speak the binmig protocol"));
	assert_true(bm_gate_pending(&gate, NULL) <= BM_GATE_MAX_PER_SOURCE);

	struct client c = {.fd = connect_from("10.0.0.1", 3000, 0), .key = key_a, .suite = BM_SEAL_CHACHA20_POLY1305,
			   .result = 1};
	assert_true(seen.drops[BM_GATE_EVICTED] >= 35);
	handshake(&c);
	assert_int_equal(c.result, 0);
	assert_true(seen.authenticated_fd >= 0);
	assert_string_equal(seen.authenticated_name, "10.0.0.1:3000");
	/* In step, and with the same keys: what the client seals next is
	 * the worker's to open. */
	assert_int_equal(seen.session.suite, BM_SEAL_CHACHA20_POLY1305);
	struct bm_conn to_server, at_server;
	assert_int_equal(bm_conn_open(&to_server, c.fd, key_a, &c.session, BM_ROLE_CLIENT), 0);
	assert_int_equal(bm_conn_open(&at_server, seen.authenticated_fd, key_a, &seen.session, BM_ROLE_SERVER), 0);
	assert_int_equal(bm_frame_send_buf(&to_server, BM_MSG_CONFIRM, NULL, 0, WAIT_MS), 0);
	size_t len;
	assert_int_equal(bm_frame_expect(&at_server, BM_MSG_CONFIRM, NULL, 0, &len, WAIT_MS), 0);
	assert_int_equal(unread_bytes(c.fd), 0);
	bm_conn_free(&to_server);
	bm_conn_free(&at_server);
	/* The slow one still waits. */
	assert_int_equal(seen.drops[BM_GATE_FAILED] + seen.drops[BM_GATE_TIMED_OUT], 1);
	for (int i = 0; i < 50; i++)
		close(idle[i]);
	close(garbage);
	close(slow);
	close(c.fd);
}

/* Over the per-source bound, the newcomer takes the place of one that has
 * not said HELLO, the oldest first, before any that has. */
static void test_eviction_prefers_silent_then_oldest(void **state)
{
	(void)state;
	setup_gate(64, 4);
	int a = connect_from("10.0.0.1", 1, 10 * MS);
	int b = connect_from("10.0.0.1", 2, 20 * MS);
	int c = connect_from("10.0.0.1", 3, 30 * MS);
	int d = connect_from("10.0.0.1", 4, 40 * MS);
	send_hello(a); /* the oldest has said HELLO: it stays */
	round_at(50 * MS, WAIT_MS);
	assert_int_equal(seen.drops[BM_GATE_EVICTED], 0);
	int e = connect_from("10.0.0.1", 5, 60 * MS);
	assert_int_equal(seen.drops[BM_GATE_EVICTED], 1);
	assert_string_equal(seen.last_drop_name, "10.0.0.1:2");
	assert_true(closed_by_peer(b));
	int f = connect_from("10.0.0.1", 6, 70 * MS);
	assert_string_equal(seen.last_drop_name, "10.0.0.1:3");
	/* Another source is not counted against this one. */
	int g = connect_from("10.0.0.2", 1, 80 * MS);
	assert_int_equal(seen.drops[BM_GATE_EVICTED], 2);
	assert_int_equal(bm_gate_pending(&gate, NULL), 5);
	int fds[] = {a, b, c, d, e, f, g};
	for (size_t i = 0; i < sizeof fds / sizeof *fds; i++)
		close(fds[i]);
}

/* Over the total bound, the source with the most connections gives one up. */
static void test_total_bound_evicts_from_the_busiest_source(void **state)
{
	(void)state;
	setup_gate(6, 6);
	int fds[8], k = 0;
	for (int i = 0; i < 5; i++)
		fds[k++] = connect_from("10.0.0.1", 100 + i, (uint64_t)(i + 1) * MS);
	fds[k++] = connect_from("10.0.0.2", 1, 10 * MS);
	assert_int_equal(bm_gate_pending(&gate, NULL), 6);
	fds[k++] = connect_from("10.0.0.3", 1, 20 * MS);
	assert_int_equal(seen.drops[BM_GATE_EVICTED], 1);
	assert_string_equal(seen.last_drop_name, "10.0.0.1:100");
	fds[k++] = connect_from("10.0.0.2", 2, 30 * MS);
	assert_string_equal(seen.last_drop_name, "10.0.0.1:101");
	assert_int_equal(bm_gate_pending(&gate, NULL), 6);
	for (int i = 0; i < k; i++)
		close(fds[i]);
}

/* Each connection has its own deadline, whatever it sends meanwhile: one
 * byte at a time does not extend it. */
static void test_deadline(void **state)
{
	(void)state;
	setup_gate(64, 16);
	int early = connect_from("10.0.0.1", 1, 0);
	int late = connect_from("10.0.0.1", 2, 1000 * MS);
	assert_int_equal(bm_gate_timeout_ms(&gate, 0), 5000);
	assert_int_equal(bm_gate_timeout_ms(&gate, 4000 * MS), 1000);
	uint8_t hello[BM_FRAME_HEADER_SIZE + BM_HELLO_LEN], nonce[BM_HELLO_LEN] = {0};
	size_t n = bm_frame_encode(hello, BM_MSG_HELLO, nonce, sizeof nonce);
	for (size_t i = 0; i + 1 < n; i++) {
		assert_int_equal(write(early, hello + i, 1), 1);
		round_at((uint64_t)i * 100 * MS, WAIT_MS);
	}
	assert_int_equal(seen.drops[BM_GATE_TIMED_OUT] + seen.drops[BM_GATE_FAILED], 0);
	round_at(4999 * MS, 0);
	assert_int_equal(seen.drops[BM_GATE_TIMED_OUT], 0);
	round_at(5000 * MS, 0);
	assert_int_equal(seen.drops[BM_GATE_TIMED_OUT], 1);
	assert_string_equal(seen.last_drop_name, "10.0.0.1:1");
	assert_non_null(strstr(seen.last_drop, "no HELLO within 5000 ms"));
	assert_true(closed_by_peer(early));
	assert_int_equal(bm_gate_timeout_ms(&gate, 5000 * MS), 1000);
	round_at(6000 * MS, 0);
	assert_int_equal(seen.drops[BM_GATE_TIMED_OUT], 2);
	assert_int_equal(bm_gate_timeout_ms(&gate, 6000 * MS), -1);
	close(early);
	close(late);
}

/* A client with another key is told why and dropped; nothing is handed over. */
static void test_wrong_key(void **state)
{
	(void)state;
	setup_gate(64, 16);
	struct client c = {.fd = connect_from("10.0.0.1", 1, 0), .key = key_b, .suite = BM_SEAL_AES_256_GCM, .result = 1};
	handshake(&c);
	assert_int_equal(c.result, -EACCES);
	assert_int_equal(seen.authenticated_fd, -1);
	assert_int_equal(seen.drops[BM_GATE_FAILED], 1);
	assert_non_null(strstr(seen.last_drop, "authentication failed"));
	assert_int_equal(bm_gate_pending(&gate, NULL), 0);
	close(c.fd);
}

/* An owner that cannot take a peer that proved the key (busy) has the
 * gate answer ERROR in place of the server's PROOF: the client fails its
 * handshake, with the reason. */
static void test_refused_before_the_servers_proof(void **state)
{
	(void)state;
	setup_gate(64, 16);
	seen.refuse = "destination busy with another migration";
	struct client c = {.fd = connect_from("10.0.0.1", 1, 0), .key = key_a, .suite = BM_SEAL_AES_256_GCM, .result = 1};
	handshake(&c);
	/* (the client's own message is not checked here: the error state is
	 * one for both threads, and the gate resets it) */
	assert_int_equal(c.result, -EACCES);
	assert_int_equal(seen.authenticated_fd, -1);
	assert_int_equal(seen.drops[BM_GATE_REFUSED], 1);
	assert_string_equal(seen.last_drop, "destination busy with another migration");
	close(c.fd);
}

/* Both ends must choose alike: a client asking for unsealed frames from a
 * gate that takes only sealed ones, or the other way round, is told why
 * in place of CHALLENGE and dropped; nothing is handed over. */
static void test_seal_mismatch(void **state)
{
	(void)state;
	static const struct {
		unsigned accept;
		enum bm_seal_suite asks;
		const char *said;
	} cases[] = {
		{BM_SEAL_ACCEPT_AEAD, BM_SEAL_NONE, "takes only sealed frames (serve --seal auto)"},
		{BM_SEAL_ACCEPT(BM_SEAL_NONE), BM_SEAL_AES_256_GCM, "takes only unsealed frames (serve --seal none)"},
		{BM_SEAL_ACCEPT(BM_SEAL_AES_256_GCM), BM_SEAL_CHACHA20_POLY1305, "takes only aes-256-gcm"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		setup_gate_accepting(64, 16, cases[i].accept);
		struct client c = {.fd = connect_from("10.0.0.1", 1, 0), .key = key_a, .suite = cases[i].asks, .result = 1};
		handshake(&c);
		assert_int_equal(c.result, -EREMOTEIO);
		assert_int_equal(seen.authenticated_fd, -1);
		assert_int_equal(seen.drops[BM_GATE_FAILED], 1);
		assert_non_null(strstr(seen.last_drop, cases[i].said));
		assert_non_null(strstr(seen.last_drop, "both ends must use the same --seal"));
		close(c.fd);
	}
	/* And alike is taken, unsealed too. */
	setup_gate_accepting(64, 16, BM_SEAL_ACCEPT(BM_SEAL_NONE));
	struct client c = {.fd = connect_from("10.0.0.1", 1, 0), .key = key_a, .suite = BM_SEAL_NONE, .result = 1};
	handshake(&c);
	assert_int_equal(c.result, 0);
	assert_true(seen.authenticated_fd >= 0);
	assert_int_equal(seen.session.suite, BM_SEAL_NONE);
	close(c.fd);
}

/* A frame bigger than a handshake's is rejected from its header, and a
 * peer that closes is dropped. */
static void test_oversized_and_closed(void **state)
{
	(void)state;
	setup_gate(64, 16);
	int big = connect_from("10.0.0.1", 1, 0);
	uint8_t payload[64] = {0}, frame[BM_FRAME_HEADER_SIZE + sizeof payload];
	size_t n = bm_frame_encode(frame, BM_MSG_HELLO, payload, sizeof payload);
	assert_int_equal(write(big, frame, BM_FRAME_HEADER_SIZE), BM_FRAME_HEADER_SIZE);
	(void)n;
	round_at(0, WAIT_MS);
	assert_int_equal(seen.drops[BM_GATE_FAILED], 1);
	assert_non_null(strstr(seen.last_drop, "at most 33 expected"));
	int gone = connect_from("10.0.0.1", 2, 0);
	close(gone);
	round_at(0, WAIT_MS);
	assert_int_equal(seen.drops[BM_GATE_FAILED], 2);
	assert_non_null(strstr(seen.last_drop, "connection closed by peer"));
	assert_int_equal(bm_gate_pending(&gate, NULL), 0);
	close(big);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_honest_client_among_strangers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_eviction_prefers_silent_then_oldest, setup, teardown),
		cmocka_unit_test_setup_teardown(test_total_bound_evicts_from_the_busiest_source, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deadline, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wrong_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refused_before_the_servers_proof, setup, teardown),
		cmocka_unit_test_setup_teardown(test_seal_mismatch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_oversized_and_closed, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
