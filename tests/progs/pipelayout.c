/* pipelayout carried|tree|packets|big: pipes whose bytes lie in their buffers in
 * ways a refill in one go would not make again.  Before "ready" it sets
 * up, and after the wake-up checks:
 *   carried:
 *   - a pipe whose buffers each hold a little: small writes with a read
 *     between (a buffer that starts within its page), a buffer copied in
 *     with tee (never merged into), a packet spliced in from a
 *     packet-mode pipe, and small writes after each; its FIONREAD, how
 *     many bytes 100-byte non-blocking writes add before EAGAIN, and the
 *     sizes and bytes of the reads that then empty it are those of a twin
 *     built the same way and measured before "ready" (then closed);
 *   - and, as "packets" does, a packet-mode pipe holding packets;
 *   tree: the same, with a child holding both pipes too (a tree's restore
 *   makes each once for both: migrator/tree_restore.c), which the program
 *   ends after its checks;
 *   packets:
 *   - a packet-mode pipe (pipe2 O_DIRECT, non-blocking) holding packets
 *     of 1, 100, 4096 and 3000 bytes: each read gives one packet, of its
 *     size and bytes, and the pipe still keeps new writes apart;
 *   big: as packets, and a pipe of more buffers than binmig's reader reads
 *   in one run (pipebig.h: 1300 buffers in a ring of 2048 pages, above
 *   the default fs.pipe-max-size); its FIONREAD, room and reads as a
 *   twin's, as "carried" checks.
 * The dump of "packets" is refused where binmig cannot read the
 * packets' boundaries (no BPF). */
#include <sys/ioctl.h>

#include "pipebig.h"
#include "testprog.h"

/* The most reads and bytes a measure takes: of a pipe of 16 pages, and
 * of the big one (2048 pages, partly in small buffers). */
#define READS_MAX 256
#define ALL_MAX (1 << 17)
#define BIG_READS_MAX 4096
#define BIG_ALL_MAX (1 << 22)

/* What a pipe gives: FIONREAD, the bytes small writes add, then each
 * read's size and all the bytes read (at most MAX_READS, MAX_ALL). */
struct measure {
	int queued;
	size_t room, nreads, total, max_reads, max_all;
	size_t *sizes;
	uint8_t *all;
};

/* A measure of room for READS reads of ALL bytes; false without memory. */
static bool measure_alloc(struct measure *m, size_t reads, size_t all)
{
	*m = (struct measure){.max_reads = reads, .max_all = all};
	m->sizes = calloc(reads, sizeof *m->sizes);
	m->all = malloc(all);
	return m->sizes && m->all;
}

/* Fills the empty pipe of ends R and W with buffers that each hold a
 * little; false on a failure. */
static bool build(int r, int w)
{
	int plain[2], packet[2];
	char junk[8];
	if (pipe2(plain, O_CLOEXEC | O_NONBLOCK) < 0 || pipe2(packet, O_CLOEXEC | O_NONBLOCK | O_DIRECT) < 0)
		return false;
	bool ok = write(w, "aaaa", 4) == 4 && write(w, "bbbbbb", 6) == 6 && read(r, junk, 3) == 3 &&
		  write(plain[1], "ccccc", 5) == 5 && tee(plain[0], w, 5, SPLICE_F_NONBLOCK) == 5 &&
		  write(w, "dd", 2) == 2 && write(packet[1], "eee", 3) == 3 &&
		  splice(packet[0], NULL, w, NULL, 3, SPLICE_F_NONBLOCK) == 3 && write(w, "ff", 2) == 2 &&
		  write(w, "g", 1) == 1 && read(r, junk, 4) == 4;
	close(plain[0]);
	close(plain[1]);
	close(packet[0]);
	close(packet[1]);
	return ok;
}

/* Measures the pipe of ends R and W (non-blocking) into M, emptying it. */
static bool measure(int r, int w, struct measure *m)
{
	static const char chunk[100];
	ssize_t n;
	m->queued = 0;
	m->room = m->nreads = m->total = 0;
	if (ioctl(r, FIONREAD, &m->queued) < 0)
		return false;
	while ((n = write(w, chunk, sizeof chunk)) > 0)
		m->room += (size_t)n;
	if (errno != EAGAIN)
		return false;
	while (m->nreads < m->max_reads && m->total < m->max_all) {
		size_t want = m->max_all - m->total < 4096 ? m->max_all - m->total : 4096;
		if ((n = read(r, m->all + m->total, want)) <= 0)
			break;
		m->sizes[m->nreads++] = (size_t)n;
		m->total += (size_t)n;
	}
	return n < 0 && errno == EAGAIN;
}

