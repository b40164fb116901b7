/* How a pipe's bytes lie in its buffers (migrator/pipe_layout.c): a
 * child builds a pipe whose buffers each hold a little (small writes with
 * a read between, a buffer copied with tee, which may not be merged into,
 * a packet), the BPF reader must see exactly those buffers and change
 * nothing, and the pipe rebuilt from them must take as many bytes more in
 * small non-blocking writes, and give the same bytes in reads of the same
 * sizes, as a twin built the same way; so too a ring of more buffers than
 * the reader reads in one run, read in chunks.  Also a layout rebuilt
 * without BPF (packets of several sizes, offsets up to the page's end),
 * the reader's records over several runs, and the layouts the image
 * refuses, by its version. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../progs/pipebig.h"
#include "kstate.h"
#include "pipe_layout.h"
#include "unit_room.h"

#define FD_PIPE 50 /* the child's read end */

/* The bytes the twin and the child hold once built (build). */
static const char HELD[] = "abbbbbbcccccddeeeff";

/* The buffers build leaves, oldest first. */
static const struct bm_pipe_buf BUILT[] = {
	{3, 7, BM_PIPE_BUF_CAN_MERGE}, /* "aaa" + "bbbbbb" merged, 3 read */
	{0, 5, 0},                      /* "ccccc", a copy (tee): not merged into */
	{0, 2, BM_PIPE_BUF_CAN_MERGE}, /* "dd" */
	{0, 3, BM_PIPE_BUF_PACKET},    /* "eee", a packet spliced in */
	{0, 2, BM_PIPE_BUF_CAN_MERGE}, /* "ff": after a packet, a buffer of its own */
};

/* Fills the empty pipe of ends R and W as BUILT says; false on a failure. */
static bool build(int r, int w)
{
	int plain[2], packet[2];
	char junk[8];
	if (!pipe_scratch_open(plain, packet))
		return false;
	bool ok = write(w, "aaaa", 4) == 4 && write(w, "bbbbbb", 6) == 6 && read(r, junk, 3) == 3 &&
		  write(plain[1], "ccccc", 5) == 5 && tee(plain[0], w, 5, SPLICE_F_NONBLOCK) == 5 &&
		  write(w, "dd", 2) == 2 && write(packet[1], "eee", 3) == 3 &&
		  splice(packet[0], NULL, w, NULL, 3, SPLICE_F_NONBLOCK) == 3 && write(w, "ff", 2) == 2;
	pipe_scratch_close(plain, packet);
	return ok;
}

/* What reads of up to 4096 bytes give from the pipe of R until it is
 * empty: each read's size in SIZES (at most MAX), the bytes in ALL. */
static size_t drain(int r, size_t *sizes, size_t max, uint8_t *all, size_t all_size)
{
	size_t n = 0, at = 0;
	ssize_t got;
	while (n < max && at < all_size && (got = read(r, all + at, all_size - at < 4096 ? all_size - at : 4096)) > 0) {
		sizes[n++] = (size_t)got;
		at += (size_t)got;
	}
	return n;
}

/* The most reads and bytes assert_pipes_alike takes from a pipe: a ring
 * of 2048 pages (PIPE_BIG_RING), partly held in small buffers. */
#define ALIKE_READS 4096
#define ALIKE_BYTES (1 << 22)

/* The pipes of ends A and B (each non-blocking, a ring of the same size)
 * take as many bytes more and then read back alike. */
static void assert_pipes_alike(int a[2], int b[2])
{
	int qa = -1, qb = -1;
	assert_int_equal(ioctl(a[0], FIONREAD, &qa), 0);
	assert_int_equal(ioctl(b[0], FIONREAD, &qb), 0);
	assert_int_equal(qa, qb);
	size_t ra = unit_room(a[1]), rb = unit_room(b[1]);
	assert_int_equal(ra, rb);
	static uint8_t all_a[ALIKE_BYTES], all_b[ALIKE_BYTES];
	static size_t sizes_a[ALIKE_READS], sizes_b[ALIKE_READS];
	size_t na = drain(a[0], sizes_a, ALIKE_READS, all_a, sizeof all_a);
	size_t nb = drain(b[0], sizes_b, ALIKE_READS, all_b, sizeof all_b);
	assert_int_equal(na, nb);
	size_t total = 0;
	for (size_t i = 0; i < na; i++) {
		assert_int_equal(sizes_a[i], sizes_b[i]);
		total += sizes_a[i];
	}
	assert_memory_equal(all_a, all_b, total);
	assert_int_equal(total, (size_t)qa + ra);
}

