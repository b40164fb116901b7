/* What the report says: per-phase summaries (summary.c), the verdict on
 * the study's claims (claims.c, pairs.c) and the meta.txt table
 * (report.c). */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../harness/analyze/claims.h"
#include "../../harness/analyze/pairs.h"
#include "../../harness/analyze/report.h"
#include "../../harness/analyze/results.h"
#include "../../harness/analyze/rng.h"
#include "../../harness/analyze/summary.h"

static void test_summary_of_a_phase(void **state)
{
	(void)state;
	static const double x[] = { 1000, 1100, 1200, 1300, 9000 };
	static const size_t rows[] = { 3, 4, 7, 8, 12 };
	struct phase_summary s;
	assert_int_equal(phase_summary_compute(x, rows, 5, 500, 1, &s), 0);
	assert_int_equal(s.n, 5);
	assert_true(s.mean == 2720 && s.median == 1200 && s.min == 1000 && s.max == 9000);
	assert_true(s.mean_lo < s.mean && s.mean < s.mean_hi);
	assert_true(s.median_lo >= 1000 && s.median_hi <= 9000 && s.median_lo <= 1200 && 1200 <= s.median_hi);
	assert_int_equal(s.n_outliers, 1);
	assert_int_equal(s.outlier_rows[0], 12);
	phase_summary_free(&s);
	/* One value: no spread, no t interval. */
	assert_int_equal(phase_summary_compute(x, rows, 1, 500, 1, &s), 0);
	assert_true(isnan(s.sd) && isnan(s.mean_lo) && s.median_lo == 1000 && s.median_hi == 1000);
	phase_summary_free(&s);
}

static void test_milliseconds_precision_follows_magnitude(void **state)
{
	(void)state;
	char buf[32];
	assert_string_equal(format_ms(buf, sizeof buf, 31), "0.031");
	assert_string_equal(format_ms(buf, sizeof buf, 4217.4), "4.217");
	assert_string_equal(format_ms(buf, sizeof buf, 73581), "73.58");
	assert_string_equal(format_ms(buf, sizeof buf, 512345), "512.3");
	assert_string_equal(format_ms(buf, sizeof buf, 1234567), "1235");
	assert_string_equal(format_ms(buf, sizeof buf, NAN), "-");
}

static void test_claim_bands(void **state)
{
	(void)state;
	double lo, hi;
	claim_band(2, &lo, &hi);
	assert_true(fabs(lo - 1.6) < 1e-12 && fabs(hi - 2.5) < 1e-12);
	assert_int_equal(claim_judge(1.8, 2.3, 2), CLAIM_HOLDS);
	assert_int_equal(claim_judge(1.6, 2.5, 2), CLAIM_HOLDS);
	assert_int_equal(claim_judge(1.4, 2.0, 2), CLAIM_INCONCLUSIVE);
	assert_int_equal(claim_judge(2.6, 3.1, 2), CLAIM_DISAGREES);
	assert_int_equal(claim_judge(1.0, 1.5, 2), CLAIM_DISAGREES);
	assert_int_equal(claim_judge(0.9, 1.1, 1), CLAIM_HOLDS);
	assert_int_equal(claim_judge(1.3, 1.5, 1), CLAIM_DISAGREES);
	assert_int_equal(claim_judge(NAN, 1.5, 1), CLAIM_NO_DATA);
	assert_true(claim_expected(PHASE_CHECKPOINT) == 2 && claim_expected(PHASE_AS_RESTORE) == 2);
	assert_true(claim_expected(PHASE_SUSPEND) == 1 && claim_expected(PHASE_CTX_RESTORE) == 1);
	assert_true(claim_expected(PHASE_TRANSFER) == 0 && claim_expected(PHASE_TOTAL) == 0);
}

