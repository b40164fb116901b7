/* Empty messages the process peeked, in datagram and seqpacket queues
 * (migrator/sk_unix_peeked.c).  The kernel marks an empty message once a
 * peek shows it, and from then on a peek at an offset (SO_PEEK_OFF) skips
 * it: what a walk of the queue with such peeks shows differs, message for
 * message, from what reads take.  Both are checked after the restore.
 *
 *   peekedmsg carried DIR  socket pairs and a seqpacket pair, some empty
 *                          messages marked (at an offset, and at the head),
 *                          some not, and a datagram socket on an abstract
 *                          name connected to one that sends to that name
 *                          (one way); checked on SIGUSR1: each walk shows
 *                          exactly what it showed before the dump, and the
 *                          reads take every message, in order.
 *   peekedmsg refused DIR  a named datagram socket that other sockets may
 *                          send to, with SO_PEEK_OFF set and messages
 *                          queued: binmig cannot take its queue (another
 *                          sender could write meanwhile), so it refuses;
 *                          checked on SIGUSR1: the queue as it was.
 *   peekedmsg hidden DIR   such a named socket with an empty message behind
 *                          another, peeked at an offset, SO_PEEK_OFF off
 *                          again: no peek shows it, binmig's BPF reader
 *                          does, and refuses; checked on SIGUSR1: the queue
 *                          as it was, the empty message still marked.
 *   peekedmsg head DIR     two such named sockets, each with an empty
 *                          message at its head, the first peeked (marked),
 *                          the second not; checked on SIGUSR1: a walk skips
 *                          the first one's and shows the second one's, and
 *                          the reads take both.
 *   peekedmsg headpeeked DIR  the first of these only (a migration that
 *                          pre-copies peeks its queues at its first, short
 *                          freeze too, which marks the second's head). */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "testprog.h"

static void setint(int s, int name, int v)
{
	SETUP(setsockopt(s, SOL_SOCKET, name, &v, sizeof v) == 0, "setsockopt");
}

static void put(int s, const char *text)
{
	SETUP(send(s, text, strlen(text), 0) == (ssize_t)strlen(text), "send");
}

static void pair(int type, int sv[2])
{
	SETUP(socketpair(AF_UNIX, type, 0, sv) == 0, "socketpair");
}

/* The abstract name "binmig-peeked-TAG-PID" into A: its length. */
static socklen_t name_of(const char *tag, struct sockaddr_un *a)
{
	*a = (struct sockaddr_un){.sun_family = AF_UNIX};
	snprintf(a->sun_path + 1, sizeof a->sun_path - 1, "binmig-peeked-%s-%d", tag, (int)getpid());
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(a->sun_path + 1));
}

/* A datagram socket bound to TAG's name, which others may send to, and
 * an unbound socket to send from (*SENDER). */
static int named_socket(const char *tag, int *sender)
{
	struct sockaddr_un a;
	socklen_t len = name_of(tag, &a);
	int s = socket(AF_UNIX, SOCK_DGRAM, 0);
	*sender = socket(AF_UNIX, SOCK_DGRAM, 0);
	SETUP(s >= 0 && *sender >= 0 && bind(s, (struct sockaddr *)&a, len) == 0, "bind");
	return s;
}

static void put_to(int s, const char *tag, const char *text)
{
	struct sockaddr_un a;
	socklen_t len = name_of(tag, &a);
	SETUP(sendto(s, text, strlen(text), 0, (struct sockaddr *)&a, len) == (ssize_t)strlen(text), "sendto");
}

/* Peeks once at OFF, which marks an empty message it shows. */
static void peek_at(int s, int off)
{
	char b[16];
	setint(s, SO_PEEK_OFF, off);
	SETUP(recv(s, b, sizeof b, MSG_PEEK | MSG_DONTWAIT) >= 0, "peek");
}

/* What a walk of S with peeks from offset 0 shows, as "alpha,-,beta" (-:
 * an empty message).  The walk marks the empty messages it shows; SO_PEEK_OFF
 * is put back to OLD. */
