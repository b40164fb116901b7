/* The next watch number of inotify instances, carried by a migration
 * (inotify_next_wd.h). */
#include "inotify_next_wd.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>

#include "fd_inotify.h"
#include "fd_tail.h"
#include "image_model.h"
#include "log.h"

/* A descriptor of an instance whose watches the image carries: not a dup
 * of a lower one, nor replaced, nor only in flight. */
static bool instance_fd(const struct bm_fd *d)
{
	return d->kind == BM_FD_INOTIFY && d->shares_with < 0 && !d->replaced && !d->in_flight;
}

/* One whose next number the dump could not read (kstate.h). */
static bool unread_instance_fd(const struct bm_fd *d)
{
	return instance_fd(d) && !d->next_wd;
}

/* ==== the source: read where the process never runs again ==== */

/* The number a watch added to the instance of FD in TR's process gets,
 * on the first directory of a few that the instance does not watch
 * (IN_MASK_CREATE: EEXIST where it does), its path written to binmig's
 * page SCRATCH.  0, or -1 after reporting. */
static int add_watch(struct bm_tracee *tr, uint64_t scratch, int32_t fd, uint32_t *next)
{
	static const char *const dirs[] = {"/", "/dev", "/proc", "/sys", "/run", "/tmp"};
	for (size_t i = 0; i < sizeof dirs / sizeof *dirs; i++) {
		int rc = bm_mem_write(tr->tid, scratch, dirs[i], strlen(dirs[i]) + 1);
		if (rc < 0)
			return bm_error_errno(BM_EXIT_FAILURE, -rc, "writing binmig's page in process %d", tr->tid);
		long wd;
		if ((rc = bm_inject(tr, SYS_inotify_add_watch, (uint64_t)fd, scratch, IN_DELETE_SELF | IN_MASK_CREATE, 0,
				    0, 0, &wd)) < 0)
			return rc;
		if (wd == -EEXIST)
			continue;
		if (wd < 0)
			return bm_error_errno(BM_EXIT_FAILURE, (int)-wd, "inotify_add_watch on fd %d in process %d", fd,
					      tr->tid);
		*next = (uint32_t)wd;
		return 0;
	}
	return bm_error(BM_EXIT_FAILURE, "inotify fd %d of process %d watches every directory binmig would add", fd,
			tr->tid);
}

/* The instances of ONE, each read into IDS (or warned of).  No other
 * member of a tree holds them: the tree's freeze refuses an instance two
 * members share (tree_freeze.c). */
static void take_member(struct bm_frozen *one, struct bm_next_ids *ids)
{
	struct bm_tracee *tr = &one->tracees[0];
	uint64_t scratch = 0;
	bool mapped = false;
	for (uint32_t i = 0; i < one->proc.nfds; i++) {
		const struct bm_fd *d = &one->proc.fds[i];
		if (!unread_instance_fd(d))
			continue;
		uint32_t next = 0;
		int rc = ids->nwd < BM_NEXT_WDS_MAX ? 0
						    : bm_error(BM_EXIT_FAILURE, "more than %u inotify instances",
							       BM_NEXT_WDS_MAX);
		if (rc == 0 && !mapped)
			mapped = (rc = bm_scratch_map(tr, &scratch)) == 0;
		if (rc == 0)
			rc = add_watch(tr, scratch, d->fd, &next);
		if (rc == 0)
			ids->wd[ids->nwd++] = (struct bm_next_wd){one->pid, d->fd, next};
		else
			bm_warn("the next watch number of inotify fd %d of process %d is not carried (%s): its copy "
				"continues after its newest watch", d->fd, one->pid, bm_latest_error_message());
	}
	/* A page left in the original, which never runs again, is no reason
	 * to leave the numbers behind. */
	if (mapped && bm_scratch_unmap(tr, scratch) < 0)
		bm_warn("binmig's page is left in the original of process %d, which is terminated",
			one->pid);
}

