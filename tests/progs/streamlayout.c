/* streamlayout carried|big: a unix stream queue whose bytes lie in skbs that
 * a write in one go would not make again (sk_unix_stream_layout.h).
 * Before "ready" it writes, through one end of a socket pair, pieces of
 * 4, 100, 1, 3000, 5000 and 7 bytes, each a write (an skb of its own), and
 * reads 3 bytes at the other end (taken from the head skb, which stays);
 * a twin pair built the same way is measured then and closed.  After the
 * wake-up the pair must measure as the twin did: SIOCOUTQ of the writer
 * (its send buffer's charge, each skb's true size), SIOCINQ of the
 * reader, how many bytes 100-byte non-blocking writes then add before
 * EAGAIN, and the queued bytes that the reads emptying it give.  Beside
 * it a datagram and a seqpacket pair, each holding messages of 1, 100
 * and 3000 bytes, whose writers' SIOCOUTQ must be what it was (each
 * message is written again in one write, as it came).  And a stream pair
 * whose queue holds writes of 3 and 40 bytes, 50 with a descriptor in
 * flight (a pipe's read end the process also holds), 7 and 9, its head
 * partly read (the dump takes such a queue and writes it back): the
 * writer's SIOCOUTQ, the reader's SIOCINQ, the room and the first read
 * (which ends with the descriptor) as a twin's.  big: the same, but the
 * first pair's queue is 2500 writes of 1 to 7 bytes (the first of 7),
 * more than binmig's reader reads in one run, in a send buffer made large
 * enough (SO_SNDBUFFORCE, CAP_NET_ADMIN: 4 MiB as SO_SNDBUF reads it). */
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <linux/sockios.h>

#include "testprog.h"

#define ALL_MAX (1 << 20)

static const size_t PIECES[] = {4, 100, 1, 3000, 5000, 7};

/* What a pair gives: the writer's SIOCOUTQ, the reader's SIOCINQ, the
 * bytes small writes add, then all the bytes read. */
struct measure {
	int outq, inq;
	size_t room, total;
	uint8_t all[ALL_MAX];
};

#define BIG_SKBS 2500u
#define BIG_SNDBUF (4 << 20)

/* Queues BIG_SKBS writes on R through W (its send buffer made
 * BIG_SNDBUF), then reads 3 bytes at R. */
static bool build_big(int r, int w)
{
	int half = BIG_SNDBUF / 2; /* the kernel doubles it */
	uint8_t piece[8];
	if (setsockopt(w, SOL_SOCKET, SO_SNDBUFFORCE, &half, sizeof half) < 0)
		return false;
	for (uint32_t k = 0; k < BIG_SKBS; k++) {
		ssize_t n = k ? 1 + k % 7 : 7;
		for (ssize_t i = 0; i < n; i++)
			piece[i] = (uint8_t)(k * 5 + i);
		if (write(w, piece, n) != n)
			return false;
	}
	return read(r, piece, 3) == 3;
}

/* Queues the pieces on R through W, then reads 3 bytes at R. */
static bool build(int r, int w)
{
	static uint8_t piece[8192];
	for (size_t k = 0; k < sizeof PIECES / sizeof *PIECES; k++) {
		for (size_t i = 0; i < PIECES[k]; i++)
			piece[i] = (uint8_t)(k * 41 + i * 3 + 1);
		if (write(w, piece, PIECES[k]) != (ssize_t)PIECES[k])
			return false;
	}
	return read(r, piece, 3) == 3;
}

/* The pair's writer's SIOCOUTQ, its reader's SIOCINQ, then the bytes
 * 100-byte non-blocking writes add before EAGAIN. */
static bool charge(int r, int w, int *outq, int *inq, size_t *room)
{
	static const char chunk[100];
	ssize_t n;
	*room = 0;
	if (ioctl(w, SIOCOUTQ, outq) < 0 || ioctl(r, SIOCINQ, inq) < 0)
		return false;
	while ((n = write(w, chunk, sizeof chunk)) > 0)
		*room += (size_t)n;
	return errno == EAGAIN;
}

