/* Freezing a process and describing it: the source side of a migration. */
#include "checkpoint.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/kcmp.h>
#include <linux/ptrace.h>

#include "analysis.h"
#include "attrs.h"
#include "attrs_modes.h"
#include "xstate.h"
#include "cgroup.h"
#include "fault.h"
#include "file_lock_order.h"
#include "file_locks.h"
#include "log.h"
#include "pending_stop.h"
#include "shmem.h"
#include "sk_inet.h"
#include "sk_unix_adopt.h"
#include "test_slowdown.h"
#include "timers.h"
#include "tree.h"
#include "unlinked.h"

#define PF_KTHREAD 0x00200000u
#define XSTATE_MAX (64 * 1024)


static char *xstrdup(const char *s)
{
	char *d = strdup(s);
	if (!d)
		bm_error(BM_EXIT_FAILURE, "out of memory");
	return d;
}

static void comm_of(pid_t pid, char *buf, size_t len)
{
	struct bm_proc_stat st;
	if (bm_read_stat(pid, &st) == 0)
		snprintf(buf, len, "%s", st.comm);
	else
		snprintf(buf, len, "?");
}

/* With --no-tree binmig moves one process: children would be left
 * behind (and, at the destination, be missing from the parent's wait()). */
static int refuse_children(pid_t pid)
{
	pid_t kids[8];
	size_t n;
	int rc = bm_list_children(pid, kids, 8, &n);
	if (rc < 0)
		return bm_error_errno(BM_EXIT_TARGET, -rc, "cannot list the children of process %d", pid);
	if (n == 0)
		return 0;
	char list[128] = "";
	for (size_t i = 0; i < n && i < 8; i++)
		snprintf(list + strlen(list), sizeof list - strlen(list), "%s%d", i ? ", " : "", (int)kids[i]);
	return bm_error(BM_EXIT_UNSUPPORTED,
			"process %d has %zu child process%s (%s%s); with --no-tree binmig moves one process and cannot "
			"leave them behind",
			pid, n, n == 1 ? "" : "es", list, n > 8 ? ", ..." : "");
}

/* What clone() lets two tasks share, and kcmp compares. */
static const struct { int type; const char *what; } clone_shares[] = {
	{KCMP_VM, "its memory (CLONE_VM)"},
	{KCMP_FILES, "its descriptor table (CLONE_FILES)"},
	{KCMP_FS, "its cwd, root and umask (CLONE_FS)"},
	{KCMP_SIGHAND, "its signal handlers (CLONE_SIGHAND)"},
};
#define NCLONE_SHARES (sizeof clone_shares / sizeof *clone_shares)

/* What the process shares with its parent, which is not moved with it,
 * would be split in two: refused before anything is stopped. */
static int refuse_shared_with_parent(pid_t pid, pid_t ppid, const char *comm)
{
	if (ppid <= 0)
		return 0;
	if (syscall(SYS_kcmp, pid, ppid, KCMP_VM, 0, 0) == 0 && bm_is_vfork_child(ppid, pid))
		return bm_error(BM_EXIT_UNSUPPORTED, "process %d (%s) is a vfork child of process %d: the two share "
				"their memory until it runs a program or exits; move process %d with its tree, or "
				"this one after that", pid, comm, ppid, ppid);
	for (size_t k = 0; k < NCLONE_SHARES; k++)
		if (syscall(SYS_kcmp, pid, ppid, clone_shares[k].type, 0, 0) == 0)
			return bm_error(BM_EXIT_UNSUPPORTED, "process %d (%s) shares %s with its parent %d, which is not "
					"moved with it; binmig would split them", pid, comm, clone_shares[k].what, ppid);
	return 0;
}

/* The image holds one descriptor table and one cwd, root and umask per
 * process, the leader's, which every thread shares again at restore: a
 * thread that left them (unshare(CLONE_FILES), unshare(CLONE_FS)) is
 * refused.  F's threads are stopped: none can unshare meanwhile. */
static int refuse_thread_unshared(const struct bm_frozen *f, const char *comm)
{
	for (size_t i = 1; i < f->ntracees; i++)
		for (size_t k = 0; k < NCLONE_SHARES; k++) {
			pid_t tid = f->tracees[i].tid;
			long same = syscall(SYS_kcmp, f->pid, tid, clone_shares[k].type, 0, 0);
			if (same < 0)
				return bm_error_errno(BM_EXIT_TARGET, errno, "cannot compare thread %d with its process %d",
						      tid, f->pid);
			if (same != 0)
				return bm_error(BM_EXIT_UNSUPPORTED, "thread %d of process %d (%s) does not share %s with "
						"the process's leader (unshare in that thread); binmig restores the "
						"leader's for every thread", tid, f->pid, comm, clone_shares[k].what);
		}
	return 0;
}

