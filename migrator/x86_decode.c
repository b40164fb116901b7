/* An x86-64 instruction's length and encoding (x86_decode.h).  The tables
 * follow the opcode maps of the Intel SDM, volume 2, appendix A, and AMD's
 * APM, volume 3, for 64-bit mode. */
#include "x86_decode.h"

#include <string.h>

/* What follows an opcode of the one-byte and 0F maps:
 *   .  nothing            m  ModRM               b  imm8
 *   z  imm16/32 (opsize)  M  ModRM + imm8        Z  ModRM + imm16/32
 *   v  imm16/32/64 (mov r, imm)                  w  imm16
 *   e  imm16 + imm8 (enter)                      o  moffs (8 bytes, 4 with 67)
 *   r  rel8               R  rel32               6  F6 group   7  F7 group
 *   p  a prefix (consumed before the opcode)     X  an escape (0F, VEX, EVEX, XOP)
 *   x  not valid in 64-bit mode */
static const char one_byte[256 + 1] =
	/* 0 1 2 3 4 5 6 7 8 9 A B C D E F */
	"mmmmbzxxmmmmbzxX" /* 0 */
	"mmmmbzxxmmmmbzxx" /* 1 */
	"mmmmbzpxmmmmbzpx" /* 2 */
	"mmmmbzpxmmmmbzpx" /* 3 */
	"pppppppppppppppp" /* 4: REX */
	"................" /* 5 */
	"xxXmppppzZbM...." /* 6 */
	"rrrrrrrrrrrrrrrr" /* 7 */
	"MZxMmmmmmmmmmmmm" /* 8: 8F is POP r/m unless XOP */
	"..........x....." /* 9 */
	"oooo....bz......" /* A */
	"bbbbbbbbvvvvvvvv" /* B */
	"MMw.XXMZe.w..bx." /* C */
	"mmmmxxx.mmmmmmmm" /* D */
	"rrrrbbbbRRxr...." /* E */
	"p.pp..67......mm" /* F */;

static const char two_byte[256 + 1] =
	/* 0 1 2 3 4 5 6 7 8 9 A B C D E F */
	"mmmmx.....x.xm.M" /* 0: 0F 0F is 3DNow! (ModRM + imm8 suffix) */
	"mmmmmmmmmmmmmmmm" /* 1 */
	"mmmmxxxxmmmmmmmm" /* 2 */
	"......x.XxXxxxxx" /* 3 */
	"mmmmmmmmmmmmmmmm" /* 4 */
	"mmmmmmmmmmmmmmmm" /* 5 */
	"mmmmmmmmmmmmmmmm" /* 6 */
	"MMMMmmm.mmxxmmmm" /* 7 */
	"RRRRRRRRRRRRRRRR" /* 8 */
	"mmmmmmmmmmmmmmmm" /* 9 */
	"...mMmxx...mMmmm" /* A */
	"mmmmmmmmmmMmmmmm" /* B */
	"mmMmMMMm........" /* C */
	"mmmmmmmmmmmmmmmm" /* D */
	"mmmmmmmmmmmmmmmm" /* E */
	"mmmmmmmmmmmmmmmm" /* F */;

struct cursor {
	const uint8_t *p;
	size_t avail, pos;
};

static bool take(struct cursor *c, uint8_t *b)
{
	if (c->pos >= c->avail || c->pos >= 15)
		return false;
	*b = c->p[c->pos++];
	return true;
}

static bool skip(struct cursor *c, size_t n)
{
	if (n > c->avail - c->pos || c->pos + n > 15)
		return false;
	c->pos += n;
	return true;
}

