/* Where a descriptor's signals go (fd_sigio.h). */
#include "fd_sigio.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/kcmp.h>

#include "fd_policy.h"
#include "fd_tail.h"
#include "files.h"
#include "image_model.h"
#include "kstate.h"
#include "log.h"
#include "procfs.h"
#include "wire.h"

#define MAX_SIGNAL 64
#ifndef F_GETOWNER_UIDS
#define F_GETOWNER_UIDS 17
#endif

int bm_sigio_read(pid_t pid, int fd, const char *link, mode_t mode, struct bm_fd *out)
{
	int copy = bm_fd_copy(pid, fd);
	if (copy < 0)
		return errno == EBADF ? 1 : bm_error_errno(BM_EXIT_TARGET, errno, "cannot look at fd %d of process %d",
							   fd, pid);
	struct f_owner_ex owner = {0};
	uid_t uids[2];
	int sig = fcntl(copy, F_GETSIG), e = errno;
	if (sig >= 0 && fcntl(copy, F_GETOWN_EX, &owner) < 0)
		sig = -1, e = errno;
	/* The user ids its owner recorded (F_SETOWN: the setter's), which
	 * decide whether the owner may be signalled: shown where the kernel
	 * has CONFIG_CHECKPOINT_RESTORE (else EINVAL: not known). */
	if (sig >= 0 && owner.pid && fcntl(copy, F_GETOWNER_UIDS, uids) == 0) {
		out->sig_cred_uid = uids[0];
		out->sig_cred_euid = uids[1];
		out->sig_known |= BM_SIGIO_CREDS_KNOWN;
	}
	close(copy);
	if (sig < 0)
		return bm_error_errno(BM_EXIT_TARGET, e, "cannot read the signal owner of fd %d of process %d", fd, pid);
	out->sig = (uint32_t)sig;
	out->sig_owner = owner.pid;
	out->sig_owner_type = owner.pid ? (uint32_t)owner.type : 0;
	/* F_NOTIFY sets the owner of a directory to its caller, and shows
	 * nowhere else: the owner may be dnotify's. */
	if (!S_ISDIR(mode) || !owner.pid)
		return 0;
	char why[200];
	snprintf(why, sizeof why, " whose signals go to process %d (F_SETOWN or F_NOTIFY%s), which may be dnotify's "
		 "(F_NOTIFY cannot be read back): binmig does not carry it", owner.pid, sig ? ", with F_SETSIG" : "");
	return bm_fd_refuse(pid, fd, link, mode, why);
}

bool bm_sigio_present(const struct bm_fd *d)
{
	return (d->flags & O_ASYNC) || d->sig_owner || d->sig;
}

/* O_ASYNC is armed (a fasync entry: signals are sent) only by F_SETFL on
 * a file that has signal-driven I/O; open(2) with O_ASYNC sets the flag
 * without arming it.  The restore makes pipes (pipe2), sockets and
 * inotify instances again without it and arms it with F_SETFL; a regular
 * file has no signal-driven I/O, so its O_ASYNC can only come from open,
 * and is opened so again.  A FIFO, or a pipe end opened again through
 * /proc (what open(2) made shows O_LARGEFILE, which pipe2 never sets and
 * F_SETFL cannot), may hold either, and nothing tells which. */
#define KERNEL_O_LARGEFILE 0100000

static bool armed_async(const struct bm_fd *d)
{
	switch (d->kind) {
	case BM_FD_PIPE:
		return !(d->flags & KERNEL_O_LARGEFILE);
	case BM_FD_UNIX_SOCKET:
	case BM_FD_TCP:
	case BM_FD_UDP:
	case BM_FD_INOTIFY:
		return true;
	default:
		return false;
	}
}

static bool async_carried(const struct bm_fd *d)
{
	return armed_async(d) || d->kind == BM_FD_REGULAR || d->kind == BM_FD_UNLINKED_FILE;
}

