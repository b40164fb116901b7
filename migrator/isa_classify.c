/* Which instruction-set extensions an instruction needs (isa_classify.h).
 * Capstone's instruction groups say most of it; a few instructions are
 * told by their id (Capstone 4.0.2 files POPCNT, LZCNT, MOVBE, RDRAND ...
 * under no group), and instructions Capstone 4.0.2 does not know at all
 * by their encoding (x86_decode.h). */
#include "isa_classify.h"

#include <stdio.h>
#include <string.h>

#define L1 1, 0
#define L7 7, 0
#define L71 7, 1
#define LE1 0x80000001u, 0
#define LD1 0xd, 1
#define LE8 0x80000008u, 0
#define YMM 0x4ULL
#define ZMM 0xe0ULL
#define AMX 0x60000ULL

const struct bm_ext_info bm_ext_info[BM_EXT_COUNT] = {
	[BM_EXT_PNI] = {"pni", L1, BM_CPUID_ECX, 0, 0},
	[BM_EXT_SSSE3] = {"ssse3", L1, BM_CPUID_ECX, 9, 0},
	[BM_EXT_SSE4_1] = {"sse4_1", L1, BM_CPUID_ECX, 19, 0},
	[BM_EXT_SSE4_2] = {"sse4_2", L1, BM_CPUID_ECX, 20, 0},
	[BM_EXT_SSE4A] = {"sse4a", LE1, BM_CPUID_ECX, 6, 0},
	[BM_EXT_POPCNT] = {"popcnt", L1, BM_CPUID_ECX, 23, 0},
	[BM_EXT_ABM] = {"abm", LE1, BM_CPUID_ECX, 5, 0},
	[BM_EXT_MOVBE] = {"movbe", L1, BM_CPUID_ECX, 22, 0},
	[BM_EXT_CX16] = {"cx16", L1, BM_CPUID_ECX, 13, 0},
	[BM_EXT_LAHF_LM] = {"lahf_lm", LE1, BM_CPUID_ECX, 0, 0},
	[BM_EXT_AES] = {"aes", L1, BM_CPUID_ECX, 25, 0},
	[BM_EXT_PCLMULQDQ] = {"pclmulqdq", L1, BM_CPUID_ECX, 1, 0},
	[BM_EXT_SHA_NI] = {"sha_ni", L7, BM_CPUID_EBX, 29, 0},
	[BM_EXT_RDRAND] = {"rdrand", L1, BM_CPUID_ECX, 30, 0},
	[BM_EXT_RDSEED] = {"rdseed", L7, BM_CPUID_EBX, 18, 0},
	[BM_EXT_F16C] = {"f16c", L1, BM_CPUID_ECX, 29, YMM},
	[BM_EXT_FMA] = {"fma", L1, BM_CPUID_ECX, 12, YMM},
	[BM_EXT_FMA4] = {"fma4", LE1, BM_CPUID_ECX, 16, YMM},
	[BM_EXT_XOP] = {"xop", LE1, BM_CPUID_ECX, 11, YMM},
	[BM_EXT_TBM] = {"tbm", LE1, BM_CPUID_ECX, 21, 0},
	[BM_EXT_AVX] = {"avx", L1, BM_CPUID_ECX, 28, YMM},
	[BM_EXT_AVX2] = {"avx2", L7, BM_CPUID_EBX, 5, YMM},
	[BM_EXT_BMI1] = {"bmi1", L7, BM_CPUID_EBX, 3, 0},
	[BM_EXT_BMI2] = {"bmi2", L7, BM_CPUID_EBX, 8, 0},
	[BM_EXT_ADX] = {"adx", L7, BM_CPUID_EBX, 19, 0},
	[BM_EXT_AVX512F] = {"avx512f", L7, BM_CPUID_EBX, 16, YMM | ZMM},
	[BM_EXT_AVX512DQ] = {"avx512dq", L7, BM_CPUID_EBX, 17, YMM | ZMM},
	[BM_EXT_AVX512CD] = {"avx512cd", L7, BM_CPUID_EBX, 28, YMM | ZMM},
	[BM_EXT_AVX512BW] = {"avx512bw", L7, BM_CPUID_EBX, 30, YMM | ZMM},
	[BM_EXT_AVX512VL] = {"avx512vl", L7, BM_CPUID_EBX, 31, YMM | ZMM},
	[BM_EXT_AVX512IFMA] = {"avx512ifma", L7, BM_CPUID_EBX, 21, YMM | ZMM},
	[BM_EXT_AVX512VBMI] = {"avx512vbmi", L7, BM_CPUID_ECX, 1, YMM | ZMM},
	[BM_EXT_AVX512VBMI2] = {"avx512_vbmi2", L7, BM_CPUID_ECX, 6, YMM | ZMM},
	[BM_EXT_AVX512VNNI] = {"avx512_vnni", L7, BM_CPUID_ECX, 11, YMM | ZMM},
	[BM_EXT_AVX512BITALG] = {"avx512_bitalg", L7, BM_CPUID_ECX, 12, YMM | ZMM},
	[BM_EXT_AVX512VPOPCNTDQ] = {"avx512_vpopcntdq", L7, BM_CPUID_ECX, 14, YMM | ZMM},
	[BM_EXT_AVX512BF16] = {"avx512_bf16", L71, BM_CPUID_EAX, 5, YMM | ZMM},
	[BM_EXT_AVX512VP2INTERSECT] = {"avx512_vp2intersect", L7, BM_CPUID_EDX, 8, YMM | ZMM},
	[BM_EXT_AVX512FP16] = {"avx512_fp16", L7, BM_CPUID_EDX, 23, YMM | ZMM},
	[BM_EXT_AVX512ER] = {"avx512er", L7, BM_CPUID_EBX, 27, YMM | ZMM},
	[BM_EXT_AVX512PF] = {"avx512pf", L7, BM_CPUID_EBX, 26, YMM | ZMM},
	[BM_EXT_AVX_VNNI] = {"avx_vnni", L71, BM_CPUID_EAX, 4, YMM},
	[BM_EXT_GFNI] = {"gfni", L7, BM_CPUID_ECX, 8, 0},
	[BM_EXT_VAES] = {"vaes", L7, BM_CPUID_ECX, 9, YMM},
	[BM_EXT_VPCLMULQDQ] = {"vpclmulqdq", L7, BM_CPUID_ECX, 10, YMM},
	[BM_EXT_XSAVE] = {"xsave", L1, BM_CPUID_ECX, 26, 0},
	[BM_EXT_XSAVEOPT] = {"xsaveopt", LD1, BM_CPUID_EAX, 0, 0},
	[BM_EXT_XSAVEC] = {"xsavec", LD1, BM_CPUID_EAX, 1, 0},
	[BM_EXT_CLFLUSHOPT] = {"clflushopt", L7, BM_CPUID_EBX, 23, 0},
	[BM_EXT_CLWB] = {"clwb", L7, BM_CPUID_EBX, 24, 0},
	[BM_EXT_RDPID] = {"rdpid", L7, BM_CPUID_ECX, 22, 0},
	[BM_EXT_RDTSCP] = {"rdtscp", LE1, BM_CPUID_EDX, 27, 0},
	[BM_EXT_FSGSBASE] = {"fsgsbase", L7, BM_CPUID_EBX, 0, 0},
	[BM_EXT_MOVDIRI] = {"movdiri", L7, BM_CPUID_ECX, 27, 0},
	[BM_EXT_MOVDIR64B] = {"movdir64b", L7, BM_CPUID_ECX, 28, 0},
	[BM_EXT_SERIALIZE] = {"serialize", L7, BM_CPUID_EDX, 14, 0},
	[BM_EXT_CLZERO] = {"clzero", LE8, BM_CPUID_EBX, 0, 0},
	[BM_EXT_RTM] = {"rtm", L7, BM_CPUID_EBX, 11, 0},
	[BM_EXT_PKU] = {"pku", L7, BM_CPUID_ECX, 3, 0x200},
	[BM_EXT_WAITPKG] = {"waitpkg", L7, BM_CPUID_ECX, 5, 0},
	[BM_EXT_AMX_TILE] = {"amx_tile", L7, BM_CPUID_EDX, 24, AMX},
	[BM_EXT_AMX_BF16] = {"amx_bf16", L7, BM_CPUID_EDX, 22, AMX},
	[BM_EXT_AMX_INT8] = {"amx_int8", L7, BM_CPUID_EDX, 25, AMX},
	[BM_EXT_3DNOW] = {"3dnow", LE1, BM_CPUID_EDX, 31, 0},
};

