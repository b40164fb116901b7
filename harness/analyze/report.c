#include "report.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "claims.h"
#include "fit.h"
#include "paths.h"
#include "plot.h"
#include "stats.h"
#include "summary.h"
#include "table.h"

void report_meta(FILE *out, const char *meta_path)
{
	FILE *f = fopen(meta_path, "r");
	if (!f) {
		fprintf(out, "No meta.txt beside the results: machine and version unknown.\n\n");
		return;
	}
	struct text_table t;
	static const char *const header[] = { "key", "value" };
	if (table_init(&t, 2, header, "ll") == 0) {
		char *line = NULL;
		size_t cap = 0;
		ssize_t len;
		while ((len = getline(&line, &cap, f)) >= 0) {
			while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
				line[--len] = '\0';
			char *eq = strchr(line, '=');
			if (line[0] == '#' || !eq || eq == line)
				continue;
			*eq = '\0';
			const char *cells[] = { line, eq + 1 };
			table_add(&t, cells);
		}
		free(line);
		if (t.nrows > 1)
			table_print_markdown(out, &t);
		else
			fprintf(out, "`%s` holds no key=value lines.\n", meta_path);
		fputc('\n', out);
	}
	table_free(&t);
	fclose(f);
}

static void report_migrations(FILE *out, const struct results *r)
{
	fprintf(out, "%zu migrations recorded: %zu ok, %zu failed", r->n, r->n_ok, r->n_failed);
	if (r->n)
		fprintf(out, " (%.1f%%)", 100.0 * (double)r->n_failed / (double)r->n);
	fputs(".  Only the successful ones enter the statistics.\n\n", out);
	if (!r->n_failed)
		return;
	fputs("### Failures\n\n", out);
	struct text_table t;
	static const char *const header[] = { "row", "workload", "class", "size", "mode", "repetition", "reason" };
	if (table_init(&t, 7, header, "rllllrl") == 0) {
		for (size_t i = 0; i < r->n; i++) {
			const struct migration *m = &r->rows[i];
			if (m->ok)
				continue;
			char row[24], rep[24];
			snprintf(row, sizeof row, "%zu", m->row);
			snprintf(rep, sizeof rep, "%ld", m->repetition);
			const char *cells[] = { row, m->workload, class_label(m->class_), m->size, m->mode, rep,
						m->reason[0] ? m->reason : "(no reason recorded)" };
			table_add(&t, cells);
		}
		table_print_markdown(out, &t);
	}
	table_free(&t);
	fputc('\n', out);
}

static const char *format_ratio(char *buf, size_t len, const struct ratio_estimate *e)
{
	if (!e->valid)
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, "%.2f [%.2f, %.2f]", e->ratio, e->lo, e->hi);
	return buf;
}

static const char *claim_text(char *buf, size_t len, enum phase p)
{
	double k = claim_expected(p);
	if (k > 0)
		snprintf(buf, len, "≈%g×", k);
	else
		snprintf(buf, len, "(none)");
	return buf;
}

/* One sentence per claimed phase, saying plainly where the data stands. */
static void claim_sentence(FILE *out, enum phase p, const struct ratio_estimate *e, enum claim_verdict v)
{
	double k = claim_expected(p), low, high;
	claim_band(k, &low, &high);
	fprintf(out, "- **%s** (study: ≈%g×): ", phase_names[p], k);
	if (!e->valid) {
		fputs("no data to judge.\n", out);
		return;
	}
	fprintf(out, "CLR/native = %.2f× [%.2f, %.2f] — **%s**", e->ratio, e->lo, e->hi, claim_verdict_name(v));
	switch (v) {
	case CLAIM_HOLDS:
		fprintf(out, ": the whole interval lies within [%.2f, %.2f].\n", low, high);
		break;
	case CLAIM_DISAGREES:
		if (e->hi < low)
			fprintf(out, ": the CLR process is %s than the study found (the whole interval is below %.2f).\n",
				k > 1 ? "relatively faster here" : "faster here", low);
		else
			fprintf(out, ": the CLR process takes %s than the study found (the whole interval is above %.2f).\n",
				k > 1 ? "relatively longer here" : "longer here", high);
		break;
	case CLAIM_INCONCLUSIVE:
		fprintf(out, ": the interval overlaps [%.2f, %.2f] but reaches outside it (the estimate itself lies "
			     "%s the band); more migrations are needed to decide.\n",
			low, high, e->ratio >= low && e->ratio <= high ? "inside" : "outside");
		break;
	case CLAIM_NO_DATA:
		fputs(".\n", out);
		break;
	}
}

