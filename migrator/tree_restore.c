/* The destination side of a process tree (tree.h): create every member
 * with its PID, parent, session and group, and zombies with their
 * status; hand down the descriptions members share; rebuild each member
 * as restore.c does; let them all run only when all are ready. */
#include "tree.h"
#include "xstate.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <linux/sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fd_table.h"
#include "file_locks.h"
#include "files.h"
#include "fault.h"
#include "log.h"
#include "pipe_layout.h"
#include "procfs.h"
#include "restore_ctx.h"
#include "timers_next_id.h"
#include "tree_creds.h"
#include "tree_plan.h"
#include "tree_standin.h"

#define PLAN_TIMEOUT_MS 10000
#define ERR_SIZE 1024
/* A PID whose process is gone from /proc may stay taken a moment longer
 * (the dumped tree is still being torn down): clone3 with it is tried
 * again every 5 ms, for at most this long. */
#define PID_RETRY_MS 5000
#define PID_RETRY_STEP_NS 5000000L

/* clone3 with exactly PID want, retried while it is taken (EEXIST), to
 * send exit_signal to its parent when it exits.  Only system calls: it
 * runs in the helpers too. */
static long clone_with_pid(pid_t want, uint64_t flags, int exit_signal)
{
	struct clone_args args = {.flags = flags, .exit_signal = (uint64_t)exit_signal, .set_tid = (uint64_t)&want,
				  .set_tid_size = 1};
	for (long waited = 0;; waited += PID_RETRY_STEP_NS / 1000000) {
		long child = syscall(SYS_clone3, &args, sizeof args);
		if (child >= 0 || errno != EEXIST || waited >= PID_RETRY_MS)
			return child;
		struct timespec ts = {0, PID_RETRY_STEP_NS};
		syscall(SYS_nanosleep, &ts, NULL);
	}
}

/* Shared by binmig and every process it creates for the tree, until each
 * loses binmig's memory. */
struct shared_ctl {
	_Atomic uint32_t step;         /* steps of the plan done (futex) */
	_Atomic uint32_t failed;
	_Atomic uint32_t taken;        /* the failure: a PID taken (clone3 EEXIST) */
	_Atomic uint32_t lock_turn;    /* the members' file locks taken so far, in their order (futex) */
	char err[ERR_SIZE];
	struct {
		_Atomic int32_t created;  /* 1 once forked (a stand-in: until reaped) */
		_Atomic uint32_t go;      /* a member with its parent's table: 1 once that is made */
	} node[];
};

struct tree_rs {
	struct bm_tree_image ti;
	struct bm_tree_node *standins; /* node ti.tree.n + k is standins[k] (tree_standin.h) */
	uint32_t nstandins;
	struct bm_tree_step *steps;
	size_t nsteps;
	int32_t *member_of;            /* node -> member, -1 for a zombie */
	uint32_t **lock_turns;         /* per member, per lock: its turn (file_lock_order.h) */
	struct restore_ctx *ctx;       /* per member */
	bool **inherited;              /* per member, per image descriptor; then (from nfds + 1) sigio_elsewhere */
	uint32_t nm;
	int *pool_fd;                  /* per share entry: the inherited descriptor in the children */
	int *pool_at;                  /* the pool's numbers (pool_fd's and pipes' other ends), ascending */
	uint32_t npool;
	struct shared_ctl *ctl;
	size_t ctl_size;
	pid_t outer_pgid;
	int err_pipe[2], go_pipe[2];
	uint64_t pid_wait_us;     /* waiting for the PIDs to be free (reaped elsewhere): not restore time */
	struct bm_shm_names shm_names;
	struct bm_shmem_objects shmem;
};

/* ---- in the created processes: system calls only ---- */

static void helper_fail(struct tree_rs *t, const char *what, int err) __attribute__((noreturn));
static void helper_fail(struct tree_rs *t, const char *what, int err)
{
	uint32_t expected = 0;
	if (atomic_compare_exchange_strong(&t->ctl->failed, &expected, 1)) {
		snprintf(t->ctl->err, sizeof t->ctl->err, "process %d: %s: %s", (int)syscall(SYS_getpid), what,
			 strerror(err));
		atomic_store(&t->ctl->taken, err == EEXIST);
	}
	syscall(SYS_futex, &t->ctl->step, FUTEX_WAKE, INT32_MAX, NULL, NULL, 0);
	syscall(SYS_exit_group, 1);
	__builtin_unreachable();
}

static void wait_turn(struct tree_rs *t, uint32_t s)
{
	for (;;) {
		uint32_t now = atomic_load(&t->ctl->step);
		if (now == s)
			return;
		if (atomic_load(&t->ctl->failed))
			syscall(SYS_exit_group, 1);
		struct timespec ts = {1, 0};
		syscall(SYS_futex, &t->ctl->step, FUTEX_WAIT, now, &ts, NULL, 0);
	}
}

static void helper(struct tree_rs *t, uint32_t node, size_t from) __attribute__((noreturn));

/* Exits as the zombie exited: with its code, or killed by its signal
 * (from version 11 take_creds has set its signal sets: the mask stays). */
static void become_zombie(const struct bm_tree_node *n)
{
	int32_t status = n->exit_status;
	int sig = status & 0x7f;
	syscall(SYS_prctl, PR_SET_NAME, n->comm, 0, 0, 0);
	if (sig == 0)
		syscall(SYS_exit_group, (status >> 8) & 0xff);
	struct sigaction dfl = {.sa_handler = SIG_DFL};
	syscall(SYS_rt_sigaction, sig, &dfl, NULL, 8);
	uint64_t none = 0;
	if (!n->has_creds)
		syscall(SYS_rt_sigprocmask, SIG_SETMASK, &none, NULL, 8);
	syscall(SYS_prctl, PR_SET_DUMPABLE, 0, 0, 0, 0); /* no core: the status must not say one was dumped */
	/* Sent to the process (kill), it stays pending there, as /proc shows;
	 * to its thread (raise), it does not. */
	if (!n->has_creds || (n->creds.shd_pnd & (1ULL << (sig - 1))))
		syscall(SYS_kill, syscall(SYS_getpid), sig);
	else
		syscall(SYS_tgkill, syscall(SYS_getpid), syscall(SYS_gettid), sig);
	syscall(SYS_exit_group, 128 + sig);
}

