/* How a unix stream queue's bytes lie in its skbs
 * (migrator/sk_unix_stream_layout.c): the BPF reader sees the skbs six
 * writes made and the bytes a read took from the head, and changes
 * nothing; the queue written back skb by skb charges its writer's send
 * buffer as its twin's (SIOCOUTQ) and takes as many bytes more, where the
 * same bytes in one go do not, and a refill that cannot write fails; so
 * too a queue of more skbs than the reader reads in one run, read in
 * chunks (a later run that fails drops it); the records and layouts the
 * reader and the image refuse, over the reader's runs too. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/sockios.h>

#include "fault.h"
#include "kstate.h"
#include "sk_unix_stream_layout.h"
#include "unit_room.h"

static const uint32_t WRITES[] = {4, 100, 1, 3000, 5000, 7};
#define NWRITES (sizeof WRITES / sizeof *WRITES)
#define TAKEN 3u
#define TOTAL (4u + 100 + 1 + 3000 + 5000 + 7)

static uint8_t byte_at(size_t i)
{
	return (uint8_t)(i * 13 + 5);
}

/* Queues WRITES on S[0] through S[1] (non-blocking), reads TAKEN bytes. */
static void build(int s[2])
{
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, s), 0);
	static uint8_t buf[TOTAL];
	for (size_t i = 0; i < TOTAL; i++)
		buf[i] = byte_at(i);
	size_t at = 0;
	for (size_t k = 0; k < NWRITES; k++) {
		assert_int_equal(write(s[1], buf + at, WRITES[k]), (ssize_t)WRITES[k]);
		at += WRITES[k];
	}
	assert_int_equal(read(s[0], buf, TAKEN), (ssize_t)TAKEN);
}

static int ioctl_int(int s, unsigned long req)
{
	int v = -1;
	assert_int_equal(ioctl(s, req, &v), 0);
	return v;
}

/* The pairs A and B charge their writers alike, take as much more, and
 * hold the same bytes. */
static void assert_pairs_alike(int a[2], int b[2])
{
	assert_int_equal(ioctl_int(a[1], SIOCOUTQ), ioctl_int(b[1], SIOCOUTQ));
	assert_int_equal(ioctl_int(a[0], SIOCINQ), ioctl_int(b[0], SIOCINQ));
	assert_int_equal(unit_room(a[1]), unit_room(b[1]));
	static uint8_t got_a[1 << 18], got_b[1 << 18];
	ssize_t na = read(a[0], got_a, sizeof got_a), nb = read(b[0], got_b, sizeof got_b);
	assert_true(na > 0);
	assert_int_equal(na, nb);
	assert_memory_equal(got_a, got_b, (size_t)na);
}

static void close_pair(int s[2])
{
	close(s[0]);
	close(s[1]);
}

/* The reader's descriptor as the image has it: a stream socket whose
 * queue is the bytes left, in pieces of PIECES bytes (their credentials
 * CREDS, pid 0: none), and LAYOUT. */
struct image_sock {
	struct bm_fd d;
	struct bm_unix_sock s;
};

/* The same of the bytes LEFT. */
static void image_sock_of(struct image_sock *is, const uint8_t *left, const uint32_t *pieces, const int32_t *creds,
			  uint32_t npieces, const uint32_t *layout, uint32_t nskbs, uint32_t consumed)
{
	struct bm_unix_msg m[8];
	assert_true(npieces <= 8);
	uint32_t at = 0;
	for (uint32_t k = 0; k < npieces; k++) {
		m[k] = (struct bm_unix_msg){.data = left + at, .len = pieces[k], .pid = creds ? creds[k] : 0};
		at += pieces[k];
	}
	struct bm_unix_sock s = {.type = SOCK_STREAM, .peer = 2, .nmsgs = npieces};
	struct bm_wbuf b;
	bm_wbuf_init(&b);
	assert_int_equal(bm_unix_encode(&b, &s, NULL, m), 0);
	memset(is, 0, sizeof *is);
	is->d = (struct bm_fd){.fd = 3, .kind = BM_FD_UNIX_SOCKET, .shares_with = -1, .object_id = 1,
			       .data = b.data, .data_len = (uint32_t)b.len};
	if (nskbs) {
		is->d.stream_skbs = calloc(nskbs, sizeof *is->d.stream_skbs);
		assert_non_null(is->d.stream_skbs);
		memcpy(is->d.stream_skbs, layout, nskbs * sizeof *layout);
		is->d.nstream_skbs = nskbs;
		is->d.stream_consumed = consumed;
	}
	assert_true(bm_unix_head(&is->d, &is->s));
}

