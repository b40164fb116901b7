/* The id the next timer_create hands out, carried by a migration
 * (timers_next_id.h). */
#include "timers_next_id.h"

#include <errno.h>
#include <limits.h>
#include <string.h>
#include <time.h>
#include <sys/syscall.h>

#include "fd_inotify.h"
#include "log.h"
#include "timers.h"
#include "wire.h"

/* ==== the source: read where the process never runs again ==== */

/* One call WHAT in the leader TR; 0, or -1 after reporting, with
 * *REFUSED (if given) set when the kernel refused the call rather than
 * binmig failing to run it. */
static int call_as(struct bm_tracee *tr, const char *what, long nr, uint64_t a1, uint64_t a2, uint64_t a3,
		   bool *refused)
{
	long ret;
	int rc = bm_inject(tr, nr, a1, a2, a3, 0, 0, 0, &ret);
	if (rc == 0 && ret < 0 && ret > -4096) {
		rc = bm_error_errno(BM_EXIT_FAILURE, (int)-ret, "%s in process %d", what, tr->tid);
		if (refused)
			*refused = true;
	}
	return rc;
}

static int call(struct bm_tracee *tr, const char *what, long nr, uint64_t a1, uint64_t a2, uint64_t a3)
{
	return call_as(tr, what, nr, a1, a2, a3, NULL);
}

static const char given_ids[] = "prctl(PR_TIMER_CREATE_RESTORE_IDS)";

/* A call that puts back what binmig changed in the process, where a
 * failure would leave it other than it was: tried a second time before
 * it is given up.  0, or -1 after reporting. */
static int undo(struct bm_tracee *tr, const char *what, long nr, uint64_t a1, uint64_t a2)
{
	return call(tr, what, nr, a1, a2, 0) == 0 || call(tr, what, nr, a1, a2, 0) == 0 ? 0 : -1;
}

/* The int at ADDR of process PID; 0, or -1 after reporting. */
static int read_id(pid_t pid, uint64_t addr, int32_t *id)
{
	int rc = bm_mem_read(pid, addr, id, sizeof *id);
	return rc < 0 ? bm_error_errno(BM_EXIT_FAILURE, -rc, "reading binmig's page in process %d", pid) : 0;
}

/* Every timer deleted, then one made: its id is the counter.  A timer
 * made while the process's own given-id mode is on takes its id from
 * memory, so that mode goes off first.  0; -EAGAIN after reporting when
 * binmig failed to run a call before any changed the process's timers
 * (the mode is put back), so that it can still resume as it was; -1
 * after reporting when one failed after, or the kernel refused one (a
 * process whose signal queue is full cannot make a timer: its counter
 * cannot be read, whichever attempt). */
static int take_next_id(struct bm_frozen *one, uint32_t *next)
{
	struct bm_tracee *tr = &one->tracees[0];
	const struct bm_timers *tm = &one->proc.timers;
	uint64_t scratch;
	if (bm_scratch_map(tr, &scratch) < 0)
		return -EAGAIN;
	bool mode_off = false, changed = false, refused = false;
	int rc = 0;
	if (tm->restore_ids)
		mode_off = (rc = call_as(tr, given_ids, SYS_prctl, BM_PR_TIMER_CREATE_RESTORE_IDS,
					 BM_PR_TIMER_CREATE_RESTORE_IDS_OFF, 0, &refused)) == 0;
	for (uint32_t i = 0; rc == 0 && i < tm->nposix; i++)
		changed |= (rc = call_as(tr, "timer_delete", SYS_timer_delete, (uint64_t)tm->posix[i].id, 0, 0,
					 &refused)) == 0;
	int32_t id = -1;
	if (rc == 0 &&
	    (rc = call_as(tr, "timer_create", SYS_timer_create, CLOCK_MONOTONIC, 0, scratch, &refused)) == 0) {
		changed = true;
		rc = read_id(one->pid, scratch, &id);
	}
	if (rc < 0 && !changed && mode_off &&
	    undo(tr, given_ids, SYS_prctl, BM_PR_TIMER_CREATE_RESTORE_IDS, BM_PR_TIMER_CREATE_RESTORE_IDS_ON) < 0)
		changed = true;
	*next = (uint32_t)id & INT_MAX; /* the kernel hands out ids of 0..INT_MAX */
	/* Once the counter is read, a page left in the original, which never
	 * runs again, is no reason to leave the counter behind.  Before, the
	 * original may resume: -EAGAIN only with the page gone (it is as it
	 * was), else it is changed too, and never runs again. */
	if (bm_scratch_unmap(tr, scratch) < 0 && bm_scratch_unmap(tr, scratch) < 0)
		changed = true;
	return rc == 0 ? 0 : changed || refused ? -1 : -EAGAIN;
}

