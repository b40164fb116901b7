/* Sealing (migrator/seal.c, the sealed paths of transport.c, and
 * sealed_image.c): the known answers of docs/protocol.md §4 and
 * docs/image-format.md §8, computed from those documents with Python's
 * cryptography package, not with binmig; then frames altered byte by
 * byte, dropped, repeated, swapped, reflected, cut, and sealed image files
 * likewise.  Connections are socketpairs; what fits in a socket buffer is
 * written up front and read single-threaded. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"
#include "seal.h"
#include "sealed_image.h"
#include "transport.h"

/* The bound of every wait: in a round trip one end is a thread of its own,
 * which a loaded machine may run late. */
#define TIMEOUT_MS 20000

static const char kat_plain[] = "binmig sealed frame known answer"; /* 32 bytes */

static void unhex(const char *hex, uint8_t *out, size_t len)
{
	assert_int_equal(strlen(hex), 2 * len);
	for (size_t i = 0; i < len; i++) {
		unsigned v;
		assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
		out[i] = (uint8_t)v;
	}
}

/* K = 00 01 .. 1f, Nc = 32 x 11, Ns = 32 x 22: the handshake's own
 * known-answer inputs (protocol.md §5). */
static void kat_inputs(uint8_t key[BM_KEY_LEN], struct bm_session *s, enum bm_seal_suite suite)
{
	for (int i = 0; i < BM_KEY_LEN; i++)
		key[i] = (uint8_t)i;
	memset(s, 0, sizeof *s);
	s->suite = suite;
	memset(s->nonce_client, 0x11, BM_NONCE_LEN);
	memset(s->nonce_server, 0x22, BM_NONCE_LEN);
}

static const struct kat {
	enum bm_seal_suite suite;
	const char *client_to_server, *server_to_client, *ciphertext, *tag;
} kats[] = {
	{ BM_SEAL_AES_256_GCM, "e1a74f1434fb06c865f47568a471cb9027c657f9a0af35730ae9b216fd54b843",
	  "61bdf6424b0cc288b113c81265ae314f31118266b6e29f48e08109b498c0af7e",
	  "8288aac89643173ee91b8da0df67c1ff2cf3abdbae2593ad696e3ada6ba8ad96", "f311a82a99b59886bb99c53c6f0c779d" },
	{ BM_SEAL_CHACHA20_POLY1305, "0495b5712c0de90bbc9d46c1bbffc9f95ee66911138a0f6e045862ce6633fcc7",
	  "0f27ead4ab55b2651a45f73651b7e6390e45afb1aa7459f17fd9a8efdc778ab7",
	  "db39dbd2042b736fd578fbcce940acc34ffa16b218fac8237b4c653108872338", "b01beb31774ddea1cbc33244b61a3404" },
};
/* The frame: IMAGE_DATA, 32 bytes + tag, client to server, sequence 5. */
static const char kat_header[] = "424d020430000000000000006a7123f7";
#define KAT_SEQ 5
#define KAT_FRAME (BM_FRAME_HEADER_SIZE + 32 + BM_SEAL_TAG_LEN)

static void make_pair(int sv[2])
{
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
}

/* Both ends of a sealed connection over a socketpair. */
struct pair {
	int sv[2];
	struct bm_conn client, server;
};

static void open_pair(struct pair *p, enum bm_seal_suite suite)
{
	uint8_t key[BM_KEY_LEN];
	struct bm_session s;
	kat_inputs(key, &s, suite);
	make_pair(p->sv);
	assert_int_equal(bm_conn_open(&p->client, p->sv[0], key, &s, BM_ROLE_CLIENT), 0);
	assert_int_equal(bm_conn_open(&p->server, p->sv[1], key, &s, BM_ROLE_SERVER), 0);
}

static void close_pair(struct pair *p)
{
	bm_conn_free(&p->client);
	bm_conn_free(&p->server);
	close(p->sv[0]);
	close(p->sv[1]);
}

static size_t read_all(int fd, uint8_t *buf, size_t max)
{
	size_t got = 0;
	ssize_t n;
	while (got < max && (n = recv(fd, buf + got, max - got, MSG_DONTWAIT)) > 0)
		got += (size_t)n;
	return got;
}

