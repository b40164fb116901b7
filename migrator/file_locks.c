/* File locks: read at dump, taken again at restore, released and taken
 * back by a migration's source (file_locks.h). */
#include "file_locks.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/kcmp.h>
#include <linux/sched.h>

#include "checkpoint.h"
#include "fault.h"
#include "fd_policy.h"
#include "file_lock_order.h"
#include "log.h"
#include "procfs.h"

/* Bytes of one lock in the image: fd, kind, write, start, len; from
 * version 17 by_standin and standin_pid too, from 19 its order, from 20
 * its through_pid. */
#define LOCK_SIZE_V4 (4 + 4 + 4 + 8 + 8)
#define LOCK_SIZE_V17 (LOCK_SIZE_V4 + 4 + 4)
#define LOCK_SIZE_V19 (LOCK_SIZE_V17 + 4)
#define LOCK_SIZE (LOCK_SIZE_V19 + 4)

static const char *const kind_names[] = {[BM_LOCK_POSIX] = "POSIX", [BM_LOCK_OFD] = "OFD", [BM_LOCK_FLOCK] = "flock"};

int bm_lock_parse(const char *value, struct bm_file_lock *out, char *what, size_t what_len)
{
	/* "ID: KIND MODE TYPE PID MAJ:MIN:INO START END|EOF"; a lease has
	 * another word for MODE, which does not matter: it is refused. */
	char kind[16], mode[16], type[16], end[24];
	long long start;
	int pid, n = -1;
	if (sscanf(value, "%*d: %15s %15s %15s %d %*x:%*x:%*u %lld %23s%n", kind, mode, type, &pid, &start, end, &n) != 6 ||
	    n < 0)
		return -EINVAL;
	snprintf(what, what_len, "%s", kind);
	if (strcmp(kind, "POSIX") == 0)
		out->kind = BM_LOCK_POSIX;
	else if (strcmp(kind, "OFDLCK") == 0)
		out->kind = BM_LOCK_OFD;
	else if (strcmp(kind, "FLOCK") == 0)
		out->kind = BM_LOCK_FLOCK;
	else
		return -ENOTSUP; /* LEASE, DELEG, ACCESS, ... */
	if (strcmp(mode, "ADVISORY") != 0)
		return -ENOTSUP;
	if (strcmp(type, "WRITE") != 0 && strcmp(type, "READ") != 0)
		return -EINVAL;
	out->write = type[0] == 'W';
	out->shown_pid = pid;
	if (start < 0)
		return -EINVAL;
	out->start = start;
	if (strcmp(end, "EOF") == 0) {
		out->len = 0;
	} else {
		char *stop;
		errno = 0;
		long long last = strtoll(end, &stop, 10);
		if (errno || *stop || last < start || last == INT64_MAX)
			return -EINVAL;
		out->len = last - start + 1;
	}
	if (out->kind == BM_LOCK_FLOCK && (out->start != 0 || out->len != 0))
		return -EINVAL;
	return 0;
}

void bm_lock_describe(const struct bm_file_lock *l, char *buf, size_t len)
{
	const char *kind = l->kind >= BM_LOCK_POSIX && l->kind <= BM_LOCK_FLOCK ? kind_names[l->kind] : "unknown";
	const char *type = l->write ? "write" : "read";
	if (l->kind == BM_LOCK_FLOCK)
		snprintf(buf, len, "%s %s lock", kind, type);
	else if (l->len == 0)
		snprintf(buf, len, "%s %s lock on bytes %lld to the end", kind, type, (long long)l->start);
	else
		snprintf(buf, len, "%s %s lock on bytes %lld-%lld", kind, type, (long long)l->start,
			 (long long)(l->start + l->len - 1));
}

/* The kinds of descriptor whose file is opened again by name (or made
 * again), on which a lock can be taken again. */
static bool lockable(uint32_t kind)
{
	return kind == BM_FD_REGULAR || kind == BM_FD_DIRECTORY || kind == BM_FD_UNLINKED_FILE ||
	       kind == BM_FD_UNLINKED_DIR;
}

static int add_lock(struct bm_process *p, const struct bm_file_lock *l, uint32_t *cap)
{
	if (p->nlocks == BM_MAX_FILE_LOCKS)
		return bm_error(BM_EXIT_UNSUPPORTED, "process %d holds more than %u file locks; binmig carries at most that "
				"many", p->pid, BM_MAX_FILE_LOCKS);
	if (p->nlocks == *cap) {
		uint32_t n = *cap ? *cap * 2 : 8;
		struct bm_file_lock *grown = realloc(p->locks, n * sizeof *grown);
		if (!grown)
			return bm_error(BM_EXIT_FAILURE, "out of memory");
		p->locks = grown;
		*cap = n;
	}
	p->locks[p->nlocks++] = *l;
	return 0;
}