/* Measures the pair (non-blocking) into M, emptying it. */
static bool measure(int r, int w, struct measure *m)
{
	ssize_t n = 0;
	memset(m, 0, sizeof *m);
	if (!charge(r, w, &m->outq, &m->inq, &m->room))
		return false;
	while (m->total < ALL_MAX && (n = read(r, m->all + m->total, ALL_MAX - m->total)) > 0)
		m->total += (size_t)n;
	return m->total < ALL_MAX && n < 0 && errno == EAGAIN;
}

/* Queues on R through W writes of 3 and 40 bytes, 50 with descriptor FD
 * in flight, 7 and 9; reads 1 byte. */
static bool build_rights(int r, int w, int fd)
{
	static const char bytes[60];
	char one;
	union {
		struct cmsghdr align;
		char bytes[CMSG_SPACE(sizeof(int))];
	} control;
	memset(&control, 0, sizeof control);
	struct iovec iov = {(void *)bytes, 50};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = &control, .msg_controllen = sizeof control};
	struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof fd);
	memcpy(CMSG_DATA(c), &fd, sizeof fd);
	return write(w, bytes, 3) == 3 && write(w, bytes, 40) == 40 && sendmsg(w, &mh, 0) == 50 &&
	       write(w, bytes, 7) == 7 && write(w, bytes, 9) == 9 && read(r, &one, 1) == 1;
}

/* What such a pair gives: SIOCOUTQ, SIOCINQ, the room, then each read's
 * size and whether a descriptor came with it. */
struct rights_measure {
	int outq, inq;
	size_t room, nreads;
	size_t sizes[64];
	bool with_fd[64];
};

static bool measure_rights(int r, int w, struct rights_measure *m)
{
	static char buf[1 << 16];
	ssize_t n;
	memset(m, 0, sizeof *m);
	if (!charge(r, w, &m->outq, &m->inq, &m->room))
		return false;
	for (;;) {
		union {
			struct cmsghdr align;
			char bytes[CMSG_SPACE(4 * sizeof(int))];
		} control;
		struct iovec iov = {buf, sizeof buf};
		struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = &control, .msg_controllen = sizeof control};
		if ((n = recvmsg(r, &mh, MSG_CMSG_CLOEXEC)) <= 0 || m->nreads == 64)
			break;
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
			if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
				int fd;
				memcpy(&fd, CMSG_DATA(c), sizeof fd);
				close(fd);
				m->with_fd[m->nreads] = true;
			}
		m->sizes[m->nreads++] = (size_t)n;
	}
	return n < 0 && errno == EAGAIN;
}

/* A pair of TYPE holding messages of 1, 100 and 3000 bytes; its writer's
 * SIOCOUTQ into *OUTQ. */
static bool messages(int type, int s[2], int *outq)
{
	static const char bytes[3000];
	return socketpair(AF_UNIX, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, s) == 0 && write(s[1], bytes, 1) == 1 &&
	       write(s[1], bytes, 100) == 100 && write(s[1], bytes, 3000) == 3000 && ioctl(s[1], SIOCOUTQ, outq) == 0;
}

