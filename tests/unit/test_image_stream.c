/* The image stream over frames (transport.c's wire sink and source),
 * plain and sealed: round trips with writes of every size, gathering,
 * pass-through, and every way a stream can go wrong. */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "unit_net.h"

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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_stream_round_trip_mixed, setup),
		cmocka_unit_test_setup(test_stream_round_trip_sealed, setup),
		cmocka_unit_test_setup(test_stream_gathers_small_writes, setup),
		cmocka_unit_test_setup(test_stream_passes_large_writes_through, setup),
		cmocka_unit_test_setup(test_stream_errors, setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