static void image_sock(struct image_sock *is, const uint32_t *pieces, const int32_t *creds, uint32_t npieces,
		       const uint32_t *layout, uint32_t nskbs, uint32_t consumed)
{
	static uint8_t left[TOTAL];
	for (size_t i = 0; i < TOTAL - TAKEN; i++)
		left[i] = byte_at(TAKEN + i);
	image_sock_of(is, left, pieces, creds, npieces, layout, nskbs, consumed);
}

/* The queue build makes, as one writer's piece, laid out as its six
 * writes made it. */
static void image_sock_written(struct image_sock *is)
{
	static const uint32_t whole[] = {TOTAL - TAKEN};
	image_sock(is, whole, NULL, 1, WRITES, NWRITES, TAKEN);
}

static void image_sock_free(struct image_sock *is)
{
	free(is->d.data);
	bm_stream_layout_forget(&is->d);
}

/* A pair as the restore fills it: buffers of ROOMY while it writes (as
 * SO_SNDBUFFORCE takes it; 0: a new socket's), then SNDBUF (as SO_SNDBUF
 * reads it; 0: the send buffer a new socket has), its twin's. */
static void refill_to(int s[2], const struct image_sock *is, int roomy, int sndbuf)
{
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, s), 0);
	int dflt = 0;
	socklen_t len = sizeof dflt;
	assert_int_equal(getsockopt(s[1], SOL_SOCKET, SO_SNDBUF, &dflt, &len), 0);
	if (sndbuf)
		dflt = sndbuf;
	if (roomy)
		assert_int_equal(setsockopt(s[1], SOL_SOCKET, SO_SNDBUFFORCE, &roomy, sizeof roomy), 0);
	if (is->d.nstream_skbs) {
		assert_int_equal(bm_stream_refill(s[1], s[0], &is->d, &is->s), 0);
	} else {
		struct bm_unix_msg m;
		uint32_t at = 0;
		for (uint32_t k = 0; k < is->s.nmsgs; k++) {
			bm_unix_next_msg(&is->s, &at, &m);
			assert_int_equal(write(s[1], m.data, m.len), (ssize_t)m.len);
		}
	}
	dflt /= 2; /* the kernel doubles it */
	assert_int_equal(setsockopt(s[1], SOL_SOCKET, SO_SNDBUFFORCE, &dflt, sizeof dflt), 0);
}

static void refill(int s[2], const struct image_sock *is)
{
	refill_to(s, is, 1 << 21, 0);
}

/* The queue written back skb by skb is alike its twin; in one go it is
 * not (one skb: a smaller charge, more room). */
static void refills_skb_by_skb(void **state)
{
	(void)state;
	if (geteuid() != 0)
		skip(); /* SO_SNDBUFFORCE, as the restore uses */
	struct image_sock is;
	image_sock_written(&is);
	char why[200];
	assert_true(bm_stream_layout_check(&is.d, why, sizeof why));
	int twin[2], again[2], flat[2];
	build(twin);
	refill(again, &is);
	assert_pairs_alike(twin, again);
	close_pair(twin);
	close_pair(again);
	/* In one go. */
	bm_stream_layout_forget(&is.d);
	build(twin);
	refill(flat, &is);
	assert_true(ioctl_int(flat[1], SIOCOUTQ) < ioctl_int(twin[1], SIOCOUTQ));
	assert_true(unit_room(flat[1]) > unit_room(twin[1]));
	close_pair(twin);
	close_pair(flat);
	image_sock_free(&is);
}

/* A refill that cannot write fails with the kernel's error, which the
 * restore reports ("writing its queue again skb by skb") before it gives
 * up: here the reading end is gone, as no restore leaves it; the same
 * without SIGPIPE, which would end the restorer. */
static void refill_fails_where_it_cannot_write(void **state)
{
	(void)state;
	if (geteuid() != 0)
		skip(); /* SO_SNDBUFFORCE, as the restore uses */
	struct image_sock is;
	image_sock_written(&is);
	int s[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, s), 0);
	assert_int_equal(close(s[0]), 0);
	assert_int_equal(bm_stream_refill(s[1], -1, &is.d, &is.s), -EPIPE);
	assert_int_equal(close(s[1]), 0);
	image_sock_free(&is);
}

