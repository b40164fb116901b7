/* sleeper MODE [SECONDS]: blocked in a system call with a timeout, or in
 * pause(), when frozen.  Each mode makes exactly one raw system call, so a
 * wrong restart shows up as its return value rather than being retried
 * away.  The timed calls end SECONDS (default 3, futex 2) after the start:
 *   nanosleep-rem   nanosleep(SECONDS, &rem), as sleep() does
 *   nanosleep-null  nanosleep(SECONDS, NULL), as usleep() does
 *   clock-abs       clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME,
 *                   now + SECONDS)
 *   futex           FUTEX_WAIT_BITSET on a word nobody changes, absolute
 *                   CLOCK_MONOTONIC deadline now + SECONDS
 *   pause           pause(); the script sends SIGUSR1 (handled) to wake it
 * The sleeps must return success (the futex ETIMEDOUT), never EINTR, and
 * not before their deadline; pause must return EINTR after the handler ran.
 * A test must freeze the program before the deadline: it gives SECONDS
 * enough to cover a slow or loaded machine, and checks the image.
 * Prints "ready" just before the call. */
#include <linux/futex.h>
#include <sys/syscall.h>

#include "testprog.h"

#define NS_PER_S 1000000000LL

static struct timespec to_timespec(int64_t ns)
{
	return (struct timespec){ .tv_sec = ns / NS_PER_S, .tv_nsec = ns % NS_PER_S };
}

static void check_deadline(int64_t deadline, const char *what)
{
	int64_t now = mono_ns();
	CHECK(now >= deadline, "%s returned %.3f s before its deadline", what, (deadline - now) / 1e9);
}

static volatile sig_atomic_t woken;
static void on_usr1(int sig)
{
	(void)sig;
	woken = 1;
}

int main(int argc, char **argv)
{
	const char *mode = argc >= 2 && argc <= 3 ? argv[1] : "";
	long seconds = strcmp(mode, "futex") == 0 ? 2 : 3;
	if (argc == 3) {
		char *end;
		seconds = strtol(argv[2], &end, 10);
		if (*end || end == argv[2] || seconds < 1 || seconds > 3600)
			mode = "";
	}
	long rc;
	int err;
	int64_t start = mono_ns(), end_ns = start + seconds * NS_PER_S;
	if (strcmp(mode, "nanosleep-rem") == 0 || strcmp(mode, "nanosleep-null") == 0) {
		/* The kernel fills rem whenever the sleep is interrupted, even by
		 * a stop it then restarts transparently, so rem says nothing. */
		struct timespec req = to_timespec(seconds * NS_PER_S), rem;
		bool with_rem = strcmp(mode, "nanosleep-rem") == 0;
		say("ready");
		rc = syscall(SYS_nanosleep, &req, with_rem ? &rem : NULL);
		err = errno;
		CHECK(rc == 0, "nanosleep returned %ld (%s)", rc, rc ? strerror(err) : "");
		check_deadline(end_ns, "nanosleep");
	} else if (strcmp(mode, "clock-abs") == 0) {
		struct timespec deadline = to_timespec(end_ns);
		say("ready");
		rc = syscall(SYS_clock_nanosleep, CLOCK_MONOTONIC, TIMER_ABSTIME, &deadline, NULL);
		/* the raw call returns the error number itself, not -1 */
		CHECK(rc == 0, "clock_nanosleep returned %ld (%s)", rc, rc ? strerror(rc < 0 ? errno : rc) : "");
		check_deadline(end_ns, "clock_nanosleep");
	} else if (strcmp(mode, "futex") == 0) {
		static uint32_t word = 0;
		struct timespec deadline = to_timespec(end_ns);
		say("ready");
		rc = syscall(SYS_futex, &word, FUTEX_WAIT_BITSET_PRIVATE, 0, &deadline, NULL, FUTEX_BITSET_MATCH_ANY);
		err = errno;
		CHECK(rc == -1 && err == ETIMEDOUT, "futex returned %ld (%s), expected ETIMEDOUT", rc,
		      rc ? strerror(err) : "woken");
		check_deadline(end_ns, "futex");
	} else if (strcmp(mode, "pause") == 0) {
		struct sigaction sa;
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_usr1;
		SETUP(sigaction(SIGUSR1, &sa, NULL) == 0, "sigaction");
		say("ready");
		rc = syscall(SYS_pause);
		err = errno;
		CHECK(rc == -1 && err == EINTR, "pause returned %ld (%s)", rc, strerror(err));
		CHECK(woken, "SIGUSR1 handler did not run");
	} else {
		say("FAIL: usage: sleeper nanosleep-rem|nanosleep-null|clock-abs|futex|pause [SECONDS (1-3600)]");
		return 2;
	}
	say("slept %.3f s", (mono_ns() - start) / 1e9);
	return tp_finish();
}
