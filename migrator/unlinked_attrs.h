/* What an unlinked file (held, mapped only, or a memfd) carries besides
 * its contents, holes, size, mode, owner and mtime (image version 11):
 * its access time, its extended attributes, its inode flags (chattr) and
 * the space reserved past its end (fallocate with FALLOC_FL_KEEP_SIZE).
 *
 * At dump they are read through the descriptor that reads the contents
 * (opened with O_NOATIME, so that the dump leaves the access time as it
 * was).  At restore the reservation and the extended attributes are made
 * with the file, after its contents, owner and mode, inside the new
 * process; the access and modification times, then the inode flags,
 * once every descriptor of the file is open (an immutable or append-only
 * file could not be opened for writing); the mappings are made from
 * descriptors opened with O_NOATIME, which leave the access time.  A
 * shared mapping of an append-only file through a descriptor open for
 * writing cannot be made again (mmap refuses it) and is refused at dump.  What cannot be
 * read, or told apart exactly, is refused at dump (BM_EXIT_UNSUPPORTED);
 * what the destination cannot set fails the restore (BM_EXIT_CONFLICT). */
#ifndef BINMIG_UNLINKED_ATTRS_H
#define BINMIG_UNLINKED_ATTRS_H

#include <stddef.h>
#include <stdint.h>
#include <linux/fs.h>
#include <sys/stat.h>
#include <time.h>

#include "state.h"
#include "wire.h"

/* The most extended attributes an unlinked file may have, and the most
 * bytes of names and values together. */
#define BM_XATTR_MAX_COUNT 64u
#define BM_XATTR_MAX_BYTES (256u << 10)
#define BM_XATTR_MAX_VALUE 65536u /* the kernel's own limit */
/* The most ranges reserved past the end, and their most bytes. */
#define BM_RESERVED_MAX_RANGES 256u
#define BM_RESERVED_MAX_BYTES (64u << 20)

/* The inode flags carried: those chattr sets (secure deletion, undelete,
 * compression, sync, immutable, append-only, nodump, noatime, nocomp,
 * data journaling, notail, dirsync, topdir, nocow, dax, project
 * inheritance).  The others (extents, inline data, ...) are the file
 * system's own record of how it stores the file. */
#define BM_IFLAGS_CARRIED                                                                                    \
	(FS_SECRM_FL | FS_UNRM_FL | FS_COMPR_FL | FS_SYNC_FL | FS_IMMUTABLE_FL | FS_APPEND_FL | FS_NODUMP_FL |  \
	 FS_NOATIME_FL | FS_NOCOMP_FL | FS_JOURNAL_DATA_FL | FS_NOTAIL_FL | FS_DIRSYNC_FL | FS_TOPDIR_FL |        \
	 FS_NOCOW_FL | FS_DAX_FL | FS_PROJINHERIT_FL)

/* Dump: the attributes of FD (the unlinked file WHAT, whose status is ST,
 * whose data extents within its size are HOLES) into *out (known set).
 * 0, or -1 with the refusal logged. */
int bm_file_attrs_read(int fd, const struct stat *st, const struct bm_holes *holes, const char *what,
		       struct bm_file_attrs *out);

/* Restore, in the new process (system calls only): the reservation and
 * the extended attributes of A on FD, the file just made with its
 * contents, owner and mode (extended attributes it got by itself and A
 * has not are removed).  0, or -1 with errno. */
int bm_file_attrs_make(int fd, const struct bm_file_attrs *a);

/* Restore, in the new process (system calls only), once its descriptors
 * and the files its mappings are made from are open, before anything
 * watches (inotify) and before the mappings are made (from descriptors
 * opened with O_NOATIME): the access time of A and MTIME_NS, then A's
 * inode flags, on FD, an open descriptor of the file.  Nothing when A is
 * not known; nothing that is so already.  0, or -1 with the reason
 * ("cannot ...: strerror") in err. */
int bm_file_attrs_finish(int fd, const struct bm_file_attrs *a, int64_t mtime_ns, char *err, size_t errlen);

/* A time in nanoseconds since the epoch as futimens takes it (tv_nsec in
 * [0, 1e9), also before 1970). */
struct timespec bm_ns_timespec(int64_t ns);

/* The image encoding, after the entry it belongs to: u32 known (0 or 1),
 * then i64 atime, u32 inode flags, u32 count, count × (string name, u32
 * length, bytes), u32 ranges, ranges × (u64 start, u64 end), ascending,
 * at or past SIZE.  The decoder checks the limits. */
void bm_file_attrs_encode(struct bm_wbuf *b, const struct bm_file_attrs *a);
void bm_file_attrs_decode(struct bm_rcur *c, uint64_t size, struct bm_file_attrs *a);

#endif
