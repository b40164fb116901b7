/* Process control: seize, interrupt, resume and detach threads, and run
 * system calls inside a stopped thread (both dump and restore need it). */
#ifndef BINMIG_PTRACE_CTL_H
#define BINMIG_PTRACE_CTL_H

#include <stdbool.h>
#include <sched.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/user.h>

/* A stopped thread that binmig may run system calls in.  `orig` are the
 * registers at the stop (what must be put back), `syscall_ip` the address
 * of a `syscall` instruction in the thread's address space. */
struct bm_tracee {
	pid_t tid;
	struct user_regs_struct orig;
	uint64_t orig_sigmask;
	uint64_t syscall_ip;
	bool sigmask_blocked;      /* all signals blocked for injection */
	bool stop_owed;            /* a SIGSTOP reached it during an injected call (no mask holds one
				      back): set aside there, and owed to the process when it is let go */
	unsigned long injected;    /* statistics: system calls run */
};

/* Runs fn(arg) on a thread of its own and returns what fn returned
 * (or, if no thread can be made, a negative value after reporting).  The
 * source side runs its work on a process so, from the freeze to the
 * release: the kernel ties a tracee to the thread that seized it, takes
 * every ptrace request for it from that thread only, and lets it go when
 * that thread ends.  A thread seized while it cannot stop (blocked in
 * vfork until its child runs a program or exits, or in an uninterruptible
 * sleep) cannot be detached, and would stay traced, with its stop
 * pending, until binmig exits; it is let go as that thread ends, before
 * bm_run_traced returns.  SIGALRM (bm_wait_stop) is blocked in the
 * caller meanwhile so that it reaches that thread; the thread's messages
 * start with the caller's prefix (bm_set_log_prefix). */
int bm_run_traced(int (*fn)(void *arg), void *arg);

/* Seizes TID and asks it to stop (PTRACE_SEIZE + PTRACE_INTERRUPT).
 * -ESRCH (unreported) if the thread is gone, or ending (a zombie the
 * kernel has not released yet: the seize then fails with EPERM, as for a
 * protected thread, which /proc tells apart); other errors are reported
 * (BM_EXIT_TARGET for permission/tracing). */
int bm_seize(pid_t tid);

/* Waits (bounded) until a seized thread is in its interrupt stop.  A
 * signal that arrives meanwhile is delivered normally before the stop.
 * -ESRCH (unreported) if the thread exited.  *stop_sig (may be NULL) is
 * SIGTRAP for a running thread, or the signal that stopped it for one in
 * a group stop (SIGSTOP, SIGTSTP, ...): it stays stopped when detached. */
int bm_wait_interrupted(pid_t tid, int *stop_sig);

/* Parks a thread that sits in any ptrace stop: moves it into an interrupt
 * stop with no signal pending delivery, and drops PTRACE_O_EXITKILL.  From
 * then on, should binmig die, the kernel detaches the thread and it runs
 * exactly as PTRACE_DETACH would have let it (the restore holds a new
 * process this way until the source confirms, docs/protocol.md §7).
 * 0, or negative after reporting. */
int bm_park(pid_t tid);

/* Waits for TID to report a ptrace stop (or exit) within timeout_ms.
 * Returns 0 with *status, -ETIMEDOUT, or -errno. */
int bm_wait_stop(pid_t tid, int *status, int timeout_ms);

/* Prepares a stopped thread for injection: saves registers and mask, and
 * blocks every signal so none is delivered while binmig runs its calls
 * (BM_INJECT_SIGMASK: all but SIGTRAP, the single-step's trap, which is
 * forced, and forcing a blocked signal would reset its handler). */
#define BM_INJECT_SIGMASK (~0ULL & ~(1ULL << (5 /* SIGTRAP */ - 1)))
int bm_tracee_init(struct bm_tracee *t, pid_t tid, uint64_t syscall_ip);

/* Runs system call NR with up to six arguments inside the tracee (one
 * single-step over the `syscall` instruction at t->syscall_ip).  The
 * kernel's return value goes to *ret (negative errno on failure of the
 * call itself); the function's own return is 0 or a negative errno when
 * ptrace failed.  A SIGSTOP that arrives meanwhile is set aside
 * (t->stop_owed) and the call carried on: pending_stop.h says what
 * becomes of it. */
int bm_inject(struct bm_tracee *t, long nr, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4,
	      uint64_t a5, uint64_t a6, long *ret);

/* A page of the tracee's process for the results of injected calls,
 * mapped by an injected mmap: 0 with its address in *addr, or negative
 * after reporting.  bm_scratch_unmap gives it back (0 or -errno). */
#define BM_SCRATCH_SIZE 4096u
int bm_scratch_map(struct bm_tracee *t, uint64_t *addr);
int bm_scratch_unmap(struct bm_tracee *t, uint64_t addr);

/* Calls into a parked thread of a process held at the destination, which
 * must be as it was afterwards (timers_next_id.h, inotify_next_wd.h):
 * bm_held_begin saves its registers and signal mask and blocks every
 * signal (0 or -errno); bm_held_end puts them back and parks it again,
 * warning of what it could not (WHAT names the calls made). */
struct bm_held {
	struct user_regs_struct regs;
	uint64_t mask;
};
int bm_held_begin(struct bm_tracee *t, struct bm_held *h);
void bm_held_end(struct bm_tracee *t, const struct bm_held *h, const char *what);

/* Puts back the registers and signal mask saved by bm_tracee_init. */
int bm_tracee_restore(struct bm_tracee *t);

/* Memory access (process_vm_readv/writev, with a /proc/PID/mem fallback
 * for pages that are not writable). 0 or -errno. */
int bm_mem_read(pid_t pid, uint64_t addr, void *buf, size_t len);
int bm_mem_write(pid_t pid, uint64_t addr, const void *buf, size_t len);

/* Register sets. */
int bm_get_regs(pid_t tid, struct user_regs_struct *regs);
int bm_set_regs(pid_t tid, const struct user_regs_struct *regs);
/* xstate: *len is the buffer size on entry, the kernel's size on return. */
int bm_get_xstate(pid_t tid, void *buf, uint32_t *len);
int bm_set_xstate(pid_t tid, const void *buf, uint32_t len);
int bm_get_sigmask(pid_t tid, uint64_t *mask);
int bm_set_sigmask(pid_t tid, uint64_t mask);

/* The thread's rseq registration (addr 0 when none). */
int bm_get_rseq(pid_t tid, uint64_t *addr, uint32_t *len, uint32_t *sig);

/* Address of the first `syscall` instruction in the vDSO of the given
 * process (read from its memory, found by disassembly). */
int bm_find_vdso_syscall(pid_t pid, uint64_t vdso_start, uint64_t vdso_end, uint64_t *addr);

/* The CPU a thread last ran on (/proc/TID/stat field 39), or -errno. */
int bm_last_cpu(pid_t tid);

/* Runs binmig on CPU `cpu` only, saving its affinity in *saved.  An
 * injected system call costs about 16 us when tracer and tracee share a
 * CPU and 75-90 us across CPUs (DESIGN.md). */
int bm_pin_self(int cpu, cpu_set_t *saved);

/* Monotonic clock in microseconds. */
uint64_t bm_now_us(void);

#endif
