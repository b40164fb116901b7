#include "ab.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "stats.h"
#include "summary.h"
#include "table.h"

enum side { SIDE_BASE, SIDE_NEW, SIDE_NONE };

static enum side side_of(const struct migration *m)
{
	if (!strcmp(m->build, "base"))
		return SIDE_BASE;
	if (!strcmp(m->build, "new"))
		return SIDE_NEW;
	return SIDE_NONE;
}

size_t ab_block_log_ratios(const struct results *r, const struct group *g, enum phase phase, double *d)
{
	long last = 0;
	for (size_t i = 0; i < g->n; i++)
		if (r->rows[g->members[i]].repetition > last)
			last = r->rows[g->members[i]].repetition;
	size_t nblocks = (size_t)(last + AB_BLOCK - 1) / AB_BLOCK;
	/* Per block and side: the sum of log times and how many. */
	double *sum = calloc(2 * (nblocks ? nblocks : 1), sizeof *sum);
	size_t *count = calloc(2 * (nblocks ? nblocks : 1), sizeof *count);
	size_t n = 0;
	if (!sum || !count)
		goto out;
	for (size_t i = 0; i < g->n; i++) {
		const struct migration *m = &r->rows[g->members[i]];
		enum side s = side_of(m);
		double t = m->phase_us[phase];
		if (s == SIDE_NONE || m->repetition < 1 || !(t > 0))
			continue;
		size_t b = (size_t)(m->repetition - 1) / AB_BLOCK;
		sum[2 * b + s] += log(t);
		count[2 * b + s]++;
	}
	for (size_t b = 0; b < nblocks; b++)
		if (count[2 * b + SIDE_BASE] && count[2 * b + SIDE_NEW])
			d[n++] = sum[2 * b + SIDE_NEW] / (double)count[2 * b + SIDE_NEW] -
				 sum[2 * b + SIDE_BASE] / (double)count[2 * b + SIDE_BASE];
out:
	free(sum);
	free(count);
	return n;
}

void ab_estimate(const double *d, size_t n, double level, double threshold, struct ab_estimate *e)
{
	*e = (struct ab_estimate){ .blocks = n, .ratio = NAN, .lo = NAN, .hi = NAN };
	if (stats_log_ratio_ci(d, n, level, &e->ratio, &e->lo, &e->hi))
		return;
	e->judged = true;
	e->verdict = compare_decide(e->lo, e->hi, threshold);
}

size_t ab_phase_estimate(const struct results *r, const struct group_set *gs, enum phase phase,
			 const struct ab_options *o, double *d, struct ab_estimate *e)
{
	size_t n = 0;
	for (size_t i = 0; i < gs->n; i++)
		n += ab_block_log_ratios(r, &gs->groups[i], phase, d + n);
	ab_estimate(d, n, o->level, o->threshold, e);
	return n;
}

/* The cells of an estimate: blocks, ratio, interval, verdict. */
struct estimate_cells {
	char blocks[24], ratio[32], ci[64];
	const char *verdict;
};

static void estimate_cells(struct estimate_cells *c, const struct ab_estimate *e)
{
	char *ratio = c->ratio, *ci = c->ci;
	const size_t len = sizeof c->ratio;
	const char **verdict = &c->verdict;
	snprintf(c->blocks, sizeof c->blocks, "%zu", e->blocks);
	if (!e->judged) {
		snprintf(ratio, len, "-");
		snprintf(ci, sizeof c->ci, "-");
		*verdict = e->blocks ? "too few blocks" : "no data";
		return;
	}
	snprintf(ratio, len, "%.3f", e->ratio);
	snprintf(ci, sizeof c->ci, "[%.3f, %.3f]", e->lo, e->hi);
	*verdict = verdict_name(e->verdict);
}

struct tally {
	size_t judged, regressions, improvements;
};

static void count(struct tally *t, const struct ab_estimate *e)
{
	t->judged += e->judged;
	t->regressions += e->judged && e->verdict == VERDICT_REGRESSION;
	t->improvements += e->judged && e->verdict == VERDICT_IMPROVEMENT;
}

/* A row of T: its first LEAD cells given, then the estimate's four. */
static void add_estimate_row(struct text_table *t, const char **cells, size_t lead, const struct ab_estimate *e,
			     struct tally *tally)
{
	struct estimate_cells c;
	estimate_cells(&c, e);
	count(tally, e);
	cells[lead] = c.blocks;
	cells[lead + 1] = c.ratio;
	cells[lead + 2] = c.ci;
	cells[lead + 3] = c.verdict;
	table_add(t, cells);
}

/* Per phase, every configuration's blocks together. */
static int phase_table(const struct results *r, const struct group_set *gs, const struct ab_options *o,
		       double *d, FILE *out, struct tally *tally, size_t *blocks_seen)
{
	struct text_table t;
	static const char *const header[] = { "phase", "blocks", "ratio new/base", "95% CI", "verdict" };
	if (table_init(&t, 5, header, "lrrrl"))
		return -ENOMEM;
	for (int p = 0; p < PHASE_COUNT; p++) {
		struct ab_estimate e;
		size_t n = ab_phase_estimate(r, gs, (enum phase)p, o, d, &e);
		if (n > *blocks_seen)
			*blocks_seen = n;
		const char *cells[5] = { phase_names[p] };
		add_estimate_row(&t, cells, 1, &e, tally);
	}
	return table_flush_markdown(out, &t);
}

