/* Control group membership, both directions.
 *
 * At dump /proc/PID/cgroup gives, for each mounted hierarchy, its
 * controllers and the process's path in it ("4:memory:/a/b", "0::/c" for
 * cgroup v2); the hierarchy numbers are this machine's and are left out.
 * Every thread must be where the process is (threads placed apart, by
 * cgroup v1's "tasks" or cgroup v2's threaded mode, are refused).
 *
 * At restore (default --cgroup same) the new process enters the same
 * path of each hierarchy here, found by its controllers among this
 * machine's cgroup mounts, before it maps any of its memory (so that
 * the memory is charged there).  A path or a hierarchy this host does
 * not have fails the restore (exit 6) with the way out: `--cgroup here`
 * leaves the process in binmig's own cgroups, and says so. */
#ifndef BINMIG_CGROUP_H
#define BINMIG_CGROUP_H

#include <stddef.h>
#include <sys/types.h>

#include "state.h"

enum bm_cgroup_mode {
	BM_CGROUP_SAME = 0, /* the same paths, or the restore fails (default) */
	BM_CGROUP_HERE,     /* binmig's own cgroups */
};

void bm_cgroup_set_mode(enum bm_cgroup_mode mode);
/* "same" or "here"; -EINVAL otherwise. */
int bm_cgroup_parse_mode(const char *text, enum bm_cgroup_mode *mode);

/* Turns the text of /proc/PID/cgroup into the image's form: one
 * "CONTROLLERS:PATH" line per hierarchy, numbers dropped, in order.
 * 0, or -EINVAL (reason in why) for text that is not such a file. */
int bm_cgroup_normalise(const char *proc_text, char *out, size_t out_len, char *why, size_t why_len);

/* Whether TEXT is in the image's form (for the image decoder). */
bool bm_cgroup_text_valid(const char *text);

/* At dump: p->cgroups from /proc/PID/cgroup; refuses (BM_EXIT_UNSUPPORTED)
 * a thread of TIDS placed elsewhere. */
int bm_cgroup_collect(pid_t pid, const pid_t *tids, size_t ntids, struct bm_process *p);

/* Before the restore, in binmig: the cgroup.procs files the new process
 * writes itself into, NUL-separated, ending with an empty string, in
 * *procs (malloc'd; NULL when there is nothing to enter).  Fails
 * (BM_EXIT_CONFLICT) when a hierarchy or path of p's is missing here. */
int bm_cgroup_plan(const struct bm_process *p, char **procs);

/* Inside the new process (system calls only): enters every cgroup of
 * PROCS.  0, or -1 with the reason in err. */
int bm_cgroup_enter(const char *procs, char *err, size_t errlen);

#endif
