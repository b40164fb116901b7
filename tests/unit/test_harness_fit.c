/* Why the phases differ (harness/analyze/fit.c) and the study's claims
 * judged at both sizes (claims.c, report.c): least squares on known
 * numbers, a run whose CLR/native difference comes entirely from what is
 * moved, and the report's two claim tables. */
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

#include "../../harness/analyze/claims.h"
#include "../../harness/analyze/fit.h"
#include "../../harness/analyze/pairs.h"
#include "../../harness/analyze/report.h"
#include "../../harness/analyze/results.h"
#include "../../harness/analyze/rng.h"

/* y = 1 + 2x exactly, then with one point off: by hand (and in R, lm). */
static void test_ols_known(void **state)
{
	(void)state;
	const double x[] = { 1, 0, 1, 1, 1, 2, 1, 3, 1, 4 };
	double y[] = { 1, 3, 5, 7, 9 };
	double coef[2], se[2], cov[4], sigma, r2;
	assert_int_equal(fit_ols(x, y, 5, 2, coef, se, cov, &sigma, &r2), 0);
	assert_float_equal(coef[0], 1, 1e-9);
	assert_float_equal(coef[1], 2, 1e-9);
	assert_float_equal(sigma, 0, 1e-9);
	assert_float_equal(r2, 1, 1e-12);
	y[4] = 10; /* lm(c(1,3,5,7,10) ~ 0:4): 0.8 + 2.2x, sigma 0.3651, se(slope) 0.1155 */
	assert_int_equal(fit_ols(x, y, 5, 2, coef, se, cov, &sigma, &r2), 0);
	assert_float_equal(coef[0], 0.8, 1e-9);
	assert_float_equal(coef[1], 2.2, 1e-9);
	assert_float_equal(sigma, 0.3651484, 1e-6);
	assert_float_equal(se[1], 0.1154701, 1e-6);
	assert_float_equal(cov[1 * 2 + 1], se[1] * se[1], 1e-12);
	/* A column that repeats another, and too few rows. */
	const double twice[] = { 1, 2, 1, 2, 1, 2 };
	assert_int_equal(fit_ols(twice, y, 3, 2, coef, se, NULL, &sigma, &r2), -EDOM);
	assert_int_equal(fit_ols(x, y, 2, 2, coef, se, NULL, &sigma, &r2), -EINVAL);
}

#define HEADER                                                                                                        \
	"workload,class,size,mode,rss_mib,repetition,suspend_us,checkpoint_us,transfer_us,as_restore_us,"            \
	"ctx_restore_us,downtime_us,total_us,pages_total,vmas,proc_threads,fds,status,reason\n"

/* One native/CLR pair at both sizes.  Natural: the CLR process has twice
 * the pages (20000 against 10000); matched: both about 16384.  The CLR
 * process has more threads (5 and 7 against 1 and 2), VMAs and
 * descriptors.  Checkpoint = 500 + 2 us per page, context restore = 100 +
 * 150 us per thread, whatever the class; suspend CLR_SUSPEND times the
 * native's.  2% noise. */
static void make_run(struct results *r, double clr_suspend)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	assert_non_null(f);
	fputs(HEADER, f);
	struct rng rng;
	rng_seed(&rng, 11);
	static const struct {
		const char *workload, *class_, *size;
		double pages, threads, vmas, fds;
	} kinds[] = {
		{ "matmul", "native", "natural", 10000, 1, 20, 4 },
		{ "recordstore", "clr", "natural", 20000, 5, 120, 10 },
		{ "matmul", "native", "matched", 16384, 2, 22, 4 },
		{ "recordstore", "clr", "matched", 16384, 7, 125, 10 },
	};
	for (size_t k = 0; k < 4; k++)
		for (int i = 1; i <= 30; i++) {
			double pages = kinds[k].pages * (1 + 0.01 * rng_normal(&rng));
			double noise[PHASE_COUNT];
			for (int p = 0; p < PHASE_COUNT; p++)
				noise[p] = exp(0.02 * rng_normal(&rng));
			bool clr = !strcmp(kinds[k].class_, "clr");
			double suspend = 50 * (clr ? clr_suspend : 1) * noise[0];
			double checkpoint = (500 + 2 * pages) * noise[1];
			double as_restore = (400 + 1.8 * pages) * noise[3];
			double ctx = (100 + 150 * kinds[k].threads) * noise[4];
			fprintf(f, "%s,%s,%s,stream,%.0f,%d,%.1f,%.1f,%.1f,%.1f,%.1f,%.1f,%.1f,%.0f,%.0f,%.0f,%.0f,ok,\n",
				kinds[k].workload, kinds[k].class_, kinds[k].size, pages / 256, i, suspend, checkpoint,
				checkpoint * noise[2], as_restore, ctx, checkpoint + as_restore + ctx,
				checkpoint + as_restore + ctx + 1000, pages, kinds[k].vmas, kinds[k].threads, kinds[k].fds);
		}
	assert_int_equal(fclose(f), 0);
	char err[256];
	if (results_parse("fit.csv", text, len, r, err, sizeof err))
		fail_msg("%s", err);
	free(text);
}

