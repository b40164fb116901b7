#include "fit.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "claims.h"
#include "pairs.h"
#include "stats.h"
#include "table.h"

/* Inverts the P x P matrix A in place (Gauss-Jordan, partial pivoting).
 * -EDOM when a pivot falls below TOL. */
static int invert(double *a, size_t p, double tol)
{
	double *inv = calloc(p * p, sizeof *inv);
	if (!inv)
		return -ENOMEM;
	for (size_t i = 0; i < p; i++)
		inv[i * p + i] = 1;
	int rc = 0;
	for (size_t col = 0; col < p && !rc; col++) {
		size_t best = col;
		for (size_t r = col + 1; r < p; r++)
			if (fabs(a[r * p + col]) > fabs(a[best * p + col]))
				best = r;
		if (!(fabs(a[best * p + col]) > tol)) {
			rc = -EDOM;
			break;
		}
		for (size_t k = 0; k < p; k++) {
			double t = a[col * p + k];
			a[col * p + k] = a[best * p + k];
			a[best * p + k] = t;
			t = inv[col * p + k];
			inv[col * p + k] = inv[best * p + k];
			inv[best * p + k] = t;
		}
		double pivot = a[col * p + col];
		for (size_t k = 0; k < p; k++) {
			a[col * p + k] /= pivot;
			inv[col * p + k] /= pivot;
		}
		for (size_t r = 0; r < p; r++) {
			double factor = a[r * p + col];
			if (r == col || factor == 0)
				continue;
			for (size_t k = 0; k < p; k++) {
				a[r * p + k] -= factor * a[col * p + k];
				inv[r * p + k] -= factor * inv[col * p + k];
			}
		}
	}
	if (!rc)
		memcpy(a, inv, p * p * sizeof *a);
	free(inv);
	return rc;
}

int fit_ols(const double *x, const double *y, size_t n, size_t p, double *coef, double *se, double *cov,
	    double *sigma, double *r2)
{
	if (p == 0 || n <= p)
		return -EINVAL;
	double *scale = calloc(p, sizeof *scale), *a = calloc(p * p, sizeof *a), *b = calloc(p, sizeof *b);
	int rc = scale && a && b ? 0 : -ENOMEM;
	for (size_t j = 0; j < p && !rc; j++) {
		for (size_t i = 0; i < n; i++)
			scale[j] = fmax(scale[j], fabs(x[i * p + j]));
		if (!(scale[j] > 0))
			rc = -EDOM;
	}
	if (!rc) {
		/* X'X and X'y of the scaled columns (each at most 1 in size). */
		for (size_t i = 0; i < n; i++)
			for (size_t j = 0; j < p; j++) {
				double xj = x[i * p + j] / scale[j];
				b[j] += xj * y[i];
				for (size_t k = 0; k < p; k++)
					a[j * p + k] += xj * x[i * p + k] / scale[k];
			}
		double trace = 0;
		for (size_t j = 0; j < p; j++)
			trace += a[j * p + j];
		/* A pivot this small against the mean diagonal: a column is
		 * (nearly) a combination of the others. */
		rc = invert(a, p, 1e-9 * trace / (double)p);
	}
	if (!rc) {
		double sse = 0, mean_y = stats_mean(y, n), sst = 0;
		for (size_t j = 0; j < p; j++) {
			double c = 0;
			for (size_t k = 0; k < p; k++)
				c += a[j * p + k] * b[k];
			coef[j] = c / scale[j];
		}
		for (size_t i = 0; i < n; i++) {
			double fitted = 0;
			for (size_t j = 0; j < p; j++)
				fitted += x[i * p + j] * coef[j];
			sse += (y[i] - fitted) * (y[i] - fitted);
			sst += (y[i] - mean_y) * (y[i] - mean_y);
		}
		double s2 = sse / (double)(n - p);
		*sigma = sqrt(s2);
		*r2 = sst > 0 ? 1 - sse / sst : NAN;
		for (size_t j = 0; j < p; j++)
			for (size_t k = 0; k < p; k++) {
				double c = s2 * a[j * p + k] / (scale[j] * scale[k]);
				if (cov)
					cov[j * p + k] = c;
				if (se && j == k)
					se[j] = sqrt(c);
			}
	}
	free(scale);
	free(a);
	free(b);
	return rc;
}

