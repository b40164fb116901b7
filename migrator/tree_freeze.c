/* The source side of a process tree (tree.h): find every descendant,
 * freeze them all, describe each and what links them, write one image,
 * and release them all together. */
#include "tree.h"
#include "unlinked_map.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/kcmp.h>

#include "attrs.h"
#include "checkpoint.h"
#include "fault.h"
#include "file_lock_order.h"
#include "file_locks.h"
#include "files.h"
#include "log.h"
#include "memory.h"
#include "procfs.h"
#include "shmem.h"
#include "tree_creds.h"
#include "tree_plan.h"
#include "tree_standin.h"

#define TREE_MAX_MEMBERS 1024
#define MAX_CHILDREN 4096

bool bm_tree_enabled = true;

struct tree_freeze {
	struct bm_frozen *f;           /* the root's; members and tree hang from it */
	struct bm_tree_node *nodes;
	uint32_t n;
	int32_t *member_of;            /* node index -> member index, -1 for a zombie */
	struct bm_proc_stat *stats;    /* per node, at discovery */
	struct bm_proc_status *statuses;
};

static int kcmp2(pid_t a, pid_t b, int type, unsigned long x, unsigned long y)
{
	return (int)syscall(SYS_kcmp, a, b, type, x, y);
}

static const char *comm_of_node(const struct tree_freeze *t, uint32_t i)
{
	return t->stats[i].comm;
}

/* What st says of node n: its parent, group, session, name and exit
 * signal. */
static void node_ids(struct bm_tree_node *n, const struct bm_proc_stat *st)
{
	n->ppid = st->ppid;
	n->pgid = st->pgrp;
	n->sid = st->session;
	snprintf(n->comm, sizeof n->comm, "%.15s", st->comm);
	/* A session or group led from an ancestor PID namespace reads as 0:
	 * it is led from outside the tree. */
	if (n->pgid == 0)
		n->pgid = BM_TREE_UNSEEN;
	if (n->sid == 0)
		n->sid = BM_TREE_UNSEEN;
	/* What clone() named to be sent to the parent at its exit (0 for
	 * nothing), which also makes it a child wait() sees only with __WCLONE
	 * or __WALL: the restore makes it with that signal (clone3). */
	n->exit_signal = st->exit_signal;
}

/* Adds a node for pid, child of node parent (-1 for the root), and
 * checks what can be checked without stopping it. */
static int add_node(struct tree_freeze *t, pid_t pid, int parent)
{
	if (t->n == TREE_MAX_MEMBERS)
		return bm_error(BM_EXIT_UNSUPPORTED, "the tree of process %d has more than %d processes", t->f->pid,
				TREE_MAX_MEMBERS);
	uint32_t i = t->n;
	struct bm_proc_stat *st = &t->stats[i];
	struct bm_proc_status *ss = &t->statuses[i];
	memset(ss, 0, sizeof *ss);
	int rc = bm_read_stat(pid, st);
	if (rc < 0)
		return bm_error_errno(BM_EXIT_TARGET, -rc, "cannot read /proc/%d/stat (a process of the tree)", pid);
	struct bm_tree_node *n = &t->nodes[i];
	*n = (struct bm_tree_node){.pid = pid};
	node_ids(n, st);
	t->n++;
	if (parent >= 0 && (st->state == 'Z' || st->state == 'X')) {
		n->state = BM_TREE_ZOMBIE;
		n->exit_status = st->exit_code;
		if (st->exit_code & 0x80)
			return bm_error(BM_EXIT_UNSUPPORTED, "zombie process %d (%s) was killed by signal %d and dumped core; "
					"binmig cannot make a zombie with the core-dump flag again", pid, st->comm,
					st->exit_code & 0x7f);
		/* Its own credentials: waitid's si_uid, /proc/PID/status and the
		 * owner of /proc/PID come from them (tree_creds.h). */
		n->has_creds = 1;
		rc = bm_tree_creds_read(pid, st->exit_code & 0x7f, &n->creds);
		return rc < 0 ? rc : bm_tree_creds_check_userns(pid, t->nodes[parent].pid);
	}
	if (parent >= 0) {
		/* What this tree cannot carry, said as such (exit 4). */
		if ((rc = bm_read_status(pid, ss)) < 0)
			return bm_error_errno(BM_EXIT_TARGET, -rc, "cannot read /proc/%d/status", pid);
		if (ss->tracer_pid != 0)
			return bm_error(BM_EXIT_UNSUPPORTED, "process %d (%s) of the tree is traced by process %d; binmig "
					"cannot carry a tracer's hold on a child", pid, st->comm, ss->tracer_pid);
		if (st->state == 't')
			return bm_error(BM_EXIT_UNSUPPORTED, "process %d (%s) of the tree is in a trace stop; binmig "
					"cannot carry a tracer's hold on a child", pid, st->comm);
		if (st->state == 'T')
			n->state = BM_TREE_STOPPED; /* a group stop: made again (tree_stop.c) */
	}
	return bm_freeze_check(pid, true, st, ss);
}