/* The kinds whose open file the restore makes again as such, where an
 * owner and a signal mean what they meant. */
static bool carried_kind(uint32_t kind)
{
	switch (kind) {
	case BM_FD_REGULAR:
	case BM_FD_UNLINKED_FILE:
	case BM_FD_PIPE:
	case BM_FD_FIFO:
	case BM_FD_UNLINKED_FIFO:
	case BM_FD_UNIX_SOCKET:
	case BM_FD_TCP:
	case BM_FD_UDP:
	case BM_FD_EVENTFD:
	case BM_FD_INOTIFY:
	case BM_FD_TIMERFD:
	case BM_FD_SIGNALFD:
		return true;
	default:
		return false;
	}
}

static const char *owner_what(uint32_t type)
{
	return type == F_OWNER_TID ? "thread" : type == F_OWNER_PGRP ? "process group" : "process";
}

/* The index in PROCS of the process whose PID or one of whose thread IDs
 * is ID (*leader: it is the PID), or -1. */
static int holder_of(struct bm_process *const *procs, size_t nprocs, pid_t id, bool *leader)
{
	for (size_t k = 0; k < nprocs; k++) {
		char task[64];
		snprintf(task, sizeof task, "/proc/%d/task/%d", procs[k]->pid, id);
		*leader = procs[k]->pid == id;
		if (*leader || access(task, F_OK) == 0)
			return (int)k;
	}
	return -1;
}

/* Whether Q holds the open file of D, of process P. */
static bool holds(const struct bm_process *q, const struct bm_process *p, const struct bm_fd *d)
{
	if (q == p)
		return true;
	for (uint32_t i = 0; i < q->nfds; i++)
		if (q->fds[i].kind == d->kind && syscall(SYS_kcmp, p->pid, q->pid, KCMP_FILE, d->fd, q->fds[i].fd) == 0)
			return true;
	return false;
}

/* A descriptor number other than D's at which a process of PROCS holds
 * the open file of D (of process K), and that process in *at; or -1. */
static int other_number(struct bm_process *const *procs, size_t nprocs, size_t k, const struct bm_fd *d,
			const struct bm_process **at)
{
	for (size_t h = 0; h < nprocs; h++)
		for (uint32_t i = 0; i < procs[h]->nfds; i++) {
			const struct bm_fd *e = &procs[h]->fds[i];
			if (e->fd != d->fd && e->kind == d->kind &&
			    syscall(SYS_kcmp, procs[k]->pid, procs[h]->pid, KCMP_FILE, d->fd, e->fd) == 0) {
				*at = procs[h];
				return e->fd;
			}
		}
	return -1;
}

/* Whether a process of PROCS before K holds the open file of D (of process K). */
static bool held_before(struct bm_process *const *procs, size_t k, const struct bm_fd *d)
{
	for (size_t j = 0; j < k; j++)
		if (holds(procs[j], procs[k], d))
			return true;
	return false;
}

/* Whether the owner set with SETTER's credentials may signal TARGET (the
 * kernel's sigio_perm: the setter's effective or real user is root, or
 * the target's real or saved one). */
static bool may_signal(const struct bm_process *setter, const struct bm_process *target)
{
	uint32_t uid = setter->uid[0], euid = setter->uid[1];
	return euid == 0 || euid == target->uid[0] || euid == target->uid[2] || uid == target->uid[0] ||
	       uid == target->uid[2];
}

/* The owner keeps the credentials of whoever set it, which no interface
 * shows; the restore sets it as the first holder.  Where processes of
 * other users hold the open file too, whether a process of the owner gets
 * the signals must not depend on which of them set it.  J: the process of
 * a PID or thread owner. */
