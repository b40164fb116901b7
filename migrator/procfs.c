/* Readers and parsers of /proc/PID files.
 *
 * The parsers are strict about the fields binmig uses: a value that is
 * missing, cut short, out of range or followed by garbage is -EINVAL, so a
 * truncated or unexpected file is never mistaken for a valid one.  Lines and
 * fields binmig does not use are skipped, so that new kernel lines do not
 * break anything. */
#include "procfs.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#define DELETED_SUFFIX " (deleted)"

/* ---- small text helpers; every one stops at '\n' or '\0' ---- */

static bool is_eol(char c)
{
	return c == '\n' || c == '\0';
}

static const char *skip_blanks(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

/* True when only blanks remain on the line. */
static bool rest_is_blank(const char *p)
{
	return is_eol(*skip_blanks(p));
}

static int digit_value(char c, unsigned base)
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
static int parse_u64(const char **p, unsigned base, uint64_t *v)
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

static int parse_u32(const char **p, unsigned base, uint32_t *v)
{
	uint64_t x;
	if (parse_u64(p, base, &x) < 0 || x > UINT32_MAX)
		return -EINVAL;
	*v = (uint32_t)x;
	return 0;
}

static int parse_pid(const char **p, pid_t *v)
{
	uint64_t x;
	if (parse_u64(p, 10, &x) < 0 || x > INT32_MAX)
		return -EINVAL;
	*v = (pid_t)x;
	return 0;
}

/* Skips one or more spaces (the separator inside a maps line). */
static int expect_spaces(const char **p)
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

static int for_each_key_value(const char *text, bool strict, key_value_fn fn, void *ctx)
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

static bool key_is(const char *key, size_t key_len, const char *name)
{
	return strlen(name) == key_len && memcmp(key, name, key_len) == 0;
}

/* Parses a whole number value that must be alone on its line. */
static int parse_value_u64(const char *value, unsigned base, uint64_t *v)
{
	const char *p = skip_blanks(value);
	if (parse_u64(&p, base, v) < 0 || !rest_is_blank(p))
		return -EINVAL;
	return 0;
}

static int parse_value_u32(const char *value, unsigned base, uint32_t *v)
{
	uint64_t x;
	if (parse_value_u64(value, base, &x) < 0 || x > UINT32_MAX)
		return -EINVAL;
	*v = (uint32_t)x;
	return 0;
}

static int parse_value_pid(const char *value, pid_t *v)
{
	uint64_t x;
	if (parse_value_u64(value, 10, &x) < 0 || x > INT32_MAX)
		return -EINVAL;
	*v = (pid_t)x;
	return 0;
}

/* A decimal int32 with an optional '-' (clock ids and signal numbers can be
 * negative); advances *p past it. */
static int parse_i32(const char **p, int32_t *v)
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

static int parse_value_i32(const char *value, int32_t *v)
{
	const char *p = skip_blanks(value);
	return parse_i32(&p, v) < 0 || !rest_is_blank(p) ? -EINVAL : 0;
}

/* /proc/PID/NAME, whole. */
static int read_proc_text(pid_t pid, const char *name, char **text)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, name);
	return bm_read_text(path, text, NULL);
}

/* ---- maps ---- */

static bool valid_perms(const char *p)
{
	return (p[0] == 'r' || p[0] == '-') && (p[1] == 'w' || p[1] == '-') &&
	       (p[2] == 'x' || p[2] == '-') && (p[3] == 'p' || p[3] == 's');
}

/* d_path appends " (deleted)" to the name of an unlinked file: shortens
 * *len past it and says whether it was there. */
static bool strip_deleted_suffix(const char *path, size_t *len)
{
	size_t suffix_len = strlen(DELETED_SUFFIX);
	if (*len <= suffix_len || memcmp(path + *len - suffix_len, DELETED_SUFFIX, suffix_len) != 0)
		return false;
	*len -= suffix_len;
	return true;
}

/* The kernel writes a newline in a mapped file's name as "\012" (and
 * escapes nothing else, so the sequence is ambiguous with a name that
 * really contains a backslash and "012"; the newline is the likelier). */
static int copy_maps_path(const char *raw, size_t raw_len, char *path, size_t size)
{
	size_t out = 0;
	for (size_t i = 0; i < raw_len; out++) {
		if (out + 1 >= size)
			return -ENAMETOOLONG;
		if (raw_len - i >= 4 && memcmp(raw + i, "\\012", 4) == 0) {
			path[out] = '\n';
			i += 4;
		} else {
			path[out] = raw[i++];
		}
	}
	path[out] = '\0';
	return 0;
}

