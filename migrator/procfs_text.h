/* Text helpers shared by the /proc parsers (procfs.c, procfs_maps.c,
 * procfs_status.c, procfs_fdinfo.c, procfs_timers.c); not for other files.
 *
 * The parsers are strict about the fields binmig uses: a value that is
 * missing, cut short, out of range or followed by garbage is -EINVAL, so a
 * truncated or unexpected file is never mistaken for a valid one.  Lines and
 * fields binmig does not use are skipped, so that new kernel lines do not
 * break anything.  The helpers are static inline so that splitting the
 * parsers over files exports no new symbols from the library. */
#ifndef BINMIG_PROCFS_TEXT_H
#define BINMIG_PROCFS_TEXT_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>

#include "procfs.h"

#define DELETED_SUFFIX " (deleted)"

/* ---- small text helpers; every one stops at '\n' or '\0' ---- */

static inline bool is_eol(char c)
{
	return c == '\n' || c == '\0';
}

static inline const char *skip_blanks(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

/* True when only blanks remain on the line. */
static inline bool rest_is_blank(const char *p)
{
	return is_eol(*skip_blanks(p));
}

static inline int digit_value(char c, unsigned base)
{
	int d;
	if (c >= '0' && c <= '9')
		d = c - '0';
	else if (c >= 'a' && c <= 'f')
		d = c - 'a' + 10;
	else if (c >= 'A' && c <= 'F')
		d = c - 'A' + 10;
	else
		return -1;
	return (unsigned)d < base ? d : -1;
}

/* At least one digit, no sign, no overflow; advances *p past the digits. */
static inline int parse_u64(const char **p, unsigned base, uint64_t *v)
{
	const char *s = *p;
	uint64_t x = 0;
	int d;
	while ((d = digit_value(*s, base)) >= 0) {
		if (x > (UINT64_MAX - (uint64_t)d) / base)
			return -EINVAL;
		x = x * base + (uint64_t)d;
		s++;
	}
	if (s == *p)
		return -EINVAL;
	*p = s;
	*v = x;
	return 0;
}

static inline int parse_u32(const char **p, unsigned base, uint32_t *v)
{
	uint64_t x;
	if (parse_u64(p, base, &x) < 0 || x > UINT32_MAX)
		return -EINVAL;
	*v = (uint32_t)x;
	return 0;
}

static inline int parse_pid(const char **p, pid_t *v)
{
	uint64_t x;
	if (parse_u64(p, 10, &x) < 0 || x > INT32_MAX)
		return -EINVAL;
	*v = (pid_t)x;
	return 0;
}

/* Skips one or more spaces (the separator inside a maps line). */
static inline int expect_spaces(const char **p)
{
	if (**p != ' ')
		return -EINVAL;
	while (**p == ' ')
		(*p)++;
	return 0;
}

/* Calls fn(key, key_len, value, ctx) for each "key:value" line of text;
 * value points just past the ':'.  A line without ':' is -EINVAL when
 * strict, skipped otherwise. */
typedef int (*key_value_fn)(const char *key, size_t key_len, const char *value, void *ctx);

static inline int for_each_key_value(const char *text, bool strict, key_value_fn fn, void *ctx)
{
	const char *line = text;
	while (*line != '\0') {
		const char *eol = strchrnul(line, '\n');
		const char *colon = memchr(line, ':', (size_t)(eol - line));
		if (colon == NULL) {
			if (strict)
				return -EINVAL;
		} else {
			int r = fn(line, (size_t)(colon - line), colon + 1, ctx);
			if (r < 0)
				return r;
		}
		line = *eol == '\n' ? eol + 1 : eol;
	}
	return 0;
}

static inline bool key_is(const char *key, size_t key_len, const char *name)
{
	return strlen(name) == key_len && memcmp(key, name, key_len) == 0;
}

/* Parses a whole number value that must be alone on its line. */
static inline int parse_value_u64(const char *value, unsigned base, uint64_t *v)
{
	const char *p = skip_blanks(value);
	if (parse_u64(&p, base, v) < 0 || !rest_is_blank(p))
		return -EINVAL;
	return 0;
}

static inline int parse_value_u32(const char *value, unsigned base, uint32_t *v)
{
	uint64_t x;
	if (parse_value_u64(value, base, &x) < 0 || x > UINT32_MAX)
		return -EINVAL;
	*v = (uint32_t)x;
	return 0;
}

static inline int parse_value_pid(const char *value, pid_t *v)
{
	uint64_t x;
	if (parse_value_u64(value, 10, &x) < 0 || x > INT32_MAX)
		return -EINVAL;
	*v = (pid_t)x;
	return 0;
}

/* A decimal int32 with an optional '-' (clock ids and signal numbers can be
 * negative); advances *p past it. */
static inline int parse_i32(const char **p, int32_t *v)
{
	const char *s = *p;
	bool negative = *s == '-';
	uint64_t x;
	if (negative)
		s++;
	if (parse_u64(&s, 10, &x) < 0 || x > (negative ? (uint64_t)INT32_MAX + 1 : (uint64_t)INT32_MAX))
		return -EINVAL;
	*v = negative ? (int32_t)(-(int64_t)x) : (int32_t)x;
	*p = s;
	return 0;
}

static inline int parse_value_i32(const char *value, int32_t *v)
{
	const char *p = skip_blanks(value);
	return parse_i32(&p, v) < 0 || !rest_is_blank(p) ? -EINVAL : 0;
}

/* /proc/PID/NAME, whole. */
static inline int read_proc_text(pid_t pid, const char *name, char **text)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, name);
	return bm_read_text(path, text, NULL);
}

/* d_path appends " (deleted)" to the name of an unlinked file: shortens
 * *len past it and says whether it was there. */
static inline bool strip_deleted_suffix(const char *path, size_t *len)
{
	size_t suffix_len = strlen(DELETED_SUFFIX);
	if (*len <= suffix_len || memcmp(path + *len - suffix_len, DELETED_SUFFIX, suffix_len) != 0)
		return false;
	*len -= suffix_len;
	return true;
}

#endif
