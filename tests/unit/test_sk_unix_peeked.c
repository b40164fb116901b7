/* Empty messages a process peeked (sk_unix_peeked.c): which ones the
 * walk and the taking tell apart, the image rule, and, on socket pairs of
 * this process, a queue walked, taken, written back and marked again that
 * shows every peek and read the same as before. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "sk_unix_peeked.h"

/* ---- what the walk and the taking tell ------------------------------------ */

/* A taken queue of the lengths LENS[0..n), from one writer. */
static struct bm_unix_taken taken_of(const uint32_t *lens, uint32_t n)
{
	struct bm_unix_taken t = {0};
	t.pieces = calloc(n, sizeof *t.pieces);
	assert_non_null(t.pieces);
	for (uint32_t i = 0; i < n; i++)
		t.pieces[i].len = lens[i];
	t.n = n;
	return t;
}

/* What FIND says of the taken LENS when the walk showed SHOWN. */
static int find(const uint32_t *lens, uint32_t n, const uint32_t *shown, uint32_t nshown, uint8_t *peeked)
{
	struct bm_unix_taken t = taken_of(lens, n);
	struct bm_unix_seen seen[16] = {0};
	for (uint32_t i = 0; i < nshown; i++)
		seen[i].len = shown[i];
	int rc = bm_unix_find_peeked(seen, nshown, &t, peeked);
	free(t.pieces);
	return rc;
}

static void test_find(void **state)
{
	(void)state;
	const uint32_t q[] = {5, 0, 0, 4, 0};
	uint8_t p[5];
	/* Nothing hidden. */
	assert_int_equal(find(q, 5, q, 5, p), 0);
	assert_memory_equal(p, ((uint8_t[]){0, 0, 0, 0, 0}), 5);
	/* The first empty message of the middle run hidden: it is the one. */
	assert_int_equal(find(q, 5, (uint32_t[]){5, 0, 4, 0}, 4, p), 0);
	assert_memory_equal(p, ((uint8_t[]){0, 1, 0, 0, 0}), 5);
	/* Every empty one hidden. */
	assert_int_equal(find(q, 5, (uint32_t[]){5, 4}, 2, p), 0);
	assert_memory_equal(p, ((uint8_t[]){0, 1, 1, 0, 1}), 5);
	/* A head run. */
	assert_int_equal(find((uint32_t[]){0, 0, 3}, 3, (uint32_t[]){0, 3}, 2, p), 0);
	assert_memory_equal(p, ((uint8_t[]){1, 0, 0}), 3);
	/* What cannot be: a non-empty message missing, one too many shown. */
	assert_int_equal(find(q, 5, (uint32_t[]){5, 0, 0, 0}, 4, p), -EPROTO);
	assert_int_equal(find(q, 5, (uint32_t[]){5, 0, 0, 0, 4, 0}, 6, p), -EPROTO);
	assert_int_equal(find(q, 5, (uint32_t[]){5, 0, 0, 4, 0, 7}, 6, p), -EPROTO);
	assert_int_equal(find(q, 5, (uint32_t[]){4, 0, 0, 4, 0}, 5, p), -EPROTO);
}

/* The image rule over LENS with PEEKED. */
static bool valid(const uint32_t *lens, const uint32_t *peeked, uint32_t n)
{
	bool may = true;
	for (uint32_t i = 0; i < n; i++)
		if (!bm_unix_peeked_step(&may, lens[i], peeked[i]))
			return false;
	return true;
}

static void test_rule(void **state)
{
	(void)state;
	const uint32_t q[] = {0, 0, 5, 0, 0, 0};
	assert_true(valid(q, (uint32_t[]){0, 0, 0, 0, 0, 0}, 6));
	assert_true(valid(q, (uint32_t[]){1, 1, 0, 1, 1, 0}, 6));
	assert_true(valid(q, (uint32_t[]){1, 0, 0, 1, 0, 0}, 6));
	assert_false(valid(q, (uint32_t[]){0, 1, 0, 0, 0, 0}, 6)); /* not first in its run */
	assert_false(valid(q, (uint32_t[]){0, 0, 0, 1, 0, 1}, 6));
	assert_false(valid(q, (uint32_t[]){0, 0, 1, 0, 0, 0}, 6)); /* not empty */
	assert_false(valid(q, (uint32_t[]){2, 0, 0, 0, 0, 0}, 6));
}

/* ---- on socket pairs -------------------------------------------------------- */

static void setint(int s, int name, int v)
{
	assert_int_equal(setsockopt(s, SOL_SOCKET, name, &v, sizeof v), 0);
}

/* "alpha,-,beta": what peeks from offset 0 show (marking what they show),
 * or, with TAKE, what reads take. */
static void show(int s, bool take, char *out, size_t n)
{
	out[0] = 0;
	for (int off = 0, i = 0; i < 32; i++) {
		char b[64];
		if (!take)
			setint(s, SO_PEEK_OFF, off);
		ssize_t got = recv(s, b, sizeof b - 1, (take ? 0 : MSG_PEEK) | MSG_DONTWAIT);
		if (got < 0)
			break;
		b[got] = 0;
		snprintf(out + strlen(out), n - strlen(out), "%s%s", out[0] ? "," : "", got ? b : "-");
		off += (int)got;
	}
	setint(s, SO_PEEK_OFF, -1);
}

