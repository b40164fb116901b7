#include "meta.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "paths.h"

const char *const meta_calibration_names[META_CALIBRATIONS] = { "copy" };
const char *const meta_calibration_keys[META_CALIBRATIONS] = { "calib_copy_gbps" };

static int add(struct meta *m, const char *key, const char *value)
{
	char **keys = realloc(m->keys, (m->n + 1) * sizeof *keys);
	if (!keys)
		return -ENOMEM;
	m->keys = keys;
	char **values = realloc(m->values, (m->n + 1) * sizeof *values);
	if (!values)
		return -ENOMEM;
	m->values = values;
	m->keys[m->n] = strdup(key);
	m->values[m->n] = strdup(value);
	if (!m->keys[m->n] || !m->values[m->n]) {
		free(m->keys[m->n]);
		free(m->values[m->n]);
		return -ENOMEM;
	}
	m->n++;
	return 0;
}

int meta_load(const char *path, struct meta *m)
{
	*m = (struct meta){ 0 };
	FILE *f = fopen(path, "r");
	if (!f)
		return -errno;
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	int rc = 0;
	while (rc == 0 && (len = getline(&line, &cap, f)) >= 0) {
		while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = '\0';
		char *eq = strchr(line, '=');
		if (line[0] == '#' || !eq || eq == line)
			continue;
		*eq = '\0';
		rc = add(m, line, eq + 1);
	}
	free(line);
	fclose(f);
	if (rc)
		meta_free(m);
	return rc;
}

int meta_load_beside(const char *csv_path, struct meta *m)
{
	char dir[4096], path[4200];
	directory_of(csv_path, dir, sizeof dir);
	snprintf(path, sizeof path, "%s/meta.txt", dir);
	return meta_load(path, m);
}

const char *meta_get(const struct meta *m, const char *key)
{
	const char *value = NULL;
	for (size_t i = 0; i < m->n; i++)
		if (!strcmp(m->keys[i], key))
			value = m->values[i];
	return value;
}

void meta_free(struct meta *m)
{
	for (size_t i = 0; i < m->n; i++) {
		free(m->keys[i]);
		free(m->values[i]);
	}
	free(m->keys);
	free(m->values);
	*m = (struct meta){ 0 };
}

double meta_number(const struct meta *m, const char *key)
{
	const char *v = meta_get(m, key);
	if (!v)
		return NAN;
	char *end;
	double x = strtod(v, &end);
	return end == v || !isfinite(x) ? NAN : x;
}

/* What must be alike for two runs' times to be comparable, and what a
 * difference in it means. */
struct key_check {
	const char *key, *what;
};

static const struct key_check machine_keys[] = {
	{ "hostname", "machine" },     { "cpu_model", "CPU model" }, { "cores", "core count" },
	{ "memory_mib", "memory" },    { "kernel", "kernel" },       { "os", "system" },
	{ "mono_version", "Mono" },    { "binmig_cflags", "binmig build flags" },
};

/* The run's options that shape what is measured (docs/harness-run.md). */
static const struct key_check option_keys[] = {
	{ "workloads", "option workloads" }, { "sizes", "option sizes" },
	{ "rss", "option rss" },             { "threads", "option threads" },
	{ "modes", "option modes" },         { "compress", "option compress" },
	{ "warmup", "option warmup" },       { "interval_ms", "option interval-ms" },
	{ "pingpong", "option pingpong" },   { "workload_seed", "option workload-seed" },
	{ "hosts", "option hosts" },
};

static bool differ(const char *a, const char *b)
{
	return (a == NULL) != (b == NULL) || (a && strcmp(a, b));
}

static size_t check_keys(FILE *out, const struct key_check *keys, size_t n, const struct meta *base,
			 const char *base_name, const struct meta *fresh, const char *fresh_name)
{
	size_t found = 0;
	for (size_t i = 0; i < n; i++) {
		const char *a = meta_get(base, keys[i].key), *b = meta_get(fresh, keys[i].key);
		if (!differ(a, b))
			continue;
		found++;
		fprintf(out, "warning: %s differs: \"%s\" in %s, \"%s\" in %s\n", keys[i].what, a ? a : "(not recorded)",
			base_name, b ? b : "(not recorded)", fresh_name);
	}
	return found;
}

/* The machine was busy when its load (run queue, 1-minute average) at the
 * start or end of the run came to more than half its cores. */
static double peak_load(const struct meta *m)
{
	double a = meta_number(m, "load_start"), b = meta_number(m, "load_end");
	if (isnan(a))
		return b;
	return isnan(b) || a > b ? a : b;
}

static size_t check_load(FILE *out, const struct meta *base, const char *base_name, const struct meta *fresh,
			 const char *fresh_name)
{
	double a = peak_load(base), b = peak_load(fresh);
	double cores = meta_number(fresh, "cores");
	if (!(cores > 0))
		cores = 1;
	if (isnan(a) && isnan(b))
		return 0;
	if (isnan(a) || isnan(b)) {
		fprintf(out, "warning: the load during the run is recorded in %s only: the other run's load is unknown\n",
			isnan(a) ? fresh_name : base_name);
		return 1;
	}
	if (fabs(a - b) <= 0.5 * cores)
		return 0;
	fprintf(out, "warning: the machine's load differs: %.2f in %s, %.2f in %s (1-minute load average, the "
		     "higher of the run's start and end; %g cores)\n",
		a, base_name, b, fresh_name, cores);
	return 1;
}

size_t meta_warn_differences(FILE *out, const struct meta *base, const char *base_name, const struct meta *fresh,
			     const char *fresh_name)
{
	size_t found = 0;
	if (!base->n || !fresh->n) {
		fprintf(out, "warning: no meta.txt beside %s: its machine, load and options are unknown\n",
			!base->n ? base_name : fresh_name);
		found++;
	} else {
		found += check_keys(out, machine_keys, sizeof machine_keys / sizeof machine_keys[0], base, base_name,
				    fresh, fresh_name);
		found += check_load(out, base, base_name, fresh, fresh_name);
		found += check_keys(out, option_keys, sizeof option_keys / sizeof option_keys[0], base, base_name,
				    fresh, fresh_name);
	}
	if (found)
		fprintf(out, "warning: so differences below may come from the machine or the setting rather than the "
			     "code; `harness ab --base REV --new REV` measures two builds interleaved on one machine, "
			     "which these cannot disturb\n");
	return found;
}
