/* The id the next timer_create of a process hands out, carried by a
 * migration.
 *
 * The kernel keeps one counter per process (next_posix_timer_id) and hands
 * out the first free id from it; a timer made with a given id
 * (PR_TIMER_CREATE_RESTORE_IDS) sets it to that id + 1.  Nothing shows the
 * counter: only a timer_create reads it, and that moves it on, which
 * cannot be undone where the id below is held (the usual case: the
 * process's newest timer).  So it is read only where the process will
 * never run again: after a migration's point of no return, in the
 * original about to be terminated, with all its timers deleted first so
 * that the id created is the counter itself.  It travels in CONFIRM
 * (docs/protocol.md §3.2), and the destination, which holds its copy until
 * then, sets it before letting the copy run.
 *
 * The restore makes the timers with their ids, the newest last (the image
 * marks it), which leaves the counter after the newest.  Where the
 * original's counter is after a held id, that id is the newest timer's (a
 * creation since would have set the counter after its own id), so there
 * is nothing to do; elsewhere the id below the counter is free, and a
 * timer made with that id and deleted at once sets it.
 *
 * Where binmig can read the counter without changing it (kstate.h: BPF,
 * root), the dump does, and the image carries it: `dump` and `restore`
 * then set it as a migration does, and a migration reads it no more
 * here.  Elsewhere a dump to a file has no such moment: its restore
 * leaves the counter after the newest timer (docs/process-state.md). */
#ifndef BINMIG_TIMERS_NEXT_ID_H
#define BINMIG_TIMERS_NEXT_ID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "checkpoint.h"
#include "ptrace_ctl.h"
#include "state.h"

/* As many as a tree has processes (tree_image.c); inotify instances
 * (inotify_next_wd.h) beyond as many are left out, with a warning. */
#define BM_NEXT_IDS_MAX 4096u
#define BM_NEXT_WDS_MAX 4096u
#define BM_NEXT_IDS_MAX_BYTES (4 + 8 * BM_NEXT_IDS_MAX + 4 + 12 * BM_NEXT_WDS_MAX)

struct bm_next_id {
	int32_t pid;   /* the process, by its PID in the image */
	uint32_t next; /* its counter, 0..INT_MAX */
};

struct bm_next_wd {
	int32_t pid;   /* the process, by its PID in the image */
	int32_t fd;    /* its descriptor of the instance */
	uint32_t next; /* the number its next watch gets, 1..INT_MAX */
};

/* What only the original about to be terminated shows, which CONFIRM
 * carries: the timer id counters, and the inotify instances' next watch
 * numbers (inotify_next_wd.h). */
struct bm_next_ids {
	uint32_t n;
	struct bm_next_id id[BM_NEXT_IDS_MAX];
	uint32_t nwd;
	struct bm_next_wd wd[BM_NEXT_WDS_MAX];
};

/* Source, once the destination holds the process and before CONFIRM:
 * reads the counter of every process of F into IDS, deleting their
 * timers.  The threads are parked again afterwards.  -EAGAIN after
 * reporting when binmig failed to run a call before any process's timers
 * changed: they are all as they were, and the migration must fail (the
 * original resumes).  A failure after that cannot be undone, and a call
 * the kernel refuses would be refused again: that process is left out,
 * with a warning (its copy then continues after its newest timer), and 0
 * is returned. */
int bm_timers_take_next_ids(struct bm_frozen *f, struct bm_next_ids *ids);

/* CONFIRM's payload: u32 n, then n × (i32 pid, u32 next); then, where
 * there are any, u32 nwd and nwd × (i32 pid, i32 fd, u32 next).  encode
 * returns the length (BUF holds BM_NEXT_IDS_MAX_BYTES); decode -EPROTO for
 * a payload of another shape, a counter above INT_MAX, a PID twice among
 * the counters, a watch number out of 1..INT_MAX or a descriptor twice. */
size_t bm_next_ids_encode(const struct bm_next_ids *ids, uint8_t *buf);
int bm_next_ids_decode(const uint8_t *buf, size_t len, struct bm_next_ids *ids);

/* Adds to IDS what the image of P holds and IDS lacks: the counter and
 * the watch numbers the dump read (kstate.h).  What CONFIRM carries wins,
 * read later in the same frozen process. */
void bm_next_ids_add_image(const struct bm_process *p, struct bm_next_ids *ids);

/* Whether IDS holds a number for P other than its restore leaves, which
 * the restore then sets (bm_timers_set_next_id, bm_inotify_set_next_wds). */
bool bm_next_ids_to_set(const struct bm_process *p, const struct bm_next_ids *ids);

/* The counter a restore of P leaves: after its newest timer, or 0. */
uint32_t bm_timers_restored_next_id(const struct bm_process *p);

/* Destination, while the restored process P (leader TR, parked) is held:
 * sets its counter to the one IDS has for it, if any.  The leader is
 * parked again, its registers and signal mask as they were.  A failure is
 * only warned about: the process must run. */
void bm_timers_set_next_id(struct bm_tracee *tr, const struct bm_process *p, const struct bm_next_ids *ids);

#endif