/* What a layout must be to its queue. */
static void refuses_bad_layouts(void **state)
{
	(void)state;
	/* The bytes left are those of the skbs WRITES less the first 3: the
	 * skbs end 1, 101, 102, 3102, 8102 and 8109 bytes in. */
	const uint32_t whole[] = {TOTAL - TAKEN}, at101[] = {101, TOTAL - TAKEN - 101};
	const uint32_t at50[] = {50, TOTAL - TAKEN - 50}, at102[] = {102, TOTAL - TAKEN - 102};
	const int32_t creds[] = {0, 77};
	const uint32_t short_one[] = {4, 100, 1, 3000, 5000, 6}, zero[] = {4, 0, 101, 3000, 5000, 7};
	const uint32_t joined[] = {4, 100, 3001, 5000, 7}; /* 1, 101, 3102, 8102, 8109 */
	const struct {
		const uint32_t *pieces;
		const int32_t *creds;
		uint32_t npieces;
		const uint32_t *layout;
		uint32_t nskbs, consumed;
		const char *says; /* NULL: kept */
	} cases[] = {
		{whole, NULL, 1, WRITES, NWRITES, TAKEN, NULL},
		{whole, NULL, 1, short_one, NWRITES, TAKEN, "skbs of 8111 bytes in all, 3 taken, for 8109 bytes queued"},
		{whole, NULL, 1, zero, NWRITES, TAKEN, "skb 1 of 0 bytes"},
		{whole, NULL, 1, WRITES, NWRITES, 4, "6 skbs, 4 bytes of the first taken"},
		/* Two writers: each skb within the bytes of one. */
		{at101, creds, 2, WRITES, NWRITES, TAKEN, NULL},
		{at101, creds, 2, joined, 5, TAKEN, NULL},
		{at50, creds, 2, WRITES, NWRITES, TAKEN, "skb 1 holds bytes of two writers' credentials"},
		{at102, creds, 2, joined, 5, TAKEN, "skb 2 holds bytes of two writers' credentials"},
	};
	char why[200];
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		struct image_sock is;
		image_sock(&is, cases[i].pieces, cases[i].creds, cases[i].npieces, cases[i].layout, cases[i].nskbs,
			   cases[i].consumed);
		bool ok = bm_stream_layout_check(&is.d, why, sizeof why);
		if (!cases[i].says) {
			assert_true(ok);
		} else {
			assert_false(ok);
			if (!strstr(why, cases[i].says))
				fail_msg("case %zu: \"%s\", not \"%s\"", i, why, cases[i].says);
		}
		image_sock_free(&is);
	}
	struct image_sock is;
	image_sock(&is, whole, NULL, 1, WRITES, NWRITES, TAKEN);
	/* Not a stream: a datagram socket's queue has no layout. */
	struct bm_unix_sock dg = {.type = SOCK_DGRAM, .nmsgs = 0};
	struct bm_wbuf b;
	bm_wbuf_init(&b);
	assert_int_equal(bm_unix_encode(&b, &dg, NULL, NULL), 0);
	free(is.d.data);
	is.d.data = b.data;
	is.d.data_len = (uint32_t)b.len;
	assert_false(bm_stream_layout_check(&is.d, why, sizeof why));
	assert_non_null(strstr(why, "not a unix stream socket's first descriptor"));
	image_sock_free(&is);
}

/* Queues on S[0] through S[1] (non-blocking) 3 bytes, 50 with FD in
 * flight and 7, and reads 1. */
static void build_rights(int s[2], int fd)
{
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, s), 0);
	static uint8_t bytes[60];
	union {
		struct cmsghdr align;
		char bytes[CMSG_SPACE(sizeof(int))];
	} control;
	memset(&control, 0, sizeof control);
	struct iovec iov = {bytes + 3, 50};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = &control, .msg_controllen = sizeof control};
	struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof fd);
	memcpy(CMSG_DATA(c), &fd, sizeof fd);
	assert_int_equal(write(s[1], bytes, 3), 3);
	assert_int_equal(sendmsg(s[1], &mh, 0), 50);
	assert_int_equal(write(s[1], bytes + 53, 7), 7);
	assert_int_equal(read(s[0], bytes, 1), 1);
}

