/* matmul: dense matrix multiplication in doubles over a heap of 64x64 tiles.
 *
 * --mem MiB holds mem*32 tiles of 64x64 doubles (32 KiB each), filled with
 * values in [-0.5, 0.5).  One unit of work picks three tiles A, B, C at
 * random (from the seed) and sets C = frac(C + 0.75 * A*B), where frac
 * wraps into [-0.5, 0.5): 262144 multiply-adds on SSE2 vector registers.
 * The running digest folds every tile it writes; the result folds that and
 * every tile at the end, so it covers all the work and all the memory. */
#include "common.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define TILE 64
#define TILE_DOUBLES (TILE * TILE)
#define TILE_BYTES (TILE_DOUBLES * sizeof(double))

typedef double v2d __attribute__((vector_size(16)));

static const struct wl_spec spec = {
	.name = "matmul",
	.summary = "Dense matrix multiplication in doubles over a heap of 64x64 tiles.",
	.unit = "one 64x64 tile product accumulated into a third tile",
	.mem_meaning = "MiB of matrix tiles (32 tiles per MiB)",
	.accepts = WL_OPT_MEM,
	.default_work = 2000,
	.default_mem_mib = 8,
	.min_mem_mib = 1,
	.rss_overhead_mib = 2,
};

/* product = a * b, summed in a fixed order (i, k, j) so the bits never
 * depend on anything but the inputs. */
static void tile_multiply(const double *restrict a, const double *restrict b,
			  double *restrict product)
{
	for (int i = 0; i < TILE; i++) {
		v2d row[TILE / 2];
		memset(row, 0, sizeof(row));
		for (int k = 0; k < TILE; k++) {
			double aik = a[i * TILE + k];
			v2d av = { aik, aik };
			const double *bk = &b[k * TILE];
			for (int j = 0; j < TILE / 2; j++) {
				v2d bv;
				memcpy(&bv, &bk[2 * j], sizeof(bv));
				row[j] += av * bv;
			}
		}
		memcpy(&product[i * TILE], row, sizeof(row));
	}
}

/* c = frac(c + 0.75 * product): bounded values that keep every bit of the
 * old c and of the product in play. */
static void tile_accumulate(double *restrict c, const double *restrict product)
{
	for (int e = 0; e < TILE_DOUBLES; e++) {
		double x = c[e] + 0.75 * product[e];
		c[e] = x - floor(x + 0.5);
	}
}

int main(int argc, char **argv)
{
	struct wl_options opts;
	wl_parse(&spec, argc, argv, &opts);

	uint64_t ntiles = opts.mem_mib * WL_MIB / TILE_BYTES;
	double *tiles = wl_alloc(&spec, ntiles * TILE_BYTES);
	double *product = wl_alloc(&spec, TILE_BYTES);
	uint64_t fill = wl_stream(opts.seed, 0);
	for (uint64_t e = 0; e < ntiles * TILE_DOUBLES; e++)
		tiles[e] = wl_rand_centered(&fill);
	wl_ready();

	uint64_t pick = wl_stream(opts.seed, 1);
	uint64_t digest = 0, last_written = 0;
	for (uint64_t unit = 0; unit <= opts.limit; unit++) {
		if (opts.flip && unit == opts.flip_at) {
			/* Byte 5 of a double: high mantissa bits, a change no
			 * later rounding can absorb. */
			uint64_t element = (unit * 7919) % TILE_DOUBLES;
			uint64_t offset = last_written * TILE_BYTES + element * sizeof(double) + 5;
			wl_flip_byte(&spec, (unsigned char *)tiles + offset, "the tiles", offset, unit);
		}
		if (unit == opts.limit && !wl_extend(&opts))
			break;
		uint64_t a = wl_rand(&pick) % ntiles, b = wl_rand(&pick) % ntiles;
		uint64_t c = wl_rand(&pick) % ntiles;
		tile_multiply(&tiles[a * TILE_DOUBLES], &tiles[b * TILE_DOUBLES], product);
		tile_accumulate(&tiles[c * TILE_DOUBLES], product);
		digest = wl_fold(digest, &tiles[c * TILE_DOUBLES], TILE_BYTES);
		last_written = c;
	}
	digest = wl_fold(digest, tiles, ntiles * TILE_BYTES);
	return wl_finish(&spec, &opts, digest);
}
