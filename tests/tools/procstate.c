/* procstate [--pages] PID
 *
 * Prints what /proc shows of a process and each of its threads, in a form
 * two snapshots can be compared by: a waiting process and its restored
 * copy must print the same lines (e2e_state_test in tests/e2e/lib.sh
 * compares them).  Left out is what no restore can keep, each said in
 * README's "What a restored process can still tell apart" or the
 * paragraph after it: the kernel's accounting (CPU time, page faults,
 * context switches, peak and resident memory, start time, the CPU last
 * run on, the signals queued by the user, SigQ), the numbers the kernel
 * hands out to objects a restore makes anew (inode numbers of pipes,
 * sockets, unlinked and O_TMPFILE files, memfds and /dev/shm files,
 * eventfd ids, the autogroup's number), the parent (the restorer), the
 * state of a thread (the caller checks where it waits), what changes
 * while a process merely waits (a timerfd's time left and expirations),
 * and the order of an epoll
 * instance's registrations in fdinfo (the kernel's tree of file
 * addresses).  --pages adds what pagemap shows that a restore must
 * keep (print_pages); the live-migration tests ask for it.
 *
 * Exit codes: 0 printed, 1 the process vanished, 2 usage or system error. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* status lines that count rather than describe. */
static const char *const accounting[] = {
	"VmPeak:", "VmHWM:", "VmRSS:", "RssAnon:", "RssFile:", "RssShmem:", "VmPTE:", "VmSwap:",
	"voluntary_ctxt_switches:", "nonvoluntary_ctxt_switches:", "Kthread:", "SigQ:", "PPid:", "State:",
};

/* smaps fields that describe an area rather than count its pages. */
static const char *const smaps_kept[] = {
	"Size:", "KernelPageSize:", "MMUPageSize:", "THPeligible:", "ProtectionKey:", "VmFlags:",
};

static bool starts_with_any(const char *line, const char *const *prefixes, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strncmp(line, prefixes[i], strlen(prefixes[i])) == 0)
			return true;
	return false;
}

#define ARRAY_LEN(a) (sizeof(a) / sizeof *(a))

static FILE *open_proc(const char *pid, const char *what)
{
	char path[256];
	snprintf(path, sizeof path, "/proc/%s/%s", pid, what);
	return fopen(path, "re");
}

/* Each line of /proc/PID/WHAT, prefixed with LABEL, unless it starts
 * with one of SKIP.  Absent files (older kernels) print nothing. */
static void print_file(const char *pid, const char *what, const char *label, const char *const *skip, size_t nskip)
{
	FILE *f = open_proc(pid, what);
	if (!f)
		return;
	char *line = NULL;
	size_t cap = 0;
	for (ssize_t n; (n = getline(&line, &cap, f)) > 0;)
		if (!starts_with_any(line, skip, nskip))
			printf("%s %s%s", label, line, line[n - 1] == '\n' ? "" : "\n");
	free(line);
	fclose(f);
}

/* The link /proc/PID/WHAT, with the inode number of a pipe, socket or
 * anonymous inode taken out ("pipe:[123]" -> "pipe:"). */
static void link_of(const char *pid, const char *what, char *buf, size_t len)
{
	char path[256];
	snprintf(path, sizeof path, "/proc/%s/%s", pid, what);
	ssize_t n = readlink(path, buf, len - 1);
	buf[n > 0 ? n : 0] = 0;
	char *bracket = strstr(buf, ":[");
	if (bracket && (strncmp(buf, "pipe", 4) == 0 || strncmp(buf, "socket", 6) == 0))
		bracket[1] = 0;
	/* An O_TMPFILE file is named by its inode: "DIR/#123 (deleted)". */
	char *hash = strstr(buf, "/#");
	size_t digits = hash ? strspn(hash + 2, "0123456789") : 0;
	if (digits && strcmp(hash + 2 + digits, " (deleted)") == 0)
		memcpy(hash + 2, "INODE (deleted)", sizeof "INODE (deleted)");
}

/* An object the restore makes anew, whose device and inode are new. */
static bool made_anew(const char *path)
{
	return strstr(path, "(deleted)") || strncmp(path, "/memfd:", 7) == 0 || strncmp(path, "/dev/shm/", 9) == 0 ||
	       strncmp(path, "/SYSV", 5) == 0 || strncmp(path, "[", 1) == 0 || !*path;
}

