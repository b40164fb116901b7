/* The TREE table of a tree image (tree_image.c): a tree with a session
 * leader, a group of its own, a zombie, stopped members and descriptions shared between
 * members goes through encode and decode unchanged; every truncation and
 * every damaged byte is refused or decodes to a table the rules accept,
 * never read beyond its bytes (ASan watches); the rules themselves: a
 * zombie's status, states and stop reports, share order and members, a shape the planner
 * cannot build; what members share with their parents (version 7), and a version 6 table; exit
 * signals and a zombie's own credentials, signal sets and CPU affinity (version 11), and a version 10
 * table; sessions and groups whose leaders had exited (version 12), and a version 11 table. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tree.h"
#include "wire.h"

/* 100 (root, session leader) -> 101 (own group), 102 (zombie, exit 42,
 * no exit signal, its own credentials), 103 (setsid, exit signal
 * SIGUSR1), 101 -> 104; 100 and 101 share fd 3, 101 and 104 fd 5. */
#define ZCREDS { { { 65533, 65534, 65535, 65532 }, { 65530, 65531, 65532, 65529 }, 2, { 100, 65534 }, 1, 3, 2, 0xff, 0 }, 4242, 0x200, 0x1000, 0x4000, 0x200, 0, 0, 1, { 1 } }
static struct bm_tree_node nodes[] = {
	{ 100, 1, 100, 100, BM_TREE_LIVE, 0, 0, "root", 0, SIGCHLD, 0, { { { 0 } } } },
	{ 101, 100, 101, 100, BM_TREE_LIVE, 0, 0, "group", 0, SIGCHLD, 0, { { { 0 } } } },
	{ 102, 100, 100, 100, BM_TREE_ZOMBIE, 42 << 8, 0, "zombie", 0, 0, 1, ZCREDS },
	{ 103, 100, 103, 103, BM_TREE_LIVE, 0, 0, "leader", 0, SIGUSR1, 0, { { { 0 } } } },
	{ 104, 101, 101, 100, BM_TREE_LIVE, 0, 0, "grandchild", 0, SIGCHLD, 0, { { { 0 } } } },
};
static struct bm_tree_share shares[] = { { 0, 3, 0 }, { 1, 3, 0 }, { 1, 5, 1 }, { 4, 5, 1 } };

static struct bm_tree_image sample(void)
{
	return (struct bm_tree_image){ { nodes, 5 }, shares, 4 };
}

static uint8_t *encode(const struct bm_tree_image *ti, size_t *len)
{
	struct bm_wbuf b;
	bm_wbuf_init(&b);
	assert_int_equal(bm_tree_encode(&b, ti), 0);
	*len = b.len;
	return b.data;
}

/* The size of node n as version 11 wrote it, as version 12 does (the
 * leaders gone at its end), and the first 48 bytes, all version 10 had. */
static size_t node_size_v11(const struct bm_tree_node *n)
{
	return 52 + (n->state == BM_TREE_ZOMBIE ? 128 + 4 * n->creds.ids.ngroups + n->creds.affinity_len : 0);
}

static size_t node_size_v12(const struct bm_tree_node *n)
{
	return node_size_v11(n) + 4;
}

static size_t node_size_v10(const struct bm_tree_node *n)
{
	(void)n;
	return 48;
}

/* The table newer (malloc'd, freed) with each node cut from was(n) bytes
 * to its first kept(n). */
static uint8_t *shorten(const struct bm_tree_image *ti, uint8_t *newer, size_t newer_len,
			size_t (*was)(const struct bm_tree_node *), size_t (*kept)(const struct bm_tree_node *),
			size_t *len)
{
	uint8_t *older = malloc(newer_len);
	assert_non_null(older);
	size_t in = 8, out = 8;
	memcpy(older, newer, 8); /* mark and count */
	for (uint32_t i = 0; i < ti->tree.n; i++) {
		memcpy(older + out, newer + in, kept(&ti->tree.nodes[i]));
		in += was(&ti->tree.nodes[i]);
		out += kept(&ti->tree.nodes[i]);
	}
	memcpy(older + out, newer + in, newer_len - in);
	*len = out + newer_len - in;
	free(newer);
	return older;
}

