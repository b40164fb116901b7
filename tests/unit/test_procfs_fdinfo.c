/* Tests of the fdinfo reader (procfs_fdinfo.c): the parser against the
 * captured samples and against malformed and truncated text, the reader
 * against descriptors of this process.  The timerfd lines are
 * test_timers.c's. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <sys/stat.h>

#include "unit_procfs.h"

static void test_fdinfo_samples(void **state)
{
	(void)state;
	struct bm_fdinfo f;
	char *text = read_sample("fdinfo-append.txt");
	assert_int_equal(bm_parse_fdinfo(text, &f), 0);
	assert_int_equal(f.pos, 1234);
	/* The kernel's O_LARGEFILE (0100000; glibc's is 0 on x86-64) | O_APPEND | O_WRONLY */
	assert_int_equal(f.flags, 0100000 | O_APPEND | O_WRONLY);
	assert_int_equal(f.mnt_id, 27);
	assert_int_equal(f.ino, 10953087);
	assert_false(f.has_eventfd);
	free(text);

	text = read_sample("fdinfo-eventfd.txt");
	assert_int_equal(bm_parse_fdinfo(text, &f), 0);
	assert_int_equal(f.pos, 0);
	assert_int_equal(f.flags, O_CLOEXEC | O_NONBLOCK | O_RDWR);
	assert_int_equal(f.mnt_id, 17);
	assert_int_equal(f.ino, 1038);
	assert_true(f.has_eventfd);
	assert_int_equal(f.eventfd_count, 5 + 0x1234567);
	free(text);

	/* Lines of other file types are skipped. */
	assert_int_equal(bm_parse_fdinfo("pos:\t0\nflags:\t02\nmnt_id:\t15\nino:\t99\n"
					 "tfd:        5 events:       19 data:                5  pos:0 ino:3f9 sdev:e\n"
					 "inotify wd:1 ino:2 sdev:3 mask:4 ignored_mask:0\n"
					 "lock:\t1: POSIX  ADVISORY  WRITE 12 fe:00:99 0 EOF\nsomething without colon\n", &f), 0);
	assert_int_equal(f.ino, 99);
	assert_int_equal(f.mnt_id, 15);
}

/* Locks held through a descriptor: counted (file_locks.c reads them). */
static void test_fdinfo_locks(void **state)
{
	(void)state;
	struct bm_fdinfo f;
	assert_int_equal(bm_parse_fdinfo("pos:\t0\nflags:\t02100001\nmnt_id:\t26\nino:\t10953679\n"
					 "lock:\t1: POSIX  ADVISORY  WRITE 31768 fe:00:10953679 0 EOF\n"
					 "lock:\t2: FLOCK  ADVISORY  WRITE 31768 fe:00:10953679 0 EOF\n",
					 &f),
			 0);
	assert_int_equal(f.locks, 2);
	assert_int_equal(bm_parse_fdinfo("pos:\t0\nflags:\t02\nmnt_id:\t1\nino:\t2\n", &f), 0);
	assert_int_equal(f.locks, 0);
}

static void test_fdinfo_malformed(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"", "flags:\t02\nmnt_id:\t15\nino:\t99\n", "pos:\t0\nmnt_id:\t15\nino:\t99\n",
		"pos:\t0\nflags:\t02\nino:\t99\n", "pos:\t0\nflags:\t02\nmnt_id:\t15\n",
		"pos:\t0\nflags:\t09\nmnt_id:\t15\nino:\t99\n", "pos:\t-1\nflags:\t02\nmnt_id:\t15\nino:\t99\n",
		"pos:\t18446744073709551616\nflags:\t02\nmnt_id:\t15\nino:\t99\n",
		"pos:\t0\nflags:\t02\nmnt_id:\t4294967296\nino:\t99\n",
		"pos:\t0\nflags:\t02\nmnt_id:\t15\nino:\t99 x\n",
		"pos:\t0\nflags:\t02\nmnt_id:\t15\nino:\t99\neventfd-count:  xyz\n",
		"pos:\t0\nflags:\t02\nmnt_id:\t15\nino:\t99\neventfd-count:\n",
	};
	struct bm_fdinfo f;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		if (bm_parse_fdinfo(bad[i], &f) != -EINVAL)
			fail_msg("accepted malformed fdinfo '%s'", bad[i]);
	}
}

static void test_fdinfo_truncations(void **state)
{
	(void)state;
	static const char *const files[] = { "fdinfo-append.txt", "fdinfo-eventfd.txt" };
	for (size_t i = 0; i < 2; i++) {
		char *text = read_sample(files[i]);
		size_t len = strlen(text), ino_value = offset_after(text, "ino:\t");
		struct bm_fdinfo f;
		for (size_t k = 0; k <= len; k++) {
			char *copy = dup_prefix(text, k);
			int r = bm_parse_fdinfo(copy, &f);
			if (k <= ino_value)
				assert_int_equal(r, -EINVAL);
			else if (k == len)
				assert_int_equal(r, 0);
			else if (r != 0 && r != -EINVAL)
				fail_msg("cut fdinfo gave %d", r);
			free(copy);
		}
		free(text);
	}
}

static void test_live_fdinfo(void **state)
{
	(void)state;
	char path[64];
	int tmp = make_temp_file(path, sizeof path);
	int fd = open(path, O_RDWR | O_APPEND | O_CLOEXEC);
	unlink(path);
	close(tmp);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "0123456789", 10), 10);
	struct bm_fdinfo f;
	assert_int_equal(bm_read_fdinfo(getpid(), fd, &f), 0);
	assert_int_equal(f.pos, 10);
	assert_int_equal(f.flags & O_ACCMODE, O_RDWR);
	assert_true(f.flags & O_APPEND);
	assert_true(f.flags & O_CLOEXEC);
	assert_false(f.has_eventfd);
	struct statx sx;
	assert_int_equal(statx(fd, "", AT_EMPTY_PATH, STATX_INO | STATX_MNT_ID, &sx), 0);
	assert_int_equal(f.ino, sx.stx_ino);
	if (sx.stx_mask & STATX_MNT_ID)
		assert_int_equal(f.mnt_id, sx.stx_mnt_id);
	assert_int_equal(lseek(fd, 3, SEEK_SET), 3);
	assert_int_equal(bm_read_fdinfo(getpid(), fd, &f), 0);
	assert_int_equal(f.pos, 3);
	close(fd);

	int efd = eventfd(3, EFD_NONBLOCK);
	assert_true(efd >= 0);
	uint64_t add = 0x100000000ull;
	assert_int_equal(write(efd, &add, 8), 8);
	assert_int_equal(bm_read_fdinfo(getpid(), efd, &f), 0);
	assert_true(f.has_eventfd);
	assert_int_equal(f.eventfd_count, 0x100000003ull);
	assert_true(f.flags & O_NONBLOCK);
	close(efd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fdinfo_samples),
		cmocka_unit_test(test_fdinfo_malformed),
		cmocka_unit_test(test_fdinfo_truncations),
		cmocka_unit_test(test_live_fdinfo),
		cmocka_unit_test(test_fdinfo_locks),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