/* The locks fdinfo lists for descriptor d. */
static int collect_fd(pid_t pid, struct bm_process *p, const struct bm_fd *d, uint32_t *cap)
{
	char name[32], *text;
	snprintf(name, sizeof name, "fdinfo/%d", d->fd);
	int rc = bm_read_proc_text(pid, name, &text);
	if (rc < 0)
		return bm_error_errno(BM_EXIT_TARGET, -rc, "cannot read /proc/%d/%s", pid, name);
	for (const char *line = text; rc == 0 && line && *line; line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
		if (strncmp(line, "lock:", 5) != 0)
			continue;
		struct bm_file_lock l = {.fd = d->fd};
		char what[16] = "";
		int prc = bm_lock_parse(line + 5, &l, what, sizeof what);
		if (prc == -ENOTSUP)
			rc = bm_error(BM_EXIT_UNSUPPORTED, "fd %d of process %d (%s) holds a %s lock; binmig takes again only "
				      "POSIX, OFD and flock locks", d->fd, pid, d->path, what);
		else if (prc < 0)
			rc = bm_error(BM_EXIT_TARGET, "cannot read a lock of fd %d of process %d: \"%.*s\"", d->fd, pid,
				      (int)strcspn(line, "\n"), line);
		else if (!lockable(d->kind))
			rc = bm_error(BM_EXIT_UNSUPPORTED, "fd %d of process %d (%s) holds a lock; binmig takes locks again "
				      "only on files and directories", d->fd, pid, d->path);
		else
			rc = add_lock(p, &l, cap);
	}
	free(text);
	return rc;
}

/* Marks for a stand-in every flock and OFD lock of process pid that
 * another process took: /proc shows its taker, gone (0: its PID free,
 * seen from below the first PID namespace; or a PID no process has, seen
 * from the first) or still there, outside what is dumped, having closed
 * its descriptors of the open file description (one holding them is
 * refused, fd_outside.h).  A tree's member that took it keeps it instead
 * (bm_locks_keep_takers). */
static void mark_standins(pid_t pid, struct bm_process *p)
{
	for (uint32_t i = 0; i < p->nlocks; i++) {
		struct bm_file_lock *l = &p->locks[i];
		if (l->kind == BM_LOCK_POSIX || l->shown_pid < 0 || l->shown_pid == pid)
			continue;
		l->by_standin = 1;
		l->standin_pid = l->shown_pid;
	}
}

int bm_locks_collect(pid_t pid, struct bm_process *p)
{
	uint32_t cap = 0;
	/* The locks of an open file description show on each of its
	 * descriptors: the first one stands for them all. */
	for (uint32_t i = 0; i < p->nfds; i++) {
		const struct bm_fd *d = &p->fds[i];
		if (d->shares_with >= 0 || d->replaced || !d->locks_seen)
			continue;
		int rc = collect_fd(pid, p, d, &cap);
		if (rc < 0)
			return rc;
	}
	mark_standins(pid, p);
	if (p->nlocks)
		bm_debug("process %d holds %u file lock%s", pid, p->nlocks, p->nlocks == 1 ? "" : "s");
	return 0;
}

/* The lock of procs[t] that is l of process p, through the same open file
 * description (kcmp), or NULL. */
static const struct bm_file_lock *same_lock(const struct bm_process *p, const struct bm_file_lock *l,
					    const struct bm_process *t)
{
	for (uint32_t i = 0; i < t->nlocks; i++) {
		const struct bm_file_lock *o = &t->locks[i];
		if (!o->through_pid && o->kind == l->kind && o->write == l->write && o->shown_pid == l->shown_pid &&
		    syscall(SYS_kcmp, p->pid, t->pid, KCMP_FILE, l->fd, o->fd) == 0)
			return o;
	}
	return NULL;
}

/* Whether member t shares its descriptor table with another of procs. */
static bool table_shared(struct bm_process *const *procs, size_t n, const struct bm_process *t)
{
	for (size_t k = 0; k < n; k++)
		if (procs[k] != t && syscall(SYS_kcmp, t->pid, procs[k]->pid, KCMP_FILES, 0, 0) == 0)
			return true;
	return false;
}

/* Flock l of member p, which member t took and holds no descriptor of
 * any more, goes to t's list, taken through p's descriptor (unless
 * another holder of the description gave it already): 1, or -1 after
 * reporting. */
