/* UNIX-domain sockets: read at dump (sk_unix.h); their description in
 * sk_unix_image.c, the restore in sk_unix_restore.c. */
#include "sk_unix.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>
#include <linux/sockios.h>

#include "fd_policy.h"
#include "sk_dgram_kernel.h"
#include "sk_unix_adopt.h"
#include "sk_unix_diag.h"
#include "sk_unix_peeked.h"
#include "sk_unix_rights.h"
#include "sk_unix_stream_layout.h"
#include "sk_unix_take.h"
#include "log.h"
#include "wire.h"

#ifndef SO_PASSPIDFD
#define SO_PASSPIDFD 76
#endif

#define TCP_ESTABLISHED_STATE 1
#define TCP_LISTEN_STATE 10

int bm_unix_describe(pid_t pid, int fd, const struct stat *st, struct bm_fd *out)
{
	int copy = bm_fd_copy(pid, fd);
	if (copy < 0)
		return bm_error_errno(BM_EXIT_TARGET, errno, "cannot look at the socket fd %d of process %d", fd, pid);
	int domain = 0;
	socklen_t len = sizeof domain;
	int rc = getsockopt(copy, SOL_SOCKET, SO_DOMAIN, &domain, &len) < 0 ? -errno : 0;
	close(copy);
	if (rc < 0)
		return bm_error_errno(BM_EXIT_TARGET, -rc, "cannot look at the socket fd %d of process %d", fd, pid);
	if (domain != AF_UNIX)
		return 0;
	out->kind = BM_FD_UNIX_SOCKET;
	out->object_id = st->st_ino;
	return 1;
}

/* ---- dump: one socket --------------------------------------------------- */

struct peeked {
	struct bm_unix_msg *msgs; /* data and addr malloc'd */
	uint32_t n, cap;
	size_t bytes;
};

static void peeked_free(struct peeked *q)
{
	for (uint32_t i = 0; i < q->n; i++) {
		free((void *)q->msgs[i].data);
		free((void *)q->msgs[i].addr);
		free((void *)q->msgs[i].rights);
	}
	free(q->msgs);
	memset(q, 0, sizeof *q);
}

