/* The descriptor policy (fd_policy.c): parsing --fd and --stdio, how the
 * two combine, naming what a descriptor is, applying a policy to real
 * descriptors of this process, the report's wording, and the "broken"
 * ends a restored process gets. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "fd_policy.h"
#include "log.h"
#include "state.h"

/* Errors are printed on stderr; keep the test's output readable. */
static int saved_stderr = -1;

static void quiet(void)
{
	fflush(stderr);
	saved_stderr = dup(2);
	int null = open("/dev/null", O_WRONLY);
	assert_true(saved_stderr >= 0 && null >= 0);
	dup2(null, 2);
	close(null);
}

static void loud(void)
{
	if (saved_stderr >= 0) {
		fflush(stderr);
		dup2(saved_stderr, 2);
		close(saved_stderr);
		saved_stderr = -1;
	}
}

/* Also after a failed assertion inside a quiet stretch. */
static int teardown(void **state)
{
	(void)state;
	loud();
	bm_reset_errors();
	return 0;
}

/* SPEC is refused as a usage error whose message contains TEXT. */
static void assert_bad(struct bm_fd_policy *p, const char *spec, const char *text)
{
	bm_reset_errors();
	size_t before = p->nrules;
	quiet();
	int rc = bm_fd_policy_add(p, spec);
	loud();
	if (rc != -EINVAL || strstr(bm_error_message(), text) == NULL)
		fail_msg("--fd '%s': rc %d, message \"%s\", expected \"%s\"", spec, rc, bm_error_message(), text);
	assert_int_equal(bm_exit_code(), BM_EXIT_USAGE);
	assert_int_equal(p->nrules, before);
	bm_reset_errors();
}

static void test_parse_good_specs(void **state)
{
	(void)state;
	struct bm_fd_policy p = {0};
	static const char *specs[] = {"251=null", "0=close", "7=file:/tmp/out file", "3=broken", "2147483647=null",
				      "12=file:relative/path", "13=file:a=b:c"};
	for (size_t i = 0; i < sizeof specs / sizeof *specs; i++)
		assert_int_equal(bm_fd_policy_add(&p, specs[i]), 0);
	assert_int_equal(p.nrules, 7);
	const struct bm_fd_rule *r = bm_fd_policy_rule(&p, 251);
	assert_non_null(r);
	assert_int_equal(r->action, BM_FD_TO_NULL);
	assert_string_equal(r->spec, "251=null");
	assert_int_equal(bm_fd_policy_rule(&p, 0)->action, BM_FD_TO_CLOSED);
	r = bm_fd_policy_rule(&p, 7);
	assert_int_equal(r->action, BM_FD_TO_FILE);
	assert_string_equal(r->path, "/tmp/out file");
	assert_int_equal(bm_fd_policy_rule(&p, 3)->action, BM_FD_TO_BROKEN);
	assert_int_equal(bm_fd_policy_rule(&p, INT_MAX)->action, BM_FD_TO_NULL);
	assert_string_equal(bm_fd_policy_rule(&p, 13)->path, "a=b:c");
	assert_null(bm_fd_policy_rule(&p, 4));
	assert_null(bm_fd_policy_rule(NULL, 4));
	bm_fd_policy_free(&p);
	assert_null(p.rules);
	assert_int_equal(p.nrules, 0);
}

