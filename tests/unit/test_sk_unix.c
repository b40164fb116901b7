/* UNIX-domain sockets (sk_unix.c): the data blob both ways, every way a
 * damaged blob is turned down (it comes from the network), the rules
 * between the sockets of an image, and the dump side on sockets of this
 * process: a pair with queued messages read without taking them. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"
#include "sk_unix.h"
#include "state.h"
#include "unit_image.h"
#define UNIT_TMPDIR_NAME "sk-unix"
#include "unit_tmpdir.h"
#include "wire.h"

static const struct bm_unix_msg msgs[] = {
	{(const uint8_t *)"hello", 5, (const uint8_t *)"\0peer", 5, 1234, 1000, 1000},
	{(const uint8_t *)"", 0, NULL, 0, 0, 0, 0},
};

/* A datagram socket named "\0me" holding MSGS, with two options. */
static struct bm_unix_sock sample(void)
{
	struct bm_unix_sock s = {0};
	s.type = SOCK_DGRAM;
	s.shutdown = 2;
	s.name = (const uint8_t *)"\0me";
	s.name_len = 3;
	s.has_opt[BM_UNIX_OPT_RCVBUF] = true;
	s.opt[BM_UNIX_OPT_RCVBUF].a = 4608;
	s.has_opt[BM_UNIX_OPT_RCVTIMEO] = true;
	s.opt[BM_UNIX_OPT_RCVTIMEO] = (struct bm_unix_opt){2, 500000};
	s.nmsgs = 2;
	s.cred_pid = 42;
	s.cred_uid = 65534;
	s.cred_gid = 100;
	return s;
}

static void encode(const struct bm_unix_sock *s, const uint64_t *icons, const struct bm_unix_msg *m,
		   struct bm_wbuf *b)
{
	bm_wbuf_init(b);
	assert_int_equal(bm_unix_encode(b, s, icons, m), 0);
}

static void test_round_trip(void **state)
{
	(void)state;
	struct bm_unix_sock s = sample(), back;
	struct bm_wbuf b;
	encode(&s, NULL, msgs, &b);
	char why[200];
	assert_true(bm_unix_parse(b.data, (uint32_t)b.len, &back, why, sizeof why));
	assert_int_equal(back.type, SOCK_DGRAM);
	assert_int_equal(back.shutdown, 2);
	assert_int_equal(back.cred_pid, 42);
	assert_int_equal(back.cred_uid, 65534);
	assert_int_equal(back.cred_gid, 100);
	assert_int_equal(back.name_len, 3);
	assert_memory_equal(back.name, "\0me", 3);
	assert_true(back.has_opt[BM_UNIX_OPT_RCVBUF] && back.opt[BM_UNIX_OPT_RCVBUF].a == 4608);
	assert_true(back.has_opt[BM_UNIX_OPT_RCVTIMEO] && back.opt[BM_UNIX_OPT_RCVTIMEO].b == 500000);
	assert_false(back.has_opt[BM_UNIX_OPT_SNDBUF]);
	assert_int_equal(back.nmsgs, 2);
	uint32_t at = 0;
	struct bm_unix_msg m;
	bm_unix_next_msg(&back, &at, &m);
	assert_int_equal(m.len, 5);
	assert_memory_equal(m.data, "hello", 5);
	assert_int_equal(m.addr_len, 5);
	assert_memory_equal(m.addr, "\0peer", 5);
	assert_int_equal(m.pid, 1234);
	assert_int_equal(m.uid, 1000);
	bm_unix_next_msg(&back, &at, &m);
	assert_int_equal(m.len, 0);
	assert_int_equal(m.addr_len, 0);
	assert_int_equal(at, back.msgs_len);

	/* Every shorter blob is cut short, and turned down. */
	for (size_t len = 0; len < b.len; len++)
		assert_false(bm_unix_parse(b.data, (uint32_t)len, &back, why, sizeof why));
	/* One byte more is one byte too many. */
	uint8_t *more = malloc(b.len + 1);
	memcpy(more, b.data, b.len);
	more[b.len] = 0;
	assert_false(bm_unix_parse(more, (uint32_t)b.len + 1, &back, why, sizeof why));
	assert_non_null(strstr(why, "after its description"));
	free(more);
	bm_wbuf_free(&b);

	/* A listener with its accept queue. */
	struct bm_unix_sock l = {0};
	l.type = SOCK_STREAM;
	l.flags = BM_UNIX_LISTENING;
	l.backlog = 7;
	l.name = (const uint8_t *)"/run/x.sock";
	l.name_len = 11;
	l.nicons = 2;
	uint64_t icons[2] = {77, 78};
	encode(&l, icons, NULL, &b);
	assert_true(bm_unix_parse(b.data, (uint32_t)b.len, &back, why, sizeof why));
	assert_int_equal(back.backlog, 7);
	assert_int_equal(back.nicons, 2);
	assert_int_equal(bm_unix_icon(&back, 0), 77);
	assert_int_equal(bm_unix_icon(&back, 1), 78);
	bm_wbuf_free(&b);
}