static int refuse(pid_t pid, const struct bm_fd *d, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int refuse(pid_t pid, const struct bm_fd *d, const char *fmt, ...)
{
	char detail[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(detail, sizeof detail, fmt, ap);
	va_end(ap);
	return bm_fd_refuse(pid, d->fd, d->path ? d->path : "socket", d->mode, detail);
}

/* Appends a copy of M to Q. */
static int add_msg(pid_t pid, const struct bm_fd *d, struct peeked *q, const struct bm_unix_msg *m)
{
	q->bytes += (size_t)m->len + 32 + 4 * (size_t)m->nrights;
	if (q->bytes > BM_UNIX_MSG_MAX - 4096)
		return refuse(pid, d, " holding more queued data than an image carries (%u bytes)", BM_UNIX_MSG_MAX);
	if (q->n == q->cap) {
		uint32_t ncap = q->cap ? 2 * q->cap : 16;
		struct bm_unix_msg *grown = realloc(q->msgs, ncap * sizeof *grown);
		if (!grown)
			return bm_error(BM_EXIT_FAILURE, "out of memory");
		q->msgs = grown;
		q->cap = ncap;
	}
	uint8_t *data = malloc(m->len ? m->len : 1), *addr = malloc(m->addr_len ? m->addr_len : 1);
	uint8_t *rights = malloc(m->nrights ? 4 * (size_t)m->nrights : 1);
	if (!data || !addr || !rights) {
		free(data);
		free(addr);
		free(rights);
		return bm_error(BM_EXIT_FAILURE, "out of memory");
	}
	memcpy(data, m->data, m->len);
	memcpy(addr, m->addr, m->addr_len);
	memcpy(rights, m->rights, 4 * (size_t)m->nrights);
	q->msgs[q->n++] = (struct bm_unix_msg){data, m->len, addr, m->addr_len, m->pid, m->uid, m->gid, m->nrights, rights,
					       m->peeked};
	return 0;
}

/* Whether binmig may send a message with credentials C again (none, pid
 * 0, it may), tried once for each run of the same (PREV: the last
 * tried).  0, or negative after refusing socket D for WHY. */
static int can_give(pid_t pid, const struct bm_fd *d, const struct ucred *c, struct ucred *prev, const char *why)
{
	if (!c->pid || (c->pid == prev->pid && c->uid == prev->uid && c->gid == prev->gid))
		return 0;
	*prev = *c;
	int rc = bm_unix_can_send_as(c);
	return rc < 0 ? refuse(pid, d, "%s (%s)", why, strerror(-rc)) : 0;
}

/* Whether binmig has room for the NFL descriptors in flight in D's queue. */
static int room_for(pid_t pid, const struct bm_fd *d, uint32_t nfl)
{
	if (bm_unix_fd_room(nfl) < 0)
		return bm_error(BM_EXIT_FAILURE, "binmig has no room for the %u descriptors in flight in the queue of "
				"socket fd %d of process %d (RLIMIT_NOFILE)", nfl, d->fd, pid);
	return 0;
}

/* Whether the queue Q (as peeked) of stream socket D could be written
 * back once taken: a peer in the process (fd PEER_FD), the receiving side
 * open, the writers' credentials binmig may give, room in binmig for the
 * descriptors in flight.  0, or negative after refusing. */
static int can_write_back(const struct bm_process *p, const struct bm_fd *d, int peer_fd, uint32_t shutdown,
			  const struct peeked *q)
{
	pid_t pid = p->pid;
	if (peer_fd < 0 || (shutdown & 1))
		return refuse(pid, d, " (a stream) with descriptors in flight (SCM_RIGHTS) and %s, so that its queue, "
			      "read to find which bytes they ride with, could not be written back", peer_fd < 0 ?
			      "no peer in the process" : "shut down for reading");
	uint32_t nfl = 0;
	struct ucred prev = {0, 0, 0};
	for (uint32_t i = 0; i < q->n; i++) {
		const struct bm_unix_msg *m = &q->msgs[i];
		struct ucred c = {m->pid, m->uid, m->gid};
		nfl += m->nrights;
		int rc = can_give(pid, d, &c, &prev, " (a stream) with descriptors in flight (SCM_RIGHTS) and data whose "
				  "writer's credentials binmig cannot give again, so that its queue, read to find which bytes "
				  "they ride with, could not be written back");
		if (rc < 0)
			return rc;
	}
	return room_for(pid, d, nfl);
}

/* Before taking the queue of S (socket D): its SO_PEEK_OFF off, and a
 * copy of the process's fd PEER_FD to write back through.  The copy, or
 * negative after reporting. */
static int prepare_take(pid_t pid, const struct bm_fd *d, int s, int peer_fd)
{
	int peer = bm_fd_copy(pid, peer_fd), off = -1;
	if (peer < 0)
		return bm_error_errno(BM_EXIT_TARGET, errno, "cannot look at the socket fd %d of process %d", peer_fd, pid);
	if (setsockopt(s, SOL_SOCKET, SO_PEEK_OFF, &off, sizeof off) < 0) {
		close(peer);
		return bm_error_errno(BM_EXIT_TARGET, errno, "cannot prepare to read the queue of socket fd %d", d->fd);
	}
	return peer;
}

/* Takes the queue of S (socket D) and writes it back through a copy of
 * the process's fd PEER_FD at once, into T.  0, or negative after
 * reporting. */
static int take_and_write_back(pid_t pid, const struct bm_fd *d, int s, int peer_fd, struct bm_unix_taken *t)
{
	int peer = prepare_take(pid, d, s, peer_fd);
	if (peer < 0)
		return peer;
	int took = bm_unix_take(s, BM_UNIX_MSG_MAX - 4096, t);
	int back = bm_unix_put_back(peer, s, t, NULL, 0, d->stream_skbs, d->nstream_skbs, d->stream_consumed);
	close(peer);
	if (back < 0)
		return bm_error_errno(BM_EXIT_TARGET, -back, "process %d: the queue of its socket fd %d, read to find which "
				      "bytes its descriptors in flight ride with, could not be written back whole", pid, d->fd);
	if (took < 0)
		return bm_error_errno(BM_EXIT_TARGET, -took, "process %d: cannot read the queue of its socket fd %d%s", pid,
				      d->fd, took == -EMFILE ? " (descriptors in flight were lost)"
					     : t->n ? " (what was read went back behind the rest)" : "");
	return 0;
}

/* A stream whose queue holds descriptors in flight: where each piece with
 * rights begins cannot be peeked (sk_unix_take.h), so the queue is taken
 * and written back at once through the peer (fd PEER_FD of the process),
 * and Q, as peeked, gives way to the pieces taken. */
static int take_queue(const struct bm_process *p, const struct bm_fd *d, int s, int peer_fd, uint32_t shutdown,
		      struct peeked *q)
{
	struct bm_unix_taken t = {0};
	int rc = can_write_back(p, d, peer_fd, shutdown, q);
	if (rc == 0)
		rc = take_and_write_back(p->pid, d, s, peer_fd, &t);
	if (rc == 0)
		peeked_free(q);
	for (uint32_t i = 0; rc == 0 && i < t.n; i++) {
		const struct bm_unix_piece *pc = &t.pieces[i];
		uint8_t named[4 * BM_UNIX_MAX_RIGHTS];
		int bad = -1;
		if (bm_unix_rights_name(p, pc->fl, pc->nfl, named, &bad) != 0) {
			rc = refuse(p->pid, d, " with a descriptor in flight (SCM_RIGHTS) in its queue that is %s, which "
				    "binmig cannot carry", bm_unix_rights_kind(bad));
			break;
		}
		struct bm_unix_msg m = {t.data + pc->off, pc->len, (const uint8_t *)"", 0, pc->cred.pid, pc->cred.uid,
					pc->cred.gid, pc->nfl, named};
		rc = add_msg(p->pid, d, q, &m);
	}
	bm_unix_taken_free(&t);
	return rc;
}

/* Whether binmig can write back messages with the credentials SEEN[0..n)
 * show and the descriptors they carry.  0, or negative after reporting. */
static int can_send_seen(pid_t pid, const struct bm_fd *d, const struct bm_unix_seen *seen, uint32_t n)
{
	uint32_t nfl = 0;
	struct ucred prev = {0, 0, 0};
	for (uint32_t i = 0; i < n; i++) {
		nfl += seen[i].nrights;
		int rc = can_give(pid, d, &seen[i].cred, &prev, " holding a message whose sender's credentials binmig "
				  "cannot give again, so that its queue, taken to find the empty messages the process peeked, "
				  "could not be written back");
		if (rc < 0)
			return rc;
	}
	return room_for(pid, d, nfl);
}

/* The messages of T, taken from socket D with PEEKED marks, into Q as the
 * walk would have read them (with ADOPT: only the descriptors in flight
 * the process does not hold, noted).  0, or negative after refusing. */
static int keep_taken(const struct bm_process *p, const struct bm_fd *d, int type, const struct bm_unix_diag *peer,
		      const struct bm_unix_taken *t, const uint8_t *peeked, struct peeked *q,
		      struct bm_unix_adoption *adopt)
{
	int rc = 0;
	for (uint32_t i = 0; rc == 0 && i < t->n; i++) {
		const struct bm_unix_piece *pc = &t->pieces[i];
		uint8_t named[4 * BM_UNIX_MAX_RIGHTS];
		int bad = -1, named_rc = bm_unix_rights_name(p, pc->fl, pc->nfl, named, &bad);
		if (adopt) {
			rc = named_rc == 1 ? bm_unix_adopt_note(adopt, d->fd, pc->fl, pc->nfl) : 0;
			continue;
		}
		if (named_rc != 0)
			return refuse(p->pid, d, " with a descriptor in flight (SCM_RIGHTS) in its queue that is %s, which "
				      "binmig cannot carry", bm_unix_rights_kind(bad));
		if (pc->cred.pid != 0 && pc->cred.pid != p->pid)
			return refuse(p->pid, d, " holding a message with the credentials of process %d in flight, which "
				      "binmig cannot send again", pc->cred.pid);
		uint32_t alen = type == SOCK_DGRAM ? peer->name_len : 0;
		struct bm_unix_msg m = {t->data + pc->off, pc->len, peer->name, alen, pc->cred.pid, pc->cred.uid,
					pc->cred.gid, pc->nfl, named, peeked[i]};
		rc = add_msg(p->pid, d, q, &m);
	}
	return rc;
}

/* Takes the queue of S (socket D), whose one possible sender is PEER (fd
 * PEER_FD of the process), writes it back through the peer at once, and
 * marks again the empty messages SEEN shows the process had peeked
 * (sk_unix_peeked.h).  0, or negative after reporting. */
static int take_and_mark(const struct bm_process *p, const struct bm_fd *d, int s, int peer_fd,
			 const struct bm_unix_diag *peer, const struct bm_unix_seen *seen, uint32_t nseen,
			 struct bm_unix_taken *t, uint8_t **peeked)
{
	pid_t pid = p->pid;
	int cp = prepare_take(pid, d, s, peer_fd);
	if (cp < 0)
		return cp;
	/* A peer not connected back sends to the socket's (abstract) name. */
	struct sockaddr_un to;
	socklen_t tolen = sizeof to;
	bool by_name = peer->peer != d->object_id;
	if (by_name && getsockname(s, (struct sockaddr *)&to, &tolen) < 0) {
		close(cp);
		return bm_error_errno(BM_EXIT_TARGET, errno, "cannot read the name of socket fd %d of process %d", d->fd, pid);
	}
	int took = bm_unix_take_messages(s, peer->name, peer->name_len, t);
	int back = bm_unix_put_back(cp, s, t, by_name ? &to : NULL, by_name ? tolen : 0, NULL, 0, 0);
	close(cp);
	uint32_t *lens = calloc(t->n ? t->n : 1, sizeof *lens);
	*peeked = calloc(t->n ? t->n : 1, 1);
	if (!lens || !*peeked) {
		free(lens);
		return bm_error(BM_EXIT_FAILURE, "out of memory");
	}
	for (uint32_t i = 0; i < t->n; i++)
		lens[i] = t->pieces[i].len;
	int found = bm_unix_find_peeked(seen, nseen, t, *peeked);
	int marked = back == 0 && found == 0 ? bm_unix_mark_peeked(s, lens, *peeked, t->n) : 0;
	free(lens);
	if (back < 0 || marked < 0)
		return bm_error_errno(BM_EXIT_TARGET, back < 0 ? -back : -marked, "process %d: the queue of its socket fd "
				      "%d, taken to find the empty messages it peeked, could not be %s", pid, d->fd,
				      back < 0 ? "written back whole" : "marked as it was");
	if (took < 0)
		return bm_error_errno(BM_EXIT_TARGET, -took, "process %d: cannot read the queue of its socket fd %d%s", pid,
				      d->fd, took == -EMFILE ? " (descriptors in flight were lost)"
					     : took == -EXDEV ? " (an empty message from another sender than its peer "
								"went back as its peer's)"
					     : took == -EBADMSG ? " (an empty message with control data binmig cannot "
								  "send went back without it)" : "");
	if (found < 0)
		return bm_error(BM_EXIT_TARGET, "process %d: the queue of its socket fd %d did not read as it peeked", pid,
				d->fd);
	return 0;
}

/* A datagram or seqpacket socket D (copy S) whose one possible sender is
 * its peer PEER, fd PEER_FD of the process: its queue walked, taken and
 * written back, and the empty messages the process had peeked marked
 * again (sk_unix_peeked.h); Q gets the messages taken.  1 when a message
 * came from another sender (sent before the socket connected: the caller
 * peeks instead), 0, or negative after reporting. */
static int take_messages(const struct bm_process *p, const struct bm_fd *d, int s, int type, int peer_fd,
			 const struct bm_unix_diag *peer, struct peeked *q, struct bm_unix_adoption *adopt)
{
	struct bm_unix_seen *seen;
	uint32_t nseen;
	int rc = bm_unix_walk_seen(s, &seen, &nseen);
	if (rc < 0)
		return bm_error_errno(BM_EXIT_TARGET, -rc, "cannot read the queue of socket fd %d of process %d", d->fd,
				      p->pid);
	bool other = false, empty = false, odd = false;
	for (uint32_t i = 0; i < nseen; i++) {
		other |= seen[i].addr_len != peer->name_len || memcmp(seen[i].addr, peer->name, peer->name_len) != 0;
		empty |= !seen[i].len;
		odd |= seen[i].other;
	}
	if (odd) {
		free(seen);
		return refuse(p->pid, d, " with control messages in its queue that binmig cannot carry (a truncated one "
			      "or another kind)");
	}
	if (other) {
		/* The walk marked the empty messages it showed: none, or refused. */
		free(seen);
		return empty ? refuse(p->pid, d, " holding an empty message, and a message from another sender than its "
				      "peer, which binmig cannot write back") : 1;
	}
	/* Nothing shown and nothing there: no message the process peeked. */
	struct pollfd pf = {s, POLLIN, 0};
	if (!nseen && poll(&pf, 1, 0) == 0) {
		free(seen);
		return 0;
	}
	struct bm_unix_taken t = {0};
	uint8_t *peeked = NULL;
	rc = can_send_seen(p->pid, d, seen, nseen);
	if (rc == 0)
		rc = take_and_mark(p, d, s, peer_fd, peer, seen, nseen, &t, &peeked);
	if (rc == 0)
		rc = keep_taken(p, d, type, peer, &t, peeked, q, adopt);
	free(peeked);
	free(seen);
	bm_unix_taken_free(&t);
	return rc;
}

/* Whether the socket of inode INO (as SELF describes it), connected to
 * PEER_INO, can only get messages from it, which can write them back:
 * the peer is connected back (a socket pair, a seqpacket connection,
 * datagram sockets connected to each other), or it is a datagram socket
 * that sends to SELF's abstract name (a name that is SELF's for as long as
 * it lives); neither side is shut down for this direction.  The peer's
 * description into PEER (icons freed). */
static bool sole_sender(uint64_t ino, const struct bm_unix_diag *self, uint64_t peer_ino, struct bm_unix_diag *peer)
{
	bool abstract = self->type == SOCK_DGRAM && self->name_len && self->name[0] == 0;
	memset(peer, 0, sizeof *peer); /* not asked when SELF is shut down for reading */
	bool sole = peer_ino && !(self->shutdown & 1) && bm_unix_diag_query(peer_ino, peer) == 0 &&
		    (peer->peer == ino || abstract) && !(peer->shutdown & 2);
	free(peer->icons);
	peer->icons = NULL;
	return sole;
}

/* Reads S's receive queue without taking it: peeks from offset 0 on with
 * SO_PEEK_OFF, SO_PASSCRED on so that each message shows its credentials
 * (pid 0: none), then puts both options back.
 *
 * An empty message (datagram or record) once peeked is skipped by every
 * later peek at an offset: the kernel's way past it.  So a message queue
 * is first peeked at its head without an offset, which shows an empty
 * head message whoever peeked it before; one behind other messages would
 * be seen by this dump and by no later one (a migration that fails, a
 * dump --leave-running), and is refused.  One the process itself peeked
 * there is seen by no dump at all (docs/process-state.md).
 *
 * A stream whose peeks show descriptors in flight, each one the process
 * holds, is read again by taking its queue (take_queue).
 *
 * With ADOPT, the walk only gathers the descriptors in flight that the
 * process does not hold (bm_unix_gather_in_flight) and takes nothing. */
static int peek_queue(const struct bm_process *p, const struct bm_fd *d, int s, int type, int peer_fd,
		      uint32_t shutdown, const struct bm_unix_diag *sole, struct peeked *q, struct bm_unix_adoption *adopt,
		      bool runs_on)
{
	pid_t pid = p->pid;
	int saved_off = -1, saved_cred = 0, one = 1, zero = 0, off = -1;
	socklen_t len = sizeof saved_off;
	if (getsockopt(s, SOL_SOCKET, SO_PEEK_OFF, &saved_off, &len) < 0 ||
	    getsockopt(s, SOL_SOCKET, SO_PASSCRED, &saved_cred, &(socklen_t){sizeof saved_cred}) < 0 ||
	    setsockopt(s, SOL_SOCKET, SO_PASSCRED, &one, sizeof one) < 0 ||
	    setsockopt(s, SOL_SOCKET, SO_PEEK_OFF, type == SOCK_STREAM ? &zero : &off, sizeof zero) < 0)
		return bm_error_errno(BM_EXIT_TARGET, errno, "cannot prepare to read the queue of socket fd %d", d->fd);
	int rc = type != SOCK_STREAM && sole ? take_messages(p, d, s, type, peer_fd, sole, q, adopt) : 1;
	size_t cap = BM_UNIX_MSG_MAX;
	uint8_t *buf = rc == 1 ? malloc(cap) : NULL;
	if (rc == 1) {
		rc = buf ? 0 : bm_error(BM_EXIT_FAILURE, "out of memory");
		if (rc == 0 && setsockopt(s, SOL_SOCKET, SO_PEEK_OFF, type == SOCK_STREAM ? &zero : &off, sizeof zero) < 0)
			rc = bm_error_errno(BM_EXIT_TARGET, errno, "cannot read the queue of socket fd %d", d->fd);
	} else {
		rc = rc ? rc : 2; /* taken: nothing to peek */
	}
	/* Not taken: what no peek shows is refused before the peeks mark
	 * anything. */
	if (rc == 0 && !adopt)
		rc = bm_sk_dgram_unix_check(pid, d, runs_on);
	bool at_head = type != SOCK_STREAM; /* the head peeked without an offset first */
	bool taking = false; /* a stream with rights: read again by taking it */
	while (rc == 0) {
		struct sockaddr_un from;
		union {
			struct cmsghdr align;
			char bytes[CMSG_SPACE(sizeof(struct ucred)) + CMSG_SPACE(BM_UNIX_MAX_RIGHTS * sizeof(int))];
		} control;
		struct iovec iov = {buf, cap};
		struct msghdr mh = {.msg_name = &from, .msg_namelen = sizeof from, .msg_iov = &iov, .msg_iovlen = 1,
				    .msg_control = &control, .msg_controllen = sizeof control};
		ssize_t got = recvmsg(s, &mh, MSG_PEEK | MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (got < 0) {
			if (errno != EAGAIN)
				rc = bm_error_errno(BM_EXIT_TARGET, errno, "cannot read the queue of socket fd %d", d->fd);
			break;
		}
		struct ucred cred = {0, 0, 0};
		bool has_cred = false, other = (mh.msg_flags & MSG_CTRUNC) != 0;
		int fl[BM_UNIX_MAX_RIGHTS];
		uint32_t nfl = 0;
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
			if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS &&
			    c->cmsg_len >= CMSG_LEN(sizeof cred)) {
				memcpy(&cred, CMSG_DATA(c), sizeof cred);
				has_cred = true;
			} else if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
				uint32_t nfd = (uint32_t)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
				for (uint32_t k = 0; k < nfd && nfl < BM_UNIX_MAX_RIGHTS; k++)
					memcpy(&fl[nfl++], CMSG_DATA(c) + k * sizeof(int), sizeof(int));
			} else {
				other = true; /* anything else in flight is not carried */
			}
		}
		uint8_t named[4 * BM_UNIX_MAX_RIGHTS];
		int bad = -1;
		int named_rc = other ? 0 : bm_unix_rights_name(p, fl, nfl, named, &bad);
		if (named_rc == 1 && adopt) {
			rc = bm_unix_adopt_note(adopt, d->fd, fl, nfl);
			named_rc = 0;
		}
		const char *kind = named_rc == 1 ? bm_unix_rights_kind(bad) : NULL;
		bm_unix_rights_close(&mh);
		if (rc < 0)
			break;
		if (other) {
			rc = refuse(pid, d, " with control messages in its queue that binmig cannot carry (a truncated "
				    "one or another kind)");
			break;
		}
		if (kind) {
			rc = refuse(pid, d, " with a descriptor in flight (SCM_RIGHTS) in its queue that is %s, which "
				    "binmig cannot carry", kind);
			break;
		}
		/* End of file: nothing read and no message (each has credentials). */
		if (got == 0 && (type == SOCK_STREAM || !has_cred))
			break;
		if (at_head) {
			at_head = false;
			if (setsockopt(s, SOL_SOCKET, SO_PEEK_OFF, &zero, sizeof zero) < 0) {
				rc = bm_error_errno(BM_EXIT_TARGET, errno, "cannot read the queue of socket fd %d", d->fd);
				break;
			}
			if (got > 0)
				continue; /* read again, at offset 0 */
		} else if (got == 0 && type != SOCK_STREAM) {
			rc = refuse(pid, d, " holding an empty message behind others, which a later read of its queue "
				    "could not see again");
			break;
		}
		if (mh.msg_flags & MSG_TRUNC) {
			rc = refuse(pid, d, " holding a message of more than %zu bytes", cap);
			break;
		}
		if (cred.pid != 0 && cred.pid != pid) {
			rc = refuse(pid, d, " holding a message with the credentials of process %d in flight, which binmig "
				    "cannot send again", cred.pid);
			break;
		}
		uint32_t alen = type == SOCK_DGRAM && mh.msg_namelen > offsetof(struct sockaddr_un, sun_path)
					? (uint32_t)(mh.msg_namelen - offsetof(struct sockaddr_un, sun_path)) : 0;
		if (alen && from.sun_path[0])
			alen = (uint32_t)strnlen(from.sun_path, alen);
		/* An empty head the process peeked is marked again at restore. */
		uint32_t marked = !q->n && !got && type != SOCK_STREAM && (d->queue_seen & BM_QUEUE_HEAD_MARKED);
		struct bm_unix_msg m = {buf, (uint32_t)got, (const uint8_t *)from.sun_path, alen, cred.pid, cred.uid,
					cred.gid, nfl, named, marked};
		if ((rc = add_msg(pid, d, q, &m)) < 0)
			break;
		taking |= nfl && type == SOCK_STREAM;
	}
	free(buf);
	if (rc == 2)
		rc = 0;
	else if (rc == 0 && taking && !adopt)
		rc = take_queue(p, d, s, peer_fd, shutdown, q);
	else if (rc == 0 && type != SOCK_STREAM && saved_off >= 0 && q->n && !adopt)
		rc = refuse(pid, d, " with SO_PEEK_OFF set and messages queued that binmig cannot take and write back "
			    "(its queue may get messages from another sender than its peer in the process): an empty "
			    "message the process peeked at an offset would be seen by no peek of the dump");
	if (setsockopt(s, SOL_SOCKET, SO_PEEK_OFF, &saved_off, sizeof saved_off) < 0 ||
	    setsockopt(s, SOL_SOCKET, SO_PASSCRED, &saved_cred, sizeof saved_cred) < 0)
		rc = rc ? rc : bm_error_errno(BM_EXIT_TARGET, errno, "cannot put back the options of socket fd %d", d->fd);
	return rc;
}