/* The rows a fit of MODE uses: successful, native or CLR, with a time. */
static bool usable(const struct migration *m, const char *mode, enum phase phase)
{
	return m->ok && !strcmp(m->mode, mode) && (!strcmp(m->class_, "native") || !strcmp(m->class_, "clr")) &&
	       isfinite(m->phase_us[phase]);
}

/* The design matrix of the terms in USED over the usable rows: column 0
 * the intercept, then the covariates, then the CLR term. */
static size_t design(const struct results *r, const char *mode, enum phase phase, const bool *used, double *x,
		     double *y)
{
	size_t n = 0, p = 0;
	for (int t = 0; t < FIT_TERMS; t++)
		p += used[t];
	for (size_t i = 0; i < r->n; i++) {
		const struct migration *m = &r->rows[i];
		if (!usable(m, mode, phase))
			continue;
		size_t j = 0;
		for (int t = 0; t < FIT_TERMS; t++) {
			if (!used[t])
				continue;
			x[n * p + j++] = t == 0 ? 1 : t == FIT_CLR_TERM ? !strcmp(m->class_, "clr") : m->moved[t - 1];
		}
		y[n++] = m->phase_us[phase];
	}
	return n;
}

/* Fits the terms of F->used; fills F's coefficients and intervals, and
 * COV (terms x terms, in FIT_TERMS indexing, 0 for unused ones). */
static int fit_terms(const struct results *r, const char *mode, enum phase phase, size_t rows, struct phase_fit *f,
		     double *cov)
{
	size_t p = 0;
	for (int t = 0; t < FIT_TERMS; t++)
		p += f->used[t];
	double *x = malloc(rows * p * sizeof *x), *y = malloc(rows * sizeof *y), *c = malloc(p * p * sizeof *c);
	double coef[FIT_TERMS], se[FIT_TERMS];
	int rc = x && y && c ? 0 : -ENOMEM;
	size_t n = 0;
	if (!rc) {
		n = design(r, mode, phase, f->used, x, y);
		rc = fit_ols(x, y, n, p, coef, se, c, &f->sigma, &f->r2);
	}
	if (!rc) {
		double t = stats_t_quantile(1 - (1 - STATS_LEVEL) / 2, (double)(n - p));
		size_t j = 0, index[FIT_TERMS];
		for (int k = 0; k < FIT_TERMS; k++) {
			f->coef[k] = f->lo[k] = f->hi[k] = NAN;
			if (!f->used[k])
				continue;
			index[j] = (size_t)k;
			f->coef[k] = coef[j];
			f->lo[k] = coef[j] - t * se[j];
			f->hi[k] = coef[j] + t * se[j];
			j++;
		}
		memset(cov, 0, FIT_TERMS * FIT_TERMS * sizeof *cov);
		for (size_t a = 0; a < p; a++)
			for (size_t b = 0; b < p; b++)
				cov[index[a] * FIT_TERMS + index[b]] = c[a * p + b];
		f->n = n;
	}
	free(x);
	free(y);
	free(c);
	return rc;
}

static void share_at(const struct results *r, const char *mode, enum phase phase, const char *size,
		     const struct phase_fit *f, const double *cov, struct fit_share *s)
{
	*s = (struct fit_share){ .explained = NAN, .lo = NAN, .hi = NAN };
	double sum[2] = { 0 }, xsum[2][MOVED_COUNT] = { { 0 } };
	size_t count[2] = { 0 };
	for (size_t i = 0; i < r->n; i++) {
		const struct migration *m = &r->rows[i];
		if (!usable(m, mode, phase) || strcmp(m->size, size))
			continue;
		int c = !strcmp(m->class_, "clr");
		count[c]++;
		sum[c] += m->phase_us[phase];
		for (int k = 0; k < MOVED_COUNT; k++)
			if (f->used[1 + k])
				xsum[c][k] += m->moved[k];
	}
	s->n_native = count[0];
	s->n_clr = count[1];
	if (!count[0] || !count[1])
		return;
	s->native_mean = sum[0] / (double)count[0];
	s->clr_mean = sum[1] / (double)count[1];
	s->difference = s->clr_mean - s->native_mean;
	double dx[FIT_TERMS] = { 0 }, var = 0;
	s->explained = 0;
	for (int k = 0; k < MOVED_COUNT; k++) {
		if (!f->used[1 + k])
			continue;
		dx[1 + k] = xsum[1][k] / (double)count[1] - xsum[0][k] / (double)count[0];
		s->by[k] = f->coef[1 + k] * dx[1 + k];
		s->explained += s->by[k];
	}
	for (int a = 0; a < FIT_TERMS; a++)
		for (int b = 0; b < FIT_TERMS; b++)
			var += dx[a] * cov[a * FIT_TERMS + b] * dx[b];
	double t = stats_t_quantile(1 - (1 - STATS_LEVEL) / 2, (double)f->n);
	s->lo = s->explained - t * sqrt(var);
	s->hi = s->explained + t * sqrt(var);
	s->valid = true;
}

