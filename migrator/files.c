/* File descriptors, cwd and root: what each descriptor refers to at dump,
 * and reopening them at the same numbers at restore. */
#include "files.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <linux/kcmp.h>

#include "checkpoint.h"
#include "log.h"
#include "procfs.h"

/* Character devices that are the same everywhere and carry no state. */
static const struct {
	unsigned major, minor;
	const char *path;
} safe_devices[] = {
	{1, 3, "/dev/null"}, {1, 5, "/dev/zero"}, {1, 7, "/dev/full"}, {1, 8, "/dev/random"}, {1, 9, "/dev/urandom"},
};

static const char *safe_device_path(dev_t rdev)
{
	for (size_t i = 0; i < sizeof safe_devices / sizeof *safe_devices; i++)
		if (major(rdev) == safe_devices[i].major && minor(rdev) == safe_devices[i].minor)
			return safe_devices[i].path;
	return NULL;
}

/* What an unsupported descriptor is, in words, for the refusal message. */
static const char *describe_kind(const char *link, mode_t mode)
{
	if (S_ISSOCK(mode) || strncmp(link, "socket:", 7) == 0)
		return "a socket";
	if (strncmp(link, "pipe:", 5) == 0)
		return "an anonymous pipe";
	if (strncmp(link, "anon_inode:", 11) == 0) {
		if (strstr(link, "eventfd"))
			return "an eventfd";
		if (strstr(link, "eventpoll"))
			return "an epoll instance";
		if (strstr(link, "signalfd"))
			return "a signalfd";
		if (strstr(link, "timerfd"))
			return "a timerfd";
		if (strstr(link, "inotify"))
			return "an inotify instance";
		if (strstr(link, "pidfd"))
			return "a pidfd";
		return "an anonymous inode";
	}
	if (S_ISCHR(mode))
		return strncmp(link, "/dev/pts/", 9) == 0 || strncmp(link, "/dev/tty", 8) == 0 ? "a terminal"
											   : "a character device";
	if (S_ISBLK(mode))
		return "a block device";
	return "of an unsupported kind";
}

static int same_open_file(pid_t pid, int a, int b)
{
	return syscall(SYS_kcmp, pid, pid, KCMP_FILE, a, b) == 0;
}

