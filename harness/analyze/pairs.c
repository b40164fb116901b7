#include "pairs.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "native/matmul" -> "matmul" */
static char *workload_name(const char *token, size_t len)
{
	const char *slash = memchr(token, '/', len);
	if (slash) {
		len -= (size_t)(slash + 1 - token);
		token = slash + 1;
	}
	return strndup(token, len);
}

int pairs_parse(const char *text, struct pair_list *out, char *err, size_t errlen)
{
	*out = (struct pair_list){ 0 };
	size_t line_no = 0;
	for (const char *line = text; *line;) {
		const char *end = strchrnul(line, '\n');
		line_no++;
		const char *tok[3];
		size_t tok_len[3], ntok = 0;
		for (const char *p = line; p < end && *p != '#';) {
			while (p < end && (*p == ' ' || *p == '\t' || *p == '\r'))
				p++;
			if (p >= end || *p == '#')
				break;
			const char *start = p;
			while (p < end && *p != ' ' && *p != '\t' && *p != '\r' && *p != '#')
				p++;
			if (ntok < 3) {
				tok[ntok] = start;
				tok_len[ntok] = (size_t)(p - start);
			}
			ntok++;
		}
		if (ntok != 0 && ntok != 2) {
			snprintf(err, errlen, "line %zu: expected two workloads (native and CLR)", line_no);
			pairs_free(out);
			return -EINVAL;
		}
		if (ntok == 2) {
			struct pair_names *grown = realloc(out->pairs, (out->n + 1) * sizeof *grown);
			if (!grown) {
				pairs_free(out);
				return -ENOMEM;
			}
			out->pairs = grown;
			struct pair_names *p = &out->pairs[out->n++];
			p->native = workload_name(tok[0], tok_len[0]);
			p->clr = workload_name(tok[1], tok_len[1]);
			if (!p->native || !p->clr) {
				pairs_free(out);
				return -ENOMEM;
			}
		}
		line = *end ? end + 1 : end;
	}
	return 0;
}

int pairs_load(const char *path, struct pair_list *out, char *err, size_t errlen)
{
	*out = (struct pair_list){ 0 };
	FILE *f = fopen(path, "r");
	if (!f) {
		int e = errno;
		snprintf(err, errlen, "cannot read %s: %s", path, strerror(e));
		return -e;
	}
	char *text = NULL;
	size_t cap = 0;
	ssize_t got = getdelim(&text, &cap, '\0', f);
	int rc = ferror(f) ? -EIO : 0;
	fclose(f);
	if (rc == 0) {
		char reason[128];
		rc = pairs_parse(got > 0 ? text : "", out, reason, sizeof reason);
		if (rc == -EINVAL)
			snprintf(err, errlen, "%s: %s", path, reason);
	}
	if (rc && rc != -EINVAL)
		snprintf(err, errlen, "cannot read %s: %s", path, strerror(-rc));
	free(text);
	return rc;
}

void pairs_free(struct pair_list *p)
{
	for (size_t i = 0; i < p->n; i++) {
		free(p->pairs[i].native);
		free(p->pairs[i].clr);
	}
	free(p->pairs);
	*p = (struct pair_list){ 0 };
}

static bool same_setting_but_threads(const struct group *a, const struct group *b)
{
	return !strcmp(a->size, b->size) && a->rss_target == b->rss_target && !strcmp(a->compression, b->compression) &&
	       !strcmp(a->mode, b->mode);
}

/* Pairs the configurations of the workloads NATIVE and CLR in MODE: those
 * of the same size, rss target and compression, and of the same thread
 * count unless each side has a single configuration of that setting (the
 * members of a pair may have different defaults).  Size `matched` is
 * preferred; `natural` is used only when no matched pair exists. */
