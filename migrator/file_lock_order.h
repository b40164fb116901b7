/* The order of a file's POSIX and OFD locks, both directions.
 *
 * The kernel keeps a file's POSIX and OFD locks in one list (fs/locks.c):
 * each owner's together (a process's POSIX locks; an open file
 * description's OFD locks), sorted by their start, and the owners in the
 * order each first took one.  F_GETLK and F_OFD_GETLK name the first
 * conflicting lock they meet in that list, so where several owners hold
 * locks a request would conflict with (read locks, say), which one they
 * name is that order.  A process with OFD locks through several open
 * file descriptions, or with both kinds, shows it.
 *
 * At dump the process's locks (file_locks.h, in descriptor order) are
 * put in the order of their owners in the kernel's lists, which binmig's
 * BPF programs read (kstate.h: where in its file's list each owner's
 * first lock is), read twice to be sure that no other process changed a
 * list meanwhile.  The image lists them so, and the restore, which takes
 * them in the image's order, makes each list's owners again in their
 * order; as does a migration's source taking them back after a failure.
 *
 * Not carried: the order across the members of a tree (each member takes
 * its own locks, the members side by side) nor where the process's owners
 * stand among those of processes not dumped, which took theirs before the
 * restore took these (README, "What a restored process can still tell
 * apart").  Where binmig cannot load its programs (the dump warns) the
 * locks stay in descriptor order. */
#ifndef BINMIG_FILE_LOCK_ORDER_H
#define BINMIG_FILE_LOCK_ORDER_H

#include <stdint.h>

#include "kstate.h"
#include "state.h"

/* Each lock's place for the sort: KEYS[i] for P->locks[i], from POS (per
 * descriptor of P, as bm_kstate_lockpos read them): an OFD lock's open
 * file's first, a POSIX lock's process's first on that file; a flock lock
 * INT32_MAX (its own list, which no request reads).  0; or -ENOENT where
 * a POSIX or OFD lock's place was not read (its descriptor in *FD). */
int bm_lock_order_keys(const struct bm_process *p, const struct bm_kstate_lockpos *pos, int32_t *keys, int32_t *fd);

/* Sorts P->locks by KEYS, keeping the order of equal keys (one owner's
 * locks; locks of other files). */
int bm_lock_order_sort(struct bm_process *p, const int32_t *keys);

/* Dump, P frozen and its locks collected: puts them in their lists'
 * order.  Where the programs cannot read it they stay as they are: said
 * in debug output where the programs do not load (the dump warns of them
 * once), with a warning where a list could not be read (more than
 * BM_KSTATE_LOCKPOS_MAX locks, a kernel before Linux 6.9, or another
 * process changing it all along).  0, or -1 after reporting (out of
 * memory). */
int bm_locks_order(struct bm_process *p);

#endif
