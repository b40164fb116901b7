/* tree DIR: a small process tree, checked after it was dumped and
 * restored (or migrated) as one unit.  The root forks:
 *   - "writer": writes 64 KiB minus 1 of a known sequence into a pipe to
 *     "reader" before ready (bytes in flight), the rest after the wake-up;
 *   - "reader": in a process group of its own (setpgid), reads the whole
 *     sequence after the wake-up and exits 0 only if its checksum is right;
 *   - "leader": a session of its own (setsid), asks for SIGUSR2 when its
 *     parent dies (PR_SET_PDEATHSIG), exits 0 only if it still leads its
 *     session and group and still asks for that signal;
 *   - "zombie": exits at once with status 42 and is not reaped: after the
 *     restore it must be a zombie still, with its user and group ids
 *     (/proc, and waitid's si_uid) as they were, and waitpid(pid) must
 *     give 42.  (Run as user 65534 by the test too.)
 * The children's descriptor tables have the default 64 slots (forked
 * with only low descriptors open); the root's, once it had descriptor
 * 300, 512: after the restore each has as many (FDSize), no more.
 * The root and the writer share one open file description of DIR/shared
 * (opened before the fork): after the restore kcmp says they still do,
 * and a write by one moves the other's offset.  Every process's stdout is
 * the root's (shared through fork too).
 * On SIGUSR1 the root checks parents, groups and sessions, wakes its
 * children (SIGUSR1) and waits for each by PID.
 *
 * tree DIR exitsig: two more children made with clone() and another exit
 * signal than SIGCHLD (/proc/PID/stat field 38): "usr1" sends SIGUSR1
 * when it exits and lives until woken, then exits 5; "nosig" sends
 * nothing and exits 6 at once, a zombie.  After the restore each still
 * has its exit signal; neither is seen by waitid/wait4 without __WCLONE,
 * both are with it (the zombie's status and si_uid as they were); woken,
 * "usr1" makes its parent get SIGUSR1 with CLD_EXITED, its PID and
 * status 5, and no SIGCHLD.
 * tree DIR zombiecreds (as root): two more zombies that exited with
 * other credentials than their parent's: "uid" with user ids 65533,
 * 65534, 65535 (real, effective, saved) and fs uid 65533, group ids
 * 65530, 65531, 65532 and fs gid 65529, groups 100 and 65534, login
 * uid 4242, bound to CPU 0, exit 44;
 * "caps" still root but with a smaller bounding set, permitted,
 * effective, inheritable and ambient sets of its own, and signals
 * blocked, ignored and caught of its own, two blocked ones pending (at
 * its thread and at the process), killed by SIGTERM.  After
 * the restore each shows the same Uid, Gid, Groups, Cap*, SigBlk,
 * SigIgn, SigCgt, SigPnd, ShdPnd and Cpus_allowed_list lines in
 * /proc/PID/status and /proc/PID/loginuid, /proc/PID has the same owner, and waitid gives the
 * same si_uid and status.
 * tree DIR sessgone: the root becomes a subreaper and makes sessions and
 * groups whose leaders exit: a child "B" calls setsid (session S = B's
 * PID) and forks "X1" (it stays in group S), "X2" (a group of its own in
 * S) and "G", which calls setpgid(0, 0) and forks "Y1" and "Y2" (Y1 forks
 * "Z"), all in group G; G and B exit, reaped, and X1, X2, Y1, Y2 become
 * the root's children.  A child "H" makes group H in the root's session,
 * forks "W" and exits: W too is the root's child.  After the restore the
 * root checks every one's parent, session and group, that no process
 * has PID S, G or H (no stand-in left), that no SIGCHLD came (blocked
 * since before ready), and wakes them by their groups (kill(-S), kill(-G),
 * kill(-X2), kill(-H)): each checks its own session, group and parent,
 * that its session's autogroup has the nice value it had (B gave S's 5),
 * and that it has no child left but Z, and exits 0.
 * tree DIR smalltab: before it forks, the root opens descriptions at
 * descriptors 40 to 50 (six files of DIR, two pipes, an eventfd) that
 * every child keeps, so that the tree shares them, and maps three files
 * of DIR, which the children map too; it does not take
 * descriptor 300 (its table is the one it was started with): the
 * children's tables have the default 64 slots, with little room left
 * above their highest descriptor for what the restore needs there.
 * After the restore each still has 64, every child still shares each of
 * those descriptions with the root (kcmp), and the mappings read as they
 * were.
 * tree DIR hightab: the same with the shared descriptions, and 24 more
 * of the first file, just below the open-files limit (tree.sh runs
 * binmig with the same limit), the highest as near it as the dump allows
 * (30 below): binmig must open the 35 it shares below that. */
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/fsuid.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <linux/capability.h>
#include <linux/kcmp.h>
#include <sched.h>
#include <grp.h>

#include "testprog.h"

