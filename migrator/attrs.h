/* Process and thread attributes that live in the kernel beside the
 * process's memory and registers: OOM score, scheduling, I/O priority,
 * CPU affinity, timer slack, speculation controls and the prctl flags
 * (no_new_privs, THP disable, child subreaper, securebits, keep-caps,
 * machine-check policy, TSC access, capability bounding set).  Collected
 * at dump, set again at restore; what cannot be set faithfully (seccomp
 * filters, a NUMA policy, a parent-death signal, capabilities other than
 * those the user ids give, an LSM label other than "unconfined") is
 * refused at dump with exit 4.  docs/process-state.md lists every piece
 * of per-process kernel state and what becomes of it. */
#ifndef BINMIG_ATTRS_H
#define BINMIG_ATTRS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "ptrace_ctl.h"
#include "state.h"
#include "wire.h"

/* What /proc/PID/status says that matters here (also parsed for tests). */
struct bm_status_caps {
	uint64_t inh, prm, eff, bnd, amb;
	uint32_t no_new_privs;
	uint32_t seccomp;
	uint32_t euid;
	uint32_t ids[8];               /* "Uid:" real, effective, saved, fs; then "Gid:" the same */
	uint64_t groups;               /* FNV-1a of the "Groups:" line: the supplementary groups */
	uint64_t vm_lck_kb;            /* "VmLck:", locked memory */
	bool has_caps;                 /* every Cap* line was found */
};
int bm_attrs_parse_status(const char *text, struct bm_status_caps *out);
/* The first memory area of /proc/PID/numa_maps TEXT with a NUMA policy of
 * its own (mbind): true, its address and policy; false if every area has
 * the default policy. */
bool bm_attrs_numa_bound(const char *text, uint64_t *addr, char *policy, size_t len);

/* Dump: reads the attributes of every thread of the frozen process
 * (tracees[0] is the leader; scratch is a writable page in it for
 * injected calls) into a; refuses (BM_EXIT_UNSUPPORTED) what cannot be
 * carried. */
int bm_attrs_collect(pid_t pid, struct bm_tracee *tracees, size_t ntracees, uint64_t scratch, struct bm_attrs *a);

/* Dump: a parent-death signal (PR_SET_PDEATHSIG) that a thread of p asks
 * for is carried only when p's parent moves with it (parent: NULL when it
 * does not) and has one thread: refused otherwise. */
int bm_attrs_check_pdeath(const struct bm_process *p, const struct bm_process *parent);

/* Restore, in the new process whose threads are *tracees[0..n) (the
 * leader first): everything that needs privilege, before the credentials
 * are set ... */
int bm_attrs_apply_before_credentials(const struct bm_attrs *a, struct bm_tracee *const *tracees, size_t n);
/* ... and what must follow them: the parent-death signals, a root
 * process's capabilities (root: its effective user id is 0), keep-caps,
 * no_new_privs; scratch is a
 * writable page in the process. */
int bm_attrs_apply_after_credentials(const struct bm_attrs *a, struct bm_tracee *const *tracees, size_t n,
				     bool root, uint64_t scratch);
/* The CPU affinity of each thread: as carried, every online CPU for a
 * thread that had every CPU at the source; BM_EXIT_CONFLICT when a mask
 * has no CPU here. */
int bm_attrs_apply_affinity(const struct bm_attrs *a, struct bm_tracee *const *tracees, size_t n);
/* The CPUs online here, as an affinity mask.  0, or negative after
 * reporting. */
int bm_attrs_online_cpus(uint8_t mask[BM_AFFINITY_BYTES]);

/* Runs system call NR in thread TR (bm_inject); a failure of the call
 * itself is reported as "WHAT in thread TID".  0 with the kernel's return
 * in *ret (when not NULL), or negative after reporting. */
int bm_attrs_inject(struct bm_tracee *tr, const char *what, long nr, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4,
		    long *ret);

/* The ATTRS image section (image-format.md). */
int bm_encode_attrs(struct bm_wbuf *b, const struct bm_attrs *a, const int32_t *tids, uint32_t ntids, char *why,
		    size_t why_size);
void bm_decode_attrs(struct bm_rcur *c, struct bm_attrs *a, const int32_t *tids, uint32_t ntids);

void bm_attrs_free(struct bm_attrs *a);
/* One line for inspect. */
void bm_attrs_describe(const struct bm_attrs *a, char *buf, size_t len);

#endif
