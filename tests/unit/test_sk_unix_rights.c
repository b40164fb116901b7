/* Descriptors in flight (SCM_RIGHTS) in unix socket queues
 * (sk_unix_rights.c, sk_unix_image.c): their encoding both ways, damaged
 * records turned down, the image rule that each names a descriptor of the
 * process, and the dump side on sockets of this process. */
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
#include <unistd.h>

#include <cmocka.h>

#include "log.h"
#include "sk_unix.h"
#include "sk_unix_rights.h"
#include "state.h"
#include "wire.h"

#include "unit_rights.h"
#include "unit_image.h"

static uint8_t rights_le[8];

static const struct bm_unix_msg *two_msgs(void)
{
	static struct bm_unix_msg m[2];
	bm_store_le32(rights_le, 5);
	bm_store_le32(rights_le + 4, 9);
	m[0] = (struct bm_unix_msg){(const uint8_t *)"plain", 5, NULL, 0, 0, 0, 0, 0, NULL};
	m[1] = (struct bm_unix_msg){(const uint8_t *)"fds", 3, NULL, 0, 0, 0, 0, 2, rights_le};
	return m;
}

static void encode(const struct bm_unix_sock *s, const struct bm_unix_msg *m, struct bm_wbuf *b)
{
	bm_wbuf_init(b);
	assert_int_equal(bm_unix_encode(b, s, NULL, m), 0);
}

static void test_round_trip(void **state)
{
	(void)state;
	struct bm_unix_sock s = {.type = SOCK_SEQPACKET, .peer = 7, .nmsgs = 2}, back;
	struct bm_wbuf b;
	encode(&s, two_msgs(), &b);
	char why[200];
	assert_true(bm_unix_parse(b.data, (uint32_t)b.len, &back, why, sizeof why));
	assert_int_equal(back.flags, BM_UNIX_RIGHTS);
	uint32_t at = 0;
	struct bm_unix_msg m;
	bm_unix_next_msg(&back, &at, &m);
	assert_int_equal(m.len, 5);
	assert_int_equal(m.nrights, 0);
	bm_unix_next_msg(&back, &at, &m);
	assert_memory_equal(m.data, "fds", 3);
	assert_int_equal(m.nrights, 2);
	assert_int_equal(bm_unix_right(&m, 0), 5);
	assert_int_equal(bm_unix_right(&m, 1), 9);
	assert_int_equal(at, back.msgs_len);
	free(b.data);

	/* Without rights the record is as older images have it: no flag,
	 * no count after each message. */
	struct bm_wbuf plain;
	s.nmsgs = 1;
	encode(&s, two_msgs(), &plain);
	assert_true(bm_unix_parse(plain.data, (uint32_t)plain.len, &back, why, sizeof why));
	assert_int_equal(back.flags, 0);
	at = 0;
	bm_unix_next_msg(&back, &at, &m);
	assert_int_equal(m.nrights, 0);
	assert_int_equal(at, back.msgs_len);
	assert_int_equal(back.msgs_len, 4 + 5 + 4 + 12);
	free(plain.data);

	/* The flag on an accepted socket keeps its meaning. */
	s = (struct bm_unix_sock){.type = SOCK_STREAM, .flags = BM_UNIX_ACCEPTED, .peer = 7,
				  .name = (const uint8_t *)"\0x", .name_len = 2, .nmsgs = 2};
	encode(&s, two_msgs(), &b);
	assert_true(bm_unix_parse(b.data, (uint32_t)b.len, &back, why, sizeof why));
	assert_int_equal(back.flags, BM_UNIX_ACCEPTED | BM_UNIX_RIGHTS);
	free(b.data);
}

