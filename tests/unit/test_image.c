/* The image format: round trips of whole images (through memory, a pipe
 * and a file) and the writer's own checks.  Damaged, crafted and old
 * images are test_image_damage.c's, test_image_crafted.c's and
 * test_image_versions.c's; CRC-32C test_crc32c.c's.  `test_image --bench`
 * instead measures the hot path (CRC and page writing) and runs no tests. */
#include <pthread.h>
#include <sys/mman.h>
#include <time.h>

#include "unit_process.h"

struct seen_section {
	uint32_t type;
	uint64_t offset, length;
	uint32_t flags;
};

struct seen {
	struct seen_section s[64];
	int n;
};

static void record_section(void *ctx, uint32_t type, uint64_t offset, uint64_t length, uint32_t flags)
{
	struct seen *seen = ctx;
	assert_true(seen->n < 64);
	seen->s[seen->n++] = (struct seen_section){ type, offset, length, flags };
}

/* Reads the image back and checks process, runs, counters and sections. */
static void check_round_trip(const struct bm_wbuf *img, const struct bm_process *p, const struct run *runs,
			     size_t nruns, const struct bm_image_counters *written, size_t max_chunk)
{
	struct mem_input in = { img->data, img->len, 0, max_chunk };
	struct bm_image_reader r;
	struct seen seen = { .n = 0 };
	assert_int_equal(bm_image_reader_init(&r, (struct bm_source){ mem_read, &in }), 0);
	assert_int_equal(r.version, BM_IMAGE_VERSION);
	r.on_section = record_section;
	r.on_section_ctx = &seen;
	struct bm_process got;
	assert_int_equal(bm_image_read_process(&r, &got), 0);
	assert_process_equal(p, &got);
	for (size_t i = 0; i < nruns; i++) {
		struct bm_page_run run;
		assert_int_equal(bm_image_next_pages(&r, &run), 1);
		assert_true(run.addr == runs[i].addr);
		assert_int_equal(run.npages, runs[i].npages);
		assert_int_equal(run.zero, runs[i].zero);
		if (runs[i].zero)
			assert_null(run.data);
		else
			assert_memory_equal(run.data, runs[i].data, (size_t)run.npages * PAGE);
	}
	struct bm_page_run run;
	assert_int_equal(bm_image_next_pages(&r, &run), 0);
	assert_true(r.ended);
	assert_int_equal(bm_image_next_pages(&r, &run), 0); /* stays at the end */
	assert_true(in.pos == in.len);                      /* END was the last byte */
	assert_memory_equal(&r.count, written, sizeof r.count);

	/* Sections in order, back to back, with the PAGES encodings expected. */
	int expect_n = 4 + (int)p->nthreads + 4 + (int)nruns + 1;
	assert_int_equal(seen.n, expect_n);
	static const uint32_t head[] = { BM_SEC_PROCESS, BM_SEC_VMAS, BM_SEC_FDS, BM_SEC_SIGNALS };
	uint64_t offset = 20;
	for (int i = 0; i < seen.n; i++) {
		int first_run = 4 + (int)p->nthreads + 4;
		uint32_t type = i < 4				   ? head[i]
				: i < 4 + (int)p->nthreads	   ? BM_SEC_THREAD
				: i < first_run - 3		   ? BM_SEC_ATTRS
				: i < first_run - 2		   ? BM_SEC_TIMERS
				: i < first_run - 1		   ? BM_SEC_LOCKS
				: i < first_run			   ? BM_SEC_MAPPED_FILES
				: i < expect_n - 1		   ? (runs[i - first_run].zero ? BM_SEC_ZERO : BM_SEC_PAGES)
								   : BM_SEC_END;
		assert_int_equal(seen.s[i].type, type);
		assert_true(seen.s[i].offset == offset);
		offset += 20 + seen.s[i].length;
		if (type == BM_SEC_PAGES)
			assert_int_equal(seen.s[i].flags, runs[i - first_run].expect_encoding);
		else
			assert_int_equal(seen.s[i].flags, 0);
	}
	assert_true(offset == img->len);
	bm_process_free(&got);
	assert_null(got.vmas);
	bm_image_reader_free(&r);
}