static int give_to_taker(struct bm_process *t, const struct bm_process *p, const struct bm_file_lock *l)
{
	for (uint32_t i = 0; i < t->nlocks; i++) {
		const struct bm_file_lock *o = &t->locks[i];
		if (o->through_pid && o->write == l->write &&
		    syscall(SYS_kcmp, o->through_pid, p->pid, KCMP_FILE, o->fd, l->fd) == 0)
			return 1;
	}
	if (t->nlocks == BM_MAX_FILE_LOCKS)
		return bm_error(BM_EXIT_UNSUPPORTED, "process %d holds more than %u file locks; binmig carries at most that "
				"many", t->pid, BM_MAX_FILE_LOCKS);
	struct bm_file_lock *grown = realloc(t->locks, (t->nlocks + 1) * sizeof *grown);
	if (!grown)
		return bm_error(BM_EXIT_FAILURE, "out of memory");
	t->locks = grown;
	t->locks[t->nlocks] = *l;
	t->locks[t->nlocks].through_pid = p->pid;
	t->locks[t->nlocks].by_standin = 0;
	t->locks[t->nlocks].standin_pid = 0;
	t->nlocks++;
	return 1;
}

/* Whether lock l of p is to be taken again by another member: the one
 * /proc names, which lists it too, or, for a flock it took through a
 * description of a named file or directory it no longer holds, gets in
 * its list (give_to_taker: the tree then shares the description, which
 * only those kinds allow for this).  -1 for a refusal.  Such a taker of an
 * OFD lock or of a lock on an unlinked file, or one whose table another
 * member shares, cannot be given the description: l is then taken by the
 * member restored first, not a stand-in (README). */
static int taken_by_other(struct bm_process *const *procs, size_t n, const struct bm_process *p,
			  struct bm_file_lock *l)
{
	if (l->kind == BM_LOCK_POSIX || l->shown_pid <= 0 || l->shown_pid == p->pid)
		return 0;
	for (size_t t = 0; t < n; t++) {
		if (procs[t]->pid != l->shown_pid)
			continue;
		if (same_lock(p, l, procs[t]))
			return 1;
		const struct bm_fd *d = bm_fd_find(p->fds, p->nfds, l->fd);
		if (syscall(SYS_kcmp, p->pid, procs[t]->pid, KCMP_FILES, 0, 0) != 0) {
			if (l->kind == BM_LOCK_FLOCK && d && (d->kind == BM_FD_REGULAR || d->kind == BM_FD_DIRECTORY) &&
			    !table_shared(procs, n, procs[t]))
				return give_to_taker(procs[t], p, l);
			l->by_standin = 0;
			l->standin_pid = 0;
			return 0;
		}
		char what[96];
		bm_lock_describe(l, what, sizeof what);
		return bm_error(BM_EXIT_UNSUPPORTED, "process %d took the %s on fd %d (%s) through the descriptor table "
				"it shares with process %d; binmig takes locks again in a table's owner, and /proc would name "
				"another process", l->shown_pid, what, l->fd, d && d->path ? d->path : "?", p->pid);
	}
	return 0;
}

int bm_locks_keep_takers(struct bm_process *const *procs, size_t n)
{
	for (size_t m = 0; m < n; m++) {
		struct bm_process *p = procs[m];
		uint32_t kept = 0;
		for (uint32_t i = 0; i < p->nlocks; i++) {
			int other = taken_by_other(procs, n, p, &p->locks[i]);
			if (other < 0)
				return other;
			if (!other)
				p->locks[kept++] = p->locks[i];
		}
		if (kept < p->nlocks)
			bm_debug("process %d leaves %u lock%s of descriptions it shares to the members that took them",
				 p->pid, p->nlocks - kept, p->nlocks - kept == 1 ? "" : "s");
		p->nlocks = kept;
	}
	return 0;
}

/* --- image --------------------------------------------------------------- */

static bool check_lock(const struct bm_process *p, const struct bm_file_lock *l, char *why, size_t n)
{
	if (l->through_pid) {
		if (l->kind != BM_LOCK_FLOCK || l->through_pid < 0 || l->through_pid == p->pid || l->fd < 0 ||
		    l->by_standin || l->standin_pid || l->write > 1 || l->start || l->len || l->order)
			return bm_why(why, n, "a lock of kind %u, type %u through fd %d of process %d (only a flock "
				      "through another process's descriptor, not by a stand-in)", l->kind, l->write, l->fd,
				      l->through_pid);
		return true;
	}
	const struct bm_fd *d = bm_fd_find(p->fds, p->nfds, l->fd);
	if (!d)
		return bm_why(why, n, "a lock on fd %d, which the process does not have", l->fd);
	if (d->shares_with >= 0 || d->replaced || !lockable(d->kind))
		return bm_why(why, n, "a lock on fd %d, which is not the first descriptor of a file or directory", l->fd);
	if (l->kind < BM_LOCK_POSIX || l->kind > BM_LOCK_FLOCK || l->write > 1)
		return bm_why(why, n, "a lock of kind %u, type %u", l->kind, l->write);
	if (l->start < 0 || l->len < 0 || (l->len > 0 && l->start > INT64_MAX - l->len))
		return bm_why(why, n, "a lock on bytes from %lld, %lld long", (long long)l->start, (long long)l->len);
	if (l->kind == BM_LOCK_FLOCK && (l->start || l->len))
		return bm_why(why, n, "a flock lock with a byte range");
	if (l->by_standin > 1 || (l->by_standin && l->kind == BM_LOCK_POSIX) || l->standin_pid < 0 ||
	    (!l->by_standin && l->standin_pid))
		return bm_why(why, n, "a %s lock with stand-in %u, PID %d (only a flock or OFD lock has one, with a "
			      "PID of 0 or more)", l->kind == BM_LOCK_POSIX ? "POSIX" : "flock or OFD", l->by_standin,
			      l->standin_pid);
	return true;
}

