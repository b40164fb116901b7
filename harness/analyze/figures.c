#include "figures.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "stats.h"

static int pool(const struct results *r, const struct group *const *groups, size_t ngroups, enum phase p,
		struct pooled *out)
{
	out->n = 0;
	size_t need = 0;
	for (size_t i = 0; i < ngroups; i++)
		need += groups[i]->n;
	if (need > out->cap) {
		double *v = realloc(out->values, need * sizeof *v);
		if (!v)
			return -ENOMEM;
		out->values = v;
		out->cap = need;
	}
	for (size_t i = 0; i < ngroups; i++)
		out->n += group_phase_values(r, groups[i], p, out->values + out->n, NULL);
	return 0;
}

/* "mean low high" in ms, the interval from Student t; "? ? ?" without
 * data.  Raises *TOP to the highest value written (gnuplot's histogram
 * autoscaling leaves the error bars out). */
static void write_mean_ci(FILE *f, const struct pooled *s, double *top)
{
	if (!s->n) {
		fputs(" ? ? ?", f);
		return;
	}
	double mean = stats_mean(s->values, s->n), lo = mean, hi = mean;
	if (s->n >= 2)
		stats_mean_ci(s->values, s->n, STATS_LEVEL, &lo, &hi);
	fprintf(f, " %.6g %.6g %.6g", mean / 1000, lo / 1000, hi / 1000);
	*top = fmax(*top, hi / 1000);
}

/* The y axis tops of the six panels, as gnuplot words. */
void figure_format_tops(char *buf, size_t len, const double *top)
{
	size_t used = 0;
	for (int p = 0; p < FIGURE_PHASES && used < len; p++)
		used += (size_t)snprintf(buf + used, len - used, "%s%.6g", p ? " " : "", top[p] > 0 ? top[p] * 1.08 : 1);
}

static void write_label_text(FILE *f, const char *text)
{
	for (const char *p = text; *p; p++)
		fputc(*p == '"' || *p == '\\' ? '\'' : *p, f);
}

/* A label as a gnuplot data string: A, then SEP and B if B is given, then a
 * line break and C if C is given ("\\n" breaks the line). */
static void write_label(FILE *f, const char *a, const char *sep, const char *b, const char *c)
{
	fputc('"', f);
	write_label_text(f, a);
	if (b) {
		fputs(sep, f);
		write_label_text(f, b);
	}
	if (c) {
		fputs("\\n", f);
		write_label_text(f, c);
	}
	fputc('"', f);
}

/* Which of a bar panel's two series have data: '0' none, '1' the first
 * only, '2' the second only, 'b' both (a series without any value would
 * make gnuplot warn). */
static char series_present(bool first, bool second)
{
	return first && second ? 'b' : first ? '1' : second ? '2' : '0';
}

/* A group's label without its size when that is the common `matched`:
 * "256 MiB, 4 threads". */
static const char *short_label(const struct group *g)
{
	size_t n = strlen(g->size);
	if (!strcmp(g->size, "matched") && !strncmp(g->label, g->size, n) && g->label[n] == ' ')
		return g->label + n + 1;
	if (!strcmp(g->size, "matched") && !strncmp(g->label, "matched, ", 9))
		return g->label + 9;
	return g->label;
}

