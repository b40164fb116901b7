/* Signalfds and epoll instances (fd_watch.c): the fdinfo parsers on the
 * kernel's text and on damaged text, the image rules, and both directions
 * on real descriptors of this process: an epoll instance and a signalfd
 * are read the way a dump reads them, thrown away, rebuilt the way a
 * restore does, and must then report the same events; fired one-shot
 * registrations must come back with only their private flags. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
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
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <cmocka.h>

#include "fd_watch.h"
#include "log.h"
#include "state.h"
#include "wire.h"
#include "unit_image.h"

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

/* bm_collect_watches on P must refuse (its message on stderr left out),
 * saying SAYS. */
static void assert_collect_refused(struct bm_process *p, const char *says)
{
	quiet_begin();
	int rc = bm_collect_watches(getpid(), p);
	stderr_restore();
	assert_int_equal(rc, -1);
	assert_int_equal(bm_exit_code(), BM_EXIT_UNSUPPORTED);
	if (!strstr(bm_error_message(), says))
		fail_msg("\"%s\" does not say \"%s\"", bm_error_message(), says);
	bm_reset_errors();
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
	assert_int_equal(bm_watch_restore(&p, -1, err, sizeof err), 0);
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
	assert_collect_refused(&p, "whose file is no longer open at that number");
	close(sfd);
	close(efd);
	close(quiet);
	close(ep);
	free(fds[3].data);
}

/* The events fdinfo shows for the registration of TFD in instance EP, or
 * -1 if it has none. */
static long registered_events(int ep, int tfd)
{
	char path[64], text[8192];
	snprintf(path, sizeof path, "/proc/self/fdinfo/%d", ep);
	int fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	ssize_t n = read(fd, text, sizeof text - 1);
	close(fd);
	assert_true(n > 0);
	text[n] = 0;
	struct bm_watch *w;
	size_t count;
	assert_int_equal(bm_parse_epoll_watches(text, &w, &count), 0);
	long events = -1;
	for (size_t i = 0; i < count; i++)
		if (w[i].fd == tfd)
			events = w[i].events;
	free(w);
	return events;
}

static void watch(int ep, int fd, uint32_t events, uint64_t data)
{
	struct epoll_event ev = {.events = events, .data.u64 = data};
	assert_int_equal(epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev), 0);
}

/* Instance EP made anew at its number, empty. */
static void new_instance(int ep)
{
	struct bm_fd d = {.fd = ep, .kind = BM_FD_EPOLL, .shares_with = -1};
	close(ep);
	int fd = bm_watch_open(&d);
	assert_true(fd >= 0);
	if (fd != ep) {
		assert_int_equal(dup2(fd, ep), ep);
		close(fd);
	}
}

static int by_fd(const void *a, const void *b)
{
	return ((const struct bm_fd *)a)->fd - ((const struct bm_fd *)b)->fd;
}

/* Instance INST's registrations in its image: the N of W, in BUF. */
static void set_watches(struct bm_fd *inst, const struct bm_watch *w, size_t n, uint8_t *buf)
{
	for (size_t i = 0; i < n; i++) {
		bm_store_le32(buf + i * BM_WATCH_SIZE, (uint32_t)w[i].fd);
		bm_store_le32(buf + i * BM_WATCH_SIZE + 4, w[i].events);
		bm_store_le64(buf + i * BM_WATCH_SIZE + 8, w[i].data);
	}
	inst->data = buf;
	inst->data_len = (uint32_t)(n * BM_WATCH_SIZE);
}

/* One-shot registrations that fired: on a pipe's read end with data, a
 * socket end that can be written, an eventfd at 0 (ready to be written)
 * and a timerfd that expired and was read (made to report for a moment:
 * test_fired_primed), made to fire again at the restore; on an empty
 * pipe's read end refused at dump and, should an image hold one, the
 * restore fails. */
