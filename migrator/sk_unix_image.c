/* UNIX-domain sockets in an image (sk_unix.h): the description each
 * carries in its data, and the rules between the sockets of a process. */
#include "sk_unix.h"
#include "sk_unix_peeked.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "wire.h"

#ifndef SO_RCVPRIORITY
#define SO_RCVPRIORITY 82
#endif
#ifndef SO_PASSRIGHTS
#define SO_PASSRIGHTS 83
#endif

#define OPT_SIZE 20u  /* u32 id, i64 a, i64 b */
#define MSG_TAIL 12u  /* i32 pid, u32 uid, u32 gid */

const struct bm_unix_optdef bm_unix_opts[BM_UNIX_NOPTS] = {
	[BM_UNIX_OPT_RCVBUF] = {SO_RCVBUF, BM_UNIX_FORM_BUF, "SO_RCVBUF"},
	[BM_UNIX_OPT_SNDBUF] = {SO_SNDBUF, BM_UNIX_FORM_BUF, "SO_SNDBUF"},
	[BM_UNIX_OPT_PASSCRED] = {SO_PASSCRED, BM_UNIX_FORM_INT, "SO_PASSCRED"},
	[BM_UNIX_OPT_PASSSEC] = {SO_PASSSEC, BM_UNIX_FORM_INT, "SO_PASSSEC"},
	[BM_UNIX_OPT_RCVTIMEO] = {SO_RCVTIMEO, BM_UNIX_FORM_TIME, "SO_RCVTIMEO"},
	[BM_UNIX_OPT_SNDTIMEO] = {SO_SNDTIMEO, BM_UNIX_FORM_TIME, "SO_SNDTIMEO"},
	[BM_UNIX_OPT_PRIORITY] = {SO_PRIORITY, BM_UNIX_FORM_INT, "SO_PRIORITY"},
	[BM_UNIX_OPT_MARK] = {SO_MARK, BM_UNIX_FORM_INT, "SO_MARK"},
	[BM_UNIX_OPT_RCVLOWAT] = {SO_RCVLOWAT, BM_UNIX_FORM_INT, "SO_RCVLOWAT"},
	[BM_UNIX_OPT_KEEPALIVE] = {SO_KEEPALIVE, BM_UNIX_FORM_INT, "SO_KEEPALIVE"},
	[BM_UNIX_OPT_OOBINLINE] = {SO_OOBINLINE, BM_UNIX_FORM_INT, "SO_OOBINLINE"},
	[BM_UNIX_OPT_BROADCAST] = {SO_BROADCAST, BM_UNIX_FORM_INT, "SO_BROADCAST"},
	[BM_UNIX_OPT_DONTROUTE] = {SO_DONTROUTE, BM_UNIX_FORM_INT, "SO_DONTROUTE"},
	[BM_UNIX_OPT_REUSEADDR] = {SO_REUSEADDR, BM_UNIX_FORM_INT, "SO_REUSEADDR"},
	[BM_UNIX_OPT_LINGER] = {SO_LINGER, BM_UNIX_FORM_LINGER, "SO_LINGER"},
	[BM_UNIX_OPT_PEEK_OFF] = {SO_PEEK_OFF, BM_UNIX_FORM_INT, "SO_PEEK_OFF"},
	[BM_UNIX_OPT_BUF_LOCK] = {SO_BUF_LOCK, BM_UNIX_FORM_INT, "SO_BUF_LOCK"},
	[BM_UNIX_OPT_PASSRIGHTS] = {SO_PASSRIGHTS, BM_UNIX_FORM_INT, "SO_PASSRIGHTS"},
	[BM_UNIX_OPT_DEBUG] = {SO_DEBUG, BM_UNIX_FORM_INT, "SO_DEBUG"},
	[BM_UNIX_OPT_NO_CHECK] = {SO_NO_CHECK, BM_UNIX_FORM_INT, "SO_NO_CHECK"},
	[BM_UNIX_OPT_LOCK_FILTER] = {SO_LOCK_FILTER, BM_UNIX_FORM_INT, "SO_LOCK_FILTER"},
	[BM_UNIX_OPT_SELECT_ERR_QUEUE] = {SO_SELECT_ERR_QUEUE, BM_UNIX_FORM_INT, "SO_SELECT_ERR_QUEUE"},
	[BM_UNIX_OPT_BUSY_POLL] = {SO_BUSY_POLL, BM_UNIX_FORM_INT, "SO_BUSY_POLL"},
	[BM_UNIX_OPT_PREFER_BUSY_POLL] = {SO_PREFER_BUSY_POLL, BM_UNIX_FORM_INT, "SO_PREFER_BUSY_POLL"},
	[BM_UNIX_OPT_INCOMING_CPU] = {SO_INCOMING_CPU, BM_UNIX_FORM_INT, "SO_INCOMING_CPU"},
	[BM_UNIX_OPT_WIFI_STATUS] = {SO_WIFI_STATUS, BM_UNIX_FORM_INT, "SO_WIFI_STATUS"},
	[BM_UNIX_OPT_NOFCS] = {SO_NOFCS, BM_UNIX_FORM_INT, "SO_NOFCS"},
	[BM_UNIX_OPT_RCVMARK] = {SO_RCVMARK, BM_UNIX_FORM_INT, "SO_RCVMARK"},
	[BM_UNIX_OPT_RCVPRIORITY] = {SO_RCVPRIORITY, BM_UNIX_FORM_INT, "SO_RCVPRIORITY"},
};

