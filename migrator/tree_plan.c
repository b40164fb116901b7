/* Planning the creation of a process tree (tree_plan.h). */
#include "tree_plan.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tree_standin.h"
#include "wire.h"

/* Session and group values before the root acts: the root's own, unless
 * it leads them, stand for the outer ones (nothing in the tree has those
 * numbers as a PID). */
#define OUTER_SID (-2)
#define NO_NEED INT32_MIN

struct planner {
	const struct bm_tree *t;
	struct bm_tree_step *steps;
	size_t n, cap;
	/* The simulation: each node's session and group so far. */
	int32_t *sid, *pgid;
	bool *created;
	/* The session each process must be in when it is forked: its own
	 * (kept for life unless it calls setsid), or, for one that leads a
	 * session, the session its early children need; NO_NEED if none. */
	int32_t *need_sid;
	char *why;
	size_t whylen;
};

int bm_tree_find(const struct bm_tree *t, int32_t pid)
{
	for (uint32_t i = 0; i < t->n; i++)
		if (t->nodes[i].pid == pid)
			return (int)i;
	return -1;
}

/* The value a target session or group has in the simulation: one led
 * from outside the tree can only be the outer one, which the tree
 * inherited through its root. */
static int32_t sim_sid(const struct bm_tree *t, int32_t sid)
{
	return bm_tree_find(t, sid) < 0 ? OUTER_SID : sid;
}

static int32_t sim_pgid(const struct bm_tree *t, int32_t pgid)
{
	return bm_tree_find(t, pgid) < 0 ? BM_TREE_OUTER_GROUP : pgid;
}

/* Whether a group with id g exists in session s now. */
static bool group_exists(const struct planner *pl, int32_t g, int32_t s)
{
	if (g == BM_TREE_OUTER_GROUP)
		return s == OUTER_SID; /* the restorer is in it */
	for (uint32_t i = 0; i < pl->t->n; i++)
		if (pl->created[i] && pl->pgid[i] == g && pl->sid[i] == s)
			return true;
	return false;
}

/* Applies one step to the simulation under the kernel's rules. */
static int apply(struct planner *pl, uint32_t actor, uint32_t op, int32_t arg)
{
	const struct bm_tree_node *a = &pl->t->nodes[actor];
	switch (op) {
	case BM_TREE_FORK:
		pl->created[arg] = true;
		pl->sid[arg] = pl->sid[actor];
		pl->pgid[arg] = pl->pgid[actor];
		break;
	case BM_TREE_SETSID:
		if (group_exists(pl, a->pid, pl->sid[actor]) || pl->sid[actor] == a->pid)
			return -EPERM;
		pl->sid[actor] = pl->pgid[actor] = a->pid;
		break;
	case BM_TREE_SETPGID:
		if (pl->sid[actor] == a->pid || (arg != a->pid && !group_exists(pl, arg, pl->sid[actor])))
			return -EPERM;
		pl->pgid[actor] = arg;
		break;
	case BM_TREE_EXIT:
		pl->created[actor] = a->state != BM_TREE_STANDIN; /* a zombie stays in its group */
		break;
	}
	if (pl->n == pl->cap) {
		size_t cap = pl->cap ? pl->cap * 2 : 16;
		struct bm_tree_step *grown = realloc(pl->steps, cap * sizeof *grown);
		if (!grown)
			return -ENOMEM;
		pl->steps = grown;
		pl->cap = cap;
	}
	pl->steps[pl->n++] = (struct bm_tree_step){actor, op, arg};
	return 0;
}

