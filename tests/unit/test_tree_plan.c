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
#include "tree_standin.h"

#define OUTER_SID 1     /* the restorer's session and group in the replay */
#define OUTER_PGID 1
#define MAXN 64

/* Nodes 0..n-1 are the tree's, then its stand-ins (tree_standin.h). */
struct replay {
	int32_t sid[2 * MAXN], pgid[2 * MAXN];
	int32_t parent[2 * MAXN];
	int created[2 * MAXN], exited[2 * MAXN], reaped[2 * MAXN];
	struct bm_tree_node *sn;
	uint32_t ns;
};

static const struct bm_tree_node *node(const struct bm_tree *t, const struct replay *r, uint32_t i)
{
	return i < t->n ? &t->nodes[i] : &r->sn[i - t->n];
}

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
	for (uint32_t i = 0; i < t->n + r->ns; i++)
		if (r->created[i] && !(i >= t->n && r->exited[i]) && r->pgid[i] == g && r->sid[i] == s)
			return 1;
	return 0;
}

/* Replays the steps; fails the test on a step the kernel would refuse. */
static void replay(const struct bm_tree *t, const struct bm_tree_step *s, size_t n, struct replay *r)
{
	struct bm_tree_node *sn = r->sn;
	uint32_t ns = r->ns;
	memset(r, 0, sizeof *r);
	r->sn = sn;
	r->ns = ns;
	r->created[0] = 1;
	r->sid[0] = OUTER_SID;
	r->pgid[0] = OUTER_PGID;
	r->parent[0] = -1;
	for (size_t k = 0; k < n; k++) {
		uint32_t a = s[k].actor;
		assert_true(a < t->n + r->ns);
		assert_true(r->created[a] && !r->exited[a]);
		int32_t pid = node(t, r, a)->pid;
		switch (s[k].op) {
		case BM_TREE_FORK: {
			int c = s[k].arg;
			assert_true(c > 0 && (uint32_t)c < t->n + r->ns && !r->created[c]);
			/* A stand-in's children are its parent's (CLONE_PARENT). */
			int32_t by = a < t->n ? (int32_t)a : r->parent[a];
			assert_int_equal(node(t, r, (uint32_t)c)->ppid, node(t, r, (uint32_t)by)->pid);
			r->created[c] = 1;
			r->parent[c] = by;
			r->sid[c] = r->sid[a];
			r->pgid[c] = r->pgid[a];
			break;
		}
		case BM_TREE_SETSID:
			/* EPERM for a group leader (any process in a group with its id). */
			for (uint32_t i = 0; i < t->n + r->ns; i++)
				assert_false(r->created[i] && !(i >= t->n && r->exited[i]) && r->pgid[i] == pid);
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
			assert_int_equal(node(t, r, a)->state, a < t->n ? BM_TREE_ZOMBIE : BM_TREE_STANDIN);
			if (a < t->n)
				assert_int_equal(s[k].arg, t->nodes[a].exit_status);
			/* A stand-in's children exist, each in its group. */
			for (uint32_t c = 0; a >= t->n && c < t->n; c++)
				if (t->nodes[c].sid == node(t, r, a)->pid || t->nodes[c].pgid == node(t, r, a)->pid)
					assert_true(r->created[c] && r->pgid[c] == t->nodes[c].pgid);
			r->exited[a] = 1;
			break;
		case BM_TREE_REAP: {
			uint32_t c = (uint32_t)s[k].arg;
			assert_true(c >= t->n && c < t->n + r->ns && r->exited[c] && !r->reaped[c]);
			assert_int_equal(r->parent[c], (int32_t)a);
			r->reaped[c] = 1;
			break;
		}
		default:
			fail_msg("unknown step %u", s[k].op);
		}
	}
}

/* A node value as the replay has it: led from outside = the outer one;
 * led by a process gone = itself. */
