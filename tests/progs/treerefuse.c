/* treerefuse MODE: a parent with one child that shares with it, or is in
 * a state, that binmig does not carry in a tree; dump must refuse it
 * (exit 4, naming the process and the reason) and leave both running.
 * MODE:
 *   stopped  the child stopped itself with SIGSTOP, in the parent's group
 *   clonevm  the child was created with CLONE_VM (one memory), not as a
 *            vfork child
 *   filesmap the child was created with CLONE_FILES (carried) and maps an
 *            unlinked file with no descriptor (refused for such a child)
 *   vfork    the child is a vfork child, blocked before exec: its parent
 *            cannot be frozen until it runs a program or exits
 *   traced   the child is traced by the parent (PTRACE_TRACEME)
 *   pdeathsig  the child asks for a signal when its parent dies, and the
 *            parent has a second thread (which of the two created the
 *            child cannot be told; the child alone is refused too: its
 *            parent stays behind)
 *   unlinkedmap  parent and child map one unlinked file, shared, with no
 *            descriptor held
 *   memfdapart  parent and child hold one memfd through two open file
 *            descriptions (the child reopened it through /proc)
 *   zombiegroups  the child took 65 supplementary groups and exited: a
 *            zombie with more groups than binmig carries (its other
 *            credentials, and exit signals other than SIGCHLD, are
 *            carried: tests/progs/tree.c zombiecreds, exitsig)
 *   zombieuserns  the child made a user namespace of its own (unshare)
 *            and exited: a zombie whose credentials belong to it
 *   sessgone the parent leads a session and is a subreaper; the child
 *            named forks B, which makes a session of its own (setsid),
 *            creates C with CLONE_PARENT (the named child's child), forks
 *            O and exits, reaped: O becomes the parent's.  C and O are in
 *            session B, whose leader is gone, with different parents
 *            outside it (one stand-in cannot make both; carried with one:
 *            tests/progs/tree.c sessgone); dumped alone, the named child's
 *            tree holds C, and O is outside it in that session
 *   execed   the child was made with clone() to send SIGUSR1 at its exit
 *            (carried: tests/progs/tree.c exitsig), then the parent ran
 *            a program (itself again, execve): the kernel sends SIGCHLD
 *            instead, which the parent checks once woken
 * The parent prints the child's PID, then "ready", waits for SIGUSR1,
 * checks that the child is still what it was (the shared page still
 * shared), ends it and prints PASS. */
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>

#include <grp.h>
#include <sys/prctl.h>

#include "testprog.h"

#define CARRIED_GROUPS 64 /* binmig's BM_MAX_GROUPS */

static char stack[65536] __attribute__((aligned(16)));

static int clonevm_child(void *arg)
{
	(void)arg;
	for (;;)
		pause();
	return 0;
}

static void *pause_thread(void *arg)
{
	(void)arg;
	for (;;)
		pause();
	return NULL;
}

