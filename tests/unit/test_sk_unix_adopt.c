/* Descriptors in flight that the process does not hold (sk_unix_adopt.c,
 * the gathering in sk_unix.c, the image rule in sk_unix_image.c), on
 * sockets of this process: what is noted (one per open file description,
 * none the process holds), that gathering leaves the queues as they were,
 * the rule that a descriptor only in flight is carried by a message, and
 * the restore's closing of exactly those.  Giving them to a frozen
 * process (injected calls) is tested end to end (tests/e2e/scmrights.sh). */
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
#include "procfs.h"
#include "sk_unix.h"
#include "sk_unix_adopt.h"
#include "sk_unix_rights.h"
#include "state.h"
#include "wire.h"

#include "unit_rights.h"

/* Receives one message of TEXT; how many descriptors came (closed). */
static int recv_count(int s, const char *text)
{
	union {
		struct cmsghdr align;
		char bytes[CMSG_SPACE(4 * sizeof(int))];
	} control;
	char buf[16];
	struct iovec iov = {buf, sizeof buf};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = &control, .msg_controllen = sizeof control};
	ssize_t n = recvmsg(s, &mh, MSG_DONTWAIT);
	assert_int_equal(n, (ssize_t)strlen(text));
	assert_memory_equal(buf, text, strlen(text));
	return bm_unix_rights_close(&mh);
}

/* This process's socket SV[k] as the model describes it. */
static void describe(int fd, struct bm_fd *d)
{
	struct stat st;
	struct bm_fdinfo info;
	*d = (struct bm_fd){.shares_with = -1};
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(bm_unix_describe(getpid(), fd, &st, d), 1);
	assert_int_equal(bm_read_fdinfo(getpid(), fd, &info), 0);
	d->fd = fd;
	d->scm_fds_seen = info.scm_fds;
}

static void test_note(void **state)
{
	(void)state;
	int pp[2], held[2];
	assert_int_equal(pipe(pp), 0);
	assert_int_equal(pipe(held), 0);
	struct bm_fd fds[1] = {{.fd = held[0], .kind = BM_FD_PIPE, .shares_with = -1}};
	struct bm_process p = {.pid = getpid(), .fds = fds, .nfds = 1};
	struct bm_unix_adoption *a = calloc(1, sizeof *a);
	assert_non_null(a);
	a->p = &p;
	int dup_of_read = dup(pp[0]);
	/* Held by the process: not noted; the same description twice: once. */
	assert_int_equal(bm_unix_adopt_note(a, 5, (int[]){held[0], pp[0], dup_of_read, pp[1]}, 4), 0);
	assert_int_equal(a->n, 2);
	assert_int_equal(bm_unix_adopt_note(a, 6, (int[]){pp[1]}, 1), 0);
	assert_int_equal(a->n, 2);
	assert_int_equal(a->via[1], 5);
	/* Copies of binmig's own, kept open by the adoption until freed. */
	assert_true(fcntl(a->fl[0], F_GETFD) & FD_CLOEXEC);
	bm_unix_adoption_free(a);
	assert_int_equal(a->n, 0);
	free(a);
	close(dup_of_read);
	for (int i = 0; i < 2; i++) {
		close(pp[i]);
		close(held[i]);
	}
}

