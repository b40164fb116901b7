/* File locks a process holds: POSIX record locks (fcntl F_SETLK), open
 * file description locks (F_OFD_SETLK) and flock() locks, both
 * directions.
 *
 * At dump the locks are read from /proc/PID/fdinfo/N ("lock:" lines: the
 * kernel lists there the locks of that open file that this process owns,
 * a POSIX lock on the descriptor it was taken through), once per open
 * file description, while the process is stopped.  A lease, a lock on a
 * file of a kind binmig reopens otherwise (FIFO, device, socket) or more
 * than BM_MAX_FILE_LOCKS locks are refused.
 *
 * At dump they are then put in the order of each file's list in the
 * kernel (file_lock_order.h).  At restore the new process takes each lock
 * again on the same descriptor, in that order, without waiting: when another process holds a conflicting
 * lock the restore fails (exit 6) naming it, and a migration's source
 * resumes.
 *
 * A migration between hosts that see the same files (a shared file
 * system; the emulated hosts share this machine's) must let the
 * destination take what the source holds: the source releases its locks
 * (system calls injected into the frozen process) before any of the
 * image leaves, and takes them back if the migration fails.  Should
 * another process have taken one in between, the source cannot be the
 * same process again: it is left stopped (SIGSTOP) and the message says
 * which lock was lost. */
#ifndef BINMIG_FILE_LOCKS_H
#define BINMIG_FILE_LOCKS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "state.h"
#include "wire.h"

#define BM_MAX_FILE_LOCKS 4096u

enum bm_lock_kind {
	BM_LOCK_POSIX = 1, /* fcntl F_SETLK: owned by the process */
	BM_LOCK_OFD = 2,   /* fcntl F_OFD_SETLK: owned by the open file description */
	BM_LOCK_FLOCK = 3, /* flock(): owned by the open file description, whole file */
};

struct bm_file_lock {
	int32_t fd;     /* the descriptor it is taken through (the first of its open file description) */
	uint32_t kind;  /* enum bm_lock_kind */
	uint32_t write; /* 1 for a write (exclusive) lock, 0 for a read (shared) one */
	int64_t start;  /* first byte (0 for flock) */
	int64_t len;    /* bytes, 0 for "to the end of the file, however far it grows" (always 0 for flock) */
	int32_t shown_pid; /* at dump only, not in the image: the PID fdinfo shows for it (for a flock or
			      OFD lock the process that took it, 0 when that one is gone; -1 for an OFD
			      lock on kernels that hide it) */
	uint32_t by_standin; /* image version 17: 1 for a flock or OFD lock whose taker had exited, taken
				again by a stand-in (below), 0 for one the process takes itself */
	int32_t standin_pid; /* with by_standin: the PID the stand-in is made with where it is free (the
				exited taker's, as the dump saw it), 0 for any (the dump saw 0: /proc
				shows a taker whose PID is free as 0 outside the first PID namespace) */
	uint32_t order; /* image version 19: 1 + where its owner's first lock is in its file's list of POSIX
			   and OFD locks at dump (file_lock_order.h), which orders a tree's locks across
			   its members; 0: not read, or a flock */
	int32_t through_pid; /* image version 20: 0, or for a flock this tree member took through an open
				file description it no longer holds, the member whose descriptor fd is (one
				of the descriptions the tree shares, which every member inherits for a
				moment at the restore: it takes the lock through that copy) */
};

/* Parses the value of one fdinfo "lock:" line ("1: POSIX  ADVISORY  WRITE
 * 4711 fe:00:1234 0 EOF") into *out (fd left as it is).  0; -ENOTSUP for a
 * lease, delegation or other kind binmig does not take again (its name in
 * what); -EINVAL for a line it cannot read. */
int bm_lock_parse(const char *value, struct bm_file_lock *out, char *what, size_t what_len);

/* A flock or OFD lock belongs to its open file description, and /proc
 * shows the PID of the process that took it: one that has exited since
 * (0 once the PID is free, outside the first PID namespace), or one still
 * there that has closed its descriptors of the description (a parent
 * that locked a file before handing it to its child, say).  Such a lock
 * is taken again by a stand-in: a child made for it, with the taker's
 * PID where it is free (clone3 set_tid; any PID where that one is taken
 * or was not shown), which takes the lock through the same open file
 * description and exits, reaped at once.  /proc then shows the gone
 * stand-in as it showed the taker.  The restore does so in the new
 * process; a migration's source, taking its locks back after a failure,
 * through a copy of the descriptor (pidfd_getfd). */