static bool setter_unambiguous(struct bm_process *const *procs, size_t nprocs, size_t k, int j,
			       const struct bm_fd *d, char *why, size_t n)
{
	for (size_t t = 0; t < nprocs && nprocs > 1; t++) {
		if (d->sig_owner_type == F_OWNER_PGRP ? procs[t]->pgid != d->sig_owner : (int)t != j)
			continue;
		int first = -1;
		size_t f = 0;
		for (size_t h = 0; h < nprocs; h++) {
			if (!holds(procs[h], procs[k], d))
				continue;
			int may = may_signal(procs[h], procs[t]);
			if (first < 0)
				first = may, f = h;
			else if (may != first) {
				snprintf(why, n, " held by process %d and process %d, of other users, whose credentials its "
					 "owner keeps decide whether process %d gets its signals: binmig cannot tell which "
					 "set it", procs[f]->pid, procs[h]->pid, procs[t]->pid);
				return false;
			}
		}
	}
	return true;
}

/* The owner keeps the user ids of whoever set it, which decide whether
 * it may be signalled (sigio_perm).  Where the dump read them
 * (F_GETOWNER_UIDS) the restore sets the owner with exactly those
 * (owner_as_setter): carried, whoever holds the file; else as
 * setter_unambiguous. */
static bool setter_creds(struct bm_process *const *procs, size_t nprocs, size_t k, int j, const struct bm_fd *d,
			 char *why, size_t n)
{
	return (d->sig_known & BM_SIGIO_CREDS_KNOWN) || setter_unambiguous(procs, nprocs, k, j, d, why, n);
}

/* A process outside PROCS in process group G (0: none); *members: whether one of PROCS is in it. */
static pid_t group_outsider(struct bm_process *const *procs, size_t nprocs, pid_t g, bool *members)
{
	*members = false;
	DIR *dir = opendir("/proc");
	if (!dir)
		return 0;
	pid_t outsider = 0;
	struct dirent *e;
	while (!outsider && (e = readdir(dir)) != NULL) {
		struct bm_proc_stat st;
		if (!isdigit((unsigned char)e->d_name[0]))
			continue;
		pid_t pid = (pid_t)atoi(e->d_name);
		if (bm_read_stat(pid, &st) < 0 || st.pgrp != g)
			continue;
		bool inside = false;
		for (size_t k = 0; k < nprocs && !inside; k++)
			inside = procs[k]->pid == pid;
		*members |= inside;
		if (!inside)
			outsider = pid; /* a zombie too: it is in the group */
	}
	closedir(dir);
	return outsider;
}

/* Whether the owner of D, of process K, moves with it and is set again
 * as it was; else the reason in why. */
static bool owner_moves(struct bm_process *const *procs, size_t nprocs, size_t k, const struct bm_fd *d, char *why,
			size_t n)
{
	pid_t id = d->sig_owner;
	const char *what = owner_what(d->sig_owner_type);
	if (d->sig_owner_type == F_OWNER_PGRP) {
		bool members;
		pid_t outsider = group_outsider(procs, nprocs, id, &members);
		if (outsider)
			snprintf(why, n, " whose signals go to process group %d (F_SETOWN), which has process %d, which "
				 "does not move with it", id, outsider);
		else if (!members)
			snprintf(why, n, " whose signals go to process group %d (F_SETOWN), which none of the processes "
				 "moved is in", id);
		return !outsider && members && setter_creds(procs, nprocs, k, -1, d, why, n);
	}
	bool leader;
	int j = holder_of(procs, nprocs, id, &leader);
	if (j < 0) {
		snprintf(why, n, " whose signals go to %s %d (F_SETOWN), which does not move with it", what, id);
		return false;
	}
	if (leader || (size_t)j == k) {
		/* A thread of the process itself is made in its rebuild, before
		 * the owner is set; in a tree, by the first holder of the file. */
		if (leader || !held_before(procs, k, d))
			return setter_creds(procs, nprocs, k, j, d, why, n);
	}
	snprintf(why, n, " whose signals go to thread %d of process %d (F_SETOWN), which binmig makes after the "
		 "owner is set", id, procs[j]->pid);
	return false;
}

