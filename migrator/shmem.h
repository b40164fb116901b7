/* Shared anonymous memory (BM_VMA_SHMEM: mmap MAP_SHARED|MAP_ANONYMOUS,
 * /dev/zero mapped shared, "[anon_shmem:NAME]") as the kernel has it: one
 * object, which any number of mappings, in one process or in several
 * processes of a tree, show.
 *
 * Dump: each such mapping records its object (file.dev and file.ino: the
 * object's inode; file.size: its size), so mappings of one object come
 * back as one.  The pages carried are those the object holds (SEEK_DATA:
 * a page only another process touched, or one swapped out, counts), each
 * stored once, with the first mapping that shows it (members in order,
 * mappings by address).  An object that a process outside those dumped
 * maps too is refused: after the move the two would no longer share it.
 *
 * Restore: binmig makes each object once (an anonymous shared mapping of
 * its size, held through a descriptor), every new process maps it from
 * /proc/<binmig>/fd/N at the mapping's offset (so it shows as
 * "/dev/zero (deleted)" or with its name again), and the pages are written
 * into the object through binmig's descriptor: a read-only mapping needs
 * no forced write.  Images before version 6 name no object (ino 0): each
 * of their mappings is an object of its own, as those images meant. */
#ifndef BINMIG_SHMEM_H
#define BINMIG_SHMEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "image.h"
#include "state.h"

/* ---- dump ---- */

/* "/SYSV" and a key of 8 hex digits: the name the kernel gives a System V
 * shared memory segment's file. */
bool bm_shmem_is_sysv_name(const char *path);
/* Whether LINK (a /proc link whose text was PATH, " (deleted)" stripped)
 * leads to the file of shared anonymous memory itself: "/dev/zero"
 * (MAP_SHARED|MAP_ANONYMOUS, /dev/zero mapped shared), a System V
 * segment or "/anon_hugepage", on the kernel's internal memory mounts.
 * A process reaches it so through /proc/PID/map_files (CRIU's shmemfd). */
bool bm_shmem_is_anon_file(const char *link, const char *path);

/* The object behind v (a BM_VMA_SHMEM mapping of pid whose maps entry
 * says inode): fills v->file. */
int bm_shmem_describe(pid_t pid, struct bm_vma *v, uint64_t inode);

/* What one dump has stored of each object: offset ranges. */
struct bm_shmem_seen {
	struct bm_shmem_seen_obj *o;
	size_t n;
};
void bm_shmem_seen_free(struct bm_shmem_seen *seen);

/* Calls page(ctx, start, end) for each run of addresses of v whose pages
 * the object holds and no mapping dumped before has stored, in ascending
 * order; then counts v's range as stored.  0, or the first non-zero
 * return of page (or -1 with the error logged). */
int bm_shmem_pages(pid_t pid, const struct bm_vma *v, struct bm_shmem_seen *seen,
		   int (*page)(void *ctx, uint64_t start, uint64_t end), void *ctx);

/* Refuses (exit 4) an object of these processes that a process not among
 * them maps too (found in /proc/PID/maps of every process visible). */
int bm_shmem_check_outside(struct bm_process *const *procs, size_t nprocs);

/* ---- restore ---- */

struct bm_shmem_objects {
	struct bm_shmem_obj *o;
	size_t n;
};

/* The object of v, made if it is the first mapping of it; *path (path may
 * be NULL) the path a new process opens to map it, one string per object
 * (valid until bm_shmem_objects_free; bm_shmem_path gives it again). */
int bm_shmem_provide(struct bm_shmem_objects *objs, const struct bm_vma *v, const char **path);
/* The path of v's object, NULL if it was not provided. */
const char *bm_shmem_path(const struct bm_shmem_objects *objs, const struct bm_vma *v);
/* Writes a run of pages of mapping v into its object. */
int bm_shmem_write(const struct bm_shmem_objects *objs, const struct bm_vma *v, const struct bm_page_run *run);
/* binmig's descriptors go; the new processes' mappings keep the objects. */
void bm_shmem_objects_free(struct bm_shmem_objects *objs);

#endif