static void test_fired_oneshot(void **state)
{
	(void)state;
	int full[2], empty[2], sp[2];
	assert_int_equal(pipe(full), 0);
	assert_int_equal(pipe(empty), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
	int zero = eventfd(0, EFD_NONBLOCK), level = eventfd(1, EFD_NONBLOCK);
	int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK), ep = epoll_create1(0);
	assert_true(zero >= 0 && level >= 0 && tfd >= 0 && ep >= 0);
	assert_int_equal(write(full[1], "x", 1), 1);
	assert_int_equal(write(empty[1], "y", 1), 1);
	struct itimerspec past = {.it_value = {0, 1}}; /* absolute: long expired */
	assert_int_equal(timerfd_settime(tfd, TFD_TIMER_ABSTIME, &past, NULL), 0);
	struct pollfd expired = {.fd = tfd, .events = POLLIN}; /* the expiry comes from the timer interrupt */
	assert_int_equal(poll(&expired, 1, 10000), 1);
	watch(ep, full[0], EPOLLIN | EPOLLONESHOT, 1);
	watch(ep, sp[0], EPOLLOUT | EPOLLONESHOT | EPOLLET, 2);
	watch(ep, zero, EPOLLIN | EPOLLOUT | EPOLLONESHOT, 3);
	watch(ep, level, EPOLLIN, 4);
	watch(ep, empty[0], EPOLLIN | EPOLLONESHOT, 5);
	watch(ep, tfd, EPOLLIN | EPOLLONESHOT, 6);
	uint64_t got[8];
	assert_int_equal(ready_data(ep, got, 8), 6);
	char c;
	uint64_t ticks;
	assert_int_equal(read(empty[0], &c, 1), 1);
	assert_int_equal(read(tfd, &ticks, sizeof ticks), (ssize_t)sizeof ticks);
	assert_int_equal(registered_events(ep, full[0]), EPOLLONESHOT);
	assert_int_equal(registered_events(ep, sp[0]), EPOLLONESHOT | EPOLLET);

	/* Dump: the empty pipe's registration is refused, the others kept. */
	struct bm_fd fds[] = {
		{.fd = full[0], .kind = BM_FD_PIPE, .object_id = 1},
		{.fd = full[1], .kind = BM_FD_PIPE, .object_id = 1},
		{.fd = empty[0], .kind = BM_FD_PIPE, .object_id = 2},
		{.fd = empty[1], .kind = BM_FD_PIPE, .object_id = 2},
		{.fd = sp[0], .kind = BM_FD_UNIX_SOCKET, .object_id = 3},
		{.fd = sp[1], .kind = BM_FD_UNIX_SOCKET, .object_id = 4},
		{.fd = zero, .kind = BM_FD_EVENTFD},
		{.fd = level, .kind = BM_FD_EVENTFD},
		{.fd = tfd, .kind = BM_FD_TIMERFD},
		{.fd = ep, .kind = BM_FD_EPOLL},
	};
	uint32_t nfds = sizeof fds / sizeof *fds;
	for (uint32_t i = 0; i < nfds; i++)
		fds[i].shares_with = -1;
	qsort(fds, nfds, sizeof *fds, by_fd);
	struct bm_process p = {.pid = getpid(), .fds = fds, .nfds = nfds};
	struct bm_fd *inst = (struct bm_fd *)bm_fd_find(fds, nfds, ep);
	char want[200];
	snprintf(want, sizeof want, "watching fd %d, a one-shot registration (EPOLLONESHOT) that fired, on a file "
		 "that reports no event now", empty[0]);
	assert_collect_refused(&p, want);
	assert_int_equal(epoll_ctl(ep, EPOLL_CTL_DEL, empty[0], NULL), 0);
	assert_int_equal(bm_collect_watches(getpid(), &p), 0);
	assert_int_equal(bm_watch_count(inst), 5);

	/* Restore: each fired one comes back with only its private flags,
	 * the timerfd's too; only the level one reports,
	 * and nothing was taken from the files. */
	new_instance(ep);
	char err[300] = "";
	if (bm_watch_restore(&p, -1, err, sizeof err) < 0)
		fail_msg("%s", err);
	assert_int_equal(registered_events(ep, full[0]), EPOLLONESHOT);
	assert_int_equal(registered_events(ep, sp[0]), EPOLLONESHOT | EPOLLET);
	assert_int_equal(registered_events(ep, zero), EPOLLONESHOT);
	assert_int_equal(registered_events(ep, level), EPOLLIN | EPOLLERR | EPOLLHUP); /* as any ADD makes it */
	assert_int_equal(registered_events(ep, tfd), EPOLLONESHOT);
	assert_int_equal(ready_data(ep, got, 8), 1);
	assert_true(got[0] == 4);
	/* Hung up: the fired ones stay quiet, until re-armed. */
	assert_int_equal(close(full[1]), 0);
	assert_int_equal(close(sp[1]), 0);
	assert_int_equal(ready_data(ep, got, 8), 1);
	struct epoll_event again = {.events = EPOLLIN | EPOLLONESHOT, .data.u64 = 1};
	assert_int_equal(epoll_ctl(ep, EPOLL_CTL_MOD, full[0], &again), 0);
	assert_int_equal(ready_data(ep, got, 8), 2);
	assert_int_equal(read(full[0], &c, 1), 1);
	assert_int_equal(c, 'x');
	eventfd_t count = 1;
	assert_int_equal(eventfd_read(zero, &count), -1); /* still 0 */
	free(inst->data);

	/* In an image's order, a ready level registration before the fired
	 * one: the fired one is still made first, alone. */
	const struct bm_watch order[] = {{level, EPOLLIN, 4}, {zero, EPOLLONESHOT, 3}};
	uint8_t data[2 * BM_WATCH_SIZE];
	set_watches(inst, order, 2, data);
	new_instance(ep);
	if (bm_watch_restore(&p, -1, err, sizeof err) < 0)
		fail_msg("%s", err);
	assert_int_equal(registered_events(ep, zero), EPOLLONESHOT);
	assert_int_equal(ready_data(ep, got, 8), 1);

	/* An image with a fired one-shot on the empty pipe: it cannot fire. */
	const struct bm_watch quiet = {empty[0], EPOLLONESHOT, 5};
	set_watches(inst, &quiet, 1, data);
	new_instance(ep);
	assert_int_equal(bm_watch_restore(&p, -1, err, sizeof err), -1);
	snprintf(want, sizeof want, "of fd %d, which fired, cannot fire again: the file reports no event now",
		 empty[0]);
	if (!strstr(err, want))
		fail_msg("\"%s\" does not say \"%s\"", err, want);
	assert_int_equal(registered_events(ep, empty[0]), -1);
	inst->data = NULL;
	int all[] = {full[0], empty[0], empty[1], sp[0], zero, level, tfd, ep};
	for (size_t i = 0; i < sizeof all / sizeof *all; i++)
		close(all[i]);
}

