/* fd_opener.h: the credentials a file was opened with travel in the
 * image's list of openers (version 18), only for descriptors opened by
 * name; and the restore opens a file as them (a file its opener may not
 * open is refused with EACCES, one it may is opened, into the caller's
 * descriptor table), the caller's own credentials untouched. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "creds.h"
#include "fd_opener.h"
#include "fd_policy.h"
#include "log.h"
#include "wire.h"
#include "unit_process.h"

#define UNIT_TMPDIR_NAME "fd-opener"
#include "unit_tmpdir.h"

#define NOBODY 65534u

static const struct bm_creds nobody = {
	.uid = {NOBODY, NOBODY, NOBODY, NOBODY},
	.gid = {NOBODY, NOBODY, NOBODY, NOBODY},
	.ngroups = 2,
	.groups = {100, NOBODY},
	.cap_bnd = ~0ULL >> 23,
};

/* A descriptor of KIND at FD, not a dup, carried. */
static struct bm_fd fd_of(int32_t fd, uint32_t kind, char *path)
{
	return (struct bm_fd){.fd = fd, .kind = kind, .shares_with = -1, .path = path, .replaced = BM_FD_CARRIED};
}

#define MAX_FDS 4

/* P's list of openers written, and read into OUT, whose descriptors
 * (GOT, room for MAX_FDS) are P's without openers; 0, or the cursor's
 * error with its why in WHY. */
static int round_trip(const struct bm_process *p, struct bm_fd *got, struct bm_process *out, char *why, size_t n)
{
	assert_true(p->nfds <= MAX_FDS);
	memcpy(got, p->fds, p->nfds * sizeof *got);
	for (uint32_t i = 0; i < p->nfds; i++)
		got[i].opener = NULL;
	*out = (struct bm_process){.fds = got, .nfds = p->nfds};
	struct bm_wbuf b;
	bm_wbuf_init(&b);
	bm_fd_openers_encode(&b, p);
	struct bm_rcur c;
	bm_rcur_init(&c, b.data, b.len);
	c.version = 18;
	bm_fd_openers_decode(&c, out);
	snprintf(why, n, "%s", c.why);
	int rc = c.error ? c.error : bm_rcur_left(&c) ? -EPROTO : 0;
	bm_wbuf_free(&b);
	return rc;
}

/* P's list of openers is rejected when read back, its why saying SAID
 * (where given). */
static void assert_list_rejected(const struct bm_process *p, const char *said)
{
	struct bm_fd got[MAX_FDS];
	struct bm_process out;
	char why[200];
	assert_int_equal(round_trip(p, got, &out, why, sizeof why), -EBADMSG);
	if (said)
		assert_non_null(strstr(why, said));
	forget_openers(&out);
}

static void test_image_round_trip(void **state)
{
	(void)state;
	struct bm_creds root = nobody;
	memset(root.uid, 0, sizeof root.uid);
	root.cap_prm = root.cap_eff = 0x1ff;
	root.ngroups = 0;
	struct bm_fd in[] = {fd_of(0, BM_FD_REGULAR, "/etc/passwd"), fd_of(3, BM_FD_PIPE, NULL),
			     fd_of(4, BM_FD_DIRECTORY, "/etc"), fd_of(7, BM_FD_FIFO, "/tmp/f")};
	in[0].opener = (struct bm_creds *)&nobody;
	in[2].opener = &root;
	struct bm_fd got[MAX_FDS];
	struct bm_process p = {.fds = in, .nfds = 4}, out;
	char why[200];
	assert_int_equal(round_trip(&p, got, &out, why, sizeof why), 0);
	assert_non_null(got[0].opener);
	assert_true(bm_creds_equal(got[0].opener, &nobody));
	assert_null(got[1].opener);
	assert_non_null(got[2].opener);
	assert_true(bm_creds_equal(got[2].opener, &root));
	assert_null(got[3].opener); /* none read: opened as binmig */
	forget_openers(&out);
}