static int parent_member(const struct tree_rs *t, uint32_t node);

/* A zombie exits with its own credentials and signal sets (image version
 * 11), or with its parent's credentials, which the dump of an older image
 * had found to be its own: waitid's si_uid and /proc show them.  In the order set_credentials
 * (restore.c) sets a member's. */
static void take_creds(struct tree_rs *t, uint32_t node)
{
	const struct bm_tree_node *n = &t->ti.tree.nodes[node];
	if (n->has_creds) {
		const char *what = "";
		int rc = bm_tree_creds_take(&n->creds, &what);
		if (rc < 0)
			helper_fail(t, what, -rc);
		if ((rc = bm_tree_zombie_exit(&n->creds, n->exit_status & 0x7f)) < 0)
			helper_fail(t, "its signal dispositions and mask", -rc);
		return;
	}
	int pm = parent_member(t, node);
	if (pm < 0)
		helper_fail(t, "a zombie without its parent", EINVAL);
	const struct bm_process *p = &t->ctx[pm].proc;
	if (syscall(SYS_setgroups, p->ngroups, p->groups) < 0 ||
	    syscall(SYS_setresgid, p->gid[0], p->gid[1], p->gid[2]) < 0)
		helper_fail(t, "taking its parent's groups", errno);
	syscall(SYS_setfsgid, p->gid[3]);
	if (syscall(SYS_setresuid, p->uid[0], p->uid[1], p->uid[2]) < 0)
		helper_fail(t, "taking its parent's user ids", errno);
	syscall(SYS_setfsuid, p->uid[3]);
}

/* Node i of the plan: a tree's node, or a stand-in after them. */
static const struct bm_tree_node *plan_node(const struct tree_rs *t, uint32_t i)
{
	return i < t->ti.tree.n ? &t->ti.tree.nodes[i] : &t->standins[i - t->ti.tree.n];
}

/* Creates node c of the plan as node's child, or, by a stand-in, as the
 * child of the stand-in's parent (CLONE_PARENT: its exit signal is then
 * the stand-in's, made with the one of the children it creates). */
static void fork_step(struct tree_rs *t, uint32_t node, uint32_t c, size_t s)
{
	const struct bm_tree_node *n = plan_node(t, c);
	bool by_standin = node >= t->ti.tree.n;
	long child = clone_with_pid(n->pid, ((n->shares & BM_TREE_SHARES_FILES) ? CLONE_FILES : 0) |
						    ((n->shares & BM_TREE_SHARES_FS) ? CLONE_FS : 0) |
						    (by_standin ? CLONE_PARENT : 0),
				    by_standin ? 0 : n->exit_signal);
	if (child == 0)
		helper(t, c, s + 1);
	if (child < 0)
		helper_fail(t, c < t->ti.tree.n ? "clone3 with the PID of a child"
						: "clone3 with the PID of a session's or group's leader, gone", errno);
	atomic_store(&t->ctl->node[c].created, 1);
}

/* Reaps stand-in c, which has exited or is about to. */
static void reap_step(struct tree_rs *t, uint32_t c)
{
	int status;
	pid_t pid = plan_node(t, c)->pid;
	long got;
	while ((got = syscall(SYS_wait4, pid, &status, __WALL, NULL)) < 0 && errno == EINTR)
		;
	if (got != pid)
		helper_fail(t, "reaping a stand-in", got < 0 ? errno : ECHILD);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		helper_fail(t, "a stand-in failed", EPROTO);
	atomic_store(&t->ctl->node[c].created, 0);
}

static void helper(struct tree_rs *t, uint32_t node, size_t from)
{
	for (size_t s = from; s < t->nsteps; s++) {
		const struct bm_tree_step *st = &t->steps[s];
		if (st->actor != node)
			continue;
		wait_turn(t, (uint32_t)s);
		if (st->op == BM_TREE_FORK) {
			fork_step(t, node, (uint32_t)st->arg, s);
		} else if (st->op == BM_TREE_REAP) {
			reap_step(t, (uint32_t)st->arg);
		} else if (st->op == BM_TREE_SETSID) {
			if (syscall(SYS_setsid) < 0)
				helper_fail(t, "setsid", errno);
		} else if (st->op == BM_TREE_SETPGID) {
			pid_t g = st->arg == BM_TREE_OUTER_GROUP ? t->outer_pgid : st->arg;
			if (syscall(SYS_setpgid, 0, g) < 0)
				helper_fail(t, "setpgid", errno);
		} else if (st->op == BM_TREE_EXIT && node < t->ti.tree.n) {
			take_creds(t, node); /* before its step is done: a failure is seen */
		}
		atomic_store(&t->ctl->step, (uint32_t)s + 1);
		syscall(SYS_futex, &t->ctl->step, FUTEX_WAKE, INT32_MAX, NULL, NULL, 0);
		if (st->op == BM_TREE_EXIT && node >= t->ti.tree.n)
			syscall(SYS_exit_group, 0); /* a stand-in: its parent reaps it */
		if (st->op == BM_TREE_EXIT)
			become_zombie(&t->ti.tree.nodes[node]);
	}
	if (node >= t->ti.tree.n)
		helper_fail(t, "a stand-in with no exit in the plan", EINVAL);
	const struct restore_ctx *c = &t->ctx[t->member_of[node]];
	if (!c->table_of_parent)
		bm_rs_child_prepare(c, t->err_pipe[1], t->go_pipe[0]);
	/* The table is the parent's, which the parent makes (closing what
	 * binmig left in it, the go pipe too): binmig says when it is done,
	 * and the parent's control descriptor takes any error. */
	pid_t parent = t->ti.tree.nodes[node].ppid;
	while (!atomic_load(&t->ctl->node[node].go)) {
		if (atomic_load(&t->ctl->failed) || syscall(SYS_getppid) != parent)
			syscall(SYS_exit_group, 1);
		struct timespec ts = {1, 0};
		syscall(SYS_futex, &t->ctl->node[node].go, FUTEX_WAIT, 0, &ts, NULL, 0);
	}
	bm_rs_child_prepare(c, t->ctx[c->table_owner].ctl_fd, -1);
}