/* The table as version 11 wrote it: each node without the 4 bytes of its
 * leaders gone at its end. */
static uint8_t *encode_v11(const struct bm_tree_image *ti, size_t *len)
{
	size_t v12len;
	uint8_t *v12 = encode(ti, &v12len);
	return shorten(ti, v12, v12len, node_size_v12, node_size_v11, len);
}

/* The table as version 10 wrote it: each node without the 4 bytes of its
 * exit signal after its first 48, nor a zombie's credentials after those. */
static uint8_t *encode_v10(const struct bm_tree_image *ti, size_t *len)
{
	size_t v11len;
	uint8_t *v11 = encode_v11(ti, &v11len);
	return shorten(ti, v11, v11len, node_size_v11, node_size_v10, len);
}

/* What a version 10 table of n[0..5) reads as: every member exits with
 * SIGCHLD, a zombie with its parent's credentials. */
static void as_v10(struct bm_tree_node *n)
{
	for (int i = 0; i < 5; i++) {
		n[i].exit_signal = SIGCHLD;
		n[i].has_creds = 0;
		memset(&n[i].creds, 0, sizeof n[i].creds);
	}
}

static void test_round_trip(void **state)
{
	(void)state;
	struct bm_tree_image in = sample(), out;
	size_t len;
	uint8_t *data = encode(&in, &len);
	char why[256] = "";
	assert_int_equal(bm_tree_decode(data, len, BM_IMAGE_VERSION, &out, why, sizeof why), 0);
	assert_int_equal(out.tree.n, 5);
	assert_memory_equal(out.tree.nodes, nodes, sizeof nodes);
	assert_int_equal(out.nshares, 4);
	assert_memory_equal(out.shares, shares, sizeof shares);
	assert_int_equal(bm_tree_live_count(&out.tree), 4);
	bm_tree_image_free(&out);
	free(data);
}

/* Whether the table with n decodes as version. */
static bool decodes(struct bm_tree_node *n, uint32_t version)
{
	struct bm_tree_image in = { { n, 5 }, shares, 4 }, out;
	size_t len;
	uint8_t *data = version >= 11 ? encode(&in, &len) : encode_v10(&in, &len);
	char why[256] = "";
	int rc = bm_tree_decode(data, len, version, &out, why, sizeof why);
	if (rc == 0)
		bm_tree_image_free(&out);
	free(data);
	return rc == 0;
}

/* Stopped members, one with its stop uncollected, with the signals of
 * their stops (version 10): carried as they are, and live members still.
 * Read as version 9, a stop is SIGSTOP's; from version 10 a stopped
 * member's status must be a stop by SIGSTOP, SIGTSTP, SIGTTIN or SIGTTOU,
 * a running one's 0. */
static void test_stopped(void **state)
{
	(void)state;
	struct bm_tree_node n[5];
	memcpy(n, nodes, sizeof n);
	n[1].state = BM_TREE_STOPPED;
	n[1].exit_status = (SIGTTIN << 8) | 0x7f;
	n[3].state = BM_TREE_STOPPED;
	n[3].exit_status = (SIGTSTP << 8) | 0x7f;
	n[3].reports = BM_TREE_REPORT_STOPPED;
	struct bm_tree_image in = { { n, 5 }, shares, 4 }, out;
	size_t len;
	uint8_t *data = encode(&in, &len);
	char why[256] = "";
	assert_int_equal(bm_tree_decode(data, len, BM_IMAGE_VERSION, &out, why, sizeof why), 0);
	assert_memory_equal(out.tree.nodes, n, sizeof n);
	assert_int_equal(bm_tree_live_count(&out.tree), 4);
	bm_tree_image_free(&out);
	free(data);

	n[1].exit_status = n[3].exit_status = 0;
	data = encode_v10(&in, &len);
	assert_int_equal(bm_tree_decode(data, len, 9, &out, why, sizeof why), 0);
	assert_int_equal(out.tree.nodes[1].exit_status, (SIGSTOP << 8) | 0x7f);
	assert_int_equal(out.tree.nodes[3].exit_status, (SIGSTOP << 8) | 0x7f);
	bm_tree_image_free(&out);
	free(data);
	assert_false(decodes(n, 10));
	n[1].exit_status = n[3].exit_status = (SIGTTOU << 8) | 0x7f;
	assert_true(decodes(n, 10));
	n[1].exit_status = (SIGUSR1 << 8) | 0x7f;
	assert_false(decodes(n, 10));
	n[1].exit_status = SIGTSTP << 8;
	assert_false(decodes(n, 10));
	n[1].exit_status = (SIGSTOP << 8) | 0x7f;
	n[0].exit_status = (SIGSTOP << 8) | 0x7f; /* the running root */
	assert_false(decodes(n, 10));
	assert_true(decodes(n, 9));
}

