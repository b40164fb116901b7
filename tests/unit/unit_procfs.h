/* Helpers of the /proc reader tests (test_procfs*.c): the captured
 * samples of tests/unit/samples/ (see README there), copies that end
 * exactly where a cut does, temporary files. */
#ifndef BINMIG_UNIT_PROCFS_H
#define BINMIG_UNIT_PROCFS_H

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "procfs.h"

static inline const char *samples_dir(void)
{
	static char dir[PATH_MAX];
	if (dir[0] == '\0') {
		const char *root = getenv("BINMIG_ROOT");
		if (root != NULL) {
			snprintf(dir, sizeof dir, "%s/tests/unit/samples", root);
		} else {
			/* Built from the repository root: __FILE__ is tests/unit/unit_procfs.h. */
			snprintf(dir, sizeof dir, "%s", __FILE__);
			char *slash = strrchr(dir, '/');
			snprintf(slash ? slash + 1 : dir, sizeof dir - (size_t)(slash ? slash + 1 - dir : 0), "samples");
		}
	}
	return dir;
}

static inline char *read_sample(const char *name)
{
	char path[PATH_MAX + 64];
	char *text;
	snprintf(path, sizeof path, "%s/%s", samples_dir(), name);
	int r = bm_read_text(path, &text, NULL);
	if (r < 0)
		fail_msg("cannot read sample %s: %s", path, strerror(-r));
	return text;
}

/* A heap copy of exactly len bytes plus NUL, so ASan sees any overread. */
static inline char *dup_prefix(const char *s, size_t len)
{
	char *copy = malloc(len + 1);
	assert_non_null(copy);
	memcpy(copy, s, len);
	copy[len] = '\0';
	return copy;
}

static inline size_t offset_after(const char *text, const char *needle)
{
	const char *p = strstr(text, needle);
	if (p == NULL)
		fail_msg("'%s' not in sample", needle);
	return (size_t)(p - text) + strlen(needle);
}

static inline int make_temp_file(char *path, size_t size)
{
	snprintf(path, size, "/tmp/bm-test-procfs-XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	return fd;
}

#endif
