/* dirtier MIB PERMILLE_PER_S: a process holding MIB MiB of private
 * anonymous memory (every page written) that keeps rewriting random pages,
 * PERMILLE_PER_S thousandths of its pages per second (10: 1 % per second),
 * for the pre-copy benchmark (tests/bench/run-bench-precopy).  Each page
 * holds a pattern of its index and its own write count; the counts live
 * in the process too.  It prints "region START-END" and "ready", then
 * writes until SIGUSR1, then checks every page against its count and
 * prints PASS or FAIL. */
#include <sys/mman.h>

#include "testprog.h"

#define PAGE 4096ul

static volatile sig_atomic_t stop;
static void on_usr1(int sig)
{
	(void)sig;
	stop = 1;
}

static uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	return x;
}

static void fill(uint64_t *p, uint64_t page, uint32_t ver)
{
	uint64_t seed = mix(page * 0x9e3779b97f4a7c15ull + ver);
	for (size_t i = 0; i < PAGE / 8; i += 64)
		p[i] = seed + i;
	p[1] = ver;
}

static bool check(const uint64_t *p, uint64_t page, uint32_t ver)
{
	uint64_t seed = mix(page * 0x9e3779b97f4a7c15ull + ver);
	for (size_t i = 0; i < PAGE / 8; i += 64)
		if (p[i] != seed + i)
			return false;
	return p[1] == ver;
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int main(int argc, char **argv)
{
	char *end = NULL, *end2 = NULL;
	unsigned long mib = argc == 3 ? strtoul(argv[1], &end, 10) : 0;
	unsigned long permille = argc == 3 ? strtoul(argv[2], &end2, 10) : 0;
	if (mib == 0 || *end || *end2 || mib > (1ul << 20)) {
		say("usage: dirtier MIB PERMILLE_PER_S");
		return 2;
	}
	struct sigaction sa = {.sa_handler = on_usr1};
	sigaction(SIGUSR1, &sa, NULL);
	uint64_t pages = (mib << 20) / PAGE;
	uint64_t *mem = mmap(NULL, mib << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint32_t *ver = mmap(NULL, pages * sizeof *ver, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED || ver == MAP_FAILED) {
		say("FAIL: mmap");
		return 1;
	}
	for (uint64_t p = 0; p < pages; p++) {
		ver[p] = 1;
		fill(mem + p * (PAGE / 8), p, 1);
	}
	say("region %lx-%lx", (unsigned long)(uintptr_t)mem, (unsigned long)(uintptr_t)mem + (mib << 20));
	say("ready");
	uint64_t rng = 0x2545f4914f6cdd1dull, t0 = now_ns(), done = 0;
	while (!stop) {
		/* Pages due by now at the rate; then a millisecond's pause. */
		uint64_t due = (now_ns() - t0) / 1000 * pages / 1000 * permille / 1000000;
		for (; done < due && !stop; done++) {
			rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
			uint64_t p = rng % pages;
			fill(mem + p * (PAGE / 8), p, ++ver[p]);
		}
		struct timespec ts = {0, 1000000};
		nanosleep(&ts, NULL);
	}
	uint64_t bad = 0;
	for (uint64_t p = 0; p < pages; p++)
		bad += !check(mem + p * (PAGE / 8), p, ver[p]);
	say("pages written %llu", (unsigned long long)done);
	CHECK(bad == 0, "%llu pages differ", (unsigned long long)bad);
	return tp_finish();
}
