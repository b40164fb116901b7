/* The A/B regression check of `harness ab` (harness/analyze/ab.c): the
 * paired interval on known numbers, the blocks of a hand-made run, and on
 * synthetic interleaved runs with noise, spikes and a drifting machine:
 * the same build on both sides (A/A) is not flagged, a build slower in one
 * phase is, with the slowdown inside its interval. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <limits.h>

#include "../../harness/analyze/ab.h"
#include "../../harness/analyze/results.h"
#include "../../harness/analyze/rng.h"
#include "../../harness/analyze/stats.h"

static void load(struct results *r, const char *text)
{
	char err[256];
	int rc = results_parse("test.csv", text, strlen(text), r, err, sizeof err);
	if (rc)
		fail_msg("%s", err);
}

/* mean 0.25, sd 0.1291, t(0.975, 3) = 3.1824: by hand (and in R:
 * exp(t.test(c(.1,.2,.3,.4))$conf.int)). */
static void test_log_ratio_interval(void **state)
{
	(void)state;
	const double d[] = { 0.1, 0.2, 0.3, 0.4 };
	double ratio, lo, hi;
	assert_int_equal(stats_log_ratio_ci(d, 4, 0.95, &ratio, &lo, &hi), 0);
	assert_float_equal(ratio, 1.284025, 1e-6);
	assert_float_equal(lo, 1.045582, 1e-6);
	assert_float_equal(hi, 1.576845, 1e-6);
	assert_int_equal(stats_log_ratio_ci(d, 1, 0.95, &ratio, &lo, &hi), -EINVAL);
	/* No spread: the interval is the point. */
	const double same[] = { log(1.5), log(1.5), log(1.5) };
	assert_int_equal(stats_log_ratio_ci(same, 3, 0.95, &ratio, &lo, &hi), 0);
	assert_float_equal(ratio, 1.5, 1e-12);
	assert_float_equal(lo, 1.5, 1e-12);
	assert_float_equal(hi, 1.5, 1e-12);
}

#define HEADER "workload,class,size,mode,rss_mib,repetition,suspend_us,checkpoint_us,transfer_us,as_restore_us," \
	       "ctx_restore_us,downtime_us,total_us,status,reason,build\n"

/* Two blocks of four: new takes 1.5x (block 1) and 2x (block 2) the
 * checkpoint time of base; block 3 has no new migration that succeeded. */
static void test_blocks(void **state)
{
	(void)state;
	struct results r;
	load(&r, HEADER
	     "m,native,natural,file,9,1,1,100,1,1,1,1,1,ok,,base\n"
	     "m,native,natural,file,9,2,1,150,1,1,1,1,1,ok,,new\n"
	     "m,native,natural,file,9,3,1,150,1,1,1,1,1,ok,,new\n"
	     "m,native,natural,file,9,4,1,100,1,1,1,1,1,ok,,base\n"
	     "m,native,natural,file,9,5,1,200,1,1,1,1,1,ok,,new\n"
	     "m,native,natural,file,9,6,1,100,1,1,1,1,1,ok,,base\n"
	     "m,native,natural,file,9,7,1,100,1,1,1,1,1,ok,,base\n"
	     "m,native,natural,file,9,8,1,200,1,1,1,1,1,ok,,new\n"
	     "m,native,natural,file,9,9,1,100,1,1,1,1,1,ok,,base\n"
	     "m,native,natural,file,9,10,,,,,,,,failed,lost,new\n"
	     "m,native,natural,file,9,11,,,,,,,,failed,lost,new\n"
	     "m,native,natural,file,9,12,1,100,1,1,1,1,1,ok,,base\n");
	struct group_set gs;
	assert_int_equal(groups_build(&r, &gs), 0);
	assert_int_equal(gs.n, 1);
	double d[16];
	assert_int_equal(ab_block_log_ratios(&r, &gs.groups[0], PHASE_CHECKPOINT, d), 2);
	assert_float_equal(d[0], log(1.5), 1e-12);
	assert_float_equal(d[1], log(2.0), 1e-12);
	/* The same times: no change. */
	assert_int_equal(ab_block_log_ratios(&r, &gs.groups[0], PHASE_SUSPEND, d), 2);
	assert_float_equal(d[0], 0, 1e-12);
	struct ab_estimate e;
	ab_estimate(d, 1, 0.95, 0.10, &e);
	assert_false(e.judged);
	groups_free(&gs);
	results_free(&r);
}