/* Lock i of p has no order if a flock, and none below the last ordered
 * one before it: the restore takes them in their list's order. */
static bool check_order(const struct bm_process *p, uint32_t i, char *why, size_t n)
{
	const struct bm_file_lock *l = &p->locks[i];
	if (l->kind == BM_LOCK_FLOCK && l->order)
		return bm_why(why, n, "a flock lock with an order (%u)", l->order);
	for (uint32_t k = i; l->order && k-- > 0;)
		if (p->locks[k].order > l->order)
			return bm_why(why, n, "its order %u is below an earlier lock's, %u", l->order, p->locks[k].order);
		else if (p->locks[k].order)
			break;
	return true;
}

int bm_encode_locks(struct bm_wbuf *b, const struct bm_process *p, char *why, size_t why_size)
{
	if (p->nlocks > BM_MAX_FILE_LOCKS)
		return bm_why(why, why_size, "%u locks, more than %u", p->nlocks, BM_MAX_FILE_LOCKS), -EINVAL;
	for (uint32_t i = 0; i < p->nlocks; i++)
		if (!check_lock(p, &p->locks[i], why, why_size) || !check_order(p, i, why, why_size))
			return -EINVAL;
	bm_put_u32(b, p->nlocks);
	for (uint32_t i = 0; i < p->nlocks; i++) {
		const struct bm_file_lock *l = &p->locks[i];
		bm_put_i32(b, l->fd);
		bm_put_u32(b, l->kind);
		bm_put_u32(b, l->write);
		bm_put_i64(b, l->start);
		bm_put_i64(b, l->len);
		bm_put_u32(b, l->by_standin);
		bm_put_i32(b, l->standin_pid);
		bm_put_u32(b, l->order);
		bm_put_i32(b, l->through_pid);
	}
	return bm_wbuf_status(b);
}

void bm_decode_locks(struct bm_rcur *c, struct bm_process *p)
{
	size_t size = c->version >= 20   ? LOCK_SIZE
		      : c->version >= 19 ? LOCK_SIZE_V19
		      : c->version >= 17 ? LOCK_SIZE_V17
					 : LOCK_SIZE_V4;
	uint32_t n = bm_get_count(c, BM_MAX_FILE_LOCKS, size, "lock count");
	size_t at = c->pos;
	if (n && !(p->locks = calloc(n, sizeof *p->locks))) {
		bm_rcur_nomem(c);
		return;
	}
	p->nlocks = p->locks ? n : 0;
	for (uint32_t i = 0; i < p->nlocks; i++) {
		struct bm_file_lock *l = &p->locks[i];
		l->fd = bm_get_i32(c);
		l->kind = bm_get_u32(c);
		l->write = bm_get_u32(c);
		l->start = bm_get_i64(c);
		l->len = bm_get_i64(c);
		if (c->version >= 17) {
			l->by_standin = bm_get_u32(c);
			l->standin_pid = bm_get_i32(c);
		}
		if (c->version >= 19)
			l->order = bm_get_u32(c);
		if (c->version >= 20)
			l->through_pid = bm_get_i32(c);
	}
	char why[160];
	for (uint32_t i = 0; i < p->nlocks && !bm_rcur_failed(c); i++)
		if (!check_lock(p, &p->locks[i], why, sizeof why) || !check_order(p, i, why, sizeof why))
			bm_rcur_fail_at(c, at + (size_t)i * size, "lock %u: %s", i, why);
}

/* --- taking and releasing ------------------------------------------------ */

static struct flock as_flock(const struct bm_file_lock *l, short type)
{
	return (struct flock){.l_type = type, .l_whence = SEEK_SET, .l_start = l->start, .l_len = l->len};
}

/* Who keeps lock l from being taken through fd (for the message): the
 * GETLK commands name a process holding a POSIX lock, -1 for an OFD one. */
