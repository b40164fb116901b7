/* sieve: counts primes with a segmented sieve of Eratosthenes over a large
 * bitmap.
 *
 * The bitmap (--mem MiB) is cut into 128 KiB slots; one bit stands for one
 * odd number, so a slot covers 2^21 integers.  Unit u sieves the integers
 * [base + u*2^21, base + (u+1)*2^21) in slot u mod nslots, where base is
 * seed*2^32: the units walk up the number line while the slots are reused
 * round the bitmap.  Before a slot is reused its old contents are folded
 * into the digest, so every bit ever held counts; the prime count of each
 * segment is folded too, and the bitmap at the end.  With --seed 0 the
 * total printed on stderr is pi(work * 2^21), a checkable number.
 *
 * The small primes go up to the square root of the top of the last
 * segment; with --until, where that top is not known in advance, they are
 * computed again, for twice the units done so far, whenever a batch goes
 * beyond them.  Having more of them than needed changes nothing. */
#include "common.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SLOT_BYTES ((uint64_t)128 * 1024)
#define SLOT_BITS (SLOT_BYTES * 8)
#define SLOT_SPAN (SLOT_BITS * 2) /* integers per slot: odd numbers only */
#define MAX_SEED 4096		  /* with MAX_WORK, keeps sqrt(top) below 2^31 */
#define MAX_WORK ((uint64_t)1 << 40)

static const struct wl_spec spec = {
	.name = "sieve",
	.summary = "Segmented sieve of Eratosthenes over a bitmap; counts the primes in\n"
		   "[seed*2^32, seed*2^32 + work*2^21) (printed on stderr).",
	.unit = "sieving one 128 KiB slot (2^21 integers)",
	.mem_meaning = "MiB of bitmap (8 slots per MiB)",
	.accepts = WL_OPT_MEM,
	.default_work = 150,
	.default_mem_mib = 8,
	.min_mem_mib = 1,
	.rss_overhead_mib = 2,
};

static uint64_t isqrt(uint64_t n)
{
	uint64_t r = 0;
	for (uint64_t bit = (uint64_t)1 << 62; bit; bit >>= 2) {
		if (n >= r + bit) {
			n -= r + bit;
			r = (r >> 1) + bit;
		} else {
			r >>= 1;
		}
	}
	return r;
}

/* The odd primes up to limit, by a plain sieve. */
static uint32_t *odd_primes_up_to(uint64_t limit, uint64_t *count)
{
	uint8_t *composite = calloc(limit + 1, 1);
	uint32_t *primes = malloc((limit / 2 + 1) * sizeof(uint32_t));
	if (!composite || !primes)
		wl_die(&spec, "out of memory for the small primes");
	uint64_t n = 0;
	for (uint64_t p = 3; p <= limit; p += 2) {
		if (composite[p])
			continue;
		primes[n++] = (uint32_t)p;
		for (uint64_t m = p * p; m <= limit; m += 2 * p)
			composite[m] = 1;
	}
	free(composite);
	*count = n;
	return primes;
}

/* Sieves the odd numbers of [low, low + SLOT_SPAN) into slot (bit i stands
 * for low + 2i + 1) and returns how many primes the segment holds. */
static uint64_t sieve_segment(uint64_t *slot, uint64_t low, const uint32_t *primes,
			      uint64_t nprimes)
{
	uint64_t high = low + SLOT_SPAN;
	memset(slot, 0xff, SLOT_BYTES);
	for (uint64_t i = 0; i < nprimes; i++) {
		uint64_t p = primes[i];
		if (p * p >= high)
			break;
		uint64_t first = p * p;
		if (first < low) {
			first = (low + p - 1) / p * p;
			if (!(first & 1))
				first += p;
		}
		for (uint64_t m = first; m < high; m += 2 * p) {
			uint64_t bit = (m - low - 1) / 2;
			slot[bit / 64] &= ~((uint64_t)1 << (bit % 64));
		}
	}
	uint64_t count = 0;
	if (low == 0) {
		slot[0] &= ~(uint64_t)1; /* 1 is not prime */
		count = 1;		 /* and 2, which has no bit, is */
	}
	for (uint64_t w = 0; w < SLOT_BYTES / 8; w++)
		count += (uint64_t)__builtin_popcountll(slot[w]);
	return count;
}

/* The odd primes that sieve the segments of the first units units. */
static uint32_t *primes_for(uint64_t base, uint64_t units, uint64_t *count)
{
	return odd_primes_up_to(isqrt(base + units * SLOT_SPAN) + 1, count);
}

int main(int argc, char **argv)
{
	struct wl_options opts;
	wl_parse(&spec, argc, argv, &opts);
	if (opts.seed >= MAX_SEED || opts.work > MAX_WORK) {
		fprintf(stderr, "sieve: --seed must be below %d and --work at most 2^40\n", MAX_SEED);
		return WL_EXIT_USAGE;
	}

	uint64_t nslots = opts.mem_mib * WL_MIB / SLOT_BYTES;
	uint64_t base = opts.seed << 32;
	uint64_t nprimes, primes_units = opts.work;
	uint32_t *primes = primes_for(base, primes_units, &nprimes);
	uint64_t *bitmap = wl_alloc(&spec, nslots * SLOT_BYTES);
	memset(bitmap, 0xa5, nslots * SLOT_BYTES);
	wl_ready();

	uint64_t digest = 0, total = 0;
	for (uint64_t unit = 0; unit <= opts.limit; unit++) {
		if (opts.flip && unit == opts.flip_at) {
			uint64_t slot = unit ? (unit - 1) % nslots : 0;
			uint64_t offset = slot * SLOT_BYTES + (unit * 4099) % SLOT_BYTES;
			wl_flip_byte(&spec, (unsigned char *)bitmap + offset, "the bitmap", offset, unit);
		}
		if (unit == opts.limit) {
			if (!wl_extend(&opts))
				break;
			if (opts.limit > MAX_WORK)
				wl_die(&spec, "--until: past 2^40 units, the most it can sieve");
			if (opts.limit > primes_units) {
				primes_units = 2 * opts.limit < MAX_WORK ? 2 * opts.limit : MAX_WORK;
				free(primes);
				primes = primes_for(base, primes_units, &nprimes);
			}
		}
		uint64_t *slot = &bitmap[(unit % nslots) * (SLOT_BYTES / 8)];
		digest = wl_fold(digest, slot, SLOT_BYTES);
		uint64_t count = sieve_segment(slot, base + unit * SLOT_SPAN, primes, nprimes);
		digest = wl_fold_word(digest, count);
		total += count;
	}
	digest = wl_fold(digest, bitmap, nslots * SLOT_BYTES);
	fprintf(stderr, "sieve: %" PRIu64 " primes in [%" PRIu64 ", %" PRIu64 ")\n", total, base,
		base + opts.limit * SLOT_SPAN);
	return wl_finish(&spec, &opts, digest);
}
