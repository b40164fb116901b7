#include "summary.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "stats.h"
#include "table.h"

int phase_summary_compute(const double *x, const size_t *rows, size_t n, unsigned resamples, uint64_t seed,
			  struct phase_summary *s)
{
	*s = (struct phase_summary){
		.n = n,
		.mean = stats_mean(x, n),
		.sd = stats_sd(x, n),
		.min = stats_min(x, n),
		.max = stats_max(x, n),
		.median = NAN, .mean_lo = NAN, .mean_hi = NAN, .median_lo = NAN, .median_hi = NAN,
	};
	if (n == 0)
		return 0;
	int rc = stats_median(x, n, &s->median);
	if (rc == 0 && n >= 2)
		rc = stats_mean_ci(x, n, STATS_LEVEL, &s->mean_lo, &s->mean_hi);
	if (rc == 0)
		rc = stats_bootstrap_median_ci(x, n, resamples, seed, STATS_LEVEL, &s->median_lo, &s->median_hi);
	struct stats_fences fences;
	if (rc == 0)
		rc = stats_tukey_fences(x, n, &fences);
	if (rc)
		return rc;
	for (size_t i = 0; i < n; i++)
		if (stats_is_outlier(&fences, x[i]))
			s->n_outliers++;
	if (s->n_outliers) {
		s->outlier_rows = malloc(s->n_outliers * sizeof *s->outlier_rows);
		if (!s->outlier_rows)
			return -ENOMEM;
		size_t k = 0;
		for (size_t i = 0; i < n; i++)
			if (stats_is_outlier(&fences, x[i]))
				s->outlier_rows[k++] = rows[i];
	}
	return 0;
}

void phase_summary_free(struct phase_summary *s)
{
	free(s->outlier_rows);
	s->outlier_rows = NULL;
}

int summary_build(const struct results *r, const struct group_set *groups, uint64_t seed, struct summary_set *out)
{
	*out = (struct summary_set){ 0 };
	out->items = calloc(groups->n ? groups->n : 1, sizeof *out->items);
	size_t cap = 0;
	for (size_t i = 0; i < groups->n; i++)
		if (groups->groups[i].n > cap)
			cap = groups->groups[i].n;
	double *values = malloc((cap ? cap : 1) * sizeof *values);
	size_t *rows = malloc((cap ? cap : 1) * sizeof *rows);
	int rc = out->items && values && rows ? 0 : -ENOMEM;
	for (size_t i = 0; i < groups->n && rc == 0; i++) {
		struct summary *item = &out->items[out->n++];
		item->group = &groups->groups[i];
		for (int p = 0; p < PHASE_COUNT && rc == 0; p++) {
			size_t n = group_phase_values(r, item->group, (enum phase)p, values, rows);
			rc = phase_summary_compute(values, rows, n, STATS_RESAMPLES, seed, &item->phase[p]);
		}
	}
	free(values);
	free(rows);
	if (rc)
		summary_set_free(out);
	return rc;
}

void summary_set_free(struct summary_set *s)
{
	for (size_t i = 0; i < s->n; i++)
		for (int p = 0; p < PHASE_COUNT; p++)
			phase_summary_free(&s->items[i].phase[p]);
	free(s->items);
	*s = (struct summary_set){ 0 };
}

const char *format_ms(char *buf, size_t len, double us)
{
	if (isnan(us)) {
		snprintf(buf, len, "-");
		return buf;
	}
	double ms = us / 1000.0, mag = fabs(ms);
	int decimals = mag < 10 ? 3 : mag < 100 ? 2 : mag < 1000 ? 1 : 0;
	snprintf(buf, len, "%.*f", decimals, ms);
	return buf;
}

static const char *format_interval(char *buf, size_t len, double lo, double hi)
{
	if (isnan(lo) || isnan(hi)) {
		snprintf(buf, len, "-");
		return buf;
	}
	char a[32], b[32];
	snprintf(buf, len, "[%s, %s]", format_ms(a, sizeof a, lo), format_ms(b, sizeof b, hi));
	return buf;
}

/* "2: rows 5, 17" (the first few, then "..."). */
static const char *format_outliers(char *buf, size_t len, const struct phase_summary *s)
{
	if (!s->n_outliers) {
		snprintf(buf, len, "0");
		return buf;
	}
	size_t used = (size_t)snprintf(buf, len, "%zu: row%s ", s->n_outliers, s->n_outliers > 1 ? "s" : "");
	const size_t shown = 8;
	for (size_t k = 0; k < s->n_outliers && k < shown && used < len; k++)
		used += (size_t)snprintf(buf + used, len - used, "%s%zu", k ? ", " : "", s->outlier_rows[k]);
	if (s->n_outliers > shown && used < len)
		snprintf(buf + used, len - used, ", ...");
	return buf;
}

