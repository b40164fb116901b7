/* The size of a process's descriptor table (FDSize in /proc/PID/status):
 * the number of slots the kernel has made room for.  A new process's
 * table has 64 (NR_OPEN_DEFAULT) or, after fork, as many as its parent's
 * highest open descriptor needs; it grows when a descriptor needs a slot
 * past the end, to the smallest power of two above that descriptor (at
 * most fs.nr_open, rounded down to 64), and never shrinks.
 *
 * Dump: read stopped, before any injected call (checkpoint.c), into
 * bm_process.fd_table_size, stored at the end of FDS (version 13).
 * Restore: the new process's table starts as a copy of the table of what
 * cloned it (binmig, or in a tree the member's parent while it still runs
 * binmig's code), sized by that one's highest open descriptor then, which
 * bm_fd_table_own keeps to the few binmig hands on; the restore's own
 * descriptors (the control pipe and the mapped files: above the
 * process's highest, or in free numbers below its size where they would
 * pass it, bm_fd_table_place; a tree's shared descriptions, which every
 * member inherits, at the lowest numbers binmig has free that no member
 * needs meanwhile, bm_fd_table_dup_low) may grow it.  Once they are all but
 * closed, the rebuild grows the table to the image's size by one
 * descriptor at the slot that needs it (bm_fd_table_slot), closed again, and checks the size the new
 * process shows: larger than the image's (the restore's own descriptors
 * found no room below it) is warned of, as nothing can shrink a table.  Threads share
 * one table (CLONE_FILES), as do tree members made with it: growing an
 * already grown table does nothing. */
#ifndef BINMIG_FD_TABLE_H
#define BINMIG_FD_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ptrace_ctl.h"
#include "state.h"
#include "wire.h"

#define BM_FD_TABLE_DEFAULT 64u        /* NR_OPEN_DEFAULT: the table a process starts with */
#define BM_FD_TABLE_MAX 2147483584u    /* the kernel's largest fs.nr_open, a multiple of 64 */

/* Whether SIZE can be a table's size: 0 (not recorded), or a multiple of
 * 64 from 64 to BM_FD_TABLE_MAX.  False with the reason in why. */
bool bm_fd_table_size_check(uint32_t size, char *why, size_t n);

/* The descriptor whose slot makes a smaller table grow to exactly SIZE
 * (a power of two): SIZE / 2, the lowest whose slot needs more than half
 * SIZE, so that the open-files limit it needs is half the size.  -1 for
 * SIZE at most 64, which every table has. */
int bm_fd_table_slot(uint32_t size);

/* Restore, in binmig: a copy of FD (with FD_CLOEXEC) at the lowest number
 * from AT up that binmig has free and that AVOID(n, ARG) does not refuse
 * (a tree's pool, which every member inherits: tree_restore.c); -errno. */
int bm_fd_table_dup_low(int fd, int at, bool (*avoid)(int n, const void *arg), const void *arg);

/* Restore, in the new process (system calls only): closes every
 * descriptor but KEPT (none if -1) and the N of KEEP (ascending, KEPT not
 * among them). */
void bm_fd_table_close_all_but(int kept, const int *keep, uint32_t n);

/* The image's field (end of FDS, version 13). */
void bm_fd_table_encode(struct bm_wbuf *b, const struct bm_process *p);
void bm_fd_table_decode(struct bm_rcur *c, struct bm_process *p);

/* Restore: a new process starts with a table of its own sized by what it
 * keeps of binmig's, not by binmig's highest descriptor (binmig may have
 * been given high ones).  It is cloned with CLONE_FILES, and calls
 * bm_fd_table_own first: close_range(KEEP_BELOW, ~0, CLOSE_RANGE_UNSHARE)
 * gives it a copy of the descriptors below KEEP_BELOW only, in a table as
 * small as they allow (the kernel copies a table only while it is
 * shared).  Async-signal-safe; 0 or -errno.  Meanwhile binmig must not
 * close what the new process keeps: bm_fd_table_wait_own waits (bounded)
 * until the new process CHILD has its own table (kcmp), or is gone; 0, or
 * -1 after reporting. */
int bm_fd_table_own(unsigned keep_below);
int bm_fd_table_wait_own(pid_t child);

/* Restore: the first of NEED consecutive numbers for the restore's own
 * descriptors in the new process (its control pipe, the files it maps,
 * and room for the descriptors it makes before moving them to their
 * numbers): just above the process's highest (and 2), unless they would
 * pass its table's size where a run of numbers below it, from 3, that
 * none of its descriptors takes can hold them: the lowest such run. */
int bm_fd_table_place(const struct bm_process *p, unsigned need);

/* Restore: how many numbers the restore's own descriptors in a new
 * process take at most: its control pipe, NFILES files (a tree member's
 * with those of the members sharing its table, one more each for their
 * control slot), and the descriptors it makes before moving them to their
 * numbers: at most two for each of the MADE descriptors it restores
 * itself, and a margin. */
unsigned bm_fd_table_need(unsigned nfiles, uint32_t made);

/* Restore, in the stopped new process PID (thread TR): grows its table to
 * p->fd_table_size when smaller, with a copy of OPEN_FD (a descriptor open
 * in it) at bm_fd_table_slot, closed again.  0, or -1 after reporting. */
int bm_fd_table_grow(struct bm_tracee *tr, pid_t pid, const struct bm_process *p, int open_fd);

/* Restore, the rebuild done: warns when the table of process PID is not
 * p->fd_table_size (and says why it is larger).  Returns the size read, or
 * 0 (unknown). */
uint32_t bm_fd_table_check(pid_t pid, const struct bm_process *p);

#endif
