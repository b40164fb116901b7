/* benchfloor: the measurements tests/bench/run-bench sets binmig against.
 *
 * benchfloor PID START-END|MIB DIR
 *   The floor of a dump and restore through a file in DIR: with PID frozen
 *   (PTRACE_SEIZE + PTRACE_INTERRUPT, as binmig freezes it), copy the region
 *   (a hex range, or the one anonymous read-write mapping of exactly MIB
 *   MiB in /proc/PID/maps) out with process_vm_readv in 4 MiB chunks into
 *   one reused buffer, write each chunk to a new file in DIR, then read the
 *   file back chunk by chunk and process_vm_writev each chunk into a fresh
 *   anonymous mapping of another process (a forked child).  Each part is
 *   timed on its own; the child's fork and mmap are not timed, nor is
 *   freezing PID.  PID is let go again (PTRACE_DETACH) and runs on.
 *   Prints one line:
 *     mib=N readv_ms=.. write_ms=.. read_ms=.. writev_ms=.. floor_ms=..
 *
 * benchfloor rss [--free] REPORT CMD [ARGS...]
 *   Runs CMD (stdin, stdout and stderr inherited), waits for it, and writes
 *   "maxrss_kib=N wall_us=N" to the file REPORT: CMD's peak resident set
 *   (wait4's rusage) and the wall time from fork to its exit.  Exits with
 *   CMD's status (128 + signal if it was killed).  CMD dies with us, unless
 *   --free: a CMD that binmig will dump must not ask for a parent-death
 *   signal (binmig refuses one whose parent is not moved with it), so the
 *   caller kills it itself on its way out.
 *
 * benchfloor warm MIB
 *   Touches MIB MiB of fresh anonymous memory and frees it again, so that
 *   what comes next starts with recently used, fast memory.
 *
 * benchfloor copy MIB
 *   The machine's raw memory-copy speed: copies MIB MiB between two
 *   touched buffers 9 times and prints the median pass as
 *     copy_gbps=N.NN
 *   (the calibration harness run records in meta.txt, for compare
 *   --normalize copy).
 *
 * Exit status 1 on any failure, 2 on bad usage. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CHUNK (4ul << 20)

struct region {
	uintptr_t start, end;
};

struct floor_times {
	int64_t readv_ns, write_ns, read_ns, writev_ns;
};

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int usage(void)
{
	fprintf(stderr, "usage: benchfloor PID START-END|MIB DIR\n"
			"       benchfloor rss [--free] REPORT CMD [ARGS...]\n"
			"       benchfloor warm MIB\n"
			"       benchfloor copy MIB\n");
	return 2;
}

static bool parse_pid(const char *text, pid_t *pid)
{
	char *end;
	errno = 0;
	long value = strtol(text, &end, 10);
	if (errno || end == text || *end || value <= 0 || value > INT32_MAX)
		return false;
	*pid = (pid_t)value;
	return true;
}

/* The anonymous read-write mapping of PID that is exactly SIZE bytes long;
 * fails unless there is exactly one. */
static int find_mapping(pid_t pid, size_t size, struct region *out)
{
	char path[64], line[4096];
	snprintf(path, sizeof path, "/proc/%d/maps", (int)pid);
	FILE *maps = fopen(path, "re");
	if (!maps) {
		fprintf(stderr, "benchfloor: %s: %s\n", path, strerror(errno));
		return -1;
	}
	int found = 0;
	while (fgets(line, sizeof line, maps)) {
		unsigned long start, end, inode;
		char perms[8];
		int name_at = 0;
		if (sscanf(line, "%lx-%lx %7s %*s %*s %lu %n", &start, &end, perms, &inode, &name_at) < 4)
			continue;
		bool anonymous = inode == 0 && (name_at == 0 || line[name_at] == '\n' || line[name_at] == '\0');
		if (anonymous && strncmp(perms, "rw", 2) == 0 && end - start == size) {
			out->start = start;
			out->end = end;
			found++;
		}
	}
	fclose(maps);
	if (found != 1) {
		fprintf(stderr, "benchfloor: %d anonymous read-write mappings of %zu bytes in %s, expected one\n",
			found, size, path);
		return -1;
	}
	return 0;
}

