/* Shared anonymous memory as one object per kernel object (shmem.h). */
#include "shmem.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <linux/magic.h>
#include <unistd.h>

#include "log.h"

static int open_mapped(pid_t pid, const struct bm_vma *v, int flags)
{
	char path[96];
	snprintf(path, sizeof path, "/proc/%d/map_files/%llx-%llx", pid, (unsigned long long)v->start,
		 (unsigned long long)v->end);
	return open(path, flags | O_CLOEXEC);
}

/* ---- dump ---- */

bool bm_shmem_is_sysv_name(const char *path)
{
	if (strncmp(path, "/SYSV", 5) != 0 || strlen(path) != 13)
		return false;
	for (int i = 5; i < 13; i++)
		if (!isxdigit((unsigned char)path[i]))
			return false;
	return true;
}

bool bm_shmem_is_anon_file(const char *link, const char *path)
{
	struct statfs fs;
	return (strcmp(path, "/dev/zero") == 0 || strcmp(path, "/anon_hugepage") == 0 || bm_shmem_is_sysv_name(path)) &&
	       statfs(link, &fs) == 0 && (fs.f_type == TMPFS_MAGIC || fs.f_type == HUGETLBFS_MAGIC);
}

int bm_shmem_describe(pid_t pid, struct bm_vma *v, uint64_t inode)
{
	int fd = open_mapped(pid, v, O_RDONLY);
	if (fd < 0)
		return bm_error_errno(BM_EXIT_TARGET, errno, "cannot open the shared memory of process %d at 0x%llx", pid,
				      (unsigned long long)v->start);
	struct stat st;
	int rc = fstat(fd, &st);
	int e = errno;
	close(fd);
	if (rc < 0)
		return bm_error_errno(BM_EXIT_TARGET, e, "cannot stat the shared memory of process %d at 0x%llx", pid,
				      (unsigned long long)v->start);
	if (st.st_ino != inode)
		return bm_error(BM_EXIT_TARGET, "the shared memory of process %d at 0x%llx changed while it was read", pid,
				(unsigned long long)v->start);
	v->file = (struct bm_file_id){st.st_dev, st.st_ino, (uint64_t)st.st_size, 0};
	return 0;
}

struct offset_range {
	uint64_t lo, hi;
};

struct bm_shmem_seen_obj {
	uint64_t dev, ino;
	struct offset_range *r; /* sorted, disjoint, not adjacent */
	size_t n;
};

void bm_shmem_seen_free(struct bm_shmem_seen *seen)
{
	for (size_t i = 0; i < seen->n; i++)
		free(seen->o[i].r);
	free(seen->o);
	*seen = (struct bm_shmem_seen){0};
}

static struct bm_shmem_seen_obj *seen_of(struct bm_shmem_seen *seen, const struct bm_vma *v)
{
	for (size_t i = 0; i < seen->n; i++)
		if (seen->o[i].dev == v->file.dev && seen->o[i].ino == v->file.ino)
			return &seen->o[i];
	struct bm_shmem_seen_obj *grown = realloc(seen->o, (seen->n + 1) * sizeof *grown);
	if (!grown)
		return NULL;
	seen->o = grown;
	grown[seen->n] = (struct bm_shmem_seen_obj){v->file.dev, v->file.ino, NULL, 0};
	return &grown[seen->n++];
}

static int by_start(const void *a, const void *b)
{
	const struct offset_range *x = a, *y = b;
	return (x->lo > y->lo) - (x->lo < y->lo);
}

/* Adds [lo, hi) to the object's stored ranges, merging. */
static int mark_seen(struct bm_shmem_seen_obj *o, uint64_t lo, uint64_t hi)
{
	struct offset_range *r = realloc(o->r, (o->n + 1) * sizeof *r);
	if (!r)
		return -1;
	o->r = r;
	r[o->n++] = (struct offset_range){lo, hi};
	qsort(r, o->n, sizeof *r, by_start);
	size_t keep = 1;
	for (size_t i = 1; i < o->n; i++) {
		if (r[i].lo <= r[keep - 1].hi) {
			if (r[i].hi > r[keep - 1].hi)
				r[keep - 1].hi = r[i].hi;
		} else {
			r[keep++] = r[i];
		}
	}
	o->n = keep;
	return 0;
}

/* Offsets [lo, hi) of v less those stored before: page() for each rest,
 * as addresses. */
static int emit_unseen(const struct bm_vma *v, const struct bm_shmem_seen_obj *o, uint64_t lo, uint64_t hi,
		       int (*page)(void *, uint64_t, uint64_t), void *ctx)
{
	for (size_t i = 0; o && i < o->n && lo < hi; i++) {
		if (o->r[i].hi <= lo)
			continue;
		if (o->r[i].lo >= hi)
			break;
		int rc = o->r[i].lo > lo ? page(ctx, v->start + (lo - v->pgoff), v->start + (o->r[i].lo - v->pgoff)) : 0;
		if (rc)
			return rc;
		lo = o->r[i].hi;
	}
	return lo < hi ? page(ctx, v->start + (lo - v->pgoff), v->start + (hi - v->pgoff)) : 0;
}