/* The descriptor share k is, in its member's model. */
static const struct bm_fd *share_fd(const struct tree_rs *t, uint32_t k)
{
	const struct bm_tree_share *s = &t->ti.shares[k];
	const struct restore_ctx *c = &t->ctx[t->member_of[s->node]];
	return bm_fd_find(c->proc.fds, c->proc.nfds, s->fd);
}

/* The share that is fd of process pid, or -1. */
static int64_t share_of(const struct tree_rs *t, pid_t pid, int32_t fd)
{
	for (uint32_t k = 0; k < t->ti.nshares; k++)
		if (t->ti.shares[k].fd == fd && t->ti.tree.nodes[t->ti.shares[k].node].pid == pid)
			return k;
	return -1;
}

/* place_inherited: each shared description at its numbers; then the
 * flocks the member took through descriptions it holds no more, through
 * its inherited copies (file_locks.h, through_pid), while it has them. */
static int place_inherited(const struct restore_ctx *c, char *err, size_t errlen)
{
	const struct tree_rs *t = c->tree;
	for (uint32_t k = 0; k < t->ti.nshares; k++) {
		const struct bm_tree_share *s = &t->ti.shares[k];
		if (t->member_of[s->node] != (int32_t)c->member)
			continue;
		const struct bm_fd *d = bm_fd_find(c->proc.fds, c->proc.nfds, s->fd);
		if (dup3(t->pool_fd[k], s->fd, (d->flags & O_CLOEXEC) ? O_CLOEXEC : 0) < 0) {
			snprintf(err, errlen, "fd %d: placing a description shared in the tree: %s", s->fd, strerror(errno));
			return -1;
		}
		if (bm_fd_give_owner(d, err, errlen) < 0)
			return -1;
	}
	for (uint32_t i = 0; i < c->proc.nlocks; i++) {
		const struct bm_file_lock *l = &c->proc.locks[i];
		int64_t k = l->through_pid ? share_of(t, l->through_pid, l->fd) : -1;
		if (k >= 0 && bm_lock_take_through(&c->proc, l, t->pool_fd[k], share_fd(t, (uint32_t)k)->path, err, errlen) < 0)
			return -1;
	}
	return 0;
}

/* ---- binmig ---- */

static bool is_reader(const struct bm_fd *d)
{
	return (d->flags & O_ACCMODE) == O_RDONLY;
}

/* Whether number N is one a member needs while it still holds the pool:
 * its control descriptor, or the number of a shared descriptor it places. */
static bool needed_with_pool(int n, const void *arg)
{
	const struct tree_rs *t = arg;
	for (uint32_t m = 0; m < t->nm; m++)
		if (!t->ctx[m].table_of_parent && t->ctx[m].ctl_fd == n)
			return true;
	for (uint32_t k = 0; k < t->ti.nshares; k++)
		if (t->ti.shares[k].fd == n)
			return true;
	return false;
}

/* Makes pipe d once with its capacity and every byte buffered in it, in
 * its buffers as they were (pipe_layout.h):
 * both ends at the lowest numbers that no member needs while it holds the
 * pool. */
static int make_pipe(struct tree_rs *t, const struct bm_fd *d, int ends_out[2])
{
	int ends[2];
	struct bm_fd_maker was = bm_fd_maker_become(d);
	int made = pipe2(ends, O_CLOEXEC), e = errno;
	bm_fd_maker_back(was);
	if (made < 0)
		return bm_error_errno(BM_EXIT_FAILURE, e, "pipe");
	uint32_t cap = 0;
	int rc = 0;
	for (uint32_t j = 0; j < t->ti.nshares && rc == 0; j++) {
		const struct bm_fd *e = share_fd(t, j);
		if (e->kind == BM_FD_PIPE && e->object_id == d->object_id && e->object_flags > cap)
			cap = e->object_flags;
	}
	if (cap && fcntl(ends[1], F_SETPIPE_SZ, (int)cap) < 0)
		rc = bm_error_errno(BM_EXIT_FAILURE, errno, "sizing pipe:[%llu]", (unsigned long long)d->object_id);
	for (uint32_t j = 0; j < t->ti.nshares && rc == 0; j++) {
		const struct bm_fd *e = share_fd(t, j);
		int put = e->kind == BM_FD_PIPE && e->object_id == d->object_id ? bm_pipe_refill(ends[1], e) : 0;
		if (put < 0)
			rc = bm_error_errno(BM_EXIT_FAILURE, -put, "refilling pipe:[%llu]", (unsigned long long)d->object_id);
	}
	for (int k = 0; k < 2; k++) {
		int got = rc == 0 ? bm_fd_table_dup_low(ends[k], 3, needed_with_pool, t) : -EBADF;
		ends_out[k] = got >= 0 ? got : -1;
		close(ends[k]);
		if (rc == 0 && got < 0)
			rc = bm_error_errno(BM_EXIT_FAILURE, -got, "placing the ends of pipe:[%llu]",
					    (unsigned long long)d->object_id);
	}
	return rc;
}

/* Opens every shared description once (the pool), at the lowest numbers
 * that binmig has free and no member needs while it holds the pool (each
 * member inherits it: its table is then as small as they allow).
 * other_end[k]: for a pipe made with group k, its other end. */