static int parse_region(pid_t pid, const char *text, struct region *out)
{
	char *end;
	if (strchr(text, '-')) {
		out->start = strtoul(text, &end, 16);
		out->end = 0;
		if (*end == '-')
			out->end = strtoul(end + 1, &end, 16);
		if (*end || out->end <= out->start || out->start % 4096 || out->end % 4096) {
			fprintf(stderr, "benchfloor: bad range %s\n", text);
			return -1;
		}
		return 0;
	}
	unsigned long mib = strtoul(text, &end, 10);
	if (*end || mib == 0) {
		fprintf(stderr, "benchfloor: bad size %s\n", text);
		return -1;
	}
	return find_mapping(pid, mib << 20, out);
}

/* Freezes PID the way binmig does; it is let go by detach_target. */
static int freeze_target(pid_t pid)
{
	if (ptrace(PTRACE_SEIZE, pid, 0, 0) < 0 || ptrace(PTRACE_INTERRUPT, pid, 0, 0) < 0) {
		fprintf(stderr, "benchfloor: cannot seize %d: %s\n", (int)pid, strerror(errno));
		return -1;
	}
	int status;
	for (;;) {
		if (waitpid(pid, &status, __WALL) < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "benchfloor: waitpid %d: %s\n", (int)pid, strerror(errno));
			return -1;
		}
		if (WIFEXITED(status) || WIFSIGNALED(status)) {
			fprintf(stderr, "benchfloor: process %d ended while being frozen\n", (int)pid);
			return -1;
		}
		if (WIFSTOPPED(status) && status >> 16 == PTRACE_EVENT_STOP)
			return 0;
		/* A signal arrived first: hand it on and wait for the interrupt stop. */
		int sig = WIFSTOPPED(status) ? WSTOPSIG(status) : 0;
		if (ptrace(PTRACE_CONT, pid, 0, sig) < 0) {
			fprintf(stderr, "benchfloor: PTRACE_CONT %d: %s\n", (int)pid, strerror(errno));
			return -1;
		}
	}
}

