#include "compare.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "stats.h"
#include "summary.h"
#include "table.h"

enum verdict compare_decide(double ratio_lo, double ratio_hi, double threshold)
{
	if (ratio_lo > 1 + threshold)
		return VERDICT_REGRESSION;
	if (ratio_hi < 1 - threshold)
		return VERDICT_IMPROVEMENT;
	return VERDICT_NO_CLEAR_CHANGE;
}

const char *verdict_name(enum verdict v)
{
	switch (v) {
	case VERDICT_REGRESSION:
		return "REGRESSION";
	case VERDICT_IMPROVEMENT:
		return "improvement";
	case VERDICT_NO_CLEAR_CHANGE:
		break;
	}
	return "no clear change";
}

/* A ", "-separated list of names for a message, cut with "..." when long. */
struct name_list {
	char text[768];
	size_t used, count;
	bool full;
};

static void list_add(struct name_list *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void list_add(struct name_list *l, const char *fmt, ...)
{
	l->count++;
	if (l->full)
		return;
	char item[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(item, sizeof item, fmt, ap);
	va_end(ap);
	const char *sep = l->used ? ", " : "";
	if (l->used + strlen(sep) + strlen(item) + sizeof ", ..." > sizeof l->text) {
		l->used += (size_t)snprintf(l->text + l->used, sizeof l->text - l->used, "%s...", sep);
		l->full = true;
		return;
	}
	l->used += (size_t)snprintf(l->text + l->used, sizeof l->text - l->used, "%s%s", sep, item);
}

static bool has_workload(const struct group_set *set, const char *workload)
{
	for (size_t i = 0; i < set->n; i++)
		if (strcmp(set->groups[i].workload, workload) == 0)
			return true;
	return false;
}

/* Workloads of A missing from B, each named once. */
static void missing_workloads(const struct group_set *a, const struct group_set *b, struct name_list *l)
{
	for (size_t i = 0; i < a->n; i++) {
		const char *w = a->groups[i].workload;
		bool seen = false;
		for (size_t k = 0; k < i && !seen; k++)
			seen = strcmp(a->groups[k].workload, w) == 0;
		if (!seen && !has_workload(b, w))
			list_add(l, "%s", w);
	}
}

static void missing_configurations(const struct group_set *a, const struct group_set *b, struct name_list *l)
{
	for (size_t i = 0; i < a->n; i++) {
		const struct group *g = &a->groups[i];
		if (!groups_find_like(b, g))
			list_add(l, "%s (%s, %s, %s)", g->workload, g->class_, g->label, g->mode);
	}
}

__attribute__((format(printf, 3, 4))) static enum compare_outcome bad_input(char *err, size_t errlen,
									      const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return COMPARE_BAD_INPUT;
}

/* "only in A: x, y; only in B: z" for the message naming what differs. */
static void describe_difference(char *buf, size_t len, const char *a_name, const struct name_list *only_a,
				const char *b_name, const struct name_list *only_b)
{
	size_t used = 0;
	if (only_a->count)
		used = (size_t)snprintf(buf, len, "only in %s: %s", a_name, only_a->text);
	if (only_b->count && used < len)
		snprintf(buf + used, len - used, "%sonly in %s: %s", used ? "; " : "", b_name, only_b->text);
}

/* Checks that the two runs can be compared configuration by configuration. */
static enum compare_outcome check_same_shape(const struct results *base, const struct group_set *bg,
					     const struct results *new_run, const struct group_set *ng, char *err,
					     size_t errlen)
{
	const struct results *runs[] = { base, new_run };
	for (int i = 0; i < 2; i++) {
		if (!runs[i]->n)
			return bad_input(err, errlen, "%s: no migrations", runs[i]->path);
		if (!runs[i]->n_ok)
			return bad_input(err, errlen, "%s: no successful migrations (%zu failed)", runs[i]->path,
					 runs[i]->n_failed);
	}
	struct name_list only_base = { 0 }, only_new = { 0 };
	char what[2048];
	missing_workloads(bg, ng, &only_base);
	missing_workloads(ng, bg, &only_new);
	bool any_common = false;
	for (size_t i = 0; i < bg->n && !any_common; i++)
		any_common = has_workload(ng, bg->groups[i].workload);
	if (!any_common)
		return bad_input(err, errlen, "no common workloads: %s has %s; %s has %s", base->path, only_base.text,
				 new_run->path, only_new.text);
	if (only_base.count || only_new.count) {
		describe_difference(what, sizeof what, base->path, &only_base, new_run->path, &only_new);
		return bad_input(err, errlen, "workloads present in one file only: %s", what);
	}
	missing_configurations(bg, ng, &only_base);
	missing_configurations(ng, bg, &only_new);
	if (only_base.count || only_new.count) {
		describe_difference(what, sizeof what, base->path, &only_base, new_run->path, &only_new);
		return bad_input(err, errlen, "configurations (workload, class, size, mode) in one file only: %s", what);
	}
	return COMPARE_NO_REGRESSION;
}

struct phase_comparison {
	size_t n_base, n_new;
	double base_median, new_median, ratio, lo, hi;
	bool judged;
	enum verdict verdict;
};

static int compare_phase(const struct results *base, const struct group *bg, const struct results *new_run,
			 const struct group *ng, enum phase p, const struct compare_options *o, double *bv, double *nv,
			 struct phase_comparison *c)
{
	*c = (struct phase_comparison){ .base_median = NAN, .new_median = NAN, .ratio = NAN, .lo = NAN, .hi = NAN };
	c->n_base = group_phase_values(base, bg, p, bv, NULL);
	c->n_new = group_phase_values(new_run, ng, p, nv, NULL);
	if (o->scale > 0)
		for (size_t i = 0; i < c->n_new; i++)
			nv[i] *= o->scale;
	if (!c->n_base || !c->n_new)
		return 0;
	int rc = stats_median(bv, c->n_base, &c->base_median);
	if (rc == 0)
		rc = stats_median(nv, c->n_new, &c->new_median);
	if (rc)
		return rc;
	if (c->base_median > 0)
		c->ratio = c->new_median / c->base_median;
	rc = stats_bootstrap_ratio_ci(nv, c->n_new, bv, c->n_base, o->resamples, o->seed, STATS_LEVEL, &c->lo, &c->hi);
	if (rc == -ERANGE) /* every resampled baseline median is 0: no ratio */
		return 0;
	if (rc)
		return rc;
	c->judged = !isnan(c->ratio);
	c->verdict = c->judged ? compare_decide(c->lo, c->hi, o->threshold) : VERDICT_NO_CLEAR_CHANGE;
	return 0;
}

static void add_row(struct text_table *t, const struct group *g, enum phase p, const struct phase_comparison *c)
{
	char base[48], fresh[48], ratio[32], ci[64], a[32], b[32];
	snprintf(base, sizeof base, "%s (%zu)", format_ms(a, sizeof a, c->base_median), c->n_base);
	snprintf(fresh, sizeof fresh, "%s (%zu)", format_ms(b, sizeof b, c->new_median), c->n_new);
	const char *verdict = "no data";
	if (c->judged) {
		snprintf(ratio, sizeof ratio, "%.3f", c->ratio);
		snprintf(ci, sizeof ci, "[%.3f, %.3f]", c->lo, c->hi);
		verdict = verdict_name(c->verdict);
	} else {
		snprintf(ratio, sizeof ratio, "-");
		snprintf(ci, sizeof ci, "-");
		if (c->n_base && c->n_new)
			verdict = "no ratio (baseline 0)";
	}
	const char *cells[] = { g->workload, class_label(g->class_), g->label, g->mode, phase_names[p],
				base, fresh, ratio, ci, verdict };
	table_add(t, cells);
}

enum compare_outcome compare_results(const struct results *base, const struct results *new_run,
				     const struct compare_options *o, FILE *out, char *err, size_t errlen)
{
	struct group_set bg, ng;
	int rc = groups_build(base, &bg);
	if (rc)
		return bad_input(err, errlen, "out of memory");
	rc = groups_build(new_run, &ng);
	if (rc) {
		groups_free(&bg);
		return bad_input(err, errlen, "out of memory");
	}
	enum compare_outcome outcome = check_same_shape(base, &bg, new_run, &ng, err, errlen);
	double *bv = malloc((base->n ? base->n : 1) * sizeof *bv);
	double *nv = malloc((new_run->n ? new_run->n : 1) * sizeof *nv);
	struct text_table t = { 0 };
	static const char *const header[] = { "workload", "class", "size", "mode", "phase", "baseline median ms (n)",
					      "new median ms (n)", "ratio", "95% CI", "verdict" };
	if (outcome == COMPARE_NO_REGRESSION && (!bv || !nv || table_init(&t, 10, header, "lllllrrrrl")))
		outcome = bad_input(err, errlen, "out of memory");
	size_t judged = 0, regressions = 0, improvements = 0;
	for (size_t i = 0; i < bg.n && outcome == COMPARE_NO_REGRESSION; i++) {
		const struct group *g = &bg.groups[i];
		const struct group *h = groups_find_like(&ng, g);
		for (int p = 0; p < PHASE_COUNT; p++) {
			struct phase_comparison c;
			if (compare_phase(base, g, new_run, h, (enum phase)p, o, bv, nv, &c)) {
				outcome = bad_input(err, errlen, "out of memory");
				break;
			}
			if (!c.n_base && !c.n_new)
				continue;
			add_row(&t, g, (enum phase)p, &c);
			judged += c.judged;
			regressions += c.judged && c.verdict == VERDICT_REGRESSION;
			improvements += c.judged && c.verdict == VERDICT_IMPROVEMENT;
		}
	}
	if (outcome == COMPARE_NO_REGRESSION && t.error)
		outcome = bad_input(err, errlen, "out of memory");
	if (outcome == COMPARE_NO_REGRESSION) {
		fprintf(out, "Comparison of `%s` (new) with `%s` (baseline): ratio = new median / baseline median, "
			     "95%% bootstrap interval (%u resamples, seed %llu); threshold %g%%.\n\n",
			new_run->path, base->path, o->resamples, (unsigned long long)o->seed, o->threshold * 100);
		fprintf(out, "%s\n\n", o->scale_note ? o->scale_note : "Times as measured (not normalised).");
		table_print_markdown(out, &t);
		fprintf(out, "\n%zu regression%s, %zu improvement%s among %zu compared phases.\n", regressions,
			regressions == 1 ? "" : "s", improvements, improvements == 1 ? "" : "s", judged);
		if (regressions)
			outcome = COMPARE_REGRESSED;
	}
	table_free(&t);
	free(bv);
	free(nv);
	groups_free(&bg);
	groups_free(&ng);
	return outcome;
}
