/* Sessions and groups whose leader has exited (image version 12).
 *
 * A member of a tree may be in a session or process group whose leader
 * has exited and is not in the tree: a child that called setsid (or
 * setpgid), forked and exited, its children reparented to a subreaper of
 * the tree.  The kernel keeps the session's (group's) ID, the leader's
 * PID, reserved while a process is in it, and no process can join a
 * session, nor create a group with another ID than its own PID.
 *
 * So the restore makes the leader again for a moment, a stand-in with
 * its PID (clone3 set_tid):
 *   - for a session S: a child of the parent P of S's top members (those
 *     whose parent is not in S; they must all have one parent, one exit
 *     signal and share one descriptor table and cwd with it) calls
 *     setsid and creates each top member with CLONE_PARENT, so that P is
 *     its parent and it is born in S (and in group S); the members
 *     below them inherit S as they did;
 *   - for a group G (not a session's own): a child of G's first member,
 *     in that member's session, calls setpgid(0, 0); the members join G
 *     with setpgid while it lives.
 * Once every member is in its group, each stand-in exits and its parent
 * reaps it (wait4 __WALL) before it is rebuilt: the stand-in's exit signal
 * is its top members' (clone3 gives a CLONE_PARENT child its creator's),
 * which the parent gets pending and drops with everything pending that
 * the image does not hold; a group's stand-in sends none.  Nothing of it
 * remains but its PID, reserved by the session or group as at the source.
 *
 * At dump, such a session or group is marked in each member's node
 * (BM_TREE_GONE_*); one that holds a process outside the tree is refused
 * (the restore would make it with the tree's members only), and so is a
 * shape the stand-ins cannot make (the planner, tree_plan.h, says why). */
#ifndef BINMIG_TREE_STANDIN_H
#define BINMIG_TREE_STANDIN_H

#include <stddef.h>
#include <stdint.h>

#include "state.h"

/* Dump: marks, in every node but the root, a session or group that is
 * not the root's, is not led by a node, is not led from an ancestor PID
 * namespace, and whose leader PID has no process.  0, or a refusal
 * (exit 4) for one that a process outside the tree is in. */
int bm_tree_mark_gone(struct bm_tree *t);

/* The stand-ins that make t's marked sessions and groups again: *out
 * (malloc'd, NULL if none) gets *nout nodes with state BM_TREE_STANDIN,
 * pid, ppid (the process that creates it), sid, pgid, exit_signal and
 * shares; plan_ppid[i] (t->n entries) the PID of the process that creates
 * node i: its parent, or the stand-in that creates it with CLONE_PARENT.
 * 0, or -EINVAL with the reason in why (nothing allocated). */
int bm_tree_standins(const struct bm_tree *t, struct bm_tree_node **out, uint32_t *nout, int32_t *plan_ppid,
		     char *why, size_t whylen);

#endif
