/* The harness's statistics (harness/analyze/stats.c, rng.c) against
 * textbook values. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "../../harness/analyze/rng.h"
#include "../../harness/analyze/stats.h"

#define assert_close(actual, expected, tolerance) \
	assert_true(fabs((double)(actual) - (double)(expected)) <= (tolerance))

static void test_mean_and_sample_sd(void **state)
{
	(void)state;
	static const double x[] = { 2, 4, 4, 4, 5, 5, 7, 9 };
	assert_close(stats_mean(x, 8), 5.0, 1e-12);
	/* sqrt(32 / 7): the divisor is n - 1. */
	assert_close(stats_sd(x, 8), 2.138089935299395, 1e-12);
	assert_close(stats_min(x, 8), 2, 0);
	assert_close(stats_max(x, 8), 9, 0);
	assert_true(isnan(stats_mean(x, 0)));
	assert_true(isnan(stats_sd(x, 1)));
}

static void test_sd_keeps_its_digits_for_large_close_values(void **state)
{
	(void)state;
	/* Microsecond timings of a second or so differing by a few us. */
	static const double x[] = { 1e9 + 4, 1e9 + 7, 1e9 + 13, 1e9 + 16 };
	assert_close(stats_sd(x, 4), 5.477225575051661, 1e-6);
}

static void test_median_odd_and_even(void **state)
{
	(void)state;
	static const double even[] = { 3.1, 1.2, 7.7, 4.4, 2.9, 5.0 };
	double m;
	assert_int_equal(stats_median(even, 6, &m), 0);
	assert_close(m, 3.75, 1e-12);
	assert_int_equal(stats_median(even, 5, &m), 0);
	assert_close(m, 3.1, 1e-12);
	assert_int_equal(stats_median(even, 1, &m), 0);
	assert_close(m, 3.1, 0);
	assert_int_equal(stats_median(even, 0, &m), -EINVAL);
	/* The input is not reordered. */
	assert_close(even[0], 3.1, 0);
}

static void test_quantiles_interpolate_linearly(void **state)
{
	(void)state;
	static const double sorted[] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 100 };
	assert_close(stats_quantile_sorted(sorted, 11, 0.25), 3.5, 1e-12);
	assert_close(stats_quantile_sorted(sorted, 11, 0.75), 8.5, 1e-12);
	assert_close(stats_quantile_sorted(sorted, 11, 0), 1, 0);
	assert_close(stats_quantile_sorted(sorted, 11, 1), 100, 0);
	assert_close(stats_quantile_sorted(sorted, 11, 0.95), 55, 1e-9);
}

/* Two-sided 95% critical values, t(0.975, df), from the standard tables. */
static void test_t_quantiles_match_the_table(void **state)
{
	(void)state;
	static const double table[31] = {
		0,     12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
		2.201, 2.179,  2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
		2.080, 2.074,  2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
	};
	for (int df = 1; df <= 30; df++)
		assert_close(stats_t_quantile(0.975, df), table[df], 0.0005);
	assert_close(stats_t_quantile(0.975, 40), 2.021, 0.0005);
	assert_close(stats_t_quantile(0.975, 60), 2.000, 0.0005);
	assert_close(stats_t_quantile(0.975, 120), 1.980, 0.0005);
	assert_close(stats_t_quantile(0.975, 1e6), 1.960, 0.0005);
	assert_close(stats_t_quantile(0.975, INFINITY), 1.95996, 0.00001);
	/* Other levels and the lower tail. */
	assert_close(stats_t_quantile(0.995, 1), 63.657, 0.0005);
	assert_close(stats_t_quantile(0.995, 10), 3.169, 0.0005);
	assert_close(stats_t_quantile(0.95, 5), 2.015, 0.0005);
	assert_close(stats_t_quantile(0.025, 7), -2.365, 0.0005);
	assert_close(stats_t_quantile(0.5, 3), 0, 0);
	assert_close(stats_normal_quantile(0.975), 1.959964, 0.000001);
	/* The CDF inverts the quantile. */
	assert_close(stats_t_cdf(stats_t_quantile(0.9, 4), 4), 0.9, 1e-9);
	assert_true(isnan(stats_t_quantile(1.0, 4)));
	assert_true(isnan(stats_t_quantile(0.9, 0)));
}

static void test_t_interval_of_a_small_sample(void **state)
{
	(void)state;
	/* mean 5, sd sqrt(32/7), n 8: 5 -+ 2.3646 * 2.1381 / sqrt(8). */
	static const double x[] = { 2, 4, 4, 4, 5, 5, 7, 9 };
	double lo, hi;
	assert_int_equal(stats_mean_ci(x, 8, 0.95, &lo, &hi), 0);
	assert_close(lo, 3.212512, 1e-5);
	assert_close(hi, 6.787488, 1e-5);
	assert_int_equal(stats_mean_ci(x, 1, 0.95, &lo, &hi), -EINVAL);
}

static void test_rng_is_the_reference_generator(void **state)
{
	(void)state;
	struct rng r;
	/* splitmix64's first two outputs from seed 0. */
	rng_seed(&r, 0);
	assert_true(r.s[0] == 0xe220a8397b1dcdafull);
	assert_true(r.s[1] == 0x6e789e6aa1b965f4ull);
	struct rng a, b;
	rng_seed(&a, 42);
	rng_seed(&b, 42);
	for (int i = 0; i < 1000; i++)
		assert_true(rng_next(&a) == rng_next(&b));
	/* rng_below stays below and reaches both ends. */
	int seen[7] = { 0 };
	for (int i = 0; i < 7000; i++) {
		size_t v = rng_below(&a, 7);
		assert_true(v < 7);
		seen[v]++;
	}
	for (int i = 0; i < 7; i++)
		assert_true(seen[i] > 800 && seen[i] < 1200);
}

