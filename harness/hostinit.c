/* PID 1 of an emulated host (harness/hosts).
 *
 *   hostinit HOSTNAME
 *
 * Run as the first process of a new PID and UTS namespace: sets the host
 * name, prints "ready", then reaps every child, including the orphans the
 * kernel hands to a namespace's PID 1 (without this they would stay zombies
 * and keep their PIDs taken, which matters to a migrator that restores
 * processes under their old PIDs).  Exits on SIGTERM or SIGINT; the kernel
 * then kills every other process of the namespace. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: hostinit HOSTNAME (as PID 1 of a new PID namespace)\n");
		return 2;
	}
	if (getpid() != 1) {
		fprintf(stderr, "hostinit: must be PID 1 of a new PID namespace (it is %d)\n", (int)getpid());
		return 1;
	}
	if (sethostname(argv[1], strlen(argv[1])) < 0) {
		fprintf(stderr, "hostinit: sethostname %s: %s\n", argv[1], strerror(errno));
		return 1;
	}

	/* Signals are taken synchronously; blocked signals are queued even
	 * for a namespace's init, which the kernel otherwise shields from
	 * signals it has no handler for. */
	sigset_t wanted;
	sigemptyset(&wanted);
	sigaddset(&wanted, SIGCHLD);
	sigaddset(&wanted, SIGTERM);
	sigaddset(&wanted, SIGINT);
	if (sigprocmask(SIG_BLOCK, &wanted, NULL) < 0) {
		fprintf(stderr, "hostinit: sigprocmask: %s\n", strerror(errno));
		return 1;
	}

	/* Tell the starter we are set up, then let go of its pipe. */
	if (printf("ready\n") < 0 || fflush(stdout) != 0)
		return 1;
	int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (devnull >= 0) {
		dup2(devnull, STDIN_FILENO);
		dup2(devnull, STDOUT_FILENO);
		close(devnull);
	}

	for (;;) {
		siginfo_t info;
		int sig = sigwaitinfo(&wanted, &info);
		if (sig < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "hostinit: sigwaitinfo: %s\n", strerror(errno));
			return 1;
		}
		if (sig != SIGCHLD)
			return 0;
		/* One SIGCHLD may stand for several children. */
		while (waitpid(-1, NULL, WNOHANG) > 0)
			;
	}
}
