/* Control group membership: read at dump, entered again at restore
 * (cgroup.h). */
#include "cgroup.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image_model.h"
#include "log.h"
#include "procfs.h"

static enum bm_cgroup_mode cgroup_mode = BM_CGROUP_SAME;

void bm_cgroup_set_mode(enum bm_cgroup_mode mode)
{
	cgroup_mode = mode;
}

int bm_cgroup_parse_mode(const char *text, enum bm_cgroup_mode *mode)
{
	if (strcmp(text, "same") == 0)
		*mode = BM_CGROUP_SAME;
	else if (strcmp(text, "here") == 0)
		*mode = BM_CGROUP_HERE;
	else
		return -EINVAL;
	return 0;
}

int bm_cgroup_normalise(const char *text, char *out, size_t out_len, char *why, size_t why_len)
{
	size_t used = 0;
	if (out_len == 0)
		return -EINVAL;
	out[0] = 0;
	for (const char *line = text; *line;) {
		size_t len = strcspn(line, "\n");
		const char *id_end = memchr(line, ':', len);
		const char *ctl_end = id_end ? memchr(id_end + 1, ':', len - (size_t)(id_end + 1 - line)) : NULL;
		if (len > 0) {
			if (!ctl_end || id_end == line || strspn(line, "0123456789") != (size_t)(id_end - line) ||
			    ctl_end[1] != '/') {
				snprintf(why, why_len, "a line \"%.*s\" that is not ID:CONTROLLERS:PATH", (int)len, line);
				return -EINVAL;
			}
			size_t keep = len - (size_t)(id_end + 1 - line);
			if (used + keep + 2 > out_len) {
				snprintf(why, why_len, "more than %zu bytes of cgroup paths", out_len - 1);
				return -E2BIG;
			}
			memcpy(out + used, id_end + 1, keep);
			used += keep;
			out[used++] = '\n';
			out[used] = 0;
		}
		line += len;
		if (*line == '\n')
			line++;
	}
	return 0;
}

bool bm_cgroup_text_valid(const char *text)
{
	if (!text)
		return true;
	for (const char *line = text; *line;) {
		const char *nl = strchr(line, '\n');
		const char *colon = strchr(line, ':');
		if (!nl || !colon || colon > nl || colon[1] != '/')
			return false;
		line = nl + 1;
	}
	return true;
}

/* /proc/PID/NAME in the image's form, malloc'd in *out. */
static int read_normalised(pid_t pid, const char *name, char **out)
{
	char *text, why[200];
	int rc = bm_read_proc_text(pid, name, &text);
	if (rc < 0)
		return bm_error_errno(BM_EXIT_TARGET, -rc, "cannot read /proc/%d/%s", pid, name);
	char *buf = malloc(BM_IMG_MAX_STRING + 1);
	if (!buf) {
		free(text);
		return bm_error(BM_EXIT_FAILURE, "out of memory");
	}
	rc = bm_cgroup_normalise(text, buf, BM_IMG_MAX_STRING + 1, why, sizeof why);
	free(text);
	if (rc < 0) {
		free(buf);
		return rc == -E2BIG ? bm_error(BM_EXIT_UNSUPPORTED, "process %d: %s; binmig carries at most that", pid, why)
				    : bm_error(BM_EXIT_TARGET, "cannot read /proc/%d/%s: %s", pid, name, why);
	}
	*out = buf;
	return 0;
}

int bm_cgroup_collect(pid_t pid, const pid_t *tids, size_t ntids, struct bm_process *p)
{
	int rc = read_normalised(pid, "cgroup", &p->cgroups);
	for (size_t i = 0; rc == 0 && i < ntids; i++) {
		if (tids[i] == pid)
			continue;
		char name[64], *its;
		snprintf(name, sizeof name, "task/%d/cgroup", tids[i]);
		if ((rc = read_normalised(pid, name, &its)) < 0)
			break;
		if (strcmp(its, p->cgroups) != 0) {
			const char *a = its, *b = p->cgroups;
			while (*a && *a == *b) /* name the first line that differs */
				a++, b++;
			while (a > its && a[-1] != '\n')
				a--;
			rc = bm_error(BM_EXIT_UNSUPPORTED, "thread %d of process %d is in another cgroup than the process "
				      "(%.*s); binmig moves a process into one place", tids[i], pid, (int)strcspn(a, "\n"), a);
		}
		free(its);
	}
	return rc;
}

/* --- restore ------------------------------------------------------------- */

/* Whether the comma-separated list SET names every controller of WANT
 * (also comma-separated; "name=systemd" counts as one). */
static bool has_all(const char *set, const char *want, size_t want_len)
{
	for (size_t i = 0; i < want_len;) {
		size_t n = strcspn(want + i, ",");
		if (n > want_len - i)
			n = want_len - i;
		bool found = false;
		for (const char *s = set; *s && !found;) {
			size_t m = strcspn(s, ",");
			found = m == n && strncmp(s, want + i, n) == 0;
			s += m + (s[m] == ',');
		}
		if (!found)
			return false;
		i += n + 1;
	}
	return true;
}

/* The directory of PATH in the hierarchy of CONTROLLERS ("" for cgroup
 * v2) among this machine's mounts: 0 with it in dir, -ENODEV when no
 * such hierarchy is mounted, -ENOENT when it has no such path. */
