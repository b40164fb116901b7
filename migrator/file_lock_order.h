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
 * In a tree each lock also carries its order (image version 19): the
 * members take theirs in one sequence across them, each waiting its turn
 * (a counter they share), so that owners of different members come
 * again in their order too.
 *
 * Not carried: where the process's owners stand among those of processes
 * not dumped, which took theirs before the restore took these (README,
 * "What a restored process can still tell apart").  Where binmig cannot
 * load its programs (the dump warns) the locks stay in descriptor order,
 * a tree's members side by side. */
#ifndef BINMIG_FILE_LOCK_ORDER_H
#define BINMIG_FILE_LOCK_ORDER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
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
 * order, and gives each its place (order).  Not read for a process of one
 * POSIX or OFD lock, whose place matters only IN_TREE, against another
 * member's.  Where the programs cannot read it they stay as they are: said
 * in debug output where the programs do not load (the dump warns of them
 * once), with a warning where a list could not be read (more than
 * BM_KSTATE_LOCKPOS_MAX locks, a kernel before Linux 6.9, or another
 * process changing it all along).  0, or -1 after reporting (out of
 * memory). */
int bm_locks_order(struct bm_process *p, bool in_tree);

/* Dump of a tree, every member's locks ordered: the members' lists were
 * read one after another, so they are read again until every order holds
 * at once (READINGS_MAX times; else, with a warning, the orders are
 * dropped and each member takes its own side by side).  0, or -1 after
 * reporting. */
int bm_locks_order_tree(struct bm_process *const *procs, size_t n);

/* Every lock of PROCS (a tree's members) in the order they are taken:
 * those with an order by it (then by member and place, among other
 * files' locks of one order), then the others by member and place.
 * *STEPS malloc'd, *COUNT of them; 0, or -1 after reporting. */
struct bm_lock_step {
	uint32_t member, index; /* procs[member]->locks[index] */
};
int bm_lock_order_sequence(const struct bm_process *const *procs, size_t n, struct bm_lock_step **steps,
			   size_t *count);

/* Restore of a tree: when each lock of PROCS is taken, its place in that
 * sequence: TURNS[m][i] for procs[m]->locks[i], malloc'd
 * (BM_LOCK_NO_TURN: a flock, or a lock without order, taken at any
 * time).  0, or -1 after reporting (the arrays made so far for the
 * caller to free). */
#define BM_LOCK_NO_TURN UINT32_MAX
int bm_lock_order_turns(const struct bm_process *const *procs, size_t n, uint32_t **turns);

/* A member's turns: TURN, shared by the members, counts the locks of the
 * sequence taken; TURN_OF its own locks' places in it. */
struct bm_lock_turns {
	_Atomic uint32_t *turn;
	const uint32_t *turn_of;
};

/* In the new process, before and after it takes lock I (system calls
 * only): waits for its turn, at most BM_LOCK_TURN_WAIT_S, as long as
 * binmig waits for a member to stop (then -1 with the reason in ERR);
 * passes the turn on.  A member that fails abandons the sequence: the
 * others then take their locks at once and stop, and binmig reports that
 * member's failure (its restore fails in any case). */
#define BM_LOCK_TURN_WAIT_S 10
#define BM_LOCK_TURNS_ABANDONED UINT32_MAX
int bm_lock_turn_wait(const struct bm_lock_turns *t, uint32_t i, char *err, size_t errlen);
void bm_lock_turn_done(const struct bm_lock_turns *t, uint32_t i);
void bm_lock_turns_abandon(const struct bm_lock_turns *t);

#endif