static void mode_conclusion(FILE *out, const struct mode_claims *mc)
{
	size_t count[CLAIM_DISAGREES + 1] = { 0 }, claimed = 0;
	char against[160] = "";
	size_t used = 0;
	for (int p = 0; p < PHASE_COUNT; p++) {
		if (claim_expected((enum phase)p) <= 0)
			continue;
		claimed++;
		count[mc->verdict[p]]++;
		if (mc->verdict[p] == CLAIM_DISAGREES && used < sizeof against)
			used += (size_t)snprintf(against + used, sizeof against - used, "%s%s", used ? ", " : "",
						 phase_names[p]);
	}
	fprintf(out, "\n**Conclusion (%s mode, %s size):** ", mc->mode, mc->size);
	if (count[CLAIM_NO_DATA] == claimed)
		fputs("no verdict: this mode lacks successful native or CLR migrations to compare.\n\n", out);
	else if (count[CLAIM_DISAGREES])
		fprintf(out, "the data disagrees with the study on %s; %zu of the %zu claims hold.\n\n", against,
			count[CLAIM_HOLDS], claimed);
	else if (count[CLAIM_HOLDS] == claimed)
		fputs("the study's finding holds here: checkpoint and address-space restore take about twice as long "
		      "for the CLR process, suspend and context restore about the same.\n\n",
		      out);
	else
		fprintf(out, "not settled: %zu of the %zu claims hold and none is contradicted; %zu %s inconclusive%s.\n\n",
			count[CLAIM_HOLDS], claimed, count[CLAIM_INCONCLUSIVE],
			count[CLAIM_INCONCLUSIVE] == 1 ? "is" : "are", count[CLAIM_NO_DATA] ? ", the others lack data" : "");
}

/* "matmul / recordstore (matched 256 MiB)" */
static void pair_name(char *buf, size_t len, const struct matched_pair *p)
{
	snprintf(buf, len, "%s / %s (%s)", p->native->workload, p->clr->workload, p->native->label);
}

static void describe_selection(FILE *out, const struct pair_selection *sel)
{
	if (!sel->n_pairs) {
		fputs("No matched native/CLR pair is in the data: the ratio compares all native with all CLR "
		      "migrations of this mode (ratio of their medians).\n\n",
		      out);
		return;
	}
	if (sel->inferred)
		fputs("No listed pair is in the data; the only native and the only CLR workload of the mode are "
		      "taken as a pair.  ",
		      out);
	fprintf(out, "%zu matched pair%s; pooled = geometric mean of the pairs' ratios, each pair weighing the "
		     "same.\n\n",
		sel->n_pairs, sel->n_pairs == 1 ? "" : "s");
}

/* Rows: the study's factor, each pair, the pooled ratio, the verdict;
 * columns: the phases. */
