/* The TREE table of a tree image (tree.h, docs/image-format.md §9). */
#include "tree.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tree_creds.h"
#include "tree_plan.h"

#define TREE_MAX_NODES 4096u
#define TREE_MAX_SHARES (1u << 20)
#define NODE_SIZE_V6 44u /* before version 7: no shares */
#define NODE_SIZE_V10 48u /* before version 11: no exit signal, no zombie's credentials */
#define NODE_SIZE_V11 52u /* before version 12: no leaders gone */
#define NODE_SIZE 56u
#define SHARE_SIZE 12u

uint32_t bm_tree_live_count(const struct bm_tree *t)
{
	uint32_t n = 0;
	for (uint32_t i = 0; i < t->n; i++)
		n += t->nodes[i].state != BM_TREE_ZOMBIE;
	return n;
}

int bm_tree_encode(struct bm_wbuf *b, const struct bm_tree_image *ti)
{
	bm_put_u32(b, BM_TREE_MARK_TABLE);
	bm_put_u32(b, ti->tree.n);
	for (uint32_t i = 0; i < ti->tree.n; i++) {
		const struct bm_tree_node *n = &ti->tree.nodes[i];
		bm_put_i32(b, n->pid);
		bm_put_i32(b, n->ppid);
		bm_put_i32(b, n->pgid);
		bm_put_i32(b, n->sid);
		bm_put_u32(b, n->state);
		bm_put_i32(b, n->exit_status);
		bm_put_u32(b, n->reports);
		bm_put_u32(b, n->shares);
		bm_put_bytes(b, n->comm, sizeof n->comm);
		bm_put_i32(b, n->exit_signal);
		if (n->state == BM_TREE_ZOMBIE)
			bm_tree_creds_encode(b, &n->creds);
		bm_put_u32(b, n->gone);
	}
	bm_put_u32(b, ti->nshares);
	for (uint32_t i = 0; i < ti->nshares; i++) {
		bm_put_u32(b, ti->shares[i].node);
		bm_put_i32(b, ti->shares[i].fd);
		bm_put_u32(b, ti->shares[i].group);
	}
	return bm_wbuf_status(b);
}

void bm_tree_image_free(struct bm_tree_image *ti)
{
	free(ti->tree.nodes);
	free(ti->shares);
	memset(ti, 0, sizeof *ti);
}

/* A zombie's status must be one exit() or a fatal signal could give. */
static bool status_is_exit(int32_t st)
{
	int sig = st & 0x7f;
	if (sig == 0)
		return (st & ~0xff00) == 0;
	return sig != 0x7f && (st & ~0xff) == 0 && sig < 65;
}

/* A stopped process's stop: the wait status of one of the signals that
 * make a group stop. */
static bool status_is_stop(int32_t st)
{
	int sig = (st >> 8) & 0xff;
	return (st & ~0xff00) == 0x7f && (sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU);
}

static void check_shares(struct bm_rcur *c, const struct bm_tree_image *ti)
{
	for (uint32_t i = 0; i < ti->nshares && !bm_rcur_failed(c); i++) {
		const struct bm_tree_share *s = &ti->shares[i];
		if (s->node >= ti->tree.n || ti->tree.nodes[s->node].state == BM_TREE_ZOMBIE || s->fd < 0)
			bm_rcur_fail(c, "shared descriptor %u: node %u fd %d is not a descriptor of a live member", i,
				     s->node, s->fd);
		else if (i > 0) {
			const struct bm_tree_share *p = &ti->shares[i - 1];
			bool ordered = p->group < s->group ||
				       (p->group == s->group && (p->node < s->node || (p->node == s->node && p->fd < s->fd)));
			if (!ordered)
				bm_rcur_fail(c, "shared descriptor %u is out of order", i);
		}
	}
}

