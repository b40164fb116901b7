#include "state.h"

#include <stdlib.h>
#include <string.h>

const struct bm_fd *bm_fd_find(const struct bm_fd *fds, uint32_t count, int32_t fd)
{
	uint32_t lo = 0, hi = count;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (fds[mid].fd == fd)
			return &fds[mid];
		if (fds[mid].fd < fd)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

void bm_process_free_fds(struct bm_process *p)
{
	for (uint32_t i = 0; p->fds && i < p->nfds; i++) {
		free(p->fds[i].path);
		free(p->fds[i].data);
		free(p->fds[i].was_link);
		free(p->fds[i].holes.x);
		free(p->fds[i].pipe_bufs);
		free(p->fds[i].stream_skbs);
		free(p->fds[i].opener);
		bm_file_attrs_free(&p->fds[i].attrs);
	}
	free(p->fds);
	p->fds = NULL;
	p->nfds = 0;
}

void bm_process_free(struct bm_process *p)
{
	if (!p)
		return;
	for (uint32_t i = 0; p->vmas && i < p->nvmas; i++)
		free(p->vmas[i].path);
	free(p->vmas);
	free(p->guards);
	bm_process_free_fds(p);
	for (uint32_t i = 0; p->threads && i < p->nthreads; i++) {
		free(p->threads[i].xstate);
		free(p->threads[i].pending);
	}
	free(p->threads);
	free(p->shared_pending);
	free(p->attrs.threads);
	free(p->timers.posix);
	free(p->timers.timerfds);
	free(p->locks);
	for (uint32_t i = 0; p->mapped_files && i < p->nmapped_files; i++) {
		free(p->mapped_files[i].path);
		free(p->mapped_files[i].data);
		free(p->mapped_files[i].holes.x);
		bm_file_attrs_free(&p->mapped_files[i].attrs);
	}
	free(p->mapped_files);
	free(p->cwd);
	free(p->root);
	free(p->cgroups);
	free(p->mm.exe_path);
	memset(p, 0, sizeof *p);
}
