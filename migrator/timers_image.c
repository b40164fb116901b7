/* The TIMERS section of the image (docs/image-format.md, 4.9): encoding,
 * decoding and the rules both directions enforce, against the process's
 * descriptors and threads. */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <time.h>

#include "image_model.h"
#include "timers.h"

#define POSIX_TIMER_SIZE (4 + 4 + 4 + 4 + 4 + 8 + 8 + 8 + 4 + 4)
#define TIMERFD_SIZE (4 + 4 + 4 + 8 + 8 + 8)
#define TIMERFD_FLAGS 3u /* TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET */
/* In a POSIX timer's notify word: armed with TIMER_ABSTIME (a binmig from
 * before it rejects the bit as an unknown notification). */
#define NOTIFY_ABSTIME 0x10000u
/* Its pending signal is stale (the same). */
#define NOTIFY_STALE 0x20000u
/* The timer the process made last (the same). */
#define NOTIFY_NEWEST 0x40000u

static const struct bm_fd *find_fd(const struct bm_process *p, int32_t fd)
{
	for (uint32_t i = 0; i < p->nfds; i++)
		if (p->fds[i].fd == fd)
			return &p->fds[i];
	return NULL;
}

static bool check_times(uint64_t value, uint64_t interval, bool pending, char *why, size_t n)
{
	if (value > (uint64_t)INT64_MAX || interval > (uint64_t)INT64_MAX)
		return bm_why(why, n, "a time of more than 2^63 ns");
	if (!value && interval && !pending)
		return bm_why(why, n, "an interval of %llu ns without a time left", (unsigned long long)interval);
	return true;
}

static bool check_posix_timer(const struct bm_process *p, const pid_t *tids, uint32_t index, char *why, size_t n)
{
	const struct bm_posix_timer *t = &p->timers.posix[index];
	if (t->id < 0 || (index > 0 && t->id <= p->timers.posix[index - 1].id))
		return bm_why(why, n, "id %d is negative or does not follow %d", t->id, index ? p->timers.posix[index - 1].id : 0);
	bool by_tid = t->notify == (SIGEV_SIGNAL | 4 /* SIGEV_THREAD_ID */);
	if (t->notify != SIGEV_SIGNAL && t->notify != SIGEV_NONE && t->notify != SIGEV_THREAD && !by_tid)
		return bm_why(why, n, "notification %u is not known", t->notify);
	if (t->notify != SIGEV_NONE && (t->signo < 1 || t->signo > BM_NSIG))
		return bm_why(why, n, "signal %d is not in 1..%d", t->signo, BM_NSIG);
	bool thread_found = false;
	for (uint32_t i = 0; i < p->nthreads; i++)
		thread_found |= tids[i] == t->tid;
	if (by_tid ? !thread_found : t->tid != 0)
		return bm_why(why, n, "target thread %d %s", t->tid, by_tid ? "is not a thread of the process" : "without SIGEV_THREAD_ID");
	char clock_why[160];
	bool wall;
	if (bm_timer_clock_check(t->clockid, p->pid, tids, p->nthreads, &wall, clock_why, sizeof clock_why) < 0)
		return bm_why(why, n, "it %s", clock_why);
	if (t->pending && (t->pending > p->timers.nposix || t->notify == SIGEV_NONE))
		return bm_why(why, n, "pending rank %u is above the timer count or on a SIGEV_NONE timer", t->pending);
	if (t->stale && (!t->pending || t->interval_ns))
		return bm_why(why, n, "its stale signal is not the pending one of a one-shot");
	if (t->pending && !t->stale && (t->interval_ns ? !t->value_ns || t->value_ns > t->interval_ns : t->value_ns != 0))
		return bm_why(why, n, "pending with %llu ns left of an interval of %llu ns", (unsigned long long)t->value_ns,
			   (unsigned long long)t->interval_ns);
	if (t->overrun < 0 || (t->overrun && t->notify == SIGEV_NONE))
		return bm_why(why, n, "overrun count %d is negative or on a SIGEV_NONE timer", t->overrun);
	if (t->absolute && (t->clockid != CLOCK_REALTIME || t->notify == SIGEV_NONE || !t->value_ns ||
			    (t->pending && !t->stale)))
		return bm_why(why, n, "absolute, yet not an armed CLOCK_REALTIME timer with a signal and none pending");
	if (t->absolute && t->value_ns > (uint64_t)(INT64_MAX - p->timers.realtime_ns))
		return bm_why(why, n, "absolute with a deadline past 2^63 ns");
	return check_times(t->value_ns, t->interval_ns, t->pending, why, n);
}

