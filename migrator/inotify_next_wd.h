/* The number the next inotify_add_watch of an instance hands out, carried
 * by a migration.
 *
 * The kernel keeps a cursor per instance and gives a new watch the first
 * free number from it.  Nothing shows the cursor, and only adding a watch
 * reads it, which moves it on: so, as the next timer id
 * (timers_next_id.h), it is read only after a migration's point of no
 * return, in the original about to be terminated.  A watch added there,
 * on a directory the instance does not watch yet (IN_MASK_CREATE), gets
 * the number a new watch of the process would have got.  It travels in
 * CONFIRM (docs/protocol.md §3.2), and the destination, which holds its
 * copy until then, sets it (INOTIFY_IOC_SETNEXTWD, which queues no event)
 * before letting the copy run.
 *
 * Nothing here fails a migration: the original never runs again, and a
 * number not read or not set is warned of, the copy then continuing after
 * its newest watch, as after a dump and restore (docs/process-state.md). */
#ifndef BINMIG_INOTIFY_NEXT_WD_H
#define BINMIG_INOTIFY_NEXT_WD_H

#include "checkpoint.h"
#include "ptrace_ctl.h"
#include "state.h"
#include "timers_next_id.h"
#include "wire.h"

/* Source, once the destination holds the process and before CONFIRM:
 * appends to IDS->wd the next watch number of every inotify instance of
 * F's processes, each instance once, through the first descriptor that
 * holds it.  The threads are parked again afterwards. */
void bm_inotify_take_next_wds(struct bm_frozen *f, struct bm_next_ids *ids);

/* Destination, while the restored process P (leader TR, parked) is held:
 * sets the next watch number of each of its instances IDS has a number
 * for, where the restore left another.  Warnings only: the process must
 * run. */
void bm_inotify_set_next_wds(struct bm_tracee *tr, const struct bm_process *p, const struct bm_next_ids *ids);

/* The end of the image's FDS section (version 14): the next watch numbers
 * the dump read (bm_fd.next_wd, kstate.h), as u32 n, then n × (i32 fd,
 * u32 next) in rising descriptor order, each an instance's first
 * descriptor.  decode fails C on anything else. */
void bm_inotify_next_wds_encode(struct bm_wbuf *b, const struct bm_process *p);
void bm_inotify_next_wds_decode(struct bm_rcur *c, struct bm_process *p);

#endif
