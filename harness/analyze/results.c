#include "results.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const phase_names[PHASE_COUNT] = {
	"suspend", "checkpoint", "transfer", "as_restore", "ctx_restore", "downtime", "total",
};
const char *const phase_columns[PHASE_COUNT] = {
	"suspend_us", "checkpoint_us", "transfer_us", "as_restore_us", "ctx_restore_us", "downtime_us", "total_us",
};

enum column {
	COL_WORKLOAD,
	COL_CLASS,
	COL_SIZE,
	COL_MODE,
	COL_RSS,
	COL_REPETITION,
	COL_STATUS,
	COL_REASON,
	COL_FIRST_PHASE,
	COL_COUNT = COL_FIRST_PHASE + PHASE_COUNT
};

static const char *const fixed_columns[COL_FIRST_PHASE] = {
	"workload", "class", "size", "mode", "rss_mib", "repetition", "status", "reason",
};

const char *const moved_columns[MOVED_COUNT] = { "pages_total", "vmas", "proc_threads", "fds" };

/* Columns older files or hand-made ones may lack; the moved ones follow
 * these, in the order of moved_columns. */
enum optional_column { OPT_THREADS, OPT_COMPRESSION, OPT_BUILD, OPT_FIRST_MOVED, OPT_COUNT = OPT_FIRST_MOVED + MOVED_COUNT };
static const char *optional_name(int c)
{
	static const char *const names[OPT_FIRST_MOVED] = { "threads", "compression", "build" };
	return c < OPT_FIRST_MOVED ? names[c] : moved_columns[c - OPT_FIRST_MOVED];
}

static const char *column_name(int c)
{
	return c < COL_FIRST_PHASE ? fixed_columns[c] : phase_columns[c - COL_FIRST_PHASE];
}

__attribute__((format(printf, 3, 4))) static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* An empty field is NAN ("not measured"); anything else must be a finite
 * non-negative number. */
static int parse_amount(const char *text, double *out)
{
	if (text[0] == '\0') {
		*out = NAN;
		return 0;
	}
	char *end;
	errno = 0;
	double v = strtod(text, &end);
	if (errno || *end != '\0' || !isfinite(v) || v < 0)
		return -EINVAL;
	*out = v;
	return 0;
}

static int find_columns(const char *name, const struct csv_table *t, int index[COL_COUNT], char *err, size_t errlen)
{
	char missing[512] = "";
	size_t used = 0, n_missing = 0;
	for (int c = 0; c < COL_COUNT; c++) {
		index[c] = csv_column(t, column_name(c));
		if (index[c] >= 0)
			continue;
		n_missing++;
		int w = snprintf(missing + used, sizeof missing - used, "%s%s", used ? ", " : "", column_name(c));
		if (w > 0 && (size_t)w < sizeof missing - used)
			used += (size_t)w;
	}
	if (n_missing)
		return fail(err, errlen, "%s: missing column%s: %s", name, n_missing > 1 ? "s" : "", missing);
	return 0;
}

