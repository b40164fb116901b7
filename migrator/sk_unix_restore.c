/* UNIX-domain sockets made again at restore (sk_unix.h): the check before
 * the process is made, and the sockets inside it. */
#include "sk_unix.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "sk_unix_peeked.h"
#include "sk_unix_stream_layout.h"
#include "sk_unix_take.h"

/* A path name as a NUL-terminated string. */
static void path_of(const struct bm_unix_sock *s, char *path)
{
	memcpy(path, s->name, s->name_len);
	path[s->name_len] = 0;
}

/* Whether S binds a name of its own (an accepted socket shares its
 * listener's). */
static bool owns_name(const struct bm_unix_sock *s)
{
	return s->name_len && !(s->flags & BM_UNIX_FROM_ACCEPT);
}

/* What is at the path of S: 0 nothing, 1 the socket file of the dump,
 * -1 something else. */
static int path_state(const struct bm_unix_sock *s)
{
	char path[BM_UNIX_NAME_MAX + 1];
	path_of(s, path);
	struct stat st;
	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -1;
	return S_ISSOCK(st.st_mode) && st.st_ino == s->vfs_ino && st.st_dev == s->vfs_dev ? 1 : -1;
}

void bm_unix_report_lost_names(const struct bm_process *p)
{
	for (uint32_t i = 0; i < p->nfds; i++) {
		const struct bm_fd *d = &p->fds[i];
		struct bm_unix_sock s;
		char path[BM_UNIX_NAME_MAX + 1];
		if (d->kind != BM_FD_UNIX_SOCKET || d->shares_with >= 0 || !bm_unix_head(d, &s) || !owns_name(&s) ||
		    !s.name[0] || path_state(&s) == 1)
			continue;
		path_of(&s, path);
		/* Not moved back (bm_unix_unstash_names warned why). */
		bm_warn("process %d runs on, but its unix socket fd %d lost its name %s: its socket file is not there "
			"after the failed migration; clients cannot reach it by that path", (int)p->pid, d->fd, path);
	}
}

/* Where the socket file of S waits while its process migrates: beside
 * it, so that rename keeps the very file (and the socket its name). */
static void stash_path(const struct bm_unix_sock *s, pid_t pid, char *out, size_t len)
{
	char path[BM_UNIX_NAME_MAX + 1];
	path_of(s, path);
	snprintf(out, len, "%s.binmig-%d", path, (int)pid);
}

/* Whether the file at PATH is the socket file of S. */
static bool is_socket_file(const struct bm_unix_sock *s, const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0 && S_ISSOCK(st.st_mode) && st.st_ino == s->vfs_ino && st.st_dev == s->vfs_dev;
}

/* The path-bound sockets of P that own their name: the first I from *i on. */
static bool next_named(const struct bm_process *p, uint32_t *i, struct bm_unix_sock *s)
{
	for (; *i < p->nfds; (*i)++) {
		const struct bm_fd *d = &p->fds[*i];
		if (d->kind == BM_FD_UNIX_SOCKET && d->shares_with < 0 && bm_unix_head(d, s) && owns_name(s) && s->name[0])
			return true;
	}
	return false;
}

int bm_unix_stash_names(const struct bm_process *p)
{
	struct bm_unix_sock s;
	for (uint32_t i = 0; next_named(p, &i, &s); i++) {
		char path[BM_UNIX_NAME_MAX + 1], stash[BM_UNIX_NAME_MAX + 32];
		path_of(&s, path);
		stash_path(&s, p->pid, stash, sizeof stash);
		if (path_state(&s) == 1 && renameat2(AT_FDCWD, path, AT_FDCWD, stash, RENAME_NOREPLACE) < 0)
			return bm_error_errno(BM_EXIT_FAILURE, errno, "cannot move the socket file %s of fd %d of process %d "
					      "aside to %s", path, p->fds[i].fd, (int)p->pid, stash);
	}
	return 0;
}

