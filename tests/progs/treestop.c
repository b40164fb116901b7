/* treestop [continued|outer|orphan|gone|root|rootkids]: stopped children in a process tree, checked after
 * the tree was dumped and restored (or migrated).  The root forks:
 *   - "seen": in a process group of its own, stops itself (SIGTTIN); the root collects the stop
 *     (waitpid WUNTRACED) before ready;
 *   - "unseen": in a group of its own too, with two threads, stops itself (SIGTSTP); the root waits until it is
 *     stopped but does not collect the stop;
 *   - "plain": the same with one thread and SIGSTOP;
 *   - "zombie": exits with 7 at once and is not reaped.
 * On SIGUSR1 the root checks: all three are stopped ('T'); waitpid(WUNTRACED |
 * WNOHANG) reports the unseen one's stop (SIGTSTP), the plain one's
 * (SIGSTOP) and nothing for the seen one; then SIGCONT continues them,
 * each exits 42; the zombie gives 7.
 * With "continued", the seen one is also continued (SIGCONT) before ready
 * and the continue is not collected (it then waits for SIGUSR1): a dump must refuse that (exit 4); the
 * root then checks that it runs to its end.  With "outer", the stopped
 * children stay in the root's group (led from outside the tree): refused.
 * With "orphan" the root leads a group of its own, which its children stay
 * in, and the unseen child stops with SIGTSTP: at the destination that
 * group has no member whose parent is in another group of its session
 * (the root's parent stays behind), so the kernel would drop the SIGTSTP
 * that makes the stop again: refused.
 * With "gone" the root is a subreaper and the unseen child is made by a
 * child "L" that creates a group of its own (setpgid) and exits once the
 * unseen one has stopped in it: the unseen child is the root's, stopped in
 * a group whose leader has exited (a stand-in makes it again).
 * With "root" the root has no child and stops itself (SIGSTOP) right after
 * ready, "rootkids" the same with one child: a stopped process given to
 * binmig is refused, left stopped; continued (SIGCONT) and woken, it checks
 * that its child, if any, is still there. */
#include "testprog.h"

#include <pthread.h>
#include <sys/prctl.h>
#include <sys/wait.h>

/* Until every thread of pid is in state s (bounded: 10 s): a second
 * thread joins its process's group stop after the main one. */
static void wait_state(pid_t pid, char s)
{
	int64_t end = mono_ns() + 10 * 1000000000LL;
	while (!tp_threads_state(pid, s) && mono_ns() < end)
		usleep(100);
	SETUP(tp_threads_state(pid, s), "child with every thread in the expected state");
}

static bool outer_group, continued;

static void *idle(void *arg)
{
	for (;;)
		pause();
	return arg;
}

/* A job in a group of its own (as a shell makes it), unless outer_group;
 * threaded: with a second thread, which the group stop stops too. */
static pid_t stopper(bool threaded, int sig)
{
	pid_t pid = fork();
	SETUP(pid >= 0, "fork");
	if (pid == 0) {
		if (!outer_group)
			SETUP(setpgid(0, 0) == 0, "setpgid");
		pthread_t th;
		if (threaded)
			SETUP(pthread_create(&th, NULL, idle, NULL) == 0, "pthread_create");
		raise(sig);
		if (continued)
			usr1_wait(); /* continued: it lives on */
		_exit(42);
	}
	return pid;
}

/* The "gone" mode's unseen child: stopped by SIGTSTP, with two threads,
 * in the group of a process that has exited. */
static pid_t stopper_gone(void)
{
	SETUP(prctl(PR_SET_CHILD_SUBREAPER, 1) == 0, "PR_SET_CHILD_SUBREAPER");
	int p[2];
	SETUP(pipe(p) == 0, "pipe");
	pid_t l = fork();
	SETUP(l >= 0, "fork");
	if (l == 0) {
		SETUP(setpgid(0, 0) == 0, "setpgid");
		outer_group = true; /* (in L only) the child stays in L's group */
		pid_t unseen = stopper(true, SIGTSTP);
		wait_state(unseen, 'T'); /* not collected: the root's report after */
		_exit(write(p[1], &unseen, sizeof unseen) == sizeof unseen ? 0 : 1);
	}
	pid_t unseen = -1;
	int status = -1;
	SETUP(read(p[0], &unseen, sizeof unseen) == sizeof unseen && waitpid(l, &status, 0) == l && status == 0,
	      "the group's leader");
	close(p[0]);
	close(p[1]);
	SETUP(getpgid(unseen) == l && kill(l, 0) < 0 && errno == ESRCH, "the unseen child in the group of L, gone");
	return unseen;
}

