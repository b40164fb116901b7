/* The Markdown report of a run (the `report` command). */
#ifndef HARNESS_REPORT_H
#define HARNESS_REPORT_H

#include <stdint.h>
#include <stdio.h>

#include "pairs.h"
#include "results.h"

struct report_options {
	const char *csv_path;    /* the results; meta.txt and figures/ are looked for beside it */
	const char *report_path; /* where the report goes */
	const char *plots_dir;   /* as plot_options */
	const char *mode;        /* the figures' mode; NULL: stream if present */
	const struct pair_list *pairs;
	const char *pairs_source; /* where the pairs came from, for the text; NULL: none */
	uint64_t seed;
};

/* Writes the report, drawing the figures first if figures/study.png is
 * missing (a report without figures, saying why, if gnuplot is missing or
 * fails).  0, or 4 when the report cannot be written, with the message in
 * ERR. */
int report_write(const struct results *r, const struct report_options *o, char *err, size_t errlen);

/* Parts of the report, for tests: the meta.txt table ("key=value" lines;
 * others are skipped) and the verdict section. */
void report_meta(FILE *out, const char *meta_path);
int report_claims(FILE *out, const struct results *r, const struct group_set *groups,
		  const struct pair_list *pairs, uint64_t seed);

#endif