static int claims_table(FILE *out, const struct mode_claims *mc)
{
	const struct pair_selection *sel = &mc->selection;
	const char *header[2 + PHASE_COUNT] = { "CLR / native", "n (CLR, native)" };
	char align[2 + PHASE_COUNT + 1] = "lr";
	for (int p = 0; p < PHASE_COUNT; p++) {
		header[2 + p] = phase_names[p];
		align[2 + p] = 'r';
	}
	align[2 + PHASE_COUNT] = '\0';
	struct text_table t;
	int rc = table_init(&t, 2 + PHASE_COUNT, header, align);
	char cell[PHASE_COUNT][64], name[256], n[48];
	const char *cells[2 + PHASE_COUNT];
	if (!rc) {
		cells[0] = "the study";
		cells[1] = "";
		for (int p = 0; p < PHASE_COUNT; p++)
			cells[2 + p] = claim_text(cell[p], sizeof cell[p], (enum phase)p);
		table_add(&t, cells);
	}
	for (size_t k = 0; k <= sel->n_pairs && !rc; k++) {
		bool pooled = k == sel->n_pairs;
		const struct ratio_estimate *e = pooled ? mc->pooled : &mc->pairs[k * PHASE_COUNT];
		if (pooled)
			snprintf(name, sizeof name, "%s", sel->n_pairs > 1 ? "**pooled**" : sel->n_pairs ? "" : "**all**");
		else
			pair_name(name, sizeof name, &sel->pairs[k]);
		if (pooled && sel->n_pairs == 1)
			continue; /* the pooled row would repeat the pair */
		snprintf(n, sizeof n, "%zu, %zu", e[PHASE_CHECKPOINT].n_clr, e[PHASE_CHECKPOINT].n_native);
		cells[0] = name;
		cells[1] = n;
		for (int p = 0; p < PHASE_COUNT; p++)
			cells[2 + p] = format_ratio(cell[p], sizeof cell[p], &e[p]);
		table_add(&t, cells);
	}
	if (!rc) {
		cells[0] = "verdict";
		cells[1] = "";
		for (int p = 0; p < PHASE_COUNT; p++)
			cells[2 + p] = claim_expected((enum phase)p) > 0 ? claim_verdict_name(mc->verdict[p]) : "";
		table_add(&t, cells);
		rc = t.error;
	}
	if (!rc)
		table_print_markdown(out, &t);
	table_free(&t);
	return rc;
}

/* One table of every claim judged both ways: rows the claimed phases,
 * columns each mode at each size. */
static void claims_overview(FILE *out, const struct claims *c)
{
	const char *header[1 + MODES_MAX * CLAIM_SIZES + 1] = { "claim" };
	char names[MODES_MAX * CLAIM_SIZES][64], align[2 + MODES_MAX * CLAIM_SIZES] = "l";
	for (size_t m = 0; m < c->n_modes; m++) {
		snprintf(names[m], sizeof names[m], "%s, %s%s", c->modes[m].mode, c->modes[m].size,
			 !strcmp(c->modes[m].size, "natural") ? " (the study's setting)" : " (control)");
		header[1 + m] = names[m];
		align[1 + m] = 'l';
	}
	align[1 + c->n_modes] = '\0';
	struct text_table t;
	if (table_init(&t, 1 + c->n_modes, header, align))
		return;
	for (int p = 0; p < PHASE_COUNT; p++) {
		double k = claim_expected((enum phase)p);
		if (k <= 0)
			continue;
		char claim[64], cell[MODES_MAX * CLAIM_SIZES][80];
		const char *cells[1 + MODES_MAX * CLAIM_SIZES];
		snprintf(claim, sizeof claim, "%s ≈%g×", phase_names[p], k);
		cells[0] = claim;
		for (size_t m = 0; m < c->n_modes; m++) {
			const struct ratio_estimate *e = &c->modes[m].pooled[p];
			if (e->valid)
				snprintf(cell[m], sizeof cell[m], "%.2f× — %s", e->ratio,
					 claim_verdict_name(c->modes[m].verdict[p]));
			else
				snprintf(cell[m], sizeof cell[m], "no data");
			cells[1 + m] = cell[m];
		}
		table_add(&t, cells);
	}
	if (!t.error)
		table_print_markdown(out, &t);
	table_free(&t);
	fputc('\n', out);
}