int fit_phase(const struct results *r, const char *mode, enum phase phase, struct phase_fit *f)
{
	*f = (struct phase_fit){ .sigma = NAN, .r2 = NAN };
	size_t rows = 0, per_class[2] = { 0 };
	bool available[MOVED_COUNT];
	for (int k = 0; k < MOVED_COUNT; k++)
		available[k] = true;
	for (size_t i = 0; i < r->n; i++) {
		const struct migration *m = &r->rows[i];
		if (!usable(m, mode, phase))
			continue;
		rows++;
		per_class[!strcmp(m->class_, "clr")]++;
		for (int k = 0; k < MOVED_COUNT; k++)
			available[k] &= isfinite(m->moved[k]);
	}
	bool any = false;
	for (int k = 0; k < MOVED_COUNT; k++)
		any |= available[k];
	/* Without the amounts (an older CSV) there is nothing to explain with. */
	if (!per_class[0] || !per_class[1] || !any)
		return 0;
	double *cov = malloc(FIT_TERMS * FIT_TERMS * sizeof *cov);
	if (!cov)
		return -ENOMEM;
	f->used[0] = f->used[FIT_CLR_TERM] = true;
	/* Each covariate in turn, kept when the fit stays well determined
	 * (a covariate constant in the data, or a combination of the others,
	 * is left out). */
	int rc = 0;
	for (int k = 0; k < MOVED_COUNT && rc != -ENOMEM; k++) {
		if (!available[k])
			continue;
		f->used[1 + k] = true;
		rc = fit_terms(r, mode, phase, rows, f, cov);
		if (rc && rc != -ENOMEM)
			f->used[1 + k] = false;
	}
	if (rc != -ENOMEM)
		rc = fit_terms(r, mode, phase, rows, f, cov);
	/* Backward elimination: the covariate least distinguishable from 0
	 * goes, while one's interval holds 0.  The amounts other than pages
	 * vary mostly from workload to workload, and kept without need they
	 * take over the class difference with wide intervals. */
	while (rc == 0) {
		int weakest = -1;
		double weakest_t = INFINITY;
		for (int k = 1; k <= MOVED_COUNT; k++) {
			if (!f->used[k] || !(f->lo[k] <= 0 && f->hi[k] >= 0))
				continue;
			double t = fabs(f->coef[k]) / (f->hi[k] - f->lo[k]);
			if (weakest < 0 || t < weakest_t)
				weakest = k, weakest_t = t;
		}
		if (weakest < 0)
			break;
		f->used[weakest] = false;
		rc = fit_terms(r, mode, phase, rows, f, cov);
	}
	if (rc == -ENOMEM) {
		free(cov);
		return rc;
	}
	f->valid = rc == 0;
	if (f->valid)
		for (size_t s = 0; s < CLAIM_SIZES; s++)
			share_at(r, mode, phase, claim_sizes[s], f, cov, &f->share[s]);
	free(cov);
	return 0;
}

/* ---- the report's section ---- */

static const char *const moved_names[MOVED_COUNT] = { "pages", "VMAs", "threads", "descriptors" };

