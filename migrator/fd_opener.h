/* The credentials an open file keeps from its opening (the kernel's
 * f_cred): of every file, directory, device and FIFO that the restore
 * opens by name.  No system call shows them, yet some checks read them
 * rather than the caller's: a write to a cgroup's cgroup.procs is allowed
 * by the credentials that opened it (the opener's, not the writer's), a
 * write to a user namespace's uid_map likewise, and network file systems
 * do their I/O as the opener.  Read at dump with binmig's BPF programs
 * (kstate.h), carried in the image (version 18) and, where they differ
 * from binmig's own, the restore opens the file in a child that shares
 * the new process's descriptor table and has taken them.  Where binmig
 * cannot load its programs (the dump warns), the files are opened with
 * binmig's credentials, as before. */
#ifndef BINMIG_FD_OPENER_H
#define BINMIG_FD_OPENER_H

#include <stdbool.h>
#include <stddef.h>

#include "state.h"
#include "wire.h"

/* Whether the restore opens D by its name (and so as its opener): a
 * regular file, directory, device or FIFO the process holds, not a dup. */
bool bm_fd_opener_wanted(const struct bm_fd *d);

/* Dump: reads into each such descriptor of P (P->pid) its opener; one
 * opened with more supplementary groups than an image carries is refused
 * (BM_EXIT_UNSUPPORTED).  Where the programs cannot read them, the
 * openers stay unknown (said in debug output; the dump warns of the
 * programs once).  0, or -1 after reporting. */
int bm_fd_openers_collect(struct bm_process *p);

/* The image's list of openers, after the other lists of the FDS
 * section (fd_tail.h). */
void bm_fd_openers_encode(struct bm_wbuf *b, const struct bm_process *p);
void bm_fd_openers_decode(struct bm_rcur *c, struct bm_process *p);

/* Restore: OPEN(d) as D's opener, where known and not binmig's own
 * credentials (else as binmig): in a child sharing the caller's memory
 * and descriptor table, which takes the credentials and opens, the caller
 * waiting (one task more for a moment, which a cgroup's pids.max counts).
 * The descriptor; or -errno, with *step saying where opening it as its
 * opener failed (a part of taking the credentials, "open", making the
 * task), or NULL where it was opened as binmig. */
int bm_fd_open_as_opener(const struct bm_fd *d, int (*open)(const struct bm_fd *d), const char **step);

#endif
