/* secret HEX64: keeps the 32 bytes that HEX64 (64 hexadecimal digits)
 * spells at the start of a page of its own, the way a process holds a key,
 * so that a test can look for them in what a migration or a dump wrote.
 * Prints "ready", waits for SIGUSR1, then checks that the page still
 * holds them (and nothing else) and prints PASS. */
#include <sys/mman.h>

#include "testprog.h"

#define SECRET_LEN 32

static bool decode(const char *hex, uint8_t out[SECRET_LEN])
{
	if (strlen(hex) != 2 * SECRET_LEN)
		return false;
	for (int i = 0; i < SECRET_LEN; i++) {
		unsigned v;
		if (sscanf(hex + 2 * i, "%2x", &v) != 1)
			return false;
		out[i] = (uint8_t)v;
	}
	return true;
}

int main(int argc, char **argv)
{
	uint8_t *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	SETUP(page != MAP_FAILED, "mmap");
	SETUP(argc == 2 && decode(argv[1], page), "usage: secret HEX64");
	usr1_setup();

	say("ready");
	usr1_wait();

	uint8_t want[SECRET_LEN];
	decode(argv[1], want);
	CHECK(memcmp(page, want, SECRET_LEN) == 0, "the secret changed");
	size_t stray = 0;
	for (int i = SECRET_LEN; i < 4096; i++)
		stray += page[i] != 0;
	CHECK(stray == 0, "%zu bytes after the secret are not zero", stray);
	return tp_finish();
}
