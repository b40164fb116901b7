/* The descriptor policy (--fd N=ACTION, --stdio): parsing it, applying it
 * to a descriptor at dump, the report at restore, and the "broken" ends
 * the restored process gets.  files.c describes and reopens descriptors
 * and calls in here for the ones a policy names or that it must refuse. */
#include "fd_policy.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "log.h"
#include "procfs.h"
#include "sk_unix_adopt.h"

/* ---- parsing ---- */

static const struct {
	const char *word;
	enum bm_fd_action action;
} action_words[] = {
	{"null", BM_FD_TO_NULL}, {"close", BM_FD_TO_CLOSED}, {"broken", BM_FD_TO_BROKEN},
};

static int bad_spec(const char *spec, const char *why)
{
	bm_error(BM_EXIT_USAGE, "bad --fd value '%s': %s (see binmig --help)", spec, why);
	return -EINVAL;
}

int bm_fd_policy_add(struct bm_fd_policy *policy, const char *spec)
{
	const char *eq = strchr(spec, '=');
	if (!eq)
		return bad_spec(spec, "expected N=ACTION, ACTION null, close, file:PATH or broken");
	/* Digits only: no sign, no blanks, nothing strtol would skip. */
	long fd = 0;
	if (eq == spec)
		return bad_spec(spec, "no descriptor number before '='");
	for (const char *c = spec; c < eq; c++) {
		if (*c < '0' || *c > '9')
			return bad_spec(spec, "the descriptor number must be decimal digits");
		fd = fd * 10 + (*c - '0');
		if (fd > INT_MAX)
			return bad_spec(spec, "the descriptor number is too large");
	}
	struct bm_fd_rule rule = {(int)fd, BM_FD_CARRIED, NULL, spec};
	const char *what = eq + 1;
	for (size_t i = 0; i < sizeof action_words / sizeof *action_words; i++)
		if (strcmp(what, action_words[i].word) == 0)
			rule.action = action_words[i].action;
	if (strncmp(what, "file:", 5) == 0) {
		if (!what[5])
			return bad_spec(spec, "file: needs a PATH");
		rule.action = BM_FD_TO_FILE;
		rule.path = what + 5;
	}
	if (rule.action == BM_FD_CARRIED)
		return bad_spec(spec, "the action must be null, close, file:PATH or broken");
	const struct bm_fd_rule *same = bm_fd_policy_rule(policy, rule.fd);
	if (same) {
		bm_error(BM_EXIT_USAGE, "--fd %d given twice ('%s', then '%s') (see binmig --help)", rule.fd, same->spec,
			 spec);
		return -EINVAL;
	}
	struct bm_fd_rule *more = realloc(policy->rules, (policy->nrules + 1) * sizeof *more);
	if (!more) {
		bm_error(BM_EXIT_FAILURE, "out of memory");
		return -ENOMEM;
	}
	policy->rules = more;
	policy->rules[policy->nrules++] = rule;
	return 0;
}

int bm_fd_policy_set_stdio(struct bm_fd_policy *policy, const char *text)
{
	if (strcmp(text, "refuse") == 0)
		policy->stdio = BM_STDIO_REFUSE;
	else if (strcmp(text, "null") == 0)
		policy->stdio = BM_STDIO_NULL;
	else if (strncmp(text, "file:", 5) == 0 && text[5])
		policy->stdio = BM_STDIO_FILE, policy->stdio_file = text + 5;
	else
		return -EINVAL;
	return 0;
}

void bm_fd_policy_free(struct bm_fd_policy *policy)
{
	free(policy->rules);
	policy->rules = NULL;
	policy->nrules = 0;
}

const struct bm_fd_rule *bm_fd_policy_rule(const struct bm_fd_policy *policy, int fd)
{
	for (size_t i = 0; policy && i < policy->nrules; i++)
		if (policy->rules[i].fd == fd)
			return &policy->rules[i];
	return NULL;
}

bool bm_fd_policy_stdio_applies(const struct bm_fd_policy *policy, int fd)
{
	return policy && fd >= 0 && fd <= 2 && policy->stdio != BM_STDIO_REFUSE && !bm_fd_policy_rule(policy, fd);
}

/* ---- what a descriptor is ---- */

