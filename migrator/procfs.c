/* Reading /proc files whole, listing /proc directories (descriptors,
 * threads, children), auxv and links (procfs.h).  The parsers of the files'
 * text are in procfs_maps.c, procfs_status.c, procfs_fdinfo.c and
 * procfs_timers.c, their shared helpers in procfs_text.h. */
#include "procfs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/kcmp.h>
#include <linux/sched.h>
#include <sys/syscall.h>

#include "procfs_text.h"

/* ---- directory listings ---- */

static int compare_int(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;
	return (x > y) - (x < y);
}

/* Numeric entries of a /proc directory, sorted.  With skip_own_fd the
 * directory stream's own descriptor is left out (a process listing its own
 * descriptors would otherwise see it). */
static int list_numeric_dir(const char *path, bool skip_own_fd, int **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	DIR *dir = opendir(path);
	if (dir == NULL)
		return -errno;
	int own_fd = skip_own_fd ? dirfd(dir) : -1;
	int *items = NULL;
	size_t count = 0, cap = 0;
	int r = 0;
	for (;;) {
		errno = 0;
		struct dirent *d = readdir(dir);
		if (d == NULL) {
			r = -errno;
			break;
		}
		if (strcmp(d->d_name, ".") == 0 || strcmp(d->d_name, "..") == 0)
			continue;
		const char *p = d->d_name;
		pid_t value;
		if (parse_pid(&p, &value) < 0 || *p != '\0') {
			r = -EINVAL;
			break;
		}
		if (value == own_fd)
			continue;
		if (count == cap) {
			size_t new_cap = cap ? cap * 2 : 64;
			int *grown = realloc(items, new_cap * sizeof *items);
			if (grown == NULL) {
				r = -ENOMEM;
				break;
			}
			items = grown;
			cap = new_cap;
		}
		items[count++] = value;
	}
	closedir(dir);
	if (r < 0) {
		free(items);
		return r;
	}
	qsort(items, count, sizeof *items, compare_int);
	*out = items;
	*n = count;
	return 0;
}

int bm_list_fds(pid_t pid, int **fds, size_t *n)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
	/* Listing our own table shows the directory's descriptor too. */
	bool self = pid == getpid() || pid == gettid();
	return list_numeric_dir(path, self, fds, n);
}

int bm_list_tids(pid_t pid, pid_t **tids, size_t *n)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
	_Static_assert(sizeof(pid_t) == sizeof(int), "pid_t is listed as int");
	return list_numeric_dir(path, false, (int **)tids, n);
}

int bm_parse_pid_list(const char *text, pid_t *pids, size_t max, size_t *n)
{
	*n = 0;
	const char *p = text;
	for (;;) {
		while (*p == ' ' || *p == '\n')
			p++;
		if (!*p)
			return 0;
		char *end;
		errno = 0;
		long v = strtol(p, &end, 10);
		if (end == p || errno || v <= 0 || v > INT32_MAX || (*end && *end != ' ' && *end != '\n'))
			return -EINVAL;
		if (*n < max)
			pids[*n] = (pid_t)v;
		(*n)++;
		p = end;
	}
}

int bm_list_children(pid_t pid, pid_t *children, size_t max, size_t *n)
{
	pid_t *tids = NULL;
	size_t ntids = 0;
	*n = 0;
	int rc = bm_list_tids(pid, &tids, &ntids);
	for (size_t i = 0; rc == 0 && i < ntids; i++) {
		char name[64], *text;
		snprintf(name, sizeof name, "task/%d/children", (int)tids[i]);
		rc = bm_read_proc_text(pid, name, &text);
		if (rc == -ENOENT) { /* the thread has exited meanwhile */
			rc = 0;
			continue;
		}
		if (rc < 0)
			break;
		size_t got;
		rc = bm_parse_pid_list(text, *n < max ? children + *n : NULL, *n < max ? max - *n : 0, &got);
		free(text);
		*n += got;
	}
	free(tids);
	return rc;
}

/* ---- a thread blocked in vfork ---- */

int bm_parse_syscall(const char *text, long *nr, uint64_t args[6])
{
	*nr = -1;
	if (strncmp(text, "running", 7) == 0)
		return 0;
	char *end;
	errno = 0;
	long v = strtol(text, &end, 10);
	if (end == text || errno || v < -1)
		return -EINVAL;
	if (v == -1)
		return 0; /* blocked, but not in a system call: SP and PC follow */
	for (int i = 0; i < 6; i++) {
		const char *p = end;
		while (*p == ' ')
			p++;
		if (strncmp(p, "0x", 2) != 0)
			return -EINVAL;
		args[i] = strtoull(p, &end, 16);
		if (end == p + 2)
			return -EINVAL;
	}
	*nr = v;
	return 0;
}