void bm_unix_unstash_names(const struct bm_process *p, bool migrated)
{
	struct bm_unix_sock s;
	for (uint32_t i = 0; next_named(p, &i, &s); i++) {
		char path[BM_UNIX_NAME_MAX + 1], stash[BM_UNIX_NAME_MAX + 32];
		path_of(&s, path);
		stash_path(&s, p->pid, stash, sizeof stash);
		if (!is_socket_file(&s, stash))
			continue;
		/* Back over whatever the destination left at the name. */
		if (migrated ? unlink(stash) < 0 : rename(stash, path) < 0)
			bm_warn("cannot %s the socket file %s of process %d: %s", migrated ? "remove" : "move back", stash,
				(int)p->pid, strerror(errno));
	}
}

int bm_unix_precheck(const struct bm_process *p)
{
	for (uint32_t i = 0; i < p->nfds; i++) {
		const struct bm_fd *d = &p->fds[i];
		struct bm_unix_sock s;
		char why[160], path[BM_UNIX_NAME_MAX + 1];
		if (d->kind != BM_FD_UNIX_SOCKET || d->shares_with >= 0 || !bm_unix_parse(d->data, d->data_len, &s, why,
											       sizeof why))
			continue;
		if (s.name_len && !s.name[0] && (owns_name(&s) || (s.flags & BM_UNIX_ORPHAN)) &&
		    !bm_unix_abstract_free(&s))
			return bm_error(BM_EXIT_CONFLICT, "fd %d: the abstract unix socket name @%.*s is taken here", d->fd,
					(int)s.name_len - 1, (const char *)s.name + 1);
		if (!owns_name(&s) || !s.name[0])
			continue;
		path_of(&s, path);
		if (path_state(&s) < 0)
			return bm_error(BM_EXIT_CONFLICT, "fd %d: the unix socket path %s is taken by another file", d->fd,
					path);
		char *slash = strrchr(path, '/');
		struct stat st;
		*slash = 0;
		if (stat(slash == path ? "/" : path, &st) < 0 || !S_ISDIR(st.st_mode))
			return bm_error(BM_EXIT_CONFLICT, "fd %d: the directory %s of its unix socket path is missing", d->fd,
					slash == path ? "/" : path);
	}
	return 0;
}

/* ---- inside the new process ---------------------------------------------- */

struct ctx {
	const struct bm_process *p;
	int spare_fd;
	char *err;
	size_t errlen;
};

static int fail(struct ctx *c, const struct bm_fd *d, const char *what)
{
	snprintf(c->err, c->errlen, "unix socket fd %d: %s: %s", d->fd, what, strerror(errno));
	return -1;
}

static socklen_t addr_of(const uint8_t *name, uint32_t len, struct sockaddr_un *a)
{
	memset(a, 0, sizeof *a);
	a->sun_family = AF_UNIX;
	memcpy(a->sun_path, name, len);
	/* A path gets its NUL when there is room (the kernel takes a full one without). */
	bool nul = len && name[0] && len < sizeof a->sun_path;
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + nul);
}


/* Moves FD above spare_fd, where no descriptor of the image lands: the
 * new number, or -1. */
static int raise_fd(const struct ctx *c, int fd)
{
	int high = fcntl(fd, F_DUPFD_CLOEXEC, c->spare_fd);
	close(fd);
	return high;
}

/* Puts the new descriptor FD at d's number (first above spare_fd, so
 * that it cannot land on a number another new one holds). */
static int put(struct ctx *c, int fd, const struct bm_fd *d)
{
	int high = raise_fd(c, fd);
	if (high < 0 || dup3(high, d->fd, (d->flags & O_CLOEXEC) ? O_CLOEXEC : 0) < 0) {
		if (high >= 0)
			close(high);
		return fail(c, d, "placing it");
	}
	close(high);
	return 0;
}

