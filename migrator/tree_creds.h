/* A zombie's credentials in a process tree (image version 11): the user
 * and group ids, supplementary groups and capability sets that
 * /proc/PID/status shows for it, and that waitid reports (si_uid) and
 * /proc/PID is owned by (its effective ids), its login uid
 * (/proc/PID/loginuid), its blocked, ignored, caught and pending signals
 * (SigBlk, SigIgn, SigCgt, SigPnd, ShdPnd) and its CPU affinity
 * (Cpus_allowed).  Read at dump, carried in
 * its node of the TREE table, and taken by the process made again to
 * exit as that zombie, just before it exits.  Before version 11 a zombie
 * was made with its parent's, which the dump had checked were its own. */
#ifndef BINMIG_TREE_CREDS_H
#define BINMIG_TREE_CREDS_H

#include <stdint.h>
#include <sys/types.h>

#include "state.h"
#include "wire.h"

/* Dump: the credentials and signal sets of zombie pid, killed by signal
 * sig (0 if it exited); one with a signal pending that it does not block
 * (other than those of its death) is refused.  0, or -errno after
 * reporting. */
int bm_tree_creds_read(pid_t pid, int sig, struct bm_tree_creds *c);

/* Dump: a zombie's credentials are its parent's user namespace's; one
 * that made a namespace of its own (unshare) is refused. */
int bm_tree_creds_check_userns(pid_t pid, pid_t parent);

void bm_tree_creds_encode(struct bm_wbuf *b, const struct bm_tree_creds *c);
/* Checks the count of groups and that each capability set is one a
 * process can have (effective and ambient within permitted, ambient
 * within inheritable); fails the cursor otherwise. */
void bm_tree_creds_decode(struct bm_rcur *cur, struct bm_tree_creds *c);

/* Restore, in the process that is to exit as the zombie, while it still
 * has binmig's privileges: takes c, using system calls only.  0, or
 * -errno with the step that failed in *what. */
int bm_tree_creds_take(const struct bm_tree_creds *c, const char **what);

/* ... and, last before it exits (or kills itself with signal sig, 0 for
 * an exit), its signal dispositions (ignored, caught: by a handler that
 * never runs, or default), blocked mask (without sig) and pending
 * signals (blocked ones).  0 or -errno. */
int bm_tree_zombie_exit(const struct bm_tree_creds *c, int sig);

/* Restore, in binmig, once pid is a zombie: its CPU affinity (every CPU
 * online here for one that had every CPU at the source), which the
 * restore's pinning to one CPU would otherwise leave; BM_EXIT_CONFLICT
 * when it names no CPU online here.  0, or negative after reporting. */
int bm_tree_zombie_affinity(pid_t pid, const struct bm_tree_creds *c);

#endif
