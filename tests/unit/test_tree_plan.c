/* tree_plan.c: every plan is replayed here under the kernel's rules (a
 * second, independent model of fork, setsid and setpgid) and must end
 * with each process in its session and group; trees that cannot be built
 * are refused with a reason. */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <stddef.h>
#include <cmocka.h>

#include "tree_plan.h"

#define OUTER_SID 1     /* the restorer's session and group in the replay */
#define OUTER_PGID 1
#define MAXN 64

struct replay {
	int32_t sid[MAXN], pgid[MAXN];
	int32_t parent[MAXN];
	int created[MAXN], exited[MAXN];
};

static int find(const struct bm_tree *t, int32_t pid)
{
	for (uint32_t i = 0; i < t->n; i++)
		if (t->nodes[i].pid == pid)
			return (int)i;
	return -1;
}

static int group_alive(const struct replay *r, const struct bm_tree *t, int32_t g, int32_t s)
{
	if (g == OUTER_PGID)
		return s == OUTER_SID;
	for (uint32_t i = 0; i < t->n; i++)
		if (r->created[i] && r->pgid[i] == g && r->sid[i] == s)
			return 1;
	return 0;
}

/* Replays the steps; fails the test on a step the kernel would refuse. */
static void replay(const struct bm_tree *t, const struct bm_tree_step *s, size_t n, struct replay *r)
{
	memset(r, 0, sizeof *r);
	r->created[0] = 1;
	r->sid[0] = OUTER_SID;
	r->pgid[0] = OUTER_PGID;
	r->parent[0] = -1;
	for (size_t k = 0; k < n; k++) {
		uint32_t a = s[k].actor;
		assert_true(a < t->n);
		assert_true(r->created[a] && !r->exited[a]);
		int32_t pid = t->nodes[a].pid;
		switch (s[k].op) {
		case BM_TREE_FORK: {
			int c = s[k].arg;
			assert_true(c > 0 && (uint32_t)c < t->n && !r->created[c]);
			assert_int_equal(t->nodes[c].ppid, pid);
			r->created[c] = 1;
			r->parent[c] = (int32_t)a;
			r->sid[c] = r->sid[a];
			r->pgid[c] = r->pgid[a];
			break;
		}
		case BM_TREE_SETSID:
			/* EPERM for a group leader (any process in a group with its id). */
			for (uint32_t i = 0; i < t->n; i++)
				assert_false(r->created[i] && r->pgid[i] == pid);
			r->sid[a] = r->pgid[a] = pid;
			break;
		case BM_TREE_SETPGID: {
			int32_t g = s[k].arg == BM_TREE_OUTER_GROUP ? OUTER_PGID : s[k].arg;
			assert_true(r->sid[a] != pid); /* a session leader cannot */
			assert_true(g == pid || group_alive(r, t, g, r->sid[a]));
			r->pgid[a] = g;
			break;
		}
		case BM_TREE_EXIT:
			assert_int_equal(t->nodes[a].state, BM_TREE_ZOMBIE);
			assert_int_equal(s[k].arg, t->nodes[a].exit_status);
			r->exited[a] = 1;
			break;
		default:
			fail_msg("unknown step %u", s[k].op);
		}
	}
}

/* A node value as the replay has it: led from outside = the outer one. */
static int32_t outer_or(const struct bm_tree *t, int32_t v, int32_t outer)
{
	return find(t, v) < 0 ? outer : v;
}

static void plan_ok(const struct bm_tree *t)
{
	struct bm_tree_step *s;
	size_t n;
	char why[256] = "";
	int rc = bm_tree_plan(t, &s, &n, why, sizeof why);
	if (rc != 0) {
		for (uint32_t i = 0; i < t->n; i++)
			print_message("  {%d, %d, %d, %d, %u, %d}\n", t->nodes[i].pid, t->nodes[i].ppid, t->nodes[i].pgid,
				      t->nodes[i].sid, t->nodes[i].state, t->nodes[i].exit_status);
		fail_msg("refused: %s", why);
	}
	struct replay r;
	replay(t, s, n, &r);
	for (uint32_t i = 0; i < t->n; i++) {
		const struct bm_tree_node *nd = &t->nodes[i];
		assert_true(r.created[i]);
		if (i > 0)
			assert_int_equal(t->nodes[r.parent[i]].pid, nd->ppid);
		assert_int_equal(r.sid[i], outer_or(t, nd->sid, OUTER_SID));
		assert_int_equal(r.pgid[i], outer_or(t, nd->pgid, OUTER_PGID));
		assert_int_equal(r.exited[i], nd->state == BM_TREE_ZOMBIE);
	}
	free(s);
}