/* Node i is stopped: its children are final.  Adds them. */
static int add_children(struct tree_freeze *t, uint32_t i)
{
	pid_t *kids = malloc(MAX_CHILDREN * sizeof *kids);
	if (!kids)
		return bm_error(BM_EXIT_FAILURE, "out of memory");
	size_t n;
	int rc = bm_list_children(t->nodes[i].pid, kids, MAX_CHILDREN, &n);
	if (rc < 0)
		rc = bm_error_errno(BM_EXIT_TARGET, -rc, "cannot list the children of process %d", t->nodes[i].pid);
	else if (n > MAX_CHILDREN)
		rc = bm_error(BM_EXIT_UNSUPPORTED, "process %d has more than %d children", t->nodes[i].pid, MAX_CHILDREN);
	for (size_t k = 0; rc == 0 && k < n; k++) {
		bool known = false;
		for (uint32_t j = 0; j < t->n; j++)
			known |= t->nodes[j].pid == kids[k];
		if (!known)
			rc = add_node(t, kids[k], (int)i);
	}
	free(kids);
	return rc;
}

/* The node of node i's parent among the live members, -1 if none. */
static int parent_node(const struct tree_freeze *t, uint32_t i)
{
	for (uint32_t j = 0; j < t->n; j++)
		if (j != i && t->nodes[j].pid == t->nodes[i].ppid && t->member_of[j] >= 0)
			return (int)j;
	return -1;
}

/* Which members have their parent's descriptor table (CLONE_FILES) or
 * cwd, root and umask (CLONE_FS): carried, as BM_TREE_SHARES_*.  Such a
 * table is described once, with the first process of the line. */
static void mark_shares(struct tree_freeze *t)
{
	for (uint32_t i = 0; i < t->n; i++) {
		int p = parent_node(t, i);
		if (t->member_of[i] < 0 || p < 0)
			continue;
		pid_t pid = t->nodes[i].pid, ppid = t->nodes[p].pid;
		if (kcmp2(pid, ppid, KCMP_FS, 0, 0) == 0)
			t->nodes[i].shares |= BM_TREE_SHARES_FS;
		if (kcmp2(pid, ppid, KCMP_FILES, 0, 0) == 0)
			t->nodes[i].shares |= BM_TREE_SHARES_FILES;
	}
}

/* A member with its parent's table that maps an unlinked file: its
 * descriptor, if any, is in the parent's record, and the member would
 * get a copy of its own. */
static int check_table_sharers(const struct tree_freeze *t)
{
	for (uint32_t i = 0; i < t->n; i++) {
		if (!(t->nodes[i].shares & BM_TREE_SHARES_FILES))
			continue;
		const struct bm_process *p = &t->f->members[t->member_of[i]].proc;
		for (uint32_t k = 0; k < p->nvmas; k++)
			if (bm_unlinked_map_is(&p->vmas[k]))
				return bm_error(BM_EXIT_UNSUPPORTED, "process %d shares its descriptor table (CLONE_FILES) "
						"with its parent %d and maps the unlinked file %s; binmig carries such a "
						"mapping only in the process whose table it restores", p->pid,
						t->nodes[i].ppid, p->vmas[k].path);
	}
	return 0;
}

/* A process created with CLONE_VM (a vfork child is no longer one once
 * its parent is stopped) or CLONE_SIGHAND shares with another member what
 * binmig restores per process; a descriptor table or cwd is carried only
 * down a line of children that each share it with their parent. */