#define PIPE_BYTES (1 << 20)
#define BEFORE (65536 - 1)

static uint8_t seq_byte(uint32_t i)
{
	return (uint8_t)(mix64(i) >> 17);
}

static uint64_t checksum(uint64_t sum, const uint8_t *b, size_t n, uint32_t at)
{
	for (size_t i = 0; i < n; i++)
		sum = mix64(sum ^ ((uint64_t)b[i] << 8) ^ (at + i));
	return sum;
}

static uint64_t expected_sum(void)
{
	uint64_t sum = 0;
	for (uint32_t i = 0; i < PIPE_BYTES; i++) {
		uint8_t b = seq_byte(i);
		sum = checksum(sum, &b, 1, i);
	}
	return sum;
}

static void write_seq(int fd, uint32_t from, uint32_t to)
{
	uint8_t buf[4096];
	while (from < to) {
		uint32_t n = to - from < sizeof buf ? to - from : sizeof buf;
		for (uint32_t i = 0; i < n; i++)
			buf[i] = seq_byte(from + i);
		tp_write_all(fd, (const char *)buf, n);
		from += n;
	}
}

static void signal_ready(int fd)
{
	char c = 1;
	tp_write_all(fd, &c, 1);
	close(fd);
}

static int writer(int out, int shared, int ready)
{
	write_seq(out, 0, BEFORE);
	signal_ready(ready);
	usr1_wait();
	write_seq(out, BEFORE, PIPE_BYTES);
	close(out);
	/* The root wrote 3 bytes through the shared description first. */
	CHECK(lseek(shared, 0, SEEK_CUR) == 3, "the writer's offset in the shared file is %ld, not 3",
	      (long)lseek(shared, 0, SEEK_CUR));
	return tp_failures ? 1 : 0;
}

static int reader(int in, int ready)
{
	SETUP(setpgid(0, 0) == 0, "setpgid");
	signal_ready(ready);
	usr1_wait();
	uint8_t buf[8192];
	uint64_t sum = 0;
	uint32_t at = 0;
	for (;;) {
		ssize_t n = read(in, buf, sizeof buf);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		sum = checksum(sum, buf, (size_t)n, at);
		at += (uint32_t)n;
	}
	CHECK(at == PIPE_BYTES, "the reader got %u bytes, not %u", at, PIPE_BYTES);
	CHECK(sum == expected_sum(), "the reader's checksum differs");
	CHECK(getpgrp() == getpid(), "the reader is in group %d, not its own", (int)getpgrp());
	return tp_failures ? 1 : 0;
}

static int leader(int ready)
{
	SETUP(setsid() == getpid(), "setsid");
	SETUP(prctl(PR_SET_PDEATHSIG, SIGUSR2) == 0, "PR_SET_PDEATHSIG");
	signal_ready(ready);
	usr1_wait();
	int pdeath = 0;
	CHECK(prctl(PR_GET_PDEATHSIG, &pdeath) == 0 && pdeath == SIGUSR2, "the leader's parent-death signal is %d, not %d",
	      pdeath, SIGUSR2);
	CHECK(getsid(0) == getpid(), "the leader is in session %d, not its own", (int)getsid(0));
	CHECK(getpgrp() == getpid(), "the leader is in group %d, not its own", (int)getpgrp());
	return tp_failures ? 1 : 0;
}

/* Field N of /proc/PID/stat (after the command name). */
static long stat_field(pid_t pid, int n)
{
	char path[64], buf[2048];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	if (read_text(path, buf, sizeof buf) <= 0)
		return -1;
	char *p = strrchr(buf, ')');
	if (!p)
		return -1;
	p += 2;
	for (int f = 3; f < n; f++) {
		p = strchr(p, ' ');
		if (!p)
			return -1;
		p++;
	}
	return n == 3 ? (long)*p : strtol(p, NULL, 10);
}

static int fds_in_root[4]; /* the pipe's ends and the ready pipe's */

/* A child keeps only the descriptors it is given (and 0-2, the file). */
static pid_t fork_child(int (*body)(int, int, int), int a, int b, int c)
{
	pid_t pid = fork();
	SETUP(pid >= 0, "fork");
	if (pid == 0) {
		for (int i = 0; i < 4; i++)
			if (fds_in_root[i] != a && fds_in_root[i] != c)
				close(fds_in_root[i]);
		_exit(body(a, b, c));
	}
	return pid;
}

/* The Uid, Gid, Groups, Cap*, SigBlk, SigIgn, SigCgt, SigPnd, ShdPnd and
 * Cpus_allowed_list lines of /proc/PID/status, into buf. */
