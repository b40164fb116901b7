/* pidwait [--reaped] PID TIMEOUT_SECONDS
 *
 * Waits for a process that need not be our child (a restored process is
 * reparented to init) to end, with pidfd_open(2) + poll(2).
 *
 *   default    wait until the process has exited (it may still be a zombie)
 *   --reaped   wait until it is gone altogether, i.e. its parent reaped it
 *              and the PID is free again (the pidfd reports POLLHUP then)
 *
 * A PID that does not exist when we start counts as "already gone": exit 0.
 * Exit codes: 0 done, 1 timeout, 2 usage or system error.
 * TIMEOUT_SECONDS may be fractional. */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static int usage(void)
{
	fprintf(stderr, "usage: pidwait [--reaped] PID TIMEOUT_SECONDS\n");
	return 2;
}

static double now_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	bool reaped = false;
	int argi = 1;
	if (argi < argc && strcmp(argv[argi], "--reaped") == 0) {
		reaped = true;
		argi++;
	}
	if (argc - argi != 2)
		return usage();
	char *end;
	long pid = strtol(argv[argi], &end, 10);
	if (*end || pid <= 0)
		return usage();
	double timeout = strtod(argv[argi + 1], &end);
	if (*end || timeout < 0)
		return usage();

	int pidfd = syscall(SYS_pidfd_open, (pid_t)pid, 0);
	if (pidfd < 0) {
		if (errno == ESRCH)
			return 0;
		fprintf(stderr, "pidwait: pidfd_open(%ld): %s\n", pid, strerror(errno));
		return 2;
	}
	/* A pidfd is readable once the process has exited; POLLHUP is reported
	 * (whatever the requested events) once it has been reaped.  Asking only
	 * for POLLHUP therefore waits for the reap. */
	struct pollfd pfd = { .fd = pidfd, .events = reaped ? 0 : POLLIN };
	double deadline = now_seconds() + timeout;
	for (;;) {
		double left = deadline - now_seconds();
		int ms = left <= 0 ? 0 : (int)(left * 1000) + 1;
		int n = poll(&pfd, 1, ms);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "pidwait: poll: %s\n", strerror(errno));
			return 2;
		}
		if (n > 0 && (pfd.revents & (reaped ? POLLHUP : (POLLIN | POLLHUP))))
			return 0;
		if (n > 0 && (pfd.revents & (POLLERR | POLLNVAL))) {
			fprintf(stderr, "pidwait: poll reported 0x%x\n", pfd.revents);
			return 2;
		}
		if (ms == 0 || now_seconds() >= deadline) {
			fprintf(stderr, "pidwait: process %ld still %s after %gs\n", pid,
				reaped ? "present" : "running", timeout);
			return 1;
		}
	}
}
