/* waitsyscall PID SYSCALL_NR TIMEOUT_SECONDS
 *
 * Waits until process PID is blocked inside system call SYSCALL_NR (the
 * first field of /proc/PID/syscall), so that a test freezes it exactly
 * there and not on the way in.  The kernel offers no notification for "a
 * task went to sleep in a system call" short of tracing it, which would
 * disturb the very state under test, so this polls /proc every millisecond
 * until the deadline.
 *
 * Exit codes: 0 blocked in that call, 1 timeout, 2 usage or system error,
 * 3 the process does not exist (or exited). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The state letter from /proc/PID/stat ('?' if unreadable). */
static char process_state(const char *stat_path)
{
	char buf[1024];
	int fd = open(stat_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return '?';
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return '?';
	buf[n] = '\0';
	char *paren = strrchr(buf, ')');
	return paren && paren[1] == ' ' ? paren[2] : '?';
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: waitsyscall PID SYSCALL_NR TIMEOUT_SECONDS\n");
		return 2;
	}
	char *end;
	long pid = strtol(argv[1], &end, 10);
	if (*end || pid <= 0)
		return 2;
	long nr = strtol(argv[2], &end, 10);
	if (*end || nr < 0)
		return 2;
	double timeout = strtod(argv[3], &end);
	if (*end || timeout < 0)
		return 2;

	char syscall_path[64], stat_path[64], last[256] = "";
	snprintf(syscall_path, sizeof(syscall_path), "/proc/%ld/syscall", pid);
	snprintf(stat_path, sizeof(stat_path), "/proc/%ld/stat", pid);
	double deadline = now_seconds() + timeout;
	for (;;) {
		int fd = open(syscall_path, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			fprintf(stderr, "waitsyscall: %s: %s\n", syscall_path, strerror(errno));
			return errno == ENOENT || errno == ESRCH ? 3 : 2;
		}
		ssize_t n = read(fd, last, sizeof(last) - 1);
		close(fd);
		if (n < 0) {
			fprintf(stderr, "waitsyscall: read %s: %s\n", syscall_path, strerror(errno));
			return 2;
		}
		last[n] = '\0';
		char state = process_state(stat_path);
		if (state == 'Z' || state == 'X' || state == '?') {
			fprintf(stderr, "waitsyscall: process %ld has exited\n", pid);
			return 3;
		}
		/* "running" while on a CPU; "NR args... sp pc" while blocked. */
		long cur = strtol(last, &end, 10);
		if (end != last && *end == ' ' && cur == nr && (state == 'S' || state == 'D'))
			return 0;
		if (now_seconds() >= deadline) {
			last[strcspn(last, "\n")] = '\0';
			fprintf(stderr, "waitsyscall: process %ld not blocked in syscall %ld after %gs (state %c, syscall \"%s\")\n",
				pid, nr, timeout, state, last);
			return 1;
		}
		struct timespec ms = { 0, 1000000 };
		nanosleep(&ms, NULL);
	}
}
