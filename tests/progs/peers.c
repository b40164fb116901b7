/* peers MODE [--steps N] [--cost N] [--record FILE] [--gate FILE [--gate-after K]]:
 * a two-threaded program that may hold a descriptor whose other end belongs
 * to another process, which binmig must refuse to migrate.
 *   none        no such descriptor of its own (its stdout may still be a
 *               pipe to another process: the tests arrange that)
 *   pipe        fd 7 is the write end of a pipe whose read end is in a
 *               reader process (not a child)
 *   socketpair  fd 7 is one end of an AF_UNIX socket pair, the other end
 *               is in a reader process
 *   tcp         fd 7 is a TCP connection on loopback accepted from a
 *               reader process (the listening socket is closed)
 * The worker thread does N steps of COST rounds; after each it prints
 * "step K HEX" on stdout and sends 64 bytes to the reader.  Then main closes
 * fd 7 and checks that the reader received everything (it says so on a pipe
 * at fd 200), and
 * prints "result HEX" on stdout and, with --record, into FILE (a regular
 * file opened at start, so that the result can be read when stdout goes
 * nowhere).  With --gate, the worker stops after step K (default N) and,
 * until FILE exists, does uncounted steps: the same work, but neither
 * printed nor sent nor in the digest, so a test keeps the program alive and
 * unfinished for as long as it needs and its output still depends on the
 * options only.  Output: "ready", the steps, "result HEX" (exit 0), or
 * "FAIL: ..." lines (exit 1). */
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "threadstate.h"

#define PEER_FD 7
#define CHUNK 64
#define JOIN_TIMEOUT_S 20

static struct {
	long steps, cost, gate_after;
	const char *record, *gate;
} opt = { .steps = 40, .cost = 4000000, .gate_after = -1 };

static int peer_fd = -1;
static uint64_t digest;
static struct ts_finished finished = TS_FINISHED_INIT;

/* The reader (another process, not a child: binmig refuses a process
 * with children) says on this pipe, which main holds at VERDICT_FD,
 * whether it got every byte. */
#define VERDICT_FD 200
static int verdict[2] = {-1, -1};

/* The reader: reads until end of file, then says 'y' if it got EXPECTED
 * bytes. */
static void child_reader(int fd, long expected)
{
	char buf[4096];
	long total = 0;
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		total += n;
	}
	char said = total == expected ? 'y' : 'n';
	_exit(write(verdict[1], &said, 1) == 1 ? 0 : 1);
}

/* One step's work on H. */
static uint64_t work(uint64_t h)
{
	for (long i = 0; i < opt.cost; i++)
		h = mix64(h + i);
	return h;
}

/* Uncounted steps until the gate opens; their work goes nowhere. */
static void hold_at_gate(void)
{
	uint64_t h = 0;
	while (!tp_gate_open(opt.gate))
		h = work(h);
	tp_sink = h;
}

static pid_t start_child(const char *mode)
{
	int fds[2];
	long expected = opt.steps * CHUNK;
	pid_t child;
	if (strcmp(mode, "pipe") == 0 || strcmp(mode, "socketpair") == 0) {
		if (strcmp(mode, "pipe") == 0)
			SETUP(pipe(fds) == 0, "pipe");
		else
			SETUP(socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0, "socketpair");
		child = tp_fork_peer();
		if (child == 0) {
			close(fds[1]);
			child_reader(fds[0], expected);
		}
		close(fds[0]);
		SETUP(dup2(fds[1], PEER_FD) == PEER_FD, "dup2");
		close(fds[1]);
		return child;
	}
	/* tcp */
	int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	SETUP(listener >= 0, "socket");
	struct sockaddr_in addr = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(addr);
	SETUP(bind(listener, (struct sockaddr *)&addr, sizeof(addr)) == 0, "bind 127.0.0.1:0");
	SETUP(listen(listener, 1) == 0, "listen");
	SETUP(getsockname(listener, (struct sockaddr *)&addr, &len) == 0, "getsockname");
	child = tp_fork_peer();
	if (child == 0) {
		close(listener);
		int s = socket(AF_INET, SOCK_STREAM, 0);
		if (s < 0 || connect(s, (struct sockaddr *)&addr, sizeof(addr)) != 0)
			_exit(3);
		child_reader(s, expected);
	}
	int conn = accept4(listener, NULL, NULL, 0);
	SETUP(conn >= 0, "accept");
	close(listener);
	SETUP(dup2(conn, PEER_FD) == PEER_FD, "dup2");
	close(conn);
	return child;
}