int bm_vfork_child(pid_t tid, pid_t *child)
{
	char path[64], *text;
	*child = 0;
	snprintf(path, sizeof path, "/proc/%d/syscall", (int)tid);
	size_t len;
	int rc = bm_read_text(path, &text, &len);
	if (rc < 0)
		return rc;
	long nr;
	uint64_t args[6];
	rc = bm_parse_syscall(text, &nr, args);
	free(text);
	if (rc < 0)
		return rc;
	uint64_t flags = 0;
	if (nr == SYS_vfork) {
		flags = CLONE_VFORK;
	} else if (nr == SYS_clone) {
		flags = args[0];
	} else if (nr == SYS_clone3) { /* flags: the first field of struct clone_args */
		snprintf(path, sizeof path, "/proc/%d/mem", (int)tid);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return -errno;
		if (pread(fd, &flags, sizeof flags, (off_t)args[0]) != (ssize_t)sizeof flags)
			flags = 0;
		close(fd);
	}
	if (!(flags & CLONE_VFORK))
		return 0;
	snprintf(path, sizeof path, "/proc/%d/task/%d/children", (int)tid, (int)tid);
	pid_t kids[64];
	size_t n = 0;
	if (bm_read_text(path, &text, &len) == 0) {
		if (bm_parse_pid_list(text, kids, 64, &n) < 0)
			n = 0;
		free(text);
	}
	for (size_t i = 0; i < n && i < 64; i++)
		if (syscall(SYS_kcmp, tid, kids[i], KCMP_VM, 0, 0) == 0)
			*child = kids[i];
	return 1;
}

bool bm_is_vfork_child(pid_t pid, pid_t kid)
{
	pid_t *tids = NULL;
	size_t n = 0;
	bool found = false;
	if (bm_list_tids(pid, &tids, &n) < 0)
		return false;
	for (size_t i = 0; i < n && !found; i++) {
		pid_t child = 0;
		found = bm_vfork_child(tids[i], &child) == 1 && child == kid;
	}
	free(tids);
	return found;
}

/* ---- auxv, links, whole files ---- */

int bm_read_auxv(pid_t pid, uint64_t *words, uint32_t max_words, uint32_t *nwords)
{
	char path[64];
	char *data;
	size_t len;
	*nwords = 0;
	snprintf(path, sizeof path, "/proc/%d/auxv", (int)pid);
	int r = bm_read_text(path, &data, &len);
	if (r < 0)
		return r;
	size_t count = len / sizeof(uint64_t);
	if (len % (2 * sizeof(uint64_t)) != 0 || count > UINT32_MAX) {
		r = -EINVAL;
	} else if (count > max_words) {
		/* Tell the caller how much room it needs. */
		*nwords = (uint32_t)count;
		r = -ENOSPC;
	} else {
		if (count > 0)
			memcpy(words, data, len);
		/* The kernel's copy ends with the AT_NULL pair. */
		if (count > 0 && words[count - 2] != 0)
			r = -EINVAL;
		else
			*nwords = (uint32_t)count;
	}
	free(data);
	return r;
}

int bm_readlink(const char *link, char *buf, size_t len, bool *deleted)
{
	if (deleted != NULL)
		*deleted = false;
	if (len == 0)
		return -EINVAL;
	ssize_t got = readlink(link, buf, len);
	if (got < 0)
		return -errno;
	if ((size_t)got >= len)
		return -ENAMETOOLONG;
	size_t path_len = (size_t)got;
	bool was_deleted = strip_deleted_suffix(buf, &path_len);
	buf[path_len] = '\0';
	if (deleted != NULL)
		*deleted = was_deleted;
	return 0;
}

/* /proc files report size 0, so read until EOF growing the buffer. */
int bm_read_text(const char *path, char **text, size_t *len)
{
	*text = NULL;
	if (len != NULL)
		*len = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	size_t cap = 4096, used = 0;
	char *buf = malloc(cap);
	int r = buf == NULL ? -ENOMEM : 0;
	while (r == 0) {
		if (cap - used < 2) {
			char *grown = cap > SIZE_MAX / 2 ? NULL : realloc(buf, cap * 2);
			if (grown == NULL) {
				r = -ENOMEM;
				break;
			}
			buf = grown;
			cap *= 2;
		}
		ssize_t got = read(fd, buf + used, cap - used - 1);
		if (got < 0) {
			if (errno != EINTR)
				r = -errno;
		} else if (got == 0) {
			break;
		} else {
			used += (size_t)got;
		}
	}
	close(fd);
	if (r < 0) {
		free(buf);
		return r;
	}
	buf[used] = '\0';
	*text = buf;
	if (len != NULL)
		*len = used;
	return 0;
}

int bm_read_proc_text(pid_t pid, const char *name, char **text)
{
	char path[128];
	size_t len;
	snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, name);
	return bm_read_text(path, text, &len);
}

int bm_write_proc_text(pid_t pid, const char *name, const char *text)
{
	char path[128];
	snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, name);
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	size_t len = strlen(text);
	ssize_t n = write(fd, text, len);
	int rc = n < 0 ? -errno : (size_t)n == len ? 0 : -EIO;
	close(fd);
	return rc;
}
