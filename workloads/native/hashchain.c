/* hashchain: a SHA-256 chain over a large buffer.
 *
 * --mem MiB of random bytes, cut into 64 KiB blocks.  Unit u takes block
 * b = u mod nblocks, computes d = SHA-256(d || block b) and xors d into the
 * first 32 bytes of that block, so the buffer keeps changing and each
 * digest depends on every earlier one.  The result folds the final chain
 * value and the whole buffer.  SHA-256 is checked against the FIPS 180-4
 * examples before any work starts. */
#include "common.h"

#include <stdio.h>
#include <string.h>

#define BLOCK_BYTES ((uint64_t)64 * 1024)

static const struct wl_spec spec = {
	.name = "hashchain",
	.summary = "A SHA-256 hash chain over a large buffer that the chain keeps rewriting.",
	.unit = "hashing one 64 KiB block into the chain",
	.mem_meaning = "MiB of buffer (16 blocks per MiB)",
	.accepts = WL_OPT_MEM,
	.default_work = 1000,
	.default_mem_mib = 8,
	.min_mem_mib = 1,
	.rss_overhead_mib = 2,
};

struct sha256 {
	uint32_t h[8];
	uint8_t buf[64];
	uint64_t length; /* bytes */
};

static const uint32_t round_constants[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
	0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
	0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
	0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
	0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
	0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
	0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
	0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
	0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
	0xc67178f2,
};

static uint32_t rotr(uint32_t x, int n)
{
	return (x >> n) | (x << (32 - n));
}

static void sha256_init(struct sha256 *s)
{
	static const uint32_t initial[8] = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
					     0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19 };
	memcpy(s->h, initial, sizeof(initial));
	s->length = 0;
}

static void sha256_compress(uint32_t h[8], const uint8_t chunk[64])
{
	uint32_t w[64];
	for (int i = 0; i < 16; i++)
		w[i] = (uint32_t)chunk[4 * i] << 24 | (uint32_t)chunk[4 * i + 1] << 16 |
		       (uint32_t)chunk[4 * i + 2] << 8 | chunk[4 * i + 3];
	for (int i = 16; i < 64; i++) {
		uint32_t s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
		uint32_t s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
		w[i] = w[i - 16] + s0 + w[i - 7] + s1;
	}
	uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];
	for (int i = 0; i < 64; i++) {
		uint32_t t1 = k + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) +
			      round_constants[i] + w[i];
		uint32_t t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
		k = g;
		g = f;
		f = e;
		e = d + t1;
		d = c;
		c = b;
		b = a;
		a = t1 + t2;
	}
	h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e, h[5] += f, h[6] += g, h[7] += k;
}

static void sha256_update(struct sha256 *s, const void *data, size_t len)
{
	const uint8_t *p = data;
	size_t used = s->length % 64;
	s->length += len;
	if (used) {
		size_t take = 64 - used < len ? 64 - used : len;
		memcpy(s->buf + used, p, take);
		p += take, len -= take;
		if (used + take < 64)
			return;
		sha256_compress(s->h, s->buf);
	}
	for (; len >= 64; p += 64, len -= 64)
		sha256_compress(s->h, p);
	memcpy(s->buf, p, len);
}

static void sha256_final(struct sha256 *s, uint8_t out[32])
{
	uint64_t bits = s->length * 8;
	uint8_t pad[72] = { 0x80 };
	size_t padlen = (s->length % 64 < 56 ? 56 : 120) - s->length % 64;
	for (int i = 0; i < 8; i++)
		pad[padlen + i] = (uint8_t)(bits >> (56 - 8 * i));
	sha256_update(s, pad, padlen + 8);
	for (int i = 0; i < 8; i++)
		for (int j = 0; j < 4; j++)
			out[4 * i + j] = (uint8_t)(s->h[i] >> (24 - 8 * j));
}

static void sha256_check(const char *message, const uint8_t expected[32])
{
	struct sha256 s;
	uint8_t out[32];
	size_t len = strlen(message), half = len / 2;
	sha256_init(&s);
	sha256_update(&s, message, half);
	sha256_update(&s, message + half, len - half);
	sha256_final(&s, out);
	if (memcmp(out, expected, sizeof(out)) != 0)
		wl_die(&spec, "SHA-256 self-test failed on \"%s\"", message);
}

/* The one-block and two-block examples of FIPS 180-4. */
static void sha256_self_test(void)
{
	static const uint8_t abc[32] = {
		0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40,
		0xde, 0x5d, 0xae, 0x22, 0x23, 0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17,
		0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad,
	};
	static const uint8_t two_blocks[32] = {
		0x24, 0x8d, 0x6a, 0x61, 0xd2, 0x06, 0x38, 0xb8, 0xe5, 0xc0, 0x26,
		0x93, 0x0c, 0x3e, 0x60, 0x39, 0xa3, 0x3c, 0xe4, 0x59, 0x64, 0xff,
		0x21, 0x67, 0xf6, 0xec, 0xed, 0xd4, 0x19, 0xdb, 0x06, 0xc1,
	};
	sha256_check("abc", abc);
	sha256_check("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", two_blocks);
}

int main(int argc, char **argv)
{
	struct wl_options opts;
	wl_parse(&spec, argc, argv, &opts);
	sha256_self_test();

	uint64_t nblocks = opts.mem_mib * WL_MIB / BLOCK_BYTES;
	uint64_t *buffer = wl_alloc(&spec, nblocks * BLOCK_BYTES);
	uint64_t fill = wl_stream(opts.seed, 0);
	for (uint64_t i = 0; i < nblocks * BLOCK_BYTES / 8; i++)
		buffer[i] = wl_rand(&fill);
	wl_ready();

	uint8_t chain[32] = { 0 };
	for (uint64_t unit = 0; unit <= opts.limit; unit++) {
		if (opts.flip && unit == opts.flip_at) {
			uint64_t block = unit ? (unit - 1) % nblocks : 0;
			uint64_t offset = block * BLOCK_BYTES + (unit * 65537) % BLOCK_BYTES;
			wl_flip_byte(&spec, (unsigned char *)buffer + offset, "the buffer", offset, unit);
		}
		if (unit == opts.limit && !wl_extend(&opts))
			break;
		uint8_t *block = (uint8_t *)buffer + (unit % nblocks) * BLOCK_BYTES;
		struct sha256 s;
		sha256_init(&s);
		sha256_update(&s, chain, sizeof(chain));
		sha256_update(&s, block, BLOCK_BYTES);
		sha256_final(&s, chain);
		for (int i = 0; i < 32; i++)
			block[i] ^= chain[i];
	}
	uint64_t digest = wl_fold(0, chain, sizeof(chain));
	digest = wl_fold(digest, buffer, nblocks * BLOCK_BYTES);
	return wl_finish(&spec, &opts, digest);
}
