/* The access time, extended attributes, inode flags and space reserved
 * past the end of unlinked files (unlinked_attrs.c): read from this
 * process's own unlinked file and memfd as a dump reads them, made again
 * and finished as a restore does; the image encoding, its rules and
 * limits; the refusals. */
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
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"
#include "state.h"
#include "unit_image.h" /* quiet_begin, stderr_restore */
#include "unlinked.h"
#include "unlinked_attrs.h"
#include "unlinked_holes.h"

#define UNIT_TMPDIR_NAME "unlinked-attrs"
#include "unit_tmpdir.h"

/* What a dump reads of FD: contents, holes, attributes. */
static int read_as_dump(int fd, uint8_t **data, struct bm_file_id *id, struct bm_holes *holes,
			struct bm_file_attrs *attrs)
{
	char link[64];
	snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
	return bm_unlinked_read(link, "the test file", data, id, holes, attrs);
}

static void age(int fd)
{
	struct timespec t[2] = {{1000000000, 987654321}, {0, UTIME_OMIT}};
	assert_int_equal(futimens(fd, t), 0);
}

/* An unlinked file on the disk file system: read, made again, finished. */
static void test_file_both_ways(void **state)
{
	(void)state;
	char path[PATH_MAX + 8];
	snprintf(path, sizeof path, "%s/f", dir);
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0640);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "some contents", 13), 13);
	assert_int_equal(fsetxattr(fd, "user.one", "1", 1, 0), 0);
	assert_int_equal(fsetxattr(fd, "user.none", "", 0, 0), 0);
	assert_int_equal(fallocate(fd, FALLOC_FL_KEEP_SIZE, 16384, 8192), 0);
	assert_int_equal(unlink(path), 0);
	int flags = FS_NODUMP_FL;
	assert_int_equal(ioctl(fd, FS_IOC_SETFLAGS, &flags), 0);
	age(fd);
	struct stat before;
	assert_int_equal(fstat(fd, &before), 0);

	uint8_t *data = NULL;
	struct bm_file_id id;
	struct bm_holes holes;
	struct bm_file_attrs a;
	assert_int_equal(read_as_dump(fd, &data, &id, &holes, &a), 0);
	struct stat after_read;
	assert_int_equal(fstat(fd, &after_read), 0);
	/* The dump's reading left the access time alone. */
	assert_true(after_read.st_atim.tv_sec == 1000000000 && after_read.st_atim.tv_nsec == 987654321);
	assert_true(a.known && a.atime_ns == 1000000000987654321LL);
	assert_int_equal(a.iflags, FS_NODUMP_FL);
	assert_int_equal(a.nxattrs, 2);
	assert_int_equal(a.reserved.n, 1);
	assert_true(a.reserved.x[0].start == 16384 && a.reserved.x[0].end == 24576);
	close(fd);

	char err[300] = "";
	struct bm_unlinked_owner owner = {getuid(), getgid()};
	int made = bm_unlinked_make_file(owner, path, 0640, id.mtime_ns, data, 13, &holes, &a, err, sizeof err);
	assert_true(made >= 0);
	assert_int_equal(bm_file_attrs_finish(made, &a, id.mtime_ns, err, sizeof err), 0);
	struct stat st;
	assert_int_equal(fstat(made, &st), 0);
	assert_true(st.st_atim.tv_sec == before.st_atim.tv_sec && st.st_atim.tv_nsec == before.st_atim.tv_nsec);
	assert_true(st.st_mtim.tv_sec == before.st_mtim.tv_sec && st.st_mtim.tv_nsec == before.st_mtim.tv_nsec);
	assert_int_equal(st.st_blocks, before.st_blocks);
	assert_int_equal(ioctl(made, FS_IOC_GETFLAGS, &flags), 0);
	assert_int_equal(flags & BM_IFLAGS_CARRIED, FS_NODUMP_FL);
	char value[8] = "";
	assert_int_equal(fgetxattr(made, "user.one", value, sizeof value), 1);
	assert_int_equal(value[0], '1');
	assert_int_equal(fgetxattr(made, "user.none", value, sizeof value), 0);
	/* A second finish (a tree's members share a file) changes nothing. */
	assert_int_equal(bm_file_attrs_finish(made, &a, id.mtime_ns, err, sizeof err), 0);
	close(made);
	free(data);
	bm_holes_free(&holes);
	bm_file_attrs_free(&a);
}