int bm_freeze_check(pid_t pid, bool tree, struct bm_proc_stat *stat, struct bm_proc_status *status)
{
	if (pid <= 0)
		return bm_error(BM_EXIT_TARGET, "invalid PID %d", pid);
	if (pid == getpid())
		return bm_error(BM_EXIT_TARGET, "refusing to dump binmig itself (PID %d)", pid);
	int rc = bm_read_stat(pid, stat);
	if (rc == -ENOENT || rc == -ESRCH)
		return bm_error(BM_EXIT_TARGET, "process %d does not exist", pid);
	if (rc < 0)
		return bm_error_errno(BM_EXIT_TARGET, -rc, "cannot read /proc/%d/stat", pid);
	if (stat->flags & PF_KTHREAD)
		return bm_error(BM_EXIT_TARGET, "process %d (%s) is a kernel thread", pid, stat->comm);
	if (stat->state == 'Z' || stat->state == 'X')
		return bm_error(BM_EXIT_TARGET, "process %d (%s) is a zombie: it has exited and waits to be reaped",
				pid, stat->comm);
	rc = bm_read_status(pid, status);
	if (rc < 0)
		return bm_error_errno(BM_EXIT_TARGET, -rc, "cannot read /proc/%d/status", pid);
	if (status->tgid != pid)
		return bm_error(BM_EXIT_TARGET, "%d is a thread of process %d; give the process ID", pid, status->tgid);
	if (status->kthread)
		return bm_error(BM_EXIT_TARGET, "process %d (%s) is a kernel thread", pid, stat->comm);
	if (status->tracer_pid != 0) {
		char tcomm[64];
		comm_of(status->tracer_pid, tcomm, sizeof tcomm);
		return bm_error(BM_EXIT_TARGET, "process %d (%s) is already traced by process %d (%s)", pid,
				stat->comm, status->tracer_pid, tcomm);
	}
	return tree ? 0 : refuse_children(pid);
}

int bm_freeze_reread(pid_t pid, struct bm_proc_stat *stat, struct bm_proc_status *status)
{
	int rc = bm_read_stat(pid, stat);
	if (rc == 0)
		rc = bm_read_status(pid, status);
	return rc < 0 ? bm_error_errno(BM_EXIT_TARGET, -rc, "cannot read /proc/%d/stat and status of the stopped process",
				       pid) : 0;
}

static int read_personality(pid_t pid, uint32_t *pers)
{
	char *text;
	int rc = bm_read_proc_text(pid, "personality", &text);
	if (rc < 0)
		return rc;
	*pers = (uint32_t)strtoul(text, NULL, 16);
	free(text);
	return 0;
}

static int file_identity(const char *path, struct bm_file_id *id)
{
	struct stat st;
	if (stat(path, &st) < 0)
		return -errno;
	id->dev = st.st_dev;
	id->ino = st.st_ino;
	id->size = (uint64_t)st.st_size;
	id->mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
	return 0;
}

/* A removed cwd (at LINK, /proc/PID/cwd) is made again at restore with
 * its mode and owner. */
static int removed_cwd(const char *link, struct bm_process *p)
{
	struct stat st;
	if (stat(link, &st) < 0)
		return -errno;
	p->cwd_mode = st.st_mode & 07777;
	p->cwd_uid = st.st_uid;
	p->cwd_gid = st.st_gid;
	p->cwd_known = true;
	return 0;
}

/* A process in more supplementary groups than an image carries. */
static int too_many_groups(pid_t pid)
{
	return bm_error(BM_EXIT_UNSUPPORTED, "process %d is in more than %d supplementary groups, more than binmig "
			"carries; binmig cannot migrate it", pid, BM_MAX_GROUPS);
}

static int collect_process(pid_t pid, const struct bm_proc_stat *stat, const struct bm_proc_status *status,
			   struct bm_process *p)
{
	p->pid = pid;
	p->ppid = stat->ppid;
	p->pgid = stat->pgrp;
	p->sid = stat->session;
	snprintf(p->comm, sizeof p->comm, "%.15s", stat->comm);
	p->umask = status->umask;
	p->fd_table_size = status->fd_size; /* read stopped, before any injected call */
	memcpy(p->uid, status->uid, sizeof p->uid);
	memcpy(p->gid, status->gid, sizeof p->gid);
	int rc = bm_read_groups(pid, p->groups, BM_MAX_GROUPS, &p->ngroups);
	if (rc == -E2BIG)
		return too_many_groups(pid);
	if (rc == 0)
		rc = read_personality(pid, &p->personality);
	if (rc < 0)
		return bm_error_errno(BM_EXIT_TARGET, -rc, "cannot read the identity of process %d", pid);