/* A descriptor of the restore's image: the pipe's bytes and LAYOUT. */
static struct bm_fd image_fd(const void *bytes, uint32_t len, const struct bm_pipe_buf *layout, uint32_t n)
{
	struct bm_fd d = {.fd = FD_PIPE, .kind = BM_FD_PIPE, .flags = O_RDONLY, .shares_with = -1, .data_len = len};
	d.data = malloc(len);
	assert_non_null(d.data);
	memcpy(d.data, bytes, len);
	if (n) {
		d.pipe_bufs = calloc(n, sizeof *d.pipe_bufs);
		assert_non_null(d.pipe_bufs);
		memcpy(d.pipe_bufs, layout, n * sizeof *layout);
		d.npipe_bufs = n;
	}
	return d;
}

static void new_pipe(int ends[2], int flags)
{
	assert_int_equal(pipe2(ends, O_CLOEXEC | O_NONBLOCK | flags), 0);
}

static void close_pipe(int ends[2])
{
	close(ends[0]);
	close(ends[1]);
}

/* The layout built above, rebuilt without BPF: alike its twin; the same
 * bytes in one go are not (they fit in one buffer, which takes more). */
static void rebuilds_a_layout(void **state)
{
	(void)state;
	int twin[2], again[2], flat[2];
	new_pipe(twin, 0);
	assert_true(build(twin[0], twin[1]));
	struct bm_fd d = image_fd(HELD, sizeof HELD - 1, BUILT, sizeof BUILT / sizeof *BUILT);
	char why[160];
	assert_true(bm_pipe_layout_check(&d, why, sizeof why));
	new_pipe(again, 0);
	assert_int_equal(bm_pipe_refill(again[1], &d), 0);
	assert_pipes_alike(twin, again);
	/* Its bytes in one go: one buffer, more room. */
	new_pipe(twin, 0);
	assert_true(build(twin[0], twin[1]));
	new_pipe(flat, 0);
	assert_int_equal(write(flat[1], HELD, sizeof HELD - 1), (ssize_t)(sizeof HELD - 1));
	assert_true(unit_room(flat[1]) > unit_room(twin[1]));
	close_pipe(twin);
	close_pipe(again);
	close_pipe(flat);
	free(d.data);
	free(d.pipe_bufs);
}

/* Packets of several sizes, one starting within its page and one ending
 * at its end, in a packet-mode pipe: each read gives one packet. */
static void rebuilds_packets(void **state)
{
	(void)state;
	static uint8_t bytes[4096 + 1 + 100 + 3000];
	for (size_t i = 0; i < sizeof bytes; i++)
		bytes[i] = (uint8_t)(i * 7);
	const struct bm_pipe_buf layout[] = {
		{0, 4096, BM_PIPE_BUF_PACKET},
		{0, 1, BM_PIPE_BUF_PACKET},
		{3996, 100, BM_PIPE_BUF_PACKET},
		{1096, 3000, BM_PIPE_BUF_CAN_MERGE},
	};
	struct bm_fd d = image_fd(bytes, sizeof bytes, layout, 4);
	int p[2];
	new_pipe(p, O_DIRECT);
	assert_int_equal(bm_pipe_refill(p[1], &d), 0);
	static uint8_t got[8192];
	assert_int_equal(read(p[0], got, sizeof got), 4096);
	assert_memory_equal(got, bytes, 4096);
	assert_int_equal(read(p[0], got, sizeof got), 1);
	assert_int_equal(got[0], bytes[4096]);
	assert_int_equal(read(p[0], got, sizeof got), 100);
	assert_memory_equal(got, bytes + 4097, 100);
	int q = 0;
	assert_int_equal(ioctl(p[0], FIONREAD, &q), 0);
	assert_int_equal(q, 3000);
	assert_int_equal(read(p[0], got, sizeof got), 3000);
	assert_memory_equal(got, bytes + 4197, 3000);
	close_pipe(p);
	/* Without a layout: one write, as before image version 15. */
	free(d.pipe_bufs);
	d.pipe_bufs = NULL;
	d.npipe_bufs = 0;
	new_pipe(p, 0);
	assert_int_equal(bm_pipe_refill(p[1], &d), 0);
	assert_int_equal(read(p[0], got, sizeof got), (ssize_t)sizeof bytes);
	close_pipe(p);
	free(d.data);
}

/* What the image holds to: buffers within a page, of the bytes carried,
 * with at most one of the two flags. */