/* ---- the data blob ------------------------------------------------------ */

int bm_unix_encode(struct bm_wbuf *b, const struct bm_unix_sock *s, const uint64_t *icons,
		   const struct bm_unix_msg *msgs)
{
	if (s->name_len > BM_UNIX_NAME_MAX)
		return -EINVAL;
	uint32_t flags = s->flags & ~(BM_UNIX_RIGHTS | BM_UNIX_PEEKS);
	for (uint32_t i = 0; i < s->nmsgs; i++) {
		if (msgs[i].nrights)
			flags |= BM_UNIX_RIGHTS; /* older images, without rights, stay as they were */
		if (msgs[i].peeked)
			flags |= BM_UNIX_PEEKS; /* and without marks */
	}
	bm_put_u32(b, s->type);
	bm_put_u32(b, flags);
	bm_put_u64(b, s->peer);
	bm_put_u32(b, s->shutdown);
	bm_put_u32(b, s->backlog);
	bm_put_u32(b, s->name_len);
	bm_put_bytes(b, s->name, s->name_len);
	bm_put_u64(b, s->vfs_dev);
	bm_put_u64(b, s->vfs_ino);
	bm_put_u32(b, s->file_mode);
	bm_put_u32(b, s->file_uid);
	bm_put_u32(b, s->file_gid);
	bm_put_i32(b, s->cred_pid);
	bm_put_u32(b, s->cred_uid);
	bm_put_u32(b, s->cred_gid);
	uint32_t nopts = 0;
	for (int i = 0; i < BM_UNIX_NOPTS; i++)
		nopts += s->has_opt[i];
	bm_put_u32(b, nopts);
	for (int i = 0; i < BM_UNIX_NOPTS; i++)
		if (s->has_opt[i]) {
			bm_put_u32(b, (uint32_t)i);
			bm_put_i64(b, s->opt[i].a);
			bm_put_i64(b, s->opt[i].b);
		}
	bm_put_u32(b, s->nicons);
	for (uint32_t i = 0; i < s->nicons; i++)
		bm_put_u64(b, icons[i]);
	bm_put_u32(b, s->nmsgs);
	for (uint32_t i = 0; i < s->nmsgs; i++) {
		if (msgs[i].addr_len > BM_UNIX_NAME_MAX)
			return -EINVAL;
		bm_put_u32(b, msgs[i].len);
		bm_put_bytes(b, msgs[i].data, msgs[i].len);
		bm_put_u32(b, msgs[i].addr_len);
		bm_put_bytes(b, msgs[i].addr, msgs[i].addr_len);
		bm_put_i32(b, msgs[i].pid);
		bm_put_u32(b, msgs[i].uid);
		bm_put_u32(b, msgs[i].gid);
		if (msgs[i].nrights > BM_UNIX_MAX_RIGHTS)
			return -EINVAL;
		if (flags & BM_UNIX_RIGHTS) {
			bm_put_u32(b, msgs[i].nrights);
			bm_put_bytes(b, msgs[i].rights, 4 * (size_t)msgs[i].nrights);
		}
		if (flags & BM_UNIX_PEEKS)
			bm_put_u32(b, msgs[i].peeked);
	}
	return bm_wbuf_status(b);
}

