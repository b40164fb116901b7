/* watch MODE: signalfds and epoll instances (migrator/fd_watch.c).
 *
 *   carried   a non-blocking signalfd for SIGUSR2 and SIGRTMIN+1 (with a
 *             dup sharing it) and a blocking one for SIGWINCH; an epoll
 *             instance watching, with its own user data each:
 *               an empty pipe (level), a dup of that pipe's read end,
 *               an eventfd with a count (level, ready), an empty pipe
 *               edge-triggered, a second eventfd one-shot whose shot was
 *               already taken, the signalfd (SIGUSR2 pending: ready), a
 *               second epoll instance that watches the eventfd (ready),
 *               and one-shots whose shots were taken on a pipe's read end
 *               that holds a byte and on a socket pair's end (writable);
 *             and one-shots whose shots were taken and whose files then
 *             report nothing: an instance "shots" watching a timerfd
 *             (expired, read, disarmed), a second one (an hourly timer
 *             whose first expiry came at once and was read), an inotify
 *             instance (its event read), a signalfd for SIGRTMIN+2 (its
 *             signal read) and an instance "held", itself watching the
 *             first timerfd one-shot, its shot taken too.
 *             After the wake-up: exactly the ready ones are reported, the
 *             others wake up when their files do (edge-triggered once),
 *             the fired one-shots stay quiet, also when the pipe's writer
 *             and the socket's peer are closed (an EPOLLHUP armed again
 *             would be reported), until re-armed, and the pipe still holds
 *             its byte; the signalfds read the pending signal and a newly
 *             queued one with its value.  The fired one-shots of "shots"
 *             and "held" report nothing, also once their files report
 *             again, until re-armed: then each once; their files are as
 *             they were (no expiration, the hourly timer still armed,
 *             no inotify event, no signal pending).
 *   blocked   sleeps in epoll_wait on an instance watching a signalfd for
 *             SIGUSR2 (blocked), and is migrated there: SIGUSR2 wakes it
 *             with the signalfd's user data and the signal to read.
 *   stale     the epoll instance watches fd 20, which was then pointed at
 *             another file: binmig must refuse the process.
 *   closed    the epoll instance watches fd 21, which was then closed
 *             while its file stays open elsewhere: refused too.
 *   replaced  the epoll instance watches the eventfd at fd 9; the test
 *             dumps with --fd 9=null, which must be refused.
 *   fired     a one-shot registration of a pipe's read end whose shot was
 *             taken, the byte then read: the pipe is empty, so nothing can
 *             make the registration fire again at the restore, and added
 *             again it would report the hangup when the writer closes
 *             (EPOLL_CTL_ADD arms EPOLLERR|EPOLLHUP), which the original
 *             does not: refused.
 * In the refused modes the process is left alone and passes its checks. */
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>

#include "testprog.h"

enum {
	D_PIPE = 0x1111, D_EVENTFD = 0x2222, D_EDGE = 0x4444, D_ONESHOT = 0x5555, D_SIGNALFD = 0x6666,
	D_NESTED = 0x7777, D_PIPE_DUP = 0x8888, D_FIRED_PIPE = 0x9999, D_FIRED_SOCKET = 0xaaaa,
	D_SHOT_TIMERFD = 0xb001, D_SHOT_HELD = 0xb002, D_SHOT_INOTIFY = 0xb003, D_SHOT_SIGNALFD = 0xb004,
	D_HELD_TIMERFD = 0xb005, D_SHOT_HOURLY = 0xb006,
};

/* The one-shots on files that report nothing once their shots were taken:
 * the instances, their targets, and the signal of the signalfd. */
struct shots {
	int shots, held, tfd, hourly, ino, sfd;
	int sig;
};

static void watch_fd(int ep, int fd, uint32_t events, uint64_t data)
{
	struct epoll_event ev = {.events = events, .data.u64 = data};
	SETUP(epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) == 0, "epoll_ctl ADD");
}

/* The user data of every ready registration, as a sorted list in buf. */
static int ready(int ep, uint64_t *buf, int max)
{
	struct epoll_event evs[16];
	int n = epoll_wait(ep, evs, 16, 0);
	if (n < 0 || n > max)
		return -1;
	for (int i = 0; i < n; i++)
		buf[i] = evs[i].data.u64;
	for (int i = 1; i < n; i++)
		for (int j = i; j > 0 && buf[j - 1] > buf[j]; j--) {
			uint64_t t = buf[j];
			buf[j] = buf[j - 1];
			buf[j - 1] = t;
		}
	return n;
}