int bm_parse_maps_line(const char *line, struct bm_maps_entry *e)
{
	const char *p = line;
	memset(e, 0, sizeof *e);
	if (parse_u64(&p, 16, &e->start) < 0 || *p++ != '-' ||
	    parse_u64(&p, 16, &e->end) < 0 || e->start >= e->end)
		return -EINVAL;
	if (expect_spaces(&p) < 0 || strnlen(p, 4) < 4 || !valid_perms(p))
		return -EINVAL;
	memcpy(e->perms, p, 4);
	e->perms[4] = '\0';
	p += 4;
	if (expect_spaces(&p) < 0 || parse_u64(&p, 16, &e->offset) < 0)
		return -EINVAL;
	if (expect_spaces(&p) < 0 || parse_u32(&p, 16, &e->dev_major) < 0 || *p++ != ':' ||
	    parse_u32(&p, 16, &e->dev_minor) < 0)
		return -EINVAL;
	if (expect_spaces(&p) < 0 || parse_u64(&p, 10, &e->inode) < 0)
		return -EINVAL;
	if (is_eol(*p))
		return 0;
	/* Anonymous mappings have padding spaces and no path after the inode. */
	if (expect_spaces(&p) < 0)
		return -EINVAL;
	size_t raw_len = (size_t)(strchrnul(p, '\n') - p);
	e->deleted = strip_deleted_suffix(p, &raw_len);
	return copy_maps_path(p, raw_len, e->path, sizeof e->path);
}

static size_t count_lines(const char *text)
{
	size_t n = 0;
	for (const char *p = text; *p != '\0'; p++)
		if (*p == '\n')
			n++;
	size_t len = strlen(text);
	if (len > 0 && text[len - 1] != '\n')
		n++;
	return n;
}

int bm_parse_maps(const char *text, struct bm_maps_entry **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	size_t lines = count_lines(text);
	if (lines == 0)
		return 0;
	struct bm_maps_entry *entries = calloc(lines, sizeof *entries);
	if (entries == NULL)
		return -ENOMEM;
	const char *line = text;
	for (size_t i = 0; i < lines; i++) {
		int r = bm_parse_maps_line(line, &entries[i]);
		if (r < 0) {
			free(entries);
			return r;
		}
		const char *eol = strchrnul(line, '\n');
		line = *eol == '\n' ? eol + 1 : eol;
	}
	*out = entries;
	*n = lines;
	return 0;
}

int bm_read_maps(pid_t pid, struct bm_maps_entry **out, size_t *n)
{
	char *text;
	*out = NULL;
	*n = 0;
	int r = read_proc_text(pid, "maps", &text);
	if (r == 0) {
		r = bm_parse_maps(text, out, n);
		free(text);
	}
	return r;
}

/* ---- smaps ---- */

static const struct {
	char code[3];
	uint32_t bit;
} vmflag_codes[] = {
	{ "gd", BM_VMFLAG_GD }, { "sh", BM_VMFLAG_SH }, { "hg", BM_VMFLAG_HG },
	{ "nh", BM_VMFLAG_NH }, { "dd", BM_VMFLAG_DD }, { "lo", BM_VMFLAG_LO },
	{ "sl", BM_VMFLAG_SL }, { "io", BM_VMFLAG_IO }, { "pf", BM_VMFLAG_PF },
	{ "dc", BM_VMFLAG_DC }, { "wf", BM_VMFLAG_WF }, { "mg", BM_VMFLAG_MG },
	{ "sr", BM_VMFLAG_SR }, { "rr", BM_VMFLAG_RR }, { "lf", BM_VMFLAG_LF },
	{ "nr", BM_VMFLAG_NR }, { "ss", BM_VMFLAG_SS }, { "mw", BM_VMFLAG_MW },
};

/* "rd wr mr mw me ac sd": every code is two characters. */
static int parse_vmflags(const char *value, uint32_t *flags)
{
	const char *p = skip_blanks(value);
	*flags = 0;
	while (!is_eol(*p)) {
		const char *start = p;
		while (!is_eol(*p) && *p != ' ' && *p != '\t')
			p++;
		if (p - start != 2)
			return -EINVAL;
		for (size_t i = 0; i < sizeof vmflag_codes / sizeof vmflag_codes[0]; i++)
			if (memcmp(start, vmflag_codes[i].code, 2) == 0)
				*flags |= vmflag_codes[i].bit;
		p = skip_blanks(p);
	}
	return 0;
}

/* A smaps field line is "Key:" with a key of letters, digits and '_';
 * a header line starts with "hex-hex", which that never matches. */