/* The sample with one field changed by CHANGE, encoded, must be refused
 * with a reason containing TEXT. */
static void refused(void (*change)(struct bm_unix_sock *), const char *text)
{
	struct bm_unix_sock s = sample(), back;
	change(&s);
	struct bm_wbuf b;
	bm_wbuf_init(&b);
	bm_unix_encode(&b, &s, NULL, msgs);
	char why[200] = "";
	bool ok = bm_unix_parse(b.data, (uint32_t)b.len, &back, why, sizeof why);
	if (ok || !strstr(why, text))
		fail_msg("expected a refusal saying \"%s\", got %s \"%s\"", text, ok ? "success" : "", why);
	bm_wbuf_free(&b);
}

static void bad_type(struct bm_unix_sock *s) { s->type = 4; }
static void bad_flags(struct bm_unix_sock *s) { s->flags = 0x40; }
static void two_flags(struct bm_unix_sock *s) { s->type = SOCK_STREAM, s->flags = BM_UNIX_LISTENING | BM_UNIX_QUEUED; }
static void bad_shutdown(struct bm_unix_sock *s) { s->shutdown = 4; }
static void dgram_listens(struct bm_unix_sock *s) { s->flags = BM_UNIX_LISTENING; }
static void relative(struct bm_unix_sock *s) { s->name = (const uint8_t *)"rel.sock", s->name_len = 8; }
static void nul_in_path(struct bm_unix_sock *s) { s->name = (const uint8_t *)"/a\0b", s->name_len = 4; }
static void stream_named_sender(struct bm_unix_sock *s) { s->type = SOCK_STREAM; }
static void bad_peek(struct bm_unix_sock *s)
{
	s->has_opt[BM_UNIX_OPT_PEEK_OFF] = true;
	s->opt[BM_UNIX_OPT_PEEK_OFF].a = -2;
}
static void orphan_path(struct bm_unix_sock *s)
{
	s->type = SOCK_STREAM, s->flags = BM_UNIX_ORPHAN, s->peer = 5, s->nmsgs = 0;
	s->name = (const uint8_t *)"/x", s->name_len = 2;
}
static void bad_cred(struct bm_unix_sock *s) { s->cred_pid = -1; }
static void huge_int(struct bm_unix_sock *s) { s->opt[BM_UNIX_OPT_RCVBUF].a = 1ll << 40; }
static void icons_not_listening(struct bm_unix_sock *s) { s->nicons = 0, s->type = SOCK_STREAM, s->flags = BM_UNIX_QUEUED, s->peer = 5; }