/* execed, once the parent ran itself again: KID's exit sends SIGCHLD. */
static int execed(pid_t kid)
{
	usr1_setup();
	sigset_t chld;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	SETUP(sigprocmask(SIG_BLOCK, &chld, NULL) == 0, "sigprocmask");
	say("%d", (int)kid);
	say("ready");
	usr1_wait();
	CHECK(tp_proc_state(kid) == 'S', "the child is in state %c", tp_proc_state(kid));
	kill(kid, SIGKILL);
	siginfo_t si = {0};
	struct timespec limit = {20, 0};
	CHECK(sigtimedwait(&chld, &si, &limit) == SIGCHLD && si.si_pid == kid, "no SIGCHLD from the child's exit");
	int status;
	CHECK(waitpid(kid, &status, __WALL) == kid && WIFSIGNALED(status), "the child's status is %#x", status);
	return tp_finish();
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "execed") == 0)
		return execed((pid_t)atoi(argv[2]));
	if (argc != 2) {
		say("FAIL: usage: treerefuse stopped|clonevm|filesmap|vfork|traced|pdeathsig|unlinkedmap|memfdapart|"
		    "zombiegroups|zombieuserns|sessgone|execed");
		return 2;
	}
	const char *mode = argv[1];
	usr1_setup();
	volatile uint64_t *shared = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	SETUP(shared != MAP_FAILED, "mmap");
	volatile uint64_t *unlinked = NULL;
	bool filesmap = strcmp(mode, "filesmap") == 0;
	if (strcmp(mode, "unlinkedmap") == 0 || filesmap) {
		char path[] = "/tmp/treerefuse.XXXXXX";
		int fd = mkstemp(path);
		SETUP(fd >= 0 && ftruncate(fd, 4096) == 0 && unlink(path) == 0, "unlinked file");
		unlinked = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		SETUP(unlinked != MAP_FAILED && close(fd) == 0, "mmap of the unlinked file");
	}
	int memfd = strcmp(mode, "memfdapart") == 0 ? memfd_create("treerefuse", 0) : -1;
	SETUP(memfd >= 0 || strcmp(mode, "memfdapart") != 0, "memfd_create");
	bool zombie = strcmp(mode, "zombiegroups") == 0 || strcmp(mode, "zombieuserns") == 0;
	pid_t child, sessgone_b = 0;
	int done[2] = {-1, -1};
	pthread_t second;
	if (strcmp(mode, "pdeathsig") == 0)
		SETUP(pthread_create(&second, NULL, pause_thread, NULL) == 0, "pthread_create");
	if (strcmp(mode, "clonevm") == 0 || filesmap) {
		/* filesmap: the child has the parent's table and a copy of its
		 * mapping of the unlinked file. */
		child = clone(clonevm_child, stack + sizeof stack, (filesmap ? CLONE_FILES : CLONE_VM) | SIGCHLD, NULL);
	} else if (strcmp(mode, "sessgone") == 0) {
		int p[2];
		/* A session of its own: the child's is not the root's, which
		 * would join the restorer's whatever led it. */
		SETUP(setsid() > 0 && pipe(p) == 0 && prctl(PR_SET_CHILD_SUBREAPER, 1) == 0, "setsid, pipe, subreaper");
		child = fork();
		SETUP(child >= 0, "fork");
		if (child == 0) {
			pid_t b = fork(), o = -1;
			if (b == 0) {
				bool made = setsid() > 0 && clone(clonevm_child, stack + sizeof stack, CLONE_PARENT, NULL) > 0;
				o = made ? fork() : -1;
				if (o == 0)
					for (;;)
						pause();
				_exit(o > 0 ? 0 : 1);
			}
			int status;
			pid_t said = b > 0 && waitpid(b, &status, 0) == b && status == 0 ? b : -1;
			*shared = 1;
			if (write(p[1], &said, sizeof said) != sizeof said)
				_exit(1);
			for (;;)
				pause();
		}
		SETUP(read(p[0], &sessgone_b, sizeof sessgone_b) == sizeof sessgone_b && sessgone_b > 0,
		      "the session's leader");
		close(p[0]);
		close(p[1]);
	} else if (strcmp(mode, "execed") == 0) {
		child = clone(clonevm_child, stack + sizeof stack, SIGUSR1, NULL);
		SETUP(child > 0, "clone");
		char kid[16];
		snprintf(kid, sizeof kid, "%d", (int)child);
		execl("/proc/self/exe", argv[0], "execed", kid, (char *)NULL);
		SETUP(false, "execve");
	} else if (strcmp(mode, "vfork") == 0) {
		/* The vfork child cannot say anything: a grandchild of ours reports
		 * for it.  The parent is blocked until the vfork child ends. */
		pid_t reporter = fork();
		SETUP(reporter >= 0, "fork");
		if (reporter == 0) {
			pid_t v = vfork();
			if (v == 0) {
				for (;;)
					syscall(SYS_pause);
			}
			_exit(0);
		}
		/* The reporter is the vfork parent: it is our child, and the
		 * vfork child is its child. */
		char path[64], buf[64] = "";
		snprintf(path, sizeof path, "/proc/%d/task/%d/children", (int)reporter, (int)reporter);
		for (int i = 0; i < 10000 && buf[0] == 0; i++) {
			if (read_file(path, buf, sizeof buf - 1) <= 0)
				buf[0] = 0;
			if (!buf[0])
				usleep(1000);
		}
		SETUP(buf[0] != 0, "vfork child");
		say("%d", atoi(buf));
		say("ready");
		usr1_wait();
		kill(atoi(buf), SIGKILL);
		int status;
		waitpid(reporter, &status, 0);
		CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the vfork parent's status is %#x", status);
		return tp_finish();
	} else {
		/* A child that runs on says on DONE that it has done all it does
		 * (its last munmap too) before its parent says ready: the test
		 * looks at it from then on. */
		if (!zombie && strcmp(mode, "stopped") != 0)
			SETUP(pipe2(done, O_CLOEXEC) == 0, "pipe");
		child = fork();
		if (child == 0) {
			if (done[0] >= 0)
				close(done[0]);
			if (strcmp(mode, "traced") == 0)
				ptrace(PTRACE_TRACEME, 0, 0, 0);
			if (strcmp(mode, "stopped") == 0)
				raise(SIGSTOP);
			if (strcmp(mode, "zombieuserns") == 0)
				_exit(unshare(CLONE_NEWUSER) == 0 ? 0 : 1);
			if (zombie) {
				gid_t groups[CARRIED_GROUPS + 1];
				for (int i = 0; i <= CARRIED_GROUPS; i++)
					groups[i] = (gid_t)(1000 + i);
				_exit(setgroups(CARRIED_GROUPS + 1, groups) == 0 ? 0 : 1);
			}
			if (strcmp(mode, "pdeathsig") == 0)
				prctl(PR_SET_PDEATHSIG, SIGTERM);
			if (memfd >= 0) {
				char self[64];
				snprintf(self, sizeof self, "/proc/self/fd/%d", memfd);
				int apart = open(self, O_RDWR);
				if (apart < 0 || close(memfd) < 0)
					_exit(1);
			}
			if (unlinked)
				*unlinked = 7;
			*shared = 1;
			if (strcmp(mode, "pdeathsig") == 0 || unlinked)
				munmap((void *)shared, 4096); /* nothing else to refuse */
			if (write(done[1], "r", 1) != 1 || close(done[1]) != 0)
				_exit(1);
			for (;;)
				pause();
		}
	}
	SETUP(child > 0, "fork");
	if (strcmp(mode, "stopped") == 0) {
		int status;
		SETUP(waitpid(child, &status, WUNTRACED) == child && WIFSTOPPED(status), "child stopped");
	} else if (zombie) {
		siginfo_t si;
		SETUP(waitid(P_PID, (id_t)child, &si, WEXITED | WNOWAIT) == 0 && si.si_status == 0, "the child exited");
	} else if (done[0] >= 0) {
		/* (traced: the child stops at its first signal as a tracee: give it none) */
		struct pollfd said = {.fd = done[0], .events = POLLIN};
		char c = 0;
		close(done[1]);
		SETUP(poll(&said, 1, 20000) == 1 && read(done[0], &c, 1) == 1 && c == 'r', "the child's setup");
		close(done[0]);
	}
	say("%d", (int)child);
	say("ready");
	usr1_wait();
	char st = tp_proc_state(child);
	CHECK(st == (strcmp(mode, "stopped") == 0 ? 'T' : zombie ? 'Z' : 'S'), "the child is in state %c", st);
	if (unlinked && !filesmap)
		CHECK(*unlinked == 7, "the unlinked file's page says %llu", (unsigned long long)*unlinked);
	kill(child, SIGKILL);
	int status;
	CHECK(waitpid(child, &status, 0) == child && (zombie ? WIFEXITED(status) : WIFSIGNALED(status)),
	      "the child's status is %#x", status);
	/* sessgone: C and O, in group B, are the parent's (C once its parent
	 * is gone). */
	if (sessgone_b > 0 && kill(-sessgone_b, SIGKILL) == 0)
		while (waitpid(-1, &status, 0) > 0)
			;
	return tp_finish();
}