int report_claims(FILE *out, const struct results *r, const struct group_set *groups,
		  const struct pair_list *pairs, uint64_t seed)
{
	struct claims c;
	int rc = claims_evaluate(r, groups, pairs, seed, &c);
	if (rc)
		return rc;
	double l2, h2, l1, h1;
	claim_band(2, &l2, &h2);
	claim_band(1, &l1, &h1);
	fprintf(out, "The study (two Windows 7 machines) found checkpoint and address-space restore about twice as "
		     "long for the CLR process as for the Win32 one, suspend and context restore about the same.  "
		     "Here each phase's CLR/native ratio of median times is given with its 95%% bootstrap interval "
		     "(%u resamples, seed %llu).  \"About k×\" holds when the whole interval lies within "
		     "[k/%.2f, k×%.2f] ([%.2f, %.2f] for 2×, [%.2f, %.2f] for 1×), disagrees when the whole interval "
		     "lies outside it, and is inconclusive otherwise (docs/harness.md).\n\n",
		STATS_RESAMPLES, (unsigned long long)seed, CLAIM_TOLERANCE, CLAIM_TOLERANCE, l2, h2, l1, h1);
	fputs("Each claim is judged twice.  At **natural size** the native and the CLR workloads run as they are, "
	      "each with its own memory, threads and descriptors: this is the study's setting (a Win32 CPU-bound "
	      "process against a CLR process doing I/O, neither resized).  At **matched resident size** both members "
	      "of a pair are sized to the same resident memory: the control, which removes the difference in memory "
	      "and leaves that of the runtime.  A claim that holds at natural size but not at matched size comes "
	      "from what the CLR process carries, not from how it is migrated (\"Why the phases differ\" below "
	      "fits the times against what was moved).\n\n",
	      out);
	if (!c.n_modes)
		fputs("No successful migrations: nothing to judge.\n\n", out);
	else
		claims_overview(out, &c);
	const char *last_mode = NULL;
	for (size_t m = 0; m < c.n_modes && !rc; m++) {
		const struct mode_claims *mc = &c.modes[m];
		if (!last_mode || strcmp(last_mode, mc->mode))
			fprintf(out, "### %s mode\n\n", mc->mode);
		last_mode = mc->mode;
		fprintf(out, "#### %s\n\n", !strcmp(mc->size, "natural")
						     ? "Natural size: the processes as they are (the study's setting)"
						     : "Matched resident size (the control)");
		describe_selection(out, &mc->selection);
		rc = claims_table(out, mc);
		if (rc)
			break;
		fputc('\n', out);
		for (int p = 0; p < PHASE_COUNT; p++)
			if (claim_expected((enum phase)p) > 0)
				claim_sentence(out, (enum phase)p, &mc->pooled[p], mc->verdict[p]);
		mode_conclusion(out, mc);
	}
	claims_free(&c);
	return rc;
}

/* Where the report links the figures: relative when they sit below the
 * report's directory, as they do by default. */
static void figure_link(char *buf, size_t len, const char *report_dir, const char *figures_dir, const char *name)
{
	size_t n = strlen(report_dir);
	if (strncmp(figures_dir, report_dir, n) == 0 && figures_dir[n] == '/')
		snprintf(buf, len, "%s/%s", figures_dir + n + 1, name);
	else
		snprintf(buf, len, "%s/%s", figures_dir, name);
}

static void report_figures(FILE *out, const char *report_dir, const char *figures_dir, const char *why_missing)
{
	fputs("## Figures\n\n", out);
	if (why_missing) {
		fprintf(out, "Not drawn: %s.\n\n", why_missing);
		return;
	}
	for (int i = 0; i < PLOT_FIGURES; i++) {
		char png[64], path[PATH_MAX + 80], link[PATH_MAX + 80];
		snprintf(png, sizeof png, "%s.png", plot_figure_names[i]);
		snprintf(path, sizeof path, "%s/%s", figures_dir, png);
		if (access(path, R_OK) != 0)
			continue;
		figure_link(link, sizeof link, report_dir, figures_dir, png);
		fprintf(out, "### %s\n\n![%s](%s)\n\n", plot_figure_titles[i], plot_figure_titles[i], link);
		static const char *const others[] = { "svg", "pdf" };
		const char *sep = "Also as ";
		for (size_t k = 0; k < 2; k++) {
			snprintf(path, sizeof path, "%s/%s.%s", figures_dir, plot_figure_names[i], others[k]);
			if (access(path, R_OK) != 0)
				continue;
			snprintf(png, sizeof png, "%s.%s", plot_figure_names[i], others[k]);
			figure_link(link, sizeof link, report_dir, figures_dir, png);
			fprintf(out, "%s[%s](%s)", sep, others[k], link);
			sep = ", ";
		}
		if (strcmp(sep, "Also as ") != 0)
			fputs(".\n\n", out);
	}
}

