/* Why the phases differ: per phase, a least-squares fit of the time
 * against what the migration moved (resident pages, VMAs, threads,
 * descriptors: the CSV's pages_total, vmas, proc_threads, fds) and a
 * CLR term, and how much of the CLR/native difference in mean time the
 * moved amounts account for (docs/harness.md, "Why the phases differ"). */
#ifndef HARNESS_FIT_H
#define HARNESS_FIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "results.h"

/* Intercept, the covariates, the CLR term. */
#define FIT_TERMS (2 + MOVED_COUNT)
#define FIT_CLR_TERM (1 + MOVED_COUNT)

/* Ordinary least squares of Y (N values) on the P columns of X (row-major,
 * N x P): coefficients into COEF, their standard errors into SE (NULL: not
 * wanted), the covariance of the coefficients into COV (P x P, NULL: not
 * wanted), the residual standard deviation and R^2.  Columns are scaled
 * inside, so their magnitudes may differ widely.  -EINVAL when N <= P,
 * -EDOM when the columns are (nearly) collinear, -ENOMEM. */
int fit_ols(const double *x, const double *y, size_t n, size_t p, double *coef, double *se, double *cov,
	    double *sigma, double *r2);

/* The share of the CLR/native difference at one size. */
struct fit_share {
	bool valid;
	size_t n_native, n_clr;
	double native_mean, clr_mean; /* us */
	double difference;            /* clr_mean - native_mean */
	double explained, lo, hi;     /* sum of coef * (clr mean - native mean) of each covariate, its interval */
	double by[MOVED_COUNT];       /* the part of each covariate */
};

struct phase_fit {
	bool valid;
	size_t n;
	bool used[FIT_TERMS];   /* covariates constant in the data or collinear with others are left out */
	double coef[FIT_TERMS]; /* us per page, per VMA, ...; the CLR term in us */
	double lo[FIT_TERMS], hi[FIT_TERMS];
	double sigma, r2;
	/* At natural size (the study's setting) and at matched size. */
	struct fit_share share[2];
};

/* Fits PHASE over the successful migrations of MODE (every size
 * together) with 95% intervals.  0, -ENOMEM; F->valid false when there is
 * too little data or a class is missing. */
int fit_phase(const struct results *r, const char *mode, enum phase phase, struct phase_fit *f);

/* The report's section for every mode of the data: per mode a table of
 * the fitted coefficients and one of the explained shares, and a sentence
 * per claimed phase. */
int fit_report(FILE *out, const struct results *r, const struct group_set *groups);

#endif
