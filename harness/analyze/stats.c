#include "stats.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

double stats_mean(const double *x, size_t n)
{
	if (n == 0)
		return NAN;
	double sum = 0;
	for (size_t i = 0; i < n; i++)
		sum += x[i];
	return sum / (double)n;
}

double stats_sd(const double *x, size_t n)
{
	if (n < 2)
		return NAN;
	double mean = stats_mean(x, n), ss = 0;
	/* Two passes: the timings are large and close together, where the
	 * one-pass sum of squares loses its digits. */
	for (size_t i = 0; i < n; i++)
		ss += (x[i] - mean) * (x[i] - mean);
	return sqrt(ss / (double)(n - 1));
}

double stats_min(const double *x, size_t n)
{
	if (n == 0)
		return NAN;
	double m = x[0];
	for (size_t i = 1; i < n; i++)
		if (x[i] < m)
			m = x[i];
	return m;
}

double stats_max(const double *x, size_t n)
{
	if (n == 0)
		return NAN;
	double m = x[0];
	for (size_t i = 1; i < n; i++)
		if (x[i] > m)
			m = x[i];
	return m;
}

static int compare_doubles(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

void stats_sort(double *x, size_t n)
{
	qsort(x, n, sizeof *x, compare_doubles);
}

double stats_quantile_sorted(const double *sorted, size_t n, double p)
{
	if (n == 0)
		return NAN;
	double h = (double)(n - 1) * p;
	size_t below = (size_t)floor(h);
	if (below >= n - 1)
		return sorted[n - 1];
	return sorted[below] + (h - (double)below) * (sorted[below + 1] - sorted[below]);
}

static int sorted_copy(const double *x, size_t n, double **out)
{
	if (n == 0)
		return -EINVAL;
	double *copy = malloc(n * sizeof *copy);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, x, n * sizeof *copy);
	stats_sort(copy, n);
	*out = copy;
	return 0;
}

int stats_median(const double *x, size_t n, double *median)
{
	double *sorted;
	int rc = sorted_copy(x, n, &sorted);
	if (rc < 0)
		return rc;
	*median = stats_quantile_sorted(sorted, n, 0.5);
	free(sorted);
	return 0;
}

/* The continued fraction of the regularized incomplete beta function
 * I_x(a, b), evaluated with the modified Lentz method; it converges fast
 * for x < (a + 1) / (a + b + 2), the caller uses the symmetry otherwise. */
static double beta_continued_fraction(double a, double b, double x)
{
	const double tiny = 1e-300, eps = 1e-15;
	double c = 1.0, d = 0.0, f = 1.0;
	for (int j = 1; j <= 10000; j++) {
		int m = j / 2;
		double coeff;
		if (j % 2) /* d_{2m+1} */
			coeff = -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1));
		else /* d_{2m} */
			coeff = m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m));
		d = 1.0 + coeff * d;
		if (fabs(d) < tiny)
			d = tiny;
		c = 1.0 + coeff / c;
		if (fabs(c) < tiny)
			c = tiny;
		d = 1.0 / d;
		f *= c * d;
		if (fabs(c * d - 1.0) < eps)
			break;
	}
	/* The evaluated fraction is 1 + d1/(1 + d2/(...)); I_x needs its
	 * reciprocal. */
	return 1.0 / f;
}

static double incomplete_beta(double a, double b, double x)
{
	if (x <= 0)
		return 0;
	if (x >= 1)
		return 1;
	double log_front = a * log(x) + b * log1p(-x) - (lgamma(a) + lgamma(b) - lgamma(a + b));
	if (x < (a + 1) / (a + b + 2))
		return exp(log_front) / a * beta_continued_fraction(a, b, x);
	return 1.0 - exp(log_front) / b * beta_continued_fraction(b, a, 1.0 - x);
}

static double normal_cdf(double z)
{
	return 0.5 * erfc(-z / M_SQRT2);
}

double stats_t_cdf(double t, double df)
{
	if (isinf(df))
		return normal_cdf(t);
	double tail = 0.5 * incomplete_beta(df / 2, 0.5, df / (df + t * t));
	return t >= 0 ? 1.0 - tail : tail;
}

/* Bisection on a monotone CDF: slow but exact to the last bits, and the
 * harness needs only a handful of quantiles. */
static double invert_cdf(double (*cdf)(double, double), double df, double p)
{
	double lo = 0, hi = 1;
	while (cdf(hi, df) < p && hi < 1e300)
		hi *= 2;
	for (int i = 0; i < 2000 && hi - lo > 1e-14 * hi; i++) {
		double mid = 0.5 * (lo + hi);
		if (cdf(mid, df) < p)
			lo = mid;
		else
			hi = mid;
	}
	return 0.5 * (lo + hi);
}

static double t_cdf_upper(double t, double df)
{
	return stats_t_cdf(t, df);
}

double stats_t_quantile(double p, double df)
{
	if (!(p > 0 && p < 1) || !(df > 0))
		return NAN;
	if (p == 0.5)
		return 0;
	if (p < 0.5)
		return -stats_t_quantile(1 - p, df);
	return invert_cdf(t_cdf_upper, df, p);
}

static double normal_cdf_df(double z, double unused)
{
	(void)unused;
	return normal_cdf(z);
}

double stats_normal_quantile(double p)
{
	if (!(p > 0 && p < 1))
		return NAN;
	if (p == 0.5)
		return 0;
	if (p < 0.5)
		return -stats_normal_quantile(1 - p);
	return invert_cdf(normal_cdf_df, 0, p);
}

