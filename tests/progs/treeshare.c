/* treeshare FIFO: a tree whose members share kernel objects with their
 * parents, and a vfork in flight.
 *
 * The root R makes four children that wait for commands:
 *   F  clone(CLONE_FILES): R's descriptor table
 *   S  clone(CLONE_FS): R's cwd and umask, a table of its own
 *   B  clone(CLONE_FILES | CLONE_FS): both
 *   G  F's child, clone(CLONE_FILES): R's table through F
 * and a spawner V (fork) that, three times, vforks a child which writes
 * "vfork N waiting", opens FIFO (so it blocks until the test writes to
 * it), then runs this program again as "treeshare --exec N"; that
 * program reads a byte from V (sent once vfork has returned in V) and
 * exits with 7 * N, which V checks before it writes "vfork N done".
 *
 * R works in a directory of its own, made next to FIFO.  Before "ready":
 * F opens a file at fd 150 in the shared table and writes 3 bytes to it,
 * S one at fd 151 in its own; after the clones (and V) R changes its root
 * to that directory (chroot), then moves to another directory and umask,
 * all of which S and B see and F and G do not.  So S and B, whose files
 * are outside their root, are restored with a root that is not "/".
 * After SIGUSR1 (the test moved the tree meanwhile) every member checks
 * that what it shares is still shared and what it does not is not: a
 * descriptor R opens is seen by F, B and G only, one F, B or G opens is
 * seen by R, one S opens is not; R's root is still its directory; R's new
 * cwd and umask reach S and B only.  Then all end, R reaps them, and says
 * PASS. */
#include <libgen.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "testprog.h"

enum { F, S, B, G, NKIDS };
static const char *const names[NKIDS] = {"F", "S", "B", "G"};
static const bool shares_table[NKIDS] = {true, false, true, true};
static const bool shares_fs[NKIDS] = {false, true, true, false};

struct shared {
	char cwd[256];       /* R's cwd for the next fs check */
	unsigned umask;      /* R's umask then */
	char first_cwd[256]; /* where the members that do not share it stay */
	unsigned first_umask;
};

static struct shared *sh;
static int cmd[NKIDS][2], ack[NKIDS][2];
static char stacks[NKIDS][65536] __attribute__((aligned(16)));

/* Read by setting it, and back at once: /proc is outside the root of R,
 * S and B, and nothing else of theirs runs meanwhile. */
static unsigned umask_of_self(void)
{
	mode_t mask = umask(0);
	umask(mask);
	return mask;
}

static bool same_dir(const char *a, const char *b)
{
	struct stat x, y;
	return stat(a, &x) == 0 && stat(b, &y) == 0 && x.st_dev == y.st_dev && x.st_ino == y.st_ino;
}

/* One command for kid k: 'f' the table check, 's' the fs check, 'q' quit.
 * Answers 'y' when what it sees is what its role says. */
static bool answer(int k, char c)
{
	if (c == 'f') {
		/* A new descriptor, without a path (/dev is outside some roots). */
		bool sees = fcntl(200, F_GETFD) != -1;
		return dup2(1, 201 + k) == 201 + k && sees == shares_table[k];
	}
	char here[256];
	if (!getcwd(here, sizeof here))
		return false;
	const char *want = shares_fs[k] ? sh->cwd : sh->first_cwd;
	unsigned mask = shares_fs[k] ? sh->umask : sh->first_umask;
	return same_dir(here, want) && umask_of_self() == mask;
}

static int kid_main(void *arg)
{
	int k = (int)(intptr_t)arg;
	pid_t grandchild = 0;
	if (k == F) {
		int fd = open("f-made", O_RDWR | O_CREAT | O_TRUNC, 0600);
		if (fd < 0 || dup2(fd, 150) != 150 || write(150, "abc", 3) != 3)
			_exit(10);
		close(fd);
		grandchild = clone(kid_main, stacks[G] + sizeof stacks[G], CLONE_FILES | SIGCHLD, (void *)(intptr_t)G);
		if (grandchild < 0)
			_exit(11);
	}
	if (k == S) {
		int fd = open("s-made", O_RDWR | O_CREAT | O_TRUNC, 0600);
		if (fd < 0 || dup2(fd, 151) != 151)
			_exit(10);
		close(fd);
	}
	char c = 0;
	char y = 'r'; /* ready */
	if (write(ack[k][1], &y, 1) != 1)
		_exit(12);
	while (read(cmd[k][0], &c, 1) == 1 && c != 'q') {
		y = answer(k, c) ? 'y' : 'n';
		if (write(ack[k][1], &y, 1) != 1)
			_exit(12);
	}
	int status = 0;
	if (grandchild && (waitpid(grandchild, &status, __WALL) != grandchild || !WIFEXITED(status) ||
			   WEXITSTATUS(status) != 0))
		_exit(13);
	_exit(c == 'q' ? 0 : 14);
}

static char ask(int k, char c)
{
	char y = 0;
	SETUP(write(cmd[k][1], &c, 1) == 1, "command");
	SETUP(read(ack[k][0], &y, 1) == 1, "answer");
	return y;
}