/* n values of a normal distribution with median MEDIAN. */
static double *normal_sample(uint64_t seed, size_t n, double median, double sd)
{
	double *x = malloc(n * sizeof *x);
	assert_non_null(x);
	struct rng r;
	rng_seed(&r, seed);
	for (size_t i = 0; i < n; i++)
		x[i] = median + sd * rng_normal(&r);
	return x;
}

static void test_bootstrap_median_interval_is_reproducible_and_covers(void **state)
{
	(void)state;
	double *x = normal_sample(7, 101, 10.0, 2.0);
	double lo, hi, lo2, hi2, lo3, hi3;
	assert_int_equal(stats_bootstrap_median_ci(x, 101, STATS_RESAMPLES, 1, 0.95, &lo, &hi), 0);
	assert_int_equal(stats_bootstrap_median_ci(x, 101, STATS_RESAMPLES, 1, 0.95, &lo2, &hi2), 0);
	assert_true(lo == lo2 && hi == hi2);
	/* The true median is inside; the interval is about the textbook
	 * width of 2 * 1.96 * 1.2533 * sd / sqrt(n) = 0.98. */
	assert_true(lo < 10.0 && 10.0 < hi);
	assert_true(hi - lo > 0.4 && hi - lo < 1.6);
	assert_int_equal(stats_bootstrap_median_ci(x, 101, STATS_RESAMPLES, 2, 0.95, &lo3, &hi3), 0);
	assert_true(lo3 != lo || hi3 != hi);
	/* One value: the interval is that value. */
	assert_int_equal(stats_bootstrap_median_ci(x, 1, 100, 1, 0.95, &lo, &hi), 0);
	assert_true(lo == x[0] && hi == x[0]);
	assert_int_equal(stats_bootstrap_median_ci(x, 0, 100, 1, 0.95, &lo, &hi), -EINVAL);
	free(x);
}

static void test_bootstrap_ratio_of_medians(void **state)
{
	(void)state;
	double *num = normal_sample(11, 40, 300.0, 15.0), *den = normal_sample(12, 40, 100.0, 5.0);
	double lo, hi;
	assert_int_equal(stats_bootstrap_ratio_ci(num, 40, den, 40, STATS_RESAMPLES, 3, 0.95, &lo, &hi), 0);
	assert_true(lo < 3.0 && 3.0 < hi);
	assert_true(lo > 2.7 && hi < 3.3);
	/* Pooling one stratum is the same computation. */
	struct stats_ratio_sample one = { num, den, 40, 40 };
	double est, plo, phi;
	assert_int_equal(stats_bootstrap_pooled_ratio(&one, 1, STATS_RESAMPLES, 3, 0.95, &est, &plo, &phi), 0);
	assert_true(plo == lo && phi == hi);
	/* Two strata at 3x and 1.5x pool to their geometric mean, sqrt(4.5). */
	double *num2 = normal_sample(13, 40, 150.0, 7.5);
	struct stats_ratio_sample two[] = { { num, den, 40, 40 }, { num2, den, 40, 40 } };
	assert_int_equal(stats_bootstrap_pooled_ratio(two, 2, STATS_RESAMPLES, 3, 0.95, &est, &plo, &phi), 0);
	assert_close(est, sqrt(4.5), 0.08);
	assert_true(plo < sqrt(4.5) && sqrt(4.5) < phi);
	/* A zero denominator has no ratio. */
	static const double zeros[] = { 0, 0, 0 };
	assert_int_equal(stats_bootstrap_ratio_ci(num, 40, zeros, 3, 100, 3, 0.95, &lo, &hi), -ERANGE);
	free(num);
	free(num2);
	free(den);
}

static void test_tukey_outliers(void **state)
{
	(void)state;
	static const double x[] = { 5, 1, 9, 100, 2, 7, 3, 10, 4, 8, 6, -20 };
	struct stats_fences f;
	assert_int_equal(stats_tukey_fences(x, 12, &f), 0);
	/* Sorted: -20 1 2 3 4 5 6 7 8 9 10 100; q1 = 2.75, q3 = 8.25. */
	assert_close(f.q1, 2.75, 1e-12);
	assert_close(f.q3, 8.25, 1e-12);
	assert_close(f.low, 2.75 - 1.5 * 5.5, 1e-12);
	assert_close(f.high, 8.25 + 1.5 * 5.5, 1e-12);
	int outliers = 0;
	for (int i = 0; i < 12; i++)
		outliers += stats_is_outlier(&f, x[i]);
	assert_int_equal(outliers, 2);
	assert_true(stats_is_outlier(&f, 100) && stats_is_outlier(&f, -20));
	assert_false(stats_is_outlier(&f, 16.5) || stats_is_outlier(&f, -5.5));
	assert_int_equal(stats_tukey_fences(x, 0, &f), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mean_and_sample_sd),
		cmocka_unit_test(test_sd_keeps_its_digits_for_large_close_values),
		cmocka_unit_test(test_median_odd_and_even),
		cmocka_unit_test(test_quantiles_interpolate_linearly),
		cmocka_unit_test(test_t_quantiles_match_the_table),
		cmocka_unit_test(test_t_interval_of_a_small_sample),
		cmocka_unit_test(test_rng_is_the_reference_generator),
		cmocka_unit_test(test_bootstrap_median_interval_is_reproducible_and_covers),
		cmocka_unit_test(test_bootstrap_ratio_of_medians),
		cmocka_unit_test(test_tukey_outliers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