static int open_pool(struct tree_rs *t, int *other_end)
{
	for (uint32_t k = 0; k < t->ti.nshares; k++)
		t->pool_fd[k] = other_end[k] = -1;
	for (uint32_t k = 0; k < t->ti.nshares; k++) {
		const struct bm_tree_share *s = &t->ti.shares[k];
		const struct bm_fd *d = share_fd(t, k);
		if (!d)
			return bm_error(BM_EXIT_IMAGE, "the tree shares fd %d of process %d, which it does not have", s->fd,
					t->ti.tree.nodes[s->node].pid);
		if (k > 0 && t->ti.shares[k - 1].group == s->group) {
			t->pool_fd[k] = t->pool_fd[k - 1];
			continue;
		}
		if (d->kind == BM_FD_PIPE) {
			int made = -1;
			for (uint32_t j = 0; j < k && made < 0; j++)
				if (other_end[j] >= 0 && share_fd(t, j)->object_id == d->object_id)
					made = (int)j;
			if (made >= 0 && is_reader(share_fd(t, (uint32_t)made)) == is_reader(d))
				return bm_error(BM_EXIT_IMAGE, "pipe:[%llu] has two descriptions of one direction",
						(unsigned long long)d->object_id);
			if (made >= 0) {
				t->pool_fd[k] = other_end[made];
			} else {
				int ends[2];
				int rc = make_pipe(t, d, ends);
				if (rc < 0)
					return rc;
				t->pool_fd[k] = ends[is_reader(d) ? 0 : 1];
				other_end[k] = ends[is_reader(d) ? 1 : 0];
			}
		} else {
			const struct restore_ctx *c = &t->ctx[t->member_of[s->node]];
			char err[512];
			int o = bm_open_description(&c->proc, (uint32_t)(d - c->proc.fds), err, sizeof err);
			if (o < 0)
				return bm_error(BM_EXIT_CONFLICT, "process %d: %s", t->ti.tree.nodes[s->node].pid, err);
			int got = bm_fd_table_dup_low(o, 3, needed_with_pool, t);
			close(o);
			if (got < 0)
				return bm_error_errno(BM_EXIT_FAILURE, -got, "opening a description shared in the tree");
			t->pool_fd[k] = got;
		}
		if (bm_set_status_flags(t->pool_fd[k], d) < 0)
			return bm_error_errno(BM_EXIT_FAILURE, errno, "setting the flags of fd %d of process %d", s->fd,
					      t->ti.tree.nodes[s->node].pid);
	}
	return 0;
}

static int ascending(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}

/* The pool's numbers, each once and ascending, into t->pool_at: every
 * member keeps them until its shared descriptors are at their numbers.
 * OTHER_END as open_pool made it. */
static int list_pool(struct tree_rs *t, const int *other_end)
{
	t->pool_at = malloc((2 * (size_t)t->ti.nshares + 1) * sizeof *t->pool_at);
	if (!t->pool_at)
		return bm_error(BM_EXIT_FAILURE, "out of memory");
	t->npool = 0;
	for (uint32_t k = 0; k < 2 * t->ti.nshares; k++) {
		int fd = k < t->ti.nshares ? t->pool_fd[k] : other_end[k - t->ti.nshares];
		uint32_t j = 0;
		while (j < t->npool && t->pool_at[j] != fd)
			j++;
		if (fd >= 0 && j == t->npool)
			t->pool_at[t->npool++] = fd;
	}
	qsort(t->pool_at, t->npool, sizeof *t->pool_at, ascending);
	return 0;
}

static int futex_wait_ms(_Atomic uint32_t *addr, uint32_t val, long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	return (int)syscall(SYS_futex, addr, FUTEX_WAIT, val, &ts, NULL, 0);
}

/* Until every step of the plan is done, and every zombie is one. */
static int wait_plan(struct tree_rs *t, pid_t root)
{
	uint64_t deadline = bm_now_us() + PLAN_TIMEOUT_MS * 1000ULL;
	for (;;) {
		uint32_t s = atomic_load(&t->ctl->step);
		if (atomic_load(&t->ctl->failed))
			return bm_error(atomic_load(&t->ctl->taken) ? BM_EXIT_CONFLICT : BM_EXIT_FAILURE,
					"restoring the tree: %s", t->ctl->err);
		if (s == t->nsteps)
			break;
		int status;
		if (waitpid(root, &status, WNOHANG) == root)
			return bm_error(BM_EXIT_FAILURE, "restoring the tree: process %d ended (status %#x) while the tree "
					"was being made", root, status);
		if (bm_now_us() >= deadline)
			return bm_error(BM_EXIT_FAILURE, "restoring the tree: not made within %d ms (step %u of %zu)",
					PLAN_TIMEOUT_MS, s, t->nsteps);
		futex_wait_ms(&t->ctl->step, s, 50);
	}
	for (uint32_t i = 0; i < t->ti.tree.n; i++) {
		if (t->ti.tree.nodes[i].state != BM_TREE_ZOMBIE)
			continue;
		struct bm_proc_stat st;
		while (bm_read_stat(t->ti.tree.nodes[i].pid, &st) == 0 && st.state != 'Z') {
			if (bm_now_us() >= deadline)
				return bm_error(BM_EXIT_FAILURE, "restoring the tree: process %d did not become a zombie",
						t->ti.tree.nodes[i].pid);
			struct timespec ts = {0, 1000000};
			nanosleep(&ts, NULL);
		}
		int rc = t->ti.tree.nodes[i].has_creds ? bm_tree_zombie_affinity(t->ti.tree.nodes[i].pid,
										     &t->ti.tree.nodes[i].creds) : 0;
		if (rc < 0)
			return rc;
	}
	return 0;
}

static uint32_t node_of(const struct tree_rs *t, uint32_t m)
{
	uint32_t i = 0;
	while (i < t->ti.tree.n && t->member_of[i] != (int32_t)m)
		i++;
	return i;
}

static pid_t node_pid(const struct tree_rs *t, uint32_t m)
{
	uint32_t i = node_of(t, m);
	return i < t->ti.tree.n ? t->ti.tree.nodes[i].pid : -1;
}

/* The member that is node's parent, -1 if none. */
static int parent_member(const struct tree_rs *t, uint32_t node)
{
	for (uint32_t j = 0; j < t->ti.tree.n; j++)
		if (t->ti.tree.nodes[j].pid == t->ti.tree.nodes[node].ppid)
			return t->member_of[j];
	return -1;
}

/* Members with their parent's table (or cwd): the table is made by its
 * owner, the first of the line.  The restore's own descriptors of the
 * line (each member's control slot and files, and room for those the
 * owner makes before moving them to their numbers) go together where the
 * owner's table has room for them (bm_fd_table_place): above its
 * highest, or in free numbers below; only the last member rebuilt closes
 * them. */
