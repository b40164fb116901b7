/* Restore: a fresh process is cloned with the image's PID, prepares what a
 * process can do for itself (descriptors, cwd, handlers, pending signals),
 * stops, and is then rebuilt from outside with injected system calls:
 * vDSO moved, binmig's own memory unmapped, the image's mappings created
 * and filled, mm fields, credentials and registers set.  Then it runs. */
#include "restore.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/prctl.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "checkpoint.h"
#include "files.h"
#include "attrs.h"
#include "attrs_modes.h"
#include "cgroup.h"
#include "fault.h"
#include "file_locks.h"
#include "fd_sigio.h"
#include "fd_table.h"
#include "log.h"
#include "memguard.h"
#include "pending_stop.h"
#include "memory.h"
#include "procfs.h"
#include "restore_ctx.h"
#include "restore_inplace.h"
#include "ptrace_ctl.h"
#include "timers.h"
#include "inotify_next_wd.h"
#include "timers_next_id.h"
#include "tree.h"
#include "unlinked.h"
#include "vdso.h"
#include "xstate.h"

#define PID_FREE_TIMEOUT_MS 5000
#define SCRATCH_SIZE 4096


/* --- before the child exists ------------------------------------------ */


/* Whether pid has a SIGKILL pending: killed (a dump that just ended kills
 * what it dumped without waiting), but not yet running its exit. */
static bool kill_pending(pid_t pid)
{
	struct bm_proc_status st;
	uint64_t bit = 1ULL << (SIGKILL - 1);
	return bm_read_status(pid, &st) == 0 && ((st.sig_pnd | st.shd_pnd) & bit);
}

/* The PID must be free.  One that belongs to a process killed or still
 * exiting, or a zombie waiting to be reaped, becomes free soon: wait for
 * it, within a bound. */
