/* A SIGSTOP that reaches a process while binmig holds it.
 *
 * binmig blocks every signal in a thread it runs system calls in, but no
 * mask holds back SIGSTOP: sent meanwhile, it stops the thread before the
 * call or as the call returns, and bm_inject sets it aside
 * (bm_tracee.stop_owed) and carries on.  It is owed to the process:
 *
 *  - dump: the image's final reading of the pending signals counts it as
 *    pending for the process (bm_pending_add_owed_stop);
 *  - a dump that fails, or a process that runs on (--leave-running, a
 *    failed migration): sent to it again once its threads are let go
 *    (bm_give_owed_stop), so that it stops as it was told to;
 *  - restore: the new process queues the image's pending signals itself,
 *    where a SIGSTOP would stop it half made; the restore leaves it out
 *    and sends it once the process runs (bm_image_stop_pending), as it
 *    does one that an injected call met there. */
#ifndef BINMIG_PENDING_STOP_H
#define BINMIG_PENDING_STOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ptrace_ctl.h"
#include "state.h"

/* Dump: a SIGSTOP in *out (n entries, grown) if one of the threads
 * T[0..nt) owes one and *out has none yet.  0, or -1 after reporting. */
int bm_pending_add_owed_stop(const struct bm_tracee *t, size_t nt, struct bm_siginfo **out, uint32_t *n);

/* After the threads T[0..n) of process PID are let go: the SIGSTOP one of
 * them owes, sent to the process.  0, or -1 after reporting. */
int bm_give_owed_stop(pid_t pid, const struct bm_tracee *t, size_t n);

/* Restore: whether a SIGSTOP is pending in P's image, for the process or
 * one of its threads. */
bool bm_image_stop_pending(const struct bm_process *p);

#endif