static void creds_of(pid_t pid, char *buf, size_t len)
{
	char path[64], text[4096];
	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	ssize_t n = read_file(path, text, sizeof text - 1);
	text[n > 0 ? n : 0] = 0;
	buf[0] = 0;
	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"))
		if (!strncmp(line, "Uid:", 4) || !strncmp(line, "Gid:", 4) || !strncmp(line, "Groups:", 7) ||
		    !strncmp(line, "Cap", 3) || !strncmp(line, "SigBlk:", 7) || !strncmp(line, "SigIgn:", 7) ||
		    !strncmp(line, "SigCgt:", 7) || !strncmp(line, "SigPnd:", 7) || !strncmp(line, "ShdPnd:", 7) ||
		    !strncmp(line, "Cpus_allowed_list:", 18))
			snprintf(buf + strlen(buf), len - strlen(buf), "%s; ", line);
}

/* ---- tree DIR exitsig ---- */

static char stacks[2][65536] __attribute__((aligned(16)));

struct exitsig { pid_t usr1, nosig; siginfo_t nosig_si; };

static int usr1_child(void *arg)
{
	(void)arg;
	for (int i = 0; i < 4; i++)
		close(fds_in_root[i]); /* the reader waits for the pipe's last writer */
	usr1_wait();
	_exit(5);
}

static int nosig_child(void *arg)
{
	(void)arg;
	_exit(6);
}

#define SMALL_FD 40   /* smalltab: the first descriptor of the shared descriptions */
static int small_fd = SMALL_FD; /* hightab: just below the open-files limit */
#define HIGH_EXTRA 24  /* hightab: more descriptions of one file, below small_fd */
static int shared_lo = SMALL_FD; /* the first shared descriptor */
#define SMALL_FILES 6 /* the files, then two pipes and an eventfd (count 7) */
#define SMALL_N (SMALL_FILES + 5)
#define SMALL_MAPS 3

static void smalltab_setup(const char *dir, const char **maps)
{
	char path[4200], page[4096];
	int made[SMALL_N], k;
	for (k = 0; k < SMALL_FILES; k++) {
		snprintf(path, sizeof path, "%s/small%d", dir, k);
		made[k] = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	}
	SETUP(pipe(made + k) == 0 && pipe2(made + k + 2, O_NONBLOCK) == 0, "pipes");
	made[k + 4] = eventfd(7, 0);
	for (k = 0; k < SMALL_N; k++)
		SETUP(made[k] >= 0 && dup2(made[k], small_fd + k) == small_fd + k && close(made[k]) == 0,
		      "a description at its number");
	snprintf(path, sizeof path, "%s/small0", dir);
	for (int fd = shared_lo; fd < small_fd; fd++) {
		int o = open(path, O_RDONLY);
		SETUP(o >= 0 && dup2(o, fd) == fd && close(o) == 0, "another description at its number");
	}
	for (k = 0; k < SMALL_MAPS; k++) {
		snprintf(path, sizeof path, "%s/map%d", dir, k);
		int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
		memset(page, 'a' + k, sizeof page);
		SETUP(fd >= 0 && write(fd, page, sizeof page) == (ssize_t)sizeof page, "a file to map");
		maps[k] = mmap(NULL, sizeof page, PROT_READ, MAP_SHARED, fd, 0);
		SETUP(maps[k] != MAP_FAILED && close(fd) == 0, "mmap");
	}
}

static void smalltab_check(const char **maps, const pid_t *kids, int nkids)
{
	for (int i = 0; i < nkids; i++)
		for (int fd = shared_lo; fd < small_fd + SMALL_N; fd++)
			CHECK(syscall(SYS_kcmp, getpid(), kids[i], KCMP_FILE, fd, fd) == 0,
			      "process %d no longer shares descriptor %d with the root", (int)kids[i], fd);
	for (int k = 0; k < SMALL_MAPS; k++)
		CHECK(maps[k][0] == 'a' + k && maps[k][4095] == 'a' + k, "mapped file %d reads %c", k, maps[k][0]);
	uint64_t count = 0;
	CHECK(read(small_fd + SMALL_FILES + 4, &count, sizeof count) == sizeof count && count == 7,
	      "the eventfd's count is %llu, not 7", (unsigned long long)count);
}

static void exitsig_setup(struct exitsig *e)
{
	e->usr1 = clone(usr1_child, stacks[0] + sizeof stacks[0], SIGUSR1, NULL);
	e->nosig = clone(nosig_child, stacks[1] + sizeof stacks[1], 0, NULL);
	SETUP(e->usr1 > 0 && e->nosig > 0, "clone");
	SETUP(waitid(P_PID, (id_t)e->nosig, &e->nosig_si, WEXITED | WNOWAIT | __WCLONE) == 0, "waitid nosig");
	SETUP(stat_field(e->usr1, 38) == SIGUSR1 && stat_field(e->nosig, 38) == 0, "the exit signals");
}

