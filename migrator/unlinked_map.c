/* Mappings of unlinked files (unlinked_map.h). */
#include "unlinked_map.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "log.h"
#include "unlinked.h"
#include "wire.h"

bool bm_unlinked_map_is(const struct bm_vma *v)
{
	return (v->flags & BM_VMA_UNLINKED) != 0;
}

const struct bm_fd *bm_unlinked_map_fd(const struct bm_process *p, const struct bm_vma *v)
{
	for (uint32_t i = 0; i < p->nfds; i++) {
		const struct bm_fd *d = &p->fds[i];
		if (d->kind == BM_FD_UNLINKED_FILE && d->replaced == BM_FD_CARRIED && d->file.dev == v->file.dev &&
		    d->object_id == v->file.ino)
			return d;
	}
	return NULL;
}

int bm_unlinked_map_describe(pid_t pid, const struct bm_maps_entry *e, const struct bm_process *p,
			     struct bm_vma *v)
{
	/* The mapped file itself, whatever has its former name now. */
	char link[96];
	snprintf(link, sizeof link, "/proc/%d/map_files/%llx-%llx", pid, (unsigned long long)e->start,
		 (unsigned long long)e->end);
	if (bm_unlinked_is_memfd(link, e->path))
		return bm_error(BM_EXIT_UNSUPPORTED, "process %d maps the memfd %s at 0x%llx; binmig does not carry "
				"memfds", pid, e->path, (unsigned long long)e->start);
	struct stat st;
	if (stat(link, &st) < 0)
		return bm_error_errno(BM_EXIT_TARGET, errno, "cannot stat the deleted file %s that process %d maps at "
				      "0x%llx", e->path, pid, (unsigned long long)e->start);
	if (!S_ISREG(st.st_mode))
		return bm_error(BM_EXIT_UNSUPPORTED, "process %d maps the deleted %s at 0x%llx, which is no regular file; "
				"binmig cannot carry it", pid, e->path, (unsigned long long)e->start);
	if (st.st_nlink > 0)
		return bm_error(BM_EXIT_UNSUPPORTED, "process %d maps the deleted file %s at 0x%llx, whose name was "
				"removed while other hard links to it remain, which binmig cannot name", pid, e->path,
				(unsigned long long)e->start);
	v->kind = BM_VMA_FILE;
	v->flags |= BM_VMA_DELETED | BM_VMA_UNLINKED;
	v->file = (struct bm_file_id){st.st_dev, st.st_ino, (uint64_t)st.st_size,
				      (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec};
	const struct bm_fd *d = bm_unlinked_map_fd(p, v);
	if (!d)
		return bm_error(BM_EXIT_UNSUPPORTED, "process %d maps the deleted file %s at 0x%llx without holding a "
				"descriptor of it; binmig carries the contents of a mapped unlinked file only with an "
				"open descriptor", pid, e->path, (unsigned long long)e->start);
	/* The descriptor's contents were read before: the file as it is. */
	v->file.size = d->file.size;
	v->file.mtime_ns = d->file.mtime_ns;
	v->path = strdup(d->path);
	return v->path ? 0 : bm_error(BM_EXIT_FAILURE, "out of memory");
}

bool bm_unlinked_map_check(const struct bm_process *p, char *why, size_t n)
{
	for (uint32_t i = 0; i < p->nvmas; i++) {
		const struct bm_vma *v = &p->vmas[i];
		if (!bm_unlinked_map_is(v))
			continue;
		if (v->kind != BM_VMA_FILE || (v->flags & (BM_VMA_DELETED | BM_VMA_SHMFILE)) != BM_VMA_DELETED)
			return bm_why(why, n, "the unlinked file mapping at %#llx is not a deleted file mapping that is no "
				      "shared memory file (kind %u, flags %#x)", (unsigned long long)v->start, v->kind,
				      v->flags);
		const struct bm_fd *d = bm_unlinked_map_fd(p, v);
		if (!d)
			return bm_why(why, n, "the unlinked file mapped at %#llx has no unlinked descriptor (device %llu, "
				      "inode %llu) to carry it", (unsigned long long)v->start,
				      (unsigned long long)v->file.dev, (unsigned long long)v->file.ino);
		if (!v->path || strcmp(v->path, d->path) != 0)
			return bm_why(why, n, "the unlinked file mapped at %#llx is named %s, its descriptor %d %s",
				      (unsigned long long)v->start, v->path ? v->path : "(none)", d->fd, d->path);
	}
	return true;
}