static bool check_timerfd(const struct bm_process *p, uint32_t index, char *why, size_t n)
{
	const struct bm_timerfd *t = &p->timers.timerfds[index];
	if (index > 0 && t->fd <= p->timers.timerfds[index - 1].fd)
		return bm_why(why, n, "descriptor %d does not follow %d", t->fd, p->timers.timerfds[index - 1].fd);
	const struct bm_fd *f = find_fd(p, t->fd);
	if (!f || f->kind != BM_FD_TIMERFD || f->shares_with != -1)
		return bm_why(why, n, "descriptor %d is not a timerfd of FDS that shares with no other", t->fd);
	if (t->clockid != CLOCK_REALTIME && t->clockid != CLOCK_MONOTONIC && t->clockid != CLOCK_BOOTTIME &&
	    t->clockid != CLOCK_REALTIME_ALARM && t->clockid != CLOCK_BOOTTIME_ALARM)
		return bm_why(why, n, "clock %d is not one a timerfd can have", t->clockid);
	if (t->settime_flags & ~TIMERFD_FLAGS)
		return bm_why(why, n, "settime flags %#x have unknown bits", t->settime_flags);
	return check_times(t->value_ns, t->interval_ns, false, why, n);
}

/* Every rule of the section; WHERE gets the byte offset in the payload of
 * the entry at fault when the caller knows the layout (decoder). */
static bool check_timers(const struct bm_process *p, char *why, size_t n, size_t *where, size_t posix_at,
			 size_t timerfds_at)
{
	const struct bm_timers *tm = &p->timers;
	char detail[200];
	*where = 0;
	if (tm->realtime_ns <= 0)
		return bm_why(why, n, "reading time %lld is not positive", (long long)tm->realtime_ns);
	if (tm->restore_ids > 1)
		return bm_why(why, n, "restore-ids mode %u is not 0 or 1", tm->restore_ids);
	if (tm->next_id > INT_MAX || (!tm->next_id_known && tm->next_id))
		return bm_why(why, n, "next timer id %u is above %d or not read", tm->next_id, INT_MAX);
	for (int w = 0; w < BM_NITIMERS; w++)
		if (!check_times(tm->itimers[w].value_ns, tm->itimers[w].interval_ns, false, detail, sizeof detail))
			return bm_why(why, n, "interval timer %d: %s", w, detail);
	if (tm->nposix > BM_MAX_POSIX_TIMERS || tm->ntimerfds > BM_IMG_MAX_FDS)
		return bm_why(why, n, "%u POSIX timers or %u timerfds are too many", tm->nposix, tm->ntimerfds);
	pid_t *tids = malloc((p->nthreads + 1) * sizeof *tids);
	uint8_t *ranks = calloc(tm->nposix + 1, 1);
	uint32_t newest = 0;
	bool ok = tids && ranks;
	if (!ok)
		bm_why(why, n, "out of memory");
	for (uint32_t i = 0; ok && i < p->nthreads; i++)
		tids[i] = p->threads[i].tid;
	for (uint32_t i = 0; ok && i < tm->nposix; i++) {
		ok = check_posix_timer(p, tids, i, detail, sizeof detail);
		if (ok && tm->posix[i].pending && ranks[tm->posix[i].pending]++)
			ok = bm_why(detail, sizeof detail, "pending rank %u given twice", tm->posix[i].pending);
		if (ok && tm->posix[i].newest && newest++)
			ok = bm_why(detail, sizeof detail, "a second newest timer");
		if (!ok) {
			*where = posix_at + (size_t)i * POSIX_TIMER_SIZE;
			bm_why(why, n, "POSIX timer entry %u: %s", i, detail);
		}
	}
	/* The pending ranks are 1, 2, ... without a gap. */
	for (uint32_t r = 2; ok && r <= tm->nposix; r++)
		if (ranks[r] && !ranks[r - 1])
			ok = bm_why(why, n, "pending rank %u without rank %u", r, r - 1);
	uint32_t expected = 0;
	for (uint32_t i = 0; ok && i < p->nfds; i++)
		expected += p->fds[i].kind == BM_FD_TIMERFD && p->fds[i].shares_with == -1;
	if (ok && expected != tm->ntimerfds)
		ok = bm_why(why, n, "%u timerfd entries for %u timerfds in FDS", tm->ntimerfds, expected);
	for (uint32_t i = 0; ok && i < tm->ntimerfds; i++)
		if (!(ok = check_timerfd(p, i, detail, sizeof detail))) {
			*where = timerfds_at + (size_t)i * TIMERFD_SIZE;
			bm_why(why, n, "timerfd entry %u: %s", i, detail);
		}
	free(tids);
	free(ranks);
	return ok;
}

