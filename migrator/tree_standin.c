/* Sessions and groups whose leader has exited (tree_standin.h). */
#include "tree_standin.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "wire.h"
#include "procfs.h"
#include "tree.h"
#include "tree_plan.h"

/* ---- dump ---- */

/* Whether id, node i's session (k 0) or group (k 1), was led by a
 * process that has exited and is not in the tree. */
static bool leader_gone(const struct bm_tree *t, uint32_t i, int k)
{
	const struct bm_tree_node *n = &t->nodes[i], *root = &t->nodes[0];
	int32_t id = k ? n->pgid : n->sid;
	/* The root's own joins the restorer's whatever led it (tree_plan.h). */
	if (i == 0 || id == (k ? root->pgid : root->sid) || id == BM_TREE_UNSEEN || bm_tree_find(t, id) >= 0)
		return false;
	return kill(id, 0) < 0 && errno == ESRCH;
}

/* A process outside the tree in a marked session or group: the restore
 * would make it with the tree's members only. */
static int check_outsiders(const struct bm_tree *t)
{
	DIR *dir = opendir("/proc");
	if (!dir)
		return bm_error_errno(BM_EXIT_FAILURE, errno, "cannot list /proc");
	int rc = 0;
	struct dirent *e;
	while (rc == 0 && (e = readdir(dir)) != NULL) {
		if (!isdigit((unsigned char)e->d_name[0]))
			continue;
		pid_t pid = (pid_t)atoi(e->d_name);
		struct bm_proc_stat st;
		if (bm_tree_find(t, pid) >= 0 || bm_read_stat(pid, &st) < 0)
			continue;
		for (uint32_t i = 1; i < t->n && rc == 0; i++) {
			const struct bm_tree_node *n = &t->nodes[i];
			bool sid = (n->gone & BM_TREE_GONE_SID) && st.session == n->sid;
			bool pgid = (n->gone & BM_TREE_GONE_PGID) && st.pgrp == n->pgid;
			if (sid || pgid)
				rc = bm_error(BM_EXIT_UNSUPPORTED, "process %d (%s) is in %s %d, whose leader has exited and "
					      "is not in the tree, and so is process %d (%s), outside the tree; binmig "
					      "would make that %s again with the tree's processes only", n->pid, n->comm,
					      sid ? "session" : "process group", sid ? n->sid : n->pgid, pid, st.comm,
					      sid ? "session" : "process group");
		}
	}
	closedir(dir);
	return rc;
}

int bm_tree_mark_gone(struct bm_tree *t)
{
	bool any = false;
	for (uint32_t i = 0; i < t->n; i++) {
		struct bm_tree_node *n = &t->nodes[i];
		n->gone = (leader_gone(t, i, 0) ? BM_TREE_GONE_SID : 0) | (leader_gone(t, i, 1) ? BM_TREE_GONE_PGID : 0);
		any |= n->gone != 0;
	}
	return any ? check_outsiders(t) : 0;
}

/* ---- the plan ---- */

/* Every node with id as its session (k 0) or group (k 1) marked as gone,
 * or none; and such an id is no node's PID nor the root's own. */
static int check_marks(const struct bm_tree *t, char *why, size_t whylen)
{
	const struct bm_tree_node *root = &t->nodes[0];
	for (uint32_t i = 1; i < t->n; i++)
		for (int k = 0; k < 2; k++) {
			const struct bm_tree_node *a = &t->nodes[i];
			uint32_t bit = k ? BM_TREE_GONE_PGID : BM_TREE_GONE_SID;
			int32_t id = k ? a->pgid : a->sid;
			if ((a->gone & bit) && (id == (k ? root->pgid : root->sid) || id == BM_TREE_UNSEEN ||
						bm_tree_find(t, id) >= 0))
				return bm_why_rc(-EINVAL, why, whylen,
						 "process %d: %s %d is marked as led by a process gone, which "
						 "it is not",
						 a->pid, k ? "group" : "session", id);
			for (uint32_t j = 1; j < i; j++) {
				const struct bm_tree_node *b = &t->nodes[j];
				if ((k ? b->pgid : b->sid) == id && (a->gone & bit) != (b->gone & bit))
					return bm_why_rc(-EINVAL, why, whylen,
							 "processes %d and %d: %s %d is marked as led by a process "
							 "gone in one only",
							 b->pid, a->pid, k ? "group" : "session", id);
			}
		}
	return 0;
}

/* Whether a stand-in with PID id is already in out[0..n). */
static bool made(const struct bm_tree_node *out, uint32_t n, int32_t id)
{
	for (uint32_t k = 0; k < n; k++)
		if (out[k].pid == id)
			return true;
	return false;
}

/* The session each node must be created in (as tree_plan.c's need_sid):
 * its own for life, or, for a leader, the one it had when it forked
 * children that kept it; 0 for none. */
static void sessions_needed(const struct bm_tree *t, int32_t *need)
{
	for (uint32_t i = t->n; i-- > 0;) {
		const struct bm_tree_node *n = &t->nodes[i];
		need[i] = n->sid == n->pid ? 0 : n->sid;
		for (uint32_t c = i + 1; c < t->n && n->sid == n->pid; c++)
			if (t->nodes[c].ppid == n->pid && need[c] != 0 && need[c] != n->pid)
				need[i] = need[c]; /* two different: the planner says it */
	}
}

