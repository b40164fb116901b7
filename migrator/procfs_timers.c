/* /proc/PID/timers, the POSIX timers of a process (procfs.h). */
#include "procfs.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "procfs_text.h"

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

/* ---- /proc/timer_list: where armed POSIX timers are queued ---- */

#define HRTIMER_BASES 8u

static int push_entry(struct bm_hrtimer_entry **out, size_t *n, size_t *cap, struct bm_hrtimer_entry e)
{
	if (*n == *cap) {
		size_t grown_cap = *cap ? 2 * *cap : 16;
		struct bm_hrtimer_entry *grown = realloc(*out, grown_cap * sizeof *grown);
		if (!grown)
			return -ENOMEM;
		*out = grown;
		*cap = grown_cap;
	}
	(*out)[(*n)++] = e;
	return 0;
}

/* " #N: <HASH>, FUNCTION, S:NN": whether FUNCTION is posix_timer_fn. */
static bool is_posix_timer_line(const char *line)
{
	if (line[0] != ' ' || line[1] != '#' || digit_value(line[2], 10) < 0)
		return false;
	const char *eol = strchrnul(line, '\n');
	const char *fn = strstr(line, ", posix_timer_fn, ");
	return fn && fn < eol;
}

/* " # expires at SOFT-HARD nsecs [...]": HARD, which timer_gettime counts from. */
static int parse_expires(const char *line, uint64_t *hard)
{
	static const char key[] = " # expires at ";
	uint64_t soft;
	const char *v = line + sizeof key - 1;
	if (strncmp(line, key, sizeof key - 1) != 0 || parse_u64(&v, 10, &soft) < 0 || *v++ != '-' ||
	    parse_u64(&v, 10, hard) < 0 || strncmp(v, " nsecs", 6) != 0)
		return -EINVAL;
	return 0;
}

int bm_parse_timer_list(const char *text, struct bm_hrtimer_entry **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	size_t cap = 0;
	int64_t base = -1;
	int rc = 0;
	for (const char *line = text; rc == 0 && *line;) {
		const char *eol = strchrnul(line, '\n');
		const char *next = *eol ? eol + 1 : eol;
		const char *v = line + 7;
		uint32_t index;
		if (strncmp(line, " clock ", 7) == 0 && parse_u32(&v, 10, &index) == 0 && *v == ':') {
			base = index < HRTIMER_BASES ? (int64_t)index : -1;
		} else if (is_posix_timer_line(line)) {
			uint64_t expires;
			if (base < 0 || parse_expires(next, &expires) < 0)
				rc = -EINVAL;
			else
				rc = push_entry(out, n, &cap, (struct bm_hrtimer_entry){(uint32_t)base, expires});
		}
		line = next;
	}
	if (rc < 0) {
		free(*out);
		*out = NULL;
		*n = 0;
	}
	return rc;
}

int bm_read_timer_list(struct bm_hrtimer_entry **out, size_t *n)
{
	char *text;
	*out = NULL;
	*n = 0;
	int r = bm_read_text("/proc/timer_list", &text, NULL);
	if (r == 0) {
		r = bm_parse_timer_list(text, out, n);
		free(text);
	}
	return r;
}
