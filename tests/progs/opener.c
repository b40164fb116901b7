/* opener MODE ...: the credentials an open file keeps from its opening
 * (the kernel's f_cred), which no system call shows and some checks read
 * instead of the caller's (migrator/fd_opener.h).  A write to a cgroup v2
 * cgroup.procs is one: moving a process is allowed by the credentials
 * that opened the file, and from where to where needs write access to
 * the cgroup.procs of the two cgroups' common ancestor.
 *
 *   carried DIR   DIR, a cgroup v2 directory of root's with the empty
 *                 cgroups a, b and c (the test makes them).  As root it
 *                 opens a/cgroup.procs with its effective user 65534 for
 *                 the moment (seteuid), and c/cgroup.procs; it then
 *                 becomes user and group 65534 and opens b/cgroup.procs.
 *                 Before "ready" and after the wake-up (SIGUSR1), a
 *                 write of "0" (itself) to a's and to b's descriptors
 *                 must fail with EACCES: their openers may not move it
 *                 there (the common ancestor's cgroup.procs is root's);
 *                 after the wake-up, one to c's must move it into c: its
 *                 opener, root, may, though the process no longer is
 *                 root.  A restore that opened them as binmig (root)
 *                 would let the first two through; one that opened them
 *                 as the process is now would refuse the third.
 *   user FILE     becomes user and group 65534 and opens FILE (which the
 *                 test lets 65534 read) for reading; after the wake-up it
 *                 reads it from its start.
 *   groups N FILE gives FILE (made by the test) to root and the last of
 *                 N supplementary groups 60000.. (mode 0640) and opens
 *                 it for reading with effective user 65534 in those
 *                 groups, which only its last group lets it do; then
 *                 becomes user and group 65534 in that group alone.
 *                 After the wake-up it reads it.  Restored, its
 *                 descriptor was opened again as those very groups (one
 *                 without the last could not); with more groups than
 *                 binmig carries (64) its dump must be refused.
 *   ingroups N    only becomes user 65534 in N supplementary groups.
 * Prints "ready" when set up. */
#include <grp.h>
#include <sys/stat.h>

#include "testprog.h"

#define NOBODY 65534u

/* DIR/NAME/cgroup.procs opened for writing. */
static int procs(const char *dir, const char *name)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/%s/cgroup.procs", dir, name);
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	SETUP(fd >= 0, "opening a cgroup.procs");
	return fd;
}

static void chown_procs(const char *dir, const char *name)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/%s/cgroup.procs", dir, name);
	SETUP(chown(path, NOBODY, NOBODY) == 0, "giving a cgroup.procs to 65534");
}

/* User and group 65534 in that group alone, for good. */
static void become_nobody(void)
{
	const gid_t nobody[] = {NOBODY};
	SETUP(setgroups(1, nobody) == 0 && setresgid(NOBODY, NOBODY, NOBODY) == 0 && setresuid(NOBODY, NOBODY, NOBODY) == 0,
	      "becoming 65534");
}

/* Ready; after the wake-up FD, a file opened for reading, must read. */
static int read_when_woken(int fd)
{
	usr1_setup();
	say("ready");
	usr1_wait();
	char c;
	CHECK(pread(fd, &c, 1, 0) >= 0, "reading the file: %s", strerror(errno));
	return tp_finish();
}

/* A write of this process (0) to FD must fail with EACCES. */
static void expect_refused(int fd, const char *what)
{
	errno = 0;
	ssize_t n = write(fd, "0", 1);
	CHECK(n < 0 && errno == EACCES, "%s: a write of itself returned %zd (%s), expected EACCES: the credentials it was "
	      "opened with may not move the process", what, n, n < 0 ? strerror(errno) : "done");
}

