/* The state of one process being restored, shared by restore.c (one
 * process) and tree_restore.c (each member of a tree). */
#ifndef BINMIG_RESTORE_CTX_H
#define BINMIG_RESTORE_CTX_H

#include <sched.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "file_lock_order.h"
#include "image.h"
#include "ptrace_ctl.h"
#include "restore.h"
#include "shmem.h"
#include "state.h"
#include "stats.h"
#include "vdso.h"

/* The top of a process's address space on x86-64 (4-level page tables). */
#define TASK_SIZE_MAX 0x7ffffffff000ULL

/* A file the new process opens before the rebuild so that mmap can use it. */
struct map_file {
	const char *path;
	bool rdwr;
	int fd; /* number in the new process */
	int from_fd; /* an unlinked file (unlinked_map.h): the process's descriptor of it; else -1 */
	const struct bm_mapped_file *mapped; /* an unlinked file without one: its contents; else NULL */
};

/* Deleted /dev/shm files (BM_VMA_SHMFILE | BM_VMA_DELETED) a restore made
 * again under their old names, to be unlinked once the new processes have
 * opened them (and on failure). */
struct bm_shm_names {
	char **paths;
	size_t n;
};
void bm_rs_unlink_shm_names(struct bm_shm_names *made);

struct restore_ctx {
	struct bm_process proc;
	bool pinned;              /* binmig, and so the new process, run on one CPU while rebuilding */
	int pinned_cpu;           /* that CPU */
	cpu_set_t own_affinity;
	pid_t pid;
	bool child_alive;
	struct bm_tracee tr;      /* the leader */
	struct bm_tracee *others; /* the other threads, threads[1..] of the image, once created */
	uint32_t nothers;
	struct bm_tracee **all;   /* the leader, then the others: every thread, once created */
	char *cgroup_procs;      /* the cgroup.procs files the new process enters (cgroup.h), or NULL */
	struct map_file *files;  /* files[0] is the executable */
	size_t nfiles;
	int ctl_fd;              /* the child's end of the error pipe, then the files */
	int close_from;          /* the rebuild closes from here up (ctl_fd); -1: a later member sharing the table does */
	int close_to;            /* ... up to here (-1: all): ctl_fd and the files, where they sit below some of
				    the process's descriptors (fd_table.h) */
	uint64_t scratch;
	struct bm_stats *st;
	struct bm_shm_names *shm_names; /* the restore's (a tree's: all members') */
	struct bm_shmem_objects *shmem; /* shared anonymous memory (shmem.h), likewise */
	struct bm_specials specials; /* [vvar], [vvar_vclock], [vdso]: where they go, the vDSO proxy */
	struct bm_page_run held;     /* the first page run after the image's [vdso], not yet written */
	bool have_held;
	struct bm_range *inplace; /* memory it keeps from binmig's (restore_inplace.h), sorted */
	size_t ninplace;
	bool parked;              /* bm_rs_park: promised to the source, it runs whatever happens */
	/* A member of a tree (tree_restore.c): */
	bool tree_member;         /* its session and group were made by the tree's plan */
	bool defer_run;           /* bm_rs_rebuild stops before the hook and the run */
	const int *keep;          /* the descriptions shared in the tree, inherited at these numbers (ascending; */
	uint32_t nkeep;           /* none is its ctl_fd nor one its shared descriptors go to), or none */
	/* In the child: puts the inherited ones at their numbers (-1 with err). */
	int (*place_inherited)(const struct restore_ctx *c, char *err, size_t errlen);
	const bool *inherited;    /* per image descriptor: placed already (NULL: none) */
	const bool *sigio_elsewhere; /* per image descriptor: its owner and signal are set by another member (fd_sigio.h) */
	const void *tree;         /* for place_inherited */
	uint32_t member;          /* its index among the tree's members */
	bool table_of_parent;     /* its descriptor table is its parent's (CLONE_FILES), made by the parent */
	uint32_t table_owner;     /* the member whose record holds its table (itself unless table_of_parent) */
	bool fs_of_parent;        /* its cwd, root and umask are its parent's (CLONE_FS), set by the parent */
	bool released;            /* a stopped member, detached early and stopped again (tree_stop.c) */
	struct bm_lock_turns lock_turns; /* when it takes each of its file locks (file_lock_order.h); turn
					    NULL: as listed */
};

