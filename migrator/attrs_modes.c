/* Modes on how a process's code runs and its memory is shared
 * (attrs_modes.h). */
#include "attrs_modes.h"

#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <asm/prctl.h>

#include "attrs.h"
#include "log.h"
#include "procfs.h"

/* Linux 6.3 and 6.4; Debian 12's headers predate them. */
#ifndef PR_GET_MDWE
#define PR_SET_MDWE 65
#define PR_GET_MDWE 66
#endif
#ifndef PR_GET_MEMORY_MERGE
#define PR_SET_MEMORY_MERGE 67
#define PR_GET_MEMORY_MERGE 68
#endif
#define PTRACE_GET_SYSCALL_USER_DISPATCH_CONFIG_ 0x4211
#define ARCH_GET_XCOMP_PERM_ 0x1022
#define ARCH_REQ_XCOMP_PERM_ 0x1023
#define ARCH_GET_XCOMP_GUEST_PERM_ 0x1024
#define ARCH_REQ_XCOMP_GUEST_PERM_ 0x1025
#define MEMBARRIER_CMD_GET_REGISTRATIONS_ (1 << 9)
/* Linux 6.17. */
#define BM_PR_FUTEX_HASH 78
#define BM_PR_FUTEX_HASH_SET_SLOTS 1
#define BM_PR_FUTEX_HASH_GET_SLOTS 2

struct sud_config { /* struct ptrace_sud_config */
	uint64_t mode, selector, offset, len;
};

/* Seccomp, whose filter could kill or trap binmig's calls (as strict
 * mode does every call but a few), and a pending SIGTRAP, which binmig's
 * single-step over each call would take (it must leave SIGTRAP unblocked:
 * the step's own trap is forced). */
static int check_status(pid_t pid, pid_t tid)
{
	char name[64], *text;
	snprintf(name, sizeof name, "task/%d/status", tid);
	int rc = bm_read_proc_text(pid, name, &text);
	if (rc < 0)
		return bm_error_errno(BM_EXIT_TARGET, -rc, "cannot read /proc/%d/%s", pid, name);
	struct bm_status_caps st;
	struct bm_proc_status pending;
	rc = bm_attrs_parse_status(text, &st);
	if (rc == 0)
		rc = bm_parse_status(text, &pending);
	free(text);
	if (rc < 0)
		return bm_error(BM_EXIT_TARGET, "cannot read /proc/%d/%s", pid, name);
	if (st.seccomp)
		return bm_error(BM_EXIT_UNSUPPORTED,
				"thread %d of process %d runs under seccomp (mode %u), which could kill or trap the calls "
				"binmig makes in it; binmig cannot migrate it", tid, pid, st.seccomp);
	if ((pending.sig_pnd | pending.shd_pnd) & (1ULL << (SIGTRAP - 1)))
		return bm_error(BM_EXIT_UNSUPPORTED,
				"thread %d of process %d has a SIGTRAP pending, which binmig's single-stepping would take; "
				"binmig cannot migrate it", tid, pid);
	return 0;
}

/* Syscall user dispatch, which sends every call from outside a given
 * range to the process's SIGSYS handler. */
static int check_dispatch(pid_t pid, pid_t tid)
{
	struct sud_config cfg = {0};
	if (ptrace((enum __ptrace_request)PTRACE_GET_SYSCALL_USER_DISPATCH_CONFIG_, tid, (void *)sizeof cfg, &cfg) < 0) {
		if (errno == EIO || errno == EINVAL)
			return 0; /* a kernel without the request */
		return bm_error_errno(BM_EXIT_TARGET, errno, "cannot read the syscall user dispatch of thread %d", tid);
	}
	if (cfg.mode == 0)
		return 0;
	return bm_error(BM_EXIT_UNSUPPORTED,
			"thread %d of process %d has syscall user dispatch on (PR_SET_SYSCALL_USER_DISPATCH, its system "
			"calls outside [%#llx, +%llu) sent to its SIGSYS handler), which would catch the calls binmig "
			"makes in it; binmig cannot migrate it",
			tid, pid, (unsigned long long)cfg.offset, (unsigned long long)cfg.len);
}

int bm_modes_check_injectable(pid_t pid, pid_t tid)
{
	int rc = check_status(pid, tid);
	return rc < 0 ? rc : check_dispatch(pid, tid);
}

/* A call that older kernels lack (EINVAL): 0 there. */
static int call_or_zero(struct bm_tracee *tr, const char *what, long nr, uint64_t a1, uint64_t a2, long *value)
{
	long r;
	int rc = bm_inject(tr, nr, a1, a2, 0, 0, 0, 0, &r);
	if (rc < 0)
		return rc;
	if (r < 0 && r != -EINVAL)
		return bm_error_errno(BM_EXIT_FAILURE, (int)-r, "%s in thread %d", what, tr->tid);
	*value = r < 0 ? 0 : r;
	return 0;
}