/* smaps: each area's header without device and inode where the object is
 * new, then the fields that describe it. */
static void print_smaps(const char *pid)
{
	FILE *f = open_proc(pid, "smaps");
	if (!f)
		return;
	char *line = NULL;
	size_t cap = 0;
	while (getline(&line, &cap, f) > 0) {
		unsigned long start, end, offset;
		char perms[8], dev[16];
		unsigned long inode;
		int path_at = 0;
		if (sscanf(line, "%lx-%lx %7s %lx %15s %lu %n", &start, &end, perms, &offset, dev, &inode, &path_at) >= 6 &&
		    strchr(line, '-') < strchr(line, ' ')) {
			const char *path = path_at ? line + path_at : "";
			char name[4096];
			snprintf(name, sizeof name, "%s", path);
			name[strcspn(name, "\n")] = 0;
			if (made_anew(name))
				printf("map %lx-%lx %s %lx %s\n", start, end, perms, offset, name);
			else
				printf("map %lx-%lx %s %lx %s %lu %s\n", start, end, perms, offset, dev, inode, name);
		} else if (starts_with_any(line, smaps_kept, ARRAY_LEN(smaps_kept))) {
			printf("map   %s", line);
		}
	}
	free(line);
	fclose(f);
}

/* With --pages, from pagemap: the pages of each private file mapping
 * that are the process's own copies (anonymous, present or swapped out:
 * the ones it wrote), which must be the same pages after a restore (one
 * read back from the file no longer follows it), and how many pages are
 * write-protected through a userfaultfd (bit 57; none must be left).
 * Which other pages are present is the kernel's accounting. */
static void print_pages(const char *pid)
{
	FILE *maps = open_proc(pid, "maps");
	char path[64];
	snprintf(path, sizeof path, "/proc/%s/pagemap", pid);
	FILE *pm = fopen(path, "re");
	if (!maps || !pm) {
		printf("pages unreadable\n");
		if (maps)
			fclose(maps);
		if (pm)
			fclose(pm);
		return;
	}
	unsigned long long wp = 0;
	char *line = NULL;
	size_t cap = 0;
	while (getline(&line, &cap, maps) > 0) {
		unsigned long start, end;
		char perms[8];
		int path_at = 0;
		if (sscanf(line, "%lx-%lx %7s %*x %*s %*u %n", &start, &end, perms, &path_at) < 3)
			continue;
		const char *name = path_at ? line + path_at : "";
		bool file_private = name[0] == '/' && perms[3] == 'p';
		bool listed = false;
		if (fseeko(pm, (off_t)(start / 4096) * 8, SEEK_SET) < 0)
			continue;
		for (unsigned long page = 0; page < (end - start) / 4096; page++) {
			unsigned long long e;
			if (fread(&e, sizeof e, 1, pm) != 1)
				break;
			wp += (e >> 57) & 1;
			bool own = ((e >> 63) & 1 && !((e >> 61) & 1)) || ((e >> 62) & 1);
			if (!file_private || !own)
				continue;
			if (!listed)
				printf("pages copied %lx-%lx %s", start, end, perms);
			printf(" %lu", page);
			listed = true;
		}
		if (listed)
			printf("\n");
	}
	printf("pages uffd-wp %llu\n", wp);
	free(line);
	fclose(maps);
	fclose(pm);
}

/* stat: the fields a process can set or that say what it is, by number
 * (proc(5)): pgrp, session, tty, foreground group, priority, nice,
 * threads, exit signal, real-time priority, policy, and the memory
 * layout (code, stack, data, brk, arguments, environment). */
static void print_stat(const char *pid, const char *label)
{
	static const int kept[] = {5, 6, 7, 8, 18, 19, 20, 26, 27, 28, 38, 40, 41, 45, 46, 47, 48, 49, 50, 51};
	FILE *f = open_proc(pid, "stat");
	if (!f)
		return;
	char buf[4096];
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = 0;
	char *p = strrchr(buf, ')'); /* the name may hold spaces */
	if (!p)
		return;
	int field = 2;
	for (char *tok = strtok(p + 1, " \n"); tok; tok = strtok(NULL, " \n")) {
		field++;
		for (size_t i = 0; i < ARRAY_LEN(kept); i++)
			if (kept[i] == field)
				printf("%s %d %s\n", label, field, tok);
	}
}