static void fill_table(struct text_table *t, const struct summary_set *s)
{
	static const char *const header[] = { "workload", "class", "size", "mode", "phase", "n", "mean ms", "sd ms",
					      "median ms", "min ms", "max ms", "mean 95% CI", "median 95% CI",
					      "outliers" };
	if (table_init(t, 14, header, "lllllrrrrrrrrl"))
		return;
	for (size_t i = 0; i < s->n; i++) {
		const struct group *g = s->items[i].group;
		for (int p = 0; p < PHASE_COUNT; p++) {
			const struct phase_summary *ps = &s->items[i].phase[p];
			if (!ps->n)
				continue;
			char n[24], mean[32], sd[32], median[32], min[32], max[32], mci[80], dci[80], out[160];
			snprintf(n, sizeof n, "%zu", ps->n);
			const char *cells[] = {
				g->workload, class_label(g->class_), g->label, g->mode, phase_names[p], n,
				format_ms(mean, sizeof mean, ps->mean), format_ms(sd, sizeof sd, ps->sd),
				format_ms(median, sizeof median, ps->median), format_ms(min, sizeof min, ps->min),
				format_ms(max, sizeof max, ps->max),
				format_interval(mci, sizeof mci, ps->mean_lo, ps->mean_hi),
				format_interval(dci, sizeof dci, ps->median_lo, ps->median_hi),
				format_outliers(out, sizeof out, ps),
			};
			table_add(t, cells);
		}
	}
}

void summary_print_text(FILE *out, const struct summary_set *s)
{
	struct text_table t;
	fill_table(&t, s);
	table_print_text(out, &t);
	table_free(&t);
}

void summary_print_markdown(FILE *out, const struct summary_set *s)
{
	struct text_table t;
	fill_table(&t, s);
	table_print_markdown(out, &t);
	table_free(&t);
}

void summary_print_medians_markdown(FILE *out, const struct summary_set *s)
{
	const char *header[5 + PHASE_COUNT] = { "workload", "class", "size", "mode", "n" };
	char align[5 + PHASE_COUNT + 1] = "llllr";
	for (int p = 0; p < PHASE_COUNT; p++) {
		header[5 + p] = phase_names[p];
		align[5 + p] = 'r';
	}
	align[5 + PHASE_COUNT] = '\0';
	struct text_table t;
	if (table_init(&t, 5 + PHASE_COUNT, header, align) == 0) {
		for (size_t i = 0; i < s->n; i++) {
			const struct group *g = s->items[i].group;
			char n[24], med[PHASE_COUNT][32];
			snprintf(n, sizeof n, "%zu", g->n);
			const char *cells[5 + PHASE_COUNT] = { g->workload, class_label(g->class_), g->label, g->mode, n };
			for (int p = 0; p < PHASE_COUNT; p++)
				cells[5 + p] = format_ms(med[p], sizeof med[p], s->items[i].phase[p].median);
			table_add(&t, cells);
		}
		table_print_markdown(out, &t);
	}
	table_free(&t);
}

static void csv_number(FILE *out, double v)
{
	fputc(',', out);
	if (!isnan(v))
		fprintf(out, "%.2f", v);
}

int summary_write_csv(FILE *out, const struct summary_set *s)
{
	fputs("workload,class,size,rss_target_mib,threads,compression,mode,phase,n,mean_us,sd_us,median_us,min_us,"
	      "max_us,mean_ci_low_us,mean_ci_high_us,median_ci_low_us,median_ci_high_us,outliers,outlier_rows\n",
	      out);
	for (size_t i = 0; i < s->n; i++) {
		const struct group *g = s->items[i].group;
		for (int p = 0; p < PHASE_COUNT; p++) {
			const struct phase_summary *ps = &s->items[i].phase[p];
			if (!ps->n)
				continue;
			char target[32] = "", threads[24];
			if (g->rss_target > 0)
				snprintf(target, sizeof target, "%g", g->rss_target);
			snprintf(threads, sizeof threads, "%ld", g->threads);
			const char *keys[] = { g->workload, g->class_, g->size, target, threads, g->compression, g->mode,
					       phase_names[p] };
			for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
				if (k)
					fputc(',', out);
				csv_write_field(out, keys[k]);
			}
			fprintf(out, ",%zu", ps->n);
			const double v[] = { ps->mean, ps->sd, ps->median, ps->min, ps->max,
					     ps->mean_lo, ps->mean_hi, ps->median_lo, ps->median_hi };
			for (size_t k = 0; k < sizeof v / sizeof v[0]; k++)
				csv_number(out, v[k]);
			fprintf(out, ",%zu,", ps->n_outliers);
			for (size_t k = 0; k < ps->n_outliers; k++)
				fprintf(out, "%s%zu", k ? " " : "", ps->outlier_rows[k]);
			fputc('\n', out);
		}
	}
	return ferror(out) ? -EIO : 0;
}