int bm_shmem_pages(pid_t pid, const struct bm_vma *v, struct bm_shmem_seen *seen,
		   int (*page)(void *ctx, uint64_t start, uint64_t end), void *ctx)
{
	struct bm_shmem_seen_obj *o = v->file.ino ? seen_of(seen, v) : NULL;
	if (v->file.ino && !o)
		return bm_error(BM_EXIT_FAILURE, "out of memory");
	int fd = open_mapped(pid, v, O_RDONLY);
	if (fd < 0)
		return bm_error_errno(BM_EXIT_TARGET, errno, "cannot open the shared memory of process %d at 0x%llx", pid,
				      (unsigned long long)v->start);
	const uint64_t page_mask = BM_PAGE_SIZE - 1, end = v->pgoff + (v->end - v->start);
	uint64_t at = v->pgoff;
	int rc = 0;
	while (rc == 0 && at < end) {
		off_t data = lseek(fd, (off_t)at, SEEK_DATA);
		if (data < 0 && errno == ENXIO)
			break;
		off_t hole = data < 0 ? -1 : lseek(fd, data, SEEK_HOLE);
		if (hole < 0) {
			rc = bm_error_errno(BM_EXIT_TARGET, errno, "cannot find the pages of the shared memory of process %d "
					    "at 0x%llx", pid, (unsigned long long)v->start);
			break;
		}
		uint64_t lo = (uint64_t)data & ~page_mask, hi = ((uint64_t)hole + page_mask) & ~page_mask;
		if (lo >= end)
			break;
		if (hi > end)
			hi = end;
		if (hi <= at) { /* never goes back */
			rc = bm_error(BM_EXIT_TARGET, "the shared memory of process %d at 0x%llx changed while it was read",
				      pid, (unsigned long long)v->start);
			break;
		}
		if (lo < at)
			lo = at;
		rc = emit_unseen(v, o, lo, hi, page, ctx);
		at = hi;
	}
	close(fd);
	if (rc == 0 && o && mark_seen(o, v->pgoff, end) < 0)
		rc = bm_error(BM_EXIT_FAILURE, "out of memory");
	return rc;
}

/* Whether a maps line shows one of the objects of procs: shared, the
 * shmem inode, and the name of anonymous shared memory. */
static const struct bm_vma *object_in_line(const char *line, struct bm_process *const *procs, size_t nprocs,
					   size_t *owner)
{
	char perms[5];
	unsigned long long ino;
	int name_at = 0;
	if (sscanf(line, "%*s %4s %*s %*s %llu %n", perms, &ino, &name_at) != 2 || perms[3] != 's' || !ino)
		return NULL;
	const char *name = line + name_at;
	if (strncmp(name, "/dev/zero (deleted)", 19) != 0 && strncmp(name, "[anon_shmem:", 12) != 0)
		return NULL;
	for (size_t k = 0; k < nprocs; k++)
		for (uint32_t i = 0; i < procs[k]->nvmas; i++) {
			const struct bm_vma *v = &procs[k]->vmas[i];
			if ((v->flags & BM_VMA_SHMEM) && v->file.ino == ino) {
				*owner = k;
				return v;
			}
		}
	return NULL;
}

static bool among(struct bm_process *const *procs, size_t nprocs, pid_t pid)
{
	for (size_t k = 0; k < nprocs; k++)
		if (procs[k]->pid == pid)
			return true;
	return false;
}

int bm_shmem_check_outside(struct bm_process *const *procs, size_t nprocs)
{
	bool any = false;
	for (size_t k = 0; k < nprocs && !any; k++)
		for (uint32_t i = 0; i < procs[k]->nvmas && !any; i++)
			any = (procs[k]->vmas[i].flags & BM_VMA_SHMEM) && procs[k]->vmas[i].file.ino;
	if (!any)
		return 0;
	DIR *d = opendir("/proc");
	if (!d)
		return bm_error_errno(BM_EXIT_FAILURE, errno, "cannot list /proc");
	int rc = 0;
	char *line = NULL;
	size_t cap = 0;
	struct dirent *e;
	while (rc == 0 && (e = readdir(d))) {
		if (!isdigit((unsigned char)e->d_name[0]))
			continue;
		pid_t pid = atoi(e->d_name);
		if (pid == getpid() || among(procs, nprocs, pid))
			continue;
		char path[64];
		snprintf(path, sizeof path, "/proc/%d/maps", pid);
		FILE *f = fopen(path, "re");
		if (!f)
			continue; /* gone, or a kernel thread's */
		size_t owner = 0;
		const struct bm_vma *v = NULL;
		while (!v && getline(&line, &cap, f) > 0)
			v = object_in_line(line, procs, nprocs, &owner);
		fclose(f);
		if (v)
			rc = bm_error(BM_EXIT_UNSUPPORTED, "process %d shares anonymous memory (MAP_SHARED, at 0x%llx) with "
				      "process %d, which is not dumped with it; after the move they would no longer "
				      "share it",
				      procs[owner]->pid, (unsigned long long)v->start, pid);
	}
	free(line);
	closedir(d);
	return rc;
}

