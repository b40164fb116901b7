/* /proc/PID/status, /proc/PID/stat and /proc/PID/limits (procfs.h). */
#include "procfs.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "procfs_text.h"

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
	} else if (key_is(key, key_len, "FDSize")) {
		r = parse_value_u32(value, 10, &s->fd_size);
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

/* Umask is absent for zombies (no fs struct), Kthread before 6.7 and
 * FDSize in a kernel without it: all are optional and read as 0 / false
 * when missing. */
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
	if (field[52] > (negative[52] ? (uint64_t)INT32_MAX + 1 : (uint64_t)INT32_MAX) || field[38] > INT32_MAX)
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
	s->exit_signal = negative[38] ? -(int)field[38] : (int)field[38];
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

int bm_read_groups(pid_t pid, uint32_t *groups, uint32_t max, uint32_t *n)
{
	char *text;
	int rc = bm_read_proc_text(pid, "status", &text);
	if (rc < 0)
		return rc;
	const char *g = strstr(text, "\nGroups:");
	*n = 0;
	if (g) {
		g += strlen("\nGroups:");
		while (*g && *g != '\n') {
			char *end;
			unsigned long v = strtoul(g, &end, 10);
			if (end == g) {
				g++;
				continue;
			}
			if (*n == max) {
				free(text);
				return -E2BIG;
			}
			groups[(*n)++] = (uint32_t)v;
			g = end;
		}
	}
	free(text);
	return 0;
}