int bm_encode_timers(struct bm_wbuf *b, const struct bm_process *p, char *why, size_t why_size)
{
	const struct bm_timers *tm = &p->timers;
	size_t where;
	if (!check_timers(p, why, why_size, &where, 0, 0))
		return -EINVAL;
	bm_put_i64(b, tm->realtime_ns);
	bm_put_u32(b, tm->restore_ids);
	bm_put_u32(b, BM_NITIMERS);
	for (int w = 0; w < BM_NITIMERS; w++) {
		bm_put_u64(b, tm->itimers[w].value_ns);
		bm_put_u64(b, tm->itimers[w].interval_ns);
	}
	bm_put_u32(b, tm->nposix);
	for (uint32_t i = 0; i < tm->nposix; i++) {
		const struct bm_posix_timer *t = &tm->posix[i];
		bm_put_i32(b, t->id);
		bm_put_i32(b, t->clockid);
		bm_put_u32(b, t->notify | (t->absolute ? NOTIFY_ABSTIME : 0) | (t->stale ? NOTIFY_STALE : 0) |
				      (t->newest ? NOTIFY_NEWEST : 0));
		bm_put_i32(b, t->signo);
		bm_put_i32(b, t->tid);
		bm_put_u64(b, t->sigval);
		bm_put_u64(b, t->value_ns);
		bm_put_u64(b, t->interval_ns);
		bm_put_u32(b, t->pending);
		bm_put_i32(b, t->overrun);
	}
	bm_put_u32(b, tm->ntimerfds);
	for (uint32_t i = 0; i < tm->ntimerfds; i++) {
		const struct bm_timerfd *t = &tm->timerfds[i];
		bm_put_i32(b, t->fd);
		bm_put_i32(b, t->clockid);
		bm_put_u32(b, t->settime_flags);
		bm_put_u64(b, t->value_ns);
		bm_put_u64(b, t->interval_ns);
		bm_put_u64(b, t->ticks);
	}
	bm_put_u32(b, tm->next_id_known);
	bm_put_u32(b, tm->next_id);
	return bm_wbuf_status(b);
}

void bm_decode_timers(struct bm_rcur *c, struct bm_process *p)
{
	struct bm_timers *tm = &p->timers;
	tm->realtime_ns = bm_get_i64(c);
	tm->restore_ids = bm_get_u32(c);
	size_t at = c->pos;
	uint32_t nitimers = bm_get_u32(c);
	if (!bm_rcur_failed(c) && nitimers != BM_NITIMERS) {
		bm_rcur_fail_at(c, at, "interval timer count %u is not %d", nitimers, BM_NITIMERS);
		return;
	}
	for (int w = 0; w < BM_NITIMERS; w++) {
		tm->itimers[w].value_ns = bm_get_u64(c);
		tm->itimers[w].interval_ns = bm_get_u64(c);
	}
	uint32_t n = bm_get_count(c, BM_MAX_POSIX_TIMERS, POSIX_TIMER_SIZE, "POSIX timer count");
	size_t posix_at = c->pos;
	if (n && !(tm->posix = calloc(n, sizeof *tm->posix))) {
		bm_rcur_nomem(c);
		return;
	}
	tm->nposix = tm->posix ? n : 0;
	for (uint32_t i = 0; i < tm->nposix; i++) {
		struct bm_posix_timer *t = &tm->posix[i];
		t->id = bm_get_i32(c);
		t->clockid = bm_get_i32(c);
		t->notify = bm_get_u32(c);
		t->absolute = t->notify & NOTIFY_ABSTIME;
		t->stale = t->notify & NOTIFY_STALE;
		t->newest = t->notify & NOTIFY_NEWEST;
		t->notify &= ~(NOTIFY_ABSTIME | NOTIFY_STALE | NOTIFY_NEWEST);
		t->signo = bm_get_i32(c);
		t->tid = bm_get_i32(c);
		t->sigval = bm_get_u64(c);
		t->value_ns = bm_get_u64(c);
		t->interval_ns = bm_get_u64(c);
		t->pending = bm_get_u32(c);
		t->overrun = bm_get_i32(c);
	}
	n = bm_get_count(c, BM_IMG_MAX_FDS, TIMERFD_SIZE, "timerfd count");
	size_t timerfds_at = c->pos;
	if (n && !(tm->timerfds = calloc(n, sizeof *tm->timerfds))) {
		bm_rcur_nomem(c);
		return;
	}
	tm->ntimerfds = tm->timerfds ? n : 0;
	for (uint32_t i = 0; i < tm->ntimerfds; i++) {
		struct bm_timerfd *t = &tm->timerfds[i];
		t->fd = bm_get_i32(c);
		t->clockid = bm_get_i32(c);
		t->settime_flags = bm_get_u32(c);
		t->value_ns = bm_get_u64(c);
		t->interval_ns = bm_get_u64(c);
		t->ticks = bm_get_u64(c);
	}
	/* Version 14: the id counter, read at dump (kstate.h); before, not read. */
	if (c->version >= 14) {
		size_t at = c->pos;
		uint32_t known = bm_get_u32(c);
		tm->next_id = bm_get_u32(c);
		if (!bm_rcur_failed(c) && known > 1) {
			bm_rcur_fail_at(c, at, "next timer id flag %u is not 0 or 1", known);
			return;
		}
		tm->next_id_known = known;
	}
	if (bm_rcur_failed(c))
		return;
	char why[300];
	size_t where;
	if (!check_timers(p, why, sizeof why, &where, posix_at, timerfds_at))
		bm_rcur_fail_at(c, where, "%s", why);
}
