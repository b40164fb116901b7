/* The credentials an open file keeps from its opening (fd_opener.h). */
#include "fd_opener.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "creds.h"
#include "fault.h"
#include "fd_policy.h"
#include "fd_tail.h"
#include "kstate.h"
#include "log.h"

bool bm_fd_opener_wanted(const struct bm_fd *d)
{
	bool by_name = d->kind == BM_FD_REGULAR || d->kind == BM_FD_DIRECTORY || d->kind == BM_FD_DEVICE ||
		       d->kind == BM_FD_FIFO;
	return by_name && d->path && d->shares_with < 0 && d->replaced == BM_FD_CARRIED;
}

/* ==== dump ==== */

/* Takes what the programs read of D's opener (O) into D: 0, or -1 where
 * it is refused. */
static int take_opener(const struct bm_process *p, struct bm_fd *d, const struct bm_kstate_opener *o)
{
	if (o->parts != BM_KSTATE_OPENER_ALL || o->groups_read != o->creds.ngroups) {
		bm_debug("process %d: fd %d: its opener was not read whole: opened again as binmig", p->pid, d->fd);
		return 0;
	}
	if (o->ngroups > BM_MAX_GROUPS) {
		char detail[120];
		snprintf(detail, sizeof detail, ", opened by a process of %u supplementary groups (binmig carries %d)",
			 o->ngroups, BM_MAX_GROUPS);
		return bm_fd_refuse(p->pid, d->fd, d->path, d->mode, detail);
	}
	if (!(d->opener = malloc(sizeof *d->opener)))
		return bm_error(BM_EXIT_FAILURE, "out of memory");
	*d->opener = o->creds;
	return 0;
}

int bm_fd_openers_collect(struct bm_process *p)
{
	bool *ask = calloc(p->nfds + 1, sizeof *ask), any = false;
	struct bm_kstate_opener *openers = calloc(p->nfds + 1, sizeof *openers);
	int rc = ask && openers ? 0 : bm_error(BM_EXIT_FAILURE, "out of memory");
	for (uint32_t i = 0; rc == 0 && i < p->nfds; i++) {
		ask[i] = bm_fd_opener_wanted(&p->fds[i]);
		any |= ask[i];
	}
	char why[700];
	if (rc == 0 && any && bm_kstate_openers(p, ask, openers, why, sizeof why) < 0) {
		bm_debug("process %d: %s: the files it opened by name are opened again with binmig's credentials", p->pid,
			 why);
		any = false;
	}
	for (uint32_t i = 0; rc == 0 && any && i < p->nfds; i++)
		if (ask[i])
			rc = take_opener(p, &p->fds[i], &openers[i]);
	free(ask);
	free(openers);
	return rc;
}

/* ==== the image (version 18) ==== */

static bool has_opener(const struct bm_fd *d)
{
	return d->opener != NULL;
}

static void put_opener(struct bm_wbuf *b, const struct bm_fd *d)
{
	bm_creds_encode(b, d->opener);
}

static bool take_image_opener(struct bm_rcur *c, struct bm_fd *d, char *why, size_t n)
{
	struct bm_creds got;
	bm_creds_decode(c, &got);
	if (bm_rcur_failed(c))
		return true; /* said by the cursor */
	if (d->opener || !bm_fd_opener_wanted(d)) {
		snprintf(why, n, "%s", d->opener ? "a second opener" : "an opener of a descriptor not opened by name");
		return false;
	}
	/* No credentials hold the id -1, which setresuid would read as
	 * "unchanged", leaving the opening task binmig's. */
	for (int k = 0; k < 4; k++)
		if (got.uid[k] == UINT32_MAX || got.gid[k] == UINT32_MAX) {
			snprintf(why, n, "an opener with the id -1, which no credentials hold");
			return false;
		}
	if (!(d->opener = malloc(sizeof *d->opener))) {
		bm_rcur_nomem(c);
		return true;
	}
	*d->opener = got;
	return true;
}