/* ---- restore ---- */

struct bm_shmem_obj {
	uint64_t dev, ino;         /* the object at the dump; 0: an image before version 6 */
	const struct bm_vma *vma;  /* such an image's mapping, an object of its own */
	uint64_t size;
	int fd;                    /* binmig's */
	char *path;                /* for the new processes: /proc/<binmig>/fd/<fd> */
};

static struct bm_shmem_obj *find(const struct bm_shmem_objects *objs, const struct bm_vma *v)
{
	for (size_t i = 0; i < objs->n; i++) {
		struct bm_shmem_obj *o = &objs->o[i];
		if (v->file.ino ? (o->ino == v->file.ino && o->dev == v->file.dev) : o->vma == v)
			return o;
	}
	return NULL;
}

/* An object of size bytes, through a descriptor of binmig's: an anonymous
 * shared mapping, opened through its map_files entry and unmapped. */
static int make_object(uint64_t size, bool noreserve)
{
	void *at = mmap(NULL, size, PROT_NONE, MAP_SHARED | MAP_ANONYMOUS | (noreserve ? MAP_NORESERVE : 0), -1, 0);
	if (at == MAP_FAILED)
		return bm_error_errno(BM_EXIT_FAILURE, errno, "cannot make shared memory of %llu bytes",
				      (unsigned long long)size);
	char path[96];
	snprintf(path, sizeof path, "/proc/self/map_files/%llx-%llx", (unsigned long long)(uintptr_t)at,
		 (unsigned long long)(uintptr_t)at + size);
	int fd = open(path, O_RDWR | O_CLOEXEC);
	int e = errno;
	munmap(at, size);
	if (fd < 0)
		return bm_error_errno(BM_EXIT_FAILURE, e, "cannot open the shared memory binmig made");
	return fd;
}

int bm_shmem_provide(struct bm_shmem_objects *objs, const struct bm_vma *v, const char **path)
{
	/* A mapping may reach past its object's end (mremap made it larger;
	 * touching those pages raises SIGBUS): mapped so again. */
	uint64_t size = v->file.ino ? v->file.size : v->pgoff + (v->end - v->start);
	struct bm_shmem_obj *o = find(objs, v);
	if (o && o->size != size)
		return bm_error(BM_EXIT_IMAGE, "image: shared memory %llu is %llu bytes at 0x%llx, %llu elsewhere",
				(unsigned long long)v->file.ino, (unsigned long long)v->file.size,
				(unsigned long long)v->start, (unsigned long long)o->size);
	if (!o) {
		if (!size || size % BM_PAGE_SIZE)
			return bm_error(BM_EXIT_IMAGE, "image: shared memory at 0x%llx has a size of %llu bytes",
					(unsigned long long)v->start, (unsigned long long)size);
		struct bm_shmem_obj *grown = realloc(objs->o, (objs->n + 1) * sizeof *grown);
		if (!grown)
			return bm_error(BM_EXIT_FAILURE, "out of memory");
		objs->o = grown;
		int fd = make_object(size, v->flags & BM_VMA_NORESERVE);
		if (fd < 0)
			return fd;
		char *own = NULL;
		if (asprintf(&own, "/proc/%d/fd/%d", getpid(), fd) < 0) {
			close(fd);
			return bm_error(BM_EXIT_FAILURE, "out of memory");
		}
		o = &grown[objs->n++];
		*o = (struct bm_shmem_obj){v->file.dev, v->file.ino, v->file.ino ? NULL : v, size, fd, own};
	}
	if (path)
		*path = o->path;
	return 0;
}

const char *bm_shmem_path(const struct bm_shmem_objects *objs, const struct bm_vma *v)
{
	const struct bm_shmem_obj *o = find(objs, v);
	return o ? o->path : NULL;
}

int bm_shmem_write(const struct bm_shmem_objects *objs, const struct bm_vma *v, const struct bm_page_run *run)
{
	const struct bm_shmem_obj *o = find(objs, v);
	if (!o)
		return bm_error(BM_EXIT_FAILURE, "the shared memory at 0x%llx was not made", (unsigned long long)v->start);
	if (run->zero)
		return 0; /* a new object is zero already, and every page is stored once */
	size_t len = (size_t)run->npages * BM_PAGE_SIZE;
	off_t off = (off_t)(v->pgoff + (run->addr - v->start));
	for (size_t done = 0; done < len;) {
		ssize_t n = pwrite(o->fd, run->data + done, len - done, off + (off_t)done);
		if (n <= 0)
			return bm_error_errno(BM_EXIT_FAILURE, n < 0 ? errno : EIO,
					      "writing the shared memory at 0x%llx", (unsigned long long)run->addr);
		done += (size_t)n;
	}
	return 0;
}

void bm_shmem_objects_free(struct bm_shmem_objects *objs)
{
	for (size_t i = 0; i < objs->n; i++) {
		close(objs->o[i].fd);
		free(objs->o[i].path);
	}
	free(objs->o);
	*objs = (struct bm_shmem_objects){0};
}