int bm_timers_take_next_ids(struct bm_frozen *f, struct bm_next_ids *ids)
{
	_Static_assert(BM_NEXT_IDS_MAX >= 4096, "a tree has at most 4096 processes (tree_image.c)");
	int rc = 0;
	bool changed = false;
	ids->n = 0;
	bool unread = false; /* the dump read the counters it could (kstate.h) */
	for (size_t m = 0; m < bm_frozen_count(f); m++)
		unread |= bm_frozen_at(f, m)->ntracees && !bm_frozen_at(f, m)->proc.timers.next_id_known;
	if (!unread)
		return 0;
	bm_frozen_unpark(f); /* no signal may arrive while the calls run */
	for (size_t m = 0; m < bm_frozen_count(f) && ids->n < BM_NEXT_IDS_MAX; m++) {
		struct bm_frozen *one = bm_frozen_at(f, m);
		uint32_t next;
		if (!one->ntracees || one->proc.timers.next_id_known)
			continue;
		int got = take_next_id(one, &next);
		if (got == 0) {
			ids->id[ids->n++] = (struct bm_next_id){one->pid, next};
			changed = true;
			continue;
		}
		if (got == -EAGAIN && !changed) {
			rc = -EAGAIN; /* every process as it was: the migration fails */
			break;
		}
		changed = true;
		bm_warn("the next POSIX timer id of process %d is not carried (%s): its copy continues after its "
			"newest timer", one->pid, bm_latest_error_message());
	}
	if (bm_frozen_park(f) < 0)
		bm_warn("the original's threads could not be parked again: should binmig die now, it runs on");
	return rc;
}

/* ==== CONFIRM's payload ==== */

size_t bm_next_ids_encode(const struct bm_next_ids *ids, uint8_t *buf)
{
	bm_store_le32(buf, ids->n);
	for (uint32_t i = 0; i < ids->n; i++) {
		bm_store_le32(buf + 4 + 8 * i, (uint32_t)ids->id[i].pid);
		bm_store_le32(buf + 8 + 8 * i, ids->id[i].next);
	}
	size_t len = 4 + 8 * (size_t)ids->n;
	if (ids->nwd == 0)
		return len; /* as a source from before the watch numbers wrote it */
	uint8_t *p = buf + len;
	bm_store_le32(p, ids->nwd);
	for (uint32_t i = 0; i < ids->nwd; i++) {
		bm_store_le32(p + 4 + 12 * i, (uint32_t)ids->wd[i].pid);
		bm_store_le32(p + 8 + 12 * i, (uint32_t)ids->wd[i].fd);
		bm_store_le32(p + 12 + 12 * i, ids->wd[i].next);
	}
	return len + 4 + 12 * (size_t)ids->nwd;
}

/* The watch numbers' part, LEN bytes at BUF. */
static int decode_wds(const uint8_t *buf, size_t len, struct bm_next_ids *ids)
{
	if (len < 4)
		return -EPROTO;
	uint32_t n = bm_load_le32(buf);
	if (n == 0 || n > BM_NEXT_WDS_MAX || len != 4 + 12 * (size_t)n)
		return -EPROTO;
	for (uint32_t i = 0; i < n; i++) {
		const uint8_t *p = buf + 4 + 12 * i;
		struct bm_next_wd e = {(int32_t)bm_load_le32(p), (int32_t)bm_load_le32(p + 4), bm_load_le32(p + 8)};
		if (e.pid <= 0 || e.fd < 0 || e.next == 0 || e.next > INT_MAX)
			return -EPROTO;
		for (uint32_t j = 0; j < i; j++)
			if (ids->wd[j].pid == e.pid && ids->wd[j].fd == e.fd)
				return -EPROTO;
		ids->wd[i] = e;
	}
	ids->nwd = n;
	return 0;
}

