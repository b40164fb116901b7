/* reaper COMMAND [ARG...]
 *
 * Runs COMMAND in a session of its own, as a child subreaper
 * (PR_SET_CHILD_SUBREAPER): every process of COMMAND's that is orphaned (a
 * restored process whose `binmig restore` has exited, say) becomes this
 * process's child instead of init's and is reaped at once.  tests/run-tests
 * runs each test under it: a test that dumps such a process again must
 * wait until its PID is free (pidwait --reaped) before it can restore it,
 * and some inits (the one of the VM CI runs on) reap orphans only every
 * second or two.
 *
 * The session is COMMAND's own so that orphans are adopted as init adopts
 * them: by a process outside their session, which does not keep their
 * process group from being orphaned (a stopped group that becomes orphaned
 * gets SIGHUP and SIGCONT, as it would under init).  SIGINT, SIGTERM, SIGHUP
 * and SIGQUIT sent to the reaper are passed on to COMMAND's process group.
 *
 * Exits when COMMAND has: with its exit status, or 128 + the signal that
 * killed it; orphans still running then go on to init.  Exit 125 if
 * COMMAND cannot be started. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t child_pid;

static void pass_on(int sig)
{
	if (child_pid > 0)
		kill(-child_pid, sig);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: reaper COMMAND [ARG...]\n");
		return 125;
	}
	if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0) {
		fprintf(stderr, "reaper: PR_SET_CHILD_SUBREAPER: %s\n", strerror(errno));
		return 125;
	}
	pid_t pid = fork();
	if (pid < 0) {
		fprintf(stderr, "reaper: fork: %s\n", strerror(errno));
		return 125;
	}
	if (pid == 0) {
		if (setsid() < 0) {
			fprintf(stderr, "reaper: setsid: %s\n", strerror(errno));
			_exit(125);
		}
		execvp(argv[1], argv + 1);
		fprintf(stderr, "reaper: %s: %s\n", argv[1], strerror(errno));
		_exit(125);
	}
	child_pid = pid;
	struct sigaction sa = { .sa_handler = pass_on };
	sigemptyset(&sa.sa_mask);
	int passed[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };
	for (size_t i = 0; i < sizeof passed / sizeof passed[0]; i++)
		sigaction(passed[i], &sa, NULL);

	/* Every other child is an orphan of COMMAND's: reaped, and that is all. */
	int status;
	pid_t got;
	while ((got = waitpid(-1, &status, 0)) != pid) {
		if (got < 0 && errno != EINTR) {
			fprintf(stderr, "reaper: waitpid: %s\n", strerror(errno));
			return 125;
		}
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