static void write_all(int fd, const uint8_t *buf, size_t len)
{
	assert_int_equal(write(fd, buf, len), (ssize_t)len);
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
	bm_release_errors(false);
	bm_reset_errors();
	return 0;
}

/* ---- known answers ---- */

static void test_known_answer_keys_and_frame(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof kats / sizeof kats[0]; i++) {
		const struct kat *k = &kats[i];
		uint8_t key[BM_KEY_LEN], c2s[32], s2c[32], want[32];
		struct bm_session s;
		kat_inputs(key, &s, k->suite);
		assert_int_equal(bm_seal_session_keys(key, k->suite, s.nonce_client, s.nonce_server, c2s, s2c), 0);
		unhex(k->client_to_server, want, 32);
		assert_memory_equal(c2s, want, 32);
		unhex(k->server_to_client, want, 32);
		assert_memory_equal(s2c, want, 32);

		/* The whole frame on the wire, as the client sends it. */
		struct pair p;
		open_pair(&p, k->suite);
		p.client.send.seq = KAT_SEQ;
		assert_int_equal(bm_frame_send_buf(&p.client, BM_MSG_IMAGE_DATA, kat_plain, 32, TIMEOUT_MS), 0);
		uint8_t wire[KAT_FRAME + 1], expected[KAT_FRAME];
		assert_int_equal(read_all(p.sv[1], wire, sizeof wire), KAT_FRAME);
		unhex(kat_header, expected, BM_FRAME_HEADER_SIZE);
		unhex(k->ciphertext, expected + BM_FRAME_HEADER_SIZE, 32);
		unhex(k->tag, expected + BM_FRAME_HEADER_SIZE + 32, BM_SEAL_TAG_LEN);
		assert_memory_equal(wire, expected, KAT_FRAME);

		/* And the server opens it, at that sequence number only. */
		write_all(p.sv[0], wire, KAT_FRAME);
		p.server.recv.seq = KAT_SEQ;
		uint8_t got[64];
		size_t len;
		assert_int_equal(bm_frame_expect(&p.server, BM_MSG_IMAGE_DATA, got, sizeof got, &len, TIMEOUT_MS), 0);
		assert_int_equal(len, 32);
		assert_memory_equal(got, kat_plain, 32);
		assert_int_equal(p.server.recv.seq, KAT_SEQ + 1);
		close_pair(&p);
	}
}

static void test_known_answer_image_keys(void **state)
{
	(void)state;
	static const struct {
		enum bm_seal_suite suite;
		const char *key, *check;
	} want[] = {
		{ BM_SEAL_AES_256_GCM, "262ddb23438e5b7868d85905c208c96294066cabeb04aae7095c92c31537418f",
		  "e3b3e54d68c05946fdc34419d11e3c2c" },
		{ BM_SEAL_CHACHA20_POLY1305, "c338f4ffece43acf8e47096d075fe343809676687a25360e5016ae9bfbb9fcb2",
		  "1748e2aeb0b07020def35e0497af1c6f" },
	};
	uint8_t key[BM_KEY_LEN], salt[BM_SEALED_SALT_LEN], image_key[32], check[16], expect[32];
	for (int i = 0; i < BM_KEY_LEN; i++)
		key[i] = (uint8_t)i;
	memset(salt, 0x33, sizeof salt);
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
		assert_int_equal(bm_sealed_keys(key, want[i].suite, salt, image_key, check), 0);
		unhex(want[i].key, expect, 32);
		assert_memory_equal(image_key, expect, 32);
		unhex(want[i].check, expect, 16);
		assert_memory_equal(check, expect, 16);
	}
}

