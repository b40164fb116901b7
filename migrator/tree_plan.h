/* The order in which a process tree is created again so that every
 * process ends up with its parent, session and process group.
 *
 * The kernel lets a process choose only a few things: a child inherits
 * its parent's session and group; setsid() makes a new session (and
 * group) led by the caller; setpgid() creates a group led by the caller
 * or joins an existing group of the caller's session.  So the plan is a
 * sequence of steps, each done by one process of the tree: fork a child
 * (with its PID), setsid, setpgid, or exit (a zombie).  It is checked by
 * simulating those rules; a tree that cannot be built is refused with
 * the reason, at dump already.
 *
 * The root is created by the restorer and starts in the restorer's
 * session and group (the "outer" ones): a root that did not lead its own
 * session or group is placed there, and so is every process that shared
 * them with it. */
#ifndef BINMIG_TREE_PLAN_H
#define BINMIG_TREE_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include "state.h"

/* The outer session and group in a SETPGID step's argument. */
#define BM_TREE_OUTER_GROUP (-1)

enum bm_tree_op {
	BM_TREE_FORK = 1,   /* the actor creates node `arg` (an index) as its child */
	BM_TREE_SETSID = 2,
	BM_TREE_SETPGID = 3, /* setpgid(0, arg): arg is a PID, or BM_TREE_OUTER_GROUP */
	BM_TREE_EXIT = 4,   /* the actor exits with its node's wait status: a zombie; a stand-in exits */
	BM_TREE_REAP = 5,   /* the actor reaps its child `arg` (an index), a stand-in that has exited */
};

struct bm_tree_step {
	uint32_t actor;     /* node index */
	uint32_t op;        /* enum bm_tree_op */
	int32_t arg;
};

/* Checks the tree's shape (root first, every parent before its children,
 * no zombie with children) and plans it.  0 with a malloc'd *steps, or
 * -EINVAL with the reason in why (and nothing allocated).  A session or
 * group whose leader has gone (BM_TREE_GONE_*) is made by a stand-in
 * (tree_standin.h): the steps name node t->n + k for the stand-in
 * bm_tree_standins gives as its k-th, and its FORK steps create its
 * children with CLONE_PARENT. */
int bm_tree_plan(const struct bm_tree *t, struct bm_tree_step **steps, size_t *nsteps, char *why, size_t whylen);

/* The index of the node with PID pid, or -1. */
int bm_tree_find(const struct bm_tree *t, int32_t pid);

#endif