static int plan_shared_tables(struct tree_rs *t)
{
	int *end = calloc(t->nm + 1, sizeof *end);     /* per owner: above its line's files */
	uint32_t *last = calloc(t->nm + 1, sizeof *last); /* per owner: its last sharer */
	unsigned *used = calloc(t->nm + 1, sizeof *used); /* per owner: its line's files and control slots */
	bool *below = calloc(t->nm + 1, sizeof *below);   /* per owner: they go below some of its descriptors */
	int rc = end && last && used && below ? 0 : bm_error(BM_EXIT_FAILURE, "out of memory");
	for (uint32_t m = 0; rc == 0 && m < t->nm; m++) {
		t->ctx[m].table_owner = last[m] = m;
		used[m] = (unsigned)t->ctx[m].nfiles;
	}
	for (uint32_t i = 0; rc == 0 && i < t->ti.tree.n; i++) {
		const struct bm_tree_node *n = &t->ti.tree.nodes[i];
		int pm = parent_member(t, i);
		if (!n->shares)
			continue;
		if (pm < 0)
			rc = bm_error(BM_EXIT_IMAGE, "image: process %d shares with its parent %d, which is not a live member",
				      n->pid, n->ppid);
		struct restore_ctx *c = &t->ctx[t->member_of[i]];
		c->fs_of_parent = n->shares & BM_TREE_SHARES_FS;
		if (rc < 0 || !(n->shares & BM_TREE_SHARES_FILES))
			continue;
		if (c->proc.nfds || c->proc.nlocks)
			rc = bm_error(BM_EXIT_IMAGE, "image: process %d has its parent's descriptor table, and descriptors "
				      "of its own", n->pid);
		c->table_of_parent = true;
		c->table_owner = t->ctx[pm].table_owner;
		used[c->table_owner] += 1 + (unsigned)c->nfiles;
	}
	for (uint32_t m = 0; rc == 0 && m < t->nm; m++) {
		struct restore_ctx *c = &t->ctx[m];
		if (c->table_of_parent)
			continue;
		uint32_t made = 0; /* the descriptors it makes itself (not inherited from the pool) */
		for (uint32_t i = 0; i < c->proc.nfds; i++)
			made += !c->inherited[i];
		int above = c->ctl_fd;
		rc = bm_rs_move_files(c, bm_fd_table_place(&c->proc, bm_fd_table_need(used[m], made)));
		end[m] = c->ctl_fd + 1 + (int)c->nfiles;
		below[m] = c->ctl_fd < above;
	}
	for (uint32_t i = 0; rc == 0 && i < t->ti.tree.n; i++) {
		if (t->member_of[i] < 0 || !t->ctx[t->member_of[i]].table_of_parent)
			continue;
		struct restore_ctx *c = &t->ctx[t->member_of[i]];
		uint32_t owner = c->table_owner;
		rc = bm_rs_move_files(c, end[owner]);
		end[owner] = c->ctl_fd + 1 + (int)c->nfiles;
		t->ctx[last[owner]].close_from = -1;
		c->close_from = t->ctx[owner].ctl_fd;
		last[owner] = (uint32_t)t->member_of[i];
	}
	for (uint32_t m = 0; rc == 0 && m < t->nm; m++)
		if (!t->ctx[m].table_of_parent && below[m])
			t->ctx[last[m]].close_to = end[m] - 1;
	free(end);
	free(last);
	free(used);
	free(below);
	return rc;
}

/* Every flock a member takes through another's descriptor is through a
 * description the tree shares (which it inherits), and the member makes
 * its own descriptor table (it holds them, place_inherited). */
static int check_through_locks(const struct tree_rs *t)
{
	for (uint32_t m = 0; m < t->nm; m++) {
		const struct restore_ctx *c = &t->ctx[m];
		for (uint32_t i = 0; i < c->proc.nlocks; i++) {
			const struct bm_file_lock *l = &c->proc.locks[i];
			if (l->through_pid && (share_of(t, l->through_pid, l->fd) < 0 || c->table_of_parent))
				return bm_error(BM_EXIT_IMAGE, "image: process %d takes a flock through fd %d of process %d, "
						"%s", c->proc.pid, l->fd, l->through_pid,
						c->table_of_parent ? "but has its parent's descriptor table"
								   : "which the tree does not share");
		}
	}
	return 0;
}

/* The members take their file locks in one sequence, in the order of
 * each file's list at dump (file_lock_order.h). */
static int plan_lock_turns(struct tree_rs *t)
{
	const struct bm_process **procs = calloc(t->nm, sizeof *procs);
	if (!procs || !(t->lock_turns = calloc(t->nm, sizeof *t->lock_turns))) {
		free(procs);
		return bm_error(BM_EXIT_FAILURE, "out of memory");
	}
	for (uint32_t m = 0; m < t->nm; m++)
		procs[m] = &t->ctx[m].proc;
	int rc = bm_lock_order_turns(procs, t->nm, t->lock_turns);
	free(procs);
	for (uint32_t m = 0; rc == 0 && m < t->nm; m++)
		t->ctx[m].lock_turns = (struct bm_lock_turns){.turn = &t->ctl->lock_turn, .turn_of = t->lock_turns[m]};
	return rc;
}