static void test_malformed(void **state)
{
	(void)state;
	char why[200];
	struct bm_unix_sock s = {.type = SOCK_DGRAM, .nmsgs = 2}, back;
	struct bm_wbuf b;
	/* Too many descriptors for one message. */
	struct bm_unix_msg many[2];
	memcpy(many, two_msgs(), sizeof many);
	many[1].nrights = BM_UNIX_MAX_RIGHTS + 1;
	bm_wbuf_init(&b);
	assert_int_equal(bm_unix_encode(&b, &s, NULL, many), -EINVAL);
	free(b.data);

	encode(&s, two_msgs(), &b);
	size_t count_at = b.len - 12; /* u32 count, then two i32 */
	assert_int_equal(bm_load_le32(b.data + count_at), 2);
	/* A count past the limit, a count past the end, a negative fd, cut short. */
	bm_store_le32(b.data + count_at, BM_UNIX_MAX_RIGHTS + 1);
	assert_false(bm_unix_parse(b.data, (uint32_t)b.len, &back, why, sizeof why));
	assert_non_null(strstr(why, "descriptors in flight"));
	bm_store_le32(b.data + count_at, 3);
	assert_false(bm_unix_parse(b.data, (uint32_t)b.len, &back, why, sizeof why));
	assert_non_null(strstr(why, "cut short"));
	bm_store_le32(b.data + count_at, 2);
	bm_store_le32(b.data + b.len - 4, (uint32_t)-1);
	assert_false(bm_unix_parse(b.data, (uint32_t)b.len, &back, why, sizeof why));
	assert_non_null(strstr(why, "names fd -1"));
	assert_false(bm_unix_parse(b.data, (uint32_t)b.len - 2, &back, why, sizeof why));
	/* Unknown flags are still refused. */
	bm_store_le32(b.data + 4, 0x20);
	assert_false(bm_unix_parse(b.data, (uint32_t)b.len, &back, why, sizeof why));
	free(b.data);
}

static void test_image_rule(void **state)
{
	(void)state;
	char why[300];
	/* A datagram pair: fd 3 holds rights naming fds 5 and 9. */
	struct bm_unix_sock a = {.type = SOCK_DGRAM, .peer = 11, .nmsgs = 2};
	struct bm_unix_sock c = {.type = SOCK_DGRAM, .peer = 10};
	struct bm_wbuf ba, bc;
	encode(&a, two_msgs(), &ba);
	encode(&c, NULL, &bc);
	struct bm_fd fds[4] = {
		{.fd = 3, .kind = BM_FD_UNIX_SOCKET, .shares_with = -1, .object_id = 10, .data = ba.data,
		 .data_len = (uint32_t)ba.len},
		{.fd = 4, .kind = BM_FD_UNIX_SOCKET, .shares_with = -1, .object_id = 11, .data = bc.data,
		 .data_len = (uint32_t)bc.len},
		{.fd = 5, .kind = BM_FD_PIPE, .shares_with = -1},
		{.fd = 9, .kind = BM_FD_PIPE, .shares_with = -1},
	};
	assert_true(bm_unix_check(fds, 4, why, sizeof why));
	assert_false(bm_unix_check(fds, 3, why, sizeof why));
	assert_non_null(strstr(why, "carries fd 9, which the process does not have"));
	/* A policy that replaces fd 9 after the sockets were read (a pipe
	 * end made broken): refused at dump, and by the image rule. */
	struct bm_process p = {.pid = getpid(), .fds = fds, .nfds = 4};
	struct bm_process *procs[1] = {&p};
	assert_int_equal(bm_unix_rights_check_policies(procs, 1), 0);
	fds[3].replaced = BM_FD_TO_BROKEN;
	quiet_begin();
	int rc = bm_unix_rights_check_policies(procs, 1);
	stderr_restore();
	assert_int_equal(rc, -1);
	assert_int_equal(bm_exit_code(), BM_EXIT_UNSUPPORTED);
	assert_non_null(strstr(bm_error_message(), "that is fd 9 of the process, which a policy replaces"));
	bm_reset_errors();
	assert_false(bm_unix_check(fds, 4, why, sizeof why));
	fds[3].replaced = BM_FD_CARRIED;
	fds[3].kind = BM_FD_CLOSED;
	assert_false(bm_unix_check(fds, 4, why, sizeof why));
	free(ba.data);
	free(bc.data);
}

/* Collects a pair SV plus the extra descriptors EXTRA[0..nextra) as the
 * process; returns bm_unix_collect's result, fds[1] the receiver. */
static int collect(const int *sv, const int *extra, int nextra, struct bm_fd *fds)
{
	static struct bm_process p;
	struct bm_process *procs[1] = {&p};
	p = (struct bm_process){.pid = getpid(), .fds = fds, .nfds = (uint32_t)(2 + nextra)};
	struct stat st;
	for (int k = 0; k < 2; k++) {
		fds[k] = (struct bm_fd){.shares_with = -1};
		assert_int_equal(fstat(sv[k], &st), 0);
		assert_int_equal(bm_unix_describe(getpid(), sv[k], &st, &fds[k]), 1);
		fds[k].fd = sv[k];
	}
	for (int k = 0; k < nextra; k++)
		fds[2 + k] = (struct bm_fd){.fd = extra[k], .kind = BM_FD_PIPE, .shares_with = -1};
	quiet_begin();
	int rc = bm_unix_collect(procs, 1, NULL, true);
	stderr_restore();
	return rc;
}