static void exitsig_check(const struct exitsig *e)
{
	CHECK(stat_field(e->usr1, 38) == SIGUSR1, "usr1's exit signal is %ld", stat_field(e->usr1, 38));
	CHECK(stat_field(e->nosig, 38) == 0, "nosig's exit signal is %ld", stat_field(e->nosig, 38));
	CHECK(stat_field(e->usr1, 4) == getpid() && stat_field(e->nosig, 4) == getpid(), "usr1's or nosig's parent");
	CHECK(stat_field(e->nosig, 3) == 'Z', "nosig is in state %c", (int)stat_field(e->nosig, 3));
	siginfo_t si = {0};
	for (int k = 0; k < 2; k++) {
		pid_t pid = k ? e->nosig : e->usr1;
		errno = 0;
		CHECK(waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) < 0 && errno == ECHILD,
		      "waitid without __WCLONE sees %d: %s", (int)pid, strerror(errno));
	}
	memset(&si, 0, sizeof si);
	CHECK(waitid(P_PID, (id_t)e->nosig, &si, WEXITED | WNOWAIT | WNOHANG | __WCLONE) == 0 && si.si_pid == e->nosig &&
		      si.si_code == CLD_EXITED && si.si_status == 6 && si.si_uid == e->nosig_si.si_uid,
	      "waitid __WCLONE of nosig: pid %d code %d status %d uid %d", (int)si.si_pid, si.si_code, si.si_status,
	      (int)si.si_uid);
	memset(&si, 0, sizeof si);
	CHECK(waitid(P_PID, (id_t)e->usr1, &si, WEXITED | WNOHANG | __WCLONE) == 0 && si.si_pid == 0,
	      "waitid __WCLONE of the living usr1: pid %d", (int)si.si_pid);
	/* Its exit: SIGUSR1 (blocked since the wake-up) and no SIGCHLD. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	SETUP(sigprocmask(SIG_BLOCK, &set, NULL) == 0, "block SIGCHLD");
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	CHECK(kill(e->usr1, SIGUSR1) == 0, "kill usr1: %s", strerror(errno));
	struct timespec limit = {10, 0};
	memset(&si, 0, sizeof si);
	int sig = sigtimedwait(&set, &si, &limit);
	CHECK(sig == SIGUSR1 && si.si_code == CLD_EXITED && si.si_pid == e->usr1 && si.si_status == 5,
	      "at usr1's exit: signal %d code %d pid %d status %d", sig, si.si_code, (int)si.si_pid, si.si_status);
	SETUP(sigpending(&set) == 0, "sigpending");
	CHECK(!sigismember(&set, SIGCHLD), "a SIGCHLD came with usr1's exit");
	int status = -1;
	errno = 0;
	CHECK(wait4(e->usr1, &status, 0, NULL) < 0 && errno == ECHILD, "wait4 without __WCLONE reaps usr1");
	CHECK(wait4(e->usr1, &status, __WCLONE, NULL) == e->usr1 && WIFEXITED(status) && WEXITSTATUS(status) == 5,
	      "wait4 __WCLONE of usr1: status %#x", status);
	status = -1;
	CHECK(wait4(e->nosig, &status, __WCLONE, NULL) == e->nosig && WIFEXITED(status) && WEXITSTATUS(status) == 6,
	      "wait4 __WCLONE of nosig: status %#x", status);
}

/* ---- tree DIR sessgone ---- */

enum { X1, X2, Y1, Y2, Z, W, NGONE };
static const char *gone_names[NGONE] = {"X1", "X2", "Y1", "Y2", "Z", "W"};

struct gone_rec { int32_t role, pid, sid, pgid, ppid; };
struct sessgone { struct gone_rec r[NGONE]; pid_t s, g, h; };

/* The nice value of its session's autogroup, "" without autogroups. */
static void autogroup_nice(char *nice, size_t size)
{
	char text[64] = "";
	const char *at;
	nice[0] = 0;
	if (read_file("/proc/self/autogroup", text, sizeof text - 1) > 0 && (at = strstr(text, " nice ")))
		snprintf(nice, size, "%s", at + 6);
}

/* A member, its session and group made: says so, then once woken checks
 * them, its session's autogroup's nice value, its parent (the root's, or
 * Y1 for Z) and its children. */
static void gone_member(int rec_fd, int role, pid_t root, pid_t z)
{
	struct gone_rec r = {role, getpid(), getsid(0), getpgrp(), getppid()};
	char nice[16], now[16];
	autogroup_nice(nice, sizeof nice);
	tp_write_all(rec_fd, (const char *)&r, sizeof r);
	close(rec_fd);
	usr1_wait();
	CHECK(getsid(0) == r.sid && getpgrp() == r.pgid, "%s: session %d group %d, were %d %d", gone_names[role],
	      (int)getsid(0), (int)getpgrp(), r.sid, r.pgid);
	autogroup_nice(now, sizeof now);
	CHECK(strcmp(now, nice) == 0, "%s: its autogroup's nice %s, was %s", gone_names[role], now, nice);
	CHECK(getppid() == (role == Z ? r.ppid : root), "%s: parent %d", gone_names[role], (int)getppid());
	if (z > 0) {
		int status = -1;
		CHECK(kill(z, SIGUSR1) == 0 && waitpid(z, &status, 0) == z && WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "%s: its child Z ended with status %#x", gone_names[role], status);
	}
	errno = 0;
	CHECK(waitpid(-1, NULL, WNOHANG | __WALL) < 0 && errno == ECHILD, "%s has a child left", gone_names[role]);
	_exit(tp_failures ? 1 : 0);
}