int main(int argc, char **argv)
{
	bool big = argc == 2 && strcmp(argv[1], "big") == 0;
	if (argc != 2 || (!big && strcmp(argv[1], "carried") != 0)) {
		say("FAIL: usage: streamlayout carried|big");
		return 2;
	}
	usr1_setup();
	int pair[2], twin[2];
	bool (*fill)(int, int) = big ? build_big : build;
	static struct measure before, after;
	SETUP(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, pair) == 0 && fill(pair[0], pair[1]),
	      "the pair of little skbs");
	SETUP(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, twin) == 0 && fill(twin[0], twin[1]) &&
		      measure(twin[0], twin[1], &before),
	      "its twin");
	close(twin[0]);
	close(twin[1]);
	int dgram[2], seqpacket[2], outq_dgram = -1, outq_seqpacket = -1, now = -1;
	SETUP(messages(SOCK_DGRAM, dgram, &outq_dgram) && messages(SOCK_SEQPACKET, seqpacket, &outq_seqpacket),
	      "the message pairs");
	int pipe_ends[2], rights[2];
	static struct rights_measure rights_before, rights_after;
	SETUP(pipe2(pipe_ends, O_CLOEXEC) == 0, "a pipe");
	SETUP(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, rights) == 0 &&
		      build_rights(rights[0], rights[1], pipe_ends[0]),
	      "the pair with a descriptor in flight");
	SETUP(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, twin) == 0 &&
		      build_rights(twin[0], twin[1], pipe_ends[0]) && measure_rights(twin[0], twin[1], &rights_before),
	      "its twin");
	close(twin[0]);
	close(twin[1]);
	say("ready");
	usr1_wait();

	CHECK(measure(pair[0], pair[1], &after), "measuring the pair: %s", strerror(errno));
	say("SIOCOUTQ %d (twin %d), SIOCINQ %d (%d), room %zu (%zu)", after.outq, before.outq, after.inq, before.inq,
	    after.room, before.room);
	CHECK(after.outq == before.outq, "SIOCOUTQ %d, was %d", after.outq, before.outq);
	CHECK(after.inq == before.inq, "SIOCINQ %d, was %d", after.inq, before.inq);
	CHECK(after.room == before.room, "100-byte writes add %zu bytes before EAGAIN, %zu before", after.room,
	      before.room);
	CHECK(after.inq >= 0 && after.total == (size_t)after.inq + after.room &&
		      memcmp(after.all, before.all, (size_t)after.inq < before.total ? (size_t)after.inq : before.total) == 0,
	      "the bytes read differ from the queue's and the writes' (%zu bytes)", after.total);
	CHECK(ioctl(dgram[1], SIOCOUTQ, &now) == 0 && now == outq_dgram, "datagrams: SIOCOUTQ %d, was %d", now,
	      outq_dgram);
	CHECK(ioctl(seqpacket[1], SIOCOUTQ, &now) == 0 && now == outq_seqpacket, "seqpacket: SIOCOUTQ %d, was %d", now,
	      outq_seqpacket);
	CHECK(measure_rights(rights[0], rights[1], &rights_after), "measuring the pair with a descriptor in flight");
	CHECK(rights_after.outq == rights_before.outq && rights_after.inq == rights_before.inq &&
		      rights_after.room == rights_before.room,
	      "with a descriptor in flight: SIOCOUTQ %d, SIOCINQ %d, room %zu; were %d, %d, %zu", rights_after.outq,
	      rights_after.inq, rights_after.room, rights_before.outq, rights_before.inq, rights_before.room);
	/* The first read ends with the descriptor's bytes; the rest hold
	 * the room's too. */
	size_t total = 0;
	for (size_t i = 0; i < rights_after.nreads; i++) {
		total += rights_after.sizes[i];
		CHECK(rights_after.with_fd[i] == (i == 0), "with a descriptor in flight: read %zu %s a descriptor", i,
		      rights_after.with_fd[i] ? "gives" : "does not give");
	}
	CHECK(rights_after.nreads && rights_after.sizes[0] == rights_before.sizes[0],
	      "with a descriptor in flight: the first read gives %zu bytes, %zu before",
	      rights_after.nreads ? rights_after.sizes[0] : 0, rights_before.sizes[0]);
	CHECK(rights_after.inq >= 0 && total == (size_t)rights_after.inq + rights_after.room,
	      "with a descriptor in flight: the reads give %zu bytes, %d queued and %zu written", total,
	      rights_after.inq, rights_after.room);
	return tp_finish();
}
