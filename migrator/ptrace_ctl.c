#include "ptrace_ctl.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <elf.h>
#include <sched.h>
#include <linux/ptrace.h>

#include "analysis.h"
#include "fault.h"
#include "log.h"
#include "procfs.h"

#define STOP_TIMEOUT_MS 5000
/* A thread not stopped after this long is asked whether it is in vfork. */
#define VFORK_PROBE_MS 50
/* A thread that does not stop within this time is reported, not waited for forever. */
#define INJECT_TIMEOUT_MS 10000

uint64_t bm_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void on_alarm(int sig) { (void)sig; }

/* waitpid() with a deadline.  ITIMER_REAL interrupts the wait; its
 * interval re-arms it so that an expiry landing just before waitpid() is
 * entered cannot leave us blocked. */
int bm_wait_stop(pid_t tid, int *status, int timeout_ms)
{
	static bool handler_installed;
	if (!handler_installed) {
		struct sigaction sa = {.sa_handler = on_alarm}; /* no SA_RESTART: waitpid returns EINTR */
		sigemptyset(&sa.sa_mask);
		sigaction(SIGALRM, &sa, NULL);
		handler_installed = true;
	}
	uint64_t deadline = bm_now_us() + (uint64_t)timeout_ms * 1000u;
	struct itimerval it = {.it_interval = {0, 20000}, .it_value = {timeout_ms / 1000, (timeout_ms % 1000) * 1000}};
	if (it.it_value.tv_sec == 0 && it.it_value.tv_usec == 0)
		it.it_value.tv_usec = 1;
	setitimer(ITIMER_REAL, &it, NULL);
	int rc;
	for (;;) {
		pid_t r = waitpid(tid, status, __WALL);
		if (r == tid) {
			rc = 0;
			break;
		}
		if (r < 0 && errno == EINTR) {
			if (bm_now_us() >= deadline) {
				rc = -ETIMEDOUT;
				break;
			}
			continue;
		}
		rc = r < 0 ? -errno : -ECHILD;
		break;
	}
	struct itimerval off = {0};
	setitimer(ITIMER_REAL, &off, NULL);
	return rc;
}

struct traced_run {
	int (*fn)(void *arg);
	void *arg;
	int rc;
	pid_t tid;
	const char *log_prefix; /* the caller's */
};

static void *traced_main(void *p)
{
	struct traced_run *run = p;
	run->tid = (pid_t)syscall(SYS_gettid);
	sigset_t alarm;
	sigemptyset(&alarm);
	sigaddset(&alarm, SIGALRM);
	pthread_sigmask(SIG_UNBLOCK, &alarm, NULL);
	bm_set_log_prefix(run->log_prefix);
	run->rc = run->fn(run->arg);
	return NULL;
}

