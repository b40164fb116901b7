/* checksum [MIB [PASSES]]: a deterministic computation that migrations must
 * not disturb.  Fills MIB (default 64) MiB from an LCG, prints "ready", then
 * makes PASSES (default 150) passes over the buffer, each folding every word
 * into a running hash and rewriting the word (so every pass dirties all the
 * memory), printing "pass K" after pass K and "result HEX" at the end.  Runs
 * without waiting for anything: the script compares the result (and the
 * whole output) of a migrated run with an unmigrated one. */
#include "testprog.h"

int main(int argc, char **argv)
{
	size_t size = (size_t)(argc > 1 ? atoi(argv[1]) : 64) << 20;
	int passes = argc > 2 ? atoi(argv[2]) : 150;
	SETUP(size > 0 && passes > 0, "arguments");
	uint64_t *buf = malloc(size);
	SETUP(buf != NULL, "malloc");
	size_t words = size / 8;
	uint64_t lcg = 12345;
	for (size_t i = 0; i < words; i++) {
		lcg = lcg * 6364136223846793005ull + 1442695040888963407ull;
		buf[i] = lcg;
	}
	say("ready");
	uint64_t hash = 0x243f6a8885a308d3ull;
	for (int pass = 1; pass <= passes; pass++) {
		for (size_t i = 0; i < words; i++) {
			uint64_t w = buf[i];
			hash ^= w + (hash << 6) + (hash >> 2);
			hash = (hash ^ (hash >> 29)) * 0xbf58476d1ce4e5b9ull;
			buf[i] = w * 0x5851f42d4c957f2dull + (uint64_t)pass;
		}
		say("pass %d", pass);
	}
	say("result %016llx", (unsigned long long)hash);
	return 0;
}