static pid_t fork_or_die(void)
{
	pid_t pid = fork();
	SETUP(pid >= 0, "fork");
	return pid;
}

/* The processes of a session or group whose leader (B, G, H) exits. */
static void sessgone_setup(struct sessgone *sg)
{
	int rec[2];
	pid_t root = getpid();
	SETUP(prctl(PR_SET_CHILD_SUBREAPER, 1) == 0 && pipe(rec) == 0, "subreaper, pipe");
	pid_t b = fork_or_die();
	if (b == 0) {
		for (int i = 0; i < 4; i++)
			close(fds_in_root[i]);
		close(rec[0]);
		SETUP(setsid() == getpid(), "setsid");
		/* The session's autogroup, which its members share once B is gone. */
		int agfd = open("/proc/self/autogroup", O_WRONLY | O_CLOEXEC);
		if (agfd >= 0) {
			SETUP(write(agfd, "5", 1) == 1, "the autogroup's nice");
			close(agfd);
		}
		if (fork_or_die() == 0)
			gone_member(rec[1], X1, root, 0);
		if (fork_or_die() == 0) {
			SETUP(setpgid(0, 0) == 0, "setpgid X2");
			gone_member(rec[1], X2, root, 0);
		}
		pid_t g = fork_or_die();
		if (g == 0) {
			SETUP(setpgid(0, 0) == 0, "setpgid G");
			if (fork_or_die() == 0) {
				pid_t z = fork_or_die();
				if (z == 0)
					gone_member(rec[1], Z, root, 0);
				gone_member(rec[1], Y1, root, z);
			}
			if (fork_or_die() == 0)
				gone_member(rec[1], Y2, root, 0);
			_exit(0);
		}
		int status;
		_exit(waitpid(g, &status, 0) == g && status == 0 ? 0 : 1);
	}
	pid_t h = fork_or_die();
	if (h == 0) {
		for (int i = 0; i < 4; i++)
			close(fds_in_root[i]);
		close(rec[0]);
		SETUP(setpgid(0, 0) == 0, "setpgid H");
		if (fork_or_die() == 0)
			gone_member(rec[1], W, root, 0);
		_exit(0);
	}
	close(rec[1]);
	int sb = -1, sh = -1;
	SETUP(waitpid(b, &sb, 0) == b && sb == 0 && waitpid(h, &sh, 0) == h && sh == 0, "the leaders' exits");
	for (int k = 0; k < NGONE; k++) {
		struct gone_rec r;
		SETUP(read(rec[0], &r, sizeof r) == sizeof r && r.role >= 0 && r.role < NGONE, "a member's record");
		sg->r[r.role] = r;
	}
	close(rec[0]);
	sg->s = b;
	sg->g = sg->r[Y1].pgid;
	sg->h = h;
	SETUP(sg->r[X1].sid == b && sg->r[X1].pgid == b && sg->r[X2].pgid == sg->r[X2].pid && sg->r[Y2].pgid == sg->g &&
		      sg->r[Z].pgid == sg->g && sg->g != sg->r[Y1].pid && sg->r[W].pgid == h && sg->r[W].sid == getsid(0),
	      "the sessions and groups");
	/* Every SIGCHLD so far (B's and H's exits) taken; none may come again. */
	sigset_t chld;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	SETUP(sigprocmask(SIG_BLOCK, &chld, NULL) == 0, "block SIGCHLD");
	struct timespec none = {0, 0};
	while (sigtimedwait(&chld, NULL, &none) == SIGCHLD)
		;
}


