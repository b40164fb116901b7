/* A stream queue with descriptors in flight, taken and written back
 * (sk_unix_take.c), on socket pairs of this process: the pieces found
 * begin and end where the kernel's own pieces with rights do, and after
 * the writing back a reader meets the same boundaries and descriptors as
 * on a queue nobody touched. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/kcmp.h>

#include <cmocka.h>

#include "sk_unix_take.h"

/* TEXT with FL[0..n), without credentials given (the kernel's own, if any). */
static void send_with(int s, const char *text, const int *fl, int n)
{
	struct ucred none = {0, 0, 0};
	assert_int_equal(bm_unix_send_piece(s, (const uint8_t *)text, strlen(text), &none, fl, (uint32_t)n, NULL, 0),
			 (ssize_t)strlen(text));
}

static bool same_file(int a, int b)
{
	return syscall(SYS_kcmp, getpid(), getpid(), KCMP_FILE, a, b) == 0;
}

/* A stream pair whose receiver sv[1] holds: plain bytes (without
 * credentials unless CRED_FIRST: SO_PASSCRED was off), bytes with both
 * ends of PP, plain bytes, two pieces with rights back to back, plain
 * bytes. */
static void fill(int *sv, const int *pp, bool cred_first)
{
	int one = 1;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	if (cred_first)
		assert_int_equal(setsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &one, sizeof one), 0);
	send_with(sv[0], "plain1", NULL, 0);
	assert_int_equal(setsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &one, sizeof one), 0);
	send_with(sv[0], "RIGHTS", (int[]){pp[1], pp[0]}, 2);
	send_with(sv[0], "mid", NULL, 0);
	send_with(sv[0], "ADJ1", (int[]){pp[1]}, 1);
	send_with(sv[0], "ADJ2", (int[]){pp[0]}, 1);
	send_with(sv[0], "end", NULL, 0);
}

/* Reads S with reads of 3, 5 and then 64 bytes until it is empty, into
 * OUT as "bytes+N|..." (N descriptors that each are an end of PP). */
static void reads(int s, const int *pp, char *out, size_t n)
{
	static const size_t sizes[] = {3, 5, 64, 64, 64, 64};
	out[0] = 0;
	for (size_t r = 0; r < sizeof sizes / sizeof *sizes; r++) {
		union {
			struct cmsghdr align;
			char bytes[CMSG_SPACE(sizeof(struct ucred)) + CMSG_SPACE(8 * sizeof(int))];
		} control;
		char buf[64];
		struct iovec iov = {buf, sizes[r]};
		struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = &control,
				    .msg_controllen = sizeof control};
		ssize_t got = recvmsg(s, &mh, MSG_DONTWAIT);
		if (got < 0) {
			assert_int_equal(errno, EAGAIN);
			break;
		}
		int k = 0;
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
			for (size_t i = 0; c->cmsg_type == SCM_RIGHTS && i < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++) {
				int f;
				memcpy(&f, CMSG_DATA(c) + i * sizeof(int), sizeof f);
				assert_true(same_file(f, pp[0]) || same_file(f, pp[1]));
				close(f);
				k++;
			}
		size_t at = strlen(out);
		snprintf(out + at, n - at, "%.*s+%d|", (int)got, buf, k);
	}
}

static void take_and_put_back(bool cred_first, const char *expect)
{
	int pp[2], sv[2], ref[2];
	char want[256], back[256];
	assert_int_equal(pipe(pp), 0);
	/* What the kernel gives a reader of a queue nobody touched. */
	fill(ref, pp, cred_first);
	reads(ref[1], pp, want, sizeof want);
	assert_string_equal(want, expect);
	close(ref[0]);
	close(ref[1]);

	fill(sv, pp, cred_first);
	struct bm_unix_taken t = {0};
	assert_int_equal(bm_unix_take(sv[1], 1 << 16, &t), 0);
	static const struct {
		const char *text;
		uint32_t nfl;
	} pieces[] = {{"plain1", 0}, {"RIGHTS", 2}, {"mid", 0}, {"ADJ1", 1}, {"ADJ2", 1}, {"end", 0}};
	assert_int_equal(t.n, 6);
	for (uint32_t i = 0; i < t.n; i++) {
		assert_int_equal(t.pieces[i].len, strlen(pieces[i].text));
		assert_memory_equal(t.data + t.pieces[i].off, pieces[i].text, t.pieces[i].len);
		assert_int_equal(t.pieces[i].nfl, pieces[i].nfl);
		assert_int_equal(t.pieces[i].cred.pid, i || cred_first ? getpid() : 0);
	}
	assert_true(same_file(t.pieces[1].fl[0], pp[1]) && same_file(t.pieces[1].fl[1], pp[0]));
	char c;
	assert_int_equal(recv(sv[1], &c, 1, MSG_DONTWAIT), -1); /* all taken */
	assert_int_equal(bm_unix_put_back(sv[0], sv[1], &t, NULL, 0, NULL, 0, 0), 0);
	bm_unix_taken_free(&t);
	reads(sv[1], pp, back, sizeof back);
	assert_string_equal(back, want);
	close(sv[0]);
	close(sv[1]);
	close(pp[0]);
	close(pp[1]);
}

/* The rights come with the read that reaches their first byte, and a
 * reader with SO_PASSCRED on never reads across a change of writer (here
 * to none). */
static void test_take_and_put_back(void **state)
{
	(void)state;
	take_and_put_back(true, "pla+0|in1RI+2|GHTSmidADJ1+1|ADJ2+1|end+0|");
	take_and_put_back(false, "pla+0|in1+0|RIGHTS+2|midADJ1+1|ADJ2+1|end+0|");
}

static void test_limit(void **state)
{
	(void)state;
	int sv[2], one = 1;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(setsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &one, sizeof one), 0);
	send_with(sv[0], "0123456789", NULL, 0);
	struct bm_unix_taken t = {0};
	/* More than the limit: seen by a peek, nothing taken. */
	assert_int_equal(bm_unix_take(sv[1], 4, &t), -EMSGSIZE);
	assert_int_equal(t.len, 0);
	char buf[16];
	assert_int_equal(recv(sv[1], buf, sizeof buf, MSG_DONTWAIT), 10);
	bm_unix_taken_free(&t);
	close(sv[0]);
	close(sv[1]);
}

static void test_credentials(void **state)
{
	(void)state;
	struct ucred mine = {getpid(), getuid(), getgid()}, gone = {0x3fffffff, getuid(), getgid()};
	assert_int_equal(bm_unix_can_send_as(&mine), 0);
	assert_true(bm_unix_can_send_as(&gone) < 0);
	assert_int_equal(bm_unix_fd_room(4), 0);
	assert_int_equal(bm_unix_fd_room(1u << 30), -EMFILE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_take_and_put_back),
		cmocka_unit_test(test_limit),
		cmocka_unit_test(test_credentials),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
