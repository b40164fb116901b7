/* A SIGSTOP that reaches a process while binmig holds it.
 *
 * binmig blocks every signal in a thread it runs system calls in, but no
 * mask holds back SIGSTOP: sent meanwhile, it stops the thread before the
 * call or as the call returns, and bm_inject sets it aside
 * (bm_tracee.stop_owed) and carries on.  It is owed to the process:
 *
 *  - dump: at the image's final reading of the pending signals, a SIGSTOP
 *    owed or pending refuses the dump (exit 4), as a stopped process
 *    given to binmig is refused: a stop cannot be carried to a process
 *    whose parent will be another (when the restore's binmig exits, the
 *    kernel continues a stopped process whose group that orphans, with
 *    SIGHUP, which may end it).  One that comes after that reading goes
 *    with the original, as any signal then does;
 *  - a dump that fails, or a process that runs on (--leave-running, a
 *    failed migration): sent to it again once its threads are let go
 *    (bm_give_owed_stop), so that it stops as it was told to;
 *  - restore: one that reaches the new process during an injected call is
 *    dropped, as the process was not there yet: sent once it ran, it
 *    would stop it before binmig, its parent, exits, and the kernel then
 *    continues it with a SIGHUP if that orphans its group.  An image with
 *    a SIGSTOP pending (only a binmig before version 11 wrote one) is
 *    refused by the new process before it queues its signals, where the
 *    SIGSTOP would stop it half made (bm_image_stop_pending). */
#ifndef BINMIG_PENDING_STOP_H
#define BINMIG_PENDING_STOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ptrace_ctl.h"
#include "state.h"

/* Dump, at the final reading of P's pending signals (its threads T[0..nt)):
 * refuses (exit 4) a process that a SIGSTOP reached meanwhile, owed by a
 * thread or pending.  0, or -1 after reporting. */
int bm_pending_refuse_stop(const struct bm_process *p, const struct bm_tracee *t, size_t nt);

/* After the threads T[0..n) of process PID are let go: the SIGSTOP one of
 * them owes, sent to the process.  0, or -1 after reporting. */
int bm_give_owed_stop(pid_t pid, const struct bm_tracee *t, size_t n);

/* Restore: whether a SIGSTOP is pending in P's image, for the process or
 * one of its threads. */
bool bm_image_stop_pending(const struct bm_process *p);

#endif