/* Each read of R until it is empty: its size, and whether a descriptor
 * came with it, into SIZES (negated where one did); how many. */
static size_t reads_of(int r, ssize_t *sizes, size_t max)
{
	static uint8_t buf[1 << 16];
	size_t n = 0;
	ssize_t got;
	union {
		struct cmsghdr align;
		char bytes[CMSG_SPACE(4 * sizeof(int))];
	} control;
	struct iovec iov = {buf, sizeof buf};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = &control};
	while (n < max && (mh.msg_controllen = sizeof control, got = recvmsg(r, &mh, MSG_CMSG_CLOEXEC)) > 0) {
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		bool fd = c && c->cmsg_type == SCM_RIGHTS;
		if (fd) {
			int f;
			memcpy(&f, CMSG_DATA(c), sizeof f);
			close(f);
		}
		sizes[n++] = fd ? -got : got;
	}
	return n;
}

/* A queue with a descriptor in flight: the skb that carries it is
 * exactly the piece that holds it; written back so, alike its twin. */
static void fits_descriptors(void **state)
{
	(void)state;
	static const uint8_t bytes[60];
	int p[2];
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	const struct bm_stream_piece pieces[] = {
		{bytes, 2, {0, 0, 0}, 0, NULL}, {bytes, 50, {0, 0, 0}, 1, &p[0]}, {bytes, 7, {0, 0, 0}, 0, NULL}};
	const uint32_t R = BM_STREAM_SKB_RIGHTS;
	const struct {
		uint32_t skbs[3], n;
		bool fits;
	} cases[] = {
		{{3, 50 | R, 7}, 3, true},
		{{3, 50, 7}, 3, false},      /* the descriptor in an skb without it */
		{{3, 57 | R}, 2, false},     /* an skb with it longer than its piece */
		{{3 | R, 50 | R, 7}, 3, false}, /* one with it where the piece has none */
		{{53 | R, 7}, 2, false},     /* bytes before it in its skb */
	};
	char why[200];
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
		if (bm_stream_layout_fits(cases[i].skbs, cases[i].n, 1, pieces, 3, why, sizeof why) != cases[i].fits)
			fail_msg("case %zu: %s", i, cases[i].fits ? why : "fits");
	if (geteuid() != 0)
		skip(); /* SO_SNDBUFFORCE, as the restore uses */
	int twin[2], again[2];
	build_rights(twin, p[0]);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, again), 0);
	assert_int_equal(bm_stream_write_skbs(again[1], again[0], cases[0].skbs, 3, 1, pieces, 3), 0);
	assert_int_equal(ioctl_int(again[1], SIOCOUTQ), ioctl_int(twin[1], SIOCOUTQ));
	assert_int_equal(ioctl_int(again[0], SIOCINQ), ioctl_int(twin[0], SIOCINQ));
	assert_int_equal(unit_room(again[1]), unit_room(twin[1]));
	ssize_t a[16], b[16];
	size_t na = reads_of(again[0], a, 16), nb = reads_of(twin[0], b, 16);
	assert_int_equal(na, nb);
	assert_memory_equal(a, b, na * sizeof *a);
	assert_true(na >= 2 && a[0] < 0); /* the descriptor with the first read's bytes */
	close_pair(twin);
	close_pair(again);
	close(p[0]);
	close(p[1]);
}

/* Gives P (its one socket, fd 3) a chunk's records: its first (START,
 * COUNT, CONSUMED), then NSKBS skbs of 2 bytes, two a record. */
static void feed_chunk(struct bm_process *p, struct bm_chunks *st, uint32_t start, uint32_t count,
		       uint32_t consumed, uint32_t nskbs)
{
	struct bm_kstate_rec r = {.kind = BM_KSTATE_STREAM, .fd = 3, .valid = 1,
				  .a = consumed | (uint64_t)start << BM_KSTATE_STREAM_START_SHIFT,
				  .b = BM_KSTATE_STREAM_COUNT | count};
	bm_stream_layout_record(p, st, &r);
	for (uint32_t k = 0; k < nskbs; k += 2) {
		r.a = 2;
		r.b = k + 1 < nskbs ? 2 : 0;
		bm_stream_layout_record(p, st, &r);
	}
}

/* The reader's records: a count, then two lengths a record; a count not
 * met, or passed, drops the layout; so does a chunk of a later run that
 * does not follow on. */
