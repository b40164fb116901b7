/* File descriptors, cwd and root: what each descriptor refers to at dump,
 * and reopening them at the same numbers at restore. */
#include "files.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <linux/capability.h>
#include <linux/kcmp.h>
#include <linux/magic.h>

#include "checkpoint.h"
#include "fault.h"
#include "fd_inotify.h"
#include "fd_opener.h"
#include "fd_outside.h"
#include "fd_sigio.h"
#include "fd_watch.h"
#include "file_locks.h"
#include "kstate.h"
#include "log.h"
#include "pipe_layout.h"
#include "procfs.h"
#include "sk_inet.h"
#include "sk_dgram_kernel.h"
#include "sk_inet_kernel.h"
#include "sk_unix.h"
#include "sk_unix_adopt.h"
#include "sk_unix_rights.h"
#include "timers.h"
#include "unlinked.h"

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

static int same_open_file(pid_t pid, int a, int b)
{
	return syscall(SYS_kcmp, pid, pid, KCMP_FILE, a, b) == 0;
}

static int eventfd_semaphore(pid_t pid, int fd)
{
	char name[32], *text;
	snprintf(name, sizeof name, "fdinfo/%d", fd);
	if (bm_read_proc_text(pid, name, &text) < 0)
		return 0;
	const char *sem = strstr(text, "eventfd-semaphore:");
	int v = sem ? atoi(sem + strlen("eventfd-semaphore:")) : 0;
	free(text);
	return v ? 1 : 0;
}

/* The restore opens a regular file or directory again by its name, as
 * binmig sees it: the name must lead to that very file (ST, of fd FD of
 * PID, whose /proc link is LINK).  It does not for a POSIX message queue
 * (its name is in a file system no path reaches), nor for a file in a
 * mount that binmig's mount namespace lacks or has covered.  0, or
 * negative after refusing. */
#define MQUEUE_FS_MAGIC 0x19800202 /* the mqueue file system's f_type */

static int reached_by_name(pid_t pid, int fd, const char *link, const char *path, const struct stat *st)
{
	struct statfs fs;
	if (statfs(link, &fs) == 0 && fs.f_type == MQUEUE_FS_MAGIC)
		return bm_fd_refuse(pid, fd, path, st->st_mode, ", a POSIX message queue (mq_open), which binmig does not "
				    "carry");
	struct stat named;
	if (stat(path, &named) == 0 && named.st_dev == st->st_dev && named.st_ino == st->st_ino)
		return 0;
	return bm_fd_refuse(pid, fd, path, st->st_mode, " whose name leads binmig to another file or to none (a file "
			    "of a mount that binmig's mount namespace does not have, or has covered since)");
}

/* Whether LINK, the /proc link of a descriptor of PID whose name is PATH,
 * leads into the /proc directory of PID itself or of one of its threads
 * (/proc/self, /proc/thread-self/comm): the restore cannot reopen it before
 * the new process exists, and what it reads (maps, stat, the position of
 * a seq file) would not be the original's. */
static bool in_own_proc(pid_t pid, const char *link, const char *path)
{
	struct statfs fs;
	unsigned long n;
	int end = 0;
	if (statfs(link, &fs) < 0 || fs.f_type != PROC_SUPER_MAGIC || sscanf(path, "/proc/%lu%n", &n, &end) < 1 ||
	    (path[end] != '/' && path[end] != 0))
		return false;
	char task[64];
	snprintf(task, sizeof task, "/proc/%d/task/%lu", pid, n);
	return (pid_t)n == pid || access(task, F_OK) == 0;
}

/* An O_PATH descriptor holds a place in the file tree and no open file:
 * opening the same name again with O_PATH (and O_NOFOLLOW, for a symlink
 * itself) is all of it, whatever the file is: a FIFO or a socket is not
 * opened, a regular file has no offset.  Kept as a regular file's kind,
 * reopened by name; the name must lead to that very file. */
