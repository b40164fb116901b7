/* A session's autogroup and its nice value (autogroup.h). */
#include "autogroup.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "procfs.h"

bool bm_autogroup_parse(const char *text, int32_t *nice)
{
	const char *at = strstr(text, " nice ");
	if (strncmp(text, "/autogroup-", 11) != 0 || !at)
		return false;
	char *end;
	long v = strtol(at + 6, &end, 10);
	if (end == at + 6 || (*end && *end != '\n') || v < -20 || v > 19)
		return false;
	*nice = (int32_t)v;
	return true;
}

/* PID's autogroup's nice value; ENOENT: a kernel without autogroups. */
static int read_nice(pid_t pid, int32_t *nice)
{
	char *text;
	int rc = bm_read_proc_text(pid, "autogroup", &text);
	if (rc < 0)
		return rc;
	bool ok = bm_autogroup_parse(text, nice);
	free(text);
	return ok ? 0 : -EINVAL;
}

int bm_autogroup_collect(pid_t pid, struct bm_attrs *a)
{
	a->autogroup_nice = 0;
	a->autogroup_own = getsid(pid) == pid;
	int rc = read_nice(pid, &a->autogroup_nice);
	if (rc == -ENOENT)
		return 0;
	return rc < 0 ? bm_error_errno(BM_EXIT_TARGET, -rc, "cannot read /proc/%d/autogroup", pid) : 0;
}

int bm_autogroup_apply(pid_t pid, const struct bm_attrs *a)
{
	/* The session the restore made (its own, a tree's, or a stand-in's
	 * for a leader that had exited) has a new autogroup: every member
	 * carries its nice value, which the session's processes shared.  The
	 * restorer's session, where a process lands that did not lead its
	 * own, is not the process's: left as it is. */
	pid_t sid = getsid(pid);
	if (sid < 0)
		return bm_error_errno(BM_EXIT_FAILURE, errno, "restoring process %d: cannot read its session", pid);
	if (sid == getsid(0))
		return 0;
	int32_t now;
	int rc = read_nice(pid, &now);
	if (rc == -ENOENT && a->autogroup_nice == 0)
		return 0;
	if (rc < 0)
		return bm_error_errno(rc == -ENOENT ? BM_EXIT_CONFLICT : BM_EXIT_FAILURE, -rc,
				      "restoring process %d: cannot read its autogroup (it had nice %d)", pid,
				      a->autogroup_nice);
	if (now == a->autogroup_nice)
		return 0;
	char value[16];
	snprintf(value, sizeof value, "%d", a->autogroup_nice);
	rc = bm_write_proc_text(pid, "autogroup", value);
	return rc == 0 ? 0
		       : bm_error_errno(BM_EXIT_FAILURE, -rc, "restoring process %d: cannot give its autogroup nice %d",
					pid, a->autogroup_nice);
}