/* "0.412 [0.398, 0.425]" of X/DIV, or "—" when the term is left out. */
static const char *cell_ci(char *buf, size_t len, const struct phase_fit *f, int term, double div)
{
	if (!f->used[term] || isnan(f->coef[term]))
		snprintf(buf, len, "—");
	else
		snprintf(buf, len, "%.3g [%.3g, %.3g]", f->coef[term] / div, f->lo[term] / div, f->hi[term] / div);
	return buf;
}

static int coefficient_table(FILE *out, const struct phase_fit *fits)
{
	static const char *const header[] = { "phase",         "n",          "R²",
					      "µs per page",   "µs per VMA", "µs per thread",
					      "µs per descriptor", "CLR term (ms)" };
	struct text_table t;
	if (table_init(&t, 8, header, "lrrrrrrr"))
		return -ENOMEM;
	for (int p = 0; p < PHASE_COUNT; p++) {
		const struct phase_fit *f = &fits[p];
		char n[24], r2[24], c[FIT_TERMS][96];
		const char *cells[8] = { phase_names[p], n, r2 };
		snprintf(n, sizeof n, "%zu", f->n);
		if (!f->valid) {
			snprintf(r2, sizeof r2, "—");
			for (int k = 3; k < 8; k++)
				cells[k] = "—";
			cells[1] = f->n ? n : "—";
			table_add(&t, cells);
			continue;
		}
		snprintf(r2, sizeof r2, "%.2f", f->r2);
		for (int k = 0; k < MOVED_COUNT; k++)
			cells[3 + k] = cell_ci(c[k], sizeof c[k], f, 1 + k, 1);
		cells[7] = cell_ci(c[MOVED_COUNT], sizeof c[MOVED_COUNT], f, FIT_CLR_TERM, 1000);
		table_add(&t, cells);
	}
	return table_flush_markdown(out, &t);
}

static int share_table(FILE *out, const struct phase_fit *fits)
{
	static const char *const header[] = { "phase", "size", "native (ms)", "CLR (ms)", "CLR − native (ms)",
					      "explained (ms)", "share explained", "pages / VMAs / threads / descriptors (ms)" };
	struct text_table t;
	if (table_init(&t, 8, header, "llrrrrrr"))
		return -ENOMEM;
	for (int p = 0; p < PHASE_COUNT; p++)
		for (size_t s = 0; s < CLAIM_SIZES; s++) {
			const struct fit_share *sh = &fits[p].share[s];
			if (!fits[p].valid || !sh->valid)
				continue;
			char nat[24], clr[24], diff[24], expl[64], share[64], by[96];
			snprintf(nat, sizeof nat, "%.3f", sh->native_mean / 1000);
			snprintf(clr, sizeof clr, "%.3f", sh->clr_mean / 1000);
			snprintf(diff, sizeof diff, "%+.3f", sh->difference / 1000);
			snprintf(expl, sizeof expl, "%+.3f [%+.3f, %+.3f]", sh->explained / 1000, sh->lo / 1000, sh->hi / 1000);
			if (fabs(sh->difference) < 0.05 * fabs(sh->native_mean))
				snprintf(share, sizeof share, "(no difference)");
			else
				snprintf(share, sizeof share, "%.0f%% [%.0f%%, %.0f%%]", 100 * sh->explained / sh->difference,
					 100 * (sh->difference > 0 ? sh->lo : sh->hi) / sh->difference,
					 100 * (sh->difference > 0 ? sh->hi : sh->lo) / sh->difference);
			size_t used = 0;
			for (int k = 0; k < MOVED_COUNT && used < sizeof by; k++) {
				if (fits[p].used[1 + k])
					used += (size_t)snprintf(by + used, sizeof by - used, "%s%+.2f", k ? " / " : "",
								 sh->by[k] / 1000);
				else
					used += (size_t)snprintf(by + used, sizeof by - used, "%s—", k ? " / " : "");
			}
			const char *cells[8] = { phase_names[p], claim_sizes[s], nat, clr, diff, expl, share, by };
			table_add(&t, cells);
		}
	return table_flush_markdown(out, &t);
}

/* A sentence per claimed phase at natural size: how much longer the CLR
 * process takes, and how much of it what it moves accounts for. */
