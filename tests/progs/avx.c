/* avx: register state while the process runs user code.  An assembly loop
 * holds known values in ymm0-ymm15 (full 256 bits), two x87 stack
 * registers, a non-default x87 control word (round toward zero, double
 * precision), a non-default MXCSR (round down, FTZ, DAZ) and r12-r15, and
 * on every iteration compares them all with copies in memory; it leaves the
 * loop on the first mismatch or when SIGUSR1's handler has set its flag.
 * The script freezes the process in the middle of the loop.  Also: a
 * __thread variable keeps its address and value and fs_base is unchanged. */
#include <asm/prctl.h>
#include <sys/syscall.h>

#include "testprog.h"

static uint8_t expected_ymm[16][32] __attribute__((aligned(32)));
static uint8_t seen_ymm[16][32] __attribute__((aligned(32)));
static uint64_t expected_gpr[4];
static double expected_st[2] = { 3.14159265358979, -2.718281828459045e300 };
static uint16_t expected_fcw = 0x0e7f; /* RC=11 truncate, PC=10 double, exceptions masked */
static uint32_t expected_mxcsr = 0xbfc0; /* FTZ | RC=01 down | masks | DAZ */
static __thread volatile uint64_t tls_marker;

static uint64_t arch_get(int code)
{
	unsigned long value = 0;
	if (syscall(SYS_arch_prctl, code, &value) != 0)
		return ~0ull;
	return value;
}