int bm_tree_decode(const uint8_t *data, size_t len, uint32_t version, struct bm_tree_image *ti, char *why,
		   size_t whylen)
{
	memset(ti, 0, sizeof *ti);
	struct bm_rcur c;
	bm_rcur_init(&c, data, len);
	if (bm_get_u32(&c) != BM_TREE_MARK_TABLE && !bm_rcur_failed(&c))
		bm_rcur_fail(&c, "not a tree table");
	uint32_t n = bm_get_count(&c, TREE_MAX_NODES,
				  version >= 12 ? NODE_SIZE : version >= 11 ? NODE_SIZE_V11 : version >= 7 ? NODE_SIZE_V10 : NODE_SIZE_V6, "processes");
	if (!bm_rcur_failed(&c) && n == 0)
		bm_rcur_fail(&c, "a tree of no process");
	if (!bm_rcur_failed(&c) && !(ti->tree.nodes = calloc(n, sizeof *ti->tree.nodes)))
		bm_rcur_nomem(&c);
	for (uint32_t i = 0; i < n && !bm_rcur_failed(&c); i++) {
		struct bm_tree_node *nd = &ti->tree.nodes[i];
		nd->pid = bm_get_i32(&c);
		nd->ppid = bm_get_i32(&c);
		nd->pgid = bm_get_i32(&c);
		nd->sid = bm_get_i32(&c);
		nd->state = bm_get_u32(&c);
		nd->exit_status = bm_get_i32(&c);
		nd->reports = bm_get_u32(&c);
		nd->shares = version >= 7 ? bm_get_u32(&c) : 0;
		bm_get_bytes(&c, nd->comm, sizeof nd->comm);
		nd->comm[sizeof nd->comm - 1] = 0;
		/* Before version 11 every member exited with SIGCHLD, and a
		 * zombie with its parent's credentials. */
		nd->exit_signal = version >= 11 ? bm_get_i32(&c) : SIGCHLD;
		nd->has_creds = version >= 11 && nd->state == BM_TREE_ZOMBIE;
		if (nd->has_creds)
			bm_tree_creds_decode(&c, &nd->creds);
		/* Before version 12 a leader that had exited was refused. */
		nd->gone = version >= 12 ? bm_get_u32(&c) : 0;
		if (bm_rcur_failed(&c))
			break;
		/* Before version 10 every stop was made again with SIGSTOP. */
		if (version < 10 && nd->state == BM_TREE_STOPPED)
			nd->exit_status = (SIGSTOP << 8) | 0x7f;
		ti->tree.n = i + 1;
		/* The only report binmig carries: a stopped process's stop. */
		if (nd->state > BM_TREE_ZOMBIE || (nd->reports & ~BM_TREE_REPORT_STOPPED) ||
		    (nd->reports && nd->state != BM_TREE_STOPPED))
			bm_rcur_fail(&c, "process %d: state %u, reports %#x", nd->pid, nd->state, nd->reports);
		else if ((nd->shares & ~(BM_TREE_SHARES_FILES | BM_TREE_SHARES_FS)) ||
			 (nd->shares && (i == 0 || nd->state == BM_TREE_ZOMBIE)))
			bm_rcur_fail(&c, "process %d: shares %#x", nd->pid, nd->shares);
		else if ((nd->gone & ~(BM_TREE_GONE_SID | BM_TREE_GONE_PGID)) || (nd->gone && i == 0))
			bm_rcur_fail(&c, "process %d: leaders gone %#x", nd->pid, nd->gone);
		else if (nd->exit_signal < 0 || nd->exit_signal >= 65)
			bm_rcur_fail(&c, "process %d: exit signal %d", nd->pid, nd->exit_signal);
		else if (nd->state == BM_TREE_ZOMBIE && !status_is_exit(nd->exit_status))
			bm_rcur_fail(&c, "zombie %d: wait status %#x is not an exit", nd->pid, (unsigned)nd->exit_status);
		else if (nd->state == BM_TREE_STOPPED && !status_is_stop(nd->exit_status))
			bm_rcur_fail(&c, "stopped process %d: wait status %#x is not a stop", nd->pid,
				     (unsigned)nd->exit_status);
		else if (nd->state == BM_TREE_LIVE && nd->exit_status != 0 && version >= 10)
			bm_rcur_fail(&c, "process %d: a running process with wait status %#x", nd->pid,
				     (unsigned)nd->exit_status);
	}
	uint32_t ns = bm_get_count(&c, TREE_MAX_SHARES, SHARE_SIZE, "shared descriptors");
	if (!bm_rcur_failed(&c) && ns && !(ti->shares = calloc(ns, sizeof *ti->shares)))
		bm_rcur_nomem(&c);
	for (uint32_t i = 0; i < ns && !bm_rcur_failed(&c); i++) {
		ti->shares[i].node = bm_get_u32(&c);
		ti->shares[i].fd = bm_get_i32(&c);
		ti->shares[i].group = bm_get_u32(&c);
		if (!bm_rcur_failed(&c))
			ti->nshares = i + 1;
	}
	check_shares(&c, ti);
	bm_rcur_finish(&c);
	int rc = c.error;
	if (rc == 0) {
		/* The shape: a tree the planner cannot build is no tree binmig made. */
		struct bm_tree_step *steps;
		size_t nsteps;
		if (bm_tree_plan(&ti->tree, &steps, &nsteps, why, whylen) < 0)
			rc = -EBADMSG;
		else
			free(steps);
	} else {
		snprintf(why, whylen, "%s", c.why);
	}
	if (rc < 0)
		bm_tree_image_free(ti);
	return rc;
}
