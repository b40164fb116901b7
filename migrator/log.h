/* Error reporting: every failure is reported once, where it is detected,
 * together with the exit class the command line turns it into. */
#ifndef BINMIG_LOG_H
#define BINMIG_LOG_H

#include <stdbool.h>

/* Exit codes of the binmig command (documented in `binmig --help`). */
enum bm_exit {
	BM_EXIT_OK = 0,
	BM_EXIT_FAILURE = 1,     /* internal or system failure */
	BM_EXIT_USAGE = 2,       /* bad command line */
	BM_EXIT_TARGET = 3,      /* the target cannot be dumped: no such process, kernel thread, zombie, traced, self, no permission */
	BM_EXIT_UNSUPPORTED = 4, /* the target holds state binmig cannot carry faithfully (the process is left running) */
	BM_EXIT_IMAGE = 5,       /* the image is unreadable, truncated, corrupt or of another version */
	BM_EXIT_CONFLICT = 6,    /* restore impossible here: PID taken, mapped file missing or changed */
	BM_EXIT_IO = 7,          /* reading or writing the image file or stream failed */
	BM_EXIT_NETWORK = 8,     /* connection, authentication or protocol failure with the peer */
};

/* Print "binmig: MESSAGE" on stderr and remember CLASS as the exit code
 * (the first error reported wins; later ones are printed only in verbose
 * mode, since they are consequences).  Returns -1 for convenient
 * `return bm_error(...)`. */
int bm_error(enum bm_exit class, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Like bm_error, with ": strerror(errno_value)" appended. */
int bm_error_errno(enum bm_exit class, int errno_value, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Progress and diagnostics, printed only when verbose. */
void bm_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Notes are always printed, never change the exit code: what the user
 * asked for changed something they should hear of (a descriptor replaced
 * by a policy at restore). */
void bm_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Warnings are always printed, never change the exit code. */
void bm_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* While errors are held, the first one is recorded (class and message)
 * but not printed; bm_release_errors then prints it, or forgets it
 * entirely when a better explanation is at hand (print false). */
void bm_hold_errors(void);
void bm_release_errors(bool print);

enum bm_exit bm_exit_code(void);
/* The text of the first error reported (without the prefix), "" if none. */
const char *bm_error_message(void);
/* The text of the latest error reported, printed or held or not printed
 * (a later one than the first: for a warning that names what just failed). */
const char *bm_latest_error_message(void);
bool bm_error_reported(void);
void bm_reset_errors(void);
void bm_set_verbose(bool verbose);
/* Prefix printed before the calling thread's messages (default "binmig"). */
void bm_set_log_prefix(const char *prefix);
const char *bm_log_prefix(void);

#endif