int stats_mean_ci(const double *x, size_t n, double level, double *lo, double *hi)
{
	if (n < 2 || !(level > 0 && level < 1))
		return -EINVAL;
	double mean = stats_mean(x, n);
	double half = stats_t_quantile((1 + level) / 2, (double)(n - 1)) * stats_sd(x, n) / sqrt((double)n);
	*lo = mean - half;
	*hi = mean + half;
	return 0;
}

double stats_resample_median(struct rng *r, const double *x, size_t n, double *scratch)
{
	for (size_t i = 0; i < n; i++)
		scratch[i] = x[rng_below(r, n)];
	stats_sort(scratch, n);
	return stats_quantile_sorted(scratch, n, 0.5);
}

/* The percentile interval of NVALUES bootstrap replicates (sorted here). */
static void percentile_interval(double *values, size_t nvalues, double level, double *lo, double *hi)
{
	stats_sort(values, nvalues);
	*lo = stats_quantile_sorted(values, nvalues, (1 - level) / 2);
	*hi = stats_quantile_sorted(values, nvalues, (1 + level) / 2);
}

int stats_bootstrap_median_ci(const double *x, size_t n, unsigned resamples, uint64_t seed, double level,
			      double *lo, double *hi)
{
	if (n == 0 || resamples == 0 || !(level > 0 && level < 1))
		return -EINVAL;
	double *scratch = malloc(n * sizeof *scratch);
	double *medians = malloc(resamples * sizeof *medians);
	if (!scratch || !medians) {
		free(scratch);
		free(medians);
		return -ENOMEM;
	}
	struct rng r;
	rng_seed(&r, seed);
	for (unsigned i = 0; i < resamples; i++)
		medians[i] = stats_resample_median(&r, x, n, scratch);
	percentile_interval(medians, resamples, level, lo, hi);
	free(scratch);
	free(medians);
	return 0;
}

/* log of a ratio of medians, or NAN when the denominator is 0. */
static double log_ratio(double num, double den)
{
	return den == 0 ? NAN : log(num / den);
}

int stats_bootstrap_pooled_ratio(const struct stats_ratio_sample *strata, size_t k, unsigned resamples,
				 uint64_t seed, double level, double *estimate, double *lo, double *hi)
{
	if (k == 0 || resamples == 0 || !(level > 0 && level < 1))
		return -EINVAL;
	size_t largest = 0;
	for (size_t s = 0; s < k; s++) {
		if (!strata[s].nnum || !strata[s].nden)
			return -EINVAL;
		if (strata[s].nnum > largest)
			largest = strata[s].nnum;
		if (strata[s].nden > largest)
			largest = strata[s].nden;
	}
	double *scratch = malloc(largest * sizeof *scratch);
	double *ratios = malloc(resamples * sizeof *ratios);
	int rc = scratch && ratios ? 0 : -ENOMEM;
	double sum = 0;
	for (size_t s = 0; s < k && rc == 0; s++) {
		double num = NAN, den = NAN;
		rc = stats_median(strata[s].num, strata[s].nnum, &num);
		if (rc == 0)
			rc = stats_median(strata[s].den, strata[s].nden, &den);
		sum += log_ratio(num, den);
	}
	if (rc == 0)
		*estimate = exp(sum / (double)k);
	struct rng r;
	rng_seed(&r, seed);
	size_t kept = 0;
	for (unsigned i = 0; i < resamples && rc == 0; i++) {
		double logs = 0;
		for (size_t s = 0; s < k; s++) {
			double num = stats_resample_median(&r, strata[s].num, strata[s].nnum, scratch);
			double den = stats_resample_median(&r, strata[s].den, strata[s].nden, scratch);
			logs += log_ratio(num, den);
		}
		if (!isnan(logs))
			ratios[kept++] = exp(logs / (double)k);
	}
	if (rc == 0 && kept == 0)
		rc = -ERANGE;
	if (rc == 0)
		percentile_interval(ratios, kept, level, lo, hi);
	free(scratch);
	free(ratios);
	return rc;
}

int stats_bootstrap_ratio_ci(const double *num, size_t nnum, const double *den, size_t nden, unsigned resamples,
			     uint64_t seed, double level, double *lo, double *hi)
{
	const struct stats_ratio_sample one = { .num = num, .nnum = nnum, .den = den, .nden = nden };
	double estimate;
	return stats_bootstrap_pooled_ratio(&one, 1, resamples, seed, level, &estimate, lo, hi);
}

int stats_log_ratio_ci(const double *d, size_t n, double level, double *ratio, double *lo, double *hi)
{
	double mean_lo, mean_hi;
	int rc = stats_mean_ci(d, n, level, &mean_lo, &mean_hi);
	if (rc)
		return rc;
	*ratio = exp(stats_mean(d, n));
	*lo = exp(mean_lo);
	*hi = exp(mean_hi);
	return 0;
}

int stats_tukey_fences(const double *x, size_t n, struct stats_fences *f)
{
	double *sorted;
	int rc = sorted_copy(x, n, &sorted);
	if (rc < 0)
		return rc;
	f->q1 = stats_quantile_sorted(sorted, n, 0.25);
	f->q3 = stats_quantile_sorted(sorted, n, 0.75);
	double iqr = f->q3 - f->q1;
	f->low = f->q1 - 1.5 * iqr;
	f->high = f->q3 + 1.5 * iqr;
	free(sorted);
	return 0;
}

bool stats_is_outlier(const struct stats_fences *f, double v)
{
	return v < f->low || v > f->high;
}
