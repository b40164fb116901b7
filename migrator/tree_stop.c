/* Stopped members of a process tree (tree.h): a child in a group stop
 * (SIGSTOP, SIGTSTP, ...) stays stopped, and its parent's
 * waitpid(..., WUNTRACED) reports the stop again only if it had not
 * collected it before the dump.
 *
 * What the kernel keeps: the stop's signal in the child's
 * signal->group_exit_code until the parent waits for it (then 0); it is
 * not in /proc, so the source asks the parent itself: an injected
 * waitid(P_PID, child, WSTOPPED | WCONTINUED | WNOHANG | WNOWAIT) reports
 * the stop (or a continue) without consuming it.  A continue not yet
 * collected (SIGCONT of a stopped child, WCONTINUED) is refused, and so
 * is a stopped process in a group led from outside the tree (the root's
 * group, say): at the destination that group is binmig's, orphaned when
 * binmig exits, and the kernel continues the stopped members of an
 * orphaned group (SIGHUP, SIGCONT).  A job in a group of its own, as a
 * shell makes it, is carried.
 *
 * The stop's signal (SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU), which the
 * report gives, is the one the freeze's seize reported.  The kernel
 * drops SIGTSTP, SIGTTIN and SIGTTOU sent to a process whose group is
 * orphaned, or that has a handler for them or blocks them in every
 * thread: such a stop is refused where the tree at the destination would
 * have it so (binmig, the root's parent for a moment only, not counted).
 *
 * The destination makes the stop again as the last thing before the
 * parent runs: the stop's signal sent to the restored child, which stops
 * once detached (the parent gets its report and a SIGCHLD), a thread
 * that takes the signal first and the others once it has stopped, so
 * that none runs an instruction on the way.  If the parent
 * had collected the report, an injected waitid collects it again; the
 * SIGCHLD the new stop sent is taken back unless the image has one
 * pending (then the two are one, as the kernel keeps one). */
#include "tree.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "checkpoint.h"
#include "fault.h"
#include "log.h"
#include "procfs.h"
#include "ptrace_ctl.h"
#include "restore_ctx.h"

#define STOP_WAIT_MS 10000

static int parent_node(const struct bm_tree *t, uint32_t i)
{
	for (uint32_t j = 0; j < t->n; j++)
		if (t->nodes[j].pid == t->nodes[i].ppid)
			return (int)j;
	return -1;
}

/* The report node i's parent would get from waitid now, without taking it. */
static int probe_one(struct bm_tree *t, uint32_t i, struct bm_tracee *tr, pid_t ppid)
{
	struct bm_tree_node *n = &t->nodes[i];
	uint64_t scratch;
	int rc = bm_scratch_map(tr, &scratch);
	if (rc < 0)
		return rc;
	long r = 0;
	siginfo_t si;
	memset(&si, 0, sizeof si);
	if ((rc = bm_mem_write(ppid, scratch, &si, sizeof si)) < 0)
		rc = bm_error_errno(BM_EXIT_TARGET, -rc, "writing memory of process %d", ppid);
	else if ((rc = bm_inject(tr, SYS_waitid, P_PID, (uint64_t)n->pid, scratch,
				 WSTOPPED | WCONTINUED | WNOHANG | WNOWAIT | __WALL, 0, 0, &r)) == 0 &&
		 r < 0)
		rc = bm_error_errno(BM_EXIT_TARGET, (int)-r, "asking process %d whether it has a report of its child %d",
				    ppid, n->pid);
	if (rc == 0 && (rc = bm_mem_read(ppid, scratch, &si, sizeof si)) < 0)
		rc = bm_error_errno(BM_EXIT_TARGET, -rc, "reading memory of process %d", ppid);
	int un = bm_scratch_unmap(tr, scratch);
	if (rc < 0)
		return rc;
	if (un < 0)
		return un;
	if (si.si_pid != n->pid)
		return 0;
	if (si.si_code == CLD_CONTINUED)
		return bm_error(BM_EXIT_UNSUPPORTED, "process %d (%s) was continued (SIGCONT) after a stop and its parent %d "
				"has not collected that yet (waitpid WCONTINUED); binmig cannot make that report again",
				n->pid, n->comm, ppid);
	if (si.si_code == CLD_STOPPED && n->state == BM_TREE_STOPPED)
		n->reports |= BM_TREE_REPORT_STOPPED;
	return 0;
}

/* Whether group g, led inside the tree, has a member other than the
 * root whose parent, a live member, is in another group of its session:
 * then the kernel does not count it orphaned. */
static bool group_held(const struct bm_tree *t, int32_t g)
{
	for (uint32_t m = 1; m < t->n; m++) {
		int p = parent_node(t, m);
		const struct bm_tree_node *n = &t->nodes[m];
		if (n->pgid == g && n->state != BM_TREE_ZOMBIE && p >= 0 && t->nodes[p].state != BM_TREE_ZOMBIE &&
		    t->nodes[p].pgid != g && t->nodes[p].sid == n->sid)
			return true;
	}
	return false;
}