enum bm_fd_origin bm_fd_origin_of(const char *link, mode_t mode)
{
	static const struct {
		const char *name;
		enum bm_fd_origin origin;
	} anon[] = {
		{"[eventfd]", BM_ORIGIN_EVENTFD}, {"[eventpoll]", BM_ORIGIN_EPOLL}, {"[signalfd]", BM_ORIGIN_SIGNALFD},
		{"[timerfd]", BM_ORIGIN_TIMERFD}, {"inotify", BM_ORIGIN_INOTIFY},   {"[pidfd]", BM_ORIGIN_PIDFD},
	};
	if (S_ISSOCK(mode) || strncmp(link, "socket:", 7) == 0)
		return BM_ORIGIN_SOCKET;
	if (strncmp(link, "pipe:", 5) == 0)
		return BM_ORIGIN_PIPE;
	if (strncmp(link, "anon_inode:", 11) == 0) {
		for (size_t i = 0; i < sizeof anon / sizeof *anon; i++)
			if (strcmp(link + 11, anon[i].name) == 0)
				return anon[i].origin;
		return BM_ORIGIN_ANON_INODE;
	}
	if (S_ISFIFO(mode))
		return BM_ORIGIN_FIFO;
	if (S_ISREG(mode))
		return BM_ORIGIN_REGULAR;
	if (S_ISDIR(mode))
		return BM_ORIGIN_DIRECTORY;
	if (S_ISCHR(mode))
		return strncmp(link, "/dev/pts/", 9) == 0 || strncmp(link, "/dev/tty", 8) == 0 ? BM_ORIGIN_TERMINAL
											 : BM_ORIGIN_CHARDEV;
	if (S_ISBLK(mode))
		return BM_ORIGIN_BLOCKDEV;
	return BM_ORIGIN_OTHER;
}

const char *bm_fd_origin_name(uint32_t origin)
{
	static const char *const names[] = {
		[BM_ORIGIN_REGULAR] = "a regular file",	     [BM_ORIGIN_DIRECTORY] = "a directory",
		[BM_ORIGIN_CHARDEV] = "a character device",  [BM_ORIGIN_TERMINAL] = "a terminal",
		[BM_ORIGIN_BLOCKDEV] = "a block device",     [BM_ORIGIN_FIFO] = "a named FIFO",
		[BM_ORIGIN_PIPE] = "an anonymous pipe",	     [BM_ORIGIN_SOCKET] = "a socket",
		[BM_ORIGIN_EVENTFD] = "an eventfd",	     [BM_ORIGIN_EPOLL] = "an epoll instance",
		[BM_ORIGIN_SIGNALFD] = "a signalfd",	     [BM_ORIGIN_TIMERFD] = "a timerfd",
		[BM_ORIGIN_INOTIFY] = "an inotify instance", [BM_ORIGIN_PIDFD] = "a pidfd",
		[BM_ORIGIN_ANON_INODE] = "an anonymous inode", [BM_ORIGIN_OTHER] = "of an unsupported kind",
	};
	return origin >= 1 && origin <= BM_ORIGIN_MAX ? names[origin] : "?";
}

/* A pipe end or a socket: what `broken` can rebuild. */
static bool has_peer_end(enum bm_fd_origin o)
{
	return o == BM_ORIGIN_PIPE || o == BM_ORIGIN_FIFO || o == BM_ORIGIN_SOCKET;
}

static bool peer_stays_behind(enum bm_fd_origin o)
{
	return o == BM_ORIGIN_PIPE || o == BM_ORIGIN_SOCKET || o == BM_ORIGIN_TERMINAL;
}

bool bm_fd_peer_stays_behind(const char *link, mode_t mode)
{
	return peer_stays_behind(bm_fd_origin_of(link, mode));
}

int bm_fd_refuse(pid_t pid, int fd, const char *link, mode_t mode, const char *detail)
{
	enum bm_fd_origin o = bm_fd_origin_of(link, mode);
	int via;
	if (bm_unix_adopted(pid, fd, &via)) /* no policy can name it */
		return bm_error(BM_EXIT_UNSUPPORTED, "an open file in flight (SCM_RIGHTS) in the queue of socket fd %d of "
				"process %d, which holds no descriptor of it, is %s (%s)%s; binmig cannot migrate it", via,
				pid, bm_fd_origin_name(o), link, detail ? detail : "");
	return bm_error(BM_EXIT_UNSUPPORTED,
			"fd %d of process %d is %s (%s)%s; binmig cannot migrate it (--fd %d=%s lets it go%s)", fd, pid,
			bm_fd_origin_name(o), link, detail ? detail : "", fd,
			has_peer_end(o) ? "null|close|file:PATH|broken" : "null|close|file:PATH",
			fd <= 2 && peer_stays_behind(o) ? ", or see --stdio" : "");
}

/* ---- applying a policy at dump ---- */

/* The descriptor as the destination gets it: nothing of the source's
 * object is kept but its access mode and fd flags. */