static void sessgone_check(const struct sessgone *sg)
{
	for (int k = 0; k < NGONE; k++) {
		const struct gone_rec *r = &sg->r[k];
		long ppid = stat_field(r->pid, 4), pgid = stat_field(r->pid, 5), sid = stat_field(r->pid, 6);
		CHECK(ppid == (k == Z ? sg->r[Y1].pid : getpid()) && pgid == r->pgid && sid == r->sid,
		      "%s (%d): parent %ld group %ld session %ld, were %d %d %d", gone_names[k], r->pid, ppid, pgid, sid,
		      k == Z ? sg->r[Y1].pid : getpid(), r->pgid, r->sid);
	}
	pid_t leaders[] = {sg->s, sg->g, sg->h};
	for (int k = 0; k < 3; k++) {
		errno = 0;
		CHECK(kill(leaders[k], 0) < 0 && errno == ESRCH, "a process has PID %d, the leader that had exited",
		      (int)leaders[k]);
	}
	sigset_t pending;
	SETUP(sigpending(&pending) == 0, "sigpending");
	CHECK(!sigismember(&pending, SIGCHLD), "a SIGCHLD is pending at the root");
	/* Woken through their groups: a group made again reaches all its members. */
	pid_t groups[] = {sg->s, sg->g, sg->r[X2].pid, sg->h};
	for (int k = 0; k < 4; k++)
		CHECK(kill(-groups[k], SIGUSR1) == 0, "kill(-%d): %s", (int)groups[k], strerror(errno));
	alarm(30); /* a member the signal missed would never end */
	for (int k = 0; k < NGONE; k++) {
		int status = -1;
		if (k != Z)
			CHECK(waitpid(sg->r[k].pid, &status, 0) == sg->r[k].pid && WIFEXITED(status) &&
				      WEXITSTATUS(status) == 0,
			      "%s ended with status %#x", gone_names[k], status);
	}
	alarm(0);
}

/* ---- tree DIR zombiecreds ---- */

struct zombie_view { pid_t pid; char creds[1024]; uid_t owner; gid_t group; siginfo_t si; };

static void view_zombie(pid_t pid, struct zombie_view *v)
{
	memset(v, 0, sizeof *v);
	v->pid = pid;
	SETUP(waitid(P_PID, (id_t)pid, &v->si, WEXITED | WNOWAIT) == 0, "waitid of a zombie");
	creds_of(pid, v->creds, sizeof v->creds);
	char path[64], login[32] = "";
	snprintf(path, sizeof path, "/proc/%d/loginuid", (int)pid);
	ssize_t n = read_file(path, login, sizeof login - 1);
	snprintf(v->creds + strlen(v->creds), sizeof v->creds - strlen(v->creds), "loginuid %s", n > 0 ? login : "-");
	snprintf(path, sizeof path, "/proc/%d", (int)pid);
	struct stat st;
	SETUP(stat(path, &st) == 0, "stat /proc/PID");
	v->owner = st.st_uid;
	v->group = st.st_gid;
}

static void capset3(uint64_t eff, uint64_t prm, uint64_t inh)
{
	struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct d[2] = {{(uint32_t)eff, (uint32_t)prm, (uint32_t)inh},
					      {(uint32_t)(eff >> 32), (uint32_t)(prm >> 32), (uint32_t)(inh >> 32)}};
	SETUP(syscall(SYS_capset, &h, d) == 0, "capset");
}

static void zombiecreds_setup(struct zombie_view v[2])
{
	pid_t uid = fork();
	SETUP(uid >= 0, "fork");
	if (uid == 0) {
		int fd = open("/proc/self/loginuid", O_WRONLY | O_CLOEXEC); /* where audit is built in */
		if (fd >= 0 && (write(fd, "4242", 4) != 4 || close(fd) != 0))
			_exit(2);
		cpu_set_t one;
		CPU_ZERO(&one);
		CPU_SET(0, &one);
		SETUP(sched_setaffinity(0, sizeof one, &one) == 0, "sched_setaffinity");
		gid_t groups[] = {100, 65534};
		SETUP(setgroups(2, groups) == 0 && setresgid(65530, 65531, 65532) == 0, "setresgid");
		setfsgid(65529);
		SETUP(setresuid(65533, 65534, 65535) == 0, "setresuid");
		setfsuid(65533);
		_exit(44);
	}
	pid_t caps = fork();
	SETUP(caps >= 0, "fork");
	if (caps == 0) {
		uint64_t bind = 1ULL << CAP_NET_BIND_SERVICE;
		SETUP(prctl(PR_CAPBSET_DROP, CAP_SYS_BOOT) == 0, "PR_CAPBSET_DROP");
		capset3((1ULL << CAP_CHOWN) | bind, (1ULL << CAP_CHOWN) | (1ULL << CAP_KILL) | bind, bind);
		SETUP(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_NET_BIND_SERVICE, 0, 0) == 0, "ambient");
		/* Signal sets of its own too: SIGHUP and SIGUSR2 blocked, SIGPIPE
		 * ignored, SIGINT caught; then killed by SIGTERM. */
		sigset_t set;
		sigemptyset(&set);
		sigaddset(&set, SIGHUP);
		sigaddset(&set, SIGUSR2);
		struct sigaction ign = {.sa_handler = SIG_IGN}, caught = {.sa_handler = tp_on_usr1};
		SETUP(sigprocmask(SIG_SETMASK, &set, NULL) == 0 && sigaction(SIGPIPE, &ign, NULL) == 0 &&
			      sigaction(SIGINT, &caught, NULL) == 0,
		      "signal sets");
		/* Pending, blocked: SIGUSR2 at its thread, SIGHUP at the process. */
		SETUP(raise(SIGUSR2) == 0 && kill(getpid(), SIGHUP) == 0, "pending signals");
		raise(SIGTERM);
		_exit(45);
	}
	view_zombie(uid, &v[0]);
	view_zombie(caps, &v[1]);
	SETUP(v[0].si.si_uid == 65533 && strstr(v[1].creds, "CapAmb:\t0000000000000400"), "the zombies' credentials");
}

