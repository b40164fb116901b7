/* Open files that a process not moved holds too (fd_outside.h). */
#include "fd_outside.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/kcmp.h>

#include "fd_policy.h"
#include "file_locks.h"
#include "log.h"

/* A channel of the processes moved: how a descriptor elsewhere is told to
 * be the same. */
struct channel {
	pid_t pid;
	const struct bm_fd *d;
	enum { BY_INODE, BY_FILE, BY_KCMP } how;
	char link[64];       /* its /proc link: "pipe:[123]", "socket:[45]", "anon_inode:[eventfd]", or a path */
	dev_t dev;           /* BY_FILE: the unlinked FIFO's */
	ino_t ino;           /* BY_FILE */
};

static bool is_channel(uint32_t kind)
{
	switch (kind) {
	case BM_FD_PIPE:
	case BM_FD_UNLINKED_FIFO:
	case BM_FD_UNIX_SOCKET:
	case BM_FD_TCP:
	case BM_FD_UDP:
	case BM_FD_EVENTFD:
	case BM_FD_TIMERFD:
	case BM_FD_EPOLL:
	case BM_FD_INOTIFY:
		return true;
	default:
		return false;
	}
}

static ssize_t fd_link(pid_t pid, int fd, char *out, size_t n)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/fd/%d", (int)pid, fd);
	ssize_t len = readlink(path, out, n - 1);
	out[len > 0 ? len : 0] = 0;
	return len;
}

/* Whether descriptor D of PID holds a lock that its open file description
 * owns (flock, OFD): one that a process sharing the description holds
 * too, and that binmig releases at the source while the image travels. */
static bool owns_locks(pid_t pid, const struct bm_fd *d)
{
	if (!d->locks_seen || (d->kind != BM_FD_REGULAR && d->kind != BM_FD_DIRECTORY && d->kind != BM_FD_UNLINKED_FILE))
		return false;
	char path[64], line[256];
	snprintf(path, sizeof path, "/proc/%d/fdinfo/%d", (int)pid, d->fd);
	FILE *f = fopen(path, "re");
	bool owned = false;
	while (f && !owned && fgets(line, sizeof line, f)) {
		struct bm_file_lock l;
		char what[32];
		owned = strncmp(line, "lock:", 5) == 0 && bm_lock_parse(line + 5, &l, what, sizeof what) == 0 &&
			l.kind != BM_LOCK_POSIX;
	}
	if (f)
		fclose(f);
	return owned;
}

/* The channels of PROCS into *OUT (malloc'd).  A count, or -errno. */
static ssize_t channels_of(struct bm_process *const *procs, size_t nprocs, struct channel **out)
{
	size_t n = 0, cap = 0;
	struct channel *c = NULL;
	for (size_t k = 0; k < nprocs; k++)
		for (uint32_t i = 0; i < procs[k]->nfds; i++) {
			const struct bm_fd *d = &procs[k]->fds[i];
			bool locked = d->replaced == BM_FD_CARRIED && d->shares_with < 0 && owns_locks(procs[k]->pid, d);
			if ((!is_channel(d->kind) && !locked) || d->replaced != BM_FD_CARRIED || d->shares_with >= 0)
				continue;
			if (n == cap) {
				cap = cap ? 2 * cap : 16;
				struct channel *more = realloc(c, cap * sizeof *more);
				if (!more) {
					free(c);
					return -ENOMEM;
				}
				c = more;
			}
			struct channel *e = &c[n];
			memset(e, 0, sizeof *e);
			e->pid = procs[k]->pid;
			e->d = d;
			if (fd_link(e->pid, d->fd, e->link, sizeof e->link) <= 0)
				continue; /* closed meanwhile: nothing to share */
			if (locked) {
				e->how = BY_KCMP; /* by its path, then kcmp */
			} else if (e->link[0] == '/') {
				struct stat st;
				char path[64];
				snprintf(path, sizeof path, "/proc/%d/fd/%d", (int)e->pid, d->fd);
				if (stat(path, &st) < 0 || !S_ISFIFO(st.st_mode))
					continue;
				e->how = BY_FILE;
				e->dev = st.st_dev;
				e->ino = st.st_ino;
			} else {
				e->how = strncmp(e->link, "anon_inode:", 11) == 0 ? BY_KCMP : BY_INODE;
			}
			n++;
		}
	*out = c;
	return (ssize_t)n;
}