static void test_not_an_ab_run(void **state)
{
	(void)state;
	struct results r;
	load(&r, "workload,class,size,mode,rss_mib,repetition,suspend_us,checkpoint_us,transfer_us,as_restore_us,"
		 "ctx_restore_us,downtime_us,total_us,status,reason\n"
		 "m,native,natural,file,9,1,1,100,1,1,1,1,1,ok,\n");
	char err[256] = "";
	FILE *out = fopen("/dev/null", "w");
	assert_non_null(out);
	struct ab_options o = { .threshold = 0.10, .level = 0.95 };
	assert_int_equal(ab_results(&r, &o, out, err, sizeof err), COMPARE_BAD_INPUT);
	assert_non_null(strstr(err, "not an A/B run"));
	fclose(out);
	results_free(&r);
}

/* Typical medians of the phases, in microseconds. */
static const double base_us[PHASE_COUNT] = { 45, 30000, 32000, 45000, 900, 77000, 79000 };
static const char *const workloads[][2] = {
	{ "matmul", "native" }, { "recordstore", "clr" }, { "hashchain", "native" }, { "filecopy", "clr" }
};
#define N_WORKLOADS 4
#define RECORDED 24 /* six blocks per workload run */

/* An interleaved run: per workload RECORDED migrations in blocks ABBA or
 * BAAB (chosen at random); each time is its phase's base value x the
 * workload's own factor x the machine's state (a slow drift plus bursts of
 * load lasting a few migrations, shared by both builds) x log-normal noise
 * (sd 8%) x a spike of 1.5-3x in one migration of ten; the new build's
 * PHASE takes SLOWDOWN times as long. */
static void make_ab_run(struct results *r, char **text, double slowdown, enum phase slow_phase, uint64_t seed)
{
	size_t len = 0;
	FILE *f = open_memstream(text, &len);
	assert_non_null(f);
	fputs(HEADER, f);
	struct rng rng;
	rng_seed(&rng, seed);
	double machine = 1.0;
	static const int abba[AB_BLOCK] = { 0, 1, 1, 0 };
	int flip = 0;
	for (size_t w = 0; w < N_WORKLOADS; w++) {
		double own = 0.5 + (double)w * 0.6;
		for (int i = 0; i < RECORDED; i++) {
			if (i % AB_BLOCK == 0)
				flip = rng_uniform(&rng) < 0.5;
			int is_new = abba[i % AB_BLOCK] ^ flip;
			machine *= exp(0.03 * rng_normal(&rng));
			double burst = rng_uniform(&rng) < 0.05 ? 2.0 : 1.0;
			double spike = rng_uniform(&rng) < 0.1 ? 1.5 + 1.5 * rng_uniform(&rng) : 1.0;
			fprintf(f, "%s,%s,natural,file,64,%d", workloads[w][0], workloads[w][1], i + 1);
			for (int p = 0; p < PHASE_COUNT; p++) {
				double t = base_us[p] * own * machine * burst * spike * exp(0.08 * rng_normal(&rng));
				if (is_new && p == (int)slow_phase)
					t *= slowdown;
				fprintf(f, ",%.0f", t);
			}
			fprintf(f, ",ok,,%s\n", is_new ? "new" : "base");
		}
	}
	assert_int_equal(fclose(f), 0);
	load(r, *text);
}

static enum compare_outcome judge(const struct results *r)
{
	char *out_text = NULL, err[256];
	size_t len;
	FILE *out = open_memstream(&out_text, &len);
	assert_non_null(out);
	struct ab_options o = { .threshold = 0.10, .level = 0.95 };
	enum compare_outcome c = ab_results(r, &o, out, err, sizeof err);
	fclose(out);
	free(out_text);
	return c;
}