static void conflict_holder(int fd, const struct bm_file_lock *l, char *buf, size_t len)
{
	struct flock probe = as_flock(l, l->write ? F_WRLCK : F_RDLCK);
	int cmd = l->kind == BM_LOCK_POSIX ? F_GETLK : l->kind == BM_LOCK_OFD ? F_OFD_GETLK : 0;
	if (cmd && fcntl(fd, cmd, &probe) == 0 && probe.l_type != F_UNLCK && probe.l_pid > 0)
		snprintf(buf, len, "process %d holds a conflicting lock", (int)probe.l_pid);
	else
		snprintf(buf, len, "another open file holds a conflicting lock");
}

/* Why a lock taken by a stand-in was not taken, where the stand-in is at
 * fault (bm_lock_by_standin's standin_failed). */
#define STANDIN_FAILED "the stand-in that takes it for its taker could not be made or reaped"

/* Takes lock l through fd, without waiting: 0 or -errno. */
static int take_lock(int fd, const struct bm_file_lock *l)
{
	struct flock fl = as_flock(l, l->write ? F_WRLCK : F_RDLCK);
	int r = l->kind == BM_LOCK_FLOCK ? flock(fd, (l->write ? LOCK_EX : LOCK_SH) | LOCK_NB)
				       : fcntl(fd, l->kind == BM_LOCK_POSIX ? F_SETLK : F_OFD_SETLK, &fl);
	return r < 0 ? -errno : 0;
}

/* A child of this process, with PID want if it is free (0: any), that
 * sends no signal when it exits: 0 in the child, its PID here, or -errno. */
static long standin_clone(pid_t want)
{
	if (bm_fault(BM_FP_LOCK_STANDIN))
		return -errno;
	struct clone_args args = {.exit_signal = 0};
	if (want > 0) {
		args.set_tid = (uint64_t)(uintptr_t)&want;
		args.set_tid_size = 1;
		long child = syscall(SYS_clone3, &args, sizeof args);
		if (child >= 0)
			return child;
		args.set_tid = 0; /* taken, beyond pid_max, or no right to choose: any PID */
		args.set_tid_size = 0;
	}
	long child = syscall(SYS_clone3, &args, sizeof args);
	return child < 0 ? -errno : child;
}

int bm_lock_by_standin(int fd, const struct bm_file_lock *l, bool *standin_failed)
{
	bool ignored;
	bool *failed = standin_failed ? standin_failed : &ignored;
	*failed = false;
	if (l->kind == BM_LOCK_POSIX)
		return -EINVAL; /* the stand-in's exit would drop it */
	*failed = true;
	long child = standin_clone(l->standin_pid);
	if (child < 0)
		return (int)child;
	if (child == 0) /* only system calls here: the parent may have threads */
		syscall(SYS_exit_group, -take_lock(fd, l));
	int status;
	while (waitpid((pid_t)child, &status, __WALL) < 0)
		if (errno != EINTR)
			return -errno;
	if (!WIFEXITED(status))
		return -ECHILD;
	*failed = false;
	return -WEXITSTATUS(status);
}

/* Why lock l of p (on the file at path; NULL: p's descriptor's), through
 * fd, was not taken (E), into err. */
static void say_not_taken(const struct bm_process *p, const struct bm_file_lock *l, const char *path, int fd, int e,
			  bool standin_failed, char *err, size_t errlen)
{
	char what[96], why[160];
	const struct bm_fd *d = path ? NULL : bm_fd_find(p->fds, p->nfds, l->fd);
	if (d)
		path = d->path;
	bm_lock_describe(l, what, sizeof what);
	if (standin_failed)
		snprintf(why, sizeof why, STANDIN_FAILED ": %s", strerror(e));
	else if (e == EAGAIN || e == EACCES)
		conflict_holder(fd, l, why, sizeof why);
	else
		snprintf(why, sizeof why, "%s", strerror(e));
	if (l->through_pid)
		snprintf(err, errlen, "fd %d of process %d (%s): cannot take its %s again, which this process took: %s",
			 l->fd, l->through_pid, path ? path : "?", what, why);
	else
		snprintf(err, errlen, "fd %d (%s): cannot take its %s again: %s", l->fd, path ? path : "?", what, why);
}

int bm_lock_take_through(const struct bm_process *p, const struct bm_file_lock *l, int fd, const char *path, char *err,
			 size_t errlen)
{
	int r = take_lock(fd, l);
	if (r < 0)
		say_not_taken(p, l, path ? path : "?", fd, -r, false, err, errlen);
	return r < 0 ? -1 : 0;
}

int bm_locks_check_alone(const struct bm_process *p)
{
	for (uint32_t i = 0; i < p->nlocks; i++)
		if (p->locks[i].through_pid)
			return bm_error(BM_EXIT_IMAGE, "image: process %d has a lock taken through fd %d of process %d, "
					"which only a tree's image can hold", p->pid, p->locks[i].fd,
					p->locks[i].through_pid);
	return 0;
}