static int read_opts(pid_t pid, const struct bm_fd *d, int s, struct bm_unix_sock *u)
{
	for (int i = 0; i < BM_UNIX_NOPTS; i++) {
		int v = 0;
		struct timeval tv = {0, 0};
		struct linger lg = {0, 0};
		void *p = bm_unix_opts[i].form == BM_UNIX_FORM_TIME ? (void *)&tv : bm_unix_opts[i].form == BM_UNIX_FORM_LINGER ? (void *)&lg : (void *)&v;
		socklen_t len = bm_unix_opts[i].form == BM_UNIX_FORM_TIME ? sizeof tv : bm_unix_opts[i].form == BM_UNIX_FORM_LINGER ? sizeof lg : sizeof v;
		if (getsockopt(s, SOL_SOCKET, bm_unix_opts[i].name, p, &len) < 0) {
			if (errno == ENOPROTOOPT && i >= BM_UNIX_OPT_BUF_LOCK)
				continue; /* newer than this kernel: a new socket's at the destination */
			return bm_error_errno(BM_EXIT_TARGET, errno, "cannot read %s of socket fd %d of process %d",
					      bm_unix_opts[i].text, d->fd, pid);
		}
		u->has_opt[i] = true;
		u->opt[i] = bm_unix_opts[i].form == BM_UNIX_FORM_TIME ? (struct bm_unix_opt){tv.tv_sec, tv.tv_usec}
			    : bm_unix_opts[i].form == BM_UNIX_FORM_LINGER ? (struct bm_unix_opt){lg.l_onoff, lg.l_linger}
							  : (struct bm_unix_opt){v, 0};
	}
	/* What is not carried, and shows: read into 8 bytes (an int option
	 * fills the first 4), each as a new socket has it (unknown to the
	 * kernel: as new).  An interface index is the host's, a pacing rate
	 * and a transmit time have no use on a unix socket. */
	static const struct {
		int name;
		const char *text;
		int64_t as_new;
	} refused[] = {{SO_PASSPIDFD, "SO_PASSPIDFD", 0}, {SO_TIMESTAMP, "SO_TIMESTAMP", 0},
		       {SO_TIMESTAMPNS, "SO_TIMESTAMPNS", 0}, {SO_TIMESTAMPNS_NEW, "SO_TIMESTAMPNS_NEW", 0},
		       {SO_TIMESTAMP_NEW, "SO_TIMESTAMP_NEW", 0}, {SO_TIMESTAMPING, "SO_TIMESTAMPING", 0},
		       {SO_RXQ_OVFL, "SO_RXQ_OVFL", 0}, {SO_BINDTOIFINDEX, "SO_BINDTOIFINDEX (SO_BINDTODEVICE)", 0},
		       {SO_MAX_PACING_RATE, "SO_MAX_PACING_RATE", -1}, {SO_TXTIME, "SO_TXTIME", 0}};
	for (size_t i = 0; i < sizeof refused / sizeof *refused; i++) {
		int64_t v = refused[i].as_new;
		socklen_t len = sizeof v;
		if (getsockopt(s, SOL_SOCKET, refused[i].name, &v, &len) == 0 && v != refused[i].as_new)
			return refuse(pid, d, " with %s set, which binmig does not carry", refused[i].text);
	}
	socklen_t flen = 0;
	if (getsockopt(s, SOL_SOCKET, SO_GET_FILTER, NULL, &flen) == 0 && flen)
		return refuse(pid, d, " with a socket filter attached, which binmig does not carry");
	return 0;
}