static void walk(int s, int old, char *out, size_t n)
{
	out[0] = 0;
	for (int off = 0, i = 0; i < 32; i++) {
		char b[64];
		setint(s, SO_PEEK_OFF, off);
		ssize_t got = recv(s, b, sizeof b - 1, MSG_PEEK | MSG_DONTWAIT);
		if (got < 0)
			break;
		b[got] = 0;
		snprintf(out + strlen(out), n - strlen(out), "%s%s", out[0] ? "," : "", got ? b : "-");
		off += (int)got;
	}
	setint(s, SO_PEEK_OFF, old);
}

/* What reads of S take, the same way. */
static void reads(int s, char *out, size_t n)
{
	out[0] = 0;
	for (int i = 0; i < 32; i++) {
		char b[64];
		ssize_t got = recv(s, b, sizeof b - 1, MSG_DONTWAIT);
		if (got < 0)
			break;
		b[got] = 0;
		snprintf(out + strlen(out), n - strlen(out), "%s%s", out[0] ? "," : "", got ? b : "-");
	}
}

static void expect(const char *what, const char *got, const char *want)
{
	CHECK(strcmp(got, want) == 0, "%s: \"%s\", expected \"%s\"", what, got, want);
}

/* What a walk of S shows (WALKED; SO_PEEK_OFF put back to OLD), then what
 * reads take (READ). */
static void expect_queue(int s, int old, const char *what, const char *walked, const char *read)
{
	char got[256], label[128];
	walk(s, old, got, sizeof got);
	snprintf(label, sizeof label, "%s, walked", what);
	expect(label, got, walked);
	reads(s, got, sizeof got);
	snprintf(label, sizeof label, "%s, read", what);
	expect(label, got, read);
}

