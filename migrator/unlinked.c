/* Unlinked files, FIFOs and directories (unlinked.h). */
#include "unlinked.h"
#include "unlinked_attrs.h"
#include "unlinked_holes.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/magic.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "fd_policy.h"
#include "files.h"
#include "log.h"
#include "shmem.h"
#include "wire.h"

/* --- dump --------------------------------------------------------------- */

/* The directory part of PATH in dir (the root for "/x"). */
static void parent_of(const char *path, char *dir, size_t len)
{
	snprintf(dir, len, "%s", path);
	char *slash = strrchr(dir, '/');
	if (slash == dir)
		slash[1] = 0;
	else if (slash)
		*slash = 0;
}

bool bm_unlinked_is_removed(const char *link)
{
	struct stat st;
	return stat(link, &st) == 0 && st.st_nlink == 0;
}

#define SECRETMEM_MAGIC_ 0x5345434d /* "SECM", linux/magic.h */

bool bm_unlinked_is_memfd(const char *link, const char *path)
{
	struct statfs fs;
	return strncmp(path, "/memfd:", 7) == 0 && statfs(link, &fs) == 0 &&
	       (fs.f_type == TMPFS_MAGIC || fs.f_type == HUGETLBFS_MAGIC);
}

bool bm_unlinked_is_secret(const char *link)
{
	struct statfs fs;
	return statfs(link, &fs) == 0 && fs.f_type == SECRETMEM_MAGIC_;
}

bool bm_unlinked_memfd_valid(uint32_t memfd, const char *path)
{
	return !memfd || (!(memfd & ~(BM_UNLINKED_MEMFD | BM_UNLINKED_SEALS)) && (memfd & BM_UNLINKED_MEMFD) &&
			  strncmp(path, "/memfd:", 7) == 0);
}

int bm_unlinked_memfd_seals(const char *link, const char *what, uint32_t *memfd)
{
	struct statfs fs;
	if (statfs(link, &fs) == 0 && fs.f_type == HUGETLBFS_MAGIC)
		return bm_error(BM_EXIT_UNSUPPORTED, "%s is a memfd on huge pages (MFD_HUGETLB), which binmig does not "
				"carry", what);
	int own = open(link, O_RDONLY | O_CLOEXEC);
	int seals = own < 0 ? -1 : fcntl(own, F_GET_SEALS);
	int e = errno;
	if (own >= 0)
		close(own);
	if (seals < 0)
		return bm_error_errno(BM_EXIT_TARGET, e, "cannot read the seals of %s", what);
	if ((uint32_t)seals & ~BM_UNLINKED_SEALS)
		return bm_error(BM_EXIT_UNSUPPORTED, "%s is a memfd with seals %#x, which binmig does not know", what,
				seals);
	*memfd = BM_UNLINKED_MEMFD | (uint32_t)seals;
	return 0;
}

