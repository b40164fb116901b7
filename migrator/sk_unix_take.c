/* A unix socket's queue taken, and written back (sk_unix_take.h): a
 * stream's with descriptors in flight, or a message queue whole
 * (sk_unix_peeked.h).  The restore writes the pieces the same way
 * (send_one, sk_unix_restore.c). */
#include "sk_unix_take.h"

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/un.h>
#include <unistd.h>

#include "sk_unix.h"
#include "sk_unix_stream_layout.h"

void bm_unix_got_close(struct bm_unix_got *g)
{
	for (uint32_t k = 0; k < g->nfl; k++)
		close(g->fl[k]);
	g->nfl = 0;
}

int bm_unix_recv(int s, uint8_t *buf, size_t len, int flags, struct bm_unix_got *g)
{
	union {
		struct cmsghdr align;
		char bytes[CMSG_SPACE(sizeof(struct ucred)) + CMSG_SPACE(BM_UNIX_MAX_RIGHTS * sizeof(int))];
	} control;
	struct iovec iov = {buf, len};
	memset(g, 0, sizeof *g);
	struct msghdr mh = {.msg_name = &g->from, .msg_namelen = sizeof g->from, .msg_iov = &iov, .msg_iovlen = 1,
			    .msg_control = &control, .msg_controllen = sizeof control};
	ssize_t n = recvmsg(s, &mh, flags | MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	if (n < 0)
		return -errno;
	g->len = (size_t)n;
	g->fromlen = mh.msg_namelen;
	g->ctrunc = (mh.msg_flags & MSG_CTRUNC) != 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		g->odd |= c->cmsg_level != SOL_SOCKET || (c->cmsg_type != SCM_CREDENTIALS && c->cmsg_type != SCM_RIGHTS);
		if (c->cmsg_level != SOL_SOCKET)
			continue;
		if (c->cmsg_type == SCM_CREDENTIALS && c->cmsg_len >= CMSG_LEN(sizeof g->cred)) {
			memcpy(&g->cred, CMSG_DATA(c), sizeof g->cred);
			g->has_cred = true;
		} else if (c->cmsg_type == SCM_RIGHTS) {
			size_t nfd = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			for (size_t k = 0; k < nfd; k++) {
				int f;
				memcpy(&f, CMSG_DATA(c) + k * sizeof(int), sizeof f);
				if (g->nfl < BM_UNIX_MAX_RIGHTS)
					g->fl[g->nfl++] = f;
				else
					close(f);
			}
		}
	}
	return 0;
}

static int grow(struct bm_unix_taken *t, size_t more)
{
	if (t->len + more > t->cap || !t->data) {
		size_t cap = t->cap ? 2 * t->cap : 4096;
		while (cap < t->len + more)
			cap *= 2;
		uint8_t *data = realloc(t->data, cap);
		if (!data)
			return -ENOMEM;
		t->data = data;
		t->cap = cap;
	}
	if (t->n == t->ncap) {
		uint32_t ncap = t->ncap ? 2 * t->ncap : 16;
		struct bm_unix_piece *pieces = realloc(t->pieces, ncap * sizeof *pieces);
		if (!pieces)
			return -ENOMEM;
		t->pieces = pieces;
		t->ncap = ncap;
	}
	return 0;
}

/* B[0..n) onto the last piece (EXTEND), or as a new piece with G's
 * credentials and descriptors, which T then holds (closed on failure). */
static int add(struct bm_unix_taken *t, const uint8_t *b, size_t n, struct bm_unix_got *g, bool extend)
{
	int rc = grow(t, n);
	int *fl = NULL;
	if (rc == 0 && !extend && g->nfl && !(fl = malloc(g->nfl * sizeof *fl)))
		rc = -ENOMEM;
	if (rc < 0) {
		bm_unix_got_close(g);
		return rc;
	}
	memcpy(t->data + t->len, b, n);
	if (extend) {
		t->pieces[t->n - 1].len += (uint32_t)n;
	} else {
		if (g->nfl)
			memcpy(fl, g->fl, g->nfl * sizeof *fl);
		t->pieces[t->n++] = (struct bm_unix_piece){(uint32_t)t->len, (uint32_t)n, g->cred, g->nfl, fl};
		g->nfl = 0;
	}
	t->len += n;
	return 0;
}