static void test_malformed(void **state)
{
	(void)state;
	refused(bad_type, "type 4");
	refused(bad_flags, "flags");
	refused(two_flags, "flags");
	refused(bad_shutdown, "shutdown");
	refused(dgram_listens, "datagram socket that listens");
	refused(relative, "relative path");
	refused(nul_in_path, "NUL inside");
	refused(stream_named_sender, "sender name on a connected socket");
	refused(bad_peek, "SO_PEEK_OFF");
	refused(huge_int, "SO_RCVBUF");
	refused(bad_cred, "peer credentials of pid -1");
	refused(orphan_path, "closed listener with a path name");
	refused(icons_not_listening, "waiting in an accept queue with a peer");

	/* Hand-made blobs: counts and lengths beyond what the bytes hold. */
	char why[200];
	struct bm_unix_sock back;
	struct bm_wbuf b;
	bm_wbuf_init(&b);
	bm_put_u32(&b, SOCK_STREAM);
	bm_put_u32(&b, 0);
	bm_put_u64(&b, 0);
	bm_put_u32(&b, 0);
	bm_put_u32(&b, 0);
	bm_put_u32(&b, 200); /* name longer than sun_path */
	assert_false(bm_unix_parse(b.data, (uint32_t)b.len, &back, why, sizeof why));
	assert_non_null(strstr(why, "name of 200 bytes"));
	bm_wbuf_clear(&b);
	struct bm_unix_sock s = {0};
	s.type = SOCK_DGRAM;
	assert_int_equal(bm_unix_encode(&b, &s, NULL, NULL), 0);
	size_t counts = b.len - 12; /* nopts, nicons, nmsgs */
	for (int which = 0; which < 3; which++) {
		uint8_t *copy = malloc(b.len);
		memcpy(copy, b.data, b.len);
		bm_store_le32(copy + counts + 4 * which, 0xffffffffu);
		assert_false(bm_unix_parse(copy, (uint32_t)b.len, &back, why, sizeof why));
		free(copy);
	}
	/* An option given twice, or unknown. */
	bm_wbuf_clear(&b);
	s.has_opt[0] = true;
	assert_int_equal(bm_unix_encode(&b, &s, NULL, NULL), 0);
	uint8_t *copy = malloc(b.len + 20);
	size_t at = b.len - 8 - 20; /* the option */
	memcpy(copy, b.data, at);
	memcpy(copy + at, b.data + at, 20);
	memcpy(copy + at + 20, b.data + at, b.len - at);
	bm_store_le32(copy + at - 4, 2);
	assert_false(bm_unix_parse(copy, (uint32_t)b.len + 20, &back, why, sizeof why));
	assert_non_null(strstr(why, "twice"));
	memcpy(copy, b.data, b.len);
	bm_store_le32(copy + at, BM_UNIX_NOPTS);
	assert_false(bm_unix_parse(copy, (uint32_t)b.len, &back, why, sizeof why));
	assert_non_null(strstr(why, "unknown"));
	free(copy);
	/* A message whose sender name is longer than sun_path. */
	bm_wbuf_clear(&b);
	s = (struct bm_unix_sock){.type = SOCK_DGRAM, .nmsgs = 1};
	struct bm_unix_msg m = {(const uint8_t *)"x", 1, NULL, 0, 0, 0, 0};
	assert_int_equal(bm_unix_encode(&b, &s, NULL, &m), 0);
	copy = malloc(b.len);
	memcpy(copy, b.data, b.len);
	bm_store_le32(copy + b.len - 12 - 4, 109);
	assert_false(bm_unix_parse(copy, (uint32_t)b.len, &back, why, sizeof why));
	assert_non_null(strstr(why, "sender name of 109 bytes"));
	free(copy);
	/* The encoder refuses what the decoder would. */
	bm_wbuf_clear(&b);
	m.addr_len = 200;
	assert_int_equal(bm_unix_encode(&b, &s, NULL, &m), -EINVAL);
	s.name_len = 200;
	assert_int_equal(bm_unix_encode(&b, &s, NULL, NULL), -EINVAL);
	bm_wbuf_free(&b);
}

/* A descriptor of kind BM_FD_UNIX_SOCKET numbered FD, inode INO, data S. */
static struct bm_fd sock_fd(int fd, uint64_t ino, const struct bm_unix_sock *s, const uint64_t *icons,
			    const struct bm_unix_msg *m)
{
	struct bm_wbuf b;
	encode(s, icons, m, &b);
	return (struct bm_fd){.fd = fd, .kind = BM_FD_UNIX_SOCKET, .shares_with = -1, .object_id = ino,
			      .data = b.data, .data_len = (uint32_t)b.len};
}