static int by_text(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* An epoll registration's line without its target's inode. */
static char *tfd_line(const char *line)
{
	int tfd = 0, pos = 0;
	unsigned events = 0;
	unsigned long long data = 0;
	if (sscanf(line, "tfd: %d events: %x data: %llx pos:%d", &tfd, &events, &data, &pos) != 4)
		return strdup(line);
	const char *sdev = strstr(line, "sdev:");
	char *out = NULL;
	if (asprintf(&out, "tfd: %d events: %x data: %llx pos: %d %s", tfd, events, data, pos, sdev ? sdev : "\n") < 0)
		return NULL;
	return out;
}

/* A lock's line ("lock:\t1: POSIX ADVISORY WRITE PID MAJ:MIN:INODE START
 * END"), the device and inode of a file made anew taken out. */
static void print_lock(const char *label, const char *line, bool anew)
{
	const char *start = line, *end = line;
	for (const char *p = line; anew && *p; p = end) {
		start = p + strspn(p, " \t");
		end = start + strcspn(start, " \t\n");
		const char *colon = memchr(start, ':', (size_t)(end - start));
		if (colon && memchr(colon + 1, ':', (size_t)(end - colon - 1))) {
			printf("%s %.*s(made anew)%s", label, (int)(start - line), line, end);
			return;
		}
		if (end == start)
			break;
	}
	printf("%s %s", label, line);
}

/* fdinfo, without the inode of objects made anew, an eventfd's id, and a
 * timerfd's time left and expirations (they change while the process
 * waits); an epoll instance's registrations sorted. */
static void print_fdinfo(const char *pid, int fd, bool anew)
{
	char what[64], label[32];
	snprintf(what, sizeof what, "fdinfo/%d", fd);
	snprintf(label, sizeof label, "fd %d", fd);
	FILE *f = open_proc(pid, what);
	if (!f)
		return;
	static const char *const skip_new[] = {"ino:", "it_value:", "ticks:", "eventfd-id:"};
	char *tfds[4096];
	size_t ntfds = 0;
	char *line = NULL;
	size_t cap = 0;
	while (getline(&line, &cap, f) > 0) {
		if (strncmp(line, "tfd:", 4) == 0 && ntfds < ARRAY_LEN(tfds)) {
			if ((tfds[ntfds] = tfd_line(line)))
				ntfds++;
		} else if (strncmp(line, "lock:", 5) == 0) {
			print_lock(label, line, anew);
		} else if (!starts_with_any(line, skip_new + (anew ? 0 : 1), ARRAY_LEN(skip_new) - (anew ? 0 : 1))) {
			printf("%s %s", label, line);
		}
	}
	free(line);
	fclose(f);
	qsort(tfds, ntfds, sizeof *tfds, by_text);
	for (size_t i = 0; i < ntfds; i++) {
		printf("%s %s", label, tfds[i]);
		free(tfds[i]);
	}
}

static int by_number(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}

/* The numbered entries of /proc/PID/WHAT (descriptors, threads) in
 * ascending order, at most MAX of them; readdir's order is the kernel's. */
static size_t numbered(const char *pid, const char *what, int *out, size_t max)
{
	char dir[256];
	snprintf(dir, sizeof dir, "/proc/%s/%s", pid, what);
	DIR *d = opendir(dir);
	if (!d)
		return 0;
	size_t n = 0;
	for (struct dirent *e; (e = readdir(d)) && n < max;)
		if (isdigit((unsigned char)e->d_name[0]))
			out[n++] = atoi(e->d_name);
	closedir(d);
	qsort(out, n, sizeof *out, by_number);
	return n;
}

/* Each descriptor: its target and fdinfo. */
static void print_fds(const char *pid)
{
	int fds[4096];
	size_t n = numbered(pid, "fd", fds, ARRAY_LEN(fds));
	for (size_t i = 0; i < n; i++) {
		char what[64], target[4096];
		snprintf(what, sizeof what, "fd/%d", fds[i]);
		link_of(pid, what, target, sizeof target);
		printf("fd %d -> %s\n", fds[i], target);
		bool anew = made_anew(target) || strcmp(target, "pipe:") == 0 || strcmp(target, "socket:") == 0 ||
			    strncmp(target, "anon_inode:", 11) == 0;
		print_fdinfo(pid, fds[i], anew);
	}
}

static void print_threads(const char *pid)
{
	int tids[4096];
	size_t n = numbered(pid, "task", tids, ARRAY_LEN(tids));
	for (size_t i = 0; i < n; i++) {
		char task[64], label[32];
		snprintf(task, sizeof task, "%s/task/%d", pid, tids[i]);
		snprintf(label, sizeof label, "thread %d", tids[i]);
		print_file(task, "status", label, accounting, ARRAY_LEN(accounting));
		print_stat(task, label);
	}
}

/* The argument or environment strings (read from the process's memory
 * between the bounds stat shows): "WHAT STRING" for each. */
static void print_strings(const char *pid, const char *what)
{
	FILE *f = open_proc(pid, what);
	if (!f)
		return;
	char *s = NULL;
	size_t cap = 0;
	for (ssize_t n; (n = getdelim(&s, &cap, '\0', f)) > 0;)
		printf("%s %.*s\n", what, (int)strcspn(s, "\n"), s);
	free(s);
	fclose(f);
}

/* The auxiliary vector the process was started with (PR_SET_MM_AUXV sets
 * it again): "auxv TYPE VALUE", up to AT_NULL. */
static void print_auxv(const char *pid)
{
	FILE *f = open_proc(pid, "auxv");
	if (!f)
		return;
	unsigned long long pair[2];
	while (fread(pair, sizeof pair, 1, f) == 1 && pair[0] != 0)
		printf("auxv %llu %#llx\n", pair[0], pair[1]);
	fclose(f);
}

/* "/autogroup-N nice X": the nice value, not the number. */
static void print_autogroup(const char *pid)
{
	FILE *f = open_proc(pid, "autogroup");
	if (!f)
		return;
	char buf[128] = "";
	if (fgets(buf, sizeof buf, f)) {
		const char *nice = strstr(buf, " nice ");
		printf("autogroup%s", nice ? nice : " (unreadable)\n");
	}
	fclose(f);
}

int main(int argc, char **argv)
{
	bool pages = argc == 3 && strcmp(argv[1], "--pages") == 0;
	if (argc != 2 + pages || !isdigit((unsigned char)argv[argc - 1][0])) {
		fprintf(stderr, "usage: procstate [--pages] PID\n");
		return 2;
	}
	const char *pid = argv[argc - 1];
	char path[64];
	snprintf(path, sizeof path, "/proc/%s", pid);
	if (access(path, F_OK) < 0)
		return 1;
	print_file(pid, "status", "status", accounting, ARRAY_LEN(accounting));
	print_stat(pid, "stat");
	const char *files[] = {"limits", "personality", "oom_score_adj", "coredump_filter", "loginuid",
			       "timerslack_ns", "cgroup", "comm", "timers", "attr/current"};
	for (size_t i = 0; i < ARRAY_LEN(files); i++)
		print_file(pid, files[i], files[i], NULL, 0);
	print_autogroup(pid);
	print_auxv(pid);
	print_strings(pid, "cmdline");
	print_strings(pid, "environ");
	const char *links[] = {"cwd",	 "root",   "exe",    "ns/cgroup", "ns/ipc",		 "ns/mnt",	     "ns/net",
			       "ns/pid", "ns/time", "ns/user", "ns/uts",	 "ns/pid_for_children", "ns/time_for_children"};
	for (size_t i = 0; i < ARRAY_LEN(links); i++) {
		char target[4096];
		link_of(pid, links[i], target, sizeof target);
		printf("%s -> %s\n", links[i], target);
	}
	print_smaps(pid);
	if (pages)
		print_pages(pid);
	print_fds(pid);
	print_threads(pid);
	fflush(stdout);
	return access(path, F_OK) < 0 ? 1 : 0;
}
