/* Descriptors in flight that the process does not hold: given to it for
 * the dump, closed after the restore (sk_unix_adopt.h). */
#include "sk_unix_adopt.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <linux/kcmp.h>

#include "checkpoint.h"
#include "fd_policy.h"
#include "log.h"
#include "ptrace_ctl.h"
#include "sk_unix.h"
#include "sk_unix_take.h"

/* ---- noting what is in flight ---- */

static bool same_description(pid_t a_pid, int a, pid_t b_pid, int b)
{
	return syscall(SYS_kcmp, a_pid, b_pid, KCMP_FILE, a, b) == 0;
}

int bm_unix_adopt_note(struct bm_unix_adoption *a, int via, const int *fl, uint32_t n)
{
	pid_t self = getpid();
	for (uint32_t k = 0; k < n; k++) {
		bool known = false;
		for (uint32_t j = 0; j < a->p->nfds && !known; j++)
			known = a->p->fds[j].kind != BM_FD_CLOSED && same_description(self, fl[k], a->p->pid, a->p->fds[j].fd);
		for (uint32_t j = 0; j < a->n && !known; j++)
			known = same_description(self, fl[k], self, a->fl[j]);
		if (known)
			continue;
		if (a->n == BM_UNIX_ADOPT_MAX)
			return bm_error(BM_EXIT_UNSUPPORTED, "process %d has more than %u open files in flight (SCM_RIGHTS) in "
					"its unix socket queues that it holds no descriptor of; binmig cannot migrate it",
					a->p->pid, BM_UNIX_ADOPT_MAX);
		int copy = fcntl(fl[k], F_DUPFD_CLOEXEC, 0);
		if (copy < 0)
			return bm_error_errno(BM_EXIT_FAILURE, errno, "cannot keep a descriptor in flight of process %d",
					      a->p->pid);
		a->via[a->n] = via;
		a->fl[a->n++] = copy;
	}
	return 0;
}

void bm_unix_adoption_free(struct bm_unix_adoption *a)
{
	for (uint32_t k = 0; k < a->n; k++)
		close(a->fl[k]);
	a->n = 0;
}

/* ---- which descriptors were given, per process ---- */

struct given {
	pid_t pid;
	int fd;
	int via;
};
static struct given *given;
static size_t ngiven, given_cap;

static int remember(pid_t pid, int fd, int via)
{
	if (ngiven == given_cap) {
		size_t cap = given_cap ? 2 * given_cap : 16;
		struct given *g = realloc(given, cap * sizeof *g);
		if (!g)
			return bm_error(BM_EXIT_FAILURE, "out of memory");
		given = g;
		given_cap = cap;
	}
	given[ngiven++] = (struct given){pid, fd, via};
	return 0;
}

bool bm_unix_adopted(pid_t pid, int fd, int *via)
{
	for (size_t i = 0; i < ngiven; i++)
		if (given[i].pid == pid && given[i].fd == fd) {
			if (via)
				*via = given[i].via;
			return true;
		}
	return false;
}

void bm_unix_adopt_forget(pid_t pid)
{
	size_t kept = 0;
	for (size_t i = 0; i < ngiven; i++)
		if (given[i].pid != pid)
			given[kept++] = given[i];
	ngiven = kept;
	if (!ngiven) {
		free(given);
		given = NULL;
		given_cap = 0;
	}
}

/* ---- checks before anything is given ---- */

/* Closing a descriptor releases every POSIX lock its process holds on the
 * file, whichever descriptor took it: a file in flight that the process
 * has POSIX locks on cannot be adopted and closed again. */
