/* The harness's CSV reader and results loader (harness/analyze/csv.c,
 * results.c) on the input as the contents of a migrations.csv: the CSV
 * itself, the rows as results, their grouping into configurations with
 * labels and phase values, and the assignment of rss targets. */
#include <stdlib.h>

#include "../../harness/analyze/csv.h"
#include "../../harness/analyze/results.h"
#include "fuzz.h"

static void use_results(struct results *r)
{
	static const double targets[] = { 64, 256, 1024 };
	results_assign_rss_targets(r, targets, sizeof targets / sizeof targets[0]);
	struct group_set groups;
	if (groups_build(r, &groups) != 0)
		return;
	double *values = malloc((r->n ? r->n : 1) * sizeof *values);
	size_t *rows = malloc((r->n ? r->n : 1) * sizeof *rows);
	for (size_t i = 0; values && rows && i < groups.n; i++) {
		groups_find_like(&groups, &groups.groups[i]);
		for (int phase = 0; phase < PHASE_COUNT; phase++)
			group_phase_values(r, &groups.groups[i], (enum phase)phase, values, rows);
	}
	free(values);
	free(rows);
	groups_free(&groups);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	char err[512];
	struct csv_table table;
	if (csv_parse(text, size, &table, err, sizeof err) == 0) {
		for (size_t j = 0; j < table.ncols; j++)
			csv_column(&table, table.header[j]);
		csv_free(&table);
	}
	struct results r;
	if (results_parse("fuzz.csv", text, size, &r, err, sizeof err) == 0) {
		use_results(&r);
		results_free(&r);
	}
	return 0;
}
