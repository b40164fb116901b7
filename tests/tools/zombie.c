/* zombie: forks a child that exits at once and never reaps it.  Prints the
 * child's PID once the child really is a zombie (waitid with WNOWAIT), then
 * blocks in pause() until killed.  Killing this process lets init reap the
 * zombie. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void)
{
	signal(SIGCHLD, SIG_DFL); /* SIG_IGN would let the kernel reap it for us */
	pid_t child = fork();
	if (child < 0) {
		perror("zombie: fork");
		return 2;
	}
	if (child == 0)
		_exit(0);
	siginfo_t info;
	memset(&info, 0, sizeof(info));
	if (waitid(P_PID, child, &info, WEXITED | WNOWAIT) != 0) {
		perror("zombie: waitid");
		return 2;
	}
	printf("%d\n", (int)child);
	fflush(stdout);
	for (;;)
		pause();
}