void bm_fd_openers_encode(struct bm_wbuf *b, const struct bm_process *p)
{
	bm_fd_tail_encode(b, p, has_opener, put_opener);
}

/* An entry's least size: its fd, eight ids, a count of groups and five
 * capability sets. */
#define OPENER_MIN_SIZE (4 + 8 * 4 + 4 + 5 * 8)

void bm_fd_openers_decode(struct bm_rcur *c, struct bm_process *p)
{
	bm_fd_tail_decode(c, p, OPENER_MIN_SIZE, "opener", take_image_opener);
}

/* ==== restore ==== */

/* binmig's own credentials, read once per process (a tree's members are
 * made by forks of binmig, each with its credentials until the restore
 * sets theirs, after the descriptors). */
static struct {
	long pid; /* whose; 0: not read */
	int rc;
	struct bm_creds creds;
} self;

static bool is_self(const struct bm_creds *c)
{
	long pid = syscall(SYS_getpid);
	if (self.pid != pid) {
		self.pid = pid;
		self.rc = bm_creds_of_self(&self.creds);
	}
	return self.rc == 0 && bm_creds_equal(c, &self.creds);
}

/* What the child does, and what it found. */
struct opening {
	const struct bm_fd *d;
	int (*open)(const struct bm_fd *d);
	int result;       /* the descriptor, or -errno */
	const char *step; /* where it failed: a part of taking the credentials, or "open" */
};

static int open_as(void *arg)
{
	struct opening *o = arg;
	int rc = bm_creds_take(o->d->opener, &o->step);
	if (rc == 0 && (rc = o->open(o->d)) < 0)
		o->step = "open";
	o->result = rc;
	return 0;
}

/* The child's stack, enough for an open and the libc calls around it,
 * above a page it may not touch: an overflow faults rather than writes
 * over the caller's memory. */
#define STACK_SIZE (256 * 1024)
#define GUARD_SIZE 4096

int bm_fd_open_as_opener(const struct bm_fd *d, int (*open)(const struct bm_fd *d), const char **step)
{
	*step = NULL;
	if (!d->opener || is_self(d->opener))
		return open(d);
	char *stack = mmap(NULL, GUARD_SIZE + STACK_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK,
			   -1, 0);
	if (stack == MAP_FAILED || mprotect(stack, GUARD_SIZE, PROT_NONE) < 0) {
		*step = "its stack";
		int e = errno;
		if (stack != MAP_FAILED)
			munmap(stack, GUARD_SIZE + STACK_SIZE);
		return -e;
	}
	/* Its descriptor lands in the shared table; its memory is the
	 * caller's, who waits (CLONE_VFORK) until it has exited.  Taking
	 * other credentials makes that memory not dumpable (commit_creds):
	 * the caller's is put back as it was.  It is one task more, for a
	 * moment, in the caller's cgroups (their pids.max counts it). */
	long dumpable = syscall(SYS_prctl, PR_GET_DUMPABLE, 0, 0, 0, 0);
	struct opening o = {d, open, -ECHILD, "the task opening it, which ended early"};
	int pid = bm_fault(BM_FP_OPENER_TASK)
			  ? -1
			  : clone(open_as, stack + GUARD_SIZE + STACK_SIZE, CLONE_VM | CLONE_FILES | CLONE_VFORK | SIGCHLD, &o);
	int rc = pid < 0 ? -errno : 0;
	while (pid > 0 && waitpid(pid, NULL, __WALL) < 0 && errno == EINTR)
		;
	munmap(stack, GUARD_SIZE + STACK_SIZE);
	if ((dumpable == 0 || dumpable == 1) && syscall(SYS_prctl, PR_GET_DUMPABLE, 0, 0, 0, 0) != dumpable)
		syscall(SYS_prctl, PR_SET_DUMPABLE, dumpable, 0, 0, 0);
	if (rc < 0) {
		*step = "clone (a task to open it as its opener)";
		return rc;
	}
	if (o.result < 0)
		*step = o.step;
	return o.result;
}