/* A pair of TYPE whose receiver sv[1] holds alpha, -, -, beta, -, the
 * first empty message of the middle run marked by a peek at offset 5. */
static void fill(int type, int *sv)
{
	assert_int_equal(socketpair(AF_UNIX, type, 0, sv), 0);
	const char *msgs[] = {"alpha", "", "", "beta", ""};
	for (int i = 0; i < 5; i++)
		assert_int_equal(send(sv[0], msgs[i], strlen(msgs[i]), 0), (ssize_t)strlen(msgs[i]));
	char b[8];
	setint(sv[1], SO_PEEK_OFF, 5);
	assert_int_equal(recv(sv[1], b, sizeof b, MSG_PEEK | MSG_DONTWAIT), 0);
	setint(sv[1], SO_PEEK_OFF, -1);
}

static void round_trip(int type)
{
	int sv[2];
	fill(type, sv);
	setint(sv[1], SO_PASSCRED, 1);
	struct bm_unix_seen *seen;
	uint32_t nseen;
	assert_int_equal(bm_unix_walk_seen(sv[1], &seen, &nseen), 0);
	assert_int_equal(nseen, 4);
	setint(sv[1], SO_PEEK_OFF, -1);
	struct bm_unix_taken t = {0};
	assert_int_equal(bm_unix_take_messages(sv[1], (const uint8_t *)"", 0, &t), 0);
	assert_int_equal(t.n, 5);
	assert_int_equal(bm_unix_put_back(sv[0], sv[1], &t, NULL, 0, NULL, 0, 0), 0);
	uint8_t peeked[5];
	assert_int_equal(bm_unix_find_peeked(seen, nseen, &t, peeked), 0);
	assert_memory_equal(peeked, ((uint8_t[]){0, 1, 0, 0, 0}), 5);
	const uint32_t lens[] = {5, 0, 0, 4, 0};
	assert_int_equal(bm_unix_mark_peeked(sv[1], lens, peeked, 5), 0);
	setint(sv[1], SO_PASSCRED, 0);
	char out[128];
	show(sv[1], false, out, sizeof out);
	assert_string_equal(out, "alpha,-,beta,-");
	show(sv[1], true, out, sizeof out);
	assert_string_equal(out, "alpha,-,-,beta,-");
	free(seen);
	bm_unix_taken_free(&t);

	/* The same marks on a queue written anew (what the restore does). */
	int fresh[2];
	assert_int_equal(socketpair(AF_UNIX, type, 0, fresh), 0);
	const char *msgs[] = {"alpha", "", "", "beta", ""};
	for (int i = 0; i < 5; i++)
		assert_int_equal(send(fresh[0], msgs[i], strlen(msgs[i]), 0), (ssize_t)strlen(msgs[i]));
	assert_int_equal(bm_unix_mark_peeked(fresh[1], lens, peeked, 5), 0);
	int v = 7;
	socklen_t len = sizeof v;
	assert_int_equal(getsockopt(fresh[1], SOL_SOCKET, SO_PEEK_OFF, &v, &len), 0);
	assert_int_equal(v, -1);
	show(fresh[1], false, out, sizeof out);
	assert_string_equal(out, "alpha,-,beta,-");
	/* A mark the queue cannot take: the message there is not empty. */
	assert_int_equal(bm_unix_mark_peeked(fresh[1], (uint32_t[]){5}, (uint8_t[]){1}, 1), -EPROTO);
	for (int k = 0; k < 2; k++) {
		close(sv[k]);
		close(fresh[k]);
	}
}

/* A message whose descriptors binmig has no room for shows cut short:
 * the walk says so, which the dump refuses before taking anything. */
static void test_walk_no_room(void **state)
{
	(void)state;
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv), 0);
	union {
		struct cmsghdr align;
		char bytes[CMSG_SPACE(sizeof(int))];
	} control;
	memset(&control, 0, sizeof control);
	struct iovec iov = {(void *)"r", 1};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = &control, .msg_controllen = sizeof control};
	struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &sv[0], sizeof(int));
	assert_int_equal(sendmsg(sv[0], &mh, 0), 1);
	struct rlimit was, none;
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &was), 0);
	int lowest = fcntl(0, F_DUPFD, 0);
	assert_true(lowest >= 0);
	close(lowest);
	none = (struct rlimit){(rlim_t)lowest, was.rlim_max};
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &none), 0);
	struct bm_unix_seen *seen;
	uint32_t n;
	int rc = bm_unix_walk_seen(sv[1], &seen, &n);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &was), 0);
	assert_int_equal(rc, 0);
	assert_int_equal(n, 1);
	assert_true(seen[0].other);
	free(seen);
	close(sv[0]);
	close(sv[1]);
}

static void test_pairs(void **state)
{
	(void)state;
	round_trip(SOCK_DGRAM);
	round_trip(SOCK_SEQPACKET);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_find),
		cmocka_unit_test(test_rule),
		cmocka_unit_test(test_walk_no_room),
		cmocka_unit_test(test_pairs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