static void expect_ready(int ep, const uint64_t *want, int nwant, const char *when)
{
	uint64_t got[16];
	int n = ready(ep, got, 16);
	bool same = n == nwant;
	for (int i = 0; same && i < n; i++)
		same = got[i] == want[i];
	char text[256] = "";
	for (int i = 0; i < n && strlen(text) < sizeof(text) - 16; i++)
		snprintf(text + strlen(text), sizeof(text) - strlen(text), " %#llx", (unsigned long long)got[i]);
	CHECK(same, "%s: %d ready registrations:%s", when, n, text);
}

/* The fired one-shot registrations of the pipe's read end (whose writer
 * is W) and of the socket end S (whose peer is PEER), after the restore:
 * quiet when their files hang up, each reported once when re-armed, the
 * pipe's byte still there.  QUIET: what the instance reports besides. */
static void check_fired(int ep, int r, int w, int s, int peer, const uint64_t *quiet, int nquiet)
{
	CHECK(close(w) == 0 && close(peer) == 0, "close the pipe's writer and the socket's peer");
	expect_ready(ep, quiet, nquiet, "the fired one-shots after their files hung up");
	struct epoll_event rearm = {.events = EPOLLIN | EPOLLONESHOT, .data.u64 = D_FIRED_PIPE};
	CHECK(epoll_ctl(ep, EPOLL_CTL_MOD, r, &rearm) == 0, "re-arm the pipe's one-shot: %s", strerror(errno));
	rearm.data.u64 = D_FIRED_SOCKET;
	CHECK(epoll_ctl(ep, EPOLL_CTL_MOD, s, &rearm) == 0, "re-arm the socket's one-shot: %s", strerror(errno));
	uint64_t both[16];
	int n = 0;
	for (int i = 0; i < nquiet; i++)
		both[n++] = quiet[i];
	both[n++] = D_FIRED_PIPE;
	both[n++] = D_FIRED_SOCKET;
	expect_ready(ep, both, n, "the fired one-shots re-armed");
	expect_ready(ep, quiet, nquiet, "the re-armed one-shots reported once");
	char c = 0;
	CHECK(read(r, &c, 1) == 1 && c == 'f', "the byte the fired pipe held (%#x)", c);
}

/* Makes each target of the shots report an event: the timerfd expires
 * (armed for 1 ns, relative: no settime flags, which the restore would
 * set again; waited for), the inotify instance gets the IN_IGNORED of a
 * watch added and removed, the signal is raised. */
static bool shots_report(const struct shots *s)
{
	struct itimerspec soon = {.it_value = {0, 1}};
	struct pollfd expired = {.fd = s->tfd, .events = POLLIN};
	int wd = inotify_add_watch(s->ino, "/dev", IN_DELETE_SELF);
	return timerfd_settime(s->tfd, 0, &soon, NULL) == 0 && poll(&expired, 1, 20000) == 1 &&
	       wd > 0 && inotify_rm_watch(s->ino, wd) == 0 && kill(getpid(), s->sig) == 0;
}

/* Reads what shots_report made each target report. */
static bool shots_take(const struct shots *s)
{
	uint64_t ticks;
	char ev[sizeof(struct inotify_event) + 256] __attribute__((aligned(__alignof__(struct inotify_event))));
	struct signalfd_siginfo si;
	return read(s->tfd, &ticks, sizeof ticks) == sizeof ticks && read(s->ino, ev, sizeof ev) > 0 &&
	       read(s->sfd, &si, sizeof si) == sizeof si && (int)si.ssi_signo == s->sig;
}

/* The shots: every target reports, each registration fires once (held's
 * before shots' of held is taken), the events are read. */