static int describe_opath(pid_t pid, int fd, const char *path, const struct stat *st, struct bm_fd *out)
{
	struct stat named;
	int rc = (out->flags & O_NOFOLLOW) ? lstat(path, &named) : stat(path, &named);
	if (rc < 0 || named.st_dev != st->st_dev || named.st_ino != st->st_ino)
		return bm_fd_refuse(pid, fd, path, st->st_mode, ", an O_PATH descriptor whose name leads binmig to "
				    "another file or to none");
	out->kind = BM_FD_REGULAR;
	out->pos = 0;
	if (S_ISREG(st->st_mode))
		out->file = (struct bm_file_id){st->st_dev, st->st_ino, (uint64_t)st->st_size,
						(int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec};
	return 0;
}

static int describe_fd(pid_t pid, int fd, struct bm_fd *out, const struct bm_fd_policy *policy)
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
	if ((rc = bm_fault_rc(BM_FP_READ_FDINFO)) < 0 || (rc = bm_read_fdinfo(pid, fd, &info)) < 0)
		return rc == -ENOENT ? 1 : bm_error_errno(BM_EXIT_TARGET, -rc, "cannot read fdinfo of fd %d", fd);
	out->locks_seen = info.locks; /* read by file_locks.c */
	out->scm_fds_seen = info.scm_fds; /* by sk_unix.c */
	/* A lease turns signal-driven I/O on too (its break is signalled). */
	if ((info.flags & O_ASYNC) && info.locks)
		return bm_error(BM_EXIT_UNSUPPORTED, "fd %d of process %d (%s) holds a lock and uses signal-driven I/O "
				"(O_ASYNC), as a lease does; binmig does not carry leases", fd, pid, path);
	out->fd = fd;
	out->flags = info.flags;
	out->pos = info.pos;
	out->mode = st.st_mode;
	out->owner_uid = st.st_uid;
	out->owner_gid = st.st_gid;
	out->owner_known = true;
	out->shares_with = -1;
	out->in_flight = bm_unix_adopted(pid, fd, NULL);
	bool named = path[0] == '/';
	/* What the user asked for, whatever the descriptor is. */
	const struct bm_fd_rule *rule = bm_fd_policy_rule(policy, fd);
	if (rule) {
		if (deleted)
			strncat(path, " (deleted)", sizeof path - strlen(path) - 1);
		return bm_fd_policy_apply(pid, out, path, rule);
	}
	if (!(info.flags & O_PATH) && (rc = bm_sigio_read(pid, fd, path, st.st_mode, out)) != 0)
		return rc;
	if (named && in_own_proc(pid, link, path))
		return bm_fd_refuse(pid, fd, path, st.st_mode, ", a file in the process's own /proc directory, which "
				    "binmig cannot reopen for the restored process");
	if (named && deleted)
		return bm_unlinked_describe(pid, fd, path, &st, out);
	bool opath = (info.flags & O_PATH) && !S_ISDIR(st.st_mode);
	if (opath && !named)
		return bm_fd_refuse(pid, fd, path, st.st_mode, ", an O_PATH descriptor on an object without a name");
	if (opath && (rc = describe_opath(pid, fd, path, &st, out)) < 0)
		return rc;
	if (!opath && (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)) && named &&
	    (rc = reached_by_name(pid, fd, link, path, &st)) < 0)
		return rc;
	if (opath) {
		/* described above */
	} else if (S_ISREG(st.st_mode) && named) {
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
		out->object_id = st.st_ino; /* the FIFO's ends in the process are known by it */
	} else if (S_ISFIFO(st.st_mode) && named) {
		return bm_fd_refuse(pid, fd, path, st.st_mode, " open for writing, and only read ends are reopened");
	} else if (S_ISFIFO(st.st_mode) && strncmp(path, "pipe:", 5) == 0 && (info.flags & O_ACCMODE) == O_RDWR) {
		return bm_fd_refuse(pid, fd, path, st.st_mode, " open for both reading and writing (through /proc)");
	} else if (S_ISFIFO(st.st_mode) && strncmp(path, "pipe:", 5) == 0) {
		/* Whether its other end is inside too is known once all are seen. */
		out->kind = BM_FD_PIPE;
		out->object_id = st.st_ino;
	} else if (strcmp(path, "anon_inode:[eventfd]") == 0 && info.has_eventfd) {
		out->kind = BM_FD_EVENTFD;
		out->object_id = info.eventfd_count;
		out->object_flags = (uint32_t)eventfd_semaphore(pid, fd);
	} else if (strcmp(path, "anon_inode:[timerfd]") == 0 && info.has_timerfd) {
		/* Its settings are read with the other timers (timers.c). */
		out->kind = BM_FD_TIMERFD;
	} else if (strcmp(path, "anon_inode:inotify") == 0) {
		out->kind = BM_FD_INOTIFY; /* its watches are read once all descriptors are known */
	} else if ((rc = bm_describe_watch(pid, fd, path, st.st_ino, out)) != 0 ||
		   (S_ISSOCK(st.st_mode) && (rc = bm_sk_inet_describe(pid, fd, path, &st, out)) != 0)) {
		if (rc < 0)
			return rc;
	} else if (S_ISSOCK(st.st_mode) && (rc = bm_unix_describe(pid, fd, &st, out)) != 0) {
		if (rc < 0)
			return rc; /* its peers and queue are read once all descriptors are known */
	} else if (bm_fd_policy_stdio_applies(policy, fd) && bm_fd_peer_stays_behind(path, st.st_mode)) {
		return bm_fd_policy_apply_stdio(out, path, policy);
	} else {
		return bm_fd_refuse(pid, fd, path, st.st_mode, NULL);
	}
	out->path = strdup(path);
	if (!out->path)
		return bm_error(BM_EXIT_FAILURE, "out of memory");
	return 0;
}