static void *worker_main(void *arg)
{
	(void)arg;
	struct thread_state st;
	ts_record(&st, "worker");
	uint64_t h = 0x9e3779b97f4a7c15ull;
	for (long step = 1;; step++) {
		if (step == opt.gate_after + 1)
			hold_at_gate();
		if (step > opt.steps)
			break;
		h = work(h);
		say("step %ld %016llx", step, (unsigned long long)h);
		if (peer_fd >= 0) {
			char chunk[CHUNK];
			memset(chunk, (int)(step & 0xff), sizeof(chunk));
			tp_write_all(peer_fd, chunk, sizeof(chunk));
		}
	}
	digest = h;
	ts_check(&st);
	ts_finish(&finished);
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		goto usage;
	const char *mode = argv[1];
	for (int i = 2; i < argc; i += 2) {
		if (i + 1 >= argc)
			goto usage;
		if (strcmp(argv[i], "--steps") == 0)
			opt.steps = atol(argv[i + 1]);
		else if (strcmp(argv[i], "--cost") == 0)
			opt.cost = atol(argv[i + 1]);
		else if (strcmp(argv[i], "--record") == 0)
			opt.record = argv[i + 1];
		else if (strcmp(argv[i], "--gate") == 0)
			opt.gate = argv[i + 1];
		else if (strcmp(argv[i], "--gate-after") == 0)
			opt.gate_after = atol(argv[i + 1]);
		else
			goto usage;
	}
	if (opt.gate_after == -1)
		opt.gate_after = opt.steps;
	if (opt.steps < 1 || opt.cost < 1 || opt.gate_after < 0 || opt.gate_after > opt.steps ||
	    (opt.gate_after != opt.steps && !opt.gate))
		goto usage;
	pid_t child = -1;
	if (strcmp(mode, "none") != 0) {
		if (strcmp(mode, "pipe") != 0 && strcmp(mode, "socketpair") != 0 && strcmp(mode, "tcp") != 0)
			goto usage;
		SETUP(pipe(verdict) == 0, "pipe");
		child = start_child(mode);
		peer_fd = PEER_FD;
		/* Above fd 7, so that a refusal names fd 7 first. */
		SETUP(dup2(verdict[0], VERDICT_FD) == VERDICT_FD, "dup2");
		close(verdict[0]);
		close(verdict[1]);
	}
	int record_fd = -1;
	if (opt.record) {
		record_fd = open(opt.record, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		SETUP(record_fd >= 0, opt.record);
	}
	struct thread_state st;
	ts_record(&st, "peers");
	pthread_t worker;
	SETUP(pthread_create(&worker, NULL, worker_main, NULL) == 0, "pthread_create");
	say("ready");
	ts_wait_finished(&finished, 1);
	ts_join(worker, "worker", JOIN_TIMEOUT_S);
	ts_check(&st);
	if (child > 0) {
		close(peer_fd);
		char said = 0;
		ssize_t n;
		while ((n = read(VERDICT_FD, &said, 1)) < 0 && errno == EINTR)
			;
		if (n != 1 || said != 'y')
			ts_fail("the reader did not get all the data (%s)", n == 1 ? "it says so" : "it said nothing");
	}
	if (tp_failures) {
		say("FAIL");
		return 1;
	}
	char line[64];
	int n = snprintf(line, sizeof(line), "result %016llx\n", (unsigned long long)digest);
	if (record_fd >= 0)
		tp_write_all(record_fd, line, n);
	tp_write_all(1, line, n);
	return 0;
usage:
	say("FAIL: usage: peers none|pipe|socketpair|tcp [--steps N] [--cost N] [--record FILE] "
	    "[--gate FILE [--gate-after K]]");
	return 2;
}