int bm_next_ids_decode(const uint8_t *buf, size_t len, struct bm_next_ids *ids)
{
	ids->n = ids->nwd = 0;
	if (len == 0)
		return 0; /* a source from before the counter was carried */
	if (len < 4)
		return -EPROTO;
	uint32_t n = bm_load_le32(buf);
	if (n > BM_NEXT_IDS_MAX || len < 4 + 8 * (size_t)n)
		return -EPROTO;
	for (uint32_t i = 0; i < n; i++) {
		struct bm_next_id e = {(int32_t)bm_load_le32(buf + 4 + 8 * i), bm_load_le32(buf + 8 + 8 * i)};
		if (e.pid <= 0 || e.next > INT_MAX)
			return -EPROTO;
		for (uint32_t j = 0; j < i; j++)
			if (ids->id[j].pid == e.pid)
				return -EPROTO;
		ids->id[i] = e;
	}
	size_t at = 4 + 8 * (size_t)n;
	int rc = at == len ? 0 : decode_wds(buf + at, len - at, ids);
	if (rc < 0) {
		ids->nwd = 0;
		return rc;
	}
	ids->n = n;
	return 0;
}

/* ==== the destination ==== */

void bm_next_ids_add_image(const struct bm_process *p, struct bm_next_ids *ids)
{
	bool have = false;
	for (uint32_t i = 0; i < ids->n; i++)
		have |= ids->id[i].pid == p->pid;
	if (!have && p->timers.next_id_known && ids->n < BM_NEXT_IDS_MAX)
		ids->id[ids->n++] = (struct bm_next_id){p->pid, p->timers.next_id};
	for (uint32_t k = 0; k < p->nfds; k++) {
		const struct bm_fd *d = &p->fds[k];
		have = false;
		for (uint32_t i = 0; i < ids->nwd; i++)
			have |= ids->wd[i].pid == p->pid && ids->wd[i].fd == d->fd;
		if (!have && d->next_wd && ids->nwd < BM_NEXT_WDS_MAX)
			ids->wd[ids->nwd++] = (struct bm_next_wd){p->pid, d->fd, d->next_wd};
		else if (!have && d->next_wd)
			bm_warn("process %d: the next watch number of inotify fd %d is not set (more than %u instances): "
				"it continues after its newest watch", p->pid, d->fd, BM_NEXT_WDS_MAX);
	}
}

bool bm_next_ids_to_set(const struct bm_process *p, const struct bm_next_ids *ids)
{
	for (uint32_t i = 0; i < ids->n; i++)
		if (ids->id[i].pid == p->pid && ids->id[i].next != bm_timers_restored_next_id(p))
			return true;
	for (uint32_t i = 0; i < ids->nwd; i++) {
		const struct bm_fd *d = ids->wd[i].pid == p->pid ? bm_fd_find(p->fds, p->nfds, ids->wd[i].fd) : NULL;
		if (d && d->kind == BM_FD_INOTIFY && ids->wd[i].next != bm_inotify_restored_next_wd(d))
			return true;
	}
	return false;
}

uint32_t bm_timers_restored_next_id(const struct bm_process *p)
{
	const struct bm_timers *tm = &p->timers;
	return tm->nposix ? ((uint32_t)tm->posix[bm_timers_made_last(tm)].id + 1) & INT_MAX : 0;
}

static bool held(const struct bm_timers *tm, int32_t id)
{
	for (uint32_t i = 0; i < tm->nposix; i++)
		if (tm->posix[i].id == id)
			return true;
	return false;
}

/* A timer made with id NEXT - 1 and deleted: the counter is NEXT (for 0,
 * INT_MAX + 1, which hands out the same ids).  0, or -1 after reporting. */