static int refuse_posix_locked(pid_t pid, const struct bm_unix_adoption *a)
{
	FILE *locks = fopen("/proc/locks", "re");
	if (!locks)
		return bm_error_errno(BM_EXIT_TARGET, errno, "cannot read /proc/locks");
	char line[256];
	int rc = 0;
	while (rc == 0 && fgets(line, sizeof line, locks)) {
		char kind[16];
		int owner;
		unsigned maj, min;
		uint64_t ino;
		/* "1: POSIX  ADVISORY  WRITE 4711 fe:00:1234 0 EOF"; a blocked
		 * waiter's line starts "1: -> POSIX ...": it holds nothing. */
		if (sscanf(line, "%*d: %15s %*s %*s %d %x:%x:%" SCNu64, kind, &owner, &maj, &min, &ino) != 5 ||
		    strcmp(kind, "POSIX") != 0 || owner != pid)
			continue;
		for (uint32_t k = 0; k < a->n; k++) {
			struct stat st;
			if (fstat(a->fl[k], &st) == 0 && st.st_ino == ino && major(st.st_dev) == maj &&
			    minor(st.st_dev) == min) {
				rc = bm_error(BM_EXIT_UNSUPPORTED, "process %d has a file in flight (SCM_RIGHTS) in the queue "
					      "of its socket fd %d, with no descriptor of its own, on which it holds POSIX "
					      "locks (inode %" PRIu64 "); binmig would release them, and cannot migrate it",
					      pid, a->via[k], ino);
				break;
			}
		}
	}
	fclose(locks);
	return rc;
}

/* The lowest number the adopted descriptors may take: above every
 * descriptor of the process and every one a --fd rule names, so that no
 * rule applies to them, and above the standard three. */
static int first_free(const struct bm_process *p, const struct bm_fd_policy *policy)
{
	int base = 3;
	for (uint32_t i = 0; i < p->nfds; i++)
		if (p->fds[i].fd >= base)
			base = p->fds[i].fd + 1;
	for (size_t i = 0; policy && i < policy->nrules; i++)
		if (policy->rules[i].fd >= base)
			base = policy->rules[i].fd + 1;
	return base;
}

/* ---- giving them to the process ---- */

/* Layout of the scratch page for the injected calls. */
#define OFF_PAIR 0u     /* int[2] from socketpair */
#define OFF_MSG 64u     /* struct msghdr */
#define OFF_IOV 192u    /* struct iovec */
#define OFF_BYTE 256u   /* the one byte each message carries */
#define OFF_CTL 512u    /* control buffer */
#define CTL_SPACE CMSG_SPACE(BM_UNIX_MAX_RIGHTS * sizeof(int))
_Static_assert(OFF_CTL + CTL_SPACE <= BM_SCRATCH_SIZE, "the control buffer fits the scratch page");

struct giving {
	struct bm_tracee *tr;
	pid_t pid;
	uint64_t scratch;
	int pair[2];     /* in the process */
	int sender;      /* binmig's copy of pair[0] */
};

/* Runs system call NR in the process: its result, or negative after
 * reporting (what names it). */
static long call(struct giving *g, const char *what, long nr, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4)
{
	long ret;
	int rc = bm_inject(g->tr, nr, a1, a2, a3, a4, 0, 0, &ret);
	if (rc < 0)
		return rc; /* reported */
	if (ret < 0)
		return bm_error_errno(BM_EXIT_TARGET, (int)-ret, "process %d: %s, run to give it its open files in "
				      "flight", g->pid, what);
	return ret;
}

/* Sends FL[0..n) (n <= BM_UNIX_MAX_RIGHTS; found in the queues of VIA)
 * over the pair, receives them in the process and moves each above every
 * number in use.  Each one placed is remembered (to be closed again on
 * any failure). */
