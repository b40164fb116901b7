/* Descriptors in flight that the process does not hold, both directions.
 *
 * A unix socket queue may hold, in flight (SCM_RIGHTS), an open file
 * description that no descriptor of the process refers to any more: a
 * program sent a pipe end, a file or a socket to itself, or to a peer
 * that has not read it yet, and closed its own copy.  The image names
 * each descriptor in flight by a descriptor of the process
 * (sk_unix_rights.h), so such a description is first given one:
 *
 *   - dump, the process frozen, once its descriptors are described: every
 *     unix socket queue of it is peeked for descriptors in flight
 *     (bm_unix_gather_in_flight, sk_unix.c), and those the process holds
 *     no descriptor of are noted, one per open file description;
 *   - bm_unix_adopt passes them to the process: a socket pair made in it
 *     by injected system calls, binmig sends them over one end and the
 *     process receives them from the other (injected recvmsg), each is
 *     moved to a number above every descriptor it has (and every --fd
 *     the user named), and the pair is closed.  They are then described
 *     like any other descriptor (their own queues, pipe buffers, files),
 *     marked in_flight (bm_fd.in_flight), and what they hold in flight in
 *     turn is adopted in the next round (at most BM_UNIX_ADOPT_ROUNDS);
 *   - when the process resumes at the source (a failed migration, dump
 *     --leave-running), bm_unix_adopt_release closes them again, so that
 *     its descriptor table is as it was;
 *   - restore, inside the new process: each comes back at its number like
 *     any descriptor, is sent with its message (bm_unix_fill_rights), and
 *     bm_unix_adopt_close then closes it.
 *
 * Refused (exit 4), before anything is given to the process: a file in
 * flight on which the process holds POSIX record locks (closing the
 * adopted descriptor would release them, at the source and at the
 * restore alike), more than BM_UNIX_ADOPT_MAX of them, nesting deeper than
 * BM_UNIX_ADOPT_ROUNDS, and no room in the process's descriptor table
 * (RLIMIT_NOFILE).  Whatever cannot be carried of an adopted description
 * is refused as it would be for a descriptor of the process, the message
 * saying it is in flight.
 *
 * If binmig is killed while the process is frozen with adopted
 * descriptors, the process resumes holding them (docs/process-state.md). */
#ifndef BINMIG_SK_UNIX_ADOPT_H
#define BINMIG_SK_UNIX_ADOPT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "state.h"

#define BM_UNIX_ADOPT_MAX 1024u   /* descriptions adopted into one process */
#define BM_UNIX_ADOPT_ROUNDS 4    /* descriptors in flight inside descriptors in flight, deepest */

/* binmig's copies of the descriptions found in flight that the process
 * holds no descriptor of, one per open file description. */
struct bm_unix_adoption {
	const struct bm_process *p;
	uint32_t n;
	int fl[BM_UNIX_ADOPT_MAX];
	int via[BM_UNIX_ADOPT_MAX];  /* the socket (fd of the process) whose queue showed it first */
};

/* Notes the in-flight descriptors FL[0..n) (binmig's copies, left open
 * for the caller to close) found in the queue of socket VIA (a descriptor
 * of the process) that A's process does not hold and A lacks.  0, or
 * negative after reporting (too many). */
int bm_unix_adopt_note(struct bm_unix_adoption *a, int via, const int *fl, uint32_t n);
void bm_unix_adoption_free(struct bm_unix_adoption *a);

/* Source side, the process F frozen and its descriptors described in
 * F->proc: gathers what its unix socket queues hold in flight that it
 * does not hold, and gives each to the process (above).  How many it
 * gave (the caller then describes the descriptors again), 0 when there
 * was none, or negative after reporting.  ROUND counts the calls for
 * this process, from 0. */
struct bm_frozen;
struct bm_fd_policy;
int bm_unix_adopt(struct bm_frozen *f, const struct bm_fd_policy *policy, int round);
/* Whether fd FD of process PID is one that bm_unix_adopt gave it, and
 * then in *via (may be NULL) the socket whose queue holds it. */
bool bm_unix_adopted(pid_t pid, int fd, int *via);
/* Before the frozen process F resumes: closes what it was given
 * (injected close).  0, or negative after reporting. */
int bm_unix_adopt_release(struct bm_frozen *f);
/* Once F is terminated or released: forgets what it was given. */
void bm_unix_adopt_forget(pid_t pid);

/* Restore side, inside the new process once every queue is written:
 * closes the descriptors that were only in flight.  -1 with the reason
 * in err. */
int bm_unix_adopt_close(const struct bm_process *p, char *err, size_t errlen);

#endif