/* Whether the restore can set O_ASYNC of D (of process K) through the
 * number its signals report, as the dump read it: the file's first holder
 * holds it at that number, or has that number free within its table (a
 * copy put there for the F_SETFL is closed again: the fasync entry stays
 * until O_ASYNC is cleared or the last close, fs/fcntl.c; but that close
 * would drop the process's record locks on the file, so it may hold none);
 * else the reason in why. */
static bool async_settable(struct bm_process *const *procs, size_t k, const struct bm_fd *d, char *why, size_t n)
{
	const struct bm_process *p = procs[k];
	int32_t a = d->sig_async_fd;
	if (d->shares_with >= 0 || held_before(procs, k, d))
		return true; /* set, and looked at, through its first holder */
	const struct bm_fd *at = bm_fd_find(p->fds, p->nfds, a);
	if (at && (at->kind != d->kind || syscall(SYS_kcmp, p->pid, p->pid, KCMP_FILE, d->fd, a) != 0))
		return bm_why(why, n, " with O_ASYNC set through fd %d, which now holds another file: its signals report "
			      "fd %d (si_fd), through which binmig cannot set it", a, a);
	if (at)
		return true;
	if (p->fd_table_size && (uint32_t)a >= p->fd_table_size)
		return bm_why(why, n, " with O_ASYNC set through fd %d, closed since, beyond its descriptor table of %u "
			      "now: binmig would grow the table to set it through that number (si_fd)", a,
			      p->fd_table_size);
	for (uint32_t i = 0; i < p->nfds; i++)
		if (p->fds[i].locks_seen && p->fds[i].kind == d->kind)
			return bm_why(why, n, " with O_ASYNC set through fd %d, closed since: binmig sets it through a "
				      "copy at that number, whose closing would drop the record locks of fd %d", a,
				      p->fds[i].fd);
	return true;
}

/* The signals of an open file with O_ASYNC name (si_fd, with F_SETSIG)
 * the descriptor through which O_ASYNC was set, which only the kernel's
 * fasync entry shows (BPF, kstate.h); the restore sets it through that
 * number, or where not read, through the first.  Whether that is the
 * same number; else the reason in why.  (Without F_SETSIG now, the
 * process may set one later.) */
static bool async_numbered(struct bm_process *const *procs, size_t nprocs, size_t k, const struct bm_fd *d,
			   char *why, size_t n)
{
	if (!(d->flags & O_ASYNC) || !armed_async(d))
		return true;
	if (d->sig_known & BM_SIGIO_ASYNC_FD_KNOWN)
		return async_settable(procs, k, d, why, n);
	const struct bm_process *at = NULL;
	int other = other_number(procs, nprocs, k, d, &at);
	if (other < 0)
		return true;
	snprintf(why, n, " with O_ASYNC, held at fd %d of process %d too: its signals name the descriptor O_ASYNC was "
		 "set through (si_fd), which binmig cannot tell", other, at->pid);
	return false;
}

/* Reads (kstate.h) the number the signals of each open file with O_ASYNC
 * that the restore arms again report.  Where it cannot, they stay not
 * known: such a file held at several numbers is refused (async_numbered). */
static void read_async_fds(struct bm_process *const *procs, size_t nprocs)
{
	for (size_t k = 0; k < nprocs; k++) {
		struct bm_process *p = procs[k];
		bool *ask = calloc(p->nfds + 1, sizeof *ask), any = false;
		for (uint32_t i = 0; ask && i < p->nfds; i++) {
			const struct bm_fd *d = &p->fds[i];
			ask[i] = (d->flags & O_ASYNC) && armed_async(d) && !d->in_flight && d->replaced == BM_FD_CARRIED;
			any |= ask[i];
		}
		char why[700];
		if (any && bm_kstate_fasync(p, ask, why, sizeof why) < 0)
			bm_debug("process %d: %s: its open files with O_ASYNC are set through their first descriptor",
				 p->pid, why);
		free(ask);
	}
}