static void shots_setup(struct shots *s)
{
	sigset_t mask;
	sigemptyset(&mask);
	s->sig = SIGRTMIN + 2;
	sigaddset(&mask, s->sig);
	SETUP(sigprocmask(SIG_BLOCK, &mask, NULL) == 0, "block SIGRTMIN+2");
	s->sfd = signalfd(-1, &mask, SFD_NONBLOCK);
	s->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
	s->hourly = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
	s->ino = inotify_init1(IN_NONBLOCK);
	s->shots = epoll_create1(0);
	s->held = epoll_create1(0);
	SETUP(s->sfd >= 0 && s->tfd >= 0 && s->hourly >= 0 && s->ino >= 0 && s->shots >= 0 && s->held >= 0,
	      "the shots' files");
	struct itimerspec hourly = {.it_interval = {3600, 0}, .it_value = {0, 1}};
	struct pollfd first = {.fd = s->hourly, .events = POLLIN};
	SETUP(timerfd_settime(s->hourly, 0, &hourly, NULL) == 0 && poll(&first, 1, 20000) == 1,
	      "the hourly timer's first expiry");
	SETUP(inotify_add_watch(s->ino, "/", IN_DELETE_SELF) == 1, "an inotify watch that sees nothing");
	SETUP(shots_report(s), "the shots' files report");
	watch_fd(s->held, s->tfd, EPOLLIN | EPOLLONESHOT, D_HELD_TIMERFD);
	watch_fd(s->shots, s->tfd, EPOLLIN | EPOLLONESHOT, D_SHOT_TIMERFD);
	watch_fd(s->shots, s->held, EPOLLIN | EPOLLONESHOT, D_SHOT_HELD);
	watch_fd(s->shots, s->ino, EPOLLIN | EPOLLONESHOT, D_SHOT_INOTIFY);
	watch_fd(s->shots, s->sfd, EPOLLIN | EPOLLONESHOT, D_SHOT_SIGNALFD);
	watch_fd(s->shots, s->hourly, EPOLLIN | EPOLLONESHOT, D_SHOT_HOURLY);
	const uint64_t all[] = {D_SHOT_TIMERFD, D_SHOT_HELD, D_SHOT_INOTIFY, D_SHOT_SIGNALFD, D_SHOT_HOURLY};
	expect_ready(s->shots, all, 5, "the shots before the dump");
	const uint64_t held[] = {D_HELD_TIMERFD};
	expect_ready(s->held, held, 1, "held's shot before the dump");
	uint64_t ticks;
	SETUP(shots_take(s) && read(s->hourly, &ticks, sizeof ticks) == sizeof ticks, "the shots' events read");
	expect_ready(s->shots, NULL, 0, "the shots taken");
	expect_ready(s->held, NULL, 0, "held's shot taken");
}

/* After the restore: the files as they were; the shots quiet, also when
 * their files report, until re-armed. */
static void shots_check(const struct shots *s)
{
	uint64_t ticks;
	CHECK(read(s->tfd, &ticks, sizeof ticks) < 0 && errno == EAGAIN && read(s->hourly, &ticks, sizeof ticks) < 0 &&
	      errno == EAGAIN, "no expiration of the timerfds after the restore");
	struct itimerspec its[2];
	CHECK(timerfd_gettime(s->tfd, &its[0]) == 0 && timerfd_gettime(s->hourly, &its[1]) == 0 &&
	      !its[0].it_value.tv_sec && !its[0].it_value.tv_nsec && !its[0].it_interval.tv_sec &&
	      its[1].it_interval.tv_sec == 3600 && its[1].it_value.tv_sec > 3000, "the timerfds' settings (%lld s left "
	      "of the hourly one)", (long long)its[1].it_value.tv_sec);
	int queued = -1;
	sigset_t pending;
	CHECK(ioctl(s->ino, FIONREAD, &queued) == 0 && queued == 0, "no inotify event queued (%d bytes)", queued);
	CHECK(sigpending(&pending) == 0 && !sigismember(&pending, s->sig), "SIGRTMIN+2 not pending");
	expect_ready(s->shots, NULL, 0, "the shots after the restore");
	expect_ready(s->held, NULL, 0, "held's shot after the restore");
	CHECK(shots_report(s), "the shots' files report again");
	expect_ready(s->shots, NULL, 0, "the fired shots while their files report");
	expect_ready(s->held, NULL, 0, "held's fired shot while its timerfd reports");
	struct epoll_event rearm = {.events = EPOLLIN | EPOLLONESHOT, .data.u64 = D_HELD_TIMERFD};
	CHECK(epoll_ctl(s->held, EPOLL_CTL_MOD, s->tfd, &rearm) == 0, "re-arm held's shot: %s", strerror(errno));
	const struct {
		int fd;
		uint64_t data;
	} shot[] = {{s->tfd, D_SHOT_TIMERFD}, {s->held, D_SHOT_HELD}, {s->ino, D_SHOT_INOTIFY},
		    {s->sfd, D_SHOT_SIGNALFD}, {s->hourly, D_SHOT_HOURLY}};
	for (int i = 0; i < 5; i++) {
		rearm.data.u64 = shot[i].data;
		CHECK(epoll_ctl(s->shots, EPOLL_CTL_MOD, shot[i].fd, &rearm) == 0, "re-arm the shot %#llx: %s",
		      (unsigned long long)shot[i].data, strerror(errno));
	}
	/* The hourly timer is not due: its shot, re-armed, waits. */
	const uint64_t all[] = {D_SHOT_TIMERFD, D_SHOT_HELD, D_SHOT_INOTIFY, D_SHOT_SIGNALFD};
	expect_ready(s->shots, all, 4, "the shots re-armed");
	expect_ready(s->shots, NULL, 0, "the re-armed shots reported once");
	const uint64_t held[] = {D_HELD_TIMERFD};
	expect_ready(s->held, held, 1, "held's shot re-armed");
	CHECK(shots_take(s), "the shots' events read after the restore");
}