/* The "root" and "rootkids" modes. */
static int stopped_root(bool with_child)
{
	pid_t kid = 0;
	if (with_child) {
		kid = fork();
		SETUP(kid >= 0, "fork");
		if (kid == 0)
			for (;;)
				pause();
	}
	say("ready");
	raise(SIGSTOP);
	usr1_wait();
	if (kid) {
		int status = 0;
		CHECK(kill(kid, SIGKILL) == 0 && waitpid(kid, &status, 0) == kid && WIFSIGNALED(status),
		      "the child %d, killed: status %#x", (int)kid, status);
	}
	return tp_finish();
}

int main(int argc, char **argv)
{
	if (argc > 1 && strncmp(argv[1], "root", 4) == 0) {
		usr1_setup();
		return stopped_root(strcmp(argv[1], "rootkids") == 0);
	}
	continued = argc > 1 && strcmp(argv[1], "continued") == 0;
	bool orphan = argc > 1 && strcmp(argv[1], "orphan") == 0;
	bool gone = argc > 1 && strcmp(argv[1], "gone") == 0;
	outer_group = orphan || gone || (argc > 1 && strcmp(argv[1], "outer") == 0);
	if (orphan)
		SETUP(setpgid(0, 0) == 0, "setpgid");
	usr1_setup();
	/* In the group led from outside, SIGSTOP: the kernel would drop the others if that group were orphaned. */
	int unseen_sig = outer_group && !orphan && !gone ? SIGSTOP : SIGTSTP;
	outer_group &= !gone;
	pid_t seen = stopper(false, outer_group ? SIGSTOP : SIGTTIN);
	pid_t unseen = gone ? stopper_gone() : stopper(true, unseen_sig);
	pid_t plain = stopper(false, SIGSTOP);
	pid_t z = fork();
	SETUP(z >= 0, "fork");
	if (z == 0)
		_exit(7);
	int status = 0;
	SETUP(waitpid(seen, &status, WUNTRACED) == seen && WIFSTOPPED(status), "collect the stop");
	wait_state(unseen, 'T');
	wait_state(plain, 'T');
	wait_state(z, 'Z');
	if (continued) {
		SETUP(kill(seen, SIGCONT) == 0, "SIGCONT");
		wait_state(seen, 'S');
	}
	say("ready");
	usr1_wait();
	if (!continued) {
		CHECK(tp_proc_state(seen) == 'T', "the seen child is in state %c, not stopped", tp_proc_state(seen));
		CHECK(tp_proc_state(unseen) == 'T', "the unseen child is in state %c, not stopped", tp_proc_state(unseen));
		CHECK(tp_proc_state(plain) == 'T', "the plain child is in state %c, not stopped", tp_proc_state(plain));
		status = 0;
		pid_t got = waitpid(unseen, &status, WUNTRACED | WNOHANG);
		CHECK(got == unseen && WIFSTOPPED(status) && WSTOPSIG(status) == unseen_sig,
		      "waitpid(WUNTRACED) of the unseen child: %d, status %#x; its stop (signal %d) must be reported",
		      (int)got, status, unseen_sig);
		got = waitpid(plain, &status, WUNTRACED | WNOHANG);
		CHECK(got == plain && WIFSTOPPED(status) && WSTOPSIG(status) == SIGSTOP,
		      "waitpid(WUNTRACED) of the plain child: %d, status %#x; its stop (SIGSTOP) must be reported", (int)got,
		      status);
		got = waitpid(seen, &status, WUNTRACED | WNOHANG);
		CHECK(got == 0, "waitpid(WUNTRACED) of the seen child: %d, status %#x; its stop was collected already",
		      (int)got, status);
		CHECK(kill(seen, SIGCONT) == 0 && kill(unseen, SIGCONT) == 0 && kill(plain, SIGCONT) == 0, "SIGCONT");
	} else {
		CHECK(kill(seen, SIGUSR1) == 0 && kill(unseen, SIGUSR1) == 0 && kill(unseen, SIGCONT) == 0 &&
			      kill(plain, SIGUSR1) == 0 && kill(plain, SIGCONT) == 0,
		      "wake");
	}
	pid_t kids[] = {seen, unseen, plain, z};
	int want[] = {42, 42, 42, 7};
	for (int i = 0; i < 4; i++) {
		status = -1;
		CHECK(waitpid(kids[i], &status, 0) == kids[i], "waitpid(%d): %s", (int)kids[i], strerror(errno));
		CHECK(WIFEXITED(status) && WEXITSTATUS(status) == want[i], "child %d: status %#x, expected exit %d",
		      (int)kids[i], status, want[i]);
	}
	CHECK(waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD, "a child is left");
	return tp_finish();
}
