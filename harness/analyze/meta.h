/* meta.txt beside a results CSV (docs/harness-run.md): the machine, the
 * versions and every option of the run, as key=value lines; and what
 * `compare` makes of two of them before its verdict. */
#ifndef HARNESS_META_H
#define HARNESS_META_H

#include <stddef.h>
#include <stdio.h>

struct meta {
	size_t n;
	char **keys, **values;
};

/* Reads PATH; lines without '=' and '#' comments are skipped.  0, -errno
 * when it cannot be read (M is then empty), -ENOMEM. */
int meta_load(const char *path, struct meta *m);
/* meta.txt in the directory of CSV_PATH. */
int meta_load_beside(const char *csv_path, struct meta *m);
/* The value of KEY, NULL when absent (the last one when repeated). */
const char *meta_get(const struct meta *m, const char *key);
void meta_free(struct meta *m);

/* The first number of KEY's value ("0.43 2.46 2.92" gives 0.43); NAN when
 * absent or not a number. */
double meta_number(const struct meta *m, const char *key);

/* Prints a "warning: ..." line to OUT for each way the two runs' machines
 * or settings differ (machine, kernel, CPU model, cores, memory, the load
 * during the run, the binmig build and the run's options), naming both
 * values, and one line pointing to `harness ab` when any did.  Returns
 * how many differences. */
size_t meta_warn_differences(FILE *out, const struct meta *base, const char *base_name, const struct meta *fresh,
			     const char *fresh_name);

/* The calibrations a run may record, as meta.txt keys: a speed measured on
 * the machine at the start and end of the run (higher is faster). */
#define META_CALIBRATIONS 1
extern const char *const meta_calibration_names[META_CALIBRATIONS]; /* "copy" */
extern const char *const meta_calibration_keys[META_CALIBRATIONS];  /* "calib_copy_gbps" */

#endif