/* The options of S whose form is BUFFERS (or not), where they differ. */
static int set_opts(struct ctx *c, const struct bm_fd *d, const struct bm_unix_sock *s, bool buffers)
{
	for (int i = 0; i < BM_UNIX_NOPTS; i++) {
		const struct bm_unix_optdef *o = &bm_unix_opts[i];
		if (!s->has_opt[i] || (o->form == BM_UNIX_FORM_BUF) != buffers)
			continue;
		int v = 0;
		struct timeval tv = {0, 0};
		struct linger lg = {0, 0};
		void *now = o->form == BM_UNIX_FORM_TIME ? (void *)&tv : o->form == BM_UNIX_FORM_LINGER ? (void *)&lg : (void *)&v;
		socklen_t len = o->form == BM_UNIX_FORM_TIME ? sizeof tv : o->form == BM_UNIX_FORM_LINGER ? sizeof lg : sizeof v;
		if (getsockopt(d->fd, SOL_SOCKET, o->name, now, &len) < 0)
			return fail(c, d, o->text);
		int rc = 0;
		if (o->form == BM_UNIX_FORM_TIME && (tv.tv_sec != s->opt[i].a || tv.tv_usec != s->opt[i].b)) {
			tv = (struct timeval){(time_t)s->opt[i].a, (suseconds_t)s->opt[i].b};
			rc = setsockopt(d->fd, SOL_SOCKET, o->name, &tv, sizeof tv);
		} else if (o->form == BM_UNIX_FORM_LINGER && (lg.l_onoff != s->opt[i].a || lg.l_linger != s->opt[i].b)) {
			lg = (struct linger){(int)s->opt[i].a, (int)s->opt[i].b};
			rc = setsockopt(d->fd, SOL_SOCKET, o->name, &lg, sizeof lg);
		} else if (o->form == BM_UNIX_FORM_BUF && v != s->opt[i].a) {
			/* The kernel doubles what it is given. */
			int half = (int)(s->opt[i].a / 2);
			rc = setsockopt(d->fd, SOL_SOCKET, o->name == SO_RCVBUF ? SO_RCVBUFFORCE : SO_SNDBUFFORCE, &half,
					sizeof half);
		} else if (o->form == BM_UNIX_FORM_INT && v != s->opt[i].a && i != BM_UNIX_OPT_PEEK_OFF) {
			v = (int)s->opt[i].a;
			rc = setsockopt(d->fd, SOL_SOCKET, o->name, &v, sizeof v);
		}
		if (rc < 0)
			return fail(c, d, o->text);
	}
	return 0;
}

/* Binds S (at d) to its name; a path is made again, replacing the socket
 * file of the dump, and gets its mode and owner back. */
static int bind_name(struct ctx *c, const struct bm_fd *d, const struct bm_unix_sock *s)
{
	struct sockaddr_un a;
	socklen_t len = addr_of(s->name, s->name_len, &a);
	char path[BM_UNIX_NAME_MAX + 1];
	if (s->name[0]) {
		path_of(s, path);
		int st = path_state(s);
		if (st < 0) {
			errno = EADDRINUSE;
			return fail(c, d, "its path is taken by another file");
		}
		if (st == 1 && unlink(path) < 0)
			return fail(c, d, "removing the socket file of the dump");
	}
	if (bind(d->fd, (struct sockaddr *)&a, len) < 0)
		return fail(c, d, "bind");
	/* Open to every client until the connections are made again: the
	 * process may have narrowed it since. */
	if (s->name[0] && chmod(path, 0777) < 0)
		return fail(c, d, "mode of its file");
	return 0;
}

/* The socket files get their mode and owner. */
static int own_files(struct ctx *c)
{
	const struct bm_process *p = c->p;
	for (uint32_t i = 0; i < p->nfds; i++) {
		const struct bm_fd *d = &p->fds[i];
		struct bm_unix_sock s;
		char path[BM_UNIX_NAME_MAX + 1];
		if (!bm_unix_head(d, &s) || !owns_name(&s) || !s.name[0])
			continue;
		path_of(&s, path);
		if (lchown(path, s.file_uid, s.file_gid) < 0 || chmod(path, s.file_mode) < 0)
			return fail(c, d, "mode and owner of its file");
	}
	return 0;
}