int bm_ext_by_name(const char *name)
{
	for (int e = 0; e < BM_EXT_COUNT; e++)
		if (strcmp(bm_ext_info[e].name, name) == 0)
			return e;
	return -1;
}

void bm_ext_list(uint64_t set, char *buf, size_t len)
{
	size_t used = 0;
	if (len)
		buf[0] = 0;
	for (int e = 0; e < BM_EXT_COUNT && used < len; e++) {
		if (!(set & BM_EXT_BIT(e)))
			continue;
		int n = snprintf(buf + used, len - used, "%s%s", used ? ", " : "", bm_ext_info[e].name);
		if (n < 0)
			break;
		used += (size_t)n;
	}
}

/* Capstone's groups, for the extensions that have one. */
static const struct {
	uint8_t group;
	uint8_t ext;
} group_ext[] = {
	{X86_GRP_SSE3, BM_EXT_PNI},       {X86_GRP_SSSE3, BM_EXT_SSSE3},   {X86_GRP_SSE41, BM_EXT_SSE4_1},
	{X86_GRP_SSE42, BM_EXT_SSE4_2},   {X86_GRP_SSE4A, BM_EXT_SSE4A},   {X86_GRP_AES, BM_EXT_AES},
	{X86_GRP_PCLMUL, BM_EXT_PCLMULQDQ}, {X86_GRP_SHA, BM_EXT_SHA_NI},  {X86_GRP_F16C, BM_EXT_F16C},
	{X86_GRP_FMA, BM_EXT_FMA},        {X86_GRP_FMA4, BM_EXT_FMA4},     {X86_GRP_XOP, BM_EXT_XOP},
	{X86_GRP_TBM, BM_EXT_TBM},        {X86_GRP_AVX, BM_EXT_AVX},       {X86_GRP_AVX2, BM_EXT_AVX2},
	{X86_GRP_BMI, BM_EXT_BMI1},       {X86_GRP_BMI2, BM_EXT_BMI2},     {X86_GRP_ADX, BM_EXT_ADX},
	{X86_GRP_AVX512, BM_EXT_AVX512F}, {X86_GRP_DQI, BM_EXT_AVX512DQ},  {X86_GRP_BWI, BM_EXT_AVX512BW},
	{X86_GRP_CDI, BM_EXT_AVX512CD},   {X86_GRP_VLX, BM_EXT_AVX512VL},  {X86_GRP_ERI, BM_EXT_AVX512ER},
	{X86_GRP_PFI, BM_EXT_AVX512PF},   {X86_GRP_3DNOW, BM_EXT_3DNOW},   {X86_GRP_FSGSBASE, BM_EXT_FSGSBASE},
	{X86_GRP_RTM, BM_EXT_RTM},
};

