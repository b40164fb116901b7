/* A set of credentials (struct bm_creds, state.h): the user and group
 * ids, supplementary groups and capability sets of a task, or those an
 * open file keeps from its opening (fd_opener.h).  Written to the image
 * the same way wherever they are carried, taken by a task that is to
 * have them, and read back from the calling thread. */
#ifndef BINMIG_CREDS_H
#define BINMIG_CREDS_H

#include <stdbool.h>

#include "state.h"
#include "wire.h"

void bm_creds_encode(struct bm_wbuf *b, const struct bm_creds *c);
/* Checks the count of groups and that each capability set is one a
 * process can have (effective and ambient within permitted, ambient
 * within inheritable); fails the cursor otherwise. */
void bm_creds_decode(struct bm_rcur *cur, struct bm_creds *c);

/* The calling thread takes C, using system calls only (this thread
 * alone), while it has binmig's privileges: the inheritable and bounding
 * sets, the group ids and groups, the user ids (keeping the permitted
 * set), then the permitted, effective and ambient sets.  0, or -errno
 * with the step that failed in *what. */
int bm_creds_take(const struct bm_creds *c, const char **what);

/* The calling thread's own credentials, with system calls only: 0, or
 * -errno (more groups than BM_MAX_GROUPS: -E2BIG). */
int bm_creds_of_self(struct bm_creds *c);

bool bm_creds_equal(const struct bm_creds *a, const struct bm_creds *b);

#endif
