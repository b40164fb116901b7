/* The per-configuration, per-phase statistics of a run (the `summary`
 * command, and the tables of the report). */
#ifndef HARNESS_SUMMARY_H
#define HARNESS_SUMMARY_H

#include <stdint.h>
#include <stdio.h>

#include "results.h"

struct phase_summary {
	size_t n;
	double mean, sd, median, min, max; /* microseconds; sd NAN when n < 2 */
	double mean_lo, mean_hi;           /* 95% t interval, NAN when n < 2 */
	double median_lo, median_hi;       /* 95% bootstrap interval */
	size_t n_outliers;
	size_t *outlier_rows;              /* row numbers (1-based, after the header) */
};

/* Statistics of the N values X, measured in rows ROWS; n may be 0 (every
 * value NAN).  0 or -ENOMEM. */
int phase_summary_compute(const double *x, const size_t *rows, size_t n, unsigned resamples, uint64_t seed,
			  struct phase_summary *s);
void phase_summary_free(struct phase_summary *s);

struct summary {
	const struct group *group;
	struct phase_summary phase[PHASE_COUNT];
};

struct summary_set {
	size_t n;
	struct summary *items;
};

int summary_build(const struct results *r, const struct group_set *groups, uint64_t seed, struct summary_set *out);
void summary_set_free(struct summary_set *s);

/* Microseconds as milliseconds with a precision that suits the magnitude
 * (0.031, 4.217, 73.58, 1234); "-" for NAN. */
const char *format_ms(char *buf, size_t len, double us);

/* The aligned table of every configuration and phase with data. */
void summary_print_text(FILE *out, const struct summary_set *s);
/* The same as Markdown. */
void summary_print_markdown(FILE *out, const struct summary_set *s);
/* The medians only, one row per configuration and one column per phase. */
void summary_print_medians_markdown(FILE *out, const struct summary_set *s);
/* CSV with values in microseconds.  0 or -EIO. */
int summary_write_csv(FILE *out, const struct summary_set *s);

#endif
