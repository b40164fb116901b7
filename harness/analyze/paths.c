#include "paths.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int present(const char *root, const char *relative)
{
	char path[PATH_MAX];
	int n = snprintf(path, sizeof path, "%s/%s", root, relative);
	return n > 0 && (size_t)n < sizeof path && access(path, R_OK) == 0;
}

int find_in_tree(const char *relative, char *root, size_t len)
{
	const char *env = getenv("BINMIG_ROOT");
	if (env && *env && present(env, relative)) {
		snprintf(root, len, "%s", env);
		return 0;
	}
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (n <= 0)
		return -ENOENT;
	exe[n] = '\0';
	char dir[PATH_MAX];
	directory_of(exe, dir, sizeof dir);
	static const char *const up[] = { "", "/..", "/../.." };
	for (size_t i = 0; i < sizeof up / sizeof up[0]; i++) {
		char candidate[PATH_MAX + 8];
		snprintf(candidate, sizeof candidate, "%s%s", dir, up[i]);
		if (present(candidate, relative)) {
			char resolved[PATH_MAX];
			snprintf(root, len, "%s", realpath(candidate, resolved) ? resolved : candidate);
			return 0;
		}
	}
	return -ENOENT;
}

void directory_of(const char *path, char *dir, size_t len)
{
	const char *slash = strrchr(path, '/');
	if (!slash)
		snprintf(dir, len, ".");
	else if (slash == path)
		snprintf(dir, len, "/");
	else
		snprintf(dir, len, "%.*s", (int)(slash - path), path);
}