static void test_round_trip_raw(void **state)
{
	(void)state;
	struct bm_process p;
	make_process(&p, true);
	struct run runs[] = {
		random_run(0x600000, 3),
		{ 0x603000, 5, true, NULL, 0 },
		random_run(0x7f0000000000, BM_IMAGE_MAX_RUN_PAGES),
		compressible_run(0x400000, 1, 1), /* no compression in this image: stays raw */
		{ 0x7f0000400000, BM_IMAGE_MAX_RUN_PAGES, true, NULL, 0 },
	};
	runs[3].expect_encoding = 0;
	size_t n = sizeof runs / sizeof runs[0];
	struct bm_wbuf img;
	struct bm_image_counters c;
	write_image(&img, &p, runs, n, -1, &c);
	assert_true(c.pages_stored == 3 + BM_IMAGE_MAX_RUN_PAGES + 1);
	assert_true(c.pages_zero == 5 + BM_IMAGE_MAX_RUN_PAGES);
	assert_true(c.page_bytes_raw == c.pages_stored * PAGE);
	assert_true(c.page_bytes_encoded == c.page_bytes_raw);
	assert_true(c.sections == 4 + 2 + 4 + n + 1);
	check_round_trip(&img, &p, runs, n, &c, 0);
	/* A source that hands out a few bytes at a time reads the same. */
	check_round_trip(&img, &p, runs, n, &c, 7);
	free_runs(runs, n);
	bm_wbuf_free(&img);
	bm_process_free(&p);
}

static void test_round_trip_zlib(void **state)
{
	(void)state;
	struct bm_process p;
	make_process(&p, true);
	struct run runs[] = {
		compressible_run(0x600000, 16, 3),
		random_run(0x610000, 4), /* incompressible: stored raw */
		{ 0x614000, 2, true, NULL, 0 },
		compressible_run(0x7f0000000000, BM_IMAGE_MAX_RUN_PAGES, 5),
		{ 0x7ffffffde000, 1, false, calloc(1, PAGE), 1 }, /* a zero page written as data compresses */
		random_run(0x7f0000400000, 64), /* long and incompressible: judged by its start, stored raw */
		compressible_run(0x7f0000440000, 64, 7), /* compressible start, random rest: compressed */
	};
	assert_non_null(runs[4].data);
	fill_random(runs[6].data + 32 * PAGE, 32 * PAGE);
	size_t n = sizeof runs / sizeof runs[0];
	for (int level = 1; level <= 9; level += 8) {
		struct bm_wbuf img;
		struct bm_image_counters c;
		write_image(&img, &p, runs, n, level, &c);
		assert_true(c.page_bytes_raw == (16 + 4 + BM_IMAGE_MAX_RUN_PAGES + 1 + 64 + 64) * (uint64_t)PAGE);
		assert_true(c.page_bytes_encoded < c.page_bytes_raw / 4);
		assert_true(c.page_bytes_encoded > (4 + 64 + 32) * PAGE); /* the random data is in there whole */
		check_round_trip(&img, &p, runs, n, &c, 0);
		check_round_trip(&img, &p, runs, n, &c, 4093);
		bm_wbuf_free(&img);
	}
	free_runs(runs, n);
	bm_process_free(&p);
}

static void test_round_trip_minimal_process(void **state)
{
	(void)state;
	struct bm_process p;
	memset(&p, 0, sizeof p);
	p.pid = 1;
	p.nthreads = 1;
	p.threads = calloc(1, sizeof *p.threads);
	assert_non_null(p.threads);
	p.threads[0].tid = 1;
	p.threads[0].stop_kind = BM_STOP_USER;
	p.timers.realtime_ns = 1;
	struct bm_wbuf img;
	struct bm_image_counters c;
	write_image(&img, &p, NULL, 0, -1, &c);
	check_round_trip(&img, &p, NULL, 0, &c, 0);
	bm_wbuf_free(&img);
	bm_process_free(&p);
}

/* Image through a pipe (short writes and reads) and through a file. */
struct pipe_reader {
	int fd;
	struct bm_wbuf got;
};

static void *drain_pipe(void *arg)
{
	struct pipe_reader *pr = arg;
	uint8_t buf[5000]; /* odd size: the writer's iovecs get split */
	ssize_t n;
	while ((n = read(pr->fd, buf, sizeof buf)) > 0)
		bm_put_bytes(&pr->got, buf, (size_t)n);
	return NULL;
}