static bool is_smaps_field(const char *line, const char **value, const char **key_end)
{
	const char *p = line;
	if (!isalpha((unsigned char)*p))
		return false;
	while (isalnum((unsigned char)*p) || *p == '_')
		p++;
	if (*p != ':')
		return false;
	*key_end = p;
	*value = p + 1;
	return true;
}

/* Index of the entry starting at start, searching from *cursor onwards and
 * wrapping, so sorted input (the normal case) costs O(1) per block. */
static ssize_t find_entry(const struct bm_maps_entry *e, size_t n, uint64_t start, size_t *cursor)
{
	for (size_t k = 0; k < n; k++) {
		size_t i = (*cursor + k) % n;
		if (e[i].start == start) {
			*cursor = i + 1;
			return (ssize_t)i;
		}
	}
	return -1;
}

int bm_parse_smaps_vmflags(const char *text, struct bm_maps_entry *e, size_t n)
{
	struct bm_maps_entry *header = malloc(sizeof *header);
	if (header == NULL)
		return -ENOMEM;
	bool in_block = false;
	ssize_t current = -1;
	size_t cursor = 0;
	int r = 0;
	const char *line = text;
	while (*line != '\0') {
		const char *value, *key_end;
		if (is_smaps_field(line, &value, &key_end)) {
			if (!in_block) {
				r = -EINVAL;
				break;
			}
			if (key_end - line == 7 && memcmp(line, "VmFlags", 7) == 0) {
				uint32_t flags;
				r = parse_vmflags(value, &flags);
				if (r < 0)
					break;
				if (current >= 0)
					e[current].vmflags = flags;
			}
		} else {
			r = bm_parse_maps_line(line, header);
			if (r < 0)
				break;
			in_block = true;
			/* A mapping that appeared after maps was read is not ours to fill. */
			current = n > 0 ? find_entry(e, n, header->start, &cursor) : -1;
		}
		const char *eol = strchrnul(line, '\n');
		line = *eol == '\n' ? eol + 1 : eol;
	}
	free(header);
	return r;
}

int bm_read_smaps_vmflags(pid_t pid, struct bm_maps_entry *e, size_t n)
{
	char *text;
	int r = read_proc_text(pid, "smaps", &text);
	if (r == 0) {
		r = bm_parse_smaps_vmflags(text, e, n);
		free(text);
	}
	return r;
}

/* ---- status ---- */

/* Undoes the kernel's escaping of "Name:" (it escapes '\n' and '\\' with a
 * backslash; the other C escapes and octal are accepted too). */
static int unescape_name(const char *p, char *out, size_t size)
{
	size_t n = 0;
	while (!is_eol(*p)) {
		char c = *p++;
		if (c == '\\') {
			c = *p++;
			switch (c) {
			case 'n': c = '\n'; break;
			case 't': c = '\t'; break;
			case 'r': c = '\r'; break;
			case 'f': c = '\f'; break;
			case 'v': c = '\v'; break;
			case 'e': c = '\033'; break;
			case '\\': case '"': break;
			default:
				if (c >= '0' && c <= '3' && p[0] >= '0' && p[0] <= '7' && p[1] >= '0' && p[1] <= '7') {
					c = (char)((c - '0') << 6 | (p[0] - '0') << 3 | (p[1] - '0'));
					p += 2;
				} else {
					return -EINVAL;
				}
			}
		}
		if (n + 1 >= size)
			return -ENAMETOOLONG;
		out[n++] = c;
	}
	out[n] = '\0';
	return 0;
}

enum status_field {
	ST_NAME = 1 << 0, ST_STATE = 1 << 1, ST_TGID = 1 << 2, ST_PID = 1 << 3,
	ST_PPID = 1 << 4, ST_TRACER = 1 << 5, ST_UID = 1 << 6, ST_GID = 1 << 7,
	ST_THREADS = 1 << 8, ST_SIGPND = 1 << 9, ST_SHDPND = 1 << 10, ST_SIGBLK = 1 << 11,
	ST_SIGIGN = 1 << 12, ST_SIGCGT = 1 << 13,
	ST_REQUIRED = (1 << 14) - 1,
};

struct status_ctx {
	struct bm_proc_status *s;
	unsigned seen;
};

static int parse_id_quad(const char *value, uint32_t ids[4])
{
	const char *p = value;
	for (int i = 0; i < 4; i++) {
		p = skip_blanks(p);
		if (parse_u32(&p, 10, &ids[i]) < 0)
			return -EINVAL;
	}
	return rest_is_blank(p) ? 0 : -EINVAL;
}

