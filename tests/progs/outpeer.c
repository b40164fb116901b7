/* A TCP connection between a process and a peer outside it, for
 * e2e/migrate-moveaddr: the process (client) is migrated, the peer stays.
 *
 *   outpeer peer PORT ROUNDS                 listens on PORT (any address, IPv4
 *                                            or IPv6: one dual-stack socket),
 *                                            takes one connection, prints "connected"
 *   outpeer client LOCAL PEER PORT ROUNDS    binds LOCAL, connects to PEER:PORT
 *                                            (both IPv4 or both IPv6), prints "ready"
 * or the other way round, the process accepting (its connection then has
 * the local address the peer dialled, not one it bound):
 *   outpeer server PORT ROUNDS               listens on PORT as the peer does,
 *                                            prints "listening", takes one
 *                                            connection (the listener stays
 *                                            open), prints "ready"
 *   outpeer dial ADDR PORT ROUNDS            connects to ADDR:PORT, prints "connected"
 *
 * Each then does ROUNDS rounds, one per SIGUSR1: it reads the BATCH
 * records the other end wrote in the round before (none in the first),
 * checks each against the record of the sequence it expects, writes
 * BATCH records of its own (none in the last) and prints "round N ok".
 * Between rounds, where the test migrates the client, each end's receive
 * queue holds BATCH records it has not read.  A record is 16 bytes:
 * 'c' (the client's) or 'p' (the peer's), a 14-digit sequence number
 * counted from 0 over the whole connection, '\n'.  After the last round
 * it prints "PASS".  A read that waits more than READ_TIMEOUT_S seconds,
 * a wrong record, an error or an end of stream prints "FAIL: ..." and
 * exits 1: a connection that did not survive fails, never hangs. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>

#include "testprog.h"

#define BATCH 256
#define RECORD 16
#define READ_TIMEOUT_S 30

static void fail(const char *what)
{
	say("FAIL: %s: %s", what, errno ? strerror(errno) : "-");
	say("FAIL");
	exit(1);
}

static void record(char *out, char tag, unsigned seq)
{
	char buf[RECORD + 1];
	snprintf(buf, sizeof buf, "%c%014u\n", tag, seq);
	memcpy(out, buf, RECORD);
}

/* Reads N records of TAG starting at *seq, checking each. */
static void read_records(int s, char tag, unsigned *seq, unsigned n)
{
	static char buf[BATCH * RECORD];
	size_t want = (size_t)n * RECORD, got = 0;
	int64_t deadline = mono_ns() + (int64_t)READ_TIMEOUT_S * 1000000000;
	while (got < want) {
		int64_t left_ms = (deadline - mono_ns()) / 1000000;
		if (left_ms <= 0) {
			errno = ETIMEDOUT;
			fail("reading the other end's records");
		}
		struct pollfd p = {s, POLLIN, 0};
		int r = poll(&p, 1, (int)left_ms);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			fail("poll");
		if (r == 0)
			continue;
		ssize_t k = recv(s, buf + got, want - got, MSG_DONTWAIT);
		if (k < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (k < 0)
			fail("recv");
		if (k == 0) {
			errno = 0;
			fail("the connection ended");
		}
		got += (size_t)k;
	}
	for (unsigned i = 0; i < n; i++, (*seq)++) {
		char expect[RECORD];
		record(expect, tag, *seq);
		if (memcmp(buf + (size_t)i * RECORD, expect, RECORD) != 0) {
			say("FAIL: record %u is \"%.15s\", expected \"%.15s\"", *seq, buf + (size_t)i * RECORD, expect);
			say("FAIL");
			exit(1);
		}
	}
}

static void write_records(int s, char tag, unsigned *seq, unsigned n)
{
	static char buf[BATCH * RECORD];
	for (unsigned i = 0; i < n; i++)
		record(buf + (size_t)i * RECORD, tag, (*seq)++);
	size_t len = (size_t)n * RECORD, done = 0;
	while (done < len) {
		ssize_t k = send(s, buf + done, len - done, MSG_NOSIGNAL);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			fail("send");
		done += (size_t)k;
	}
}

static int rounds(int s, char mine, char theirs, unsigned nrounds)
{
	sigset_t usr1;
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	unsigned sent = 0, received = 0;
	for (unsigned r = 0; r < nrounds; r++) {
		int sig;
		while (sigwait(&usr1, &sig) != 0)
			;
		if (r > 0)
			read_records(s, theirs, &received, BATCH);
		if (r + 1 < nrounds)
			write_records(s, mine, &sent, BATCH);
		say("round %u ok", r);
	}
	close(s);
	say("PASS");
	return 0;
}

static unsigned number(const char *text)
{
	char *end;
	unsigned long v = strtoul(text, &end, 10);
	if (*end || !*text || v == 0 || v > 65535) {
		say("FAIL: setup: bad number '%s'", text);
		exit(2);
	}
	return (unsigned)v;
}

/* TEXT (IPv4 or IPv6) and PORT into *ss; its length, 0 if malformed. */
static socklen_t address(const char *text, uint16_t port, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof *ss);
	struct sockaddr_in *in = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
	if (inet_pton(AF_INET, text, &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
		in->sin_port = htons(port);
		return sizeof *in;
	}
	if (inet_pton(AF_INET6, text, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(port);
		return sizeof *in6;
	}
	return 0;
}

/* A dual-stack listener on PORT, any address; "listening" printed. */
static int listener(unsigned port)
{
	struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port)};
	int l = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1, zero = 0;
	SETUP(l >= 0, "socket");
	SETUP(setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == 0, "SO_REUSEADDR");
	SETUP(setsockopt(l, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero) == 0, "IPV6_V6ONLY");
	SETUP(bind(l, (struct sockaddr *)&a, sizeof a) == 0, "bind");
	SETUP(listen(l, 1) == 0, "listen");
	say("listening");
	return l;
}

