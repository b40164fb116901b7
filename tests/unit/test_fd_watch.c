/* Signalfds and epoll instances (fd_watch.c): the fdinfo parsers on the
 * kernel's text and on damaged text, the image rules, and both directions
 * on real descriptors of this process: an epoll instance and a signalfd
 * are read the way a dump reads them, thrown away, rebuilt the way a
 * restore does, and must then report the same events. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "fd_watch.h"
#include "log.h"
#include "state.h"
#include "wire.h"

static void test_parse_signalfd(void **state)
{
	(void)state;
	uint64_t mask = 0;
	assert_int_equal(bm_parse_signalfd_mask("pos:\t0\nflags:\t02004002\nmnt_id:\t16\nino:\t1057\n"
						"sigmask:\t0000000400000800\n", &mask), 0);
	assert_true(mask == 0x400000800ull);
	assert_int_equal(bm_parse_signalfd_mask("pos:\t0\nflags:\t02\n", &mask), -EINVAL);
	assert_int_equal(bm_parse_signalfd_mask("sigmask:\t\n", &mask), -EINVAL);
	assert_int_equal(bm_parse_signalfd_mask("sigmask:\t00zz\n", &mask), -EINVAL);
	assert_int_equal(bm_parse_signalfd_mask("sigmask:\t1ffffffffffffffff\n", &mask), -EINVAL);
}

static void test_parse_epoll(void **state)
{
	(void)state;
	struct bm_watch *w;
	size_t n;
	const char *text = "pos:\t0\nflags:\t02\nmnt_id:\t16\nino:\t1057\n"
			   "tfd:        9 events:       19 data:             2222  pos:0 ino:1057 sdev:f\n"
			   "tfd:       11 events: 40000000 data:             5555  pos:0 ino:1057 sdev:f\n";
	assert_int_equal(bm_parse_epoll_watches(text, &w, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(w[0].fd, 9);
	assert_int_equal(w[0].events, 0x19);
	assert_true(w[0].data == 0x2222);
	assert_int_equal(w[1].fd, 11);
	assert_int_equal(w[1].events, EPOLLONESHOT);
	free(w);
	assert_int_equal(bm_parse_epoll_watches("pos:\t0\nflags:\t02\n", &w, &n), 0);
	assert_int_equal(n, 0);
	assert_null(w);
	assert_int_equal(bm_parse_epoll_watches("tfd: -1 events: 1 data: 2 pos:0\n", &w, &n), -EINVAL);
	assert_int_equal(bm_parse_epoll_watches("tfd: 3 events: 1\n", &w, &n), -EINVAL);
	assert_int_equal(bm_parse_epoll_watches("tfd: 3 events: 1 data: 2x pos:0\n", &w, &n), -EINVAL);
	assert_null(w);
}

/* Descriptors 3 (pipe read end), 4 (epoll: registrations as given) and
 * 5 (a dup of 4). */
static void make_fds(struct bm_fd *fds, const struct bm_watch *w, uint32_t nw)
{
	memset(fds, 0, 3 * sizeof *fds);
	fds[0] = (struct bm_fd){.fd = 3, .kind = BM_FD_PIPE, .shares_with = -1, .object_id = 1};
	fds[1] = (struct bm_fd){.fd = 4, .kind = BM_FD_EPOLL, .shares_with = -1, .object_id = 2};
	fds[2] = (struct bm_fd){.fd = 5, .kind = BM_FD_EPOLL, .shares_with = 4, .object_id = 2};
	static uint8_t data[8 * BM_WATCH_SIZE];
	for (uint32_t i = 0; i < nw; i++) {
		bm_store_le32(data + i * BM_WATCH_SIZE, (uint32_t)w[i].fd);
		bm_store_le32(data + i * BM_WATCH_SIZE + 4, w[i].events);
		bm_store_le64(data + i * BM_WATCH_SIZE + 8, w[i].data);
	}
	fds[1].data = data;
	fds[1].data_len = nw * BM_WATCH_SIZE;
}

static void assert_check(const struct bm_watch *w, uint32_t nw, const char *expect)
{
	struct bm_fd fds[3];
	make_fds(fds, w, nw);
	char why[200] = "";
	bool ok = bm_watch_check(fds, 3, why, sizeof why);
	if (!expect) {
		assert_true(ok);
		return;
	}
	assert_false(ok);
	if (!strstr(why, expect))
		fail_msg("\"%s\" does not say \"%s\"", why, expect);
}

static void test_image_rules(void **state)
{
	(void)state;
	assert_check(NULL, 0, NULL);
	const struct bm_watch good[] = {{3, EPOLLIN | EPOLLET, 7}, {5, EPOLLIN, 8}};
	assert_check(good, 2, NULL);
	const struct bm_watch missing[] = {{6, EPOLLIN, 1}};
	assert_check(missing, 1, "watches fd 6, which is not another open descriptor");
	const struct bm_watch self[] = {{4, EPOLLIN, 1}};
	assert_check(self, 1, "watches fd 4, which is not another open descriptor");
	const struct bm_watch twice[] = {{3, EPOLLIN, 1}, {3, EPOLLOUT, 2}};
	assert_check(twice, 2, "watches fd 3 twice");
	const struct bm_watch unknown[] = {{3, 0x00100000, 1}};
	assert_check(unknown, 1, "unknown events 0x100000");

	struct bm_fd fds[3];
	char why[200];
	make_fds(fds, good, 2);
	fds[1].data_len = BM_WATCH_SIZE + 3;
	assert_false(bm_watch_check(fds, 3, why, sizeof why));
	assert_non_null(strstr(why, "bytes of registrations"));
	make_fds(fds, good, 2);
	fds[2].data = fds[1].data;
	fds[2].data_len = BM_WATCH_SIZE;
	assert_false(bm_watch_check(fds, 3, why, sizeof why));
	assert_non_null(strstr(why, "shares its instance with fd 4"));
	make_fds(fds, good, 2);
	fds[0].kind = BM_FD_CLOSED;
	assert_false(bm_watch_check(fds, 3, why, sizeof why));
}