/* Instructions Capstone files under no group, or under the wrong one. */
static int by_id(unsigned id)
{
	switch (id) {
	case X86_INS_POPCNT: return BM_EXT_POPCNT;
	case X86_INS_LZCNT: return BM_EXT_ABM;
	case X86_INS_MOVBE: return BM_EXT_MOVBE;
	case X86_INS_CMPXCHG16B: return BM_EXT_CX16;
	case X86_INS_LAHF: case X86_INS_SAHF: return BM_EXT_LAHF_LM;
	case X86_INS_RDRAND: return BM_EXT_RDRAND;
	case X86_INS_RDSEED: return BM_EXT_RDSEED;
	case X86_INS_XSAVE: case X86_INS_XSAVE64: case X86_INS_XRSTOR: case X86_INS_XRSTOR64:
	case X86_INS_XGETBV: case X86_INS_XSETBV: case X86_INS_XSAVES: case X86_INS_XSAVES64:
	case X86_INS_XRSTORS: case X86_INS_XRSTORS64:
		return BM_EXT_XSAVE;
	case X86_INS_XSAVEOPT: case X86_INS_XSAVEOPT64: return BM_EXT_XSAVEOPT;
	case X86_INS_XSAVEC: case X86_INS_XSAVEC64: return BM_EXT_XSAVEC;
	case X86_INS_CLFLUSHOPT: return BM_EXT_CLFLUSHOPT;
	case X86_INS_CLWB: return BM_EXT_CLWB;
	case X86_INS_RDTSCP: return BM_EXT_RDTSCP;
	case X86_INS_XBEGIN: case X86_INS_XEND: case X86_INS_XABORT: case X86_INS_XTEST: return BM_EXT_RTM;
	}
	return -1;
}