static const size_t PACKETS[] = {1, 100, 4096, 3000};

static uint8_t packet_byte(size_t k, size_t i)
{
	return (uint8_t)(k * 31 + i * 7);
}

static void check_packets(int r, int w)
{
	static uint8_t got[8192];
	int queued = -1;
	CHECK(ioctl(r, FIONREAD, &queued) == 0 && queued == 1 + 100 + 4096 + 3000, "the packet pipe holds %d bytes",
	      queued);
	for (size_t k = 0; k < sizeof PACKETS / sizeof *PACKETS; k++) {
		ssize_t n = read(r, got, sizeof got);
		bool same = n == (ssize_t)PACKETS[k];
		for (size_t i = 0; same && i < PACKETS[k]; i++)
			same = got[i] == packet_byte(k, i);
		CHECK(same, "packet %zu: read %zd bytes, not its %zu", k, n, PACKETS[k]);
	}
	CHECK(write(w, "ab", 2) == 2 && write(w, "cde", 3) == 3 && read(r, got, sizeof got) == 2 &&
	      read(r, got, sizeof got) == 3, "the pipe is no longer in packet mode");
}

int main(int argc, char **argv)
{
	bool tree = argc == 2 && strcmp(argv[1], "tree") == 0;
	bool big = argc == 2 && strcmp(argv[1], "big") == 0;
	bool carried = tree || big || (argc == 2 && strcmp(argv[1], "carried") == 0);
	if (argc != 2 || (!carried && strcmp(argv[1], "packets") != 0)) {
		say("FAIL: usage: pipelayout carried|tree|packets|big");
		return 2;
	}
	usr1_setup();
	int packet[2];
	static uint8_t bytes[4096];
	SETUP(pipe2(packet, O_DIRECT | O_NONBLOCK) == 0, "pipe2 O_DIRECT");
	for (size_t k = 0; k < sizeof PACKETS / sizeof *PACKETS; k++) {
		for (size_t i = 0; i < PACKETS[k]; i++)
			bytes[i] = packet_byte(k, i);
		SETUP(write(packet[1], bytes, PACKETS[k]) == (ssize_t)PACKETS[k], "write a packet");
	}
	int little[2] = {-1, -1}, twin[2];
	struct measure before, after;
	SETUP(measure_alloc(&before, big ? BIG_READS_MAX : READS_MAX, big ? BIG_ALL_MAX : ALL_MAX) &&
		      measure_alloc(&after, before.max_reads, before.max_all),
	      "memory to measure");
	if (big) {
		SETUP(pipe_big_new(little) && pipe_big_build(little[0], little[1]), "the big pipe of little buffers");
		SETUP(pipe_big_new(twin) && pipe_big_build(twin[0], twin[1]) && measure(twin[0], twin[1], &before),
		      "its twin");
		close(twin[0]);
		close(twin[1]);
	} else if (carried) {
		SETUP(pipe2(little, O_NONBLOCK) == 0 && build(little[0], little[1]), "the pipe of little buffers");
		SETUP(pipe2(twin, O_NONBLOCK) == 0 && build(twin[0], twin[1]) && measure(twin[0], twin[1], &before),
		      "its twin");
		close(twin[0]);
		close(twin[1]);
	}
	pid_t child = tree ? fork() : 0;
	SETUP(child >= 0, "fork");
	if (tree && child == 0)
		for (;;)
			pause(); /* holding the pipes until its parent ends it */
	say("ready");
	usr1_wait();

	if (carried) {
		CHECK(measure(little[0], little[1], &after), "measuring the pipe of little buffers");
		CHECK(after.queued == before.queued, "FIONREAD %d, was %d", after.queued, before.queued);
		CHECK(after.room == before.room, "100-byte writes add %zu bytes before EAGAIN, %zu before", after.room,
		      before.room);
		CHECK(after.nreads == before.nreads, "%zu reads empty it, %zu before", after.nreads, before.nreads);
		for (size_t i = 0; i < after.nreads && i < before.nreads; i++)
			CHECK(after.sizes[i] == before.sizes[i], "read %zu gives %zu bytes, %zu before", i,
			      after.sizes[i], before.sizes[i]);
		CHECK(after.total == before.total && memcmp(after.all, before.all, after.total) == 0,
		      "the bytes read differ");
	}
	check_packets(packet[0], packet[1]);
	if (child > 0) {
		int status = 0;
		CHECK(kill(child, SIGKILL) == 0 && waitpid(child, &status, 0) == child, "ending the child");
	}
	return tp_finish();
}
