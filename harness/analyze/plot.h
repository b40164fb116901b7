/* The figures of a run: data files written here, drawn by the gnuplot
 * scripts in plots/ (the `plot` command). */
#ifndef HARNESS_PLOT_H
#define HARNESS_PLOT_H

#include <stdint.h>

#include "pairs.h"
#include "results.h"

/* Exit codes of the plot command beyond 0 and 2 (bad input). */
enum plot_outcome {
	PLOT_DONE = 0,
	PLOT_BAD_INPUT = 2,
	PLOT_NO_GNUPLOT = 3,
	PLOT_FAILED = 4, /* writing a file or running gnuplot failed */
};

struct plot_options {
	const char *out_dir;   /* where the figures go; data files in OUT_DIR/data */
	const char *plots_dir; /* the gnuplot scripts; NULL: found from BINMIG_ROOT or the program's location */
	const char *mode;      /* the mode of the study, scaling and downtime figures; NULL: stream if present */
	const struct pair_list *pairs;
};

/* The figures, by file name without extension. */
#define PLOT_FIGURES 5
extern const char *const plot_figure_names[PLOT_FIGURES];
extern const char *const plot_figure_titles[PLOT_FIGURES];

/* Draws every figure the data allows as PNG and SVG, and PDF when gnuplot
 * has the pdfcairo terminal.  The message in ERR says what failed. */
enum plot_outcome plot_results(const struct results *r, const struct group_set *groups,
			       const struct plot_options *o, char *err, size_t errlen);

/* The gnuplot program: $GNUPLOT, or gnuplot on PATH.  0 or -ENOENT. */
int plot_find_gnuplot(char *path, size_t len);

#endif