static void why_sentences(FILE *out, const struct phase_fit *fits)
{
	for (int p = 0; p < PHASE_COUNT; p++) {
		double k = claim_expected((enum phase)p);
		const struct fit_share *sh = &fits[p].share[0];
		if (k <= 0 || !fits[p].valid || !sh->valid)
			continue;
		fprintf(out, "- **%s** (study: ≈%g×) at natural size: the CLR process takes %.3f ms against %.3f ms "
			     "(%.2f× in means)",
			phase_names[p], k, sh->clr_mean / 1000, sh->native_mean / 1000, sh->clr_mean / sh->native_mean);
		if (fabs(sh->difference) < 0.05 * fabs(sh->native_mean)) {
			fputs(": no difference worth explaining.\n", out);
			continue;
		}
		int top = -1;
		for (int m = 0; m < MOVED_COUNT; m++)
			if (fits[p].used[1 + m] && (top < 0 || fabs(sh->by[m]) > fabs(sh->by[top])))
				top = m;
		double d = sh->difference;
		fprintf(out, "; what it moves accounts for %+.3f ms [%+.3f, %+.3f] of the %+.3f ms", sh->explained / 1000,
			sh->lo / 1000, sh->hi / 1000, d / 1000);
		if (sh->hi - sh->lo > fabs(d))
			fputs(", too uncertain to apportion (the amounts that differ vary mostly from workload to "
			      "workload, so the fit cannot tell them from the workload itself)",
			      out);
		else if (top >= 0)
			fprintf(out, " (%.0f%%), most of it its %s (%+.3f ms)", 100 * sh->explained / d, moved_names[top],
				sh->by[top] / 1000);
		const double native = sh->native_mean;
		fprintf(out, ".  At equal amounts moved the CLR process takes %+.0f%% [%+.0f%%, %+.0f%%] of the native "
			     "time (the CLR term against the native mean; the study's %g× would be %+.0f%%).\n",
			100 * fits[p].coef[FIT_CLR_TERM] / native, 100 * fits[p].lo[FIT_CLR_TERM] / native,
			100 * fits[p].hi[FIT_CLR_TERM] / native, k, 100 * (k - 1));
	}
}

int fit_report(FILE *out, const struct results *r, const struct group_set *groups)
{
	fputs("Per phase and mode, a least-squares fit over every successful migration (both sizes together): "
	      "time = a + b·pages + c·VMAs + d·threads + e·descriptors + f·[CLR], the amounts being what the "
	      "migration moved (resident pages examined, memory areas, threads, descriptors).  A covariate "
	      "constant in the data, a combination of the others, or (backward elimination) one whose interval "
	      "holds 0 is left out (—).  The CLR/native difference of "
	      "mean times then splits into the part the amounts explain (each coefficient times the "
	      "difference of the classes' mean amounts) and the CLR term.  Intervals are 95%, assuming independent "
	      "migrations; the repeated migrations of one process are not quite that, so read them as a lower "
	      "bound on the uncertainty.  Figure: `covariates` (time against pages and against threads, coloured "
	      "by class).\n\n",
	      out);
	const char *modes[MODES_MAX];
	size_t n_modes = modes_present(groups, modes, MODES_MAX);
	if (!n_modes)
		fputs("No successful migrations: nothing to fit.\n\n", out);
	int rc = 0;
	for (size_t m = 0; m < n_modes && !rc; m++) {
		struct phase_fit fits[PHASE_COUNT];
		for (int p = 0; p < PHASE_COUNT && !rc; p++)
			rc = fit_phase(r, modes[m], (enum phase)p, &fits[p]);
		if (rc)
			break;
		fprintf(out, "### %s mode\n\n", modes[m]);
		bool any = false;
		for (int p = 0; p < PHASE_COUNT; p++)
			any |= fits[p].valid;
		if (!any) {
			fputs("Too few migrations of both classes, or no amounts recorded (older CSV): no fit.\n\n", out);
			continue;
		}
		rc = coefficient_table(out, fits);
		if (!rc) {
			fputc('\n', out);
			rc = share_table(out, fits);
		}
		if (!rc) {
			fputc('\n', out);
			why_sentences(out, fits);
			fputc('\n', out);
		}
	}
	return rc;
}