static int status_line(const char *key, size_t key_len, const char *value, void *opaque)
{
	struct status_ctx *ctx = opaque;
	struct bm_proc_status *s = ctx->s;
	static const struct {
		const char *key;
		unsigned bit;
	} signal_keys[] = {
		{ "SigPnd", ST_SIGPND }, { "ShdPnd", ST_SHDPND }, { "SigBlk", ST_SIGBLK },
		{ "SigIgn", ST_SIGIGN }, { "SigCgt", ST_SIGCGT },
	};
	uint64_t *signal_values[] = { &s->sig_pnd, &s->shd_pnd, &s->sig_blk, &s->sig_ign, &s->sig_cgt };
	int r = 0;

	if (key_is(key, key_len, "Name")) {
		/* The name itself may start with blanks: skip only the separator tab. */
		if (*value == '\t')
			value++;
		r = unescape_name(value, s->name, sizeof s->name);
		ctx->seen |= ST_NAME;
	} else if (key_is(key, key_len, "State")) {
		const char *p = skip_blanks(value);
		if (!isalpha((unsigned char)*p))
			return -EINVAL;
		s->state = *p;
		ctx->seen |= ST_STATE;
	} else if (key_is(key, key_len, "Umask")) {
		r = parse_value_u32(value, 8, &s->umask);
	} else if (key_is(key, key_len, "Tgid")) {
		r = parse_value_pid(value, &s->tgid);
		ctx->seen |= ST_TGID;
	} else if (key_is(key, key_len, "Pid")) {
		r = parse_value_pid(value, &s->pid);
		ctx->seen |= ST_PID;
	} else if (key_is(key, key_len, "PPid")) {
		r = parse_value_pid(value, &s->ppid);
		ctx->seen |= ST_PPID;
	} else if (key_is(key, key_len, "TracerPid")) {
		r = parse_value_pid(value, &s->tracer_pid);
		ctx->seen |= ST_TRACER;
	} else if (key_is(key, key_len, "Threads")) {
		pid_t threads = 0;
		r = parse_value_pid(value, &threads);
		s->threads = threads;
		ctx->seen |= ST_THREADS;
	} else if (key_is(key, key_len, "Uid")) {
		r = parse_id_quad(value, s->uid);
		ctx->seen |= ST_UID;
	} else if (key_is(key, key_len, "Gid")) {
		r = parse_id_quad(value, s->gid);
		ctx->seen |= ST_GID;
	} else if (key_is(key, key_len, "Kthread")) {
		uint64_t k = 0;
		r = parse_value_u64(value, 10, &k);
		if (r == 0 && k > 1)
			r = -EINVAL;
		s->kthread = k == 1;
	} else {
		for (size_t i = 0; i < sizeof signal_keys / sizeof signal_keys[0]; i++) {
			if (key_is(key, key_len, signal_keys[i].key)) {
				r = parse_value_u64(value, 16, signal_values[i]);
				ctx->seen |= signal_keys[i].bit;
			}
		}
	}
	return r;
}

/* Umask is absent for zombies (no fs struct) and Kthread before 6.7: both
 * are optional and read as 0 / false when missing. */
int bm_parse_status(const char *text, struct bm_proc_status *s)
{
	struct status_ctx ctx = { .s = s };
	memset(s, 0, sizeof *s);
	int r = for_each_key_value(text, true, status_line, &ctx);
	if (r < 0)
		return r;
	return (ctx.seen & ST_REQUIRED) == ST_REQUIRED ? 0 : -EINVAL;
}

int bm_read_status(pid_t pid, struct bm_proc_status *s)
{
	char *text;
	int r = read_proc_text(pid, "status", &text);
	if (r == 0) {
		r = bm_parse_status(text, s);
		free(text);
	}
	return r;
}

/* ---- stat ---- */

#define STAT_LAST_FIELD 52

/* One decimal field with an optional '-', ending at a space or the line end. */
static int parse_stat_field(const char **p, bool *negative, uint64_t *magnitude)
{
	*negative = **p == '-';
	if (*negative)
		(*p)++;
	if (parse_u64(p, 10, magnitude) < 0)
		return -EINVAL;
	if (**p != ' ' && !is_eol(**p))
		return -EINVAL;
	if (*negative && *magnitude > (uint64_t)INT64_MAX + 1)
		return -EINVAL;
	return 0;
}

