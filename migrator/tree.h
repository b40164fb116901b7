/* Process trees: a process with all its descendants, dumped, restored and
 * migrated as one unit.
 *
 * The source freezes every member (parents before their children, then
 * lists children again until no new one appears), describes each one as
 * a single process is described, and adds what links them: the tree's
 * shape with sessions, groups and zombies (state.h: struct bm_tree) and
 * the open file descriptions that members share through fork (one
 * offset and one set of flags, found with kcmp KCMP_FILE).  The image is
 * a TREE table, then every live member's process sections, then each
 * member's pages followed by a member mark (docs/image-format.md).
 *
 * The destination creates the tree in the order tree_plan.h computes
 * (clone3 with each PID, setsid, setpgid, zombies exit with their
 * status), opens every shared description once and hands it down, then
 * rebuilds each member as restore.c rebuilds one process, and lets them
 * all run only when every one is ready.  Any failure kills all of them. */
#ifndef BINMIG_TREE_H
#define BINMIG_TREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "image.h"
#include "state.h"
#include "restore.h"
#include "stats.h"
#include "wire.h"

/* The group or session of a process whose leader is in an ancestor PID
 * namespace (/proc says 0): larger than any PID, so led from outside. */
#define BM_TREE_UNSEEN 0x7fffffff

/* A descriptor that refers to one open file description with others in
 * other members: every entry with one `group` is one description. */
struct bm_tree_share {
	uint32_t node;   /* index in the tree */
	int32_t fd;
	uint32_t group;
};

struct bm_tree_image {
	struct bm_tree tree;
	struct bm_tree_share *shares;  /* sorted by group, then node, then fd; malloc'd */
	uint32_t nshares;
};

/* The live members of a tree, in node order: node index of member m. */
uint32_t bm_tree_live_count(const struct bm_tree *t);

/* The TREE table's payload (mark BM_TREE_MARK_TABLE first).  Encode: 0 or
 * -ENOMEM.  Decode checks every field and the tree's shape: 0, or
 * -EBADMSG with the reason in why.  version: the image's (nodes gained
 * their shares in version 7). */
int bm_tree_encode(struct bm_wbuf *b, const struct bm_tree_image *ti);
int bm_tree_decode(const uint8_t *data, size_t len, uint32_t version, struct bm_tree_image *ti, char *why,
		   size_t whylen);
void bm_tree_image_free(struct bm_tree_image *ti);

/* The source side (checkpoint.h calls these for a process with children
 * unless trees are off: --no-tree clears bm_tree_enabled).  bm_tree_freeze
 * fills f with every member frozen (f->members, f->tree); on failure all
 * resume. */
struct bm_frozen;
struct bm_fd_policy;
extern bool bm_tree_enabled;
int bm_tree_freeze(pid_t pid, struct bm_frozen *f, const struct bm_fd_policy *policy, struct bm_stats *st);
/* The TREE table, every member's process sections, each member's pages
 * and mark (END is the caller's). */
int bm_tree_checkpoint(struct bm_frozen *f, struct bm_image_writer *w, struct bm_stats *st);
int bm_tree_release(struct bm_frozen *f, bool terminate);
/* Once the BPF reader has read the members (kstate.h): refuses
 * (BM_EXIT_UNSUPPORTED, nothing released) a member made with an exit
 * signal other than SIGCHLD whose parent has run a program since, to
 * which the kernel sends SIGCHLD instead at its exit: restored, it would
 * send the signal it was made with.  0 otherwise, and for a single
 * process (the root's parent is not carried). */
int bm_tree_check_exit_signals(const struct bm_frozen *f);

/* Restores the tree image whose table the reader has just read (payload,
 * len): every member with its PID.  *pid is the root's.  On failure
 * nothing of the tree is left. */
int bm_tree_restore(struct bm_image_reader *r, const uint8_t *payload, uint32_t len,
		    const struct bm_restore_hook *hook, pid_t *pid, struct bm_stats *st);

/* Stopped members (tree_stop.c).  Source: with every member frozen and
 * collected, the stop (or continue) reports each parent has not collected
 * yet, into the nodes' reports; a continue not collected is refused.
 * Destination: stops a member again once its context is loaded and lets
 * it go (it stays stopped); parent, still held, gets the report as it
 * had it and no SIGCHLD more than the image says. */
struct restore_ctx;
int bm_tree_probe_reports(struct bm_tree *t, const int32_t *member_of, struct bm_frozen *members);
int bm_tree_restore_stop(struct restore_ctx *child, const struct bm_tree_node *n, struct restore_ctx *parent);

#endif
