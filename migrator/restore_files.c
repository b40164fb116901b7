/* The files a new process opens so that its mappings can be made from
 * them (restore_ctx.h, struct map_file): planned in binmig before the
 * process exists, opened by the new process itself, looked up for each
 * mapping.  Shared memory files are made where missing; a mapped
 * unlinked file is made again from its descriptor's file or from its own
 * contents (unlinked_map.h). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cgroup.h"
#include "fd_table.h"
#include "log.h"
#include "restore_ctx.h"
#include "unlinked.h"
#include "unlinked_attrs.h"
#include "unlinked_map.h"

static int check_file_unchanged(const char *what, const char *path, const struct bm_file_id *id)
{
	struct stat st;
	if (stat(path, &st) < 0)
		return bm_error_errno(BM_EXIT_CONFLICT, errno, "%s %s is missing", what, path);
	int64_t mtime = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
	if (st.st_ino != id->ino || (uint64_t)st.st_size != id->size || mtime != id->mtime_ns)
		return bm_error(BM_EXIT_CONFLICT, "%s %s has changed since the dump (%s differs)", what, path,
				st.st_ino != id->ino ? "inode" : (uint64_t)st.st_size != id->size ? "size" : "mtime");
	return 0;
}

/* A file behind a shared mapping that may be written (or that binmig
 * fills) is opened read-write, everything else read-only: a shared file
 * mapping that may be made writable (mprotect) needs its file open for
 * writing, as the process had it, even if it is read-only now. */
static bool needs_rdwr(const struct bm_vma *v)
{
	return (v->flags & BM_VMA_SHARED) &&
	       ((v->prot & PROT_WRITE) || (v->flags & (BM_VMA_SHMFILE | BM_VMA_MAYWRITE)));
}

/* Where the file of mapping v comes from (its number not yet planned):
 * for shared anonymous memory, its object, once provided (shmem.h). */
static struct map_file source_of(const struct restore_ctx *c, const struct bm_vma *v)
{
	if (v->flags & BM_VMA_SHMEM)
		return (struct map_file){bm_shmem_path(c->shmem, v), true, -1, -1, NULL};
	const struct bm_process *p = &c->proc;
	bool unlinked = bm_unlinked_map_is(v);
	const struct bm_fd *d = unlinked ? bm_unlinked_map_fd(p, v) : NULL; /* the image checked it has one */
	return (struct map_file){v->path, needs_rdwr(v), -1, d ? d->fd : -1,
				 unlinked && !d ? bm_unlinked_map_file(p, v) : NULL};
}

static bool same_source(const struct map_file *a, const struct map_file *b)
{
	return a->rdwr == b->rdwr && a->from_fd == b->from_fd && a->mapped == b->mapped && strcmp(a->path, b->path) == 0;
}

/* A shared memory file travels with its contents: where it is missing (a
 * memory filesystem is per host) it is created, as large as the image
 * needs; the pages are written through the mapping. */
static bool shm_name_made(const struct bm_shm_names *made, const char *path)
{
	for (size_t i = 0; i < made->n; i++)
		if (strcmp(made->paths[i], path) == 0)
			return true;
	return false;
}

static int provide_shm_file(struct restore_ctx *c, const struct bm_vma *v)
{
	uint64_t need = 0;
	for (uint32_t i = 0; i < c->proc.nvmas; i++) {
		const struct bm_vma *w = &c->proc.vmas[i];
		if (w->kind == BM_VMA_FILE && strcmp(w->path, v->path) == 0 && w->pgoff + (w->end - w->start) > need)
			need = w->pgoff + (w->end - w->start);
	}
	if (need < v->file.size)
		need = v->file.size;
	/* A deleted one is made under its old name, which must be free (or
	 * made by this restore, for another member of a tree), and unlinked
	 * again once the new processes hold it open (bm_rs_unlink_shm_names):
	 * it shows as deleted again, and nothing is left behind. */
	bool deleted = v->flags & BM_VMA_DELETED, fresh = deleted && !shm_name_made(c->shm_names, v->path);
	int fd = open(v->path, O_RDWR | O_CREAT | O_CLOEXEC | (fresh ? O_EXCL : 0), 0600);
	if (fd < 0 && errno == EEXIST)
		return bm_error(BM_EXIT_CONFLICT, "the shared memory file %s, deleted in the process, cannot be made again: "
				"a file of that name exists", v->path);
	if (fd < 0)
		return bm_error_errno(BM_EXIT_CONFLICT, errno, "cannot create the shared memory file %s", v->path);
	struct bm_shm_names *made = c->shm_names;
	char **grown = fresh ? realloc(made->paths, (made->n + 1) * sizeof *made->paths) : NULL;
	if (grown)
		made->paths = grown;
	if (fresh && (!grown || !(made->paths[made->n] = strdup(v->path)))) {
		unlink(v->path);
		close(fd);
		return bm_error(BM_EXIT_FAILURE, "out of memory");
	}
	if (fresh)
		made->n++;
	struct stat st;
	int rc = 0;
	if (fstat(fd, &st) < 0 || ((uint64_t)st.st_size < need && ftruncate(fd, (off_t)need) < 0))
		rc = bm_error_errno(BM_EXIT_CONFLICT, errno, "cannot size the shared memory file %s", v->path);
	close(fd);
	return rc;
}