int bm_parse_stat(const char *text, struct bm_proc_stat *s)
{
	uint64_t field[STAT_LAST_FIELD + 1];
	bool negative[STAT_LAST_FIELD + 1];
	const char *p = text;
	memset(s, 0, sizeof *s);

	if (parse_pid(&p, &s->pid) < 0 || *p++ != ' ' || *p++ != '(')
		return -EINVAL;
	/* comm is not escaped here and may hold ')', spaces and newlines. */
	const char *comm_end = memrchr(p, ')', strlen(p));
	if (comm_end == NULL)
		return -EINVAL;
	size_t comm_len = (size_t)(comm_end - p);
	if (comm_len >= sizeof s->comm)
		return -ENAMETOOLONG;
	memcpy(s->comm, p, comm_len);
	s->comm[comm_len] = '\0';
	p = comm_end + 1;
	if (*p++ != ' ' || !isalpha((unsigned char)*p))
		return -EINVAL;
	s->state = *p++;
	for (int i = 4; i <= STAT_LAST_FIELD; i++) {
		if (*p++ != ' ' || parse_stat_field(&p, &negative[i], &field[i]) < 0)
			return -EINVAL;
	}

	static const int unsigned_fields[] = { 4, 5, 6, 9, 20, 22, 26, 27, 28, 45, 46, 47, 48, 49, 50, 51 };
	for (size_t i = 0; i < sizeof unsigned_fields / sizeof unsigned_fields[0]; i++)
		if (negative[unsigned_fields[i]])
			return -EINVAL;
	if (field[4] > INT32_MAX || field[5] > INT32_MAX || field[6] > INT32_MAX || field[9] > UINT32_MAX)
		return -EINVAL;
	if (field[52] > (negative[52] ? (uint64_t)INT32_MAX + 1 : (uint64_t)INT32_MAX))
		return -EINVAL;
	s->ppid = (pid_t)field[4];
	s->pgrp = (pid_t)field[5];
	s->session = (pid_t)field[6];
	s->flags = (uint32_t)field[9];
	s->num_threads = field[20];
	s->starttime = field[22];
	s->start_code = field[26];
	s->end_code = field[27];
	s->start_stack = field[28];
	s->start_data = field[45];
	s->end_data = field[46];
	s->start_brk = field[47];
	s->arg_start = field[48];
	s->arg_end = field[49];
	s->env_start = field[50];
	s->env_end = field[51];
	s->exit_code = negative[52] ? (int)-(int64_t)field[52] : (int)field[52];
	return 0;
}

int bm_read_stat(pid_t pid, struct bm_proc_stat *s)
{
	char *text;
	int r = read_proc_text(pid, "stat", &text);
	if (r == 0) {
		r = bm_parse_stat(text, s);
		free(text);
	}
	return r;
}

/* ---- limits ---- */

/* The columns of /proc/PID/limits ("%-25s %-20s %-20s %-10s"). */
enum { LIMITS_SOFT_COL = 26, LIMITS_HARD_COL = 47 };

static int limit_value(const char *s, const char *line_end, uint64_t *v)
{
	if (!strncmp(s, "unlimited", 9) && (s + 9 == line_end || s[9] == ' ')) {
		*v = RLIM_INFINITY;
		return 0;
	}
	if (*s < '0' || *s > '9')
		return -EINVAL;
	char *end;
	errno = 0;
	unsigned long long x = strtoull(s, &end, 10);
	if (errno || end > line_end || (end != line_end && *end != ' '))
		return -EINVAL;
	*v = x;
	return 0;
}

int bm_parse_limits(const char *text, uint64_t (*lim)[2], int n)
{
	const char *line = strchr(text, '\n'); /* past the header */
	int rows = 0;
	while (line && *++line) {
		const char *end = strchr(line, '\n');
		if (!end)
			end = line + strlen(line);
		if (rows >= n || end - line <= LIMITS_HARD_COL ||
		    limit_value(line + LIMITS_SOFT_COL, end, &lim[rows][0]) < 0 ||
		    limit_value(line + LIMITS_HARD_COL, end, &lim[rows][1]) < 0)
			return -EINVAL;
		rows++;
		line = *end ? end : NULL;
	}
	return rows == n ? 0 : -EINVAL;
}

int bm_read_limits(pid_t pid, uint64_t (*lim)[2], int n)
{
	char *text;
	int r = read_proc_text(pid, "limits", &text);
	if (r == 0) {
		r = bm_parse_limits(text, lim, n);
		free(text);
	}
	return r;
}

/* ---- fdinfo ---- */

enum fdinfo_field {
	FI_POS = 1, FI_FLAGS = 2, FI_MNT_ID = 4, FI_INO = 8, FI_REQUIRED = 15,
	FI_TFD_CLOCK = 16, FI_TFD_TICKS = 32, FI_TFD_FLAGS = 64, FI_TFD_VALUE = 128, FI_TFD_INTERVAL = 256,
	FI_TFD_ALL = 496,
};

struct fdinfo_ctx {
	struct bm_fdinfo *f;
	unsigned seen;
};

