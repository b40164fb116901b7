/* Descriptive statistics and intervals for the migration timings.  Pure
 * functions of their inputs (the bootstrap ones of their seed too), so they
 * can be checked against textbook values. */
#ifndef HARNESS_STATS_H
#define HARNESS_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rng.h"

/* The intervals the harness reports are 95%; bootstrap intervals use this
 * many resamples unless a caller chooses otherwise. */
#define STATS_LEVEL 0.95
#define STATS_RESAMPLES 2000u

/* NAN when n == 0. */
double stats_mean(const double *x, size_t n);
/* Sample standard deviation (divisor n - 1); NAN when n < 2. */
double stats_sd(const double *x, size_t n);
double stats_min(const double *x, size_t n);
double stats_max(const double *x, size_t n);

void stats_sort(double *x, size_t n);
/* Quantile p in [0, 1] of sorted data by linear interpolation between order
 * statistics (Hyndman-Fan type 7, the default of R and NumPy). */
double stats_quantile_sorted(const double *sorted, size_t n, double p);
/* Median of unsorted data (copies it).  0, -EINVAL when n == 0, -ENOMEM. */
int stats_median(const double *x, size_t n, double *median);

/* Student t distribution with df degrees of freedom (df > 0; INFINITY gives
 * the normal distribution). */
double stats_t_cdf(double t, double df);
/* The p-quantile, 0 < p < 1. */
double stats_t_quantile(double p, double df);
double stats_normal_quantile(double p);

/* Confidence interval of the mean at LEVEL (e.g. 0.95) from Student's t:
 * mean +- t((1 + level) / 2, n - 1) * sd / sqrt(n).  -EINVAL when n < 2. */
int stats_mean_ci(const double *x, size_t n, double level, double *lo, double *hi);

/* Median of a resample (with replacement) of x; scratch holds n doubles. */
double stats_resample_median(struct rng *r, const double *x, size_t n, double *scratch);

/* Percentile bootstrap interval of the median: RESAMPLES resamples of x
 * drawn with a generator seeded with SEED.  -EINVAL when n == 0 or
 * resamples == 0, -ENOMEM. */
int stats_bootstrap_median_ci(const double *x, size_t n, unsigned resamples, uint64_t seed, double level,
			      double *lo, double *hi);

/* Percentile bootstrap interval of median(num) / median(den), each sample
 * resampled independently.  Resamples whose denominator median is 0 are
 * dropped (-ERANGE if all are).  -EINVAL on an empty sample, -ENOMEM. */
int stats_bootstrap_ratio_ci(const double *num, size_t nnum, const double *den, size_t nden, unsigned resamples,
			     uint64_t seed, double level, double *lo, double *hi);

/* One stratum of a pooled ratio: a numerator and a denominator sample. */
struct stats_ratio_sample {
	const double *num, *den;
	size_t nnum, nden;
};

/* Geometric mean over K strata of median(num) / median(den) (ESTIMATE,
 * NAN if a denominator median is 0), with a stratified percentile bootstrap
 * interval: each replicate resamples every sample independently, drawn in
 * stratum order, numerator first, from a generator seeded with SEED.
 * Replicates with a zero denominator median are dropped (-ERANGE if all
 * are).  -EINVAL on k == 0 or an empty sample, -ENOMEM. */
int stats_bootstrap_pooled_ratio(const struct stats_ratio_sample *strata, size_t k, unsigned resamples,
				 uint64_t seed, double level, double *estimate, double *lo, double *hi);

/* A paired comparison on a log scale.  D holds one log ratio per pair
 * (log new - log base); the estimate is exp(mean(D)), the geometric mean
 * of the ratios, with the Student-t interval of the mean at LEVEL (n - 1
 * degrees of freedom) taken back through exp.  -EINVAL when n < 2. */
int stats_log_ratio_ci(const double *d, size_t n, double level, double *ratio, double *lo, double *hi);

/* Tukey's fences: values below q1 - 1.5 IQR or above q3 + 1.5 IQR are
 * outliers (quartiles as in stats_quantile_sorted). */
struct stats_fences {
	double q1, q3, low, high;
};
/* -EINVAL when n == 0, -ENOMEM. */
int stats_tukey_fences(const double *x, size_t n, struct stats_fences *f);
bool stats_is_outlier(const struct stats_fences *f, double v);

#endif