/* ModRM, SIB and displacement; records a RIP-relative operand. */
static bool modrm_operand(struct cursor *c, struct bm_x86_insn *x)
{
	if (!take(c, &x->modrm))
		return false;
	x->has_modrm = true;
	unsigned mod = x->modrm >> 6, rm = x->modrm & 7;
	if (mod == 3)
		return true;
	size_t disp = mod == 1 ? 1 : mod == 2 ? 4 : 0;
	if (rm == 4) {
		uint8_t sib;
		if (!take(c, &sib))
			return false;
		if (mod == 0 && (sib & 7) == 5)
			disp = 4;
	} else if (mod == 0 && rm == 5) {
		disp = 4;
		x->rip_relative = true;
		if (c->avail - c->pos >= 4 && c->pos + 4 <= 15)
			memcpy(&x->disp, c->p + c->pos, 4);
	}
	return skip(c, disp);
}

static size_t imm_z(const struct bm_x86_insn *x)
{
	return x->opsize && !x->w ? 2 : 4;
}

/* The operands of a legacy instruction as its table entry says. */
static bool legacy_operands(struct cursor *c, struct bm_x86_insn *x, char kind)
{
	size_t imm = 0;
	switch (kind) {
	case '.': break;
	case 'm': return modrm_operand(c, x);
	case 'b': case 'r': imm = 1; break;
	case 'z': imm = imm_z(x); break;
	case 'M': imm = 1; if (!modrm_operand(c, x)) return false; break;
	case 'Z': imm = imm_z(x); if (!modrm_operand(c, x)) return false; break;
	case 'v': imm = x->w ? 8 : x->opsize ? 2 : 4; break;
	case 'w': imm = 2; break;
	case 'e': imm = 3; break;
	case 'o': imm = x->addrsize ? 4 : 8; break;
	case 'R': imm = 4; break;
	case '6': case '7':
		if (!modrm_operand(c, x))
			return false;
		if (((x->modrm >> 3) & 7) < 2) /* test r/m, imm */
			imm = kind == '6' ? 1 : imm_z(x);
		break;
	default: return false;
	}
	x->imm_len = (uint8_t)imm;
	return skip(c, imm);
}

static uint8_t legacy_pp(const struct bm_x86_insn *x, uint8_t last_rep)
{
	if (last_rep == 0xf2)
		return BM_PP_F2;
	if (last_rep == 0xf3)
		return BM_PP_F3;
	return x->opsize ? BM_PP_66 : BM_PP_NONE;
}

/* VEX (C4, C5), EVEX (62) and XOP (8F) instructions: prefix fields, then
 * opcode, ModRM, SIB, displacement and immediate. */
static bool vector_insn(struct cursor *c, struct bm_x86_insn *x, uint8_t escape)
{
	uint8_t b1, b2, b3;
	if (!take(c, &b1))
		return false;
	if (escape == 0xc5) {
		x->enc = BM_ENC_VEX;
		x->map = BM_MAP_0F;
		x->vl = (b1 >> 2) & 1;
		x->pp = b1 & 3;
	} else if (escape == 0xc4 || escape == 0x8f) {
		if (!take(c, &b2))
			return false;
		x->enc = escape == 0xc4 ? BM_ENC_VEX : BM_ENC_XOP;
		x->map = b1 & 0x1f;
		x->w = b2 >> 7;
		x->vl = (b2 >> 2) & 1;
		x->pp = b2 & 3;
		if (escape == 0xc4 ? x->map < 1 || x->map > 3 : x->map < 8 || x->map > 10)
			return false;
	} else {
		if (!take(c, &b2) || !take(c, &b3))
			return false;
		x->enc = BM_ENC_EVEX;
		x->map = b1 & 7;
		x->w = b2 >> 7;
		x->pp = b2 & 3;
		x->evex_b = (b3 >> 4) & 1;
		x->vl = (b3 >> 5) & 3;
		if (!(b2 & 4) || x->map == 0 || x->map == 4 || x->map == 7)
			return false;
	}
	if (!take(c, &x->opcode))
		return false;
	/* vzeroupper and vzeroall have no ModRM. */
	if (x->enc == BM_ENC_VEX && x->map == BM_MAP_0F && x->opcode == 0x77)
		return true;
	if (!modrm_operand(c, x))
		return false;
	if (x->enc == BM_ENC_EVEX && x->evex_b && (x->modrm >> 6) == 3)
		x->vl = 2; /* L'L is the rounding control: the operation is 512 bits wide */
	else if (x->enc == BM_ENC_EVEX && x->vl == 3)
		return false;
	size_t imm = 0;
	if (x->enc == BM_ENC_XOP)
		imm = x->map == 8 ? 1 : x->map == 10 ? 4 : 0;
	else if (x->map == BM_MAP_0F3A)
		imm = 1;
	else if (x->map == BM_MAP_0F)
		imm = (x->opcode >= 0x70 && x->opcode <= 0x73) || x->opcode == 0xc2 || x->opcode == 0xc4 ||
		      x->opcode == 0xc5 || x->opcode == 0xc6;
	x->imm_len = (uint8_t)imm;
	return skip(c, imm);
}

