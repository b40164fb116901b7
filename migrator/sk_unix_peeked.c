/* Empty messages a process peeked: found by walking a message queue and
 * taking it, marked again after it is written (sk_unix_peeked.h). */
#include "sk_unix_peeked.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

/* One peek at S's current offset: its length (MSG_TRUNC: whole) into
 * *SEEN, or -errno (-EAGAIN: nothing left to show). */
static int peek_one(int s, struct bm_unix_seen *seen)
{
	uint8_t byte;
	struct bm_unix_got g;
	int rc = bm_unix_recv(s, &byte, 1, MSG_PEEK | MSG_TRUNC, &g);
	if (rc < 0)
		return rc;
	memset(seen, 0, sizeof *seen);
	seen->len = (uint32_t)g.len;
	seen->cred = g.cred;
	seen->nrights = g.nfl;
	seen->other = g.ctrunc || g.odd;
	bm_unix_got_close(&g);
	if (!g.len && !g.has_cred && !seen->nrights && !seen->other)
		return -EAGAIN; /* a socket shut down for reading, at its end */
	seen->addr_len = bm_unix_got_name_len(&g);
	memcpy(seen->addr, g.from.sun_path, seen->addr_len);
	return 0;
}

int bm_unix_walk_seen(int s, struct bm_unix_seen **seen, uint32_t *n)
{
	*seen = NULL;
	*n = 0;
	uint32_t cap = 0;
	int off = 0, rc = 0;
	for (;;) {
		/* Each peek from where the last one ended: the bytes of the
		 * messages before, which an empty one adds nothing to. */
		if (setsockopt(s, SOL_SOCKET, SO_PEEK_OFF, &off, sizeof off) < 0) {
			rc = -errno;
			break;
		}
		struct bm_unix_seen one;
		if ((rc = peek_one(s, &one)) < 0) {
			rc = rc == -EAGAIN ? 0 : rc;
			break;
		}
		if (*n >= BM_UNIX_MAX_QUEUED) {
			rc = -EMSGSIZE;
			break;
		}
		if (*n == cap) {
			cap = cap ? 2 * cap : 16;
			struct bm_unix_seen *more = realloc(*seen, cap * sizeof *more);
			if (!more) {
				rc = -ENOMEM;
				break;
			}
			*seen = more;
		}
		(*seen)[(*n)++] = one;
		off += (int)one.len;
	}
	if (rc < 0) {
		free(*seen);
		*seen = NULL;
		*n = 0;
	}
	return rc;
}

static bool same(const struct bm_unix_seen *a, const struct bm_unix_piece *b)
{
	return a->len == b->len && a->nrights == b->nfl && a->cred.pid == b->cred.pid && a->cred.uid == b->cred.uid &&
	       a->cred.gid == b->cred.gid;
}

int bm_unix_find_peeked(const struct bm_unix_seen *seen, uint32_t nseen, const struct bm_unix_taken *t,
			uint8_t *peeked)
{
	uint32_t j = 0;
	for (uint32_t i = 0; i < t->n;) {
		if (t->pieces[i].len) {
			if (j >= nseen || !same(&seen[j], &t->pieces[i]))
				return -EPROTO;
			peeked[i++] = 0;
			j++;
			continue;
		}
		/* A run of empty messages: the walk showed its last ones. */
		uint32_t run = 0, shown = 0;
		while (i + run < t->n && !t->pieces[i + run].len)
			run++;
		while (j + shown < nseen && !seen[j + shown].len)
			shown++;
		if (shown > run)
			return -EPROTO;
		for (uint32_t k = 0; k < run; k++) {
			peeked[i + k] = k < run - shown;
			if (k >= run - shown && !same(&seen[j + k - (run - shown)], &t->pieces[i + k]))
				return -EPROTO;
		}
		i += run;
		j += shown;
	}
	return j == nseen ? 0 : -EPROTO;
}

bool bm_unix_peeked_step(bool *may, uint32_t len, uint32_t peeked)
{
	if (peeked > 1 || (peeked && (len || !*may)))
		return false;
	*may = len ? true : *may && peeked;
	return true;
}

int bm_unix_mark_peeked(int s, const uint32_t *lens, const uint8_t *peeked, uint32_t n)
{
	/* SO_PASSCRED on: an empty message then shows credentials, which
	 * the end of a queue shut down for reading does not. */
	int saved = -1, cred = 0, one = 1;
	if (getsockopt(s, SOL_SOCKET, SO_PEEK_OFF, &saved, &(socklen_t){sizeof saved}) < 0 ||
	    getsockopt(s, SOL_SOCKET, SO_PASSCRED, &cred, &(socklen_t){sizeof cred}) < 0 ||
	    setsockopt(s, SOL_SOCKET, SO_PASSCRED, &one, sizeof one) < 0)
		return -errno;
	int rc = 0, off = 0;
	for (uint32_t i = 0; rc == 0 && i < n; i++) {
		if (peeked[i]) {
			/* At the offset where the run begins, a peek shows its first
			 * unmarked message, and marks it. */
			struct bm_unix_seen one;
			if (setsockopt(s, SOL_SOCKET, SO_PEEK_OFF, &off, sizeof off) < 0)
				rc = -errno;
			else if ((rc = peek_one(s, &one)) == 0 && one.len)
				rc = -EPROTO;
			else if (rc == -EAGAIN)
				rc = -EPROTO;
		}
		off += (int)lens[i];
	}
	if ((setsockopt(s, SOL_SOCKET, SO_PEEK_OFF, &saved, sizeof saved) < 0 ||
	     setsockopt(s, SOL_SOCKET, SO_PASSCRED, &cred, sizeof cred) < 0) && rc == 0)
		rc = -errno;
	return rc;
}
