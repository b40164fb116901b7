/* Landlock domains (landlock_restrict_self): a thread in one may reach
 * only what its rules allow.  Nothing shows a domain (no /proc file, no
 * query), no call can make one again for another process, and a restored
 * thread would be in none: a dump refuses a process with a thread in a
 * domain.
 *
 * It is seen through what a domain always does, whatever its rules: a
 * thread in one may not inspect (ptrace's access check, as kcmp makes it)
 * a process outside it.  binmig starts a witness, a child with the
 * process's real user and group ids, no capabilities and dumpable, which
 * the process's threads could inspect were they in no domain, and has
 * each thread ask kcmp about it: EPERM is a domain. */
#ifndef BINMIG_LANDLOCK_H
#define BINMIG_LANDLOCK_H

#include <sys/types.h>

#include "ptrace_ctl.h"

struct bm_landlock_witness {
	pid_t pid; /* 0: none (the kernel has no Landlock, nothing to see) */
};

/* Starts a witness with real, effective and saved ids UID and GID and no
 * capabilities; none (w->pid 0) where Landlock is not enabled.  0, or
 * negative after reporting. */
int bm_landlock_witness_start(uid_t uid, gid_t gid, struct bm_landlock_witness *w);
/* Kills and reaps it. */
void bm_landlock_witness_stop(struct bm_landlock_witness *w);

/* Dump: refused (BM_EXIT_UNSUPPORTED) if a thread of the frozen process
 * PID (tracees, all with the real ids UID and GID) is in a Landlock
 * domain.  One injected kcmp per thread, where the kernel has Landlock. */
int bm_landlock_check(pid_t pid, struct bm_tracee *tracees, size_t n, uid_t uid, gid_t gid);

#endif