static void takes_records(void **state)
{
	(void)state;
	struct image_sock is;
	const uint32_t whole[] = {TOTAL - TAKEN};
	image_sock(&is, whole, NULL, 1, NULL, 0, 0);
	struct bm_process p = {.pid = 1, .fds = &is.d, .nfds = 1};
	const struct {
		uint64_t count;
		uint32_t nrecs;
		uint64_t recs[4][2];
		uint32_t kept; /* skbs kept, 0: dropped */
	} cases[] = {
		{3, 2, {{4, 100}, {1, 0}}, 3},
		{3, 1, {{4, 100}}, 0},                     /* one missing */
		{3, 3, {{4, 100}, {1, 0}, {7, 0}}, 0},      /* one more than counted */
		{2, 2, {{4, 100}, {1, 0}}, 0},              /* the same */
		{3, 2, {{4, 0}, {1, 5}}, 0},                /* an skb of 0 bytes */
		{3, 2, {{4, 100 | BM_KSTATE_STREAM_RIGHTS}, {1, 0}}, 3}, /* with descriptors */
		{BM_KSTATE_STREAM_SKBS_MAX + 1, 0, {{0}}, 0}, /* too many to read */
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		struct bm_chunks st = {0};
		struct bm_kstate_rec r = {.kind = BM_KSTATE_STREAM, .fd = 3, .valid = 1, .a = 2,
					  .b = BM_KSTATE_STREAM_COUNT | cases[i].count};
		bm_stream_layout_record(&p, &st, &r);
		for (uint32_t k = 0; k < cases[i].nrecs; k++) {
			r.a = cases[i].recs[k][0];
			r.b = cases[i].recs[k][1];
			bm_stream_layout_record(&p, &st, &r);
		}
		bm_stream_layout_end(&p, &st);
		if (is.d.nstream_skbs != cases[i].kept)
			fail_msg("case %zu: %u skbs kept, not %u", i, is.d.nstream_skbs, cases[i].kept);
		if (cases[i].kept) {
			assert_int_equal(is.d.stream_consumed, 2);
			assert_int_equal(is.d.stream_skbs[1] & BM_STREAM_SKB_LEN, 100);
			assert_int_equal(is.d.stream_skbs[0] & BM_STREAM_SKB_RIGHTS, 0);
		}
		bm_stream_layout_drop(&p);
	}
	/* Over the runs: a queue of 2100 skbs in chunks of 1024, kept whole; a
	 * chunk from elsewhere than the last ended, of another count or bytes
	 * taken, short or long, or a queue left in part, dropped. */
	const struct {
		uint32_t start, count, consumed, nskbs; /* the second chunk (start 0: none) */
		uint32_t kept;
	} chunks[] = {
		{1024, 2100, 1, 1024, 2100},
		{1022, 2100, 1, 1024, 0},
		{1024, 2101, 1, 1024, 0},
		{1024, 2100, 0, 1024, 0},
		{1024, 2100, 1, 1022, 0},
		{1024, 2100, 1, 1026, 0},
		{0, 0, 0, 0, 0},
	};
	for (size_t i = 0; i < sizeof chunks / sizeof *chunks; i++) {
		struct bm_chunks st = {0};
		feed_chunk(&p, &st, 0, 2100, 1, 1024);
		assert_int_equal(bm_stream_layout_next(&p, &st, 0), 1024);
		if (chunks[i].start)
			feed_chunk(&p, &st, chunks[i].start, chunks[i].count, chunks[i].consumed, chunks[i].nskbs);
		uint32_t next = bm_stream_layout_next(&p, &st, 0);
		if (next == 2048) {
			feed_chunk(&p, &st, 2048, 2100, 1, 52);
			next = bm_stream_layout_next(&p, &st, 0);
		}
		assert_int_equal(next, chunks[i].start ? 0 : 1024); /* read whole or dropped; or in part */
		bm_stream_layout_end(&p, &st);
		if (is.d.nstream_skbs != chunks[i].kept)
			fail_msg("case %zu: %u skbs kept, not %u", i, is.d.nstream_skbs, chunks[i].kept);
		assert_null(st.done);
		bm_stream_layout_drop(&p);
	}
	image_sock_free(&is);
}