/* A path name (absolute) still names the socket file the kernel has. */
static int check_path(pid_t pid, const struct bm_fd *d, const struct bm_unix_diag *g, struct bm_unix_sock *u)
{
	char path[BM_UNIX_NAME_MAX + 1];
	memcpy(path, g->name, g->name_len);
	path[g->name_len] = 0;
	if (path[0] != '/')
		return refuse(pid, d, " bound to the relative path %s, which binmig does not bind again", path);
	struct stat st;
	if (!g->has_vfs || lstat(path, &st) < 0 || !S_ISSOCK(st.st_mode) || st.st_ino != g->vfs_ino ||
	    st.st_dev != makedev(g->vfs_dev >> 20, g->vfs_dev & 0xfffff))
		return refuse(pid, d, " bound to %s, which no longer names it (removed, replaced or in a removed "
			      "directory)", path);
	u->vfs_dev = st.st_dev;
	u->vfs_ino = st.st_ino;
	u->file_mode = st.st_mode & 07777;
	u->file_uid = st.st_uid;
	u->file_gid = st.st_gid;
	return 0;
}

struct info {
	struct bm_unix_diag g;
	struct bm_unix_sock u;
	struct peeked q;
	int copy;
	uint64_t outq;
};


/* SO_PEERGROUPS of the socket COPY (fd D of P), whose peer credentials
 * name P: the restore makes the connection with the process's own
 * supplementary groups (p->groups, read before its descriptors), so other
 * ones are refused. */