static void plan_refused(const struct bm_tree *t, const char *reason)
{
	struct bm_tree_step *s = (void *)1;
	size_t n = 99;
	char why[256] = "";
	assert_int_equal(bm_tree_plan(t, &s, &n, why, sizeof why), -EINVAL);
	assert_null(s);
	assert_int_equal(n, 0);
	if (!strstr(why, reason))
		fail_msg("reason \"%s\", expected \"%s\"", why, reason);
}

#define TREE(...)                                                                                                  \
	struct bm_tree_node nodes_[] = {__VA_ARGS__};                                                              \
	struct bm_tree t = {nodes_, sizeof nodes_ / sizeof nodes_[0]}

/* {pid, ppid, pgid, sid, state, exit_status} */

static void test_single(void **state)
{
	(void)state;
	{
		TREE({100, 1, 50, 40, 0, 0});
		struct bm_tree_step *s;
		size_t n;
		char why[64];
		assert_int_equal(bm_tree_plan(&t, &s, &n, why, sizeof why), 0);
		assert_int_equal(n, 0); /* the root stays in the outer session and group */
		free(s);
	}
	{
		TREE({100, 1, 100, 100, 0, 0}); /* a daemon: its own session */
		plan_ok(&t);
	}
	{
		TREE({100, 1, 100, 40, 0, 0}); /* its own group in the outer session */
		plan_ok(&t);
	}
}

/* sh -c 'a | b | c': the children share the shell's session and group. */
static void test_pipeline(void **state)
{
	(void)state;
	TREE({10, 1, 7, 7, 0, 0}, {11, 10, 7, 7, 0, 0}, {12, 10, 7, 7, 0, 0}, {13, 10, 7, 7, 0, 0});
	plan_ok(&t);
}

/* An interactive shell: its own session, one group per job, a job's
 * second process joining the first's group, a stopped job. */
static void test_job_control(void **state)
{
	(void)state;
	TREE({10, 1, 10, 10, 0, 0}, {11, 10, 11, 10, 0, 0}, {12, 10, 11, 10, 0, 0}, {13, 10, 13, 10, 1, 0},
	     {14, 10, 10, 10, 0, 0});
	plan_ok(&t);
}

/* A daemon's double fork, and a child that keeps the session its parent
 * had before that parent called setsid. */
static void test_sessions(void **state)
{
	(void)state;
	{
		TREE({10, 1, 5, 5, 0, 0}, {11, 10, 11, 11, 0, 0}, {12, 11, 11, 11, 0, 0}, {13, 12, 13, 11, 0, 0});
		plan_ok(&t);
	}
	{
		/* 10 forked 11, then made its own session: 11 is in the outer one. */
		TREE({10, 1, 10, 10, 0, 0}, {11, 10, 5, 5, 0, 0}, {12, 10, 10, 10, 0, 0});
		plan_ok(&t);
	}
	{
		/* 11 forked 12 in its old group 10, then created group 11. */
		TREE({10, 1, 10, 10, 0, 0}, {11, 10, 11, 10, 0, 0}, {12, 11, 10, 10, 0, 0});
		plan_ok(&t);
	}
}

/* A leader that created a group, let a child join it, and moved back to
 * its parent's group; a zombie leader whose group lives on. */
static void test_groups_and_zombies(void **state)
{
	(void)state;
	{
		TREE({10, 1, 10, 10, 0, 0}, {11, 10, 10, 10, 0, 0}, {12, 11, 11, 10, 0, 0});
		plan_ok(&t);
	}
	{
		TREE({10, 1, 10, 10, 0, 0}, {11, 10, 11, 10, 2, 256 * 3}, {12, 10, 11, 10, 0, 0},
		     {13, 10, 10, 10, 2, 9 /* killed by SIGKILL */});
		plan_ok(&t);
	}
}

/* A wide tree: 8 children of the root, each with two of its own. */
static void test_wide(void **state)
{
	(void)state;
	struct bm_tree_node nodes[1 + 8 + 16];
	uint32_t n = 0;
	nodes[n++] = (struct bm_tree_node){100, 1, 100, 100, 0, 0, 0};
	for (int i = 0; i < 8; i++)
		nodes[n++] = (struct bm_tree_node){200 + i, 100, i % 2 ? 200 + i : 100, 100, 0, 0, 0};
	for (int i = 0; i < 16; i++)
		nodes[n++] = (struct bm_tree_node){300 + i, 200 + i / 2, i % 3 ? 200 + i / 2 : 100, 100, 0, 0, 0};
	/* A group whose leader is a child of the root; members elsewhere must be
	 * in the same session: all are here. */
	struct bm_tree t = {nodes, n};
	for (uint32_t i = 0; i < n; i++)
		if (find(&t, nodes[i].pgid) < 0 || nodes[find(&t, nodes[i].pgid)].pgid != nodes[i].pgid)
			nodes[i].pgid = 100; /* keep only groups whose leader is in them */
	plan_ok(&t);
}

