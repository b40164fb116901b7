/* Unlinked files, FIFOs and directories (unlinked.c), both directions on
 * this process's own objects: an unlinked file is read the way a dump
 * reads it, made again the way a restore does (at its name, or without
 * one when the name is taken), shared by a second descriptor; a memfd
 * comes back a memfd of the same name and seals; FIFOs and directories
 * come back nameless; the image rules; the refusals. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"
#include "state.h"
#include "unlinked.h"
#include "unlinked_holes.h"

#define UNIT_TMPDIR_NAME "unlinked"
#include "unit_tmpdir.h"

static void quietly(void)
{
	static int saved = -1;
	if (saved < 0) {
		fflush(stderr);
		saved = dup(2);
		int null = open("/dev/null", O_WRONLY);
		dup2(null, 2);
		close(null);
	} else {
		dup2(saved, 2);
		close(saved);
		saved = -1;
	}
}

/* Describes descriptor fd of this process as a dump does. */
static int describe(int fd, struct bm_fd *out)
{
	char link[64], path[PATH_MAX];
	snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
	ssize_t n = readlink(link, path, sizeof path - 1);
	assert_true(n > 10);
	path[n] = 0;
	char *suffix = strstr(path, " (deleted)");
	assert_non_null(suffix);
	*suffix = 0;
	struct stat st;
	assert_int_equal(fstat(fd, &st), 0);
	*out = (struct bm_fd){.fd = fd, .shares_with = -1, .mode = st.st_mode, .flags = (uint32_t)fcntl(fd, F_GETFL)};
	return bm_unlinked_describe(getpid(), fd, path, &st, out);
}

static void test_file_both_ways(void **state)
{
	(void)state;
	char path[PATH_MAX + 8];
	snprintf(path, sizeof path, "%s/f", dir);
	int a = open(path, O_RDWR | O_CREAT | O_EXCL, 0604);
	int b = open(path, O_RDONLY);
	assert_true(a >= 0 && b >= 0);
	assert_int_equal(write(a, "contents of f", 13), 13);
	assert_int_equal(lseek(b, 3, SEEK_SET), 3);
	assert_int_equal(unlink(path), 0);

	struct bm_fd fds[2];
	assert_int_equal(describe(a, &fds[0]), 0);
	assert_int_equal(describe(b, &fds[1]), 0);
	fds[1].pos = 3;
	assert_int_equal(fds[0].kind, BM_FD_UNLINKED_FILE);
	assert_string_equal(fds[0].path, path);
	struct bm_process p = {.pid = getpid(), .fds = fds, .nfds = 2, .uid = {0, 0, 0, getuid()},
			       .gid = {0, 0, 0, getgid()}};
	assert_int_equal(bm_unlinked_collect(getpid(), &p), 0);
	assert_int_equal(fds[0].data_len, 13);
	assert_memory_equal(fds[0].data, "contents of f", 13);
	assert_int_equal(fds[1].data_len, 0); /* the same file: its contents once */
	char why[200];
	assert_true(bm_unlinked_check(fds, 2, why, sizeof why));
	close(a);
	close(b);

	/* Made again at its name, which is free. */
	assert_int_equal(bm_unlinked_precheck(&fds[0], NULL), 0);
	char err[300] = "";
	int ra = bm_unlinked_open(&p, 0, err, sizeof err);
	assert_true(ra >= 0);
	/* A restore puts it at its number before the next one is opened. */
	if (ra != fds[0].fd) {
		assert_int_equal(dup2(ra, fds[0].fd), fds[0].fd);
		close(ra);
		ra = fds[0].fd;
	}
	int rb = bm_unlinked_open(&p, 1, err, sizeof err);
	assert_true(rb >= 0);
	struct stat sa, sb;
	assert_true(fstat(ra, &sa) == 0 && fstat(rb, &sb) == 0);
	assert_true(sa.st_ino == sb.st_ino && sa.st_nlink == 0 && sa.st_size == 13 && (sa.st_mode & 07777) == 0604);
	assert_int_equal(lseek(rb, 0, SEEK_CUR), 3);
	assert_int_equal(fcntl(rb, F_GETFL) & O_ACCMODE, O_RDONLY);
	assert_int_equal(access(path, F_OK), -1);
	char link[64], text[PATH_MAX + 16], want[PATH_MAX + 32];
	snprintf(link, sizeof link, "/proc/self/fd/%d", ra);
	ssize_t n = readlink(link, text, sizeof text - 1);
	text[n > 0 ? n : 0] = 0;
	snprintf(want, sizeof want, "%s (deleted)", path);
	assert_string_equal(text, want);
	close(ra);
	close(rb);

	/* Its name taken meanwhile: made without a name, with a warning. */
	int taken = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(taken >= 0);
	close(taken);
	quietly();
	assert_int_equal(bm_unlinked_precheck(&fds[0], NULL), 0);
	quietly();
	ra = bm_unlinked_open(&p, 0, err, sizeof err);
	assert_true(ra >= 0);
	char back[16] = {0};
	assert_int_equal(pread(ra, back, sizeof back, 0), 13);
	assert_string_equal(back, "contents of f");
	assert_true(fstat(ra, &sa) == 0 && sa.st_nlink == 0);
	close(ra);
	bm_holes_free(&fds[0].holes);
	free(fds[0].path);
	free(fds[1].path);
	free(fds[0].data);
}