static void free_fds(struct bm_fd *fds, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		free(fds[i].data);
}

static void test_image_rules(void **state)
{
	(void)state;
	char why[300];
	/* A stream pair with data both ways. */
	struct bm_unix_msg one = {(const uint8_t *)"abc", 3, NULL, 0, 0, 0, 0};
	struct bm_unix_sock a = {.type = SOCK_STREAM, .peer = 11, .nmsgs = 1};
	struct bm_unix_sock b = {.type = SOCK_STREAM, .peer = 10, .nmsgs = 1};
	struct bm_fd fds[4] = {sock_fd(3, 10, &a, NULL, &one), sock_fd(4, 11, &b, NULL, &one)};
	assert_true(bm_unix_check(fds, 2, why, sizeof why));
	/* Its peer missing from the list. */
	assert_false(bm_unix_check(fds, 1, why, sizeof why));
	assert_non_null(strstr(why, "its peer 11 is not a socket"));
	free_fds(fds, 2);
	/* Not connected back. */
	b.peer = 12;
	struct bm_unix_sock c = {.type = SOCK_STREAM, .peer = 11};
	fds[0] = sock_fd(3, 10, &a, NULL, &one);
	fds[1] = sock_fd(4, 11, &b, NULL, &one);
	fds[2] = sock_fd(5, 12, &c, NULL, NULL);
	assert_false(bm_unix_check(fds, 3, why, sizeof why));
	assert_non_null(strstr(why, "not connected back"));
	free_fds(fds, 3);
	/* A peer of another type. */
	b = (struct bm_unix_sock){.type = SOCK_SEQPACKET, .peer = 10};
	fds[0] = sock_fd(3, 10, &a, NULL, &one);
	fds[1] = sock_fd(4, 11, &b, NULL, NULL);
	assert_false(bm_unix_check(fds, 2, why, sizeof why));
	free_fds(fds, 2);
	/* A listener, one connection accepted, one client waiting. */
	struct bm_unix_sock l = {.type = SOCK_STREAM, .flags = BM_UNIX_LISTENING, .backlog = 4,
				 .name = (const uint8_t *)"\0srv", .name_len = 4, .nicons = 1};
	struct bm_unix_sock acc = {.type = SOCK_STREAM, .flags = BM_UNIX_ACCEPTED, .peer = 22,
				   .name = (const uint8_t *)"\0srv", .name_len = 4};
	struct bm_unix_sock cli = {.type = SOCK_STREAM, .peer = 21, .nmsgs = 1};
	struct bm_unix_sock waiting = {.type = SOCK_STREAM, .flags = BM_UNIX_QUEUED};
	uint64_t icons[1] = {23};
	fds[0] = sock_fd(3, 20, &l, icons, NULL);
	fds[1] = sock_fd(4, 21, &acc, NULL, NULL);
	fds[2] = sock_fd(5, 22, &cli, NULL, &one);
	fds[3] = sock_fd(6, 23, &waiting, NULL, NULL);
	assert_true(bm_unix_check(fds, 4, why, sizeof why));
	/* Without the listener the accepted socket cannot be made. */
	assert_false(bm_unix_check(fds + 1, 3, why, sizeof why));
	/* A waiting client that is in no accept queue. */
	free(fds[0].data);
	l.nicons = 0;
	fds[0] = sock_fd(3, 20, &l, NULL, NULL);
	assert_false(bm_unix_check(fds, 4, why, sizeof why));
	assert_non_null(strstr(why, "waits in 0 accept queues"));
	/* An accept queue naming a socket that does not wait. */
	free(fds[0].data);
	l.nicons = 1;
	icons[0] = 22;
	fds[0] = sock_fd(3, 20, &l, icons, NULL);
	assert_false(bm_unix_check(fds, 4, why, sizeof why));
	assert_non_null(strstr(why, "accept queue is not a waiting socket"));
	free_fds(fds, 4);
	/* Datagrams: from a named sender of the list to a named receiver; from
	 * nobody known to an unnamed one is impossible. */
	struct bm_unix_msg named = {(const uint8_t *)"d", 1, (const uint8_t *)"\0snd", 4, 0, 0, 0};
	struct bm_unix_sock rcv = {.type = SOCK_DGRAM, .name = (const uint8_t *)"/tmp/r", .name_len = 6, .nmsgs = 1};
	struct bm_unix_sock snd = {.type = SOCK_DGRAM, .name = (const uint8_t *)"\0snd", .name_len = 4};
	fds[0] = sock_fd(3, 30, &rcv, NULL, &named);
	fds[1] = sock_fd(4, 31, &snd, NULL, NULL);
	assert_true(bm_unix_check(fds, 2, why, sizeof why));
	assert_false(bm_unix_check(fds, 1, why, sizeof why));
	assert_non_null(strstr(why, "sender binmig cannot send it from again"));
	free_fds(fds, 2);
	rcv.name_len = 0;
	struct bm_unix_msg anon = {(const uint8_t *)"d", 1, NULL, 0, 0, 0, 0};
	fds[0] = sock_fd(3, 30, &rcv, NULL, &anon);
	assert_false(bm_unix_check(fds, 1, why, sizeof why));
	free_fds(fds, 1);
	/* More sockets than one process may have. */
	uint32_t many = BM_UNIX_MAX_SOCKETS + 1;
	struct bm_fd *lots = calloc(many, sizeof *lots);
	a = (struct bm_unix_sock){.type = SOCK_DGRAM};
	for (uint32_t i = 0; i < many; i++)
		lots[i] = sock_fd((int)i, 1000 + i, &a, NULL, NULL);
	assert_true(bm_unix_check(lots, many - 1, why, sizeof why));
	assert_false(bm_unix_check(lots, many, why, sizeof why));
	assert_non_null(strstr(why, "more than 1024 unix sockets"));
	free_fds(lots, many);
	free(lots);
	/* A shared descriptor carries no data of its own. */
	a = (struct bm_unix_sock){.type = SOCK_DGRAM};
	fds[0] = sock_fd(3, 40, &a, NULL, NULL);
	fds[1] = (struct bm_fd){.fd = 4, .kind = BM_FD_UNIX_SOCKET, .shares_with = 3, .object_id = 40};
	assert_true(bm_unix_check(fds, 2, why, sizeof why));
	fds[1].object_id = 41;
	assert_false(bm_unix_check(fds, 2, why, sizeof why));
	free_fds(fds, 1);
}