static void test_pairs_file(void **state)
{
	(void)state;
	struct pair_list p;
	char err[128];
	assert_int_equal(pairs_parse("# NATIVE CLR\nnative/matmul clr/recordstore\n\n  sieve\tfilecopy # x\n", &p,
				     err, sizeof err),
			 0);
	assert_int_equal(p.n, 2);
	assert_string_equal(p.pairs[0].native, "matmul");
	assert_string_equal(p.pairs[0].clr, "recordstore");
	assert_string_equal(p.pairs[1].native, "sieve");
	assert_string_equal(p.pairs[1].clr, "filecopy");
	pairs_free(&p);
	assert_int_equal(pairs_parse("a b\nc\n", &p, err, sizeof err), -EINVAL);
	assert_string_equal(err, "line 2: expected two workloads (native and CLR)");
}

static void test_pairs_per_setting(void **state)
{
	(void)state;
	/* nbody (2 threads) and wordcount (4) at two rss targets; matmul and
	 * recordstore natural only; sieve has no partner. */
	const char *text = "workload,class,size,mode,rss_mib,repetition,threads,suspend_us,checkpoint_us,transfer_us,"
			   "as_restore_us,ctx_restore_us,downtime_us,total_us,status,reason\n"
			   "nbody,native,matched,stream,64,1,2,1,1,1,1,1,1,1,ok,\n"
			   "nbody,native,matched,stream,256,1,2,1,1,1,1,1,1,1,ok,\n"
			   "wordcount,clr,matched,stream,60,1,4,1,1,1,1,1,1,1,ok,\n"
			   "wordcount,clr,matched,stream,250,1,4,1,1,1,1,1,1,1,ok,\n"
			   "nbody,native,natural,stream,4,1,2,1,1,1,1,1,1,1,ok,\n"
			   "wordcount,clr,natural,stream,30,1,4,1,1,1,1,1,1,1,ok,\n"
			   "matmul,native,natural,stream,9,1,1,1,1,1,1,1,1,1,ok,\n"
			   "recordstore,clr,natural,stream,22,1,1,1,1,1,1,1,1,1,ok,\n"
			   "sieve,native,natural,stream,9,1,1,1,1,1,1,1,1,1,ok,\n"
			   "matmul,native,natural,file,9,1,1,1,1,1,1,1,1,1,ok,\n";
	struct results r;
	char err[256];
	assert_int_equal(results_parse("p.csv", text, strlen(text), &r, err, sizeof err), 0);
	static const double targets[] = { 64, 256 };
	results_assign_rss_targets(&r, targets, 2);
	struct group_set g;
	assert_int_equal(groups_build(&r, &g), 0);
	struct pair_list pairs;
	assert_int_equal(pairs_parse("native/nbody clr/wordcount\nnative/matmul clr/recordstore\nnative/sieve clr/x\n",
				     &pairs, err, sizeof err),
			 0);
	struct pair_selection sel;
	assert_int_equal(pairs_select(&g, &pairs, "stream", &sel), 0);
	/* Matched beats natural for nbody/wordcount; threads differ, but each
	 * side has one configuration per target. */
	assert_int_equal(sel.n_pairs, 3);
	assert_false(sel.inferred);
	assert_string_equal(sel.pairs[0].native->label, "matched 64 MiB");
	assert_string_equal(sel.pairs[0].clr->workload, "wordcount");
	assert_true(sel.pairs[0].clr->rss_target == 64);
	assert_true(sel.pairs[1].native->rss_target == 256 && sel.pairs[1].clr->rss_target == 256);
	assert_string_equal(sel.pairs[2].native->workload, "matmul");
	assert_string_equal(sel.pairs[2].clr->size, "natural");
	pair_selection_free(&sel);
	/* In file mode matmul has no partner: everything is pooled. */
	assert_int_equal(pairs_select(&g, &pairs, "file", &sel), 0);
	assert_int_equal(sel.n_pairs, 0);
	assert_int_equal(sel.n_native, 1);
	assert_int_equal(sel.n_clr, 0);
	pair_selection_free(&sel);
	pairs_free(&pairs);
	groups_free(&g);
	results_free(&r);
}