static void test_fifo_and_directory(void **state)
{
	(void)state;
	struct bm_fd fds[2] = {
		{.fd = 3, .kind = BM_FD_UNLINKED_FIFO, .flags = O_RDONLY, .shares_with = -1, .mode = S_IFIFO | 0620},
		{.fd = 4, .kind = BM_FD_UNLINKED_DIR, .flags = O_RDONLY | O_DIRECTORY, .shares_with = -1,
		 .mode = S_IFDIR | 0710, .object_id = 1},
	};
	char fifo[PATH_MAX + 8], sub[PATH_MAX + 8];
	snprintf(fifo, sizeof fifo, "%s/fifo", dir);
	snprintf(sub, sizeof sub, "%s/sub", dir);
	fds[0].path = fifo;
	fds[0].data = (uint8_t *)"queued";
	fds[0].data_len = 6;
	fds[1].path = sub;
	struct bm_process p = {.fds = fds, .nfds = 2, .uid = {0, 0, 0, getuid()}, .gid = {0, 0, 0, getgid()}};
	char err[300] = "";
	int f = bm_unlinked_open(&p, 0, err, sizeof err);
	int d = bm_unlinked_open(&p, 1, err, sizeof err);
	assert_true(f >= 0 && d >= 0);
	char back[8] = {0};
	assert_int_equal(read(f, back, sizeof back), 6);
	assert_string_equal(back, "queued");
	assert_int_equal(fcntl(f, F_GETFL) & O_NONBLOCK, 0);
	struct stat st;
	assert_true(fstat(f, &st) == 0 && S_ISFIFO(st.st_mode) && st.st_nlink == 0 && (st.st_mode & 07777) == 0620);
	assert_true(fstat(d, &st) == 0 && S_ISDIR(st.st_mode) && st.st_nlink == 0 && (st.st_mode & 07777) == 0710);
	assert_int_equal(access(fifo, F_OK), -1);
	assert_int_equal(access(sub, F_OK), -1);
	close(f);
	close(d);

	/* A name taken again cannot hold a removed FIFO or directory. */
	assert_int_equal(mkdir(sub, 0700), 0);
	quietly();
	int rc = bm_unlinked_precheck(&fds[1], NULL);
	quietly();
	assert_int_equal(rc, -1);
	assert_int_equal(bm_exit_code(), BM_EXIT_CONFLICT);
	bm_reset_errors();
	assert_int_equal(rmdir(sub), 0);

	/* A removed cwd. */
	char here[PATH_MAX];
	assert_non_null(getcwd(here, sizeof here));
	assert_int_equal(bm_unlinked_precheck(NULL, sub), 0);
	struct bm_process gone = {
		.cwd = sub, .cwd_removed = true, .cwd_known = true, .cwd_mode = 0751, .cwd_uid = 1234, .cwd_gid = 4321};
	assert_int_equal(bm_unlinked_chdir(&gone, err, sizeof err), 0);
	assert_null(getcwd(back, sizeof back));
	assert_true(bm_unlinked_is_removed("/proc/self/cwd"));
	struct stat cwd;
	assert_int_equal(stat("/proc/self/cwd", &cwd), 0);
	assert_int_equal(cwd.st_mode & 07777, 0751); /* as it was, with its owner */
	assert_int_equal(cwd.st_uid, 1234);
	assert_int_equal(cwd.st_gid, 4321);
	assert_int_equal(chdir(here), 0);
}