static void refuses_bad_layouts(void **state)
{
	(void)state;
	char why[160];
	const struct {
		struct bm_pipe_buf buf;
		const char *says;
	} bad[] = {
		{{4000, 97, 0}, "not within a page"},
		{{0, 0, 0}, "not within a page"},
		{{0, 4, BM_PIPE_BUF_CAN_MERGE | BM_PIPE_BUF_PACKET}, "flags 0x3"},
		{{0, 4, 4}, "flags 0x4"},
		{{0, 3, 0}, "3 bytes in all, for 4 bytes"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		struct bm_fd d = image_fd("abcd", 4, &bad[i].buf, 1);
		assert_false(bm_pipe_layout_check(&d, why, sizeof why));
		assert_non_null(strstr(why, bad[i].says));
		free(d.data);
		free(d.pipe_bufs);
	}
	struct bm_pipe_buf one = {0, 4, 0};
	struct bm_fd d = image_fd("abcd", 4, &one, 1);
	d.kind = BM_FD_EVENTFD;
	assert_false(bm_pipe_layout_check(&d, why, sizeof why));
	free(d.data);
	free(d.pipe_bufs);
}

/* Builds the pipe at FD_PIPE, says 'r' on OUT, waits for a byte on IN,
 * and exits 0 if its pipe is still as built (as many bytes, as much
 * room as a twin). */
static int child(int in, int out)
{
	int p[2], twin[2];
	if (pipe2(p, O_NONBLOCK) < 0 || dup2(p[0], FD_PIPE) < 0 || !build(FD_PIPE, p[1]) ||
	    pipe2(twin, O_NONBLOCK) < 0 || !build(twin[0], twin[1]))
		return 2;
	char c = 'r';
	if (write(out, &c, 1) != 1 || read(in, &c, 1) != 1)
		return 3;
	int q = 0;
	if (ioctl(FD_PIPE, FIONREAD, &q) < 0 || q != (int)sizeof HELD - 1)
		return 4;
	static const char chunk[100];
	size_t a = 0, b = 0;
	ssize_t n;
	while ((n = write(p[1], chunk, sizeof chunk)) > 0)
		a += (size_t)n;
	while ((n = write(twin[1], chunk, sizeof chunk)) > 0)
		b += (size_t)n;
	return a == b ? 0 : 5;
}

/* The layout as the BPF reader reads it from a child, rebuilt alike. */
static void reads_a_layout(void **state)
{
	(void)state;
	if (access("/sys/kernel/btf/vmlinux", R_OK) < 0 || geteuid() != 0)
		skip(); /* what the reader needs: root and a kernel with BTF (CI has both) */
	assert_true(bm_kstate_pipes_readable());
	int go[2], ready[2];
	assert_int_equal(pipe2(go, O_CLOEXEC), 0);
	assert_int_equal(pipe2(ready, O_CLOEXEC), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		alarm(20); /* on any machine */
		_exit(child(go[0], ready[1]));
	}
	close(go[0]);
	close(ready[1]);
	char c = 0;
	assert_int_equal(read(ready[0], &c, 1), 1);
	struct bm_fd d = image_fd(HELD, sizeof HELD - 1, NULL, 0);
	struct bm_process p = {.pid = pid, .fds = &d, .nfds = 1};
	char why[700];
	/* Bytes that do not add up (a FIFO written to meanwhile): no layout. */
	d.data_len--;
	int short_rc = bm_kstate_read(&p, why, sizeof why);
	uint32_t short_bufs = d.npipe_bufs;
	d.data_len++;
	int rc = bm_kstate_read(&p, why, sizeof why);
	assert_int_equal(write(go[1], "g", 1), 1);
	int status = -1;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_int_equal(short_rc, 0);
	assert_int_equal(short_bufs, 0);
	assert_int_equal(rc, 0);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0); /* nothing moved */
	assert_int_equal(d.npipe_bufs, sizeof BUILT / sizeof *BUILT);
	for (uint32_t i = 0; i < d.npipe_bufs; i++) {
		assert_int_equal(d.pipe_bufs[i].offset, BUILT[i].offset);
		assert_int_equal(d.pipe_bufs[i].len, BUILT[i].len);
		assert_int_equal(d.pipe_bufs[i].flags, BUILT[i].flags);
	}
	int twin[2], again[2];
	new_pipe(twin, 0);
	assert_true(build(twin[0], twin[1]));
	new_pipe(again, 0);
	assert_int_equal(bm_pipe_refill(again[1], &d), 0);
	assert_pipes_alike(twin, again);
	close_pipe(twin);
	close_pipe(again);
	free(d.pipe_bufs);
	close(go[1]);
	close(ready[0]);
	free(d.data);
}