static bool moved(struct bm_process *const *procs, size_t nprocs, pid_t pid)
{
	for (size_t k = 0; k < nprocs; k++)
		if (procs[k]->pid == pid)
			return true;
	return false;
}

/* Whether descriptor FD of process PID, whose link is LINK, is channel C. */
static bool same(const struct channel *c, pid_t pid, int fd, const char *link)
{
	switch (c->how) {
	case BY_INODE:
		return strcmp(link, c->link) == 0;
	case BY_KCMP:
		return strcmp(link, c->link) == 0 &&
		       syscall(SYS_kcmp, c->pid, pid, KCMP_FILE, c->d->fd, fd) == 0;
	case BY_FILE: {
		if (link[0] != '/')
			return false;
		char path[64];
		struct stat st;
		snprintf(path, sizeof path, "/proc/%d/fd/%d", (int)pid, fd);
		return stat(path, &st) == 0 && st.st_dev == c->dev && st.st_ino == c->ino;
	}
	}
	return false;
}

/* The first channel of C[0..n) that process PID holds too, or NULL. */
static const struct channel *held_by(const struct channel *c, size_t n, pid_t pid)
{
	char dir[64];
	snprintf(dir, sizeof dir, "/proc/%d/fd", (int)pid);
	DIR *fds = opendir(dir);
	if (!fds)
		return NULL; /* gone, or a kernel thread */
	const struct channel *hit = NULL;
	for (struct dirent *e; !hit && (e = readdir(fds));) {
		if (!isdigit((unsigned char)e->d_name[0]))
			continue;
		int fd = atoi(e->d_name);
		char link[4096];
		if (fd_link(pid, fd, link, sizeof link) <= 0)
			continue;
		for (size_t i = 0; !hit && i < n; i++)
			if (same(&c[i], pid, fd, link))
				hit = &c[i];
	}
	closedir(fds);
	return hit;
}

static void read_comm(pid_t pid, char *out, size_t n)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/comm", (int)pid);
	FILE *f = fopen(path, "re");
	if (f && fgets(out, (int)n, f))
		out[strcspn(out, "\n")] = 0;
	if (f)
		fclose(f);
}

int bm_fd_outside_check(struct bm_process *const *procs, size_t nprocs)
{
	struct channel *c;
	ssize_t n = channels_of(procs, nprocs, &c);
	if (n < 0)
		return bm_error(BM_EXIT_FAILURE, "out of memory");
	if (n == 0) {
		free(c);
		return 0;
	}
	DIR *proc = opendir("/proc");
	if (!proc) {
		free(c);
		return bm_error_errno(BM_EXIT_FAILURE, errno, "cannot read /proc");
	}
	int rc = 0;
	for (struct dirent *e; rc == 0 && (e = readdir(proc));) {
		if (!isdigit((unsigned char)e->d_name[0]))
			continue;
		pid_t pid = (pid_t)atoi(e->d_name);
		if (pid == getpid() || moved(procs, nprocs, pid))
			continue;
		const struct channel *hit = held_by(c, (size_t)n, pid);
		if (!hit)
			continue;
		char comm[32] = "", why[160];
		read_comm(pid, comm, sizeof comm);
		snprintf(why, sizeof why, " that process %d (%s), which does not move with it, holds too", (int)pid, comm);
		rc = bm_fd_refuse(hit->pid, hit->d->fd, hit->link, hit->d->mode, why);
	}
	closedir(proc);
	free(c);
	return rc;
}