/* Reads every member's model and plans its files and descriptors. */
static int read_members(struct tree_rs *t, struct bm_image_reader *r)
{
	uint32_t m = 0;
	for (uint32_t i = 0; i < t->ti.tree.n; i++)
		t->member_of[i] = t->ti.tree.nodes[i].state == BM_TREE_ZOMBIE ? -1 : (int32_t)m++;
	for (m = 0; m < t->nm; m++) {
		struct restore_ctx *c = &t->ctx[m];
		*c = (struct restore_ctx){.tree_member = true, .defer_run = true, .member = m, .tree = t,
					  .place_inherited = place_inherited, .shm_names = &t->shm_names,
					  .shmem = &t->shmem};
		int rc = bm_image_read_process(r, &c->proc);
		if (rc < 0)
			return rc;
		if (c->proc.pid != node_pid(t, m))
			return bm_error(BM_EXIT_IMAGE, "image: member %u is process %d, the tree says %d", m, c->proc.pid,
					node_pid(t, m));
		if ((rc = bm_xstate_fits_here(&c->proc)) < 0 || (rc = bm_check_fds(&c->proc)) < 0 ||
		    (rc = bm_rs_plan_files(c)) < 0)
			return rc;
		if (!(t->inherited[m] = calloc(2 * ((size_t)c->proc.nfds + 1), sizeof **t->inherited)))
			return bm_error(BM_EXIT_FAILURE, "out of memory");
		c->inherited = t->inherited[m];
		c->sigio_elsewhere = t->inherited[m] + c->proc.nfds + 1;
	}
	for (uint32_t k = 0; k < t->ti.nshares; k++) {
		const struct bm_tree_share *s = &t->ti.shares[k];
		const struct restore_ctx *c = &t->ctx[t->member_of[s->node]];
		const struct bm_fd *d = bm_fd_find(c->proc.fds, c->proc.nfds, s->fd);
		if (!d)
			return bm_error(BM_EXIT_IMAGE, "the tree shares fd %d of process %d, which it does not have", s->fd,
					c->proc.pid);
		t->inherited[t->member_of[s->node]][d - c->proc.fds] = true;
		/* One open file gets its signals' owner once, from its first holder. */
		if (k > 0 && t->ti.shares[k - 1].group == s->group)
			t->inherited[t->member_of[s->node]][c->proc.nfds + 1 + (d - c->proc.fds)] = true;
	}
	return plan_shared_tables(t) < 0 || check_through_locks(t) < 0 ? -1 : plan_lock_turns(t);
}

/* Creates the root, which creates the rest; then traces every live
 * member and lets each prepare itself and stop. */
static int create_tree(struct tree_rs *t)
{
	int *other_end = calloc(t->ti.nshares + 1, sizeof *other_end);
	if (!other_end)
		return bm_error(BM_EXIT_FAILURE, "out of memory");
	int rc = open_pool(t, other_end);
	if (rc == 0)
		rc = list_pool(t, other_end);
	for (uint32_t m = 0; rc == 0 && m < t->nm; m++) {
		t->ctx[m].keep = t->pool_at;
		t->ctx[m].nkeep = t->npool;
	}
	uint64_t wait_from = bm_now_us();
	for (uint32_t i = 0; rc == 0 && i < t->ti.tree.n + t->nstandins; i++)
		rc = bm_rs_wait_pid_free(plan_node(t, i)->pid);
	t->pid_wait_us = bm_now_us() - wait_from;
	if (rc == 0 && (pipe2(t->err_pipe, O_CLOEXEC) < 0 || pipe2(t->go_pipe, O_CLOEXEC) < 0))
		rc = bm_error_errno(BM_EXIT_FAILURE, errno, "pipe");
	long root = -1;
	if (rc == 0) {
		/* Every signal blocked in the created processes until each sets its
		 * own: binmig's handlers must not run there (a SIGCHLD from a zombie
		 * made again stays pending, and is dropped before the image's
		 * signals are queued). */
		sigset_t all, old;
		sigfillset(&all);
		sigprocmask(SIG_SETMASK, &all, &old);
		pid_t want = t->ti.tree.nodes[0].pid;
		/* binmig's child: its parent is not the image's.  Sharing binmig's
		 * table until it takes its own, of what the tree needs (the
		 * pool, the pipes): its members' are copies of it (fd_table.h). */
		int keep = t->npool ? t->pool_at[t->npool - 1] + 1 : 3;
		for (int k = 0; k < 2; k++) {
			keep = t->err_pipe[k] >= keep ? t->err_pipe[k] + 1 : keep;
			keep = t->go_pipe[k] >= keep ? t->go_pipe[k] + 1 : keep;
		}
		root = clone_with_pid(want, CLONE_FILES, SIGCHLD);
		if (root == 0 && bm_fd_table_own((unsigned)keep) < 0)
			syscall(SYS_exit_group, 1);
		if (root == 0) {
			/* glibc's own two (32, 33) too, which sigprocmask leaves
			 * out (a signalfd's registration is primed with them,
			 * fd_watch_prime.h). */
			uint64_t every = ~0ull;
			syscall(SYS_rt_sigprocmask, SIG_SETMASK, &every, NULL, 8);
			/* Not the go pipe's write end (nor, so, the other members):
			 * if binmig dies before it traces them, their read of go
			 * ends and they with it. */
			close(t->go_pipe[1]);
			/* A child that exits (a zombie, a stand-in) stays one until
			 * its parent reaps it, whatever binmig was given: the image's
			 * handlers come later. */
			struct sigaction dfl = {.sa_handler = SIG_DFL};
			syscall(SYS_rt_sigaction, SIGCHLD, &dfl, NULL, 8);
			helper(t, 0, 0);
		}
		int e = errno;
		sigprocmask(SIG_SETMASK, &old, NULL);
		if (root < 0)
			rc = e == EEXIST ? bm_error(BM_EXIT_CONFLICT, "PID %d is taken", want)
					 : bm_error_errno(BM_EXIT_FAILURE, e, "clone3 with PID %d", want);
		else
			atomic_store(&t->ctl->node[0].created, 1);
		if (root > 0)
			rc = bm_fd_table_wait_own((pid_t)root);
	}
	/* binmig's copies of what the tree inherited. */
	for (uint32_t k = 0; k < t->ti.nshares; k++) {
		if (t->pool_fd[k] >= 0 && (k == 0 || t->pool_fd[k] != t->pool_fd[k - 1]))
			close(t->pool_fd[k]);
		if (other_end[k] >= 0)
			close(other_end[k]);
	}
	free(other_end);
	if (t->err_pipe[1] >= 0)
		close(t->err_pipe[1]);
	if (t->go_pipe[0] >= 0)
		close(t->go_pipe[0]);
	t->err_pipe[1] = t->go_pipe[0] = -1;
	if (rc < 0)
		return rc;
	if ((rc = wait_plan(t, (pid_t)root)) < 0)
		return rc;
	for (uint32_t m = 0; m < t->nm; m++) {
		struct restore_ctx *c = &t->ctx[m];
		c->pid = node_pid(t, m);
		if (bm_fault(BM_FP_TRACE_NEW) || ptrace(PTRACE_SEIZE, c->pid, 0, PTRACE_O_EXITKILL) < 0)
			return bm_error_errno(BM_EXIT_FAILURE, errno, "cannot trace the new process %d", c->pid);
		c->child_alive = true;
	}
	for (uint32_t m = 0; m < t->nm; m++) {
		char go = 1;
		if (!t->ctx[m].table_of_parent && write(t->go_pipe[1], &go, 1) != 1)
			return bm_error_errno(BM_EXIT_FAILURE, errno, "cannot start the new processes");
	}
	/* In member order: the owner of a table has made it (and stopped)
	 * before the members that share it go on. */
	for (uint32_t m = 0; m < t->nm; m++) {
		if (t->ctx[m].table_of_parent) {
			uint32_t node = node_of(t, m);
			atomic_store(&t->ctl->node[node].go, 1);
			syscall(SYS_futex, &t->ctl->node[node].go, FUTEX_WAKE, INT32_MAX, NULL, NULL, 0);
		}
		int status = 0;
		rc = bm_wait_stop(t->ctx[m].pid, &status, 10000);
		if (rc < 0)
			return bm_error_errno(BM_EXIT_FAILURE, -rc, "waiting for the new process %d", t->ctx[m].pid);
		if (!(WIFSTOPPED(status) && WSTOPSIG(status) == SIGSTOP)) {
			char msg[ERR_SIZE] = "";
			ssize_t n = read(t->err_pipe[0], msg, sizeof msg - 1);
			msg[n > 0 ? n : 0] = 0;
			if (WIFEXITED(status) || WIFSIGNALED(status))
				t->ctx[m].child_alive = false;
			return bm_error(msg[0] ? BM_EXIT_CONFLICT : BM_EXIT_FAILURE, "restoring process %d: %s", t->ctx[m].pid,
					msg[0] ? msg : "the new process did not stop as expected");
		}
	}
	return 0;
}