/* The bytes buffered in a pipe, read without taking them: tee(2) into a
 * pipe of binmig's own, then read that.  A read end is a copy of the
 * process's own (pidfd_getfd), so that no open or close of a FIFO is
 * reported to an inotify watch on it or its directory (a process left
 * running would find those events queued); a write end is opened for
 * reading through /proc. */
static int read_pipe_data(pid_t pid, struct bm_fd *d)
{
	char link[64];
	snprintf(link, sizeof link, "/proc/%d/fd/%d", pid, d->fd);
	int fd = (d->flags & O_ACCMODE) == O_WRONLY ? open(link, O_RDONLY | O_NONBLOCK | O_CLOEXEC) : bm_fd_copy(pid, d->fd);
	if (fd < 0)
		return bm_error_errno(BM_EXIT_TARGET, errno, "cannot open the pipe of fd %d", d->fd);
	int own[2] = {-1, -1}, rc = 0;
	int cap = fcntl(fd, F_GETPIPE_SZ);
	if (cap <= 0 || pipe2(own, O_CLOEXEC | O_NONBLOCK) < 0 || fcntl(own[1], F_SETPIPE_SZ, cap) < cap)
		rc = bm_error_errno(BM_EXIT_FAILURE, errno, "cannot prepare to copy the pipe of fd %d", d->fd);
	ssize_t n = rc ? 0 : bm_fault(BM_FP_COPY_PIPE) ? -1 : tee(fd, own[1], (size_t)cap, SPLICE_F_NONBLOCK);
	if (n < 0 && errno != EAGAIN)
		rc = bm_error_errno(BM_EXIT_FAILURE, errno, "cannot copy the pipe of fd %d", d->fd);
	d->object_flags = cap > 0 ? (uint32_t)cap : 0;
	if (rc == 0 && n > 0) {
		/* A packet-mode pipe's copy reads one packet at a time. */
		d->data = malloc((size_t)n);
		ssize_t got = 0, r = 1;
		while (d->data && got < n && (r = read(own[0], d->data + got, (size_t)(n - got))) > 0)
			got += r;
		if (got != n)
			rc = bm_error(BM_EXIT_FAILURE, "cannot read the copy of the pipe of fd %d", d->fd);
		else
			d->data_len = (uint32_t)n;
	}
	close(fd);
	if (own[0] >= 0) {
		close(own[0]);
		close(own[1]);
	}
	return rc;
}

/* A descriptor of the processes that a policy replaced and that was an
 * end of the anonymous pipe with inode INO, or NULL. */
static const struct bm_fd *replaced_end(struct bm_process *const *procs, size_t nprocs, uint64_t ino)
{
	char link[40];
	snprintf(link, sizeof link, "pipe:[%llu]", (unsigned long long)ino);
	return bm_fd_replaced_from(procs, nprocs, BM_ORIGIN_PIPE, link);
}

/* Visits the descriptors of kind `kind` and object `object` in the
 * processes, in order: which directions exist, and whether (k, i) is the
 * first read end. */
static void pipe_ends(struct bm_process *const *procs, size_t nprocs, uint32_t kind, uint64_t object, size_t k0,
		      uint32_t i0, bool *has_read, bool *has_write, bool *first_read)
{
	*has_read = *has_write = false;
	*first_read = true;
	for (size_t k = 0; k < nprocs; k++)
		for (uint32_t j = 0; j < procs[k]->nfds; j++) {
			const struct bm_fd *e = &procs[k]->fds[j];
			if (e->kind != kind || e->object_id != object)
				continue;
			bool reader = (e->flags & O_ACCMODE) == O_RDONLY;
			*has_read |= reader;
			*has_write |= !reader;
			if (reader && (k < k0 || (k == k0 && j < i0)))
				*first_read = false;
		}
}

/* Whether a write end of pipe OBJECT is in packet mode (pipe2 O_DIRECT). */
static bool packet_mode(struct bm_process *const *procs, size_t nprocs, uint64_t object)
{
	for (size_t k = 0; k < nprocs; k++)
		for (uint32_t j = 0; j < procs[k]->nfds; j++) {
			const struct bm_fd *e = &procs[k]->fds[j];
			if (e->kind == BM_FD_PIPE && e->object_id == object && (e->flags & O_DIRECT))
				return true;
		}
	return false;
}

/* Whether the pipe of descriptor D of PID has no end at all in the other
 * direction, anywhere: no writer left for a read end (poll says POLLHUP),
 * no reader for a write end (POLLERR), as `make` gives the stdin of its
 * jobs.  Asked of the process's own description (pidfd_getfd): a reopened
 * one would count as an end itself, or (a reader) not see the hangup. */
static bool pipe_other_end_gone(pid_t pid, const struct bm_fd *d)
{
	bool reader = (d->flags & O_ACCMODE) == O_RDONLY;
	int fd = bm_fd_copy(pid, d->fd);
	if (fd < 0)
		return false;
	struct pollfd q = {.fd = fd, .events = reader ? POLLIN : POLLOUT};
	bool gone = poll(&q, 1, 0) == 1 && (q.revents & (reader ? POLLHUP : POLLERR));
	close(fd);
	return gone;
}