static int open_fds(void)
{
	int n = 0;
	for (int fd = 0; fd < 1024; fd++)
		n += fcntl(fd, F_GETFD) >= 0;
	return n;
}

static void test_dump(void **state)
{
	(void)state;
	int sv[2], pp[2];
	struct bm_fd fds[4];
	char why[200];
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	assert_int_equal(pipe(pp), 0);
	unit_send_fds(sv[0], "m", (int[]){pp[1], sv[0]}, 2);
	int before = open_fds();
	assert_int_equal(collect(sv, pp, 2, fds), 0);
	assert_int_equal(open_fds(), before); /* the peeked copies are closed */
	struct bm_unix_sock s;
	assert_true(bm_unix_parse(fds[1].data, fds[1].data_len, &s, why, sizeof why));
	assert_true(s.flags & BM_UNIX_RIGHTS);
	uint32_t at = 0;
	struct bm_unix_msg m;
	bm_unix_next_msg(&s, &at, &m);
	assert_int_equal(m.nrights, 2);
	assert_int_equal(bm_unix_right(&m, 0), pp[1]);
	assert_int_equal(bm_unix_right(&m, 1), sv[0]);
	free(fds[0].data);
	free(fds[1].data);
	/* The pipe not among the process's descriptors: refused, by kind. */
	assert_int_equal(collect(sv, NULL, 0, fds), -1);
	assert_int_equal(bm_exit_code(), BM_EXIT_UNSUPPORTED);
	assert_non_null(strstr(bm_error_message(), "that is a pipe end not open in the process"));
	bm_reset_errors();
	free(fds[0].data);
	close(sv[0]);
	close(sv[1]);

	/* Over a stream: carried, the queue read by taking it and written
	 * back whole, with its descriptor. */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	unit_send_fds(sv[0], "m", (int[]){pp[1]}, 1);
	assert_int_equal(collect(sv, pp, 2, fds), 0);
	assert_true(bm_unix_parse(fds[1].data, fds[1].data_len, &s, why, sizeof why));
	assert_int_equal(s.nmsgs, 1);
	at = 0;
	bm_unix_next_msg(&s, &at, &m);
	assert_int_equal(m.nrights, 1);
	assert_int_equal(bm_unix_right(&m, 0), pp[1]);
	free(fds[0].data);
	free(fds[1].data);
	union {
		struct cmsghdr align;
		char bytes[CMSG_SPACE(sizeof(int))];
	} control;
	char c;
	struct iovec iov = {&c, 1};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = &control, .msg_controllen = sizeof control};
	assert_int_equal(recvmsg(sv[1], &mh, MSG_DONTWAIT), 1);
	assert_int_equal(bm_unix_rights_close(&mh), 1);
	/* One the process does not hold: refused by kind, nothing taken. */
	unit_send_fds(sv[0], "m", (int[]){pp[1]}, 1);
	assert_int_equal(collect(sv, NULL, 0, fds), -1);
	assert_non_null(strstr(bm_error_message(), "that is a pipe end not open in the process"));
	bm_reset_errors();
	free(fds[0].data);
	mh.msg_controllen = sizeof control;
	assert_int_equal(recvmsg(sv[1], &mh, MSG_DONTWAIT), 1);
	assert_int_equal(bm_unix_rights_close(&mh), 1);
	/* Shut down for reading, the queue could not go back: refused
	 * before anything is taken. */
	unit_send_fds(sv[0], "m", (int[]){pp[1]}, 1);
	assert_int_equal(shutdown(sv[1], SHUT_RD), 0);
	assert_int_equal(collect(sv, pp, 2, fds), -1);
	assert_non_null(strstr(bm_error_message(), "(a stream) with descriptors in flight (SCM_RIGHTS) and shut down for "
					      "reading"));
	bm_reset_errors();
	free(fds[0].data);
	mh.msg_controllen = sizeof control;
	assert_int_equal(recvmsg(sv[1], &mh, MSG_DONTWAIT), 1);
	assert_int_equal(bm_unix_rights_close(&mh), 1);
	close(sv[0]);
	close(sv[1]);
	close(pp[0]);
	close(pp[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_image_rule),
		cmocka_unit_test(test_dump),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
