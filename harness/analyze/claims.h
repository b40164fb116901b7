/* The study's claims, re-tested on a run: for each phase, the CLR/native
 * ratio of median times, per matched pair and pooled, with bootstrap
 * intervals, and whether it agrees with "checkpoint and address-space
 * restore about 2x, suspend and context restore about 1x"
 * (docs/harness.md defines "about"). */
#ifndef HARNESS_CLAIMS_H
#define HARNESS_CLAIMS_H

#include <stdbool.h>
#include <stdint.h>

#include "pairs.h"
#include "results.h"

/* "About k times" means within [k / CLAIM_TOLERANCE, k * CLAIM_TOLERANCE]. */
#define CLAIM_TOLERANCE 1.25

enum claim_verdict {
	CLAIM_NO_DATA,
	CLAIM_HOLDS,        /* the whole interval lies inside the band */
	CLAIM_INCONCLUSIVE, /* the interval overlaps the band and reaches outside it */
	CLAIM_DISAGREES,    /* the interval lies wholly outside the band */
};

/* The study's factor for a phase: 2 for checkpoint and address-space
 * restore, 1 for suspend and context restore, 0 where it claimed nothing. */
double claim_expected(enum phase p);
void claim_band(double expected, double *low, double *high);
enum claim_verdict claim_judge(double lo, double hi, double expected);
const char *claim_verdict_name(enum claim_verdict v);

struct ratio_estimate {
	bool valid;
	double ratio, lo, hi;             /* CLR / native */
	double clr_median, native_median; /* us; for pooled estimates NAN */
	size_t n_clr, n_native;
};

/* The two ways the study's claims are judged: the two kinds of process as
 * they are (natural size, the study's own setting) and at one resident
 * size (matched, the control). */
#define CLAIM_SIZES 2
extern const char *const claim_sizes[CLAIM_SIZES]; /* "natural", "matched" */

struct mode_claims {
	const char *mode;
	const char *size; /* natural or matched */
	struct pair_selection selection;
	struct ratio_estimate *pairs; /* [pair * PHASE_COUNT + phase] */
	struct ratio_estimate pooled[PHASE_COUNT];
	enum claim_verdict verdict[PHASE_COUNT]; /* of the pooled estimate */
};

struct claims {
	size_t n_modes;
	struct mode_claims modes[MODES_MAX * CLAIM_SIZES];
};

/* Evaluates every mode of the data, at each size it has (natural first):
 * modes[] holds one entry per mode and size present.  0 or -ENOMEM. */
int claims_evaluate(const struct results *r, const struct group_set *groups, const struct pair_list *pairs,
		    uint64_t seed, struct claims *out);
void claims_free(struct claims *c);

#endif