int figure_study(FILE *f, struct figure_data *d, struct study_layout *out)
{
	*out = (struct study_layout){ 0 };
	char *panels = out->panels, *subtitle = out->subtitle;
	double *top = out->top;
	size_t sublen = sizeof out->subtitle;
	const struct pair_selection *sel = &d->sel;
	size_t n = sel->n_pairs;
	const struct group **nat = NULL, **clr = NULL;
	int rc = 0;
	/* Pairs of one workload pair at several settings say which. */
	bool settings = false;
	out->n_groups = n + (n != 1);
	for (size_t k = 0; k < n; k++)
		settings |= strcmp(sel->pairs[k].native->label, sel->pairs[k].native->size) != 0;
	out->three_lines = settings;
	if (n) {
		nat = malloc(n * sizeof *nat);
		clr = malloc(n * sizeof *clr);
		if (!nat || !clr)
			rc = -ENOMEM;
		for (size_t k = 0; k < n && !rc; k++) {
			nat[k] = sel->pairs[k].native;
			clr[k] = sel->pairs[k].clr;
		}
		bool natural = false, matched = false;
		for (size_t k = 0; k < n && !rc; k++) {
			natural |= !strcmp(nat[k]->size, "natural");
			matched |= !strcmp(nat[k]->size, "matched");
		}
		snprintf(subtitle, sublen, "%s mode, %s size%s", d->mode,
			 natural && matched ? "matched or natural" : matched ? "matched" : "natural",
			 sel->inferred ? ", the only native/CLR workloads taken as a pair" : "");
	} else {
		snprintf(subtitle, sublen, "%s mode; no matched pairs: all native vs all CLR configurations", d->mode);
	}
	for (int p = 0; p < FIGURE_PHASES && !rc; p++) {
		bool any_native = false, any_clr = false;
		fprintf(f, "# %s\n", phase_names[p]);
		for (size_t k = 0; k < n && !rc; k++) {
			rc = pool(d->r, &nat[k], 1, (enum phase)p, &d->a);
			if (!rc)
				rc = pool(d->r, &clr[k], 1, (enum phase)p, &d->b);
			write_label(f, nat[k]->workload, "\\n", clr[k]->workload, settings ? short_label(nat[k]) : NULL);
			write_mean_ci(f, &d->a, &top[p]);
			write_mean_ci(f, &d->b, &top[p]);
			fputc('\n', f);
			any_native |= d->a.n > 0;
			any_clr |= d->b.n > 0;
		}
		if (!rc && n != 1) {
			rc = pool(d->r, n ? nat : sel->native, n ? n : sel->n_native, (enum phase)p, &d->a);
			if (!rc)
				rc = pool(d->r, n ? clr : sel->clr, n ? n : sel->n_clr, (enum phase)p, &d->b);
			write_label(f, n ? "all pairs" : "all workloads", NULL, NULL, NULL);
			write_mean_ci(f, &d->a, &top[p]);
			write_mean_ci(f, &d->b, &top[p]);
			fputc('\n', f);
			any_native |= d->a.n > 0;
			any_clr |= d->b.n > 0;
		}
		panels[p] = series_present(any_native, any_clr);
		fputs("\n\n", f);
	}
	panels[FIGURE_PHASES] = '\0';
	free(nat);
	free(clr);
	return rc;
}

struct point {
	double rss, ms;
};

static int compare_points(const void *a, const void *b)
{
	const struct point *x = a, *y = b;
	return (x->rss > y->rss) - (x->rss < y->rss);
}

/* Medians of the points in half-octave bins of resident size. */
static void write_bin_medians(FILE *f, struct point *pts, size_t n, struct pooled *xs, struct pooled *ys)
{
	qsort(pts, n, sizeof *pts, compare_points);
	for (size_t i = 0; i < n;) {
		long bin = lround(2 * log2(pts[i].rss));
		size_t j = i;
		while (j < n && lround(2 * log2(pts[j].rss)) == bin)
			j++;
		for (size_t k = i; k < j; k++) {
			xs->values[k - i] = pts[k].rss;
			ys->values[k - i] = pts[k].ms;
		}
		double x, y;
		if (stats_median(xs->values, j - i, &x) == 0 && stats_median(ys->values, j - i, &y) == 0)
			fprintf(f, "%.6g %.6g\n", x, y);
		i = j;
	}
}

