/* harness-analyze: statistics, regression comparison, figures and report
 * of the harness's results CSVs (docs/harness.md). */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ab.h"
#include "compare.h"
#include "meta.h"
#include "pairs.h"
#include "paths.h"
#include "plot.h"
#include "report.h"
#include "results.h"
#include "stats.h"
#include "summary.h"

enum exit_code {
	EXIT_DONE = 0,
	EXIT_REGRESSION = 1,
	EXIT_BAD_INPUT = 2,
	EXIT_NO_GNUPLOT = 3,
	EXIT_FAILED = 4,
};

static const char usage_text[] =
	"usage: harness-analyze COMMAND ...\n"
	"  summary RESULTS.csv [-o SUMMARY.csv] [--seed N]\n"
	"      statistics per configuration (workload, class, size, threads, compression, mode)\n"
	"      and phase, over the successful migrations\n"
	"  ab RESULTS.csv [--threshold PCT]\n"
	"      the A/B run of harness ab: per phase and configuration, the ratio new/base over\n"
	"      interleaved blocks with its interval; exit 1 on a regression\n"
	"  compare BASELINE.csv NEW.csv [--threshold PCT] [--seed N] [--normalize copy]\n"
	"      ratio of medians NEW/BASELINE per configuration and phase, after warnings on how the\n"
	"      two runs' machines and options differ (their meta.txt); exit 1 on a regression\n"
	"  plot RESULTS.csv [-o DIR] [--mode MODE] [--pairs FILE] [--plots DIR]\n"
	"      figures (PNG, SVG, PDF) in DIR, default the CSV's directory + /figures\n"
	"  report RESULTS.csv [-o REPORT.md] [--mode MODE] [--pairs FILE] [--plots DIR] [--seed N]\n"
	"      Markdown report, default the CSV's directory + /report.md\n"
	"options: --seed N (bootstrap seed, default 1); --threshold PCT (default 10); --normalize copy\n"
	"  (scale NEW's times by the two runs' memory-copy calibration, calib_copy_gbps in meta.txt);\n"
	"  --mode MODE (the figures' mode, default stream if present); --pairs FILE (native/CLR\n"
	"  pairs, default workloads/pairs of the source tree); --plots DIR (the gnuplot scripts)\n"
	"exit: 0 done, 1 regression, 2 bad input or usage, 3 gnuplot not found, 4 failure\n";

struct args {
	const char *command;
	const char *positional[2];
	size_t n_positional;
	const char *out, *mode, *pairs, *plots, *normalize;
	uint64_t seed;
	double threshold;
	bool threshold_given, seed_given;
};

__attribute__((format(printf, 1, 2))) static int bad(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("harness-analyze: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	return EXIT_BAD_INPUT;
}

static int parse_seed(const char *text, uint64_t *seed)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(text, &end, 0);
	if (errno || end == text || *end || text[0] == '-')
		return -EINVAL;
	*seed = v;
	return 0;
}

static int parse_threshold(const char *text, double *fraction)
{
	char *end;
	errno = 0;
	double pct = strtod(text, &end);
	if (*end == '%')
		end++;
	if (errno || end == text || *end || !(pct >= 0 && pct < 100))
		return -EINVAL;
	*fraction = pct / 100;
	return 0;
}

/* Options take their value as the next argument or after '='. */
static int parse_args(int argc, char **argv, struct args *a)
{
	*a = (struct args){ .command = argv[1], .seed = 1, .threshold = COMPARE_DEFAULT_THRESHOLD };
	for (int i = 2; i < argc; i++) {
		const char *arg = argv[i];
		if (arg[0] != '-' || arg[1] == '\0') {
			if (a->n_positional == 2)
				return bad("%s: too many arguments: %s", a->command, arg);
			a->positional[a->n_positional++] = arg;
			continue;
		}
		static const char *const names[] = { "-o",      "--seed",  "--threshold", "--mode",
						     "--pairs", "--plots", "--normalize" };
		const char *value = NULL;
		size_t which = sizeof names / sizeof names[0];
		for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
			size_t len = strlen(names[k]);
			if (strcmp(arg, names[k]) == 0) {
				if (i + 1 >= argc)
					return bad("%s needs a value", names[k]);
				value = argv[++i];
				which = k;
				break;
			}
			if (strncmp(arg, names[k], len) == 0 && arg[len] == '=') {
				value = arg + len + 1;
				which = k;
				break;
			}
		}
		switch (which) {
		case 0: a->out = value; break;
		case 1:
			if (parse_seed(value, &a->seed))
				return bad("--seed: not a non-negative integer: %s", value);
			a->seed_given = true;
			break;
		case 2:
			if (parse_threshold(value, &a->threshold))
				return bad("--threshold: not a percentage in [0, 100): %s", value);
			a->threshold_given = true;
			break;
		case 3: a->mode = value; break;
		case 4: a->pairs = value; break;
		case 5: a->plots = value; break;
		case 6: a->normalize = value; break;
		default: return bad("%s: unknown option %s (see harness-analyze --help)", a->command, arg);
		}
	}
	return 0;
}