static int32_t outer_or(const struct bm_tree *t, int32_t v, int32_t outer, int gone)
{
	return find(t, v) < 0 && !gone ? outer : v;
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
	int32_t plan_ppid[MAXN];
	assert_int_equal(bm_tree_standins(t, &r.sn, &r.ns, plan_ppid, why, sizeof why), 0);
	replay(t, s, n, &r);
	for (uint32_t i = 0; i < t->n; i++) {
		const struct bm_tree_node *nd = &t->nodes[i];
		assert_true(r.created[i]);
		if (i > 0)
			assert_int_equal(t->nodes[r.parent[i]].pid, nd->ppid);
		assert_int_equal(r.sid[i], outer_or(t, nd->sid, OUTER_SID, nd->gone & BM_TREE_GONE_SID));
		assert_int_equal(r.pgid[i], outer_or(t, nd->pgid, OUTER_PGID, nd->gone & BM_TREE_GONE_PGID));
		assert_int_equal(r.exited[i], nd->state == BM_TREE_ZOMBIE);
	}
	for (uint32_t k = 0; k < r.ns; k++)
		assert_true(r.reaped[t->n + k]); /* no stand-in is left */
	free(r.sn);
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

/* What bm_tree_mark_gone finds at dump: a session or group that is not
 * the root's, whose leader is neither in the tree nor the outer one. */
static void mark_gone(struct bm_tree *t)
{
	for (uint32_t i = 1; i < t->n; i++) {
		struct bm_tree_node *x = &t->nodes[i];
		x->gone = 0;
		if (x->sid != OUTER_SID && x->sid != t->nodes[0].sid && find(t, x->sid) < 0)
			x->gone |= BM_TREE_GONE_SID;
		if (x->pgid != OUTER_PGID && x->pgid != t->nodes[0].pgid && find(t, x->pgid) < 0)
			x->gone |= BM_TREE_GONE_PGID;
	}
}

/* Process a exits and is reaped: its children become the root's (a
 * subreaper), its PID stays the ID of its session and group.  Not when
 * a child would be the root's in a session that another process of the
 * tree leads (binmig refuses that: the leader is not its ancestor). */
static int32_t session_needed(const struct bm_tree *t, uint32_t i)
{
	const struct bm_tree_node *x = &t->nodes[i];
	if (x->sid != x->pid)
		return x->sid;
	for (uint32_t c = i + 1; c < t->n; c++) {
		int32_t s = t->nodes[c].ppid == x->pid ? session_needed(t, c) : x->pid;
		if (s != x->pid)
			return s; /* forked while it was in s */
	}
	return x->pid;
}

static void exit_reaped(struct bm_tree_node *nodes, int *has_child, uint32_t *n, uint32_t a)
{
	const struct bm_tree t = {nodes, *n};
	for (uint32_t i = 0; i < *n; i++) {
		int32_t s = nodes[i].ppid == nodes[a].pid ? session_needed(&t, i) : nodes[0].sid;
		if (s != nodes[0].sid && s != nodes[i].pid && s != nodes[a].pid && find(&t, s) >= 0)
			return;
	}
	for (uint32_t i = 0; i < *n; i++)
		if (nodes[i].ppid == nodes[a].pid) {
			nodes[i].ppid = nodes[0].pid;
			has_child[0] = 1;
		}
	memmove(&nodes[a], &nodes[a + 1], (*n - a - 1) * sizeof *nodes);
	memmove(&has_child[a], &has_child[a + 1], (*n - a - 1) * sizeof *has_child);
	(*n)--;
}

/* Trees the kernel itself produced: random forks, setsids, setpgids and
 * exits (zombies, and leaders reaped, their children the root's) run
 * under the replay's rules from a root in the outer session.  Every such
 * tree must be planned, and the plan must rebuild it. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;
static uint32_t rnd(uint32_t n)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state % n);
}

static void random_histories(int rounds, bool exits)
{
	for (int round = 0; round < rounds; round++) {
		struct bm_tree_node nodes[MAXN];
		int has_child[MAXN] = {0};
		uint32_t n = 1;
		int32_t next_pid = 101;
		nodes[0] = (struct bm_tree_node){100, 1, OUTER_PGID, OUTER_SID, 0, 0, 0};
		int ops = 1 + (int)rnd(40);
		for (int k = 0; k < ops; k++) {
			uint32_t a = rnd(n);
			struct bm_tree_node *x = &nodes[a];
			if (x->state == BM_TREE_ZOMBIE)
				continue;
			switch (rnd(exits ? 6 : 5)) {
			case 0:
			case 1: /* fork */
				if (n < MAXN) {
					nodes[n] = (struct bm_tree_node){next_pid++, x->pid, x->pgid, x->sid, 0, 0, 0};
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
				if (x->sid == x->pid || (exits && a == 0))
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
			case 5: /* one exits and is reaped (not the root's group's leader:
				 * two outer groups are refused) */
				if (a > 0 && x->pid != nodes[0].pgid)
					exit_reaped(nodes, has_child, &n, a);
				break;
			}
		}
		struct bm_tree t = {nodes, n};
		mark_gone(&t);
		plan_ok(&t);
	}
}