int bm_sigio_check(struct bm_process *const *procs, size_t nprocs)
{
	read_async_fds(procs, nprocs);
	for (size_t k = 0; k < nprocs; k++)
		for (uint32_t i = 0; i < procs[k]->nfds; i++) {
			const struct bm_fd *d = &procs[k]->fds[i];
			const char *link = d->path ? d->path : d->was_link ? d->was_link : "?";
			char why[240];
			if (!bm_sigio_present(d))
				continue;
			if (d->replaced != BM_FD_CARRIED)
				snprintf(why, sizeof why, " with signal-driven I/O (O_ASYNC, F_SETOWN, F_SETSIG) that a "
					 "policy would drop");
			else if (d->in_flight)
				snprintf(why, sizeof why, ", an open file only in flight (SCM_RIGHTS) with signal-driven "
					 "I/O (O_ASYNC, F_SETOWN, F_SETSIG), which binmig does not carry");
			else if ((d->flags & O_ASYNC) && carried_kind(d->kind) && !async_carried(d))
				snprintf(why, sizeof why, " with O_ASYNC, which open(2) sets without sending signals and "
					 "fcntl(F_SETFL) with: binmig cannot tell which");
			else if (!carried_kind(d->kind))
				snprintf(why, sizeof why, " with signal-driven I/O (O_ASYNC, F_SETOWN, F_SETSIG), which "
					 "binmig carries only for pipes, FIFOs, sockets, eventfds, inotify, timerfds, "
					 "signalfds and regular files");
			else if (async_numbered(procs, nprocs, k, d, why, sizeof why) &&
				 (!d->sig_owner || owner_moves(procs, nprocs, k, d, why, sizeof why)))
				continue;
			return bm_fd_refuse(procs[k]->pid, d->fd, link, d->mode, why);
		}
	return 0;
}

bool bm_sigio_check_entry(const struct bm_fd *f, char *why, size_t n)
{
	if (f->sig > MAX_SIGNAL)
		return bm_why(why, n, "signal %u for its I/O (F_SETSIG) is not a signal", f->sig);
	if (f->sig_owner < 0 || f->sig_owner_type > F_OWNER_PGRP || (!f->sig_owner && f->sig_owner_type))
		return bm_why(why, n, "owner %d of type %u for its signals is not a process, thread or group",
			      f->sig_owner, f->sig_owner_type);
	if ((f->sig_known & ~BM_SIGIO_KNOWN_ALL) || ((f->sig_known & BM_SIGIO_ASYNC_FD_KNOWN) &&
						       (f->sig_async_fd < 0 || !(f->flags & O_ASYNC) || !armed_async(f))) ||
	    ((f->sig_known & BM_SIGIO_CREDS_KNOWN) && !f->sig_owner))
		return bm_why(why, n, "signal-driven I/O read at dump (%#x: fd %d for its signals, owner's users %u/%u) "
			      "that it does not have", f->sig_known, f->sig_async_fd, f->sig_cred_uid, f->sig_cred_euid);
	if (bm_sigio_present(f) && (f->in_flight || !carried_kind(f->kind) || f->replaced != BM_FD_CARRIED ||
				    ((f->flags & O_ASYNC) && !async_carried(f))))
		return bm_why(why, n, "signal-driven I/O on a descriptor of kind %u%s", f->kind,
			      f->in_flight ? " only in flight" : f->replaced ? ", replaced" : "");
	return true;
}

static int inject_fcntl(struct bm_tracee *tr, pid_t pid, int fd, int cmd, uint64_t arg, const char *what)
{
	long r = 0;
	int rc = bm_inject(tr, SYS_fcntl, (uint64_t)fd, (uint64_t)cmd, arg, 0, 0, 0, &r);
	if (rc < 0)
		return rc;
	if (r < 0 && r > -4096)
		return bm_error_errno(BM_EXIT_FAILURE, (int)-r, "restoring process %d: fd %d: %s", pid, fd, what);
	return 0;
}