void bm_rs_unlink_shm_names(struct bm_shm_names *made)
{
	for (size_t i = 0; i < made->n; i++) {
		unlink(made->paths[i]);
		free(made->paths[i]);
	}
	free(made->paths);
	*made = (struct bm_shm_names){0};
}

int bm_rs_plan_files(struct restore_ctx *c)
{
	const struct bm_process *p = &c->proc;
	c->files = calloc((size_t)p->nvmas + 1, sizeof *c->files);
	if (!c->files)
		return bm_error(BM_EXIT_FAILURE, "out of memory");
	int max_fd = 2;
	for (uint32_t i = 0; i < p->nfds; i++)
		if (p->fds[i].fd > max_fd)
			max_fd = p->fds[i].fd;
	c->ctl_fd = max_fd + 1;
	c->files[c->nfiles++] = (struct map_file){p->mm.exe_path, false, 0, -1, NULL};
	int rc = bm_cgroup_plan(p, &c->cgroup_procs);
	if (rc == 0)
		rc = check_file_unchanged("executable", p->mm.exe_path, &p->mm.exe_file);
	for (uint32_t i = 0; rc == 0 && i < p->nvmas; i++) {
		const struct bm_vma *v = &p->vmas[i];
		bool shmem = v->flags & BM_VMA_SHMEM;
		if (shmem && (rc = bm_shmem_provide(c->shmem, v, NULL)) < 0)
			break;
		if (v->kind != BM_VMA_FILE && !shmem)
			continue;
		struct map_file want = source_of(c, v);
		size_t j;
		for (j = 0; j < c->nfiles; j++)
			if (same_source(&c->files[j], &want))
				break;
		if (j == c->nfiles) {
			if (!shmem && want.from_fd < 0 && !want.mapped &&
			    ((v->flags & BM_VMA_SHMFILE) ? (rc = provide_shm_file(c, v)) < 0
			     : (rc = check_file_unchanged("mapped file", v->path, &v->file)) < 0))
				break;
			c->files[c->nfiles++] = want;
		}
	}
	if (rc < 0)
		return rc;
	/* A single process's own descriptors where its table has room for
	 * them (a tree's are placed with those of the members sharing its
	 * table, and knowing which of its descriptors it inherits). */
	int above = c->ctl_fd;
	int ctl = c->tree_member ? above : bm_fd_table_place(p, bm_fd_table_need((unsigned)c->nfiles, p->nfds));
	if ((rc = bm_rs_move_files(c, ctl)) == 0 && ctl < above)
		c->close_to = ctl + (int)c->nfiles;
	return rc;
}

/* binmig's own descriptors go above the process's highest one, which may
 * be near the process's open-files limit: binmig's limit (inherited by
 * the new process until its own limits are set, at the end) is raised as
 * far as they need, beyond the hard limit where binmig may (up to
 * fs.nr_open, which the dump checked). */
int bm_rs_move_files(struct restore_ctx *c, int ctl_fd)
{
	c->ctl_fd = c->close_from = ctl_fd;
	c->close_to = -1;
	for (size_t j = 0; j < c->nfiles; j++)
		c->files[j].fd = c->ctl_fd + 1 + (int)j;
	struct rlimit lim;
	rlim_t need = (rlim_t)c->ctl_fd + 2 + c->nfiles;
	if (getrlimit(RLIMIT_NOFILE, &lim) < 0 || need <= lim.rlim_cur)
		return 0;
	lim.rlim_cur = need;
	if (lim.rlim_max < need)
		lim.rlim_max = need;
	if (setrlimit(RLIMIT_NOFILE, &lim) < 0)
		return bm_error_errno(BM_EXIT_CONFLICT, errno, "descriptor %llu is above binmig's open-files limit, "
				      "which binmig cannot raise", (unsigned long long)need - 1);
	return 0;
}