	char link[64], buf[PATH_MAX];
	bool removed = false;
	snprintf(link, sizeof link, "/proc/%d/cwd", pid);
	if ((rc = bm_readlink(link, buf, sizeof buf, &removed)) < 0 || !(p->cwd = xstrdup(buf)))
		return rc < 0 ? bm_error_errno(BM_EXIT_TARGET, -rc, "cannot read the cwd of process %d", pid) : -1;
	/* A name that merely ends in " (deleted)" has links left. */
	p->cwd_removed = removed && bm_unlinked_is_removed(link);
	if (p->cwd_removed && buf[0] != '/')
		return bm_error(BM_EXIT_UNSUPPORTED, "the removed working directory of process %d (%s) is outside its "
				"root; binmig cannot make it again", pid, buf);
	if (p->cwd_removed && (rc = removed_cwd(link, p)) < 0)
		return bm_error_errno(BM_EXIT_TARGET, -rc, "cannot read the removed cwd of process %d", pid);
	snprintf(link, sizeof link, "/proc/%d/root", pid);
	if ((rc = bm_readlink(link, buf, sizeof buf, &removed)) < 0 || !(p->root = xstrdup(buf)))
		return rc < 0 ? bm_error_errno(BM_EXIT_TARGET, -rc, "cannot read the root of process %d", pid) : -1;
	if (removed && bm_unlinked_is_removed(link))
		return bm_error(BM_EXIT_UNSUPPORTED, "the root directory of process %d (%s) was removed; binmig cannot "
				"carry a removed root", pid, buf);
	bool deleted = false;
	snprintf(link, sizeof link, "/proc/%d/exe", pid);
	if ((rc = bm_readlink(link, buf, sizeof buf, &deleted)) < 0)
		return bm_error_errno(BM_EXIT_TARGET, -rc, "cannot read the executable of process %d", pid);
	if (deleted)
		return bm_error(BM_EXIT_UNSUPPORTED, "the executable of process %d (%s) has been deleted", pid, buf);
	if (!(p->mm.exe_path = xstrdup(buf)))
		return -1;
	if ((rc = file_identity(buf, &p->mm.exe_file)) < 0)
		return bm_error_errno(BM_EXIT_TARGET, -rc, "cannot stat the executable %s", buf);

	uint64_t lim[BM_NRLIMITS][2];
	if ((rc = bm_read_limits(pid, lim, BM_NRLIMITS)) < 0)
		return bm_error_errno(BM_EXIT_TARGET, -rc, "cannot read the resource limits of process %d", pid);
	for (int r = 0; r < BM_NRLIMITS; r++) {
		p->rlimits[r].cur = lim[r][0];
		p->rlimits[r].max = lim[r][1];
	}

	struct bm_mm *mm = &p->mm;
	mm->start_code = stat->start_code;
	mm->end_code = stat->end_code;
	mm->start_data = stat->start_data;
	mm->end_data = stat->end_data;
	mm->start_brk = stat->start_brk;
	mm->start_stack = stat->start_stack;
	mm->arg_start = stat->arg_start;
	mm->arg_end = stat->arg_end;
	mm->env_start = stat->env_start;
	mm->env_end = stat->env_end;
	rc = bm_read_auxv(pid, mm->auxv, BM_AUXV_MAX, &mm->auxv_len);
	if (rc < 0)
		return bm_error_errno(BM_EXIT_TARGET, -rc, "cannot read the auxiliary vector of process %d", pid);
	return 0;
}

/* Reads code around rip for the stop analysis and `inspect`; the window is
 * clipped where memory is not readable. */
static void capture_code(pid_t tid, struct bm_thread *t)
{
	uint64_t rip = t->regs.rip;
	uint64_t start = rip >= BM_CODE_BEFORE ? rip - BM_CODE_BEFORE : 0;
	uint32_t len = BM_CODE_WINDOW;
	while (len > 0 && bm_mem_read(tid, start, t->code, len) < 0) {
		/* Shrink towards rip from whichever side crosses a page boundary. */
		uint64_t first_page_end = (start | (BM_PAGE_SIZE - 1)) + 1;
		if (first_page_end <= rip && start < first_page_end) {
			len -= (uint32_t)(first_page_end - start);
			start = first_page_end;
		} else if (rip - start >= 2 && start + len > ((rip + BM_PAGE_SIZE) & ~(BM_PAGE_SIZE - 1))) {
			len = (uint32_t)(((rip + BM_PAGE_SIZE) & ~(BM_PAGE_SIZE - 1)) - start);
		} else {
			len = 0;
		}
	}
	t->code_addr = start;
	t->code_len = len;
}

int bm_pending_add_unqueued(pid_t tid, bool shared, struct bm_siginfo **out, uint32_t *n)
{
	struct bm_proc_status st;
	int rc = bm_read_status(tid, &st);
	if (rc < 0)
		return bm_error_errno(BM_EXIT_FAILURE, -rc, "cannot read /proc/%d/status", tid);
	uint64_t mask = shared ? st.shd_pnd : st.sig_pnd;
	for (int sig = 1; sig < SIGRTMIN; sig++) {
		bool queued = false;
		for (uint32_t i = 0; i < *n && !queued; i++)
			queued = bm_si_i32((*out)[i].raw) == sig;
		if (!(mask & (1ULL << (sig - 1))) || queued)
			continue;
		struct bm_siginfo *grown = realloc(*out, (*n + 1) * sizeof **out);
		if (!grown)
			return bm_error(BM_EXIT_FAILURE, "out of memory");
		*out = grown;
		memset(&grown[*n], 0, sizeof *grown); /* SI_USER, pid 0, uid 0 */
		memcpy(grown[*n].raw, &sig, sizeof sig);
		++*n;
	}
	return 0;
}

int bm_peek_pending(pid_t tid, bool shared, struct bm_siginfo **out, uint32_t *n)
{
	*out = NULL;
	*n = 0;
	for (;;) {
		struct ptrace_peeksiginfo_args args = {.off = *n, .flags = shared ? PTRACE_PEEKSIGINFO_SHARED : 0,
						       .nr = 32};
		struct bm_siginfo batch[32];
		long got = ptrace(PTRACE_PEEKSIGINFO, tid, &args, batch);
		if (got < 0)
			return bm_error_errno(BM_EXIT_FAILURE, errno, "cannot read the pending signals of %d", tid);
		if (got == 0)
			return 0;
		struct bm_siginfo *grown = realloc(*out, (*n + (size_t)got) * sizeof **out);
		if (!grown)
			return bm_error(BM_EXIT_FAILURE, "out of memory");
		*out = grown;
		memcpy(*out + *n, batch, (size_t)got * sizeof *batch);
		*n += (uint32_t)got;
	}
}

