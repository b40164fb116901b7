/* What every native workload shares: the command line of the workload
 * contract (workloads/README.md), the `ready` / `result` protocol, the
 * checksum and the random number generator.
 *
 * The checksum is "fold64": for every little-endian 64-bit word w of the
 * input, h = g((h ^ w) * M) ^ K with M odd, g(x) = x ^ (x >> 29) and K a
 * constant (so that zero words do not leave a zero state at zero).  Each
 * step is a bijection of h for a fixed word and an injection of w for a
 * fixed h, so changing any single word of the input (in particular flipping
 * any one byte) always changes the value.  workloads/clr/common.cs computes the same
 * function. */
#ifndef WORKLOADS_COMMON_H
#define WORKLOADS_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Options a workload may accept besides --work, --seed, --until, --expect,
 * --flip-at and --help, which all of them take. */
enum wl_option_bits {
	WL_OPT_MEM = 1u << 0,
	WL_OPT_THREADS = 1u << 1,
};

/* Exit codes shared by every workload. */
enum wl_exit {
	WL_EXIT_OK = 0,
	WL_EXIT_MISMATCH = 1, /* result differs from --expect */
	WL_EXIT_USAGE = 2,    /* bad command line */
	WL_EXIT_FAILURE = 3,  /* out of memory, failed self-test, ... */
};

struct wl_spec {
	const char *name;
	const char *summary;     /* what it computes, for --help */
	const char *unit;        /* what one unit of --work is, for --help */
	const char *mem_meaning; /* what --mem sizes, for --help */
	unsigned accepts;        /* enum wl_option_bits */
	uint64_t default_work;
	uint64_t default_mem_mib;
	uint64_t min_mem_mib;
	uint64_t default_threads;
	/* Resident memory beyond --mem (program, libc, stacks, scratch), in
	 * MiB, measured on Debian 12: --rss R means --mem R - this. */
	uint64_t rss_overhead_mib;
};

struct wl_options {
	uint64_t work;      /* --work: all the work, or with --until one batch */
	const char *until;  /* --until PATH, or NULL */
	uint64_t limit;     /* units to do: --work, raised a batch at a time by wl_extend */
	uint64_t mem_mib;
	uint64_t threads;
	uint64_t seed;
	bool flip;         /* --flip-at given */
	uint64_t flip_at;  /* flip one byte of state after this many units */
	bool expect_set;
	uint64_t expect;
};

#define WL_MIB ((uint64_t)1 << 20)
#define WL_MAX_MEM_MIB ((uint64_t)1 << 17) /* 128 GiB: a typo guard */
#define WL_MAX_THREADS 256

/* Parses argv against spec.  Prints help and exits 0 for --help; prints a
 * message and exits WL_EXIT_USAGE on any error.  Also switches stdout to
 * line buffering, since it is often a file or a pipe. */
void wl_parse(const struct wl_spec *spec, int argc, char **argv, struct wl_options *opts);

/* Prints `ready` and flushes it. */
void wl_ready(void);

/* Called once the first opts->limit units are done.  Returns false when the
 * work is finished: always without --until, and with it once PATH exists
 * (one access(2), so per batch, never per unit).  Otherwise raises
 * opts->limit by a batch of --work units and returns true: the same
 * computation goes on, so a run that ends after M units computes what a run
 * with --work M does. */
bool wl_extend(struct wl_options *opts);

/* Prints `units M` (with --until) and `result HEX`, compares with --expect
 * and returns the exit code. */
int wl_finish(const struct wl_spec *spec, const struct wl_options *opts, uint64_t result);

/* Reports a failure on stderr and exits WL_EXIT_FAILURE. */
void wl_die(const struct wl_spec *spec, const char *fmt, ...)
	__attribute__((noreturn, format(printf, 2, 3)));

/* Allocates bytes of page-aligned memory or dies.  The caller touches it. */
void *wl_alloc(const struct wl_spec *spec, size_t bytes);

/* Flips (xor 0xff) the byte at p, and says so on stderr. */
void wl_flip_byte(const struct wl_spec *spec, void *p, const char *what, uint64_t offset,
		  uint64_t after_units);

static inline uint64_t wl_fold_word(uint64_t h, uint64_t w)
{
	h = (h ^ w) * 0x9E3779B97F4A7C15ull;
	return (h ^ (h >> 29)) ^ 0x243F6A8885A308D3ull;
}

/* Folds len bytes into h (see the top of this file); the length is folded
 * in too, so buffers that differ only by trailing zero bytes differ. */
uint64_t wl_fold(uint64_t h, const void *buf, size_t len);

/* SplitMix64: a small, fast generator whose whole state is one word. */
static inline uint64_t wl_rand(uint64_t *state)
{
	uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

/* A generator state derived from the seed and a stream number, so that
 * independent streams (per cluster, per thread) do not overlap in practice. */
static inline uint64_t wl_stream(uint64_t seed, uint64_t stream)
{
	uint64_t s = seed ^ (stream * 0xD1B54A32D192ED03ull);
	return wl_rand(&s);
}

/* A double uniform in [-0.5, 0.5) from 53 random bits. */
static inline double wl_rand_centered(uint64_t *state)
{
	return (double)(wl_rand(state) >> 11) * 0x1.0p-53 - 0.5;
}

#endif