/* A memfd: an unlinked file made again with memfd_create, sealed as it was. */
static int describe_memfd(pid_t pid, int fd, const char *path, const char *proc, const struct stat *st,
			  struct bm_fd *out)
{
	char link[PATH_MAX + 16], what[PATH_MAX + 64];
	snprintf(link, sizeof link, "%s (deleted)", path);
	if ((uint64_t)st->st_size > BM_UNLINKED_MAX_BYTES)
		return bm_fd_refuse(pid, fd, link, st->st_mode, ", a memfd larger than the 64 MiB an image carries");
	snprintf(what, sizeof what, "fd %d of process %d (%s)", fd, pid, link);
	int rc = bm_unlinked_memfd_seals(proc, what, &out->object_flags);
	if (rc < 0)
		return rc;
	out->kind = BM_FD_UNLINKED_FILE;
	out->object_id = st->st_ino;
	out->file = (struct bm_file_id){st->st_dev, st->st_ino, (uint64_t)st->st_size,
					(int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec};
	out->path = strdup(path);
	return out->path ? 0 : bm_error(BM_EXIT_FAILURE, "out of memory");
}

int bm_unlinked_describe(pid_t pid, int fd, const char *path, const struct stat *st, struct bm_fd *out)
{
	char link[PATH_MAX + 16], proc[64];
	snprintf(link, sizeof link, "%s (deleted)", path);
	snprintf(proc, sizeof proc, "/proc/%d/fd/%d", pid, fd);
	if (bm_unlinked_is_memfd(proc, path))
		return describe_memfd(pid, fd, path, proc, st, out);
	if (bm_shmem_is_anon_file(proc, path))
		return bm_fd_refuse(pid, fd, link, st->st_mode, ", the object of shared anonymous memory (opened through "
				    "/proc/PID/map_files), which binmig cannot tie to that memory again");
	if (bm_unlinked_is_secret(proc))
		return bm_fd_refuse(pid, fd, link, st->st_mode, ", secret memory (memfd_secret), whose contents the kernel "
				    "shows to nobody but the process");
	if (!S_ISREG(st->st_mode) && !S_ISFIFO(st->st_mode) && !S_ISDIR(st->st_mode))
		return bm_fd_refuse(pid, fd, link, st->st_mode, ", which was deleted");
	if (st->st_nlink > 0)
		return bm_fd_refuse(pid, fd, link, st->st_mode, ", whose name was removed while other hard links to it "
				    "remain, which binmig cannot name");
	if (S_ISREG(st->st_mode) && (uint64_t)st->st_size > BM_UNLINKED_MAX_BYTES)
		return bm_fd_refuse(pid, fd, link, st->st_mode, ", an unlinked file larger than the 64 MiB an image carries");
	if (S_ISFIFO(st->st_mode) && (out->flags & O_ACCMODE) != O_RDONLY)
		return bm_fd_refuse(pid, fd, link, st->st_mode, " open for writing, and only read ends are reopened");
	/* It is made again in its directory, which must still be there. */
	char dir[PATH_MAX];
	struct stat ds;
	parent_of(path, dir, sizeof dir);
	if (stat(dir, &ds) < 0 || !S_ISDIR(ds.st_mode))
		return bm_fd_refuse(pid, fd, link, st->st_mode, ", whose directory was removed too, so that binmig has "
				    "nowhere to make it again");
	out->kind = S_ISREG(st->st_mode) ? BM_FD_UNLINKED_FILE : S_ISFIFO(st->st_mode) ? BM_FD_UNLINKED_FIFO
										       : BM_FD_UNLINKED_DIR;
	out->object_id = st->st_ino;
	out->file = (struct bm_file_id){st->st_dev, st->st_ino, (uint64_t)st->st_size,
					(int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec};
	out->path = strdup(path);
	return out->path ? 0 : bm_error(BM_EXIT_FAILURE, "out of memory");
}

/* The first descriptor of p (before index) on the same unlinked object as
 * p->fds[index], or NULL. */
static const struct bm_fd *earlier_of_same(const struct bm_process *p, uint32_t index)
{
	const struct bm_fd *d = &p->fds[index];
	for (uint32_t j = 0; j < index; j++) {
		const struct bm_fd *e = &p->fds[j];
		if (e->kind == d->kind && e->object_id == d->object_id && e->file.dev == d->file.dev)
			return e;
	}
	return NULL;
}

/* SIZE bytes of the file mapped at MAP into BUF: copied with
 * process_vm_readv, which answers a page the file no longer has (cut
 * short meanwhile by another holder) with a short count, not SIGBUS. */
static int copy_mapped(const uint8_t *map, uint8_t *buf, size_t size)
{
	size_t got = 0;
	while (got < size) {
		struct iovec to = {buf + got, size - got}, from = {(void *)(map + got), size - got};
		ssize_t n = process_vm_readv(getpid(), &to, 1, &from, 1, 0);
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		got += (size_t)n;
	}
	return 0;
}

/* The file open at FD (ST its status): holes, attributes, then contents,
 * read with pread, or through a mapping where MAPPED and the data extents
 * are known (no event for an inotify or fanotify watch, as a read would
 * queue IN_ACCESS). */
static int read_open_file(int fd, const struct stat *st, bool mapped, const char *what, uint8_t **data,
			  struct bm_holes *holes, struct bm_file_attrs *attrs)
{
	int rc = (uint64_t)st->st_size > BM_UNLINKED_MAX_BYTES
			 ? bm_error(BM_EXIT_UNSUPPORTED, "%s grew beyond the 64 MiB an image carries", what)
			 : 0;
	size_t size = rc == 0 ? (size_t)st->st_size : 0;
	/* Holes and attributes before the contents: reading space reserved
	 * but unwritten would put pages in the cache that SEEK_DATA takes for
	 * data. */
	int err = rc == 0 ? bm_holes_read(fd, size, holes) : 0;
	if (err < 0)
		rc = bm_error_errno(BM_EXIT_TARGET, -err, "cannot find the holes of %s", what);
	if (rc == 0)
		rc = bm_file_attrs_read(fd, st, holes, what, attrs);
	uint8_t *buf = rc == 0 && size ? malloc(size) : NULL;
	if (rc == 0 && size && !buf)
		rc = bm_error(BM_EXIT_FAILURE, "out of memory");
	/* Only the data through a mapping: a fault in a hole of a memory
	 * file system's file would fill it. */
	mapped = mapped && holes->known;
	if (rc == 0 && size && mapped) {
		uint8_t *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
		err = map == MAP_FAILED ? -errno : 0;
		memset(buf, 0, size);
		for (uint32_t i = 0; err == 0 && i < holes->n; i++) {
			uint64_t end = holes->x[i].end < size ? holes->x[i].end : size;
			if (holes->x[i].start < end)
				err = copy_mapped(map + holes->x[i].start, buf + holes->x[i].start, end - holes->x[i].start);
		}
		if (map != MAP_FAILED)
			munmap(map, size);
		if (err < 0)
			rc = bm_error_errno(BM_EXIT_TARGET, -err, "cannot read %s", what);
	}
	for (size_t got = 0; rc == 0 && !mapped && got < size;) {
		ssize_t n = pread(fd, buf + got, size - got, (off_t)got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			rc = bm_error_errno(BM_EXIT_TARGET, n < 0 ? errno : EIO, "cannot read %s", what);
		else
			got += (size_t)n;
	}
	if (rc < 0) {
		bm_holes_free(holes);
		bm_file_attrs_free(attrs);
		free(buf);
		return rc;
	}
	*data = buf;
	return 0;
}

static void file_id_of(const struct stat *st, struct bm_file_id *id)
{
	*id = (struct bm_file_id){st->st_dev, st->st_ino, (uint64_t)st->st_size,
				  (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec};
}

int bm_unlinked_read(const char *link, const char *what, uint8_t **data, struct bm_file_id *id, struct bm_holes *holes,
		     struct bm_file_attrs *attrs)
{
	*holes = (struct bm_holes){0};
	*attrs = (struct bm_file_attrs){0};
	/* Without O_NOATIME the reading would change the access time. */
	int fd = open(link, O_RDONLY | O_CLOEXEC | O_NOATIME);
	if (fd < 0 && errno == EPERM)
		return bm_error(BM_EXIT_UNSUPPORTED, "binmig may not read %s without changing its access time (O_NOATIME "
				"needs its owner or CAP_FOWNER)", what);
	if (fd < 0)
		return bm_error_errno(BM_EXIT_TARGET, errno, "cannot open %s", what);
	struct stat st;
	int rc = fstat(fd, &st) < 0 ? bm_error_errno(BM_EXIT_TARGET, errno, "cannot stat %s", what)
				    : read_open_file(fd, &st, false, what, data, holes, attrs);
	close(fd);
	if (rc == 0)
		file_id_of(&st, id);
	return rc;
}

/* The unlinked file of descriptor FD of PID, read through a copy of the
 * process's own open file (pidfd_getfd) rather than one binmig opens, and
 * through a mapping: an inotify watch of the process on the file or its
 * directory sees no open, access or close, which a process left running
 * (--leave-running, a failed dump) would find queued.  The open file gets
 * O_NOATIME for the while (a mapping sets the access time otherwise) and
 * its offset back (SEEK_DATA moves it).  1 where the copy cannot serve (a
 * file open for writing only): then the caller opens it. */
static int read_held(pid_t pid, int fd, const char *what, uint8_t **data, struct bm_file_id *id,
		     struct bm_holes *holes, struct bm_file_attrs *attrs)
{
	*holes = (struct bm_holes){0};
	*attrs = (struct bm_file_attrs){0};
	int copy = bm_fd_copy(pid, fd);
	if (copy < 0)
		return bm_error_errno(BM_EXIT_TARGET, errno, "cannot take a copy of %s", what);
	int flags = fcntl(copy, F_GETFL);
	off_t at = lseek(copy, 0, SEEK_CUR);
	struct stat st;
	int rc = 1;
	if (flags >= 0 && (flags & O_ACCMODE) != O_WRONLY && at >= 0) {
		rc = fstat(copy, &st) < 0 ? bm_error_errno(BM_EXIT_TARGET, errno, "cannot stat %s", what) : 0;
		if (rc == 0 && !(flags & O_NOATIME) && fcntl(copy, F_SETFL, flags | O_NOATIME) < 0)
			rc = errno == EPERM ? bm_error(BM_EXIT_UNSUPPORTED, "binmig may not read %s without changing its "
						       "access time (O_NOATIME needs its owner or CAP_FOWNER)", what)
					    : bm_error_errno(BM_EXIT_TARGET, errno, "cannot read %s", what);
		else if (rc == 0)
			rc = read_open_file(copy, &st, true, what, data, holes, attrs);
		/* Both put back, whichever fails: the process's open file. */
		int undo = (flags & O_NOATIME) || fcntl(copy, F_SETFL, flags) == 0 ? 0 : errno;
		if (lseek(copy, at, SEEK_SET) != at)
			undo = errno ? errno : EIO;
		if (undo && rc == 0) {
			rc = bm_error_errno(BM_EXIT_TARGET, undo, "cannot put back the flags and offset of %s", what);
			free(*data);
			bm_holes_free(holes);
			bm_file_attrs_free(attrs);
		}
	}
	close(copy); /* a copy: the process's own stays open, and no close is reported */
	if (rc == 0)
		file_id_of(&st, id);
	return rc;
}

static int read_contents(pid_t pid, struct bm_fd *d)
{
	char link[64], what[PATH_MAX + 64];
	snprintf(link, sizeof link, "/proc/%d/fd/%d", pid, d->fd);
	snprintf(what, sizeof what, "the unlinked file %s of fd %d of process %d", d->path, d->fd, pid);
	struct bm_file_id id;
	int rc = read_held(pid, d->fd, what, &d->data, &id, &d->holes, &d->attrs);
	if (rc == 1)
		rc = bm_unlinked_read(link, what, &d->data, &id, &d->holes, &d->attrs);
	if (rc < 0)
		return rc;
	d->data_len = (uint32_t)id.size;
	d->file.size = id.size;
	d->file.mtime_ns = id.mtime_ns;
	return 0;
}

/* A removed cwd and a removed directory held open under the same name are
 * one directory again at restore (bm_unlinked_chdir); two directories of
 * that name are refused. */
static int check_cwd_held(pid_t pid, const struct bm_process *p)
{
	char link[64];
	snprintf(link, sizeof link, "/proc/%d/cwd", pid);
	struct stat cwd;
	if (!p->cwd_removed || stat(link, &cwd) < 0)
		return 0; /* not removed, or gone: the cwd's own reading speaks */
	for (uint32_t i = 0; i < p->nfds; i++) {
		const struct bm_fd *d = &p->fds[i];
		if (d->kind == BM_FD_UNLINKED_DIR && strcmp(d->path, p->cwd) == 0 &&
		    (d->file.dev != cwd.st_dev || d->file.ino != cwd.st_ino))
			return bm_error(BM_EXIT_UNSUPPORTED, "process %d works in the removed directory %s and holds (fd %d) "
					"another removed directory of that name, which binmig would make one; binmig cannot "
					"migrate it", pid, p->cwd, d->fd);
	}
	return 0;
}

/* The restore makes an unlinked file through its lowest descriptor, and
 * only the open that makes a file can say O_TMPFILE: one opened with it
 * above another open of the file without it would lose the flag. */
static int refuse_tmpfile_above(pid_t pid, const struct bm_process *p, uint32_t index)
{
	const struct bm_fd *d = &p->fds[index], *e = earlier_of_same(p, index);
	if (d->kind != BM_FD_UNLINKED_FILE || d->shares_with >= 0 || (d->flags & O_TMPFILE) != O_TMPFILE || !e ||
	    (e->flags & O_TMPFILE) == O_TMPFILE)
		return 0;
	return bm_error(BM_EXIT_UNSUPPORTED, "fd %d of process %d is an unlinked file (%s) opened without O_TMPFILE and "
			"also held at fd %d with O_TMPFILE, which only the open that makes a file can give; binmig "
			"cannot migrate it", e->fd, pid, d->path, d->fd);
}

int bm_unlinked_collect(pid_t pid, struct bm_process *p)
{
	int held = check_cwd_held(pid, p);
	if (held < 0)
		return held;
	uint64_t total = 0;
	for (uint32_t i = 0; i < p->nfds; i++) {
		int rc = refuse_tmpfile_above(pid, p, i);
		if (rc < 0)
			return rc;
	}
	for (uint32_t i = 0; i < p->nfds; i++) {
		struct bm_fd *d = &p->fds[i];
		if (d->kind != BM_FD_UNLINKED_FILE || d->shares_with >= 0 || earlier_of_same(p, i))
			continue;
		int rc = read_contents(pid, d);
		if (rc < 0)
			return rc;
		if ((total += d->data_len) > BM_UNLINKED_MAX_TOTAL)
			return bm_error(BM_EXIT_UNSUPPORTED, "process %d holds more than %u MiB of unlinked files (fd %d "
					"passes it); binmig cannot carry so much", pid, BM_UNLINKED_MAX_TOTAL >> 20, d->fd);
	}
	return 0;
}

/* --- image -------------------------------------------------------------- */

bool bm_unlinked_check(const struct bm_fd *fds, uint32_t nfds, char *why, size_t n)
{
	const struct bm_process p = {.fds = (struct bm_fd *)fds, .nfds = nfds};
	for (uint32_t i = 0; i < nfds; i++) {
		const struct bm_fd *d = &fds[i];
		if (d->kind != BM_FD_UNLINKED_FILE && d->attrs.known)
			return bm_why(why, n, "fd %d, no unlinked file, has the attributes of one", d->fd);
		if (d->kind != BM_FD_UNLINKED_FILE && d->kind != BM_FD_UNLINKED_FIFO && d->kind != BM_FD_UNLINKED_DIR)
			continue;
		if (d->path[0] != '/')
			return bm_why(why, n, "unlinked fd %d has the relative path %s", d->fd, d->path);
		uint32_t memfd = d->object_flags & ~BM_UNLINKED_LINK_BITS, link = d->object_flags & BM_UNLINKED_LINK_BITS;
		if (d->kind == BM_FD_UNLINKED_FILE &&
		    (!bm_unlinked_memfd_valid(memfd, "/memfd:") || (link && (memfd || !(link & BM_UNLINKED_LINK_KNOWN)))))
			return bm_why(why, n, "unlinked fd %d has the flags %#x", d->fd, d->object_flags);
		if (d->kind == BM_FD_UNLINKED_FILE && !bm_unlinked_memfd_valid(memfd, d->path))
			return bm_why(why, n, "memfd of fd %d is named %s, not /memfd:NAME", d->fd, d->path);
		if (d->kind != BM_FD_UNLINKED_FILE)
			continue;
		bool first = d->shares_with < 0 && !earlier_of_same(&p, i);
		if (first ? d->data_len != d->file.size : d->data_len != 0)
			return bm_why(why, n, "unlinked file of fd %d: %u bytes of contents for a size of %llu%s", d->fd,
				      d->data_len, (unsigned long long)d->file.size, first ? "" : " (not its first descriptor)");
		if (!first && d->attrs.known)
			return bm_why(why, n, "unlinked file of fd %d: attributes with a descriptor not its first", d->fd);
	}
	return true;
}

/* --- restore ------------------------------------------------------------ */


/* Whether PATH, removed, can be made again where it was: its directory
 * must exist; a file whose name is taken again is made without a name
 * (said in a warning), other kinds are a conflict.  WHAT names the
 * object for the messages ("the file of fd 3"). */
static int precheck(const char *what, const char *path, bool file)
{
	char dir[PATH_MAX];
	parent_of(path, dir, sizeof dir);
	struct stat st;
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
		return bm_error(BM_EXIT_CONFLICT, "%s, %s, was removed, and %s, where binmig would make it again, is no "
				"directory", what, path, dir);
	if (lstat(path, &st) < 0)
		return 0;
	if (file) {
		bm_warn("%s: %s exists again, so the unlinked file is made without a name in %s", what, path, dir);
		return 0;
	}
	return bm_error(BM_EXIT_CONFLICT, "%s was removed from the process's view (%s) and exists again; binmig "
			"cannot make the removed one there", path, what);
}

int bm_unlinked_precheck(const struct bm_fd *d, const char *cwd)
{
	if (!d)
		return precheck("the working directory", cwd, false);
	char what[48];
	snprintf(what, sizeof what, "the %s of fd %d", d->kind == BM_FD_UNLINKED_FILE ? "file" : "object", d->fd);
	return precheck(what, d->path, d->kind == BM_FD_UNLINKED_FILE);
}

int bm_unlinked_precheck_mapped(const struct bm_mapped_file *m)
{
	if (m->memfd)
		return 0; /* made with memfd_create: no path */
	return precheck("a mapped unlinked file", m->path, true);
}

int bm_unlinked_precheck_all(const struct bm_process *p)
{
	if (p->cwd_removed && bm_unlinked_precheck(NULL, p->cwd) < 0)
		return -1;
	for (uint32_t i = 0; i < p->nfds; i++) {
		const struct bm_fd *d = &p->fds[i];
		if (BM_FD_IS_UNLINKED(d->kind) && d->shares_with < 0 && !earlier_of_same(p, i) &&
		    !(d->object_flags & BM_UNLINKED_MEMFD) && bm_unlinked_precheck(d, NULL) < 0)
			return -1;
	}
	for (uint32_t i = 0; i < p->nmapped_files; i++)
		if (bm_unlinked_precheck_mapped(&p->mapped_files[i]) < 0)
			return -1;
	return 0;
}

/* Inside the new process. */

static int fail(char *err, size_t errlen, const char *fmt, const char *path)
{
	int e = errno;
	snprintf(err, errlen, fmt, path, strerror(e));
	errno = e;
	return -1;
}

struct bm_unlinked_owner bm_unlinked_owner(const struct bm_process *p, bool known, uint32_t uid, uint32_t gid)
{
	return known ? (struct bm_unlinked_owner){uid, gid} : (struct bm_unlinked_owner){p->uid[3], p->gid[3]};
}

static struct bm_unlinked_owner owner_of(const struct bm_process *p, const struct bm_fd *d)
{
	return bm_unlinked_owner(p, d->owner_known, d->owner_uid, d->owner_gid);
}

/* Fills FD, a file just made: its contents, owner, mode, reservation and
 * extended attributes, times.  0, or -1 with errno. */
static int fill(int fd, struct bm_unlinked_owner owner, uint32_t mode, int64_t mtime_ns, const uint8_t *data,
		size_t len, const struct bm_holes *holes, const struct bm_file_attrs *attrs)
{
	bool atime = attrs && attrs->known;
	struct timespec times[2] = {atime ? bm_ns_timespec(attrs->atime_ns) : (struct timespec){0, UTIME_OMIT},
				    bm_ns_timespec(mtime_ns)};
	return bm_holes_write(fd, data, len, holes) < 0 || fchown(fd, owner.uid, owner.gid) < 0 ||
			       fchmod(fd, mode & 07777) < 0 || bm_file_attrs_make(fd, attrs) < 0 || futimens(fd, times) < 0
		       ? -1
		       : 0;
}

int bm_unlinked_make_file(struct bm_unlinked_owner owner, const char *path, uint32_t mode, int64_t mtime_ns,
			  const uint8_t *data, size_t len, const struct bm_holes *holes, const struct bm_file_attrs *attrs,
			  char *err, size_t errlen)
{
	mode &= 07777;
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd >= 0 && unlink(path) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return fail(err, errlen, "cannot remove the rebuilt %s again: %s", path);
	}
	if (fd < 0 && errno == EEXIST) {
		/* Its name taken: made without one, and as the original, which
		 * had one, never to be linked (O_EXCL). */
		char dir[PATH_MAX];
		parent_of(path, dir, sizeof dir);
		fd = open(dir, O_TMPFILE | O_EXCL | O_RDWR | O_CLOEXEC, mode);
	}
	if (fd < 0)
		return fail(err, errlen, "cannot make the unlinked file %s again: %s", path);
	if (fill(fd, owner, mode, mtime_ns, data, len, holes, attrs) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return fail(err, errlen, "cannot fill the unlinked file %s again: %s", path);
	}
	return fd;
}

/* The memfd of d again: its name, contents, owner, mode and mtime, then
 * its seals (last: they may forbid the rest).  Made executable (MFD_EXEC)
 * where the kernel knows the flag, as a memfd made without it is; the
 * mode then says what it was. */
int bm_unlinked_make_memfd(struct bm_unlinked_owner owner, const char *path, uint32_t mode, int64_t mtime_ns,
			   uint32_t memfd, const uint8_t *data, size_t len, const struct bm_holes *holes,
			   const struct bm_file_attrs *attrs, char *err, size_t errlen)
{
	const char *name = path + 7; /* "/memfd:" */
	int fd = (int)syscall(SYS_memfd_create, name, MFD_CLOEXEC | MFD_ALLOW_SEALING | 0x10u /* MFD_EXEC */);
	if (fd < 0 && errno == EINVAL)
		fd = (int)syscall(SYS_memfd_create, name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return fail(err, errlen, "cannot make the memfd %s again: %s", path);
	if (fill(fd, owner, mode, mtime_ns, data, len, holes, attrs) < 0 ||
	    fcntl(fd, F_ADD_SEALS, (int)(memfd & BM_UNLINKED_SEALS)) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return fail(err, errlen, "cannot fill the memfd %s again: %s", path);
	}
	return fd;
}

/* Whether d is a file made with O_TMPFILE (never linked): /dir/#INODE. */
static bool is_tmpfile(const struct bm_fd *d)
{
	return d->kind == BM_FD_UNLINKED_FILE && (d->flags & O_TMPFILE) == O_TMPFILE;
}

/* Whether the file of D may be linked again (linkat through /proc/self/fd
 * publishes it): as the dump read it, else as its opening says (one made
 * with O_TMPFILE may, as binmig restored all such before it could read
 * it). */
static bool linkable(const struct bm_fd *d)
{
	return d->object_flags & BM_UNLINKED_LINK_KNOWN ? (d->object_flags & BM_UNLINKED_LINKABLE) != 0 : is_tmpfile(d);
}

/* An O_TMPFILE file is made again as one, in its directory and with the
 * flags of its descriptor d, so that F_GETFL still says O_TMPFILE (any
 * other descriptor's file that may be linked: read-write, reopened with
 * its flags), and with O_EXCL where it may not be linked (made so, or
 * linked and unlinked since).  Its contents and attributes go in through
 * a second open of it. */
static int make_tmpfile(const struct bm_process *p, const struct bm_fd *d, char *err, size_t errlen)
{
	char dir[PATH_MAX], self[40];
	parent_of(d->path, dir, sizeof dir);
	int flags = is_tmpfile(d) ? (int)d->flags & ~(O_CREAT | O_EXCL | O_TRUNC | O_NOCTTY | O_CLOEXEC)
				  : O_TMPFILE | O_RDWR;
	if (!linkable(d))
		flags |= O_EXCL;
	int fd = open(dir, flags | O_CLOEXEC, d->mode & 07777);
	if (fd < 0)
		return fail(err, errlen, "cannot make the O_TMPFILE file %s again: %s", d->path);
	snprintf(self, sizeof self, "/proc/self/fd/%d", fd);
	int w = open(self, O_WRONLY | O_CLOEXEC);
	if (w < 0 || fill(w, owner_of(p, d), d->mode, d->file.mtime_ns, d->data, d->data_len, &d->holes, &d->attrs) < 0) {
		int e = errno;
		if (w >= 0)
			close(w);
		close(fd);
		errno = e;
		return fail(err, errlen, "cannot fill the O_TMPFILE file %s again: %s", d->path);
	}
	close(w);
	return fd;
}

static int make_memfd(const struct bm_process *p, const struct bm_fd *d, char *err, size_t errlen)
{
	return bm_unlinked_make_memfd(owner_of(p, d), d->path, d->mode, d->file.mtime_ns, d->object_flags, d->data,
				      d->data_len, &d->holes, &d->attrs, err, errlen);
}

/* Makes the unlinked FIFO of d (its bytes written back) or directory,
 * opened as d has it. */
static int make_named(const struct bm_process *p, const struct bm_fd *d, char *err, size_t errlen)
{
	bool fifo = d->kind == BM_FD_UNLINKED_FIFO;
	int rc = fifo ? mkfifo(d->path, d->mode & 07777) : mkdir(d->path, d->mode & 07777);
	if (rc < 0)
		return fail(err, errlen, "cannot make %s again: %s", d->path);
	int fd = open(d->path, fifo ? O_RDONLY | O_NONBLOCK | O_CLOEXEC : O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int e = errno;
	struct bm_unlinked_owner owner = owner_of(p, d);
	if (fd >= 0 && (fchown(fd, owner.uid, owner.gid) < 0 || fchmod(fd, d->mode & 07777) < 0)) {
		rc = -1;
		e = errno;
	}
	if (fd >= 0 && rc == 0 && fifo && bm_fifo_refill(d, fd) < 0) {
		rc = -1;
		e = errno;
	}
	if ((fifo ? unlink(d->path) : rmdir(d->path)) < 0 && fd >= 0 && rc == 0) {
		rc = -1;
		e = errno;
	}
	if (fd < 0 || rc < 0) {
		if (fd >= 0)
			close(fd);
		errno = e;
		return fail(err, errlen, "cannot rebuild the unlinked %s: %s", d->path);
	}
	return fd;
}

/* Opens descriptor INDEX of p; made: the object is made here from its
 * first descriptor in p (which holds a file's contents), else reopened
 * through an earlier descriptor of it already in place. */
static int open_unlinked(const struct bm_process *p, uint32_t index, bool make, char *err, size_t errlen)
{
	const struct bm_fd *d = &p->fds[index];
	int flags = (int)d->flags & ~(O_CREAT | O_EXCL | O_TRUNC | O_NOCTTY | O_CLOEXEC);
	const struct bm_fd *first = earlier_of_same(p, index);
	int made = -1, fd = -1;
	char link[64];
	if (first && !make) {
		snprintf(link, sizeof link, "/proc/self/fd/%d", first->fd);
	} else if (!first && is_tmpfile(d)) {
		fd = make_tmpfile(p, d, err, errlen); /* d's own open file */
		if (fd < 0)
			return -1;
	} else {
		const struct bm_fd *src = first ? first : d;
		made = is_tmpfile(src) || linkable(src) ? make_tmpfile(p, src, err, errlen)
		       : src->object_flags & BM_UNLINKED_MEMFD ? make_memfd(p, src, err, errlen)
		       : src->kind == BM_FD_UNLINKED_FILE ? bm_unlinked_make_file(owner_of(p, src), src->path, src->mode,
									       src->file.mtime_ns, src->data, src->data_len,
									       &src->holes, &src->attrs, err, errlen)
							   : make_named(p, src, err, errlen);
		if (made < 0)
			return -1;
		snprintf(link, sizeof link, "/proc/self/fd/%d", made);
	}
	/* memfd_create's own descriptor does not count as a writer of its
	 * file, one opened through /proc does, and the kernel will not execute
	 * a file with writers (fexecve of a memfd: ETXTBSY).  The first
	 * read-write descriptor of a memfd is taken as memfd_create's own. */
	bool own = made >= 0 && !first && (d->object_flags & BM_UNLINKED_MEMFD) && (flags & O_ACCMODE) == O_RDWR;
	/* Opening the /proc link opens the object itself, with the flags the
	 * descriptor had (but O_TMPFILE, which only making it gives); a FIFO
	 * without O_NONBLOCK would wait for a writer. */
	int e = 0;
	if (fd < 0 && own) {
		fd = made;
		if (fcntl(fd, F_SETFL, flags) < 0) {
			e = errno;
			close(fd);
			fd = -1;
		}
	} else if (fd < 0) {
		if ((flags & O_TMPFILE) == O_TMPFILE)
			flags &= ~O_TMPFILE;
		fd = open(link, d->kind == BM_FD_UNLINKED_FIFO ? flags | O_NONBLOCK : flags);
		e = errno;
	}
	if (made >= 0 && !own)
		close(made);
	if (fd < 0) {
		errno = e;
		return fail(err, errlen, "cannot open the rebuilt unlinked %s: %s", d->path);
	}
	/* An O_PATH descriptor has neither status flags nor an offset. */
	bool opath = flags & O_PATH;
	if ((d->kind == BM_FD_UNLINKED_FIFO && !opath && !(flags & O_NONBLOCK) && fcntl(fd, F_SETFL, flags) < 0) ||
	    (d->kind == BM_FD_UNLINKED_FILE && !opath && lseek(fd, (off_t)d->pos, SEEK_SET) < 0)) {
		e = errno;
		close(fd);
		errno = e;
		return fail(err, errlen, "cannot set up the rebuilt unlinked %s: %s", d->path);
	}
	return fd;
}

int bm_unlinked_open(const struct bm_process *p, uint32_t index, char *err, size_t errlen)
{
	return open_unlinked(p, index, false, err, errlen);
}

int bm_unlinked_open_shared(const struct bm_process *p, uint32_t index, char *err, size_t errlen)
{
	return open_unlinked(p, index, true, err, errlen);
}

int bm_unlinked_chdir(const struct bm_process *p, char *err, size_t errlen)
{
	const char *path = p->cwd;
	/* The same directory as a removed one it holds open (the dump made
	 * sure), made again with that descriptor already. */
	for (uint32_t i = 0; i < p->nfds; i++)
		if (p->fds[i].kind == BM_FD_UNLINKED_DIR && strcmp(p->fds[i].path, path) == 0)
			return fchdir(p->fds[i].fd) < 0 ? fail(err, errlen, "cannot enter the removed working directory %s "
							       "again: %s", path)
							: 0;
	struct bm_unlinked_owner owner = bm_unlinked_owner(p, p->cwd_known, p->cwd_uid, p->cwd_gid);
	uint32_t mode = p->cwd_known ? p->cwd_mode & 07777 : 0700;
	/* Owner and mode before anyone but binmig can enter it. */
	if (mkdir(path, 0700) < 0)
		return fail(err, errlen, "cannot make the removed working directory %s again: %s", path);
	if (chown(path, owner.uid, owner.gid) < 0 || chmod(path, mode) < 0 || chdir(path) < 0 || rmdir(path) < 0)
		return fail(err, errlen, "cannot give the working directory %s its owner and mode, enter and remove it "
			    "again: %s", path);
	return 0;
}