/* The descriptor through which the restore sets O_ASYNC of D (its first)
 * so that its signals report the number the dump read: D's own, a dup of
 * it at that number, or that number free, where a copy goes (*borrowed)
 * for as long as the F_SETFL.  Negative after an error. */
static int async_through(const struct bm_process *p, const struct bm_fd *d, struct bm_tracee *tr, bool *borrowed)
{
	*borrowed = false;
	if (!(d->sig_known & BM_SIGIO_ASYNC_FD_KNOWN) || d->sig_async_fd == d->fd)
		return d->fd;
	int32_t a = d->sig_async_fd;
	const struct bm_fd *at = bm_fd_find(p->fds, p->nfds, a);
	while (at && at->shares_with >= 0 && at->fd != d->fd)
		at = bm_fd_find(p->fds, p->nfds, at->shares_with);
	if (at && at == d)
		return a;
	if (at)
		return bm_error(BM_EXIT_IMAGE, "restoring process %d: fd %d: O_ASYNC set through fd %d, which holds "
				"another file", p->pid, d->fd, a);
	long r = 0;
	int rc = bm_inject(tr, SYS_fcntl, (uint64_t)a, F_GETFD, 0, 0, 0, 0, &r);
	if (rc == 0 && r != -EBADF)
		return bm_error(BM_EXIT_FAILURE, "restoring process %d: fd %d: fd %d, through which its O_ASYNC was set, "
				"is not free", p->pid, d->fd, a);
	if (rc == 0 && (rc = bm_inject(tr, SYS_dup3, (uint64_t)d->fd, (uint64_t)a, O_CLOEXEC, 0, 0, 0, &r)) == 0 &&
	    r < 0 && r > -4096)
		rc = bm_error_errno(BM_EXIT_FAILURE, (int)-r, "restoring process %d: fd %d: a copy at fd %d, for O_ASYNC",
				    p->pid, d->fd, a);
	*borrowed = rc == 0;
	return rc < 0 ? rc : a;
}

/* O_ASYNC of D, set through the number its signals report. */
static int restore_async(const struct bm_process *p, const struct bm_fd *d, struct bm_tracee *tr)
{
	bool borrowed;
	int through = async_through(p, d, tr, &borrowed);
	if (through < 0)
		return through;
	int rc = inject_fcntl(tr, p->pid, through, F_SETFL, (d->flags & BM_SETFL_FLAGS) | O_ASYNC, "O_ASYNC");
	long r = 0;
	int closed = borrowed ? bm_inject(tr, SYS_close, (uint64_t)through, 0, 0, 0, 0, 0, &r) : 0;
	if (closed == 0 && r < 0 && r > -4096)
		closed = bm_error_errno(BM_EXIT_FAILURE, (int)-r, "restoring process %d: closing fd %d", p->pid, through);
	return rc < 0 ? rc : closed;
}

/* The owner of D set with the user ids it recorded at the source (read
 * at dump), where P's own (real, effective) are not those: by binmig,
 * through a copy of the open file, its own thread's ids those for the
 * call (setresuid through syscall changes the calling thread's only; its
 * saved id lets it take its own back).  Needs CAP_SETUID. */
static int owner_as_setter(const struct bm_process *p, const struct bm_fd *d, const struct f_owner_ex *owner)
{
	uid_t r, e, saved;
	int copy = bm_fd_copy(p->pid, d->fd);
	if (copy < 0)
		return bm_error_errno(BM_EXIT_FAILURE, errno, "restoring process %d: fd %d: a copy to set its owner",
				      p->pid, d->fd);
	int rc = 0;
	if (syscall(SYS_getresuid, &r, &e, &saved) < 0 ||
	    syscall(SYS_setresuid, d->sig_cred_uid, d->sig_cred_euid, -1) < 0)
		rc = bm_error_errno(BM_EXIT_FAILURE, errno, "restoring process %d: fd %d: setting its owner as user %u "
				    "(effective %u), who set it", p->pid, d->fd, d->sig_cred_uid, d->sig_cred_euid);
	else {
		if (fcntl(copy, F_SETOWN_EX, owner) < 0)
			rc = bm_error_errno(BM_EXIT_FAILURE, errno, "restoring process %d: fd %d: F_SETOWN_EX", p->pid,
					    d->fd);
		if (syscall(SYS_setresuid, r, e, -1) < 0 && rc == 0)
			rc = bm_error_errno(BM_EXIT_FAILURE, errno, "taking binmig's own user ids back");
	}
	close(copy);
	return rc;
}