/* Runs with the effective ids and the supplementary groups a connection
 * records (SO_PEERCRED, SO_PEERGROUPS) while making it; 0 or -1 with
 * errno.  Raw system calls: only this thread. */
struct ids {
	uid_t uid;
	gid_t gid;
	const uint32_t *groups; /* the process's: the dump refuses other ones */
	uint32_t ngroups;
};

/* binmig's own, to go back to. */
struct was {
	uid_t uid;
	gid_t gid;
	gid_t *groups;
	long ngroups;
};

static int unbecome(struct was was)
{
	int rc = 0;
	if (syscall(SYS_setresuid, -1, was.uid, -1) < 0 || syscall(SYS_setresgid, -1, was.gid, -1) < 0 ||
	    (was.groups && syscall(SYS_setgroups, was.ngroups, was.groups) < 0))
		rc = -1;
	int e = errno;
	free(was.groups);
	errno = e;
	return rc;
}

/* Groups first, while binmig may still set them; on a failure, binmig's
 * own ids again. */
static int become(struct ids to, struct was *was)
{
	_Static_assert(sizeof(gid_t) == sizeof(uint32_t), "groups are passed as they are stored");
	uid_t r, e, s;
	gid_t rg, eg, sg;
	*was = (struct was){0, 0, NULL, 0};
	if (syscall(SYS_getresuid, &r, &e, &s) < 0 || syscall(SYS_getresgid, &rg, &eg, &sg) < 0 ||
	    (was->ngroups = syscall(SYS_getgroups, 0, NULL)) < 0)
		return -1;
	was->uid = e, was->gid = eg;
	if (!(was->groups = malloc(((size_t)was->ngroups + 1) * sizeof *was->groups)))
		return -1;
	if ((was->ngroups = syscall(SYS_getgroups, was->ngroups, was->groups)) >= 0 &&
	    syscall(SYS_setgroups, to.ngroups, to.groups) == 0 && syscall(SYS_setresgid, -1, to.gid, -1) == 0 &&
	    syscall(SYS_setresuid, -1, to.uid, -1) == 0)
		return 0;
	int err = errno;
	if (was->ngroups < 0) {
		free(was->groups);
		was->groups = NULL;
	}
	unbecome(*was);
	errno = err;
	return -1;
}

/* The ids S's connection records: its own, or (none known) the process's;
 * the process's groups. */
static struct ids ids_of(const struct bm_process *p, const struct bm_unix_sock *s)
{
	return s->cred_pid ? (struct ids){s->cred_uid, s->cred_gid, p->groups, p->ngroups}
			   : (struct ids){p->uid[1], p->gid[1], p->groups, p->ngroups};
}

/* Buffers that take the whole queue however small the process
 * made its own afterwards; the options set it at the end. */
static int roomy(struct ctx *c, const struct bm_fd *d)
{
	int size = BM_UNIX_MSG_MAX * 2;
	if (setsockopt(d->fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof size) < 0 ||
	    setsockopt(d->fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) < 0)
		return fail(c, d, "making room for its queue");
	return 0;
}

/* Shuts D down as the kernel's BITS say (1 receiving, 2 sending). */
static int shut(struct ctx *c, const struct bm_fd *d, uint32_t bits)
{
	static const int how[4] = {-1, SHUT_RD, SHUT_WR, SHUT_RDWR};
	return (bits & 3) && shutdown(d->fd, how[bits & 3]) < 0 ? fail(c, d, "shutdown") : 0;
}

/* The shutdown bits of S made before it connected: a
 * client's bits whose mirror its accepted peer lacks (a shutdown once
 * connected reaches the peer too, one before does not).  The restore
 * applies them before it connects, the others after. */