void bm_unix_next_msg(const struct bm_unix_sock *s, uint32_t *at, struct bm_unix_msg *m)
{
	const uint8_t *p = s->msgs + *at;
	m->len = bm_load_le32(p);
	m->data = p + 4;
	p += 4 + m->len;
	m->addr_len = bm_load_le32(p);
	m->addr = p + 4;
	p += 4 + m->addr_len;
	m->pid = (int32_t)bm_load_le32(p);
	m->uid = bm_load_le32(p + 4);
	m->gid = bm_load_le32(p + 8);
	p += MSG_TAIL;
	m->nrights = 0;
	m->rights = p;
	if (s->flags & BM_UNIX_RIGHTS) {
		m->nrights = bm_load_le32(p);
		m->rights = p + 4;
		p += 4 + 4 * (size_t)m->nrights;
	}
	m->peeked = 0;
	if (s->flags & BM_UNIX_PEEKS) {
		m->peeked = bm_load_le32(p);
		p += 4;
	}
	*at = (uint32_t)(p - s->msgs);
}

int bm_unix_right(const struct bm_unix_msg *m, uint32_t k)
{
	return (int)(int32_t)bm_load_le32(m->rights + 4 * (size_t)k);
}

uint64_t bm_unix_icon(const struct bm_unix_sock *s, uint32_t i)
{
	return bm_load_le64(s->icons + 8 * (size_t)i);
}

/* FULL: the messages walked and checked too; else only what comes before
 * them (for a description already checked). */
