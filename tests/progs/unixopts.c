/* unixopts MODE: the options of UNIX-domain sockets (migrator/sk_unix.c)
 * that a program can read back.
 *
 *   carried  a stream and a datagram socket pair, one end of each with
 *            every option binmig carries beyond the buffers and timeouts
 *            (tests/progs/unixsock.c) set away from a new socket's value:
 *            SO_PASSRIGHTS off, SO_DEBUG, SO_NO_CHECK, SO_LOCK_FILTER,
 *            SO_SELECT_ERR_QUEUE, SO_BUSY_POLL, SO_PREFER_BUSY_POLL,
 *            SO_INCOMING_CPU, SO_WIFI_STATUS, SO_NOFCS, SO_RCVMARK,
 *            SO_RCVPRIORITY; SO_BUF_LOCK as the buffer sizes leave it (none
 *            set: 0; SO_RCVBUF set to its own value: 2) and set by itself
 *            after a size (1).  After the wake-up every SOL_SOCKET option
 *            of every socket reads back as before (those that name the
 *            socket itself or change as it is read aside), and the end
 *            with SO_PASSRIGHTS off still refuses descriptors in flight.
 *   ifindex  a socket bound to an interface (SO_BINDTOIFINDEX): refused.
 *   pacing   a socket with SO_MAX_PACING_RATE set: refused.
 *   txtime   a socket with SO_TXTIME set: refused.
 *   passpidfd, timestamp, timestampns, timestampnew, timestampnsnew,
 *   timestamping, rxqovfl  a socket with SO_PASSPIDFD, SO_TIMESTAMP,
 *            SO_TIMESTAMPNS, SO_TIMESTAMP_NEW, SO_TIMESTAMPNS_NEW (64-bit
 *            stamps; the old options read them as 0), SO_TIMESTAMPING
 *            (software stamps) or SO_RXQ_OVFL set: refused.
 * In the refused modes the process checks that the option still reads as set. */
#include <linux/net_tstamp.h>
#include <sys/socket.h>

#include "testprog.h"

#ifndef SO_RCVPRIORITY
#define SO_RCVPRIORITY 82
#endif
#ifndef SO_PASSPIDFD
#define SO_PASSPIDFD 76
#endif
#ifndef SO_PASSRIGHTS
#define SO_PASSRIGHTS 83
#endif

#define NSOCKS 6
#define NOPTS 100
#define OPT_MAX 64

/* What option NAME of S reads: its length, -1 unreadable. */
static int read_opt(int s, int name, unsigned char *buf)
{
	memset(buf, 0, OPT_MAX);
	socklen_t len = OPT_MAX;
	return getsockopt(s, SOL_SOCKET, name, buf, &len) < 0 ? -1 : (int)len;
}

/* Options whose value is not the socket's state to carry: SO_ERROR
 * (reading clears it), SO_MEMINFO (the memory its queues use now),
 * SO_INCOMING_NAPI_ID, SO_COOKIE (a number of the socket's own),
 * SO_PEERPIDFD (a new descriptor each read). */
static bool skipped(int name)
{
	return name == SO_ERROR || name == 55 || name == 56 || name == SO_COOKIE || name == 77;
}

struct snapshot {
	int len[NSOCKS][NOPTS];
	unsigned char val[NSOCKS][NOPTS][OPT_MAX];
};

static void take(const int *fds, struct snapshot *s)
{
	for (int k = 0; k < NSOCKS; k++)
		for (int o = 1; o < NOPTS; o++)
			s->len[k][o] = skipped(o) ? -1 : read_opt(fds[k], o, s->val[k][o]);
}

static void setint(int s, int name, int v, const char *what)
{
	SETUP(setsockopt(s, SOL_SOCKET, name, &v, sizeof(v)) == 0, what);
}

static int intopt(int s, int name)
{
	int v = -12345;
	socklen_t len = sizeof(v);
	getsockopt(s, SOL_SOCKET, name, &v, &len);
	return v;
}

/* Sends a descriptor (0) with one byte from S: 0, or errno. */
static int send_fd(int s)
{
	union {
		struct cmsghdr align;
		char bytes[CMSG_SPACE(sizeof(int))];
	} control;
	memset(&control, 0, sizeof(control));
	struct iovec iov = {"x", 1};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = &control, .msg_controllen = sizeof(control)};
	struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	int zero = 0;
	memcpy(CMSG_DATA(c), &zero, sizeof(zero));
	return sendmsg(s, &mh, MSG_DONTWAIT | MSG_NOSIGNAL) == 1 ? 0 : errno;
}

