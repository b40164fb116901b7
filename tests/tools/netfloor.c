/* netfloor: the floor under a migration's cost, for the benchmark
 * (tests/bench/run-bench-migrate).  What binmig's stream mode cannot avoid
 * doing is read a stopped process's memory, send it over the link and
 * write it into a fresh process on the other host; these roles do exactly
 * that and nothing else, in 4 MiB chunks, so that binmig's downtime can be
 * put beside it.  The file-mode roles time the parts of the study's
 * sequence (image file written, sent, read back) the same way.
 *
 *   netfloor send PID TARGET:PORT
 *       reads the largest private anonymous mapping of PID (which the
 *       caller has stopped) with process_vm_readv and sends it to
 *       `netfloor recv`; waits for its one-byte acknowledgement of the
 *       last write.  Prints "bytes N us T": T from before the first read
 *       to the acknowledgement.
 *   netfloor recv LISTEN_ADDR:PORT MIB [FILE]
 *       prints "listening", accepts one connection and receives MIB MiB:
 *       without FILE into a fresh MIB MiB anonymous mapping of a child it
 *       forks (process_vm_writev), with FILE into that file (created or
 *       truncated).  Acknowledges with one byte after the last write.
 *       Prints "bytes N us T": T from the first byte received to the last
 *       write.
 *   netfloor dump PID FILE
 *       the mapping, as for send, written into FILE.  Prints "bytes N us T".
 *   netfloor sendfile FILE TARGET:PORT
 *       sends FILE to `netfloor recv ... FILE`, waits for the
 *       acknowledgement.  Prints "bytes N us T".
 *   netfloor load FILE
 *       reads FILE into a fresh anonymous mapping of a forked child with
 *       process_vm_writev.  Prints "bytes N us T".
 *   netfloor warm MIB
 *       faults in MIB MiB of anonymous memory and frees it, so that the
 *       allocations right after it find pages the hypervisor has not
 *       reclaimed (faulting those in again costs several times as much).
 *       Prints "bytes N us T", T the time the fault-in took.
 *
 * Every wait has a timeout (60 s without progress).  Exit codes: 0 done,
 * 1 failure, 2 usage. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#define CHUNK (4ul << 20)
#define TIMEOUT_MS 60000

static int usage(void)
{
	fprintf(stderr, "usage: netfloor send PID TARGET:PORT\n"
			"       netfloor recv LISTEN_ADDR:PORT MIB [FILE]\n"
			"       netfloor dump PID FILE\n"
			"       netfloor sendfile FILE TARGET:PORT\n"
			"       netfloor load FILE\n"
			"       netfloor warm MIB\n");
	return 2;
}

static int fail(const char *what)
{
	fprintf(stderr, "netfloor: %s: %s\n", what, strerror(errno));
	return 1;
}

static uint64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static int resolve(const char *text, struct sockaddr_storage *addr, socklen_t *len)
{
	char host[256];
	const char *colon = strrchr(text, ':');
	if (!colon || colon == text || (size_t)(colon - text) >= sizeof host)
		return -1;
	memcpy(host, text, (size_t)(colon - text));
	host[colon - text] = 0;
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV}, *res;
	if (getaddrinfo(host, colon + 1, &hints, &res) != 0)
		return -1;
	memcpy(addr, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

static bool wait_fd(int fd, short events)
{
	struct pollfd p = {fd, events, 0};
	for (;;) {
		int n = poll(&p, 1, TIMEOUT_MS);
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0)
			errno = ETIMEDOUT;
		return n > 0;
	}
}

/* Blocking sockets with a send/receive timeout: each call either moves
 * bytes or fails within TIMEOUT_MS. */
static void set_timeouts(int fd)
{
	struct timeval tv = {TIMEOUT_MS / 1000, 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

static int connect_to(const char *target)
{
	struct sockaddr_storage addr;
	socklen_t len;
	if (resolve(target, &addr, &len) < 0) {
		errno = EINVAL;
		return -1;
	}
	int fd = socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&addr, len) < 0) {
		int err = 0;
		socklen_t el = sizeof err;
		if (errno != EINPROGRESS || !wait_fd(fd, POLLOUT) ||
		    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0 || err) {
			if (err)
				errno = err;
			close(fd);
			return -1;
		}
	}
	fcntl(fd, F_SETFL, 0);
	set_timeouts(fd);
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	return fd;
}