static int parse_row(const char *name, const struct csv_table *t, size_t i, const int index[COL_COUNT],
		     const int optional[OPT_COUNT], struct migration *m, char *err, size_t errlen)
{
	char *const *f = t->rows[i];
	const char *threads = optional[OPT_THREADS] >= 0 ? f[optional[OPT_THREADS]] : "";
	const char *compression = optional[OPT_COMPRESSION] >= 0 ? f[optional[OPT_COMPRESSION]] : "";
	const char *build = optional[OPT_BUILD] >= 0 ? f[optional[OPT_BUILD]] : "";
	*m = (struct migration){
		.row = i + 1,
		.line = t->lines[i],
		.workload = f[index[COL_WORKLOAD]],
		.class_ = f[index[COL_CLASS]],
		.size = f[index[COL_SIZE]],
		.mode = f[index[COL_MODE]],
		.status = f[index[COL_STATUS]],
		.reason = f[index[COL_REASON]],
		.threads = 1,
		.compression = compression[0] ? compression : "none",
		.build = build,
	};
	if (strcmp(m->status, "ok") == 0)
		m->ok = true;
	else if (strcmp(m->status, "failed") != 0)
		return fail(err, errlen, "%s: line %zu: status \"%s\" is neither ok nor failed", name, m->line, m->status);
	if (m->ok && m->workload[0] == '\0')
		return fail(err, errlen, "%s: line %zu: empty workload", name, m->line);
	for (int p = 0; p < PHASE_COUNT; p++)
		if (parse_amount(f[index[COL_FIRST_PHASE + p]], &m->phase_us[p]) < 0)
			return fail(err, errlen, "%s: line %zu: %s \"%s\" is not a non-negative number", name, m->line,
				    phase_columns[p], f[index[COL_FIRST_PHASE + p]]);
	for (int k = 0; k < MOVED_COUNT; k++) {
		int c = optional[OPT_FIRST_MOVED + k];
		m->moved[k] = NAN;
		if (c >= 0 && parse_amount(f[c], &m->moved[k]) < 0)
			return fail(err, errlen, "%s: line %zu: %s \"%s\" is not a non-negative number", name, m->line,
				    moved_columns[k], f[c]);
	}
	if (parse_amount(f[index[COL_RSS]], &m->rss_mib) < 0)
		return fail(err, errlen, "%s: line %zu: rss_mib \"%s\" is not a non-negative number", name, m->line,
			    f[index[COL_RSS]]);
	if (threads[0]) {
		char *end;
		errno = 0;
		m->threads = strtol(threads, &end, 10);
		if (errno || *end || m->threads < 0)
			return fail(err, errlen, "%s: line %zu: threads \"%s\" is not a number", name, m->line, threads);
	}
	const char *rep = f[index[COL_REPETITION]];
	if (rep[0]) {
		char *end;
		errno = 0;
		m->repetition = strtol(rep, &end, 10);
		if (errno || *end || m->repetition < 0)
			return fail(err, errlen, "%s: line %zu: repetition \"%s\" is not a number", name, m->line, rep);
	}
	return 0;
}

static int results_from_table(const char *name, struct results *out, char *err, size_t errlen)
{
	int index[COL_COUNT], optional[OPT_COUNT];
	int rc = find_columns(name, &out->table, index, err, errlen);
	if (rc)
		return rc;
	for (int c = 0; c < OPT_COUNT; c++)
		optional[c] = csv_column(&out->table, optional_name(c));
	out->n = out->table.nrows;
	out->rows = calloc(out->n ? out->n : 1, sizeof *out->rows);
	if (!out->rows)
		return -ENOMEM;
	for (size_t i = 0; i < out->n; i++) {
		rc = parse_row(name, &out->table, i, index, optional, &out->rows[i], err, errlen);
		if (rc)
			return rc;
		if (out->rows[i].ok)
			out->n_ok++;
		else
			out->n_failed++;
	}
	return 0;
}

static int finish(const char *name, struct results *out, int rc, char *err, size_t errlen)
{
	if (rc == 0) {
		out->path = strdup(name);
		if (!out->path)
			rc = -ENOMEM;
	}
	if (rc == -ENOMEM)
		snprintf(err, errlen, "%s: out of memory", name);
	if (rc)
		results_free(out);
	return rc;
}

int results_parse(const char *name, const char *text, size_t len, struct results *out, char *err, size_t errlen)
{
	*out = (struct results){ 0 };
	char reason[256];
	int rc = csv_parse(text, len, &out->table, reason, sizeof reason);
	if (rc)
		snprintf(err, errlen, "%s: %s", name, reason);
	else
		rc = results_from_table(name, out, err, errlen);
	return finish(name, out, rc, err, errlen);
}