static int check_peer_groups(const struct bm_process *p, const struct bm_fd *d, int copy)
{
	gid_t peer[BM_MAX_GROUPS];
	socklen_t len = sizeof peer;
	bool more = getsockopt(copy, SOL_SOCKET, SO_PEERGROUPS, peer, &len) < 0; /* than binmig carries */
	if (more && errno != ERANGE)
		return bm_error_errno(BM_EXIT_TARGET, errno, "cannot read SO_PEERGROUPS of socket fd %d", d->fd);
	bool same = !more && len == p->ngroups * sizeof *peer;
	for (uint32_t i = 0; same && i < p->ngroups; i++)
		same = peer[i] == p->groups[i];
	return same ? 0 : refuse(p->pid, d, " whose peer credentials carry other supplementary groups (SO_PEERGROUPS) "
				 "than the process has now, which binmig cannot give again");
}

/* Where the inode INO is in the processes: the process index and the
 * descriptor index, or -1. */
static int locate(struct bm_process *const *procs, size_t nprocs, uint64_t ino, size_t *k)
{
	for (*k = 0; *k < nprocs; (*k)++) {
		int i = bm_unix_find(procs[*k]->fds, procs[*k]->nfds, ino);
		if (i >= 0)
			return i;
	}
	return -1;
}