static void test_fd_sink_and_source(void **state)
{
	(void)state;
	struct bm_process p;
	make_process(&p, true);
	struct run runs[] = { random_run(0x600000, BM_IMAGE_MAX_RUN_PAGES), { 0x7f0000000000, 3, true, NULL, 0 } };
	size_t n = 2;
	struct bm_wbuf expected;
	struct bm_image_counters c;
	write_image(&expected, &p, runs, n, -1, &c);

	int fds[2];
	assert_int_equal(pipe(fds), 0);
	struct pipe_reader pr = { .fd = fds[0] };
	bm_wbuf_init(&pr.got);
	pthread_t thread;
	assert_int_equal(pthread_create(&thread, NULL, drain_pipe, &pr), 0);
	struct bm_image_writer w;
	int wfd = fds[1];
	assert_int_equal(bm_image_writer_init(&w, bm_fd_sink(&wfd), -1), 0);
	assert_int_equal(bm_image_write_process(&w, &p), 0);
	assert_int_equal(bm_image_write_pages(&w, runs[0].addr, runs[0].data, runs[0].npages), 0);
	assert_int_equal(bm_image_write_zero(&w, runs[1].addr, runs[1].npages), 0);
	assert_int_equal(bm_image_writer_finish(&w), 0);
	bm_image_writer_free(&w);
	close(fds[1]);
	assert_int_equal(pthread_join(thread, NULL), 0);
	close(fds[0]);
	assert_int_equal(pr.got.len, expected.len);
	assert_memory_equal(pr.got.data, expected.data, expected.len);

	FILE *f = tmpfile();
	assert_non_null(f);
	int ffd = fileno(f);
	assert_true(write(ffd, expected.data, expected.len) == (ssize_t)expected.len);
	assert_true(lseek(ffd, 0, SEEK_SET) == 0);
	struct bm_image_reader r;
	assert_int_equal(bm_image_reader_init(&r, bm_fd_source(&ffd)), 0);
	struct bm_process got;
	assert_int_equal(bm_image_read_process(&r, &got), 0);
	assert_process_equal(&p, &got);
	struct bm_page_run run;
	assert_int_equal(bm_image_next_pages(&r, &run), 1);
	assert_memory_equal(run.data, runs[0].data, (size_t)runs[0].npages * PAGE);
	assert_int_equal(bm_image_next_pages(&r, &run), 1);
	assert_true(run.zero);
	assert_int_equal(bm_image_next_pages(&r, &run), 0);
	bm_image_reader_free(&r);
	bm_process_free(&got);

	/* The same file cut short: the fd source reports the end, the reader "truncated". */
	assert_int_equal(ftruncate(ffd, (off_t)expected.len - 30), 0); /* inside END */
	assert_true(lseek(ffd, 0, SEEK_SET) == 0);
	bm_reset_errors();
	char text[1024];
	capture_begin();
	assert_int_equal(bm_image_reader_init(&r, bm_fd_source(&ffd)), 0);
	assert_int_equal(bm_image_read_process(&r, &got), 0);
	assert_int_equal(bm_image_next_pages(&r, &run), 1);
	assert_int_equal(bm_image_next_pages(&r, &run), 1);
	assert_true(bm_image_next_pages(&r, &run) < 0);
	capture_end(text, sizeof text);
	assert_int_equal(bm_exit_code(), BM_EXIT_IMAGE);
	assert_non_null(strstr(text, "image truncated"));
	bm_image_reader_free(&r);
	bm_process_free(&got);
	bm_reset_errors();

	/* A read error is an I/O error, not a bad image. */
	int bad_fd = -1;
	capture_begin();
	assert_true(bm_image_reader_init(&r, bm_fd_source(&bad_fd)) < 0);
	capture_end(text, sizeof text);
	assert_int_equal(bm_exit_code(), BM_EXIT_IO);
	bm_image_reader_free(&r);
	bm_reset_errors();
	/* So is a write error. */
	capture_begin();
	assert_true(bm_image_writer_init(&w, bm_fd_sink(&bad_fd), -1) < 0);
	capture_end(text, sizeof text);
	assert_int_equal(bm_exit_code(), BM_EXIT_IO);
	assert_non_null(strstr(text, "writing the image"));
	bm_image_writer_free(&w);
	bm_reset_errors();

	fclose(f);
	free_runs(runs, n);
	bm_wbuf_free(&expected);
	bm_wbuf_free(&pr.got);
	bm_process_free(&p);
}