/* A memfd: described with its seals, made again with memfd_create under
 * its name, with contents, mode and seals. */
static void test_memfd_both_ways(void **state)
{
	(void)state;
	int fd = memfd_create("unit", MFD_ALLOW_SEALING);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "sealed memfd", 12), 12);
	assert_int_equal(fchmod(fd, 0600), 0);
	assert_int_equal(fcntl(fd, F_ADD_SEALS, F_SEAL_GROW | F_SEAL_SEAL), 0);
	struct bm_fd d;
	assert_int_equal(describe(fd, &d), 0);
	assert_int_equal(d.kind, BM_FD_UNLINKED_FILE);
	assert_string_equal(d.path, "/memfd:unit");
	assert_int_equal(d.object_flags, BM_UNLINKED_MEMFD | F_SEAL_GROW | F_SEAL_SEAL);
	struct bm_process p = {.pid = getpid(), .fds = &d, .nfds = 1, .uid = {0, 0, 0, getuid()},
			       .gid = {0, 0, 0, getgid()}};
	assert_int_equal(bm_unlinked_collect(getpid(), &p), 0);
	assert_int_equal(d.data_len, 12);
	char why[200];
	assert_true(bm_unlinked_check(&d, 1, why, sizeof why));
	assert_int_equal(bm_unlinked_precheck_all(&p), 0); /* no path to make */
	close(fd);

	char err[300] = "";
	int r = bm_unlinked_open(&p, 0, err, sizeof err);
	assert_true(r >= 0);
	char link[64], text[128] = "";
	snprintf(link, sizeof link, "/proc/self/fd/%d", r);
	assert_true(readlink(link, text, sizeof text - 1) > 0);
	assert_string_equal(text, "/memfd:unit (deleted)");
	assert_int_equal(fcntl(r, F_GET_SEALS), F_SEAL_GROW | F_SEAL_SEAL);
	struct stat st;
	assert_true(fstat(r, &st) == 0 && st.st_size == 12 && (st.st_mode & 07777) == 0600);
	char back[16] = {0};
	assert_int_equal(pread(r, back, sizeof back, 0), 12);
	assert_string_equal(back, "sealed memfd");
	close(r);
	free(d.path);
	free(d.data);
	bm_holes_free(&d.holes);
}

/* Where FD has data: "[a,b) [c,d) ..." */
static void data_of(int fd, char *buf, size_t len)
{
	buf[0] = 0;
	off_t at = 0, size = lseek(fd, 0, SEEK_END);
	size_t used = 0;
	while (at < size) {
		off_t data = lseek(fd, at, SEEK_DATA), hole = data < 0 ? -1 : lseek(fd, data, SEEK_HOLE);
		if (data < 0 || hole < 0)
			break;
		used += (size_t)snprintf(buf + used, len - used, "[%lld,%lld) ", (long long)data, (long long)hole);
		at = hole;
	}
}