/* 0, or -1 with what failed in WHY (before what was put back after it). */
static int set_next_id(struct bm_tracee *tr, const struct bm_timers *tm, uint32_t next, char *why, size_t why_size)
{
	int32_t id = (int32_t)((next - 1) & INT_MAX), made = -1;
	uint64_t scratch;
	int rc = bm_scratch_map(tr, &scratch);
	if (rc < 0) {
		snprintf(why, why_size, "%s", bm_latest_error_message());
		return rc;
	}
	if ((rc = bm_mem_write(tr->tid, scratch, &id, sizeof id)) < 0)
		rc = bm_error_errno(BM_EXIT_FAILURE, -rc, "writing binmig's page in process %d", tr->tid);
	bool mode_set = rc == 0 && !tm->restore_ids;
	if (mode_set)
		rc = call(tr, given_ids, SYS_prctl, BM_PR_TIMER_CREATE_RESTORE_IDS, BM_PR_TIMER_CREATE_RESTORE_IDS_ON, 0);
	if (rc == 0 && (rc = call(tr, "timer_create", SYS_timer_create, CLOCK_MONOTONIC, 0, scratch)) == 0 &&
	    (rc = read_id(tr->tid, scratch, &made)) == 0 && made != id)
		rc = bm_error(BM_EXIT_FAILURE, "process %d: the timer made with id %d got %d", tr->tid, id, made);
	if (rc < 0)
		snprintf(why, why_size, "%s", bm_latest_error_message());
	/* Once made, the counter is set; what binmig changed to get there is
	 * put back, or the copy is other than the original: warned of. */
	if (made == id && undo(tr, "timer_delete", SYS_timer_delete, (uint64_t)id, 0) < 0)
		bm_warn("process %d: the timer %d binmig made to set its counter is left in it: %s", tr->tid, id,
			bm_latest_error_message());
	/* The process's own mode back whatever happened. */
	if (mode_set &&
	    undo(tr, given_ids, SYS_prctl, BM_PR_TIMER_CREATE_RESTORE_IDS, BM_PR_TIMER_CREATE_RESTORE_IDS_OFF) < 0)
		bm_warn("process %d: its mode of timers made with given ids (prctl %d) is left on: %s", tr->tid,
			BM_PR_TIMER_CREATE_RESTORE_IDS, bm_latest_error_message());
	if (bm_scratch_unmap(tr, scratch) < 0 && bm_scratch_unmap(tr, scratch) < 0)
		bm_warn("process %d: binmig's page is left in it: %s", tr->tid, bm_latest_error_message());
	return rc;
}

/* serve holds the errors of a restore for its one log line, which a
 * restore that succeeds does not print: the warnings say what failed. */
void bm_timers_set_next_id(struct bm_tracee *tr, const struct bm_process *p, const struct bm_next_ids *ids)
{
	const struct bm_next_id *e = NULL;
	for (uint32_t i = 0; i < ids->n && !e; i++)
		if (ids->id[i].pid == p->pid)
			e = &ids->id[i];
	if (!e || e->next == bm_timers_restored_next_id(p))
		return;
	int32_t below = (int32_t)((e->next - 1) & INT_MAX);
	if (held(&p->timers, below)) {
		/* Only the newest timer can hold it (timers_next_id.h). */
		bm_warn("process %d: the next POSIX timer id the source read, %u, follows timer %d, which is not its "
			"newest; it continues after timer %u", tr->tid, e->next, below,
			(bm_timers_restored_next_id(p) - 1) & INT_MAX);
		return;
	}
	struct bm_held saved;
	int rc = bm_held_begin(tr, &saved);
	if (rc < 0) {
		bm_warn("process %d: its next POSIX timer id is not set (its leader's state: %s); it continues after "
			"its newest timer", tr->tid, strerror(-rc));
		return;
	}
	char why[1400] = "";
	rc = set_next_id(tr, &p->timers, e->next, why, sizeof why);
	/* Whatever happened: as it was, and parked. */
	bm_held_end(tr, &saved, "setting its next POSIX timer id");
	if (rc < 0)
		bm_warn("process %d: its next POSIX timer id could not be set to %u (%s); it continues after its newest "
			"timer", tr->tid, e->next, why);
}
