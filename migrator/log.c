#include "log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* migrate analyses the process's code on a thread of its own while it
 * connects (isa_cmd.h): the record of the first error is shared under
 * this lock, and each thread says which phase it is in. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static enum bm_exit first_class = BM_EXIT_OK;
static bool holding;      /* the first error is recorded, not printed */
static bool held_errno_set;
static char held_line[1600];
static char first_message[1400];
static char latest_message[1400];
static bool verbose;
static __thread const char *prefix = "binmig";

static void vreport(const char *fmt, va_list ap, int errno_value, bool first)
{
	char msg[1024], line[1600];
	vsnprintf(msg, sizeof msg, fmt, ap);
	if (errno_value)
		snprintf(line, sizeof line, "%s: %s: %s\n", prefix, msg, strerror(errno_value));
	else
		snprintf(line, sizeof line, "%s: %s\n", prefix, msg);
	if (first && holding) {
		snprintf(held_line, sizeof held_line, "%s", line);
		held_errno_set = true;
	} else {
		fputs(line, stderr);
	}
	if (first)
		snprintf(first_message, sizeof first_message, "%s", latest_message);
}

/* Every error's text, printed or not, is the latest. */
static void record_latest(const char *fmt, va_list ap, int errno_value)
{
	char msg[1024];
	vsnprintf(msg, sizeof msg, fmt, ap);
	if (errno_value)
		snprintf(latest_message, sizeof latest_message, "%s: %s", msg, strerror(errno_value));
	else
		snprintf(latest_message, sizeof latest_message, "%s", msg);
}

static int report(enum bm_exit class, int errno_value, const char *fmt, va_list ap)
{
	pthread_mutex_lock(&lock);
	va_list copy;
	va_copy(copy, ap);
	record_latest(fmt, copy, errno_value);
	va_end(copy);
	if (first_class == BM_EXIT_OK) {
		first_class = class;
		vreport(fmt, ap, errno_value, true);
	} else if (verbose) {
		vreport(fmt, ap, errno_value, false);
	}
	pthread_mutex_unlock(&lock);
	return -1;
}

int bm_error(enum bm_exit class, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	report(class, 0, fmt, ap);
	va_end(ap);
	return -1;
}

int bm_error_errno(enum bm_exit class, int errno_value, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	report(class, errno_value, fmt, ap);
	va_end(ap);
	return -1;
}

void bm_debug(const char *fmt, ...)
{
	if (!verbose)
		return;
	va_list ap;
	va_start(ap, fmt);
	pthread_mutex_lock(&lock);
	vreport(fmt, ap, 0, false);
	pthread_mutex_unlock(&lock);
	va_end(ap);
}

void bm_note(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	pthread_mutex_lock(&lock);
	vreport(fmt, ap, 0, false);
	pthread_mutex_unlock(&lock);
	va_end(ap);
}

void bm_warn(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char msg[2048];
	vsnprintf(msg, sizeof msg, fmt, ap);
	fprintf(stderr, "%s: warning: %s\n", prefix, msg);
	va_end(ap);
}

void bm_hold_errors(void)
{
	pthread_mutex_lock(&lock);
	holding = true;
	held_errno_set = false;
	pthread_mutex_unlock(&lock);
}

static void reset_errors(void)
{
	first_class = BM_EXIT_OK;
	first_message[0] = 0;
	latest_message[0] = 0;
}

void bm_release_errors(bool print)
{
	pthread_mutex_lock(&lock);
	if (held_errno_set && print)
		fputs(held_line, stderr);
	if (held_errno_set && !print)
		reset_errors();
	holding = false;
	held_errno_set = false;
	pthread_mutex_unlock(&lock);
}

enum bm_exit bm_exit_code(void)
{
	pthread_mutex_lock(&lock);
	enum bm_exit class = first_class;
	pthread_mutex_unlock(&lock);
	return class;
}

/* Read once no other thread reports any more. */
const char *bm_error_message(void) { return first_message; }
const char *bm_latest_error_message(void) { return latest_message; }
bool bm_error_reported(void) { return bm_exit_code() != BM_EXIT_OK; }
void bm_reset_errors(void)
{
	pthread_mutex_lock(&lock);
	reset_errors();
	pthread_mutex_unlock(&lock);
}
void bm_set_verbose(bool v) { verbose = v; }
void bm_set_log_prefix(const char *p) { prefix = p; }
const char *bm_log_prefix(void) { return prefix; }