/* A number in /proc/PID/NAME (BASE 16 or 10); ENOENT (a kernel without
 * the file) gives ABSENT. */
static int proc_number(pid_t pid, const char *name, int base, uint32_t absent, uint32_t *value)
{
	char *text;
	int rc = bm_read_proc_text(pid, name, &text);
	if (rc == -ENOENT) {
		*value = absent;
		return 0;
	}
	if (rc < 0)
		return bm_error_errno(BM_EXIT_TARGET, -rc, "cannot read /proc/%d/%s", pid, name);
	*value = (uint32_t)strtoul(text, NULL, base);
	free(text);
	return 0;
}

/* The xstate features the process may use (GET: ARCH_GET_XCOMP_PERM; AMX's
 * tile data is granted on request only), or those its guests (KVM) may
 * (ARCH_GET_XCOMP_GUEST_PERM). */
static int xcomp_perm(struct bm_tracee *tr, uint64_t scratch, long get, uint64_t *perm)
{
	long r;
	int rc = bm_inject(tr, SYS_arch_prctl, (uint64_t)get, scratch, 0, 0, 0, 0, &r);
	*perm = 0;
	if (rc < 0 || r == -EINVAL) /* before Linux 5.16: no features granted on request */
		return rc;
	if (r < 0)
		return bm_error_errno(BM_EXIT_FAILURE, (int)-r, "arch_prctl(%#lx) in thread %d", get, tr->tid);
	if ((rc = bm_mem_read(tr->tid, scratch, perm, sizeof *perm)) < 0)
		return bm_error_errno(BM_EXIT_FAILURE, -rc, "reading an injected result from thread %d", tr->tid);
	return 0;
}

/* The size of the process's private futex hash (PR_FUTEX_HASH, Linux
 * 6.17): 0 where it uses the global one.  BM_FUTEX_SLOTS_UNKNOWN where the
 * kernel has no such call. */
static int futex_slots(struct bm_tracee *tr, uint32_t *slots)
{
	long r;
	int rc = bm_inject(tr, SYS_prctl, BM_PR_FUTEX_HASH, BM_PR_FUTEX_HASH_GET_SLOTS, 0, 0, 0, 0, &r);
	if (rc < 0)
		return rc;
	if (r == -EINVAL) {
		*slots = BM_FUTEX_SLOTS_UNKNOWN;
		return 0;
	}
	if (r < 0)
		return bm_error_errno(BM_EXIT_FAILURE, (int)-r, "prctl(PR_FUTEX_HASH_GET_SLOTS) in thread %d", tr->tid);
	*slots = (uint32_t)r;
	return 0;
}

int bm_modes_collect(struct bm_tracee *tracees, size_t n, uint64_t scratch, struct bm_attrs *a)
{
	pid_t pid = tracees[0].tid;
	long mdwe = 0, merge = 0, membarrier = 0;
	int rc = call_or_zero(&tracees[0], "PR_GET_MDWE", SYS_prctl, PR_GET_MDWE, 0, &mdwe);
	if (rc == 0)
		rc = call_or_zero(&tracees[0], "PR_GET_MEMORY_MERGE", SYS_prctl, PR_GET_MEMORY_MERGE, 0, &merge);
	if (rc == 0) /* before Linux 6.3 the registrations cannot be read: taken as none */
		rc = call_or_zero(&tracees[0], "membarrier(MEMBARRIER_CMD_GET_REGISTRATIONS)", SYS_membarrier,
				  MEMBARRIER_CMD_GET_REGISTRATIONS_, 0, &membarrier);
	if (rc == 0)
		rc = xcomp_perm(&tracees[0], scratch, ARCH_GET_XCOMP_PERM_, &a->xcomp_perm);
	if (rc == 0)
		rc = xcomp_perm(&tracees[0], scratch, ARCH_GET_XCOMP_GUEST_PERM_, &a->xcomp_guest_perm);
	if (rc == 0)
		rc = proc_number(pid, "coredump_filter", 16, BM_COREDUMP_FILTER_DEFAULT, &a->coredump_filter);
	if (rc == 0)
		rc = proc_number(pid, "loginuid", 10, BM_LOGINUID_UNSET, &a->loginuid);
	if (rc == 0)
		rc = futex_slots(&tracees[0], &a->futex_slots);
	if (rc < 0)
		return rc;
	a->mdwe = (uint32_t)mdwe;
	a->memory_merge = merge ? 1 : 0;
	a->membarrier = (uint32_t)membarrier;
	if (a->mdwe & ~BM_MDWE_KNOWN)
		return bm_error(BM_EXIT_UNSUPPORTED, "process %d has memory-deny-write-execute flags %#x that binmig does not "
				"know; binmig cannot migrate it", pid, a->mdwe);
	if (a->membarrier & ~BM_MEMBARRIER_KNOWN)
		return bm_error(BM_EXIT_UNSUPPORTED, "process %d has membarrier registrations %#x that binmig does not "
				"know; binmig cannot migrate it", pid, a->membarrier);
	if (a->coredump_filter & ~BM_COREDUMP_FILTER_KNOWN)
		return bm_error(BM_EXIT_UNSUPPORTED, "process %d has coredump_filter bits %#x that binmig does not know; "
				"binmig cannot migrate it", pid, a->coredump_filter);
	for (size_t i = 0; i < n; i++) {
		long enabled;
		/* 1: CPUID runs; 0: it faults.  A CPU without faulting says 1. */
		if ((rc = bm_attrs_inject(&tracees[i], "arch_prctl(ARCH_GET_CPUID)", SYS_arch_prctl, ARCH_GET_CPUID, 0, 0,
					  0, &enabled)) < 0)
			return rc;
		a->threads[i].cpuid_faulting = enabled == 0;
	}
	a->has_modes = true;
	return 0;
}