/* Whether a live member of F holds an instance the dump could not read. */
static bool any_instance(struct bm_frozen *f)
{
	for (size_t m = 0; m < bm_frozen_count(f); m++) {
		const struct bm_frozen *one = bm_frozen_at(f, m);
		for (uint32_t i = 0; one->ntracees && i < one->proc.nfds; i++)
			if (unread_instance_fd(&one->proc.fds[i]))
				return true;
	}
	return false;
}

void bm_inotify_take_next_wds(struct bm_frozen *f, struct bm_next_ids *ids)
{
	if (!any_instance(f))
		return; /* the usual case: the threads stay parked */
	bm_frozen_unpark(f); /* no signal may arrive while the calls run */
	for (size_t m = 0; m < bm_frozen_count(f); m++)
		if (bm_frozen_at(f, m)->ntracees)
			take_member(bm_frozen_at(f, m), ids);
	if (bm_frozen_park(f) < 0)
		bm_warn("the original's threads could not be parked again: should binmig die now, it runs on");
}

/* ==== the image: what the dump read (kstate.h) ==== */

static bool has_next_wd(const struct bm_fd *d)
{
	return instance_fd(d) && d->next_wd;
}

static void put_next_wd(struct bm_wbuf *b, const struct bm_fd *d)
{
	bm_put_u32(b, d->next_wd);
}

static bool take_next_wd(struct bm_rcur *c, struct bm_fd *d, char *why, size_t n)
{
	uint32_t next = bm_get_u32(c);
	if (bm_rcur_failed(c))
		return true; /* said by the cursor */
	if (!instance_fd(d) || next == 0 || next > INT_MAX) {
		snprintf(why, n, "%u, not in 1..%d, or not an inotify instance's first descriptor", next, INT_MAX);
		return false;
	}
	d->next_wd = next;
	return true;
}

void bm_inotify_next_wds_encode(struct bm_wbuf *b, const struct bm_process *p)
{
	bm_fd_tail_encode(b, p, has_next_wd, put_next_wd);
}

void bm_inotify_next_wds_decode(struct bm_rcur *c, struct bm_process *p)
{
	bm_fd_tail_decode(c, p, 8, "inotify next watch number", take_next_wd);
}

/* ==== the destination ==== */

void bm_inotify_set_next_wds(struct bm_tracee *tr, const struct bm_process *p, const struct bm_next_ids *ids)
{
	struct bm_held saved;
	bool began = false;
	for (uint32_t i = 0; i < ids->nwd; i++) {
		const struct bm_next_wd *e = &ids->wd[i];
		const struct bm_fd *d = e->pid == p->pid ? bm_fd_find(p->fds, p->nfds, e->fd) : NULL;
		if (!d || e->next == bm_inotify_restored_next_wd(d))
			continue;
		if (!began) {
			int rc = bm_held_begin(tr, &saved);
			if (rc < 0) {
				bm_warn("process %d: the next watch numbers of its inotify instances are not set (its "
					"leader's state: %s); each continues after its newest watch", tr->tid,
					strerror(-rc));
				return;
			}
			began = true;
		}
		long r;
		int rc = d->kind == BM_FD_INOTIFY ? bm_inject(tr, SYS_ioctl, (uint64_t)e->fd, BM_INOTIFY_IOC_SETNEXTWD,
							      e->next, 0, 0, 0, &r)
						  : bm_error(BM_EXIT_FAILURE, "fd %d is no inotify instance", e->fd);
		if (rc == 0 && r < 0)
			rc = bm_error_errno(BM_EXIT_FAILURE, (int)-r, "ioctl(INOTIFY_IOC_SETNEXTWD)");
		if (rc < 0)
			bm_warn("process %d: the next watch number of its inotify fd %d could not be set to %u (%s); it "
				"continues after its newest watch", tr->tid, e->fd, e->next, bm_latest_error_message());
	}
	if (began)
		bm_held_end(tr, &saved, "setting the next watch numbers of its inotify instances");
}