int bm_rs_file_fd(const struct restore_ctx *c, const struct bm_vma *v)
{
	struct map_file want = source_of(c, v);
	for (size_t j = 0; want.path && j < c->nfiles; j++)
		if (same_source(&c->files[j], &want))
			return c->files[j].fd;
	return -1;
}

/* The access times and inode flags of the unlinked files: their
 * descriptors are all open (each file's first one, or the first entry of
 * a file only mapped). */
static int finish_unlinked(const struct restore_ctx *c, char *err, size_t errlen)
{
	const struct bm_process *p = &c->proc;
	char why[160];
	for (uint32_t i = 0; i < p->nfds; i++) {
		const struct bm_fd *d = &p->fds[i];
		if (d->kind != BM_FD_UNLINKED_FILE || !d->attrs.known)
			continue; /* only the first descriptor of a file has them */
		/* An O_PATH descriptor has no open file to set them through. */
		char self[40];
		snprintf(self, sizeof self, "/proc/self/fd/%d", d->fd);
		int fd = (d->flags & O_PATH) ? open(self, O_RDONLY | O_CLOEXEC | O_NONBLOCK) : d->fd;
		int rc = fd < 0 ? -1 : bm_file_attrs_finish(fd, &d->attrs, d->file.mtime_ns, why, sizeof why);
		if (fd < 0)
			snprintf(why, sizeof why, "cannot open it: %s", strerror(errno));
		if (fd >= 0 && fd != d->fd)
			close(fd);
		if (rc < 0) {
			snprintf(err, errlen, "the unlinked file %s of fd %d: %s", d->path, d->fd, why);
			return -1;
		}
	}
	for (size_t i = 0; i < c->nfiles; i++) {
		const struct map_file *f = &c->files[i];
		size_t j = 0;
		while (f->mapped && j < i && c->files[j].mapped != f->mapped)
			j++;
		if (f->mapped && j == i &&
		    bm_file_attrs_finish(f->fd, &f->mapped->attrs, f->mapped->file.mtime_ns, why, sizeof why) < 0) {
			snprintf(err, errlen, "the mapped unlinked file %s: %s", f->mapped->path, why);
			return -1;
		}
	}
	return 0;
}

int bm_rs_open_files(const struct restore_ctx *c, char *err, size_t errlen)
{
	for (size_t i = 0; i < c->nfiles; i++) {
		const struct map_file *f = &c->files[i];
		/* An unlinked file is the one its descriptor, restored already,
		 * made; a mapped one is made here, by its first entry. */
		int made = -1, from = f->from_fd;
		if (f->mapped) {
			size_t j = 0;
			while (j < i && c->files[j].mapped != f->mapped)
				j++;
			const struct bm_mapped_file *m = f->mapped;
			struct bm_unlinked_owner owner =
				bm_unlinked_owner(&c->proc, m->owner_known, m->owner_uid, m->owner_gid);
			if (j == i && (made = m->memfd ? bm_unlinked_make_memfd(owner, m->path, m->mode, m->file.mtime_ns,
										     m->memfd, m->data, (size_t)m->file.size,
										     &m->holes, &m->attrs, err, errlen)
							 : bm_unlinked_make_file(owner, m->path, m->mode, m->file.mtime_ns,
										 m->data, (size_t)m->file.size, &m->holes,
										 &m->attrs, err, errlen)) < 0)
				return -1;
			from = j == i ? made : c->files[j].fd;
		}
		char self[40];
		snprintf(self, sizeof self, "/proc/self/fd/%d", from);
		/* Mapping an unlinked file from this descriptor then leaves its
		 * access time as it was given (unlinked_attrs.h); the new process,
		 * which made the file with its owner, may. */
		int fd = open(from >= 0 ? self : f->path,
			      (f->rdwr ? O_RDWR : O_RDONLY) | O_CLOEXEC | (from >= 0 ? O_NOATIME : 0));
		int e = errno;
		if (made >= 0)
			close(made); /* it may sit at f->fd, where fd goes next */
		if (fd < 0 || (fd != f->fd && (dup3(fd, f->fd, O_CLOEXEC) < 0 || close(fd) < 0))) {
			snprintf(err, errlen, "cannot open %s: %s", f->path, strerror(fd < 0 ? e : errno));
			return -1;
		}
	}
	return finish_unlinked(c, err, errlen);
}