static int become(struct bm_fd *d, uint32_t kind, uint32_t flags, mode_t mode, const char *link, uint32_t origin)
{
	d->kind = kind;
	d->flags = flags;
	d->mode = mode;
	d->pos = 0;
	d->shares_with = -1;
	d->rdev = 0;
	d->file = (struct bm_file_id){0};
	d->object_id = 0;
	d->object_flags = 0;
	d->was = origin;
	free(d->path);
	d->path = NULL;
	free(d->was_link);
	d->was_link = strdup(link);
	return d->was_link ? 0 : bm_error(BM_EXIT_FAILURE, "out of memory");
}

static int set_path(struct bm_fd *d, const char *path)
{
	d->path = strdup(path);
	return d->path ? 0 : bm_error(BM_EXIT_FAILURE, "out of memory");
}

static int become_null(struct bm_fd *d, uint32_t flags, const char *link, uint32_t origin)
{
	if (become(d, BM_FD_DEVICE, flags, S_IFCHR | 0666, link, origin) < 0)
		return -1;
	d->rdev = makedev(1, 3);
	return set_path(d, "/dev/null");
}

/* Opens PATH now (never blocking, never as a controlling terminal), so a
 * file that cannot be had fails the dump rather than the restore, and
 * records it by its absolute name: a relative one would be resolved
 * against wherever the restore runs. */
