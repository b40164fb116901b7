/* /proc/PID/fdinfo/FD (procfs.h), timerfd lines included. */
#include "procfs.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "procfs_text.h"

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
	if (key_is(key, key_len, "scm_fds"))
		return parse_value_u32(value, 10, &f->scm_fds);
	if (key_is(key, key_len, "lock")) {
		f->locks++; /* file_locks.c reads them */
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