int bm_locks_take(const struct bm_process *p, const struct bm_lock_turns *turns, char *err, size_t errlen)
{
	for (uint32_t i = 0; i < p->nlocks; i++) {
		const struct bm_file_lock *l = &p->locks[i];
		bool standin_failed = false;
		if (l->through_pid)
			continue; /* taken with the tree's shared descriptions (bm_lock_take_through) */
		if (turns && bm_lock_turn_wait(turns, i, err, errlen) < 0)
			return -1;
		int r = l->by_standin ? bm_lock_by_standin(l->fd, l, &standin_failed) : take_lock(l->fd, l);
		if (r == 0 && turns)
			bm_lock_turn_done(turns, i);
		if (r == 0)
			continue;
		say_not_taken(p, l, NULL, l->fd, -r, standin_failed, err, errlen);
		return -1;
	}
	return 0;
}

/* Takes lock l of process pid back in a stand-in, through a copy of its
 * descriptor: 0 or -errno (bm_lock_by_standin sets *standin_failed). */
static long take_back_by_standin(pid_t pid, const struct bm_file_lock *l, bool *standin_failed)
{
	int copy = bm_fd_copy(pid, l->fd);
	if (copy < 0)
		return -errno;
	int rc = bm_lock_by_standin(copy, l, standin_failed);
	close(copy);
	return rc;
}

/* Takes flock l back in frozen process m, which took it through an open
 * file description only member l->through_pid holds now: m gets a copy of
 * that member's descriptor for the call (pidfd_open, pidfd_getfd, all
 * injected), closed after.  0 with the call's result (or the copy's
 * failure) in *ret, or -errno where injecting failed. */
static int inject_through(struct bm_frozen *m, const struct bm_file_lock *l, long *ret)
{
	struct bm_tracee *tr = &m->tracees[0];
	long pidfd = -1, copy = -1, ignored;
	int rc = bm_inject(tr, SYS_pidfd_open, (uint64_t)l->through_pid, 0, 0, 0, 0, 0, &pidfd);
	if (rc == 0 && pidfd >= 0)
		rc = bm_inject(tr, SYS_pidfd_getfd, (uint64_t)pidfd, (uint64_t)l->fd, 0, 0, 0, 0, &copy);
	/* The copy must be the holder's description (the PID as m sees it). */
	bool same = rc == 0 && copy >= 0 &&
		    syscall(SYS_kcmp, m->pid, l->through_pid, KCMP_FILE, (unsigned long)copy, (unsigned long)l->fd) == 0;
	if (same)
		rc = bm_inject(tr, SYS_flock, (uint64_t)copy, (l->write ? LOCK_EX : LOCK_SH) | LOCK_NB, 0, 0, 0, 0, ret);
	else if (rc == 0)
		*ret = pidfd < 0 ? pidfd : copy < 0 ? copy : -ESTALE;
	int closed_copy = copy >= 0 ? bm_inject(tr, SYS_close, (uint64_t)copy, 0, 0, 0, 0, 0, &ignored) : 0;
	int closed_pidfd = pidfd >= 0 ? bm_inject(tr, SYS_close, (uint64_t)pidfd, 0, 0, 0, 0, 0, &ignored) : 0;
	return rc < 0 ? rc : closed_copy < 0 ? closed_copy : closed_pidfd;
}

/* Runs fcntl or flock for lock l of frozen process m through the scratch
 * page at scratch (the struct flock goes there): releases it (F_UNLCK,
 * LOCK_UN) or takes it back (a stand-in's through a copy of its
 * descriptor; one m took through another member's descriptor, through a
 * copy of that, inject_through).  0 with the call's result in *ret
 * (*standin_failed where the stand-in is at fault), or -1 after reporting
 * a failure to run it. */
static int inject_lock(struct bm_frozen *m, uint64_t scratch, const struct bm_file_lock *l, bool take, long *ret,
		       bool *standin_failed)
{
	struct bm_tracee *tr = &m->tracees[0];
	short type = !take ? F_UNLCK : l->write ? F_WRLCK : F_RDLCK;
	struct flock fl = as_flock(l, type);
	int rc = 0;
	*ret = 0;
	*standin_failed = false;
	if (bm_fault(take ? BM_FP_TAKE_BACK_LOCK : BM_FP_RELEASE_LOCK))
		*ret = -errno;
	else if (take && l->by_standin)
		*ret = take_back_by_standin(m->pid, l, standin_failed);
	else if (take && l->through_pid)
		rc = inject_through(m, l, ret);
	else if (l->kind == BM_LOCK_FLOCK)
		rc = bm_inject(tr, SYS_flock, (uint64_t)l->fd, !take ? LOCK_UN : (l->write ? LOCK_EX : LOCK_SH) | LOCK_NB, 0,
			       0, 0, 0, ret);
	else if ((rc = bm_mem_write(m->pid, scratch, &fl, sizeof fl)) == 0)
		rc = bm_inject(tr, SYS_fcntl, (uint64_t)l->fd, l->kind == BM_LOCK_POSIX ? F_SETLK : F_OFD_SETLK, scratch, 0,
			       0, 0, ret);
	if (rc < 0) {
		char what[96];
		bm_lock_describe(l, what, sizeof what);
		return bm_error_errno(BM_EXIT_FAILURE, -rc, "cannot %s the %s of fd %d of process %d%s",
				      take ? "take back" : "release", what, l->fd, take && l->through_pid ? l->through_pid : m->pid,
				      take && l->through_pid ? " (its taker's, which holds that description no more)" : "");
	}
	return 0;
}

