/* checksum [--gate FILE] [MIB [PASSES]]: a deterministic computation that
 * migrations must not disturb.  Fills MIB (default 64) MiB from an LCG,
 * prints "ready", then makes PASSES (default 150) passes over the buffer,
 * each folding every word into a running hash and rewriting the word (so
 * every pass dirties all the memory), printing "pass K" after pass K and
 * "result HEX" at the end.  With --gate, after the counted passes it goes on
 * with uncounted ones (the same work, left out of the hash and the output)
 * until FILE exists, so that a test can migrate it for as long as it needs.
 * Runs without waiting for anything: the script compares the result (and
 * the whole output) of a migrated run with an unmigrated one. */
#include "testprog.h"

int main(int argc, char **argv)
{
	const char *gate = NULL;
	if (argc > 2 && strcmp(argv[1], "--gate") == 0) {
		gate = argv[2];
		argc -= 2;
		argv += 2;
	}
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
	uint64_t hash = 0x243f6a8885a308d3ull, uncounted = 0;
	for (int pass = 1;; pass++) {
		bool counted = pass <= passes;
		if (!counted && tp_gate_open(gate))
			break;
		uint64_t h = counted ? hash : uncounted;
		for (size_t i = 0; i < words; i++) {
			uint64_t w = buf[i];
			h ^= w + (h << 6) + (h >> 2);
			h = (h ^ (h >> 29)) * 0xbf58476d1ce4e5b9ull;
			buf[i] = w * 0x5851f42d4c957f2dull + (uint64_t)pass;
		}
		if (counted) {
			hash = h;
			say("pass %d", pass);
		} else {
			uncounted = h;
		}
	}
	tp_sink = uncounted;
	say("result %016llx", (unsigned long long)hash);
	return 0;
}