static void absolute_dir(const char *file, char *dir, size_t len)
{
	char d[PATH_MAX];
	directory_of(file, d, sizeof d);
	if (!realpath(d, dir))
		snprintf(dir, len, "%s", d);
}

int report_write(const struct results *r, const struct report_options *o, char *err, size_t errlen)
{
	struct group_set groups;
	if (groups_build(r, &groups)) {
		snprintf(err, errlen, "out of memory");
		return 4;
	}
	char csv_dir[PATH_MAX], report_dir[PATH_MAX], figures_dir[PATH_MAX + 16], meta[PATH_MAX + 16];
	char study_png[PATH_MAX + 32], why[512];
	const char *why_missing = NULL;
	absolute_dir(o->csv_path, csv_dir, sizeof csv_dir);
	snprintf(figures_dir, sizeof figures_dir, "%s/figures", csv_dir);
	snprintf(meta, sizeof meta, "%s/meta.txt", csv_dir);
	snprintf(study_png, sizeof study_png, "%s/study.png", figures_dir);
	if (!groups.n) {
		why_missing = "no successful migrations";
	} else if (access(study_png, R_OK) != 0) {
		struct plot_options po = { .out_dir = figures_dir, .plots_dir = o->plots_dir, .mode = o->mode,
					   .pairs = o->pairs };
		char plot_err[512];
		if (plot_results(r, &groups, &po, plot_err, sizeof plot_err) != PLOT_DONE) {
			fprintf(stderr, "harness-analyze: report without figures: %s\n", plot_err);
			snprintf(why, sizeof why, "%s", plot_err);
			why_missing = why;
		}
	}

	int rc = 0;
	FILE *out = fopen(o->report_path, "w");
	if (!out) {
		snprintf(err, errlen, "cannot write %s: %s", o->report_path, strerror(errno));
		groups_free(&groups);
		return 4;
	}
	absolute_dir(o->report_path, report_dir, sizeof report_dir);
	fprintf(out, "# Migration benchmark report: %s\n\n", strrchr(csv_dir, '/') ? strrchr(csv_dir, '/') + 1 : csv_dir);
	fprintf(out, "Results: `%s`.  Times in milliseconds; intervals are 95%%.\n\n", o->csv_path);
	fputs("## Machine and version\n\n", out);
	report_meta(out, meta);
	fputs("## Migrations\n\n", out);
	report_migrations(out, r);
	fputs("## The study's claims\n\n", out);
	if (o->pairs_source)
		fprintf(out, "Matched pairs from `%s`.  ", o->pairs_source);
	rc = report_claims(out, r, &groups, o->pairs, o->seed);
	if (!rc) {
		fputs("## Why the phases differ\n\n", out);
		rc = fit_report(out, r, &groups);
	}
	report_figures(out, report_dir, figures_dir, why_missing);
	struct summary_set s;
	if (!rc)
		rc = summary_build(r, &groups, o->seed, &s);
	if (!rc) {
		fputs("## Summary statistics\n\n### Medians per configuration (ms)\n\n", out);
		summary_print_medians_markdown(out, &s);
		fputs("\n### Every configuration and phase\n\n"
		      "Mean with its Student-t interval, median with its bootstrap interval (percentile, "
		      "2000 resamples), outliers beyond Tukey's fences (1.5 IQR) with their row numbers in the CSV "
		      "(1 = the first row after the header).\n\n",
		      out);
		summary_print_markdown(out, &s);
		summary_set_free(&s);
	}
	if (ferror(out) && !rc)
		rc = -EIO;
	if (fclose(out) != 0 && !rc)
		rc = -errno;
	groups_free(&groups);
	if (rc) {
		snprintf(err, errlen, "cannot write %s: %s", o->report_path, strerror(-rc));
		return 4;
	}
	return 0;
}