/* Pipes are migrated only when all their ends are inside the processes
 * moved together, or the ends that are not exist nowhere (the restored
 * pipe then has none either); the buffered bytes travel with the first
 * read end.  An
 * end that a policy replaced no longer counts: the ends left of its pipe
 * have lost that peer as surely as if it were outside, and rebuilding
 * them without it would change what they see without the user having
 * asked; they need a policy of their own. */
static int check_pipes(struct bm_process *const *procs, size_t nprocs, const struct bm_fd_policy *policy,
		       bool read_data)
{
	for (size_t k = 0; k < nprocs; k++)
		for (uint32_t i = 0; i < procs[k]->nfds; i++) {
			struct bm_process *p = procs[k];
			struct bm_fd *d = &p->fds[i];
			if (d->kind != BM_FD_PIPE)
				continue;
			bool has_read, has_write, first_read;
			pipe_ends(procs, nprocs, BM_FD_PIPE, d->object_id, k, i, &has_read, &has_write, &first_read);
			if ((!has_read || !has_write) && !pipe_other_end_gone(p->pid, d)) {
				if (!read_data && bm_unix_in_flight_somewhere(p))
					continue; /* the other end may be in flight: decided frozen */
				char link[40], why[80];
				snprintf(link, sizeof link, "pipe:[%llu]", (unsigned long long)d->object_id);
				snprintf(why, sizeof why, " whose other end is outside the process%s", nprocs > 1 ? " tree" : "");
				if (bm_fd_policy_stdio_applies(policy, d->fd)) {
					int rc = bm_fd_policy_apply_stdio(d, link, policy);
					if (rc < 0)
						return rc;
					continue;
				}
				const struct bm_fd *gone = replaced_end(procs, nprocs, d->object_id);
				if (gone)
					snprintf(why, sizeof why, " whose other end here, fd %d, is replaced by a policy", gone->fd);
				return bm_fd_refuse(p->pid, d->fd, link, d->mode, why);
			}
			if (read_data && first_read && (d->flags & O_ACCMODE) == O_RDONLY) {
				int rc = read_pipe_data(p->pid, d);
				if (rc < 0)
					return rc;
				/* Its packets are read with its layout, where BPF can
				 * (pipe_layout.h; bm_pipe_refuse_packets after). */
				if (d->data_len && packet_mode(procs, nprocs, d->object_id) && !bm_kstate_pipes_readable()) {
					char link[40];
					snprintf(link, sizeof link, "pipe:[%llu]", (unsigned long long)d->object_id);
					return bm_fd_refuse(p->pid, d->fd, link, d->mode, ", a packet-mode pipe (O_DIRECT) holding "
							    "data, whose packet boundaries binmig cannot read back");
				}
			}
		}
	return 0;
}

/* The bytes buffered in a named FIFO travel too, with the first of the
 * descriptors of it: once the processes are gone from this kernel, nobody
 * may hold the FIFO open, and its buffer goes with the last holder. */
static int read_fifo_data(struct bm_process *const *procs, size_t nprocs)
{
	for (size_t k = 0; k < nprocs; k++)
		for (uint32_t i = 0; i < procs[k]->nfds; i++) {
			struct bm_fd *d = &procs[k]->fds[i];
			if ((d->kind != BM_FD_FIFO && d->kind != BM_FD_UNLINKED_FIFO) || d->shares_with >= 0)
				continue;
			bool has_read, has_write, first;
			pipe_ends(procs, nprocs, d->kind, d->object_id, k, i, &has_read, &has_write, &first);
			int rc = first ? read_pipe_data(procs[k]->pid, d) : 0;
			if (rc < 0)
				return rc;
		}
	return 0;
}

/* The restore puts binmig's own descriptors above the highest of the
 * process, one per mapped file at most (plus its control descriptor and
 * the executable): raising its open-files limit that far must be
 * possible, within fs.nr_open, and beyond binmig's hard limit only with
 * CAP_SYS_RESOURCE.  The maps are counted only when the descriptors are high. */
static int check_room_above(pid_t pid, const struct bm_process *p)
{
	int top = -1;
	for (uint32_t i = 0; i < p->nfds; i++)
		if (p->fds[i].fd > top)
			top = p->fds[i].fd;
	struct rlimit lim;
	unsigned long nr_open = 1048576;
	FILE *f = fopen("/proc/sys/fs/nr_open", "re");
	if (f) {
		if (fscanf(f, "%lu", &nr_open) != 1)
			nr_open = 1048576;
		fclose(f);
	}
	if (top < 0 || getrlimit(RLIMIT_NOFILE, &lim) < 0)
		return 0;
	struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct caps[2] = {{0}};
	bool may_raise = syscall(SYS_capget, &hdr, caps) == 0 && (caps[0].effective & (1u << CAP_SYS_RESOURCE));
	rlim_t can = may_raise ? (rlim_t)nr_open : lim.rlim_max, need = (rlim_t)top + 3;
	if (need + 65536 <= can)
		return 0;
	char *maps;
	if (bm_read_proc_text(pid, "maps", &maps) < 0)
		return bm_error(BM_EXIT_TARGET, "cannot read the maps of process %d", pid);
	for (const char *c = maps; *c; c++)
		need += *c == '\n';
	free(maps);
	if (need <= can)
		return 0;
	return bm_error(BM_EXIT_UNSUPPORTED, "process %d has descriptor %d, too near the most descriptors binmig may "
			"open (%llu): the restore needs up to %llu of its own above it", pid, top, (unsigned long long)can,
			(unsigned long long)(need - (rlim_t)top - 1));
}

