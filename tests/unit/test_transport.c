/* The wire protocol: framing, the handshake, the image stream over frames,
 * key files.  Both ends run in this process: over a socketpair, with a
 * thread for the side that must run concurrently; anything small enough
 * for the socket buffer is written up front and read single-threaded. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "image.h"
#include "log.h"
#include "transport.h"

#define SHORT_TIMEOUT_MS 200
#define LONG_TIMEOUT_MS 20000

/* A plain connection over fd, for the frame functions (the sealed ones
 * are test_seal.c's). */
#define PLAIN(sock) (&(struct bm_conn){ .fd = (sock) })

/* ---- helpers ---- */

static void make_pair(int sv[2])
{
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
}

static void close_pair(int sv[2])
{
	if (sv[0] >= 0)
		close(sv[0]);
	if (sv[1] >= 0)
		close(sv[1]);
	sv[0] = sv[1] = -1;
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* A frame built from docs/protocol.md, independently of transport.c. */
static size_t encode_frame(uint8_t *out, uint8_t version, uint8_t type, const void *payload, uint32_t len)
{
	out[0] = 'B';
	out[1] = 'M';
	out[2] = version;
	out[3] = type;
	put32(out + 4, len);
	put32(out + 8, len ? bm_crc32c(0, payload, len) : 0);
	put32(out + 12, bm_crc32c(0, out, 12));
	if (len)
		memcpy(out + 16, payload, len);
	return 16 + (size_t)len;
}

static void write_raw(int fd, const void *buf, size_t len)
{
	assert_int_equal(write(fd, buf, len), (ssize_t)len);
}

static size_t unread_bytes(int fd)
{
	int n = -1;
	assert_int_equal(ioctl(fd, FIONREAD, &n), 0);
	return (size_t)n;
}

static uint8_t pattern_byte(size_t i)
{
	uint64_t x = (uint64_t)i * 0x9E3779B97F4A7C15ull;
	return (uint8_t)(x >> 56 ^ x >> 23);
}

static void fill_pattern(uint8_t *buf, size_t len, size_t seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = pattern_byte(i + seed);
}

/* stderr capture, to check what messages say (single-threaded sections). */
static int saved_stderr = -1, capture_fd = -1;
static char captured[8192];

static void capture_begin(void)
{
	fflush(stderr);
	capture_fd = memfd_create("stderr", MFD_CLOEXEC);
	assert_true(capture_fd >= 0);
	saved_stderr = dup(2);
	assert_true(saved_stderr >= 0);
	assert_true(dup2(capture_fd, 2) == 2);
	bm_reset_errors();
}

static const char *capture_end(void)
{
	fflush(stderr);
	dup2(saved_stderr, 2);
	close(saved_stderr);
	ssize_t n = pread(capture_fd, captured, sizeof captured - 1, 0);
	close(capture_fd);
	captured[n > 0 ? n : 0] = '\0';
	fputs(captured, stderr); /* keep it in the test log */
	return captured;
}

static int setup(void **state)
{
	(void)state;
	bm_reset_errors();
	return 0;
}

/* ---- framing ---- */

static void test_frame_layout_matches_docs(void **state)
{
	(void)state;
	/* The CRC the protocol names: CRC-32C, check value of "123456789". */
	assert_int_equal(bm_crc32c(0, "123456789", 9), 0xE3069283u);

	int sv[2];
	make_pair(sv);
	const char payload[] = "exactly these bytes";
	assert_int_equal(bm_frame_send_buf(PLAIN(sv[0]), BM_MSG_IMAGE_DATA, payload, sizeof payload, SHORT_TIMEOUT_MS), 0);
	uint8_t want[64], got[64];
	size_t want_len = encode_frame(want, BM_PROTO_VERSION, BM_MSG_IMAGE_DATA, payload, sizeof payload);
	assert_int_equal(unread_bytes(sv[1]), want_len);
	assert_int_equal(read(sv[1], got, sizeof got), (ssize_t)want_len);
	assert_memory_equal(got, want, want_len);
	close_pair(sv);
}

static void test_frame_round_trip_small(void **state)
{
	(void)state;
	int sv[2];
	make_pair(sv);
	uint8_t payload[100];
	fill_pattern(payload, sizeof payload, 7);
	assert_int_equal(bm_frame_send_buf(PLAIN(sv[0]), BM_MSG_CONFIRM, NULL, 0, SHORT_TIMEOUT_MS), 0);
	assert_int_equal(bm_frame_send_buf(PLAIN(sv[0]), BM_MSG_IMAGE_DATA, payload, 1, SHORT_TIMEOUT_MS), 0);
	struct iovec three[3] = { { payload, 10 }, { payload + 10, 0 }, { payload + 10, 90 } };
	assert_int_equal(bm_frame_send(PLAIN(sv[0]), BM_MSG_IMAGE_DATA, three, 3, SHORT_TIMEOUT_MS), 0);

	uint8_t buf[128], type = 0;
	size_t len = 99;
	assert_int_equal(bm_frame_recv(PLAIN(sv[1]), &type, buf, sizeof buf, &len, SHORT_TIMEOUT_MS), 0);
	assert_int_equal(type, BM_MSG_CONFIRM);
	assert_int_equal(len, 0);
	assert_int_equal(bm_frame_expect(PLAIN(sv[1]), BM_MSG_IMAGE_DATA, buf, sizeof buf, &len, SHORT_TIMEOUT_MS), 0);
	assert_int_equal(len, 1);
	assert_int_equal(buf[0], payload[0]);
	assert_int_equal(bm_frame_expect(PLAIN(sv[1]), BM_MSG_IMAGE_DATA, buf, 100, &len, SHORT_TIMEOUT_MS), 0);
	assert_int_equal(len, 100);
	assert_memory_equal(buf, payload, 100);
	assert_int_equal(unread_bytes(sv[1]), 0);
	assert_false(bm_error_reported());
	close_pair(sv);
}

#define MANY_FRAMES 300

struct frame_sender {
	int fd;
	int result;
};

static size_t many_frame_len(int i)
{
	if (i == MANY_FRAMES - 1)
		return BM_FRAME_MAX_PAYLOAD;
	return (size_t)(i * 7919) % (1u << 20);
}

static void *send_many_frames(void *arg)
{
	struct frame_sender *s = arg;
	uint8_t *buf = malloc(BM_FRAME_MAX_PAYLOAD);
	s->result = buf ? 0 : -ENOMEM;
	for (int i = 0; i < MANY_FRAMES && s->result == 0; i++) {
		size_t len = many_frame_len(i);
		fill_pattern(buf, len, (size_t)i);
		/* Gathered from two pieces, cut at a varying point. */
		size_t cut = len / (size_t)(i % 5 + 1);
		struct iovec iov[2] = { { buf, cut }, { buf + cut, len - cut } };
		s->result = bm_frame_send(PLAIN(s->fd), (enum bm_msg_type)(i % 9 + 1), iov, 2, LONG_TIMEOUT_MS);
	}
	free(buf);
	return NULL;
}

static void test_frame_round_trip_many_and_large(void **state)
{
	(void)state;
	int sv[2];
	make_pair(sv);
	struct frame_sender sender = { .fd = sv[0] };
	pthread_t thread;
	assert_int_equal(pthread_create(&thread, NULL, send_many_frames, &sender), 0);

	uint8_t *got = malloc(BM_FRAME_MAX_PAYLOAD), *want = malloc(BM_FRAME_MAX_PAYLOAD);
	int failures = 0;
	for (int i = 0; i < MANY_FRAMES; i++) {
		uint8_t type;
		size_t len;
		if (bm_frame_recv(PLAIN(sv[1]), &type, got, BM_FRAME_MAX_PAYLOAD, &len, LONG_TIMEOUT_MS) != 0) {
			failures++;
			break;
		}
		fill_pattern(want, many_frame_len(i), (size_t)i);
		if (type != i % 9 + 1 || len != many_frame_len(i) || memcmp(got, want, len) != 0)
			failures++;
	}
	pthread_join(thread, NULL);
	free(got);
	free(want);
	assert_int_equal(sender.result, 0);
	assert_int_equal(failures, 0);
	assert_int_equal(unread_bytes(sv[1]), 0);
	close_pair(sv);
}

static void test_frame_send_limits(void **state)
{
	(void)state;
	int sv[2];
	make_pair(sv);
	static const uint8_t byte = 0x5a;
	/* Refused from the lengths alone: nothing is read from the pieces
	 * (ASan would object) and nothing is sent. */
	struct iovec too_long[2] = { { (void *)&byte, BM_FRAME_MAX_PAYLOAD }, { (void *)&byte, 1 } };
	assert_int_equal(bm_frame_send(PLAIN(sv[0]), BM_MSG_IMAGE_DATA, too_long, 2, SHORT_TIMEOUT_MS), -EMSGSIZE);
	assert_int_equal(unread_bytes(sv[1]), 0);

	/* Many pieces are gathered into one frame. */
	struct iovec many[40];
	for (int i = 0; i < 40; i++)
		many[i] = (struct iovec){ (void *)&byte, 1 };
	assert_int_equal(bm_frame_send(PLAIN(sv[0]), BM_MSG_IMAGE_DATA, many, 40, SHORT_TIMEOUT_MS), 0);
	uint8_t buf[64], type, want[40];
	size_t len;
	assert_int_equal(bm_frame_recv(PLAIN(sv[1]), &type, buf, sizeof buf, &len, SHORT_TIMEOUT_MS), 0);
	assert_int_equal(len, 40);
	memset(want, byte, sizeof want);
	assert_memory_equal(buf, want, 40);
	close_pair(sv);
}

static void test_frame_truncated_at_every_cut(void **state)
{
	(void)state;
	uint8_t payload[40], frame[64];
	fill_pattern(payload, sizeof payload, 3);
	size_t total = encode_frame(frame, BM_PROTO_VERSION, BM_MSG_PROOF, payload, sizeof payload);
	for (size_t cut = 0; cut < total; cut++) {
		int sv[2];
		make_pair(sv);
		if (cut)
			write_raw(sv[0], frame, cut);
		close(sv[0]);
		sv[0] = -1;
		uint8_t buf[64];
		size_t len;
		capture_begin();
		int r = bm_frame_expect(PLAIN(sv[1]), BM_MSG_PROOF, buf, sizeof buf, &len, SHORT_TIMEOUT_MS);
		const char *msg = capture_end();
		if (cut == 0) {
			assert_int_equal(r, -ECONNRESET);
			assert_non_null(strstr(msg, "connection closed by peer while waiting for PROOF"));
		} else {
			assert_int_equal(r, -ECONNABORTED);
			assert_non_null(strstr(msg, "connection closed by peer in the middle of a frame"));
		}
		assert_int_equal(bm_exit_code(), BM_EXIT_NETWORK);
		close_pair(sv);
	}
}

static void test_frame_corrupt_byte_anywhere(void **state)
{
	(void)state;
	uint8_t payload[64], frame[96];
	fill_pattern(payload, sizeof payload, 11);
	size_t total = encode_frame(frame, BM_PROTO_VERSION, BM_MSG_IMAGE_DATA, payload, sizeof payload);
	static const uint8_t flips[] = { 0x01, 0x80, 0xff };
	for (size_t pos = 0; pos < total; pos++) {
		for (size_t f = 0; f < sizeof flips; f++) {
			int sv[2];
			make_pair(sv);
			uint8_t bad[96];
			memcpy(bad, frame, total);
			bad[pos] ^= flips[f];
			write_raw(sv[0], bad, total);
			uint8_t buf[96], type;
			size_t len;
			capture_begin();
			int r = bm_frame_recv(PLAIN(sv[1]), &type, buf, sizeof buf, &len, SHORT_TIMEOUT_MS);
			const char *msg = capture_end();
			if (pos < 2) {
				assert_int_equal(r, -EPROTO);
				assert_non_null(strstr(msg, "does not speak the binmig protocol"));
			} else if (pos < BM_FRAME_HEADER_SIZE) {
				assert_int_equal(r, -EBADMSG);
				assert_non_null(strstr(msg, "frame header CRC mismatch"));
			} else {
				assert_int_equal(r, -EBADMSG);
				assert_non_null(strstr(msg, "frame CRC mismatch in IMAGE_DATA (64 bytes"));
			}
			close_pair(sv);
		}
	}
}

static void test_frame_other_version_rejected(void **state)
{
	(void)state;
	int sv[2];
	make_pair(sv);
	uint8_t frame[32];
	size_t n = encode_frame(frame, 1, BM_MSG_HELLO, "x", 1);
	write_raw(sv[0], frame, n);
	uint8_t buf[32];
	size_t len;
	capture_begin();
	int r = bm_frame_expect(PLAIN(sv[1]), BM_MSG_HELLO, buf, sizeof buf, &len, SHORT_TIMEOUT_MS);
	const char *msg = capture_end();
	assert_int_equal(r, -EPROTO);
	assert_non_null(strstr(msg, "peer speaks protocol version 1, this binmig speaks version 2"));
	close_pair(sv);
}

static void test_frame_oversize_rejected_from_header(void **state)
{
	(void)state;
	uint8_t header[16], buf[100], type;
	size_t len;

	/* Beyond the protocol's limit: rejected although no payload follows
	 * and the sender keeps the connection open (reading on would time out). */
	int sv[2];
	make_pair(sv);
	encode_frame(header, BM_PROTO_VERSION, BM_MSG_IMAGE_DATA, NULL, 0);
	put32(header + 4, BM_FRAME_MAX_PAYLOAD + 1);
	put32(header + 12, bm_crc32c(0, header, 12));
	write_raw(sv[0], header, sizeof header);
	capture_begin();
	int r = bm_frame_recv(PLAIN(sv[1]), &type, buf, sizeof buf, &len, SHORT_TIMEOUT_MS);
	const char *msg = capture_end();
	assert_int_equal(r, -EMSGSIZE);
	assert_non_null(strstr(msg, "beyond the protocol's limit"));
	close_pair(sv);

	/* Within the protocol, beyond what the receiver accepts: the payload
	 * stays unread. */
	make_pair(sv);
	uint8_t frame[200];
	fill_pattern(frame + 100, 100, 0);
	size_t n = encode_frame(frame, BM_PROTO_VERSION, BM_MSG_PROOF, frame + 100, 33);
	write_raw(sv[0], frame, n);
	capture_begin();
	r = bm_frame_expect(PLAIN(sv[1]), BM_MSG_PROOF, buf, 32, &len, SHORT_TIMEOUT_MS);
	msg = capture_end();
	assert_int_equal(r, -EMSGSIZE);
	assert_non_null(strstr(msg, "peer sent 33 bytes of PROOF in one frame, at most 32 expected"));
	assert_int_equal(unread_bytes(sv[1]), 33);
	close_pair(sv);
}

static void test_frame_wrong_type(void **state)
{
	(void)state;
	int sv[2];
	uint8_t frame[64], buf[64], type;
	size_t len, n;

	make_pair(sv);
	n = encode_frame(frame, BM_PROTO_VERSION, BM_MSG_ERROR, "\x04\x00\x00\x00x", 5);
	write_raw(sv[0], frame, n);
	capture_begin();
	int r = bm_frame_expect(PLAIN(sv[1]), BM_MSG_CHALLENGE, buf, sizeof buf, &len, SHORT_TIMEOUT_MS);
	const char *msg = capture_end();
	/* ERROR is the peer's failure, reported with its class and message. */
	assert_int_equal(r, -EREMOTEIO);
	assert_int_equal(bm_exit_code(), BM_EXIT_UNSUPPORTED);
	assert_non_null(strstr(msg, "peer reported an error: x"));
	close_pair(sv);

	make_pair(sv);
	n = encode_frame(frame, BM_PROTO_VERSION, BM_MSG_RESULT, "abc", 3);
	write_raw(sv[0], frame, n);
	capture_begin();
	r = bm_frame_expect(PLAIN(sv[1]), BM_MSG_CHALLENGE, buf, sizeof buf, &len, SHORT_TIMEOUT_MS);
	msg = capture_end();
	assert_int_equal(r, -EPROTO);
	assert_non_null(strstr(msg, "peer sent frame type 6 (RESULT) where CHALLENGE was expected"));
	close_pair(sv);

	make_pair(sv);
	n = encode_frame(frame, BM_PROTO_VERSION, 42, "abc", 3);
	write_raw(sv[0], frame, n);
	capture_begin();
	r = bm_frame_recv(PLAIN(sv[1]), &type, buf, sizeof buf, &len, SHORT_TIMEOUT_MS);
	msg = capture_end();
	assert_int_equal(r, -EPROTO);
	assert_non_null(strstr(msg, "unknown type 42"));
	close_pair(sv);

	make_pair(sv);
	assert_int_equal(bm_send_message(PLAIN(sv[0]), BM_MSG_ABORT, BM_EXIT_TARGET, "source gave up", SHORT_TIMEOUT_MS), 0);
	capture_begin();
	r = bm_frame_expect(PLAIN(sv[1]), BM_MSG_CONFIRM, buf, sizeof buf, &len, SHORT_TIMEOUT_MS);
	msg = capture_end();
	assert_int_equal(r, -ECANCELED);
	assert_int_equal(bm_exit_code(), BM_EXIT_TARGET);
	assert_non_null(strstr(msg, "peer aborted the migration: source gave up"));
	close_pair(sv);
}

static void test_frame_timeouts(void **state)
{
	(void)state;
	int sv[2];
	make_pair(sv);
	uint8_t buf[64];
	size_t len;

	/* Nothing is ever sent, so the wait can only end by the timeout. */
	uint64_t start = now_ms();
	capture_begin();
	int r = bm_frame_expect(PLAIN(sv[1]), BM_MSG_HELLO, buf, sizeof buf, &len, SHORT_TIMEOUT_MS);
	const char *msg = capture_end();
	uint64_t took = now_ms() - start;
	assert_int_equal(r, -ETIMEDOUT);
	assert_true(took >= SHORT_TIMEOUT_MS && took < 5000);
	assert_non_null(strstr(msg, "timed out waiting for HELLO"));

	/* A peer that stops in the middle of a frame is timed out too. */
	uint8_t frame[64];
	encode_frame(frame, BM_PROTO_VERSION, BM_MSG_HELLO, buf, 32);
	write_raw(sv[0], frame, 20);
	r = bm_frame_expect(PLAIN(sv[1]), BM_MSG_HELLO, buf, sizeof buf, &len, SHORT_TIMEOUT_MS);
	assert_int_equal(r, -ETIMEDOUT);

	/* A peer that does not read: a frame larger than the socket buffers
	 * cannot be sent. */
	uint8_t *big = calloc(1, BM_FRAME_MAX_PAYLOAD);
	assert_non_null(big);
	start = now_ms();
	capture_begin();
	r = bm_frame_send_buf(PLAIN(sv[1]), BM_MSG_IMAGE_DATA, big, BM_FRAME_MAX_PAYLOAD, SHORT_TIMEOUT_MS);
	msg = capture_end();
	took = now_ms() - start;
	free(big);
	assert_int_equal(r, -ETIMEDOUT);
	assert_true(took >= SHORT_TIMEOUT_MS && took < 5000);
	assert_non_null(strstr(msg, "the peer does not read"));
	close_pair(sv);
}

static void test_send_to_closed_peer(void **state)
{
	(void)state;
	int sv[2];
	make_pair(sv);
	close(sv[1]);
	sv[1] = -1;
	/* EPIPE, and no SIGPIPE (which would end this test program). */
	capture_begin();
	int r = bm_frame_send_buf(PLAIN(sv[0]), BM_MSG_CONFIRM, NULL, 0, SHORT_TIMEOUT_MS);
	const char *msg = capture_end();
	assert_int_equal(r, -EPIPE);
	assert_non_null(strstr(msg, "connection closed by peer while sending CONFIRM"));
	close_pair(sv);
}

static void test_result_round_trip(void **state)
{
	(void)state;
	int sv[2];
	make_pair(sv);
	struct bm_result ok = { .status = 0, .pid = 4242, .transfer_us = 1, .as_restore_us = 2,
				.ctx_restore_us = 3, .image_bytes = 1ull << 40, .wire_bytes = 5 };
	struct bm_result fail = { .status = BM_EXIT_CONFLICT, .pid = 0 };
	snprintf(fail.message, sizeof fail.message, "PID 4242 is taken at the destination\n");
	assert_int_equal(bm_result_send(PLAIN(sv[0]), &ok, SHORT_TIMEOUT_MS), 0);
	assert_int_equal(bm_result_send(PLAIN(sv[0]), &fail, SHORT_TIMEOUT_MS), 0);

	struct bm_result got;
	assert_int_equal(bm_result_recv(PLAIN(sv[1]), &got, SHORT_TIMEOUT_MS), 0);
	assert_int_equal(got.status, 0);
	assert_int_equal(got.pid, 4242);
	assert_int_equal(got.transfer_us, 1);
	assert_int_equal(got.as_restore_us, 2);
	assert_int_equal(got.ctx_restore_us, 3);
	assert_int_equal(got.image_bytes, 1ull << 40);
	assert_int_equal(got.wire_bytes, 5);
	assert_string_equal(got.message, "");
	assert_int_equal(bm_result_recv(PLAIN(sv[1]), &got, SHORT_TIMEOUT_MS), 0);
	assert_int_equal(got.status, BM_EXIT_CONFLICT);
	assert_int_equal(got.pid, 0);
	/* Control characters from the peer are not passed to the terminal. */
	assert_string_equal(got.message, "PID 4242 is taken at the destination?");

	/* Success without a PID is not a success. */
	struct bm_result bad = { .status = 0, .pid = 0 };
	assert_int_equal(bm_result_send(PLAIN(sv[0]), &bad, SHORT_TIMEOUT_MS), 0);
	assert_int_equal(bm_result_recv(PLAIN(sv[1]), &got, SHORT_TIMEOUT_MS), -EPROTO);
	uint8_t frame[64];
	size_t n = encode_frame(frame, BM_PROTO_VERSION, BM_MSG_RESULT, "short", 5);
	write_raw(sv[0], frame, n);
	assert_int_equal(bm_result_recv(PLAIN(sv[1]), &got, SHORT_TIMEOUT_MS), -EPROTO);
	close_pair(sv);
}

/* A malformed ERROR or ABORT payload is reported, and still leaves a
 * defined class and message: the daemon's file mode and migrate's look
 * for the destination's explanation use them whatever the result. */
static void test_malformed_message_leaves_defined_outputs(void **state)
{
	(void)state;
	static uint8_t too_long[4 + BM_MESSAGE_MAX + 1];
	const struct { const void *payload; size_t len; const char *says; } cases[] = {
		{ "\x05\x00", 2, "malformed message from peer (2 bytes)" },
		{ too_long, sizeof too_long, "malformed message from peer (1029 bytes)" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		enum bm_exit class = BM_EXIT_TARGET;
		char msg[16];
		memset(msg, 'x', sizeof msg);
		capture_begin();
		int r = bm_decode_message(cases[i].payload, cases[i].len, &class, msg, sizeof msg);
		const char *out = capture_end();
		assert_int_equal(r, -EPROTO);
		assert_non_null(strstr(out, cases[i].says));
		assert_int_equal(class, BM_EXIT_NETWORK);
		assert_string_equal(msg, "");
	}
}

/* ---- authentication ---- */

static const uint8_t key_a[BM_KEY_LEN] = "0123456789abcdef0123456789abcde";
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

/* ---- the image stream ---- */

#define STREAM_SIZE (34u << 20)

struct stream_writer {
	int fd;
	struct bm_conn conn;
	const struct bm_session *session; /* sealed with it, or plain if NULL */
	const uint8_t *data;
	int (*plan)(struct bm_sink *sink, const uint8_t *data);
	int result;
	struct bm_wire_sink ws;
};

static int write_piece(struct bm_sink *sink, const uint8_t *data, size_t *pos, size_t a, size_t b)
{
	/* Two pieces, as the image encoder writes a header and a body. */
	struct iovec iov[2] = { { (void *)(data + *pos), a }, { (void *)(data + *pos + a), b } };
	*pos += a + b;
	return sink->writev(sink->ctx, iov, b ? 2 : 1);
}

/* Small writes, writes that overflow the gathered bytes, one larger than a
 * frame may be, page-sized writes and MiB writes; STREAM_SIZE in all. */
static int plan_mixed(struct bm_sink *sink, const uint8_t *data)
{
	size_t pos = 0;
	int r = 0;
	for (int i = 0; i < 3000 && r == 0; i++)
		r = write_piece(sink, data, &pos, (size_t)(i * 37 % 97 + 1), 0);
	if (r == 0)
		r = write_piece(sink, data, &pos, 100000, 200000);
	if (r == 0)
		r = write_piece(sink, data, &pos, 64, 4u << 20);
	if (r == 0)
		r = write_piece(sink, data, &pos, 20u << 20, 3);
	for (int i = 0; i < 1000 && r == 0; i++)
		r = write_piece(sink, data, &pos, 4096, 0);
	while (r == 0 && pos + (1u << 20) <= STREAM_SIZE)
		r = write_piece(sink, data, &pos, 1u << 20, 0);
	if (r == 0 && pos < STREAM_SIZE)
		r = write_piece(sink, data, &pos, STREAM_SIZE - pos, 0);
	return r;
}

/* 1 MiB in 16-byte writes: exactly four gathered frames. */
static int plan_small_writes(struct bm_sink *sink, const uint8_t *data)
{
	size_t pos = 0;
	int r = 0;
	while (r == 0 && pos < (1u << 20))
		r = write_piece(sink, data, &pos, 16, 0);
	return r;
}

/* 100 gathered bytes, then 4 MiB: one frame carrying both. */
static int plan_pass_through(struct bm_sink *sink, const uint8_t *data)
{
	size_t pos = 0;
	int r = write_piece(sink, data, &pos, 100, 0);
	if (r == 0)
		r = write_piece(sink, data, &pos, 4u << 20, 0);
	return r;
}

static void *run_stream_writer(void *arg)
{
	struct stream_writer *w = arg;
	w->conn = bm_conn_plain(w->fd);
	if (w->session && (w->result = bm_conn_open(&w->conn, w->fd, key_a, w->session, BM_ROLE_CLIENT)) < 0)
		return NULL;
	w->result = bm_wire_sink_init(&w->ws, &w->conn, LONG_TIMEOUT_MS);
	if (w->result == 0) {
		struct bm_sink sink = bm_wire_sink_as_sink(&w->ws);
		w->result = w->plan(&sink, w->data);
	}
	if (w->result == 0)
		w->result = bm_wire_sink_finish(&w->ws);
	bm_wire_sink_free(&w->ws);
	bm_conn_free(&w->conn);
	return NULL;
}

/* Streams with `plan` and reads it back in reads of varying sizes, on a
 * connection sealed with session (plain if NULL); returns how many bytes
 * matched.  *src is left for the caller to check. */
static size_t stream_round_trip_on(int (*plan)(struct bm_sink *, const uint8_t *), size_t expected_size,
				   const struct bm_session *session, struct stream_writer *writer,
				   struct bm_wire_source *src)
{
	static const size_t read_sizes[] = { 1, 13, 4096, 65536, (3u << 20) + 5, 100, 300000 };
	uint8_t *data = malloc(STREAM_SIZE), *got = malloc((3u << 20) + 5);
	assert_non_null(data);
	assert_non_null(got);
	fill_pattern(data, STREAM_SIZE, 99);
	int sv[2];
	make_pair(sv);
	*writer = (struct stream_writer){ .fd = sv[0], .session = session, .data = data, .plan = plan };
	pthread_t thread;
	assert_int_equal(pthread_create(&thread, NULL, run_stream_writer, writer), 0);

	struct bm_conn conn = bm_conn_plain(sv[1]);
	if (session)
		assert_int_equal(bm_conn_open(&conn, sv[1], key_a, session, BM_ROLE_SERVER), 0);
	bm_wire_source_init(src, &conn, LONG_TIMEOUT_MS);
	struct bm_source source = bm_wire_source_as_source(src);
	size_t pos = 0;
	for (int i = 0; pos < expected_size; i++) {
		size_t want = read_sizes[i % (sizeof read_sizes / sizeof read_sizes[0])];
		if (want > expected_size - pos)
			want = expected_size - pos;
		if (source.read(source.ctx, got, want) != (ssize_t)want || memcmp(got, data + pos, want) != 0)
			break;
		pos += want;
	}
	int end_read = -1, finish = -1;
	if (pos == expected_size) {
		end_read = (int)source.read(source.ctx, got, 10);
		finish = bm_wire_source_finish(src);
	}
	pthread_join(thread, NULL);
	bm_wire_source_free(src);
	bm_conn_free(&conn);
	src->conn = NULL;
	free(data);
	free(got);
	close_pair(sv);
	assert_int_equal(writer->result, 0);
	assert_int_equal(end_read, 0);
	assert_int_equal(finish, 0);
	return pos;
}

static size_t stream_round_trip(int (*plan)(struct bm_sink *, const uint8_t *), size_t expected_size,
				struct stream_writer *writer, struct bm_wire_source *src)
{
	return stream_round_trip_on(plan, expected_size, NULL, writer, src);
}

static void test_stream_round_trip_mixed(void **state)
{
	(void)state;
	struct stream_writer w;
	struct bm_wire_source src;
	assert_int_equal(stream_round_trip(plan_mixed, STREAM_SIZE, &w, &src), STREAM_SIZE);
	assert_true(src.ended);
	assert_int_equal(w.ws.image_bytes, STREAM_SIZE);
	assert_int_equal(src.image_bytes, STREAM_SIZE);
	assert_int_equal(src.wire_bytes, w.ws.wire_bytes);
	assert_int_equal(src.frames, w.ws.frames);
	assert_int_equal(w.ws.wire_bytes, STREAM_SIZE + 8 + BM_FRAME_HEADER_SIZE * w.ws.frames);
	assert_true(src.first_frame_ns > 0 && src.end_ns >= src.first_frame_ns);
	assert_false(bm_error_reported());
}

/* The same streams sealed, with either AEAD: the bytes come out as they
 * went in, every frame one tag longer. */
static void test_stream_round_trip_sealed(void **state)
{
	(void)state;
	static const enum bm_seal_suite suites[] = { BM_SEAL_AES_256_GCM, BM_SEAL_CHACHA20_POLY1305 };
	for (size_t i = 0; i < sizeof suites / sizeof suites[0]; i++) {
		struct bm_session session = { .suite = suites[i] };
		memset(session.nonce_client, 0x11 + (int)i, BM_NONCE_LEN);
		memset(session.nonce_server, 0x22, BM_NONCE_LEN);
		struct stream_writer w;
		struct bm_wire_source src;
		assert_int_equal(stream_round_trip_on(plan_mixed, STREAM_SIZE, &session, &w, &src), STREAM_SIZE);
		assert_true(src.ended);
		assert_int_equal(src.frames, w.ws.frames);
		assert_int_equal(src.wire_bytes, w.ws.wire_bytes);
		assert_int_equal(w.ws.wire_bytes, STREAM_SIZE + 8 + (BM_FRAME_HEADER_SIZE + BM_SEAL_TAG_LEN) * w.ws.frames);
		assert_int_equal(stream_round_trip_on(plan_pass_through, (4u << 20) + 100, &session, &w, &src),
				 (4u << 20) + 100);
		assert_int_equal(w.ws.frames, 2);
		assert_false(bm_error_reported());
	}
}

static void test_stream_gathers_small_writes(void **state)
{
	(void)state;
	struct stream_writer w;
	struct bm_wire_source src;
	assert_int_equal(stream_round_trip(plan_small_writes, 1u << 20, &w, &src), 1u << 20);
	assert_int_equal(w.ws.frames, 5); /* 4 x 256 KiB and IMAGE_END */
	assert_int_equal(src.frames, 5);
	assert_int_equal(src.wire_bytes, (1u << 20) + 8 + 5 * BM_FRAME_HEADER_SIZE);
}

static void test_stream_passes_large_writes_through(void **state)
{
	(void)state;
	struct stream_writer w;
	struct bm_wire_source src;
	assert_int_equal(stream_round_trip(plan_pass_through, (4u << 20) + 100, &w, &src), (4u << 20) + 100);
	assert_int_equal(w.ws.frames, 2); /* one IMAGE_DATA, IMAGE_END */
	assert_int_equal(src.frames, 2);
}

/* A stream written frame by frame into the socket buffer up front. */
static void put_frame(int fd, uint8_t type, const void *payload, uint32_t len)
{
	uint8_t frame[256];
	assert_true(len <= sizeof frame - BM_FRAME_HEADER_SIZE);
	write_raw(fd, frame, encode_frame(frame, BM_PROTO_VERSION, type, payload, len));
}

static void put_end(int fd, uint64_t count)
{
	uint8_t le[8];
	for (int i = 0; i < 8; i++)
		le[i] = (uint8_t)(count >> (8 * i));
	put_frame(fd, BM_MSG_IMAGE_END, le, 8);
}

static void test_stream_errors(void **state)
{
	(void)state;
	int sv[2];
	struct bm_conn conn;
	struct bm_wire_source src;
	struct bm_source source;
	uint8_t buf[64];

#define OPEN_STREAM()                                                   \
	do {                                                            \
		bm_reset_errors();                                      \
		make_pair(sv);                                          \
		conn = bm_conn_plain(sv[1]);                            \
		bm_wire_source_init(&src, &conn, SHORT_TIMEOUT_MS);     \
		source = bm_wire_source_as_source(&src);                \
	} while (0)
#define CLOSE_STREAM()                     \
	do {                               \
		bm_wire_source_free(&src); \
		close_pair(sv);            \
	} while (0)

	/* A clean end: the bytes, then 0. */
	OPEN_STREAM();
	put_frame(sv[0], BM_MSG_IMAGE_DATA, "abc", 3);
	put_end(sv[0], 3);
	assert_int_equal(source.read(source.ctx, buf, 3), 3);
	assert_int_equal(source.read(source.ctx, buf, 1), 0);
	assert_int_equal(bm_wire_source_finish(&src), 0);
	CLOSE_STREAM();

	/* The image ends in the middle of a read: a truncated image. */
	OPEN_STREAM();
	put_frame(sv[0], BM_MSG_IMAGE_DATA, "abc", 3);
	put_end(sv[0], 3);
	assert_int_equal(source.read(source.ctx, buf, 5), -ENODATA);
	assert_int_equal(bm_exit_code(), BM_EXIT_IMAGE);
	CLOSE_STREAM();

	/* IMAGE_END counts bytes that never came. */
	OPEN_STREAM();
	put_frame(sv[0], BM_MSG_IMAGE_DATA, "abc", 3);
	put_end(sv[0], 5);
	assert_int_equal(source.read(source.ctx, buf, 3), 3);
	assert_int_equal(bm_wire_source_finish(&src), -EPROTO);
	CLOSE_STREAM();

	/* Bytes left after the image's end. */
	OPEN_STREAM();
	put_frame(sv[0], BM_MSG_IMAGE_DATA, "abcdef", 6);
	put_end(sv[0], 6);
	assert_int_equal(source.read(source.ctx, buf, 2), 2);
	capture_begin();
	int r = bm_wire_source_finish(&src);
	const char *msg = capture_end();
	assert_int_equal(r, -EPROTO);
	assert_non_null(strstr(msg, "4 bytes after the end of the image"));
	CLOSE_STREAM();

	/* The sender aborts in the middle. */
	OPEN_STREAM();
	put_frame(sv[0], BM_MSG_IMAGE_DATA, "abc", 3);
	bm_send_message(PLAIN(sv[0]), BM_MSG_ABORT, BM_EXIT_IO, "disk full", SHORT_TIMEOUT_MS);
	capture_begin();
	r = (int)source.read(source.ctx, buf, 4);
	msg = capture_end();
	assert_int_equal(r, -ECANCELED);
	assert_non_null(strstr(msg, "peer aborted the migration: disk full"));
	CLOSE_STREAM();

	/* A frame that has no place in the stream. */
	OPEN_STREAM();
	put_frame(sv[0], BM_MSG_CONFIRM, NULL, 0);
	capture_begin();
	r = (int)source.read(source.ctx, buf, 4);
	msg = capture_end();
	assert_int_equal(r, -EPROTO);
	assert_non_null(strstr(msg, "peer sent frame type 7 (CONFIRM) where IMAGE_DATA or IMAGE_END was expected"));
	CLOSE_STREAM();

	/* An empty IMAGE_DATA frame. */
	OPEN_STREAM();
	put_frame(sv[0], BM_MSG_IMAGE_DATA, NULL, 0);
	assert_int_equal(source.read(source.ctx, buf, 4), -EPROTO);
	CLOSE_STREAM();

	/* The connection closes without IMAGE_END. */
	OPEN_STREAM();
	put_frame(sv[0], BM_MSG_IMAGE_DATA, "abc", 3);
	close(sv[0]);
	sv[0] = -1;
	assert_int_equal(source.read(source.ctx, buf, 3), 3);
	assert_int_equal(source.read(source.ctx, buf, 1), -ECONNRESET);
	CLOSE_STREAM();

	/* A huge announced length is refused before anything is allocated. */
	OPEN_STREAM();
	uint8_t header[16];
	encode_frame(header, BM_PROTO_VERSION, BM_MSG_IMAGE_DATA, NULL, 0);
	put32(header + 4, 0xfffffff0u);
	put32(header + 12, bm_crc32c(0, header, 12));
	write_raw(sv[0], header, sizeof header);
	assert_int_equal(source.read(source.ctx, buf, 4), -EMSGSIZE);
	assert_int_equal(src.buf_size, 0);
	CLOSE_STREAM();
#undef OPEN_STREAM
#undef CLOSE_STREAM
}

/* ---- key files ---- */

static char key_dir[64];

static int key_setup(void **state)
{
	(void)state;
	bm_reset_errors();
	strcpy(key_dir, "/tmp/test_transport.XXXXXX");
	return mkdtemp(key_dir) ? 0 : -1;
}

static int key_teardown(void **state)
{
	(void)state;
	static const char *const names[] = { "key", "bad", "link" };
	char path[128];
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		snprintf(path, sizeof path, "%s/%s", key_dir, names[i]);
		unlink(path);
	}
	return rmdir(key_dir);
}

static void key_path(char *path, size_t size, const char *name)
{
	snprintf(path, size, "%s/%s", key_dir, name);
}

static void write_key_file(const char *path, const char *content, mode_t mode)
{
	unlink(path);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	write_raw(fd, content, strlen(content));
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

static void test_keygen_and_load(void **state)
{
	(void)state;
	char path[128], text[80];
	key_path(path, sizeof path, "key");
	mode_t old_umask = umask(0);
	int r = bm_keygen(path);
	umask(old_umask);
	assert_int_equal(r, 0);

	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_size, 65);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_int_equal(read(fd, text, sizeof text), 65);
	close(fd);
	assert_int_equal(text[64], '\n');

	uint8_t key[BM_KEY_LEN];
	assert_int_equal(bm_key_load(path, key), 0);
	for (int i = 0; i < BM_KEY_LEN; i++) {
		unsigned byte;
		char two[3] = { text[2 * i], text[2 * i + 1], 0 };
		assert_int_equal(sscanf(two, "%2x", &byte), 1);
		assert_int_equal(key[i], byte);
	}

	/* Never overwritten. */
	capture_begin();
	r = bm_keygen(path);
	const char *msg = capture_end();
	assert_int_equal(r, -EEXIST);
	assert_non_null(strstr(msg, "already exists; refusing to overwrite it"));
	uint8_t again[BM_KEY_LEN];
	assert_int_equal(bm_key_load(path, again), 0);
	assert_memory_equal(key, again, BM_KEY_LEN);

	/* Nor through a symbolic link. */
	char link_path[128], bad[128];
	key_path(link_path, sizeof link_path, "link");
	key_path(bad, sizeof bad, "bad");
	assert_int_equal(symlink(bad, link_path), 0);
	assert_int_equal(bm_keygen(link_path), -EEXIST);
	assert_int_equal(access(bad, F_OK), -1);

	/* Two keys differ. */
	assert_int_equal(bm_keygen(bad), 0);
	assert_int_equal(bm_key_load(bad, again), 0);
	assert_memory_not_equal(key, again, BM_KEY_LEN);
}

static void expect_load_failure(const char *content, mode_t mode, int err, const char *text)
{
	char path[128];
	key_path(path, sizeof path, "bad");
	write_key_file(path, content, mode);
	uint8_t key[BM_KEY_LEN];
	capture_begin();
	int r = bm_key_load(path, key);
	const char *msg = capture_end();
	assert_int_equal(r, err);
	assert_non_null(strstr(msg, text));
	assert_int_equal(bm_exit_code(), BM_EXIT_USAGE);
}

static void test_key_load_checks(void **state)
{
	(void)state;
	static const char good[] = "00112233445566778899aabbccddeeffFFEEDDCCBBAA99887766554433221100\n";
	char path[128];
	key_path(path, sizeof path, "bad");
	uint8_t key[BM_KEY_LEN];

	write_key_file(path, good, 0600);
	assert_int_equal(bm_key_load(path, key), 0);
	assert_int_equal(key[0], 0x00);
	assert_int_equal(key[1], 0x11);
	assert_int_equal(key[15], 0xff);
	assert_int_equal(key[16], 0xff);
	assert_int_equal(key[31], 0x00);
	write_key_file(path, good, 0400);
	assert_int_equal(bm_key_load(path, key), 0);
	/* The newline is optional. */
	char no_newline[80];
	snprintf(no_newline, sizeof no_newline, "%.64s", good);
	write_key_file(path, no_newline, 0600);
	assert_int_equal(bm_key_load(path, key), 0);

	expect_load_failure(good, 0644, -EPERM, "is readable by others (mode 0644); chmod 600 it");
	expect_load_failure(good, 0640, -EPERM, "is readable by its group (mode 0640); chmod 600 it");
	expect_load_failure(good, 0620, -EPERM, "is writable by its group (mode 0620)");
	expect_load_failure(good, 0606, -EPERM, "is readable and writable by others (mode 0606)");
	expect_load_failure(good, 0601, -EPERM, "is executable by others (mode 0601)");
	expect_load_failure("", 0600, -EINVAL, "is empty");
	expect_load_failure("00112233\n", 0600, -EINVAL, "holds 8 characters; a key is 64 hexadecimal digits");
	char longer[160];
	snprintf(longer, sizeof longer, "%s%s", good, good);
	expect_load_failure(longer, 0600, -EINVAL, "is too long");
	char bad_digit[80];
	snprintf(bad_digit, sizeof bad_digit, "%s", good);
	bad_digit[9] = 'g';
	expect_load_failure(bad_digit, 0600, -EINVAL, "character 10 is not a hexadecimal digit");
	char two_newlines[80];
	snprintf(two_newlines, sizeof two_newlines, "%.64s\n\n", good);
	expect_load_failure(two_newlines, 0600, -EINVAL, "holds 65 characters");

	/* Not a regular file. */
	capture_begin();
	int r = bm_key_load(key_dir, key);
	const char *msg = capture_end();
	assert_int_equal(r, -EINVAL);
	assert_non_null(strstr(msg, "is not a regular file"));
	/* Missing. */
	key_path(path, sizeof path, "missing");
	assert_int_equal(bm_key_load(path, key), -ENOENT);

	/* Someone else's file (checkable only as root, who may chown). */
	if (geteuid() == 0) {
		key_path(path, sizeof path, "bad");
		write_key_file(path, good, 0600);
		assert_int_equal(chown(path, 65534, 65534), 0);
		bm_reset_errors();
		capture_begin();
		r = bm_key_load(path, key);
		msg = capture_end();
		assert_int_equal(r, -EPERM);
		assert_non_null(strstr(msg, "belongs to uid 65534"));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_frame_layout_matches_docs, setup),
		cmocka_unit_test_setup(test_frame_round_trip_small, setup),
		cmocka_unit_test_setup(test_frame_round_trip_many_and_large, setup),
		cmocka_unit_test_setup(test_frame_send_limits, setup),
		cmocka_unit_test_setup(test_frame_truncated_at_every_cut, setup),
		cmocka_unit_test_setup(test_frame_corrupt_byte_anywhere, setup),
		cmocka_unit_test_setup(test_frame_other_version_rejected, setup),
		cmocka_unit_test_setup(test_frame_oversize_rejected_from_header, setup),
		cmocka_unit_test_setup(test_frame_wrong_type, setup),
		cmocka_unit_test_setup(test_frame_timeouts, setup),
		cmocka_unit_test_setup(test_send_to_closed_peer, setup),
		cmocka_unit_test_setup(test_result_round_trip, setup),
		cmocka_unit_test_setup(test_malformed_message_leaves_defined_outputs, setup),
		cmocka_unit_test_setup(test_auth_proof_known_answer, setup),
		cmocka_unit_test_setup(test_auth_right_key, setup),
		cmocka_unit_test_setup(test_auth_wrong_key_both_fail, setup),
		cmocka_unit_test_setup(test_auth_server_reads_nothing_after_bad_proof, setup),
		cmocka_unit_test_setup(test_auth_replayed_proof_rejected, setup),
		cmocka_unit_test_setup(test_auth_reflection_rejected, setup),
		cmocka_unit_test_setup(test_auth_timeouts, setup),
		cmocka_unit_test_setup(test_auth_foreign_or_closing_peer, setup),
		cmocka_unit_test_setup(test_stream_round_trip_mixed, setup),
		cmocka_unit_test_setup(test_stream_round_trip_sealed, setup),
		cmocka_unit_test_setup(test_stream_gathers_small_writes, setup),
		cmocka_unit_test_setup(test_stream_passes_large_writes_through, setup),
		cmocka_unit_test_setup(test_stream_errors, setup),
		cmocka_unit_test_setup_teardown(test_keygen_and_load, key_setup, key_teardown),
		cmocka_unit_test_setup_teardown(test_key_load_checks, key_setup, key_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