static int carried(void)
{
	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGUSR2);
	sigaddset(&mask, SIGRTMIN + 1);
	sigaddset(&mask, SIGWINCH);
	SETUP(sigprocmask(SIG_BLOCK, &mask, NULL) == 0, "block the signalfd signals");
	sigdelset(&mask, SIGWINCH);
	int sfd = signalfd(-1, &mask, SFD_NONBLOCK);
	SETUP(sfd >= 0, "signalfd");
	SETUP(dup2(sfd, 60) == 60, "dup2 signalfd");
	sigset_t winch;
	sigemptyset(&winch);
	sigaddset(&winch, SIGWINCH);
	int sfd_winch = signalfd(-1, &winch, SFD_CLOEXEC);
	SETUP(sfd_winch >= 0, "signalfd SIGWINCH");
	SETUP(kill(getpid(), SIGUSR2) == 0, "raise SIGUSR2");

	int quiet[2], edge[2];
	SETUP(pipe(quiet) == 0 && pipe(edge) == 0, "pipes");
	int quiet_dup = dup2(quiet[0], 70);
	SETUP(quiet_dup == 70, "dup2 pipe");
	int counted = eventfd(3, EFD_NONBLOCK);
	int shot = eventfd(1, EFD_NONBLOCK);
	SETUP(counted >= 0 && shot >= 0, "eventfds");
	int ep = epoll_create1(EPOLL_CLOEXEC), inner = epoll_create1(0);
	SETUP(ep >= 0 && inner >= 0, "epoll_create1");
	int fired_pipe[2], sp[2];
	SETUP(pipe(fired_pipe) == 0 && write(fired_pipe[1], "f", 1) == 1, "a pipe holding a byte");
	SETUP(socketpair(AF_UNIX, SOCK_STREAM, 0, sp) == 0, "socketpair");
	watch_fd(inner, counted, EPOLLIN, 1);
	watch_fd(ep, quiet[0], EPOLLIN, D_PIPE);
	watch_fd(ep, quiet_dup, EPOLLIN, D_PIPE_DUP);
	watch_fd(ep, counted, EPOLLIN, D_EVENTFD);
	watch_fd(ep, edge[0], EPOLLIN | EPOLLET, D_EDGE);
	watch_fd(ep, shot, EPOLLIN | EPOLLONESHOT, D_ONESHOT);
	watch_fd(ep, sfd, EPOLLIN, D_SIGNALFD);
	watch_fd(ep, inner, EPOLLIN, D_NESTED);
	watch_fd(ep, fired_pipe[0], EPOLLIN | EPOLLONESHOT, D_FIRED_PIPE);
	watch_fd(ep, sp[0], EPOLLOUT | EPOLLONESHOT, D_FIRED_SOCKET);
	/* The one-shots fire now, and are then disarmed. */
	const uint64_t before[] = {D_EVENTFD, D_ONESHOT, D_SIGNALFD, D_NESTED, D_FIRED_PIPE, D_FIRED_SOCKET};
	expect_ready(ep, before, 6, "before the dump");
	struct shots shots;
	shots_setup(&shots);
	SETUP(tp_failures == 0, "the registrations before the dump");

	struct fd_set_snapshot fds_before;
	fd_snapshot(&fds_before);
	say("ready");
	usr1_wait();
	fd_check_same(&fds_before);

	const uint64_t after[] = {D_EVENTFD, D_SIGNALFD, D_NESTED};
	expect_ready(ep, after, 3, "after the restore");
	check_fired(ep, fired_pipe[0], fired_pipe[1], sp[0], sp[1], after, 3);
	shots_check(&shots);
	CHECK(write(quiet[1], "x", 1) == 1 && write(edge[1], "y", 1) == 1, "write the pipes");
	const uint64_t woken[] = {D_PIPE, D_EVENTFD, D_EDGE, D_SIGNALFD, D_NESTED, D_PIPE_DUP};
	expect_ready(ep, woken, 6, "with both pipes written");
	const uint64_t level[] = {D_PIPE, D_EVENTFD, D_SIGNALFD, D_NESTED, D_PIPE_DUP};
	expect_ready(ep, level, 5, "the edge reported once");
	struct epoll_event rearm = {.events = EPOLLIN | EPOLLONESHOT, .data.u64 = D_ONESHOT};
	CHECK(epoll_ctl(ep, EPOLL_CTL_MOD, shot, &rearm) == 0, "re-arm the one-shot: %s", strerror(errno));
	const uint64_t rearmed[] = {D_PIPE, D_EVENTFD, D_ONESHOT, D_SIGNALFD, D_NESTED, D_PIPE_DUP};
	expect_ready(ep, rearmed, 6, "re-armed");
	CHECK(fcntl(ep, F_GETFD) == FD_CLOEXEC && fcntl(inner, F_GETFD) == 0, "close-on-exec of the instances");

	struct signalfd_siginfo si;
	CHECK((fcntl(sfd, F_GETFL) & O_NONBLOCK) && !(fcntl(sfd_winch, F_GETFL) & O_NONBLOCK),
	      "O_NONBLOCK of the signalfds");
	CHECK(read(sfd, &si, sizeof si) == sizeof si && si.ssi_signo == SIGUSR2, "the pending SIGUSR2 through the "
	      "signalfd (signal %u)", si.ssi_signo);
	CHECK(read(60, &si, sizeof si) < 0 && errno == EAGAIN, "the dup of the signalfd reads nothing more");
	union sigval value = {.sival_int = 42};
	CHECK(sigqueue(getpid(), SIGRTMIN + 1, value) == 0, "sigqueue");
	CHECK(read(60, &si, sizeof si) == sizeof si && (int)si.ssi_signo == SIGRTMIN + 1 && si.ssi_int == 42,
	      "SIGRTMIN+1 with value 42 through the dup (signal %u, value %d)", si.ssi_signo, si.ssi_int);
	CHECK(kill(getpid(), SIGWINCH) == 0 && read(sfd_winch, &si, sizeof si) == sizeof si && si.ssi_signo == SIGWINCH,
	      "SIGWINCH through the blocking signalfd");
	return tp_finish();
}

