/* The order of a file's POSIX and OFD locks (file_lock_order.h). */
#include "file_lock_order.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

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
	for (uint32_t i = 0; i < p->nlocks; i++)
		sorted[i] = p->locks[k[i].index];
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

/* Reads the places of P's locks into POS until two readings agree: 0;
 * -EAGAIN where none did; or the reading's -errno, why in WHY. */
static int read_places(struct bm_process *p, const bool *ask, struct bm_kstate_lockpos *pos,
		       struct bm_kstate_lockpos *again, char *why, size_t why_size)
{
	int rc = bm_kstate_lockpos(p, ask, pos, why, why_size);
	for (int n = 1; rc == 0 && n < READINGS_MAX; n++) {
		if ((rc = bm_kstate_lockpos(p, ask, again, why, why_size)) < 0)
			return rc;
		if (same_reading(pos, again, p->nfds))
			return 0;
		memcpy(pos, again, p->nfds * sizeof *pos);
	}
	if (rc == 0)
		snprintf(why, why_size, "another process changed a file's locks in each of %d readings", READINGS_MAX);
	return rc == 0 ? -EAGAIN : rc;
}

int bm_locks_order(struct bm_process *p)
{
	uint32_t ranged = 0;
	for (uint32_t i = 0; i < p->nlocks; i++)
		ranged += p->locks[i].kind != BM_LOCK_FLOCK;
	if (ranged < 2)
		return 0; /* one lock is in its place wherever it is */
	bool *ask = calloc(p->nfds + 1, sizeof *ask);
	struct bm_kstate_lockpos *pos = calloc(2 * (p->nfds + 1), sizeof *pos);
	int32_t *keys = calloc(p->nlocks, sizeof *keys);
	int rc = ask && pos && keys ? 0 : bm_error(BM_EXIT_FAILURE, "out of memory");
	for (uint32_t i = 0; rc == 0 && i < p->nlocks; i++) {
		const struct bm_fd *d = bm_fd_find(p->fds, p->nfds, p->locks[i].fd);
		if (d && p->locks[i].kind != BM_LOCK_FLOCK)
			ask[d - p->fds] = true;
	}
	char why[700];
	int32_t fd = -1;
	if (rc == 0) {
		int read = read_places(p, ask, pos, pos + p->nfds + 1, why, sizeof why);
		if (read == -EAGAIN)
			bm_warn("process %d: the order of its file locks is not read (%s): they are taken again in the order "
				"of its descriptors", p->pid, why);
		else if (read < 0)
			bm_debug("process %d: %s: its file locks are taken again in the order of its descriptors", p->pid, why);
		else if (bm_lock_order_keys(p, pos, keys, &fd) < 0)
			bm_warn("process %d: where its locks on fd %d are in their file's list is not read (more than %u locks, "
				"or a kernel before Linux 6.9): they are taken again in the order of its descriptors", p->pid,
				fd, BM_KSTATE_LOCKPOS_MAX);
		else
			rc = bm_lock_order_sort(p, keys);
	}
	free(ask);
	free(pos);
	free(keys);
	return rc;
}
