/* The order of a file's POSIX and OFD locks (file_lock_order.h). */
#include "file_lock_order.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/futex.h>
#include <sys/syscall.h>

#include "bpf/kstate_rec.h"
#include "file_locks.h"
#include "log.h"

/* Readings of the lists until two agree: a list another process changes
 * between two descriptors' walks would give an order that never was. */
#define READINGS_MAX 5

static const struct bm_kstate_lockpos *pos_of(const struct bm_process *p, const struct bm_kstate_lockpos *pos,
					      int32_t fd)
{
	const struct bm_fd *d = bm_fd_find(p->fds, p->nfds, fd);
	return d ? &pos[d - p->fds] : NULL;
}

int bm_lock_order_keys(const struct bm_process *p, const struct bm_kstate_lockpos *pos, int32_t *keys, int32_t *fd)
{
	for (uint32_t i = 0; i < p->nlocks; i++) {
		const struct bm_file_lock *l = &p->locks[i];
		if (l->kind == BM_LOCK_FLOCK) {
			keys[i] = INT32_MAX;
			continue;
		}
		const struct bm_kstate_lockpos *at = pos_of(p, pos, l->fd);
		keys[i] = !at || !at->read ? -1 : l->kind == BM_LOCK_OFD ? at->ofd : at->posix;
		if (keys[i] < 0) {
			*fd = l->fd;
			return -ENOENT;
		}
	}
	return 0;
}

struct keyed {
	int32_t key;
	uint32_t index;
};

static int by_key(const void *a, const void *b)
{
	const struct keyed *x = a, *y = b;
	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	return x->index < y->index ? -1 : x->index > y->index;
}

int bm_lock_order_sort(struct bm_process *p, const int32_t *keys)
{
	struct keyed *k = malloc((p->nlocks + 1) * sizeof *k);
	struct bm_file_lock *sorted = malloc((p->nlocks + 1) * sizeof *sorted);
	if (!k || !sorted) {
		free(k);
		free(sorted);
		return bm_error(BM_EXIT_FAILURE, "out of memory");
	}
	for (uint32_t i = 0; i < p->nlocks; i++)
		k[i] = (struct keyed){.key = keys[i], .index = i};
	qsort(k, p->nlocks, sizeof *k, by_key);
	for (uint32_t i = 0; i < p->nlocks; i++) {
		sorted[i] = p->locks[k[i].index];
		sorted[i].order = sorted[i].kind == BM_LOCK_FLOCK ? 0 : (uint32_t)k[i].key + 1;
	}
	memcpy(p->locks, sorted, p->nlocks * sizeof *sorted);
	free(k);
	free(sorted);
	return 0;
}

static bool same_reading(const struct bm_kstate_lockpos *a, const struct bm_kstate_lockpos *b, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		if (a[i].read != b[i].read || a[i].ofd != b[i].ofd || a[i].posix != b[i].posix)
			return false;
	return true;
}

/* Each POSIX and OFD lock's place (bm_lock_order_keys) into KEYS, the
 * lists read up to READINGS times until two readings agree (once: as
 * read).  0; -1 after reporting (out of memory); or 1 where not read,
 * why in WHY: ENOENT a lock's place, EAGAIN readings that never agreed,
 * else the reading's errno. */
static int read_keys(struct bm_process *p, int readings, int32_t *keys, int *err, char *why, size_t why_size)
{
	bool *ask = calloc(p->nfds + 1, sizeof *ask);
	struct bm_kstate_lockpos *pos = calloc(2 * (p->nfds + 1), sizeof *pos), *again = pos + p->nfds + 1;
	if (!ask || !pos) {
		free(ask);
		free(pos);
		return bm_error(BM_EXIT_FAILURE, "out of memory");
	}
	for (uint32_t i = 0; i < p->nlocks; i++) {
		const struct bm_fd *d = bm_fd_find(p->fds, p->nfds, p->locks[i].fd);
		if (d && p->locks[i].kind != BM_LOCK_FLOCK)
			ask[d - p->fds] = true;
	}
	int rc = bm_kstate_lockpos(p, ask, pos, why, why_size);
	bool agreed = readings == 1;
	for (int n = 1; rc == 0 && !agreed && n < readings; n++) {
		rc = bm_kstate_lockpos(p, ask, again, why, why_size);
		agreed = rc == 0 && same_reading(pos, again, p->nfds);
		if (rc == 0 && !agreed)
			memcpy(pos, again, p->nfds * sizeof *pos);
	}
	int32_t fd = -1;
	*err = rc < 0 ? -rc : 0;
	if (rc == 0 && !agreed) {
		*err = EAGAIN;
		snprintf(why, why_size, "another process changed a file's locks in each of %d readings", readings);
	} else if (rc == 0 && bm_lock_order_keys(p, pos, keys, &fd) < 0) {
		*err = ENOENT;
		snprintf(why, why_size, "where its locks on fd %d are in their file's list is not read (more than %u locks, "
			 "or a kernel before Linux 6.9)", fd, BM_KSTATE_LOCKPOS_MAX);
	}
	free(ask);
	free(pos);
	return *err ? 1 : 0;
}

