#include "common.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static void print_help(const struct wl_spec *spec)
{
	printf("usage: %s [options]\n%s\n\noptions:\n", spec->name, spec->summary);
	printf("  --work N       units of work, one unit = %s (default %" PRIu64 ")\n",
	       spec->unit, spec->default_work);
	if (spec->accepts & WL_OPT_MEM) {
		printf("  --mem MIB      %s (default %" PRIu64 ", at least %" PRIu64 ")\n",
		       spec->mem_meaning, spec->default_mem_mib, spec->min_mem_mib);
		printf("  --rss MIB      size --mem so that the resident size is about MIB\n"
		       "                 (--mem = MIB - %" PRIu64 ")\n",
		       spec->rss_overhead_mib);
	}
	if (spec->accepts & WL_OPT_THREADS)
		printf("  --threads N    worker threads; the result does not depend on it"
		       " (default %" PRIu64 ")\n",
		       spec->default_threads);
	printf("  --seed N       seed of all generated data (default 1)\n"
	       "  --until PATH   --work N becomes a batch: after every N units, finish if PATH\n"
	       "                 exists, else go on with N more; prints `units M` (M = K*N)\n"
	       "                 and the result that a run with --work M gives\n"
	       "  --expect HEX   exit 1 unless the result is HEX\n"
	       "  --flip-at N    debug: flip one byte of the state after N units of work\n"
	       "                 (N at most --work)\n"
	       "  --help         this text\n\n"
	       "Prints `ready` once initialised, then `result HEX` when done (with --until,\n"
	       "`units M` just before it).\n"
	       "Exit codes: 0 ok, 1 result differs from --expect, 2 bad usage, 3 failure.\n");
}

static void usage_error(const struct wl_spec *spec, const char *fmt, ...)
	__attribute__((noreturn, format(printf, 2, 3)));
static void usage_error(const struct wl_spec *spec, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "%s: ", spec->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (try --help)\n");
	exit(WL_EXIT_USAGE);
}

static uint64_t parse_number(const struct wl_spec *spec, const char *opt, const char *text, int base)
{
	char *end;
	errno = 0;
	if (!text || !*text || *text == '-')
		usage_error(spec, "%s needs a non-negative number", opt);
	unsigned long long v = strtoull(text, &end, base);
	if (errno || *end)
		usage_error(spec, "%s: bad number '%s'", opt, text);
	return v;
}

