/* Layouts read in chunks over several runs (kstate_chunks.h). */
#include "kstate_chunks.h"

#include <stdlib.h>

bool bm_chunks_begin(struct bm_chunks *c, const struct bm_process *p, struct bm_fd *d, uint32_t start,
		     uint32_t count, uint32_t has, uint32_t size)
{
	uint32_t i = (uint32_t)(d - p->fds);
	if (!c->done && !(c->done = calloc(p->nfds, sizeof *c->done)))
		return false;
	if (start == 0)
		c->done[i] = 1;
	else if (!has || c->done[i] != start + 1 || count != has)
		return false;
	c->d = d;
	c->got = start;
	c->end = count - start < size ? count : start + size;
	return true;
}

void bm_chunks_finish(struct bm_chunks *c, const struct bm_process *p, bm_chunks_forget *forget)
{
	struct bm_fd *d = c->d;
	c->d = NULL;
	if (d && c->got != c->end)
		forget(d);
	else if (d)
		c->done[d - p->fds] = c->got + 1;
}

/* Whether P->fds[I]'s layout, of HAS entries, is one C made and read in
 * part. */
static bool in_part(const struct bm_chunks *c, uint32_t i, uint32_t has)
{
	return has && c->done && c->done[i] && c->done[i] - 1 < has;
}

uint32_t bm_chunks_next(struct bm_chunks *c, const struct bm_process *p, uint32_t i, bm_chunks_has *has,
			bm_chunks_forget *forget)
{
	bm_chunks_finish(c, p, forget);
	return in_part(c, i, has(&p->fds[i])) ? c->done[i] - 1 : 0;
}

void bm_chunks_end(struct bm_chunks *c, struct bm_process *p, bm_chunks_has *has, bm_chunks_forget *forget)
{
	bm_chunks_finish(c, p, forget);
	for (uint32_t i = 0; i < p->nfds; i++)
		if (in_part(c, i, has(&p->fds[i])))
			forget(&p->fds[i]);
	free(c->done);
	*c = (struct bm_chunks){0};
}