/* A memfd: its attributes come back; space reserved in it is refused. */
static void test_memfd(void **state)
{
	(void)state;
	int fd = memfd_create("attrs", 0);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "memfd", 5), 5);
	assert_int_equal(fsetxattr(fd, "trusted.m", "mv", 2, 0), 0);
	age(fd);
	uint8_t *data = NULL;
	struct bm_file_id id;
	struct bm_holes holes;
	struct bm_file_attrs a;
	assert_int_equal(read_as_dump(fd, &data, &id, &holes, &a), 0);
	assert_true(a.known && a.nxattrs == 1 && a.reserved.n == 0);
	char err[300] = "";
	int made = bm_unlinked_make_memfd((struct bm_unlinked_owner){getuid(), getgid()}, "/memfd:attrs", 0600,
					  id.mtime_ns, BM_UNLINKED_MEMFD, data, 5, &holes, &a, err, sizeof err);
	assert_true(made >= 0);
	char value[8] = "";
	assert_int_equal(fgetxattr(made, "trusted.m", value, sizeof value), 2);
	struct stat st;
	assert_int_equal(fstat(made, &st), 0);
	assert_true(st.st_atim.tv_sec == 1000000000 && st.st_atim.tv_nsec == 987654321);
	close(made);
	bm_file_attrs_free(&a);

	/* What the destination's file system cannot keep fails the restore
	 * (the new process's error, exit 6): a flag tmpfs has not, an attribute of no namespace it
	 * knows. */
	made = bm_unlinked_make_memfd((struct bm_unlinked_owner){getuid(), getgid()}, "/memfd:attrs", 0600, id.mtime_ns,
				      BM_UNLINKED_MEMFD, data, 5, &holes, NULL, err, sizeof err);
	assert_true(made >= 0);
	a.known = true;
	a.iflags = FS_SYNC_FL;
	assert_int_equal(bm_file_attrs_finish(made, &a, id.mtime_ns, err, sizeof err), -1);
	assert_non_null(strstr(err, "inode flags 0x8"));
	struct bm_xattr odd = {"os3.x", 1, (uint8_t *)"x"};
	a.iflags = 0;
	a.nxattrs = 1;
	a.xattrs = &odd;
	assert_int_equal(bm_file_attrs_make(made, &a), -1);
	close(made);
	made = bm_unlinked_make_memfd((struct bm_unlinked_owner){getuid(), getgid()}, "/memfd:attrs", 0600, id.mtime_ns,
				      BM_UNLINKED_MEMFD, data, 5, &holes, &a, err, sizeof err);
	assert_int_equal(made, -1);
	assert_non_null(strstr(err, "cannot fill the memfd"));
	a = (struct bm_file_attrs){0};
	free(data);
	bm_holes_free(&holes);

	assert_int_equal(fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, 65536), 0);
	quiet_begin();
	int rc = read_as_dump(fd, &data, &id, &holes, &a);
	stderr_restore();
	assert_int_equal(rc, -1);
	assert_int_equal(bm_exit_code(), BM_EXIT_UNSUPPORTED);
	assert_non_null(strstr(bm_error_message(), "allocated beyond its data"));
	bm_reset_errors();
	close(fd);
}

/* Too many extended attributes, and space unwritten within the size:
 * refused, the access time left as it was. */
