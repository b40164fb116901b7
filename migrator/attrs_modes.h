/* Modes the kernel keeps on how a process's code may run, its memory be
 * shared and its audit and core dumps be made, most of which only prctl,
 * arch_prctl or membarrier read back (attrs.h carries the other
 * attributes):
 *
 *  - memory-deny-write-execute (PR_SET_MDWE), the process's: once set it
 *    cannot be cleared, and it refuses every mapping that would be
 *    writable and executable, or become executable; the restore sets it
 *    last, once every mapping (a JIT's writable code areas too) is made;
 *  - KSM for all its memory (PR_SET_MEMORY_MERGE), the process's: setting
 *    it makes every area KSM can merge mergeable, and every later one; the
 *    restore sets it, then unmerges the areas the process had made
 *    unmergeable since (madvise MADV_UNMERGEABLE), which the image's VMA
 *    flags tell;
 *  - CPUID faulting (arch_prctl ARCH_SET_CPUID), each thread's: CPUID
 *    raises SIGSEGV;
 *  - the xstate features permitted on request (ARCH_REQ_XCOMP_PERM: AMX
 *    tile data), asked for again before the threads' registers are set;
 *    tile data in use is refused at dump (xstate.h); and those permitted
 *    to the process's KVM guests (ARCH_REQ_XCOMP_GUEST_PERM);
 *  - membarrier registrations (MEMBARRIER_CMD_GET_REGISTRATIONS, Linux 6.3
 *    and later), made again;
 *  - coredump_filter, written back from outside;
 *  - the login uid, which only the process itself may write (the audit
 *    session id that comes with it cannot be chosen);
 *  - the size of the private futex hash (PR_FUTEX_HASH, Linux 6.17), the
 *    process's: the kernel sizes it as threads are made until a size is
 *    set; the restore sets it where the new process's differs;
 *  - syscall user dispatch (PR_SET_SYSCALL_USER_DISPATCH), each thread's:
 *    refused.  With it on, binmig's injected calls would be sent to the
 *    process's SIGSYS handler, so it is read with ptrace before the first
 *    injection; so is seccomp, refused too, whose filter could kill the
 *    process on one of them.
 *
 * docs/process-state.md has a row for each. */
#ifndef BINMIG_ATTRS_MODES_H
#define BINMIG_ATTRS_MODES_H

#include <stddef.h>
#include <sys/types.h>

#include "ptrace_ctl.h"
#include "state.h"

/* Dump, before anything is injected into thread TID of process PID:
 * refused (BM_EXIT_UNSUPPORTED) if it runs under seccomp, whose filter
 * could kill or trap binmig's calls, has a SIGTRAP pending (its own or the
 * process's), which binmig's single-steps would take, or has syscall user
 * dispatch on.  A
 * kernel that cannot show the dispatch (before Linux 6.4) is taken at its
 * word that it is off. */
int bm_modes_check_injectable(pid_t pid, pid_t tid);

/* Dump: the modes of the frozen process (tracees[0] its leader) into a,
 * whose threads are already listed in the order of tracees. */
int bm_modes_collect(struct bm_tracee *tracees, size_t n, uint64_t scratch, struct bm_attrs *a);

/* Restore, once every mapping and thread exists, with binmig's privilege
 * (PR_SET_MEMORY_MERGE needs CAP_SYS_RESOURCE, the login uid
 * CAP_AUDIT_CONTROL), before the threads' registers are set: KSM for all
 * memory with the areas p did not have mergeable unmerged, CPUID faulting
 * in each thread that had it (tracees in the order of p's threads), the
 * xstate features, membarrier registrations, coredump_filter; scratch is
 * a writable page in the process. */
int bm_modes_apply(const struct bm_process *p, struct bm_tracee *const *tracees, size_t n, uint64_t scratch);
/* Before the process's root is set (the file is opened by its path,
 * /proc/self/loginuid), with binmig's privilege: the login uid. */
int bm_modes_apply_loginuid(const struct bm_process *p, struct bm_tracee *leader, uint64_t scratch);
/* ... and last, when nothing more is mapped: memory-deny-write-execute. */
int bm_modes_apply_last(const struct bm_process *p, struct bm_tracee *leader);

#endif