/* Members sharing their parent's descriptor table or cwd (version 7):
 * carried as they are. */
static void test_shares(void **state)
{
	(void)state;
	struct bm_tree_node n[5];
	memcpy(n, nodes, sizeof n);
	n[1].shares = BM_TREE_SHARES_FILES | BM_TREE_SHARES_FS;
	n[4].shares = BM_TREE_SHARES_FILES;
	struct bm_tree_image in = { { n, 5 }, shares, 4 }, out;
	size_t len;
	uint8_t *data = encode(&in, &len);
	char why[256] = "";
	assert_int_equal(bm_tree_decode(data, len, BM_IMAGE_VERSION, &out, why, sizeof why), 0);
	assert_memory_equal(out.tree.nodes, n, sizeof n);
	bm_tree_image_free(&out);
	/* Read as version 6, whose nodes are 4 bytes shorter: refused. */
	assert_true(bm_tree_decode(data, len, 6, &out, why, sizeof why) < 0);
	free(data);
}

/* The table as version 6 wrote it: each node without the 4 bytes of its
 * shares, which follow the 28 bytes of pid .. reports. */
static uint8_t *encode_v6(const struct bm_tree_image *ti, size_t *len)
{
	size_t v7len;
	uint8_t *v7 = encode_v10(ti, &v7len), *v6 = malloc(v7len);
	assert_non_null(v6);
	size_t in = 8, out = 8;
	memcpy(v6, v7, 8); /* mark and count */
	for (uint32_t i = 0; i < ti->tree.n; i++, in += 48, out += 44) {
		memcpy(v6 + out, v7 + in, 28);
		memcpy(v6 + out + 28, v7 + in + 32, 16);
	}
	memcpy(v6 + out, v7 + in, v7len - in);
	*len = out + v7len - in;
	free(v7);
	return v6;
}

/* The sample as an older version wrote it (data, len) reads as version
 * old: every member exits with SIGCHLD, a zombie has no credentials of
 * its own (it takes its parent's), nobody shares with a parent that
 * version 6 did not know of; read as the next version, refused. */
static void reads_as_old(uint8_t *data, size_t len, uint32_t old)
{
	struct bm_tree_image out;
	char why[256] = "";
	assert_int_equal(bm_tree_decode(data, len, old, &out, why, sizeof why), 0);
	struct bm_tree_node want[5];
	memcpy(want, nodes, sizeof want);
	if (old < 11)
		as_v10(want);
	assert_memory_equal(out.tree.nodes, want, sizeof want);
	assert_memory_equal(out.shares, shares, sizeof shares);
	bm_tree_image_free(&out);
	assert_true(bm_tree_decode(data, len, old + 1, &out, why, sizeof why) < 0);
	free(data);
}

/* Versions 6, 10 and 11 (which had no leaders gone). */
static void test_old_versions(void **state)
{
	(void)state;
	const struct { uint32_t version; uint8_t *(*encode)(const struct bm_tree_image *, size_t *); } old[] = {
		{ 6, encode_v6 }, { 10, encode_v10 }, { 11, encode_v11 } };
	for (size_t k = 0; k < sizeof old / sizeof *old; k++) {
		struct bm_tree_image in = sample();
		size_t len;
		uint8_t *data = old[k].encode(&in, &len);
		reads_as_old(data, len, old[k].version);
	}
}

