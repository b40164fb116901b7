/* JIT-like code rewritten in place: an anonymous executable page holds
 * baseline code ("add eax, ecx" ... "ret") until the file argv[1] exists,
 * then an AVX2 instruction (vpaddd ymm0, ymm0, ymm1) is written into it at
 * offset 16 and "rewritten" printed; runs until argv[2] exists or 60 s.
 * For e2e/isa-jit-rewrite: a check that cached the page's first content
 * must still find the AVX2 instruction. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "testprog.h"

/* Built with -mavx2 like every test program: this one must not use it. */
#pragma GCC target("no-avx")

int main(int argc, char **argv)
{
	if (argc != 3)
		return 2;
	uint8_t *code = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (code == MAP_FAILED)
		return 1;
	memset(code, 0xcc, 4096);
	for (int i = 0; i < 64; i += 2) {
		code[i] = 0x01;
		code[i + 1] = 0xc8;
	}
	code[64] = 0xc3;
	printf("ready\n");
	fflush(stdout);
	int64_t end = mono_ns() + 60 * 1000000000LL;
	struct timespec tick = {0, 1000000};
	while (!tp_gate_open(argv[1]) && mono_ns() < end)
		nanosleep(&tick, NULL);
	memcpy(code + 16, (const uint8_t[]){0xc5, 0xfd, 0xfe, 0xc1}, 4);
	printf("rewritten\n");
	fflush(stdout);
	while (!tp_gate_open(argv[2]) && mono_ns() < end)
		nanosleep(&tick, NULL);
	return 0;
}
