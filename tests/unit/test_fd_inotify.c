/* inotify instances (fd_inotify.c): the fdinfo parser on the kernel's text
 * and on damaged text, the image rules, and both directions on an instance
 * of this process: its watches are read the way a dump reads them (paths
 * found from handles), the instance is made again the way a restore does,
 * with the same watch numbers across a gap, and reports what it reported. */
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
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "fd_inotify.h"
#include "log.h"
#include "state.h"
#include "wire.h"
#include "unit_image.h"

static void test_parse(void **state)
{
	(void)state;
	struct bm_inotify_line *w;
	size_t n;
	const char *text = "pos:\t0\nflags:\t00\nmnt_id:\t17\nino:\t1039\n"
			   "inotify wd:2 ino:64007 sdev:fe00000 mask:2 ignored_mask:0 fhandle-bytes:8 fhandle-type:1 "
			   "f_handle:07400600b2490532\n"
			   "inotify wd:1f ino:3c51a sdev:fe00001 mask:300 ignored_mask:0 fhandle-bytes:8 fhandle-type:1 "
			   "f_handle:1ac5030000000000\n";
	assert_int_equal(bm_parse_inotify_watches(text, &w, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(w[0].wd, 2);
	assert_true(w[0].ino == 0x64007);
	assert_int_equal(w[0].sdev, 0xfe00000);
	assert_int_equal(w[0].mask, 2);
	assert_int_equal(w[0].handle_bytes, 8);
	assert_int_equal(w[0].handle[0], 0x07);
	assert_int_equal(w[0].handle[7], 0x32);
	assert_int_equal(w[1].wd, 31);
	free(w);
	const char *bad[] = {
		"inotify wd:0 ino:1 sdev:1 mask:2 ignored_mask:0 fhandle-bytes:1 fhandle-type:1 f_handle:00\n",
		"inotify wd:1 ino:1 sdev:1 mask:2 ignored_mask:0 fhandle-bytes:2 fhandle-type:1 f_handle:00\n",
		"inotify wd:1 ino:1 sdev:1 mask:2 ignored_mask:0 fhandle-bytes:1 fhandle-type:1 f_handle:0g\n",
		"inotify wd:1 ino:1 sdev:1 mask:2\n",
		"inotify wd:1 ino:1 sdev:1 mask:2 ignored_mask:0 fhandle-bytes:ff fhandle-type:1 f_handle:00\n",
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		assert_int_equal(bm_parse_inotify_watches(bad[i], &w, &n), -EINVAL);
		assert_null(w);
	}
}

static void add_watch(uint8_t *buf, size_t *len, int32_t wd, uint32_t mask, const char *path)
{
	bm_store_le32(buf + *len, (uint32_t)wd);
	bm_store_le32(buf + *len + 4, mask);
	bm_store_le32(buf + *len + 8, (uint32_t)strlen(path));
	memcpy(buf + *len + 12, path, strlen(path));
	*len += 12 + strlen(path);
}

static void test_image_rules(void **state)
{
	(void)state;
	uint8_t data[256];
	size_t len = 0;
	add_watch(data, &len, 1, IN_CREATE, "/tmp");
	add_watch(data, &len, 4, IN_MODIFY | IN_ONESHOT, "/etc/passwd");
	struct bm_fd fd = {.fd = 3, .kind = BM_FD_INOTIFY, .shares_with = -1, .data = data, .data_len = (uint32_t)len};
	char why[200];
	assert_true(bm_inotify_check(&fd, 1, why, sizeof why));
	struct bm_inotify_watch w[2];
	assert_int_equal(bm_inotify_watches(&fd, w, 2), 2);
	assert_int_equal(w[1].wd, 4);
	assert_int_equal(w[1].len, 11);
	fd.data_len = (uint32_t)len - 1;
	assert_false(bm_inotify_check(&fd, 1, why, sizeof why));
	assert_non_null(strstr(why, "cut short"));
	len = 0;
	add_watch(data, &len, 4, IN_CREATE, "/tmp");
	add_watch(data, &len, 4, IN_CREATE, "/var");
	fd.data_len = (uint32_t)len;
	assert_false(bm_inotify_check(&fd, 1, why, sizeof why));
	assert_non_null(strstr(why, "watch 4 does not follow 4"));
	len = 0;
	add_watch(data, &len, 1, IN_CREATE, "tmp");
	fd.data_len = (uint32_t)len;
	assert_false(bm_inotify_check(&fd, 1, why, sizeof why));
	assert_non_null(strstr(why, "no absolute path"));
	len = 0;
	add_watch(data, &len, 1, 0x00100000, "/tmp");
	fd.data_len = (uint32_t)len;
	assert_false(bm_inotify_check(&fd, 1, why, sizeof why));
	assert_non_null(strstr(why, "unknown mask bits"));
}

static void test_both_ways(void **state)
{
	(void)state;
	char dir[] = "/tmp/binmig-unit-inotify.XXXXXX";
	assert_non_null(mkdtemp(dir));
	char file[PATH_MAX];
	snprintf(file, sizeof file, "%s/f", dir);
	int made = open(file, O_WRONLY | O_CREAT, 0600);
	assert_true(made >= 0);
	close(made);
	int in = inotify_init1(IN_NONBLOCK);
	assert_true(in >= 0);
	assert_int_equal(inotify_add_watch(in, dir, IN_CREATE), 1);
	assert_int_equal(inotify_add_watch(in, "/", IN_OPEN), 2);
	assert_int_equal(inotify_rm_watch(in, 2), 0);
	assert_int_equal(inotify_add_watch(in, file, IN_MODIFY), 3);
	char buf[256];
	while (read(in, buf, sizeof buf) > 0) /* the IN_IGNORED of watch 2 */
		;
	struct bm_fd fds[1] = {{.fd = in, .kind = BM_FD_INOTIFY, .shares_with = -1}};
	struct bm_process p = {.pid = getpid(), .fds = fds, .nfds = 1};
	assert_int_equal(bm_inotify_collect(getpid(), &p), 0);
	struct bm_inotify_watch w[4];
	assert_int_equal(bm_inotify_watches(&fds[0], w, 4), 2);
	assert_int_equal(w[0].wd, 1);
	assert_int_equal(w[0].len, strlen(dir));
	assert_memory_equal(w[0].path, dir, strlen(dir));
	assert_int_equal(w[1].wd, 3);
	assert_memory_equal(w[1].path, file, strlen(file));
	char why[200];
	assert_true(bm_inotify_check(fds, 1, why, sizeof why));
	close(in);

	/* The restore: the same numbers (2 is taken and given back), nothing queued. */
	char err[300] = "";
	int again = bm_inotify_open(&fds[0], true, err, sizeof err);
	if (again < 0)
		fail_msg("%s", err);
	assert_int_equal(read(again, buf, sizeof buf), -1);
	assert_int_equal(errno, EAGAIN);
	int fd = open(file, O_WRONLY);
	assert_true(fd >= 0 && write(fd, "x", 1) == 1);
	close(fd);
	struct inotify_event *ev = (struct inotify_event *)buf;
	assert_true(read(again, buf, sizeof buf) >= (ssize_t)sizeof *ev);
	assert_int_equal(ev->wd, 3);
	assert_true(ev->mask & IN_MODIFY);
	close(again);

	/* Events queued and not read are refused. */
	in = inotify_init1(IN_NONBLOCK);
	assert_int_equal(inotify_add_watch(in, dir, IN_CREATE), 1);
	snprintf(file, sizeof file, "%s/g", dir);
	made = open(file, O_WRONLY | O_CREAT, 0600);
	close(made);
	free(fds[0].data);
	fds[0] = (struct bm_fd){.fd = in, .kind = BM_FD_INOTIFY, .shares_with = -1};
	quiet_begin();
	int rc = bm_inotify_collect(getpid(), &p);
	stderr_restore();
	assert_int_equal(rc, -1);
	assert_int_equal(bm_exit_code(), BM_EXIT_UNSUPPORTED);
	assert_non_null(strstr(bm_error_message(), "events not read yet"));
	bm_reset_errors();
	close(in);
	free(fds[0].data);
	unlink(file);
	snprintf(file, sizeof file, "%s/f", dir);
	unlink(file);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_image_rules),
		cmocka_unit_test(test_both_ways),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