/* Executed as something older by a CPU without the extension, and used
 * by compilers exactly so: tzcnt is `rep bsf` (GCC emits it for
 * __builtin_ctz on every target), the prefetches and endbr64 are hints. */
static bool runs_anywhere(unsigned id)
{
	return id == X86_INS_TZCNT || id == X86_INS_PREFETCHW || id == X86_INS_PREFETCH || id == X86_INS_ENDBR64;
}

/* What an instruction Capstone 4.0.2 does not know needs, from its
 * encoding; *exact false when that is only a lower bound. */
static uint64_t by_encoding(const struct bm_x86_insn *x, const uint8_t *b, bool *exact)
{
	*exact = true;
	uint8_t op = x->opcode;
	if (x->enc == BM_ENC_XOP)
		return BM_EXT_BIT(BM_EXT_XOP);
	if (x->enc == BM_ENC_VEX || x->enc == BM_ENC_EVEX) {
		bool evex = x->enc == BM_ENC_EVEX;
		uint64_t base = evex ? BM_EXT_BIT(BM_EXT_AVX512F) | (x->vl < 2 ? BM_EXT_BIT(BM_EXT_AVX512VL) : 0)
				     : BM_EXT_BIT(BM_EXT_AVX);
		if (x->map == 2 && op == 0xcf)
			return base | BM_EXT_BIT(BM_EXT_GFNI);
		if (x->map == 3 && (op == 0xce || op == 0xcf))
			return base | BM_EXT_BIT(BM_EXT_GFNI);
		if (x->map == 2 && op >= 0xdc && op <= 0xdf)
			return base | BM_EXT_BIT(BM_EXT_VAES);
		if (x->map == 3 && op == 0x44)
			return base | BM_EXT_BIT(BM_EXT_VPCLMULQDQ);
		if (x->map == 2 && op >= 0x50 && op <= 0x53)
			return evex ? base | BM_EXT_BIT(BM_EXT_AVX512VNNI) : BM_EXT_BIT(BM_EXT_AVX_VNNI);
		if (!evex) {
			*exact = false;
			return base;
		}
		if (x->map == 5 || x->map == 6)
			return base | BM_EXT_BIT(BM_EXT_AVX512FP16);
		if (x->map == 2 && (op == 0xb4 || op == 0xb5))
			return base | BM_EXT_BIT(BM_EXT_AVX512IFMA);
		if (x->map == 2 && (op == 0x54 || op == 0x8f))
			return base | BM_EXT_BIT(BM_EXT_AVX512BITALG);
		if (x->map == 2 && op == 0x55)
			return base | BM_EXT_BIT(BM_EXT_AVX512VPOPCNTDQ);
		if (x->map == 2 && op == 0x68 && x->pp == BM_PP_F2)
			return base | BM_EXT_BIT(BM_EXT_AVX512VP2INTERSECT);
		if (x->map == 2 && (op == 0x72 || op == 0x52) && x->pp >= BM_PP_F3)
			return base | BM_EXT_BIT(BM_EXT_AVX512BF16);
		if ((x->map == 2 && ((op >= 0x70 && op <= 0x73) || op == 0x62 || op == 0x63 || op == 0x8a ||
				     op == 0x8b)) ||
		    (x->map == 3 && op >= 0x70 && op <= 0x73))
			return base | BM_EXT_BIT(BM_EXT_AVX512VBMI2);
		if (x->map == 2 && (op == 0x8d || op == 0x75 || op == 0x7d || op == 0x83))
			return base | BM_EXT_BIT(BM_EXT_AVX512VBMI);
		*exact = false;
		return base;
	}
	(void)b;
	if (x->map == BM_MAP_0F38 && op == 0xf9 && x->pp == BM_PP_NONE)
		return BM_EXT_BIT(BM_EXT_MOVDIRI);
	if (x->map == BM_MAP_0F38 && op == 0xf8 && x->pp == BM_PP_66)
		return BM_EXT_BIT(BM_EXT_MOVDIR64B);
	if ((x->map == BM_MAP_0F38 && op == 0xcf) || (x->map == BM_MAP_0F3A && (op == 0xce || op == 0xcf)))
		return BM_EXT_BIT(BM_EXT_GFNI);
	if (x->map == BM_MAP_0F && op == 0x01 && x->modrm == 0xfc)
		return BM_EXT_BIT(BM_EXT_CLZERO);
	if (x->map == BM_MAP_0F && op == 0x01 && x->modrm == 0xe8 && x->pp == BM_PP_NONE)
		return BM_EXT_BIT(BM_EXT_SERIALIZE);
	if (x->map == BM_MAP_0F && op == 0x01 && (x->modrm == 0xee || x->modrm == 0xef))
		return BM_EXT_BIT(BM_EXT_PKU);
	if (x->map == BM_MAP_0F && op == 0xc7 && (x->modrm >> 6) == 3 && ((x->modrm >> 3) & 7) == 7 &&
	    x->pp == BM_PP_F3)
		return BM_EXT_BIT(BM_EXT_RDPID);
	if (x->map == BM_MAP_0F && op == 0xae && (x->modrm >> 6) == 3 && ((x->modrm >> 3) & 7) == 6 &&
	    x->pp != BM_PP_NONE)
		return BM_EXT_BIT(BM_EXT_WAITPKG); /* umonitor, umwait, tpause */
	return 0;
}

