/* tracer PID: attaches to PID with PTRACE_SEIZE (which does not stop it),
 * prints "tracing PID" and then stays attached, passing every signal on to
 * the tracee, until the tracee exits (exit 0, with the tracee's status
 * printed) or the tracer is killed (the kernel then detaches it).  Lets a
 * test present a process that is already traced by someone else. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	char *end;
	long pid = argc == 2 ? strtol(argv[1], &end, 10) : 0;
	if (argc != 2 || *end || pid <= 0) {
		fprintf(stderr, "usage: tracer PID\n");
		return 2;
	}
	if (ptrace(PTRACE_SEIZE, (pid_t)pid, NULL, NULL) != 0) {
		fprintf(stderr, "tracer: PTRACE_SEIZE %ld: %s\n", pid, strerror(errno));
		return 2;
	}
	printf("tracing %ld\n", pid);
	fflush(stdout);
	for (;;) {
		int status;
		pid_t got = waitpid((pid_t)pid, &status, __WALL);
		if (got < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "tracer: waitpid: %s\n", strerror(errno));
			return 2;
		}
		if (WIFEXITED(status) || WIFSIGNALED(status)) {
			printf("tracee %s %d\n", WIFEXITED(status) ? "exited" : "killed by signal",
			       WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
			return 0;
		}
		if (!WIFSTOPPED(status))
			continue;
		int sig = WSTOPSIG(status);
		long rc;
		if (status >> 16 == PTRACE_EVENT_STOP) {
			/* A group stop (SIGSTOP and friends) is honoured with LISTEN;
			 * anything else reported this way just continues. */
			if (sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU)
				rc = ptrace(PTRACE_LISTEN, (pid_t)pid, NULL, NULL);
			else
				rc = ptrace(PTRACE_CONT, (pid_t)pid, NULL, NULL);
		} else {
			/* Signal-delivery stop: deliver the signal as if untraced. */
			rc = ptrace(PTRACE_CONT, (pid_t)pid, NULL, (void *)(long)sig);
		}
		if (rc != 0 && errno != ESRCH) {
			fprintf(stderr, "tracer: restarting %ld: %s\n", pid, strerror(errno));
			return 2;
		}
	}
}