/* ---- the writer's own checks ---- */

static void expect_write_refused(struct bm_process *p, const char *message)
{
	struct bm_wbuf out;
	bm_wbuf_init(&out);
	struct bm_image_writer w;
	assert_int_equal(bm_image_writer_init(&w, (struct bm_sink){ mem_writev, &out }, -1), 0);
	char text[1024];
	bm_reset_errors();
	capture_begin();
	int rc = bm_image_write_process(&w, p);
	capture_end(text, sizeof text);
	if (rc >= 0 || bm_exit_code() != BM_EXIT_FAILURE || !strstr(text, message))
		fail_msg("expected the writer to refuse with \"%s\", got rc %d: %s", message, rc, text);
	assert_int_equal(out.len, 20); /* nothing after the file header */
	assert_true(w.count.sections == 0);
	bm_reset_errors();
	bm_image_writer_free(&w);
	bm_wbuf_free(&out);
}

static void test_writer_refuses_what_the_reader_would_reject(void **state)
{
	(void)state;
	struct bm_process p;
	make_process(&p, true);
	uint64_t saved = p.vmas[1].start;
	p.vmas[1].start = p.vmas[0].start;
	expect_write_refused(&p, "VMA 1: 0x400000-0x621000 overlaps or precedes the previous VMA");
	p.vmas[1].start = saved;
	p.vmas[2].kind = 0;
	expect_write_refused(&p, "VMA 2: kind 0 is not a known VMA kind");
	p.vmas[2].kind = BM_VMA_ANON;
	char *path = p.vmas[0].path;
	p.vmas[0].path = NULL;
	expect_write_refused(&p, "VMA 0: file mapping without a path");
	p.vmas[0].path = path;
	p.fds[1].kind = 42;
	expect_write_refused(&p, "kind 42 is not a known descriptor kind");
	p.fds[1].kind = BM_FD_REGULAR;
	p.threads[1].tid = p.threads[0].tid;
	expect_write_refused(&p, "tid 4242 appears twice");
	p.threads[1].tid = 4243;
	p.threads[0].code_len = BM_CODE_WINDOW + 1;
	expect_write_refused(&p, "code window of 97 bytes exceeds 96");
	p.threads[0].code_len = BM_CODE_WINDOW;
	p.comm[15] = 'x';
	expect_write_refused(&p, "comm is not NUL terminated");
	p.comm[15] = '\0';
	p.mm.brk = p.mm.start_brk - 1;
	expect_write_refused(&p, "below start_brk");
	p.mm.brk = p.mm.start_brk;
	char long_path[5000];
	memset(long_path, 'a', sizeof long_path - 1);
	long_path[sizeof long_path - 1] = '\0';
	char *cwd = p.cwd;
	p.cwd = long_path;
	expect_write_refused(&p, "cwd is longer than 4095 bytes");
	p.cwd = cwd;
	uint32_t nthreads = p.nthreads;
	p.nthreads = 0;
	expect_write_refused(&p, "thread count 0 is not in 1..65536");
	p.nthreads = nthreads;
	int64_t read_at = p.timers.realtime_ns;
	p.timers.realtime_ns = 0;
	expect_write_refused(&p, "cannot write image section TIMERS: reading time 0 is not positive");
	p.timers.realtime_ns = read_at;
	p.timers.ntimerfds = 0;
	expect_write_refused(&p, "0 timerfd entries for 1 timerfds in FDS");
	p.timers.ntimerfds = 1;
	p.timers.posix[1].tid = 4244;
	expect_write_refused(&p, "POSIX timer entry 1: target thread 4244 is not a thread of the process");
	p.timers.posix[1].tid = 4243;
	/* Everything restored: accepted. */
	struct bm_wbuf img;
	write_image(&img, &p, NULL, 0, -1, NULL);
	bm_wbuf_free(&img);
	bm_process_free(&p);
}