/* V: three vforks, each held by its child at FIFO until the test opens it. */
static int spawner(const char *self, const char *fifo)
{
	for (volatile int round = 1; round <= 3; round++) {
		int go[2];
		if (pipe2(go, O_CLOEXEC) < 0)
			return 20;
		char waiting[64], arg[16];
		int len = snprintf(waiting, sizeof waiting, "vfork %d waiting\n", round);
		snprintf(arg, sizeof arg, "%d", round);
		pid_t child = vfork();
		if (child == 0) {
			/* Only system calls here: the memory is V's until exec. */
			char b;
			int gate;
			if (write(1, waiting, (size_t)len) != len || (gate = open(fifo, O_RDONLY | O_CLOEXEC)) < 0 ||
			    read(gate, &b, 1) != 1 || dup2(go[0], 0) != 0)
				_exit(21);
			execl(self, "treeshare", "--exec", arg, (char *)NULL);
			_exit(22);
		}
		if (child < 0)
			return 23;
		close(go[0]);
		int status = 0;
		if (write(go[1], "x", 1) != 1 || waitpid(child, &status, 0) != child)
			return 24;
		close(go[1]);
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 7 * round) {
			say("FAIL: the program vfork %d ran ended with status %#x", round, status);
			return 25;
		}
		say("vfork %d done", round);
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "--exec") == 0) {
		char b;
		return read(0, &b, 1) == 1 ? 7 * atoi(argv[2]) : 1;
	}
	if (argc != 2) {
		say("FAIL: usage: treeshare FIFO");
		return 2;
	}
	usr1_setup();
	char self[4096];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	SETUP(n > 0, "readlink /proc/self/exe");
	self[n] = 0;
	char dir[256], fifo_dir[200];
	SETUP(strlen(argv[1]) < sizeof fifo_dir, "FIFO's path is short");
	snprintf(fifo_dir, sizeof fifo_dir, "%s", argv[1]);
	snprintf(dir, sizeof dir, "%s/treeshare.XXXXXX", dirname(fifo_dir));
	SETUP(mkdtemp(dir) != NULL, "mkdtemp");
	SETUP(chdir(dir) == 0 && mkdir("a", 0700) == 0 && mkdir("b", 0700) == 0, "directories");
	sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	SETUP(sh != MAP_FAILED, "mmap");
	umask(027);
	snprintf(sh->first_cwd, sizeof sh->first_cwd, "%s", dir);
	sh->first_umask = 027;
	for (int k = 0; k < NKIDS; k++)
		SETUP(pipe(cmd[k]) == 0 && pipe(ack[k]) == 0, "pipe");
	static const int flags[NKIDS] = {CLONE_FILES, CLONE_FS, CLONE_FILES | CLONE_FS, 0};
	pid_t kid[NKIDS] = {0};
	for (int k = 0; k < G; k++) {
		kid[k] = clone(kid_main, stacks[k] + sizeof stacks[k], flags[k] | SIGCHLD, (void *)(intptr_t)k);
		SETUP(kid[k] > 0, "clone");
	}
	for (int k = 0; k < NKIDS; k++) {
		char r = 0;
		SETUP(read(ack[k][0], &r, 1) == 1 && r == 'r', "a child's first word");
	}
	pid_t v = fork();
	SETUP(v >= 0, "fork");
	if (v == 0)
		_exit(spawner(self, argv[1]));
	/* Now S and B see R move; F and G stay. */
	SETUP(chroot(".") == 0, "chroot");
	SETUP(chdir("a") == 0, "chdir a");
	umask(022);
	say("ready");
	usr1_wait();

	CHECK(lseek(150, 0, SEEK_CUR) == 3, "fd 150, which F opened in the shared table, is at %lld",
	      (long long)lseek(150, 0, SEEK_CUR));
	CHECK(fcntl(151, F_GETFD) == -1, "fd 151, which S opened in a table of its own, is in R's");
	char here[256] = "";
	CHECK(getcwd(here, sizeof here) && strcmp(here, "/a") == 0, "R's cwd is %s, not /a in its root", here);
	SETUP(dup2(1, 200) == 200, "fd 200");
	for (int k = 0; k < NKIDS; k++) {
		CHECK(ask(k, 'f') == 'y', "%s does not see R's descriptor table as its role says", names[k]);
		CHECK((fcntl(201 + k, F_GETFD) != -1) == shares_table[k], "R %s fd %d, which %s opened",
		      shares_table[k] ? "does not see" : "sees", 201 + k, names[k]);
		close(201 + k);
	}
	close(200);
	SETUP(chdir("../b") == 0, "chdir b");
	umask(077);
	SETUP(getcwd(sh->cwd, sizeof sh->cwd) != NULL, "getcwd");
	sh->umask = 077;
	for (int k = 0; k < NKIDS; k++)
		CHECK(ask(k, 's') == 'y', "%s does not see R's cwd and umask as its role says", names[k]);

	int status;
	for (int k = 0; k < NKIDS; k++) {
		char q = 'q';
		SETUP(write(cmd[k][1], &q, 1) == 1, "quit");
	}
	for (int k = 0; k < G; k++)
		CHECK(waitpid(kid[k], &status, __WALL) == kid[k] && WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "%s ended with status %#x", names[k], status);
	CHECK(waitpid(v, &status, 0) == v && WIFEXITED(status) && WEXITSTATUS(status) == 0,
	      "the spawner ended with status %#x", status);
	unlink("../f-made");
	unlink("../s-made");
	rmdir("../a");
	rmdir("../b"); /* the directory itself, outside R's root, goes with FIFO's */
	return tp_finish();
}