static void test_gather(void **state)
{
	(void)state;
	int sv[2], dg[2], pp[2], held[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_DGRAM, 0, dg), 0);
	assert_int_equal(pipe(pp), 0);
	assert_int_equal(pipe(held), 0);
	unit_send_fds(sv[0], "one", (int[]){pp[0], held[1]}, 2);
	unit_send_fds(sv[0], "two", (int[]){pp[0]}, 1);
	unit_send_fds(dg[0], "three", (int[]){pp[1], sv[0]}, 2);
	struct bm_fd fds[6];
	describe(sv[0], &fds[0]);
	describe(sv[1], &fds[1]);
	describe(dg[0], &fds[2]);
	describe(dg[1], &fds[3]);
	assert_int_equal(fds[1].scm_fds_seen, 3); /* fdinfo counts every descriptor in flight */
	assert_int_equal(fds[0].scm_fds_seen, 0);
	fds[4] = (struct bm_fd){.fd = held[1], .kind = BM_FD_PIPE, .shares_with = -1};
	fds[5] = (struct bm_fd){.fd = held[0], .kind = BM_FD_PIPE, .shares_with = -1};
	/* sv[0] is held; the pipe pp is in flight only, one description per end. */
	struct bm_process p = {.pid = getpid(), .fds = fds, .nfds = 6};
	struct bm_unix_adoption *a = calloc(1, sizeof *a);
	assert_non_null(a);
	a->p = &p;
	assert_int_equal(bm_unix_gather_in_flight(&p, a), 0);
	assert_int_equal(a->n, 2);
	assert_int_equal(a->via[0], sv[1]);
	assert_int_equal(a->via[1], dg[1]);
	bm_unix_adoption_free(a);
	/* The queues as they were, and their peek offsets off. */
	int off = 0;
	assert_int_equal(getsockopt(sv[1], SOL_SOCKET, SO_PEEK_OFF, &off, &(socklen_t){sizeof off}), 0);
	assert_int_equal(off, -1);
	assert_int_equal(recv_count(dg[1], "three"), 2);
	char buf[8];
	union {
		struct cmsghdr align;
		char bytes[CMSG_SPACE(4 * sizeof(int))];
	} control;
	struct iovec iov = {buf, 3};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = &control, .msg_controllen = sizeof control};
	assert_int_equal(recvmsg(sv[1], &mh, MSG_DONTWAIT), 3);
	assert_int_equal(bm_unix_rights_close(&mh), 2);
	assert_int_equal(recv_count(sv[1], "two"), 1);
	/* Nothing in flight any more: nothing noted. */
	describe(sv[1], &fds[1]);
	describe(dg[1], &fds[3]);
	assert_int_equal(bm_unix_gather_in_flight(&p, a), 0);
	assert_int_equal(a->n, 0);
	free(a);
	free(fds[0].data);
	free(fds[1].data);
	free(fds[2].data);
	free(fds[3].data);
	for (int i = 0; i < 2; i++) {
		close(sv[i]);
		close(dg[i]);
		close(pp[i]);
		close(held[i]);
	}
}

static void test_image_rule_and_close(void **state)
{
	(void)state;
	char why[300];
	/* A datagram pair: fd 3 holds a message naming fd 7, only in flight. */
	uint8_t right[4];
	bm_store_le32(right, 7);
	struct bm_unix_msg m = {(const uint8_t *)"x", 1, NULL, 0, 0, 0, 0, 1, right};
	struct bm_unix_sock a = {.type = SOCK_DGRAM, .peer = 11, .nmsgs = 1};
	struct bm_unix_sock c = {.type = SOCK_DGRAM, .peer = 10};
	struct bm_wbuf ba, bc;
	bm_wbuf_init(&ba);
	bm_wbuf_init(&bc);
	assert_int_equal(bm_unix_encode(&ba, &a, NULL, &m), 0);
	assert_int_equal(bm_unix_encode(&bc, &c, NULL, NULL), 0);
	int pp[2];
	assert_int_equal(pipe(pp), 0);
	struct bm_fd fds[4] = {
		{.fd = 3, .kind = BM_FD_UNIX_SOCKET, .shares_with = -1, .object_id = 10, .data = ba.data,
		 .data_len = (uint32_t)ba.len},
		{.fd = 4, .kind = BM_FD_UNIX_SOCKET, .shares_with = -1, .object_id = 11, .data = bc.data,
		 .data_len = (uint32_t)bc.len},
		{.fd = 7, .kind = BM_FD_PIPE, .shares_with = -1, .in_flight = 1},
		{.fd = 8, .kind = BM_FD_PIPE, .shares_with = -1},
	};
	assert_true(bm_unix_check(fds, 4, why, sizeof why));
	fds[3].in_flight = 1;
	assert_false(bm_unix_check(fds, 4, why, sizeof why));
	assert_non_null(strstr(why, "fd 8 is only in flight, yet no queued message carries it"));
	fds[3].in_flight = 0;
	/* The restore closes what was only in flight, nothing else: run on
	 * this process's own pipe, numbered as in the model. */
	fds[2].fd = pp[0];
	fds[3].fd = pp[1];
	struct bm_process p = {.pid = getpid(), .fds = fds + 2, .nfds = 2};
	char err[200];
	assert_int_equal(bm_unix_adopt_close(&p, err, sizeof err), 0);
	assert_int_equal(fcntl(pp[0], F_GETFD), -1);
	assert_true(fcntl(pp[1], F_GETFD) >= 0);
	assert_int_equal(bm_unix_adopt_close(&p, err, sizeof err), -1);
	assert_non_null(strstr(err, "only in flight"));
	close(pp[1]);
	assert_false(bm_unix_adopted(getpid(), pp[0], NULL));
	free(ba.data);
	free(bc.data);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_note),
		cmocka_unit_test(test_gather),
		cmocka_unit_test(test_image_rule_and_close),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
