/* Helpers of the image format tests (test_image*.c, test_crc32c.c):
 * deterministic data, an image written to and read from memory, stderr
 * kept quiet or captured, whole images written and read back. */
#ifndef BINMIG_UNIT_IMAGE_H
#define BINMIG_UNIT_IMAGE_H

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "crc32c.h"
#include "image.h"
#include "log.h"
#include "state.h"
#include "wire.h"

#define PAGE 4096u

/* ---- deterministic data ---- */

static uint64_t rng_state = 0x243f6a8885a308d3ull;

static inline uint64_t rng(void)
{
	uint64_t x = rng_state;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return rng_state = x;
}

static inline void fill_random(void *buf, size_t len)
{
	uint8_t *p = buf;
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(rng() >> 24);
}

/* Text-like data zlib shrinks a lot. */
static inline void fill_compressible(void *buf, size_t len, unsigned seed)
{
	static const char words[] = "the quick brown fox jumps over the lazy dog 0123456789 ";
	uint8_t *p = buf;
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)words[(i * 7 + seed + i / 977) % (sizeof words - 1)];
}

static inline char *dup_str(const char *s)
{
	char *d = strdup(s);
	assert_non_null(d);
	return d;
}

static inline void *dup_random(size_t len)
{
	void *p = malloc(len);
	assert_non_null(p);
	fill_random(p, len);
	return p;
}

static inline void set_signo(struct bm_siginfo *si, int32_t signo)
{
	fill_random(si->raw, sizeof si->raw);
	bm_store_le32(si->raw, (uint32_t)signo);
}

/* ---- memory sink and source ---- */

static inline int mem_writev(void *ctx, const struct iovec *iov, int iovcnt)
{
	struct bm_wbuf *b = ctx;
	for (int i = 0; i < iovcnt; i++)
		bm_put_bytes(b, iov[i].iov_base, iov[i].iov_len);
	return bm_wbuf_status(b);
}

struct mem_input {
	const uint8_t *data;
	size_t len, pos;
	size_t max_chunk;        /* 0: no limit; else hand out at most this much per call */
};

static inline ssize_t mem_read(void *ctx, void *buf, size_t len)
{
	struct mem_input *in = ctx;
	size_t n = in->len - in->pos;
	if (n > len)
		n = len;
	if (in->max_chunk && n > in->max_chunk)
		n = in->max_chunk;
	memcpy(buf, in->data + in->pos, n);
	in->pos += n;
	return (ssize_t)n;
}

/* ---- stderr control: quiet for the exhaustive loops, captured to check messages ---- */

static int saved_stderr = -1;
static FILE *capture_file;

static inline void stderr_redirect(int fd)
{
	fflush(stderr);
	saved_stderr = dup(2);
	assert_true(saved_stderr >= 0);
	assert_true(dup2(fd, 2) == 2);
}

static inline void stderr_restore(void)
{
	fflush(stderr);
	assert_true(dup2(saved_stderr, 2) == 2);
	close(saved_stderr);
	saved_stderr = -1;
}

static inline void quiet_begin(void)
{
	int fd = open("/dev/null", O_WRONLY);
	assert_true(fd >= 0);
	stderr_redirect(fd);
	close(fd);
}

static inline void capture_begin(void)
{
	capture_file = tmpfile();
	assert_non_null(capture_file);
	stderr_redirect(fileno(capture_file));
}

/* After every test: a failed assertion inside a quiet or captured stretch
 * jumps past its end, so put stderr back here and show what was captured
 * (cmocka's own failure message among it). */
static inline int restore_stderr_teardown(void **state)
{
	(void)state;
	if (saved_stderr >= 0)
		stderr_restore();
	if (capture_file) {
		char buf[4096];
		rewind(capture_file);
		size_t n;
		while ((n = fread(buf, 1, sizeof buf, capture_file)) > 0)
			fwrite(buf, 1, n, stderr);
		fclose(capture_file);
		capture_file = NULL;
	}
	bm_reset_errors();
	return 0;
}