int bm_locks_order(struct bm_process *p, bool in_tree)
{
	uint32_t ranged = 0;
	for (uint32_t i = 0; i < p->nlocks; i++)
		ranged += p->locks[i].kind != BM_LOCK_FLOCK;
	/* One owner's place matters only against another member's. */
	if (ranged < (in_tree ? 1u : 2u))
		return 0;
	int32_t *keys = calloc(p->nlocks, sizeof *keys);
	if (!keys)
		return bm_error(BM_EXIT_FAILURE, "out of memory");
	char why[700];
	int err = 0, rc = read_keys(p, READINGS_MAX, keys, &err, why, sizeof why);
	if (rc == 0)
		rc = bm_lock_order_sort(p, keys);
	else if (rc > 0 && (err == EAGAIN || err == ENOENT))
		bm_warn("process %d: the order of its file locks is not read (%s): they are taken again in the order of its "
			"descriptors", p->pid, why);
	else if (rc > 0) /* the programs do not load: the dump warns of them once */
		bm_debug("process %d: %s: its file locks are taken again in the order of its descriptors", p->pid, why);
	free(keys);
	return rc < 0 ? rc : 0;
}

/* Whether P's locks still have the orders the kernel's lists give them. */
static int orders_hold(struct bm_process *p, bool *hold)
{
	*hold = true;
	bool any = false;
	for (uint32_t i = 0; i < p->nlocks; i++)
		any |= p->locks[i].order != 0;
	if (!any)
		return 0; /* none to check (a zombie, whose descriptors are gone, has none) */
	int32_t *keys = calloc(p->nlocks, sizeof *keys);
	if (!keys)
		return bm_error(BM_EXIT_FAILURE, "out of memory");
	char why[700];
	int err, rc = read_keys(p, 1, keys, &err, why, sizeof why);
	*hold = rc == 0;
	for (uint32_t i = 0; *hold && i < p->nlocks; i++)
		if (p->locks[i].order && (uint32_t)keys[i] + 1 != p->locks[i].order)
			*hold = false;
	free(keys);
	return rc < 0 ? rc : 0;
}

int bm_locks_order_tree(struct bm_process *const *procs, size_t n)
{
	bool any = false;
	for (size_t m = 0; m < n; m++)
		for (uint32_t i = 0; i < procs[m]->nlocks; i++)
			any |= procs[m]->locks[i].order != 0;
	for (int reading = 1; any && reading <= READINGS_MAX; reading++) {
		bool hold = true;
		for (size_t m = 0; m < n && hold; m++)
			if (orders_hold(procs[m], &hold) < 0)
				return -1;
		if (hold)
			return 0;
		for (size_t m = 0; m < n && reading < READINGS_MAX; m++)
			if (bm_locks_order(procs[m], true) < 0)
				return -1;
	}
	if (any) {
		bm_warn("the order of the file locks of the tree's members among themselves is not read (another process "
			"changed a file's locks in each of %d readings): each member takes its own again in their order, the "
			"members side by side", READINGS_MAX);
		for (size_t m = 0; m < n; m++)
			for (uint32_t i = 0; i < procs[m]->nlocks; i++)
				procs[m]->locks[i].order = 0;
	}
	return 0;
}

