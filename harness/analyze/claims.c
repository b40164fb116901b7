#include "claims.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>

#include <stdbool.h>
#include <string.h>

#include "stats.h"

const char *const claim_sizes[CLAIM_SIZES] = { "natural", "matched" };

double claim_expected(enum phase p)
{
	switch (p) {
	case PHASE_CHECKPOINT:
	case PHASE_AS_RESTORE:
		return 2;
	case PHASE_SUSPEND:
	case PHASE_CTX_RESTORE:
		return 1;
	default:
		return 0;
	}
}

void claim_band(double expected, double *low, double *high)
{
	*low = expected / CLAIM_TOLERANCE;
	*high = expected * CLAIM_TOLERANCE;
}

enum claim_verdict claim_judge(double lo, double hi, double expected)
{
	if (isnan(lo) || isnan(hi) || expected <= 0)
		return CLAIM_NO_DATA;
	double low, high;
	claim_band(expected, &low, &high);
	if (lo >= low && hi <= high)
		return CLAIM_HOLDS;
	if (hi < low || lo > high)
		return CLAIM_DISAGREES;
	return CLAIM_INCONCLUSIVE;
}

const char *claim_verdict_name(enum claim_verdict v)
{
	switch (v) {
	case CLAIM_HOLDS:
		return "holds";
	case CLAIM_INCONCLUSIVE:
		return "inconclusive";
	case CLAIM_DISAGREES:
		return "disagrees";
	case CLAIM_NO_DATA:
		break;
	}
	return "no data";
}

/* The values of PHASE over several configurations, concatenated. */
struct sample {
	double *values;
	size_t n;
};

static int collect(const struct results *r, const struct group *const *groups, size_t ngroups, enum phase p,
		   struct sample *out)
{
	size_t cap = 0;
	for (size_t i = 0; i < ngroups; i++)
		cap += groups[i]->n;
	out->n = 0;
	out->values = malloc((cap ? cap : 1) * sizeof *out->values);
	if (!out->values)
		return -ENOMEM;
	for (size_t i = 0; i < ngroups; i++)
		out->n += group_phase_values(r, groups[i], p, out->values + out->n, NULL);
	return 0;
}

/* Fills EST from strata of (CLR, native) samples, those with both samples
 * non-empty; leaves it invalid when there are none or a native median is 0. */
static int estimate(struct sample *clr, struct sample *native, size_t k, uint64_t seed, struct ratio_estimate *est)
{
	*est = (struct ratio_estimate){ .ratio = NAN, .lo = NAN, .hi = NAN, .clr_median = NAN, .native_median = NAN };
	struct stats_ratio_sample strata[k];
	size_t used = 0;
	for (size_t s = 0; s < k; s++) {
		est->n_clr += clr[s].n;
		est->n_native += native[s].n;
		if (clr[s].n && native[s].n)
			strata[used++] = (struct stats_ratio_sample){ clr[s].values, native[s].values, clr[s].n, native[s].n };
	}
	if (!used)
		return 0;
	int rc = 0;
	if (k == 1) {
		rc = stats_median(clr[0].values, clr[0].n, &est->clr_median);
		if (rc == 0)
			rc = stats_median(native[0].values, native[0].n, &est->native_median);
	}
	if (rc == 0)
		rc = stats_bootstrap_pooled_ratio(strata, used, STATS_RESAMPLES, seed, STATS_LEVEL, &est->ratio,
						  &est->lo, &est->hi);
	if (rc == -ERANGE)
		return 0;
	if (rc)
		return rc;
	est->valid = !isnan(est->ratio);
	return 0;
}

static void free_samples(struct sample *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(s[i].values);
}

static int evaluate_mode(const struct results *r, const struct group_set *groups, const struct pair_list *pairs,
			 uint64_t seed, struct mode_claims *mc)
{
	int rc = pairs_select_size(groups, pairs, mc->mode, mc->size, &mc->selection);
	if (rc)
		return rc;
	const struct pair_selection *sel = &mc->selection;
	size_t k = sel->n_pairs ? sel->n_pairs : 1;
	mc->pairs = calloc(k * PHASE_COUNT, sizeof *mc->pairs);
	struct sample *clr = calloc(k, sizeof *clr), *native = calloc(k, sizeof *native);
	if (!mc->pairs || !clr || !native)
		rc = -ENOMEM;
	for (int p = 0; p < PHASE_COUNT && rc == 0; p++) {
		for (size_t s = 0; s < sel->n_pairs && rc == 0; s++) {
			const struct group *c = sel->pairs[s].clr, *n = sel->pairs[s].native;
			rc = collect(r, &c, 1, (enum phase)p, &clr[s]);
			if (rc == 0)
				rc = collect(r, &n, 1, (enum phase)p, &native[s]);
			if (rc == 0)
				rc = estimate(&clr[s], &native[s], 1, seed, &mc->pairs[s * PHASE_COUNT + p]);
		}
		if (sel->n_pairs == 0) {
			rc = collect(r, sel->clr, sel->n_clr, (enum phase)p, &clr[0]);
			if (rc == 0)
				rc = collect(r, sel->native, sel->n_native, (enum phase)p, &native[0]);
		}
		if (rc == 0)
			rc = estimate(clr, native, k, seed, &mc->pooled[p]);
		if (rc == 0 && mc->pooled[p].valid)
			mc->verdict[p] = claim_judge(mc->pooled[p].lo, mc->pooled[p].hi, claim_expected((enum phase)p));
		free_samples(clr, k);
		free_samples(native, k);
		for (size_t s = 0; s < k; s++)
			clr[s] = native[s] = (struct sample){ 0 };
	}
	free(clr);
	free(native);
	return rc;
}

int claims_evaluate(const struct results *r, const struct group_set *groups, const struct pair_list *pairs,
		    uint64_t seed, struct claims *out)
{
	*out = (struct claims){ 0 };
	const char *modes[MODES_MAX];
	size_t n = modes_present(groups, modes, MODES_MAX);
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++)
		for (size_t s = 0; s < CLAIM_SIZES && rc == 0; s++) {
			bool present = false;
			for (size_t g = 0; g < groups->n && !present; g++)
				present = !strcmp(groups->groups[g].mode, modes[i]) &&
					  !strcmp(groups->groups[g].size, claim_sizes[s]);
			if (!present)
				continue;
			struct mode_claims *mc = &out->modes[out->n_modes++];
			mc->mode = modes[i];
			mc->size = claim_sizes[s];
			rc = evaluate_mode(r, groups, pairs, seed, mc);
		}
	if (rc)
		claims_free(out);
	return rc;
}

void claims_free(struct claims *c)
{
	for (size_t i = 0; i < c->n_modes; i++) {
		pair_selection_free(&c->modes[i].selection);
		free(c->modes[i].pairs);
	}
	*c = (struct claims){ 0 };
}