/* Describes SOCKET (fd of this process) into *D for the dump: 0, or -1
 * with the error held (the refusal's message in bm_error_message). */
static int dump_one(int sock, struct bm_fd *d)
{
	struct bm_process p = {.pid = getpid(), .fds = d, .nfds = 1};
	struct bm_process *procs[1] = {&p};
	struct stat st;
	*d = (struct bm_fd){.shares_with = -1};
	assert_int_equal(fstat(sock, &st), 0);
	assert_int_equal(bm_unix_describe(getpid(), sock, &st, d), 1);
	d->fd = sock;
	quiet_begin();
	int rc = bm_unix_collect(procs, 1, NULL, true);
	stderr_restore();
	return rc;
}

/* The dump side on a pair of this process: the queue is read with its
 * boundaries and left in place, SO_PEEK_OFF and SO_PASSCRED as they were. */
static void test_dump_pair(void **state)
{
	(void)state;
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	assert_int_equal(send(sv[0], "one", 3, 0), 3);
	assert_int_equal(send(sv[0], "two!", 4, 0), 4);
	struct bm_process p = {0};
	struct bm_process *procs[1] = {&p};
	p.pid = getpid();
	struct bm_fd fds[2];
	struct stat st;
	for (int k = 0; k < 2; k++) {
		fds[k] = (struct bm_fd){.shares_with = -1};
		assert_int_equal(fstat(sv[k], &st), 0);
		assert_int_equal(bm_unix_describe(getpid(), sv[k], &st, &fds[k]), 1);
		fds[k].fd = sv[k];
	}
	p.fds = fds;
	p.nfds = 2;
	assert_int_equal(bm_unix_collect(procs, 1, NULL, true), 0);
	struct bm_unix_sock s;
	char why[200];
	assert_true(bm_unix_parse(fds[1].data, fds[1].data_len, &s, why, sizeof why));
	assert_int_equal(s.type, SOCK_SEQPACKET);
	assert_int_equal(s.peer, fds[0].object_id);
	assert_int_equal(s.nmsgs, 2);
	uint32_t at = 0;
	struct bm_unix_msg m;
	bm_unix_next_msg(&s, &at, &m);
	assert_int_equal(m.len, 3);
	assert_int_equal(m.pid, 0);
	bm_unix_next_msg(&s, &at, &m);
	assert_int_equal(m.len, 4);
	assert_memory_equal(m.data, "two!", 4);
	assert_true(s.has_opt[BM_UNIX_OPT_PEEK_OFF] && s.opt[BM_UNIX_OPT_PEEK_OFF].a == -1);
	int v = 0;
	socklen_t len = sizeof v;
	assert_int_equal(getsockopt(sv[1], SOL_SOCKET, SO_PEEK_OFF, &v, &len), 0);
	assert_int_equal(v, -1);
	assert_int_equal(getsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &v, &len), 0);
	assert_int_equal(v, 0);
	char buf[8];
	assert_int_equal(recv(sv[1], buf, sizeof buf, 0), 3);
	assert_int_equal(recv(sv[1], buf, sizeof buf, 0), 4);
	free_fds(fds, 2);
	close(sv[0]);

	/* Its peer gone: refused, naming it. */
	assert_int_equal(dump_one(sv[1], &fds[0]), -1);
	assert_int_equal(bm_exit_code(), BM_EXIT_UNSUPPORTED);
	assert_non_null(strstr(bm_error_message(), "whose peer has closed"));
	bm_reset_errors();
	free(fds[0].data);
	close(sv[1]);
}