static void test_writer_enforces_order_and_run_limits(void **state)
{
	(void)state;
	struct bm_process p;
	make_process(&p, false);
	struct bm_wbuf out;
	bm_wbuf_init(&out);
	struct bm_image_writer w;
	uint8_t *page = calloc(BM_IMAGE_MAX_RUN_PAGES + 1, PAGE);
	assert_non_null(page);
	quiet_begin();
	assert_true(bm_image_writer_init(&w, (struct bm_sink){ mem_writev, &out }, 0) < 0);
	assert_true(bm_image_writer_init(&w, (struct bm_sink){ mem_writev, &out }, 10) < 0);
	bm_wbuf_clear(&out);
	assert_int_equal(bm_image_writer_init(&w, (struct bm_sink){ mem_writev, &out }, -1), 0);
	assert_true(bm_image_write_pages(&w, 0x600000, page, 1) < 0);
	assert_true(bm_image_write_zero(&w, 0x600000, 1) < 0);
	assert_true(bm_image_writer_finish(&w) < 0);
	assert_int_equal(bm_image_write_process(&w, &p), 0);
	assert_true(bm_image_write_process(&w, &p) < 0);
	assert_true(bm_image_write_pages(&w, 0x600000, page, 0) < 0);
	assert_true(bm_image_write_pages(&w, 0x600000, page, BM_IMAGE_MAX_RUN_PAGES + 1) < 0);
	assert_true(bm_image_write_pages(&w, 0x600001, page, 1) < 0);
	assert_true(bm_image_write_pages(&w, 0xfffffffffffff000ull, page, 2) < 0);
	assert_true(bm_image_write_pages(&w, 0x600000, NULL, 1) < 0);
	assert_true(bm_image_write_zero(&w, 0x600000, BM_IMAGE_MAX_RUN_PAGES + 1) < 0);
	assert_int_equal(bm_image_write_pages(&w, 0xfffffffffffff000ull, page, 1), 0); /* the last page is fine */
	assert_int_equal(bm_image_writer_finish(&w), 0);
	assert_true(bm_image_write_zero(&w, 0x600000, 1) < 0);
	assert_true(bm_image_writer_finish(&w) < 0);
	stderr_restore();
	assert_int_equal(bm_exit_code(), BM_EXIT_FAILURE);
	bm_reset_errors();
	assert_int_equal(read_image(out.data, out.len, 0), 0);
	bm_image_writer_free(&w);
	free(page);
	bm_wbuf_free(&out);
	bm_process_free(&p);
}

static void test_section_names(void **state)
{
	(void)state;
	static const char *const names[] = { "PROCESS", "VMAS", "FDS", "SIGNALS", "THREAD", "PAGES", "ZERO", "END",
					     "ATTRS", "TIMERS", "TREE", "LOCKS", "MAPPED_FILES" };
	for (uint32_t t = BM_SEC_PROCESS; t <= BM_SEC_LAST; t++)
		assert_string_equal(bm_section_name(t), names[t - 1]);
	assert_string_equal(bm_section_name(0), "unknown");
	assert_string_equal(bm_section_name(BM_SEC_LAST + 1), "unknown");
}

static void test_process_free(void **state)
{
	(void)state;
	struct bm_process p;
	memset(&p, 0, sizeof p);
	bm_process_free(&p); /* empty is fine */
	make_process(&p, true);
	bm_process_free(&p);
	assert_null(p.vmas);
	assert_null(p.threads);
	assert_int_equal(p.nthreads, 0);
	bm_process_free(&p); /* and twice */
	bm_process_free(NULL);
}

/* ---- benchmark (by hand: test_image --bench) ---- */

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int null_writev(void *ctx, const struct iovec *iov, int iovcnt)
{
	(void)ctx;
	(void)iov;
	(void)iovcnt;
	return 0;
}