int results_load(const char *path, struct results *out, char *err, size_t errlen)
{
	*out = (struct results){ 0 };
	int rc = csv_read_file(path, &out->table, err, errlen);
	if (rc == 0)
		rc = results_from_table(path, out, err, errlen);
	rc = finish(path, out, rc, err, errlen);
	if (rc == 0) {
		char meta[4096];
		const char *slash = strrchr(path, '/');
		snprintf(meta, sizeof meta, "%.*smeta.txt", slash ? (int)(slash - path + 1) : 0, path);
		double targets[64];
		results_assign_rss_targets(out, targets, results_meta_rss_targets(meta, targets, 64));
	}
	return rc;
}

size_t results_meta_rss_targets(const char *meta_path, double *targets, size_t max)
{
	FILE *f = fopen(meta_path, "r");
	if (!f)
		return 0;
	char *line = NULL;
	size_t cap = 0, n = 0;
	while (getline(&line, &cap, f) >= 0) {
		if (strncmp(line, "rss=", 4) != 0)
			continue;
		n = 0;
		for (char *p = line + 4; *p && n < max;) {
			char *end;
			double v = strtod(p, &end);
			if (end == p) {
				p++; /* a separator: ',', ' ' or the line end */
				continue;
			}
			if (v > 0)
				targets[n++] = v;
			p = end;
		}
	}
	free(line);
	fclose(f);
	return n;
}

void results_assign_rss_targets(struct results *r, const double *targets, size_t n)
{
	for (size_t i = 0; i < r->n; i++) {
		struct migration *m = &r->rows[i];
		m->rss_target = 0;
		if (n < 2 || strcmp(m->size, "matched") || !(m->rss_mib > 0))
			continue;
		double best = INFINITY;
		for (size_t k = 0; k < n; k++) {
			double distance = fabs(log(m->rss_mib / targets[k]));
			if (distance < best) {
				best = distance;
				m->rss_target = targets[k];
			}
		}
	}
}

void results_free(struct results *r)
{
	free(r->path);
	free(r->rows);
	csv_free(&r->table);
	*r = (struct results){ 0 };
}

int class_order(const char *a, const char *b)
{
	static const char *const known[] = { "native", "clr" };
	int ra = 2, rb = 2;
	for (int i = 0; i < 2; i++) {
		if (strcmp(a, known[i]) == 0)
			ra = i;
		if (strcmp(b, known[i]) == 0)
			rb = i;
	}
	if (ra != rb)
		return ra - rb;
	return strcmp(a, b);
}

const char *class_label(const char *class_)
{
	return strcmp(class_, "clr") == 0 ? "CLR" : class_;
}

static int group_order(const void *pa, const void *pb)
{
	const struct group *a = pa, *b = pb;
	int c = class_order(a->class_, b->class_);
	if (!c)
		c = strcmp(a->workload, b->workload);
	if (!c)
		c = strcmp(a->size, b->size);
	if (!c)
		c = (a->rss_target > b->rss_target) - (a->rss_target < b->rss_target);
	if (!c)
		c = (a->threads > b->threads) - (a->threads < b->threads);
	if (!c)
		c = strcmp(a->compression, b->compression);
	if (!c)
		c = strcmp(a->mode, b->mode);
	return c;
}

bool groups_same_setting(const struct group *a, const struct group *b)
{
	return !strcmp(a->size, b->size) && a->rss_target == b->rss_target && a->threads == b->threads &&
	       !strcmp(a->compression, b->compression) && !strcmp(a->mode, b->mode);
}

const struct group *groups_find_like(const struct group_set *set, const struct group *like)
{
	for (size_t i = 0; i < set->n; i++) {
		const struct group *g = &set->groups[i];
		if (!strcmp(g->workload, like->workload) && !strcmp(g->class_, like->class_) &&
		    groups_same_setting(g, like))
			return g;
	}
	return NULL;
}