/* A migration moves a path-bound socket's file aside (PATH.binmig-PID)
 * and, failed, back; where something else holds the name by then (a
 * directory here), the file stays aside, named in a warning, and the
 * next dump refuses the socket, whose name no longer leads to it. */
static void test_stash_not_put_back(void **state)
{
	(void)state;
	char stash_name[PATH_MAX], stash_aside[PATH_MAX + 32];
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	assert_true(snprintf(stash_name, sizeof stash_name, "%s/sock", dir) < (int)sizeof a.sun_path);
	assert_true(snprintf(stash_aside, sizeof stash_aside, "%s.binmig-%d", stash_name, (int)getpid()) <
		    (int)sizeof stash_aside);
	memcpy(a.sun_path, stash_name, strlen(stash_name) + 1);
	int s = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof a), 0);
	assert_int_equal(listen(s, 1), 0);
	struct bm_fd d;
	assert_int_equal(dump_one(s, &d), 0);
	struct bm_process p = {.pid = getpid(), .fds = &d, .nfds = 1};
	assert_int_equal(bm_unix_stash_names(&p), 0);
	struct stat st;
	assert_int_equal(lstat(stash_aside, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(lstat(stash_name, &st), -1);
	/* Something else at the name: not put back, and said. */
	assert_int_equal(mkdir(stash_name, 0700), 0);
	char said[512];
	capture_begin();
	bm_unix_unstash_names(&p, false);
	capture_end(said, sizeof said);
	assert_non_null(strstr(said, "cannot move back the socket file"));
	assert_int_equal(lstat(stash_aside, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	free(d.data);
	/* The next dump refuses it. */
	assert_int_equal(dump_one(s, &d), -1);
	assert_int_equal(bm_exit_code(), BM_EXIT_UNSUPPORTED);
	assert_non_null(strstr(bm_error_message(), "which no longer names it"));
	bm_reset_errors();
	free(d.data);
	close(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_image_rules),
		cmocka_unit_test(test_dump_pair),
		cmocka_unit_test_setup_teardown(test_stash_not_put_back, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