static int describe_fd(pid_t pid, int fd, struct bm_fd *out)
{
	char link[64], path[PATH_MAX];
	bool deleted = false;
	snprintf(link, sizeof link, "/proc/%d/fd/%d", pid, fd);
	int rc = bm_readlink(link, path, sizeof path, &deleted);
	if (rc == -ENOENT)
		return 1; /* closed meanwhile */
	if (rc < 0)
		return bm_error_errno(BM_EXIT_TARGET, -rc, "cannot read %s", link);
	struct stat st;
	if (stat(link, &st) < 0)
		return errno == ENOENT && !deleted ? 1 : bm_error_errno(BM_EXIT_TARGET, errno, "cannot stat %s", link);
	struct bm_fdinfo info;
	if ((rc = bm_read_fdinfo(pid, fd, &info)) < 0)
		return rc == -ENOENT ? 1 : bm_error_errno(BM_EXIT_TARGET, -rc, "cannot read fdinfo of fd %d", fd);

	out->fd = fd;
	out->flags = info.flags;
	out->pos = info.pos;
	out->mode = st.st_mode;
	out->shares_with = -1;
	bool named = path[0] == '/';
	if (named && deleted)
		return bm_error(BM_EXIT_UNSUPPORTED, "fd %d of process %d refers to the deleted file %s", fd, pid, path);
	if (S_ISREG(st.st_mode) && named) {
		out->kind = BM_FD_REGULAR;
		out->file = (struct bm_file_id){st.st_dev, st.st_ino, (uint64_t)st.st_size,
						(int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec};
	} else if (S_ISDIR(st.st_mode) && named) {
		out->kind = BM_FD_DIRECTORY;
	} else if (S_ISCHR(st.st_mode) && safe_device_path(st.st_rdev)) {
		out->kind = BM_FD_DEVICE;
		out->rdev = st.st_rdev;
		snprintf(path, sizeof path, "%s", safe_device_path(st.st_rdev));
	} else if (S_ISFIFO(st.st_mode) && named && (info.flags & O_ACCMODE) == O_RDONLY) {
		out->kind = BM_FD_FIFO;
	} else if (S_ISFIFO(st.st_mode) && named) {
		return bm_error(BM_EXIT_UNSUPPORTED, "fd %d of process %d is the write end of the named FIFO %s; only "
				"read ends can be reopened", fd, pid, path);
	} else {
		return bm_error(BM_EXIT_UNSUPPORTED, "fd %d of process %d is %s (%s); binmig cannot migrate it", fd, pid,
				describe_kind(path, st.st_mode), path);
	}
	out->path = strdup(path);
	if (!out->path)
		return bm_error(BM_EXIT_FAILURE, "out of memory");
	return 0;
}

int bm_collect_fds(pid_t pid, struct bm_process *p)
{
	int *fds = NULL;
	size_t n = 0;
	int rc = bm_list_fds(pid, &fds, &n);
	if (rc < 0)
		return bm_error_errno(BM_EXIT_TARGET, -rc, "cannot list the descriptors of process %d", pid);
	p->fds = calloc(n ? n : 1, sizeof *p->fds);
	if (!p->fds) {
		free(fds);
		return bm_error(BM_EXIT_FAILURE, "out of memory");
	}
	p->nfds = 0;
	for (size_t i = 0; i < n; i++) {
		struct bm_fd *d = &p->fds[p->nfds];
		rc = describe_fd(pid, fds[i], d);
		if (rc < 0)
			break;
		if (rc > 0) {
			rc = 0;
			continue;
		}
		/* Descriptors sharing one open file (dup, 2>&1) must stay shared,
		 * or their offsets drift apart after restore. */
		for (uint32_t j = 0; j < p->nfds; j++)
			if (p->fds[j].kind == d->kind && p->fds[j].shares_with < 0 && strcmp(p->fds[j].path, d->path) == 0 &&
			    same_open_file(pid, p->fds[j].fd, d->fd)) {
				d->shares_with = p->fds[j].fd;
				break;
			}
		p->nfds++;
	}
	free(fds);
	return rc;
}

/* Opens the object of one descriptor as the process had it. */
static int reopen(const struct bm_fd *d)
{
	int flags = (int)d->flags & ~(O_CREAT | O_EXCL | O_TRUNC | O_NOCTTY | O_CLOEXEC);
	int fd;
	switch (d->kind) {
	case BM_FD_FIFO:
		/* Opening a FIFO blocks until a writer exists; O_NONBLOCK does not. */
		fd = open(d->path, flags | O_NONBLOCK);
		if (fd >= 0 && !(flags & O_NONBLOCK) && fcntl(fd, F_SETFL, flags) < 0) {
			close(fd);
			return -errno;
		}
		return fd < 0 ? -errno : fd;
	case BM_FD_DIRECTORY:
		fd = open(d->path, flags | O_DIRECTORY);
		return fd < 0 ? -errno : fd;
	default:
		fd = open(d->path, flags);
		if (fd < 0)
			return -errno;
		if (d->kind == BM_FD_REGULAR && lseek(fd, (off_t)d->pos, SEEK_SET) < 0) {
			int e = errno;
			close(fd);
			return -e;
		}
		return fd;
	}
}

int bm_check_fds(const struct bm_process *p)
{
	for (uint32_t i = 0; i < p->nfds; i++) {
		const struct bm_fd *d = &p->fds[i];
		struct stat st;
		if (d->shares_with >= 0 || d->kind == BM_FD_DEVICE)
			continue;
		if (stat(d->path, &st) < 0)
			return bm_error_errno(BM_EXIT_CONFLICT, errno, "fd %d: cannot reopen %s", d->fd, d->path);
		if ((st.st_mode & S_IFMT) != (d->mode & S_IFMT))
			return bm_error(BM_EXIT_CONFLICT, "fd %d: %s is no longer the same kind of file", d->fd, d->path);
	}
	return 0;
}

int bm_restore_fds(const struct bm_process *p, char *err, size_t errlen)
{
	for (uint32_t i = 0; i < p->nfds; i++) {
		const struct bm_fd *d = &p->fds[i];
		int cloexec = (d->flags & O_CLOEXEC) ? O_CLOEXEC : 0;
		if (d->shares_with >= 0) {
			if (dup3(d->shares_with, d->fd, cloexec) < 0) {
				snprintf(err, errlen, "fd %d: dup of fd %d: %s", d->fd, d->shares_with, strerror(errno));
				return -1;
			}
			continue;
		}
		int fd = reopen(d);
		if (fd < 0) {
			snprintf(err, errlen, "fd %d: cannot reopen %s: %s", d->fd, d->path, strerror(-fd));
			return -1;
		}
		if (fd != d->fd) {
			if (dup3(fd, d->fd, cloexec) < 0) {
				snprintf(err, errlen, "fd %d: dup3: %s", d->fd, strerror(errno));
				close(fd);
				return -1;
			}
			close(fd);
		} else if (cloexec) {
			fcntl(fd, F_SETFD, FD_CLOEXEC);
		}
	}
	return 0;
}