/* The whole sealed file of docs/image-format.md §8.3. */
static void test_known_answer_image_file(void **state)
{
	(void)state;
	static const char *const hex[] = {
		"89424d530d0a1a0a0100000001000000",
		"3333333333333333333333333333333333333333333333333333333333333333",
		"e3b3e54d68c05946fdc34419d11e3c2c4c4b6363",
		"424d020430000000000000006a7123f7",
		"26d2da462b674b4be40c08ef0223087174b20b3ff1c607f223e13afc9fd617a1",
		"20fa9cbc30e274e104439c20cead9433",
		"424d0205180000000000000061c6264c",
		"0d6e2c1c9a84e48b",
		"1f4714901606280cd9e572c29fff7a02",
	};
	uint8_t file[172];
	size_t len = 0;
	for (size_t i = 0; i < sizeof hex / sizeof hex[0]; i++) {
		unhex(hex[i], file + len, strlen(hex[i]) / 2);
		len += strlen(hex[i]) / 2;
	}
	assert_int_equal(len, sizeof file);
	uint8_t key[BM_KEY_LEN], got[32];
	for (int i = 0; i < BM_KEY_LEN; i++)
		key[i] = (uint8_t)i;
	int fd = memfd_create("kat", MFD_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, file, len), (ssize_t)len);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	struct bm_sealed_reader r;
	assert_int_equal(bm_sealed_reader_init(&r, bm_fd_source(&fd), key), 0);
	assert_int_equal(r.suite, BM_SEAL_AES_256_GCM);
	struct bm_source src = bm_sealed_reader_as_source(&r);
	assert_int_equal(src.read(src.ctx, got, sizeof got), (ssize_t)sizeof got);
	assert_memory_equal(got, kat_plain, sizeof got);
	assert_int_equal(bm_sealed_reader_finish(&r), 0);
	bm_sealed_reader_free(&r);
	close(fd);
}

static void test_suites(void **state)
{
	(void)state;
	enum bm_seal_suite suite;
	unsigned accept;
	assert_int_equal(bm_seal_parse("auto", &suite, &accept), 0);
	assert_int_equal(suite, bm_seal_preferred());
	assert_int_equal(accept, BM_SEAL_ACCEPT_AEAD);
	assert_int_equal(bm_seal_parse("none", &suite, &accept), 0);
	assert_int_equal(suite, BM_SEAL_NONE);
	assert_int_equal(accept, BM_SEAL_ACCEPT(BM_SEAL_NONE));
	assert_int_equal(bm_seal_parse("chacha20-poly1305", &suite, &accept), 0);
	assert_int_equal(suite, BM_SEAL_CHACHA20_POLY1305);
	assert_int_equal(bm_seal_parse("aes-256-gcm", &suite, &accept), 0);
	assert_int_equal(accept, BM_SEAL_ACCEPT(BM_SEAL_AES_256_GCM));
	assert_int_equal(bm_seal_parse("aes", &suite, &accept), -EINVAL);
	assert_string_equal(bm_seal_name(BM_SEAL_NONE), "none");
	assert_string_equal(bm_seal_name(7), "?");
	uint8_t nonce[BM_SEAL_NONCE_LEN], want[BM_SEAL_NONCE_LEN] = { 0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01 };
	bm_seal_nonce(0x0102030405060708ull, nonce);
	assert_memory_equal(nonce, want, sizeof want);
}

/* ---- round trips ---- */

/* Frames of every size class, through both suites, the payload gathered
 * from entries that cross the pieces sealing works in.  The client sends
 * from a thread: a frame can outgrow the socket buffer. */
struct sender {
	struct bm_conn *conn;
	struct iovec iov[3];
	int result;
};

static void *send_frame_thread(void *arg)
{
	struct sender *s = arg;
	s->result = bm_frame_send(s->conn, BM_MSG_IMAGE_DATA, s->iov, 3, TIMEOUT_MS);
	return NULL;
}