int main(int argc, char **argv)
{
	const char *mode = argc >= 3 ? argv[1] : "";
	usr1_setup();
	int dg[2], sq[2], plain[2], oneway[2] = {-1, -1}, named = -1, sender = -1, heads[2] = {-1, -1};
	if (strcmp(mode, "carried") == 0) {
		/* A datagram pair: the first empty message of the middle run
		 * marked at an offset, then SO_PEEK_OFF off again. */
		pair(SOCK_DGRAM, dg);
		put(dg[0], "alpha");
		put(dg[0], "");
		put(dg[0], "");
		put(dg[0], "beta");
		put(dg[0], "");
		peek_at(dg[1], 5);
		setint(dg[1], SO_PEEK_OFF, -1);
		/* A seqpacket pair: its head, empty, marked; SO_PEEK_OFF left on,
		 * the receiver asking for credentials. */
		pair(SOCK_SEQPACKET, sq);
		setint(sq[1], SO_PASSCRED, 1);
		put(sq[0], "");
		put(sq[0], "");
		put(sq[0], "rec");
		peek_at(sq[1], 0);
		setint(sq[1], SO_PEEK_OFF, 0);
		/* Connected one way to a socket that sends to its name. */
		struct sockaddr_un ra = {.sun_family = AF_UNIX}, pa = {.sun_family = AF_UNIX};
		snprintf(ra.sun_path + 1, sizeof ra.sun_path - 1, "binmig-peeked-r-%d", (int)getpid());
		snprintf(pa.sun_path + 1, sizeof pa.sun_path - 1, "binmig-peeked-p-%d", (int)getpid());
		socklen_t rlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(ra.sun_path + 1));
		socklen_t plen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(pa.sun_path + 1));
		oneway[0] = socket(AF_UNIX, SOCK_DGRAM, 0);
		oneway[1] = socket(AF_UNIX, SOCK_DGRAM, 0);
		SETUP(oneway[0] >= 0 && oneway[1] >= 0 && bind(oneway[1], (struct sockaddr *)&ra, rlen) == 0 &&
		      bind(oneway[0], (struct sockaddr *)&pa, plen) == 0 &&
		      connect(oneway[1], (struct sockaddr *)&pa, plen) == 0, "a socket connected one way");
		const char *msgs[] = {"one", "", "", "two"};
		for (int i = 0; i < 4; i++)
			SETUP(sendto(oneway[0], msgs[i], strlen(msgs[i]), 0, (struct sockaddr *)&ra, rlen) ==
			      (ssize_t)strlen(msgs[i]), "sendto");
		peek_at(oneway[1], 3);
		setint(oneway[1], SO_PEEK_OFF, -1);
		/* Empty messages nobody peeked: the dump must not mark them. */
		pair(SOCK_DGRAM, plain);
		put(plain[0], "");
		put(plain[0], "x");
		put(plain[0], "");
	} else if (strcmp(mode, "refused") == 0) {
		named = socket(AF_UNIX, SOCK_DGRAM, 0);
		sender = socket(AF_UNIX, SOCK_DGRAM, 0);
		struct sockaddr_un a = {.sun_family = AF_UNIX};
		snprintf(a.sun_path + 1, sizeof a.sun_path - 1, "binmig-peeked-%d", (int)getpid());
		socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(a.sun_path + 1));
		SETUP(named >= 0 && sender >= 0 && bind(named, (struct sockaddr *)&a, len) == 0, "bind");
		SETUP(sendto(sender, "one", 3, 0, (struct sockaddr *)&a, len) == 3, "sendto");
		SETUP(sendto(sender, "two", 3, 0, (struct sockaddr *)&a, len) == 3, "sendto");
		setint(named, SO_PEEK_OFF, 0);
	} else if (strcmp(mode, "hidden") == 0) {
		named = named_socket("hidden", &sender);
		put_to(sender, "hidden", "one");
		put_to(sender, "hidden", "");
		put_to(sender, "hidden", "two");
		peek_at(named, 3);
		setint(named, SO_PEEK_OFF, -1);
	} else if (strcmp(mode, "head") == 0 || strcmp(mode, "headpeeked") == 0) {
		heads[0] = named_socket("head0", &sender);
		put_to(sender, "head0", "");
		put_to(sender, "head0", "x");
		peek_at(heads[0], -1);
		if (strcmp(mode, "head") == 0) {
			close(sender);
			heads[1] = named_socket("head1", &sender);
			put_to(sender, "head1", "");
			put_to(sender, "head1", "y");
		}
	} else {
		say("FAIL: usage: peekedmsg carried|refused|hidden|head|headpeeked DIR");
		return 2;
	}
	struct fd_set_snapshot before;
	fd_snapshot(&before);
	say("ready");
	usr1_wait();
	fd_check_same(&before);
	if (named >= 0 && strcmp(mode, "hidden") == 0) {
		expect_queue(named, -1, "the named socket's queue", "one,two", "one,-,two");
		return tp_finish();
	}
	if (named >= 0) {
		char got[256];
		reads(named, got, sizeof got);
		expect("the named socket's queue", got, "one,two");
		return tp_finish();
	}
	if (heads[0] >= 0) {
		expect_queue(heads[0], -1, "the head peeked", "x", "-,x");
		if (heads[1] >= 0)
			expect_queue(heads[1], -1, "the head not peeked", "-,y", "-,y");
		return tp_finish();
	}
	expect_queue(dg[1], -1, "datagram pair", "alpha,-,beta,-", "alpha,-,-,beta,-");
	int v = -2;
	socklen_t len = sizeof v;
	CHECK(getsockopt(sq[1], SOL_SOCKET, SO_PEEK_OFF, &v, &len) == 0 && v == 0, "seqpacket SO_PEEK_OFF %d", v);
	CHECK(getsockopt(sq[1], SOL_SOCKET, SO_PASSCRED, &v, &len) == 0 && v == 1, "seqpacket SO_PASSCRED %d", v);
	expect_queue(sq[1], 0, "seqpacket pair", "-,rec", "-,-,rec");
	expect_queue(oneway[1], -1, "connected one way", "one,-,two", "one,-,-,two");
	expect_queue(plain[1], -1, "pair nobody peeked", "-,x,-", "-,x,-");
	return tp_finish();
}
