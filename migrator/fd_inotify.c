/* inotify instances: read at dump, rebuilt at restore (fd_inotify.h). */
#include "fd_inotify.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "fault.h"
#include "fd_policy.h"
#include "log.h"
#include "procfs.h"
#include "wire.h"

#define WATCH_HEAD 12u /* i32 wd, u32 mask, u32 path length */

/* --- fdinfo ------------------------------------------------------------- */

static int hex_digit(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static int parse_line(const char *line, struct bm_inotify_line *w)
{
	unsigned long long ino;
	unsigned wd, sdev, mask, ignored, bytes, type;
	int used = 0;
	if (sscanf(line, "inotify wd:%x ino:%llx sdev:%x mask:%x ignored_mask:%x fhandle-bytes:%x fhandle-type:%x "
			 "f_handle:%n", &wd, &ino, &sdev, &mask, &ignored, &bytes, &type, &used) != 7 || used == 0 ||
	    wd == 0 || wd > INT32_MAX || bytes == 0 || bytes > sizeof w->handle)
		return -EINVAL;
	*w = (struct bm_inotify_line){(int32_t)wd, mask, ino, sdev, type, bytes, {0}};
	const char *hex = line + used;
	for (unsigned i = 0; i < bytes; i++) {
		int hi = hex_digit(hex[2 * i]), lo = hi < 0 ? -1 : hex_digit(hex[2 * i + 1]);
		if (lo < 0)
			return -EINVAL;
		w->handle[i] = (uint8_t)(hi << 4 | lo);
	}
	char after = hex[2 * bytes];
	return after == 0 || after == '\n' || after == ' ' ? 0 : -EINVAL;
}

int bm_parse_inotify_watches(const char *fdinfo, struct bm_inotify_line **w, size_t *n)
{
	*w = NULL;
	*n = 0;
	size_t cap = 0;
	for (const char *line = fdinfo; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
		if (strncmp(line, "inotify ", 8) != 0)
			continue;
		if (*n == cap) {
			size_t ncap = cap ? cap * 2 : 8;
			struct bm_inotify_line *grown = ncap <= (1u << 20) ? realloc(*w, ncap * sizeof **w) : NULL;
			if (!grown) {
				free(*w);
				*w = NULL;
				*n = 0;
				return -ENOMEM;
			}
			*w = grown;
			cap = ncap;
		}
		if (parse_line(line, &(*w)[*n]) < 0) {
			free(*w);
			*w = NULL;
			*n = 0;
			return -EINVAL;
		}
		(*n)++;
	}
	return 0;
}

/* --- dump --------------------------------------------------------------- */

/* A descriptor of binmig's on the mount point of a file system whose
 * kernel device number is SDEV, or -1. */
static int mount_of(uint32_t sdev)
{
	char *text;
	if (bm_read_text("/proc/self/mountinfo", &text, NULL) < 0)
		return -1;
	int fd = -1;
	for (char *line = text; fd < 0 && line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
		unsigned major, minor;
		char point[PATH_MAX];
		if (sscanf(line, "%*u %*u %u:%u %*s %4095s", &major, &minor, point) != 3)
			continue;
		if (major != sdev >> 20 || minor != (sdev & 0xfffff))
			continue;
		/* mountinfo escapes spaces and such as \ooo; those mount points are skipped. */
		if (!strchr(point, '\\'))
			fd = open(point, O_RDONLY | O_DIRECTORY | O_CLOEXEC); /* not O_PATH: open_by_handle_at refuses those */
	}
	free(text);
	return fd;
}

/* The mount descriptor of the last file system a watch was on: the
 * watches of one instance are mostly on one. */
struct mount_cache {
	uint32_t sdev;
	int fd;
};

/* The path of watch W, found by its handle, in path[len]. */
static int path_of_watch(pid_t pid, int fd, const struct bm_inotify_line *w, struct mount_cache *m, char *path,
			 size_t len)
{
	if (m->fd < 0 || m->sdev != w->sdev) {
		if (m->fd >= 0)
			close(m->fd);
		m->sdev = w->sdev;
		m->fd = mount_of(w->sdev);
	}
	int mnt = m->fd;
	if (mnt < 0)
		return bm_error(BM_EXIT_UNSUPPORTED, "fd %d of process %d is an inotify instance whose watch %d is on a "
				"file system binmig cannot find (device %u:%u)", fd, pid, w->wd, w->sdev >> 20, w->sdev & 0xfffff);
	struct {
		struct file_handle fh;
		uint8_t bytes[sizeof w->handle];
	} h;
	h.fh.handle_bytes = w->handle_bytes;
	h.fh.handle_type = (int)w->handle_type;
	memcpy(h.fh.f_handle, w->handle, w->handle_bytes);
	int target = open_by_handle_at(mnt, &h.fh, O_PATH | O_CLOEXEC);
	int e = errno;
	if (target < 0)
		return bm_error_errno(BM_EXIT_UNSUPPORTED, e, "fd %d of process %d is an inotify instance whose watched file "
				      "(watch %d) cannot be found by its handle", fd, pid, w->wd);
	char link[64];
	snprintf(link, sizeof link, "/proc/self/fd/%d", target);
	bool deleted = false;
	struct stat st;
	int rc = bm_readlink(link, path, len, &deleted);
	if (rc == 0 && (fstat(target, &st) < 0 || st.st_ino != w->ino))
		rc = -ESTALE;
	close(target);
	if (rc < 0 || deleted || path[0] != '/')
		return bm_error(BM_EXIT_UNSUPPORTED, "fd %d of process %d is an inotify instance watching a file (watch %d) "
				"that has no name binmig can watch again", fd, pid, w->wd);
	return 0;
}

/* Events queued in the instance and not read yet. */
static int queued_bytes(pid_t pid, int fd, int *queued)
{
	int copy = bm_fd_copy(pid, fd);
	if (copy < 0)
		return bm_error_errno(BM_EXIT_TARGET, errno, "cannot look into the inotify instance of fd %d", fd);
	int rc = ioctl(copy, FIONREAD, queued) < 0 ? bm_error_errno(BM_EXIT_TARGET, errno, "FIONREAD on fd %d", fd) : 0;
	close(copy);
	return rc;
}

static int by_wd(const void *a, const void *b)
{
	int32_t x = ((const struct bm_inotify_line *)a)->wd, y = ((const struct bm_inotify_line *)b)->wd;
	return (x > y) - (x < y);
}

/* Whether watch W is on the file of ST. */
static bool watches_file(const struct bm_inotify_line *w, const struct stat *st)
{
	return st->st_ino == w->ino && major(st->st_dev) == w->sdev >> 20 && minor(st->st_dev) == (w->sdev & 0xfffff);
}

/* The restore opens each file the process maps after the watches are
 * back (the new process maps them from its own descriptors, made once its
 * descriptors are rebuilt) and closes it at the end: a watch that reports
 * opens or closes on such a file, or in its directory, would find those
 * events queued.  Refused; the maps are read only for such watches.  (A
 * mapped file whose name was removed is made again there too.) */
static int check_mapped(pid_t pid, int fd, const struct bm_inotify_line *w, size_t n)
{
	bool any = false;
	for (size_t i = 0; i < n; i++)
		any |= (w[i].mask & (IN_OPEN | IN_CLOSE)) != 0;
	struct bm_maps_entry *maps = NULL;
	size_t nmaps = 0;
	if (!any || bm_read_maps(pid, &maps, &nmaps) < 0)
		return any ? bm_error(BM_EXIT_TARGET, "cannot read the maps of process %d", pid) : 0;
	int rc = 0;
	for (size_t m = 0; rc == 0 && m < nmaps; m++) {
		const struct bm_maps_entry *e = &maps[m];
		bool named = e->path[0] == '/' && strncmp(e->path, "/memfd:", 7) != 0 && strncmp(e->path, "/SYSV", 5) != 0;
		if (!named || (m > 0 && strcmp(e->path, maps[m - 1].path) == 0))
			continue;
		struct stat file = {.st_ino = e->inode, .st_dev = makedev(e->dev_major, e->dev_minor)}, dir;
		char parent[PATH_MAX];
		snprintf(parent, sizeof parent, "%s", e->path);
		*strrchr(parent, '/') = 0;
		bool have_dir = stat(parent[0] ? parent : "/", &dir) == 0;
		for (size_t i = 0; rc == 0 && i < n; i++)
			if ((w[i].mask & (IN_OPEN | IN_CLOSE)) &&
			    (watches_file(&w[i], &file) || (have_dir && watches_file(&w[i], &dir))))
				rc = bm_error(BM_EXIT_UNSUPPORTED, "fd %d of process %d is an inotify instance whose watch %d "
					      "reports opens or closes of %s, which the process maps: the restore opens and "
					      "closes it after the watch is back", fd, pid, w[i].wd, e->path);
	}
	free(maps);
	return rc;
}

static int collect_instance(pid_t pid, int fd, struct bm_fd *out)
{
	char name[32], *text;
	snprintf(name, sizeof name, "fdinfo/%d", fd);
	int rc = bm_read_proc_text(pid, name, &text);
	if (rc < 0)
		return bm_error_errno(BM_EXIT_TARGET, -rc, "cannot read fdinfo of fd %d", fd);
	struct bm_inotify_line *w;
	size_t n;
	rc = bm_parse_inotify_watches(text, &w, &n);
	free(text);
	if (rc < 0)
		return bm_error_errno(BM_EXIT_TARGET, -rc, "cannot read the watches of inotify fd %d", fd);
	int queued = 0;
	rc = queued_bytes(pid, fd, &queued);
	if (rc == 0 && queued > 0)
		rc = bm_error(BM_EXIT_UNSUPPORTED, "fd %d of process %d is an inotify instance with %d bytes of events not "
			      "read yet; binmig cannot carry them without taking them from the process", fd, pid, queued);
	if (rc == 0)
		rc = check_mapped(pid, fd, w, n);
	/* Watch numbers in rising order, as the restore makes them. */
	if (n > 1)
		qsort(w, n, sizeof *w, by_wd);
	struct bm_wbuf b;
	bm_wbuf_init(&b);
	struct mount_cache mount = {0, -1};
	for (size_t i = 0; rc == 0 && i < n; i++) {
		char path[PATH_MAX];
		rc = path_of_watch(pid, fd, &w[i], &mount, path, sizeof path);
		if (rc == 0) {
			bm_put_i32(&b, w[i].wd);
			bm_put_u32(&b, w[i].mask);
			bm_put_u32(&b, (uint32_t)strlen(path));
			bm_put_bytes(&b, path, strlen(path));
		}
	}
	free(w);
	if (mount.fd >= 0)
		close(mount.fd);
	if (rc == 0 && (b.failed || b.len > (1u << 20)))
		rc = bm_error(BM_EXIT_UNSUPPORTED, "fd %d of process %d is an inotify instance with more watches than an "
			      "image carries", fd, pid);
	if (rc < 0) {
		bm_wbuf_free(&b);
		return rc;
	}
	out->data = b.data;
	out->data_len = (uint32_t)b.len;
	return 0;
}

int bm_inotify_collect(pid_t pid, struct bm_process *p)
{
	for (uint32_t i = 0; i < p->nfds; i++) {
		struct bm_fd *d = &p->fds[i];
		if (d->kind != BM_FD_INOTIFY || d->shares_with >= 0)
			continue;
		int rc = collect_instance(pid, d->fd, d);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* --- image -------------------------------------------------------------- */

/* The watch at byte *at of D's data (checked well formed), moving *at on. */
static struct bm_inotify_watch watch_at(const struct bm_fd *d, size_t *at)
{
	const uint8_t *p = d->data + *at;
	struct bm_inotify_watch w = {(int32_t)bm_load_le32(p), bm_load_le32(p + 4), (const char *)p + WATCH_HEAD,
				     bm_load_le32(p + 8)};
	*at += WATCH_HEAD + w.len;
	return w;
}

int bm_inotify_watches(const struct bm_fd *d, struct bm_inotify_watch *w, uint32_t max)
{
	uint32_t count = 0;
	for (size_t at = 0; at < d->data_len; count++) {
		if (d->data_len - at < WATCH_HEAD || bm_load_le32(d->data + at + 8) > d->data_len - at - WATCH_HEAD)
			return -1;
		struct bm_inotify_watch one = watch_at(d, &at);
		if (w && count < max)
			w[count] = one;
	}
	return (int)count;
}

uint32_t bm_inotify_restored_next_wd(const struct bm_fd *d)
{
	uint32_t next = 1;
	for (size_t at = 0; at < d->data_len;) /* rising numbers */
		next = (uint32_t)watch_at(d, &at).wd + 1;
	return next;
}

bool bm_inotify_check(const struct bm_fd *fds, uint32_t nfds, char *why, size_t n)
{
	for (uint32_t i = 0; i < nfds; i++) {
		const struct bm_fd *d = &fds[i];
		if (d->kind != BM_FD_INOTIFY)
			continue;
		int count = bm_inotify_watches(d, NULL, 0);
		if (count < 0)
			return bm_why(why, n, "inotify fd %d: its %u bytes of watches are cut short", d->fd, d->data_len);
		if (d->shares_with >= 0 && count > 0)
			return bm_why(why, n, "inotify fd %d shares its instance with fd %d yet lists watches", d->fd,
				      d->shares_with);
		/* Well formed (counted above): walk it. */
		int32_t prev = 0;
		for (size_t at = 0; at < d->data_len;) {
			struct bm_inotify_watch w = watch_at(d, &at);
			if (w.wd < 1 || w.wd <= prev)
				return bm_why(why, n, "inotify fd %d: watch %d does not follow %d", d->fd, w.wd, prev);
			if (w.len == 0 || w.len > PATH_MAX - 1 || w.path[0] != '/' || memchr(w.path, 0, w.len))
				return bm_why(why, n, "inotify fd %d: watch %d has no absolute path", d->fd, w.wd);
			if (w.mask & ~(uint32_t)(IN_ALL_EVENTS | IN_ONESHOT | IN_EXCL_UNLINK | IN_ONLYDIR | IN_DONT_FOLLOW))
				return bm_why(why, n, "inotify fd %d: watch %d has unknown mask bits %#x", d->fd, w.wd, w.mask);
			prev = w.wd;
		}
	}
	return true;
}

/* --- restore (inside the new process) ----------------------------------- */

static int fail(char *err, size_t errlen, const char *fmt, int a, int b)
{
	snprintf(err, errlen, fmt, a, b, strerror(errno));
	return -1;
}

static bool is_watched(const struct bm_fd *d, int32_t wd, const char *path)
{
	for (size_t at = 0; at < d->data_len;) {
		struct bm_inotify_watch w = watch_at(d, &at);
		if (path ? w.len == strlen(path) && memcmp(w.path, path, w.len) == 0 : w.wd == wd)
			return true;
	}
	return false;
}

/* Reads queued events: each must be the IN_IGNORED of a filler. */
static int drain_some(const struct bm_fd *d, int fd, char *err, size_t errlen)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	ssize_t n = read(fd, buf, sizeof buf);
	if (n <= 0)
		return fail(err, errlen, "inotify fd %d: reading the events of its fillers (%d): %s", d->fd, (int)n);
	for (ssize_t at = 0; at < n;) {
		const struct inotify_event *ev = (const struct inotify_event *)(buf + at);
		if (is_watched(d, ev->wd, NULL) || !(ev->mask & IN_IGNORED)) {
			errno = EBUSY;
			return fail(err, errlen, "inotify fd %d: watch %d saw an event while the process was rebuilt: %s",
				    d->fd, ev->wd);
		}
		at += (ssize_t)(sizeof *ev + ev->len);
	}
	return 0;
}

/* drain_some until nothing is queued (set blocking by now, if it was:
 * only read what is there). */
static int drain(const struct bm_fd *d, int fd, char *err, size_t errlen)
{
	int queued = 0;
	while (ioctl(fd, FIONREAD, &queued) == 0 && queued > 0)
		if (drain_some(d, fd, err, errlen) < 0)
			return -1;
	return 0;
}

/* Takes the numbers from NEXT up to WD (excluded) with fillers, each added
 * and removed at once, on a directory no real watch is on: for a kernel
 * without INOTIFY_IOC_SETNEXTWD (CONFIG_CHECKPOINT_RESTORE).  Each leaves
 * an IN_IGNORED event, read by drain, which also fails on any other: an
 * event of a watch already added (a real change, as it happens). */
static int fill_to(const struct bm_fd *d, int fd, int32_t next, int32_t wd, char *err, size_t errlen)
{
	static const char *const candidates[] = {"/", "/dev", "/proc", "/sys"};
	const char *filler = NULL;
	for (size_t c = 0; !filler && c < sizeof candidates / sizeof *candidates; c++)
		if (!is_watched(d, 0, candidates[c]))
			filler = candidates[c];
	for (; next < wd; next++) {
		int f = filler ? inotify_add_watch(fd, filler, IN_DELETE_SELF) : -1;
		if (f != next || inotify_rm_watch(fd, f) < 0) {
			if (f >= 0 || !filler)
				errno = ERANGE;
			return fail(err, errlen, "inotify fd %d: cannot skip watch number %d: %s", d->fd, next);
		}
		/* read as they come, before the queue overflows (16384 events) */
		if ((next & 4095) == 0 && drain(d, fd, err, errlen) < 0)
			return -1;
	}
	return 0;
}

int bm_inotify_watch_again(const struct bm_fd *d, int fd, char *err, size_t errlen)
{
	/* Each watch gets its number from the instance's cursor, set to it
	 * first: no other watch comes and goes, and no event is queued. */
	bool settable = true, filled = false;
	int32_t next = 1;
	for (size_t at = 0; at < d->data_len;) {
		struct bm_inotify_watch w = watch_at(d, &at);
		char path[PATH_MAX];
		memcpy(path, w.path, w.len);
		path[w.len] = 0;
		if (settable && (bm_fault(BM_FP_INOTIFY_NEXT_WD) || ioctl(fd, BM_INOTIFY_IOC_SETNEXTWD, (long)w.wd) < 0)) {
			if (errno != ENOTTY)
				return fail(err, errlen, "inotify fd %d: setting its next watch number to %d: %s", d->fd,
					    w.wd);
			settable = false;
		}
		if (!settable && next < w.wd) {
			if (fill_to(d, fd, next, w.wd, err, errlen) < 0)
				return -1;
			filled = true;
		}
		int got = inotify_add_watch(fd, path, w.mask);
		if (got != w.wd) {
			if (got >= 0)
				errno = ERANGE;
			snprintf(err, errlen, "inotify fd %d: cannot watch %s again as watch %d: %s", d->fd, path, w.wd,
				 strerror(errno));
			return -1;
		}
		next = got + 1;
	}
	/* Only the fillers' events are read; what a real watch reports from
	 * now on is the process's. */
	return filled ? drain(d, fd, err, errlen) : 0;
}

int bm_inotify_open(const struct bm_fd *d, bool watches, char *err, size_t errlen)
{
	int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (fd < 0)
		return fail(err, errlen, "fd %d: inotify_init1 (%d): %s", d->fd, 0);
	if (watches && bm_inotify_watch_again(d, fd, err, errlen) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}