static void test_round_trip_sizes(void **state)
{
	(void)state;
	static const size_t sizes[] = { 0, 1, 15, 16, 17, BM_SEAL_PIECE - 1, BM_SEAL_PIECE, BM_SEAL_PIECE + 1,
					3 * BM_SEAL_PIECE + 12345 };
	size_t biggest = 3 * BM_SEAL_PIECE + 12345;
	uint8_t *data = malloc(biggest), *got = malloc(biggest);
	assert_non_null(data);
	assert_non_null(got);
	for (size_t i = 0; i < biggest; i++)
		data[i] = (uint8_t)(i * 131 + 7);
	for (size_t k = 0; k < sizeof kats / sizeof kats[0]; k++) {
		for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
			struct pair p;
			open_pair(&p, kats[k].suite);
			/* A third, at most one byte, the rest. */
			size_t a = sizes[i] / 3, b = sizes[i] - a > 0 ? 1 : 0;
			struct sender s = { &p.client, { { data, a }, { data + a, b }, { data + a + b, sizes[i] - a - b } }, 1 };
			pthread_t thread;
			assert_int_equal(pthread_create(&thread, NULL, send_frame_thread, &s), 0);
			size_t len = 1;
			int r = bm_frame_expect(&p.server, BM_MSG_IMAGE_DATA, got, biggest, &len, TIMEOUT_MS);
			pthread_join(thread, NULL);
			assert_int_equal(s.result, 0);
			assert_int_equal(r, 0);
			assert_int_equal(len, sizes[i]);
			if (len)
				assert_memory_equal(got, data, len);
			close_pair(&p);
		}
	}
	free(data);
	free(got);
}

/* Three frames, sealed; returns them in buf with their offsets. */
static size_t three_frames(struct pair *p, uint8_t *buf, size_t max, size_t at[4])
{
	static const char *const texts[] = { "first frame", "second one", "and a third" };
	size_t total = 0;
	for (int i = 0; i < 3; i++) {
		at[i] = total;
		assert_int_equal(bm_frame_send_buf(&p->client, BM_MSG_IMAGE_DATA, texts[i], strlen(texts[i]), TIMEOUT_MS),
				 0);
		total += read_all(p->sv[1], buf + total, max - total);
	}
	at[3] = total;
	return total;
}

/* Feeds bytes to the server and expects frames until one fails; returns
 * how many were accepted. */
static int accepted(struct pair *p, const uint8_t *bytes, size_t len, int *err)
{
	write_all(p->sv[0], bytes, len);
	shutdown(p->sv[0], SHUT_WR);
	uint8_t got[64];
	size_t n;
	int count = 0;
	while ((*err = bm_frame_expect(&p->server, BM_MSG_IMAGE_DATA, got, sizeof got, &n, TIMEOUT_MS)) == 0)
		count++;
	return count;
}

/* Any single byte of a sealed frame changed: refused, as an
 * authentication failure, before anything of it is handed on. */
static void test_every_byte_altered(void **state)
{
	(void)state;
	for (size_t k = 0; k < sizeof kats / sizeof kats[0]; k++) {
		struct pair p;
		open_pair(&p, kats[k].suite);
		uint8_t frame[128], tampered[128];
		assert_int_equal(bm_frame_send_buf(&p.client, BM_MSG_IMAGE_DATA, kat_plain, 32, TIMEOUT_MS), 0);
		size_t len = read_all(p.sv[1], frame, sizeof frame);
		assert_int_equal(len, KAT_FRAME);
		close_pair(&p);
		for (size_t at = 0; at < len; at++) {
			for (int bit = 0; bit < 8; bit += 7) {
				open_pair(&p, kats[k].suite);
				memcpy(tampered, frame, len);
				tampered[at] ^= (uint8_t)(1 << bit);
				bm_reset_errors();
				int err;
				assert_int_equal(accepted(&p, tampered, len, &err), 0);
				assert_true(err < 0);
				if (strncmp(bm_error_message(), "authentication failed: ", 23) != 0)
					fail_msg("byte %zu bit %d: \"%s\"", at, bit, bm_error_message());
				close_pair(&p);
			}
		}
	}
}