static bool parse(const uint8_t *data, uint32_t len, struct bm_unix_sock *s, char *why, size_t n, bool full)
{
	memset(s, 0, sizeof *s);
	struct bm_rcur c;
	bm_rcur_init(&c, data, len);
	s->type = bm_get_u32(&c);
	s->flags = bm_get_u32(&c);
	s->peer = bm_get_u64(&c);
	s->shutdown = bm_get_u32(&c);
	s->backlog = bm_get_u32(&c);
	s->name_len = bm_get_u32(&c);
	if (bm_rcur_failed(&c))
		return bm_why(why, n, "its description is cut short");
	if (s->name_len > BM_UNIX_NAME_MAX)
		return bm_why(why, n, "a name of %u bytes", s->name_len);
	s->name = bm_get_span(&c, s->name_len);
	s->vfs_dev = bm_get_u64(&c);
	s->vfs_ino = bm_get_u64(&c);
	s->file_mode = bm_get_u32(&c);
	s->file_uid = bm_get_u32(&c);
	s->file_gid = bm_get_u32(&c);
	s->cred_pid = bm_get_i32(&c);
	s->cred_uid = bm_get_u32(&c);
	s->cred_gid = bm_get_u32(&c);
	uint32_t nopts = bm_get_count(&c, BM_UNIX_NOPTS, OPT_SIZE, "option count");
	for (uint32_t i = 0; i < nopts && !bm_rcur_failed(&c); i++) {
		uint32_t id = bm_get_u32(&c);
		if (id >= BM_UNIX_NOPTS || s->has_opt[id])
			return bm_why(why, n, "option %u unknown or given twice", id);
		s->has_opt[id] = true;
		s->opt[id].a = bm_get_i64(&c);
		s->opt[id].b = bm_get_i64(&c);
	}
	s->nicons = bm_get_count(&c, 1u << 16, 8, "accept queue length");
	s->icons = bm_get_span(&c, (size_t)s->nicons * 8);
	s->nmsgs = bm_get_count(&c, BM_UNIX_MSG_MAX, 4 + 4 + MSG_TAIL, "message count");
	if (bm_rcur_failed(&c))
		return bm_why(why, n, "%s", c.why);
	size_t start = c.pos;
	s->msgs = data + start;
	for (uint32_t i = 0; full && i < s->nmsgs; i++) {
		uint32_t mlen = bm_get_u32(&c);
		bm_get_span(&c, mlen);
		uint32_t alen = bm_get_u32(&c);
		if (!bm_rcur_failed(&c) && alen > BM_UNIX_NAME_MAX)
			return bm_why(why, n, "message %u: a sender name of %u bytes", i, alen);
		bm_get_span(&c, alen);
		bm_get_span(&c, MSG_TAIL);
		if (s->flags & BM_UNIX_RIGHTS) {
			uint32_t nr = bm_get_u32(&c);
			if (!bm_rcur_failed(&c) && nr > BM_UNIX_MAX_RIGHTS)
				return bm_why(why, n, "message %u: %u descriptors in flight", i, nr);
			bm_get_span(&c, 4 * (size_t)nr);
		}
		if (s->flags & BM_UNIX_PEEKS)
			bm_get_span(&c, 4);
		if (bm_rcur_failed(&c))
			return bm_why(why, n, "message %u is cut short", i);
	}
	s->msgs_len = (uint32_t)(c.pos - start);
	if (full && bm_rcur_left(&c))
		return bm_why(why, n, "%zu bytes after its description", bm_rcur_left(&c));
	if (s->type != SOCK_STREAM && s->type != SOCK_DGRAM && s->type != SOCK_SEQPACKET)
		return bm_why(why, n, "type %u is not stream, datagram or seqpacket", s->type);
	const uint32_t queue_flags = BM_UNIX_RIGHTS | BM_UNIX_PEEKS;
	if (s->flags & ~BM_UNIX_FLAGS || __builtin_popcount(s->flags & ~queue_flags) > 1)
		return bm_why(why, n, "flags %#x", s->flags);
	if ((s->flags & BM_UNIX_PEEKS) && s->type == SOCK_STREAM)
		return bm_why(why, n, "a stream whose messages say whether they were peeked");
	if (s->shutdown > 3)
		return bm_why(why, n, "shutdown state %u", s->shutdown);
	if (s->cred_pid < 0)
		return bm_why(why, n, "peer credentials of pid %d", s->cred_pid);
	bool listening = s->flags & BM_UNIX_LISTENING;
	if (s->type == SOCK_DGRAM && (s->flags & ~queue_flags))
		return bm_why(why, n, "a datagram socket that listens, was accepted or waits to be");
	if (!listening && s->nicons)
		return bm_why(why, n, "an accept queue on a socket that does not listen");
	if (listening && (s->peer || s->nmsgs || !s->name_len))
		return bm_why(why, n, "a listening socket with a peer, messages or no name");
	if ((s->flags & BM_UNIX_QUEUED) && (s->peer || s->nmsgs))
		return bm_why(why, n, "a socket waiting in an accept queue with a peer or messages");
	if ((s->flags & BM_UNIX_FROM_ACCEPT) && (!s->peer || !s->name_len))
		return bm_why(why, n, "an accepted socket without a peer or a name");
	if ((s->flags & BM_UNIX_ORPHAN) && s->name[0])
		return bm_why(why, n, "an accepted socket of a closed listener with a path name");
	if (s->name_len && s->name[0] && memchr(s->name, 0, s->name_len))
		return bm_why(why, n, "a path name with a NUL inside");
	if (s->name_len && s->name[0] && s->name[0] != '/')
		return bm_why(why, n, "a relative path name");
	if (s->has_opt[BM_UNIX_OPT_PEEK_OFF] && (s->opt[BM_UNIX_OPT_PEEK_OFF].a < -1 ||
						 s->opt[BM_UNIX_OPT_PEEK_OFF].a > INT_MAX))
		return bm_why(why, n, "SO_PEEK_OFF %lld", (long long)s->opt[BM_UNIX_OPT_PEEK_OFF].a);
	for (int i = 0; i < BM_UNIX_NOPTS; i++)
		if (s->has_opt[i] && (bm_unix_opts[i].form == BM_UNIX_FORM_INT || bm_unix_opts[i].form == BM_UNIX_FORM_BUF) &&
		    (s->opt[i].a < INT_MIN || s->opt[i].a > INT_MAX || s->opt[i].b))
			return bm_why(why, n, "%s %lld", bm_unix_opts[i].text, (long long)s->opt[i].a);
	uint32_t at = 0;
	bool may_peek = true;
	for (uint32_t i = 0; full && i < s->nmsgs; i++) {
		struct bm_unix_msg m;
		bm_unix_next_msg(s, &at, &m);
		if (!bm_unix_peeked_step(&may_peek, m.len, m.peeked))
			return bm_why(why, n, "message %u: marked peeked, yet %s", i, m.peeked > 1 ? "not 0 or 1"
				      : m.len ? "not empty" : "behind an empty message not marked");
		if (m.addr_len && s->type != SOCK_DGRAM)
			return bm_why(why, n, "message %u has a sender name on a connected socket", i);
		if (m.pid < 0)
			return bm_why(why, n, "message %u: credentials of pid %d", i, m.pid);
		if (s->type == SOCK_STREAM && m.len == 0)
			return bm_why(why, n, "message %u: an empty piece of a stream", i);
		for (uint32_t k = 0; k < m.nrights; k++)
			if (bm_unix_right(&m, k) < 0)
				return bm_why(why, n, "message %u: in-flight descriptor %u names fd %d", i, k,
					      bm_unix_right(&m, k));
	}
	return true;
}