static int write_all(int fd, const unsigned char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

static int read_full(int fd, unsigned char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = read(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Copies the region out of PID into FD, chunk by chunk. */
static int copy_out(pid_t pid, const struct region *r, int fd, unsigned char *buf, struct floor_times *t)
{
	for (uintptr_t at = r->start; at < r->end; at += CHUNK) {
		size_t len = r->end - at < CHUNK ? r->end - at : CHUNK;
		struct iovec local = { buf, len }, remote = { (void *)at, len };
		int64_t t0 = now_ns();
		ssize_t n = process_vm_readv(pid, &local, 1, &remote, 1, 0);
		int64_t t1 = now_ns();
		if (n != (ssize_t)len) {
			fprintf(stderr, "benchfloor: process_vm_readv at %#lx: %s\n", (unsigned long)at,
				n < 0 ? strerror(errno) : "short read");
			return -1;
		}
		if (write_all(fd, buf, len) < 0) {
			fprintf(stderr, "benchfloor: write: %s\n", strerror(errno));
			return -1;
		}
		t->readv_ns += t1 - t0;
		t->write_ns += now_ns() - t1;
	}
	return 0;
}

/* A child holding a fresh anonymous mapping of SIZE bytes, whose address
 * it sends through a pipe; it waits until it is killed, or, should we die
 * first, until *HOLD (kept open by us) closes. */
static pid_t start_receiver(size_t size, uintptr_t *addr, int *hold_fd)
{
	int to_parent[2], hold[2];
	if (pipe2(to_parent, O_CLOEXEC) < 0 || pipe2(hold, O_CLOEXEC) < 0) {
		fprintf(stderr, "benchfloor: pipe: %s\n", strerror(errno));
		return -1;
	}
	pid_t child = fork();
	if (child < 0) {
		fprintf(stderr, "benchfloor: fork: %s\n", strerror(errno));
		return -1;
	}
	if (child == 0) {
		close(to_parent[0]);
		close(hold[1]);
		void *mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		uintptr_t sent = mem == MAP_FAILED ? 0 : (uintptr_t)mem;
		if (write(to_parent[1], &sent, sizeof sent) != sizeof sent)
			_exit(1);
		char byte;
		while (read(hold[0], &byte, 1) < 0 && errno == EINTR)
			;
		_exit(0);
	}
	close(to_parent[1]);
	close(hold[0]);
	*hold_fd = hold[1];
	ssize_t n;
	while ((n = read(to_parent[0], addr, sizeof *addr)) < 0 && errno == EINTR)
		;
	close(to_parent[0]);
	if (n != sizeof *addr || *addr == 0) {
		fprintf(stderr, "benchfloor: the receiving child could not map %zu bytes\n", size);
		kill(child, SIGKILL);
		waitpid(child, NULL, 0);
		return -1;
	}
	return child;
}

/* Reads FD back and copies it into the child's mapping at DEST. */
static int copy_in(int fd, pid_t child, uintptr_t dest, size_t size, unsigned char *buf, struct floor_times *t)
{
	for (size_t done = 0; done < size; done += CHUNK) {
		size_t len = size - done < CHUNK ? size - done : CHUNK;
		int64_t t0 = now_ns();
		if (read_full(fd, buf, len) < 0) {
			fprintf(stderr, "benchfloor: reading the file back: %s\n", errno ? strerror(errno) : "short");
			return -1;
		}
		int64_t t1 = now_ns();
		struct iovec local = { buf, len }, remote = { (void *)(dest + done), len };
		ssize_t n = process_vm_writev(child, &local, 1, &remote, 1, 0);
		if (n != (ssize_t)len) {
			fprintf(stderr, "benchfloor: process_vm_writev: %s\n", n < 0 ? strerror(errno) : "short write");
			return -1;
		}
		t->read_ns += t1 - t0;
		t->writev_ns += now_ns() - t1;
	}
	return 0;
}

static int measure_floor(pid_t pid, const char *range, const char *dir)
{
	struct region r = { 0, 0 };
	char path[4096];
	struct floor_times t = { 0 };
	if (parse_region(pid, range, &r) < 0)
		return 1;
	size_t size = r.end - r.start;
	if ((size_t)snprintf(path, sizeof path, "%s/floor.XXXXXX", dir) >= sizeof path)
		return usage();
	unsigned char *buf = malloc(CHUNK);
	int fd = mkostemp(path, O_CLOEXEC);
	if (!buf || fd < 0) {
		fprintf(stderr, "benchfloor: %s: %s\n", buf ? path : "malloc", strerror(errno));
		free(buf);
		return 1;
	}
	unlink(path); /* gone with the descriptor, whatever happens */
	memset(buf, 0, CHUNK); /* the buffer's own first-touch faults are not part of the floor */

	int rc = 1;
	pid_t child = -1;
	int hold_fd = -1;
	uintptr_t dest;
	if (freeze_target(pid) < 0)
		goto out;
	int copied = copy_out(pid, &r, fd, buf, &t);
	if (ptrace(PTRACE_DETACH, pid, 0, 0) < 0)
		fprintf(stderr, "benchfloor: PTRACE_DETACH %d: %s\n", (int)pid, strerror(errno));
	else if (copied == 0 && lseek(fd, 0, SEEK_SET) == 0 && (child = start_receiver(size, &dest, &hold_fd)) > 0 &&
		 copy_in(fd, child, dest, size, buf, &t) == 0)
		rc = 0;
	if (child > 0) {
		kill(child, SIGKILL);
		while (waitpid(child, NULL, 0) < 0 && errno == EINTR)
			;
	}
	if (hold_fd >= 0)
		close(hold_fd);
	if (rc == 0) {
		int64_t sum = t.readv_ns + t.write_ns + t.read_ns + t.writev_ns;
		printf("mib=%zu readv_ms=%.1f write_ms=%.1f read_ms=%.1f writev_ms=%.1f floor_ms=%.1f\n",
		       size >> 20, t.readv_ns / 1e6, t.write_ns / 1e6, t.read_ns / 1e6, t.writev_ns / 1e6, sum / 1e6);
	}
out:
	close(fd);
	free(buf);
	return rc;
}

static int run_measuring_rss(const char *report, char **argv, bool free_child)
{
	FILE *out = fopen(report, "we");
	if (!out) {
		fprintf(stderr, "benchfloor: %s: %s\n", report, strerror(errno));
		return 1;
	}
	int64_t t0 = now_ns();
	pid_t parent = getpid();
	pid_t child = fork();
	if (child < 0) {
		fprintf(stderr, "benchfloor: fork: %s\n", strerror(errno));
		fclose(out);
		return 1;
	}
	if (child == 0) {
		/* Whoever kills us (a timeout, the script's cleanup) kills CMD too. */
		if (!free_child && (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent))
			_exit(127);
		execvp(argv[0], argv);
		fprintf(stderr, "benchfloor: cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	int status;
	struct rusage usage;
	while (wait4(child, &status, 0, &usage) < 0) {
		if (errno != EINTR) {
			fprintf(stderr, "benchfloor: wait4: %s\n", strerror(errno));
			fclose(out);
			return 1;
		}
	}
	int64_t wall = now_ns() - t0;
	fprintf(out, "maxrss_kib=%ld wall_us=%" PRId64 "\n", usage.ru_maxrss, wall / 1000);
	if (fclose(out) != 0) {
		fprintf(stderr, "benchfloor: %s: %s\n", report, strerror(errno));
		return 1;
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Touches MIB MiB of fresh memory and frees it again. */
static int warm_memory(const char *text)
{
	char *end;
	unsigned long mib = strtoul(text, &end, 10);
	if (*end || mib == 0)
		return usage();
	size_t size = mib << 20;
	unsigned char *mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED) {
		fprintf(stderr, "benchfloor: mmap %lu MiB: %s\n", mib, strerror(errno));
		return 1;
	}
	for (size_t at = 0; at < size; at += 4096)
		mem[at] = 1;
	munmap(mem, size);
	return 0;
}

static int compare_ns(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

/* The median of 9 timed memcpy passes of MIB MiB, as GB/s. */
static int copy_speed(const char *text)
{
	char *end;
	unsigned long mib = strtoul(text, &end, 10);
	if (*end || mib == 0 || mib > 4096)
		return usage();
	size_t size = mib << 20;
	unsigned char *from = malloc(size), *to = malloc(size);
	if (!from || !to) {
		fprintf(stderr, "benchfloor: cannot allocate 2 x %lu MiB\n", mib);
		free(from);
		free(to);
		return 1;
	}
	memset(from, 0x5a, size);
	memset(to, 0, size);
	int64_t pass[9];
	for (int i = 0; i < 9; i++) {
		int64_t t0 = now_ns();
		memcpy(to, from, size);
		/* The copy must not be optimised away: its result is read. */
		__asm__ volatile("" : : "r"(to) : "memory");
		pass[i] = now_ns() - t0;
	}
	qsort(pass, 9, sizeof pass[0], compare_ns);
	printf("copy_gbps=%.2f\n", (double)size / (double)(pass[4] > 0 ? pass[4] : 1));
	free(from);
	free(to);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "copy") == 0)
		return copy_speed(argv[2]);
	if (argc == 3 && strcmp(argv[1], "warm") == 0)
		return warm_memory(argv[2]);
	if (argc >= 5 && strcmp(argv[1], "rss") == 0 && strcmp(argv[2], "--free") == 0)
		return run_measuring_rss(argv[3], argv + 4, true);
	if (argc >= 4 && strcmp(argv[1], "rss") == 0)
		return run_measuring_rss(argv[2], argv + 3, false);
	pid_t pid;
	if (argc != 4 || !parse_pid(argv[1], &pid))
		return usage();
	return measure_floor(pid, argv[2], argv[3]);
}
