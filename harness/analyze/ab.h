/* The A/B regression check of one interleaved run (`harness ab`, the
 * `ab` command): two binmig builds, `base` and `new` (the CSV's build
 * column), migrated the same workload processes in randomised ABBA blocks
 * of four, so that whatever the machine does meanwhile hits both alike.
 * Each block gives one paired log ratio per phase; the ratio new/base is
 * their geometric mean with a Student-t interval (docs/harness.md). */
#ifndef HARNESS_AB_H
#define HARNESS_AB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "compare.h"
#include "results.h"

/* Migrations per block: base and new twice each. */
#define AB_BLOCK 4

/* The log ratios of the blocks of group G in PHASE into D (room for g->n):
 * per block (repetitions 1-4, 5-8, ... of its workload run) the mean log
 * time of its new migrations minus that of its base ones; blocks lacking
 * either build, and times of 0, are left out.  Returns how many. */
size_t ab_block_log_ratios(const struct results *r, const struct group *g, enum phase phase, double *d);

struct ab_options {
	double threshold; /* a fraction: 0.10 for 10% */
	double level;     /* of the per-phase intervals: 0.95 */
};

struct ab_estimate {
	size_t blocks;
	double ratio, lo, hi; /* new / base; NAN when fewer than 2 blocks */
	bool judged;
	enum verdict verdict;
};

/* The estimate from N log ratios at LEVEL, judged against THRESHOLD. */
void ab_estimate(const double *d, size_t n, double level, double threshold, struct ab_estimate *e);

/* The blocks of every configuration of GS together in PHASE: their log
 * ratios into D (room for r->n), the estimate at o->level into E.
 * Returns how many blocks. */
size_t ab_phase_estimate(const struct results *r, const struct group_set *gs, enum phase phase,
			 const struct ab_options *o, double *d, struct ab_estimate *e);

/* Prints the per-phase table (all configurations pooled, at LEVEL) and the
 * per-configuration one (at a Bonferroni level, 1 - (1 - LEVEL) / number
 * of configurations) to OUT.  COMPARE_REGRESSED when any interval lies
 * wholly above 1 + threshold; COMPARE_BAD_INPUT (with the reason in ERR)
 * when the file holds no build column or no block with both builds. */
enum compare_outcome ab_results(const struct results *r, const struct ab_options *o, FILE *out, char *err,
				size_t errlen);

#endif