/* The descriptor of the processes that a policy replaced and that was
 * the socket INO, or NULL. */
static const struct bm_fd *replaced_sock(struct bm_process *const *procs, size_t nprocs, uint64_t ino)
{
	char link[40];
	snprintf(link, sizeof link, "socket:[%llu]", (unsigned long long)ino);
	return bm_fd_replaced_from(procs, nprocs, BM_ORIGIN_SOCKET, link);
}

/* Fills in[i] for socket descriptor d (index i of process k); RUNS_ON:
 * the process runs on after the dump (bm_fd_policy.original_runs_on). */
static int describe_one(struct bm_process *const *procs, size_t nprocs, size_t k, uint32_t i, struct info *in,
			bool read_data, bool runs_on)
{
	struct bm_process *p = procs[k];
	struct bm_fd *d = &p->fds[i];
	pid_t pid = p->pid;
	int rc = bm_unix_diag_query(d->object_id, &in->g);
	if (rc < 0)
		return bm_error_errno(BM_EXIT_TARGET, -rc, "cannot ask the kernel about the socket fd %d of process %d",
				      d->fd, pid);
	struct bm_unix_diag *g = &in->g;
	struct bm_unix_sock *u = &in->u;
	u->type = g->type;
	if (g->type != SOCK_STREAM && g->type != SOCK_DGRAM && g->type != SOCK_SEQPACKET)
		return refuse(pid, d, " of type %u", g->type);
	u->shutdown = g->shutdown;
	u->name_len = g->name_len;
	u->name = g->name;
	if (g->state == TCP_LISTEN_STATE) {
		u->flags = BM_UNIX_LISTENING;
		u->backlog = g->wqueue;
		u->nicons = g->nicons;
	}
	in->copy = bm_fd_copy(pid, d->fd);
	if (in->copy < 0)
		return bm_error_errno(BM_EXIT_TARGET, errno, "cannot look at the socket fd %d of process %d", d->fd, pid);
	int outq = 0;
	if (ioctl(in->copy, SIOCOUTQ, &outq) == 0 && outq > 0)
		in->outq = (uint64_t)outq;
	if ((rc = read_opts(pid, d, in->copy, u)) < 0)
		return rc;
	int peer_fd = -1;
	if (g->peer) {
		size_t pk;
		int pi = locate(procs, nprocs, g->peer, &pk);
		if (pi < 0)
			return 2; /* outside: the caller decides */
		if (pk != k)
			return refuse(pid, d, " whose peer is in process %d; binmig carries unix socket connections within "
				      "one process", procs[pk]->pid);
		u->peer = g->peer;
		peer_fd = p->fds[pi].fd;
	}
	/* SO_PEERCRED: who made the connection (or listened), which the
	 * restore gives again with the process's PID and those ids. */
	struct ucred pc = {0, 0, 0};
	if (g->type != SOCK_DGRAM || g->peer) {
		socklen_t len = sizeof pc;
		if (getsockopt(in->copy, SOL_SOCKET, SO_PEERCRED, &pc, &len) < 0)
			return bm_error_errno(BM_EXIT_TARGET, errno, "cannot read SO_PEERCRED of socket fd %d", d->fd);
		if (pc.pid != 0 && pc.pid != pid)
			return refuse(pid, d, " whose peer credentials (SO_PEERCRED) name process %d, which binmig cannot "
				      "give again", pc.pid);
		if (pc.pid != 0 && (rc = check_peer_groups(p, d, in->copy)) < 0)
			return rc;
	}
	u->cred_pid = pc.pid;
	u->cred_uid = pc.pid ? pc.uid : 0;
	u->cred_gid = pc.pid ? pc.gid : 0;
	if (g->type == SOCK_STREAM) {
		/* With SO_OOBINLINE an out-of-band byte sits among the others,
		 * where its mark cannot be told: any queue is refused then. */
		char oob;
		if (recv(in->copy, &oob, 1, MSG_OOB | MSG_PEEK | MSG_DONTWAIT) >= 0 ||
		    (u->opt[BM_UNIX_OPT_OOBINLINE].a && g->rqueue))
			return refuse(pid, d, " holding an out-of-band byte (MSG_OOB)%s, which binmig does not carry",
				      u->opt[BM_UNIX_OPT_OOBINLINE].a ? " or data with SO_OOBINLINE set" : "");
	}
	struct bm_unix_diag peer;
	bool sole = peer_fd >= 0 && g->type != SOCK_STREAM && sole_sender(d->object_id, g, g->peer, &peer);
	/* A stream or seqpacket socket has a queue once connected: one never
	 * connected (nor listening) has none, and cannot be read (EINVAL,
	 * ENOTCONN). */
	read_data &= g->type == SOCK_DGRAM || g->state == TCP_ESTABLISHED_STATE;
	if (read_data &&
	    (rc = peek_queue(p, d, in->copy, (int)g->type, peer_fd, g->shutdown, sole ? &peer : NULL, &in->q, NULL,
			     runs_on)) < 0)
		return rc;
	/* What was read is what the kernel counts: all the bytes of a stream
	 * or seqpacket queue, the first datagram's of a datagram queue. */
	uint64_t total = 0;
	for (uint32_t m = 0; m < in->q.n && (g->type != SOCK_DGRAM || m == 0); m++)
		total += in->q.msgs[m].len;
	if (read_data && total != g->rqueue)
		return refuse(pid, d, " whose queue binmig read as %llu bytes where the kernel counts %u",
			      (unsigned long long)total, g->rqueue);
	u->nmsgs = in->q.n;
	return 0;
}