static int configuration_table(const struct results *r, const struct group_set *gs, double level,
			       const struct ab_options *o, double *d, FILE *out, struct tally *tally)
{
	struct text_table t;
	char ci_name[48];
	snprintf(ci_name, sizeof ci_name, "%.4g%% CI", level * 100);
	const char *header[] = { "workload", "class", "size", "mode", "phase", "blocks", "ratio", ci_name, "verdict" };
	if (table_init(&t, 9, header, "lllllrrrl"))
		return -ENOMEM;
	for (size_t i = 0; i < gs->n; i++) {
		const struct group *g = &gs->groups[i];
		for (int p = 0; p < PHASE_COUNT; p++) {
			size_t n = ab_block_log_ratios(r, g, (enum phase)p, d);
			if (!n)
				continue;
			struct ab_estimate e;
			ab_estimate(d, n, level, o->threshold, &e);
			/* Only the changes: with a few blocks each, the unflagged
			 * rows are long and say nothing. */
			if (!e.judged || e.verdict == VERDICT_NO_CLEAR_CHANGE) {
				count(tally, &e);
				continue;
			}
			const char *cells[9] = { g->workload, class_label(g->class_), g->label, g->mode, phase_names[p] };
			add_estimate_row(&t, cells, 5, &e, tally);
		}
	}
	if (t.nrows <= 1) { /* the header only */
		table_free(&t);
		fputs("No configuration's phase changed clearly.\n", out);
		return 0;
	}
	return table_flush_markdown(out, &t);
}

enum compare_outcome ab_results(const struct results *r, const struct ab_options *o, FILE *out, char *err,
				size_t errlen)
{
	size_t with_build = 0;
	for (size_t i = 0; i < r->n; i++)
		with_build += side_of(&r->rows[i]) != SIDE_NONE;
	if (!with_build) {
		snprintf(err, errlen, "%s: no row names its build (base or new): not an A/B run (harness ab)", r->path);
		return COMPARE_BAD_INPUT;
	}
	struct group_set gs;
	if (groups_build(r, &gs)) {
		snprintf(err, errlen, "out of memory");
		return COMPARE_BAD_INPUT;
	}
	double *d = malloc((r->n ? r->n : 1) * sizeof *d);
	enum compare_outcome outcome = COMPARE_NO_REGRESSION;
	struct tally by_phase = { 0 }, by_configuration = { 0 };
	size_t blocks = 0;
	char *text = NULL;
	size_t len = 0;
	/* The tables are written aside first: without a block to judge, only the reason is printed. */
	FILE *tables = open_memstream(&text, &len);
	double config_level = gs.n > 1 ? 1 - (1 - o->level) / (double)gs.n : o->level;
	int rc = d && tables ? 0 : -ENOMEM;
	if (!rc) {
		fputs("Per phase, all configurations together:\n\n", tables);
		rc = phase_table(r, &gs, o, d, tables, &by_phase, &blocks);
	}
	if (!rc) {
		fprintf(tables, "\nPer configuration, the phases that changed clearly (intervals at %.4g%%: 95%% shared "
				"among the %zu configuration%s, Bonferroni):\n\n",
			config_level * 100, gs.n, gs.n == 1 ? "" : "s");
		rc = configuration_table(r, &gs, config_level, o, d, tables, &by_configuration);
	}
	if (tables && fclose(tables) && !rc)
		rc = -EIO;
	if (rc) {
		snprintf(err, errlen, "out of memory");
		outcome = COMPARE_BAD_INPUT;
	} else if (blocks == 0) {
		snprintf(err, errlen, "%s: no block of %d migrations has successful migrations of both builds", r->path,
			 AB_BLOCK);
		outcome = COMPARE_BAD_INPUT;
	} else {
		size_t regressions = by_phase.regressions + by_configuration.regressions;
		fprintf(out, "A/B comparison in `%s`: ratio = new / base, the geometric mean over blocks of %d "
			     "interleaved migrations (ABBA or BAAB) of the per-block ratio, with a Student-t interval "
			     "on the log ratios; threshold %g%%.\n\n",
			r->path, AB_BLOCK, o->threshold * 100);
		fputs(text, out);
		fprintf(out, "\nPer phase: %zu regression%s, %zu improvement%s among %zu phases; per configuration: %zu "
			     "regression%s, %zu improvement%s among %zu.\n",
			by_phase.regressions, by_phase.regressions == 1 ? "" : "s", by_phase.improvements,
			by_phase.improvements == 1 ? "" : "s", by_phase.judged, by_configuration.regressions,
			by_configuration.regressions == 1 ? "" : "s", by_configuration.improvements,
			by_configuration.improvements == 1 ? "" : "s", by_configuration.judged);
		fprintf(out, "verdict: %s\n", regressions ? "REGRESSION" : "no regression");
		if (regressions)
			outcome = COMPARE_REGRESSED;
	}
	free(text);
	free(d);
	groups_free(&gs);
	return outcome;
}
