/* A TCP connection between a process and a peer outside it, for
 * e2e/migrate-moveaddr: the process (client) is migrated, the peer stays.
 *
 *   outpeer peer PORT ROUNDS                 listens on PORT (any address),
 *                                            takes one connection, prints "connected"
 *   outpeer client LOCAL PEER PORT ROUNDS    binds LOCAL, connects to PEER:PORT,
 *                                            prints "ready"
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

int main(int argc, char **argv)
{
	sigset_t usr1;
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	sigprocmask(SIG_BLOCK, &usr1, NULL);
	int one = 1;
	if (argc == 4 && strcmp(argv[1], "peer") == 0) {
		struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)number(argv[2]))};
		int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		SETUP(l >= 0, "socket");
		SETUP(setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == 0, "SO_REUSEADDR");
		SETUP(bind(l, (struct sockaddr *)&a, sizeof a) == 0, "bind");
		SETUP(listen(l, 1) == 0, "listen");
		say("listening");
		int s = accept4(l, NULL, NULL, SOCK_CLOEXEC);
		SETUP(s >= 0, "accept");
		close(l);
		say("connected");
		return rounds(s, 'p', 'c', number(argv[3]));
	}
	if (argc == 6 && strcmp(argv[1], "client") == 0) {
		struct sockaddr_in local = {.sin_family = AF_INET}, peer = {.sin_family = AF_INET,
									     .sin_port = htons((uint16_t)number(argv[4]))};
		SETUP(inet_pton(AF_INET, argv[2], &local.sin_addr) == 1, "LOCAL address");
		SETUP(inet_pton(AF_INET, argv[3], &peer.sin_addr) == 1, "PEER address");
		int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		SETUP(s >= 0, "socket");
		SETUP(bind(s, (struct sockaddr *)&local, sizeof local) == 0, "bind");
		SETUP(connect(s, (struct sockaddr *)&peer, sizeof peer) == 0, "connect");
		say("ready");
		return rounds(s, 'c', 'p', number(argv[5]));
	}
	say("usage: outpeer peer PORT ROUNDS | outpeer client LOCAL PEER PORT ROUNDS");
	return 2;
}
