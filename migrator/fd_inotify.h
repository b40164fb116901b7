/* inotify instances, both directions.
 *
 * An instance is its watches: watch descriptor, event mask and the watched
 * file, which fdinfo names by file handle; the dump turns each handle into
 * a path (open_by_handle_at on the file system's mount), and the restore
 * watches those paths again, in watch-descriptor order, so that every
 * watch gets its number back (numbers skipped at the source are taken
 * and given back with watches on "/", whose IN_IGNORED events are read
 * away before the process runs).  Refused: events queued and not yet read
 * (reading them would take them from the process), a watched file that
 * has no name left or cannot be found by its handle. */
#ifndef BINMIG_FD_INOTIFY_H
#define BINMIG_FD_INOTIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <sys/ioctl.h>

#include "state.h"

/* Sets an instance's next watch number (linux/inotify.h, which clashes
 * with sys/inotify.h; CONFIG_CHECKPOINT_RESTORE). */
#define BM_INOTIFY_IOC_SETNEXTWD _IOW('I', 0, int32_t)

/* One watch as fdinfo shows it. */
struct bm_inotify_line {
	int32_t wd;
	uint32_t mask;
	uint64_t ino;
	uint32_t sdev;               /* the kernel's dev_t: major << 20 | minor */
	uint32_t handle_type;
	uint32_t handle_bytes;
	uint8_t handle[128];
};

/* The watches in an inotify fdinfo text; *w is malloc'd (NULL when there
 * are none).  -EINVAL when the text is not what the kernel writes. */
int bm_parse_inotify_watches(const char *fdinfo, struct bm_inotify_line **w, size_t *n);

/* At dump, once every descriptor of p is described (those whose link is
 * "anon_inode:inotify" as BM_FD_INOTIFY): stores each instance's watches
 * with their paths, or refuses. */
int bm_inotify_collect(pid_t pid, struct bm_process *p);

/* Watch I of descriptor D (an inotify instance): its number, mask and
 * path (pointing into D's data, not NUL-terminated: *len bytes). */
struct bm_inotify_watch {
	int32_t wd;
	uint32_t mask;
	const char *path;
	uint32_t len;
};
/* Walks D's watches: returns the number of watches, or -1 when the data
 * is malformed; fills w[0..max) when w is not NULL. */
int bm_inotify_watches(const struct bm_fd *d, struct bm_inotify_watch *w, uint32_t max);

/* The number a restore of D leaves its next watch: after its newest
 * watch, or 1 (D checked by bm_inotify_check). */
uint32_t bm_inotify_restored_next_wd(const struct bm_fd *d);

/* Image rules: watches well formed, numbers positive and rising, paths
 * absolute.  false with the reason in why. */
bool bm_inotify_check(const struct bm_fd *fds, uint32_t nfds, char *why, size_t n);

/* Inside the new process (system calls only): the instance of D, with its
 * watches if WATCHES (else bm_inotify_watch_again adds them later), or -1
 * with the reason in err. */
int bm_inotify_open(const struct bm_fd *d, bool watches, char *err, size_t errlen);

/* Adds the watches of D again to its new instance FD, once every other
 * descriptor of the process is rebuilt: what the restore does to the
 * watched files (unlinked files and socket files made again, FIFOs and
 * files reopened) must queue no event.  0, or -1 with the reason in err. */
int bm_inotify_watch_again(const struct bm_fd *d, int fd, char *err, size_t errlen);

#endif