/* Two more children of the root in session 200, whose leader had exited,
 * one in group 200 and one in group 201, whose leader had exited too
 * (version 12): carried as they are.  A mark on the root, on an ID a
 * member has as its PID, or an unknown bit: refused. */
static void test_leaders_gone(void **state)
{
	(void)state;
	struct bm_tree_node n[7];
	memcpy(n, nodes, sizeof nodes);
	n[5] = (struct bm_tree_node){ 105, 100, 200, 200, BM_TREE_LIVE, 0, 0, "x", 0, SIGCHLD, 0, { { { 0 } } },
				       BM_TREE_GONE_SID | BM_TREE_GONE_PGID };
	n[6] = (struct bm_tree_node){ 106, 100, 201, 200, BM_TREE_LIVE, 0, 0, "y", 0, SIGCHLD, 0, { { { 0 } } },
				       BM_TREE_GONE_SID | BM_TREE_GONE_PGID };
	struct bm_tree_image in = { { n, 7 }, shares, 4 }, out;
	size_t len;
	uint8_t *data = encode(&in, &len);
	char why[256] = "";
	assert_int_equal(bm_tree_decode(data, len, BM_IMAGE_VERSION, &out, why, sizeof why), 0);
	assert_memory_equal(out.tree.nodes, n, sizeof n);
	bm_tree_image_free(&out);
	free(data);
	const struct { uint32_t node, gone; const char *why; } bad[] = {
		{ 0, BM_TREE_GONE_SID, "leaders gone 0x1" },
		{ 5, 4 | BM_TREE_GONE_SID | BM_TREE_GONE_PGID, "leaders gone 0x7" },
		{ 1, BM_TREE_GONE_PGID, "group 101 is marked as led by a process gone, which it is not" },
		{ 6, BM_TREE_GONE_PGID, "session 200 is marked as led by a process gone in one only" },
	};
	for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
		uint32_t was = n[bad[k].node].gone;
		n[bad[k].node].gone = bad[k].gone;
		data = encode(&in, &len);
		why[0] = 0;
		assert_true(bm_tree_decode(data, len, BM_IMAGE_VERSION, &out, why, sizeof why) < 0);
		if (!strstr(why, bad[k].why))
			fail_msg("reason '%s' lacks '%s'", why, bad[k].why);
		free(data);
		n[bad[k].node].gone = was;
	}
}

static void test_truncated_and_damaged(void **state)
{
	(void)state;
	struct bm_tree_image in = sample(), out;
	size_t len;
	uint8_t *data = encode(&in, &len);
	char why[256];
	/* Every cut short: refused, each with a reason. */
	for (size_t cut = 0; cut < len; cut++) {
		uint8_t *part = malloc(cut ? cut : 1);
		memcpy(part, data, cut);
		why[0] = 0;
		assert_true(bm_tree_decode(part, cut, BM_IMAGE_VERSION, &out, why, sizeof why) < 0);
		assert_true(why[0] != 0);
		free(part);
	}
	/* Longer than its table: refused. */
	uint8_t *more = malloc(len + 1);
	memcpy(more, data, len);
	more[len] = 0;
	assert_true(bm_tree_decode(more, len + 1, BM_IMAGE_VERSION, &out, why, sizeof why) < 0);
	free(more);
	/* Every byte changed: refused, or a table the rules accept (a pid,
	 * a name), never anything read outside. */
	uint8_t *copy = malloc(len);
	for (size_t at = 0; at < len; at++)
		for (int bit = 0; bit < 8; bit += 3) {
			memcpy(copy, data, len);
			copy[at] ^= (uint8_t)(1u << bit);
			if (bm_tree_decode(copy, len, BM_IMAGE_VERSION, &out, why, sizeof why) == 0) {
				assert_true(out.tree.n >= 1 && out.tree.n <= 5);
				bm_tree_image_free(&out);
			}
		}
	free(copy);
	free(data);
}

/* Decoding IN must fail with a reason containing EXPECT. */
static void refused(const struct bm_tree_image *in, const char *expect)
{
	size_t len;
	uint8_t *data = encode(in, &len);
	struct bm_tree_image out;
	char why[256] = "";
	assert_true(bm_tree_decode(data, len, BM_IMAGE_VERSION, &out, why, sizeof why) < 0);
	if (!strstr(why, expect))
		fail_msg("reason '%s' lacks '%s'", why, expect);
	free(data);
}

