/* A small seeded pseudo-random generator (xoshiro256**, seeded through
 * splitmix64), so every bootstrap interval is reproducible from its seed
 * alone, on any machine and with any libc. */
#ifndef HARNESS_RNG_H
#define HARNESS_RNG_H

#include <stddef.h>
#include <stdint.h>

struct rng {
	uint64_t s[4];
};

void rng_seed(struct rng *r, uint64_t seed);
uint64_t rng_next(struct rng *r);
/* Uniform in [0, n), without modulo bias; n > 0. */
size_t rng_below(struct rng *r, size_t n);
/* Uniform in [0, 1), 53 random bits. */
double rng_uniform(struct rng *r);
/* Standard normal (Box-Muller; one value per call, the pair's twin is dropped
 * to keep the state a plain function of the number of calls). */
double rng_normal(struct rng *r);

#endif
