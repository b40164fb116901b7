/* Helpers of the wire protocol tests (test_transport.c, test_auth.c,
 * test_image_stream.c, test_keyfile.c).  Both ends run in one process: over
 * a socketpair, with a thread for the side that must run concurrently;
 * anything small enough for the socket buffer is written up front and read
 * single-threaded. */
#ifndef BINMIG_UNIT_NET_H
#define BINMIG_UNIT_NET_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "image.h"
#include "log.h"
#include "transport.h"

#define SHORT_TIMEOUT_MS 200
#define LONG_TIMEOUT_MS 20000

/* A plain connection over fd, for the frame functions (the sealed ones
 * are test_seal.c's). */
#define PLAIN(sock) (&(struct bm_conn){ .fd = (sock) })

/* The key both ends share in the handshake and sealed-stream tests. */
static const uint8_t key_a[BM_KEY_LEN] = "0123456789abcdef0123456789abcde";

static inline void make_pair(int sv[2])
{
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
}

static inline void close_pair(int sv[2])
{
	if (sv[0] >= 0)
		close(sv[0]);
	if (sv[1] >= 0)
		close(sv[1]);
	sv[0] = sv[1] = -1;
}

static inline uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static inline void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* A frame built from docs/protocol.md, independently of transport.c. */
static inline size_t encode_frame(uint8_t *out, uint8_t version, uint8_t type, const void *payload, uint32_t len)
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

static inline void write_raw(int fd, const void *buf, size_t len)
{
	assert_int_equal(write(fd, buf, len), (ssize_t)len);
}

static inline size_t unread_bytes(int fd)
{
	int n = -1;
	assert_int_equal(ioctl(fd, FIONREAD, &n), 0);
	return (size_t)n;
}

static inline uint8_t pattern_byte(size_t i)
{
	uint64_t x = (uint64_t)i * 0x9E3779B97F4A7C15ull;
	return (uint8_t)(x >> 56 ^ x >> 23);
}

static inline void fill_pattern(uint8_t *buf, size_t len, size_t seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = pattern_byte(i + seed);
}

/* stderr capture, to check what messages say (single-threaded sections). */
static int saved_stderr = -1, capture_fd = -1;
static char captured[8192];

static inline void capture_begin(void)
{
	fflush(stderr);
	capture_fd = memfd_create("stderr", MFD_CLOEXEC);
	assert_true(capture_fd >= 0);
	saved_stderr = dup(2);
	assert_true(saved_stderr >= 0);
	assert_true(dup2(capture_fd, 2) == 2);
	bm_reset_errors();
}

static inline const char *capture_end(void)
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

static inline int setup(void **state)
{
	(void)state;
	bm_reset_errors();
	return 0;
}

#endif