/* Runs a call that sets a mode in thread TR of process PID at restore; its
 * failure is reported as "cannot WHAT" (exit 6: this host cannot give it). */
static int set_in(struct bm_tracee *tr, pid_t pid, const char *what, long nr, uint64_t a1, uint64_t a2, uint64_t a3)
{
	long r;
	int rc = bm_inject(tr, nr, a1, a2, a3, 0, 0, 0, &r);
	if (rc == 0 && r < 0 && r > -4096)
		rc = bm_error_errno(BM_EXIT_CONFLICT, (int)-r, "restoring process %d: thread %d: cannot %s", pid, tr->tid,
				    what);
	return rc;
}

/* KSM for all memory, then the areas the process had not mergeable
 * unmerged again (MADV_UNMERGEABLE does nothing to an area KSM cannot
 * merge). */
static int merge_any(const struct bm_process *p, struct bm_tracee *leader)
{
	int rc = set_in(leader, p->pid, "give it KSM for all its memory (PR_SET_MEMORY_MERGE; a kernel without KSM "
			"lacks it)", SYS_prctl, PR_SET_MEMORY_MERGE, 1, 0);
	for (uint32_t i = 0; rc == 0 && i < p->nvmas; i++) {
		const struct bm_vma *v = &p->vmas[i];
		if ((v->flags & BM_VMA_MERGEABLE) || (v->kind != BM_VMA_ANON && v->kind != BM_VMA_FILE))
			continue;
		rc = bm_attrs_inject(leader, "madvise(MADV_UNMERGEABLE)", SYS_madvise, v->start, v->end - v->start,
				     MADV_UNMERGEABLE, 0, NULL);
	}
	return rc;
}

/* The xstate features the process had permitted (AMX tile data), asked
 * for one at a time (REQ, read back with GET); before the threads' xstate
 * is set, which needs them.  The same for its guests' (KVM's). */
static int permit_xstate(const struct bm_process *p, struct bm_tracee *leader, uint64_t scratch, long get, long req,
			 uint64_t want)
{
	uint64_t have;
	int rc = xcomp_perm(leader, scratch, get, &have);
	for (int bit = 63; rc == 0 && bit >= 0; bit--) {
		if (!(want & ~have & (1ULL << bit)))
			continue;
		char what[112];
		snprintf(what, sizeof what, "permit the xstate feature %d it had (arch_prctl %#lx: AMX?)", bit, req);
		if ((rc = set_in(leader, p->pid, what, SYS_arch_prctl, (uint64_t)req, (uint64_t)bit, 0)) == 0)
			rc = xcomp_perm(leader, scratch, get, &have);
	}
	return rc;
}

/* The login uid, which only the process itself may write
 * (/proc/self/loginuid, with CAP_AUDIT_CONTROL: before the credentials).
 * Setting one gives the process a new audit session id. */
