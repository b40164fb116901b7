#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static enum bm_exit first_class = BM_EXIT_OK;
static char first_message[1400];
static bool verbose;
static const char *prefix = "binmig";

static void vreport(const char *fmt, va_list ap, int errno_value, bool first)
{
	char msg[1024];
	vsnprintf(msg, sizeof msg, fmt, ap);
	if (errno_value)
		fprintf(stderr, "%s: %s: %s\n", prefix, msg, strerror(errno_value));
	else
		fprintf(stderr, "%s: %s\n", prefix, msg);
	if (first) {
		if (errno_value)
			snprintf(first_message, sizeof first_message, "%s: %s", msg, strerror(errno_value));
		else
			snprintf(first_message, sizeof first_message, "%s", msg);
	}
}

static int report(enum bm_exit class, int errno_value, const char *fmt, va_list ap)
{
	if (first_class == BM_EXIT_OK) {
		first_class = class;
		vreport(fmt, ap, errno_value, true);
	} else if (verbose) {
		vreport(fmt, ap, errno_value, false);
	}
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
	vreport(fmt, ap, 0, false);
	va_end(ap);
}

void bm_warn(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char msg[1024];
	vsnprintf(msg, sizeof msg, fmt, ap);
	fprintf(stderr, "%s: warning: %s\n", prefix, msg);
	va_end(ap);
}

enum bm_exit bm_exit_code(void) { return first_class; }
const char *bm_error_message(void) { return first_message; }
bool bm_error_reported(void) { return first_class != BM_EXIT_OK; }
void bm_reset_errors(void)
{
	first_class = BM_EXIT_OK;
	first_message[0] = 0;
}
void bm_set_verbose(bool v) { verbose = v; }
void bm_set_log_prefix(const char *p) { prefix = p; }
