/* The source side: freeze a process, describe it, write its image, and
 * finally either terminate it or let it run on.  The process stays frozen
 * and intact between bm_freeze and bm_release, so that a migration can
 * still give it back if anything fails after the checkpoint. */
#ifndef BINMIG_CHECKPOINT_H
#define BINMIG_CHECKPOINT_H

#include <stdbool.h>

#include "files.h"
#include "image.h"
#include "procfs.h"
#include "ptrace_ctl.h"
#include "state.h"
#include "stats.h"

struct bm_frozen {
	pid_t pid;
	struct bm_tracee *tracees;     /* every stopped thread; [0] is the leader, which system calls
					  for the whole process are injected into */
	size_t ntracees;
	struct bm_process proc;        /* the model, filled by bm_freeze */
	struct bm_maps_entry *maps;    /* /proc/PID/maps at the freeze */
	size_t nmaps;
	bool pinned;                   /* binmig runs on the leader's CPU while it injects calls */
	cpu_set_t own_affinity;
	uint64_t t_suspend_start;
	uint64_t t_stopped;
	int stop_sig;                  /* SIGTRAP, or the signal of the group stop it was in (and stays in) */
	const struct bm_page_skip *skip_pages; /* pre-copy: present pages the image leaves out, or NULL */
	/* A process tree (tree.h): every live member frozen, [0] the root;
	 * the fields above are then unused but pid and the times. */
	struct bm_frozen *members;
	size_t nmembers;
	struct bm_tree_image *tree;
};

/* Checks that PID can be dumped, stops it and fills f->proc; a process
 * with children is frozen with all its descendants (tree.h) unless
 * bm_tree_enabled is off, when it is refused.  On failure the process is
 * left running exactly as before. */
int bm_freeze(pid_t pid, struct bm_frozen *f, const struct bm_fd_policy *policy, struct bm_stats *st);

/* The parts of bm_freeze, also used for each process of a tree
 * (tree.h): the checks that touch nothing (with tree, children are
 * allowed); stopping every thread; and, stopped, the model (with
 * table_elsewhere, a tree member whose descriptor table is its parent's,
 * described there: no descriptors, locks or timerfds).  After a failed
 * stop or collect, bm_release(f, false) resumes the process. */
int bm_freeze_check(pid_t pid, bool tree, struct bm_proc_stat *stat, struct bm_proc_status *status);
int bm_freeze_stop(pid_t pid, struct bm_frozen *f);
/* Once pid is stopped, its stat and status again: what the checks read
 * before the stop may have changed since (an execve sets the memory
 * layout and the name anew, setsid the session, setuid the ids), and
 * the model is made of what the stopped process is. */
int bm_freeze_reread(pid_t pid, struct bm_proc_stat *stat, struct bm_proc_status *status);
int bm_freeze_collect(struct bm_frozen *f, const struct bm_proc_stat *stat, const struct bm_proc_status *status,
		      const struct bm_fd_policy *policy, bool tree, bool table_elsewhere);

/* The frozen processes of f: f itself, or each member of its tree. */
size_t bm_frozen_count(const struct bm_frozen *f);
struct bm_frozen *bm_frozen_at(struct bm_frozen *f, size_t i);

/* The system calls injected so far into the processes of f. */
int64_t bm_frozen_injected(const struct bm_frozen *f);

/* Writes the whole image (process sections, pages, END) to the writer. */
int bm_checkpoint(struct bm_frozen *f, struct bm_image_writer *w, struct bm_stats *st);

/* Source, frozen, nothing left to inject before the image: every thread
 * gets the registers and signal mask it resumes with (those bm_release
 * gives it) and is parked (bm_park).  Should binmig die from then on, the
 * kernel's implicit detach lets the process run on where it stopped;
 * without it the thread last injected into would resume inside the
 * injected call with every signal blocked, its single-step's SIGTRAP
 * delivered (a core dump).  What bm_release(f, false) does besides is not
 * done then: file locks let go and socket names stashed stay so
 * (migrate.c's let_go).  bm_frozen_unpark blocks signals again for
 * injections after it.  0, or the error reported. */
int bm_frozen_park(struct bm_frozen *f);
void bm_frozen_unpark(struct bm_frozen *f);

/* Ends the freeze: terminate (SIGKILL, waits until it is gone) or resume
 * the process where it stopped.  Frees f. */
int bm_release(struct bm_frozen *f, bool terminate);

/* Parts of bm_freeze, one file each. */
int bm_collect_vmas(pid_t pid, struct bm_frozen *f);
/* One member of a tree after another: seen says which shared memory the
 * members before stored (shmem.h); count, or NULL, only counts the pages
 * written in its counted ranges (its skip list must be empty). */
struct bm_shmem_seen;
struct bm_page_skip;
int bm_write_pages(pid_t pid, const struct bm_process *p, struct bm_image_writer *w, struct bm_stats *st,
		   struct bm_shmem_seen *seen, const struct bm_page_skip *count);
int bm_write_pages_skip(pid_t pid, const struct bm_process *p, struct bm_image_writer *w, struct bm_stats *st,
			const struct bm_page_skip *skip);
/* The pending signals of one queue of a stopped thread (SHARED: its
 * process's) without taking them, into a malloc'd array (PTRACE_PEEKSIGINFO). */
int bm_peek_pending(pid_t tid, bool shared, struct bm_siginfo **out, uint32_t *n);
/* A standard signal can be pending with no siginfo queued: the kernel
 * could not allocate one (RLIMIT_SIGPENDING reached), and delivers it as
 * one sent by kill from pid 0, uid 0.  Such signals show only in the
 * pending mask of /proc/TID/status; each is added to *OUT (as
 * bm_peek_pending filled it) as it will be delivered. */
int bm_pending_add_unqueued(pid_t tid, bool shared, struct bm_siginfo **out, uint32_t *n);
/* Registers a thread must resume with: those of the stop, with the restart
 * decision of the stop analysis applied for a thread that resumes in a new
 * process (new_process) or in the original one. */
void bm_resume_regs(const struct bm_thread *t, struct user_regs_struct *regs, bool new_process);

#endif