static void test_dropped_repeated_swapped_reflected_cut(void **state)
{
	(void)state;
	uint8_t frames[256], edited[512];
	size_t at[4];
	int err;
	for (size_t k = 0; k < sizeof kats / sizeof kats[0]; k++) {
		struct pair p;
		/* In order: all three. */
		open_pair(&p, kats[k].suite);
		size_t total = three_frames(&p, frames, sizeof frames, at);
		assert_int_equal(accepted(&p, frames, total, &err), 3);
		assert_int_equal(err, -ECONNRESET);
		close_pair(&p);

		/* The second dropped: the first passes, the third does not. */
		open_pair(&p, kats[k].suite);
		three_frames(&p, frames, sizeof frames, at);
		memcpy(edited, frames, at[1]);
		memcpy(edited + at[1], frames + at[2], at[3] - at[2]);
		bm_reset_errors();
		assert_int_equal(accepted(&p, edited, at[1] + at[3] - at[2], &err), 1);
		assert_int_equal(err, -EBADMSG);
		assert_non_null(strstr(bm_error_message(), "authentication failed: sealed IMAGE_DATA frame 1"));
		close_pair(&p);

		/* The first repeated. */
		open_pair(&p, kats[k].suite);
		three_frames(&p, frames, sizeof frames, at);
		memcpy(edited, frames, at[1]);
		memcpy(edited + at[1], frames, at[3]);
		assert_int_equal(accepted(&p, edited, at[1] + at[3], &err), 1);
		assert_int_equal(err, -EBADMSG);
		close_pair(&p);

		/* The first two swapped. */
		open_pair(&p, kats[k].suite);
		three_frames(&p, frames, sizeof frames, at);
		memcpy(edited, frames + at[1], at[2] - at[1]);
		memcpy(edited + at[2] - at[1], frames, at[1]);
		memcpy(edited + at[2], frames + at[2], at[3] - at[2]);
		assert_int_equal(accepted(&p, edited, at[3], &err), 0);
		assert_int_equal(err, -EBADMSG);
		close_pair(&p);

		/* A client's frame reflected back to the client: the other
		 * direction has the other key. */
		open_pair(&p, kats[k].suite);
		three_frames(&p, frames, sizeof frames, at);
		write_all(p.sv[1], frames, at[1]);
		uint8_t got[64];
		size_t n;
		assert_int_equal(bm_frame_expect(&p.client, BM_MSG_IMAGE_DATA, got, sizeof got, &n, TIMEOUT_MS), -EBADMSG);
		close_pair(&p);

		/* Cut in the middle of the second frame, and between frames. */
		open_pair(&p, kats[k].suite);
		three_frames(&p, frames, sizeof frames, at);
		assert_int_equal(accepted(&p, frames, at[1] + 20, &err), 1);
		assert_int_equal(err, -ECONNABORTED);
		close_pair(&p);
		open_pair(&p, kats[k].suite);
		three_frames(&p, frames, sizeof frames, at);
		assert_int_equal(accepted(&p, frames, at[2], &err), 2);
		assert_int_equal(err, -ECONNRESET);
		close_pair(&p);
	}
}

/* A plain frame where a sealed one is due (someone stripping the
 * sealing after the handshake) is refused. */
static void test_plain_frame_on_sealed_connection(void **state)
{
	(void)state;
	struct pair p;
	open_pair(&p, BM_SEAL_AES_256_GCM);
	struct bm_conn plain = bm_conn_plain(p.sv[0]);
	assert_int_equal(bm_frame_send_buf(&plain, BM_MSG_IMAGE_DATA, kat_plain, 32, TIMEOUT_MS), 0);
	uint8_t got[64];
	size_t n;
	bm_reset_errors();
	assert_true(bm_frame_expect(&p.server, BM_MSG_IMAGE_DATA, got, sizeof got, &n, TIMEOUT_MS) < 0);
	assert_non_null(strstr(bm_error_message(), "authentication failed: "));
	close_pair(&p);
}

/* ---- sealed image files ---- */

static int memfd_sink_fd = -1;

static void seal_to_memfd(enum bm_seal_suite suite, const uint8_t key[BM_KEY_LEN], const uint8_t *image, size_t len)
{
	memfd_sink_fd = memfd_create("sealed", MFD_CLOEXEC);
	assert_true(memfd_sink_fd >= 0);
	struct bm_sealed_writer w;
	assert_int_equal(bm_sealed_writer_init(&w, bm_fd_sink(&memfd_sink_fd), key, suite), 0);
	struct bm_sink sink = bm_sealed_writer_as_sink(&w);
	/* As the image writer writes: small pieces and large runs. */
	for (size_t done = 0; done < len;) {
		size_t n = (done / 7) % 3 == 0 ? 100 : 700000;
		if (n > len - done)
			n = len - done;
		struct iovec iov = { (void *)(image + done), n };
		assert_int_equal(sink.writev(sink.ctx, &iov, 1), 0);
		done += n;
	}
	assert_int_equal(bm_sealed_writer_finish(&w), 0);
	bm_sealed_writer_free(&w);
}