/* The member of f with PID pid, or NULL. */
static struct bm_frozen *member_by_pid(struct bm_frozen *f, pid_t pid)
{
	for (size_t m = 0; m < bm_frozen_count(f); m++)
		if (bm_frozen_at(f, m)->pid == pid)
			return bm_frozen_at(f, m);
	return NULL;
}

/* The descriptor lock l of member one is taken through: its own, or for
 * one taken through another member's, that member's (NULL: none). */
static const struct bm_fd *lock_fd(struct bm_frozen *f, struct bm_frozen *one, const struct bm_file_lock *l)
{
	struct bm_frozen *holder = l->through_pid ? member_by_pid(f, l->through_pid) : one;
	return holder ? bm_fd_find(holder->proc.fds, holder->proc.nfds, l->fd) : NULL;
}

int bm_locks_release(struct bm_frozen *f)
{
	for (size_t m = 0; m < bm_frozen_count(f); m++) {
		struct bm_frozen *one = bm_frozen_at(f, m);
		uint64_t scratch;
		if (!one->proc.nlocks)
			continue;
		if (bm_scratch_map(&one->tracees[0], &scratch) < 0)
			return -1;
		int rc = 0;
		for (uint32_t i = 0; rc == 0 && i < one->proc.nlocks; i++) {
			const struct bm_file_lock *l = &one->proc.locks[i];
			/* A flock taken through another member's descriptor is
			 * released there (a flock needs no scratch page). */
			struct bm_frozen *holder = l->through_pid ? member_by_pid(f, l->through_pid) : one;
			long ret;
			bool standin_failed;
			if (!holder)
				rc = bm_error(BM_EXIT_FAILURE, "process %d took a lock through fd %d of process %d, which is "
					      "not frozen with it", one->pid, l->fd, l->through_pid);
			else if ((rc = inject_lock(holder, scratch, l, false, &ret, &standin_failed)) == 0 && ret < 0) {
				char what[96];
				bm_lock_describe(l, what, sizeof what);
				rc = bm_error_errno(BM_EXIT_FAILURE, (int)-ret, "cannot release the %s of fd %d of process %d", what,
						    l->fd, holder->pid);
			}
		}
		int unmapped = bm_scratch_unmap(&one->tracees[0], scratch);
		if (rc < 0 || (rc = unmapped) < 0)
			return rc;
	}
	return 0;
}

/* Member one could not get a copy of the description it took flock l
 * through to take it back (it may not reach the holder as binmig does:
 * another uid, a holder not dumpable, Yama's ptrace scope): rather than
 * lose the lock, the holder takes it back, with a warning that /proc now
 * names the holder.  The holder's call's result, or ERR where it is not
 * run. */
static long take_back_in_holder(struct bm_frozen *f, struct bm_frozen *one, const struct bm_file_lock *l, long err)
{
	struct bm_frozen *holder = member_by_pid(f, l->through_pid);
	struct bm_file_lock own = *l;
	own.through_pid = 0;
	long ret;
	bool standin_failed;
	if (!holder || inject_lock(holder, 0, &own, true, &ret, &standin_failed) < 0)
		return err;
	if (ret >= 0)
		bm_warn("process %d could not take back the flock it took through fd %d of process %d (%s); process %d "
			"took it back, which /proc now names as its taker", one->pid, l->fd, l->through_pid,
			strerror((int)-err), l->through_pid);
	return ret;
}

/* The locks of f's members in the order they are taken back
 * (bm_lock_order_sequence), *count of them; NULL after reporting. */
static struct bm_lock_step *take_back_order(struct bm_frozen *f, size_t *count)
{
	size_t n = bm_frozen_count(f);
	const struct bm_process **procs = calloc(n, sizeof *procs);
	struct bm_lock_step *steps = NULL;
	if (!procs) {
		bm_error(BM_EXIT_FAILURE, "out of memory");
		return NULL;
	}
	for (size_t m = 0; m < n; m++)
		procs[m] = &bm_frozen_at(f, m)->proc;
	if (bm_lock_order_sequence(procs, n, &steps, count) < 0)
		steps = NULL;
	free(procs);
	return steps;
}

