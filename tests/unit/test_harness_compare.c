/* The regression decision of `harness-analyze compare`
 * (harness/analyze/compare.c) on synthetic runs with realistic noise. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../harness/analyze/compare.h"
#include "../../harness/analyze/results.h"
#include "../../harness/analyze/rng.h"
#include "../../harness/analyze/stats.h"

/* Typical medians of the phases of a 64 MiB process, in microseconds. */
static const double base_us[PHASE_COUNT] = { 45, 30000, 32000, 45000, 900, 77000, 79000 };

struct workload_spec {
	const char *name, *class_;
};

static const struct workload_spec two_workloads[] = { { "matmul", "native" }, { "recordstore", "clr" } };

/* A results CSV: N migrations of each workload in stream mode, each phase
 * FACTOR times its base value with log-normal noise (sd 5%), and one
 * migration in ten slowed down 1.5-3x (a page-cache miss, a scheduling
 * hiccup). */
static void make_run(struct results *r, const char *name, const struct workload_spec *w, size_t nw, size_t n,
		     double factor, uint64_t seed)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	assert_non_null(f);
	fputs("workload,class,size,mode,rss_mib,repetition,suspend_us,checkpoint_us,transfer_us,as_restore_us,"
	      "ctx_restore_us,downtime_us,total_us,status,reason\n",
	      f);
	struct rng rng;
	rng_seed(&rng, seed);
	for (size_t k = 0; k < nw; k++)
		for (size_t i = 0; i < n; i++) {
			fprintf(f, "%s,%s,matched,stream,64,%zu", w[k].name, w[k].class_, i + 1);
			double spike = rng_uniform(&rng) < 0.1 ? 1.5 + 1.5 * rng_uniform(&rng) : 1.0;
			for (int p = 0; p < PHASE_COUNT; p++)
				fprintf(f, ",%.0f", base_us[p] * factor * spike * exp(0.05 * rng_normal(&rng)));
			fputs(",ok,\n", f);
		}
	assert_int_equal(fclose(f), 0);
	char err[256];
	int rc = results_parse(name, text, len, r, err, sizeof err);
	if (rc)
		fail_msg("%s", err);
	free(text);
}

struct outcome {
	enum compare_outcome code;
	char *output;
	char err[2048];
};

static void run_compare(const struct results *base, const struct results *fresh, struct outcome *o)
{
	size_t len;
	FILE *out = open_memstream(&o->output, &len);
	assert_non_null(out);
	struct compare_options opt = { .threshold = COMPARE_DEFAULT_THRESHOLD, .seed = 1, .resamples = STATS_RESAMPLES };
	o->err[0] = '\0';
	o->code = compare_results(base, fresh, &opt, out, o->err, sizeof o->err);
	assert_int_equal(fclose(out), 0);
}

static size_t count(const char *text, const char *word)
{
	size_t n = 0;
	for (const char *p = text; (p = strstr(p, word)); p += strlen(word))
		n++;
	return n;
}

static void test_decision_rule(void **state)
{
	(void)state;
	assert_int_equal(compare_decide(1.11, 1.30, 0.10), VERDICT_REGRESSION);
	assert_int_equal(compare_decide(1.09, 1.30, 0.10), VERDICT_NO_CLEAR_CHANGE);
	assert_int_equal(compare_decide(1.10, 1.30, 0.10), VERDICT_NO_CLEAR_CHANGE);
	assert_int_equal(compare_decide(0.70, 0.89, 0.10), VERDICT_IMPROVEMENT);
	assert_int_equal(compare_decide(0.70, 0.91, 0.10), VERDICT_NO_CLEAR_CHANGE);
	assert_int_equal(compare_decide(0.95, 1.05, 0.0), VERDICT_NO_CLEAR_CHANGE);
	assert_int_equal(compare_decide(1.01, 1.05, 0.0), VERDICT_REGRESSION);
}

/* Over several independent noise draws, so no lucky seed carries it.  At
 * this noise the interval of a 1.2 ratio clears 1.1 for about 99% of the
 * phases (measured over 40 draws), so a phase or two may stay "no clear
 * change"; the run as a whole must always be flagged. */
static void test_a_20_percent_slowdown_is_a_regression(void **state)
{
	(void)state;
	for (uint64_t seed = 1; seed <= 5; seed++) {
		struct results base, slow;
		make_run(&base, "base.csv", two_workloads, 2, 30, 1.0, 100 + seed);
		make_run(&slow, "slow.csv", two_workloads, 2, 30, 1.2, 200 + seed);
		struct outcome o;
		run_compare(&base, &slow, &o);
		assert_int_equal(o.code, COMPARE_REGRESSED);
		assert_in_range(count(o.output, "| REGRESSION |"), 2 * PHASE_COUNT - 2, 2 * PHASE_COUNT);
		assert_int_equal(count(o.output, "| improvement |"), 0);
		assert_non_null(strstr(o.output, " among 14 compared phases."));
		free(o.output);
		results_free(&base);
		results_free(&slow);
	}
}

