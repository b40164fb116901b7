/* locks MODE DIR: file locks held by the process (migrator/file_locks.c),
 * with DIR a scratch directory.
 *
 *   carried   takes, then checks after the wake-up:
 *     - "p": POSIX write lock on bytes 0-99 and read lock on 200 to the end;
 *     - "o": an OFD write lock on bytes 10-19, its descriptor dup'd at 91;
 *     - "f": flock exclusive; "s": flock shared; "d": a directory, flock
 *       exclusive;
 *     - "u": POSIX write lock on the whole file, then the file unlinked;
 *     - "g": flock exclusive and "h": an OFD write lock on bytes 0-9,
 *       each taken by a child that has exited since (fdinfo shows its
 *       PID, or 0 once the PID is free below the first PID namespace);
 *     and checks that the "lock:" lines of every descriptor in
 *     /proc/self/fdinfo are what they were (the inode of "u" aside: the
 *     restore makes that file again), and that another process sees each
 *     lock as held by this one: a conflicting request fails (naming this
 *     PID for the POSIX ones), one on the free bytes 100-199 of "p" and a
 *     shared flock of "s" succeed.  fdinfo of "g" must not name this
 *     process before: the restore must take it again as a gone process.
 *   shared    a tree: the process opens "sf", "so" and "pf" and forks a
 *     child, which takes a flock exclusive lock on sf and an OFD write lock
 *     on bytes 0-9 of so through the descriptions they share; then the
 *     process takes a flock shared lock on pf.  After the wake-up the
 *     "lock:" lines of the three descriptors, in the process's fdinfo and
 *     in the child's, are what they were: sf's flock names the child and
 *     pf's the process (each the member that took it: whichever member
 *     the restore made first, one of the two would name the other); the
 *     child exits when woken (SIGUSR1 from the process), or is killed when
 *     the process dies (PR_SET_PDEATHSIG, also in table).
 *   closedtaker a tree: the process opens "c" and forks a child, which
 *     takes a flock exclusive lock on it through the description they
 *     share, closes its descriptor of it and waits.  After the wake-up
 *     the process's fdinfo of c names the child still (the restore has the
 *     child take it through its copy of the description the tree shares),
 *     and another open file of c cannot take it; the child ends when woken.
 *   table     a tree: a child made with clone(CLONE_FILES), which shares
 *     the process's descriptor table, takes a flock exclusive lock on "tf"
 *     through it and waits: refused (the restore would take the lock in
 *     the process, and /proc name it); after the wake-up the child still
 *     holds the lock (another description of tf cannot take it).
 *   order     read locks on "r" by four owners, taken in this order: an OFD
 *     lock on bytes 0-99 through a third open file (C), a POSIX lock on
 *     50-109 through the first (A), an OFD lock on 120-129 through the
 *     second (B) and one on 100-199 through A: the kernel's list holds
 *     them so, not in the order of the descriptors, and the GETLK
 *     commands name the first conflicting lock in it.  Checked before and
 *     after the wake-up: a write lock on the whole file through a fourth
 *     open file (D, which holds none) meets C's lock; through C it meets the POSIX lock (this
 *     PID); through C from byte 110 on, B's lock (not A's).  A restore
 *     that took the locks in descriptor order would name A's OFD lock or
 *     the POSIX lock first.
 *   treeorder the same across a tree: read locks on "t" by a child, the
 *     process, the child, the process: the child's POSIX lock on 0-99
 *     and OFD lock on 120-129 through its own open file, the process's
 *     POSIX lock on 50-109 and OFD lock on 100-199 through another.  A
 *     write lock through a fourth open file (the process's) meets, from
 *     byte 0, the child's POSIX lock (its PID); from byte 100 the
 *     process's (this PID); from byte 110 the child's OFD lock.  The
 *     child ends when woken; a second child, which exited at once, is a
 *     zombie until then.
 *   outside   "k": a flock exclusive lock taken by a process that is not
 *     in the tree and still there: a grandchild, its parent exited (so
 *     adopted by the reaper above), takes it through the open file it
 *     inherited, closes every descriptor of it and waits until the
 *     process has ended (a pidfd; ten minutes at most).  It prints
 *     "taker PID" before "ready".  fdinfo names that PID before, and must
 *     after the wake-up: where the PID is free at the restore, the
 *     stand-in that takes the lock gets it; the process taking it itself
 *     would be named instead.  Below the first PID namespace /proc shows
 *     a gone process's lock as 0, so there the stand-in's shows as 0
 *     (README).  (An OFD lock's taker fdinfo shows as -1.)
 *   hold      takes a POSIX write lock on bytes 50-59 of DIR/p and waits:
 *     the holder that keeps a restore from taking its locks.
 *   holdtree  the same on bytes 0-9 of DIR/t: the holder that keeps
 *     treeorder's child from taking its first lock.
 *   holdflock a flock exclusive lock on DIR/c, held until woken: the
 *     holder that keeps closedtaker's child from taking its flock.
 *   lease     holds a read lease on DIR/l: refused.
 *   fifo      holds a flock lock on a named FIFO: refused. */