int bm_collect_fds(pid_t pid, struct bm_process *p, const struct bm_fd_policy *policy, enum bm_fds_mode mode)
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
		rc = describe_fd(pid, fds[i], d, policy);
		if (rc < 0) {
			p->nfds++; /* so that what it holds is freed with the rest */
			break;
		}
		if (rc > 0) {
			rc = 0;
			continue;
		}
		/* Descriptors sharing one open file (dup, 2>&1) must stay shared,
		 * or their offsets drift apart after restore.  (A closed one has
		 * nothing to share.) */
		for (uint32_t j = 0; j < p->nfds && d->kind != BM_FD_CLOSED; j++)
			if (p->fds[j].kind == d->kind && p->fds[j].shares_with < 0 && p->fds[j].object_id == d->object_id &&
			    (!d->path || strcmp(p->fds[j].path, d->path) == 0) && same_open_file(pid, p->fds[j].fd, d->fd)) {
				d->shares_with = p->fds[j].fd;
				break;
			}
		p->nfds++;
	}
	free(fds);
	if (rc == 0)
		rc = bm_collect_watches(pid, p);
	if (rc == 0)
		rc = bm_inotify_collect(pid, p);
	if (rc == 0)
		rc = bm_sk_inet_kernel_check(pid, p);
	if (rc == 0)
		rc = bm_sk_dgram_kernel_check(pid, p);
	if (rc == 0)
		rc = bm_sk_inet_collect(pid, p, mode != BM_FDS_PROBE, policy ? policy->move_addrs : NULL);
	if (rc == 0 && mode != BM_FDS_PROBE)
		rc = bm_unlinked_collect(pid, p);
	if (rc == 0)
		rc = bm_fd_openers_collect(p) < 0 ? -1 : 0;
	if (rc == 0)
		rc = check_room_above(pid, p);
	if (rc == 0 && mode != BM_FDS_TREE)
		rc = bm_collect_shared_fds(&p, 1, policy, mode == BM_FDS_STOPPED);
	return rc;
}

int bm_collect_shared_fds(struct bm_process *const *procs, size_t nprocs, const struct bm_fd_policy *policy,
			  bool read_data)
{
	int rc = bm_fd_policy_check_present(policy, procs, nprocs);
	if (rc == 0)
		rc = bm_unix_collect(procs, nprocs, policy, read_data);
	if (rc == 0)
		rc = check_pipes(procs, nprocs, policy, read_data);
	if (rc == 0)
		rc = bm_unix_rights_check_policies(procs, nprocs);
	if (rc == 0 && read_data)
		rc = read_fifo_data(procs, nprocs);
	if (rc == 0)
		rc = bm_fd_outside_check(procs, nprocs);
	if (rc == 0)
		rc = bm_sigio_check(procs, nprocs);
	return rc;
}

/* A FIFO whose buffer went with the original (dumped on this kernel, or
 * another kernel altogether) gets its capacity and bytes back.  One that
 * still holds bytes is the original's own buffer, alive because the
 * original still has it open (a migration between hosts that share a
 * kernel): it is left as it is. */