bool bm_unix_abstract_free(const struct bm_unix_sock *u)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	memcpy(a.sun_path, u->name, u->name_len);
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool free_name = s >= 0 && bind(s, (struct sockaddr *)&a, (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
									       u->name_len)) == 0;
	if (s >= 0)
		close(s);
	return free_name;
}

/* What each socket is to the others of its process: waiting in an accept
 * queue, accepted, or a name that binmig cannot place. */
static int relate(pid_t pid, struct bm_process *p, struct info *in)
{
	for (uint32_t i = 0; i < p->nfds; i++) {
		struct bm_fd *d = &p->fds[i];
		if (d->kind != BM_FD_UNIX_SOCKET || d->shares_with >= 0)
			continue;
		struct bm_unix_diag *g = &in[i].g;
		struct bm_unix_sock *u = &in[i].u;
		if (g->type == SOCK_DGRAM && g->has_peer && !g->peer)
			return refuse(pid, d, " connected to a socket that has closed%s",
				      g->rqueue ? ", with data still queued" : "");
		if (!g->peer && g->state == TCP_ESTABLISHED_STATE && g->type != SOCK_DGRAM) {
			bool queued = false;
			for (uint32_t j = 0; j < p->nfds; j++)
				for (uint32_t c = 0; in[j].u.flags & BM_UNIX_LISTENING && c < in[j].g.nicons; c++)
					queued |= in[j].g.icons[c] == d->object_id;
			if (!queued)
				return refuse(pid, d, " whose peer has closed%s", g->rqueue ? ", with data still queued" : "");
			if (in[i].outq)
				return refuse(pid, d, " waiting in an accept queue with data already sent to the connection, "
					      "which binmig cannot read without accepting it");
			/* Made before it connected, a shutdown stays its own; made
			 * after, it reaches the connection waiting to be accepted,
			 * which no one can look at. */
			if (g->shutdown & 3)
				return refuse(pid, d, " waiting in an accept queue and shut down, which binmig cannot tell "
					      "whether it did before or after it connected");
			u->flags = BM_UNIX_QUEUED;
		}
		if (g->type != SOCK_DGRAM && u->name_len && g->state == TCP_ESTABLISHED_STATE)
			for (uint32_t j = 0; j < p->nfds; j++)
				if (j != i && (in[j].u.flags & BM_UNIX_LISTENING) && in[j].u.type == u->type &&
				    in[j].u.name_len == u->name_len && memcmp(in[j].u.name, u->name, u->name_len) == 0)
					u->flags = BM_UNIX_ACCEPTED;
	}
	for (uint32_t i = 0; i < p->nfds; i++) {
		struct bm_fd *d = &p->fds[i];
		if (d->kind != BM_FD_UNIX_SOCKET || d->shares_with >= 0)
			continue;
		struct bm_unix_sock *u = &in[i].u;
		if (!u->name_len || (u->flags & BM_UNIX_ACCEPTED))
			continue;
		if (u->type != SOCK_DGRAM && in[i].g.state == TCP_ESTABLISHED_STATE) {
			int peer = bm_unix_find(p->fds, p->nfds, u->peer);
			if (peer >= 0 && (in[peer].u.flags & BM_UNIX_ACCEPTED))
				goto owner; /* a client bound before it connected */
			/* Accepted from a listener since closed, or bound after it
			 * connected: told apart by an abstract name being free. */
			if (peer >= 0 && !u->name[0] && bm_unix_abstract_free(u) &&
			    !(in[peer].u.flags & BM_UNIX_FROM_ACCEPT) && !in[peer].u.name_len) {
				u->flags = BM_UNIX_ORPHAN;
				continue;
			}
			return refuse(pid, d, ", connected and named, not by a listener of the process (accepted from "
				      "a listener since closed, or bound after it connected), which binmig cannot "
				      "make again");
		}
	owner:;
		int rc = u->name[0] ? check_path(pid, d, &in[i].g, u) : 0;
		if (rc < 0)
			return rc;
	}
	return 0;
}