static uint32_t early_shutdown(const struct bm_process *p, const struct bm_unix_sock *s)
{
	struct bm_unix_sock ps;
	int peer = s->type != SOCK_DGRAM && s->peer ? bm_unix_find(p->fds, p->nfds, s->peer) : -1;
	if (peer < 0 || !bm_unix_head(&p->fds[peer], &ps) || !(ps.flags & BM_UNIX_FROM_ACCEPT))
		return 0;
	uint32_t mirror = ((ps.shutdown & 1) << 1) | ((ps.shutdown & 2) >> 1);
	return s->shutdown & 3 & ~mirror;
}

/* Phase 1: every socket but the accepted ones, each pair at once. */
static int create(struct ctx *c)
{
	const struct bm_process *p = c->p;
	for (uint32_t i = 0; i < p->nfds; i++) {
		const struct bm_fd *d = &p->fds[i];
		struct bm_unix_sock s, ps;
		if (!bm_unix_head(d, &s) || (s.flags & BM_UNIX_FROM_ACCEPT))
			continue;
		int peer = s.peer ? bm_unix_find(p->fds, p->nfds, s.peer) : -1;
		bool pair = peer >= 0 && bm_unix_head(&p->fds[peer], &ps) && ps.peer == d->object_id &&
			    !(ps.flags & BM_UNIX_FROM_ACCEPT);
		if (pair && peer < (int)i)
			continue; /* made with its peer */
		int fds[2], type = (int)s.type | SOCK_CLOEXEC | SOCK_NONBLOCK, rc;
		struct was was;
		if (pair) {
			if (become(ids_of(p, &s), &was) < 0)
				return fail(c, d, "taking the ids of its peer credentials");
			rc = socketpair(AF_UNIX, type, 0, fds);
			int e = errno;
			if (unbecome(was) < 0)
				return fail(c, d, "giving back binmig's ids");
			errno = e;
		} else {
			rc = fds[0] = socket(AF_UNIX, type, 0);
		}
		if (rc < 0)
			return fail(c, d, pair ? "socketpair" : "socket");
		/* Its other end out of the way first: placing one end at its
		 * number would close the other end if it had that number. */
		if (pair && (fds[1] = raise_fd(c, fds[1])) < 0)
			return fail(c, &p->fds[peer], "placing it");
		if (put(c, fds[0], d) < 0 || (pair && put(c, fds[1], &p->fds[peer]) < 0))
			return -1;
		if (roomy(c, d) < 0 || (pair && roomy(c, &p->fds[peer]) < 0))
			return -1;
		if (!pair && shut(c, d, early_shutdown(p, &s)) < 0)
			return -1;
	}
	return 0;
}

/* Phase 2: names, and listeners listen. */
static int bind_all(struct ctx *c)
{
	const struct bm_process *p = c->p;
	for (uint32_t i = 0; i < p->nfds; i++) {
		const struct bm_fd *d = &p->fds[i];
		struct bm_unix_sock s;
		if (!bm_unix_head(d, &s) || !owns_name(&s))
			continue;
		if (bind_name(c, d, &s) < 0)
			return -1;
		if (!(s.flags & BM_UNIX_LISTENING))
			continue;
		struct was was;
		if (become(ids_of(p, &s), &was) < 0)
			return fail(c, d, "taking the ids of its peer credentials");
		int rc = listen(d->fd, (int)s.backlog), e = errno;
		if (unbecome(was) < 0)
			return fail(c, d, "giving back binmig's ids");
		errno = e;
		if (rc < 0)
			return fail(c, d, "listen");
	}
	return 0;
}

static int connect_as(struct ctx *c, const struct bm_fd *client, struct ids ids, const struct sockaddr_un *a,
		      socklen_t len)
{
	struct was was;
	if (become(ids, &was) < 0)
		return fail(c, client, "taking the ids of its peer credentials");
	int rc = connect(client->fd, (const struct sockaddr *)a, len), e = errno;
	if (unbecome(was) < 0)
		return fail(c, client, "giving back binmig's ids");
	errno = e;
	return rc < 0 ? fail(c, client, "connecting to its listener") : 0;
}