static void pair_workloads(const struct group_set *g, const char *native, const char *clr, const char *mode,
			   const char *size, struct pair_selection *out)
{
	static const char *const sizes[] = { "matched", "natural" };
	for (size_t s = 0; s < 2; s++) {
		if (size && strcmp(size, sizes[s]))
			continue;
		size_t before = out->n_pairs;
		for (size_t i = 0; i < g->n; i++) {
			const struct group *a = &g->groups[i];
			if (strcmp(a->workload, native) || strcmp(a->class_, "native") || strcmp(a->mode, mode) ||
			    strcmp(a->size, sizes[s]))
				continue;
			const struct group *same_threads = NULL, *other = NULL;
			size_t n_clr = 0, n_native = 0;
			for (size_t k = 0; k < g->n; k++) {
				const struct group *b = &g->groups[k];
				if (!same_setting_but_threads(a, b))
					continue;
				if (!strcmp(b->workload, clr) && !strcmp(b->class_, "clr")) {
					n_clr++;
					if (b->threads == a->threads)
						same_threads = b;
					else
						other = b;
				}
				n_native += !strcmp(b->workload, native) && !strcmp(b->class_, "native");
			}
			const struct group *partner = same_threads ? same_threads : n_clr == 1 && n_native == 1 ? other : NULL;
			if (partner)
				out->pairs[out->n_pairs++] = (struct matched_pair){ a, partner };
		}
		if (out->n_pairs > before)
			return;
	}
}

static bool of_size(const struct group *g, const char *size)
{
	return !size || !strcmp(g->size, size);
}

/* The name of the only workload of CLASS in MODE (and SIZE), or NULL. */
static const char *only_workload(const struct group_set *g, const char *class_, const char *mode, const char *size)
{
	const char *name = NULL;
	for (size_t i = 0; i < g->n; i++) {
		const struct group *x = &g->groups[i];
		if (strcmp(x->mode, mode) || strcmp(x->class_, class_) || !of_size(x, size))
			continue;
		if (name && strcmp(name, x->workload))
			return NULL;
		name = x->workload;
	}
	return name;
}

int pairs_select(const struct group_set *groups, const struct pair_list *listed, const char *mode,
		 struct pair_selection *out)
{
	return pairs_select_size(groups, listed, mode, NULL, out);
}

int pairs_select_size(const struct group_set *groups, const struct pair_list *listed, const char *mode,
		      const char *size, struct pair_selection *out)
{
	*out = (struct pair_selection){ .mode = mode, .size = size };
	out->pairs = calloc(groups->n + 1, sizeof *out->pairs);
	out->native = calloc(groups->n + 1, sizeof *out->native);
	out->clr = calloc(groups->n + 1, sizeof *out->clr);
	if (!out->pairs || !out->native || !out->clr) {
		pair_selection_free(out);
		return -ENOMEM;
	}
	for (size_t i = 0; listed && i < listed->n; i++)
		pair_workloads(groups, listed->pairs[i].native, listed->pairs[i].clr, mode, size, out);
	if (out->n_pairs == 0) {
		const char *native = only_workload(groups, "native", mode, size);
		const char *clr = only_workload(groups, "clr", mode, size);
		if (native && clr) {
			pair_workloads(groups, native, clr, mode, size, out);
			out->inferred = out->n_pairs > 0;
		}
	}
	if (out->n_pairs == 0)
		for (size_t i = 0; i < groups->n; i++) {
			const struct group *g = &groups->groups[i];
			if (strcmp(g->mode, mode) || !of_size(g, size))
				continue;
			if (!strcmp(g->class_, "native"))
				out->native[out->n_native++] = g;
			else if (!strcmp(g->class_, "clr"))
				out->clr[out->n_clr++] = g;
		}
	return 0;
}

void pair_selection_free(struct pair_selection *s)
{
	free(s->pairs);
	free(s->native);
	free(s->clr);
	*s = (struct pair_selection){ 0 };
}

static int mode_rank(const char *m)
{
	return !strcmp(m, "stream") ? 0 : !strcmp(m, "file") ? 1 : 2;
}

size_t modes_present(const struct group_set *groups, const char **modes, size_t max)
{
	size_t n = 0;
	for (size_t i = 0; i < groups->n; i++) {
		const char *m = groups->groups[i].mode;
		bool seen = false;
		for (size_t k = 0; k < n && !seen; k++)
			seen = !strcmp(modes[k], m);
		if (seen || n == max)
			continue;
		/* Insertion in rank, then name, order. */
		size_t at = n;
		while (at > 0 && (mode_rank(modes[at - 1]) > mode_rank(m) ||
				  (mode_rank(modes[at - 1]) == mode_rank(m) && strcmp(modes[at - 1], m) > 0))) {
			modes[at] = modes[at - 1];
			at--;
		}
		modes[at] = m;
		n++;
	}
	return n;
}