int main(void)
{
	__builtin_cpu_init();
	if (!__builtin_cpu_supports("avx2")) {
		say("SKIP: the CPU has no AVX2");
		return 0;
	}
	usr1_setup();
	for (int r = 0; r < 16; r++)
		for (int b = 0; b < 32; b++)
			expected_ymm[r][b] = (uint8_t)mix64(r * 32 + b);
	for (int r = 0; r < 4; r++)
		expected_gpr[r] = mix64(1000 + r);
	tls_marker = mix64(getpid());
	uint64_t tls_value = tls_marker;
	volatile uint64_t *tls_address = &tls_marker;
	uint64_t fs_before = arch_get(ARCH_GET_FS), gs_before = arch_get(ARCH_GET_GS);
	uint16_t fcw_saved, fcw_now = 0;
	uint32_t mxcsr_saved, mxcsr_now = 0;
	uint64_t st_now[2] = { 0, 0 };
	__asm__ volatile("fnstcw %0\n\tstmxcsr %1" : "=m"(fcw_saved), "=m"(mxcsr_saved));

	sigset_t usr1;
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	sigprocmask(SIG_UNBLOCK, &usr1, NULL);
	say("ready");

	uint64_t iterations = 0;
	uint32_t mismatch = 0;
	__asm__ volatile(
		"vmovdqa   0(%[exp]), %%ymm0\n\t"
		"vmovdqa  32(%[exp]), %%ymm1\n\t"
		"vmovdqa  64(%[exp]), %%ymm2\n\t"
		"vmovdqa  96(%[exp]), %%ymm3\n\t"
		"vmovdqa 128(%[exp]), %%ymm4\n\t"
		"vmovdqa 160(%[exp]), %%ymm5\n\t"
		"vmovdqa 192(%[exp]), %%ymm6\n\t"
		"vmovdqa 224(%[exp]), %%ymm7\n\t"
		"vmovdqa 256(%[exp]), %%ymm8\n\t"
		"vmovdqa 288(%[exp]), %%ymm9\n\t"
		"vmovdqa 320(%[exp]), %%ymm10\n\t"
		"vmovdqa 352(%[exp]), %%ymm11\n\t"
		"vmovdqa 384(%[exp]), %%ymm12\n\t"
		"vmovdqa 416(%[exp]), %%ymm13\n\t"
		"vmovdqa 448(%[exp]), %%ymm14\n\t"
		"vmovdqa 480(%[exp]), %%ymm15\n\t"
		"fldcw %[fcw]\n\t"
		"ldmxcsr %[mxcsr]\n\t"
		"fldl 8(%[st])\n\t"
		"fldl 0(%[st])\n\t" /* st0 = st[0], st1 = st[1] */
		"mov  0(%[gpr]), %%r12\n\t"
		"mov  8(%[gpr]), %%r13\n\t"
		"mov 16(%[gpr]), %%r14\n\t"
		"mov 24(%[gpr]), %%r15\n"
		"1:\n\t"
		"incq %[iters]\n\t"
		"vmovdqa %%ymm0,    0(%[seen])\n\t"
		"vmovdqa %%ymm1,   32(%[seen])\n\t"
		"vmovdqa %%ymm2,   64(%[seen])\n\t"
		"vmovdqa %%ymm3,   96(%[seen])\n\t"
		"vmovdqa %%ymm4,  128(%[seen])\n\t"
		"vmovdqa %%ymm5,  160(%[seen])\n\t"
		"vmovdqa %%ymm6,  192(%[seen])\n\t"
		"vmovdqa %%ymm7,  224(%[seen])\n\t"
		"vmovdqa %%ymm8,  256(%[seen])\n\t"
		"vmovdqa %%ymm9,  288(%[seen])\n\t"
		"vmovdqa %%ymm10, 320(%[seen])\n\t"
		"vmovdqa %%ymm11, 352(%[seen])\n\t"
		"vmovdqa %%ymm12, 384(%[seen])\n\t"
		"vmovdqa %%ymm13, 416(%[seen])\n\t"
		"vmovdqa %%ymm14, 448(%[seen])\n\t"
		"vmovdqa %%ymm15, 480(%[seen])\n\t"
		"xor %%ecx, %%ecx\n"
		"2:\n\t"
		"mov (%[seen],%%rcx,8), %%rax\n\t"
		"cmp (%[exp],%%rcx,8), %%rax\n\t"
		"jne 9f\n\t"
		"inc %%ecx\n\t"
		"cmp $64, %%ecx\n\t"
		"jb 2b\n\t"
		"fnstcw %[fcw_now]\n\t"
		"movzwl %[fcw_now], %%eax\n\t"
		"movzwl %[fcw], %%edx\n\t"
		"cmp %%edx, %%eax\n\t"
		"jne 9f\n\t"
		"stmxcsr %[mx_now]\n\t"
		"mov %[mx_now], %%eax\n\t"
		"cmp %[mxcsr], %%eax\n\t"
		"jne 9f\n\t"
		"fstl 0(%[st_now])\n\t"
		"fxch %%st(1)\n\t"
		"fstl 8(%[st_now])\n\t"
		"fxch %%st(1)\n\t"
		"mov 0(%[st_now]), %%rax\n\t"
		"cmp 0(%[st]), %%rax\n\t"
		"jne 9f\n\t"
		"mov 8(%[st_now]), %%rax\n\t"
		"cmp 8(%[st]), %%rax\n\t"
		"jne 9f\n\t"
		"cmp  0(%[gpr]), %%r12\n\t"
		"jne 9f\n\t"
		"cmp  8(%[gpr]), %%r13\n\t"
		"jne 9f\n\t"
		"cmp 16(%[gpr]), %%r14\n\t"
		"jne 9f\n\t"
		"cmp 24(%[gpr]), %%r15\n\t"
		"jne 9f\n\t"
		"cmpl $0, %[wake]\n\t"
		"je 1b\n\t"
		"movl $0, %[bad]\n\t"
		"jmp 8f\n"
		"9:\n\t"
		"movl $1, %[bad]\n"
		"8:\n\t"
		"fstp %%st(0)\n\t"
		"fstp %%st(0)\n\t"
		"fldcw %[fcw_saved]\n\t"
		"ldmxcsr %[mx_saved]\n\t"
		"vzeroupper\n\t"
		: [iters] "+m"(iterations), [bad] "=m"(mismatch), [fcw_now] "=m"(fcw_now), [mx_now] "=m"(mxcsr_now)
		: [exp] "r"(expected_ymm), [seen] "r"(seen_ymm), [gpr] "r"(expected_gpr), [st] "r"(expected_st),
		  [st_now] "r"(st_now), [fcw] "m"(expected_fcw), [mxcsr] "m"(expected_mxcsr), [wake] "m"(tp_usr1_seen),
		  [fcw_saved] "m"(fcw_saved), [mx_saved] "m"(mxcsr_saved)
		: "rax", "rcx", "rdx", "r12", "r13", "r14", "r15", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5",
		  "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "st",
		  "st(1)", "cc", "memory");

	CHECK(tp_usr1_seen, "loop left without SIGUSR1");
	CHECK(!mismatch, "registers changed after %llu iterations", (unsigned long long)iterations);
	if (mismatch) {
		for (int r = 0; r < 16; r++)
			CHECK(memcmp(seen_ymm[r], expected_ymm[r], 32) == 0, "ymm%d differs", r);
		CHECK(fcw_now == expected_fcw, "x87 control word %#x", fcw_now);
		CHECK(mxcsr_now == expected_mxcsr, "MXCSR %#x", mxcsr_now);
		CHECK(memcmp(st_now, expected_st, sizeof(st_now)) == 0, "x87 st0/st1 differ");
	}
	CHECK(tls_address == &tls_marker && tls_marker == tls_value, "__thread variable moved or changed");
	CHECK(arch_get(ARCH_GET_FS) == fs_before, "fs_base %#llx, was %#llx",
	      (unsigned long long)arch_get(ARCH_GET_FS), (unsigned long long)fs_before);
	CHECK(arch_get(ARCH_GET_GS) == gs_before, "gs_base changed");
	say("iterations %llu", (unsigned long long)iterations);
	return tp_finish();
}