/* CLIENT connects to listener L (at A) with IDS, and what L accepts goes
 * to D's number. */
static int accept_into(struct ctx *c, int l, const struct bm_fd *client, struct ids ids, const struct sockaddr_un *a,
		       socklen_t len, const struct bm_fd *d)
{
	if (connect_as(c, client, ids, a, len) < 0)
		return -1;
	int fd = accept4(l, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0)
		return fail(c, d, "accept");
	return put(c, fd, d) < 0 || roomy(c, d) < 0 ? -1 : 0;
}

/* Phase 3: through each listener, its accepted connections (connect,
 * accept), then the clients left waiting, in their order. */
static int connect_all(struct ctx *c)
{
	const struct bm_process *p = c->p;
	for (uint32_t i = 0; i < p->nfds; i++) {
		const struct bm_fd *l = &p->fds[i];
		struct bm_unix_sock ls, s;
		if (!bm_unix_head(l, &ls) || !(ls.flags & BM_UNIX_LISTENING))
			continue;
		struct sockaddr_un a;
		socklen_t len = addr_of(ls.name, ls.name_len, &a);
		for (uint32_t j = 0; j < p->nfds; j++) {
			const struct bm_fd *d = &p->fds[j];
			if (!bm_unix_head(d, &s) || !(s.flags & BM_UNIX_ACCEPTED) || s.type != ls.type || s.name_len != ls.name_len ||
			    memcmp(s.name, ls.name, s.name_len) != 0)
				continue;
			int ci = bm_unix_find(p->fds, p->nfds, s.peer);
			if (ci < 0)
				continue; /* the image rules exclude it */
			if (accept_into(c, l->fd, &p->fds[ci], ids_of(p, &s), &a, len, d) < 0)
				return -1;
		}
		for (uint32_t k = 0; k < ls.nicons; k++) {
			int ci = bm_unix_find(p->fds, p->nfds, bm_unix_icon(&ls, k));
			if (ci < 0)
				continue; /* the image rules exclude it */
			const struct bm_fd *client = &p->fds[ci];
			struct bm_unix_sock none = {0};
			if (connect_as(c, client, ids_of(p, &none), &a, len) < 0)
				return -1;
		}
	}
	return 0;
}

/* Each connection accepted from a listener since closed, through a
 * listener of the restore's own on its (free) abstract name, closed after:
 * it listens with the ids the client's SO_PEERCRED shows. */