/* Per-thread state.  `scratch` is memory in the target for the results of
 * injected calls. */
static int collect_thread(struct bm_tracee *tr, struct bm_thread *t, uint64_t scratch)
{
	pid_t tid = tr->tid;
	t->tid = tid;
	t->regs = tr->orig;
	t->sigmask = tr->orig_sigmask;

	uint8_t *xs = malloc(XSTATE_MAX);
	uint32_t xlen = XSTATE_MAX;
	if (!xs)
		return bm_error(BM_EXIT_FAILURE, "out of memory");
	int rc = bm_fault_rc(BM_FP_READ_XSTATE);
	if (rc == 0)
		rc = bm_get_xstate(tid, xs, &xlen);
	if (rc < 0) {
		free(xs);
		return bm_error_errno(BM_EXIT_FAILURE, -rc, "cannot read the FPU/AVX state of thread %d", tid);
	}
	t->xstate = realloc(xs, xlen) ?: xs;
	t->xstate_len = xlen;
	if (bm_xstate_tiles_in_use(t->xstate, xlen))
		return bm_error(BM_EXIT_UNSUPPORTED, "thread %d has AMX tile data in use (no TILERELEASE since its last tile "
				"instruction), which binmig cannot give a new thread; binmig cannot migrate it", tid);

	capture_code(tid, t);
	char name[32], *comm;
	snprintf(name, sizeof name, "task/%d/comm", tid);
	if (bm_read_proc_text(tr->tid, name, &comm) == 0) {
		comm[strcspn(comm, "\n")] = 0;
		snprintf(t->comm, sizeof t->comm, "%.15s", comm);
		free(comm);
	}
	struct bm_stop_info info;
	size_t before = t->regs.rip - t->code_addr;
	if (t->code_len < before)
		before = 0;
	if (bm_classify_stop(&t->regs, t->code, before, &info) < 0) {
		/* orig_rax names a call but rip is not after a system call
		 * instruction: the thread stands at the entry of a signal handler
		 * the kernel has just set up (it left the interrupted call's number
		 * in orig_rax; the call's outcome is in the signal frame).  It
		 * resumes as user code: nothing is to be restarted. */
		t->stop_kind = BM_STOP_USER;
		bm_debug("thread %d: at a signal handler's entry (orig_rax %lld)", tid, (long long)t->regs.orig_rax);
	} else {
		t->stop_kind = !info.in_syscall ? BM_STOP_USER
			       : info.restart == BM_RESTART_NONE ? BM_STOP_SYSCALL_DONE : BM_STOP_SYSCALL_RESTART;
		bm_debug("thread %d: %s", tid, info.text);
	}

	if ((rc = bm_get_rseq(tid, &t->rseq_addr, &t->rseq_len, &t->rseq_sig)) < 0)
		return bm_error_errno(BM_EXIT_FAILURE, -rc, "cannot read the rseq registration of thread %d", tid);
	void *head = NULL;
	size_t head_len = 0;
	if (syscall(SYS_get_robust_list, tid, &head, &head_len) == 0) {
		t->robust_list = (uint64_t)head;
		t->robust_list_len = head_len;
	}

	long ret;
	/* sigaltstack(NULL, scratch) and prctl(PR_GET_TID_ADDRESS, scratch + 64) */
	if ((rc = bm_inject(tr, SYS_sigaltstack, 0, scratch, 0, 0, 0, 0, &ret)) < 0)
		return rc;
	if (ret < 0)
		return bm_error_errno(BM_EXIT_FAILURE, (int)-ret, "sigaltstack in thread %d", tid);
	if ((rc = bm_inject(tr, SYS_prctl, PR_GET_TID_ADDRESS, scratch + 64, 0, 0, 0, 0, &ret)) < 0)
		return rc;
	if (ret < 0)
		return bm_error_errno(BM_EXIT_FAILURE, (int)-ret, "PR_GET_TID_ADDRESS in thread %d", tid);
	uint8_t out[72];
	if ((rc = bm_mem_read(tid, scratch, out, sizeof out)) < 0)
		return bm_error_errno(BM_EXIT_FAILURE, -rc, "reading injected results from thread %d", tid);
	stack_t ss;
	memcpy(&ss, out, sizeof ss);
	t->altstack_sp = (uint64_t)ss.ss_sp;
	t->altstack_size = ss.ss_size;
	t->altstack_flags = (uint32_t)ss.ss_flags;
	memcpy(&t->clear_child_tid, out + 64, 8);

	/* Thread-directed pending signals, without dequeuing them. */
	return bm_peek_pending(tid, false, &t->pending, &t->npending);
}

/* Handlers: rt_sigaction(sig, NULL, scratch + 32 * (sig - 1)) for every
 * signal, all results read back at once. */
