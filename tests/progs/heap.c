/* heap [MIB]: grows the heap with sbrk by MIB (default 8) MiB and fills it
 * with a pattern, plus a few malloc'ed blocks of the main arena.  After the
 * wake-up: the pattern and the blocks are intact, the kernel's break (asked
 * with the raw brk system call: glibc's sbrk(0) only returns its cached
 * copy) and start_brk are unchanged, and the heap still grows: 64 MiB more
 * through sbrk, touched and checked, and ten thousand fresh mallocs that
 * land between start_brk and the break. */
#include <sys/syscall.h>

#include "testprog.h"

#define SMALL_BLOCKS 64

int main(int argc, char **argv)
{
	size_t size = (size_t)(argc > 1 ? atoi(argv[1]) : 8) << 20;
	SETUP(size > 0, "size");
	usr1_setup();

	char *region = sbrk(size);
	SETUP(region != (void *)-1, "sbrk");
	uint64_t *words = (uint64_t *)region;
	for (size_t i = 0; i < size / 8; i++)
		words[i] = mix64(i);
	unsigned char *small[SMALL_BLOCKS];
	for (int i = 0; i < SMALL_BLOCKS; i++) {
		small[i] = malloc(1000 + i * 37);
		SETUP(small[i] != NULL, "malloc");
		memset(small[i], i + 1, 1000 + i * 37);
	}
	unsigned long brk_before = syscall(SYS_brk, 0);
	unsigned long long start_brk_before = 0;
	SETUP(self_stat_field(47, &start_brk_before), "start_brk in /proc/self/stat");

	say("ready");
	usr1_wait();

	unsigned long brk_after = syscall(SYS_brk, 0);
	CHECK(brk_after == brk_before, "break %#lx, was %#lx", brk_after, brk_before);
	unsigned long long start_brk_after = 0;
	CHECK(self_stat_field(47, &start_brk_after) && start_brk_after == start_brk_before,
	      "start_brk %#llx, was %#llx", start_brk_after, start_brk_before);
	size_t bad = 0;
	for (size_t i = 0; i < size / 8; i++)
		bad += words[i] != mix64(i);
	CHECK(bad == 0, "%zu of %zu heap words changed", bad, size / 8);
	for (int i = 0; i < SMALL_BLOCKS; i++) {
		size_t wrong = 0;
		for (int j = 0; j < 1000 + i * 37; j++)
			wrong += small[i][j] != i + 1;
		CHECK(wrong == 0, "malloc block %d: %zu bytes changed", i, wrong);
		free(small[i]);
	}

	/* The break still moves. */
	size_t more = 64 << 20;
	char *grown = sbrk(more);
	CHECK(grown != (void *)-1, "sbrk(64 MiB) after the wake-up: %s", strerror(errno));
	if (grown != (void *)-1) {
		CHECK((unsigned long)syscall(SYS_brk, 0) == (unsigned long)(grown + more), "break did not move");
		for (size_t off = 0; off < more; off += 4096)
			grown[off] = (char)(off >> 12);
		size_t wrong = 0;
		for (size_t off = 0; off < more; off += 4096)
			wrong += grown[off] != (char)(off >> 12);
		CHECK(wrong == 0, "%zu pages of the new heap lost their byte", wrong);
		CHECK(sbrk(-(intptr_t)more) != (void *)-1, "shrinking the heap");
	}
	static unsigned char *blocks[10000];
	unsigned long brk_now = syscall(SYS_brk, 0);
	int nblocks = 0;
	for (; nblocks < 10000; nblocks++) {
		blocks[nblocks] = malloc(1024);
		CHECK(blocks[nblocks] != NULL, "malloc after the wake-up");
		if (!blocks[nblocks])
			break;
		memset(blocks[nblocks], 0x5a, 1024);
	}
	unsigned long brk_end = syscall(SYS_brk, 0);
	CHECK(brk_end > brk_now, "malloc did not grow the break");
	int outside = 0;
	for (int i = 0; i < nblocks; i++)
		outside += (uintptr_t)blocks[i] < start_brk_before || (uintptr_t)blocks[i] >= brk_end;
	CHECK(outside == 0, "%d of %d malloc blocks outside the brk heap", outside, nblocks);
	return tp_finish();
}
