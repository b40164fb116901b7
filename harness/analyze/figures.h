/* The data files behind the figures (plot.c draws them with the scripts
 * in plots/): what each figure shows, computed here, and what its script
 * needs to know about it (the "layout"). */
#ifndef HARNESS_FIGURES_H
#define HARNESS_FIGURES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "pairs.h"
#include "results.h"

/* The phases drawn, in block order: all but total, which downtime nearly
 * repeats. */
#define FIGURE_PHASES 6

/* Values of a phase over several configurations, concatenated (scratch
 * space reused from figure to figure). */
struct pooled {
	double *values;
	size_t n, cap;
};

struct figure_data {
	const struct results *r;
	const struct group_set *groups;
	const char *mode; /* of the study, scaling and downtime figures */
	struct pair_selection sel;
	struct pooled a, b;
};

void figure_data_free(struct figure_data *d);

/* Six bar panels: for each, which of the two series have data ('0' none,
 * '1' or '2' only that one, 'b' both: a series without a value makes
 * gnuplot warn) and the top of its time axis (histogram autoscaling
 * ignores the error bars). */
struct study_layout {
	char panels[FIGURE_PHASES + 1];
	double top[FIGURE_PHASES];
	size_t n_groups;  /* groups of bars per panel */
	bool three_lines; /* the labels name a setting too */
	char subtitle[256];
};

/* Figure 1: per phase, native and CLR (mean and 95% t interval) per matched
 * pair and over all pairs.  Block per phase: "label" native mean low high,
 * CLR mean low high, in ms. */
int figure_study(FILE *f, struct figure_data *d, struct study_layout *out);

struct scaling_layout {
	char has[2 * FIGURE_PHASES + 1]; /* class c of phase p has points: has[2p + c] == '1' */
	char logy[FIGURE_PHASES + 1];    /* '1' where the times span a decade */
	double xlo, xhi;                 /* the size axis */
};

/* Figure 2: every migration of the mode as a point (resident MiB, ms), and
 * per class a line through the medians of half-octave bins.  Block
 * 2 * phase + class (0 native, 1 CLR) in both files. */
int figure_scaling(FILE *points, FILE *medians, struct figure_data *d, struct scaling_layout *out);

struct downtime_layout {
	int n_native, n_clr, n_outliers;
	bool logy;
};

/* Figure 3: a Tukey box of downtime per configuration of the mode, natives
 * first.  Block 0: "x q1 whisker_low whisker_high q3 median label class"
 * (class 0 native, 1 CLR); block 1: the outliers, "x ms". */
int figure_downtime(FILE *f, struct figure_data *d, struct downtime_layout *out);

struct modes_layout {
	/* Per phase, the 1-based numbers of the modes with data there, one
	 * digit each ("13"), or "-" for none. */
	char present[FIGURE_PHASES][MODES_MAX + 1];
	double top[FIGURE_PHASES];
};

/* Figure 4: per phase and class, the mean with its interval in each of
 * the N_MODES modes (at most MODES_MAX).  Block per phase: "class" then
 * mean low high of each mode in turn. */
int figure_modes(FILE *f, struct figure_data *d, const char *const *modes, size_t n_modes, struct modes_layout *out);

/* The phases of the covariates figure: the four the study made claims on. */
#define COVARIATE_PHASES 4
extern const enum phase covariate_phases[COVARIATE_PHASES];

struct covariates_layout {
	char has[2 * COVARIATE_PHASES + 1]; /* class c of phase i has points: has[2i + c] == '1' */
	bool any;                           /* the CSV records pages and threads */
};

/* Figure 5 ("Why the phases differ" of the report): every migration of the
 * mode as a point, its time against the resident pages and against the
 * threads it moved, coloured by class.  Block 2 * i + class (0 native,
 * 1 CLR) of "pages threads ms" lines, i over covariate_phases. */
int figure_covariates(FILE *f, struct figure_data *d, struct covariates_layout *out);

/* The panels' axis tops as gnuplot words, with a margin above. */
void figure_format_tops(char *buf, size_t len, const double *top);

#endif