/* Describes a lock for messages: "POSIX write lock on bytes 0-99". */
void bm_lock_describe(const struct bm_file_lock *l, char *buf, size_t len);

/* At dump, the process stopped and its descriptors described: reads the
 * locks it holds into p->locks, or refuses (BM_EXIT_UNSUPPORTED) those it
 * cannot take again.  A flock or OFD lock that /proc shows another
 * process took (0 for one gone) is marked to be taken by a stand-in. */
int bm_locks_collect(pid_t pid, struct bm_process *p);

/* At dump of a tree, once every member's locks are read: a flock or OFD
 * lock belongs to its open file description, so every member holding the
 * description lists it, and /proc shows the PID of the one that took it.
 * The lock is left in that member's list only, so that the restore takes
 * it there and /proc shows the same PID.  When the taker is not a
 * member, the lock stays in every list, marked for a stand-in (the member
 * restored first has it taken; for the others the description holds it
 * already).  When the taker is a member that no longer holds the
 * description, a flock goes to the taker's list as taken through the
 * first holder's descriptor (through_pid), and tree_freeze.c shares that
 * description in the tree, so that the taker gets a copy at the restore;
 * an OFD lock (where the kernel shows its taker: 6.18 shows -1), or a taker
 * whose descriptor table another member shares, stays in every list, not
 * marked (the member restored first takes it: README).  Refuses
 * (BM_EXIT_UNSUPPORTED) a lock taken by a member that shares the
 * descriptor table of the one that lists it (the restore takes locks in
 * the table's owner). */
int bm_locks_keep_takers(struct bm_process *const *procs, size_t n);

/* Takes lock l (flock or OFD) through fd in a stand-in with PID
 * l->standin_pid where that is free, else any (above).  0 or -errno: the
 * error of the lock call, or of making or reaping the stand-in (or its
 * death by a signal), which sets *standin_failed (when not NULL). */
int bm_lock_by_standin(int fd, const struct bm_file_lock *l, bool *standin_failed);

/* The LOCKS image section (version 4; version 17 adds by_standin and
 * standin_pid to each lock, version 19 its order, version 20 its
 * through_pid).  The encoder refuses (-EINVAL, the reason in why) what
 * the decoder would reject: a lock on a descriptor that is not the first
 * of its open file, or whose kind cannot be locked (but a flock through
 * another member's descriptor, whose description tree_restore.c checks
 * the tree shares), a bad kind
 * or range, an order on a flock lock, and locks whose orders go down
 * (those not 0). */
int bm_encode_locks(struct bm_wbuf *b, const struct bm_process *p, char *why, size_t why_size);
void bm_decode_locks(struct bm_rcur *c, struct bm_process *p);

/* Inside the new process (system calls only), its descriptors in place:
 * takes every lock again, in the order of p->locks; a tree's member,
 * each lock with a turn at it (TURNS, file_lock_order.h; NULL: none)
 * once that turn has come.  0, or -1 with the reason in err.  Not the
 * locks taken through another member's descriptor: bm_lock_take_through
 * takes those while the member holds the tree's shared descriptions. */
struct bm_lock_turns;
int bm_locks_take(const struct bm_process *p, const struct bm_lock_turns *turns, char *err, size_t errlen);

/* Inside a tree's new member (system calls only): takes flock l of p,
 * which p took through the open file description it inherited at fd
 * (l->through_pid's, of the file at path).  0, or -1 with the reason in
 * err. */
int bm_lock_take_through(const struct bm_process *p, const struct bm_file_lock *l, int fd, const char *path, char *err,
			 size_t errlen);

/* A single process's image (not a tree's) has no lock taken through
 * another member's descriptor: 0, or BM_EXIT_IMAGE after reporting. */
int bm_locks_check_alone(const struct bm_process *p);

/* Source side of a migration, on a frozen process or tree (checkpoint.h):
 * releases every lock it holds, so that the destination can take them,
 * and after a failed migration takes them back.  When one cannot be
 * taken back, every process of f is queued a SIGSTOP (it stays stopped
 * when released) and the lock is named; -EAGAIN then. */
struct bm_frozen;
int bm_locks_release(struct bm_frozen *f);
int bm_locks_take_back(struct bm_frozen *f);

#endif