/* An opener of a pipe (made by the restore, not opened by name), or of a
 * dup, an id no credentials hold and capabilities no process has, are
 * refused. */
static void test_image_rejects(void **state)
{
	(void)state;
	struct bm_fd in[] = {fd_of(3, BM_FD_PIPE, NULL), fd_of(4, BM_FD_REGULAR, "/etc/passwd")};
	struct bm_process p = {.fds = in, .nfds = 2};
	in[0].opener = (struct bm_creds *)&nobody;
	assert_list_rejected(&p, "not opened by name");

	in[0].opener = NULL;
	in[1].shares_with = 3;
	in[1].opener = (struct bm_creds *)&nobody;
	assert_list_rejected(&p, NULL);

	struct bm_creds none = nobody;
	none.uid[1] = UINT32_MAX; /* "unchanged" to setresuid */
	in[1].shares_with = -1;
	in[1].opener = &none;
	assert_list_rejected(&p, "the id -1");

	struct bm_creds odd = nobody;
	odd.cap_eff = 1; /* not permitted */
	in[1].opener = &odd;
	assert_list_rejected(&p, "capabilities no process has");
}

static int open_path(const struct bm_fd *d)
{
	int fd = open(d->path, O_RDONLY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

/* DIR/NAME made with mode 0600 and owner UID. */
static char *file_of(uid_t uid, const char *name)
{
	static char paths[2][PATH_MAX];
	char *path = paths[uid != 0];
	assert_true(snprintf(path, PATH_MAX, "%s/%s", dir, name) < PATH_MAX);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(fchown(fd, uid, uid), 0);
	close(fd);
	return path;
}

static void test_open_as_opener(void **state)
{
	(void)state;
	if (getuid() != 0)
		skip();
	assert_int_equal(chmod(dir, 0755), 0);
	struct bm_fd mine = fd_of(5, BM_FD_REGULAR, file_of(0, "root-only"));
	struct bm_fd theirs = fd_of(6, BM_FD_REGULAR, file_of(NOBODY, "nobody's"));
	mine.opener = theirs.opener = (struct bm_creds *)&nobody;
	const char *step = "x";

	/* Its opener may not open root's file; binmig could. */
	assert_int_equal(bm_fd_open_as_opener(&mine, open_path, &step), -EACCES);
	assert_non_null(step);
	assert_string_equal(step, "open");
	int fd = bm_fd_open_as_opener(&theirs, open_path, &step);
	assert_true(fd >= 0);
	assert_null(step);
	struct stat st;
	assert_int_equal(fstat(fd, &st), 0); /* in this process's table */
	assert_int_equal(st.st_uid, NOBODY);
	close(fd);

	/* binmig's own credentials are left as they were, and its memory
	 * (the child's too) as dumpable as it was. */
	assert_int_equal(prctl(PR_GET_DUMPABLE), 1);
	struct bm_creds self;
	assert_int_equal(bm_creds_of_self(&self), 0);
	assert_int_equal(self.uid[1], 0);
	assert_int_equal(self.uid[3], 0);
	assert_true(self.cap_eff != 0);

	/* Opened as binmig's own: directly (no step named). */
	mine.opener = &self;
	fd = bm_fd_open_as_opener(&mine, open_path, &step);
	assert_true(fd >= 0);
	assert_null(step);
	close(fd);

	/* Credentials the child cannot take: the step that failed. */
	struct bm_creds odd = nobody;
	odd.cap_eff = 1;
	theirs.opener = &odd;
	assert_int_equal(bm_fd_open_as_opener(&theirs, open_path, &step), -EPERM);
	assert_non_null(step);
	assert_string_equal(step, "capset");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_image_round_trip),
		cmocka_unit_test(test_image_rejects),
		cmocka_unit_test_setup_teardown(test_open_as_opener, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