int bm_fifo_refill(const struct bm_fd *d, int reader)
{
	int queued = 0;
	if (!d->data_len || ioctl(reader, FIONREAD, &queued) < 0 || queued > 0)
		return 0;
	if (d->object_flags && fcntl(reader, F_SETPIPE_SZ, (int)d->object_flags) < 0)
		return -1;
	int writer = open(d->path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
	if (writer < 0)
		return -1;
	int rc = bm_pipe_refill(writer, d);
	close(writer);
	if (rc < 0) {
		errno = -rc;
		return -1;
	}
	return 0;
}

/* The flags of D that an open gives again. */
static int open_flags(const struct bm_fd *d)
{
	return (int)d->flags & ~(O_CREAT | O_EXCL | O_TRUNC | O_NOCTTY | O_CLOEXEC);
}

/* Opens the file of one descriptor by its name, with its flags (a FIFO
 * without waiting for a writer) and its offset. */
static int open_by_name(const struct bm_fd *d)
{
	int fd = open(d->path, open_flags(d) | (d->kind == BM_FD_FIFO ? O_NONBLOCK : 0) |
				       (d->kind == BM_FD_DIRECTORY ? O_DIRECTORY : 0));
	if (fd < 0)
		return -errno;
	if (d->kind == BM_FD_REGULAR && !(d->flags & O_PATH) && lseek(fd, (off_t)d->pos, SEEK_SET) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	return fd;
}

/* Opens the object of one descriptor as the process had it: as the
 * credentials that opened it (fd_opener.h; *step, as there), and a FIFO
 * given its bytes (by binmig: the opener may not write to it). */
static int reopen(const struct bm_fd *d, const char **step)
{
	*step = NULL;
	if (bm_fault(BM_FP_REOPEN_FD))
		return -errno;
	int fd = bm_fd_open_as_opener(d, open_by_name, step);
	if (fd < 0 || d->kind != BM_FD_FIFO)
		return fd;
	if (bm_fifo_refill(d, fd) < 0 || (!(d->flags & O_NONBLOCK) && fcntl(fd, F_SETFL, open_flags(d)) < 0)) {
		int e = errno;
		close(fd);
		return -e;
	}
	return fd;
}

int bm_check_fds(const struct bm_process *p)
{
	if (bm_unlinked_precheck_all(p) < 0 || bm_unix_precheck(p) < 0 || bm_sk_inet_precheck(p) < 0)
		return -1;
	for (uint32_t i = 0; i < p->nfds; i++) {
		const struct bm_fd *d = &p->fds[i];
		struct stat st;
		bool by_path = d->kind == BM_FD_REGULAR || d->kind == BM_FD_DIRECTORY || d->kind == BM_FD_FIFO;
		if (d->shares_with >= 0 || !d->path || !by_path)
			continue;
		if (((d->flags & O_NOFOLLOW) ? lstat(d->path, &st) : stat(d->path, &st)) < 0)
			return bm_error_errno(BM_EXIT_CONFLICT, errno, "fd %d: cannot reopen %s", d->fd, d->path);
		if ((st.st_mode & S_IFMT) != (d->mode & S_IFMT))
			return bm_error(BM_EXIT_CONFLICT, "fd %d: %s is no longer the same kind of file", d->fd, d->path);
	}
	return 0;
}

/* Moves descriptor fd to exactly `target`, closing fd. */
static int place(int fd, int target, bool cloexec)
{
	if (fd == target)
		return fcntl(fd, F_SETFD, cloexec ? FD_CLOEXEC : 0);
	int rc = dup3(fd, target, cloexec ? O_CLOEXEC : 0);
	close(fd);
	return rc < 0 ? -1 : 0;
}

/* Creates the pipe that fd d is an end of, with its capacity and buffered
 * bytes (in their buffers as they were, pipe_layout.h), and puts each of
 * its ends at the first image descriptor of that direction; later ends
 * are dups of those.  New descriptors are first moved above spare_fd so
 * they cannot land on a number still to be filled. */
static int restore_pipe(const struct bm_process *p, uint32_t index, int spare_fd, char *err, size_t errlen)
{
	const struct bm_fd *d = &p->fds[index];
	int ends[2];
	struct bm_fd_maker was = bm_fd_maker_become(d);
	int made = pipe2(ends, O_CLOEXEC);
	int e = errno;
	bm_fd_maker_back(was);
	if (made < 0) {
		snprintf(err, errlen, "fd %d: pipe: %s", d->fd, strerror(e));
		return -1;
	}
	for (int k = 0; k < 2; k++) {
		int high = fcntl(ends[k], F_DUPFD_CLOEXEC, spare_fd);
		close(ends[k]);
		ends[k] = high;
	}
	if (ends[0] < 0 || ends[1] < 0 || (d->object_flags && fcntl(ends[1], F_SETPIPE_SZ, d->object_flags) < 0)) {
		snprintf(err, errlen, "fd %d: preparing the pipe: %s", d->fd, strerror(errno));
		return -1;
	}
	for (uint32_t j = index; j < p->nfds; j++) {
		const struct bm_fd *e = &p->fds[j];
		if (e->kind != BM_FD_PIPE || e->object_id != d->object_id)
			continue;
		int rc = bm_pipe_refill(ends[1], e);
		if (rc < 0) {
			snprintf(err, errlen, "fd %d: refilling the pipe: %s", e->fd, strerror(-rc));
			return -1;
		}
	}
	/* The first end of each direction is the pipe's own; a dup shares its
	 * open file; another open file of the same end (opened again through
	 * /proc) is opened so again, with its own flags. */
	int first[2] = {-1, -1};
	for (uint32_t j = index; j < p->nfds; j++) {
		const struct bm_fd *e = &p->fds[j];
		if (e->kind != BM_FD_PIPE || e->object_id != d->object_id)
			continue;
		int dir = (e->flags & O_ACCMODE) == O_RDONLY ? 0 : 1, rc;
		int cloexec = (e->flags & O_CLOEXEC) ? O_CLOEXEC : 0;
		if (first[dir] < 0) {
			rc = place(ends[dir], e->fd, cloexec);
		} else if (e->shares_with >= 0) {
			rc = dup3(e->shares_with, e->fd, cloexec) < 0 ? -1 : 0;
		} else {
			char again[40];
			snprintf(again, sizeof again, "/proc/self/fd/%d", first[dir]);
			int fd = open(again, (dir ? O_WRONLY : O_RDONLY) | O_NONBLOCK | O_CLOEXEC);
			rc = fd < 0 ? -1 : place(fd, e->fd, cloexec);
		}
		if (rc < 0 || fcntl(e->fd, F_SETFL, (int)e->flags & BM_SETFL_FLAGS) < 0) {
			snprintf(err, errlen, "fd %d: placing a pipe end: %s", e->fd, strerror(errno));
			return -1;
		}
		if (first[dir] < 0)
			first[dir] = e->fd;
	}
	return 0;
}

/* Opens the object of the descriptor p->fds[i] that is neither a pipe
 * nor a dup: a new descriptor, or -1 with the reason in err.  An inotify
 * instance gets its watches at the end of bm_restore_fds if watch_later. */
static int open_object(const struct bm_process *p, uint32_t i, bool watch_later, char *err, size_t errlen)
{
	const struct bm_fd *d = &p->fds[i];
	int fd;
	if (d->kind == BM_FD_BROKEN_PIPE || d->kind == BM_FD_BROKEN_SOCKET) {
		fd = bm_fd_open_broken(d);
	} else if (d->kind == BM_FD_INOTIFY) {
		/* Watching at once only where the description is made for several
		 * processes of a tree (bm_open_description). */
		return bm_inotify_open(d, !watch_later, err, errlen);
	} else if (d->kind == BM_FD_TCP || d->kind == BM_FD_UDP) {
		return bm_sk_inet_open(d, err, errlen);
	} else if (BM_FD_IS_UNLINKED(d->kind)) {
		return bm_unlinked_open(p, i, err, errlen);
	} else if (d->kind == BM_FD_SIGNALFD || d->kind == BM_FD_EPOLL) {
		fd = bm_watch_open(d);
	} else if (d->kind == BM_FD_EVENTFD) {
		fd = eventfd((unsigned)d->object_id, (d->object_flags ? EFD_SEMAPHORE : 0) |
						     ((d->flags & O_NONBLOCK) ? EFD_NONBLOCK : 0));
		if (fd < 0)
			fd = -errno;
	} else if (d->kind == BM_FD_TIMERFD) {
		fd = bm_timerfd_open(p, d); /* armed at the end of the restore */
	} else {
		const char *step;
		fd = reopen(d, &step);
		if (fd < 0 && step) {
			snprintf(err, errlen, "fd %d: cannot reopen %s as the credentials that opened it (uid %u, gid %u; %s): %s",
				 d->fd, d->path, d->opener->uid[1], d->opener->gid[1], step, strerror(-fd));
			return -1;
		}
	}
	if (fd < 0) {
		snprintf(err, errlen, "fd %d: cannot reopen %s: %s", d->fd, d->path ? d->path : "its replacement",
			 strerror(-fd));
		return -1;
	}
	return fd;
}

/* What the object's own constructor cannot say (O_NONBLOCK on an epoll
 * instance, O_APPEND on a device, ...). */
int bm_set_status_flags(int fd, const struct bm_fd *d)
{
	int now = fcntl(fd, F_GETFL);
	if (now < 0)
		return -1;
	if (((now ^ (int)d->flags) & BM_SETFL_FLAGS) &&
	    fcntl(fd, F_SETFL, (now & ~BM_SETFL_FLAGS) | ((int)d->flags & BM_SETFL_FLAGS)) < 0)
		return -1;
	return 0;
}

int bm_open_description(const struct bm_process *p, uint32_t i, char *err, size_t errlen)
{
	/* An unlinked file is made here from p's first descriptor of it, not
	 * reopened through that descriptor: binmig does not hold p's. */
	int fd = p->fds[i].kind == BM_FD_UNLINKED_FILE ? bm_unlinked_open_shared(p, i, err, errlen)
							: open_object(p, i, false, err, errlen);
	if (fd >= 0 && bm_set_status_flags(fd, &p->fds[i]) < 0) {
		snprintf(err, errlen, "fd %d: setting its flags %#o: %s", p->fds[i].fd, p->fds[i].flags, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* Rebuilds descriptor I of p (the unix sockets all at once, with the first). */
static int restore_one(const struct bm_process *p, uint32_t i, int spare_fd, bool *sockets_made, char *err,
		       size_t errlen)
{
	const struct bm_fd *d = &p->fds[i];
	int cloexec = (d->flags & O_CLOEXEC) ? O_CLOEXEC : 0;
	if (d->kind == BM_FD_PIPE) {
		/* Created with its first end; the others are placed then too. */
		bool first = true;
		for (uint32_t j = 0; j < i; j++)
			first &= !(p->fds[j].kind == BM_FD_PIPE && p->fds[j].object_id == d->object_id);
		return first && restore_pipe(p, i, spare_fd, err, errlen) < 0 ? -1 : 0;
	}
	if (d->shares_with >= 0) {
		if (dup3(d->shares_with, d->fd, cloexec) < 0) {
			snprintf(err, errlen, "fd %d: dup of fd %d: %s", d->fd, d->shares_with, strerror(errno));
			return -1;
		}
		return 0;
	}
	if (d->kind == BM_FD_UNIX_SOCKET) {
		/* Pairs, listeners, queues: made together. */
		if (!*sockets_made && bm_unix_restore(p, spare_fd, err, errlen) < 0)
			return -1;
		*sockets_made = true;
		return 0;
	}
	if (d->kind == BM_FD_CLOSED)
		return 0;
	int fd = open_object(p, i, true, err, errlen);
	if (fd < 0)
		return -1;
	if (place(fd, d->fd, cloexec) < 0) {
		snprintf(err, errlen, "fd %d: dup3: %s", d->fd, strerror(errno));
		return -1;
	}
	if (bm_set_status_flags(d->fd, d) < 0) {
		snprintf(err, errlen, "fd %d: setting its flags %#o: %s", d->fd, d->flags, strerror(errno));
		return -1;
	}
	return 0;
}

struct bm_fd_maker bm_fd_maker_become(const struct bm_fd *d)
{
	if (!d->owner_known)
		return (struct bm_fd_maker){-1, -1};
	/* Each returns the value before; the group first, while binmig's own
	 * filesystem user may still set it. */
	long gid = syscall(SYS_setfsgid, d->owner_gid);
	long uid = syscall(SYS_setfsuid, d->owner_uid);
	return (struct bm_fd_maker){uid, gid};
}

void bm_fd_maker_back(struct bm_fd_maker was)
{
	if (was.uid < 0)
		return;
	syscall(SYS_setfsuid, was.uid);
	syscall(SYS_setfsgid, was.gid);
}

int bm_fd_give_owner(const struct bm_fd *d, char *err, size_t errlen)
{
	/* Pipes and TCP and UDP sockets are made as their owners already. */
	bool made_as_root = d->kind == BM_FD_BROKEN_PIPE || d->kind == BM_FD_BROKEN_SOCKET || d->kind == BM_FD_UNIX_SOCKET;
	if (!made_as_root || !d->owner_known || fchown(d->fd, d->owner_uid, d->owner_gid) == 0)
		return 0;
	snprintf(err, errlen, "fd %d: giving it its owner %u:%u: %s", d->fd, d->owner_uid, d->owner_gid, strerror(errno));
	return -1;
}

static int restore_owners(const struct bm_process *p, const bool *skip, char *err, size_t errlen)
{
	for (uint32_t i = 0; i < p->nfds; i++)
		if (!(skip && skip[i]) && p->fds[i].shares_with < 0 && bm_fd_give_owner(&p->fds[i], err, errlen) < 0)
			return -1;
	return 0;
}

int bm_restore_fds(const struct bm_process *p, int ctl_fd, const bool *skip, const struct bm_lock_turns *turns,
		   char *err, size_t errlen)
{
	int spare_fd = ctl_fd + 1;
	bool sockets_made = false;
	/* TCP connections after everything else: they share ports with listeners. */
	for (int pass = 0; pass < 2; pass++)
		for (uint32_t i = 0; i < p->nfds; i++)
			if (!(skip && skip[i]) && bm_sk_inet_deferred(p, &p->fds[i]) == (pass == 1) &&
			    restore_one(p, i, spare_fd, &sockets_made, err, errlen) < 0)
				return -1;
	/* Every descriptor is back: unix queues with descriptors in flight
	 * are written, connections leave repair mode, epoll instances watch
	 * them again, and what was only in flight is closed. */
	if (bm_unix_fill_rights(p, err, errlen) < 0 || bm_sk_inet_finish(p, err, errlen) < 0 ||
	    bm_locks_take(p, turns, err, errlen) < 0 || bm_watch_restore(p, ctl_fd, err, errlen) < 0 ||
	    restore_owners(p, skip, err, errlen) < 0)
		return -1;
	return 0;
}

int bm_restore_fds_last(const struct bm_process *p, const bool *skip, char *err, size_t errlen)
{
	/* Nothing the restore does to the watched files queues events from
	 * here on; an instance only in flight is still open. */
	for (uint32_t i = 0; i < p->nfds; i++) {
		const struct bm_fd *d = &p->fds[i];
		if (!(skip && skip[i]) && d->kind == BM_FD_INOTIFY && d->shares_with < 0 &&
		    bm_inotify_watch_again(d, d->fd, err, errlen) < 0)
			return -1;
	}
	return bm_unix_adopt_close(p, err, errlen) < 0 ? -1 : 0;
}