/* restore_files.c: the files the new process maps.  Before it exists,
 * in binmig: the list (c->files) and their numbers after c->ctl_fd;
 * missing shared memory files are made (c->shm_names), shared anonymous
 * memory too (c->shmem).  In the new
 * process, its descriptors restored: opens each at its number (-1 with
 * the reason in err).  Then, for each file mapping, its number. */
int bm_rs_plan_files(struct restore_ctx *c);
/* Its control descriptor goes at CTL_FD and its files at ctl_fd + 1 on:
 * a single process's or a table owner's in the run of numbers its table
 * has room for (bm_fd_table_place), a tree member whose table another
 * member makes above the files of that line before it. */
int bm_rs_move_files(struct restore_ctx *c, int ctl_fd);
/* In the new process: opens the files (an unlinked one with O_NOATIME),
 * then gives its unlinked files their access times and inode flags
 * (unlinked_attrs.h), every descriptor of them open. */
int bm_rs_open_files(const struct restore_ctx *c, char *err, size_t errlen);
int bm_rs_file_fd(const struct restore_ctx *c, const struct bm_vma *v);

/* restore.c: system call NR run in thread TR of the new process (in the
 * leader: bm_rs_inject); a failure of the call itself is reported as
 * "restoring process N: WHAT".  0 with its result in *ret (may be NULL),
 * or -1 after reporting. */
int bm_rs_step_failed(const struct restore_ctx *c, const char *what, int err);
int bm_rs_inject_in(struct restore_ctx *c, struct bm_tracee *tr, const char *what, long nr, uint64_t a1, uint64_t a2,
		    uint64_t a3, uint64_t a4, uint64_t a5, uint64_t a6, long *ret);
int bm_rs_inject(struct restore_ctx *c, const char *what, long nr, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4,
		 uint64_t a5, uint64_t a6, long *ret);

/* restore_memory.c, the address space, in this order: binmig's own
 * mappings unmapped but the specials (vdso.h); every VMA mapped at its
 * address (a piece kept in place by restore_inplace.h around it); the
 * pages of the image written (up to the next END or member mark); the
 * locks (lock_and_seal without seal), later the names of anonymous areas,
 * and last the locks again with the seals. */
int bm_rs_unmap_all_but(struct restore_ctx *c);
int bm_rs_map_vmas(struct restore_ctx *c);
int bm_rs_fill_pages(struct restore_ctx *c, struct bm_image_reader *r);
int bm_rs_name_vmas(struct restore_ctx *c);
int bm_rs_lock_and_seal(struct restore_ctx *c, bool seal);

/* The steps of restore.c that a tree takes one member at a time. */
int bm_rs_wait_pid_free(pid_t pid);
/* In the new process: never returns (stops itself, or exits with the
 * reason written to err_fd).  It waits for a byte on go_fd, if not -1.
 * A member with its parent's table (or cwd) leaves it as the parent
 * made it and opens only its own files. */
void bm_rs_child_prepare(const struct restore_ctx *c, int err_fd, int go_fd) __attribute__((noreturn));
/* The new process is stopped and traced: rebuild it from the image (its
 * pages up to the next END or member mark); unless c->defer_run, call
 * the hook and let it run. */
int bm_rs_rebuild(struct restore_ctx *c, struct bm_image_reader *r, const struct bm_restore_hook *hook);
/* The last steps, in this order: load every thread's registers and the
 * affinity; park it (optional: held for the hook's hold, bm_park); let
 * it run. */
int bm_rs_set_context(struct restore_ctx *c);
int bm_rs_park(struct restore_ctx *c);
int bm_rs_let_run(struct restore_ctx *c);
/* C's next timer id and inotify watch numbers as IDS has them, where the
 * restore left others (timers_next_id.h, inotify_next_wd.h); C parked.
 * Warnings only: the process must run. */
struct bm_next_ids;
void bm_rs_set_next_ids(struct restore_ctx *c, const struct bm_next_ids *ids);

#endif