/* Plain bytes: onto the last piece when it is plain, from the same writer. */
static int add_plain(struct bm_unix_taken *t, const uint8_t *b, size_t n, struct bm_unix_got *g)
{
	const struct bm_unix_piece *last = t->n ? &t->pieces[t->n - 1] : NULL;
	bool extend = last && !last->nfl && last->cred.pid == g->cred.pid && last->cred.uid == g->cred.uid &&
		      last->cred.gid == g->cred.gid;
	return add(t, b, n, g, extend);
}

/* Reads exactly N bytes that carry no descriptors. */
static int read_exact(int s, uint8_t *buf, size_t n, struct bm_unix_got *g)
{
	int rc = bm_unix_recv(s, buf, n, 0, g);
	if (rc == 0 && (g->len != n || g->nfl || g->ctrunc)) {
		bm_unix_got_close(g);
		rc = -EPROTO;
	}
	return rc == -EAGAIN ? -EPROTO : rc;
}

/* One run of the queue: RUN bytes from one writer that a peek showed
 * with descriptors (RIGHTS) or without. */
static int take_run(int s, uint8_t *buf, size_t run, bool rights, struct bm_unix_taken *t)
{
	struct bm_unix_got g;
	size_t done = 0;
	int rc = 0;
	if (rights) {
		/* The bytes before the piece with rights, one at a time, up to
		 * the one its descriptors come with. */
		for (;;) {
			if ((rc = bm_unix_recv(s, buf, 1, 0, &g)) < 0)
				return rc == -EAGAIN ? -EPROTO : rc;
			if (g.ctrunc) {
				bm_unix_got_close(&g);
				return -EMFILE;
			}
			if (g.len != 1) {
				bm_unix_got_close(&g);
				return -EPROTO;
			}
			done++;
			if (g.nfl)
				break;
			if ((rc = add_plain(t, buf, 1, &g)) < 0)
				return rc;
			if (done == run)
				return -EPROTO; /* the descriptors the peek showed never came */
		}
		if ((rc = add(t, buf, 1, &g, false)) < 0)
			return rc;
	}
	if (done == run)
		return 0;
	if ((rc = read_exact(s, buf, run - done, &g)) < 0)
		return rc;
	return rights ? add(t, buf, run - done, &g, true) : add_plain(t, buf, run - done, &g);
}

int bm_unix_take(int s, size_t limit, struct bm_unix_taken *t)
{
	uint8_t *buf = malloc(limit + 1);
	if (!buf)
		return -ENOMEM;
	int rc = 0;
	for (;;) {
		/* A peek runs to a change of writer, or to the end of the first
		 * piece with rights. */
		struct bm_unix_got g;
		rc = bm_unix_recv(s, buf, limit + 1, MSG_PEEK, &g);
		bool rights = g.nfl > 0;
		bm_unix_got_close(&g);
		if (rc == -EAGAIN)
			rc = 0;
		if (rc < 0 || g.len == 0)
			break;
		if (t->len + g.len > limit) {
			rc = -EMSGSIZE;
			break;
		}
		if ((rc = take_run(s, buf, g.len, rights, t)) < 0)
			break;
	}
	free(buf);
	return rc;
}

uint32_t bm_unix_got_name_len(const struct bm_unix_got *g)
{
	size_t base = offsetof(struct sockaddr_un, sun_path);
	size_t len = g->fromlen > base ? g->fromlen - base : 0;
	if (len && g->from.sun_path[0])
		len = strnlen(g->from.sun_path, len);
	return (uint32_t)(len > BM_UNIX_NAME_MAX ? BM_UNIX_NAME_MAX : len);
}

/* Whether G came from the sender named NAME[0..name_len) (0: unnamed). */
static bool from_name(const struct bm_unix_got *g, const uint8_t *name, uint32_t name_len)
{
	uint32_t len = bm_unix_got_name_len(g);
	return len == name_len && memcmp(g->from.sun_path, name, len) == 0;
}