/* A sparse memfd: its data extents read at dump, carried by the image's
 * encoding (and its rules), and its holes made again. */
static void test_holes(void **state)
{
	(void)state;
	const long pg = sysconf(_SC_PAGESIZE);
	int fd = memfd_create("holes", 0);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 16 * pg), 0);
	assert_int_equal(pwrite(fd, "first", 5, 0), 5);
	assert_int_equal(pwrite(fd, "tenth", 5, 10 * pg + 7), 5);
	char before[128], after[128];
	data_of(fd, before, sizeof before);
	struct bm_fd d;
	assert_int_equal(describe(fd, &d), 0);
	struct bm_process p = {.pid = getpid(), .fds = &d, .nfds = 1, .uid = {0, 0, 0, getuid()},
			       .gid = {0, 0, 0, getgid()}};
	assert_int_equal(bm_unlinked_collect(getpid(), &p), 0);
	assert_true(d.holes.known);
	assert_int_equal(d.holes.n, 2);
	assert_true(d.holes.x[0].start == 0 && d.holes.x[0].end == (uint64_t)pg);
	assert_true(d.holes.x[1].start == (uint64_t)(10 * pg) && d.holes.x[1].end == (uint64_t)(11 * pg));
	struct stat st_before;
	assert_int_equal(fstat(fd, &st_before), 0);
	close(fd);

	struct bm_wbuf b;
	bm_wbuf_init(&b);
	bm_holes_encode(&b, &d.holes);
	struct bm_rcur c;
	struct bm_holes got;
	bm_rcur_init(&c, b.data, b.len);
	bm_holes_decode(&c, d.data_len, &got);
	bm_rcur_finish(&c);
	assert_int_equal(c.error, 0);
	assert_true(got.known && got.n == 2 && got.x[1].end == (uint64_t)(11 * pg));
	bm_holes_free(&got);
	/* Out of order, or past the file's end: refused. */
	bm_store_le64(b.data + 4 + 16, 10 * pg); /* extent 1 starts where... */
	bm_store_le64(b.data + 4 + 8, 11 * pg);  /* ...extent 0 now ends */
	bm_rcur_init(&c, b.data, b.len);
	bm_holes_decode(&c, d.data_len, &got);
	bm_rcur_finish(&c);
	assert_int_not_equal(c.error, 0);
	bm_holes_free(&got);
	bm_rcur_init(&c, b.data, b.len);
	bm_holes_decode(&c, 5 * pg, &got);
	bm_rcur_finish(&c);
	assert_int_not_equal(c.error, 0);
	bm_holes_free(&got);
	bm_wbuf_free(&b);

	char err[300] = "";
	int r = bm_unlinked_open(&p, 0, err, sizeof err);
	assert_true(r >= 0);
	data_of(r, after, sizeof after);
	assert_string_equal(after, before);
	struct stat st;
	assert_true(fstat(r, &st) == 0 && st.st_size == 16 * pg && st.st_blocks == st_before.st_blocks);
	char back[8] = {0};
	assert_int_equal(pread(r, back, 5, 10 * pg + 7), 5);
	assert_string_equal(back, "tenth");
	close(r);
	free(d.path);
	free(d.data);
	bm_holes_free(&d.holes);
}