static void zombiecreds_check(const struct zombie_view v[2])
{
	for (int k = 0; k < 2; k++) {
		struct zombie_view now;
		CHECK(stat_field(v[k].pid, 3) == 'Z', "child %d is in state %c", (int)v[k].pid, (int)stat_field(v[k].pid, 3));
		view_zombie(v[k].pid, &now);
		CHECK(strcmp(now.creds, v[k].creds) == 0, "zombie %d's credentials are [%s], were [%s]", (int)v[k].pid,
		      now.creds, v[k].creds);
		CHECK(now.owner == v[k].owner && now.group == v[k].group, "/proc/%d is owned by %d:%d, was %d:%d",
		      (int)v[k].pid, (int)now.owner, (int)now.group, (int)v[k].owner, (int)v[k].group);
		CHECK(now.si.si_uid == v[k].si.si_uid && now.si.si_status == v[k].si.si_status &&
			      now.si.si_code == v[k].si.si_code,
		      "waitid of zombie %d: uid %d status %d, was uid %d status %d", (int)v[k].pid, (int)now.si.si_uid,
		      now.si.si_status, (int)v[k].si.si_uid, v[k].si.si_status);
		int status = -1;
		CHECK(waitpid(v[k].pid, &status, 0) == v[k].pid &&
			      (k == 0 ? WIFEXITED(status) && WEXITSTATUS(status) == 44 : status == SIGTERM),
		      "waitpid of zombie %d: status %#x", (int)v[k].pid, status);
	}
}

static int run_writer(int out, int shared, int ready) { return writer(out, shared, ready); }
static int run_reader(int in, int unused, int ready) { (void)unused; return reader(in, ready); }
static int run_leader(int unused, int unused2, int ready) { (void)unused; (void)unused2; return leader(ready); }