/* Fired one-shot registrations on files that report nothing at the
 * restore: a timerfd never armed, an epoll instance (itself holding a
 * fired one on the timerfd, and watched by an instance made before it
 * and one after), an inotify instance without watches, a signalfd for a
 * blocked SIGUSR1 and one for SIGCONT alone.  Each but the last is made
 * to report for a moment (fd_watch_prime.h) and fires: only the private
 * flags are left, nothing is reported, and the targets are as before: no
 * expiration, no registration, no watch (the next one gets number 1), no
 * signal pending.  The SIGCONT one cannot be primed, nor one for SIGPWR,
 * which this thread does not block (sent, it would be delivered and end
 * the test), nor a timerfd armed already: each fails the restore, with
 * nothing registered. */
static void test_fired_primed(void **state)
{
	(void)state;
	sigset_t block, pending;
	sigemptyset(&block);
	sigaddset(&block, SIGUSR1);
	sigaddset(&block, SIGCONT);
	assert_int_equal(sigprocmask(SIG_BLOCK, &block, NULL), 0);
	sigset_t usr1, cont;
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	sigemptyset(&cont);
	sigaddset(&cont, SIGCONT);
	int ctl[2];
	assert_int_equal(pipe(ctl), 0);
	int early = epoll_create1(0), tfd = timerfd_create(CLOCK_MONOTONIC, 0), inner = epoll_create1(0);
	int ino = inotify_init1(0), sfd = signalfd(-1, &usr1, 0), sfd_cont = signalfd(-1, &cont, SFD_NONBLOCK);
	sigset_t pwr;
	sigemptyset(&pwr);
	sigaddset(&pwr, SIGPWR);
	assert_int_equal(sigprocmask(SIG_UNBLOCK, &pwr, NULL), 0);
	int sfd_open = signalfd(-1, &pwr, SFD_NONBLOCK), ep = epoll_create1(0);
	assert_true(early >= 0 && tfd >= 0 && inner >= 0 && ino >= 0 && sfd >= 0 && sfd_cont >= 0 && sfd_open >= 0 &&
		    ep >= 0);
	struct bm_fd fds[] = {
		{.fd = early, .kind = BM_FD_EPOLL},
		{.fd = tfd, .kind = BM_FD_TIMERFD},
		{.fd = inner, .kind = BM_FD_EPOLL},
		{.fd = ino, .kind = BM_FD_INOTIFY},
		{.fd = sfd, .kind = BM_FD_SIGNALFD, .object_id = 1ull << (SIGUSR1 - 1)},
		{.fd = sfd_cont, .kind = BM_FD_SIGNALFD, .object_id = 1ull << (SIGCONT - 1)},
		{.fd = sfd_open, .kind = BM_FD_SIGNALFD, .object_id = 1ull << (SIGPWR - 1)},
		{.fd = ep, .kind = BM_FD_EPOLL},
	};
	uint32_t nfds = sizeof fds / sizeof *fds;
	for (uint32_t i = 0; i < nfds; i++)
		fds[i].shares_with = -1;
	qsort(fds, nfds, sizeof *fds, by_fd);
	const struct bm_watch of_early[] = {{inner, EPOLLONESHOT, 1}};
	const struct bm_watch of_inner[] = {{tfd, EPOLLONESHOT, 2}};
	const struct bm_watch of_ep[] = {{tfd, EPOLLONESHOT, 3}, {inner, EPOLLONESHOT | EPOLLET, 4},
					 {ino, EPOLLONESHOT, 5}, {sfd, EPOLLONESHOT, 6}};
	uint8_t data_early[BM_WATCH_SIZE], data_inner[BM_WATCH_SIZE], data_ep[4 * BM_WATCH_SIZE];
	set_watches((struct bm_fd *)bm_fd_find(fds, nfds, early), of_early, 1, data_early);
	set_watches((struct bm_fd *)bm_fd_find(fds, nfds, inner), of_inner, 1, data_inner);
	set_watches((struct bm_fd *)bm_fd_find(fds, nfds, ep), of_ep, 4, data_ep);
	struct bm_process p = {.pid = getpid(), .fds = fds, .nfds = nfds};
	char why[200], err[512] = "";
	assert_true(bm_watch_check(fds, nfds, why, sizeof why));
	if (bm_watch_restore(&p, ctl[1], err, sizeof err) < 0)
		fail_msg("%s", err);

	assert_int_equal(registered_events(ep, tfd), EPOLLONESHOT);
	assert_int_equal(registered_events(ep, inner), EPOLLONESHOT | EPOLLET);
	assert_int_equal(registered_events(ep, ino), EPOLLONESHOT);
	assert_int_equal(registered_events(ep, sfd), EPOLLONESHOT);
	assert_int_equal(registered_events(early, inner), EPOLLONESHOT);
	assert_int_equal(registered_events(inner, tfd), EPOLLONESHOT);
	assert_int_equal(registered_events(inner, ctl[1]), -1);
	uint64_t got[8];
	assert_int_equal(ready_data(ep, got, 8), 0);
	assert_int_equal(ready_data(early, got, 8), 0);
	assert_int_equal(ready_data(inner, got, 8), 0);
	struct itimerspec its;
	assert_int_equal(timerfd_gettime(tfd, &its), 0);
	assert_true(!its.it_value.tv_sec && !its.it_value.tv_nsec && !its.it_interval.tv_sec);
	struct pollfd pfd[2] = {{.fd = tfd, .events = POLLIN}, {.fd = ino, .events = POLLIN}};
	assert_int_equal(poll(pfd, 2, 0), 0);
	int queued = -1;
	assert_int_equal(ioctl(ino, FIONREAD, &queued), 0);
	assert_int_equal(queued, 0);
	assert_int_equal(sigpending(&pending), 0);
	assert_false(sigismember(&pending, SIGUSR1));
	assert_int_equal(inotify_add_watch(ino, "/", IN_DELETE_SELF), 1);

	/* The fired ones stay quiet when their files report, until re-armed. */
	assert_int_equal(kill(getpid(), SIGUSR1), 0);
	assert_int_equal(ready_data(ep, got, 8), 0);
	struct epoll_event again = {.events = EPOLLIN | EPOLLONESHOT, .data.u64 = 6};
	assert_int_equal(epoll_ctl(ep, EPOLL_CTL_MOD, sfd, &again), 0);
	assert_int_equal(ready_data(ep, got, 8), 1);
	assert_true(got[0] == 6);
	struct signalfd_siginfo si;
	assert_int_equal(read(sfd, &si, sizeof si), (ssize_t)sizeof si);
	assert_int_equal(si.ssi_signo, SIGUSR1);

	/* Those that cannot be primed: the restore fails, nothing added. */
	struct itimerspec later = {.it_value.tv_sec = 3600};
	assert_int_equal(timerfd_settime(tfd, 0, &later, NULL), 0);
	const struct {
		int fd;
		const char *says;
	} cannot[] = {{sfd_cont, "no signal of its mask only queues when sent"},
		      {sfd_open, "no signal of its mask only queues when sent"},
		      {tfd, "the timerfd is armed already"}};
	for (size_t i = 0; i < sizeof cannot / sizeof *cannot; i++) {
		const struct bm_watch one = {cannot[i].fd, EPOLLONESHOT, 9};
		set_watches((struct bm_fd *)bm_fd_find(fds, nfds, early), NULL, 0, data_early);
		set_watches((struct bm_fd *)bm_fd_find(fds, nfds, inner), NULL, 0, data_inner);
		set_watches((struct bm_fd *)bm_fd_find(fds, nfds, ep), &one, 1, data_ep);
		new_instance(ep);
		err[0] = 0;
		assert_int_equal(bm_watch_restore(&p, ctl[1], err, sizeof err), -1);
		if (!strstr(err, cannot[i].says) || !strstr(err, "would arm EPOLLERR and EPOLLHUP"))
			fail_msg("\"%s\" does not say \"%s\"", err, cannot[i].says);
		assert_int_equal(registered_events(ep, cannot[i].fd), -1);
	}
	assert_int_equal(sigpending(&pending), 0);
	assert_false(sigismember(&pending, SIGCONT) || sigismember(&pending, SIGPWR));
	int all[] = {ctl[0], ctl[1], early, tfd, inner, ino, sfd, sfd_cont, sfd_open, ep};
	for (size_t i = 0; i < sizeof all / sizeof *all; i++)
		close(all[i]);
	assert_int_equal(sigprocmask(SIG_UNBLOCK, &block, NULL), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_signalfd),
		cmocka_unit_test(test_parse_epoll),
		cmocka_unit_test(test_image_rules),
		cmocka_unit_test(test_dump_and_rebuild),
		cmocka_unit_test(test_fired_oneshot),
		cmocka_unit_test(test_fired_primed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