/* The list at the end of FDS: read back, and what it rejects. */
static void image_round_trip(void **state)
{
	(void)state;
	struct image_sock is;
	image_sock_written(&is);
	struct bm_fd fds[2] = {{.fd = 1, .kind = BM_FD_PIPE, .shares_with = -1}, is.d};
	struct bm_process p = {.fds = fds, .nfds = 2};
	struct bm_wbuf b;
	bm_wbuf_init(&b);
	bm_stream_layouts_encode(&b, &p);
	assert_int_equal(b.len, 4 + 4 + 8 + 4 * NWRITES);
	/* Read back into the same descriptors without their layout. */
	struct bm_fd back[2] = {fds[0], fds[1]};
	back[1].stream_skbs = NULL;
	back[1].nstream_skbs = 0;
	struct bm_process q = {.fds = back, .nfds = 2};
	struct bm_rcur c = {.data = b.data, .len = b.len, .version = 16};
	bm_stream_layouts_decode(&c, &q);
	assert_false(bm_rcur_failed(&c));
	assert_int_equal(back[1].nstream_skbs, NWRITES);
	assert_int_equal(back[1].stream_consumed, TAKEN);
	assert_memory_equal(back[1].stream_skbs, WRITES, sizeof WRITES);
	bm_stream_layout_forget(&back[1]);
	/* On the pipe: rejected. */
	bm_store_le32(b.data + 4, 1);
	c = (struct bm_rcur){.data = b.data, .len = b.len, .version = 16};
	bm_stream_layouts_decode(&c, &q);
	assert_true(bm_rcur_failed(&c));
	assert_non_null(strstr(c.why, "stream layout of fd 1: not a unix stream socket"));
	/* A length that does not add up. */
	bm_store_le32(b.data + 4, 3);
	bm_store_le32(b.data + 36, 5);
	c = (struct bm_rcur){.data = b.data, .len = b.len, .version = 16};
	bm_stream_layouts_decode(&c, &q);
	assert_true(bm_rcur_failed(&c));
	assert_non_null(strstr(c.why, "stream layout of fd 3: skbs of 8110 bytes in all, 3 taken, for 8109 bytes"));
	bm_stream_layout_forget(&back[1]);
	/* A descriptor the process does not have. */
	bm_store_le32(b.data + 4, 9);
	c = (struct bm_rcur){.data = b.data, .len = b.len, .version = 16};
	bm_stream_layouts_decode(&c, &q);
	assert_true(bm_rcur_failed(&c));
	assert_non_null(strstr(c.why, "stream layout of fd 9: not after fd -1, or no such descriptor"));
	bm_wbuf_free(&b);
	image_sock_free(&is);
}

/* The BPF reader over this process: the skbs of a pair built here, and
 * nothing moved (the twin measures alike after). */
static void reads_a_queue(void **state)
{
	(void)state;
	if (access("/sys/kernel/btf/vmlinux", R_OK) < 0 || geteuid() != 0)
		skip(); /* what the reader needs: root and a kernel with BTF (CI has both) */
	int s[2];
	build(s);
	const uint32_t whole[] = {TOTAL - TAKEN};
	struct image_sock is;
	image_sock(&is, whole, NULL, 1, NULL, 0, 0);
	is.d.fd = s[0];
	struct bm_process p = {.pid = getpid(), .fds = &is.d, .nfds = 1};
	struct bm_kstate_queue q;
	char why[700];
	assert_int_equal(bm_kstate_dgram(&p, &q, why, sizeof why), 0);
	assert_false(q.read); /* a stream: no datagram record */
	assert_int_equal(is.d.nstream_skbs, NWRITES);
	assert_int_equal(is.d.stream_consumed, TAKEN);
	assert_memory_equal(is.d.stream_skbs, WRITES, sizeof WRITES);
	assert_true(bm_stream_layout_check(&is.d, why, sizeof why));
	int twin[2];
	build(twin);
	assert_pairs_alike(twin, s);
	close_pair(twin);
	close_pair(s);
	image_sock_free(&is);
}

/* A queue of more skbs than the reader reads in one run
 * (BM_KSTATE_STREAM_CHUNK): BIG_SKBS writes of 1 to 7 bytes (the first
 * of 7, of which a read took 3), in a send buffer made large enough
 * (SO_SNDBUFFORCE: BIG_SNDBUF as SO_SNDBUF reads it). */
#define BIG_SKBS 2500u
#define BIG_SNDBUF (4 << 20)

static uint32_t big_len(uint32_t k)
{
	return k ? 1 + k % 7 : 7;
}