/* A ring of more buffers than the reader reads in one run
 * (../progs/pipebig.h: three chunks), built into the pipe of ends R and W
 * (its ring PIPE_BIG_RING): the buffers into LAYOUT (PIPE_BIG_BUFS), the
 * bytes held into BYTES and *LEN.  False on a failure. */
static bool build_big(int r, int w, struct bm_pipe_buf *layout, uint8_t *bytes, uint32_t *len)
{
	uint8_t piece[8];
	uint32_t at = 0;
	for (uint32_t i = 0; i < PIPE_BIG_BUFS; i++) {
		uint32_t n = (uint32_t)pipe_big_piece(i, piece);
		layout[i] = (struct bm_pipe_buf){0, n, i % 3 == 0 ? 0 : i % 3 == 1 ? BM_PIPE_BUF_CAN_MERGE : BM_PIPE_BUF_PACKET};
		memcpy(bytes + at, piece, n);
		at += n;
	}
	layout[0].offset = PIPE_BIG_TAKEN;
	layout[0].len -= PIPE_BIG_TAKEN;
	memmove(bytes, bytes + PIPE_BIG_TAKEN, at - PIPE_BIG_TAKEN);
	*len = at - PIPE_BIG_TAKEN;
	return pipe_big_build(r, w);
}

/* The big ring as the BPF reader reads it, in chunks, from this process:
 * every buffer, and rebuilt alike its twin. */
static void reads_a_big_layout(void **state)
{
	(void)state;
	if (access("/sys/kernel/btf/vmlinux", R_OK) < 0 || geteuid() != 0)
		skip(); /* what the reader needs: root and a kernel with BTF (CI has both) */
	assert_true(bm_kstate_pipes_readable());
	int p[2], twin[2], again[2];
	if (!pipe_big_new(p))
		skip(); /* a ring above fs.pipe-max-size: CAP_SYS_RESOURCE (CI's root has it) */
	assert_true(pipe_big_new(twin) && pipe_big_new(again));
	static struct bm_pipe_buf layout[PIPE_BIG_BUFS], twin_layout[PIPE_BIG_BUFS];
	static uint8_t bytes[PIPE_BIG_BUFS * 8], twin_bytes[PIPE_BIG_BUFS * 8];
	uint32_t len = 0, twin_len = 0;
	assert_true(build_big(p[0], p[1], layout, bytes, &len));
	assert_true(build_big(twin[0], twin[1], twin_layout, twin_bytes, &twin_len));
	struct bm_fd d = image_fd(bytes, len, NULL, 0);
	d.fd = p[0];
	struct bm_process proc = {.pid = getpid(), .fds = &d, .nfds = 1};
	char why[700];
	assert_int_equal(bm_kstate_read(&proc, why, sizeof why), 0);
	assert_int_equal(d.npipe_bufs, PIPE_BIG_BUFS);
	for (uint32_t i = 0; i < PIPE_BIG_BUFS; i++)
		if (d.pipe_bufs[i].offset != layout[i].offset || d.pipe_bufs[i].len != layout[i].len ||
		    d.pipe_bufs[i].flags != layout[i].flags)
			fail_msg("buffer %u: %u bytes at %u, flags %u; built %u at %u, %u", i, d.pipe_bufs[i].len,
				 d.pipe_bufs[i].offset, d.pipe_bufs[i].flags, layout[i].len, layout[i].offset,
				 layout[i].flags);
	assert_int_equal(bm_pipe_refill(again[1], &d), 0);
	assert_pipes_alike(twin, again);
	/* The read moved nothing: the pipe itself is alike a twin built again. */
	close_pipe(twin);
	assert_true(pipe_big_new(twin));
	assert_true(build_big(twin[0], twin[1], twin_layout, twin_bytes, &twin_len));
	assert_pipes_alike(twin, p);
	close_pipe(p);
	close_pipe(twin);
	close_pipe(again);
	free(d.data);
	free(d.pipe_bufs);
}

/* Gives P (its one pipe, fd FD_PIPE) a chunk's records: its first (START,
 * COUNT), then NRECS buffers of one byte each. */
static void feed_chunk(struct bm_process *p, struct bm_chunks *st, uint32_t start, uint32_t count,
		       uint32_t nrecs)
{
	struct bm_kstate_rec r = {.kind = BM_KSTATE_PIPE, .fd = FD_PIPE, .valid = 1, .a = start,
				  .b = BM_KSTATE_PIPE_COUNT | count};
	bm_pipe_layout_record(p, st, &r);
	for (uint32_t k = 0; k < nrecs; k++) {
		r.a = 1ull << 32; /* 1 byte at 0 */
		r.b = BM_KERNEL_PIPE_BUF_FLAG_CAN_MERGE;
		bm_pipe_layout_record(p, st, &r);
	}
}

