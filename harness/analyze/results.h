/* The results of a run: the rows of a migrations.csv (docs/results-csv.md)
 * with the columns the analysis uses, and their grouping by configuration. */
#ifndef HARNESS_RESULTS_H
#define HARNESS_RESULTS_H

#include <stdbool.h>
#include <stddef.h>

#include "csv.h"

enum phase {
	PHASE_SUSPEND,
	PHASE_CHECKPOINT,
	PHASE_TRANSFER,
	PHASE_AS_RESTORE,
	PHASE_CTX_RESTORE,
	PHASE_DOWNTIME,
	PHASE_TOTAL,
	PHASE_COUNT
};

/* "suspend", "checkpoint", ... and their columns "suspend_us", ... */
extern const char *const phase_names[PHASE_COUNT];
extern const char *const phase_columns[PHASE_COUNT];

/* What a migration moved, the covariates of the phase times. */
enum moved {
	MOVED_PAGES,
	MOVED_VMAS,
	MOVED_THREADS,
	MOVED_FDS,
	MOVED_COUNT
};
/* "pages_total", "vmas", "proc_threads", "fds" */
extern const char *const moved_columns[MOVED_COUNT];

struct migration {
	size_t row;      /* 1-based record number after the header */
	size_t line;     /* line of the file the record starts on */
	const char *workload, *class_, *size, *mode, *status, *reason;
	long repetition; /* 0 when empty */
	long threads;    /* 1 when empty or the column is absent */
	const char *compression; /* "none" when empty or the column is absent */
	double rss_mib;  /* NAN when empty */
	double rss_target; /* the run's --rss target nearest rss_mib (size matched, several targets), else 0 */
	double phase_us[PHASE_COUNT]; /* NAN when not measured */
	/* What the migration moved (NAN when empty or the column is absent):
	 * present pages, memory areas, threads, descriptors. */
	double moved[MOVED_COUNT];
	const char *build; /* "base" or "new" in an A/B run (harness ab), else "" */
	bool ok;         /* status is "ok" */
};

struct results {
	char *path;
	size_t n;
	struct migration *rows;
	size_t n_ok, n_failed;
	struct csv_table table; /* owns the text the rows point to */
};


/* Loads a results CSV.  Bad input (unreadable, not CSV, missing columns,
 * a status other than ok/failed, a time that is not a non-negative number)
 * gives -EINVAL or -errno with a one-line message in ERR naming the file
 * and, for missing columns, all of them. */
int results_load(const char *path, struct results *out, char *err, size_t errlen);
/* The same from CSV text in memory; NAME stands for the file in messages. */
int results_parse(const char *name, const char *text, size_t len, struct results *out, char *err, size_t errlen);
void results_free(struct results *r);

/* A run with several resident-size targets for size `matched` (meta.txt's
 * `rss` list, e.g. "64,256") has a configuration per target: each matched
 * row is assigned to the target nearest its rss_mib on a log scale.  With
 * fewer than two targets nothing changes.  results_load reads the list
 * from meta.txt beside the CSV itself. */
void results_assign_rss_targets(struct results *r, const double *targets, size_t n);
/* The `rss` list of a meta.txt: up to MAX numbers into TARGETS; returns
 * how many (0 when the file or the key is absent). */
size_t results_meta_rss_targets(const char *meta_path, double *targets, size_t max);

/* A configuration: the migrations of one workload in one class, size
 * (with its rss target), thread count, compression and mode.  Only rows
 * with status ok belong to a group. */
struct group {
	const char *workload, *class_, *size, *mode, *compression;
	long threads;
	double rss_target;
	char *label;     /* the size, and what else sets the group apart in this run:
			  * "matched 256 MiB, 4 threads, zlib:1" */
	size_t n;
	size_t *members; /* indices into results.rows */
};

struct group_set {
	size_t n;
	struct group *groups;
};

/* Groups the ok rows, ordered by class (native first), workload, size,
 * rss target, threads, compression and mode.  0 or -ENOMEM. */
int groups_build(const struct results *r, struct group_set *out);
void groups_free(struct group_set *set);
/* The first group with these keys, or NULL. */
const struct group *groups_find(const struct group_set *set, const char *workload, const char *class_,
				const char *size, const char *mode);
/* The group of SET with the same configuration as LIKE (of another run). */
const struct group *groups_find_like(const struct group_set *set, const struct group *like);
/* Same size, rss target, threads, compression and mode. */
bool groups_same_setting(const struct group *a, const struct group *b);

/* The measured values of PHASE in group G (NAN ones skipped) into VALUES
 * (room for g->n) and, when ROWS is not NULL, their row numbers.  Returns
 * how many. */
size_t group_phase_values(const struct results *r, const struct group *g, enum phase phase, double *values,
			  size_t *rows);

/* Ordering of class names: native, clr, then others alphabetically. */
int class_order(const char *a, const char *b);
/* "CLR" for clr, the name otherwise: how a class is written for people. */
const char *class_label(const char *class_);

#endif