/* Member m of a take-back: its scratch page, and the first lock it could
 * not take back (NULL: none, or all of them where BROKEN), why. */
struct taking_back {
	uint64_t scratch;
	bool mapped, broken;
	const struct bm_file_lock *failed;
	char why[160];
};

/* Member m could not take back l (NULL: any of its locks, the injection
 * itself having failed): kept if the first. */
static void lost_lock(struct taking_back *tb, const struct bm_file_lock *l, const char *why)
{
	if (tb->failed || tb->broken)
		return;
	tb->failed = l;
	tb->broken = l == NULL;
	snprintf(tb->why, sizeof tb->why, "%s", why);
}

int bm_locks_take_back(struct bm_frozen *f)
{
	size_t n = bm_frozen_count(f), nsteps = 0;
	struct taking_back *tb = calloc(n, sizeof *tb);
	struct bm_lock_step *steps = tb ? take_back_order(f, &nsteps) : NULL;
	if (!steps) {
		if (!tb)
			bm_error(BM_EXIT_FAILURE, "out of memory");
		free(tb);
		for (size_t m = 0; m < n; m++)
			kill(bm_frozen_at(f, m)->pid, SIGSTOP);
		bm_warn("binmig could not take back the file locks of the processes after the failed migration (%s); "
			"they cannot resume as they were and are left stopped", bm_latest_error_message());
		return -EAGAIN;
	}
	for (size_t m = 0; m < n; m++) {
		struct bm_frozen *one = bm_frozen_at(f, m);
		if (one->proc.nlocks && bm_scratch_map(&one->tracees[0], &tb[m].scratch) < 0)
			lost_lock(&tb[m], NULL, bm_latest_error_message());
		tb[m].mapped = one->proc.nlocks && !tb[m].broken;
	}
	/* Every lock that can be, in their order; the first each member could
	 * not, kept (after a failed injection, none more of that member). */
	for (size_t k = 0; k < nsteps; k++) {
		struct taking_back *mine = &tb[steps[k].member];
		struct bm_frozen *one = bm_frozen_at(f, steps[k].member);
		const struct bm_file_lock *l = &one->proc.locks[steps[k].index];
		long ret;
		bool standin_failed;
		if (mine->broken)
			continue;
		char why[160];
		if (inject_lock(one, mine->scratch, l, true, &ret, &standin_failed) < 0) {
			lost_lock(mine, NULL, bm_latest_error_message());
			mine->broken = true;
			continue;
		}
		if (ret < 0 && l->through_pid && ret != -EAGAIN && ret != -EACCES)
			ret = take_back_in_holder(f, one, l, ret);
		if (ret >= 0)
			continue;
		if (standin_failed)
			snprintf(why, sizeof why, STANDIN_FAILED ": %s", strerror((int)-ret));
		else if (ret == -EAGAIN || ret == -EACCES)
			snprintf(why, sizeof why, "another process may hold it now");
		else
			snprintf(why, sizeof why, "%s", strerror((int)-ret));
		if (!mine->failed && !mine->broken) {
			char what[96];
			bm_lock_describe(l, what, sizeof what);
			bm_error_errno(BM_EXIT_FAILURE, (int)-ret, "cannot take back the %s of fd %d of process %d%s", what,
				       l->fd, l->through_pid ? l->through_pid : one->pid,
				       standin_failed ? " (" STANDIN_FAILED ")" : "");
		}
		lost_lock(mine, l, why);
	}
	int rc = 0;
	for (size_t m = 0; m < n; m++) {
		struct bm_frozen *one = bm_frozen_at(f, m);
		if (tb[m].mapped && bm_scratch_unmap(&one->tracees[0], tb[m].scratch) < 0)
			lost_lock(&tb[m], NULL, bm_latest_error_message());
		if (!tb[m].failed && !tb[m].broken)
			continue;
		char what[96] = "locks";
		const struct bm_fd *d = NULL;
		if (tb[m].failed) {
			bm_lock_describe(tb[m].failed, what, sizeof what);
			d = lock_fd(f, one, tb[m].failed);
		}
		bm_warn("process %d could not take back its %s on %s after the failed migration (%s); it cannot resume as "
			"it was and is left stopped (kill -CONT %d resumes it without that lock)", one->pid, what,
			d && d->path ? d->path : "its files", tb[m].why, one->pid);
		rc = -EAGAIN;
	}
	if (rc < 0)
		for (size_t m = 0; m < n; m++)
			kill(bm_frozen_at(f, m)->pid, SIGSTOP);
	free(steps);
	free(tb);
	return rc;
}