/* Per phase, the CLR workload's time is FACTOR[phase] times the native's. */
static void make_run(struct results *r, const double factor[PHASE_COUNT], size_t n, uint64_t seed)
{
	static const double native_us[PHASE_COUNT] = { 40, 30000, 32000, 45000, 900, 77000, 79000 };
	static const char *const pair[2][2] = { { "matmul", "native" }, { "recordstore", "clr" } };
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	assert_non_null(f);
	fputs("workload,class,size,mode,rss_mib,repetition,suspend_us,checkpoint_us,transfer_us,as_restore_us,"
	      "ctx_restore_us,downtime_us,total_us,status,reason\n",
	      f);
	struct rng rng;
	rng_seed(&rng, seed);
	for (int w = 0; w < 2; w++)
		for (size_t i = 0; i < n; i++) {
			fprintf(f, "%s,%s,matched,stream,64,%zu", pair[w][0], pair[w][1], i + 1);
			for (int p = 0; p < PHASE_COUNT; p++)
				fprintf(f, ",%.0f", native_us[p] * (w ? factor[p] : 1) * exp(0.05 * rng_normal(&rng)));
			fputs(",ok,\n", f);
		}
	fputs("matmul,native,matched,stream,64,99,,,,,,,,failed,lost\n", f);
	assert_int_equal(fclose(f), 0);
	char err[256];
	assert_int_equal(results_parse("run.csv", text, len, r, err, sizeof err), 0);
	free(text);
}

static char *claims_text(const struct results *r, const struct pair_list *pairs)
{
	struct group_set g;
	assert_int_equal(groups_build(r, &g), 0);
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	assert_non_null(f);
	assert_int_equal(report_claims(f, r, &g, pairs, 1), 0);
	assert_int_equal(fclose(f), 0);
	groups_free(&g);
	return text;
}

/* The sentence on PHASE: its ratio, and its verdict into VERDICT. */
static double claim_of(const char *text, const char *phase, char *verdict, size_t len)
{
	char start[64];
	snprintf(start, sizeof start, "- **%s** (study: ", phase);
	const char *line = strstr(text, start);
	assert_non_null(line);
	const char *eq = strstr(line, "CLR/native = ");
	assert_non_null(eq);
	double ratio = strtod(eq + strlen("CLR/native = "), NULL);
	const char *v = strstr(eq, "— **");
	assert_non_null(v);
	v += strlen("— **");
	const char *end = strstr(v, "**");
	assert_non_null(end);
	snprintf(verdict, len, "%.*s", (int)(end - v), v);
	return ratio;
}

static void assert_claim(const char *text, const char *phase, double ratio, const char *verdict)
{
	char found[32];
	double r = claim_of(text, phase, found, sizeof found);
	if (fabs(r - ratio) > 0.1 * ratio)
		fail_msg("%s: ratio %.2f, expected about %.2f", phase, r, ratio);
	assert_string_equal(found, verdict);
}

static void test_the_study_reproduced(void **state)
{
	(void)state;
	static const double study[PHASE_COUNT] = { 1, 2, 1, 2, 1, 1.8, 1.8 };
	struct results r;
	make_run(&r, study, 30, 5);
	struct pair_list pairs;
	char err[64];
	assert_int_equal(pairs_parse("native/matmul clr/recordstore\n", &pairs, err, sizeof err), 0);
	char *text = claims_text(&r, &pairs);
	assert_non_null(strstr(text, "1 matched pair; pooled = geometric mean"));
	assert_non_null(strstr(text, "| CLR / native | n (CLR, native) | suspend | checkpoint | transfer | as_restore | "
				     "ctx_restore | downtime | total |\n"));
	assert_non_null(strstr(text, "| the study |  | ≈1× | ≈2× | (none) | ≈2× | ≈1× | (none) | (none) |\n"));
	assert_non_null(strstr(text, "| matmul / recordstore (matched) | 30, 30 | "));
	assert_non_null(strstr(text, "| verdict |  | holds | holds |  | holds | holds |  |  |\n"));
	assert_claim(text, "suspend", 1, "holds");
	assert_claim(text, "checkpoint", 2, "holds");
	assert_claim(text, "as_restore", 2, "holds");
	assert_claim(text, "ctx_restore", 1, "holds");
	assert_non_null(strstr(text, "**Conclusion (stream mode, matched size):** the study's finding holds here"));
	free(text);
	pairs_free(&pairs);
	results_free(&r);
}