static int ready_data(int ep, uint64_t *out, int max)
{
	struct epoll_event ev[8];
	int n = epoll_wait(ep, ev, 8, 0);
	assert_true(n >= 0 && n <= max);
	for (int i = 0; i < n; i++)
		out[i] = ev[i].data.u64;
	return n;
}

/* Both directions on this process's own descriptors. */
static void test_dump_and_rebuild(void **state)
{
	(void)state;
	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGUSR2);
	assert_int_equal(sigprocmask(SIG_BLOCK, &mask, NULL), 0);
	int sfd = signalfd(-1, &mask, SFD_NONBLOCK);
	int efd = eventfd(2, EFD_NONBLOCK), quiet = eventfd(0, EFD_NONBLOCK), ep = epoll_create1(0);
	assert_true(sfd >= 0 && efd >= 0 && quiet >= 0 && ep >= 0);
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 0xabc};
	assert_int_equal(epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev), 0);
	ev = (struct epoll_event){.events = EPOLLIN | EPOLLET, .data.u64 = 0xdef};
	assert_int_equal(epoll_ctl(ep, EPOLL_CTL_ADD, quiet, &ev), 0);
	ev = (struct epoll_event){.events = EPOLLIN, .data.u64 = 0x516};
	assert_int_equal(epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &ev), 0);

	/* Dump: what bm_collect_fds does for these kinds. */
	struct bm_process p = {.pid = getpid()};
	struct bm_fd fds[4] = {{0}};
	int order[4] = {sfd, efd, quiet, ep};
	for (int i = 0; i < 4; i++) {
		fds[i] = (struct bm_fd){.fd = order[i], .shares_with = -1, .flags = O_RDWR};
		struct stat st;
		assert_int_equal(fstat(order[i], &st), 0);
		int rc = bm_describe_watch(getpid(), order[i], i == 0 ? "anon_inode:[signalfd]" : i == 3 ?
					   "anon_inode:[eventpoll]" : "anon_inode:[eventfd]", st.st_ino, &fds[i]);
		assert_int_equal(rc, i == 0 || i == 3 ? 1 : 0);
		if (rc == 0)
			fds[i].kind = BM_FD_EVENTFD;
	}
	fds[0].flags |= O_NONBLOCK;
	p.fds = fds;
	p.nfds = 4;
	assert_int_equal(bm_collect_watches(getpid(), &p), 0);
	assert_int_equal(fds[0].kind, BM_FD_SIGNALFD);
	assert_true(fds[0].object_id == 1ull << (SIGUSR2 - 1));
	assert_int_equal(bm_watch_count(&fds[3]), 3);
	char why[200];
	assert_true(bm_watch_check(fds, 4, why, sizeof why));

	/* Restore: the signalfd and the instance are made anew at their numbers. */
	close(sfd);
	close(ep);
	for (int i = 0; i < 4; i += 3) {
		int fd = bm_watch_open(&fds[i]);
		assert_true(fd >= 0);
		if (fd != order[i]) {
			assert_int_equal(dup2(fd, order[i]), order[i]);
			close(fd);
		}
	}
	char err[200] = "";
	assert_int_equal(bm_watch_restore(&p, err, sizeof err), 0);
	uint64_t got[8];
	int n = ready_data(ep, got, 8);
	assert_int_equal(n, 1);
	assert_true(got[0] == 0xabc);
	assert_int_equal(kill(getpid(), SIGUSR2), 0);
	assert_int_equal(eventfd_write(quiet, 1), 0);
	n = ready_data(ep, got, 8);
	assert_int_equal(n, 3);
	n = ready_data(ep, got, 8); /* the edge-triggered one only once */
	assert_int_equal(n, 2);
	struct signalfd_siginfo si;
	assert_int_equal(read(sfd, &si, sizeof si), (ssize_t)sizeof si);
	assert_int_equal(si.ssi_signo, SIGUSR2);
	assert_true(fcntl(sfd, F_GETFL) & O_NONBLOCK);

	/* A registration whose descriptor was closed meanwhile is refused. */
	int extra = dup(efd);
	assert_true(extra >= 0);
	ev = (struct epoll_event){.events = EPOLLIN, .data.u64 = 1};
	assert_int_equal(epoll_ctl(ep, EPOLL_CTL_ADD, extra, &ev), 0);
	close(extra);
	free(fds[3].data);
	fds[3].data = NULL;
	fds[3].data_len = 0;
	int saved = dup(2), null = open("/dev/null", O_WRONLY);
	dup2(null, 2);
	int rc = bm_collect_watches(getpid(), &p);
	dup2(saved, 2);
	close(saved);
	close(null);
	assert_int_equal(rc, -1);
	assert_int_equal(bm_exit_code(), BM_EXIT_UNSUPPORTED);
	assert_non_null(strstr(bm_error_message(), "whose file is no longer open at that number"));
	bm_reset_errors();
	close(sfd);
	close(efd);
	close(quiet);
	close(ep);
	free(fds[3].data);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_signalfd),
		cmocka_unit_test(test_parse_epoll),
		cmocka_unit_test(test_image_rules),
		cmocka_unit_test(test_dump_and_rebuild),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