/* What was printed since capture_begin, NUL terminated, in BUF. */
static inline void capture_end(char *buf, size_t size)
{
	stderr_restore();
	rewind(capture_file);
	size_t n = fread(buf, 1, size - 1, capture_file);
	buf[n] = '\0';
	fclose(capture_file);
	capture_file = NULL;
}

/* ---- writing and reading whole images ---- */

struct run {
	uint64_t addr;
	uint32_t npages;
	bool zero;
	uint8_t *data;           /* owned; NULL for zero runs */
	uint32_t expect_encoding;
};

static inline void free_runs(struct run *runs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(runs[i].data);
}

static inline void write_image(struct bm_wbuf *out, const struct bm_process *p, const struct run *runs, size_t nruns,
			int zlib_level, struct bm_image_counters *counters)
{
	bm_wbuf_init(out);
	struct bm_image_writer w;
	assert_int_equal(bm_image_writer_init(&w, (struct bm_sink){ mem_writev, out }, zlib_level), 0);
	assert_int_equal(bm_image_write_process(&w, p), 0);
	for (size_t i = 0; i < nruns; i++) {
		if (runs[i].zero)
			assert_int_equal(bm_image_write_zero(&w, runs[i].addr, runs[i].npages), 0);
		else
			assert_int_equal(bm_image_write_pages(&w, runs[i].addr, runs[i].data, runs[i].npages), 0);
	}
	assert_int_equal(bm_image_writer_finish(&w), 0);
	assert_true(w.finished);
	assert_true(w.count.bytes == out->len);
	if (counters)
		*counters = w.count;
	bm_image_writer_free(&w);
}

/* Reads a whole image; 0 if it was accepted, else the first negative
 * return.  Never more than MAX_SECTIONS page runs, so a reader that
 * failed to stop cannot hang the test. */
#define MAX_SECTIONS 10000

static inline int read_image(const uint8_t *data, size_t len, size_t max_chunk)
{
	struct mem_input in = { data, len, 0, max_chunk };
	struct bm_image_reader r;
	struct bm_process p;
	memset(&p, 0, sizeof p);
	int rc = bm_image_reader_init(&r, (struct bm_source){ mem_read, &in });
	if (rc == 0)
		rc = bm_image_read_process(&r, &p);
	for (int i = 0; rc == 0 && i < MAX_SECTIONS; i++) {
		struct bm_page_run run;
		int got = bm_image_next_pages(&r, &run);
		if (got < 0)
			rc = got;
		else if (got == 0)
			break;
		else if (run.zero)
			assert_null(run.data);
		else
			assert_non_null(run.data);
	}
	assert_true(r.ended || rc < 0);
	bm_process_free(&p);
	bm_image_reader_free(&r);
	return rc;
}

/* The first process of the image IMG, read into GOT (bm_process_free). */
static inline void read_back(const struct bm_wbuf *img, struct bm_process *got)
{
	struct mem_input in = { img->data, img->len, 0, 0 };
	struct bm_image_reader r;
	assert_int_equal(bm_image_reader_init(&r, (struct bm_source){ mem_read, &in }), 0);
	assert_int_equal(bm_image_read_process(&r, got), 0);
	bm_image_reader_free(&r);
}

/* Reading must fail with an image error, and say MESSAGE (if given). */
static inline void assert_rejected(const uint8_t *data, size_t len, const char *message)
{
	char text[2048];
	bm_reset_errors();
	capture_begin();
	int rc = read_image(data, len, 0);
	capture_end(text, sizeof text);
	if (rc >= 0 || bm_exit_code() != BM_EXIT_IMAGE || (message && !strstr(text, message)))
		fail_msg("expected rejection with \"%s\", got rc %d, exit class %d, stderr: %s", message ? message : "",
			 rc, bm_exit_code(), text);
	bm_reset_errors();
}

static inline struct run random_run(uint64_t addr, uint32_t npages)
{
	return (struct run){ addr, npages, false, dup_random((size_t)npages * PAGE), 0 };
}

static inline struct run compressible_run(uint64_t addr, uint32_t npages, unsigned seed)
{
	uint8_t *data = malloc((size_t)npages * PAGE);
	assert_non_null(data);
	fill_compressible(data, (size_t)npages * PAGE, seed);
	return (struct run){ addr, npages, false, data, 1 };
}

#endif