static void test_parse_bad_specs(void **state)
{
	(void)state;
	struct bm_fd_policy p = {0};
	assert_bad(&p, "", "expected N=ACTION");
	assert_bad(&p, "251", "expected N=ACTION");
	assert_bad(&p, "null", "expected N=ACTION");
	assert_bad(&p, "=null", "no descriptor number");
	assert_bad(&p, "-1=null", "decimal digits");
	assert_bad(&p, "+3=null", "decimal digits");
	assert_bad(&p, " 3=null", "decimal digits");
	assert_bad(&p, "3 =null", "decimal digits");
	assert_bad(&p, "0x10=null", "decimal digits");
	assert_bad(&p, "x=null", "decimal digits");
	assert_bad(&p, "2147483648=null", "too large");
	assert_bad(&p, "99999999999999999999=null", "too large");
	assert_bad(&p, "3=", "must be null, close, file:PATH or broken");
	assert_bad(&p, "3=NULL", "must be null, close, file:PATH or broken");
	assert_bad(&p, "3=null ", "must be null, close, file:PATH or broken");
	assert_bad(&p, "3=closed", "must be null, close, file:PATH or broken");
	assert_bad(&p, "3=file", "must be null, close, file:PATH or broken");
	assert_bad(&p, "3=file:", "file: needs a PATH");
	assert_bad(&p, "3=refuse", "must be null, close, file:PATH or broken");
	/* The message quotes what was given and points to the help. */
	assert_bad(&p, "3=bogus", "bad --fd value '3=bogus'");
	assert_bad(&p, "3=bogus", "(see binmig --help)");
	assert_int_equal(p.nrules, 0);
	bm_fd_policy_free(&p);
}

static void test_duplicates_are_refused(void **state)
{
	(void)state;
	struct bm_fd_policy p = {0};
	assert_int_equal(bm_fd_policy_add(&p, "5=null"), 0);
	assert_bad(&p, "5=close", "--fd 5 given twice ('5=null', then '5=close')");
	assert_bad(&p, "5=null", "given twice");
	assert_bad(&p, "05=broken", "--fd 5 given twice"); /* the same number spelt otherwise */
	assert_int_equal(bm_fd_policy_add(&p, "6=null"), 0);
	assert_int_equal(p.nrules, 2);
	bm_fd_policy_free(&p);
}

static void test_stdio_values(void **state)
{
	(void)state;
	struct bm_fd_policy p = {0};
	assert_int_equal(p.stdio, BM_STDIO_REFUSE);
	assert_int_equal(bm_fd_policy_set_stdio(&p, "null"), 0);
	assert_int_equal(p.stdio, BM_STDIO_NULL);
	assert_int_equal(bm_fd_policy_set_stdio(&p, "file:/x"), 0);
	assert_int_equal(p.stdio, BM_STDIO_FILE);
	assert_string_equal(p.stdio_file, "/x");
	assert_int_equal(bm_fd_policy_set_stdio(&p, "refuse"), 0);
	assert_int_equal(p.stdio, BM_STDIO_REFUSE);
	assert_int_equal(bm_fd_policy_set_stdio(&p, "file:"), -EINVAL);
	assert_int_equal(bm_fd_policy_set_stdio(&p, "close"), -EINVAL);
	assert_int_equal(bm_fd_policy_set_stdio(&p, ""), -EINVAL);
	assert_false(bm_error_reported()); /* the caller names the option */
}

/* --stdio covers 0-2 only, and an explicit --fd for one of them wins. */
static void test_explicit_fd_wins_over_stdio(void **state)
{
	(void)state;
	struct bm_fd_policy p = {0};
	for (int fd = 0; fd <= 3; fd++)
		assert_false(bm_fd_policy_stdio_applies(&p, fd));
	assert_false(bm_fd_policy_stdio_applies(NULL, 1));
	assert_int_equal(bm_fd_policy_set_stdio(&p, "null"), 0);
	assert_int_equal(bm_fd_policy_add(&p, "1=close"), 0);
	assert_int_equal(bm_fd_policy_add(&p, "3=null"), 0);
	assert_true(bm_fd_policy_stdio_applies(&p, 0));
	assert_false(bm_fd_policy_stdio_applies(&p, 1));
	assert_true(bm_fd_policy_stdio_applies(&p, 2));
	assert_false(bm_fd_policy_stdio_applies(&p, 3));
	assert_false(bm_fd_policy_stdio_applies(&p, -1));
	assert_int_equal(bm_fd_policy_rule(&p, 1)->action, BM_FD_TO_CLOSED);
	/* The order of the options does not matter. */
	struct bm_fd_policy q = {0};
	assert_int_equal(bm_fd_policy_add(&q, "2=file:/tmp/e"), 0);
	assert_int_equal(bm_fd_policy_set_stdio(&q, "file:/tmp/o"), 0);
	assert_false(bm_fd_policy_stdio_applies(&q, 2));
	assert_true(bm_fd_policy_stdio_applies(&q, 1));
	bm_fd_policy_free(&p);
	bm_fd_policy_free(&q);
}