/* The same build on both sides: flagged in at most 1 of 20 seeds. */
static void test_aa_twenty_seeds(void **state)
{
	(void)state;
	int flagged = 0;
	for (uint64_t seed = 1; seed <= 20; seed++) {
		struct results r;
		char *text;
		make_ab_run(&r, &text, 1.0, PHASE_CHECKPOINT, seed);
		flagged += judge(&r) == COMPARE_REGRESSED;
		results_free(&r);
		free(text);
	}
	print_message("A/A: a regression reported in %d of 20 seeds\n", flagged);
	assert_true(flagged <= 1);
}

/* The new build's checkpoint takes 1.5x: flagged in every seed, the
 * checkpoint's interval holding 1.5 in at least 18 of 20 (95% intervals),
 * and no other phase flagged. */
static void test_ab_known_slowdown(void **state)
{
	(void)state;
	const double slowdown = 1.5;
	int flagged = 0, covered = 0, other_flagged = 0;
	struct ab_options o = { .threshold = 0.10, .level = 0.95 };
	for (uint64_t seed = 1; seed <= 20; seed++) {
		struct results r;
		char *text;
		make_ab_run(&r, &text, slowdown, PHASE_CHECKPOINT, seed);
		flagged += judge(&r) == COMPARE_REGRESSED;
		struct group_set gs;
		assert_int_equal(groups_build(&r, &gs), 0);
		double *d = malloc(r.n * sizeof *d);
		assert_non_null(d);
		for (int p = 0; p < PHASE_COUNT; p++) {
			struct ab_estimate e;
			assert_int_equal(ab_phase_estimate(&r, &gs, (enum phase)p, &o, d, &e), N_WORKLOADS * RECORDED / AB_BLOCK);
			assert_true(e.judged);
			if (p == PHASE_CHECKPOINT) {
				assert_int_equal(e.verdict, VERDICT_REGRESSION);
				covered += e.lo <= slowdown && slowdown <= e.hi;
			} else if (p != PHASE_DOWNTIME && p != PHASE_TOTAL) {
				other_flagged += e.verdict == VERDICT_REGRESSION;
			}
		}
		free(d);
		groups_free(&gs);
		results_free(&r);
		free(text);
	}
	print_message("A/B 1.5x checkpoint: flagged in %d of 20 seeds, 1.5 inside the interval in %d, other phases "
		      "flagged %d times\n",
		      flagged, covered, other_flagged);
	assert_int_equal(flagged, 20);
	assert_true(covered >= 18);
	assert_int_equal(other_flagged, 0);
}

/* ---- a recorded A/A run (tests/unit/samples/README.md) ---- */

static void load_recorded(struct results *r)
{
	char path[PATH_MAX], err[512];
	const char *root = getenv("BINMIG_ROOT");
	if (root) {
		snprintf(path, sizeof path, "%s/tests/unit/samples/ab-aa-perf-check.csv", root);
	} else {
		/* Built from the repository root: __FILE__ is tests/unit/test_harness_ab.c. */
		snprintf(path, sizeof path, "%s", __FILE__);
		char *slash = strrchr(path, '/');
		snprintf(slash ? slash + 1 : path, sizeof path - (size_t)(slash ? slash + 1 - path : 0),
			 "samples/ab-aa-perf-check.csv");
	}
	if (results_load(path, r, err, sizeof err))
		fail_msg("%s", err);
}

/* Deals each block's builds again: with probability 1/2 (from SEED) the
 * block's base and new swap, ABBA becoming BAAB, which under A/A is as
 * likely as what was recorded.  Then the new side's PHASE is multiplied
 * by SLOWDOWN. */