/* Reads the sealed image in fd back: 0 and the bytes, or the error. */
static int open_sealed(int fd, const uint8_t key[BM_KEY_LEN], uint8_t *out, size_t len)
{
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	struct bm_sealed_reader r;
	int rc = bm_sealed_reader_init(&r, bm_fd_source(&fd), key);
	struct bm_source src = bm_sealed_reader_as_source(&r);
	for (size_t done = 0; rc == 0 && done < len;) {
		size_t n = len - done < 300000 ? len - done : 300000;
		ssize_t got = src.read(src.ctx, out + done, n);
		rc = got == (ssize_t)n ? 0 : got < 0 ? (int)got : -ENODATA;
		done += n;
	}
	if (rc == 0)
		rc = bm_sealed_reader_finish(&r);
	bm_sealed_reader_free(&r);
	return rc;
}

static void test_sealed_image_file(void **state)
{
	(void)state;
	size_t len = (3u << 20) + 4321;
	uint8_t *image = malloc(len), *back = malloc(len);
	assert_non_null(image);
	assert_non_null(back);
	for (size_t i = 0; i < len; i++)
		image[i] = (uint8_t)(i * 29 + (i >> 13));
	uint8_t key[BM_KEY_LEN], other[BM_KEY_LEN];
	memset(key, 0x5a, sizeof key);
	memset(other, 0xa5, sizeof other);
	for (size_t k = 0; k < sizeof kats / sizeof kats[0]; k++) {
		seal_to_memfd(kats[k].suite, key, image, len);
		int fd = memfd_sink_fd;
		off_t size = lseek(fd, 0, SEEK_END);
		assert_int_equal(open_sealed(fd, key, back, len), 0);
		assert_memory_equal(back, image, len);
		bm_reset_errors();
		assert_int_equal(open_sealed(fd, other, back, len), -EKEYREJECTED);
		assert_non_null(strstr(bm_error_message(), "sealed with another key"));
		assert_int_equal(bm_exit_code(), BM_EXIT_IMAGE);

		/* A byte changed here and there: refused. */
		static const off_t spots[] = { 9, 30, BM_SEALED_HEADER_SIZE + 5, 1 << 20, -1 };
		for (size_t s = 0; s < sizeof spots / sizeof spots[0]; s++) {
			off_t at = spots[s] >= 0 ? spots[s] : size - 1;
			uint8_t b;
			assert_int_equal(pread(fd, &b, 1, at), 1);
			b ^= 0x10;
			assert_int_equal(pwrite(fd, &b, 1, at), 1);
			bm_reset_errors();
			assert_true(open_sealed(fd, key, back, len) < 0);
			assert_int_equal(bm_exit_code(), BM_EXIT_IMAGE);
			b ^= 0x10;
			assert_int_equal(pwrite(fd, &b, 1, at), 1);
		}
		/* Lengthened, then cut short on either side of IMAGE_END's start
		 * (40 bytes from the end: header, count, tag), shortest last. */
		assert_int_equal(pwrite(fd, "x", 1, size), 1);
		bm_reset_errors();
		assert_int_equal(open_sealed(fd, key, back, len), -EBADMSG);
		for (off_t cut = size - 39; cut >= size - 41; cut--) {
			assert_int_equal(ftruncate(fd, cut), 0);
			bm_reset_errors();
			assert_true(open_sealed(fd, key, back, len) < 0);
			if (!strstr(bm_error_message(), "cut short"))
				fail_msg("cut at %lld of %lld: %s", (long long)cut, (long long)size, bm_error_message());
		}
		close(fd);
	}
	free(image);
	free(back);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_known_answer_keys_and_frame, setup, teardown),
		cmocka_unit_test_setup_teardown(test_known_answer_image_keys, setup, teardown),
		cmocka_unit_test_setup_teardown(test_known_answer_image_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_suites, setup, teardown),
		cmocka_unit_test_setup_teardown(test_round_trip_sizes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_every_byte_altered, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dropped_repeated_swapped_reflected_cut, setup, teardown),
		cmocka_unit_test_setup_teardown(test_plain_frame_on_sealed_connection, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sealed_image_file, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
