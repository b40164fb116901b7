/* An x86-64 instruction's length and encoding, from its bytes alone.
 *
 * Capstone 4.0.2 decodes most of the instruction set but not the newer
 * extensions (AVX-512 IFMA, VBMI, VBMI2, VNNI, BITALG, VPOPCNTDQ, BF16,
 * FP16, VP2INTERSECT, GFNI, VAES, VPCLMULQDQ, kmovd/kmovq, MOVDIRI, ...),
 * and a linear sweep that skips one byte where it fails falls out of step
 * with the instruction stream.  This decoder knows the shape of every
 * encoding (legacy prefixes, REX, VEX, EVEX, XOP, the opcode maps, ModRM,
 * SIB, displacement, immediate), so that the scan keeps its step and can
 * tell from the encoding what such an instruction needs (isa_classify.c). */
#ifndef BINMIG_X86_DECODE_H
#define BINMIG_X86_DECODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum bm_x86_enc {
	BM_ENC_LEGACY = 0,
	BM_ENC_VEX = 1,
	BM_ENC_EVEX = 2,
	BM_ENC_XOP = 3,
};

/* Opcode maps.  Legacy: 0 one-byte, 1 0F, 2 0F38, 3 0F3A, 4 0F0F (3DNow!).
 * VEX and EVEX: their mmmmm field (1 0F, 2 0F38, 3 0F3A, 5 and 6 the FP16
 * maps of EVEX).  XOP: 8, 9 or 10. */
enum { BM_MAP_ONE = 0, BM_MAP_0F = 1, BM_MAP_0F38 = 2, BM_MAP_0F3A = 3, BM_MAP_3DNOW = 4 };

/* pp: the mandatory prefix, as VEX and EVEX encode it.  For a legacy
 * instruction: the last of F2/F3 if any, else 66 if present. */
enum { BM_PP_NONE = 0, BM_PP_66 = 1, BM_PP_F3 = 2, BM_PP_F2 = 3 };

struct bm_x86_insn {
	uint8_t len;          /* 1..15 */
	uint8_t enc;          /* enum bm_x86_enc */
	uint8_t map;
	uint8_t opcode;
	uint8_t pp;
	uint8_t vl;           /* vector length: 0 128, 1 256, 2 512 bits (VEX.L, EVEX.L'L) */
	bool w;               /* REX.W, VEX.W, EVEX.W or XOP.W */
	bool evex_b;          /* EVEX.b: broadcast, or rounding control with a register operand */
	bool has_modrm;
	uint8_t modrm;
	bool rip_relative;    /* a memory operand addressed relative to the next instruction */
	int32_t disp;         /* its displacement, when rip_relative */
	uint8_t prefixes;     /* count of legacy prefixes and REX */
	bool lock, rep, repne, opsize, addrsize;
	uint8_t imm_len;      /* bytes of immediate (and of the relative target of a branch) */
};

/* Decodes the instruction at p, of which `avail` bytes may be read.
 * Returns its length (1..15), or 0 when the bytes are not a valid 64-bit
 * mode instruction or are cut off before its end (then nothing in *out is
 * meaningful). */
size_t bm_x86_decode(const uint8_t *p, size_t avail, struct bm_x86_insn *out);

#endif