/* A stop by SIGTSTP, SIGTTIN or SIGTTOU that the restore can make again
 * with that signal (see the top of this file). */
static int check_stop_signal(const struct bm_tree *t, uint32_t i, const struct bm_process *p)
{
	const struct bm_tree_node *n = &t->nodes[i];
	int sig = (n->exit_status >> 8) & 0xff;
	if (sig == SIGSTOP)
		return 0;
	const char *why = NULL;
	bool unblocked = false;
	for (uint32_t k = 0; k < p->nthreads; k++)
		unblocked |= !(p->threads[k].sigmask & (1ULL << (sig - 1)));
	if (p->sigactions[sig - 1].handler != (uint64_t)(uintptr_t)SIG_DFL)
		why = "it has a handler for that signal now";
	else if (!unblocked)
		why = "every thread of it blocks that signal now";
	else if (!group_held(t, n->pgid))
		why = "its process group would be orphaned there";
	if (!why)
		return 0;
	return bm_error(BM_EXIT_UNSUPPORTED, "process %d (%s) is stopped by signal %d (job control); binmig makes such a "
			"stop again with that signal, which the kernel would drop at the destination: %s", n->pid,
			n->comm, sig, why);
}

int bm_tree_probe_reports(struct bm_tree *t, const int32_t *member_of, struct bm_frozen *members)
{
	for (uint32_t i = 1; i < t->n; i++) {
		if (t->nodes[i].state == BM_TREE_ZOMBIE)
			continue;
		int p = parent_node(t, i);
		if (p < 0 || member_of[p] < 0)
			continue;
		/* A group whose leader has exited is made again as it was, by a
		 * stand-in (tree_standin.h): as one led inside. */
		bool led_inside = t->nodes[i].gone & BM_TREE_GONE_PGID;
		for (uint32_t j = 0; j < t->n; j++)
			led_inside |= t->nodes[j].pid == t->nodes[i].pgid && t->nodes[j].state != BM_TREE_ZOMBIE;
		if (t->nodes[i].state == BM_TREE_STOPPED && !led_inside)
			return bm_error(BM_EXIT_UNSUPPORTED, "process %d (%s) is stopped in process group %d, which is led from "
					"outside the tree: at the destination that group can be orphaned when binmig exits, "
					"and the kernel would continue it (SIGHUP, SIGCONT)", t->nodes[i].pid,
					t->nodes[i].comm, t->nodes[i].pgid);
		int rc = 0;
		if (t->nodes[i].state == BM_TREE_STOPPED)
			rc = check_stop_signal(t, i, &members[member_of[i]].proc);
		struct bm_frozen *pm = &members[member_of[p]];
		if (rc == 0)
			rc = probe_one(t, i, &pm->tracees[0], pm->pid);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* ---- the destination ---- */

static bool sigchld_pending_in(const struct bm_process *p)
{
	for (uint32_t i = 0; i < p->nshared_pending; i++)
		if (((const siginfo_t *)p->shared_pending[i].raw)->si_signo == SIGCHLD)
			return true;
	for (uint32_t k = 0; k < p->nthreads; k++)
		for (uint32_t i = 0; i < p->threads[k].npending; i++)
			if (((const siginfo_t *)p->threads[k].pending[i].raw)->si_signo == SIGCHLD)
				return true;
	return false;
}

static int wait_for(pid_t pid, bool (*done)(pid_t, const void *), const void *arg, const char *what)
{
	uint64_t deadline = bm_now_us() + STOP_WAIT_MS * 1000ULL;
	while (!done(pid, arg)) {
		if (bm_now_us() >= deadline)
			return bm_error(BM_EXIT_FAILURE, "restoring the tree: process %d: %s within %d ms", pid, what,
					STOP_WAIT_MS);
		struct timespec ts = {0, 200000};
		nanosleep(&ts, NULL);
	}
	return 0;
}

/* The state letter of /proc/PID/task/TID/stat, 0 if unreadable. */
static char task_state(pid_t pid, const char *tid)
{
	char path[384], buf[512];
	snprintf(path, sizeof path, "/proc/%d/task/%s/stat", (int)pid, tid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
	if (fd >= 0)
		close(fd);
	buf[n > 0 ? n : 0] = 0;
	const char *p = strrchr(buf, ')');
	return p && p[1] ? p[2] : 0;
}

/* Every thread in the group stop: only then is the stop complete
 * (reported, and collectable by the parent's waitid). */
static bool is_stopped(pid_t pid, const void *arg)
{
	(void)arg;
	char dir[64];
	snprintf(dir, sizeof dir, "/proc/%d/task", (int)pid);
	DIR *d = opendir(dir);
	if (!d)
		return false;
	bool all = true, any = false;
	struct dirent *e;
	while (all && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		all = task_state(pid, e->d_name) == 'T';
		any = true;
	}
	closedir(d);
	return all && any;
}

/* Thread *ARG of PID in the group stop. */
static bool thread_stopped(pid_t pid, const void *arg)
{
	char tid[16];
	snprintf(tid, sizeof tid, "%d", *(const pid_t *)arg);
	return task_state(pid, tid) == 'T';
}

static bool has_sigchld(pid_t pid, const void *arg)
{
	(void)arg;
	struct bm_proc_status ss;
	memset(&ss, 0, sizeof ss);
	return bm_read_status(pid, &ss) == 0 && (ss.shd_pnd & (1ULL << (SIGCHLD - 1)));
}

static int detach(pid_t tid)
{
	if (bm_fault(BM_FP_DETACH) || ptrace(PTRACE_DETACH, tid, 0, 0) < 0)
		return bm_error_errno(BM_EXIT_FAILURE, errno, "cannot detach from thread %d", tid);
	return 0;
}

/* Lets C go into the stop SIG, sent to it: first a thread that takes SIG
 * (that does not block it), which starts the group stop, then, once that
 * one has stopped, the others, whom a group stop in effect stops as they
 * are let go, before they run an instruction.  Let go first, a thread
 * that blocks SIG (one glibc is making blocks every signal) would run
 * on until the taker stops it. */
static int release_into_stop(struct restore_ctx *c, int sig)
{
	uint32_t taker = 0;
	while (taker <= c->nothers && sig != SIGSTOP && (c->proc.threads[taker].sigmask & (1ULL << (sig - 1))))
		taker++;
	if (taker > c->nothers) /* no thread takes it: the dump refused such a stop */
		return bm_error(BM_EXIT_FAILURE, "process %d: every thread blocks signal %d, its stop", c->pid, sig);
	pid_t first = taker ? c->others[taker - 1].tid : c->pid;
	int rc = detach(first);
	if (rc == 0)
		rc = wait_for(c->pid, thread_stopped, &first, "did not begin to stop again");
	for (uint32_t i = 0; rc == 0 && i <= c->nothers; i++)
		if (i != taker)
			rc = detach(i ? c->others[i - 1].tid : c->pid);
	return rc;
}

int bm_tree_restore_stop(struct restore_ctx *child, const struct bm_tree_node *n, struct restore_ctx *parent)
{
	int sig = (n->exit_status >> 8) & 0xff;
	if (kill(child->pid, sig) < 0)
		return bm_error_errno(BM_EXIT_FAILURE, errno, "cannot stop process %d again", child->pid);
	int rc = release_into_stop(child, sig);
	if (rc == 0)
		rc = wait_for(child->pid, is_stopped, NULL, "did not stop again");
	if (rc < 0 || !parent)
		return rc;
	const struct bm_sigaction *chld = &parent->proc.sigactions[SIGCHLD - 1];
	bool sent = chld->handler != (uint64_t)(uintptr_t)SIG_IGN && !(chld->flags & SA_NOCLDSTOP) &&
		    !sigchld_pending_in(&parent->proc);
	if (sent && (rc = wait_for(parent->pid, has_sigchld, NULL, "the SIGCHLD of a stop did not arrive")) < 0)
		return rc;
	long r = 0;
	if (!(n->reports & BM_TREE_REPORT_STOPPED)) {
		/* Its parent had collected this stop: collect it again. */
		rc = bm_inject(&parent->tr, SYS_waitid, P_PID, (uint64_t)n->pid, 0, WSTOPPED | WNOHANG | __WALL, 0, 0, &r);
		if (rc == 0 && r < 0)
			rc = bm_error_errno(BM_EXIT_FAILURE, (int)-r, "process %d: collecting the stop of %d", parent->pid,
					    n->pid);
		if (rc < 0)
			return rc;
	}
	if (!sent)
		return 0;
	uint64_t scratch;
	if ((rc = bm_scratch_map(&parent->tr, &scratch)) < 0)
		return rc;
	struct { uint64_t set; struct timespec now; } arg = {1ULL << (SIGCHLD - 1), {0, 0}};
	if ((rc = bm_mem_write(parent->pid, scratch, &arg, sizeof arg)) < 0)
		rc = bm_error_errno(BM_EXIT_FAILURE, -rc, "writing memory of process %d", parent->pid);
	else if ((rc = bm_inject(&parent->tr, SYS_rt_sigtimedwait, scratch, 0, scratch + 8, 8, 0, 0, &r)) == 0 &&
		 r != SIGCHLD)
		rc = bm_error(BM_EXIT_FAILURE, "process %d: taking back the SIGCHLD of a stop made again: %ld",
			      parent->pid, r);
	int un = bm_scratch_unmap(&parent->tr, scratch);
	return rc < 0 ? rc : un;
}