static int check_unshared(const struct tree_freeze *t)
{
	static const struct { int type; uint32_t carried; const char *what; } kinds[] = {
		{KCMP_VM, 0, "its memory (CLONE_VM)"},
		{KCMP_FILES, BM_TREE_SHARES_FILES, "its descriptor table (CLONE_FILES)"},
		{KCMP_FS, BM_TREE_SHARES_FS, "its cwd, root and umask (CLONE_FS)"},
		{KCMP_SIGHAND, 0, "its signal handlers (CLONE_SIGHAND)"},
	};
	/* Per node and carried kind, the node whose object it has: the first
	 * of its line (parents come before their children). */
	uint32_t *owner = calloc(2 * (size_t)t->n + 1, sizeof *owner);
	if (!owner)
		return bm_error(BM_EXIT_FAILURE, "out of memory");
	for (uint32_t i = 0; i < t->n; i++)
		for (int c = 0; c < 2; c++) {
			int p = (t->nodes[i].shares & (1u << c)) ? parent_node(t, i) : -1;
			owner[2 * i + c] = p >= 0 ? owner[2 * (uint32_t)p + c] : i;
		}
	int rc = 0;
	for (uint32_t a = 0; a < t->n && rc == 0; a++)
		for (uint32_t b = a + 1; b < t->n && rc == 0; b++) {
			if (t->member_of[a] < 0 || t->member_of[b] < 0)
				continue;
			for (size_t k = 0; k < sizeof kinds / sizeof *kinds && rc == 0; k++) {
				int c = kinds[k].carried == BM_TREE_SHARES_FILES ? 0 : 1;
				if (kinds[k].carried && owner[2 * a + c] == owner[2 * b + c])
					continue;
				if (kcmp2(t->nodes[a].pid, t->nodes[b].pid, kinds[k].type, 0, 0) == 0)
					rc = bm_error(BM_EXIT_UNSUPPORTED, "process %d (%s) shares %s with process %d (%s); "
						      "binmig carries that only from a parent to its children",
						      t->nodes[b].pid, comm_of_node(t, b), kinds[k].what, t->nodes[a].pid,
						      comm_of_node(t, a));
			}
		}
	free(owner);
	return rc;
}

/* The member that is p's parent, NULL for the root. */
static const struct bm_process *parent_member(const struct bm_frozen *f, const struct bm_process *p)
{
	for (size_t m = 0; m < f->nmembers; m++)
		if (f->members[m].proc.pid == p->ppid && &f->members[m].proc != p)
			return &f->members[m].proc;
	return NULL;
}

/* Kinds whose one description several processes may hold after restore. */
static bool sharable(uint32_t kind)
{
	return kind == BM_FD_REGULAR || kind == BM_FD_DIRECTORY || kind == BM_FD_DEVICE || kind == BM_FD_PIPE ||
	       kind == BM_FD_FIFO || kind == BM_FD_EVENTFD || kind == BM_FD_UNLINKED_FILE;
}

struct fd_ref {
	uint32_t node, member, idx; /* idx in the member's fds */
	uint32_t group;
};

static int cmp_share(const void *a, const void *b)
{
	const struct bm_tree_share *x = a, *y = b;
	if (x->group != y->group)
		return x->group < y->group ? -1 : 1;
	if (x->node != y->node)
		return x->node < y->node ? -1 : 1;
	return (x->fd > y->fd) - (x->fd < y->fd);
}

/* Which descriptors of different members are one open file description
 * (kcmp), and every end of a pipe that crosses members. */
