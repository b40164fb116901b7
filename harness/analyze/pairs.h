/* The matched native/CLR workload pairs (workloads/pairs: "native/NAME
 * clr/NAME" per line) and their selection from a run's data. */
#ifndef HARNESS_PAIRS_H
#define HARNESS_PAIRS_H

#include <stdbool.h>
#include <stddef.h>

#include "results.h"

struct pair_names {
	char *native, *clr; /* workload names, without the "native/" or "clr/" prefix */
};

struct pair_list {
	size_t n;
	struct pair_names *pairs;
};

/* Parses the pairs file format: '#' comments, blank lines, and lines of two
 * names ("native/matmul clr/recordstore" or "matmul recordstore").  0,
 * -EINVAL with the line in ERR, -ENOMEM. */
int pairs_parse(const char *text, struct pair_list *out, char *err, size_t errlen);
int pairs_load(const char *path, struct pair_list *out, char *err, size_t errlen);
void pairs_free(struct pair_list *p);

/* A pair as found in the data: a native and a CLR configuration of the
 * same setting (size, rss target, compression, mode; see pairs_select). */
struct matched_pair {
	const struct group *native, *clr;
};

/* What the native/CLR comparison of one mode rests on.  Pairs come from the
 * listed workload pairs, or, with none of them in the data, from the only
 * native and the only CLR workload of the mode.  A pair of workloads gives
 * a matched pair per setting: size `matched` (per rss target) where both
 * have it, else `natural`; the same compression; the same thread count
 * unless each has a single configuration of that setting.  Without any
 * pair, every native configuration of the mode is pooled against every CLR
 * one. */
struct pair_selection {
	const char *mode;
	const char *size; /* only configurations of this size; NULL: matched preferred */
	size_t n_pairs;
	struct matched_pair *pairs;
	bool inferred; /* the pair was inferred, not listed */
	size_t n_native, n_clr; /* the pooled configurations when n_pairs == 0 */
	const struct group **native, **clr;
};

int pairs_select(const struct group_set *groups, const struct pair_list *listed, const char *mode,
		 struct pair_selection *out);
/* The same, of configurations of SIZE ("natural" or "matched") only;
 * SIZE NULL is pairs_select. */
int pairs_select_size(const struct group_set *groups, const struct pair_list *listed, const char *mode,
		      const char *size, struct pair_selection *out);
void pair_selection_free(struct pair_selection *s);

#define MODES_MAX 8

/* The modes of the data, "stream" first, then "file", then the others.
 * Returns how many (at most max); the strings belong to the groups. */
size_t modes_present(const struct group_set *groups, const char **modes, size_t max);

#endif