/* Queues the writes on S[0] through S[1]; the bytes left into LEFT and
 * *LEN. */
static void build_big(int s[2], uint8_t *left, uint32_t *len)
{
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, s), 0);
	int half = BIG_SNDBUF / 2;
	assert_int_equal(setsockopt(s[1], SOL_SOCKET, SO_SNDBUFFORCE, &half, sizeof half), 0);
	uint8_t piece[8];
	uint32_t at = 0;
	for (uint32_t k = 0; k < BIG_SKBS; k++) {
		for (uint32_t i = 0; i < big_len(k); i++)
			piece[i] = left[at + i] = byte_at(k * 5 + i);
		assert_int_equal(write(s[1], piece, big_len(k)), (ssize_t)big_len(k));
		at += big_len(k);
	}
	assert_int_equal(read(s[0], piece, TAKEN), (ssize_t)TAKEN);
	memmove(left, left + TAKEN, at - TAKEN);
	*len = at - TAKEN;
}

/* The big queue as the BPF reader reads it, in chunks, from this process:
 * every skb, and written back alike its twin. */
static void reads_a_big_queue(void **state)
{
	(void)state;
	if (access("/sys/kernel/btf/vmlinux", R_OK) < 0 || geteuid() != 0)
		skip(); /* what the reader needs: root and a kernel with BTF (CI has both) */
	static uint8_t left[BIG_SKBS * 8], twin_left[BIG_SKBS * 8];
	uint32_t len = 0, twin_len = 0;
	int s[2], twin[2], again[2];
	build_big(s, left, &len);
	struct image_sock is;
	const uint32_t whole[] = {len};
	image_sock_of(&is, left, whole, NULL, 1, NULL, 0, 0);
	is.d.fd = s[0];
	struct bm_process p = {.pid = getpid(), .fds = &is.d, .nfds = 1};
	struct bm_kstate_queue q;
	char why[700];
	assert_int_equal(bm_kstate_dgram(&p, &q, why, sizeof why), 0);
	assert_int_equal(is.d.nstream_skbs, BIG_SKBS);
	assert_int_equal(is.d.stream_consumed, TAKEN);
	for (uint32_t k = 0; k < BIG_SKBS; k++)
		if (is.d.stream_skbs[k] != big_len(k))
			fail_msg("skb %u: %u bytes, written %u", k, is.d.stream_skbs[k], big_len(k));
	if (!bm_stream_layout_check(&is.d, why, sizeof why))
		fail_msg("%s", why);
	/* A run after the first that fails (the first, then the second of
	 * the two after it): the queue is left without its layout. */
	for (int pass = 1; pass <= 2 && bm_fault_injection_built(); pass++) {
		uint32_t *kept = is.d.stream_skbs;
		is.d.stream_skbs = NULL;
		is.d.nstream_skbs = 0;
		assert_int_equal(bm_fault_arm(pass == 1 ? "kstate-chunk" : "kstate-chunk:2"), 0);
		assert_int_equal(bm_kstate_dgram(&p, &q, why, sizeof why), 0);
		assert_int_equal(bm_fault_arm(NULL), 0);
		assert_int_equal(is.d.nstream_skbs, 0);
		assert_null(is.d.stream_skbs);
		is.d.stream_skbs = kept;
		is.d.nstream_skbs = BIG_SKBS;
		is.d.stream_consumed = TAKEN;
	}
	build_big(twin, twin_left, &twin_len);
	/* From a new socket's send buffer, which holds a few hundred of them:
	 * the refill makes room for all. */
	refill_to(again, &is, 0, BIG_SNDBUF);
	assert_pairs_alike(twin, again);
	close_pair(twin);
	/* The read moved nothing: the pair itself is alike a twin built again. */
	build_big(twin, twin_left, &twin_len);
	assert_pairs_alike(twin, s);
	close_pair(twin);
	close_pair(again);
	close_pair(s);
	image_sock_free(&is);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(refills_skb_by_skb),
		cmocka_unit_test(refill_fails_where_it_cannot_write),
		cmocka_unit_test(refuses_bad_layouts),
		cmocka_unit_test(fits_descriptors),
		cmocka_unit_test(takes_records),
		cmocka_unit_test(image_round_trip),
		cmocka_unit_test(reads_a_queue),
		cmocka_unit_test(reads_a_big_queue),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
