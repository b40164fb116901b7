/* sleeper MODE: blocked in a system call with a timeout, or in pause(),
 * when frozen.  Each mode makes exactly one raw system call, so a wrong
 * restart shows up as its return value rather than being retried away.
 *   nanosleep-rem   nanosleep(3 s, &rem), as sleep() does
 *   nanosleep-null  nanosleep(3 s, NULL), as usleep() does
 *   clock-abs       clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, now + 3 s)
 *   futex           FUTEX_WAIT_BITSET on a word nobody changes, absolute
 *                   CLOCK_MONOTONIC deadline now + 2 s
 *   pause           pause(); the script sends SIGUSR1 (handled) to wake it
 * The sleeps must return success (the futex ETIMEDOUT), never EINTR, and
 * not before their deadline; pause must return EINTR after the handler ran.
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
	const char *mode = argc == 2 ? argv[1] : "";
	long rc;
	int err;
	int64_t start = mono_ns();
	if (strcmp(mode, "nanosleep-rem") == 0 || strcmp(mode, "nanosleep-null") == 0) {
		/* The kernel fills rem whenever the sleep is interrupted, even by
		 * a stop it then restarts transparently, so rem says nothing. */
		struct timespec req = to_timespec(3 * NS_PER_S), rem;
		bool with_rem = strcmp(mode, "nanosleep-rem") == 0;
		say("ready");
		rc = syscall(SYS_nanosleep, &req, with_rem ? &rem : NULL);
		err = errno;
		CHECK(rc == 0, "nanosleep returned %ld (%s)", rc, rc ? strerror(err) : "");
		check_deadline(start + 3 * NS_PER_S, "nanosleep");
	} else if (strcmp(mode, "clock-abs") == 0) {
		struct timespec deadline = to_timespec(start + 3 * NS_PER_S);
		say("ready");
		rc = syscall(SYS_clock_nanosleep, CLOCK_MONOTONIC, TIMER_ABSTIME, &deadline, NULL);
		/* the raw call returns the error number itself, not -1 */
		CHECK(rc == 0, "clock_nanosleep returned %ld (%s)", rc, rc ? strerror(rc < 0 ? errno : rc) : "");
		check_deadline(start + 3 * NS_PER_S, "clock_nanosleep");
	} else if (strcmp(mode, "futex") == 0) {
		static uint32_t word = 0;
		struct timespec deadline = to_timespec(start + 2 * NS_PER_S);
		say("ready");
		rc = syscall(SYS_futex, &word, FUTEX_WAIT_BITSET_PRIVATE, 0, &deadline, NULL, FUTEX_BITSET_MATCH_ANY);
		err = errno;
		CHECK(rc == -1 && err == ETIMEDOUT, "futex returned %ld (%s), expected ETIMEDOUT", rc,
		      rc ? strerror(err) : "woken");
		check_deadline(start + 2 * NS_PER_S, "futex");
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
		say("FAIL: usage: sleeper nanosleep-rem|nanosleep-null|clock-abs|futex|pause");
		return 2;
	}
	say("slept %.3f s", (mono_ns() - start) / 1e9);
	return tp_finish();
}