static int collect_signals(struct bm_frozen *f, uint64_t scratch)
{
	struct bm_tracee *tr = &f->tracees[0];
	for (int sig = 1; sig <= BM_NSIG; sig++) {
		if (sig == SIGKILL || sig == SIGSTOP)
			continue;
		long ret;
		int rc = bm_inject(tr, SYS_rt_sigaction, (uint64_t)sig, 0, scratch + 32u * (sig - 1), 8, 0, 0, &ret);
		if (rc < 0)
			return rc;
		if (ret < 0)
			return bm_error_errno(BM_EXIT_FAILURE, (int)-ret, "rt_sigaction(%d) in process %d", sig, f->pid);
	}
	uint64_t raw[BM_NSIG * 4];
	int rc = bm_mem_read(f->pid, scratch, raw, sizeof raw);
	if (rc < 0)
		return bm_error_errno(BM_EXIT_FAILURE, -rc, "reading signal handlers of process %d", f->pid);
	for (int i = 0; i < BM_NSIG; i++) {
		if (i + 1 == SIGKILL || i + 1 == SIGSTOP)
			continue;
		f->proc.sigactions[i] = (struct bm_sigaction){raw[4 * i], raw[4 * i + 1], raw[4 * i + 2], raw[4 * i + 3]};
	}
	return bm_peek_pending(f->pid, true, &f->proc.shared_pending, &f->proc.nshared_pending);
}

static int find_vdso(const struct bm_frozen *f, uint64_t *start, uint64_t *end)
{
	for (size_t i = 0; i < f->nmaps; i++)
		if (strcmp(f->maps[i].path, "[vdso]") == 0) {
			*start = f->maps[i].start;
			*end = f->maps[i].end;
			return 0;
		}
	return bm_error(BM_EXIT_UNSUPPORTED, "process %d has no vDSO mapped; binmig needs it to run system calls",
			f->pid);
}

/* The injected part of the collection, bracketed by a scratch mapping. */
static int collect_injected(struct bm_frozen *f)
{
	struct bm_tracee *tr = &f->tracees[0];
	uint64_t scratch;
	int rc = bm_scratch_map(tr, &scratch);
	if (rc < 0)
		return rc;

	struct bm_process *p = &f->proc;
	p->threads = calloc(f->ntracees, sizeof *p->threads);
	if (!p->threads) {
		rc = bm_error(BM_EXIT_FAILURE, "out of memory");
		goto unmap;
	}
	for (size_t i = 0; i < f->ntracees; i++) {
		if ((rc = collect_thread(&f->tracees[i], &p->threads[i], scratch)) < 0)
			goto unmap;
		p->nthreads++;
	}
	if ((rc = collect_signals(f, scratch)) < 0 ||
	    (rc = bm_attrs_collect(f->pid, f->tracees, f->ntracees, scratch, &p->attrs)) < 0)
		goto unmap;
	long ret;
	if ((rc = bm_inject(tr, SYS_brk, 0, 0, 0, 0, 0, 0, &ret)) < 0)
		goto unmap;
	p->mm.brk = (uint64_t)ret;
	if ((rc = bm_inject(tr, SYS_prctl, PR_GET_DUMPABLE, 0, 0, 0, 0, 0, &ret)) < 0)
		goto unmap;
	p->dumpable = ret < 0 ? 1 : (uint32_t)ret;
unmap:;
	int rc2 = bm_scratch_unmap(tr, scratch);
	return rc < 0 ? rc : rc2;
}

static bool is_seized(const struct bm_frozen *f, pid_t tid)
{
	for (size_t i = 0; i < f->ntracees; i++)
		if (f->tracees[i].tid == tid)
			return true;
	return false;
}

/* Stops every thread.  Threads created meanwhile by threads not yet
 * stopped show up in the next listing; the loop ends when a listing holds
 * no thread that is not stopped.  Every new batch is seized and
 * interrupted before any is waited for, so the stops overlap. */
static int suspend_all(struct bm_frozen *f)
{
	for (int round = 0;; round++) {
		pid_t *tids = NULL;
		size_t ntids = 0;
		int rc = bm_list_tids(f->pid, &tids, &ntids);
		if (rc < 0)
			return bm_error_errno(BM_EXIT_TARGET, -rc, "cannot list the threads of process %d", f->pid);
		size_t first_new = f->ntracees;
		struct bm_tracee *grown = realloc(f->tracees, (f->ntracees + ntids) * sizeof *grown);
		if (!grown) {
			free(tids);
			return bm_error(BM_EXIT_FAILURE, "out of memory");
		}
		f->tracees = grown;
		int failed = 0;
		for (size_t i = 0; i < ntids && failed == 0; i++) {
			if (is_seized(f, tids[i]))
				continue;
			rc = bm_seize(tids[i]);
			if (rc == -ESRCH)
				continue; /* exited meanwhile */
			if (rc < 0)
				failed = rc;
			else
				f->tracees[f->ntracees++] = (struct bm_tracee){.tid = tids[i]};
		}
		free(tids);
		bool any_new = f->ntracees > first_new;
		/* Every thread seized is waited for, even after a failure: let go
		 * from its interrupt stop, it gets the signal that may have
		 * stopped it first, which a detach from that stop would drop. */
		for (size_t i = first_new; i < f->ntracees;) {
			int sig = 0;
			rc = bm_wait_interrupted(f->tracees[i].tid, &sig);
			if (rc == 0 && f->tracees[i].tid == f->pid)
				f->stop_sig = sig;
			if (rc == -ESRCH) { /* exited before it stopped */
				f->tracees[i] = f->tracees[--f->ntracees];
				continue;
			}
			if (rc < 0 && failed == 0)
				failed = rc;
			i++;
		}
		if (failed < 0)
			return failed;
		if (!any_new)
			break;
		if (round > 1000)
			return bm_error(BM_EXIT_TARGET, "process %d keeps creating threads faster than they can be stopped",
					f->pid);
	}
	/* The thread group leader first: it is the one the image and restore
	 * treat as the process. */
	for (size_t i = 0; i < f->ntracees; i++)
		if (f->tracees[i].tid == f->pid) {
			struct bm_tracee t = f->tracees[0];
			f->tracees[0] = f->tracees[i];
			f->tracees[i] = t;
			return 0;
		}
	return bm_error(BM_EXIT_TARGET, "the main thread of process %d has exited", f->pid);
}

