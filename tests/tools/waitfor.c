/* waitfor [-x] [--pid PID] FILE TEXT TIMEOUT_SECONDS
 *
 * Waits until FILE holds a complete line (ended by '\n') that starts with
 * TEXT, or, with -x, that equals TEXT.  The file may not exist yet.  Wakes on
 * inotify events from the file's directory, never by sleeping; with --pid it
 * also watches that process through a pidfd and gives up once it has exited
 * and the file (read once more) still lacks the line.
 *
 * Exit codes: 0 found, 1 timeout, 2 usage or system error, 3 the --pid
 * process exited first.  On failure the file's last lines go to stderr. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static int usage(void)
{
	fprintf(stderr, "usage: waitfor [-x] [--pid PID] FILE TEXT TIMEOUT_SECONDS\n");
	return 2;
}

static double now_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Reads the whole file into a malloc'ed, NUL-terminated buffer; NULL with
 * *len 0 if it does not exist. */
static char *slurp(const char *path, size_t *len)
{
	*len = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	size_t cap = 4096, used = 0;
	char *buf = malloc(cap + 1);
	for (;;) {
		if (used == cap) {
			cap *= 2;
			buf = realloc(buf, cap + 1);
		}
		ssize_t n = read(fd, buf + used, cap - used);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		used += n;
	}
	close(fd);
	buf[used] = '\0';
	*len = used;
	return buf;
}

static bool has_line(const char *path, const char *text, bool exact)
{
	size_t len, tlen = strlen(text);
	char *buf = slurp(path, &len);
	bool found = false;
	for (size_t pos = 0; buf && pos < len && !found;) {
		char *nl = memchr(buf + pos, '\n', len - pos);
		if (!nl)
			break; /* an unfinished line may still grow */
		size_t llen = nl - (buf + pos);
		found = llen >= tlen && memcmp(buf + pos, text, tlen) == 0 && (!exact || llen == tlen);
		pos += llen + 1;
	}
	free(buf);
	return found;
}

static void show_tail(const char *path)
{
	size_t len;
	char *buf = slurp(path, &len);
	if (!buf) {
		fprintf(stderr, "waitfor: %s does not exist\n", path);
		return;
	}
	size_t start = len > 2000 ? len - 2000 : 0;
	fprintf(stderr, "waitfor: last bytes of %s:\n%s\n", path, buf + start);
	free(buf);
}

int main(int argc, char **argv)
{
	bool exact = false;
	long pid = 0;
	int argi = 1;
	while (argi < argc && argv[argi][0] == '-') {
		if (strcmp(argv[argi], "-x") == 0) {
			exact = true;
			argi++;
		} else if (strcmp(argv[argi], "--pid") == 0 && argi + 1 < argc) {
			char *end;
			pid = strtol(argv[argi + 1], &end, 10);
			if (*end || pid <= 0)
				return usage();
			argi += 2;
		} else {
			return usage();
		}
	}
	if (argc - argi != 3)
		return usage();
	const char *path = argv[argi], *text = argv[argi + 1];
	char *end;
	double timeout = strtod(argv[argi + 2], &end);
	if (*end || timeout < 0)
		return usage();

	char *pathcopy = strdup(path);
	const char *dir = dirname(pathcopy);
	int ino = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	if (ino < 0 || inotify_add_watch(ino, dir, IN_MODIFY | IN_CREATE | IN_MOVED_TO | IN_CLOSE_WRITE) < 0) {
		fprintf(stderr, "waitfor: inotify on %s: %s\n", dir, strerror(errno));
		return 2;
	}
	struct pollfd pfds[2] = { { .fd = ino, .events = POLLIN }, { .fd = -1, .events = POLLIN } };
	if (pid > 0) {
		pfds[1].fd = syscall(SYS_pidfd_open, (pid_t)pid, 0);
		if (pfds[1].fd < 0 && errno != ESRCH) {
			fprintf(stderr, "waitfor: pidfd_open(%ld): %s\n", pid, strerror(errno));
			return 2;
		}
	}
	bool process_gone = pid > 0 && pfds[1].fd < 0;

	/* The watch is in place before the first look, so no write is missed. */
	double deadline = now_seconds() + timeout;
	for (;;) {
		if (has_line(path, text, exact))
			return 0;
		if (process_gone) {
			fprintf(stderr, "waitfor: process %ld exited before \"%s\" appeared in %s\n", pid, text, path);
			show_tail(path);
			return 3;
		}
		double left = deadline - now_seconds();
		if (left <= 0) {
			fprintf(stderr, "waitfor: no line \"%s\" in %s after %gs\n", text, path, timeout);
			show_tail(path);
			return 1;
		}
		int n = poll(pfds, 2, (int)(left * 1000) + 1);
		if (n < 0 && errno != EINTR) {
			fprintf(stderr, "waitfor: poll: %s\n", strerror(errno));
			return 2;
		}
		if (n > 0 && pfds[0].revents) {
			char events[4096];
			while (read(ino, events, sizeof(events)) > 0)
				;
		}
		if (n > 0 && pfds[1].revents)
			process_gone = true; /* look at the file once more, then give up */
	}
}