static void test_image_rules(void **state)
{
	(void)state;
	struct bm_fd fds[2] = {
		{.fd = 3, .kind = BM_FD_UNLINKED_FILE, .shares_with = -1, .object_id = 9, .path = "/a",
		 .file = {.size = 4}, .data = (uint8_t *)"abcd", .data_len = 4},
		{.fd = 4, .kind = BM_FD_UNLINKED_FILE, .shares_with = -1, .object_id = 9, .path = "/a",
		 .file = {.size = 4}},
	};
	char why[200];
	assert_true(bm_unlinked_check(fds, 2, why, sizeof why));
	fds[0].data_len = 3;
	assert_false(bm_unlinked_check(fds, 2, why, sizeof why));
	assert_non_null(strstr(why, "3 bytes of contents for a size of 4"));
	fds[0].data_len = 4;
	fds[1].data_len = 4;
	fds[1].data = fds[0].data;
	assert_false(bm_unlinked_check(fds, 2, why, sizeof why));
	assert_non_null(strstr(why, "not its first descriptor"));
	fds[1].data_len = 0;
	fds[1].path = "a";
	assert_false(bm_unlinked_check(fds, 2, why, sizeof why));
	assert_non_null(strstr(why, "relative path"));
	/* Seals only on a memfd, named /memfd:NAME. */
	fds[1].path = "/a";
	fds[0].object_flags = fds[1].object_flags = 1; /* F_SEAL_SEAL */
	assert_false(bm_unlinked_check(fds, 2, why, sizeof why));
	assert_non_null(strstr(why, "has the flags 0x1"));
	fds[0].object_flags = fds[1].object_flags = BM_UNLINKED_MEMFD | 1;
	assert_false(bm_unlinked_check(fds, 2, why, sizeof why));
	assert_non_null(strstr(why, "is named /a, not /memfd:NAME"));
	fds[0].path = fds[1].path = "/memfd:a";
	assert_true(bm_unlinked_check(fds, 2, why, sizeof why));
	fds[0].object_flags = fds[1].object_flags = BM_UNLINKED_MEMFD | 0x40;
	assert_false(bm_unlinked_check(fds, 2, why, sizeof why));
	/* Whether it may be linked (version 14): read, and only on a file that
	 * is no memfd. */
	fds[0].path = fds[1].path = "/a";
	fds[0].object_flags = fds[1].object_flags = BM_UNLINKED_LINK_KNOWN | BM_UNLINKED_LINKABLE;
	assert_true(bm_unlinked_check(fds, 2, why, sizeof why));
	fds[0].object_flags = fds[1].object_flags = BM_UNLINKED_LINK_KNOWN;
	assert_true(bm_unlinked_check(fds, 2, why, sizeof why));
	fds[0].object_flags = BM_UNLINKED_LINKABLE; /* not read, yet said */
	assert_false(bm_unlinked_check(fds, 2, why, sizeof why));
	assert_non_null(strstr(why, "has the flags 0x20000000"));
	fds[0].path = fds[1].path = "/memfd:a";
	fds[0].object_flags = fds[1].object_flags = BM_UNLINKED_MEMFD | BM_UNLINKED_LINK_KNOWN;
	assert_false(bm_unlinked_check(fds, 2, why, sizeof why));
}

static void test_refusals(void **state)
{
	(void)state;
	char path[PATH_MAX + 8], other[PATH_MAX + 8];
	snprintf(path, sizeof path, "%s/h", dir);
	snprintf(other, sizeof other, "%s/h2", dir);
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(link(path, other), 0);
	assert_int_equal(unlink(path), 0);
	struct bm_fd d;
	quietly();
	int rc = describe(fd, &d);
	quietly();
	assert_int_equal(rc, -1);
	assert_int_equal(bm_exit_code(), BM_EXIT_UNSUPPORTED);
	assert_non_null(strstr(bm_error_message(), "other hard links"));
	bm_reset_errors();
	assert_int_equal(unlink(other), 0);
	assert_int_equal(ftruncate(fd, (off_t)BM_UNLINKED_MAX_BYTES + 1), 0);
	quietly();
	rc = describe(fd, &d);
	quietly();
	assert_int_equal(rc, -1);
	assert_non_null(strstr(bm_error_message(), "larger than the 64 MiB"));
	bm_reset_errors();
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_file_both_ways, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fifo_and_directory, setup, teardown),
		cmocka_unit_test(test_memfd_both_ways),
		cmocka_unit_test(test_holes),
		cmocka_unit_test(test_image_rules),
		cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