int bm_unix_take_messages(int s, const uint8_t *name, uint32_t name_len, struct bm_unix_taken *t)
{
	size_t cap = 4096;
	uint8_t *buf = malloc(cap);
	int rc = buf ? 0 : -ENOMEM, lost = 0;
	bool other = false, odd = false;
	while (rc == 0) {
		/* The head's whole length, so that no message is cut short. */
		ssize_t need = recv(s, NULL, 0, MSG_PEEK | MSG_TRUNC | MSG_DONTWAIT);
		if (need < 0) {
			rc = errno == EAGAIN ? 0 : -errno;
			break;
		}
		if ((size_t)need >= cap) {
			uint8_t *more = realloc(buf, (size_t)need + 1);
			if (!more) {
				rc = -ENOMEM;
				break;
			}
			buf = more;
			cap = (size_t)need + 1;
		}
		struct bm_unix_got g;
		if ((rc = bm_unix_recv(s, buf, cap, 0, &g)) < 0)
			break;
		/* The end of the queue of a socket shut down: no credentials
		 * (with SO_PASSCRED on, every message has some). */
		if (!g.has_cred && !g.len && !g.nfl && !g.ctrunc)
			break;
		lost |= g.ctrunc;
		odd |= g.odd;
		other |= !from_name(&g, name, name_len);
		rc = add(t, buf, g.len, &g, false);
	}
	free(buf);
	return rc < 0 ? rc : lost ? -EMFILE : odd ? -EBADMSG : other ? -EXDEV : 0;
}