int bm_freeze_stop(pid_t pid, struct bm_frozen *f)
{
	memset(f, 0, sizeof *f);
	f->pid = pid;
	f->t_suspend_start = bm_now_us();
	int rc = suspend_all(f);
	f->t_stopped = bm_now_us();
	return rc;
}

/* The descriptors of the stopped process F.  An open file in flight in
 * one of its unix socket queues that it holds no descriptor of is given
 * one first (sk_unix_adopt.h), and the descriptors are described again,
 * until nothing more is in flight that it does not hold.  A tree's
 * members share their pipes and sockets afterwards (bm_collect_shared_fds). */
static int collect_fds(struct bm_frozen *f, const struct bm_fd_policy *policy, bool tree)
{
	struct bm_process *p = &f->proc;
	for (int round = 0;; round++) {
		int rc = bm_collect_fds(f->pid, p, policy, BM_FDS_TREE);
		if (rc == 0)
			rc = bm_unix_adopt(f, policy, round);
		if (rc < 0)
			return rc;
		if (rc == 0)
			break;
		bm_process_free_fds(p);
	}
	return tree ? 0 : bm_collect_shared_fds(&p, 1, policy, true);
}

int bm_freeze_collect(struct bm_frozen *f, const struct bm_proc_stat *stat, const struct bm_proc_status *status,
		      const struct bm_fd_policy *policy, bool tree, bool table_elsewhere)
{
	pid_t pid = f->pid;
	/* Next to the leader, whose stopped thread cannot move, the injected
	 * calls are several times cheaper. */
	f->pinned = bm_pin_self(bm_last_cpu(pid), &f->own_affinity) == 0;

	int rc;
	if ((rc = bm_fault_rc(BM_FP_READ_MAPS)) < 0 || (rc = bm_read_maps(pid, &f->maps, &f->nmaps)) < 0)
		return bm_error_errno(BM_EXIT_TARGET, -rc, "cannot read /proc/%d/maps", pid);
	uint64_t vdso_start = 0, vdso_end = 0, syscall_ip = 0;
	if ((rc = find_vdso(f, &vdso_start, &vdso_end)) < 0 ||
	    (rc = bm_find_vdso_syscall(pid, vdso_start, vdso_end, &syscall_ip)) < 0)
		return rc;
	for (size_t i = 0; i < f->ntracees; i++)
		if ((rc = bm_modes_check_injectable(pid, f->tracees[i].tid)) < 0 ||
		    (rc = bm_tracee_init(&f->tracees[i], f->tracees[i].tid, syscall_ip)) < 0)
			return rc;
	if ((rc = refuse_thread_unshared(f, stat->comm)) < 0)
		return rc;
	pid_t *tids = calloc(f->ntracees, sizeof *tids);
	if (!tids)
		return bm_error(BM_EXIT_FAILURE, "out of memory");
	for (size_t i = 0; i < f->ntracees; i++)
		tids[i] = f->tracees[i].tid;
	rc = bm_cgroup_collect(pid, tids, f->ntracees, &f->proc);
	free(tids);
	if (rc < 0 || (rc = collect_process(pid, stat, status, &f->proc)) < 0 || (rc = collect_injected(f)) < 0 ||
	    (!table_elsewhere && (rc = collect_fds(f, policy, tree)) < 0) ||
	    (!table_elsewhere && ((rc = bm_locks_collect(pid, &f->proc)) < 0 || (rc = bm_locks_order(&f->proc, tree)) < 0)) ||
	    (rc = bm_collect_timers(f)) < 0)
		return rc;
	return bm_collect_vmas(pid, f);
}

size_t bm_frozen_count(const struct bm_frozen *f)
{
	return f->nmembers ? f->nmembers : 1;
}

struct bm_frozen *bm_frozen_at(struct bm_frozen *f, size_t i)
{
	return f->nmembers ? &f->members[i] : f;
}

/* A process in a group stop (SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU) that
 * binmig is given: its stop and the report its parent may collect are
 * carried only for a tree's descendants (tree_stop.c).  SIG is the stop's
 * signal once seized, 0 when seen in /proc before. */
