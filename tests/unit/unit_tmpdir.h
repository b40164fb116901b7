/* A scratch directory per test (cmocka setup and teardown): made empty
 * under /tmp before, removed with its contents after, and the recorded
 * error forgotten.  The including test defines UNIT_TMPDIR_NAME. */
#ifndef BINMIG_UNIT_TMPDIR_H
#define BINMIG_UNIT_TMPDIR_H

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

#include "log.h"

static char dir[PATH_MAX];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof dir, "/tmp/binmig-unit-%s.XXXXXX", UNIT_TMPDIR_NAME);
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[PATH_MAX + 16];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	bm_reset_errors();
	return system(cmd) == 0 ? 0 : -1;
}

#endif