static void test_rules(void **state)
{
	(void)state;
	struct bm_tree_node n[5];
	struct bm_tree_share s[4];
	struct bm_tree_image ti = { { n, 5 }, s, 4 };

	memcpy(n, nodes, sizeof n), memcpy(s, shares, sizeof s);
	n[2].exit_status = 0x7f; /* a stop, not an exit */
	refused(&ti, "is not an exit");

	memcpy(n, nodes, sizeof n);
	n[1].state = 7;
	refused(&ti, "state 7");

	memcpy(n, nodes, sizeof n);
	n[1].reports = BM_TREE_REPORT_STOPPED; /* a stop report of a running process */
	refused(&ti, "reports 0x1");

	memcpy(n, nodes, sizeof n);
	n[1].state = BM_TREE_STOPPED;
	n[1].reports = BM_TREE_REPORT_CONTINUED; /* never written: refused at dump */
	refused(&ti, "reports 0x2");

	memcpy(n, nodes, sizeof n);
	n[0].shares = BM_TREE_SHARES_FS; /* the root's parent is not moved */
	refused(&ti, "shares 0x2");

	memcpy(n, nodes, sizeof n);
	n[2].shares = BM_TREE_SHARES_FILES; /* a zombie has no table */
	refused(&ti, "shares 0x1");

	memcpy(n, nodes, sizeof n);
	n[1].shares = 4; /* no such object */
	refused(&ti, "shares 0x4");

	memcpy(n, nodes, sizeof n);
	s[1] = (struct bm_tree_share){ 2, 3, 0 }; /* the zombie holds nothing */
	refused(&ti, "not a descriptor of a live member");

	memcpy(s, shares, sizeof s);
	s[0] = shares[2], s[2] = shares[0];
	refused(&ti, "out of order");

	memcpy(s, shares, sizeof s);
	n[4].ppid = 999; /* a parent outside the tree, below the root */
	size_t len;
	uint8_t *data = encode(&ti, &len);
	struct bm_tree_image out;
	char why[256] = "";
	assert_int_equal(bm_tree_decode(data, len, BM_IMAGE_VERSION, &out, why, sizeof why), -EBADMSG);
	assert_true(why[0] != 0);
	free(data);

	memcpy(n, nodes, sizeof n);
	n[1].exit_signal = 65; /* no such signal */
	refused(&ti, "exit signal 65");
	n[1].exit_signal = -1; /* a thread's */
	refused(&ti, "exit signal -1");

	memcpy(n, nodes, sizeof n);
	n[2].creds.ids.cap_eff = 0x4; /* effective beyond permitted */
	refused(&ti, "capabilities no process has");
	n[2].creds.ids.cap_eff = 0;
	n[2].creds.ids.cap_amb = 0x2; /* ambient beyond inheritable */
	refused(&ti, "capabilities no process has");

	memcpy(n, nodes, sizeof n);
	n[2].creds.sig_blk |= 1ULL << (SIGKILL - 1); /* never blocked */
	refused(&ti, "signal sets no process has");
	memcpy(n, nodes, sizeof n);
	n[2].creds.sig_ign = n[2].creds.sig_cgt; /* ignored and caught at once */
	refused(&ti, "signal sets no process has");

	memcpy(n, nodes, sizeof n);
	n[2].creds.affinity_len = 0; /* no CPU at all */
	refused(&ti, "CPU affinity");
	memcpy(n, nodes, sizeof n);
	n[2].creds.affinity_all = 1; /* every CPU, and a mask */
	refused(&ti, "CPU affinity");

	memcpy(n, nodes, sizeof n);
	struct bm_tree_image none = { { n, 0 }, NULL, 0 };
	refused(&none, "a tree of no process");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_stopped),
		cmocka_unit_test(test_shares),
		cmocka_unit_test(test_old_versions),
		cmocka_unit_test(test_leaders_gone),
		cmocka_unit_test(test_truncated_and_damaged),
		cmocka_unit_test(test_rules),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