static int find_shares(struct tree_freeze *t, struct bm_tree_image *ti)
{
	struct bm_frozen *ms = t->f->members;
	size_t total = 0;
	for (size_t m = 0; m < t->f->nmembers; m++)
		total += ms[m].proc.nfds;
	struct fd_ref *refs = calloc(total ? total : 1, sizeof *refs);
	bool *keep = calloc(total ? total : 1, sizeof *keep);
	if (!refs || !keep) {
		free(refs);
		free(keep);
		return bm_error(BM_EXIT_FAILURE, "out of memory");
	}
	size_t k = 0;
	for (uint32_t node = 0; node < t->n; node++) {
		int m = t->member_of[node];
		for (uint32_t i = 0; m >= 0 && i < ms[m].proc.nfds; i++, k++)
			refs[k] = (struct fd_ref){node, (uint32_t)m, i, (uint32_t)k};
	}
	int rc = 0;
	/* Groups: the lowest reference of the same description. */
	for (size_t a = 0; a < total && rc == 0; a++) {
		const struct bm_fd *da = &ms[refs[a].member].proc.fds[refs[a].idx];
		if (refs[a].group != a || da->replaced || da->kind == BM_FD_CLOSED)
			continue;
		for (size_t b = a + 1; b < total; b++) {
			const struct bm_fd *db = &ms[refs[b].member].proc.fds[refs[b].idx];
			if (refs[b].member == refs[a].member || refs[b].group != b || db->replaced ||
			    db->kind == BM_FD_CLOSED)
				continue;
			if (kcmp2(ms[refs[a].member].pid, ms[refs[b].member].pid, KCMP_FILE, (unsigned long)da->fd,
				  (unsigned long)db->fd) != 0)
				continue;
			if (!sharable(da->kind)) {
				rc = bm_error(BM_EXIT_UNSUPPORTED, "fd %d of process %d and fd %d of process %d are one open "
					      "file (kind %u); binmig shares files, unlinked files and memfds, pipes, "
					      "FIFOs, devices and eventfds "
					      "between the processes of a tree, not this kind", db->fd, ms[refs[b].member].pid,
					      da->fd, ms[refs[a].member].pid, da->kind);
				break;
			}
			refs[b].group = (uint32_t)a;
			keep[a] = keep[b] = true;
		}
	}
	/* A description a member took a flock through and holds no more
	 * (file_locks.h, through_pid) is inherited too, for it to take the
	 * lock again through that copy. */
	for (size_t m = 0; m < t->f->nmembers && rc == 0; m++)
		for (uint32_t i = 0; i < ms[m].proc.nlocks && rc == 0; i++) {
			const struct bm_file_lock *l = &ms[m].proc.locks[i];
			if (!l->through_pid)
				continue;
			size_t a = 0;
			while (a < total && (ms[refs[a].member].pid != l->through_pid ||
					     ms[refs[a].member].proc.fds[refs[a].idx].fd != l->fd))
				a++;
			if (a < total)
				keep[a] = keep[refs[a].group] = true;
			else
				rc = bm_error(BM_EXIT_FAILURE, "process %d took a flock through fd %d of process %d, which the "
					      "tree does not have", ms[m].pid, l->fd, l->through_pid);
		}
	/* Descriptors of one member in a kept group (dups) and every end of a
	 * pipe whose ends are in several members are inherited too. */
	for (size_t a = 0; a < total && rc == 0; a++) {
		const struct bm_fd *da = &ms[refs[a].member].proc.fds[refs[a].idx];
		for (size_t b = 0; b < total; b++) {
			const struct bm_fd *db = &ms[refs[b].member].proc.fds[refs[b].idx];
			if (keep[refs[b].group] && refs[a].member == refs[b].member && da->shares_with == db->fd &&
			    !da->replaced) {
				keep[a] = true;
				refs[a].group = refs[b].group;
			}
			if (da->kind == BM_FD_PIPE && db->kind == BM_FD_PIPE && da->object_id == db->object_id &&
			    refs[a].member != refs[b].member)
				keep[a] = keep[refs[a].group] = true;
		}
	}
	size_t nshares = 0;
	for (size_t a = 0; a < total; a++)
		nshares += keep[a] || keep[refs[a].group];
	ti->shares = calloc(nshares ? nshares : 1, sizeof *ti->shares);
	if (!ti->shares && rc == 0)
		rc = bm_error(BM_EXIT_FAILURE, "out of memory");
	for (size_t a = 0; a < total && rc == 0; a++)
		if (keep[a] || keep[refs[a].group])
			ti->shares[ti->nshares++] = (struct bm_tree_share){refs[a].node,
									   ms[refs[a].member].proc.fds[refs[a].idx].fd,
									   refs[a].group};
	if (rc == 0)
		qsort(ti->shares, ti->nshares, sizeof *ti->shares, cmp_share);
	free(refs);
	free(keep);
	return rc;
}

/* The group of node's fd in the shared descriptions, -1 if none. */
static int64_t share_group(const struct bm_tree_image *ti, uint32_t node, int32_t fd)
{
	for (uint32_t k = 0; k < ti->nshares; k++)
		if (ti->shares[k].node == node && ti->shares[k].fd == fd)
			return ti->shares[k].group;
	return -1;
}