/* The cgroup v2 path of this process (the "0::" line of /proc/self/cgroup). */
static void own_cgroup(char *path, size_t size)
{
	char text[8192];
	path[0] = 0;
	if (read_text("/proc/self/cgroup", text, sizeof text) <= 0)
		return;
	const char *line = strstr(text, "0::");
	if (line == text || (line && line[-1] == '\n'))
		snprintf(path, size, "%.*s", (int)strcspn(line + 3, "\n"), line + 3);
}

static int carried(const char *dir)
{
	chown_procs(dir, "a");
	chown_procs(dir, "b");
	SETUP(setresgid(-1, NOBODY, -1) == 0 && setresuid(-1, NOBODY, -1) == 0, "seteuid 65534");
	int as_euid = procs(dir, "a");
	SETUP(setresuid(-1, 0, -1) == 0 && setresgid(-1, 0, -1) == 0, "seteuid 0 again");
	int as_root = procs(dir, "c");
	become_nobody();
	int as_user = procs(dir, "b");
	expect_refused(as_euid, "a's cgroup.procs, opened as root with effective user 65534");
	expect_refused(as_user, "b's cgroup.procs, opened as user 65534");
	SETUP(tp_failures == 0, "the writes refused before the dump");
	usr1_setup();
	say("ready");
	usr1_wait();

	expect_refused(as_euid, "a's cgroup.procs, opened as root with effective user 65534");
	expect_refused(as_user, "b's cgroup.procs, opened as user 65534");
	ssize_t n = write(as_root, "0", 1);
	CHECK(n == 1, "c's cgroup.procs, opened as root: a write of itself returned %zd (%s), expected it to move the "
	      "process: its opener, root, may", n, n < 0 ? strerror(errno) : "short");
	char now[4096];
	own_cgroup(now, sizeof now);
	size_t len = strlen(now);
	CHECK(n != 1 || (len >= 2 && strcmp(now + len - 2, "/c") == 0), "after the write to c's cgroup.procs it is in %s",
	      now);
	return tp_finish();
}

static int user(const char *file)
{
	become_nobody();
	int fd = open(file, O_RDONLY | O_CLOEXEC);
	SETUP(fd >= 0, "opening the file");
	return read_when_woken(fd);
}

/* The groups 60000.. joined, N of them (as root). */
static gid_t many[128];

static void join_groups(int n)
{
	SETUP(n >= 1 && n <= 128, "a count of groups from 1 to 128");
	for (int i = 0; i < n; i++)
		many[i] = 60000 + (gid_t)i;
	SETUP(setgroups((size_t)n, many) == 0, "joining the groups");
}

static int groups(int n, const char *file)
{
	join_groups(n);
	SETUP(chown(file, 0, many[n - 1]) == 0 && chmod(file, 0640) == 0, "giving the file to the last group");
	SETUP(setresgid(-1, NOBODY, -1) == 0 && setresuid(-1, NOBODY, -1) == 0, "seteuid 65534");
	int fd = open(file, O_RDONLY | O_CLOEXEC);
	SETUP(fd >= 0, "opening the file through its group");
	SETUP(setresuid(-1, 0, -1) == 0, "seteuid 0 again");
	become_nobody();
	return read_when_woken(fd);
}

static int ingroups(int n)
{
	join_groups(n);
	SETUP(setresgid(NOBODY, NOBODY, NOBODY) == 0 && setresuid(NOBODY, NOBODY, NOBODY) == 0, "becoming 65534");
	usr1_setup();
	say("ready");
	usr1_wait();
	return tp_finish();
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "carried") == 0)
		return carried(argv[2]);
	if (argc == 3 && strcmp(argv[1], "user") == 0)
		return user(argv[2]);
	if (argc == 4 && strcmp(argv[1], "groups") == 0)
		return groups(atoi(argv[2]), argv[3]);
	if (argc == 3 && strcmp(argv[1], "ingroups") == 0)
		return ingroups(atoi(argv[2]));
	say("FAIL: usage: opener carried DIR | user FILE | groups N FILE | ingroups N");
	return 2;
}