static void test_a_disagreement_is_said_plainly(void **state)
{
	(void)state;
	/* Checkpoint 3.5x, suspend 2x: both outside their bands. */
	static const double other[PHASE_COUNT] = { 2, 3.5, 1, 2, 1, 2.5, 2.5 };
	struct results r;
	make_run(&r, other, 30, 6);
	/* No pairs list: the one native and one CLR workload are the pair. */
	char *text = claims_text(&r, NULL);
	assert_non_null(strstr(text, "No listed pair is in the data; the only native and the only CLR workload of "
				     "the mode are taken as a pair."));
	assert_non_null(strstr(text, "| matmul / recordstore (matched) | 30, 30 | "));
	assert_claim(text, "suspend", 2, "disagrees");
	assert_claim(text, "checkpoint", 3.5, "disagrees");
	assert_claim(text, "as_restore", 2, "holds");
	assert_claim(text, "ctx_restore", 1, "holds");
	assert_non_null(strstr(text, "**disagrees**: the CLR process takes relatively longer here"));
	assert_non_null(strstr(text, "**Conclusion (stream mode, matched size):** the data disagrees with the study on suspend, "
				     "checkpoint; 2 of the 4 claims hold."));
	free(text);
	results_free(&r);
}

static void test_too_few_migrations_are_inconclusive(void **state)
{
	(void)state;
	/* Context restore at 1.25x sits on the band's edge. */
	static const double edge[PHASE_COUNT] = { 1, 2, 1, 2, 1.25, 1.8, 1.8 };
	struct results r;
	make_run(&r, edge, 30, 7);
	char *text = claims_text(&r, NULL);
	assert_claim(text, "ctx_restore", 1.25, "inconclusive");
	assert_non_null(strstr(text, "not settled: 3 of the 4 claims hold and none is contradicted; 1 is inconclusive."));
	free(text);
	results_free(&r);
}

static void test_meta_lines(void **state)
{
	(void)state;
	char path[] = "/tmp/test_harness_meta.XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	static const char meta[] = "# written by the run\nmachine=Debian 12, 2 vCPU\nbinmig=9778b02\nnot a pair\n"
				   "options=--reps 30|--mode both\n";
	assert_int_equal(write(fd, meta, sizeof meta - 1), (ssize_t)(sizeof meta - 1));
	close(fd);
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	report_meta(f, path);
	report_meta(f, "/nonexistent/meta.txt");
	fclose(f);
	unlink(path);
	assert_string_equal(text, "| key | value |\n| --- | --- |\n| machine | Debian 12, 2 vCPU |\n"
				  "| binmig | 9778b02 |\n| options | --reps 30\\|--mode both |\n\n"
				  "No meta.txt beside the results: machine and version unknown.\n\n");
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_summary_of_a_phase),
		cmocka_unit_test(test_milliseconds_precision_follows_magnitude),
		cmocka_unit_test(test_claim_bands),
		cmocka_unit_test(test_pairs_file),
		cmocka_unit_test(test_pairs_per_setting),
		cmocka_unit_test(test_the_study_reproduced),
		cmocka_unit_test(test_a_disagreement_is_said_plainly),
		cmocka_unit_test(test_too_few_migrations_are_inconclusive),
		cmocka_unit_test(test_meta_lines),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