bool bm_unix_parse(const uint8_t *data, uint32_t len, struct bm_unix_sock *s, char *why, size_t n)
{
	return parse(data, len, s, why, n, true);
}

bool bm_unix_head(const struct bm_fd *d, struct bm_unix_sock *s)
{
	char why[8];
	return d->kind == BM_FD_UNIX_SOCKET && d->shares_with < 0 && parse(d->data, d->data_len, s, why, sizeof why, false);
}

void bm_unix_describe_text(FILE *out, const struct bm_fd *d)
{
	struct bm_unix_sock s;
	if (!bm_unix_head(d, &s))
		return;
	static const char *const types[] = {[SOCK_STREAM] = "stream", [SOCK_DGRAM] = "datagram",
					    [SOCK_SEQPACKET] = "seqpacket"};
	fprintf(out, "\n      %s", types[s.type]);
	if (s.name_len && s.name[0])
		fprintf(out, ", name %.*s", (int)s.name_len, (const char *)s.name);
	else if (s.name_len) {
		fputs(", name @", out);
		for (uint32_t i = 1; i < s.name_len; i++)
			fputc(s.name[i] >= 0x20 && s.name[i] < 0x7f ? s.name[i] : '?', out);
	}
	if (s.peer)
		fprintf(out, ", peer %llu", (unsigned long long)s.peer);
	if (s.flags & BM_UNIX_LISTENING)
		fprintf(out, ", listening (backlog %u, %u waiting)", s.backlog, s.nicons);
	if (s.flags & BM_UNIX_ACCEPTED)
		fputs(", accepted", out);
	if (s.flags & BM_UNIX_QUEUED)
		fputs(", waiting to be accepted", out);
	uint64_t bytes = 0;
	uint32_t at = 0, nrights = 0;
	for (uint32_t i = 0; i < s.nmsgs; i++) {
		struct bm_unix_msg m;
		bm_unix_next_msg(&s, &at, &m);
		bytes += m.len;
		nrights += m.nrights;
	}
	if (s.nmsgs)
		fprintf(out, ", %u message%s queued (%llu bytes)", s.nmsgs, s.nmsgs == 1 ? "" : "s",
			(unsigned long long)bytes);
	if (nrights)
		fprintf(out, ", %u descriptor%s in flight", nrights, nrights == 1 ? "" : "s");
	if (s.shutdown)
		fprintf(out, ", shut down for %s", s.shutdown == 3 ? "both" : s.shutdown == 1 ? "reading" : "writing");
}

/* ---- the rules between sockets ------------------------------------------ */

int bm_unix_find(const struct bm_fd *fds, uint32_t nfds, uint64_t ino)
{
	for (uint32_t i = 0; i < nfds; i++)
		if (fds[i].kind == BM_FD_UNIX_SOCKET && fds[i].shares_with < 0 && fds[i].object_id == ino)
			return (int)i;
	return -1;
}

static bool same_name(const struct bm_unix_sock *a, const struct bm_unix_sock *b)
{
	return a->name_len == b->name_len && a->name_len && memcmp(a->name, b->name, a->name_len) == 0;
}

