/* The wire protocol's frames (transport.c): layout, round trips, limits,
 * truncation, corruption, versions, types, timeouts, and the RESULT,
 * ERROR and ABORT messages.  The handshake is test_auth.c's, the image
 * stream test_image_stream.c's, key files test_keyfile.c's. */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "unit_net.h"

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
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