static void carried_setup(int *fds)
{
	SETUP(socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0 && socketpair(AF_UNIX, SOCK_DGRAM, 0, fds + 2) == 0 &&
		      socketpair(AF_UNIX, SOCK_SEQPACKET, 0, fds + 4) == 0,
	      "socketpair");
	static const struct {
		int name, value;
		const char *text;
	} set[] = {{SO_PASSRIGHTS, 0, "SO_PASSRIGHTS"},
		   {SO_DEBUG, 1, "SO_DEBUG"},
		   {SO_NO_CHECK, 1, "SO_NO_CHECK"},
		   {SO_LOCK_FILTER, 1, "SO_LOCK_FILTER"},
		   {SO_SELECT_ERR_QUEUE, 1, "SO_SELECT_ERR_QUEUE"},
		   {SO_BUSY_POLL, 50, "SO_BUSY_POLL"},
		   {SO_PREFER_BUSY_POLL, 1, "SO_PREFER_BUSY_POLL"},
		   {SO_INCOMING_CPU, 0, "SO_INCOMING_CPU"},
		   {SO_WIFI_STATUS, 1, "SO_WIFI_STATUS"},
		   {SO_NOFCS, 1, "SO_NOFCS"},
		   {SO_RCVMARK, 1, "SO_RCVMARK"},
		   {SO_RCVPRIORITY, 1, "SO_RCVPRIORITY"}};
	for (int k = 1; k < 4; k += 2)
		for (size_t i = 0; i < sizeof(set) / sizeof(*set); i++)
			setint(fds[k], set[i].name, set[i].value, set[i].text);
	/* SO_BUF_LOCK: 0 on fds[0] and fds[2]; 2 on fds[4] (its own size set
	 * again); 1 on fds[5] (sizes set, then the lock by itself). */
	setint(fds[4], SO_RCVBUF, intopt(fds[4], SO_RCVBUF) / 2, "SO_RCVBUF");
	setint(fds[5], SO_SNDBUF, 30000, "SO_SNDBUF");
	setint(fds[5], SO_RCVBUF, 30000, "SO_RCVBUF");
	setint(fds[5], SO_BUF_LOCK, 1, "SO_BUF_LOCK");
	SETUP(intopt(fds[4], SO_BUF_LOCK) == 2 && intopt(fds[5], SO_BUF_LOCK) == 1, "SO_BUF_LOCK as meant");
}

static void carried_check(const int *fds, const struct snapshot *before)
{
	static struct snapshot after;
	take(fds, &after);
	for (int k = 0; k < NSOCKS; k++)
		for (int o = 1; o < NOPTS; o++) {
			int len = before->len[k][o];
			CHECK(after.len[k][o] == len && (len < 0 || memcmp(after.val[k][o], before->val[k][o], len) == 0),
			      "fd %d: option %d reads %d bytes (first int %d), before %d bytes (%d)", fds[k], o,
			      after.len[k][o], *(const int *)after.val[k][o], len, *(const int *)before->val[k][o]);
		}
	CHECK(send_fd(fds[0]) == EPERM, "SO_PASSRIGHTS off: a descriptor in flight got through to the stream end");
	CHECK(send_fd(fds[1]) == 0, "SO_PASSRIGHTS on: no descriptor in flight got through");
}

/* The options binmig refuses on a unix socket, by mode: the value set
 * (an int; SO_TXTIME's is a struct, set apart). */
struct refused {
	const char *mode;
	int name, value;
};

static const struct refused *refused_opt(const char *mode)
{
	static const struct refused opts[] = {
		{"ifindex", SO_BINDTOIFINDEX, 1 /* lo */}, {"pacing", SO_MAX_PACING_RATE, 12345},
		{"txtime", SO_TXTIME, 0}, {"passpidfd", SO_PASSPIDFD, 1}, {"timestamp", SO_TIMESTAMP, 1},
		{"timestampns", SO_TIMESTAMPNS, 1}, {"timestampnew", SO_TIMESTAMP_NEW, 1},
		{"timestampnsnew", SO_TIMESTAMPNS_NEW, 1},
		{"timestamping", SO_TIMESTAMPING, SOF_TIMESTAMPING_RX_SOFTWARE | SOF_TIMESTAMPING_SOFTWARE},
		{"rxqovfl", SO_RXQ_OVFL, 1},
	};
	for (size_t i = 0; i < sizeof opts / sizeof *opts; i++)
		if (strcmp(mode, opts[i].mode) == 0)
			return &opts[i];
	return NULL;
}

int main(int argc, char **argv)
{
	const char *mode = argc >= 2 ? argv[1] : "";
	usr1_setup();
	int fds[NSOCKS];
	static struct snapshot before;
	int s = -1, name = 0, set_len = -1;
	const struct refused *r;
	unsigned char set_val[OPT_MAX];
	if (strcmp(mode, "carried") == 0) {
		carried_setup(fds);
		take(fds, &before);
	} else if ((r = refused_opt(mode)) != NULL) {
		s = socket(AF_UNIX, SOCK_DGRAM, 0);
		SETUP(s >= 0, "socket");
		if (r->name == SO_TXTIME) {
			struct sock_txtime t = {CLOCK_MONOTONIC, 0};
			SETUP(setsockopt(s, SOL_SOCKET, SO_TXTIME, &t, sizeof(t)) == 0, "SO_TXTIME");
		} else {
			setint(s, r->name, r->value, mode);
		}
		name = r->name;
		set_len = read_opt(s, name, set_val);
		SETUP(set_len > 0, "reading the option back");
	} else {
		say("FAIL: usage: unixopts carried|ifindex|pacing|txtime|passpidfd|timestamp|timestampns|timestampnew|"
		    "timestampnsnew|timestamping|rxqovfl");
		return 2;
	}
	struct fd_set_snapshot fdset;
	fd_snapshot(&fdset);
	say("ready");
	usr1_wait();
	fd_check_same(&fdset);
	if (s < 0) {
		carried_check(fds, &before);
	} else {
		unsigned char v[OPT_MAX];
		int len = read_opt(s, name, v);
		CHECK(len == set_len && memcmp(v, set_val, (size_t)len) == 0, "%s: the option is no longer as set", mode);
	}
	return tp_finish();
}
