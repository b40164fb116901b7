/* Key files (keyfile.c): generating, loading, and every check a key file
 * must pass (mode, owner, type, length, digits). */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "unit_net.h"

/* ---- key files ---- */

static char key_dir[64];

static int key_setup(void **state)
{
	(void)state;
	bm_reset_errors();
	strcpy(key_dir, "/tmp/test_keyfile.XXXXXX");
	return mkdtemp(key_dir) ? 0 : -1;
}

static int key_teardown(void **state)
{
	(void)state;
	static const char *const names[] = { "key", "bad", "link" };
	char path[128];
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		snprintf(path, sizeof path, "%s/%s", key_dir, names[i]);
		unlink(path);
	}
	return rmdir(key_dir);
}

static void key_path(char *path, size_t size, const char *name)
{
	snprintf(path, size, "%s/%s", key_dir, name);
}

static void write_key_file(const char *path, const char *content, mode_t mode)
{
	unlink(path);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	write_raw(fd, content, strlen(content));
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

static void test_keygen_and_load(void **state)
{
	(void)state;
	char path[128], text[80];
	key_path(path, sizeof path, "key");
	mode_t old_umask = umask(0);
	int r = bm_keygen(path);
	umask(old_umask);
	assert_int_equal(r, 0);

	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_size, 65);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_int_equal(read(fd, text, sizeof text), 65);
	close(fd);
	assert_int_equal(text[64], '\n');

	uint8_t key[BM_KEY_LEN];
	assert_int_equal(bm_key_load(path, key), 0);
	for (int i = 0; i < BM_KEY_LEN; i++) {
		unsigned byte;
		char two[3] = { text[2 * i], text[2 * i + 1], 0 };
		assert_int_equal(sscanf(two, "%2x", &byte), 1);
		assert_int_equal(key[i], byte);
	}

	/* Never overwritten. */
	capture_begin();
	r = bm_keygen(path);
	const char *msg = capture_end();
	assert_int_equal(r, -EEXIST);
	assert_non_null(strstr(msg, "already exists; refusing to overwrite it"));
	uint8_t again[BM_KEY_LEN];
	assert_int_equal(bm_key_load(path, again), 0);
	assert_memory_equal(key, again, BM_KEY_LEN);

	/* Nor through a symbolic link. */
	char link_path[128], bad[128];
	key_path(link_path, sizeof link_path, "link");
	key_path(bad, sizeof bad, "bad");
	assert_int_equal(symlink(bad, link_path), 0);
	assert_int_equal(bm_keygen(link_path), -EEXIST);
	assert_int_equal(access(bad, F_OK), -1);

	/* Two keys differ. */
	assert_int_equal(bm_keygen(bad), 0);
	assert_int_equal(bm_key_load(bad, again), 0);
	assert_memory_not_equal(key, again, BM_KEY_LEN);
}

static void expect_load_failure(const char *content, mode_t mode, int err, const char *text)
{
	char path[128];
	key_path(path, sizeof path, "bad");
	write_key_file(path, content, mode);
	uint8_t key[BM_KEY_LEN];
	capture_begin();
	int r = bm_key_load(path, key);
	const char *msg = capture_end();
	assert_int_equal(r, err);
	assert_non_null(strstr(msg, text));
	assert_int_equal(bm_exit_code(), BM_EXIT_USAGE);
}

static void test_key_load_checks(void **state)
{
	(void)state;
	static const char good[] = "00112233445566778899aabbccddeeffFFEEDDCCBBAA99887766554433221100\n";
	char path[128];
	key_path(path, sizeof path, "bad");
	uint8_t key[BM_KEY_LEN];

	write_key_file(path, good, 0600);
	assert_int_equal(bm_key_load(path, key), 0);
	assert_int_equal(key[0], 0x00);
	assert_int_equal(key[1], 0x11);
	assert_int_equal(key[15], 0xff);
	assert_int_equal(key[16], 0xff);
	assert_int_equal(key[31], 0x00);
	write_key_file(path, good, 0400);
	assert_int_equal(bm_key_load(path, key), 0);
	/* The newline is optional. */
	char no_newline[80];
	snprintf(no_newline, sizeof no_newline, "%.64s", good);
	write_key_file(path, no_newline, 0600);
	assert_int_equal(bm_key_load(path, key), 0);

	expect_load_failure(good, 0644, -EPERM, "is readable by others (mode 0644); chmod 600 it");
	expect_load_failure(good, 0640, -EPERM, "is readable by its group (mode 0640); chmod 600 it");
	expect_load_failure(good, 0620, -EPERM, "is writable by its group (mode 0620)");
	expect_load_failure(good, 0606, -EPERM, "is readable and writable by others (mode 0606)");
	expect_load_failure(good, 0601, -EPERM, "is executable by others (mode 0601)");
	expect_load_failure("", 0600, -EINVAL, "is empty");
	expect_load_failure("00112233\n", 0600, -EINVAL, "holds 8 characters; a key is 64 hexadecimal digits");
	char longer[160];
	snprintf(longer, sizeof longer, "%s%s", good, good);
	expect_load_failure(longer, 0600, -EINVAL, "is too long");
	char bad_digit[80];
	snprintf(bad_digit, sizeof bad_digit, "%s", good);
	bad_digit[9] = 'g';
	expect_load_failure(bad_digit, 0600, -EINVAL, "character 10 is not a hexadecimal digit");
	char two_newlines[80];
	snprintf(two_newlines, sizeof two_newlines, "%.64s\n\n", good);
	expect_load_failure(two_newlines, 0600, -EINVAL, "holds 65 characters");

	/* Not a regular file. */
	capture_begin();
	int r = bm_key_load(key_dir, key);
	const char *msg = capture_end();
	assert_int_equal(r, -EINVAL);
	assert_non_null(strstr(msg, "is not a regular file"));
	/* Missing. */
	key_path(path, sizeof path, "missing");
	assert_int_equal(bm_key_load(path, key), -ENOENT);

	/* Someone else's file (checkable only as root, who may chown). */
	if (geteuid() == 0) {
		key_path(path, sizeof path, "bad");
		write_key_file(path, good, 0600);
		assert_int_equal(chown(path, 65534, 65534), 0);
		bm_reset_errors();
		capture_begin();
		r = bm_key_load(path, key);
		msg = capture_end();
		assert_int_equal(r, -EPERM);
		assert_non_null(strstr(msg, "belongs to uid 65534"));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_keygen_and_load, key_setup, key_teardown),
		cmocka_unit_test_setup_teardown(test_key_load_checks, key_setup, key_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