static int orphans(struct ctx *c)
{
	const struct bm_process *p = c->p;
	for (uint32_t i = 0; i < p->nfds; i++) {
		const struct bm_fd *d = &p->fds[i];
		struct bm_unix_sock s, cs;
		if (!bm_unix_head(d, &s) || !(s.flags & BM_UNIX_ORPHAN))
			continue;
		int ci = bm_unix_find(p->fds, p->nfds, s.peer);
		if (ci < 0 || !bm_unix_head(&p->fds[ci], &cs))
			continue; /* the image rules exclude it */
		struct sockaddr_un a;
		socklen_t len = addr_of(s.name, s.name_len, &a);
		int l = socket(AF_UNIX, (int)s.type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (l < 0)
			return fail(c, d, "a listener for it");
		struct was was;
		int rc = bind(l, (struct sockaddr *)&a, len) < 0 ? -1 : become(ids_of(p, &cs), &was) < 0 ? -1 : 0;
		if (rc == 0) {
			rc = listen(l, 1);
			int e = errno;
			if (unbecome(was) < 0)
				rc = -1;
			errno = e;
		}
		if (rc < 0) {
			close(l);
			return fail(c, d, "a listener on its name");
		}
		rc = accept_into(c, l, &p->fds[ci], ids_of(p, &s), &a, len, d);
		close(l);
		if (rc < 0)
			return -1;
	}
	return 0;
}

/* One message, with its credentials when it had some and the
 * descriptors in flight with it (the process's own, already back). */
static int send_one(int from, const struct bm_unix_msg *m, const struct sockaddr_un *to, socklen_t tolen)
{
	int fl[BM_UNIX_MAX_RIGHTS];
	for (uint32_t k = 0; k < m->nrights; k++)
		fl[k] = bm_unix_right(m, k);
	struct ucred cred = {m->pid, m->uid, m->gid};
	ssize_t n = bm_unix_send_piece(from, m->data, m->len, &cred, fl, m->nrights, to, tolen);
	if (n >= 0 && (size_t)n != m->len)
		n = -EMSGSIZE;
	errno = n < 0 ? (int)-n : 0;
	return n < 0 ? -1 : 0;
}

/* Whether socket I, or its peer, holds descriptors in flight: its queue
 * is written, and it is finished, once every descriptor is back. */
static bool late(const struct bm_process *p, uint32_t i)
{
	struct bm_unix_sock s, ps;
	if (!bm_unix_head(&p->fds[i], &s))
		return false;
	int peer = s.peer ? bm_unix_find(p->fds, p->nfds, s.peer) : -1;
	return (s.flags & BM_UNIX_RIGHTS) || (peer >= 0 && bm_unix_head(&p->fds[peer], &ps) && (ps.flags & BM_UNIX_RIGHTS));
}

/* The empty messages of D's queue (decoded as S, just written) that the
 * process had peeked, marked again (sk_unix_peeked.h). */
static int mark_again(struct ctx *c, const struct bm_fd *d, const struct bm_unix_sock *s)
{
	uint32_t *lens = malloc((size_t)s->nmsgs * sizeof *lens);
	uint8_t *peeked = malloc(s->nmsgs);
	int rc = lens && peeked ? 0 : -ENOMEM;
	uint32_t at = 0;
	for (uint32_t k = 0; rc == 0 && k < s->nmsgs; k++) {
		struct bm_unix_msg m;
		bm_unix_next_msg(s, &at, &m);
		lens[k] = m.len;
		peeked[k] = (uint8_t)m.peeked;
	}
	if (rc == 0)
		rc = bm_unix_mark_peeked(d->fd, lens, peeked, s->nmsgs);
	free(lens);
	free(peeked);
	errno = -rc;
	return rc < 0 ? fail(c, d, "marking the messages it had peeked") : 0;
}

/* D's stream queue (decoded as S) written skb by skb from its peer, as
 * the dump read its skbs (sk_unix_stream_layout.h). */
static int fill_skbs(struct ctx *c, const struct bm_fd *d, const struct bm_unix_sock *s)
{
	uint32_t at = 0;
	struct bm_unix_msg m;
	bm_unix_next_msg(s, &at, &m);
	int from;
	bool connected;
	if (!bm_unix_sender(c->p->fds, c->p->nfds, (uint32_t)(d - c->p->fds), s, &m, &from, &connected) || from < 0) {
		errno = EINVAL;
		return fail(c, d, "no sender for its queue");
	}
	int rc = bm_stream_refill(c->p->fds[from].fd, d->fd, d, s);
	errno = -rc;
	return rc < 0 ? fail(c, d, "writing its queue again skb by skb") : 0;
}

/* Phase 4: each receive queue written again from its sender, in order
 * (those with descriptors in flight when LATE, the others when not). */
static int fill_all(struct ctx *c, bool with_rights)
{
	const struct bm_process *p = c->p;
	int own = -1, rc = 0;
	for (uint32_t i = 0; rc == 0 && i < p->nfds; i++) {
		const struct bm_fd *d = &p->fds[i];
		struct bm_unix_sock s;
		if (!bm_unix_head(d, &s) || !s.nmsgs || !(s.flags & BM_UNIX_RIGHTS) != !with_rights)
			continue;
		if (d->nstream_skbs) {
			rc = fill_skbs(c, d, &s);
			continue;
		}
		struct sockaddr_un a;
		socklen_t len = addr_of(s.name, s.name_len, &a);
		uint32_t at = 0;
		for (uint32_t k = 0; rc == 0 && k < s.nmsgs; k++) {
			struct bm_unix_msg m;
			bm_unix_next_msg(&s, &at, &m);
			int from;
			bool connected;
			if (!bm_unix_sender(p->fds, p->nfds, i, &s, &m, &from, &connected)) {
				errno = EINVAL;
				rc = fail(c, d, "no sender for a queued message");
				break;
			}
			if (from < 0 && own < 0 && (own = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0) {
				rc = fail(c, d, "a socket to send its messages");
				break;
			}
			if (send_one(from < 0 ? own : p->fds[from].fd, &m, connected ? NULL : &a, len) < 0)
				rc = fail(c, d, "writing its queue again");
		}
		if (rc == 0 && (s.flags & BM_UNIX_PEEKS))
			rc = mark_again(c, d, &s);
	}
	if (own >= 0)
		close(own);
	return rc;
}

/* Phase 5: datagram sockets connected one way; shutdowns; the other
 * options; status flags (the late sockets' when LATE_ONES, the others'
 * when not). */
static int finish(struct ctx *c, bool late_ones)
{
	const struct bm_process *p = c->p;
	for (uint32_t i = 0; i < p->nfds; i++) {
		const struct bm_fd *d = &p->fds[i];
		struct bm_unix_sock s, ps;
		if (!bm_unix_head(d, &s) || late(p, i) != late_ones)
			continue;
		int peer = s.peer ? bm_unix_find(p->fds, p->nfds, s.peer) : -1;
		if (s.type == SOCK_DGRAM && peer >= 0 && bm_unix_head(&p->fds[peer], &ps) && ps.peer != d->object_id) {
			struct sockaddr_un a;
			socklen_t len = addr_of(ps.name, ps.name_len, &a);
			if (connect(d->fd, (struct sockaddr *)&a, len) < 0)
				return fail(c, d, "connect");
		}
	}
	for (uint32_t i = 0; i < p->nfds; i++) {
		const struct bm_fd *d = &p->fds[i];
		struct bm_unix_sock s;
		if (!bm_unix_head(d, &s))
			continue;
		if (late(p, i) != late_ones)
			continue;
		if (shut(c, d, s.shutdown & ~early_shutdown(p, &s)) < 0)
			return -1;
		if (set_opts(c, d, &s, true) < 0 || set_opts(c, d, &s, false) < 0)
			return -1;
		int off = (int)s.opt[BM_UNIX_OPT_PEEK_OFF].a;
		if (s.has_opt[BM_UNIX_OPT_PEEK_OFF] && off != -1 &&
		    setsockopt(d->fd, SOL_SOCKET, SO_PEEK_OFF, &off, sizeof off) < 0)
			return fail(c, d, "SO_PEEK_OFF");
		int fl = fcntl(d->fd, F_GETFL);
		if (fl < 0 || fcntl(d->fd, F_SETFL, (fl & ~O_NONBLOCK) | ((int)d->flags & O_NONBLOCK)) < 0)
			return fail(c, d, "status flags");
	}
	return 0;
}

int bm_unix_restore(const struct bm_process *p, int spare_fd, char *err, size_t errlen)
{
	struct ctx c = {p, spare_fd, err, errlen};
	if (create(&c) < 0 || bind_all(&c) < 0 || connect_all(&c) < 0 || orphans(&c) < 0 || own_files(&c) < 0 ||
	    fill_all(&c, false) < 0 ||
	    finish(&c, false) < 0)
		return -1;
	return 0;
}

int bm_unix_fill_rights(const struct bm_process *p, char *err, size_t errlen)
{
	struct ctx c = {p, -1, err, errlen};
	return fill_all(&c, true) < 0 || finish(&c, true) < 0 ? -1 : 0;
}