/* The owner of D (OWNER): injected, as the process with its own
 * credentials, where those are the ids the owner recorded or the dump
 * did not read them; else owner_as_setter. */
static int restore_owner(const struct bm_process *p, const struct bm_fd *d, const struct f_owner_ex *owner,
			 struct bm_tracee *tr, uint64_t scratch)
{
	if ((d->sig_known & BM_SIGIO_CREDS_KNOWN) &&
	    (d->sig_cred_uid != p->uid[0] || d->sig_cred_euid != p->uid[1]))
		return owner_as_setter(p, d, owner);
	int rc = bm_mem_write(p->pid, scratch, owner, sizeof *owner);
	if (rc < 0)
		return bm_error_errno(BM_EXIT_FAILURE, -rc, "writing to the scratch page");
	return inject_fcntl(tr, p->pid, d->fd, F_SETOWN_EX, scratch, "F_SETOWN_EX");
}

int bm_sigio_restore(const struct bm_process *p, const bool *elsewhere, struct bm_tracee *tr, uint64_t scratch)
{
	for (uint32_t i = 0; i < p->nfds; i++) {
		const struct bm_fd *d = &p->fds[i];
		if (!bm_sigio_present(d) || d->shares_with >= 0 || (elsewhere && elsewhere[i]))
			continue;
		struct f_owner_ex owner = {(int)d->sig_owner_type, d->sig_owner};
		int rc = 0;
		if (d->sig && (rc = inject_fcntl(tr, p->pid, d->fd, F_SETSIG, d->sig, "F_SETSIG")) < 0)
			return rc;
		if (d->sig_owner && (rc = restore_owner(p, d, &owner, tr, scratch)) < 0)
			return rc;
		if ((d->flags & O_ASYNC) && armed_async(d) && (rc = restore_async(p, d, tr)) < 0)
			return rc;
	}
	return 0;
}

/* ==== the image (version 15) ==== */

static bool has_known(const struct bm_fd *d)
{
	return d->sig_known != 0;
}

static void put_known(struct bm_wbuf *b, const struct bm_fd *d)
{
	bm_put_u32(b, d->sig_known);
	bm_put_i32(b, d->sig_async_fd);
	bm_put_u32(b, d->sig_cred_uid);
	bm_put_u32(b, d->sig_cred_euid);
}

static bool take_known(struct bm_rcur *c, struct bm_fd *d, char *why, size_t n)
{
	uint32_t known = bm_get_u32(c);
	int32_t async_fd = bm_get_i32(c);
	uint32_t uid = bm_get_u32(c), euid = bm_get_u32(c);
	if (bm_rcur_failed(c))
		return true; /* said by the cursor */
	if (!known) {
		snprintf(why, n, "nothing read");
		return false;
	}
	d->sig_known = known;
	d->sig_async_fd = async_fd;
	d->sig_cred_uid = uid;
	d->sig_cred_euid = euid;
	return bm_sigio_check_entry(d, why, n);
}

void bm_sigio_known_encode(struct bm_wbuf *b, const struct bm_process *p)
{
	bm_fd_tail_encode(b, p, has_known, put_known);
}

void bm_sigio_known_decode(struct bm_rcur *c, struct bm_process *p)
{
	bm_fd_tail_decode(c, p, 20, "signal-driven I/O", take_known);
}