static int blocked(void)
{
	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGUSR2);
	SETUP(sigprocmask(SIG_BLOCK, &mask, NULL) == 0, "block SIGUSR2");
	int sfd = signalfd(-1, &mask, SFD_NONBLOCK), ep = epoll_create1(0);
	SETUP(sfd >= 0 && ep >= 0, "signalfd and epoll_create1");
	watch_fd(ep, sfd, EPOLLIN, D_SIGNALFD);
	say("ready");
	struct epoll_event ev = {0};
	int n;
	do
		n = epoll_wait(ep, &ev, 1, -1);
	while (n < 0 && errno == EINTR);
	CHECK(n == 1 && ev.data.u64 == D_SIGNALFD && (ev.events & EPOLLIN), "epoll_wait gave %d, data %#llx", n,
	      (unsigned long long)ev.data.u64);
	struct signalfd_siginfo si;
	CHECK(read(sfd, &si, sizeof si) == sizeof si && si.ssi_signo == SIGUSR2, "SIGUSR2 through the signalfd");
	return tp_finish();
}

/* An epoll instance with one registration that cannot be rebuilt; the
 * process passes its checks if it is left alone. */
static int refused(const char *mode)
{
	int p[2];
	SETUP(pipe(p) == 0, "pipe");
	int ep = epoll_create1(0);
	SETUP(ep >= 0, "epoll_create1");
	int target = -1;
	if (strcmp(mode, "stale") == 0) {
		SETUP(dup2(p[0], 20) == 20, "dup2");
		watch_fd(ep, 20, EPOLLIN, 20);
		int null = open("/dev/null", O_RDONLY);
		SETUP(null >= 0 && dup2(null, 20) == 20, "point fd 20 elsewhere");
		close(null);
	} else if (strcmp(mode, "closed") == 0) {
		SETUP(dup2(p[0], 21) == 21, "dup2");
		watch_fd(ep, 21, EPOLLIN, 21);
		close(21);
	} else {
		int e = eventfd(1, 0);
		SETUP(e >= 0 && dup2(e, 9) == 9, "eventfd at fd 9");
		close(e);
		target = 9;
		watch_fd(ep, 9, EPOLLIN, 9);
	}
	say("ready");
	usr1_wait();
	CHECK(write(p[1], "z", 1) == 1, "write");
	uint64_t got[4];
	int n = ready(ep, got, 4);
	/* The registrations live on as the kernel keeps them. */
	CHECK(n == 1 && got[0] == (uint64_t)(target >= 0 ? 9 : strcmp(mode, "stale") == 0 ? 20 : 21),
	      "%d ready registrations", n);
	return tp_finish();
}