/* The reader's records over its runs: a ring of 1100 buffers in chunks of
 * 512, kept whole; a chunk from elsewhere than the last ended, of another
 * count, short or long, or a ring left in part, dropped. */
static void takes_chunks(void **state)
{
	(void)state;
	static uint8_t bytes[1100];
	memset(bytes, 'x', sizeof bytes);
	struct bm_fd d = image_fd(bytes, sizeof bytes, NULL, 0);
	struct bm_process p = {.pid = 1, .fds = &d, .nfds = 1};
	const struct {
		uint32_t start, count, nrecs; /* the second chunk (start 0: none) */
		uint32_t kept;
	} cases[] = {
		{512, 1100, 512, 1100},
		{511, 1100, 512, 0},
		{512, 1101, 512, 0},
		{512, 1100, 511, 0},
		{512, 1100, 513, 0},
		{0, 0, 0, 0},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		struct bm_chunks st = {0};
		feed_chunk(&p, &st, 0, 1100, 512);
		assert_int_equal(bm_pipe_layout_next(&p, &st, 0), 512);
		if (cases[i].start)
			feed_chunk(&p, &st, cases[i].start, cases[i].count, cases[i].nrecs);
		uint32_t next = bm_pipe_layout_next(&p, &st, 0);
		if (next == 1024) {
			feed_chunk(&p, &st, 1024, 1100, 76);
			next = bm_pipe_layout_next(&p, &st, 0);
		}
		assert_int_equal(next, cases[i].start ? 0 : 512); /* read whole or dropped; or in part */
		bm_pipe_layout_end(&p, &st);
		if (d.npipe_bufs != cases[i].kept)
			fail_msg("case %zu: %u buffers kept, not %u", i, d.npipe_bufs, cases[i].kept);
		assert_null(st.done);
		bm_pipe_layout_drop(&p);
	}
	/* Within one chunk, and past the most a ring has: not read. */
	struct bm_chunks st = {0};
	feed_chunk(&p, &st, 0, BM_KSTATE_PIPE_BUFS_MAX + 1, 0);
	assert_int_equal(bm_pipe_layout_next(&p, &st, 0), 0);
	bm_pipe_layout_end(&p, &st);
	assert_int_equal(d.npipe_bufs, 0);
	free(d.data);
}

/* The image holds a layout of more buffers than one chunk from version 16
 * on; an image of version 15, at most 512. */
static void image_counts_by_version(void **state)
{
	(void)state;
	static uint8_t bytes[600];
	static struct bm_pipe_buf bufs[600];
	for (uint32_t i = 0; i < 600; i++)
		bufs[i] = (struct bm_pipe_buf){0, 1, BM_PIPE_BUF_PACKET};
	struct bm_fd d = image_fd(bytes, sizeof bytes, bufs, 600);
	struct bm_process p = {.fds = &d, .nfds = 1};
	struct bm_wbuf b;
	bm_wbuf_init(&b);
	bm_pipe_layouts_encode(&b, &p);
	free(d.pipe_bufs);
	d.pipe_bufs = NULL;
	d.npipe_bufs = 0;
	struct bm_rcur c = {.data = b.data, .len = b.len, .version = 16};
	bm_pipe_layouts_decode(&c, &p);
	assert_false(bm_rcur_failed(&c));
	assert_int_equal(d.npipe_bufs, 600);
	free(d.pipe_bufs);
	d.pipe_bufs = NULL;
	d.npipe_bufs = 0;
	c = (struct bm_rcur){.data = b.data, .len = b.len, .version = 15};
	bm_pipe_layouts_decode(&c, &p);
	assert_true(bm_rcur_failed(&c));
	assert_non_null(strstr(c.why, "pipe buffer count 600 exceeds the limit of 512"));
	free(d.pipe_bufs);
	bm_wbuf_free(&b);
	free(d.data);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(rebuilds_a_layout),
		cmocka_unit_test(rebuilds_packets),
		cmocka_unit_test(refuses_bad_layouts),
		cmocka_unit_test(reads_a_layout),
		cmocka_unit_test(reads_a_big_layout),
		cmocka_unit_test(takes_chunks),
		cmocka_unit_test(image_counts_by_version),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