int figure_scaling(FILE *points, FILE *lines, struct figure_data *d, struct scaling_layout *out)
{
	*out = (struct scaling_layout){ .xlo = 1, .xhi = 1024 };
	char *has = out->has, *logy = out->logy;
	double *xlo = &out->xlo, *xhi = &out->xhi;
	const struct results *r = d->r;
	struct point *pts = malloc((r->n ? r->n : 1) * sizeof *pts);
	double *xs = malloc((r->n ? r->n : 1) * sizeof *xs), *ys = malloc((r->n ? r->n : 1) * sizeof *ys);
	if (!pts || !xs || !ys) {
		free(pts);
		free(xs);
		free(ys);
		return -ENOMEM;
	}
	struct pooled bx = { xs, 0, r->n }, by = { ys, 0, r->n };
	double rss_min = INFINITY, rss_max = 0;
	static const char *const classes[] = { "native", "clr" };
	for (int p = 0; p < FIGURE_PHASES; p++) {
		double lo = INFINITY, hi = 0;
		for (int c = 0; c < 2; c++) {
			size_t n = 0;
			for (size_t i = 0; i < r->n; i++) {
				const struct migration *m = &r->rows[i];
				double v = m->phase_us[p];
				if (!m->ok || strcmp(m->mode, d->mode) || strcmp(m->class_, classes[c]) ||
				    !(m->rss_mib > 0) || !(v > 0))
					continue;
				pts[n++] = (struct point){ m->rss_mib, v / 1000 };
				lo = fmin(lo, v / 1000);
				hi = fmax(hi, v / 1000);
				rss_min = fmin(rss_min, m->rss_mib);
				rss_max = fmax(rss_max, m->rss_mib);
			}
			fprintf(points, "# %s %s\n", phase_names[p], classes[c]);
			fprintf(lines, "# %s %s\n", phase_names[p], classes[c]);
			for (size_t i = 0; i < n; i++)
				fprintf(points, "%.6g %.6g\n", pts[i].rss, pts[i].ms);
			if (n)
				write_bin_medians(lines, pts, n, &bx, &by);
			else {
				/* An empty block would merge with the next one. */
				fputs("NaN NaN\n", points);
				fputs("NaN NaN\n", lines);
			}
			fputs("\n\n", points);
			fputs("\n\n", lines);
			has[2 * p + c] = n ? '1' : '0';
		}
		logy[p] = hi > 0 && hi / lo >= 10 ? '1' : '0';
	}
	has[2 * FIGURE_PHASES] = '\0';
	logy[FIGURE_PHASES] = '\0';
	/* A log size axis spanning at least two octaves, so that it has ticks
	 * at powers of two even when every process had about the same size. */
	if (rss_max > 0) {
		*xlo = rss_min / 1.2;
		*xhi = rss_max * 1.2;
		double middle = sqrt(rss_min * rss_max);
		*xlo = fmin(*xlo, middle / 2);
		*xhi = fmax(*xhi, middle * 2);
	}
	free(pts);
	free(xs);
	free(ys);
	return 0;
}

/* Tukey box of one configuration's downtime: quartiles, whiskers at the
 * furthest values inside the fences, the values beyond them. */
static void write_box(FILE *boxes, FILE *outliers, int *n_outliers, double x, const struct group *g,
		      int class_index, bool show_size, struct pooled *s)
{
	double *v = s->values;
	stats_sort(v, s->n);
	struct stats_fences fences;
	if (stats_tukey_fences(v, s->n, &fences) < 0)
		return;
	double wlo = INFINITY, whi = -INFINITY;
	for (size_t i = 0; i < s->n; i++) {
		if (stats_is_outlier(&fences, v[i])) {
			fprintf(outliers, "%g %.6g\n", x, v[i] / 1000);
			(*n_outliers)++;
			continue;
		}
		wlo = fmin(wlo, v[i]);
		whi = fmax(whi, v[i]);
	}
	fprintf(boxes, "%g %.6g %.6g %.6g %.6g %.6g ", x, fences.q1 / 1000, wlo / 1000, whi / 1000, fences.q3 / 1000,
		stats_quantile_sorted(v, s->n, 0.5) / 1000);
	write_label(boxes, g->workload, ", ", show_size || strcmp(g->label, g->size) ? g->label : NULL, NULL);
	fprintf(boxes, " %d\n", class_index);
}

int figure_downtime(FILE *f, struct figure_data *d, struct downtime_layout *out)
{
	*out = (struct downtime_layout){ 0 };
	int *n_native = &out->n_native, *n_clr = &out->n_clr, *n_outliers = &out->n_outliers;
	bool *logy = &out->logy;
	const struct group_set *gs = d->groups;
	bool natural = false, matched = false;
	for (size_t i = 0; i < gs->n; i++)
		if (!strcmp(gs->groups[i].mode, d->mode)) {
			natural |= !strcmp(gs->groups[i].size, "natural");
			matched |= !strcmp(gs->groups[i].size, "matched");
		}
	char *outliers = NULL;
	size_t outliers_len = 0;
	FILE *of = open_memstream(&outliers, &outliers_len);
	if (!of)
		return -ENOMEM;
	double lo = INFINITY, hi = 0;
	int x = 0, rc = 0;
	static const char *const classes[] = { "native", "clr" };
	for (int c = 0; c < 2 && !rc; c++) {
		int count = 0;
		for (size_t i = 0; i < gs->n && !rc; i++) {
			const struct group *g = &gs->groups[i];
			if (strcmp(g->mode, d->mode) || strcmp(g->class_, classes[c]))
				continue;
			rc = pool(d->r, &g, 1, PHASE_DOWNTIME, &d->a);
			if (rc || !d->a.n)
				continue;
			for (size_t k = 0; k < d->a.n; k++) {
				lo = fmin(lo, d->a.values[k] / 1000);
				hi = fmax(hi, d->a.values[k] / 1000);
			}
			write_box(f, of, n_outliers, ++x, g, c, natural && matched, &d->a);
			count++;
		}
		*(c ? n_clr : n_native) = count;
	}
	fclose(of);
	/* Without boxes the figure is not drawn; an empty block would merge. */
	fputs("\n\n", f);
	if (outliers_len)
		fwrite(outliers, 1, outliers_len, f);
	else
		fputs("NaN NaN\n", f);
	free(outliers);
	*logy = hi > 0 && hi / lo >= 20;
	return rc;
}