/* "(SECONDS, NANOSECONDS)" as timerfd's fdinfo writes a timespec, in ns. */
static int parse_value_timespec(const char *value, uint64_t *ns)
{
	const char *p = skip_blanks(value);
	uint64_t sec, nsec;
	if (*p++ != '(' || parse_u64(&p, 10, &sec) < 0 || *p++ != ',')
		return -EINVAL;
	p = skip_blanks(p);
	if (parse_u64(&p, 10, &nsec) < 0 || *p++ != ')' || !rest_is_blank(p) || nsec >= 1000000000 ||
	    sec > (UINT64_MAX - nsec) / 1000000000)
		return -EINVAL;
	*ns = sec * 1000000000 + nsec;
	return 0;
}

static int timerfd_line(const char *key, size_t key_len, const char *value, struct fdinfo_ctx *ctx)
{
	struct bm_fdinfo *f = ctx->f;
	if (key_is(key, key_len, "clockid")) {
		ctx->seen |= FI_TFD_CLOCK;
		return parse_value_i32(value, &f->tfd_clockid);
	}
	if (key_is(key, key_len, "ticks")) {
		ctx->seen |= FI_TFD_TICKS;
		return parse_value_u64(value, 10, &f->tfd_ticks);
	}
	if (key_is(key, key_len, "settime flags")) {
		ctx->seen |= FI_TFD_FLAGS;
		return parse_value_u32(value, 8, &f->tfd_settime_flags);
	}
	if (key_is(key, key_len, "it_value")) {
		ctx->seen |= FI_TFD_VALUE;
		return parse_value_timespec(value, &f->tfd_value_ns);
	}
	if (key_is(key, key_len, "it_interval")) {
		ctx->seen |= FI_TFD_INTERVAL;
		return parse_value_timespec(value, &f->tfd_interval_ns);
	}
	return 0;
}

static int fdinfo_line(const char *key, size_t key_len, const char *value, void *opaque)
{
	struct fdinfo_ctx *ctx = opaque;
	struct bm_fdinfo *f = ctx->f;
	if (key_is(key, key_len, "pos")) {
		ctx->seen |= FI_POS;
		return parse_value_u64(value, 10, &f->pos);
	}
	if (key_is(key, key_len, "flags")) {
		ctx->seen |= FI_FLAGS;
		return parse_value_u32(value, 8, &f->flags);
	}
	if (key_is(key, key_len, "mnt_id")) {
		ctx->seen |= FI_MNT_ID;
		return parse_value_u32(value, 10, &f->mnt_id);
	}
	if (key_is(key, key_len, "ino")) {
		ctx->seen |= FI_INO;
		return parse_value_u64(value, 10, &f->ino);
	}
	if (key_is(key, key_len, "eventfd-count")) {
		f->has_eventfd = true;
		return parse_value_u64(value, 16, &f->eventfd_count);
	}
	if (key_is(key, key_len, "lock")) {
		if (f->locks++ == 0) {
			/* "\t1: POSIX  ADVISORY  WRITE 31768 fe:00:10953679 0 EOF": the kind onwards */
			const char *kind = strchr(value, ':');
			kind = kind ? kind + 1 : value;
			while (*kind == ' ' || *kind == '\t')
				kind++;
			size_t n = strcspn(kind, "\n");
			snprintf(f->lock, sizeof f->lock, "%.*s", (int)(n < sizeof f->lock ? n : sizeof f->lock - 1), kind);
		}
		return 0;
	}
	return timerfd_line(key, key_len, value, ctx);
}

/* Other file types add lines of their own ("tfd:", "inotify wd:"); they
 * are skipped. */
int bm_parse_fdinfo(const char *text, struct bm_fdinfo *f)
{
	struct fdinfo_ctx ctx = { .f = f };
	memset(f, 0, sizeof *f);
	int r = for_each_key_value(text, false, fdinfo_line, &ctx);
	if (r < 0)
		return r;
	/* A timerfd's lines come together; some without the others is a cut file. */
	unsigned tfd = ctx.seen & FI_TFD_ALL;
	f->has_timerfd = tfd == FI_TFD_ALL;
	return (ctx.seen & FI_REQUIRED) == FI_REQUIRED && (tfd == 0 || tfd == FI_TFD_ALL) ? 0 : -EINVAL;
}

int bm_read_fdinfo(pid_t pid, int fd, struct bm_fdinfo *f)
{
	char name[32];
	char *text;
	snprintf(name, sizeof name, "fdinfo/%d", fd);
	int r = read_proc_text(pid, name, &text);
	if (r == 0) {
		r = bm_parse_fdinfo(text, f);
		free(text);
	}
	return r;
}

/* ---- POSIX timers ---- */

/* The value of LINE if it is "KEY: VALUE\n" (NULL otherwise); *next is the
 * line after it.  Each of the four lines of a timer must end in a newline,
 * so that a file cut short anywhere inside a timer is refused. */