/* An unlinked file (or memfd) that several members hold comes back as one
 * only through one open file description they all inherited: opened once
 * (tree_restore.c's pool).  Descriptions opened apart, in two members or
 * in one beside an inherited one, would each make a file of their own. */
struct unlinked_ref {
	uint32_t node;
	const struct bm_process *p;
	const struct bm_fd *d;
	int64_t group; /* share_group, -1 for none */
};

static bool one_file(const struct unlinked_ref *x, const struct unlinked_ref *y)
{
	if (x->d->object_id != y->d->object_id || x->d->file.dev != y->d->file.dev)
		return true; /* not the same file: nothing to say */
	return x->node == y->node ? x->group == y->group : x->group >= 0 && x->group == y->group;
}

static int check_unlinked_shared(const struct tree_freeze *t, const struct bm_tree_image *ti)
{
	const struct bm_frozen *ms = t->f->members;
	size_t total = 0, n = 0;
	for (size_t m = 0; m < t->f->nmembers; m++)
		total += ms[m].proc.nfds;
	struct unlinked_ref *refs = calloc(total ? total : 1, sizeof *refs);
	if (!refs)
		return bm_error(BM_EXIT_FAILURE, "out of memory");
	for (uint32_t node = 0; node < t->n; node++) {
		const struct bm_process *p = t->member_of[node] >= 0 ? &ms[t->member_of[node]].proc : NULL;
		for (uint32_t i = 0; p && i < p->nfds; i++)
			if (p->fds[i].kind == BM_FD_UNLINKED_FILE && !p->fds[i].replaced)
				refs[n++] = (struct unlinked_ref){node, p, &p->fds[i], share_group(ti, node, p->fds[i].fd)};
	}
	int rc = 0;
	for (size_t a = 0; rc == 0 && a < n; a++)
		for (size_t b = a + 1; rc == 0 && b < n; b++)
			if (!one_file(&refs[a], &refs[b]))
				rc = bm_error(BM_EXIT_UNSUPPORTED, "fd %d of process %d and fd %d of process %d reach the "
					      "unlinked file %s through different open file descriptions; binmig would "
					      "make it again once per description, no longer one file",
					      refs[a].d->fd, refs[a].p->pid, refs[b].d->fd, refs[b].p->pid, refs[a].d->path);
	free(refs);
	return rc;
}

/* Before anything is stopped: a child that shares its parent's memory
 * other than as a vfork child (whose parent stops once it has run a
 * program or exited) is refused now, untouched. */