/* Which options each command takes. */
static int check_options(const struct args *a, size_t positional, bool out, bool seed, bool threshold, bool figures)
{
	if (a->n_positional != positional)
		return bad("%s takes %zu file argument%s (see harness-analyze --help)", a->command, positional,
			   positional > 1 ? "s" : "");
	if ((a->out && !out) || (a->seed_given && !seed) || (a->threshold_given && !threshold) ||
	    ((a->mode || a->pairs || a->plots) && !figures) ||
	    (a->normalize && strcmp(a->command, "compare")))
		return bad("%s: an option it does not take was given (see harness-analyze --help)", a->command);
	return 0;
}

static int load(const char *path, struct results *r)
{
	char err[1024];
	if (results_load(path, r, err, sizeof err))
		return bad("%s", err);
	return 0;
}

static int require_ok_rows(const struct results *r)
{
	if (r->n == 0)
		return bad("%s: no migrations (only a header)", r->path);
	if (r->n_ok == 0)
		return bad("%s: no successful migrations (%zu failed)", r->path, r->n_failed);
	return 0;
}

static int command_summary(const struct args *a)
{
	int rc = check_options(a, 1, true, true, false, false);
	struct results r;
	if (rc || (rc = load(a->positional[0], &r)))
		return rc;
	struct group_set g = { 0 };
	struct summary_set s = { 0 };
	rc = require_ok_rows(&r);
	if (!rc && (groups_build(&r, &g) || summary_build(&r, &g, a->seed, &s)))
		rc = bad("out of memory");
	if (!rc) {
		printf("%s: %zu migrations, %zu ok, %zu failed; times in ms, intervals 95%%\n\n", r.path, r.n, r.n_ok,
		       r.n_failed);
		summary_print_text(stdout, &s);
	}
	if (!rc && a->out) {
		FILE *f = fopen(a->out, "w");
		if (!f || summary_write_csv(f, &s) || fclose(f)) {
			fprintf(stderr, "harness-analyze: cannot write %s: %s\n", a->out, strerror(errno));
			rc = EXIT_FAILED;
		}
	}
	summary_set_free(&s);
	groups_free(&g);
	results_free(&r);
	return rc;
}

/* The factor NEW's times are scaled by, from the calibration NAME that
 * both runs measured: a machine that copies memory half as fast is taken
 * to need twice the time. */
static int normalization(const char *name, const struct meta *base, const char *base_name, const struct meta *fresh,
			 const char *fresh_name, double *scale, char *note, size_t notelen, char *err, size_t errlen)
{
	size_t k = 0;
	while (k < META_CALIBRATIONS && strcmp(meta_calibration_names[k], name))
		k++;
	if (k == META_CALIBRATIONS) {
		snprintf(err, errlen, "--normalize %s: no such calibration (there is: copy)", name);
		return -EINVAL;
	}
	const char *key = meta_calibration_keys[k];
	double b = meta_number(base, key), f = meta_number(fresh, key);
	if (!(b > 0) || !(f > 0)) {
		snprintf(err, errlen, "--normalize %s: %s has no %s in its meta.txt", name,
			 !(b > 0) ? base_name : fresh_name, key);
		return -EINVAL;
	}
	*scale = f / b;
	snprintf(note, notelen,
		 "Normalised by the calibration `%s` (%s: %.3g in the baseline, %.3g in the new run): the new run's "
		 "times are multiplied by %.3f before the comparison.",
		 name, key, b, f, *scale);
	return 0;
}

static int command_ab(const struct args *a)
{
	int rc = check_options(a, 1, false, false, true, false);
	struct results r;
	if (rc || (rc = load(a->positional[0], &r)))
		return rc;
	struct ab_options o = { .threshold = a->threshold, .level = STATS_LEVEL };
	char err[2048];
	enum compare_outcome outcome = ab_results(&r, &o, stdout, err, sizeof err);
	if (outcome == COMPARE_BAD_INPUT)
		bad("%s", err);
	results_free(&r);
	return (int)outcome;
}

static int command_compare(const struct args *a)
{
	int rc = check_options(a, 2, false, true, true, false);
	if (rc)
		return rc;
	struct results base, fresh;
	if ((rc = load(a->positional[0], &base)))
		return rc;
	if ((rc = load(a->positional[1], &fresh))) {
		results_free(&base);
		return rc;
	}
	struct compare_options o = { .threshold = a->threshold, .seed = a->seed, .resamples = STATS_RESAMPLES };
	struct meta base_meta, fresh_meta;
	meta_load_beside(base.path, &base_meta);
	meta_load_beside(fresh.path, &fresh_meta);
	char note[512], err[2048];
	bool warned = meta_warn_differences(stdout, &base_meta, base.path, &fresh_meta, fresh.path) > 0;
	enum compare_outcome outcome = COMPARE_NO_REGRESSION;
	if (a->normalize) {
		if (normalization(a->normalize, &base_meta, base.path, &fresh_meta, fresh.path, &o.scale, note, sizeof note,
				  err, sizeof err))
			outcome = COMPARE_BAD_INPUT;
		else
			o.scale_note = note;
	}
	if (outcome == COMPARE_NO_REGRESSION) {
		if (warned)
			fputc('\n', stdout);
		outcome = compare_results(&base, &fresh, &o, stdout, err, sizeof err);
	}
	if (outcome == COMPARE_BAD_INPUT)
		bad("%s", err);
	meta_free(&base_meta);
	meta_free(&fresh_meta);
	results_free(&base);
	results_free(&fresh);
	return (int)outcome;
}

