/* Regression check of one run against another (the `compare` command). */
#ifndef HARNESS_COMPARE_H
#define HARNESS_COMPARE_H

#include <stdint.h>
#include <stdio.h>

#include "results.h"

enum verdict {
	VERDICT_NO_CLEAR_CHANGE,
	VERDICT_REGRESSION,  /* the whole interval of new/baseline is above 1 + threshold */
	VERDICT_IMPROVEMENT, /* the whole interval is below 1 - threshold */
};

enum verdict compare_decide(double ratio_lo, double ratio_hi, double threshold);
const char *verdict_name(enum verdict v);

struct compare_options {
	double threshold; /* a fraction: 0.10 for 10% */
	uint64_t seed;
	unsigned resamples;
	/* NEW's times are multiplied by this before they are compared (the
	 * normalisation by a calibration; 0 is taken as 1), and NOTE says
	 * how it was found (NULL: not normalised). */
	double scale;
	const char *scale_note;
};

#define COMPARE_DEFAULT_THRESHOLD 0.10

/* Exit codes of the compare command. */
enum compare_outcome {
	COMPARE_NO_REGRESSION = 0,
	COMPARE_REGRESSED = 1,
	COMPARE_BAD_INPUT = 2,
};

/* Compares every configuration and phase of NEW with BASELINE and prints
 * the Markdown table to OUT.  Both runs must hold the same configurations
 * (workload, class, size, mode) with successful migrations; otherwise
 * returns COMPARE_BAD_INPUT with a one-line message in ERR naming what is
 * missing where. */
enum compare_outcome compare_results(const struct results *baseline, const struct results *new_run,
				     const struct compare_options *o, FILE *out, char *err, size_t errlen);

#endif