static int give_batch(struct giving *g, const int *fl, const int *via, uint32_t n, int *next)
{
	const struct ucred none = {0, 0, 0};
	ssize_t sent = bm_unix_send_piece(g->sender, (const uint8_t *)"a", 1, &none, fl, n, NULL, 0);
	if (sent != 1)
		return bm_error_errno(BM_EXIT_FAILURE, sent < 0 ? (int)-sent : EIO, "cannot pass process %d its open files "
				      "in flight", g->pid);
	union {
		struct cmsghdr align;
		char bytes[CTL_SPACE];
	} control;
	memset(&control, 0, sizeof control);
	struct cmsghdr *c;

	/* The process's recvmsg, its buffers in the scratch page. */
	struct iovec riov = {(void *)(uintptr_t)(g->scratch + OFF_BYTE), 1};
	struct msghdr rmh = {.msg_iov = (void *)(uintptr_t)(g->scratch + OFF_IOV), .msg_iovlen = 1,
			     .msg_control = (void *)(uintptr_t)(g->scratch + OFF_CTL), .msg_controllen = CTL_SPACE};
	int rc = bm_mem_write(g->pid, g->scratch + OFF_IOV, &riov, sizeof riov);
	if (rc == 0)
		rc = bm_mem_write(g->pid, g->scratch + OFF_MSG, &rmh, sizeof rmh);
	if (rc < 0)
		return bm_error_errno(BM_EXIT_TARGET, -rc, "cannot write to process %d", g->pid);
	long got = call(g, "recvmsg", SYS_recvmsg, (uint64_t)g->pair[1], g->scratch + OFF_MSG,
			MSG_DONTWAIT | MSG_CMSG_CLOEXEC, 0);
	if (got < 0)
		return (int)got;
	if ((rc = bm_mem_read(g->pid, g->scratch + OFF_MSG, &rmh, sizeof rmh)) < 0 ||
	    (rc = bm_mem_read(g->pid, g->scratch + OFF_CTL, &control, sizeof control)) < 0)
		return bm_error_errno(BM_EXIT_TARGET, -rc, "cannot read from process %d", g->pid);
	/* The kernel installs what fits and truncates the rest (MSG_CTRUNC);
	 * the control buffer read back holds the process's numbers. */
	rmh.msg_control = &control;
	int fds[BM_UNIX_MAX_RIGHTS];
	uint32_t have = 0;
	for (c = CMSG_FIRSTHDR(&rmh); c; c = CMSG_NXTHDR(&rmh, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
			for (size_t k = 0; k < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int) && have < n; k++)
				memcpy(&fds[have++], CMSG_DATA(c) + k * sizeof(int), sizeof(int));
	/* Moved above every number the batch and the pair took, so that no
	 * move lands on a descriptor still to be moved. */
	for (uint32_t k = 0; k < have; k++)
		if (fds[k] >= *next)
			*next = fds[k] + 1;
	for (int i = 0; i < 2; i++)
		if (g->pair[i] >= *next)
			*next = g->pair[i] + 1;
	rc = have < n ? -EMFILE : 0;
	for (uint32_t k = 0; k < have; k++) {
		long ret;
		if (rc == 0 && (rc = bm_inject(g->tr, SYS_dup3, (uint64_t)fds[k], (uint64_t)*next, O_CLOEXEC, 0, 0, 0,
					       &ret)) == 0 && ret < 0)
			rc = (int)ret;
		if (rc == 0 && (rc = remember(g->pid, *next, via[k])) < 0)
			bm_inject(g->tr, SYS_close, (uint64_t)*next, 0, 0, 0, 0, 0, &ret);
		if (rc == 0)
			(*next)++;
		bm_inject(g->tr, SYS_close, (uint64_t)fds[k], 0, 0, 0, 0, 0, &ret);
	}
	if (rc == -EMFILE || rc == -EBADF)
		return bm_error(BM_EXIT_UNSUPPORTED, "process %d has no room in its descriptor table (RLIMIT_NOFILE) for "
				"the %u open files in flight in its unix socket queues that it holds no descriptor of; "
				"binmig cannot migrate it", g->pid, n);
	if (rc < 0 && !bm_error_reported())
		return bm_error_errno(BM_EXIT_TARGET, -rc, "cannot give process %d its open files in flight", g->pid);
	return rc;
}

/* Closes what was given to process PID, through tracee TR. */
static int take_back(struct bm_tracee *tr, pid_t pid)
{
	int rc = 0;
	for (size_t i = 0; i < ngiven; i++) {
		if (given[i].pid != pid)
			continue;
		long ret;
		int r = bm_inject(tr, SYS_close, (uint64_t)given[i].fd, 0, 0, 0, 0, 0, &ret);
		if ((r < 0 || ret < 0) && rc == 0)
			rc = bm_error_errno(BM_EXIT_TARGET, r < 0 ? -r : (int)-ret, "cannot close fd %d that binmig gave "
					    "process %d (an open file in flight)", given[i].fd, pid);
	}
	bm_unix_adopt_forget(pid);
	return rc;
}

static int give(struct bm_frozen *f, const struct bm_unix_adoption *a, int base)
{
	struct giving g = {&f->tracees[0], f->pid, 0, {-1, -1}, -1};
	int rc = bm_scratch_map(g.tr, &g.scratch);
	if (rc < 0)
		return rc;
	long r = call(&g, "socketpair", SYS_socketpair, AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, g.scratch + OFF_PAIR);
	if (r < 0)
		rc = (int)r;
	else if ((rc = bm_mem_read(g.pid, g.scratch + OFF_PAIR, g.pair, sizeof g.pair)) < 0)
		rc = bm_error_errno(BM_EXIT_TARGET, -rc, "cannot read from process %d", g.pid);
	else if ((g.sender = bm_fd_copy(g.pid, g.pair[0])) < 0)
		rc = bm_error_errno(BM_EXIT_TARGET, errno, "cannot take a copy of a socket made in process %d", g.pid);
	int next = base;
	for (uint32_t k = 0; rc == 0 && k < a->n; k += BM_UNIX_MAX_RIGHTS)
		rc = give_batch(&g, a->fl + k, a->via + k, a->n - k < BM_UNIX_MAX_RIGHTS ? a->n - k : BM_UNIX_MAX_RIGHTS,
				&next);
	if (g.sender >= 0)
		close(g.sender);
	for (int i = 0; i < 2; i++) {
		long ret;
		if (g.pair[i] >= 0)
			bm_inject(g.tr, SYS_close, (uint64_t)g.pair[i], 0, 0, 0, 0, 0, &ret);
	}
	int rc2 = bm_scratch_unmap(g.tr, g.scratch);
	return rc < 0 ? rc : rc2 < 0 ? bm_error_errno(BM_EXIT_TARGET, -rc2, "cannot unmap binmig's page in process %d",
						      g.pid) : 0;
}

int bm_unix_adopt(struct bm_frozen *f, const struct bm_fd_policy *policy, int round)
{
	struct bm_unix_adoption *a = calloc(1, sizeof *a);
	if (!a)
		return bm_error(BM_EXIT_FAILURE, "out of memory");
	a->p = &f->proc;
	int rc = bm_unix_gather_in_flight(&f->proc, a);
	if (rc == 0 && a->n && round >= BM_UNIX_ADOPT_ROUNDS)
		rc = bm_error(BM_EXIT_UNSUPPORTED, "process %d has open files in flight (SCM_RIGHTS) inside open files in "
			      "flight more than %d deep; binmig cannot migrate it", f->pid, BM_UNIX_ADOPT_ROUNDS);
	if (rc == 0 && a->n)
		rc = refuse_posix_locked(f->pid, a);
	if (rc == 0 && a->n) {
		rc = give(f, a, first_free(&f->proc, policy));
		if (rc < 0)
			take_back(&f->tracees[0], f->pid);
	}
	uint32_t n = a->n;
	bm_unix_adoption_free(a);
	free(a);
	return rc < 0 ? rc : (int)n;
}

int bm_unix_adopt_release(struct bm_frozen *f)
{
	bool any = false;
	for (size_t i = 0; i < ngiven && !any; i++)
		any = given[i].pid == f->pid;
	if (!any || !f->ntracees || !f->tracees[0].sigmask_blocked)
		return 0;
	/* A parked thread (bm_frozen_park) has its own mask back: no signal may
	 * arrive while the calls run (bm_release puts the mask back after). */
	bm_frozen_unpark(f);
	return take_back(&f->tracees[0], f->pid);
}

/* ---- restore ---- */

int bm_unix_adopt_close(const struct bm_process *p, char *err, size_t errlen)
{
	for (uint32_t i = 0; i < p->nfds; i++)
		if (p->fds[i].in_flight && close(p->fds[i].fd) < 0) {
			snprintf(err, errlen, "fd %d (only in flight): close: %s", p->fds[i].fd, strerror(errno));
			return -1;
		}
	return 0;
}