static int bench(void)
{
	const size_t size = 64u << 20;
	uint8_t *buf = malloc(size);
	if (!buf)
		return 1;
	fill_random(buf, size);
	uint32_t sink = 0;
	for (int variant = 0; variant < 2; variant++) {
		if (variant == 0 && !bm_crc32c_hw_available())
			continue;
		uint32_t (*fn)(uint32_t, const void *, size_t) = variant == 0 ? bm_crc32c_hw : bm_crc32c_sw;
		int reps = variant == 0 ? 16 : 2;
		fn(0, buf, size);
		double t0 = now_s();
		for (int i = 0; i < reps; i++)
			sink ^= fn(sink, buf, size);
		double t = now_s() - t0;
		printf("%-14s 64 MiB x %d: %.2f GB/s\n", variant == 0 ? "crc32c hw" : "crc32c sw", reps,
		       (double)size * reps / t / 1e9);
	}
	int null_fd = open("/dev/null", O_WRONLY);
	struct { const char *name; struct bm_sink sink; int level; } outs[] = {
		{ "write_pages -> /dev/null", bm_fd_sink(&null_fd), -1 },
		{ "write_pages -> no-op sink", { null_writev, NULL }, -1 },
	};
	/* A one-thread process first, so that page runs may follow. */
	struct bm_process p;
	memset(&p, 0, sizeof p);
	struct bm_thread leader = { .tid = 1, .stop_kind = BM_STOP_USER };
	p.pid = 1;
	p.nthreads = 1;
	p.threads = &leader;
	p.timers.realtime_ns = 1; /* TIMERS wants a reading time */
	for (size_t o = 0; o < sizeof outs / sizeof outs[0]; o++) {
		struct bm_image_writer w;
		if (bm_image_writer_init(&w, outs[o].sink, outs[o].level) < 0 || bm_image_write_process(&w, &p) < 0)
			return 1;
		const size_t run = (size_t)BM_IMAGE_MAX_RUN_PAGES * PAGE;
		double t0 = now_s();
		for (int rep = 0; rep < 16; rep++)
			for (size_t off = 0; off + run <= size; off += run)
				if (bm_image_write_pages(&w, 0x10000000 + off, buf + off, BM_IMAGE_MAX_RUN_PAGES) < 0)
					return 1;
		double t = now_s() - t0;
		printf("%-26s 1 GiB in 4 MiB runs: %.2f GB/s\n", outs[o].name, (double)size * 16 / t / 1e9);
		bm_image_writer_free(&w);
	}
	close(null_fd);
	/* zlib level 1 on random and on text-like pages (stored raw / compressed). */
	struct bm_image_writer w;
	if (bm_image_writer_init(&w, (struct bm_sink){ null_writev, NULL }, 1) < 0 || bm_image_write_process(&w, &p) < 0)
		return 1;
	for (int kind = 0; kind < 2; kind++) {
		const size_t bytes = 64u << 20;
		if (kind == 1)
			fill_compressible(buf, bytes, 0);
		uint64_t enc0 = w.count.page_bytes_encoded;
		double t0 = now_s();
		for (size_t off = 0; off < bytes; off += (size_t)BM_IMAGE_MAX_RUN_PAGES * PAGE)
			bm_image_write_pages(&w, 0x10000000 + off, buf + off, BM_IMAGE_MAX_RUN_PAGES);
		double t = now_s() - t0;
		printf("zlib -1 %-18s 64 MiB: %.0f MB/s, ratio %.3f\n", kind ? "text-like pages" : "random pages",
		       (double)bytes / t / 1e6, (double)(w.count.page_bytes_encoded - enc0) / (double)bytes);
	}
	bm_image_writer_free(&w);
	free(buf);
	return sink == 0x12345678; /* keeps the CRC loops from being optimised away */
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "--bench") == 0)
		return bench();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_section_names, restore_stderr_teardown),
		cmocka_unit_test_teardown(test_process_free, restore_stderr_teardown),
		cmocka_unit_test_teardown(test_round_trip_raw, restore_stderr_teardown),
		cmocka_unit_test_teardown(test_round_trip_zlib, restore_stderr_teardown),
		cmocka_unit_test_teardown(test_round_trip_minimal_process, restore_stderr_teardown),
		cmocka_unit_test_teardown(test_fd_sink_and_source, restore_stderr_teardown),
		cmocka_unit_test_teardown(test_writer_refuses_what_the_reader_would_reject, restore_stderr_teardown),
		cmocka_unit_test_teardown(test_writer_enforces_order_and_run_limits, restore_stderr_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