static const char *timer_line(const char *line, const char *key, const char **next)
{
	size_t klen = strlen(key);
	const char *eol = strchrnul(line, '\n');
	if (*eol != '\n' || strncmp(line, key, klen) != 0 || line[klen] != ':' || line[klen + 1] != ' ')
		return NULL;
	*next = eol + 1;
	return line + klen + 2;
}

static int parse_timer(const char **line, struct bm_proc_timer *t)
{
	static const char *const how[] = { "signal/", "none/", "thread/" };
	const char *next, *v;
	if (!(v = timer_line(*line, "ID", &next)) || parse_i32(&v, &t->id) < 0 || t->id < 0 || *v != '\n')
		return -EINVAL;
	if (!(v = timer_line(next, "signal", &next)) || parse_i32(&v, &t->signo) < 0 || *v++ != '/' ||
	    parse_u64(&v, 16, &t->sigval) < 0 || *v != '\n')
		return -EINVAL;
	if (!(v = timer_line(next, "notify", &next)))
		return -EINVAL;
	size_t i;
	for (i = 0; i < sizeof how / sizeof how[0] && strncmp(v, how[i], strlen(how[i])) != 0; i++)
		;
	if (i == sizeof how / sizeof how[0])
		return -EINVAL;
	v += strlen(how[i]);
	t->notify = (uint32_t)i;
	if (strncmp(v, "tid.", 4) == 0)
		t->notify |= 4; /* SIGEV_THREAD_ID */
	else if (strncmp(v, "pid.", 4) != 0)
		return -EINVAL;
	v += 4;
	if (parse_pid(&v, &t->target) < 0 || *v != '\n')
		return -EINVAL;
	if (!(v = timer_line(next, "ClockID", &next)) || parse_i32(&v, &t->clockid) < 0 || *v != '\n')
		return -EINVAL;
	*line = next;
	return 0;
}

int bm_parse_timers(const char *text, struct bm_proc_timer **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	size_t cap = 0;
	for (const char *line = text; *line;) {
		struct bm_proc_timer t;
		if (parse_timer(&line, &t) < 0) {
			free(*out);
			*out = NULL;
			*n = 0;
			return -EINVAL;
		}
		if (*n == cap) {
			size_t grown_cap = cap ? 2 * cap : 8;
			struct bm_proc_timer *grown = realloc(*out, grown_cap * sizeof *grown);
			if (!grown) {
				free(*out);
				*out = NULL;
				*n = 0;
				return -ENOMEM;
			}
			*out = grown;
			cap = grown_cap;
		}
		(*out)[(*n)++] = t;
	}
	return 0;
}

int bm_read_timers(pid_t pid, struct bm_proc_timer **out, size_t *n)
{
	char *text;
	*out = NULL;
	*n = 0;
	int r = read_proc_text(pid, "timers", &text);
	if (r == 0) {
		r = bm_parse_timers(text, out, n);
		free(text);
	}
	return r;
}

/* ---- directory listings ---- */

static int compare_int(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;
	return (x > y) - (x < y);
}

/* Numeric entries of a /proc directory, sorted.  With skip_own_fd the
 * directory stream's own descriptor is left out (a process listing its own
 * descriptors would otherwise see it). */
static int list_numeric_dir(const char *path, bool skip_own_fd, int **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	DIR *dir = opendir(path);
	if (dir == NULL)
		return -errno;
	int own_fd = skip_own_fd ? dirfd(dir) : -1;
	int *items = NULL;
	size_t count = 0, cap = 0;
	int r = 0;
	for (;;) {
		errno = 0;
		struct dirent *d = readdir(dir);
		if (d == NULL) {
			r = -errno;
			break;
		}
		if (strcmp(d->d_name, ".") == 0 || strcmp(d->d_name, "..") == 0)
			continue;
		const char *p = d->d_name;
		pid_t value;
		if (parse_pid(&p, &value) < 0 || *p != '\0') {
			r = -EINVAL;
			break;
		}
		if (value == own_fd)
			continue;
		if (count == cap) {
			size_t new_cap = cap ? cap * 2 : 64;
			int *grown = realloc(items, new_cap * sizeof *items);
			if (grown == NULL) {
				r = -ENOMEM;
				break;
			}
			items = grown;
			cap = new_cap;
		}
		items[count++] = value;
	}
	closedir(dir);
	if (r < 0) {
		free(items);
		return r;
	}
	qsort(items, count, sizeof *items, compare_int);
	*out = items;
	*n = count;
	return 0;
}