static int become_file(struct bm_fd *d, const char *option, const char *path, int oflags, const char *link,
		       uint32_t origin)
{
	int f = open(path, oflags | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0644);
	if (f < 0)
		return bm_error_errno(BM_EXIT_IO, errno, "%s: cannot open %s", option, path);
	struct stat st;
	char self[64], real[PATH_MAX];
	snprintf(self, sizeof self, "/proc/self/fd/%d", f);
	int rc = fstat(f, &st) < 0 ? -errno : bm_readlink(self, real, sizeof real, NULL);
	close(f);
	if (rc < 0)
		return bm_error_errno(BM_EXIT_IO, -rc, "%s: cannot look at %s", option, path);
	if (!S_ISREG(st.st_mode))
		return bm_error(BM_EXIT_USAGE, "%s: %s is not a regular file", option, path);
	uint32_t flags = (d->flags & (O_CLOEXEC | O_NONBLOCK)) | (uint32_t)(oflags & (O_ACCMODE | O_APPEND));
	if (become(d, BM_FD_REGULAR, flags, st.st_mode, link, origin) < 0)
		return -1;
	d->file = (struct bm_file_id){st.st_dev, st.st_ino, (uint64_t)st.st_size,
				      (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec};
	return set_path(d, real);
}

int bm_fd_copy(pid_t pid, int fd)
{
	int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	int copy = pidfd < 0 ? -1 : (int)syscall(SYS_pidfd_getfd, pidfd, fd, 0);
	int e = errno;
	if (pidfd >= 0)
		close(pidfd);
	errno = e;
	return copy;
}

const struct bm_fd *bm_fd_replaced_from(struct bm_process *const *procs, size_t nprocs, uint32_t origin,
					const char *link)
{
	for (size_t k = 0; k < nprocs; k++)
		for (uint32_t i = 0; i < procs[k]->nfds; i++) {
			const struct bm_fd *d = &procs[k]->fds[i];
			if (d->replaced && d->was == origin && d->was_link && strcmp(d->was_link, link) == 0)
				return d;
		}
	return NULL;
}

/* A socket's type, and whether it listens, seen through a copy of the
 * process's descriptor. */
static int socket_type(pid_t pid, int fd, int *type, int *listening)
{
	int s = bm_fd_copy(pid, fd);
	if (s < 0)
		return -errno;
	int rc = 0;
	socklen_t len = sizeof *type;
	if (getsockopt(s, SOL_SOCKET, SO_TYPE, type, &len) < 0)
		rc = -errno;
	len = sizeof *listening;
	if (rc == 0 && getsockopt(s, SOL_SOCKET, SO_ACCEPTCONN, listening, &len) < 0)
		rc = -errno;
	close(s);
	return rc;
}

static int become_broken(pid_t pid, struct bm_fd *d, const char *option, const char *link, uint32_t origin)
{
	uint32_t acc = d->flags & O_ACCMODE, keep = d->flags & (O_CLOEXEC | O_NONBLOCK);
	const char *what = bm_fd_origin_name(origin);
	if (origin == BM_ORIGIN_PIPE || origin == BM_ORIGIN_FIFO) {
		if (acc != O_RDONLY && acc != O_WRONLY)
			return bm_error(BM_EXIT_USAGE, "%s: fd %d of process %d is %s (%s) open for reading and writing; "
					"broken rebuilds a read end or a write end", option, d->fd, pid, what, link);
		return become(d, BM_FD_BROKEN_PIPE, acc | keep, S_IFIFO | 0600, link, origin);
	}
	if (origin != BM_ORIGIN_SOCKET)
		return bm_error(BM_EXIT_USAGE, "%s: fd %d of process %d is %s (%s), not a pipe end or a socket; broken "
				"applies only to those (null, close and file:PATH apply to anything)", option, d->fd,
				pid, what, link);
	int type = 0, listening = 0;
	int rc = socket_type(pid, d->fd, &type, &listening);
	if (rc < 0)
		return bm_error_errno(BM_EXIT_TARGET, -rc, "%s: cannot look at the socket fd %d of process %d", option,
				      d->fd, pid);
	if (listening)
		return bm_error(BM_EXIT_USAGE, "%s: fd %d of process %d is a listening socket (%s), which has no peer to "
				"lose (null or close apply)", option, d->fd, pid, link);
	if (type != SOCK_STREAM && type != SOCK_DGRAM && type != SOCK_SEQPACKET)
		return bm_error(BM_EXIT_USAGE, "%s: fd %d of process %d is a socket (%s) of type %d; broken rebuilds "
				"stream, datagram and seqpacket sockets only", option, d->fd, pid, link, type);
	rc = become(d, BM_FD_BROKEN_SOCKET, O_RDWR | keep, S_IFSOCK | 0777, link, origin);
	d->object_flags = (uint32_t)type;
	return rc;
}

int bm_fd_policy_apply(pid_t pid, struct bm_fd *d, const char *link, const struct bm_fd_rule *rule)
{
	uint32_t origin = bm_fd_origin_of(link, d->mode);
	uint32_t acc = d->flags & O_ACCMODE, keep = d->flags & (O_CLOEXEC | O_NONBLOCK);
	char option[PATH_MAX + 32];
	snprintf(option, sizeof option, "--fd %s", rule->spec);
	if (acc == O_ACCMODE)
		acc = O_RDWR; /* open(2)'s "ioctl only" mode 3: both is the nearest a file can give */
	int rc = 0;
	switch (rule->action) {
	case BM_FD_TO_NULL:
		rc = become_null(d, acc | keep, link, origin);
		break;
	case BM_FD_TO_CLOSED:
		rc = become(d, BM_FD_CLOSED, d->flags, d->mode, link, origin);
		break;
	case BM_FD_TO_FILE:
		/* Reading starts at the file's beginning, writing appends. */
		rc = become_file(d, option, rule->path, acc == O_RDONLY ? O_RDONLY : (int)acc | O_CREAT | O_APPEND,
				 link, origin);
		break;
	case BM_FD_TO_BROKEN:
		rc = become_broken(pid, d, option, link, origin);
		break;
	default:
		rc = bm_error(BM_EXIT_FAILURE, "fd %d: unknown policy action %d", d->fd, (int)rule->action);
	}
	if (rc == 0) {
		d->replaced = rule->action;
		d->replaced_by = BM_FD_BY_FD_OPTION;
	}
	return rc;
}

int bm_fd_policy_apply_stdio(struct bm_fd *d, const char *link, const struct bm_fd_policy *policy)
{
	/* As --stdio always did: stdin reads nothing, stdout and stderr write
	 * to /dev/null or append to the file, whatever their access mode. */
	uint32_t origin = bm_fd_origin_of(link, d->mode);
	uint32_t flags = (d->flags & O_CLOEXEC) | (d->fd == 0 ? O_RDONLY : O_WRONLY);
	int rc;
	if (policy->stdio == BM_STDIO_FILE && d->fd > 0) {
		rc = become_file(d, "--stdio", policy->stdio_file, O_WRONLY | O_CREAT | O_APPEND, link, origin);
		d->flags = flags | O_APPEND;
		d->replaced = BM_FD_TO_FILE;
	} else {
		rc = become_null(d, flags, link, origin);
		d->replaced = BM_FD_TO_NULL;
	}
	d->replaced_by = BM_FD_BY_STDIO_OPTION;
	return rc;
}

int bm_fd_policy_check_present(const struct bm_fd_policy *policy, struct bm_process *const *procs, size_t nprocs)
{
	for (size_t i = 0; policy && i < policy->nrules; i++) {
		const struct bm_fd_rule *r = &policy->rules[i];
		bool found = false;
		for (size_t k = 0; k < nprocs && !found; k++)
			for (uint32_t j = 0; j < procs[k]->nfds && !found; j++)
				found = procs[k]->fds[j].fd == r->fd;
		if (!found && nprocs == 1)
			return bm_error(BM_EXIT_USAGE, "--fd %s: process %d has no descriptor %d", r->spec, procs[0]->pid,
					r->fd);
		if (!found)
			return bm_error(BM_EXIT_USAGE, "--fd %s: no process of the tree has a descriptor %d", r->spec, r->fd);
	}
	return 0;
}

/* ---- the report ---- */

static const char *access_words(uint32_t flags)
{
	switch (flags & O_ACCMODE) {
	case O_RDONLY: return "read-only";
	case O_WRONLY: return "write-only";
	default: return "read-write";
	}
}

static const char *socket_type_word(uint32_t type)
{
	switch (type) {
	case SOCK_STREAM: return "stream";
	case SOCK_DGRAM: return "datagram";
	case SOCK_SEQPACKET: return "seqpacket";
	default: return "?";
	}
}

void bm_fd_replacement_text(const struct bm_fd *d, char *buf, size_t len)
{
	char now[PATH_MAX + 64], option[PATH_MAX + 32];
	bool reader = (d->flags & O_ACCMODE) == O_RDONLY;
	switch (d->kind) {
	case BM_FD_CLOSED:
		snprintf(now, sizeof now, "closed");
		break;
	case BM_FD_BROKEN_PIPE:
		snprintf(now, sizeof now, "the %s end of a pipe whose %s end is closed", reader ? "read" : "write",
			 reader ? "write" : "read");
		break;
	case BM_FD_BROKEN_SOCKET:
		snprintf(now, sizeof now, "a unix %s socket whose peer is closed", socket_type_word(d->object_flags));
		break;
	case BM_FD_REGULAR:
		snprintf(now, sizeof now, "%s, %s", d->path ? d->path : "?",
			 reader ? "read from its start" : (d->flags & O_ACCMODE) == O_WRONLY ? "appending" : "read-write, appending");
		break;
	default:
		snprintf(now, sizeof now, "%s, %s", d->path ? d->path : "?", access_words(d->flags));
	}
	if (d->replaced_by == BM_FD_BY_STDIO_OPTION)
		snprintf(option, sizeof option, "--stdio");
	else if (d->replaced == BM_FD_TO_FILE)
		snprintf(option, sizeof option, "--fd %d=file:%s", d->fd, d->path ? d->path : "?");
	else
		snprintf(option, sizeof option, "--fd %d=%s", d->fd,
			 d->replaced == BM_FD_TO_NULL ? "null" : d->replaced == BM_FD_TO_CLOSED ? "close" : "broken");
	snprintf(buf, len, "was %s (%s), now %s (%s)", bm_fd_origin_name(d->was), d->was_link ? d->was_link : "?", now,
		 option);
}

void bm_fd_policy_report(const struct bm_process *p)
{
	for (uint32_t i = 0; i < p->nfds; i++) {
		if (p->fds[i].replaced == BM_FD_CARRIED)
			continue;
		char text[2 * PATH_MAX + 256];
		bm_fd_replacement_text(&p->fds[i], text, sizeof text);
		bm_note("process %d: fd %d %s", p->pid, p->fds[i].fd, text);
	}
}

/* ---- at restore ---- */

int bm_fd_open_broken(const struct bm_fd *d)
{
	int ends[2], keep;
	if (d->kind == BM_FD_BROKEN_PIPE) {
		if (pipe2(ends, O_CLOEXEC) < 0)
			return -errno;
		keep = (d->flags & O_ACCMODE) == O_RDONLY ? 0 : 1;
	} else {
		if (socketpair(AF_UNIX, (int)d->object_flags | SOCK_CLOEXEC, 0, ends) < 0)
			return -errno;
		keep = 0;
	}
	close(ends[1 - keep]);
	int fd = ends[keep], rc = 0;
	/* A datagram socket does not notice that its peer is gone (reads would
	 * wait for ever): shutting it down gives what the peer's death gives a
	 * stream socket, end of file on read and EPIPE on write. */
	if (d->kind == BM_FD_BROKEN_SOCKET && shutdown(fd, SHUT_RDWR) < 0)
		rc = -errno;
	if (rc == 0 && (d->flags & O_NONBLOCK) && fcntl(fd, F_SETFL, O_NONBLOCK) < 0)
		rc = -errno;
	if (rc < 0)
		close(fd);
	return rc < 0 ? rc : fd;
}