#include <poll.h>
#include <sched.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/stat.h>

#include "testprog.h"

static char dir[4096];

static int open_in(const char *name, int flags)
{
	char path[4200];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	int fd = open(path, flags | O_CREAT, 0644);
	SETUP(fd >= 0, name);
	return fd;
}

static struct flock range(short type, off_t start, off_t len)
{
	struct flock fl = {.l_type = type, .l_whence = SEEK_SET, .l_start = start, .l_len = len};
	return fl;
}

/* The "lock:" lines of fd's fdinfo in process pid (0: this one), without
 * their index and with the device and inode left out when keep_inode is
 * false, sorted, joined. */
static void lock_lines_of(pid_t pid, int fd, bool keep_inode, char *out, size_t len)
{
	char path[64], text[8192];
	if (pid)
		snprintf(path, sizeof(path), "/proc/%d/fdinfo/%d", (int)pid, fd);
	else
		snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	ssize_t n = read_file(path, text, sizeof(text));
	SETUP(n >= 0, "read fdinfo");
	char lines[16][160];
	int count = 0;
	for (char *line = strtok(text, "\n"); line && count < 16; line = strtok(NULL, "\n")) {
		if (strncmp(line, "lock:", 5) != 0)
			continue;
		char kind[16], mode[16], type[16], dev[48], end[24];
		int pid;
		long long start;
		if (sscanf(line, "lock:\t%*d: %15s %15s %15s %d %47s %lld %23s", kind, mode, type, &pid, dev, &start, end) != 7)
			continue;
		snprintf(lines[count++], sizeof(lines[0]), "%s %s %s %d %s %lld %s", kind, mode, type, pid,
			 keep_inode ? dev : "-", start, end);
	}
	for (int i = 1; i < count; i++) /* insertion sort */
		for (int j = i; j > 0 && strcmp(lines[j - 1], lines[j]) > 0; j--) {
			char t[160];
			memcpy(t, lines[j], sizeof(t));
			memcpy(lines[j], lines[j - 1], sizeof(t));
			memcpy(lines[j - 1], t, sizeof(t));
		}
	out[0] = 0;
	for (int i = 0; i < count; i++)
		snprintf(out + strlen(out), len - strlen(out), "%s; ", lines[i]);
}

static void lock_lines(int fd, bool keep_inode, char *out, size_t len)
{
	lock_lines_of(0, fd, keep_inode, out, len);
}

/* In a child (another process): the bits of what it found. */
enum {
	SEES_P_WRITE = 1,  /* F_GETLK on p 0-99 names the parent */
	SEES_P_READ = 2,   /* F_GETLK of a write lock on p 300 names the parent */
	P_GAP_FREE = 4,    /* a write lock on p 100-199 can be taken */
	SEES_O = 8,        /* an OFD write lock on o 15 conflicts */
	F_HELD = 16,       /* flock LOCK_EX|LOCK_NB on f fails */
	S_SHARED = 32,     /* flock LOCK_SH on s succeeds, LOCK_EX fails */
	D_HELD = 64,       /* flock LOCK_SH on d fails */
	GONE_HELD = 128,   /* flock LOCK_EX|LOCK_NB on g fails, an OFD write lock on h 5 conflicts */
	ALL_SEEN = 255,
};