#define GONE(pid_, ppid_, pgid_, sid_, gone_)                                                                       \
	{.pid = (pid_), .ppid = (ppid_), .pgid = (pgid_), .sid = (sid_), .exit_signal = 17, .gone = (gone_)}
#define BOTH (BM_TREE_GONE_SID | BM_TREE_GONE_PGID)

/* Sessions and groups whose leaders exited (tests/progs/tree.c sessgone):
 * session 101 with its group and X2's, group 104 in it, group 108 in the
 * outer session; a leader (110) that forked before its setsid a child in
 * session 101, which a zombie (112) left. */
static void test_leaders_gone(void **state)
{
	(void)state;
	{
		TREE(GONE(100, 1, 1, 1, 0), GONE(102, 100, 101, 101, BOTH), GONE(103, 100, 103, 101, BM_TREE_GONE_SID),
		     GONE(105, 100, 104, 101, BOTH), GONE(106, 100, 104, 101, BOTH), GONE(109, 100, 108, 1, BM_TREE_GONE_PGID),
		     GONE(107, 105, 104, 101, BOTH));
		plan_ok(&t);
	}
	{
		TREE(GONE(100, 1, 1, 1, 0), GONE(110, 100, 110, 110, 0), GONE(111, 110, 101, 101, BOTH),
		     GONE(112, 110, 113, 101, BOTH));
		t.nodes[3].state = BM_TREE_ZOMBIE;
		plan_ok(&t);
	}
}

static void test_random_histories(void **state)
{
	(void)state;
	random_histories(20000, false);
}

/* The same with processes that exit and are reaped, their children the
 * root's (a subreaper): sessions and groups whose leaders have gone, made
 * by stand-ins.  (The root stays in the outer group: in a group whose
 * leader has gone beside members in the outer one, two groups led from
 * outside, it is refused.) */
static void test_random_leaders_gone(void **state)
{
	(void)state;
	random_histories(20000, true);
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
		/* Session 101's leader has gone; 102 and 104 are in it, children
		 * of 100 and 103, which never was in it. */
		TREE(GONE(100, 1, 1, 1, 0), GONE(102, 100, 101, 101, BOTH), GONE(103, 100, 1, 1, 0),
		     GONE(104, 103, 101, 101, BOTH));
		plan_refused(&t, "have different parents (100 and 103) outside it");
	}
	{
		TREE(GONE(100, 1, 1, 1, 0), GONE(102, 100, 101, 101, BOTH), GONE(103, 100, 101, 101, BOTH));
		t.nodes[2].exit_signal = 0;
		plan_refused(&t, "differ in their exit signal");
	}
	{
		TREE(GONE(100, 1, 1, 1, 0), GONE(102, 100, 101, 101, BOTH), GONE(103, 100, 101, 101, BM_TREE_GONE_PGID));
		plan_refused(&t, "session 101 is marked as led by a process gone in one only");
	}
	{
		/* The root's session 50, whose leader is gone, and 102 in its group. */
		TREE(GONE(100, 1, 100, 50, 0), GONE(102, 100, 50, 50, BM_TREE_GONE_PGID));
		plan_refused(&t, "the group of the root's session; binmig puts the root in the restorer's session");
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
		cmocka_unit_test(test_leaders_gone),
		cmocka_unit_test(test_random_histories), cmocka_unit_test(test_random_leaders_gone),
		cmocka_unit_test(test_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
