/* Instruction-set extensions: what each one is (its name as in
 * /proc/cpuinfo's flags, the CPUID bit that announces it, the xstate
 * components its registers live in), and which of them one decoded
 * instruction needs. */
#ifndef BINMIG_ISA_CLASSIFY_H
#define BINMIG_ISA_CLASSIFY_H

#include <capstone/capstone.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "x86_decode.h"

/* The extensions binmig tells apart: those whose instructions fault, or
 * compute something else, on a CPU without them.  Everything every x86-64
 * CPU has (x87, MMX, SSE, SSE2, CMOV, CMPXCHG8B, SYSCALL) is the baseline,
 * and hints that older CPUs execute as NOPs (PREFETCHW, ENDBR64, PAUSE,
 * CLDEMOTE) need nothing. */
enum bm_ext {
	BM_EXT_PNI, BM_EXT_SSSE3, BM_EXT_SSE4_1, BM_EXT_SSE4_2, BM_EXT_SSE4A, BM_EXT_POPCNT, BM_EXT_ABM,
	BM_EXT_MOVBE, BM_EXT_CX16, BM_EXT_LAHF_LM, BM_EXT_AES, BM_EXT_PCLMULQDQ, BM_EXT_SHA_NI, BM_EXT_RDRAND,
	BM_EXT_RDSEED, BM_EXT_F16C, BM_EXT_FMA, BM_EXT_FMA4, BM_EXT_XOP, BM_EXT_TBM, BM_EXT_AVX, BM_EXT_AVX2,
	BM_EXT_BMI1, BM_EXT_BMI2, BM_EXT_ADX, BM_EXT_AVX512F, BM_EXT_AVX512DQ, BM_EXT_AVX512CD, BM_EXT_AVX512BW,
	BM_EXT_AVX512VL, BM_EXT_AVX512IFMA, BM_EXT_AVX512VBMI, BM_EXT_AVX512VBMI2, BM_EXT_AVX512VNNI,
	BM_EXT_AVX512BITALG, BM_EXT_AVX512VPOPCNTDQ, BM_EXT_AVX512BF16, BM_EXT_AVX512VP2INTERSECT,
	BM_EXT_AVX512FP16, BM_EXT_AVX512ER, BM_EXT_AVX512PF, BM_EXT_AVX_VNNI, BM_EXT_GFNI, BM_EXT_VAES,
	BM_EXT_VPCLMULQDQ, BM_EXT_XSAVE, BM_EXT_XSAVEOPT, BM_EXT_XSAVEC, BM_EXT_CLFLUSHOPT, BM_EXT_CLWB,
	BM_EXT_RDPID, BM_EXT_RDTSCP, BM_EXT_FSGSBASE, BM_EXT_MOVDIRI, BM_EXT_MOVDIR64B, BM_EXT_SERIALIZE,
	BM_EXT_CLZERO, BM_EXT_RTM, BM_EXT_PKU, BM_EXT_WAITPKG, BM_EXT_AMX_TILE, BM_EXT_AMX_BF16, BM_EXT_AMX_INT8,
	BM_EXT_3DNOW,
	BM_EXT_COUNT
};
_Static_assert(BM_EXT_COUNT <= 64, "extension sets are 64-bit masks");

#define BM_EXT_BIT(e) (1ULL << (e))

/* CPUID registers. */
enum { BM_CPUID_EAX, BM_CPUID_EBX, BM_CPUID_ECX, BM_CPUID_EDX };

struct bm_ext_info {
	const char *name;      /* as in /proc/cpuinfo's flags */
	uint32_t leaf, subleaf;
	uint8_t reg, bit;      /* the CPUID bit that announces it */
	uint64_t xstate;       /* XCR0 components its state needs (0: none beyond SSE) */
};
extern const struct bm_ext_info bm_ext_info[BM_EXT_COUNT];

/* The extension with that name, or -1. */
int bm_ext_by_name(const char *name);

/* What one instruction needs.  `cs` is Capstone's decoding (with detail),
 * or NULL when Capstone did not decode the bytes; `x` is this decoder's
 * reading of the same bytes (x86_decode.h), which must be valid.  Sets
 * *unclassified when the instruction is known only by its encoding, so
 * that the set is a lower bound (a VEX instruction needs at least AVX, an
 * EVEX one at least AVX-512F). */
uint64_t bm_isa_classify(const cs_insn *cs, const struct bm_x86_insn *x, bool *unclassified);

/* Whether an instruction Capstone did not decode is one binmig knows from
 * its encoding (every VEX, EVEX and XOP instruction, and a list of legacy
 * ones newer than Capstone 4.0.2).  Other bytes Capstone rejects are not
 * taken as instructions. */
bool bm_isa_known_without_capstone(const struct bm_x86_insn *x, const uint8_t *bytes);

/* "avx2, bmi2" into buf. */
void bm_ext_list(uint64_t set, char *buf, size_t len);

#endif