static int probe_from_another_process(pid_t parent)
{
	int bits = 0;
	int p = open_in("p", O_RDWR), o = open_in("o", O_RDWR), f = open_in("f", O_RDONLY), s = open_in("s", O_RDONLY);
	char dpath[4200];
	snprintf(dpath, sizeof(dpath), "%s/d", dir);
	int d = open(dpath, O_RDONLY | O_DIRECTORY);
	struct flock fl = range(F_WRLCK, 0, 100);
	if (fcntl(p, F_GETLK, &fl) == 0 && fl.l_type == F_WRLCK && fl.l_pid == parent)
		bits |= SEES_P_WRITE;
	fl = range(F_WRLCK, 300, 1);
	if (fcntl(p, F_GETLK, &fl) == 0 && fl.l_type == F_RDLCK && fl.l_pid == parent)
		bits |= SEES_P_READ;
	fl = range(F_WRLCK, 100, 100);
	if (fcntl(p, F_SETLK, &fl) == 0)
		bits |= P_GAP_FREE;
	fl = range(F_WRLCK, 15, 1);
	if (fcntl(o, F_OFD_GETLK, &fl) == 0 && fl.l_type == F_WRLCK)
		bits |= SEES_O;
	if (flock(f, LOCK_EX | LOCK_NB) < 0 && errno == EWOULDBLOCK)
		bits |= F_HELD;
	int s2 = open_in("s", O_RDONLY);
	if (flock(s, LOCK_SH | LOCK_NB) == 0 && flock(s2, LOCK_EX | LOCK_NB) < 0 && errno == EWOULDBLOCK)
		bits |= S_SHARED;
	if (d >= 0 && flock(d, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK)
		bits |= D_HELD;
	int g = open_in("g", O_RDONLY), h = open_in("h", O_RDWR);
	fl = range(F_WRLCK, 5, 1);
	if (flock(g, LOCK_EX | LOCK_NB) < 0 && errno == EWOULDBLOCK && fcntl(h, F_OFD_GETLK, &fl) == 0 &&
	    fl.l_type == F_WRLCK)
		bits |= GONE_HELD;
	return bits;
}

static int others_see(void)
{
	pid_t parent = getpid();
	pid_t kid = fork();
	SETUP(kid >= 0, "fork");
	if (kid == 0)
		_exit(probe_from_another_process(parent));
	int status;
	SETUP(waitpid(kid, &status, 0) == kid && WIFEXITED(status), "waitpid");
	return WEXITSTATUS(status);
}

/* Takes a flock exclusive lock on g and an OFD write lock on bytes 0-9
 * of h in a child, which then exits and is reaped: the locks stay with
 * the open files, /proc naming their gone taker. */
static void locked_by_gone_child(int g, int h)
{
	pid_t kid = fork();
	SETUP(kid >= 0, "fork");
	if (kid == 0) {
		struct flock fl = range(F_WRLCK, 0, 10);
		_exit(flock(g, LOCK_EX) == 0 && fcntl(h, F_OFD_SETLK, &fl) == 0 ? 0 : 1);
	}
	int status;
	SETUP(waitpid(kid, &status, 0) == kid && WIFEXITED(status) && WEXITSTATUS(status) == 0,
	      "a child's locks on g and h");
}

static int carried(void)
{
	int p = open_in("p", O_RDWR);
	SETUP(ftruncate(p, 4096) == 0, "size p");
	struct flock fl = range(F_WRLCK, 0, 100);
	SETUP(fcntl(p, F_SETLK, &fl) == 0, "POSIX write lock on p");
	fl = range(F_RDLCK, 200, 0);
	SETUP(fcntl(p, F_SETLK, &fl) == 0, "POSIX read lock on p");
	int o = open_in("o", O_RDWR);
	fl = range(F_WRLCK, 10, 10);
	SETUP(fcntl(o, F_OFD_SETLK, &fl) == 0 && dup2(o, 91) == 91, "OFD lock on o");
	int f = open_in("f", O_RDONLY), s = open_in("s", O_RDONLY);
	SETUP(flock(f, LOCK_EX) == 0 && flock(s, LOCK_SH) == 0, "flock f, s");
	char dpath[4200];
	snprintf(dpath, sizeof(dpath), "%s/d", dir);
	SETUP(mkdir(dpath, 0755) == 0 || errno == EEXIST, "mkdir d");
	int d = open(dpath, O_RDONLY | O_DIRECTORY);
	SETUP(d >= 0 && flock(d, LOCK_EX) == 0, "flock d");
	int u = open_in("u", O_RDWR);
	fl = range(F_WRLCK, 0, 0);
	char upath[4200];
	snprintf(upath, sizeof(upath), "%s/u", dir);
	SETUP(write(u, "unlinked", 8) == 8 && fcntl(u, F_SETLK, &fl) == 0 && unlink(upath) == 0, "lock and unlink u");
	int g = open_in("g", O_RDONLY), h = open_in("h", O_RDWR);
	locked_by_gone_child(g, h);

	const int fds[] = {p, o, 91, f, s, d, u, g, h};
	enum { N = sizeof(fds) / sizeof(fds[0]) };
	char before[N][1024];
	for (int i = 0; i < N; i++)
		lock_lines(fds[i], fds[i] != u, before[i], sizeof(before[i]));
	char self_flock[64];
	snprintf(self_flock, sizeof(self_flock), "FLOCK ADVISORY WRITE %d ", (int)getpid());
	SETUP(strstr(before[7], "FLOCK ADVISORY WRITE ") && !strstr(before[7], self_flock),
	      "fdinfo of g names the gone child, not this process");
	int seen_before = others_see();
	SETUP(seen_before == ALL_SEEN, "another process sees the locks before the migration");
	struct fd_set_snapshot fds_before;
	fd_snapshot(&fds_before);
	say("ready");
	usr1_wait();
	fd_check_same(&fds_before);

	for (int i = 0; i < N; i++) {
		char after[1024];
		lock_lines(fds[i], fds[i] != u, after, sizeof(after));
		CHECK(strcmp(before[i], after) == 0, "fd %d: locks \"%s\", were \"%s\"",
		      fds[i], after, before[i]);
	}
	int seen = others_see();
	CHECK(seen == ALL_SEEN, "another process sees the locks differently (bits %#x of %#x)", seen, ALL_SEEN);
	char ubuf[8];
	CHECK(pread(u, ubuf, 8, 0) == 8 && memcmp(ubuf, "unlinked", 8) == 0, "u: contents");
	return tp_finish();
}

/* What a write lock from START to the end of the file, requested
 * through fd, meets first: its start, length and PID (-1 for an OFD
 * lock), or "none". */
static void first_met(int fd, off_t start, char *out, size_t len)
{
	struct flock fl = range(F_WRLCK, start, 0);
	if (fcntl(fd, F_OFD_GETLK, &fl) < 0)
		snprintf(out, len, "F_OFD_GETLK: %s", strerror(errno));
	else if (fl.l_type == F_UNLCK)
		snprintf(out, len, "none");
	else
		snprintf(out, len, "%lld+%lld pid %d", (long long)fl.l_start, (long long)fl.l_len, (int)fl.l_pid);
}

/* What the three requests ASKED meet first (FDS and FROM: through which
 * open file, from which byte), against WANT: how many differ, each said. */
static int met_as(const int fds[3], const off_t from[3], const char *const asked[3], char want[3][64],
		  const char *when)
{
	char got[3][64];
	for (int i = 0; i < 3; i++)
		first_met(fds[i], from[i], got[i], sizeof(got[i]));
	int failed = 0;
	for (int i = 0; i < 3; i++)
		if (strcmp(want[i], got[i]) != 0) {
			say("%s: a write lock %s meets %s, expected %s", when, asked[i], got[i], want[i]);
			failed++;
		}
	return failed;
}

/* The order's three checks (above): how many failed. */
static int order_seen(int c, int d, const char *when)
{
	char want[3][64];
	snprintf(want[0], sizeof(want[0]), "0+100 pid -1");
	snprintf(want[1], sizeof(want[1]), "50+60 pid %d", (int)getpid());
	snprintf(want[2], sizeof(want[2]), "120+10 pid -1");
	static const char *const asked[3] = {"through a new open file", "through C", "through C from byte 110"};
	return met_as((const int[3]){d, c, c}, (const off_t[3]){0, 0, 110}, asked, want, when);
}

static int order(void)
{
	int a = open_in("r", O_RDWR), b = open_in("r", O_RDWR), c = open_in("r", O_RDWR);
	SETUP(ftruncate(a, 4096) == 0, "size r");
	struct flock fl = range(F_RDLCK, 0, 100);
	SETUP(fcntl(c, F_OFD_SETLK, &fl) == 0, "C's OFD lock");
	fl = range(F_RDLCK, 50, 60);
	SETUP(fcntl(a, F_SETLK, &fl) == 0, "the POSIX lock through A");
	fl = range(F_RDLCK, 120, 10);
	SETUP(fcntl(b, F_OFD_SETLK, &fl) == 0, "B's OFD lock");
	fl = range(F_RDLCK, 100, 100);
	SETUP(fcntl(a, F_OFD_SETLK, &fl) == 0, "A's OFD lock");
	/* Kept open: closing any descriptor of r would drop the POSIX lock. */
	int d = open_in("r", O_RDWR);
	SETUP(order_seen(c, d, "before") == 0, "the locks' order before the migration (above)");
	say("ready");
	usr1_wait();
	CHECK(order_seen(c, d, "after") == 0, "the locks' order after the migration (above)");
	return tp_finish();
}

/* A child made by fork, or clone with flags (CLONE_FILES), killed
 * when this process dies, that takes a flock exclusive lock through fd
 * and, with ofd >= 0, an OFD write lock on bytes 0-9 through ofd, and
 * with close_fd closes fd then; returns once it has, and it waits until
 * SIGUSR1 (end_child). */
static pid_t locking_child(unsigned long flags, int fd, int ofd, bool close_fd)
{
	int taken[2];
	SETUP(pipe(taken) == 0, "pipe");
	pid_t kid = flags ? (pid_t)syscall(SYS_clone, flags | SIGCHLD, 0, NULL, NULL, 0) : fork();
	SETUP(kid >= 0, "fork");
	if (kid == 0) {
		struct flock fl = range(F_WRLCK, 0, 10);
		char c = prctl(PR_SET_PDEATHSIG, SIGKILL) == 0 && flock(fd, LOCK_EX) == 0 &&
				 (ofd < 0 || fcntl(ofd, F_OFD_SETLK, &fl) == 0) && (!close_fd || close(fd) == 0)
			 ? 'y'
			 : 'n';
		if (write(taken[1], &c, 1) != 1)
			_exit(2);
		usr1_wait();
		_exit(0);
	}
	char c = 0;
	SETUP(read(taken[0], &c, 1) == 1 && c == 'y', "the child's locks");
	close(taken[0]);
	close(taken[1]);
	return kid;
}

static void end_child(pid_t kid)
{
	int status = 0;
	CHECK(kill(kid, SIGUSR1) == 0 && waitpid(kid, &status, 0) == kid && WIFEXITED(status) &&
		      WEXITSTATUS(status) == 0, "the child ended (status %#x)", status);
}

/* The tree order's three checks (above) through D: how many failed. */
static int tree_order_seen(int d, pid_t kid, const char *when)
{
	char want[3][64];
	snprintf(want[0], sizeof(want[0]), "0+100 pid %d", (int)kid);
	snprintf(want[1], sizeof(want[1]), "50+60 pid %d", (int)getpid());
	snprintf(want[2], sizeof(want[2]), "120+10 pid -1");
	static const char *const asked[3] = {"from byte 0", "from byte 100", "from byte 110"};
	return met_as((const int[3]){d, d, d}, (const off_t[3]){0, 100, 110}, asked, want, when);
}

/* In the child of treeorder: each byte read from cmd takes the next of
 * its two locks through its own open file of "t", answered on done;
 * then it waits until SIGUSR1 (end_child). */
static void tree_order_child(int cmd, int done)
{
	SETUP(prctl(PR_SET_PDEATHSIG, SIGKILL) == 0, "PR_SET_PDEATHSIG");
	int b = open_in("t", O_RDWR);
	char c;
	struct flock fl = range(F_RDLCK, 0, 100);
	SETUP(read(cmd, &c, 1) == 1 && fcntl(b, F_SETLK, &fl) == 0 && write(done, "y", 1) == 1, "the child's POSIX lock");
	fl = range(F_RDLCK, 120, 10);
	SETUP(read(cmd, &c, 1) == 1 && fcntl(b, F_OFD_SETLK, &fl) == 0 && write(done, "y", 1) == 1,
	      "the child's OFD lock");
	usr1_wait();
	_exit(0);
}

static int tree_order(void)
{
	int cmd[2], done[2];
	SETUP(pipe(cmd) == 0 && pipe(done) == 0, "pipes");
	/* A zombie in the tree too: a member without descriptors. */
	pid_t zombie = fork();
	SETUP(zombie >= 0, "fork");
	if (zombie == 0)
		_exit(0);
	pid_t kid = fork();
	SETUP(kid >= 0, "fork");
	if (kid == 0)
		tree_order_child(cmd[0], done[1]);
	int a = open_in("t", O_RDWR);
	SETUP(ftruncate(a, 4096) == 0, "size t");
	char c;
	struct flock fl = range(F_RDLCK, 50, 60);
	SETUP(write(cmd[1], "1", 1) == 1 && read(done[0], &c, 1) == 1, "the child's first lock");
	SETUP(fcntl(a, F_SETLK, &fl) == 0, "the POSIX lock");
	SETUP(write(cmd[1], "2", 1) == 1 && read(done[0], &c, 1) == 1, "the child's second lock");
	fl = range(F_RDLCK, 100, 100);
	SETUP(fcntl(a, F_OFD_SETLK, &fl) == 0, "A's OFD lock");
	int d = open_in("t", O_RDWR); /* kept open: closing it would drop the POSIX lock */
	SETUP(tree_order_seen(d, kid, "before") == 0, "the locks' order before the migration (above)");
	say("ready");
	usr1_wait();
	CHECK(tree_order_seen(d, kid, "after") == 0, "the locks' order after the migration (above)");
	end_child(kid);
	int status = 0;
	CHECK(waitpid(zombie, &status, 0) == zombie && WIFEXITED(status) && WEXITSTATUS(status) == 0,
	      "the zombie reaped (status %#x)", status);
	return tp_finish();
}

static int shared(void)
{
	int sf = open_in("sf", O_RDWR), so = open_in("so", O_RDWR), pf = open_in("pf", O_RDONLY);
	pid_t kid = locking_child(0, sf, so, false);
	SETUP(flock(pf, LOCK_SH) == 0, "flock pf");
	const int fds[] = {sf, so, pf};
	enum { N = sizeof(fds) / sizeof(fds[0]) };
	char before[N][2][1024];
	for (int i = 0; i < N; i++) {
		lock_lines_of(0, fds[i], true, before[i][0], sizeof(before[i][0]));
		lock_lines_of(kid, fds[i], true, before[i][1], sizeof(before[i][1]));
	}
	char want_kid[64], want_self[64];
	snprintf(want_kid, sizeof(want_kid), "FLOCK ADVISORY WRITE %d ", (int)kid);
	snprintf(want_self, sizeof(want_self), "FLOCK ADVISORY READ %d ", (int)getpid());
	SETUP(strstr(before[0][0], want_kid) && strstr(before[2][1], want_self), "fdinfo names each flock's taker");
	say("ready");
	usr1_wait();
	for (int i = 0; i < N; i++)
		for (int who = 0; who < 2; who++) {
			char after[1024];
			lock_lines_of(who ? kid : 0, fds[i], true, after, sizeof(after));
			CHECK(strcmp(before[i][who], after) == 0, "fd %d of %s: locks \"%s\", were \"%s\"", fds[i],
			      who ? "the child" : "the process", after, before[i][who]);
		}
	end_child(kid);
	return tp_finish();
}

/* After the wake-up: the fdinfo lock lines of NAME, open at fd, are
 * EXPECTED, and another open file of it cannot take a flock. */
static void flock_kept(const char *name, int fd, const char *expected)
{
	char after[1024];
	lock_lines(fd, true, after, sizeof(after));
	CHECK(strcmp(expected, after) == 0, "%s: locks \"%s\", expected \"%s\"", name, after, expected);
	int other = open_in(name, O_RDONLY);
	CHECK(flock(other, LOCK_EX | LOCK_NB) < 0 && errno == EWOULDBLOCK, "%s's flock is held", name);
	close(other);
}

static int closed_taker(void)
{
	int c = open_in("c", O_RDONLY);
	pid_t kid = locking_child(0, c, -1, true);
	char before[1024], want[64], kid_fd[64];
	snprintf(want, sizeof(want), "FLOCK ADVISORY WRITE %d ", (int)kid);
	lock_lines(c, true, before, sizeof(before));
	SETUP(strstr(before, want), "fdinfo names the child");
	snprintf(kid_fd, sizeof(kid_fd), "/proc/%d/fd/%d", (int)kid, c);
	SETUP(access(kid_fd, F_OK) < 0 && errno == ENOENT, "the child closed its descriptor of c");
	say("ready");
	usr1_wait();
	flock_kept("c", c, before);
	end_child(kid);
	return tp_finish();
}

static int table(void)
{
	int tf = open_in("tf", O_RDONLY);
	pid_t kid = locking_child(CLONE_FILES, tf, -1, false);
	say("ready");
	usr1_wait();
	int other = open_in("tf", O_RDONLY);
	CHECK(flock(other, LOCK_EX | LOCK_NB) < 0 && errno == EWOULDBLOCK, "the child's flock on tf is held");
	end_child(kid);
	return tp_finish();
}

/* Whether this process is in a PID namespace below the first: the
 * first's inode number is fixed (PROC_PID_INIT_INO). */
static bool below_first_pid_namespace(void)
{
	struct stat st;
	SETUP(stat("/proc/self/ns/pid", &st) == 0, "stat /proc/self/ns/pid");
	return st.st_ino != 0xEFFFFFFCu;
}

/* In the grandchild of outside: takes its flock through k, writes its
 * PID to report (0 where it failed), then holds no descriptor but a pidfd
 * of the process, until that ends. */
static void outside_taker(pid_t process, int k, int report)
{
	int pidfd = (int)syscall(SYS_pidfd_open, process, 0);
	pid_t self = getpid(), none = 0;
	bool ok = pidfd >= 0 && flock(k, LOCK_EX) == 0;
	if (write(report, ok ? &self : &none, sizeof self) != sizeof self || !ok)
		_exit(2);
	if ((pidfd > 0 && syscall(SYS_close_range, 0, pidfd - 1, 0) < 0) ||
	    syscall(SYS_close_range, pidfd + 1, ~0U, 0) < 0)
		_exit(2);
	struct pollfd done = {.fd = pidfd, .events = POLLIN};
	poll(&done, 1, 600 * 1000);
	_exit(0);
}

static int outside(void)
{
	int k = open_in("k", O_RDONLY), report[2];
	SETUP(pipe(report) == 0, "pipe");
	pid_t self = getpid(), kid = fork();
	SETUP(kid >= 0, "fork");
	if (kid == 0) {
		pid_t grandchild = fork();
		if (grandchild == 0)
			outside_taker(self, k, report[1]);
		_exit(grandchild > 0 ? 0 : 1);
	}
	int status;
	pid_t taker = 0;
	SETUP(waitpid(kid, &status, 0) == kid && WIFEXITED(status) && WEXITSTATUS(status) == 0, "the child");
	SETUP(read(report[0], &taker, sizeof taker) == sizeof taker && taker > 0, "the grandchild's flock");
	close(report[0]);
	close(report[1]);
	char stat[512], stat_path[64], *paren;
	snprintf(stat_path, sizeof(stat_path), "/proc/%d/stat", (int)taker);
	int ppid = 0;
	SETUP(read_text(stat_path, stat, sizeof(stat)) > 0 && (paren = strrchr(stat, ')')) &&
		      sscanf(paren + 1, " %*c %d", &ppid) == 1 && ppid != self,
	      "the taker is not this process's child");
	char before[1024], want[64];
	snprintf(want, sizeof(want), "FLOCK ADVISORY WRITE %d ", (int)taker);
	lock_lines(k, true, before, sizeof(before));
	SETUP(strstr(before, want), "fdinfo names the taker");
	/* Below the first PID namespace /proc shows a gone taker as 0, the
	 * stand-in too (README): the PID is what a view from the first shows. */
	char expected[1024], *at = strstr(before, want);
	if (below_first_pid_namespace())
		snprintf(expected, sizeof(expected), "%.*sFLOCK ADVISORY WRITE 0 %s", (int)(at - before), before,
			 at + strlen(want));
	else
		snprintf(expected, sizeof(expected), "%s", before);
	say("taker %d", (int)taker);
	say("ready");
	usr1_wait();
	flock_kept("k", k, expected);
	return tp_finish();
}

static int hold(const char *name, off_t start)
{
	int p = open_in(name, O_RDWR);
	struct flock fl = range(F_WRLCK, start, 10);
	SETUP(fcntl(p, F_SETLK, &fl) == 0, "a POSIX write lock to hold");
	say("ready");
	usr1_wait();
	return tp_finish();
}

/* holdflock: takes a flock exclusive lock on DIR/c and waits: the holder
 * that keeps closedtaker's child from taking its flock again. */
static int hold_flock(void)
{
	int c = open_in("c", O_RDONLY);
	SETUP(flock(c, LOCK_EX) == 0, "a flock to hold");
	say("ready");
	usr1_wait();
	return tp_finish();
}

static int refused(const char *mode)
{
	int fd;
	if (strcmp(mode, "lease") == 0) {
		fd = open_in("l", O_RDONLY);
		SETUP(fcntl(fd, F_SETLEASE, F_RDLCK) == 0, "read lease");
	} else {
		char path[4200];
		snprintf(path, sizeof(path), "%s/fifo", dir);
		SETUP(mkfifo(path, 0600) == 0 || errno == EEXIST, "mkfifo");
		fd = open(path, O_RDONLY | O_NONBLOCK);
		SETUP(fd >= 0 && flock(fd, LOCK_EX) == 0, "flock the FIFO");
	}
	say("ready");
	usr1_wait();
	struct stat st;
	CHECK(fstat(fd, &st) == 0, "fstat");
	return tp_finish();
}

int main(int argc, char **argv)
{
	if (argc != 3 || !realpath(argv[2], dir)) {
		say("FAIL: usage: locks carried|shared|closedtaker|order|treeorder|outside|table|hold|holdtree|holdflock|lease|fifo DIR (an existing directory)");
		return 2;
	}
	usr1_setup();
	if (strcmp(argv[1], "carried") == 0)
		return carried();
	if (strcmp(argv[1], "shared") == 0)
		return shared();
	if (strcmp(argv[1], "table") == 0)
		return table();
	if (strcmp(argv[1], "closedtaker") == 0)
		return closed_taker();
	if (strcmp(argv[1], "outside") == 0)
		return outside();
	if (strcmp(argv[1], "hold") == 0)
		return hold("p", 50);
	if (strcmp(argv[1], "holdtree") == 0)
		return hold("t", 0);
	if (strcmp(argv[1], "holdflock") == 0)
		return hold_flock();
	if (strcmp(argv[1], "order") == 0)
		return order();
	if (strcmp(argv[1], "treeorder") == 0)
		return tree_order();
	if (strcmp(argv[1], "lease") == 0 || strcmp(argv[1], "fifo") == 0)
		return refused(argv[1]);
	say("FAIL: unknown mode %s", argv[1]);
	return 2;
}