int bm_list_fds(pid_t pid, int **fds, size_t *n)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
	/* Listing our own table shows the directory's descriptor too. */
	bool self = pid == getpid() || pid == gettid();
	return list_numeric_dir(path, self, fds, n);
}

int bm_list_tids(pid_t pid, pid_t **tids, size_t *n)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
	_Static_assert(sizeof(pid_t) == sizeof(int), "pid_t is listed as int");
	return list_numeric_dir(path, false, (int **)tids, n);
}

int bm_parse_pid_list(const char *text, pid_t *pids, size_t max, size_t *n)
{
	*n = 0;
	const char *p = text;
	for (;;) {
		while (*p == ' ' || *p == '\n')
			p++;
		if (!*p)
			return 0;
		char *end;
		errno = 0;
		long v = strtol(p, &end, 10);
		if (end == p || errno || v <= 0 || v > INT32_MAX || (*end && *end != ' ' && *end != '\n'))
			return -EINVAL;
		if (*n < max)
			pids[*n] = (pid_t)v;
		(*n)++;
		p = end;
	}
}

int bm_list_children(pid_t pid, pid_t *children, size_t max, size_t *n)
{
	pid_t *tids = NULL;
	size_t ntids = 0;
	*n = 0;
	int rc = bm_list_tids(pid, &tids, &ntids);
	for (size_t i = 0; rc == 0 && i < ntids; i++) {
		char name[64], *text;
		snprintf(name, sizeof name, "task/%d/children", (int)tids[i]);
		rc = bm_read_proc_text(pid, name, &text);
		if (rc == -ENOENT) { /* the thread has exited meanwhile */
			rc = 0;
			continue;
		}
		if (rc < 0)
			break;
		size_t got;
		rc = bm_parse_pid_list(text, *n < max ? children + *n : NULL, *n < max ? max - *n : 0, &got);
		free(text);
		*n += got;
	}
	free(tids);
	return rc;
}

/* ---- auxv, links, whole files ---- */

int bm_read_auxv(pid_t pid, uint64_t *words, uint32_t max_words, uint32_t *nwords)
{
	char path[64];
	char *data;
	size_t len;
	*nwords = 0;
	snprintf(path, sizeof path, "/proc/%d/auxv", (int)pid);
	int r = bm_read_text(path, &data, &len);
	if (r < 0)
		return r;
	size_t count = len / sizeof(uint64_t);
	if (len % (2 * sizeof(uint64_t)) != 0 || count > UINT32_MAX) {
		r = -EINVAL;
	} else if (count > max_words) {
		/* Tell the caller how much room it needs. */
		*nwords = (uint32_t)count;
		r = -ENOSPC;
	} else {
		if (count > 0)
			memcpy(words, data, len);
		/* The kernel's copy ends with the AT_NULL pair. */
		if (count > 0 && words[count - 2] != 0)
			r = -EINVAL;
		else
			*nwords = (uint32_t)count;
	}
	free(data);
	return r;
}

int bm_readlink(const char *link, char *buf, size_t len, bool *deleted)
{
	if (deleted != NULL)
		*deleted = false;
	if (len == 0)
		return -EINVAL;
	ssize_t got = readlink(link, buf, len);
	if (got < 0)
		return -errno;
	if ((size_t)got >= len)
		return -ENAMETOOLONG;
	size_t path_len = (size_t)got;
	bool was_deleted = strip_deleted_suffix(buf, &path_len);
	buf[path_len] = '\0';
	if (deleted != NULL)
		*deleted = was_deleted;
	return 0;
}

/* /proc files report size 0, so read until EOF growing the buffer. */
int bm_read_text(const char *path, char **text, size_t *len)
{
	*text = NULL;
	if (len != NULL)
		*len = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	size_t cap = 4096, used = 0;
	char *buf = malloc(cap);
	int r = buf == NULL ? -ENOMEM : 0;
	while (r == 0) {
		if (cap - used < 2) {
			char *grown = cap > SIZE_MAX / 2 ? NULL : realloc(buf, cap * 2);
			if (grown == NULL) {
				r = -ENOMEM;
				break;
			}
			buf = grown;
			cap *= 2;
		}
		ssize_t got = read(fd, buf + used, cap - used - 1);
		if (got < 0) {
			if (errno != EINTR)
				r = -errno;
		} else if (got == 0) {
			break;
		} else {
			used += (size_t)got;
		}
	}
	close(fd);
	if (r < 0) {
		free(buf);
		return r;
	}
	buf[used] = '\0';
	*text = buf;
	if (len != NULL)
		*len = used;
	return 0;
}

int bm_read_proc_text(pid_t pid, const char *name, char **text)
{
	char path[128];
	size_t len;
	snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, name);
	return bm_read_text(path, text, &len);
}