static void test_origin_names(void **state)
{
	(void)state;
	static const struct {
		const char *link;
		mode_t mode;
		enum bm_fd_origin origin;
		const char *name;
	} cases[] = {
		{"pipe:[123]", S_IFIFO, BM_ORIGIN_PIPE, "an anonymous pipe"},
		{"socket:[9]", S_IFSOCK, BM_ORIGIN_SOCKET, "a socket"},
		{"/tmp/fifo", S_IFIFO, BM_ORIGIN_FIFO, "a named FIFO"},
		{"/dev/pts/3", S_IFCHR, BM_ORIGIN_TERMINAL, "a terminal"},
		{"/dev/tty", S_IFCHR, BM_ORIGIN_TERMINAL, "a terminal"},
		{"/dev/kmsg", S_IFCHR, BM_ORIGIN_CHARDEV, "a character device"},
		{"/dev/sda", S_IFBLK, BM_ORIGIN_BLOCKDEV, "a block device"},
		{"/etc/passwd", S_IFREG, BM_ORIGIN_REGULAR, "a regular file"},
		{"/etc", S_IFDIR, BM_ORIGIN_DIRECTORY, "a directory"},
		{"anon_inode:[eventfd]", 0, BM_ORIGIN_EVENTFD, "an eventfd"},
		{"anon_inode:[eventpoll]", 0, BM_ORIGIN_EPOLL, "an epoll instance"},
		{"anon_inode:[signalfd]", 0, BM_ORIGIN_SIGNALFD, "a signalfd"},
		{"anon_inode:[timerfd]", 0, BM_ORIGIN_TIMERFD, "a timerfd"},
		{"anon_inode:inotify", 0, BM_ORIGIN_INOTIFY, "an inotify instance"},
		{"anon_inode:[pidfd]", 0, BM_ORIGIN_PIDFD, "a pidfd"},
		{"anon_inode:[io_uring]", 0, BM_ORIGIN_ANON_INODE, "an anonymous inode"},
		{"net:[4026531840]", 0, BM_ORIGIN_OTHER, "of an unsupported kind"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		assert_int_equal(bm_fd_origin_of(cases[i].link, cases[i].mode), cases[i].origin);
		assert_string_equal(bm_fd_origin_name(cases[i].origin), cases[i].name);
	}
	assert_string_equal(bm_fd_origin_name(0), "?");
	assert_string_equal(bm_fd_origin_name(BM_ORIGIN_MAX + 1), "?");
	assert_true(bm_fd_peer_stays_behind("pipe:[1]", S_IFIFO));
	assert_true(bm_fd_peer_stays_behind("socket:[1]", S_IFSOCK));
	assert_true(bm_fd_peer_stays_behind("/dev/pts/0", S_IFCHR));
	assert_false(bm_fd_peer_stays_behind("/tmp/fifo", S_IFIFO));
	assert_false(bm_fd_peer_stays_behind("anon_inode:[eventpoll]", 0));
}

/* The refusal names the descriptor, the way out, and --stdio only where it applies. */
static void test_refusal_names_the_way_out(void **state)
{
	(void)state;
	quiet();
	assert_int_equal(bm_fd_refuse(1234, 251, "pipe:[5678]", S_IFIFO, " whose other end is outside the process"), -1);
	loud();
	assert_string_equal(bm_error_message(),
			    "fd 251 of process 1234 is an anonymous pipe (pipe:[5678]) whose other end is outside the "
			    "process; binmig cannot migrate it (--fd 251=null|close|file:PATH|broken lets it go)");
	assert_int_equal(bm_exit_code(), BM_EXIT_UNSUPPORTED);
	bm_reset_errors();
	quiet();
	bm_fd_refuse(1234, 1, "socket:[9]", S_IFSOCK, NULL);
	loud();
	assert_string_equal(bm_error_message(), "fd 1 of process 1234 is a socket (socket:[9]); binmig cannot migrate it "
						"(--fd 1=null|close|file:PATH|broken lets it go, or see --stdio)");
	bm_reset_errors();
	quiet();
	bm_fd_refuse(1234, 2, "anon_inode:[eventpoll]", 0, NULL);
	loud();
	assert_string_equal(bm_error_message(), "fd 2 of process 1234 is an epoll instance (anon_inode:[eventpoll]); "
						"binmig cannot migrate it (--fd 2=null|close|file:PATH lets it go)");
}

/* ---- applying a policy to descriptors of this very process ---- */

struct described {
	struct bm_fd d;
	char link[64];
};

/* What bm_collect_fds would have filled in before the policy. */
static void describe(int fd, struct described *out)
{
	memset(out, 0, sizeof *out);
	char path[64];
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	ssize_t n = readlink(path, out->link, sizeof out->link - 1);
	assert_true(n > 0);
	struct stat st;
	assert_int_equal(fstat(fd, &st), 0);
	out->d.fd = fd;
	out->d.flags = (uint32_t)fcntl(fd, F_GETFL) | ((fcntl(fd, F_GETFD) & FD_CLOEXEC) ? O_CLOEXEC : 0);
	out->d.mode = st.st_mode;
	out->d.pos = 99;
	out->d.shares_with = 3;
}

static void release(struct described *x)
{
	free(x->d.path);
	free(x->d.was_link);
}

static int apply(struct described *x, const char *spec)
{
	struct bm_fd_policy p = {0};
	char full[PATH_MAX + 32];
	snprintf(full, sizeof full, "%d=%s", x->d.fd, spec);
	assert_int_equal(bm_fd_policy_add(&p, full), 0);
	int rc = bm_fd_policy_apply(getpid(), &x->d, x->link, bm_fd_policy_rule(&p, x->d.fd));
	bm_fd_policy_free(&p);
	return rc;
}

static void text_of(const struct bm_fd *d, char *buf, size_t len)
{
	bm_fd_replacement_text(d, buf, len);
}

static void test_apply_null_and_close(void **state)
{
	(void)state;
	int ends[2];
	assert_int_equal(pipe2(ends, O_CLOEXEC | O_NONBLOCK), 0);
	struct described x;
	describe(ends[1], &x);
	assert_int_equal(apply(&x, "null"), 0);
	assert_int_equal(x.d.kind, BM_FD_DEVICE);
	assert_string_equal(x.d.path, "/dev/null");
	assert_true(x.d.rdev == makedev(1, 3));
	assert_int_equal(x.d.flags, O_WRONLY | O_CLOEXEC | O_NONBLOCK);
	assert_true(x.d.pos == 0);
	assert_int_equal(x.d.shares_with, -1);
	assert_int_equal(x.d.replaced, BM_FD_TO_NULL);
	assert_int_equal(x.d.replaced_by, BM_FD_BY_FD_OPTION);
	assert_int_equal(x.d.was, BM_ORIGIN_PIPE);
	assert_string_equal(x.d.was_link, x.link);
	char text[512], want[512];
	text_of(&x.d, text, sizeof text);
	snprintf(want, sizeof want, "was an anonymous pipe (%s), now /dev/null, write-only (--fd %d=null)", x.link,
		 ends[1]);
	assert_string_equal(text, want);
	release(&x);

	describe(ends[0], &x);
	assert_int_equal(apply(&x, "close"), 0);
	assert_int_equal(x.d.kind, BM_FD_CLOSED);
	assert_null(x.d.path);
	assert_int_equal(x.d.replaced, BM_FD_TO_CLOSED);
	text_of(&x.d, text, sizeof text);
	snprintf(want, sizeof want, "was an anonymous pipe (%s), now closed (--fd %d=close)", x.link, ends[0]);
	assert_string_equal(text, want);
	release(&x);
	close(ends[0]);
	close(ends[1]);

	/* Whatever the descriptor is: a regular file, carried otherwise, too. */
	FILE *f = tmpfile();
	assert_non_null(f);
	describe(fileno(f), &x);
	assert_int_equal(apply(&x, "null"), 0);
	assert_int_equal(x.d.kind, BM_FD_DEVICE);
	assert_int_equal(x.d.flags & O_ACCMODE, O_RDWR);
	assert_int_equal(x.d.was, BM_ORIGIN_REGULAR);
	text_of(&x.d, text, sizeof text);
	assert_non_null(strstr(text, "was a regular file (/tmp/"));
	assert_non_null(strstr(text, " (deleted)), now /dev/null, read-write (--fd"));
	release(&x);
	fclose(f);
}

static void test_apply_file(void **state)
{
	(void)state;
	char dir[] = "/tmp/test_fd_policy.XXXXXX", in[64], out[64], spec[80];
	assert_non_null(mkdtemp(dir));
	snprintf(in, sizeof in, "%s/in", dir);
	snprintf(out, sizeof out, "%s/out", dir);
	int ends[2];
	assert_int_equal(pipe(ends), 0);
	struct described x;

	/* A read end reads an existing file from its start. */
	describe(ends[0], &x);
	snprintf(spec, sizeof spec, "file:%s", in);
	quiet();
	assert_int_equal(apply(&x, spec), -1); /* missing */
	loud();
	assert_int_equal(bm_exit_code(), BM_EXIT_IO);
	bm_reset_errors();
	release(&x);
	int f = open(in, O_WRONLY | O_CREAT, 0600);
	assert_true(f >= 0 && write(f, "input", 5) == 5);
	close(f);
	describe(ends[0], &x);
	assert_int_equal(apply(&x, spec), 0);
	assert_int_equal(x.d.kind, BM_FD_REGULAR);
	assert_string_equal(x.d.path, in);
	assert_int_equal(x.d.flags, O_RDONLY);
	assert_true(x.d.pos == 0);
	char text[1024], want[1024];
	text_of(&x.d, text, sizeof text);
	snprintf(want, sizeof want, "was an anonymous pipe (%s), now %s, read from its start (--fd %d=file:%s)", x.link,
		 in, ends[0], in);
	assert_string_equal(text, want);
	release(&x);

	/* A write end appends to a file created now, recorded by its absolute name. */
	assert_int_equal(chdir(dir), 0);
	describe(ends[1], &x);
	assert_int_equal(apply(&x, "file:out"), 0);
	assert_int_equal(access(out, F_OK), 0);
	assert_string_equal(x.d.path, out);
	assert_int_equal(x.d.flags, O_WRONLY | O_APPEND);
	struct stat st;
	assert_int_equal(stat(out, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0644 & ~umask(022));
	release(&x);

	/* Not a regular file: refused before the process is touched. */
	describe(ends[1], &x);
	quiet();
	assert_int_equal(apply(&x, "file:/dev/null"), -1);
	loud();
	assert_int_equal(bm_exit_code(), BM_EXIT_USAGE);
	assert_non_null(strstr(bm_error_message(), "/dev/null is not a regular file"));
	bm_reset_errors();
	release(&x);
	assert_int_equal(chdir("/"), 0);
	unlink(in);
	unlink(out);
	rmdir(dir);
	close(ends[0]);
	close(ends[1]);
}

static void test_apply_broken(void **state)
{
	(void)state;
	int ends[2];
	assert_int_equal(pipe(ends), 0);
	struct described x;
	describe(ends[1], &x);
	assert_int_equal(apply(&x, "broken"), 0);
	assert_int_equal(x.d.kind, BM_FD_BROKEN_PIPE);
	assert_int_equal(x.d.flags & O_ACCMODE, O_WRONLY);
	assert_null(x.d.path);
	char text[512];
	text_of(&x.d, text, sizeof text);
	assert_non_null(strstr(text, "now the write end of a pipe whose read end is closed (--fd"));
	release(&x);
	close(ends[0]);
	close(ends[1]);

	static const int types[] = {SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET};
	static const char *words[] = {"stream", "datagram", "seqpacket"};
	for (int i = 0; i < 3; i++) {
		assert_int_equal(socketpair(AF_UNIX, types[i] | SOCK_NONBLOCK, 0, ends), 0);
		describe(ends[0], &x);
		assert_int_equal(apply(&x, "broken"), 0);
		assert_int_equal(x.d.kind, BM_FD_BROKEN_SOCKET);
		assert_int_equal(x.d.object_flags, types[i]);
		assert_int_equal(x.d.flags, O_RDWR | O_NONBLOCK);
		assert_int_equal(x.d.was, BM_ORIGIN_SOCKET);
		char want[128];
		snprintf(want, sizeof want, "now a unix %s socket whose peer is closed", words[i]);
		text_of(&x.d, text, sizeof text);
		assert_non_null(strstr(text, want));
		release(&x);
		close(ends[0]);
		close(ends[1]);
	}

	/* A listening socket has no peer; an eventfd is no pipe or socket. */
	int s = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	snprintf(addr.sun_path + 1, sizeof addr.sun_path - 1, "test_fd_policy.%d", (int)getpid()); /* abstract */
	assert_int_equal(bind(s, (struct sockaddr *)&addr, sizeof addr), 0);
	assert_int_equal(listen(s, 1), 0);
	describe(s, &x);
	quiet();
	assert_int_equal(apply(&x, "broken"), -1);
	loud();
	assert_non_null(strstr(bm_error_message(), "is a listening socket"));
	assert_int_equal(bm_exit_code(), BM_EXIT_USAGE);
	bm_reset_errors();
	release(&x);
	close(s);
	int e = eventfd(0, 0);
	describe(e, &x);
	quiet();
	assert_int_equal(apply(&x, "broken"), -1);
	loud();
	char want[256];
	snprintf(want, sizeof want, "--fd %d=broken: fd %d of process %d is an eventfd (anon_inode:[eventfd]), not a pipe "
		 "end or a socket", e, e, (int)getpid());
	assert_non_null(strstr(bm_error_message(), want));
	assert_int_equal(bm_exit_code(), BM_EXIT_USAGE);
	release(&x);
	close(e);
}

static void test_apply_stdio(void **state)
{
	(void)state;
	char path[] = "/tmp/test_fd_policy_stdio.XXXXXX";
	int f = mkstemp(path);
	assert_true(f >= 0);
	close(f);
	struct bm_fd_policy p = {0};
	char value[PATH_MAX];
	snprintf(value, sizeof value, "file:%s", path);
	assert_int_equal(bm_fd_policy_set_stdio(&p, value), 0);
	int ends[2];
	assert_int_equal(pipe2(ends, O_NONBLOCK), 0);
	/* stdout: appended to the file, write-only whatever it was. */
	struct described x;
	describe(ends[1], &x);
	x.d.fd = 1;
	assert_int_equal(bm_fd_policy_apply_stdio(&x.d, x.link, &p), 0);
	assert_int_equal(x.d.kind, BM_FD_REGULAR);
	assert_int_equal(x.d.flags, O_WRONLY | O_APPEND);
	assert_string_equal(x.d.path, path);
	assert_int_equal(x.d.replaced, BM_FD_TO_FILE);
	assert_int_equal(x.d.replaced_by, BM_FD_BY_STDIO_OPTION);
	char text[1024];
	text_of(&x.d, text, sizeof text);
	assert_non_null(strstr(text, ", appending (--stdio)"));
	release(&x);
	/* stdin: /dev/null, read-only. */
	describe(ends[0], &x);
	x.d.fd = 0;
	assert_int_equal(bm_fd_policy_apply_stdio(&x.d, x.link, &p), 0);
	assert_int_equal(x.d.kind, BM_FD_DEVICE);
	assert_int_equal(x.d.flags, O_RDONLY);
	assert_int_equal(x.d.replaced, BM_FD_TO_NULL);
	release(&x);
	close(ends[0]);
	close(ends[1]);
	unlink(path);
}

static void test_check_present(void **state)
{
	(void)state;
	struct bm_fd fds[2] = {{.fd = 0}, {.fd = 251}};
	struct bm_process proc = {.pid = 1234, .fds = fds, .nfds = 2};
	struct bm_process *one[] = {&proc};
	struct bm_fd_policy p = {0};
	assert_int_equal(bm_fd_policy_check_present(&p, one, 1), 0);
	assert_int_equal(bm_fd_policy_check_present(NULL, one, 1), 0);
	assert_int_equal(bm_fd_policy_add(&p, "251=null"), 0);
	assert_int_equal(bm_fd_policy_check_present(&p, one, 1), 0);
	assert_int_equal(bm_fd_policy_add(&p, "3=close"), 0);
	quiet();
	assert_int_equal(bm_fd_policy_check_present(&p, one, 1), -1);
	loud();
	assert_string_equal(bm_error_message(), "--fd 3=close: process 1234 has no descriptor 3");
	assert_int_equal(bm_exit_code(), BM_EXIT_USAGE);
	/* In a tree, one process having it is enough; none is not. */
	struct bm_fd child_fds[1] = {{.fd = 3}};
	struct bm_process child = {.pid = 1235, .fds = child_fds, .nfds = 1};
	struct bm_process *tree[] = {&proc, &child};
	assert_int_equal(bm_fd_policy_check_present(&p, tree, 2), 0);
	assert_int_equal(bm_fd_policy_add(&p, "9=close"), 0);
	bm_reset_errors();
	quiet();
	assert_int_equal(bm_fd_policy_check_present(&p, tree, 2), -1);
	loud();
	assert_string_equal(bm_error_message(), "--fd 9=close: no process of the tree has a descriptor 9");
	bm_fd_policy_free(&p);
}

/* ---- the ends a restored process gets ---- */

static void test_open_broken_ends(void **state)
{
	(void)state;
	signal(SIGPIPE, SIG_IGN);
	char buf[8];
	struct bm_fd d = {.kind = BM_FD_BROKEN_PIPE, .flags = O_RDONLY};
	int fd = bm_fd_open_broken(&d);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, buf, sizeof buf), 0);
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	assert_int_equal(fcntl(fd, F_GETFL) & (O_ACCMODE | O_NONBLOCK), O_RDONLY);
	close(fd);
	d.flags = O_WRONLY | O_NONBLOCK;
	fd = bm_fd_open_broken(&d);
	assert_true(fd >= 0);
	errno = 0;
	assert_int_equal(write(fd, "x", 1), -1);
	assert_int_equal(errno, EPIPE);
	assert_int_equal(fcntl(fd, F_GETFL) & (O_ACCMODE | O_NONBLOCK), O_WRONLY | O_NONBLOCK);
	close(fd);
	static const int types[] = {SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET};
	for (int i = 0; i < 3; i++) {
		d = (struct bm_fd){.kind = BM_FD_BROKEN_SOCKET, .flags = O_RDWR, .object_flags = (uint32_t)types[i]};
		fd = bm_fd_open_broken(&d);
		assert_true(fd >= 0);
		int type = 0;
		socklen_t len = sizeof type;
		assert_int_equal(getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len), 0);
		assert_int_equal(type, types[i]);
		assert_int_equal(read(fd, buf, sizeof buf), 0); /* blocking, yet at once */
		errno = 0;
		assert_int_equal(send(fd, "x", 1, 0), -1);
		assert_int_equal(errno, EPIPE);
		close(fd);
	}
	d = (struct bm_fd){.kind = BM_FD_BROKEN_SOCKET, .flags = O_RDWR, .object_flags = 99};
	assert_true(bm_fd_open_broken(&d) < 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_parse_good_specs, teardown),
		cmocka_unit_test_teardown(test_parse_bad_specs, teardown),
		cmocka_unit_test_teardown(test_duplicates_are_refused, teardown),
		cmocka_unit_test_teardown(test_stdio_values, teardown),
		cmocka_unit_test_teardown(test_explicit_fd_wins_over_stdio, teardown),
		cmocka_unit_test_teardown(test_origin_names, teardown),
		cmocka_unit_test_teardown(test_refusal_names_the_way_out, teardown),
		cmocka_unit_test_teardown(test_apply_null_and_close, teardown),
		cmocka_unit_test_teardown(test_apply_file, teardown),
		cmocka_unit_test_teardown(test_apply_broken, teardown),
		cmocka_unit_test_teardown(test_apply_stdio, teardown),
		cmocka_unit_test_teardown(test_check_present, teardown),
		cmocka_unit_test_teardown(test_open_broken_ends, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
