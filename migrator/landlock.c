/* Landlock domains, refused at dump (landlock.h). */
#include "landlock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <string.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"

#define SYS_LANDLOCK_CREATE_RULESET 444
#define LANDLOCK_CREATE_RULESET_VERSION_ 1u
#define SYS_KCMP 312
#define KCMP_VM_ 1
#define LINUX_CAPABILITY_VERSION_3_ 0x20080522

/* The witness's own part: its ids and no capabilities, then it says so
 * and waits to be killed. */
static void witness(uid_t uid, gid_t gid, int ready)
{
	struct {
		uint32_t version;
		int32_t pid;
	} hdr = {LINUX_CAPABILITY_VERSION_3_, 0};
	uint32_t none[6] = {0};
	/* (the access check looks at no supplementary group) */
	char ok = setresgid(gid, gid, gid) == 0 && setresuid(uid, uid, uid) == 0 &&
		  syscall(SYS_capset, &hdr, none) == 0 && prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) == 0;
	if (write(ready, &ok, 1) != 1 || !ok)
		_exit(1);
	close(ready);
	for (;;)
		pause();
}

int bm_landlock_witness_start(uid_t uid, gid_t gid, struct bm_landlock_witness *w)
{
	w->pid = 0;
	if (syscall(SYS_LANDLOCK_CREATE_RULESET, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION_) < 0)
		return 0; /* no Landlock here (ENOSYS, EOPNOTSUPP): no domain either */
	int pipefd[2];
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return bm_error_errno(BM_EXIT_FAILURE, errno, "pipe");
	pid_t pid = fork();
	if (pid < 0) {
		int e = errno;
		close(pipefd[0]);
		close(pipefd[1]);
		return bm_error_errno(BM_EXIT_FAILURE, e, "fork of a witness for the Landlock check");
	}
	if (pid == 0) {
		close(pipefd[0]);
		witness(uid, gid, pipefd[1]);
	}
	close(pipefd[1]);
	char ok = 0;
	ssize_t got = read(pipefd[0], &ok, 1);
	close(pipefd[0]);
	w->pid = pid;
	if (got != 1 || !ok) {
		bm_landlock_witness_stop(w);
		return bm_error(BM_EXIT_FAILURE, "the witness for the Landlock check could not take user %u, group %u",
				(unsigned)uid, (unsigned)gid);
	}
	return 0;
}

void bm_landlock_witness_stop(struct bm_landlock_witness *w)
{
	if (w->pid <= 0)
		return;
	kill(w->pid, SIGKILL);
	while (waitpid(w->pid, NULL, 0) < 0 && errno == EINTR)
		;
	w->pid = 0;
}

/* Whether process PID is in binmig's user namespace; a process in another
 * could not inspect the witness in any case (its capabilities are of its
 * own namespace). */
static bool own_user_namespace(pid_t pid, bool *same)
{
	char path[64], theirs[64], ours[64];
	snprintf(path, sizeof path, "/proc/%d/ns/user", (int)pid);
	ssize_t a = readlink(path, theirs, sizeof theirs - 1), b = readlink("/proc/self/ns/user", ours, sizeof ours - 1);
	if (a < 0 || b < 0)
		return false;
	*same = a == b && memcmp(theirs, ours, (size_t)a) == 0;
	return true;
}

int bm_landlock_check(pid_t pid, struct bm_tracee *tracees, size_t n, uid_t uid, gid_t gid)
{
	bool same;
	if (!own_user_namespace(pid, &same))
		return bm_error_errno(BM_EXIT_TARGET, errno, "cannot read the user namespace of process %d", pid);
	if (!same)
		return 0; /* not seen: docs/process-state.md */
	struct bm_landlock_witness w;
	int rc = bm_landlock_witness_start(uid, gid, &w);
	for (size_t i = 0; rc == 0 && w.pid && i < n; i++) {
		long r;
		if ((rc = bm_inject(&tracees[i], SYS_KCMP, (uint64_t)pid, (uint64_t)w.pid, KCMP_VM_, 0, 0, 0, &r)) < 0)
			break;
		if (r == -EPERM)
			rc = bm_error(BM_EXIT_UNSUPPORTED,
				      "thread %d of process %d is in a Landlock domain (landlock_restrict_self; it may not "
				      "inspect a process of its own user outside it), which binmig can neither read nor "
				      "make again; binmig cannot migrate it",
				      tracees[i].tid, pid);
		else if (r < 0)
			rc = bm_error_errno(BM_EXIT_FAILURE, (int)-r, "kcmp in thread %d", tracees[i].tid);
	}
	bm_landlock_witness_stop(&w);
	return rc;
}
