/* The autogroup of a session (CONFIG_SCHED_AUTOGROUP): setsid gives a
 * process a new one, which its session shares, and its nice value, which
 * a process sets by writing /proc/self/autogroup, weighs the session's
 * threads against other sessions' (where kernel.sched_autogroup_enabled
 * is on).  A session the restore makes again (one a process leads, a
 * tree's, or a stand-in's for a leader that had exited: tree_standin.h)
 * gets a new autogroup: binmig gives it the nice value its processes
 * had.  A process that lands in the restorer's session (a single process
 * or a tree's root that did not lead its own) is in the restorer's
 * autogroup, left as it is.
 * The autogroup's number (/autogroup-N) is not carried: the kernel counts
 * them. */
#ifndef BINMIG_AUTOGROUP_H
#define BINMIG_AUTOGROUP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "state.h"

/* The nice value in the text of /proc/PID/autogroup ("/autogroup-N nice
 * V"): true with it in *nice, false if the text is not so. */
bool bm_autogroup_parse(const char *text, int32_t *nice);

/* Dump: a->autogroup_nice and a->autogroup_own for process PID. */
int bm_autogroup_collect(pid_t pid, struct bm_attrs *a);

/* Restore: the nice value of process PID's new autogroup, where its
 * session is not the restorer's (getsid); BM_EXIT_CONFLICT if this kernel
 * has no autogroups and the value was not 0. */
int bm_autogroup_apply(pid_t pid, const struct bm_attrs *a);

#endif