static void redeal(struct results *r, uint64_t seed, double slowdown, enum phase phase)
{
	struct rng rng;
	rng_seed(&rng, seed);
	/* Blocks are per configuration and repetition; one draw per (row of
	 * repetition 1, 5, 9, ...) decides the block that row opens. */
	bool *swap = calloc(r->n, sizeof *swap);
	assert_non_null(swap);
	for (size_t i = 0; i < r->n; i++)
		swap[i] = rng_uniform(&rng) < 0.5;
	for (size_t i = 0; i < r->n; i++) {
		struct migration *m = &r->rows[i];
		/* The row opening this one's block: same configuration, repetition rounded down to 4k+1. */
		long first = (m->repetition - 1) / AB_BLOCK * AB_BLOCK + 1;
		size_t opener = i;
		for (size_t k = 0; k < r->n; k++) {
			const struct migration *o = &r->rows[k];
			if (o->repetition == first && !strcmp(o->workload, m->workload) && !strcmp(o->mode, m->mode) &&
			    !strcmp(o->size, m->size)) {
				opener = k;
				break;
			}
		}
		if (swap[opener])
			m->build = !strcmp(m->build, "new") ? "base" : "new";
		if (!strcmp(m->build, "new"))
			m->phase_us[phase] *= slowdown;
	}
	free(swap);
}

/* The real noise of an A/A run, its blocks dealt 20 ways: flagged in at
 * most 1; as recorded, not flagged. */
static void test_recorded_aa(void **state)
{
	(void)state;
	struct results r;
	load_recorded(&r);
	assert_int_equal(r.n, 192);
	assert_int_equal(judge(&r), COMPARE_NO_REGRESSION);
	int flagged = 0;
	for (uint64_t seed = 1; seed <= 20; seed++) {
		struct results dealt;
		load_recorded(&dealt);
		redeal(&dealt, seed, 1.0, PHASE_CHECKPOINT);
		flagged += judge(&dealt) == COMPARE_REGRESSED;
		results_free(&dealt);
	}
	print_message("recorded A/A, blocks dealt with 20 seeds: a regression reported in %d\n", flagged);
	assert_true(flagged <= 1);
	results_free(&r);
}

/* The same run with the new checkpoint 1.5x slower: flagged with every
 * dealing, and 1.5 inside the checkpoint's 95% interval in at least 18. */
static void test_recorded_ab_known_slowdown(void **state)
{
	(void)state;
	const double slowdown = 1.5;
	struct ab_options o = { .threshold = 0.10, .level = 0.95 };
	int flagged = 0, covered = 0;
	double lowest = INFINITY, highest = 0;
	for (uint64_t seed = 1; seed <= 20; seed++) {
		struct results r;
		load_recorded(&r);
		redeal(&r, seed, slowdown, PHASE_CHECKPOINT);
		struct group_set gs;
		assert_int_equal(groups_build(&r, &gs), 0);
		double *d = malloc(r.n * sizeof *d);
		assert_non_null(d);
		struct ab_estimate e;
		assert_int_equal(ab_phase_estimate(&r, &gs, PHASE_CHECKPOINT, &o, d, &e), 48);
		flagged += e.judged && e.verdict == VERDICT_REGRESSION;
		covered += e.lo <= slowdown && slowdown <= e.hi;
		lowest = fmin(lowest, e.ratio);
		highest = fmax(highest, e.ratio);
		free(d);
		groups_free(&gs);
		results_free(&r);
	}
	print_message("recorded A/B, checkpoint x1.5: flagged in %d of 20 dealings, 1.5 inside the interval in %d, "
		      "estimates %.3f to %.3f\n",
		      flagged, covered, lowest, highest);
	assert_int_equal(flagged, 20);
	assert_true(covered >= 18);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_log_ratio_interval),
		cmocka_unit_test(test_blocks),
		cmocka_unit_test(test_not_an_ab_run),
		cmocka_unit_test(test_aa_twenty_seeds),
		cmocka_unit_test(test_ab_known_slowdown),
		cmocka_unit_test(test_recorded_aa),
		cmocka_unit_test(test_recorded_ab_known_slowdown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