static int refuse_stopped(pid_t pid, const char *comm, int sig)
{
	char which[32] = "";
	if (sig > 0)
		snprintf(which, sizeof which, " (signal %d)", sig);
	return bm_error(BM_EXIT_UNSUPPORTED, "process %d (%s) is stopped%s; binmig carries a stopped descendant of a "
			"tree, not a stopped process it is given: continue it (SIGCONT) first", pid, comm, which);
}

/* Whether pid has children now. */
static bool has_children(pid_t pid)
{
	pid_t kid;
	size_t n = 0;
	return bm_list_children(pid, &kid, 1, &n) == 0 && n > 0;
}

int bm_freeze(pid_t pid, struct bm_frozen *f, const struct bm_fd_policy *policy, struct bm_stats *st)
{
	memset(f, 0, sizeof *f);
	struct bm_proc_stat stat;
	struct bm_proc_status status;
	int rc = bm_freeze_check(pid, bm_tree_enabled, &stat, &status);
	if (rc == 0)
		rc = refuse_shared_with_parent(pid, stat.ppid, stat.comm);
	if (rc == 0 && stat.state == 'T')
		rc = refuse_stopped(pid, stat.comm, 0);
	if (rc < 0)
		return rc;
	if (bm_tree_enabled && has_children(pid))
		return bm_tree_freeze(pid, f, policy, st);
	/* Descriptors and POSIX timers are checked once before stopping, so
	 * that the common refusal leaves the process entirely untouched, and
	 * again below. */
	struct bm_process probe = {.pid = pid};
	/* The groups first: a unix connection's are checked against them. */
	if ((rc = bm_read_groups(pid, probe.groups, BM_MAX_GROUPS, &probe.ngroups)) < 0)
		return rc == -E2BIG ? too_many_groups(pid)
				    : bm_error_errno(BM_EXIT_TARGET, -rc, "cannot read the groups of process %d", pid);
	rc = bm_collect_fds(pid, &probe, policy, BM_FDS_PROBE);
	if (rc == 0)
		rc = bm_locks_collect(pid, &probe);
	bm_process_free(&probe);
	if (rc < 0 || (rc = bm_check_timers(pid)) < 0)
		return rc;

	/* Checked again once no thread can fork: a child that appeared
	 * meanwhile makes it a tree. */
	bm_test_looked_gate();
	rc = bm_freeze_stop(pid, f);
	if (rc == 0 && bm_tree_enabled && has_children(pid)) {
		bm_release(f, false);
		return bm_tree_freeze(pid, f, policy, st);
	}
	/* Stopped since it was looked at: left in its stop by the release. */
	if (rc == 0 && f->stop_sig != SIGTRAP)
		rc = refuse_stopped(pid, stat.comm, f->stop_sig);
	struct bm_process *self = &f->proc;
	if (rc < 0 || (rc = refuse_children(pid)) < 0 || (rc = bm_freeze_reread(pid, &stat, &status)) < 0 ||
	    (rc = bm_freeze_collect(f, &stat, &status, policy, false, false)) < 0 ||
	    (rc = bm_shmem_check_outside(&self, 1)) < 0 || (rc = bm_attrs_check_pdeath(&f->proc, NULL)) < 0) {
		bm_release(f, false);
		return rc;
	}
	if (st) {
		st->suspend_us = (int64_t)(f->t_stopped - f->t_suspend_start);
		st->vmas = f->proc.nvmas;
		st->threads = f->proc.nthreads;
		st->fds = f->proc.nfds;
	}
	return 0;
}

/* Lets binmig run on any CPU again. */
static void unpin(struct bm_frozen *f)
{
	if (f->pinned)
		sched_setaffinity(0, sizeof f->own_affinity, &f->own_affinity);
	f->pinned = false;
}

int bm_checkpoint(struct bm_frozen *f, struct bm_image_writer *w, struct bm_stats *st)
{
	/* Nothing is injected from here on: reading the memory needs no
	 * tracer next to its tracee, and kept on the leader's CPU binmig
	 * would share it with whatever else runs there (in a live migration
	 * often the destination, reading the stream and, sealed, opening it)
	 * while another CPU idles. */
	unpin(f);
	for (size_t m = 0; m < f->nmembers; m++)
		unpin(&f->members[m]);
	int rc = f->tree ? bm_tree_checkpoint(f, w, st) : bm_image_write_process(w, &f->proc);
	if (rc == 0 && !f->tree)
		rc = bm_write_pages_skip(f->pid, &f->proc, w, st, f->skip_pages);
	if (rc == 0)
		rc = bm_image_writer_finish(w);
	bm_test_stretch_checkpoint(f->t_stopped);
	if (st) {
		st->checkpoint_us = (int64_t)(bm_now_us() - f->t_stopped);
		st->image_bytes = (int64_t)w->count.bytes;
		st->syscalls_injected = bm_frozen_injected(f);
	}
	return rc;
}

int64_t bm_frozen_injected(const struct bm_frozen *f)
{
	int64_t n = 0;
	for (size_t i = 0; i < f->ntracees; i++)
		n += (int64_t)f->tracees[i].injected;
	for (size_t m = 0; m < f->nmembers; m++)
		for (size_t i = 0; i < f->members[m].ntracees; i++)
			n += (int64_t)f->members[m].tracees[i].injected;
	return n;
}