/* The pairs: the file given, else workloads/pairs of the source tree, else
 * none (pairs are then inferred where the data allows). */
static int load_pairs(const struct args *a, struct pair_list *pairs, char *source, size_t len)
{
	char err[512], root[PATH_MAX];
	*pairs = (struct pair_list){ 0 };
	source[0] = '\0';
	if (a->pairs) {
		if (pairs_load(a->pairs, pairs, err, sizeof err))
			return bad("%s", err);
		snprintf(source, len, "%s", a->pairs);
		return 0;
	}
	if (find_in_tree("workloads/pairs", root, sizeof root) < 0)
		return 0;
	char path[PATH_MAX + 32];
	snprintf(path, sizeof path, "%s/workloads/pairs", root);
	if (pairs_load(path, pairs, err, sizeof err)) {
		fprintf(stderr, "harness-analyze: warning: %s; going on without pairs\n", err);
		return 0;
	}
	snprintf(source, len, "%s", path);
	return 0;
}

static void default_output(const char *csv, const char *given, const char *name, char *out, size_t len)
{
	if (given) {
		snprintf(out, len, "%s", given);
		return;
	}
	char dir[PATH_MAX];
	directory_of(csv, dir, sizeof dir);
	snprintf(out, len, "%s/%s", dir, name);
}

static int command_plot(const struct args *a)
{
	int rc = check_options(a, 1, true, false, false, true);
	struct results r;
	if (rc || (rc = load(a->positional[0], &r)))
		return rc;
	struct pair_list pairs = { 0 };
	struct group_set g = { 0 };
	char source[PATH_MAX + 32], out_dir[PATH_MAX + 16], err[1024];
	rc = require_ok_rows(&r);
	if (!rc)
		rc = load_pairs(a, &pairs, source, sizeof source);
	if (!rc && groups_build(&r, &g))
		rc = bad("out of memory");
	if (!rc) {
		default_output(a->positional[0], a->out, "figures", out_dir, sizeof out_dir);
		struct plot_options o = { .out_dir = out_dir, .plots_dir = a->plots, .mode = a->mode, .pairs = &pairs };
		rc = (int)plot_results(&r, &g, &o, err, sizeof err);
		if (rc)
			fprintf(stderr, "harness-analyze: %s\n", err);
		else
			printf("figures in %s\n", out_dir);
	}
	groups_free(&g);
	pairs_free(&pairs);
	results_free(&r);
	return rc;
}

static int command_report(const struct args *a)
{
	int rc = check_options(a, 1, true, true, false, true);
	struct results r;
	if (rc || (rc = load(a->positional[0], &r)))
		return rc;
	struct pair_list pairs = { 0 };
	char source[PATH_MAX + 32], out[PATH_MAX + 16], err[1024];
	if (r.n == 0)
		rc = bad("%s: no migrations (only a header)", r.path);
	if (!rc)
		rc = load_pairs(a, &pairs, source, sizeof source);
	if (!rc) {
		default_output(a->positional[0], a->out, "report.md", out, sizeof out);
		struct report_options o = { .csv_path = a->positional[0], .report_path = out, .plots_dir = a->plots,
					    .mode = a->mode, .pairs = &pairs,
					    .pairs_source = source[0] ? source : NULL, .seed = a->seed };
		rc = report_write(&r, &o, err, sizeof err);
		if (rc)
			fprintf(stderr, "harness-analyze: %s\n", err);
		else
			printf("report in %s\n", out);
	}
	pairs_free(&pairs);
	results_free(&r);
	return rc;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fputs(usage_text, stderr);
		return EXIT_BAD_INPUT;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
		fputs(usage_text, stdout);
		return EXIT_DONE;
	}
	struct args a;
	int rc = parse_args(argc, argv, &a);
	if (rc)
		return rc;
	if (!strcmp(a.command, "summary"))
		return command_summary(&a);
	if (!strcmp(a.command, "compare"))
		return command_compare(&a);
	if (!strcmp(a.command, "ab"))
		return command_ab(&a);
	if (!strcmp(a.command, "plot"))
		return command_plot(&a);
	if (!strcmp(a.command, "report"))
		return command_report(&a);
	return bad("unknown command %s (see harness-analyze --help)", a.command);
}