int figure_modes(FILE *f, struct figure_data *d, const char *const *modes, size_t n_modes, struct modes_layout *out)
{
	*out = (struct modes_layout){ 0 };
	double *top = out->top;
	if (n_modes > MODES_MAX)
		n_modes = MODES_MAX;
	static const char *const classes[] = { "native", "clr" };
	const struct group_set *gs = d->groups;
	const struct group **sel = malloc((gs->n ? gs->n : 1) * sizeof *sel);
	if (!sel)
		return -ENOMEM;
	int rc = 0;
	for (int p = 0; p < FIGURE_PHASES && !rc; p++) {
		bool any[MODES_MAX] = { false };
		fprintf(f, "# %s\n", phase_names[p]);
		for (int c = 0; c < 2 && !rc; c++) {
			bool present = false;
			for (size_t i = 0; i < gs->n; i++)
				present |= !strcmp(gs->groups[i].class_, classes[c]);
			if (!present)
				continue;
			write_label(f, class_label(classes[c]), NULL, NULL, NULL);
			for (size_t m = 0; m < n_modes && !rc; m++) {
				size_t n = 0;
				for (size_t i = 0; i < gs->n; i++)
					if (!strcmp(gs->groups[i].class_, classes[c]) && !strcmp(gs->groups[i].mode, modes[m]))
						sel[n++] = &gs->groups[i];
				rc = pool(d->r, sel, n, (enum phase)p, &d->a);
				write_mean_ci(f, &d->a, &top[p]);
				any[m] |= d->a.n > 0;
			}
			fputc('\n', f);
		}
		char *present = out->present[p];
		for (size_t m = 0; m < n_modes; m++)
			if (any[m])
				*present++ = (char)('1' + m);
		if (present == out->present[p])
			*present++ = '-';
		*present = '\0';
		fputs("\n\n", f);
	}
	free(sel);
	return rc;
}

const enum phase covariate_phases[COVARIATE_PHASES] = { PHASE_SUSPEND, PHASE_CHECKPOINT, PHASE_AS_RESTORE,
							 PHASE_CTX_RESTORE };

int figure_covariates(FILE *f, struct figure_data *d, struct covariates_layout *out)
{
	*out = (struct covariates_layout){ 0 };
	static const char *const classes[] = { "native", "clr" };
	const struct results *r = d->r;
	for (int i = 0; i < COVARIATE_PHASES; i++)
		for (int c = 0; c < 2; c++) {
			size_t n = 0;
			enum phase p = covariate_phases[i];
			for (size_t k = 0; k < r->n; k++) {
				const struct migration *m = &r->rows[k];
				double v = m->phase_us[p], pages = m->moved[MOVED_PAGES], threads = m->moved[MOVED_THREADS];
				if (!m->ok || strcmp(m->mode, d->mode) || strcmp(m->class_, classes[c]) || !(v >= 0) ||
				    !(pages >= 0) || !(threads >= 0))
					continue;
				fprintf(f, "%.0f %.0f %.6g\n", pages, threads, v / 1000);
				n++;
			}
			/* gnuplot's blocks are two blank lines apart; an empty one
			 * still needs a line to keep the numbering. */
			if (!n)
				fputs("NaN NaN NaN\n", f);
			fputs("\n\n", f);
			out->has[2 * i + c] = n ? '1' : '0';
			out->any |= n > 0;
		}
	out->has[2 * COVARIATE_PHASES] = '\0';
	return ferror(f) ? -EIO : 0;
}

void figure_data_free(struct figure_data *d)
{
	pair_selection_free(&d->sel);
	free(d->a.values);
	free(d->b.values);
	d->a = d->b = (struct pooled){ 0 };
}