void wl_parse(const struct wl_spec *spec, int argc, char **argv, struct wl_options *opts)
{
	bool mem_set = false, rss_set = false;
	uint64_t rss = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	*opts = (struct wl_options){
		.work = spec->default_work,
		.mem_mib = spec->default_mem_mib,
		.threads = spec->default_threads ? spec->default_threads : 1,
		.seed = 1,
	};
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i], *value = NULL;
		char name[32];
		if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
			print_help(spec);
			exit(WL_EXIT_OK);
		}
		const char *eq = strchr(arg, '=');
		size_t name_len = eq ? (size_t)(eq - arg) : strlen(arg);
		if (name_len >= sizeof(name))
			usage_error(spec, "unknown option '%s'", arg);
		memcpy(name, arg, name_len);
		name[name_len] = 0;
		if (eq)
			value = eq + 1;
		else if (i + 1 < argc)
			value = argv[++i];

		if (strcmp(name, "--work") == 0) {
			opts->work = parse_number(spec, name, value, 10);
		} else if (strcmp(name, "--seed") == 0) {
			opts->seed = parse_number(spec, name, value, 10);
		} else if (strcmp(name, "--until") == 0) {
			if (!value || !*value)
				usage_error(spec, "--until needs a path");
			opts->until = value;
		} else if (strcmp(name, "--expect") == 0) {
			if (value && (value[0] == '0' && (value[1] == 'x' || value[1] == 'X')))
				value += 2;
			opts->expect = parse_number(spec, name, value, 16);
			opts->expect_set = true;
		} else if (strcmp(name, "--flip-at") == 0) {
			opts->flip_at = parse_number(spec, name, value, 10);
			opts->flip = true;
		} else if (strcmp(name, "--mem") == 0 && (spec->accepts & WL_OPT_MEM)) {
			opts->mem_mib = parse_number(spec, name, value, 10);
			mem_set = true;
		} else if (strcmp(name, "--rss") == 0 && (spec->accepts & WL_OPT_MEM)) {
			rss = parse_number(spec, name, value, 10);
			rss_set = true;
		} else if (strcmp(name, "--threads") == 0 && (spec->accepts & WL_OPT_THREADS)) {
			opts->threads = parse_number(spec, name, value, 10);
		} else if (strcmp(name, "--mem") == 0 || strcmp(name, "--rss") == 0 ||
			   strcmp(name, "--threads") == 0 || strcmp(name, "--dir") == 0) {
			usage_error(spec, "%s does not take %s", spec->name, name);
		} else {
			usage_error(spec, "unknown option '%s'", arg);
		}
	}
	if (mem_set && rss_set)
		usage_error(spec, "give --mem or --rss, not both");
	if (rss_set) {
		if (rss < spec->rss_overhead_mib + spec->min_mem_mib)
			usage_error(spec, "--rss %" PRIu64 " is below the smallest size, %" PRIu64 " MiB",
				    rss, spec->rss_overhead_mib + spec->min_mem_mib);
		opts->mem_mib = rss - spec->rss_overhead_mib;
	}
	if ((spec->accepts & WL_OPT_MEM) &&
	    (opts->mem_mib < spec->min_mem_mib || opts->mem_mib > WL_MAX_MEM_MIB))
		usage_error(spec, "--mem must be between %" PRIu64 " and %" PRIu64, spec->min_mem_mib,
			    WL_MAX_MEM_MIB);
	if (opts->threads < 1 || opts->threads > WL_MAX_THREADS)
		usage_error(spec, "--threads must be between 1 and %d", WL_MAX_THREADS);
	if (opts->flip && opts->flip_at > opts->work)
		usage_error(spec, "--flip-at %" PRIu64 " is beyond --work %" PRIu64, opts->flip_at,
			    opts->work);
	/* Batches of nothing would poll PATH in a busy loop. */
	if (opts->until && opts->work == 0)
		usage_error(spec, "--until needs a --work of at least 1");
	opts->limit = opts->work;
}

bool wl_extend(struct wl_options *opts)
{
	if (!opts->until || access(opts->until, F_OK) == 0)
		return false;
	opts->limit += opts->work;
	return true;
}

void wl_ready(void)
{
	fputs("ready\n", stdout);
	fflush(stdout);
}

int wl_finish(const struct wl_spec *spec, const struct wl_options *opts, uint64_t result)
{
	if (opts->until)
		printf("units %" PRIu64 "\n", opts->limit);
	printf("result %016" PRIx64 "\n", result);
	fflush(stdout);
	if (opts->expect_set && opts->expect != result) {
		fprintf(stderr, "%s: result %016" PRIx64 " differs from the expected %016" PRIx64 "\n",
			spec->name, result, opts->expect);
		return WL_EXIT_MISMATCH;
	}
	return WL_EXIT_OK;
}

void wl_die(const struct wl_spec *spec, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "%s: ", spec->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(WL_EXIT_FAILURE);
}

void *wl_alloc(const struct wl_spec *spec, size_t bytes)
{
	/* mmap rather than malloc: page-aligned, and the whole size is one
	 * mapping the migrator sees as such. */
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		wl_die(spec, "cannot allocate %zu bytes: %s", bytes, strerror(errno));
	return p;
}

void wl_flip_byte(const struct wl_spec *spec, void *p, const char *what, uint64_t offset,
		  uint64_t after_units)
{
	*(volatile unsigned char *)p ^= 0xff;
	fprintf(stderr, "%s: flipped byte %" PRIu64 " of %s after %" PRIu64 " units\n", spec->name,
		offset, what, after_units);
}

uint64_t wl_fold(uint64_t h, const void *buf, size_t len)
{
	const unsigned char *p = buf;
	size_t left = len;
	uint64_t w;

	for (; left >= 8; p += 8, left -= 8) {
		memcpy(&w, p, 8);
		h = wl_fold_word(h, w);
	}
	if (left) {
		w = 0;
		memcpy(&w, p, left);
		h = wl_fold_word(h, w);
	}
	return wl_fold_word(h, len);
}