/* Each member's pages, up to its mark; then END. */
static int rebuild_all(struct tree_rs *t, struct bm_image_reader *r)
{
	for (uint32_t m = 0; m < t->nm; m++) {
		int rc = bm_rs_rebuild(&t->ctx[m], r, NULL);
		if (rc < 0)
			return rc;
		if (!r->member_ended || r->member_mark != m)
			return bm_error(BM_EXIT_IMAGE, "image: the pages of tree member %u end without its mark", m);
	}
	struct bm_page_run run;
	int rc = bm_image_next_pages(r, &run);
	if (rc < 0)
		return rc;
	if (rc > 0 || !r->ended)
		return bm_error(BM_EXIT_IMAGE, "image: pages after the last member of the tree");
	return 0;
}

/* Everything created goes: members (binmig's tracees), the root (its
 * child) and the helpers; zombies with their parents.  A process whose
 * creator is killed before it has marked it created ends by itself: it
 * sees the failure where it waits for its turn or its table. */
static void kill_tree(struct tree_rs *t)
{
	if (!t->ctl)
		return;
	atomic_store(&t->ctl->failed, 1);
	syscall(SYS_futex, &t->ctl->step, FUTEX_WAKE, INT32_MAX, NULL, NULL, 0);
	for (uint32_t i = 0; i < t->ti.tree.n; i++)
		syscall(SYS_futex, &t->ctl->node[i].go, FUTEX_WAKE, INT32_MAX, NULL, NULL, 0);
	bool any = false;
	for (uint32_t i = 0; i < t->ti.tree.n + t->nstandins; i++)
		if (atomic_load(&t->ctl->node[i].created)) {
			kill(plan_node(t, i)->pid, SIGKILL);
			any = true;
		}
	int status;
	while (any && (waitpid(-1, &status, __WALL) > 0 || errno == EINTR))
		;
}

static void free_tree(struct tree_rs *t)
{
	for (uint32_t m = 0; t->ctx && m < t->nm; m++) {
		free(t->ctx[m].files);
		free(t->ctx[m].cgroup_procs);
		free(t->ctx[m].others);
		free(t->ctx[m].all);
		bm_specials_free(&t->ctx[m].specials);
		bm_process_free(&t->ctx[m].proc);
		if (t->inherited)
			free(t->inherited[m]);
	}
	for (uint32_t m = 0; t->lock_turns && m < t->nm; m++)
		free(t->lock_turns[m]);
	free(t->lock_turns);
	free(t->ctx);
	free(t->inherited);
	free(t->member_of);
	free(t->pool_fd);
	free(t->pool_at);
	free(t->steps);
	free(t->standins);
	for (int k = 0; k < 2; k++) {
		if (t->err_pipe[k] >= 0)
			close(t->err_pipe[k]);
		if (t->go_pipe[k] >= 0)
			close(t->go_pipe[k]);
	}
	if (t->ctl)
		munmap(t->ctl, t->ctl_size);
	bm_rs_unlink_shm_names(&t->shm_names);
	bm_shmem_objects_free(&t->shmem);
	bm_tree_image_free(&t->ti);
}

/* Member m's registers; a stopped one is then stopped again and let go
 * (tree_stop.c), its parent still held. */
static int set_context_or_stop(struct tree_rs *t, uint32_t m)
{
	int rc = bm_rs_set_context(&t->ctx[m]);
	const struct bm_tree_node *n = &t->ti.tree.nodes[node_of(t, m)];
	if (rc < 0 || n->state != BM_TREE_STOPPED)
		return rc;
	int pm = parent_member(t, node_of(t, m));
	t->ctx[m].released = true;
	return bm_tree_restore_stop(&t->ctx[m], n, pm >= 0 ? &t->ctx[pm] : NULL);
}