int main(int argc, char **argv)
{
	const char *mode = argc == 3 ? argv[2] : "";
	bool exitsig = strcmp(mode, "exitsig") == 0, zombiecreds = strcmp(mode, "zombiecreds") == 0;
	bool sessgone = strcmp(mode, "sessgone") == 0, hightab = strcmp(mode, "hightab") == 0;
	bool smalltab = strcmp(mode, "smalltab") == 0 || hightab;
	if ((argc != 2 && argc != 3) || (argc == 3 && !exitsig && !zombiecreds && !sessgone && !smalltab)) {
		say("FAIL: usage: tree DIR [exitsig|zombiecreds|sessgone|smalltab|hightab]");
		return 2;
	}
	struct rlimit nofile;
	SETUP(getrlimit(RLIMIT_NOFILE, &nofile) == 0, "getrlimit");
	if (hightab) {
		small_fd = (int)nofile.rlim_cur - 30 - (SMALL_N - 1);
		shared_lo = small_fd - HIGH_EXTRA;
	}
	usr1_setup();
	char path[4200];
	snprintf(path, sizeof path, "%s/shared", argv[1]);
	int shared = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	SETUP(shared >= 0, "open shared");
	int p[2], rp[2];
	SETUP(pipe(p) == 0 && pipe(rp) == 0, "pipe");
	fds_in_root[0] = p[0];
	fds_in_root[1] = p[1];
	fds_in_root[2] = rp[0];
	fds_in_root[3] = rp[1];
	const char *maps[SMALL_MAPS];
	if (smalltab)
		smalltab_setup(argv[1], maps);

	pid_t w = fork_child(run_writer, p[1], shared, rp[1]);
	pid_t r = fork_child(run_reader, p[0], -1, rp[1]);
	pid_t l = fork_child(run_leader, -1, -1, rp[1]);
	pid_t z = fork();
	SETUP(z >= 0, "fork");
	if (z == 0)
		_exit(42);
	/* The zombie is one (not reaped: WNOWAIT) before a mode's setup:
	 * sessgone's takes every SIGCHLD that has come, and the zombie's
	 * must not come after that. */
	siginfo_t si;
	SETUP(waitid(P_PID, (id_t)z, &si, WEXITED | WNOWAIT) == 0, "waitid zombie");
	struct exitsig es = {0};
	struct zombie_view zv[2];
	if (exitsig)
		exitsig_setup(&es);
	if (zombiecreds)
		zombiecreds_setup(zv);
	struct sessgone sg = {0};
	if (sessgone)
		sessgone_setup(&sg);
	/* (the zombie's descriptors are gone with it) */
	close(p[0]);
	close(p[1]);
	close(rp[1]);
	char got[3];
	ssize_t n = 0;
	while (n < 3) {
		ssize_t k = read(rp[0], got + n, 3 - (size_t)n);
		SETUP(k > 0, "children ready");
		n += k;
	}
	close(rp[0]);
	char zcreds[512], zcreds_now[512];
	creds_of(z, zcreds, sizeof zcreds);
	SETUP(strstr(zcreds, "Groups:") != NULL, "the zombie's credentials");
	SETUP(smalltab || (dup2(shared, 300) == 300 && close(300) == 0), "descriptor 300");
	pid_t sized[] = {getpid(), w, r, l};
	long table[4];
	for (int i = 0; i < 4; i++)
		table[i] = tp_fd_table_size(sized[i]);
	SETUP(hightab || ((smalltab || table[0] == 512) && table[1] == 64 && table[2] == 64 && table[3] == 64),
	      "the descriptor tables' sizes");
	pid_t my_pgid = getpgrp(), my_sid = getsid(0);
	say("ready");
	usr1_wait();

	for (int i = 0; i < 4; i++)
		CHECK(tp_fd_table_size(sized[i]) == table[i], "process %d's descriptor table has %ld slots, had %ld",
		      (int)sized[i], tp_fd_table_size(sized[i]), table[i]);

	/* The root's group and session were led from outside the tree: binmig
	 * puts the root in the restorer's (the test runs it in the session). */
	CHECK(getsid(0) == my_sid, "the root's session changed: %d, was %d", (int)getsid(0), (int)my_sid);
	my_pgid = getpgrp();
	pid_t kids[] = {w, r, l, z};
	for (int i = 0; i < 4; i++)
		CHECK(stat_field(kids[i], 4) == getpid(), "child %d has parent %ld", (int)kids[i], stat_field(kids[i], 4));
	CHECK(stat_field(z, 3) == 'Z', "child %d is in state %c, not a zombie", (int)z, (int)stat_field(z, 3));
	siginfo_t zsi = {0};
	CHECK(waitid(P_PID, (id_t)z, &zsi, WEXITED | WNOWAIT) == 0 && zsi.si_uid == si.si_uid &&
		      zsi.si_status == si.si_status && zsi.si_code == si.si_code,
	      "waitid of the zombie: uid %d code %d status %d, was uid %d code %d status %d", (int)zsi.si_uid, zsi.si_code,
	      zsi.si_status, (int)si.si_uid, si.si_code, si.si_status);
	creds_of(z, zcreds_now, sizeof zcreds_now);
	CHECK(strcmp(zcreds_now, zcreds) == 0, "the zombie's credentials are [%s], were [%s]", zcreds_now, zcreds);
	CHECK(stat_field(r, 5) == r, "the reader's group is %ld", stat_field(r, 5));
	CHECK(stat_field(w, 5) == my_pgid, "the writer's group is %ld, not the root's", stat_field(w, 5));
	char zcomm[64] = "";
	snprintf(path, sizeof path, "/proc/%d/comm", (int)z);
	CHECK(read_file(path, zcomm, sizeof zcomm - 1) > 0 && strcmp(zcomm, "tree\n") == 0, "the zombie is called %s", zcomm);
	CHECK(stat_field(l, 6) == l && stat_field(l, 5) == l, "the leader's session/group are %ld/%ld",
	      stat_field(l, 6), stat_field(l, 5));
	CHECK(syscall(SYS_kcmp, getpid(), w, KCMP_FILE, shared, shared) == 0,
	      "the root and the writer no longer share one description of the file");
	CHECK(syscall(SYS_kcmp, getpid(), w, KCMP_FILE, 1, 1) == 0, "the root and the writer no longer share stdout");
	tp_write_all(shared, "abc", 3);
	if (exitsig)
		exitsig_check(&es);
	if (zombiecreds)
		zombiecreds_check(zv);
	if (sessgone)
		sessgone_check(&sg);
	if (smalltab)
		smalltab_check(maps, kids, 3);

	for (int i = 0; i < 3; i++)
		CHECK(kill(kids[i], SIGUSR1) == 0, "kill %d: %s", (int)kids[i], strerror(errno));
	const char *names[] = {"writer", "reader", "leader", "zombie"};
	int want[] = {0, 0, 0, 42};
	for (int i = 0; i < 4; i++) {
		int status = -1;
		pid_t got_pid = waitpid(kids[i], &status, 0);
		CHECK(got_pid == kids[i], "waitpid(%d) for the %s: %s", (int)kids[i], names[i], strerror(errno));
		CHECK(WIFEXITED(status) && WEXITSTATUS(status) == want[i], "the %s's status is %#x, expected exit %d",
		      names[i], status, want[i]);
	}
	CHECK(waitpid(-1, NULL, WNOHANG | __WALL) < 0 && errno == ECHILD, "a child is left");
	return tp_finish();
}