static int set_loginuid(const struct bm_process *p, struct bm_tracee *leader, uint64_t scratch)
{
	uint32_t now;
	int rc = proc_number(p->pid, "loginuid", 10, BM_LOGINUID_UNSET, &now);
	if (rc < 0 || now == p->attrs.loginuid)
		return rc;
	char buf[64] = "/proc/self/loginuid";
	int len = snprintf(buf + 32, sizeof buf - 32, "%u", p->attrs.loginuid);
	if ((rc = bm_mem_write(p->pid, scratch, buf, sizeof buf)) < 0)
		return bm_error_errno(BM_EXIT_FAILURE, -rc, "writing to the scratch page of process %d", p->pid);
	long fd;
	if ((rc = bm_attrs_inject(leader, "open(/proc/self/loginuid)", SYS_open, scratch, O_WRONLY | O_CLOEXEC, 0, 0,
				  &fd)) < 0)
		return rc;
	char what[96];
	snprintf(what, sizeof what, "give it its login uid %u (CAP_AUDIT_CONTROL; one made immutable cannot change)",
		 p->attrs.loginuid);
	rc = set_in(leader, p->pid, what, SYS_write, (uint64_t)fd, scratch + 32, (uint64_t)len);
	if (rc < 0) { /* reported: the close is only tidying up */
		bm_inject(leader, SYS_close, (uint64_t)fd, 0, 0, 0, 0, 0, &(long){0});
		return rc;
	}
	return bm_attrs_inject(leader, "close", SYS_close, (uint64_t)fd, 0, 0, 0, NULL);
}

/* The coredump filter, written from outside like oom_score_adj. */
static int set_coredump_filter(const struct bm_process *p)
{
	char value[16];
	snprintf(value, sizeof value, "%#x", p->attrs.coredump_filter);
	int rc = bm_write_proc_text(p->pid, "coredump_filter", value);
	return rc == 0 ? 0
		       : bm_error_errno(BM_EXIT_FAILURE, -rc, "restoring process %d: cannot set its coredump_filter %s",
					p->pid, value);
}

/* The private futex hash's size, where the new process's differs: the
 * kernel sized it by itself as the threads were made, and sizes it no
 * more once it was set.  A kernel without it (before Linux 6.17) uses its
 * global hash for every process, and there is nothing to set. */
static int set_futex_slots(const struct bm_process *p, struct bm_tracee *leader)
{
	uint32_t now;
	int rc = futex_slots(leader, &now);
	if (rc < 0 || now == BM_FUTEX_SLOTS_UNKNOWN || now == p->attrs.futex_slots)
		return rc;
	char what[96];
	snprintf(what, sizeof what, "give its private futex hash %u slots (PR_FUTEX_HASH)", p->attrs.futex_slots);
	return set_in(leader, p->pid, what, SYS_prctl, BM_PR_FUTEX_HASH, BM_PR_FUTEX_HASH_SET_SLOTS,
		      p->attrs.futex_slots);
}

int bm_modes_apply(const struct bm_process *p, struct bm_tracee *const *tracees, size_t n, uint64_t scratch)
{
	const struct bm_attrs *a = &p->attrs;
	if (!a->present)
		return 0;
	int rc = a->futex_slots != BM_FUTEX_SLOTS_UNKNOWN ? set_futex_slots(p, tracees[0]) : 0;
	if (rc < 0 || !a->has_modes)
		return rc;
	rc = a->memory_merge ? merge_any(p, tracees[0]) : 0;
	for (size_t i = 0; rc == 0 && i < n && i < a->nthreads; i++)
		if (a->threads[i].cpuid_faulting)
			rc = set_in(tracees[i], p->pid, "fault on CPUID as it did (ARCH_SET_CPUID; this CPU or kernel "
				    "lacks it)", SYS_arch_prctl, ARCH_SET_CPUID, 0, 0);
	if (rc == 0 && a->xcomp_perm)
		rc = permit_xstate(p, tracees[0], scratch, ARCH_GET_XCOMP_PERM_, ARCH_REQ_XCOMP_PERM_, a->xcomp_perm);
	if (rc == 0 && a->xcomp_guest_perm)
		rc = permit_xstate(p, tracees[0], scratch, ARCH_GET_XCOMP_GUEST_PERM_, ARCH_REQ_XCOMP_GUEST_PERM_,
				   a->xcomp_guest_perm);
	/* Each registration command, which GET_REGISTRATIONS named by its bit. */
	for (int bit = 0; rc == 0 && bit < 32; bit++)
		if (a->membarrier & (1u << bit))
			rc = set_in(tracees[0], p->pid, "register for membarrier again", SYS_membarrier, 1u << bit, 0, 0);
	if (rc == 0)
		rc = set_coredump_filter(p);
	return rc;
}

int bm_modes_apply_loginuid(const struct bm_process *p, struct bm_tracee *leader, uint64_t scratch)
{
	if (!p->attrs.present || !p->attrs.has_modes)
		return 0;
	return set_loginuid(p, leader, scratch);
}

int bm_modes_apply_last(const struct bm_process *p, struct bm_tracee *leader)
{
	if (!p->attrs.present || !p->attrs.has_modes || !p->attrs.mdwe)
		return 0;
	return set_in(leader, p->pid, "set its memory-deny-write-execute flags (PR_SET_MDWE, Linux 6.3 and later)",
		      SYS_prctl, PR_SET_MDWE, p->attrs.mdwe, 0);
}