static bool migration_in_group(const struct migration *m, const struct group *g)
{
	return !strcmp(g->workload, m->workload) && !strcmp(g->class_, m->class_) && !strcmp(g->size, m->size) &&
	       !strcmp(g->mode, m->mode) && g->threads == m->threads && !strcmp(g->compression, m->compression) &&
	       g->rss_target == m->rss_target;
}

/* Threads and compression appear in a label only when the run varies
 * them (for the workload, for compression the whole run). */
static int make_labels(const struct results *r, struct group_set *set)
{
	bool compression_varies = false;
	for (size_t i = 1; i < set->n; i++)
		compression_varies |= strcmp(set->groups[i].compression, set->groups[0].compression) != 0;
	for (size_t i = 0; i < set->n; i++) {
		struct group *g = &set->groups[i];
		bool threads_vary = false;
		for (size_t k = 0; k < r->n; k++)
			threads_vary |= r->rows[k].ok && !strcmp(r->rows[k].workload, g->workload) &&
					r->rows[k].threads != g->threads;
		char rss[48] = "", threads[48] = "", compression[96] = "";
		if (g->rss_target > 0)
			snprintf(rss, sizeof rss, " %g MiB", g->rss_target);
		if (threads_vary)
			snprintf(threads, sizeof threads, ", %ld thread%s", g->threads, g->threads == 1 ? "" : "s");
		if (compression_varies)
			snprintf(compression, sizeof compression, ", %s", g->compression);
		if (asprintf(&g->label, "%s%s%s%s", g->size, rss, threads, compression) < 0) {
			g->label = NULL;
			return -ENOMEM;
		}
	}
	return 0;
}

const struct group *groups_find(const struct group_set *set, const char *workload, const char *class_,
				const char *size, const char *mode)
{
	for (size_t i = 0; i < set->n; i++) {
		const struct group *g = &set->groups[i];
		if (!strcmp(g->workload, workload) && !strcmp(g->class_, class_) && !strcmp(g->size, size) &&
		    !strcmp(g->mode, mode))
			return g;
	}
	return NULL;
}

int groups_build(const struct results *r, struct group_set *out)
{
	*out = (struct group_set){ 0 };
	/* Each row is in one group: r->n_ok groups at most. */
	out->groups = calloc(r->n_ok ? r->n_ok : 1, sizeof *out->groups);
	if (!out->groups)
		return -ENOMEM;
	for (size_t i = 0; i < r->n; i++) {
		const struct migration *m = &r->rows[i];
		if (!m->ok)
			continue;
		struct group *g = NULL;
		for (size_t k = 0; k < out->n && !g; k++)
			if (migration_in_group(m, &out->groups[k]))
				g = &out->groups[k];
		if (!g) {
			g = &out->groups[out->n++];
			*g = (struct group){ .workload = m->workload, .class_ = m->class_, .size = m->size,
					     .mode = m->mode, .compression = m->compression, .threads = m->threads,
					     .rss_target = m->rss_target };
			g->members = malloc(r->n_ok * sizeof *g->members);
			if (!g->members) {
				groups_free(out);
				return -ENOMEM;
			}
		}
		g->members[g->n++] = i;
	}
	qsort(out->groups, out->n, sizeof *out->groups, group_order);
	if (make_labels(r, out)) {
		groups_free(out);
		return -ENOMEM;
	}
	return 0;
}

void groups_free(struct group_set *set)
{
	for (size_t i = 0; i < set->n; i++) {
		free(set->groups[i].members);
		free(set->groups[i].label);
	}
	free(set->groups);
	*set = (struct group_set){ 0 };
}

size_t group_phase_values(const struct results *r, const struct group *g, enum phase phase, double *values,
			  size_t *rows)
{
	size_t n = 0;
	for (size_t i = 0; i < g->n; i++) {
		const struct migration *m = &r->rows[g->members[i]];
		if (isnan(m->phase_us[phase]))
			continue;
		if (rows)
			rows[n] = m->row;
		values[n++] = m->phase_us[phase];
	}
	return n;
}