size_t bm_x86_decode(const uint8_t *p, size_t avail, struct bm_x86_insn *x)
{
	memset(x, 0, sizeof *x);
	struct cursor c = {p, avail, 0};
	uint8_t b, rex = 0, last_rep = 0;
	/* Prefixes; a REX counts only right before the opcode. */
	for (;;) {
		if (!take(&c, &b))
			return 0;
		if (b >= 0x40 && b <= 0x4f) {
			rex = b;
			x->prefixes++;
			continue;
		}
		if (b == 0xf0 || b == 0xf2 || b == 0xf3 || b == 0x2e || b == 0x36 || b == 0x3e || b == 0x26 ||
		    b == 0x64 || b == 0x65 || b == 0x66 || b == 0x67) {
			rex = 0;
			x->prefixes++;
			x->lock |= b == 0xf0;
			x->opsize |= b == 0x66;
			x->addrsize |= b == 0x67;
			if (b == 0xf2 || b == 0xf3) {
				last_rep = b;
				x->rep |= b == 0xf3;
				x->repne |= b == 0xf2;
			}
			continue;
		}
		break;
	}
	x->w = (rex >> 3) & 1;
	bool ok;
	if (b == 0xc4 || b == 0xc5 || b == 0x62 ||
	    (b == 0x8f && c.pos < c.avail && (c.p[c.pos] & 0x1f) >= 8)) {
		/* No REX, operand-size, F2/F3 or LOCK may precede these. */
		if (rex || x->opsize || last_rep || x->lock)
			return 0;
		ok = vector_insn(&c, x, b);
	} else if (b == 0x0f) {
		x->enc = BM_ENC_LEGACY;
		x->pp = legacy_pp(x, last_rep);
		if (!take(&c, &b))
			return 0;
		if (b == 0x38 || b == 0x3a) {
			x->map = b == 0x38 ? BM_MAP_0F38 : BM_MAP_0F3A;
			if (!take(&c, &x->opcode))
				return 0;
			ok = legacy_operands(&c, x, b == 0x38 ? 'm' : 'M');
		} else if (b == 0x0f) {
			/* 3DNow!: ModRM, then the opcode as an 8-bit suffix. */
			x->map = BM_MAP_3DNOW;
			ok = modrm_operand(&c, x) && take(&c, &x->opcode);
			x->imm_len = 1;
		} else {
			x->map = BM_MAP_0F;
			x->opcode = b;
			char kind = two_byte[b];
			/* SSE4a extrq and insertq with immediates: two imm8. */
			if (b == 0x78 && (x->pp == BM_PP_66 || x->pp == BM_PP_F2)) {
				ok = modrm_operand(&c, x) && skip(&c, 2);
				x->imm_len = 2;
			} else {
				ok = legacy_operands(&c, x, kind);
			}
		}
	} else {
		x->enc = BM_ENC_LEGACY;
		x->map = BM_MAP_ONE;
		x->opcode = b;
		x->pp = legacy_pp(x, last_rep);
		ok = legacy_operands(&c, x, one_byte[b]);
	}
	if (!ok || c.pos > 15)
		return 0;
	x->len = (uint8_t)c.pos;
	return c.pos;
}