static void test_refusals(void **state)
{
	(void)state;
	char path[PATH_MAX + 8];
	snprintf(path, sizeof path, "%s/r", dir);
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(write(fd, "r", 1), 1);
	for (unsigned i = 0; i <= BM_XATTR_MAX_COUNT; i++) {
		char name[32];
		snprintf(name, sizeof name, "user.x%u", i);
		assert_int_equal(fsetxattr(fd, name, "v", 1, 0), 0);
	}
	age(fd);
	uint8_t *data = NULL;
	struct bm_file_id id;
	struct bm_holes holes;
	struct bm_file_attrs a;
	quiet_begin();
	int rc = read_as_dump(fd, &data, &id, &holes, &a);
	stderr_restore();
	assert_int_equal(rc, -1);
	assert_non_null(strstr(bm_error_message(), "65 extended attributes, more than the 64"));
	bm_reset_errors();
	struct stat st;
	assert_int_equal(fstat(fd, &st), 0);
	assert_true(st.st_atim.tv_sec == 1000000000 && st.st_atim.tv_nsec == 987654321);
	close(fd);

	fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(fallocate(fd, 0, 0, 65536), 0);
	quiet_begin();
	rc = read_as_dump(fd, &data, &id, &holes, &a);
	stderr_restore();
	assert_int_equal(rc, -1);
	assert_non_null(strstr(bm_error_message(), "not written within its size"));
	bm_reset_errors();
	close(fd);
}

/* Space reserved within the size and written since, not yet on the disk
 * (FIEMAP still says unwritten, SEEK_DATA says data): carried as data,
 * with the file system's writing left to it. */
static void test_unwritten_but_data(void **state)
{
	(void)state;
	char path[PATH_MAX + 8], block[8192];
	memset(block, 'w', sizeof block);
	snprintf(path, sizeof path, "%s/w", dir);
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(fallocate(fd, 0, 0, sizeof block), 0);
	assert_int_equal(fsync(fd), 0); /* the unwritten extent on the disk */
	assert_int_equal(pwrite(fd, block, sizeof block, 0), (ssize_t)sizeof block);
	uint8_t *data = NULL;
	struct bm_file_id id;
	struct bm_holes holes;
	struct bm_file_attrs a;
	assert_int_equal(read_as_dump(fd, &data, &id, &holes, &a), 0);
	assert_true(a.known && a.reserved.n == 0);
	assert_true(holes.known && holes.n == 1 && holes.x[0].end == sizeof block);
	free(data);
	bm_holes_free(&holes);
	bm_file_attrs_free(&a);
	close(fd);
}

/* Encodes A, decodes it for a file of SIZE bytes; the decoder's error. */
static int round_trip(const struct bm_file_attrs *a, uint64_t size, struct bm_file_attrs *got)
{
	struct bm_wbuf b;
	bm_wbuf_init(&b);
	bm_file_attrs_encode(&b, a);
	struct bm_rcur c;
	bm_rcur_init(&c, b.data, b.len);
	bm_file_attrs_decode(&c, size, got);
	bm_rcur_finish(&c);
	bm_wbuf_free(&b);
	return c.error;
}

static void test_encoding(void **state)
{
	(void)state;
	struct bm_xattr x[2] = {{"user.a", 3, (uint8_t *)"abc"}, {"trusted.b", 0, NULL}};
	struct bm_extent r[2] = {{8192, 12288}, {65536, 69632}};
	struct bm_file_attrs a = {.known = true, .atime_ns = -5, .iflags = FS_APPEND_FL | FS_NOATIME_FL, .nxattrs = 2,
				  .xattrs = x, .reserved = {2, r, true}};
	struct bm_file_attrs got;
	assert_int_equal(round_trip(&a, 5000, &got), 0);
	assert_true(got.known && got.atime_ns == -5 && got.iflags == a.iflags && got.nxattrs == 2);
	assert_string_equal(got.xattrs[0].name, "user.a");
	assert_true(got.xattrs[0].len == 3 && memcmp(got.xattrs[0].value, "abc", 3) == 0);
	assert_true(got.xattrs[1].len == 0 && strcmp(got.xattrs[1].name, "trusted.b") == 0);
	assert_true(got.reserved.n == 2 && got.reserved.x[1].start == 65536 && got.reserved.x[1].end == 69632);
	bm_file_attrs_free(&got);
	/* None: one word. */
	struct bm_file_attrs none = {0};
	assert_int_equal(round_trip(&none, 0, &got), 0);
	assert_false(got.known);

	/* The rules: flags not carried, a reservation within the size or out
	 * of order, a name twice or without a namespace, a value too large. */
	a.iflags = 0x80000; /* FS_EXTENT_FL */
	assert_int_not_equal(round_trip(&a, 5000, &got), 0);
	bm_file_attrs_free(&got);
	a.iflags = 0;
	assert_int_not_equal(round_trip(&a, 10000, &got), 0);
	bm_file_attrs_free(&got);
	r[1].start = 10000;
	assert_int_not_equal(round_trip(&a, 5000, &got), 0);
	bm_file_attrs_free(&got);
	r[1].start = 65536;
	x[1].name = "user.a";
	assert_int_not_equal(round_trip(&a, 5000, &got), 0);
	bm_file_attrs_free(&got);
	x[1].name = "nonamespace";
	assert_int_not_equal(round_trip(&a, 5000, &got), 0);
	bm_file_attrs_free(&got);
	x[1].name = "other.b"; /* a dot, but no namespace the kernel has */
	assert_int_not_equal(round_trip(&a, 5000, &got), 0);
	bm_file_attrs_free(&got);
	x[1].name = "user."; /* a namespace alone */
	assert_int_not_equal(round_trip(&a, 5000, &got), 0);
	bm_file_attrs_free(&got);
	x[1].name = "user.big";
	static uint8_t big[BM_XATTR_MAX_VALUE + 1];
	x[1].value = big;
	x[1].len = sizeof big;
	assert_int_not_equal(round_trip(&a, 5000, &got), 0);
	bm_file_attrs_free(&got);
	x[1].len = BM_XATTR_MAX_VALUE;
	assert_int_equal(round_trip(&a, 5000, &got), 0);
	bm_file_attrs_free(&got);
}