static int write_all(int fd, const uint8_t *buf, size_t len)
{
	while (len) {
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

/* Reads up to len bytes, fewer only at the end of the input; -1 on error. */
static ssize_t read_full(int fd, uint8_t *buf, size_t len)
{
	size_t got = 0;
	while (got < len) {
		ssize_t n = read(fd, buf + got, len - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

/* The largest private anonymous mapping of pid (no path, not a stack). */
static int find_mapping(pid_t pid, uintptr_t *start, size_t *size)
{
	char path[64], line[512];
	snprintf(path, sizeof path, "/proc/%d/maps", pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return -1;
	*size = 0;
	while (fgets(line, sizeof line, f)) {
		unsigned long lo, hi, off, inode;
		char perms[8], dev[16];
		int pathpos = 0;
		if (sscanf(line, "%lx-%lx %7s %lx %15s %lu %n", &lo, &hi, perms, &off, dev, &inode, &pathpos) < 6)
			continue;
		const char *name = line + pathpos;
		if (inode != 0 || strncmp(perms, "rw-p", 4) != 0 || (pathpos && name[0] && name[0] != '\n'))
			continue;
		if (hi - lo > *size) {
			*start = lo;
			*size = hi - lo;
		}
	}
	fclose(f);
	if (*size == 0) {
		errno = ENOENT;
		return -1;
	}
	return 0;
}

static int read_process(pid_t pid, uintptr_t at, uint8_t *buf, size_t len)
{
	struct iovec local = {buf, len}, remote = {(void *)at, len};
	ssize_t n = process_vm_readv(pid, &local, 1, &remote, 1, 0);
	if (n != (ssize_t)len) {
		if (n >= 0)
			errno = EIO;
		return -1;
	}
	return 0;
}

static int write_process(pid_t pid, uintptr_t at, const uint8_t *buf, size_t len)
{
	struct iovec local = {(void *)buf, len}, remote = {(void *)at, len};
	ssize_t n = process_vm_writev(pid, &local, 1, &remote, 1, 0);
	if (n != (ssize_t)len) {
		if (n >= 0)
			errno = EIO;
		return -1;
	}
	return 0;
}

/* A child holding a fresh, untouched anonymous mapping of size bytes, as a
 * restore starts with; it waits until we are done and is then killed. */
static pid_t fresh_process(size_t size, uintptr_t *at)
{
	int p[2];
	if (pipe(p) < 0)
		return -1;
	pid_t child = fork();
	if (child < 0)
		return -1;
	if (child == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		void *m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		uintptr_t addr = m == MAP_FAILED ? 0 : (uintptr_t)m;
		if (write(p[1], &addr, sizeof addr) != sizeof addr)
			_exit(1);
		for (;;)
			pause();
	}
	close(p[1]);
	ssize_t n = read_full(p[0], (uint8_t *)at, sizeof *at);
	close(p[0]);
	if (n != sizeof *at || *at == 0) {
		kill(child, SIGKILL);
		waitpid(child, NULL, 0);
		errno = ENOMEM;
		return -1;
	}
	return child;
}

static void end_process(pid_t child)
{
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
}

static void report(uint64_t bytes, uint64_t us)
{
	printf("bytes %" PRIu64 " us %" PRIu64 "\n", bytes, us);
	fflush(stdout);
}

static int wait_ack(int fd)
{
	uint8_t ack;
	ssize_t n;
	while ((n = read(fd, &ack, 1)) < 0 && errno == EINTR)
		;
	if (n != 1) {
		if (n == 0)
			errno = ECONNRESET;
		return -1;
	}
	return 0;
}

static int cmd_send(pid_t pid, const char *target)
{
	uintptr_t start;
	size_t size;
	if (find_mapping(pid, &start, &size) < 0)
		return fail("finding the mapping");
	int fd = connect_to(target);
	if (fd < 0)
		return fail("connecting");
	uint8_t *buf = malloc(CHUNK);
	if (!buf)
		return fail("malloc");
	uint64_t t0 = now_us();
	for (size_t done = 0; done < size; done += CHUNK) {
		size_t len = size - done < CHUNK ? size - done : CHUNK;
		if (read_process(pid, start + done, buf, len) < 0)
			return fail("process_vm_readv");
		if (write_all(fd, buf, len) < 0)
			return fail("sending");
	}
	if (wait_ack(fd) < 0)
		return fail("waiting for the acknowledgement");
	report(size, now_us() - t0);
	close(fd);
	free(buf);
	return 0;
}

static int cmd_recv(const char *where, size_t size, const char *file)
{
	struct sockaddr_storage addr;
	socklen_t len;
	if (resolve(where, &addr, &len) < 0)
		return usage();
	int lfd = socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;
	if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
	    bind(lfd, (struct sockaddr *)&addr, len) < 0 || listen(lfd, 1) < 0)
		return fail("listening");
	int out = -1;
	pid_t child = -1;
	uintptr_t at = 0;
	if (file) {
		out = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (out < 0)
			return fail(file);
	} else if ((child = fresh_process(size, &at)) < 0) {
		return fail("starting the fresh process");
	}
	printf("listening\n");
	fflush(stdout);
	if (!wait_fd(lfd, POLLIN))
		return fail("waiting for the connection");
	int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return fail("accept");
	set_timeouts(fd);
	uint8_t *buf = malloc(CHUNK);
	if (!buf)
		return fail("malloc");
	uint64_t t0 = 0;
	size_t done = 0;
	while (done < size) {
		size_t want = size - done < CHUNK ? size - done : CHUNK;
		/* The first read waits for the sender; time starts with its bytes. */
		ssize_t first = 0;
		if (!t0) {
			while ((first = read(fd, buf, want)) < 0 && errno == EINTR)
				;
			if (first <= 0)
				return fail("receiving");
			t0 = now_us();
		}
		ssize_t n = read_full(fd, buf + first, want - (size_t)first);
		if (n < 0 || (size_t)(n + first) != want) {
			if (n >= 0)
				errno = ECONNRESET;
			return fail("receiving");
		}
		if (file ? write_all(out, buf, want) : write_process(child, at + done, buf, want))
			return fail(file ? "writing the file" : "process_vm_writev");
		done += want;
	}
	uint64_t us = now_us() - t0;
	uint8_t ack = 1;
	if (write_all(fd, &ack, 1) < 0)
		return fail("acknowledging");
	report(done, us);
	if (child > 0)
		end_process(child);
	if (out >= 0)
		close(out);
	close(fd);
	close(lfd);
	free(buf);
	return 0;
}

static int cmd_dump(pid_t pid, const char *file)
{
	uintptr_t start;
	size_t size;
	if (find_mapping(pid, &start, &size) < 0)
		return fail("finding the mapping");
	int out = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	uint8_t *buf = malloc(CHUNK);
	if (out < 0 || !buf)
		return fail(file);
	uint64_t t0 = now_us();
	for (size_t done = 0; done < size; done += CHUNK) {
		size_t len = size - done < CHUNK ? size - done : CHUNK;
		if (read_process(pid, start + done, buf, len) < 0)
			return fail("process_vm_readv");
		if (write_all(out, buf, len) < 0)
			return fail("writing the file");
	}
	report(size, now_us() - t0);
	close(out);
	free(buf);
	return 0;
}

static int cmd_sendfile(const char *file, const char *target)
{
	int in = open(file, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return fail(file);
	int fd = connect_to(target);
	uint8_t *buf = malloc(CHUNK);
	if (fd < 0 || !buf)
		return fail("connecting");
	uint64_t t0 = now_us(), total = 0;
	for (;;) {
		ssize_t n = read_full(in, buf, CHUNK);
		if (n < 0)
			return fail("reading the file");
		if (n == 0)
			break;
		if (write_all(fd, buf, (size_t)n) < 0)
			return fail("sending");
		total += (uint64_t)n;
	}
	if (wait_ack(fd) < 0)
		return fail("waiting for the acknowledgement");
	report(total, now_us() - t0);
	close(fd);
	close(in);
	free(buf);
	return 0;
}

static int cmd_load(const char *file)
{
	int in = open(file, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return fail(file);
	off_t size = lseek(in, 0, SEEK_END);
	if (size <= 0 || lseek(in, 0, SEEK_SET) < 0)
		return fail("sizing the file");
	uintptr_t at;
	pid_t child = fresh_process((size_t)size, &at);
	uint8_t *buf = malloc(CHUNK);
	if (child < 0 || !buf)
		return fail("starting the fresh process");
	uint64_t t0 = now_us();
	for (size_t done = 0; done < (size_t)size;) {
		ssize_t n = read_full(in, buf, CHUNK);
		if (n <= 0)
			return fail("reading the file");
		if (write_process(child, at + done, buf, (size_t)n) < 0)
			return fail("process_vm_writev");
		done += (size_t)n;
	}
	report((uint64_t)size, now_us() - t0);
	end_process(child);
	close(in);
	free(buf);
	return 0;
}

static int cmd_warm(size_t size)
{
	uint64_t t0 = now_us();
	uint8_t *m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		return fail("mmap");
	for (size_t off = 0; off < size; off += 4096)
		m[off] = 1;
	uint64_t us = now_us() - t0;
	munmap(m, size);
	report(size, us);
	return 0;
}

static bool parse_pid(const char *text, pid_t *pid)
{
	char *end;
	long v = strtol(text, &end, 10);
	*pid = (pid_t)v;
	return *text && !*end && v > 0 && v < (1l << 22);
}

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	pid_t pid;
	if (argc == 4 && strcmp(argv[1], "send") == 0 && parse_pid(argv[2], &pid))
		return cmd_send(pid, argv[3]);
	if ((argc == 4 || argc == 5) && strcmp(argv[1], "recv") == 0) {
		char *end;
		unsigned long mib = strtoul(argv[3], &end, 10);
		if (*end || mib == 0 || mib > (1ul << 20))
			return usage();
		return cmd_recv(argv[2], mib << 20, argc == 5 ? argv[4] : NULL);
	}
	if (argc == 4 && strcmp(argv[1], "dump") == 0 && parse_pid(argv[2], &pid))
		return cmd_dump(pid, argv[3]);
	if (argc == 4 && strcmp(argv[1], "sendfile") == 0)
		return cmd_sendfile(argv[2], argv[3]);
	if (argc == 3 && strcmp(argv[1], "load") == 0)
		return cmd_load(argv[2]);
	if (argc == 3 && strcmp(argv[1], "warm") == 0) {
		char *end;
		unsigned long mib = strtoul(argv[2], &end, 10);
		if (*end || mib == 0 || mib > (1ul << 20))
			return usage();
		return cmd_warm(mib << 20);
	}
	return usage();
}