bool bm_unix_in_flight_somewhere(const struct bm_process *p)
{
	for (uint32_t i = 0; i < p->nfds; i++)
		if (p->fds[i].kind == BM_FD_UNIX_SOCKET && p->fds[i].scm_fds_seen)
			return true;
	return false;
}

static int collect_process(struct bm_process *const *procs, size_t nprocs, size_t k, const struct bm_fd_policy *policy,
			   bool read_data)
{
	struct bm_process *p = procs[k];
	struct info *in = calloc(p->nfds ? p->nfds : 1, sizeof *in);
	if (!in)
		return bm_error(BM_EXIT_FAILURE, "out of memory");
	int rc = 0;
	for (uint32_t i = 0; i < p->nfds; i++)
		in[i].copy = -1;
	for (uint32_t i = 0; rc == 0 && i < p->nfds; i++) {
		struct bm_fd *d = &p->fds[i];
		if (d->kind != BM_FD_UNIX_SOCKET || d->shares_with >= 0)
			continue;
		for (size_t o = 0; o < nprocs; o++)
			if (o != k && bm_unix_find(procs[o]->fds, procs[o]->nfds, d->object_id) >= 0) {
				rc = refuse(p->pid, d, ", shared with process %d; binmig carries a unix socket held by one "
					    "process", procs[o]->pid);
				break;
			}
		if (rc == 0 && (rc = describe_one(procs, nprocs, k, i, &in[i], read_data,
							      policy && policy->original_runs_on)) == 2) {
			rc = 0;
			/* Before the freeze the peer may be in flight in a queue, which
			 * only the frozen process's dump gives a descriptor to. */
			if (!read_data && bm_unix_in_flight_somewhere(p))
				continue;
			if (bm_fd_policy_stdio_applies(policy, d->fd)) {
				char link[40];
				snprintf(link, sizeof link, "socket:[%llu]", (unsigned long long)d->object_id);
				rc = bm_fd_policy_apply_stdio(d, link, policy);
				continue;
			}
			const struct bm_fd *gone = replaced_sock(procs, nprocs, in[i].g.peer);
			rc = gone ? refuse(p->pid, d, " whose peer here, fd %d, is replaced by a policy", gone->fd)
				  : refuse(p->pid, d, " whose peer is outside the process%s", nprocs > 1 ? " tree" : "");
		}
	}
	if (rc == 0)
		rc = relate(p->pid, p, in);
	for (uint32_t i = 0; rc == 0 && i < p->nfds; i++) {
		struct bm_fd *d = &p->fds[i];
		if (d->kind != BM_FD_UNIX_SOCKET || d->shares_with >= 0)
			continue;
		struct bm_wbuf b;
		bm_wbuf_init(&b);
		rc = bm_unix_encode(&b, &in[i].u, in[i].g.icons, in[i].q.msgs);
		if (rc == 0 && b.len > BM_UNIX_MSG_MAX)
			rc = refuse(p->pid, d, " holding more queued data than an image carries (%u bytes)", BM_UNIX_MSG_MAX);
		else if (rc < 0)
			rc = bm_error_errno(BM_EXIT_FAILURE, -rc, "cannot describe the socket fd %d", d->fd);
		if (rc < 0) {
			bm_wbuf_free(&b);
			break;
		}
		free(d->data);
		d->data = b.data;
		d->data_len = (uint32_t)b.len;
		/* Its skbs, read before the peeks, kept where they fit them. */
		if (read_data)
			bm_stream_layout_settle(p->pid, d);
		else
			bm_stream_layout_forget(d);
	}
	for (uint32_t i = 0; i < p->nfds; i++) {
		if (in[i].copy >= 0)
			close(in[i].copy);
		free(in[i].g.icons);
		peeked_free(&in[i].q);
	}
	free(in);
	char why[300];
	if (rc == 0 && !bm_unix_check(p->fds, p->nfds, why, sizeof why))
		rc = bm_error(BM_EXIT_UNSUPPORTED, "process %d: %s; binmig cannot migrate it", p->pid, why);
	return rc;
}

int bm_unix_gather_in_flight(const struct bm_process *p, struct bm_unix_adoption *a)
{
	for (uint32_t i = 0; i < p->nfds; i++) {
		const struct bm_fd *d = &p->fds[i];
		if (d->kind != BM_FD_UNIX_SOCKET || d->shares_with >= 0 || !d->scm_fds_seen)
			continue;
		int s = bm_fd_copy(p->pid, d->fd), type = 0, listening = 0;
		if (s < 0)
			return bm_error_errno(BM_EXIT_TARGET, errno, "cannot look at the socket fd %d of process %d", d->fd,
					      p->pid);
		int rc = 0;
		if (getsockopt(s, SOL_SOCKET, SO_TYPE, &type, &(socklen_t){sizeof type}) < 0 ||
		    getsockopt(s, SOL_SOCKET, SO_ACCEPTCONN, &listening, &(socklen_t){sizeof listening}) < 0)
			rc = bm_error_errno(BM_EXIT_TARGET, errno, "cannot look at the socket fd %d of process %d", d->fd,
					    p->pid);
		/* A socket whose one sender is its peer in the process is
		 * walked as the dump walks it (taken, its marks put back). */
		struct bm_unix_diag g = {0}, peer;
		int pi = -1;
		if (rc == 0 && type != SOCK_STREAM && bm_unix_diag_query(d->object_id, &g) == 0 && g.peer)
			pi = bm_unix_find(p->fds, p->nfds, g.peer);
		free(g.icons);
		bool sole = pi >= 0 && sole_sender(d->object_id, &g, g.peer, &peer);
		struct peeked q = {0};
		if (rc == 0 && !listening)
			rc = peek_queue(p, d, s, type, sole ? p->fds[pi].fd : -1, 0, sole ? &peer : NULL, &q, a, false);
		peeked_free(&q);
		close(s);
		if (rc < 0)
			return rc;
	}
	return 0;
}

int bm_unix_collect(struct bm_process *const *procs, size_t nprocs, const struct bm_fd_policy *policy, bool read_data)
{
	for (size_t k = 0; k < nprocs; k++) {
		int rc = collect_process(procs, nprocs, k, policy, read_data);
		if (rc < 0)
			return rc;
	}
	return 0;
}