static int precheck(pid_t pid, int depth)
{
	pid_t kids[256];
	size_t n;
	if (depth > 64 || bm_list_children(pid, kids, 256, &n) < 0)
		return 0; /* said again, precisely, once stopped */
	for (size_t k = 0; k < n && k < 256; k++) {
		if (kcmp2(pid, kids[k], KCMP_VM, 0, 0) == 0 && !bm_is_vfork_child(pid, kids[k]))
			return bm_error(BM_EXIT_UNSUPPORTED, "process %d shares its memory (CLONE_VM) with its parent %d; "
					"binmig restores every process of a tree with its own", kids[k], pid);
		int rc = precheck(kids[k], depth + 1);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int freeze_tree(struct tree_freeze *t, const struct bm_fd_policy *policy)
{
	struct bm_frozen *f = t->f;
	int rc = precheck(f->pid, 0);
	if (rc == 0)
		rc = add_node(t, f->pid, -1);
	if (rc == 0)
		bm_test_looked_gate();
	/* Parents are stopped before their children are listed: a stopped
	 * process cannot fork, so each listing is final. */
	for (uint32_t i = 0; rc == 0 && i < t->n; i++) {
		if (t->nodes[i].state == BM_TREE_ZOMBIE) {
			t->member_of[i] = -1;
			continue;
		}
		struct bm_frozen *m = &f->members[f->nmembers];
		rc = bm_freeze_stop(t->nodes[i].pid, m);
		if (m->ntracees)
			f->nmembers++;
		if (rc < 0)
			break;
		t->member_of[i] = (int32_t)(f->nmembers - 1);
		/* Looked at before its stop (a child mid-execve, released from
		 * its vfork, has no memory layout yet): what it is now. */
		if ((rc = bm_freeze_reread(t->nodes[i].pid, &t->stats[i], &t->statuses[i])) < 0)
			break;
		node_ids(&t->nodes[i], &t->stats[i]);
		if (m->stop_sig == SIGTRAP && t->nodes[i].state == BM_TREE_STOPPED)
			t->nodes[i].state = BM_TREE_LIVE; /* continued meanwhile: a report not collected is refused below */
		if (m->stop_sig != SIGTRAP && t->nodes[i].state != BM_TREE_STOPPED)
			return bm_error(BM_EXIT_UNSUPPORTED, "process %d (%s) of the tree is stopped (signal %d); binmig carries "
					"a stopped descendant, not a stopped root or one that stops while the tree is frozen", m->pid, t->stats[i].comm, m->stop_sig);
		if (t->nodes[i].state == BM_TREE_STOPPED) /* the signal of its stop, which its report gives */
			t->nodes[i].exit_status = (m->stop_sig << 8) | 0x7f;
		rc = add_children(t, i);
	}
	if (rc == 0)
		mark_shares(t);
	for (size_t m = 0; rc == 0 && m < f->nmembers; m++) {
		uint32_t node = 0;
		while (t->member_of[node] != (int32_t)m)
			node++;
		rc = bm_freeze_collect(&f->members[m], &t->stats[node], &t->statuses[node], policy, true,
				       t->nodes[node].shares & BM_TREE_SHARES_FILES);
	}
	if (rc == 0)
		rc = check_table_sharers(t);
	/* A session or group led from outside the tree is made again as the
	 * restorer's, where the root starts (tree_plan.h), standing for the
	 * one whose leader lives on outside; one whose leader has exited is
	 * made again with a stand-in (tree_standin.h). */
	if (rc == 0)
		rc = bm_tree_mark_gone(&(struct bm_tree){t->nodes, t->n});
	if (rc < 0)
		return rc;
	struct bm_process **procs = calloc(f->nmembers, sizeof *procs);
	if (!procs)
		return bm_error(BM_EXIT_FAILURE, "out of memory");
	for (size_t m = 0; m < f->nmembers; m++)
		procs[m] = &f->members[m].proc;
	rc = bm_collect_shared_fds(procs, f->nmembers, policy, true);
	if (rc == 0)
		rc = bm_locks_keep_takers(procs, f->nmembers);
	if (rc == 0)
		rc = bm_locks_order_tree(procs, f->nmembers);
	if (rc == 0)
		rc = bm_shmem_check_outside(procs, f->nmembers);
	free(procs);
	if (rc == 0)
		rc = bm_tree_probe_reports(&(struct bm_tree){t->nodes, t->n}, t->member_of, f->members);
	if (rc == 0)
		rc = check_unshared(t);
	if (rc == 0)
		rc = bm_unlinked_map_check_tree(f->members, f->nmembers);
	for (size_t m = 0; rc == 0 && m < f->nmembers; m++)
		rc = bm_attrs_check_pdeath(&f->members[m].proc, parent_member(f, &f->members[m].proc));
	if (rc < 0)
		return rc;
	f->tree->tree.nodes = t->nodes;
	f->tree->tree.n = t->n;
	t->nodes = NULL;
	if ((rc = find_shares(t, f->tree)) < 0 || (rc = check_unlinked_shared(t, f->tree)) < 0)
		return rc;
	char why[256];
	struct bm_tree_step *steps;
	size_t nsteps;
	if (bm_tree_plan(&f->tree->tree, &steps, &nsteps, why, sizeof why) < 0)
		return bm_error(BM_EXIT_UNSUPPORTED, "the tree of process %d cannot be made again: %s", f->pid, why);
	free(steps);
	return 0;
}

int bm_tree_freeze(pid_t pid, struct bm_frozen *f, const struct bm_fd_policy *policy, struct bm_stats *st)
{
	memset(f, 0, sizeof *f);
	f->pid = pid;
	struct tree_freeze t = {.f = f};
	t.nodes = calloc(TREE_MAX_MEMBERS, sizeof *t.nodes);
	t.member_of = calloc(TREE_MAX_MEMBERS, sizeof *t.member_of);
	t.stats = calloc(TREE_MAX_MEMBERS, sizeof *t.stats);
	t.statuses = calloc(TREE_MAX_MEMBERS, sizeof *t.statuses);
	f->members = calloc(TREE_MAX_MEMBERS, sizeof *f->members);
	f->tree = calloc(1, sizeof *f->tree);
	int rc;
	if (!t.nodes || !t.member_of || !t.stats || !t.statuses || !f->members || !f->tree)
		rc = bm_error(BM_EXIT_FAILURE, "out of memory");
	else
		rc = freeze_tree(&t, policy);
	free(t.nodes);
	free(t.member_of);
	free(t.stats);
	free(t.statuses);
	if (rc < 0) {
		bm_release(f, false);
		return rc;
	}
	if (st) {
		uint64_t first = UINT64_MAX, last = 0;
		st->vmas = st->threads = st->fds = 0;
		for (size_t m = 0; m < f->nmembers; m++) {
			const struct bm_frozen *mm = &f->members[m];
			first = mm->t_suspend_start < first ? mm->t_suspend_start : first;
			last = mm->t_stopped > last ? mm->t_stopped : last;
			st->vmas += mm->proc.nvmas;
			st->threads += mm->proc.nthreads;
			st->fds += mm->proc.nfds;
		}
		st->suspend_us = (int64_t)(last - first);
	}
	f->t_suspend_start = f->members[0].t_suspend_start;
	f->t_stopped = f->members[f->nmembers - 1].t_stopped;
	return 0;
}

int bm_tree_checkpoint(struct bm_frozen *f, struct bm_image_writer *w, struct bm_stats *st)
{
	struct bm_wbuf b;
	bm_wbuf_init(&b);
	int rc = bm_tree_encode(&b, f->tree);
	if (rc < 0)
		rc = bm_error(BM_EXIT_FAILURE, "out of memory");
	else
		rc = bm_image_write_tree(w, b.data, b.len);
	bm_wbuf_free(&b);
	for (size_t m = 0; rc == 0 && m < f->nmembers; m++)
		rc = bm_image_write_process(w, &f->members[m].proc);
	int64_t total = 0, zero = 0, stored = 0;
	struct bm_shmem_seen seen = {0};
	/* Pre-copy counts the tracked pages of the root it carries. */
	const struct bm_page_skip *sk = f->skip_pages;
	struct bm_page_skip count = {NULL, 0, sk ? sk->counted : NULL, sk ? sk->ncounted : 0, sk ? sk->carried : NULL};
	for (size_t m = 0; rc == 0 && m < f->nmembers; m++) {
		rc = bm_write_pages(f->members[m].pid, &f->members[m].proc, w, st, &seen, m == 0 ? &count : NULL);
		if (rc == 0)
			rc = bm_image_write_member_end(w, (uint32_t)m);
		if (st) { /* counted per call */
			total += st->pages_total;
			zero += st->pages_zero;
			stored += st->pages_stored;
		}
	}
	bm_shmem_seen_free(&seen);
	if (st) {
		st->pages_total = total;
		st->pages_zero = zero;
		st->pages_stored = stored;
	}
	return rc;
}

int bm_tree_release(struct bm_frozen *f, bool terminate)
{
	int rc = 0;
	/* Children first when resuming, so that no parent runs while one of
	 * its children is still held. */
	for (size_t m = f->nmembers; m-- > 0;)
		if (bm_release(&f->members[m], terminate) < 0)
			rc = -1;
	free(f->members);
	bm_tree_image_free(f->tree);
	free(f->tree);
	f->members = NULL;
	f->tree = NULL;
	f->nmembers = 0;
	return rc;
}

int bm_tree_check_exit_signals(const struct bm_frozen *f)
{
	const struct bm_tree *t = f->nmembers && f->tree ? &f->tree->tree : NULL;
	for (uint32_t i = 1; t && i < t->n; i++) {
		const struct bm_tree_node *n = &t->nodes[i];
		for (size_t m = 1; m < f->nmembers; m++) {
			if (f->members[m].pid != n->pid || !f->members[m].proc.exit_sends_sigchld)
				continue;
			char sig[24] = "no signal";
			if (n->exit_signal)
				snprintf(sig, sizeof sig, "signal %d", n->exit_signal);
			return bm_error(BM_EXIT_UNSUPPORTED,
					"process %d (%s) of the tree was made with clone() to send its parent %s at its "
					"exit, and its parent has run a program since (execve), so the kernel sends SIGCHLD "
					"instead; binmig cannot make that again",
					n->pid, n->comm, sig);
		}
	}
	return 0;
}