static void test_fit_explains_the_difference(void **state)
{
	(void)state;
	struct results r;
	make_run(&r, 1);
	struct phase_fit f;
	assert_int_equal(fit_phase(&r, "stream", PHASE_CHECKPOINT, &f), 0);
	assert_true(f.valid);
	assert_int_equal(f.n, 120);
	/* 2 us per page, inside its interval; the CLR term indistinguishable from 0. */
	assert_true(f.used[1 + MOVED_PAGES]);
	assert_true(f.lo[1 + MOVED_PAGES] <= 2 && 2 <= f.hi[1 + MOVED_PAGES]);
	assert_true(fabs(f.coef[1 + MOVED_PAGES] - 2) < 0.1);
	assert_true(f.r2 > 0.9);
	assert_true(f.lo[FIT_CLR_TERM] <= 0 && 0 <= f.hi[FIT_CLR_TERM]);
	/* At natural size the CLR process takes about 20 ms longer, all of it explained by its pages. */
	const struct fit_share *nat = &f.share[0];
	assert_true(nat->valid);
	assert_true(fabs(nat->difference - 20000) < 1000);
	assert_true(fabs(nat->explained / nat->difference - 1) < 0.1);
	assert_true(nat->lo <= nat->difference && nat->difference <= nat->hi);
	/* At matched size there is next to nothing to explain. */
	assert_true(fabs(f.share[1].difference) < 0.05 * f.share[1].native_mean);
	/* Context restore: 150 us per thread (threads vary within each class). */
	assert_int_equal(fit_phase(&r, "stream", PHASE_CTX_RESTORE, &f), 0);
	assert_true(f.valid && f.used[1 + MOVED_THREADS]);
	assert_true(f.lo[1 + MOVED_THREADS] <= 150 && 150 <= f.hi[1 + MOVED_THREADS]);
	/* VMAs and descriptors only follow the class: left out. */
	assert_false(f.used[1 + MOVED_VMAS] && f.used[1 + MOVED_FDS]);
	/* No such mode: no fit. */
	assert_int_equal(fit_phase(&r, "file", PHASE_CHECKPOINT, &f), 0);
	assert_false(f.valid);
	results_free(&r);
}

static char *report_text(const struct results *r, bool claims)
{
	struct group_set g;
	assert_int_equal(groups_build(r, &g), 0);
	struct pair_list pairs;
	char err[64];
	assert_int_equal(pairs_parse("native/matmul clr/recordstore\n", &pairs, err, sizeof err), 0);
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	assert_non_null(f);
	if (claims)
		assert_int_equal(report_claims(f, r, &g, &pairs, 1), 0);
	else
		assert_int_equal(fit_report(f, r, &g), 0);
	assert_int_equal(fclose(f), 0);
	pairs_free(&pairs);
	groups_free(&g);
	return text;
}

/* The checkpoint is 2x at natural size (the CLR process is twice as
 * large) and 1x at matched size: the report says both, and which is the
 * study's setting. */
static void test_claims_at_both_sizes(void **state)
{
	(void)state;
	struct results r;
	make_run(&r, 1);
	char *text = report_text(&r, true);
	assert_non_null(strstr(text, "| claim | stream, natural (the study's setting) | stream, matched (control) |\n"));
	assert_non_null(strstr(text, "| checkpoint ≈2× | 1.9"));
	assert_non_null(strstr(text, "— holds | 1.0"));
	assert_non_null(strstr(text, "#### Natural size: the processes as they are (the study's setting)"));
	assert_non_null(strstr(text, "#### Matched resident size (the control)"));
	assert_non_null(strstr(text, "| matmul / recordstore (natural) | 30, 30 | "));
	assert_non_null(strstr(text, "| matmul / recordstore (matched) | 30, 30 | "));
	assert_non_null(strstr(text, "**Conclusion (stream mode, natural size):**"));
	assert_non_null(strstr(text, "**Conclusion (stream mode, matched size):** the data disagrees with the study on "
				     "checkpoint"));
	/* Natural comes first. */
	assert_true(strstr(text, "#### Natural") < strstr(text, "#### Matched"));
	free(text);
	results_free(&r);
}

static void test_fit_report(void **state)
{
	(void)state;
	struct results r;
	make_run(&r, 1);
	char *text = report_text(&r, false);
	assert_non_null(strstr(text, "### stream mode\n\n| phase | n | R² | µs per page | µs per VMA | µs per thread | "
				     "µs per descriptor | CLR term (ms) |\n"));
	assert_non_null(strstr(text, "| checkpoint | 120 | "));
	assert_non_null(strstr(text, "| checkpoint | natural | "));
	assert_non_null(strstr(text, "- **checkpoint** (study: ≈2×) at natural size: the CLR process takes "));
	assert_non_null(strstr(text, "most of it its pages"));
	free(text);
	/* A CSV without the amounts: said, not fitted. */
	const char *old = "workload,class,size,mode,rss_mib,repetition,suspend_us,checkpoint_us,transfer_us,as_restore_us,"
			  "ctx_restore_us,downtime_us,total_us,status,reason\n"
			  "matmul,native,natural,stream,9,1,1,2,3,4,5,6,7,ok,\n"
			  "matmul,native,natural,stream,9,2,1,2,3,4,5,6,7,ok,\n"
			  "recordstore,clr,natural,stream,9,1,1,2,3,4,5,6,7,ok,\n";
	struct results o;
	char err[256];
	assert_int_equal(results_parse("old.csv", old, strlen(old), &o, err, sizeof err), 0);
	text = report_text(&o, false);
	assert_non_null(strstr(text, "no fit"));
	free(text);
	results_free(&o);
	results_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ols_known),
		cmocka_unit_test(test_fit_explains_the_difference),
		cmocka_unit_test(test_claims_at_both_sizes),
		cmocka_unit_test(test_fit_report),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
