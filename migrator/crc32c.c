/* CRC-32C (Castagnoli): reflected polynomial 0x82F63B78, initial value and
 * final xor 0xFFFFFFFF.  The SSE4.2 crc32 instruction computes exactly this
 * register update, 8 bytes per instruction with a latency of 3 cycles and a
 * throughput of 1 per cycle, so the hardware path runs three independent
 * streams over three adjacent blocks and joins their CRCs afterwards; one
 * stream alone would leave two thirds of the unit idle.  Joining needs the
 * register advanced over a block of zero bytes, which is linear in the
 * register, so it is a table lookup per register byte. */
#include "crc32c.h"
#include "image.h"

#include <pthread.h>
#include <string.h>

#define POLY 0x82F63B78u
#define LONG_BLOCK 8192u  /* bytes per stream, large inputs */
#define SHORT_BLOCK 256u  /* bytes per stream, the remainder */

static uint32_t slice_table[8][256];
/* zeros_*[k][b]: the register after LONG/SHORT_BLOCK zero bytes, starting
 * from byte b in byte position k and zeros elsewhere. */
static uint32_t zeros_long[4][256];
static uint32_t zeros_short[4][256];
static bool have_hw;
static pthread_once_t tables_once = PTHREAD_ONCE_INIT;

/* Advancing the raw register (no pre/post inversion) over zero bytes is
 * linear over GF(2): a 32x32 bit matrix, one column per register bit. */
static uint32_t gf2_apply(const uint32_t m[32], uint32_t v)
{
	uint32_t r = 0;
	for (int i = 0; v; i++, v >>= 1)
		if (v & 1)
			r ^= m[i];
	return r;
}

/* m = a after b (both powers of the one-byte step, so they commute). */
static void gf2_compose(uint32_t m[32], const uint32_t a[32], const uint32_t b[32])
{
	uint32_t t[32];
	for (int i = 0; i < 32; i++)
		t[i] = gf2_apply(a, b[i]);
	memcpy(m, t, sizeof t);
}

/* The image of each register bit after LEN zero bytes, by squaring the
 * one-byte step: a few thousand operations where stepping byte by byte
 * took a quarter of a million table lookups at every process's first CRC. */
static void build_zeros_table(uint32_t table[4][256], size_t len)
{
	uint32_t step[32], bit_image[32];
	for (int i = 0; i < 32; i++) {
		step[i] = slice_table[0][(1u << i) & 0xff] ^ ((1u << i) >> 8);
		bit_image[i] = 1u << i;
	}
	for (; len; len >>= 1) {
		if (len & 1)
			gf2_compose(bit_image, step, bit_image);
		gf2_compose(step, step, step);
	}
	for (int k = 0; k < 4; k++)
		for (int b = 0; b < 256; b++) {
			uint32_t v = 0;
			for (int i = 0; i < 8; i++)
				if (b & (1 << i))
					v ^= bit_image[8 * k + i];
			table[k][b] = v;
		}
}

static void build_tables(void)
{
	for (uint32_t n = 0; n < 256; n++) {
		uint32_t c = n;
		for (int k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ POLY : c >> 1;
		slice_table[0][n] = c;
	}
	for (int n = 0; n < 256; n++)
		for (int k = 1; k < 8; k++)
			slice_table[k][n] = slice_table[0][slice_table[k - 1][n] & 0xff] ^ (slice_table[k - 1][n] >> 8);
	build_zeros_table(zeros_long, LONG_BLOCK);
	build_zeros_table(zeros_short, SHORT_BLOCK);
	__builtin_cpu_init();
	have_hw = __builtin_cpu_supports("sse4.2");
}

static inline void init_tables(void)
{
	pthread_once(&tables_once, build_tables);
}

static inline uint32_t advance_zeros(const uint32_t table[4][256], uint32_t reg)
{
	return table[0][reg & 0xff] ^ table[1][(reg >> 8) & 0xff] ^ table[2][(reg >> 16) & 0xff] ^
	       table[3][reg >> 24];
}

static inline uint64_t load64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8); /* x86-64 is little-endian, as the CRC's byte order wants */
	return v;
}

static uint32_t sw_update(uint32_t reg, const uint8_t *p, size_t len)
{
	while (len && ((uintptr_t)p & 7)) {
		reg = slice_table[0][(reg ^ *p++) & 0xff] ^ (reg >> 8);
		len--;
	}
	while (len >= 8) {
		uint64_t v = load64(p) ^ reg;
		reg = slice_table[7][v & 0xff] ^ slice_table[6][(v >> 8) & 0xff] ^
		      slice_table[5][(v >> 16) & 0xff] ^ slice_table[4][(v >> 24) & 0xff] ^
		      slice_table[3][(v >> 32) & 0xff] ^ slice_table[2][(v >> 40) & 0xff] ^
		      slice_table[1][(v >> 48) & 0xff] ^ slice_table[0][v >> 56];
		p += 8;
		len -= 8;
	}
	while (len--)
		reg = slice_table[0][(reg ^ *p++) & 0xff] ^ (reg >> 8);
	return reg;
}

uint32_t bm_crc32c_sw(uint32_t crc, const void *data, size_t len)
{
	init_tables();
	return ~sw_update(~crc, data, len);
}

/* Three streams over blocks [0,B), [B,2B), [2B,3B); the joined register is
 * advance(advance(r0, B) ^ r1, B) ^ r2. */
#define THREE_STREAMS(B, table)                                                        \
	while (len >= 3 * (B)) {                                                       \
		uint64_t r1 = 0, r2 = 0;                                               \
		for (size_t i = 0; i < (B); i += 8) {                                  \
			r0 = __builtin_ia32_crc32di(r0, load64(p + i));                \
			r1 = __builtin_ia32_crc32di(r1, load64(p + (B) + i));          \
			r2 = __builtin_ia32_crc32di(r2, load64(p + 2 * (B) + i));      \
		}                                                                      \
		r0 = advance_zeros(table, (uint32_t)r0) ^ (uint32_t)r1;                \
		r0 = advance_zeros(table, (uint32_t)r0) ^ (uint32_t)r2;                \
		p += 3 * (B);                                                          \
		len -= 3 * (B);                                                        \
	}

__attribute__((target("sse4.2"))) static uint32_t hw_update(uint32_t reg, const uint8_t *p, size_t len)
{
	uint64_t r0 = reg;
	while (len && ((uintptr_t)p & 7)) {
		r0 = __builtin_ia32_crc32qi((uint32_t)r0, *p++);
		len--;
	}
	THREE_STREAMS(LONG_BLOCK, zeros_long)
	THREE_STREAMS(SHORT_BLOCK, zeros_short)
	while (len >= 8) {
		r0 = __builtin_ia32_crc32di(r0, load64(p));
		p += 8;
		len -= 8;
	}
	while (len--)
		r0 = __builtin_ia32_crc32qi((uint32_t)r0, *p++);
	return (uint32_t)r0;
}

uint32_t bm_crc32c_hw(uint32_t crc, const void *data, size_t len)
{
	init_tables();
	return ~hw_update(~crc, data, len);
}

bool bm_crc32c_hw_available(void)
{
	init_tables();
	return have_hw;
}

uint32_t bm_crc32c(uint32_t crc, const void *data, size_t len)
{
	init_tables();
	return have_hw ? ~hw_update(~crc, data, len) : ~sw_update(~crc, data, len);
}