static void test_a_2_percent_wobble_is_not(void **state)
{
	(void)state;
	for (uint64_t seed = 1; seed <= 5; seed++) {
		struct results base, wobble;
		make_run(&base, "base.csv", two_workloads, 2, 30, 1.0, 300 + seed);
		make_run(&wobble, "wobble.csv", two_workloads, 2, 30, 1.02, 400 + seed);
		struct outcome o;
		run_compare(&base, &wobble, &o);
		assert_int_equal(o.code, COMPARE_NO_REGRESSION);
		assert_int_equal(count(o.output, "REGRESSION"), 0);
		assert_int_equal(count(o.output, "| improvement |"), 0);
		assert_int_equal(count(o.output, "| no clear change |"), 2 * PHASE_COUNT);
		free(o.output);
		results_free(&base);
		results_free(&wobble);
	}
}

static void test_a_20_percent_speedup_is_an_improvement(void **state)
{
	(void)state;
	for (uint64_t seed = 1; seed <= 5; seed++) {
		struct results base, fast;
		make_run(&base, "base.csv", two_workloads, 2, 30, 1.0, 500 + seed);
		make_run(&fast, "fast.csv", two_workloads, 2, 30, 0.8, 600 + seed);
		struct outcome o;
		run_compare(&base, &fast, &o);
		assert_int_equal(o.code, COMPARE_NO_REGRESSION);
		assert_in_range(count(o.output, "| improvement |"), 2 * PHASE_COUNT - 2, 2 * PHASE_COUNT);
		assert_int_equal(count(o.output, "REGRESSION"), 0);
		free(o.output);
		results_free(&base);
		results_free(&fast);
	}
}

static void test_the_output_is_reproducible(void **state)
{
	(void)state;
	struct results base, slow;
	make_run(&base, "base.csv", two_workloads, 2, 10, 1.0, 1);
	make_run(&slow, "slow.csv", two_workloads, 2, 10, 1.1, 2);
	struct outcome a, b;
	run_compare(&base, &slow, &a);
	run_compare(&base, &slow, &b);
	assert_string_equal(a.output, b.output);
	assert_non_null(strstr(a.output, "| workload | class | size | mode | phase | baseline median ms (n) |"));
	free(a.output);
	free(b.output);
	results_free(&base);
	results_free(&slow);
}

static void test_mismatched_workloads_are_bad_input(void **state)
{
	(void)state;
	static const struct workload_spec other[] = { { "matmul", "native" }, { "filecopy", "clr" } };
	static const struct workload_spec unrelated[] = { { "sieve", "native" } };
	struct results base, changed, disjoint;
	make_run(&base, "base.csv", two_workloads, 2, 5, 1.0, 1);
	make_run(&changed, "new.csv", other, 2, 5, 1.0, 2);
	make_run(&disjoint, "far.csv", unrelated, 1, 5, 1.0, 3);
	struct outcome o;
	run_compare(&base, &changed, &o);
	assert_int_equal(o.code, COMPARE_BAD_INPUT);
	assert_string_equal(o.err, "workloads present in one file only: only in base.csv: recordstore; "
				   "only in new.csv: filecopy");
	assert_string_equal(o.output, "");
	free(o.output);
	run_compare(&base, &disjoint, &o);
	assert_int_equal(o.code, COMPARE_BAD_INPUT);
	assert_string_equal(o.err, "no common workloads: base.csv has matmul, recordstore; far.csv has sieve");
	free(o.output);
	results_free(&base);
	results_free(&changed);
	results_free(&disjoint);
}

static void test_an_empty_run_is_bad_input(void **state)
{
	(void)state;
	struct results base, empty;
	make_run(&base, "base.csv", two_workloads, 2, 5, 1.0, 1);
	make_run(&empty, "empty.csv", two_workloads, 2, 0, 1.0, 2);
	struct outcome o;
	run_compare(&base, &empty, &o);
	assert_int_equal(o.code, COMPARE_BAD_INPUT);
	assert_string_equal(o.err, "empty.csv: no migrations");
	free(o.output);
	results_free(&base);
	results_free(&empty);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decision_rule),
		cmocka_unit_test(test_a_20_percent_slowdown_is_a_regression),
		cmocka_unit_test(test_a_2_percent_wobble_is_not),
		cmocka_unit_test(test_a_20_percent_speedup_is_an_improvement),
		cmocka_unit_test(test_the_output_is_reproducible),
		cmocka_unit_test(test_mismatched_workloads_are_bad_input),
		cmocka_unit_test(test_an_empty_run_is_bad_input),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
