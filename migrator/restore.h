/* The destination side: rebuild a process from an image, with the same
 * PID, memory, registers, files and signal state, and let it run. */
#ifndef BINMIG_RESTORE_H
#define BINMIG_RESTORE_H

#include <sys/types.h>

#include "image.h"
#include "memory.h"
#include "ptrace_ctl.h"
#include "stats.h"

struct bm_next_ids; /* timers_next_id.h */

/* Called once the whole image has been read and checked, before the
 * process is let run: a last chance to refuse (e.g. the transport's own
 * end-of-stream check).  Returns 0 or negative after reporting. */
struct bm_restore_hook {
	int (*before_run)(void *ctx);
	void *ctx;
	/* May be NULL: called once the image's pages are written into the new
	 * process PID (pre-copy adds the pages it sent before the image). */
	int (*after_pages)(void *ctx, pid_t pid);
	/* May be NULL: called once the process (the whole tree) is complete,
	 * its registers loaded and every thread parked (bm_park), with the
	 * phase times in the restore's stats.  Returns 0 to let it run, or
	 * negative after reporting to have it killed.  From the call on, a
	 * binmig that dies lets it run.  serve sends RESULT here and waits
	 * for the source's CONFIRM (docs/protocol.md §7), whose timer id
	 * counters it puts in IDS (none from an older source). */
	int (*hold)(void *ctx, pid_t pid, struct bm_next_ids *ids);
	/* May be empty: memory binmig holds at the addresses the process will
	 * have it, sorted (pre-copy's store).  The new process keeps it where
	 * restore_inplace.h allows, so its contents must be final but for the
	 * image's pages.  adopted (may be NULL) is then called with the parts
	 * the new process took, right after it is created: binmig can unmap
	 * its own, and must no longer count on them. */
	const struct bm_range *premapped;
	size_t npremapped;
	void (*adopted)(void *ctx, const struct bm_range *r, size_t n);
	/* May be NULL: called once the memory and the descriptors are
	 * complete, while binmig may still run system calls in the leader
	 * (tr) with its own credentials.  Post-copy makes its userfaultfd
	 * here. */
	int (*memory_done)(void *ctx, pid_t pid, struct bm_tracee *tr);
};

/* Reads the image from the reader (header already checked), recreates the
 * process and detaches from it.  On success *pid is the running process.
 * On failure nothing is left behind: a half-built process is killed.
 * hook may be NULL. */
int bm_restore(struct bm_image_reader *r, const struct bm_restore_hook *hook, pid_t *pid, struct bm_stats *st);

#endif