/* The listener in FDS with the name of S (and its type), or -1. */
static int find_listener(const struct bm_fd *fds, uint32_t nfds, const struct bm_unix_sock *s)
{
	for (uint32_t i = 0; i < nfds; i++) {
		struct bm_unix_sock l;
		if (!bm_unix_head(&fds[i], &l))
			continue;
		if ((l.flags & BM_UNIX_LISTENING) && l.type == s->type && same_name(&l, s))
			return (int)i;
	}
	return -1;
}

/* The socket of FDS that owns the name ADDR (a datagram socket bound to it), or -1. */
static int find_owner(const struct bm_fd *fds, uint32_t nfds, const uint8_t *addr, uint32_t len)
{
	for (uint32_t i = 0; i < nfds && len; i++) {
		struct bm_unix_sock o;
		if (bm_unix_head(&fds[i], &o) && o.type == SOCK_DGRAM &&
		    o.name_len == len && memcmp(o.name, addr, len) == 0)
			return (int)i;
	}
	return -1;
}

bool bm_unix_sender(const struct bm_fd *fds, uint32_t nfds, uint32_t ri, const struct bm_unix_sock *r,
		      const struct bm_unix_msg *m, int *from, bool *connected)
{
	int peer = r->peer ? bm_unix_find(fds, nfds, r->peer) : -1;
	struct bm_unix_sock ps;
	bool peer_back = peer >= 0 && bm_unix_head(&fds[peer], &ps) &&
			 ps.peer == fds[ri].object_id;
	if (r->type != SOCK_DGRAM) {
		*from = peer;
		*connected = true;
		return peer_back;
	}
	/* The peer of a connected datagram socket is the only one that may
	 * send to it; messages from others came before it connected, and go
	 * before it connects again. */
	if (peer_back && ps.name_len == m->addr_len && (!m->addr_len || memcmp(ps.name, m->addr, m->addr_len) == 0)) {
		*from = peer;
		*connected = true;
		return true;
	}
	if (!r->name_len)
		return false;
	*from = find_owner(fds, nfds, m->addr, m->addr_len);
	*connected = false;
	return m->addr_len == 0 || *from >= 0;
}

static bool has_fd(const struct bm_fd *fds, uint32_t nfds, int fd)
{
	for (uint32_t i = 0; i < nfds; i++)
		if (fds[i].fd == fd && fds[i].kind != BM_FD_CLOSED && fds[i].replaced == BM_FD_CARRIED)
			return true;
	return false;
}

/* Whether a message queued in a unix socket of FDS carries fd FD. */
static bool carried_in_flight(const struct bm_fd *fds, uint32_t nfds, int fd)
{
	for (uint32_t i = 0; i < nfds; i++) {
		struct bm_unix_sock s;
		if (!bm_unix_head(&fds[i], &s) || !(s.flags & BM_UNIX_RIGHTS))
			continue;
		uint32_t at = 0;
		for (uint32_t k = 0; k < s.nmsgs; k++) {
			struct bm_unix_msg m;
			bm_unix_next_msg(&s, &at, &m);
			for (uint32_t r = 0; r < m.nrights; r++)
				if (bm_unix_right(&m, r) == fd)
					return true;
		}
	}
	return false;
}

