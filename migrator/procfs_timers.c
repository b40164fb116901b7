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