static int find_dir(const char *mountinfo, const char *controllers, size_t ctl_len, const char *path, char *dir,
		    size_t dir_len)
{
	int rc = -ENODEV;
	for (const char *line = mountinfo; *line;) {
		size_t len = strcspn(line, "\n");
		char buf[4096];
		snprintf(buf, sizeof buf, "%.*s", (int)(len < sizeof buf ? len : sizeof buf - 1), line);
		line += len + (line[len] == '\n');
		char root[PATH_MAX], point[PATH_MAX], fstype[32], source[64], opts[1024];
		char *dash = strstr(buf, " - ");
		if (!dash || sscanf(buf, "%*s %*s %*s %4095s %4095s", root, point) != 2 ||
		    sscanf(dash + 3, "%31s %63s %1023s", fstype, source, opts) != 3)
			continue;
		bool v2 = ctl_len == 0;
		if (v2 ? strcmp(fstype, "cgroup2") != 0 : strcmp(fstype, "cgroup") != 0 || !has_all(opts, controllers, ctl_len))
			continue;
		size_t rlen = strcmp(root, "/") == 0 ? 0 : strlen(root);
		if (rlen && (strncmp(path, root, rlen) != 0 || (path[rlen] && path[rlen] != '/')))
			continue; /* a mount of another part of the hierarchy */
		if ((size_t)snprintf(dir, dir_len, "%s%s", point, path + rlen) >= dir_len)
			continue;
		struct stat st;
		if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode))
			return 0;
		rc = -ENOENT;
	}
	return rc;
}

static bool has_line(const char *text, const char *line, size_t len)
{
	for (const char *s = text; s && *s; s = strchr(s, '\n'), s = s ? s + 1 : NULL)
		if (strncmp(s, line, len) == 0 && s[len] == '\n')
			return true;
	return false;
}

int bm_cgroup_plan(const struct bm_process *p, char **procs)
{
	*procs = NULL;
	if (!p->cgroups || !*p->cgroups)
		return 0; /* an image from before cgroups were carried */
	char *own = NULL, *mountinfo = NULL;
	int rc = read_normalised(getpid(), "cgroup", &own);
	if (rc < 0)
		return rc;
	if (cgroup_mode == BM_CGROUP_HERE) {
		for (const char *line = p->cgroups; *line; line += strcspn(line, "\n") + 1)
			if (!has_line(own, line, strcspn(line, "\n"))) {
				bm_note("process %d stays in binmig's cgroups (--cgroup here), not those it had (%.*s, ...)",
					p->pid, (int)strcspn(line, "\n"), line);
				break;
			}
		free(own);
		return 0;
	}
	if ((rc = bm_read_proc_text(getpid(), "mountinfo", &mountinfo)) < 0) {
		free(own);
		return bm_error_errno(BM_EXIT_FAILURE, -rc, "cannot read /proc/self/mountinfo");
	}
	size_t cap = 0, used = 0;
	char *out = NULL;
	for (const char *line = p->cgroups; rc == 0 && *line;) {
		size_t len = strcspn(line, "\n");
		const char *colon = memchr(line, ':', len);
		char path[PATH_MAX], dir[PATH_MAX];
		snprintf(path, sizeof path, "%.*s", (int)(len - (size_t)(colon + 1 - line)), colon + 1);
		const char *ctl_name = colon == line ? "cgroup v2" : NULL;
		if (!has_line(own, line, len)) {
			int frc = find_dir(mountinfo, line, (size_t)(colon - line), path, dir, sizeof dir);
			if (frc < 0) {
				rc = bm_error(BM_EXIT_CONFLICT, "process %d was in cgroup %s of the %s%.*s hierarchy, which %s here; "
					      "--cgroup here restores it into binmig's own", p->pid, path,
					      ctl_name ? ctl_name : "", ctl_name ? 0 : (int)(colon - line), line,
					      frc == -ENODEV ? "is not mounted" : "has no such cgroup");
				break;
			}
			size_t need = strlen(dir) + sizeof "/cgroup.procs" + 1;
			if (used + need > cap) {
				cap = (used + need) * 2;
				char *grown = realloc(out, cap);
				if (!grown) {
					rc = bm_error(BM_EXIT_FAILURE, "out of memory");
					break;
				}
				out = grown;
			}
			used += (size_t)sprintf(out + used, "%s/cgroup.procs", dir) + 1;
			out[used] = 0;
		}
		line += len + (line[len] == '\n');
	}
	free(own);
	free(mountinfo);
	if (rc < 0)
		free(out);
	else
		*procs = out;
	return rc;
}

int bm_cgroup_enter(const char *procs, char *err, size_t errlen)
{
	for (const char *f = procs; f && *f; f += strlen(f) + 1) {
		int fd = open(f, O_WRONLY | O_CLOEXEC);
		/* "0" is the writer itself, the whole process. */
		if (fd < 0 || write(fd, "0", 1) != 1) {
			snprintf(err, errlen, "cannot enter the cgroup of %s: %s", f, strerror(errno));
			if (fd >= 0)
				close(fd);
			return -1;
		}
		close(fd);
	}
	return 0;
}
