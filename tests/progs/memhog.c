/* memhog MIB random|zero: a process holding MIB MiB of private anonymous
 * memory, every page present, for the benchmark (tests/bench/run-bench).
 *   random  filled from a fixed-seed xorshift64, so no page is all-zero and
 *           nothing compresses
 *   zero    every page written with zeros: present, but all-zero
 * The mapping is its own VMA (PROT_NONE guard pages on both sides keep it
 * from merging with a neighbour).  Before "ready" it prints "pid N" and
 * the mapping's range as "region START-END" (hex).  Then it sleeps in sigsuspend;
 * on SIGUSR1 it checks every byte against what it wrote and prints PASS or
 * FAIL, so the benchmark can confirm that what it timed was a correct
 * migration. */
#include <sys/mman.h>

#include "testprog.h"

#define PAGE 4096ul
#define SEED 0x2545f4914f6cdd1dull

static uint64_t xorshift64(uint64_t *state)
{
	uint64_t x = *state;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *state = x;
}

static void fill_random(uint64_t *words, size_t count)
{
	uint64_t state = SEED;
	for (size_t i = 0; i < count; i++)
		words[i] = xorshift64(&state);
}

/* Index of the first word that differs from the sequence, or COUNT. */
static size_t check_random(const uint64_t *words, size_t count)
{
	uint64_t state = SEED;
	for (size_t i = 0; i < count; i++)
		if (words[i] != xorshift64(&state))
			return i;
	return count;
}

static size_t check_zero(const uint64_t *words, size_t count)
{
	for (size_t i = 0; i < count; i++)
		if (words[i] != 0)
			return i;
	return count;
}

int main(int argc, char **argv)
{
	char *end = NULL;
	unsigned long mib = argc == 3 ? strtoul(argv[1], &end, 10) : 0;
	bool random_data = argc == 3 && strcmp(argv[2], "random") == 0;
	if (mib == 0 || *end != '\0' || mib > (1ul << 20) || (!random_data && strcmp(argv[2], "zero") != 0)) {
		say("usage: memhog MIB random|zero");
		return 2;
	}
	usr1_setup();
	size_t size = mib << 20;
	unsigned char *guarded = mmap(NULL, size + 2 * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	SETUP(guarded != MAP_FAILED, "mmap");
	uint64_t *words = (uint64_t *)(guarded + PAGE);
	SETUP(mprotect(words, size, PROT_READ | PROT_WRITE) == 0, "mprotect");
	size_t count = size / sizeof(*words);
	if (random_data)
		fill_random(words, count);
	else
		/* Written, not just mapped: each page is faulted in and present. */
		memset(words, 0, size);
	say("pid %d", (int)getpid());
	say("region %lx-%lx", (unsigned long)(uintptr_t)words, (unsigned long)(uintptr_t)words + size);
	say("ready");
	usr1_wait();
	size_t bad = random_data ? check_random(words, count) : check_zero(words, count);
	CHECK(bad == count, "%s memory differs at byte offset %zu", random_data ? "random" : "zero",
	      bad * sizeof(*words));
	return tp_finish();
}