int bm_run_traced(int (*fn)(void *arg), void *arg)
{
	struct traced_run run = {fn, arg, 0, 0, bm_log_prefix()};
	sigset_t alarm, old;
	sigemptyset(&alarm);
	sigaddset(&alarm, SIGALRM);
	pthread_sigmask(SIG_BLOCK, &alarm, &old);
	pthread_t thread;
	int e = pthread_create(&thread, NULL, traced_main, &run);
	if (e == 0)
		pthread_join(thread, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (e != 0)
		return bm_error_errno(BM_EXIT_FAILURE, e, "cannot start a thread");
	/* The join returns once the thread has left its memory; its tracees
	 * are let go a moment later, as it leaves the thread group. */
	char task[64];
	snprintf(task, sizeof task, "/proc/self/task/%d", (int)run.tid);
	uint64_t deadline = bm_now_us() + STOP_TIMEOUT_MS * 1000ULL;
	while (access(task, F_OK) == 0 && bm_now_us() < deadline) {
		struct timespec ts = {0, 100000};
		nanosleep(&ts, NULL);
	}
	return run.rc;
}

static bool is_interrupt_stop(int status)
{
	return WIFSTOPPED(status) && (status >> 16) == PTRACE_EVENT_STOP;
}

/* Whether thread TID has ended: gone, or a zombie or dead task that the
 * kernel has not released yet (then PTRACE_SEIZE fails with EPERM). */
static bool thread_ended(pid_t tid)
{
	char path[64], buf[512];
	snprintf(path, sizeof path, "/proc/%d/stat", tid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT || errno == ESRCH;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return true;
	buf[n] = 0;
	const char *close_paren = strrchr(buf, ')');
	char state = close_paren && close_paren[1] == ' ' ? close_paren[2] : '?';
	return state == 'Z' || state == 'X';
}

int bm_seize(pid_t tid)
{
	if (bm_fault(BM_FP_SEIZE) || ptrace(PTRACE_SEIZE, tid, 0, 0) < 0) {
		int e = errno;
		/* Gone, or ending (a thread that exits between the listing and
		 * the seize): the caller decides whether that matters. */
		if (e == ESRCH || (e == EPERM && thread_ended(tid)))
			return -ESRCH;
		if (e == EPERM)
			return bm_error(BM_EXIT_TARGET, "not permitted to trace process %d (already traced, or protected)", tid);
		return bm_error_errno(BM_EXIT_TARGET, e, "cannot seize thread %d", tid);
	}
	if (ptrace(PTRACE_INTERRUPT, tid, 0, 0) < 0)
		return bm_error_errno(BM_EXIT_TARGET, errno, "cannot interrupt thread %d", tid);
	return 0;
}

/* The interrupt of a thread blocked in vfork takes effect only once its
 * child has run a program or exited: waited for, and said.  *vfork_child
 * is that child (0 if it cannot be told), -1 if the thread is not in
 * vfork. */
static int wait_stop_or_vfork(pid_t tid, int *status, pid_t *vfork_child)
{
	*vfork_child = -1;
	int rc = bm_wait_stop(tid, status, VFORK_PROBE_MS);
	if (rc != -ETIMEDOUT)
		return rc;
	pid_t child = 0;
	if (bm_vfork_child(tid, &child) == 1) {
		*vfork_child = child;
		bm_note("thread %d waits for its vfork child %d to run a program or exit; the freeze waits for that "
			"(at most %d ms)", tid, child, STOP_TIMEOUT_MS);
		bm_test_vfork_gate();
	}
	return bm_wait_stop(tid, status, STOP_TIMEOUT_MS - VFORK_PROBE_MS);
}

int bm_wait_interrupted(pid_t tid, int *stop_sig)
{
	for (;;) {
		pid_t vfork_child = -1;
		int status, rc = bm_fault_rc(BM_FP_STOP_WAIT);
		if (rc == 0)
			rc = wait_stop_or_vfork(tid, &status, &vfork_child);
		if (rc == -ETIMEDOUT && vfork_child >= 0)
			return bm_error(BM_EXIT_UNSUPPORTED, "thread %d waits for its vfork child %d, which has neither run "
					"a program nor exited within %d ms; binmig freezes a vfork parent only once its "
					"child has (until then the two share their memory)", tid, vfork_child,
					STOP_TIMEOUT_MS);
		if (rc == -ETIMEDOUT)
			return bm_error(BM_EXIT_TARGET, "thread %d did not stop within %d ms (uninterruptible sleep?)",
					tid, STOP_TIMEOUT_MS);
		if (rc < 0)
			return bm_error_errno(BM_EXIT_TARGET, -rc, "waiting for thread %d to stop", tid);
		if (WIFEXITED(status) || WIFSIGNALED(status))
			return -ESRCH;
		if (is_interrupt_stop(status)) {
			if (stop_sig)
				*stop_sig = WSTOPSIG(status);
			return 0;
		}
		/* A signal arrived before our interrupt took effect: let it be
		 * delivered as it would have been; the interrupt is still
		 * pending and stops the thread right after. */
		int sig = (status >> 16) == 0 ? WSTOPSIG(status) : 0;
		if (ptrace(PTRACE_CONT, tid, 0, sig) < 0)
			return bm_error_errno(BM_EXIT_TARGET, errno, "cannot resume thread %d", tid);
	}
}

int bm_park(pid_t tid)
{
	/* Resumed with the interrupt pending, the thread traps again before it
	 * dequeues any signal or returns to its own code; a signal-delivery
	 * stop (a single-step's SIGTRAP) is left with its signal suppressed,
	 * which an implicit detach would otherwise deliver. */
	if (ptrace(PTRACE_INTERRUPT, tid, 0, 0) < 0 || ptrace(PTRACE_CONT, tid, 0, 0) < 0)
		return bm_error_errno(BM_EXIT_FAILURE, errno, "cannot park thread %d", tid);
	int status, rc = bm_wait_stop(tid, &status, STOP_TIMEOUT_MS);
	if (rc < 0)
		return bm_error_errno(BM_EXIT_FAILURE, -rc, "waiting for thread %d to park", tid);
	if (!is_interrupt_stop(status))
		return bm_error(BM_EXIT_FAILURE, "thread %d stopped otherwise than parked (status 0x%x)", tid, status);
	if (ptrace(PTRACE_SETOPTIONS, tid, 0, 0) < 0)
		return bm_error_errno(BM_EXIT_FAILURE, errno, "cannot drop the options of thread %d", tid);
	return 0;
}

int bm_get_regs(pid_t tid, struct user_regs_struct *regs)
{
	return ptrace(PTRACE_GETREGS, tid, 0, regs) < 0 ? -errno : 0;
}

int bm_set_regs(pid_t tid, const struct user_regs_struct *regs)
{
	return ptrace(PTRACE_SETREGS, tid, 0, regs) < 0 ? -errno : 0;
}

int bm_get_xstate(pid_t tid, void *buf, uint32_t *len)
{
	struct iovec iov = {buf, *len};
	if (ptrace(PTRACE_GETREGSET, tid, (void *)NT_X86_XSTATE, &iov) < 0)
		return -errno;
	*len = (uint32_t)iov.iov_len;
	return 0;
}

int bm_set_xstate(pid_t tid, const void *buf, uint32_t len)
{
	struct iovec iov = {(void *)buf, len};
	return ptrace(PTRACE_SETREGSET, tid, (void *)NT_X86_XSTATE, &iov) < 0 ? -errno : 0;
}

int bm_get_sigmask(pid_t tid, uint64_t *mask)
{
	return ptrace(PTRACE_GETSIGMASK, tid, sizeof *mask, mask) < 0 ? -errno : 0;
}

int bm_set_sigmask(pid_t tid, uint64_t mask)
{
	return ptrace(PTRACE_SETSIGMASK, tid, sizeof mask, &mask) < 0 ? -errno : 0;
}

int bm_tracee_init(struct bm_tracee *t, pid_t tid, uint64_t syscall_ip)
{
	memset(t, 0, sizeof *t);
	t->tid = tid;
	t->syscall_ip = syscall_ip;
	int rc = bm_fault_rc(BM_FP_READ_REGS);
	if (rc == 0)
		rc = bm_get_regs(tid, &t->orig);
	if (rc == 0)
		rc = bm_get_sigmask(tid, &t->orig_sigmask);
	if (rc < 0)
		return bm_error_errno(BM_EXIT_FAILURE, -rc, "cannot read the state of thread %d", tid);
	_Static_assert(SIGTRAP == 5, "BM_INJECT_SIGMASK spells SIGTRAP out");
	rc = bm_set_sigmask(tid, BM_INJECT_SIGMASK);
	if (rc < 0)
		return bm_error_errno(BM_EXIT_FAILURE, -rc, "cannot block signals of thread %d", tid);
	t->sigmask_blocked = true;
	return 0;
}

int bm_tracee_restore(struct bm_tracee *t)
{
	int rc = bm_set_regs(t->tid, &t->orig);
	if (rc == 0 && t->sigmask_blocked)
		rc = bm_set_sigmask(t->tid, t->orig_sigmask);
	if (rc < 0)
		return bm_error_errno(BM_EXIT_FAILURE, -rc, "cannot restore the registers of thread %d", t->tid);
	t->sigmask_blocked = false;
	return 0;
}

int bm_inject(struct bm_tracee *t, long nr, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4,
	      uint64_t a5, uint64_t a6, long *ret)
{
	struct user_regs_struct r = t->orig;
	r.rax = (uint64_t)nr;
	r.rdi = a1;
	r.rsi = a2;
	r.rdx = a3;
	r.r10 = a4;
	r.r8 = a5;
	r.r9 = a6;
	r.rip = t->syscall_ip;
	/* orig_rax = -1: the kernel must not apply its syscall-restart logic
	 * to these registers when the thread leaves the stop. */
	r.orig_rax = (uint64_t)-1;
	int rc = bm_fault_rc(BM_FP_INJECT);
	if (rc == 0)
		rc = bm_set_regs(t->tid, &r);
	if (rc < 0)
		return bm_error_errno(BM_EXIT_FAILURE, -rc, "injecting %s into thread %d", bm_syscall_name(nr), t->tid);
	if (bm_fault(BM_FP_STOP_IN_CALL))
		kill(t->tid, SIGSTOP); /* as if sent from outside (a test's arming) */
	if (ptrace(PTRACE_SINGLESTEP, t->tid, 0, 0) < 0)
		return bm_error_errno(BM_EXIT_FAILURE, errno, "single-stepping thread %d", t->tid);
	int status;
	for (;;) {
		rc = bm_wait_stop(t->tid, &status, INJECT_TIMEOUT_MS);
		if (rc < 0)
			return bm_error_errno(BM_EXIT_FAILURE, -rc, "waiting for injected %s in thread %d",
					      bm_syscall_name(nr), t->tid);
		/* A ptrace event inside the call (PTRACE_EVENT_CLONE of an injected
		 * clone3): let the call finish.  A SIGSTOP, which no mask holds
		 * back, stops the thread before the call or as it returns (a call
		 * it interrupted restarts): set aside, owed to the process. */
		bool owed_stop = WIFSTOPPED(status) && (status >> 16) == 0 && WSTOPSIG(status) == SIGSTOP;
		if (owed_stop)
			t->stop_owed = true;
		else if (!WIFSTOPPED(status) || (status >> 16) == 0)
			break;
		if (ptrace(PTRACE_SINGLESTEP, t->tid, 0, 0) < 0)
			return bm_error_errno(BM_EXIT_FAILURE, errno, "single-stepping thread %d", t->tid);
	}
	if (!WIFSTOPPED(status))
		return bm_error(BM_EXIT_FAILURE, "thread %d died during injected %s (status 0x%x)", t->tid,
				bm_syscall_name(nr), status);
	if (WSTOPSIG(status) != SIGTRAP)
		return bm_error(BM_EXIT_FAILURE, "thread %d stopped with signal %d during injected %s", t->tid,
				WSTOPSIG(status), bm_syscall_name(nr));
	struct user_regs_struct after;
	rc = bm_get_regs(t->tid, &after);
	if (rc < 0)
		return bm_error_errno(BM_EXIT_FAILURE, -rc, "reading registers of thread %d", t->tid);
	if (after.rip != t->syscall_ip + 2)
		return bm_error(BM_EXIT_FAILURE, "injected %s in thread %d ended at 0x%llx, expected 0x%lx",
				bm_syscall_name(nr), t->tid, after.rip, t->syscall_ip + 2);
	*ret = (long)after.rax;
	t->injected++;
	return 0;
}

/* One /proc/PID/mem descriptor is kept open: opening it costs more than
 * most accesses. */
static int mem_fd = -1;
static pid_t mem_pid;

static int proc_mem_fd(pid_t pid)
{
	if (mem_fd >= 0 && mem_pid == pid)
		return mem_fd;
	if (mem_fd >= 0)
		close(mem_fd);
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/mem", pid);
	mem_fd = open(path, O_RDWR | O_CLOEXEC);
	mem_pid = pid;
	return mem_fd;
}

static int proc_mem_io(pid_t pid, uint64_t addr, void *buf, size_t len, bool write)
{
	int fd = proc_mem_fd(pid);
	if (fd < 0)
		return -errno;
	size_t done = 0;
	while (done < len) {
		ssize_t n = write ? pwrite(fd, (char *)buf + done, len - done, (off_t)(addr + done))
				  : pread(fd, (char *)buf + done, len - done, (off_t)(addr + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EFAULT;
		done += (size_t)n;
	}
	return 0;
}

int bm_mem_read(pid_t pid, uint64_t addr, void *buf, size_t len)
{
	struct iovec local = {buf, len}, remote = {(void *)addr, len};
	ssize_t n = process_vm_readv(pid, &local, 1, &remote, 1, 0);
	if (n == (ssize_t)len)
		return 0;
	/* Not readable through the page tables as the process sees them
	 * (PROT_NONE, guard pages): /proc/PID/mem reads with FOLL_FORCE. */
	return proc_mem_io(pid, addr, buf, len, false);
}

int bm_mem_write(pid_t pid, uint64_t addr, const void *buf, size_t len)
{
	struct iovec local = {(void *)buf, len}, remote = {(void *)addr, len};
	ssize_t n = process_vm_writev(pid, &local, 1, &remote, 1, 0);
	if (n == (ssize_t)len)
		return 0;
	/* Read-only pages: /proc/PID/mem writes through them. */
	return proc_mem_io(pid, addr, (void *)buf, len, true);
}

int bm_find_vdso_syscall(pid_t pid, uint64_t vdso_start, uint64_t vdso_end, uint64_t *addr)
{
	size_t len = vdso_end - vdso_start;
	if (len == 0 || len > (1u << 20))
		return bm_error(BM_EXIT_FAILURE, "vDSO of process %d has an unexpected size (%zu bytes)", pid, len);
	uint8_t *buf = malloc(len);
	if (!buf)
		return bm_error(BM_EXIT_FAILURE, "out of memory");
	int rc = bm_mem_read(pid, vdso_start, buf, len);
	uint64_t off = 0;
	if (rc == 0)
		rc = bm_find_syscall_in_elf(buf, len, &off);
	free(buf);
	if (rc < 0)
		return bm_error(BM_EXIT_FAILURE, "no usable syscall instruction found in the vDSO of process %d", pid);
	*addr = vdso_start + off;
	return 0;
}

int bm_get_rseq(pid_t tid, uint64_t *addr, uint32_t *len, uint32_t *sig)
{
	struct __ptrace_rseq_configuration conf = {0};
	if (ptrace(PTRACE_GET_RSEQ_CONFIGURATION, tid, sizeof conf, &conf) < 0)
		return -errno;
	*addr = conf.rseq_abi_pointer;
	*len = conf.rseq_abi_size;
	*sig = conf.signature;
	return 0;
}

int bm_last_cpu(pid_t tid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof path, "/proc/%d/stat", tid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return -EIO;
	buf[n] = 0;
	/* Field 39 counts from the pid; after the comm's closing ')' come
	 * fields 3.. */
	char *p = strrchr(buf, ')');
	for (int field = 2; p && field < 39; field++)
		p = strchr(p + 1, ' ');
	return p ? atoi(p + 1) : -EINVAL;
}

int bm_pin_self(int cpu, cpu_set_t *saved)
{
	if (sched_getaffinity(0, sizeof *saved, saved) < 0)
		return -errno;
	if (cpu < 0 || !CPU_ISSET(cpu, saved))
		return -EINVAL;
	cpu_set_t one;
	CPU_ZERO(&one);
	CPU_SET(cpu, &one);
	return sched_setaffinity(0, sizeof one, &one) < 0 ? -errno : 0;
}

int bm_scratch_map(struct bm_tracee *t, uint64_t *addr)
{
	long got;
	int rc = bm_inject(t, SYS_mmap, 0, BM_SCRATCH_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			   (uint64_t)-1, 0, &got);
	if (rc < 0)
		return rc;
	if (got < 0 && got > -4096)
		return bm_error_errno(BM_EXIT_FAILURE, (int)-got, "mmap of a scratch page in process %d", t->tid);
	*addr = (uint64_t)got;
	return 0;
}

int bm_held_begin(struct bm_tracee *t, struct bm_held *h)
{
	int rc = bm_get_regs(t->tid, &h->regs);
	if (rc == 0)
		rc = bm_get_sigmask(t->tid, &h->mask);
	if (rc == 0)
		rc = bm_set_sigmask(t->tid, BM_INJECT_SIGMASK);
	return rc;
}

void bm_held_end(struct bm_tracee *t, const struct bm_held *h, const char *what)
{
	int rc = bm_set_regs(t->tid, &h->regs);
	if (rc == 0)
		rc = bm_set_sigmask(t->tid, h->mask);
	if (rc < 0)
		bm_warn("process %d: its leader's registers could not be put back after %s (%s)", t->tid, what,
			strerror(-rc));
	else if (bm_park(t->tid) < 0)
		bm_warn("process %d: its leader could not be parked again: %s", t->tid, bm_latest_error_message());
}

int bm_scratch_unmap(struct bm_tracee *t, uint64_t addr)
{
	long ret;
	return bm_inject(t, SYS_munmap, addr, BM_SCRATCH_SIZE, 0, 0, 0, 0, &ret);
}