int bm_rs_wait_pid_free(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d", pid);
	uint64_t deadline = bm_now_us() + PID_FREE_TIMEOUT_MS * 1000ULL;
	for (;;) {
		struct bm_proc_stat st;
		int rc = bm_read_stat(pid, &st);
		if (rc == -ENOENT || rc == -ESRCH)
			return 0;
		bool leaving = st.state == 'Z' || st.state == 'X' || (st.flags & 0x4 /* PF_EXITING */) ||
			       (rc == 0 && kill_pending(pid));
		if (rc == 0 && !leaving)
			return bm_error(BM_EXIT_CONFLICT, "PID %d is taken by a running process (%s)", pid, st.comm);
		/* (the same holds for a thread ID: /proc/TID exists for threads too) */
		if (bm_now_us() >= deadline)
			return bm_error(BM_EXIT_CONFLICT, "PID %d is still held by an unreaped zombie after %d ms", pid,
					PID_FREE_TIMEOUT_MS);
		struct timespec ts = {0, 5 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
}

/* The alternate signal stack a thread gets back (SS_ONSTACK only says it
 * was on it, and cannot be set). */
static stack_t altstack_of(const struct bm_thread *t)
{
	if ((t->altstack_flags & SS_DISABLE) || t->altstack_size == 0)
		return (stack_t){.ss_flags = SS_DISABLE};
	return (stack_t){.ss_sp = (void *)t->altstack_sp, .ss_flags = (int)(t->altstack_flags & ~SS_ONSTACK),
			 .ss_size = t->altstack_size};
}

/* --- inside the child, before it stops --------------------------------- */

/* A tree member's turns at its file locks (file_lock_order.h), in the
 * new process's own copy of this variable: abandoned where it fails, so
 * that no other member waits for its turns. */
static const struct bm_lock_turns *child_turns;

static void child_fail(int err_fd, const char *msg) __attribute__((noreturn));
static void child_fail(int err_fd, const char *msg)
{
	ssize_t n = write(err_fd, msg, strlen(msg));
	(void)n;
	if (child_turns)
		bm_lock_turns_abandon(child_turns);
	syscall(SYS_exit_group, 1);
	__builtin_unreachable();
}

/* In the new process: its descriptor table.  The error pipe goes to
 * ctl_fd (returned), everything else of binmig is closed, and the
 * process's descriptors are made. */
static int restore_table(const struct restore_ctx *c, int err_fd)
{
	char err[PATH_MAX + 128];
	if (err_fd != c->ctl_fd && dup3(err_fd, c->ctl_fd, O_CLOEXEC) < 0)
		child_fail(err_fd, "cannot move the control descriptor");
	err_fd = c->ctl_fd;
	/* A member of a tree keeps the descriptions it shares with others,
	 * opened once and inherited (c->keep), until they are at its numbers:
	 * the pool may sit below its control descriptor or among its own. */
	bm_fd_table_close_all_but(c->ctl_fd, c->keep, c->nkeep);
	if (c->nkeep && c->place_inherited(c, err, sizeof err) < 0)
		child_fail(err_fd, err);
	for (uint32_t i = 0; i < c->nkeep; i++)
		close(c->keep[i]);
	if (bm_restore_fds(&c->proc, c->ctl_fd, c->inherited, child_turns, err, sizeof err) < 0)
		child_fail(err_fd, err);
	return err_fd;
}

/* In the new process: its cwd and umask.  Its root comes last (set_root). */
static void restore_fs(const struct bm_process *p, int err_fd)
{
	char err[PATH_MAX + 128];
	if (p->cwd_removed ? bm_unlinked_chdir(p, err, sizeof err) < 0 : chdir(p->cwd) < 0) {
		if (!p->cwd_removed)
			snprintf(err, sizeof err, "cannot change directory to %s: %s", p->cwd, strerror(errno));
		child_fail(err_fd, err);
	}
	umask(p->umask);
}

/* Runs in the new process, which is still a copy of binmig.  Only system
 * calls and async-signal-safe functions: the C library's idea of the
 * thread id is that of the parent. */
void bm_rs_child_prepare(const struct restore_ctx *c, int err_fd, int go_fd)
{
	const struct bm_process *p = &c->proc;
	char err[PATH_MAX + 128];
	child_turns = c->lock_turns.turn ? &c->lock_turns : NULL;
	/* Every signal, glibc's own two (32, 33) too, which sigprocmask
	 * leaves out (a signalfd's registration is primed with them,
	 * fd_watch_prime.h). */
	uint64_t every = ~0ull;
	syscall(SYS_rt_sigprocmask, SIG_SETMASK, &every, NULL, 8);

	/* Wait until the parent traces us. */
	char go;
	if (go_fd >= 0 && read(go_fd, &go, 1) != 1)
		child_fail(err_fd, "parent vanished");
	/* Its cgroups before it maps its memory, which is charged there. */
	if (bm_cgroup_enter(c->cgroup_procs, err, sizeof err) < 0)
		child_fail(err_fd, err);
	if (!c->table_of_parent)
		err_fd = restore_table(c, err_fd);
	if (bm_rs_open_files(c, err, sizeof err) < 0)
		child_fail(err_fd, err);
	if (!c->fs_of_parent)
		restore_fs(p, err_fd);
	if (!c->table_of_parent && bm_restore_fds_last(&c->proc, c->inherited, err, sizeof err) < 0)
		child_fail(err_fd, err);
	/* Session and group where possible: a leader becomes a leader again
	 * (a tree's members are in theirs already), a member joins its group
	 * again where the restorer's session has it (restored where it ran,
	 * its job's other processes still there), else stays in the
	 * restorer's.  A group whose leader is outside the PID namespace
	 * reads 0, which setpgid would take for the process's own. */
	if (c->tree_member)
		;
	else if (p->sid == p->pid)
		setsid();
	else if (p->pgid == p->pid)
		setpgid(0, 0);
	else if (p->pgid > 0)
		setpgid(0, p->pgid);
	personality(p->personality);
	prctl(PR_SET_NAME, p->comm);

	for (int sig = 1; sig <= BM_NSIG; sig++) {
		if (sig == SIGKILL || sig == SIGSTOP)
			continue;
		if (syscall(SYS_rt_sigaction, sig, &p->sigactions[sig - 1], NULL, 8) < 0) {
			snprintf(err, sizeof err, "cannot set the handler of signal %d: %s", sig, strerror(errno));
			child_fail(err_fd, err);
		}
	}
	/* Nothing may be pending but what the image says (in a tree, a zombie
	 * made again sent its parent a SIGCHLD). */
	struct timespec now = {0, 0};
	while (syscall(SYS_rt_sigtimedwait, &every, NULL, &now, 8) > 0)
		;
	/* Pending signals are queued again by the process itself: the kernel
	 * accepts any siginfo a process sends to itself.  A SIGSTOP (only a
	 * binmig before version 11 wrote one, pending_stop.h) would stop it
	 * half made: refused. */
	if (bm_image_stop_pending(p))
		child_fail(err_fd, "the image holds a pending SIGSTOP; binmig does not carry a stopped process");
	for (uint32_t i = 0; i < p->nshared_pending; i++) {
		siginfo_t *si = (siginfo_t *)p->shared_pending[i].raw;
		if (syscall(SYS_rt_sigqueueinfo, p->pid, si->si_signo, si) < 0) {
			snprintf(err, sizeof err, "cannot queue signal %d: %s", si->si_signo, strerror(errno));
			child_fail(err_fd, err);
		}
	}
	const struct bm_thread *t = &p->threads[0];
	for (uint32_t i = 0; i < t->npending; i++) {
		siginfo_t *si = (siginfo_t *)t->pending[i].raw;
		if (syscall(SYS_rt_tgsigqueueinfo, p->pid, t->tid, si->si_signo, si) < 0) {
			snprintf(err, sizeof err, "cannot queue signal %d: %s", si->si_signo, strerror(errno));
			child_fail(err_fd, err);
		}
	}
	stack_t ss = altstack_of(t);
	if (sigaltstack(&ss, NULL) < 0) {
		snprintf(err, sizeof err, "cannot set the alternate signal stack: %s", strerror(errno));
		child_fail(err_fd, err);
	}
	syscall(SYS_set_robust_list, t->robust_list, t->robust_list ? t->robust_list_len : 24);
	syscall(SYS_set_tid_address, t->clear_child_tid);
	/* Stop: the parent, already tracing us, takes over from here. */
	syscall(SYS_kill, syscall(SYS_getpid), SIGSTOP);
	child_fail(err_fd, "resumed unexpectedly");
}

/* --- the parent: create the child and wait for it to stop -------------- */

static int create_child(struct restore_ctx *c)
{
	/* Checked again by the new process (a tree member's); refused here
	 * before anything is made. */
	if (bm_image_stop_pending(&c->proc))
		return bm_error(BM_EXIT_CONFLICT, "restoring process %d: the image holds a pending SIGSTOP; binmig does "
				"not carry a stopped process", c->proc.pid);
	int err_pipe[2], go_pipe[2];
	if (pipe2(err_pipe, O_CLOEXEC) < 0 || pipe2(go_pipe, O_CLOEXEC) < 0)
		return bm_error_errno(BM_EXIT_FAILURE, errno, "pipe");
	int rc = bm_rs_wait_pid_free(c->proc.pid);
	/* The new process inherits the pinning: tracer and tracee share a CPU
	 * while system calls are injected; set_context spreads it again. */
	c->pinned_cpu = sched_getcpu();
	c->pinned = bm_pin_self(c->pinned_cpu, &c->own_affinity) == 0;
	uint64_t deadline = bm_now_us() + PID_FREE_TIMEOUT_MS * 1000ULL;
	long child = -1;
	while (rc == 0) {
		pid_t want = c->proc.pid;
		/* Sharing binmig's table until it takes its own (fd_table.h). */
		struct clone_args args = {.flags = CLONE_FILES, .exit_signal = SIGCHLD, .set_tid = (uint64_t)&want,
					  .set_tid_size = 1};
		if (c->st)
			c->st->as_restore_us = (int64_t)bm_now_us(); /* start mark, turned into a duration later */
		child = bm_fault(BM_FP_CLONE) ? -1 : syscall(SYS_clone3, &args, sizeof args);
		if (child == 0) {
			int keep = (err_pipe[1] > go_pipe[0] ? err_pipe[1] : go_pipe[0]) + 1;
			if (bm_fd_table_own((unsigned)keep) < 0)
				child_fail(err_pipe[1], "cannot take a descriptor table of its own");
			/* Only binmig may hold the go pipe's write end: if binmig
			 * dies before it traces the new process, the read of go
			 * ends and the new process with it. */
			close(go_pipe[1]);
			bm_rs_child_prepare(c, err_pipe[1], go_pipe[0]); /* does not return */
		}
		if (child > 0)
			break;
		if (errno == EEXIST && bm_now_us() < deadline) {
			rc = bm_rs_wait_pid_free(c->proc.pid); /* raced with a process taking or leaving it */
			continue;
		}
		rc = errno == EEXIST ? bm_error(BM_EXIT_CONFLICT, "PID %d is taken", c->proc.pid)
				     : bm_error_errno(BM_EXIT_FAILURE, errno, "clone3 with PID %d", c->proc.pid);
	}
	if (rc == 0 && (rc = bm_fd_table_wait_own((pid_t)child)) < 0) {
		kill((pid_t)child, SIGKILL);
		waitpid((pid_t)child, NULL, 0);
	}
	close(err_pipe[1]);
	close(go_pipe[0]);
	if (rc < 0) {
		close(err_pipe[0]);
		close(go_pipe[1]);
		return rc;
	}
	c->pid = (pid_t)child;
	c->child_alive = true;
	/* EXITKILL: if binmig dies while rebuilding, the half-built process dies too. */
	if (bm_fault(BM_FP_TRACE_NEW) || ptrace(PTRACE_SEIZE, c->pid, 0, PTRACE_O_EXITKILL) < 0)
		rc = bm_error_errno(BM_EXIT_FAILURE, errno, "cannot trace the new process %d", c->pid);
	char go = 1;
	if (write(go_pipe[1], &go, 1) != 1 && rc == 0)
		rc = bm_error_errno(BM_EXIT_FAILURE, errno, "cannot start the new process");
	close(go_pipe[1]);
	int status = 0;
	if (rc == 0) {
		rc = bm_wait_stop(c->pid, &status, 10000);
		if (rc < 0)
			rc = bm_error_errno(BM_EXIT_FAILURE, -rc, "waiting for the new process %d", c->pid);
	}
	if (rc == 0 && !(WIFSTOPPED(status) && WSTOPSIG(status) == SIGSTOP)) {
		char msg[PATH_MAX + 128] = "";
		ssize_t n = read(err_pipe[0], msg, sizeof msg - 1);
		msg[n > 0 ? n : 0] = 0;
		if (WIFEXITED(status) || WIFSIGNALED(status))
			c->child_alive = false;
		rc = bm_error(msg[0] ? BM_EXIT_CONFLICT : BM_EXIT_FAILURE, "restoring process %d: %s", c->proc.pid,
			      msg[0] ? msg : "the new process did not stop as expected");
	}
	close(err_pipe[0]);
	return rc;
}

/* --- the parent: rebuild the address space ---------------------------- */

/* A restore step whose system call failed with err. */
int bm_rs_step_failed(const struct restore_ctx *c, const char *what, int err)
{
	return bm_error_errno(BM_EXIT_FAILURE, err, "restoring process %d: %s", c->pid, what);
}

int bm_rs_inject_in(struct restore_ctx *c, struct bm_tracee *tr, const char *what, long nr, uint64_t a1,
		     uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5, uint64_t a6, long *ret)
{
	long r;
	int rc = bm_inject(tr, nr, a1, a2, a3, a4, a5, a6, &r);
	if (rc < 0)
		return rc;
	if (r < 0 && r > -4096)
		return bm_rs_step_failed(c, what, (int)-r);
	if (ret)
		*ret = r;
	return 0;
}

/* Injects into the leader, for what concerns the whole process. */
int bm_rs_inject(struct restore_ctx *c, const char *what, long nr, uint64_t a1, uint64_t a2, uint64_t a3,
		  uint64_t a4, uint64_t a5, uint64_t a6, long *ret)
{
	return bm_rs_inject_in(c, &c->tr, what, nr, a1, a2, a3, a4, a5, a6, ret);
}

static bool clear_of_specials(const struct bm_specials *s, uint64_t addr)
{
	for (size_t i = 0; i < s->n; i++)
		if (addr < s->sp[i].to + s->sp[i].len && s->sp[i].to < addr + SCRATCH_SIZE)
			return false;
	return true;
}

/* A page-sized hole in the image's layout for the arguments of the
 * remaining injected calls, away from any stack that may grow into it
 * and from the special mappings (parked in a hole for the vDSO proxy). */
static int find_scratch(const struct bm_process *p, const struct bm_specials *s, uint64_t *addr)
{
	uint64_t cand = 0x10000;
	for (uint32_t i = 0; i <= p->nvmas; i++) {
		uint64_t limit = i < p->nvmas ? p->vmas[i].start : TASK_SIZE_MAX;
		if (i < p->nvmas && (p->vmas[i].flags & BM_VMA_GROWSDOWN))
			limit = limit > (1ULL << 24) ? limit - (1ULL << 24) : 0;
		for (; limit > cand && limit - cand >= SCRATCH_SIZE; cand += SCRATCH_SIZE)
			if (clear_of_specials(s, cand)) {
				*addr = cand;
				return 0;
			}
		if (i < p->nvmas && p->vmas[i].end > cand)
			cand = p->vmas[i].end;
	}
	return bm_error(BM_EXIT_FAILURE, "no room for a scratch page in the restored address space");
}

static int set_mm(struct restore_ctx *c)
{
	const struct bm_mm *mm = &c->proc.mm;
	struct prctl_mm_map map = {
		.start_code = mm->start_code, .end_code = mm->end_code,
		.start_data = mm->start_data, .end_data = mm->end_data,
		.start_brk = mm->start_brk, .brk = mm->brk,
		.start_stack = mm->start_stack,
		.arg_start = mm->arg_start, .arg_end = mm->arg_end,
		.env_start = mm->env_start, .env_end = mm->env_end,
		.auxv = (__u64 *)(c->scratch + 256),
		.auxv_size = mm->auxv_len * 8,
		.exe_fd = (uint32_t)c->files[0].fd,
	};
	int rc = bm_mem_write(c->pid, c->scratch, &map, sizeof map);
	if (rc == 0)
		rc = bm_mem_write(c->pid, c->scratch + 256, mm->auxv, mm->auxv_len * 8);
	if (rc < 0)
		return bm_error_errno(BM_EXIT_FAILURE, -rc, "writing to the scratch page");
	if (bm_fault(BM_FP_SET_MM))
		return bm_rs_step_failed(c, "prctl(PR_SET_MM_MAP)", errno);
	return bm_rs_inject(c, "prctl(PR_SET_MM_MAP)", SYS_prctl, PR_SET_MM, PR_SET_MM_MAP, c->scratch, sizeof map, 0, 0, NULL);
}

/* The root of a process that has one of its own (not its parent's,
 * CLONE_FS), set once every new process has opened its files: the paths
 * in the image are seen from binmig's root, and a tree's members that
 * share the root open theirs after the one that sets it has prepared
 * itself.  With binmig's credentials still (CAP_SYS_CHROOT). */
static int set_root(struct restore_ctx *c)
{
	const char *root = c->proc.root;
	size_t len = strlen(root) + 1;
	if (c->fs_of_parent || strcmp(root, "/") == 0)
		return 0;
	if (len > SCRATCH_SIZE)
		return bm_error(BM_EXIT_IMAGE, "process %d: its root's path is longer than %d bytes", c->pid, SCRATCH_SIZE);
	int rc = bm_mem_write(c->pid, c->scratch, root, len);
	if (rc < 0)
		return bm_error_errno(BM_EXIT_FAILURE, -rc, "writing to the scratch page");
	long r = 0;
	if ((rc = bm_inject(&c->tr, SYS_chroot, c->scratch, 0, 0, 0, 0, 0, &r)) < 0)
		return rc;
	if (r < 0)
		return bm_error_errno(BM_EXIT_CONFLICT, (int)-r, "restoring process %d: cannot change root to %s", c->pid,
				      root);
	return 0;
}

/* Credentials belong to each thread, not to the process. */
static int set_credentials(struct restore_ctx *c, struct bm_tracee *tr)
{
	const struct bm_process *p = &c->proc;
	if (bm_fault(BM_FP_SET_CREDENTIALS))
		return bm_rs_step_failed(c, "setgroups", errno);
	int rc = bm_mem_write(c->pid, c->scratch + 1024, p->groups, p->ngroups * sizeof(uint32_t));
	if (rc < 0)
		return bm_error_errno(BM_EXIT_FAILURE, -rc, "writing to the scratch page");
	if ((rc = bm_rs_inject_in(c, tr, "setgroups", SYS_setgroups, p->ngroups, c->scratch + 1024, 0, 0, 0, 0, NULL)) < 0 ||
	    (rc = bm_rs_inject_in(c, tr, "setresgid", SYS_setresgid, p->gid[0], p->gid[1], p->gid[2], 0, 0, 0, NULL)) < 0 ||
	    (rc = bm_rs_inject_in(c, tr, "setfsgid", SYS_setfsgid, p->gid[3], 0, 0, 0, 0, 0, NULL)) < 0 ||
	    (rc = bm_rs_inject_in(c, tr, "setresuid", SYS_setresuid, p->uid[0], p->uid[1], p->uid[2], 0, 0, 0, NULL)) < 0 ||
	    (rc = bm_rs_inject_in(c, tr, "setfsuid", SYS_setfsuid, p->uid[3], 0, 0, 0, 0, 0, NULL)) < 0)
		return rc;
	return 0;
}

/* Creates thread t of the image inside the process: clone3 with its TID,
 * run by the leader; PTRACE_O_TRACECLONE makes the new thread start
 * traced and stopped, before it executes anything.  Then what only the
 * thread itself can set: alternate stack, robust list, tid address. */
static int create_thread(struct restore_ctx *c, const struct bm_thread *t, struct bm_tracee *tr)
{
	pid_t tid = t->tid;
	struct clone_args args = {
		.flags = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM,
		.set_tid = c->scratch + 512,
		.set_tid_size = 1,
	};
	int rc = bm_mem_write(c->pid, c->scratch + 256, &args, sizeof args);
	if (rc == 0)
		rc = bm_mem_write(c->pid, c->scratch + 512, &tid, sizeof tid);
	if (rc < 0)
		return bm_error_errno(BM_EXIT_FAILURE, -rc, "writing to the scratch page");
	/* A thread of an earlier incarnation may still be exiting here. */
	if ((rc = bm_rs_wait_pid_free(tid)) < 0)
		return rc;
	long got = 0;
	if (bm_fault(BM_FP_CREATE_THREAD))
		return bm_rs_step_failed(c, "creating a thread", errno);
	if ((rc = bm_rs_inject(c, "creating a thread", SYS_clone3, c->scratch + 256, sizeof args, 0, 0, 0, 0, &got)) < 0)
		return rc;
	if (got != tid)
		return bm_error(BM_EXIT_FAILURE, "thread %d was created as %ld", tid, got);
	int status;
	if ((rc = bm_wait_stop(tid, &status, 10000)) < 0)
		return bm_error_errno(BM_EXIT_FAILURE, -rc, "waiting for the new thread %d", tid);
	if (!WIFSTOPPED(status))
		return bm_error(BM_EXIT_FAILURE, "the new thread %d did not stop (status 0x%x)", tid, status);
	if ((rc = bm_tracee_init(tr, tid, c->tr.syscall_ip)) < 0)
		return rc;
	stack_t ss = altstack_of(t);
	if ((rc = bm_mem_write(c->pid, c->scratch + 768, &ss, sizeof ss)) < 0 ||
	    (rc = bm_mem_write(c->pid, c->scratch + 2048, t->comm, sizeof t->comm)) < 0)
		return bm_error_errno(BM_EXIT_FAILURE, -rc, "writing to the scratch page");
	/* Its name (the leader's is the process's, set by the new process itself). */
	if (t->comm[0] &&
	    (rc = bm_rs_inject_in(c, tr, "naming a thread", SYS_prctl, PR_SET_NAME, c->scratch + 2048, 0, 0, 0, 0, NULL)) < 0)
		return rc;
	if ((rc = bm_rs_inject_in(c, tr, "sigaltstack", SYS_sigaltstack, c->scratch + 768, 0, 0, 0, 0, 0, NULL)) < 0 ||
	    (rc = bm_rs_inject_in(c, tr, "set_robust_list", SYS_set_robust_list, t->robust_list,
			    t->robust_list ? t->robust_list_len : 24, 0, 0, 0, 0, NULL)) < 0 ||
	    (rc = bm_rs_inject_in(c, tr, "set_tid_address", SYS_set_tid_address, t->clear_child_tid, 0, 0, 0, 0, 0, NULL)) < 0)
		return rc;
	/* Its pending signals. */
	for (uint32_t i = 0; i < t->npending; i++) {
		const siginfo_t *si = (const siginfo_t *)t->pending[i].raw;
		if ((rc = bm_mem_write(c->pid, c->scratch + 1536, si, sizeof *si)) < 0)
			return bm_error_errno(BM_EXIT_FAILURE, -rc, "writing to the scratch page");
		/* Sent by the thread to itself: the kernel accepts any siginfo a
		 * thread queues for itself (tkill-style codes included). */
		if ((rc = bm_rs_inject_in(c, tr, "queueing a signal", SYS_rt_tgsigqueueinfo, (uint64_t)c->pid, (uint64_t)tid,
				    (uint64_t)si->si_signo, c->scratch + 1536, 0, 0, NULL)) < 0)
			return rc;
	}
	return 0;
}

static int create_threads(struct restore_ctx *c)
{
	const struct bm_process *p = &c->proc;
	if (p->nthreads < 2)
		return 0;
	c->others = calloc(p->nthreads - 1, sizeof *c->others);
	if (!c->others)
		return bm_error(BM_EXIT_FAILURE, "out of memory");
	if (ptrace(PTRACE_SETOPTIONS, c->pid, 0, PTRACE_O_EXITKILL | PTRACE_O_TRACECLONE) < 0)
		return bm_error_errno(BM_EXIT_FAILURE, errno, "PTRACE_SETOPTIONS on process %d", c->pid);
	for (uint32_t i = 1; i < p->nthreads; i++) {
		int rc = create_thread(c, &p->threads[i], &c->others[i - 1]);
		if (rc < 0)
			return rc;
		c->nothers++;
	}
	return 0;
}

/* Registers, FPU/AVX state, signal mask and rseq of one thread. */
static int set_thread_context(struct restore_ctx *c, struct bm_tracee *tr, const struct bm_thread *t)
{
	int rc = 0;
	if (t->rseq_addr &&
	    (rc = bm_rs_inject_in(c, tr, "rseq registration", SYS_rseq, t->rseq_addr, t->rseq_len, 0, t->rseq_sig, 0, 0,
			    NULL)) < 0)
		return rc;
	struct user_regs_struct regs;
	bm_resume_regs(t, &regs, true);
	if ((rc = bm_fault_rc(BM_FP_SET_CONTEXT)) < 0 || (rc = bm_set_xstate(tr->tid, t->xstate, t->xstate_len)) < 0)
		return bm_error_errno(BM_EXIT_CONFLICT, -rc, "cannot set the FPU/AVX state (does this CPU differ?)");
	if ((rc = bm_set_regs(tr->tid, &regs)) < 0 || (rc = bm_set_sigmask(tr->tid, t->sigmask)) < 0)
		return bm_error_errno(BM_EXIT_FAILURE, -rc, "cannot set the registers of thread %d", t->tid);
	tr->sigmask_blocked = false;
	return 0;
}

/* Set from outside while the process still has binmig's credentials:
 * afterwards prlimit on another user's process needs CAP_SYS_RESOURCE. */
static int set_rlimits(struct restore_ctx *c)
{
	for (int r = 0; r < BM_NRLIMITS; r++) {
		struct rlimit lim = {c->proc.rlimits[r].cur, c->proc.rlimits[r].max};
		if (prlimit(c->pid, r, &lim, NULL) < 0)
			return bm_error_errno(BM_EXIT_FAILURE, errno, "cannot set resource limit %d", r);
	}
	return 0;
}

int bm_rs_set_context(struct restore_ctx *c)
{
	const struct bm_process *p = &c->proc;
	int rc = 0;
	for (uint32_t i = 0; rc == 0 && i < c->nothers; i++)
		rc = set_thread_context(c, &c->others[i], &p->threads[i + 1]);
	if (rc == 0)
		rc = set_thread_context(c, &c->tr, &p->threads[0]);
	if (rc < 0)
		return rc;
	/* The affinity the image says; for an image without it, binmig's
	 * (the pinning was only for the rebuild). */
	if (c->proc.attrs.present)
		return bm_attrs_apply_affinity(&c->proc.attrs, c->all, c->nothers + 1);
	if (c->pinned) {
		for (uint32_t i = 0; i < c->nothers; i++)
			sched_setaffinity(c->others[i].tid, sizeof c->own_affinity, &c->own_affinity);
		sched_setaffinity(c->pid, sizeof c->own_affinity, &c->own_affinity);
	}
	return 0;
}

int bm_rs_park(struct restore_ctx *c)
{
	if (bm_fault(BM_FP_DETACH))
		return bm_error_errno(BM_EXIT_FAILURE, errno, "cannot park process %d", c->pid);
	int rc = 0;
	for (uint32_t i = 0; rc == 0 && i < c->nothers; i++)
		rc = bm_park(c->others[i].tid);
	if (rc == 0)
		rc = bm_park(c->pid);
	if (rc == 0)
		c->parked = true;
	return rc;
}

int bm_rs_let_run(struct restore_ctx *c)
{
	/* Every thread is ready: let them all go, the leader last.  A parked
	 * process has been promised to the source: it must run whatever
	 * happens, and a thread that cannot be detached (gone, or a fault
	 * injected) runs once binmig exits. */
	for (uint32_t i = 0; i <= c->nothers; i++) {
		pid_t tid = i < c->nothers ? c->others[i].tid : c->pid;
		if ((!c->parked && bm_fault(BM_FP_DETACH)) || ptrace(PTRACE_DETACH, tid, 0, 0) < 0) {
			if (!c->parked)
				return bm_error_errno(BM_EXIT_FAILURE, errno, "cannot detach from thread %d", tid);
			bm_warn("cannot detach from thread %d of process %d (%s); it runs once binmig exits", tid,
				c->pid, strerror(errno));
		}
	}
	return 0;
}

int bm_rs_rebuild(struct restore_ctx *c, struct bm_image_reader *r, const struct bm_restore_hook *hook)
{
	struct bm_maps_entry *maps;
	size_t nmaps;
	int rc = bm_read_maps(c->pid, &maps, &nmaps);
	if (rc < 0)
		return bm_error_errno(BM_EXIT_FAILURE, -rc, "cannot read the maps of the new process");
	uint64_t vs = 0, ve = 0, ip = 0;
	for (size_t i = 0; i < nmaps; i++)
		if (strcmp(maps[i].path, "[vdso]") == 0)
			vs = maps[i].start, ve = maps[i].end;
	free(maps);
	if (!vs)
		return bm_error(BM_EXIT_FAILURE, "binmig runs without a vDSO; it needs one to rebuild processes");
	if ((rc = bm_find_vdso_syscall(c->pid, vs, ve, &ip)) < 0 || (rc = bm_tracee_init(&c->tr, c->pid, ip)) < 0)
		return rc;

	/* binmig's rseq registration was inherited; it must go before binmig's memory does. */
	uint64_t rseq_addr;
	uint32_t rseq_len, rseq_sig;
	if ((rc = bm_get_rseq(c->pid, &rseq_addr, &rseq_len, &rseq_sig)) < 0)
		return bm_error_errno(BM_EXIT_FAILURE, -rc, "cannot read the rseq registration of the new process");
	if (rseq_addr && (rc = bm_rs_inject(c, "rseq unregistration", SYS_rseq, rseq_addr, rseq_len, 1 /* RSEQ_FLAG_UNREGISTER */,
				      rseq_sig, 0, 0, NULL)) < 0)
		return rc;

	if ((rc = bm_specials_take_vdso(&c->specials, &c->proc, r, &c->held, &c->have_held)) < 0 ||
	    (rc = bm_specials_place(&c->specials, c->pid, &c->tr, &c->proc)) < 0 || (rc = bm_rs_unmap_all_but(c)) < 0 ||
	    (rc = bm_rs_map_vmas(c)) < 0 || (rc = bm_specials_install_proxy(&c->specials, c->pid, &c->tr)) < 0 ||
	    (rc = bm_rs_fill_pages(c, r)) < 0 || (hook && hook->after_pages && (rc = hook->after_pages(hook->ctx, c->pid)) < 0) ||
	    (rc = bm_guards_install(&c->tr, c->pid, &c->proc)) < 0 || (rc = bm_rs_lock_and_seal(c, false)) < 0)
		return rc;
	if (c->st)
		c->st->as_restore_us = (int64_t)bm_now_us() - c->st->as_restore_us;
	uint64_t t_context = bm_now_us();

	if ((rc = find_scratch(&c->proc, &c->specials, &c->scratch)) < 0 ||
	    (rc = bm_rs_inject(c, "scratch mapping", SYS_mmap, c->scratch, SCRATCH_SIZE, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, (uint64_t)-1, 0, NULL)) < 0)
		return rc;
	if ((rc = bm_modes_apply_loginuid(&c->proc, &c->tr, c->scratch)) < 0 || (rc = set_root(c)) < 0 ||
	    (rc = bm_rs_name_vmas(c)) < 0 || (rc = set_mm(c)) < 0 ||
	    /* Its table as large as the original's, before the restore's own
	     * descriptors go (a copy of the executable's at bm_fd_table_slot). */
	    (rc = bm_fd_table_grow(&c->tr, c->pid, &c->proc, c->files[0].fd)) < 0 ||
	    (c->close_from >= 0 &&
	     (rc = bm_rs_inject(c, "closing descriptors", SYS_close_range, (uint64_t)c->close_from,
				c->close_to < 0 ? ~0U : (unsigned)c->close_to, 0, 0, 0, 0, NULL)) < 0) ||
	    (hook && hook->memory_done && (rc = hook->memory_done(hook->ctx, c->pid, &c->tr)) < 0) ||
	    (rc = create_threads(c)) < 0)
		return rc;
	c->all = calloc(c->nothers + 1, sizeof *c->all);
	if (!c->all)
		return bm_error(BM_EXIT_FAILURE, "out of memory");
	c->all[0] = &c->tr;
	for (uint32_t i = 0; i < c->nothers; i++)
		c->all[i + 1] = &c->others[i];
	/* Timers once their threads exist, with binmig's credentials (the alarm
	 * clocks need CAP_WAKE_ALARM). */
	if ((rc = bm_restore_timers(c->all, c->nothers + 1, c->scratch, &c->proc)) < 0)
		return rc;
	/* Attributes that need privilege, then the credentials: creating
	 * threads with chosen TIDs needs privilege too. */
	if ((rc = set_rlimits(c)) < 0 ||
	    (rc = bm_attrs_apply_before_credentials(&c->proc.attrs, c->all, c->nothers + 1)) < 0 ||
	    (rc = bm_modes_apply(&c->proc, c->all, c->nothers + 1, c->scratch)) < 0)
		return rc;
	for (uint32_t i = 0; rc == 0 && i < c->nothers; i++)
		rc = set_credentials(c, &c->others[i]);
	/* A descriptor's owner records the credentials of whoever sets it
	 * (the permission to signal): the process's own, set just above. */
	if (rc < 0 || (rc = set_credentials(c, &c->tr)) < 0 ||
	    (rc = bm_sigio_restore(&c->proc, c->sigio_elsewhere, &c->tr, c->scratch)) < 0 ||
	    (rc = bm_attrs_apply_after_credentials(&c->proc.attrs, c->all, c->nothers + 1, c->proc.uid[1] == 0,
						   c->scratch)) < 0 ||
	    (rc = bm_modes_apply_last(&c->proc, &c->tr)) < 0 ||
	    (rc = bm_rs_inject(c, "prctl(PR_SET_DUMPABLE)", SYS_prctl, PR_SET_DUMPABLE, c->proc.dumpable, 0, 0, 0, 0, NULL)) < 0 ||
	    (rc = bm_rs_inject(c, "scratch unmapping", SYS_munmap, c->scratch, SCRATCH_SIZE, 0, 0, 0, 0, NULL)) < 0 ||
	    (rc = bm_rs_lock_and_seal(c, true)) < 0)
		return rc;
	bm_fd_table_check(c->pid, &c->proc);
	if (c->st) {
		c->st->syscalls_injected = (int64_t)c->tr.injected;
		for (uint32_t i = 0; i < c->nothers; i++)
			c->st->syscalls_injected += (int64_t)c->others[i].injected;
	}
	if (c->defer_run)
		return 0; /* a member of a tree: the tree runs all at once */
	uint64_t t_hook = bm_now_us();
	if (hook && hook->before_run && (rc = hook->before_run(hook->ctx)) < 0)
		return rc;
	t_context += bm_now_us() - t_hook; /* waiting for the peer is not restore work */
	if ((rc = bm_rs_set_context(c)) < 0)
		return rc;
	if (c->st)
		c->st->ctx_restore_us = (int64_t)(bm_now_us() - t_context);
	/* The kernel's next timer id and watch numbers, where the original's
	 * differ from what the restore left: from CONFIRM (a migration holds
	 * its copy until then) or the image (timers_next_id.h). */
	struct bm_next_ids *ids = calloc(1, sizeof *ids);
	if (!ids)
		return bm_error(BM_EXIT_FAILURE, "out of memory");
	if (hook && hook->hold && (rc = bm_rs_park(c)) == 0)
		rc = hook->hold(hook->ctx, c->pid, ids);
	if (rc == 0) {
		bm_next_ids_add_image(&c->proc, ids);
		if (bm_next_ids_to_set(&c->proc, ids) && (c->parked || (rc = bm_rs_park(c)) == 0))
			bm_rs_set_next_ids(c, ids);
	}
	free(ids);
	return rc < 0 ? rc : bm_rs_let_run(c);
}

void bm_rs_set_next_ids(struct restore_ctx *c, const struct bm_next_ids *ids)
{
	bm_timers_set_next_id(&c->tr, &c->proc, ids);
	bm_inotify_set_next_wds(&c->tr, &c->proc, ids);
}

int bm_restore(struct bm_image_reader *r, const struct bm_restore_hook *hook, pid_t *pid, struct bm_stats *st)
{
	struct restore_ctx c = {.st = st};
	uint64_t t0 = bm_now_us();
	uint8_t *tree;
	uint32_t tree_len;
	int rc = bm_image_read_tree(r, &tree, &tree_len);
	if (rc != 0) {
		if (rc > 0)
			rc = bm_tree_restore(r, tree, tree_len, hook, pid, st);
		free(tree);
		return rc;
	}
	struct bm_shm_names shm_names = {0};
	struct bm_shmem_objects shmem = {0};
	c.shm_names = &shm_names;
	c.shmem = &shmem;
	rc = bm_image_read_process(r, &c.proc);
	if (rc == 0 && (rc = bm_xstate_fits_here(&c.proc)) == 0 && (rc = bm_check_fds(&c.proc)) == 0 &&
	    (rc = bm_locks_check_alone(&c.proc)) == 0 && (rc = bm_rs_plan_files(&c)) == 0 && hook && hook->npremapped &&
	    bm_rs_plan_inplace(&c.proc, hook->premapped, hook->npremapped, &c.inplace, &c.ninplace) < 0)
		rc = bm_error(BM_EXIT_FAILURE, "out of memory");
	if (rc == 0 && (rc = create_child(&c)) == 0 && c.ninplace && hook->adopted)
		hook->adopted(hook->ctx, c.inplace, c.ninplace);
	bm_rs_unlink_shm_names(&shm_names); /* the new process holds them open, or is gone */
	if (rc == 0)
		rc = bm_rs_rebuild(&c, r, hook);
	if (rc < 0 && c.child_alive) {
		/* Every thread of it is binmig's tracee (the leader also its child)
		 * and must be reaped, the leader last; a thread may have been
		 * created just before the failure.  binmig has no other children. */
		kill(c.pid, SIGKILL);
		int status;
		while (waitpid(-1, &status, __WALL) > 0 || errno == EINTR)
			;
	}
	if (rc == 0) {
		*pid = c.pid;
		/* The user chose these replacements; say what they did, here and
		 * in the daemon's log. */
		bm_fd_policy_report(&c.proc);
		if (st) {
			st->pid = c.pid;
			st->vmas = c.proc.nvmas;
			st->threads = c.proc.nthreads;
			st->fds = c.proc.nfds;
			st->image_bytes = (int64_t)r->count.bytes;
			st->pages_stored = (int64_t)r->count.pages_stored;
			st->pages_zero = (int64_t)r->count.pages_zero;
			st->total_us = (int64_t)(bm_now_us() - t0);
		}
	}
	if (c.pinned)
		sched_setaffinity(0, sizeof c.own_affinity, &c.own_affinity);
	bm_shmem_objects_free(&shmem);
	free(c.files);
	free(c.inplace);
	free(c.cgroup_procs);
	free(c.others);
	free(c.all);
	bm_specials_free(&c.specials);
	bm_process_free(&c.proc);
	return rc;
}