/* HITS[i]: how many accept queues name fds[i] (zeroed by the caller). */
static bool check_all(const struct bm_fd *fds, uint32_t nfds, uint32_t *hits, char *why, size_t n)
{
	char detail[160];
	uint32_t nsockets = 0, nmsgs = 0;
	for (uint32_t i = 0; i < nfds; i++) {
		const struct bm_fd *d = &fds[i];
		if (d->kind != BM_FD_UNIX_SOCKET)
			continue;
		if (d->shares_with >= 0) {
			const struct bm_fd *first = bm_fd_find(fds, nfds, d->shares_with);
			if (d->data_len || !first || first->kind != BM_FD_UNIX_SOCKET || first->object_id != d->object_id)
				return bm_why(why, n, "unix socket fd %d shares with fd %d, not the same socket", d->fd,
					      d->shares_with);
			continue;
		}
		struct bm_unix_sock s;
		if (!bm_unix_parse(d->data, d->data_len, &s, detail, sizeof detail))
			return bm_why(why, n, "unix socket fd %d: %s", d->fd, detail);
		if (++nsockets > BM_UNIX_MAX_SOCKETS || (nmsgs += s.nmsgs) > BM_UNIX_MAX_QUEUED)
			return bm_why(why, n, "more than %u unix sockets or %u queued messages", BM_UNIX_MAX_SOCKETS,
				      BM_UNIX_MAX_QUEUED);
		if (bm_unix_find(fds, nfds, d->object_id) != (int)i)
			return bm_why(why, n, "unix socket fd %d: inode %llu twice", d->fd, (unsigned long long)d->object_id);
		int peer = s.peer ? bm_unix_find(fds, nfds, s.peer) : -1;
		struct bm_unix_sock ps;
		if (s.peer && (peer < 0 || peer == (int)i ||
			       !bm_unix_head(&fds[peer], &ps) ||
			       ps.type != s.type))
			return bm_why(why, n, "unix socket fd %d: its peer %llu is not a socket of its type in the list",
				      d->fd, (unsigned long long)s.peer);
		if (s.peer && s.type != SOCK_DGRAM && (ps.peer != d->object_id || (ps.flags & BM_UNIX_FROM_ACCEPT &&
										   s.flags & BM_UNIX_FROM_ACCEPT)))
			return bm_why(why, n, "unix socket fd %d: its peer fd %d is not connected back", d->fd,
				      fds[peer].fd);
		if (s.peer && s.type == SOCK_DGRAM && ps.peer != d->object_id && !ps.name_len)
			return bm_why(why, n, "unix socket fd %d: connected to fd %d, which has no name", d->fd,
				      fds[peer].fd);
		if ((s.flags & BM_UNIX_ACCEPTED) && find_listener(fds, nfds, &s) < 0)
			return bm_why(why, n, "unix socket fd %d: accepted, but no listener has its name", d->fd);
		if ((s.flags & BM_UNIX_ORPHAN) && find_listener(fds, nfds, &s) >= 0)
			return bm_why(why, n, "unix socket fd %d: its listener is said closed, yet one has its name", d->fd);
		if (s.flags & BM_UNIX_LISTENING)
			for (uint32_t k = 0; k < s.nicons; k++) {
				int c = bm_unix_find(fds, nfds, bm_unix_icon(&s, k));
				struct bm_unix_sock cs;
				if (c < 0 || !bm_unix_head(&fds[c], &cs) ||
				    !(cs.flags & BM_UNIX_QUEUED) || cs.type != s.type)
					return bm_why(why, n, "unix socket fd %d: client %u of its accept queue is not a "
						      "waiting socket in the list", d->fd, k);
				if (hits[c]++)
					return bm_why(why, n, "unix socket fd %d: client %u of its accept queue waits in "
						      "another queue too", d->fd, k);
			}
		uint32_t at = 0;
		for (uint32_t k = 0; k < s.nmsgs; k++) {
			struct bm_unix_msg m;
			bm_unix_next_msg(&s, &at, &m);
			int from;
			bool connected;
			if (!bm_unix_sender(fds, nfds, i, &s, &m, &from, &connected))
				return bm_why(why, n, "unix socket fd %d: message %u has a sender binmig cannot send it "
					      "from again", d->fd, k);
			for (uint32_t r = 0; r < m.nrights; r++)
				if (!has_fd(fds, nfds, bm_unix_right(&m, r)))
					return bm_why(why, n, "unix socket fd %d: message %u carries fd %d, which the "
						      "process does not have, or a policy replaces or leaves out", d->fd, k,
						      bm_unix_right(&m, r));
		}
	}
	for (uint32_t i = 0; i < nfds; i++) {
		struct bm_unix_sock s;
		if (bm_unix_head(&fds[i], &s) && (s.flags & BM_UNIX_QUEUED) && hits[i] != 1)
			return bm_why(why, n, "unix socket fd %d: waits in %u accept queues", fds[i].fd, hits[i]);
		if (fds[i].in_flight && !carried_in_flight(fds, nfds, fds[i].fd))
			return bm_why(why, n, "fd %d is only in flight, yet no queued message carries it", fds[i].fd);
	}
	return true;
}

bool bm_unix_check(const struct bm_fd *fds, uint32_t nfds, char *why, size_t n)
{
	uint32_t *hits = calloc(nfds ? nfds : 1, sizeof *hits);
	if (!hits)
		return bm_why(why, n, "out of memory");
	bool ok = check_all(fds, nfds, hits, why, n);
	free(hits);
	return ok;
}
