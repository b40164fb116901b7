/* How a pipe's bytes lie in its buffers (migrator/pipe_layout.c): a
 * child builds a pipe whose buffers each hold a little (small writes with
 * a read between, a buffer copied with tee, which may not be merged into,
 * a packet), the BPF reader must see exactly those buffers and change
 * nothing, and the pipe rebuilt from them must take as many bytes more in
 * small non-blocking writes, and give the same bytes in reads of the same
 * sizes, as a twin built the same way.  Also a layout rebuilt without BPF
 * (packets of several sizes, offsets up to the page's end), and the
 * layouts the image refuses. */
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

#include "kstate.h"
#include "pipe_layout.h"

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
	if (pipe2(plain, O_CLOEXEC | O_NONBLOCK) < 0)
		return false;
	if (pipe2(packet, O_CLOEXEC | O_NONBLOCK | O_DIRECT) < 0) {
		close(plain[0]);
		close(plain[1]);
		return false;
	}
	bool ok = write(w, "aaaa", 4) == 4 && write(w, "bbbbbb", 6) == 6 && read(r, junk, 3) == 3 &&
		  write(plain[1], "ccccc", 5) == 5 && tee(plain[0], w, 5, SPLICE_F_NONBLOCK) == 5 &&
		  write(w, "dd", 2) == 2 && write(packet[1], "eee", 3) == 3 &&
		  splice(packet[0], NULL, w, NULL, 3, SPLICE_F_NONBLOCK) == 3 && write(w, "ff", 2) == 2;
	close(plain[0]);
	close(plain[1]);
	close(packet[0]);
	close(packet[1]);
	return ok;
}

/* The bytes small non-blocking writes add to the pipe of W until it is
 * full (each may merge into the newest buffer, as a large one would not). */
static size_t room(int w)
{
	static const char chunk[100] = {0};
	size_t took = 0;
	ssize_t n;
	while ((n = write(w, chunk, sizeof chunk)) > 0)
		took += (size_t)n;
	assert_int_equal(errno, EAGAIN);
	return took;
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

/* The pipes of ends A and B (each non-blocking, 16 pages) take as many
 * bytes more and then read back alike. */
static void assert_pipes_alike(int a[2], int b[2])
{
	int qa = -1, qb = -1;
	assert_int_equal(ioctl(a[0], FIONREAD, &qa), 0);
	assert_int_equal(ioctl(b[0], FIONREAD, &qb), 0);
	assert_int_equal(qa, qb);
	size_t ra = room(a[1]), rb = room(b[1]);
	assert_int_equal(ra, rb);
	static uint8_t all_a[1 << 17], all_b[1 << 17];
	size_t sizes_a[256], sizes_b[256];
	size_t na = drain(a[0], sizes_a, 256, all_a, sizeof all_a);
	size_t nb = drain(b[0], sizes_b, 256, all_b, sizeof all_b);
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
	assert_true(room(flat[1]) > room(twin[1]));
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(rebuilds_a_layout),
		cmocka_unit_test(rebuilds_packets),
		cmocka_unit_test(refuses_bad_layouts),
		cmocka_unit_test(reads_a_layout),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
