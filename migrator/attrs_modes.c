/* Modes on how a process's code runs and its memory is shared
 * (attrs_modes.h). */
#include "attrs_modes.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
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

struct sud_config { /* struct ptrace_sud_config */
	uint64_t mode, selector, offset, len;
};

/* Seccomp, whose filter could kill or trap binmig's calls (as strict
 * mode does every call but a few). */
static int check_seccomp(pid_t pid, pid_t tid)
{
	char name[64], *text;
	snprintf(name, sizeof name, "task/%d/status", tid);
	int rc = bm_read_proc_text(pid, name, &text);
	if (rc < 0)
		return bm_error_errno(BM_EXIT_TARGET, -rc, "cannot read /proc/%d/%s", pid, name);
	struct bm_status_caps st;
	rc = bm_attrs_parse_status(text, &st);
	free(text);
	if (rc < 0)
		return bm_error(BM_EXIT_TARGET, "cannot read /proc/%d/%s", pid, name);
	if (st.seccomp)
		return bm_error(BM_EXIT_UNSUPPORTED,
				"thread %d of process %d runs under seccomp (mode %u), which could kill or trap the calls "
				"binmig makes in it; binmig cannot migrate it", tid, pid, st.seccomp);
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
	int rc = check_seccomp(pid, tid);
	return rc < 0 ? rc : check_dispatch(pid, tid);
}

/* A prctl "get" that older kernels lack (EINVAL): 0 there. */
static int get_or_zero(struct bm_tracee *tr, const char *what, int option, uint32_t *value)
{
	long r;
	int rc = bm_inject(tr, SYS_prctl, (uint64_t)option, 0, 0, 0, 0, 0, &r);
	if (rc < 0)
		return rc;
	if (r == -EINVAL) {
		*value = 0;
		return 0;
	}
	if (r < 0)
		return bm_error_errno(BM_EXIT_FAILURE, (int)-r, "%s in thread %d", what, tr->tid);
	*value = (uint32_t)r;
	return 0;
}

int bm_modes_collect(struct bm_tracee *tracees, size_t n, struct bm_attrs *a)
{
	int rc = get_or_zero(&tracees[0], "PR_GET_MDWE", PR_GET_MDWE, &a->mdwe);
	if (rc == 0)
		rc = get_or_zero(&tracees[0], "PR_GET_MEMORY_MERGE", PR_GET_MEMORY_MERGE, &a->memory_merge);
	if (rc == 0 && (a->mdwe & ~BM_MDWE_KNOWN))
		rc = bm_error(BM_EXIT_UNSUPPORTED, "process %d has memory-deny-write-execute flags %#x that binmig does not "
			      "know; binmig cannot migrate it", tracees[0].tid, a->mdwe);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		long enabled;
		/* 1: CPUID runs; 0: it faults.  A CPU without faulting says 1. */
		rc = bm_attrs_inject(&tracees[i], "arch_prctl(ARCH_GET_CPUID)", SYS_arch_prctl, ARCH_GET_CPUID, 0, 0, 0,
				     &enabled);
		a->threads[i].cpuid_faulting = rc == 0 && enabled == 0;
	}
	return rc;
}

/* KSM for all memory, then the areas the process had not mergeable
 * unmerged again (MADV_UNMERGEABLE does nothing to an area KSM cannot
 * merge). */
static int merge_any(const struct bm_process *p, struct bm_tracee *leader)
{
	long r;
	int rc = bm_inject(leader, SYS_prctl, PR_SET_MEMORY_MERGE, 1, 0, 0, 0, 0, &r);
	if (rc < 0)
		return rc;
	if (r < 0)
		return bm_error_errno(BM_EXIT_CONFLICT, (int)-r,
				      "restoring process %d: cannot give it KSM for all its memory (PR_SET_MEMORY_MERGE; "
				      "a kernel without KSM lacks it)", p->pid);
	for (uint32_t i = 0; i < p->nvmas; i++) {
		const struct bm_vma *v = &p->vmas[i];
		if ((v->flags & BM_VMA_MERGEABLE) || (v->kind != BM_VMA_ANON && v->kind != BM_VMA_FILE))
			continue;
		if ((rc = bm_attrs_inject(leader, "madvise(MADV_UNMERGEABLE)", SYS_madvise, v->start, v->end - v->start,
					  MADV_UNMERGEABLE, 0, NULL)) < 0)
			return rc;
	}
	return 0;
}

int bm_modes_apply(const struct bm_process *p, struct bm_tracee *const *tracees, size_t n)
{
	const struct bm_attrs *a = &p->attrs;
	if (!a->present)
		return 0;
	int rc = a->memory_merge ? merge_any(p, tracees[0]) : 0;
	for (size_t i = 0; rc == 0 && i < n && i < a->nthreads; i++) {
		if (!a->threads[i].cpuid_faulting)
			continue;
		long r;
		if ((rc = bm_inject(tracees[i], SYS_arch_prctl, ARCH_SET_CPUID, 0, 0, 0, 0, 0, &r)) == 0 && r < 0)
			rc = bm_error_errno(BM_EXIT_CONFLICT, (int)-r,
					    "restoring process %d: thread %d had CPUID faulting (ARCH_SET_CPUID), which "
					    "this CPU or kernel cannot give", p->pid, tracees[i]->tid);
	}
	return rc;
}

int bm_modes_apply_last(const struct bm_process *p, struct bm_tracee *leader)
{
	if (!p->attrs.present || !p->attrs.mdwe)
		return 0;
	long r;
	int rc = bm_inject(leader, SYS_prctl, PR_SET_MDWE, p->attrs.mdwe, 0, 0, 0, 0, &r);
	if (rc == 0 && r < 0)
		rc = bm_error_errno(BM_EXIT_CONFLICT, (int)-r,
				    "restoring process %d: cannot set its memory-deny-write-execute flags %#x (PR_SET_MDWE, "
				    "Linux 6.3 and later)", p->pid, p->attrs.mdwe);
	return rc;
}