bool bm_isa_known_without_capstone(const struct bm_x86_insn *x, const uint8_t *bytes)
{
	if (x->enc != BM_ENC_LEGACY)
		return true;
	bool exact;
	return by_encoding(x, bytes, &exact) != 0;
}

uint64_t bm_isa_classify(const cs_insn *cs, const struct bm_x86_insn *x, bool *unclassified)
{
	*unclassified = false;
	if (!cs) {
		bool exact;
		uint64_t set = x ? by_encoding(x, NULL, &exact) : 0;
		*unclassified = !x || !exact;
		return set;
	}
	if (runs_anywhere(cs->id))
		return 0;
	uint64_t set = 0;
	int e = by_id(cs->id);
	if (e >= 0)
		set |= BM_EXT_BIT(e);
	if (cs->detail) {
		for (unsigned i = 0; i < cs->detail->groups_count; i++)
			for (size_t j = 0; j < sizeof group_ext / sizeof *group_ext; j++)
				if (cs->detail->groups[i] == group_ext[j].group)
					set |= BM_EXT_BIT(group_ext[j].ext);
	}
	/* AES and PCLMULQDQ on ymm or zmm registers are VAES and VPCLMULQDQ. */
	if (x && x->enc != BM_ENC_LEGACY && x->vl > 0) {
		if (set & BM_EXT_BIT(BM_EXT_AES))
			set = (set & ~BM_EXT_BIT(BM_EXT_AES)) | BM_EXT_BIT(BM_EXT_VAES);
		if (set & BM_EXT_BIT(BM_EXT_PCLMULQDQ))
			set = (set & ~BM_EXT_BIT(BM_EXT_PCLMULQDQ)) | BM_EXT_BIT(BM_EXT_VPCLMULQDQ);
	}
	/* Every EVEX instruction needs AVX-512 Foundation. */
	if (x && x->enc == BM_ENC_EVEX)
		set |= BM_EXT_BIT(BM_EXT_AVX512F);
	return set;
}