ssize_t bm_unix_send_piece(int from, const uint8_t *b, size_t n, const struct ucred *cred, const int *fl,
			   uint32_t nfl, const struct sockaddr_un *to, socklen_t tolen)
{
	union {
		struct cmsghdr align;
		char bytes[CMSG_SPACE(sizeof(struct ucred)) + CMSG_SPACE(BM_UNIX_MAX_RIGHTS * sizeof(int))];
	} control;
	memset(&control, 0, sizeof control);
	struct iovec iov = {(void *)b, n};
	struct msghdr mh = {.msg_name = (void *)to, .msg_namelen = to ? tolen : 0, .msg_iov = &iov, .msg_iovlen = 1,
			    .msg_control = &control, .msg_controllen = 0};
	struct cmsghdr *c = &control.align;
	if (cred->pid) {
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_CREDENTIALS;
		c->cmsg_len = CMSG_LEN(sizeof *cred);
		memcpy(CMSG_DATA(c), cred, sizeof *cred);
		mh.msg_controllen = CMSG_SPACE(sizeof *cred);
		c = (struct cmsghdr *)((char *)c + CMSG_SPACE(sizeof *cred));
	}
	if (nfl) {
		mh.msg_controllen += CMSG_SPACE(nfl * sizeof(int));
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(nfl * sizeof(int));
		memcpy(CMSG_DATA(c), fl, nfl * sizeof(int));
	}
	if (!mh.msg_controllen)
		mh.msg_control = NULL;
	ssize_t sent = sendmsg(from, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
	return sent < 0 ? -errno : sent;
}

/* T's pieces skb by skb as SKBS say: 1 where they do not fit (written
 * otherwise), else 0 or -errno. */
static int put_back_skbs(int peer, int receiver, const struct bm_unix_taken *t, const uint32_t *skbs,
			 uint32_t nskbs, uint32_t consumed)
{
	struct bm_stream_piece *pieces = calloc(t->n ? t->n : 1, sizeof *pieces);
	if (!pieces)
		return -ENOMEM;
	for (uint32_t i = 0; i < t->n; i++)
		pieces[i] = (struct bm_stream_piece){t->data + t->pieces[i].off, t->pieces[i].len, t->pieces[i].cred,
						     t->pieces[i].nfl, t->pieces[i].fl};
	char why[200];
	int rc = bm_stream_layout_fits(skbs, nskbs, consumed, pieces, t->n, why, sizeof why)
			 ? bm_stream_write_skbs(peer, receiver, skbs, nskbs, consumed, pieces, t->n)
			 : 1;
	free(pieces);
	return rc;
}

/* T's pieces each in one send (a short one goes on), with its
 * credentials and descriptors. */
static int put_back_pieces(int peer, const struct bm_unix_taken *t, const struct sockaddr_un *to, socklen_t tolen)
{
	int rc = 0;
	for (uint32_t i = 0; rc == 0 && i < t->n; i++) {
		const struct bm_unix_piece *pc = &t->pieces[i];
		/* The descriptors ride with the first send; a short one goes on.
		 * An empty message is one send too. */
		for (uint32_t off = 0; rc == 0 && (off < pc->len || (!off && !pc->len));) {
			ssize_t sent = bm_unix_send_piece(peer, t->data + pc->off + off, pc->len - off, &pc->cred,
							  off ? NULL : pc->fl, off ? 0 : pc->nfl, to, tolen);
			if (sent < 0)
				rc = (int)sent;
			else if (sent == 0 && pc->len)
				rc = -EAGAIN;
			else if (!pc->len)
				break;
			else
				off += (uint32_t)sent;
		}
	}
	return rc;
}

int bm_unix_put_back(int peer, int receiver, const struct bm_unix_taken *t, const struct sockaddr_un *to,
		     socklen_t tolen, const uint32_t *skbs, uint32_t nskbs, uint32_t consumed)
{
	/* Room for every piece at once, whatever the buffer's size: each
	 * costs the kernel more than its bytes.  SO_PASSCRED off at both ends,
	 * so that a piece without credentials goes without (the kernel would
	 * give it binmig's). */
	int saved = 0, cred_peer = 0, cred_receiver = 0, zero = 0;
	if (getsockopt(peer, SOL_SOCKET, SO_SNDBUF, &saved, &(socklen_t){sizeof saved}) < 0 ||
	    getsockopt(peer, SOL_SOCKET, SO_PASSCRED, &cred_peer, &(socklen_t){sizeof cred_peer}) < 0 ||
	    getsockopt(receiver, SOL_SOCKET, SO_PASSCRED, &cred_receiver, &(socklen_t){sizeof cred_receiver}) < 0 ||
	    setsockopt(peer, SOL_SOCKET, SO_PASSCRED, &zero, sizeof zero) < 0 ||
	    setsockopt(receiver, SOL_SOCKET, SO_PASSCRED, &zero, sizeof zero) < 0)
		return -errno;
	size_t want = t->len + (size_t)t->n * 2048 + 65536 + bm_stream_layout_charge(skbs, nskbs);
	int half = want > (size_t)(1 << 29) ? 1 << 29 : (int)want;
	bool raised = half * 2 > saved && setsockopt(peer, SOL_SOCKET, SO_SNDBUFFORCE, &half, sizeof half) == 0;
	int rc = nskbs && !to ? put_back_skbs(peer, receiver, t, skbs, nskbs, consumed) : 1;
	if (rc == 1)
		rc = put_back_pieces(peer, t, to, tolen);
	half = saved / 2;
	if (((raised && setsockopt(peer, SOL_SOCKET, SO_SNDBUFFORCE, &half, sizeof half) < 0) ||
	     setsockopt(peer, SOL_SOCKET, SO_PASSCRED, &cred_peer, sizeof cred_peer) < 0 ||
	     setsockopt(receiver, SOL_SOCKET, SO_PASSCRED, &cred_receiver, sizeof cred_receiver) < 0) && rc == 0)
		rc = -errno;
	return rc;
}

void bm_unix_taken_free(struct bm_unix_taken *t)
{
	for (uint32_t i = 0; i < t->n; i++) {
		for (uint32_t k = 0; k < t->pieces[i].nfl; k++)
			close(t->pieces[i].fl[k]);
		free(t->pieces[i].fl);
	}
	free(t->pieces);
	free(t->data);
	memset(t, 0, sizeof *t);
}

int bm_unix_can_send_as(const struct ucred *cred)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	ssize_t sent = bm_unix_send_piece(sv[0], (const uint8_t *)"c", 1, cred, NULL, 0, NULL, 0);
	close(sv[0]);
	close(sv[1]);
	return sent < 0 ? (int)sent : 0;
}

int bm_unix_fd_room(uint32_t n)
{
	struct rlimit rl;
	DIR *dir = opendir("/proc/self/fd");
	if (!dir || getrlimit(RLIMIT_NOFILE, &rl) < 0) {
		int e = errno;
		if (dir)
			closedir(dir);
		return -e;
	}
	uint64_t open_now = 0;
	for (struct dirent *e; (e = readdir(dir));)
		open_now += e->d_name[0] != '.';
	closedir(dir);
	/* A few spare for what binmig opens meanwhile. */
	return rl.rlim_cur == RLIM_INFINITY || open_now + n + 16 <= rl.rlim_cur ? 0 : -EMFILE;
}