/* The stand-in of session s: the top members' (those created in s by a
 * parent that never was in it) common parent, exit signal and shares. */
static int session_standin(const struct bm_tree *t, const int32_t *need, int32_t s, struct bm_tree_node *sn,
			   int32_t *plan_ppid, char *why, size_t whylen)
{
	const struct bm_tree_node *first = NULL;
	for (uint32_t c = 1; c < t->n; c++) {
		const struct bm_tree_node *n = &t->nodes[c];
		int p = bm_tree_find(t, n->ppid);
		if (need[c] != s || p < 0 || (p > 0 && need[p] == s))
			continue;
		if (!first)
			first = n;
		else if (n->ppid != first->ppid)
			return bm_why_rc(
				-EINVAL, why, whylen,
				"processes %d and %d are in session %d, whose leader has exited, and "
				"have different parents (%d and %d) outside it; binmig makes that session again in "
				"one stand-in, a child of their one parent",
				first->pid, n->pid, s, first->ppid, n->ppid);
		else if (n->exit_signal != first->exit_signal || n->shares != first->shares)
			return bm_why_rc(-EINVAL, why, whylen,
					 "processes %d and %d are in session %d, whose leader has exited, and "
					 "differ in their exit signal or in what they share with their parent; binmig "
					 "creates both from one stand-in, which gives them its own",
					 first->pid, n->pid, s);
		plan_ppid[c] = s;
	}
	/* A line of ancestors of a process in s leaves it somewhere (the
	 * root is never in it). */
	if (!first)
		return bm_why_rc(-EINVAL, why, whylen, "session %d has no process whose parent is outside it", s);
	*sn = (struct bm_tree_node){.pid = s, .ppid = first->ppid, .sid = s, .pgid = s, .state = BM_TREE_STANDIN,
				    .exit_signal = first->exit_signal, .shares = first->shares};
	snprintf(sn->comm, sizeof sn->comm, "session %d", s);
	return 0;
}

int bm_tree_standins(const struct bm_tree *t, struct bm_tree_node **out, uint32_t *nout, int32_t *plan_ppid,
		     char *why, size_t whylen)
{
	*out = NULL;
	*nout = 0;
	for (uint32_t i = 0; i < t->n; i++)
		plan_ppid[i] = t->nodes[i].ppid;
	uint32_t want = 0;
	for (uint32_t i = 1; i < t->n; i++)
		want += (t->nodes[i].gone & BM_TREE_GONE_SID) != 0 || (t->nodes[i].gone & BM_TREE_GONE_PGID) != 0;
	if (want == 0)
		return 0;
	int rc = check_marks(t, why, whylen);
	if (rc < 0)
		return rc;
	struct bm_tree_node *sn = calloc(2 * (size_t)want, sizeof *sn);
	if (!sn)
		return bm_why_rc(-EINVAL, why, whylen, "out of memory");
	int32_t *need = calloc(t->n, sizeof *need);
	if (!need) {
		free(sn);
		return bm_why_rc(-EINVAL, why, whylen, "out of memory");
	}
	sessions_needed(t, need);
	uint32_t n = 0;
	/* Sessions first: the group with a session's ID is its stand-in's
	 * (setsid makes both). */
	for (uint32_t i = 1; i < t->n && rc == 0; i++)
		if ((t->nodes[i].gone & BM_TREE_GONE_SID) && !made(sn, n, t->nodes[i].sid))
			rc = session_standin(t, need, t->nodes[i].sid, &sn[n++], plan_ppid, why, whylen);
	free(need);
	uint32_t nsessions = n;
	for (uint32_t i = 1; i < t->n && rc == 0; i++) {
		const struct bm_tree_node *m = &t->nodes[i];
		if (!(m->gone & BM_TREE_GONE_PGID) || made(sn + nsessions, n - nsessions, m->pgid))
			continue;
		/* A group is in one session: one with a marked session's ID is
		 * that session's stand-in's. */
		if (made(sn, nsessions, m->pgid)) {
			if (m->pgid != m->sid)
				rc = bm_why_rc(-EINVAL, why, whylen,
					       "process %d: group %d is a session's own, and the process is in "
					       "session %d",
					       m->pid, m->pgid, m->sid);
			continue;
		}
		/* The group that had the ID of the root's session, which the
		 * restorer's stands for: a stand-in would have to be its leader. */
		if (m->pgid == m->sid) {
			rc = bm_why_rc(
				-EINVAL, why, whylen,
				"process %d is in process group %d, whose leader has exited, the group "
				"of the root's session; binmig puts the root in the restorer's session and cannot "
				"make that group again",
				m->pid, m->pgid);
			continue;
		}
		sn[n] = (struct bm_tree_node){.pid = m->pgid, .ppid = m->pid, .sid = m->sid, .pgid = m->pgid,
					      .state = BM_TREE_STANDIN};
		snprintf(sn[n].comm, sizeof sn[n].comm, "group %d", m->pgid);
		n++;
	}
	if (rc < 0) {
		free(sn);
		return rc;
	}
	*out = sn;
	*nout = n;
	return 0;
}