/* The restore's figures for the whole tree, once it is complete. */
static void tree_stats(const struct tree_rs *t, const struct bm_image_reader *r, struct bm_stats *st, uint64_t t0)
{
	st->pid = t->ctx[0].pid;
	st->vmas = st->threads = st->fds = 0;
	for (uint32_t m = 0; m < t->nm; m++) {
		st->vmas += t->ctx[m].proc.nvmas;
		st->threads += t->ctx[m].proc.nthreads;
		st->fds += t->ctx[m].proc.nfds;
	}
	st->image_bytes = (int64_t)r->count.bytes;
	st->pages_stored = (int64_t)r->count.pages_stored;
	st->pages_zero = (int64_t)r->count.pages_zero;
	st->total_us = (int64_t)(bm_now_us() - t0);
	/* Not split per phase for a tree yet: all of it but the wait for its
	 * PIDs counts as address-space restore. */
	st->as_restore_us = st->total_us - (int64_t)t->pid_wait_us;
	st->ctx_restore_us = 0;
}

int bm_tree_restore(struct bm_image_reader *r, const uint8_t *payload, uint32_t len,
		    const struct bm_restore_hook *hook, pid_t *pid, struct bm_stats *st)
{
	struct tree_rs t = {.err_pipe = {-1, -1}, .go_pipe = {-1, -1}};
	uint64_t t0 = bm_now_us();
	char why[256];
	if (bm_tree_decode(payload, len, r->version, &t.ti, why, sizeof why) < 0)
		return bm_error(BM_EXIT_IMAGE, "image: the tree table: %s", why);
	t.nm = bm_tree_live_count(&t.ti.tree);
	t.outer_pgid = getpgrp();
	int32_t *plan_ppid = calloc(t.ti.tree.n, sizeof *plan_ppid);
	if (!plan_ppid || bm_tree_standins(&t.ti.tree, &t.standins, &t.nstandins, plan_ppid, why, sizeof why) < 0) {
		free(plan_ppid);
		bm_tree_image_free(&t.ti);
		return bm_error(BM_EXIT_IMAGE, "image: the tree's stand-ins: %s", plan_ppid ? why : "out of memory");
	}
	free(plan_ppid);
	t.ctl_size = (sizeof *t.ctl + (t.ti.tree.n + t.nstandins) * sizeof t.ctl->node[0] + 4095) & ~(size_t)4095;
	t.member_of = calloc(t.ti.tree.n, sizeof *t.member_of);
	t.ctx = calloc(t.nm, sizeof *t.ctx);
	t.inherited = calloc(t.nm, sizeof *t.inherited);
	t.pool_fd = calloc(t.ti.nshares + 1, sizeof *t.pool_fd);
	void *ctl = mmap(NULL, t.ctl_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	t.ctl = ctl == MAP_FAILED ? NULL : ctl;
	int rc = 0;
	if (!t.member_of || !t.ctx || !t.inherited || !t.pool_fd || !t.ctl)
		rc = bm_error(BM_EXIT_FAILURE, "out of memory");
	if (rc == 0 && (rc = read_members(&t, r)) == 0 &&
	    bm_tree_plan(&t.ti.tree, &t.steps, &t.nsteps, why, sizeof why) < 0)
		rc = bm_error(BM_EXIT_IMAGE, "image: the tree cannot be made: %s", why);
	/* binmig and the new processes on one CPU while calls are injected,
	 * as for one process. */
	int cpu = sched_getcpu();
	cpu_set_t own;
	bool pinned = rc == 0 && bm_pin_self(cpu, &own) == 0;
	for (uint32_t m = 0; m < t.nm && pinned; m++) {
		t.ctx[m].pinned = true;
		t.ctx[m].pinned_cpu = cpu;
		t.ctx[m].own_affinity = own;
	}
	if (rc == 0)
		rc = create_tree(&t);
	bm_rs_unlink_shm_names(&t.shm_names); /* the members hold them open, or are gone */
	if (rc == 0 && (rc = rebuild_all(&t, r)) == 0 && hook && hook->before_run)
		rc = hook->before_run(hook->ctx);
	/* Children first: a stopped one stops again while its parent is held. */
	for (uint32_t m = t.nm; rc == 0 && m-- > 0;)
		rc = set_context_or_stop(&t, m);
	if (rc == 0 && st)
		tree_stats(&t, r, st, t0);
	for (uint32_t m = 0; rc == 0 && hook && hook->hold && m < t.nm; m++)
		if (!t.ctx[m].released)
			rc = bm_rs_park(&t.ctx[m]);
	/* The next timer ids and watch numbers: from CONFIRM or the image
	 * (timers_next_id.h). */
	struct bm_next_ids *ids = NULL;
	if (rc == 0 && !(ids = calloc(1, sizeof *ids)))
		rc = bm_error(BM_EXIT_FAILURE, "out of memory");
	if (rc == 0 && hook && hook->hold)
		rc = hook->hold(hook->ctx, t.ctx[0].pid, ids);
	bool to_set = false;
	for (uint32_t m = 0; rc == 0 && m < t.nm; m++)
		if (!t.ctx[m].released) {
			bm_next_ids_add_image(&t.ctx[m].proc, ids);
			to_set |= bm_next_ids_to_set(&t.ctx[m].proc, ids);
		}
	/* Setting them parks the processes, which then run on should binmig
	 * die: all of them at once, or a parent could run without its
	 * children (a process not parked dies with binmig, PTRACE_O_EXITKILL). */
	for (uint32_t m = 0; rc == 0 && to_set && m < t.nm; m++)
		if (!t.ctx[m].released && !t.ctx[m].parked)
			rc = bm_rs_park(&t.ctx[m]);
	for (uint32_t m = 0; rc == 0 && to_set && m < t.nm; m++)
		if (!t.ctx[m].released)
			bm_rs_set_next_ids(&t.ctx[m], ids);
	free(ids);
	/* All ready: children first, so that no parent runs without them. */
	for (uint32_t m = t.nm; rc == 0 && m-- > 0;)
		if (!t.ctx[m].released)
			rc = bm_rs_let_run(&t.ctx[m]);
	if (rc < 0)
		kill_tree(&t);
	if (rc == 0) {
		*pid = t.ctx[0].pid;
		for (uint32_t m = 0; m < t.nm; m++)
			bm_fd_policy_report(&t.ctx[m].proc);
	}
	if (pinned)
		sched_setaffinity(0, sizeof own, &own);
	free_tree(&t);
	return rc;
}
