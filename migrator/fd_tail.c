/* Per-descriptor lists at the end of FDS (fd_tail.h). */
#include "fd_tail.h"

#include <stdio.h>

#include "image_model.h"

void bm_fd_tail_encode(struct bm_wbuf *b, const struct bm_process *p, bool (*has)(const struct bm_fd *d),
		       void (*put)(struct bm_wbuf *b, const struct bm_fd *d))
{
	uint32_t n = 0;
	for (uint32_t i = 0; i < p->nfds; i++)
		n += has(&p->fds[i]);
	bm_put_u32(b, n);
	for (uint32_t i = 0; i < p->nfds; i++)
		if (has(&p->fds[i])) {
			bm_put_i32(b, p->fds[i].fd);
			put(b, &p->fds[i]);
		}
}

void bm_fd_tail_decode(struct bm_rcur *c, struct bm_process *p, size_t min_entry, const char *what,
		       bool (*take)(struct bm_rcur *c, struct bm_fd *d, char *why, size_t n))
{
	char count_what[80], why[240];
	snprintf(count_what, sizeof count_what, "%s count", what);
	uint32_t n = bm_get_count(c, BM_IMG_MAX_FDS, min_entry, count_what);
	int32_t prev = -1;
	for (uint32_t i = 0; i < n && !bm_rcur_failed(c); i++) {
		size_t at = c->pos;
		int32_t fd = bm_get_i32(c);
		struct bm_fd *d = (struct bm_fd *)bm_fd_find(p->fds, p->nfds, fd);
		if (bm_rcur_failed(c))
			break;
		if (fd <= prev || !d) {
			bm_rcur_fail_at(c, at, "%s of fd %d: not after fd %d, or no such descriptor", what, fd, prev);
			break;
		}
		if (!take(c, d, why, sizeof why) && !bm_rcur_failed(c))
			bm_rcur_fail_at(c, at, "%s of fd %d: %s", what, fd, why);
		prev = fd;
	}
}