void bm_resume_regs(const struct bm_thread *t, struct user_regs_struct *regs, bool new_process)
{
	*regs = t->regs;
	if (t->stop_kind != BM_STOP_SYSCALL_RESTART)
		return;
	struct bm_stop_info info;
	size_t before = t->regs.rip - t->code_addr;
	if (t->code_len < before || bm_classify_stop(&t->regs, t->code, before, &info) < 0)
		return;
	switch (info.restart) {
	case BM_RESTART_NONE:
	case BM_RESTART_KERNEL:
		break; /* the kernel restarts it when the thread resumes */
	case BM_RESTART_REEXECUTE:
		if (!new_process)
			break; /* the kernel's restart block is still valid here */
		if (info.nr == SYS_restart_syscall) {
			/* The call was restarted once already; its number is in the code. */
			long nr;
			if (bm_syscall_nr_from_code(t->code, before, &nr) < 0)
				break; /* unknown: restart_syscall returns EINTR, the best left */
			regs->orig_rax = (uint64_t)nr;
			info.nr = nr;
		}
		/* The remaining time was written to the caller's `rem` by the
		 * kernel when the sleep was interrupted: sleep that long. */
		if (info.nr == SYS_nanosleep && regs->rsi)
			regs->rdi = regs->rsi;
		else if (info.nr == SYS_clock_nanosleep && !(regs->rsi & 1 /* TIMER_ABSTIME */) && regs->r10)
			regs->rdx = regs->r10;
		/* fall through */
	case BM_RESTART_EINTR:
		regs->rax = (uint64_t)-514; /* -ERESTARTNOHAND: re-executed unless a handler runs first */
		break;
	}
}

/* The registers thread I of F resumes with (bm_release's). */
static void resume_regs_of(const struct bm_frozen *f, size_t i, struct user_regs_struct *regs)
{
	const struct bm_tracee *t = &f->tracees[i];
	*regs = t->orig;
	if (i < f->proc.nthreads && f->proc.threads[i].tid == t->tid)
		bm_resume_regs(&f->proc.threads[i], regs, false);
}

int bm_frozen_park(struct bm_frozen *f)
{
	for (size_t m = 0; m < bm_frozen_count(f); m++) {
		struct bm_frozen *one = bm_frozen_at(f, m);
		for (size_t i = 0; i < one->ntracees; i++) {
			struct bm_tracee *t = &one->tracees[i];
			if (!t->sigmask_blocked)
				continue;
			struct user_regs_struct regs;
			resume_regs_of(one, i, &regs);
			int rc = bm_set_regs(t->tid, &regs);
			if (rc == 0)
				rc = bm_set_sigmask(t->tid, t->orig_sigmask);
			if (rc < 0)
				return bm_error_errno(BM_EXIT_FAILURE, -rc, "cannot restore the registers of thread %d", t->tid);
			if ((rc = bm_park(t->tid)) < 0)
				return rc;
		}
	}
	return 0;
}

void bm_frozen_unpark(struct bm_frozen *f)
{
	/* t->sigmask_blocked still holds for a parked thread: bm_release puts
	 * registers and mask back as it always does. */
	for (size_t m = 0; m < bm_frozen_count(f); m++) {
		struct bm_frozen *one = bm_frozen_at(f, m);
		for (size_t i = 0; i < one->ntracees; i++)
			if (one->tracees[i].sigmask_blocked)
				bm_set_sigmask(one->tracees[i].tid, BM_INJECT_SIGMASK);
	}
}

int bm_release(struct bm_frozen *f, bool terminate)
{
	int rc = f->tree ? bm_tree_release(f, terminate) : 0;
	if (terminate && f->ntracees) {
		/* Killed, not waited for: tearing down a large address space takes
		 * a while and is not part of the migration.  The exit reaches the
		 * parent once binmig, its tracer, is gone; restore waits for a PID
		 * that is still exiting.  Its connections go silently. */
		bm_sk_inet_silence(f->pid, &f->proc);
		if (kill(f->pid, SIGKILL) < 0 && errno != ESRCH)
			rc = bm_error_errno(BM_EXIT_FAILURE, errno, "cannot terminate process %d", f->pid);
	} else {
		/* Its descriptor table as it was. */
		if (bm_unix_adopt_release(f) < 0)
			rc = -1;
		for (size_t i = 0; i < f->ntracees; i++) {
			struct bm_tracee *t = &f->tracees[i];
			/* Registers as at the stop, with an EINTR caused by the stop
			 * turned into a restart. */
			if (t->sigmask_blocked) {
				resume_regs_of(f, i, &t->orig);
				if (bm_tracee_restore(t) < 0)
					rc = -1;
			}
			if (ptrace(PTRACE_DETACH, t->tid, 0, 0) < 0 && errno != ESRCH && rc == 0)
				rc = bm_error_errno(BM_EXIT_FAILURE, errno, "cannot detach from thread %d", t->tid);
		}
		if (bm_give_owed_stop(f->pid, f->tracees, f->ntracees) < 0)
			rc = -1;
	}
	bm_unix_adopt_forget(f->pid);
	unpin(f);
	free(f->tracees);
	free(f->maps);
	bm_process_free(&f->proc);
	memset(f, 0, sizeof *f);
	return rc;
}