/* A connection to PEER:PORT, from LOCAL if not NULL. */
static int dial(const char *local, const char *peer, unsigned port)
{
	struct sockaddr_storage from, to;
	socklen_t len = address(peer, (uint16_t)port, &to);
	SETUP(len > 0, "PEER address");
	SETUP(!local || address(local, 0, &from) == len, "LOCAL address (of PEER's family)");
	int s = socket(to.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	SETUP(s >= 0, "socket");
	SETUP(!local || bind(s, (struct sockaddr *)&from, len) == 0, "bind");
	SETUP(connect(s, (struct sockaddr *)&to, len) == 0, "connect");
	return s;
}

int main(int argc, char **argv)
{
	sigset_t usr1;
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	sigprocmask(SIG_BLOCK, &usr1, NULL);
	if (argc == 4 && strcmp(argv[1], "peer") == 0) {
		int l = listener(number(argv[2]));
		int s = accept4(l, NULL, NULL, SOCK_CLOEXEC);
		SETUP(s >= 0, "accept");
		close(l);
		say("connected");
		return rounds(s, 'p', 'c', number(argv[3]));
	}
	if (argc == 4 && strcmp(argv[1], "server") == 0) {
		int l = listener(number(argv[2]));
		int s = accept4(l, NULL, NULL, SOCK_CLOEXEC);
		SETUP(s >= 0, "accept");
		say("ready");
		return rounds(s, 'c', 'p', number(argv[3]));
	}
	if (argc == 6 && strcmp(argv[1], "client") == 0) {
		int s = dial(argv[2], argv[3], number(argv[4]));
		say("ready");
		return rounds(s, 'c', 'p', number(argv[5]));
	}
	if (argc == 5 && strcmp(argv[1], "dial") == 0) {
		int s = dial(NULL, argv[2], number(argv[3]));
		say("connected");
		return rounds(s, 'p', 'c', number(argv[4]));
	}
	say("usage: outpeer peer PORT ROUNDS | outpeer client LOCAL PEER PORT ROUNDS | outpeer server PORT ROUNDS | "
	    "outpeer dial ADDR PORT ROUNDS");
	return 2;
}