static int fired(void)
{
	int p[2];
	SETUP(pipe(p) == 0 && write(p[1], "x", 1) == 1, "pipe");
	int ep = epoll_create1(0);
	SETUP(ep >= 0, "epoll_create1");
	watch_fd(ep, p[0], EPOLLIN | EPOLLONESHOT, 30);
	uint64_t got[4];
	char c;
	SETUP(ready(ep, got, 4) == 1 && read(p[0], &c, 1) == 1, "the shot, then the byte read");
	say("ready");
	usr1_wait();
	CHECK(close(p[1]) == 0 && ready(ep, got, 4) == 0, "the fired one-shot reported the hangup");
	return tp_finish();
}

/* A one-shot registration that fired on a signalfd for SIGCONT alone:
 * refused (the restore could make it fire again only by sending SIGCONT). */
static int jobctl(void)
{
	sigset_t cont;
	sigemptyset(&cont);
	sigaddset(&cont, SIGCONT);
	SETUP(sigprocmask(SIG_BLOCK, &cont, NULL) == 0, "block SIGCONT");
	int sfd = signalfd(-1, &cont, SFD_NONBLOCK), ep = epoll_create1(0);
	SETUP(sfd >= 0 && ep >= 0, "signalfd and epoll_create1");
	watch_fd(ep, sfd, EPOLLIN | EPOLLONESHOT, 40);
	uint64_t got[4];
	struct signalfd_siginfo si;
	SETUP(kill(getpid(), SIGCONT) == 0 && ready(ep, got, 4) == 1 && read(sfd, &si, sizeof si) == sizeof si,
	      "the shot, then SIGCONT taken");
	say("ready");
	usr1_wait();
	CHECK(kill(getpid(), SIGCONT) == 0 && ready(ep, got, 4) == 0, "the fired one-shot stays quiet");
	CHECK(read(sfd, &si, sizeof si) == sizeof si && si.ssi_signo == SIGCONT, "SIGCONT through the signalfd");
	return tp_finish();
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		say("FAIL: usage: watch carried|blocked|stale|closed|replaced|fired|jobctl");
		return 2;
	}
	usr1_setup();
	if (strcmp(argv[1], "carried") == 0)
		return carried();
	if (strcmp(argv[1], "blocked") == 0)
		return blocked();
	if (strcmp(argv[1], "fired") == 0)
		return fired();
	if (strcmp(argv[1], "jobctl") == 0)
		return jobctl();
	if (strcmp(argv[1], "stale") == 0 || strcmp(argv[1], "closed") == 0 || strcmp(argv[1], "replaced") == 0)
		return refused(argv[1]);
	say("FAIL: unknown mode %s", argv[1]);
	return 2;
}