/* The image rules over descriptors: attributes only with an unlinked
 * file's first descriptor. */
/* Times before 1970 are negative nanoseconds: futimens wants tv_nsec in
 * [0, 1e9), and a file of such times is made again with them. */
static void test_times_before_1970(void **state)
{
	(void)state;
	struct timespec t = bm_ns_timespec(-1);
	assert_true(t.tv_sec == -1 && t.tv_nsec == 999999999);
	t = bm_ns_timespec(-2000000000);
	assert_true(t.tv_sec == -2 && t.tv_nsec == 0);
	t = bm_ns_timespec(1000000000LL * 5 + 7);
	assert_true(t.tv_sec == 5 && t.tv_nsec == 7);
	char path[PATH_MAX + 8];
	snprintf(path, sizeof path, "%s/old", dir);
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	struct timespec set[2] = {bm_ns_timespec(-1500000000), bm_ns_timespec(-1)};
	assert_int_equal(futimens(fd, set), 0);
	struct stat st;
	assert_int_equal(fstat(fd, &st), 0);
	assert_true(st.st_atim.tv_sec == -2 && st.st_atim.tv_nsec == 500000000);
	assert_true(st.st_mtim.tv_sec == -1 && st.st_mtim.tv_nsec == 999999999);
	close(fd);
	unlink(path);
}

static void test_image_rules(void **state)
{
	(void)state;
	struct bm_fd fds[2] = {
		{.fd = 3, .kind = BM_FD_UNLINKED_FILE, .shares_with = -1, .object_id = 9, .path = "/a",
		 .file = {.size = 4}, .data = (uint8_t *)"abcd", .data_len = 4, .attrs = {.known = true}},
		{.fd = 4, .kind = BM_FD_UNLINKED_FILE, .shares_with = -1, .object_id = 9, .path = "/a",
		 .file = {.size = 4}},
	};
	char why[200];
	assert_true(bm_unlinked_check(fds, 2, why, sizeof why));
	fds[1].attrs.known = true;
	assert_false(bm_unlinked_check(fds, 2, why, sizeof why));
	assert_non_null(strstr(why, "not its first"));
	fds[1].attrs.known = false;
	fds[1].kind = BM_FD_REGULAR;
	fds[1].attrs.known = true;
	assert_false(bm_unlinked_check(fds, 2, why, sizeof why));
	assert_non_null(strstr(why, "no unlinked file"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_file_both_ways, setup, teardown),
		cmocka_unit_test(test_memfd),
		cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unwritten_but_data, setup, teardown),
		cmocka_unit_test(test_encoding),
		cmocka_unit_test(test_image_rules),
		cmocka_unit_test_setup_teardown(test_times_before_1970, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