/* One lock of a tree, for the sequence's sort: its order, then member
 * and place (a lock without order after every ordered one). */
struct ranked {
	uint32_t order;
	struct bm_lock_step at;
};

static int by_rank(const void *a, const void *b)
{
	const struct ranked *x = a, *y = b;
	if (x->order != y->order)
		return x->order < y->order ? -1 : 1;
	if (x->at.member != y->at.member)
		return x->at.member < y->at.member ? -1 : 1;
	return x->at.index < y->at.index ? -1 : x->at.index > y->at.index;
}

int bm_lock_order_sequence(const struct bm_process *const *procs, size_t n, struct bm_lock_step **steps,
			   size_t *count)
{
	size_t total = 0;
	for (size_t m = 0; m < n; m++)
		total += procs[m]->nlocks;
	struct ranked *all = malloc((total + 1) * sizeof *all);
	*steps = malloc((total + 1) * sizeof **steps);
	if (!all || !*steps) {
		free(all);
		free(*steps);
		*steps = NULL;
		return bm_error(BM_EXIT_FAILURE, "out of memory");
	}
	size_t k = 0;
	for (size_t m = 0; m < n; m++)
		for (uint32_t i = 0; i < procs[m]->nlocks; i++) {
			uint32_t order = procs[m]->locks[i].order;
			all[k++] = (struct ranked){order ? order : UINT32_MAX, {(uint32_t)m, i}};
		}
	qsort(all, total, sizeof *all, by_rank);
	for (k = 0; k < total; k++)
		(*steps)[k] = all[k].at;
	free(all);
	*count = total;
	return 0;
}

int bm_lock_order_turns(const struct bm_process *const *procs, size_t n, uint32_t **turns)
{
	for (size_t m = 0; m < n; m++) {
		turns[m] = malloc((procs[m]->nlocks + 1) * sizeof *turns[m]);
		if (!turns[m])
			return bm_error(BM_EXIT_FAILURE, "out of memory");
		for (uint32_t i = 0; i < procs[m]->nlocks; i++)
			turns[m][i] = BM_LOCK_NO_TURN;
	}
	struct bm_lock_step *steps;
	size_t count;
	if (bm_lock_order_sequence(procs, n, &steps, &count) < 0)
		return -1;
	for (size_t t = 0; t < count && procs[steps[t].member]->locks[steps[t].index].order; t++)
		turns[steps[t].member][steps[t].index] = (uint32_t)t;
	free(steps);
	return 0;
}

/* ---- inside the new processes: system calls only ---- */

int bm_lock_turn_wait(const struct bm_lock_turns *t, uint32_t i, char *err, size_t errlen)
{
	uint32_t want = t->turn_of[i];
	if (want == BM_LOCK_NO_TURN)
		return 0;
	struct timespec start;
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		uint32_t now = atomic_load(t->turn);
		if (now == want || now == BM_LOCK_TURNS_ABANDONED)
			return 0;
		struct timespec at;
		clock_gettime(CLOCK_MONOTONIC, &at);
		if (at.tv_sec - start.tv_sec >= BM_LOCK_TURN_WAIT_S) {
			snprintf(err, errlen, "the tree's members took %u of their file locks in %d s, and this member's "
				 "next is lock %u of them", now, BM_LOCK_TURN_WAIT_S, want);
			return -1;
		}
		struct timespec ts = {0, 100 * 1000 * 1000};
		syscall(SYS_futex, t->turn, FUTEX_WAIT, now, &ts, NULL, 0);
	}
}

void bm_lock_turn_done(const struct bm_lock_turns *t, uint32_t i)
{
	uint32_t mine = t->turn_of[i];
	if (mine == BM_LOCK_NO_TURN || !atomic_compare_exchange_strong(t->turn, &mine, mine + 1))
		return; /* no turn, or the sequence is abandoned */
	syscall(SYS_futex, t->turn, FUTEX_WAKE, INT32_MAX, NULL, NULL, 0);
}

void bm_lock_turns_abandon(const struct bm_lock_turns *t)
{
	atomic_store(t->turn, BM_LOCK_TURNS_ABANDONED);
	syscall(SYS_futex, t->turn, FUTEX_WAKE, INT32_MAX, NULL, NULL, 0);
}