/* Trees the kernel itself produced: random forks, setsids, setpgids and
 * exits run under the replay's rules from a root in the outer session.
 * Every such tree must be planned, and the plan must rebuild it. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;
static uint32_t rnd(uint32_t n)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state % n);
}

static void test_random_histories(void **state)
{
	(void)state;
	for (int round = 0; round < 20000; round++) {
		struct bm_tree_node nodes[MAXN];
		int has_child[MAXN] = {0};
		uint32_t n = 1;
		nodes[0] = (struct bm_tree_node){100, 1, OUTER_PGID, OUTER_SID, 0, 0, 0};
		int ops = 1 + (int)rnd(40);
		for (int k = 0; k < ops; k++) {
			uint32_t a = rnd(n);
			struct bm_tree_node *x = &nodes[a];
			if (x->state == BM_TREE_ZOMBIE)
				continue;
			switch (rnd(5)) {
			case 0:
			case 1: /* fork */
				if (n < MAXN) {
					nodes[n] = (struct bm_tree_node){100 + (int32_t)n, x->pid, x->pgid, x->sid, 0, 0, 0};
					has_child[a] = 1;
					n++;
				}
				break;
			case 2: { /* setsid: not for a group leader */
				int leader = 0;
				for (uint32_t i = 0; i < n; i++)
					leader |= nodes[i].pgid == x->pid;
				if (!leader)
					x->sid = x->pgid = x->pid;
				break;
			}
			case 3: { /* setpgid: own, or a group of the same session */
				if (x->sid == x->pid)
					break;
				uint32_t b = rnd(n);
				int32_t g = rnd(2) ? x->pid : nodes[b].pgid;
				int alive = g == x->pid || (g == OUTER_PGID && x->sid == OUTER_SID);
				for (uint32_t i = 0; i < n; i++)
					alive |= nodes[i].pgid == g && nodes[i].sid == x->sid;
				if (alive)
					x->pgid = g;
				break;
			}
			case 4: /* a childless process exits and stays a zombie */
				if (a > 0 && !has_child[a])
					*x = (struct bm_tree_node){x->pid, x->ppid, x->pgid, x->sid, BM_TREE_ZOMBIE,
								   (int32_t)rnd(256) << 8, 0};
				break;
			}
		}
		struct bm_tree t = {nodes, n};
		plan_ok(&t);
	}
}

static void test_refused(void **state)
{
	(void)state;
	{
		/* 12's session is led by 11, which is not its ancestor. */
		TREE({10, 1, 5, 5, 0, 0}, {11, 10, 11, 11, 0, 0}, {12, 10, 11, 11, 0, 0});
		plan_refused(&t, "cannot be put back in session 11");
	}
	{
		TREE({10, 1, 5, 5, 0, 0}, {11, 10, 5, 5, 2, 0}, {12, 11, 5, 5, 0, 0});
		plan_refused(&t, "zombie 11 has a child 12");
	}
	{
		TREE({10, 1, 5, 5, 0, 0}, {12, 11, 5, 5, 0, 0}, {11, 10, 5, 5, 0, 0});
		plan_refused(&t, "its parent 11 is not before it");
	}
	{
		TREE({10, 1, 5, 5, 0, 0}, {11, 10, 6, 6, 0, 0});
		plan_refused(&t, "both led from outside the tree");
	}
	{
		TREE({10, 1, 5, 5, 0, 0}, {11, 10, 6, 5, 0, 0});
		plan_refused(&t, "outer group only");
	}
	{
		TREE({10, 1, 5, 5, 2, 0});
		plan_refused(&t, "the root 10 is a zombie");
	}
	{
		TREE({10, 1, 5, 5, 0, 0}, {10, 10, 5, 5, 0, 0});
		plan_refused(&t, "appears twice");
	}
	{
		/* 12 in group 11 of another session (11 leads session 11). */
		TREE({10, 1, 10, 10, 0, 0}, {11, 10, 11, 11, 0, 0}, {12, 10, 11, 10, 0, 0});
		plan_refused(&t, "cannot join process group 11");
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_single),      cmocka_unit_test(test_pipeline),
		cmocka_unit_test(test_job_control), cmocka_unit_test(test_sessions),
		cmocka_unit_test(test_groups_and_zombies), cmocka_unit_test(test_wide),
		cmocka_unit_test(test_random_histories), cmocka_unit_test(test_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