static int refuse(struct planner *pl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int refuse(struct planner *pl, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(pl->why, pl->whylen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static int create(struct planner *pl, uint32_t i);

/* Forks the children of node p not created yet: those that must keep
 * the session or group p has now, before p's own change (early), or the
 * others.  p's values after its change are after_sid and after_pgid. */
static int fork_children(struct planner *pl, uint32_t p, bool early, int32_t after_sid, int32_t after_pgid)
{
	const struct bm_tree *t = pl->t;
	for (uint32_t c = 1; c < t->n; c++) {
		const struct bm_tree_node *cn = &t->nodes[c];
		if (cn->ppid != t->nodes[p].pid || pl->created[c])
			continue;
		int32_t want_sid = sim_sid(t, cn->sid), want_pgid = sim_pgid(t, cn->pgid);
		bool old_session = pl->need_sid[c] != NO_NEED && pl->need_sid[c] == pl->sid[p] &&
				   pl->need_sid[c] != after_sid;
		bool old_group = want_sid == pl->sid[p] && want_pgid != cn->pid && want_pgid == pl->pgid[p] &&
				 want_pgid != after_pgid;
		if ((old_session || old_group) != early)
			continue;
		int rc = apply(pl, p, BM_TREE_FORK, (int32_t)c);
		if (rc == 0)
			rc = create(pl, c);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* Node i exists: it takes its own session, or creates the group it leads
 * (even one it leaves later, so that others can join it), forking before
 * that the children that keep its old ones. */
static int create(struct planner *pl, uint32_t i)
{
	const struct bm_tree *t = pl->t;
	const struct bm_tree_node *n = &t->nodes[i];
	bool leads_group = false;
	for (uint32_t j = 0; j < t->n; j++)
		leads_group |= t->nodes[j].pgid == n->pid;
	bool new_session = n->sid == n->pid;
	bool new_group = !new_session && leads_group && pl->pgid[i] != n->pid;
	int32_t after_sid = new_session ? n->pid : pl->sid[i];
	int32_t after_pgid = new_session || new_group ? n->pid : pl->pgid[i];
	int rc = fork_children(pl, i, true, after_sid, after_pgid);
	if (rc == 0 && new_session)
		rc = apply(pl, i, BM_TREE_SETSID, 0);
	else if (rc == 0 && new_group)
		rc = apply(pl, i, BM_TREE_SETPGID, n->pid);
	if (rc == -EPERM)
		return refuse(pl, "process %d cannot lead its session or group again", n->pid);
	if (rc == 0)
		rc = fork_children(pl, i, false, after_sid, after_pgid);
	return rc;
}

/* Moves every process into its group, members before the leaders that
 * leave the group they created. */
static int join_groups(struct planner *pl)
{
	const struct bm_tree *t = pl->t;
	for (int pass = 0; pass < 2; pass++)
		for (uint32_t i = 0; i < t->n; i++) {
			const struct bm_tree_node *n = &t->nodes[i];
			int32_t want = sim_pgid(t, n->pgid);
			bool leader_now = pl->pgid[i] == n->pid;
			if (pl->pgid[i] == want || leader_now != (pass == 1))
				continue;
			int rc = apply(pl, i, BM_TREE_SETPGID, want);
			if (rc == -EPERM)
				return refuse(pl, "process %d cannot join process group %d: no process of the tree leads "
						  "or keeps that group in its session",
					      n->pid, n->pgid);
			if (rc < 0)
				return rc;
		}
	return 0;
}

static int check_shape(struct planner *pl)
{
	const struct bm_tree *t = pl->t;
	if (t->n == 0)
		return refuse(pl, "the tree has no process");
	if (t->nodes[0].state == BM_TREE_ZOMBIE)
		return refuse(pl, "the root %d is a zombie", t->nodes[0].pid);
	for (uint32_t i = 0; i < t->n; i++) {
		const struct bm_tree_node *n = &t->nodes[i];
		if (n->pid <= 0 || n->sid <= 0 || n->pgid <= 0 || n->state > BM_TREE_STANDIN)
			return refuse(pl, "node %u: PID %d, session %d, group %d, state %u", i, n->pid, n->sid, n->pgid,
				      n->state);
		int at = bm_tree_find(t, n->pid);
		if (at != (int)i)
			return refuse(pl, "PID %d appears twice", n->pid);
		if (i == 0)
			continue;
		int parent = bm_tree_find(t, n->ppid);
		if (parent < 0 || parent >= (int)i)
			return refuse(pl, "process %d: its parent %d is not before it in the tree", n->pid, n->ppid);
		/* (a zombie may create a stand-in, reaped before it exits) */
		if (t->nodes[parent].state == BM_TREE_ZOMBIE && n->state != BM_TREE_STANDIN)
			return refuse(pl, "zombie %d has a child %d", n->ppid, n->pid);
	}
	return 0;
}

/* At most one session and one group led from outside: the outer ones. */
static int check_outer(struct planner *pl)
{
	const struct bm_tree *t = pl->t;
	for (uint32_t i = 0; i < t->n; i++)
		for (uint32_t j = 0; j < i; j++) {
			const struct bm_tree_node *a = &t->nodes[i], *b = &t->nodes[j];
			if (a->sid != b->sid && sim_sid(t, a->sid) == OUTER_SID && sim_sid(t, b->sid) == OUTER_SID)
				return refuse(pl, "processes %d and %d are in sessions %d and %d, both led from outside the "
						  "tree; binmig can put the tree in one outer session only",
					      b->pid, a->pid, b->sid, a->sid);
			if (a->pgid != b->pgid && sim_pgid(t, a->pgid) == BM_TREE_OUTER_GROUP &&
			    sim_pgid(t, b->pgid) == BM_TREE_OUTER_GROUP)
				return refuse(pl, "processes %d and %d are in process groups %d and %d, both led from "
						  "outside the tree; binmig can put the tree in one outer group only",
					      b->pid, a->pid, b->pgid, a->pgid);
		}
	return 0;
}

/* need_sid for every node, children before parents. */
static int plan_sessions(struct planner *pl)
{
	const struct bm_tree *t = pl->t;
	for (uint32_t i = t->n; i-- > 0;) {
		const struct bm_tree_node *n = &t->nodes[i];
		int32_t need = n->sid == n->pid ? NO_NEED : sim_sid(t, n->sid);
		for (uint32_t c = i + 1; c < t->n; c++) {
			int32_t cn = pl->need_sid[c];
			if (t->nodes[c].ppid != n->pid || cn == NO_NEED || cn == n->pid)
				continue;
			/* A child in another session than its parent's own was forked
			 * before the parent made its own: the parent had that one.  A
			 * process is in two sessions in its life at most. */
			if (need != NO_NEED && need != cn)
				return refuse(pl, "process %d cannot be put back in session %d: binmig creates a session in "
						  "its leader, and its leader is neither it nor an ancestor whose session it kept",
					      t->nodes[c].pid, t->nodes[c].sid);
			need = cn;
		}
		pl->need_sid[i] = need;
	}
	return 0;
}

static int plan_tree(const struct bm_tree *t, struct bm_tree_step **steps, size_t *nsteps, char *why, size_t whylen)
{
	struct planner pl = {.t = t, .why = why, .whylen = whylen};
	*steps = NULL;
	*nsteps = 0;
	int rc = check_shape(&pl);
	if (rc == 0)
		rc = check_outer(&pl);
	if (rc < 0)
		return rc;
	pl.sid = calloc(t->n, sizeof *pl.sid);
	pl.pgid = calloc(t->n, sizeof *pl.pgid);
	pl.created = calloc(t->n, sizeof *pl.created);
	pl.need_sid = calloc(t->n, sizeof *pl.need_sid);
	if (!pl.sid || !pl.pgid || !pl.created || !pl.need_sid) {
		rc = refuse(&pl, "out of memory");
		goto out;
	}
	pl.created[0] = true;
	pl.sid[0] = OUTER_SID;
	pl.pgid[0] = BM_TREE_OUTER_GROUP;
	if ((rc = plan_sessions(&pl)) < 0 || (rc = create(&pl, 0)) < 0)
		goto out;
	/* Sessions are settled once every process exists; groups then. */
	for (uint32_t i = 0; i < t->n && rc == 0; i++) {
		const struct bm_tree_node *n = &t->nodes[i];
		if (!pl.created[i])
			rc = refuse(&pl, "process %d is not reached from the root", n->pid);
		else if (pl.sid[i] != sim_sid(t, n->sid))
			rc = refuse(&pl, "process %d cannot be put back in session %d: binmig creates a session in its "
					 "leader, and its leader is neither it nor an ancestor whose session it kept",
				    n->pid, n->sid);
	}
	if (rc < 0 || (rc = join_groups(&pl)) < 0)
		goto out;
	for (uint32_t i = 0; i < t->n && rc == 0; i++)
		if (pl.pgid[i] != sim_pgid(t, t->nodes[i].pgid))
			rc = refuse(&pl, "process %d cannot be put back in process group %d", t->nodes[i].pid,
				    t->nodes[i].pgid);
	/* Stand-ins go once every group is made (tree_standin.h), reaped by
	 * their parents; zombies last: their groups and sessions may be
	 * needed until then. */
	for (uint32_t i = 0; i < t->n && rc == 0; i++)
		if (t->nodes[i].state == BM_TREE_STANDIN && (rc = apply(&pl, i, BM_TREE_EXIT, 0)) == 0)
			rc = apply(&pl, (uint32_t)bm_tree_find(t, t->nodes[i].ppid), BM_TREE_REAP, (int32_t)i);
	for (uint32_t i = 0; i < t->n && rc == 0; i++)
		if (t->nodes[i].state == BM_TREE_ZOMBIE)
			rc = apply(&pl, i, BM_TREE_EXIT, t->nodes[i].exit_status);
	if (rc == -ENOMEM)
		refuse(&pl, "out of memory");
out:
	free(pl.sid);
	free(pl.pgid);
	free(pl.created);
	free(pl.need_sid);
	if (rc < 0) {
		free(pl.steps);
		return -EINVAL;
	}
	*steps = pl.steps;
	*nsteps = pl.n;
	return 0;
}

/* The tree with its stand-ins (tree_standin.h), each process under the
 * one that creates it, parents before children: ext[order[k]] is node k,
 * where ext is t's nodes then the stand-ins. */
static int with_standins(const struct bm_tree *t, const struct bm_tree_node *sn, uint32_t ns,
			 const int32_t *plan_ppid, struct bm_tree *aug, uint32_t *order, char *why, size_t whylen)
{
	uint32_t n = t->n + ns, done = 1;
	order[0] = 0;
	for (uint32_t k = 0; k < done; k++) {
		int32_t pid = order[k] < t->n ? t->nodes[order[k]].pid : sn[order[k] - t->n].pid;
		for (uint32_t e = 1; e < n; e++)
			if ((e < t->n ? plan_ppid[e] : sn[e - t->n].ppid) == pid)
				order[done++] = e;
	}
	if (done != n) {
		snprintf(why, whylen, "a process or stand-in is not reached from the root");
		return -EINVAL;
	}
	for (uint32_t k = 0; k < n; k++) {
		uint32_t e = order[k];
		aug->nodes[k] = e < t->n ? t->nodes[e] : sn[e - t->n];
		if (e < t->n)
			aug->nodes[k].ppid = plan_ppid[e];
	}
	aug->n = n;
	return 0;
}

int bm_tree_plan(const struct bm_tree *t, struct bm_tree_step **steps, size_t *nsteps, char *why, size_t whylen)
{
	struct planner shape = {.t = t, .why = why, .whylen = whylen};
	int rc = check_shape(&shape);
	*steps = NULL;
	*nsteps = 0;
	if (rc < 0)
		return rc;
	struct bm_tree_node *sn = NULL;
	uint32_t ns = 0;
	int32_t *plan_ppid = calloc(t->n, sizeof *plan_ppid);
	if (!plan_ppid)
		return refuse(&shape, "out of memory");
	rc = bm_tree_standins(t, &sn, &ns, plan_ppid, why, whylen);
	if (rc == 0 && ns == 0)
		rc = plan_tree(t, steps, nsteps, why, whylen);
	else if (rc == 0) {
		/* Planned with the stand-ins in the tree; the steps name nodes as
		 * ext does (a stand-in k as t->n + k). */
		struct bm_tree aug = {calloc(t->n + ns, sizeof *aug.nodes), 0};
		uint32_t *order = calloc(t->n + ns, sizeof *order);
		if (!aug.nodes || !order)
			rc = refuse(&shape, "out of memory");
		if (rc == 0)
			rc = with_standins(t, sn, ns, plan_ppid, &aug, order, why, whylen);
		if (rc == 0)
			rc = plan_tree(&aug, steps, nsteps, why, whylen);
		for (size_t k = 0; rc == 0 && k < *nsteps; k++) {
			struct bm_tree_step *st = &(*steps)[k];
			st->actor = order[st->actor];
			if (st->op == BM_TREE_FORK || st->op == BM_TREE_REAP)
				st->arg = (int32_t)order[st->arg];
		}
		free(aug.nodes);
		free(order);
	}
	free(sn);
	free(plan_ppid);
	return rc < 0 ? -EINVAL : 0;
}
