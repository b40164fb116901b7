/* Helpers of the timer test programs (timers.c, rttimers.c): times in
 * nanoseconds, arming a POSIX timer, waiting for a signal with a deadline.
 * Include after testprog.h. */
#ifndef TIMERLIB_H
#define TIMERLIB_H

#define NS 1000000000LL
#define MS 1000000LL

static inline int64_t real_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * NS + ts.tv_nsec;
}

static inline int64_t ts_ns(struct timespec ts)
{
	return (int64_t)ts.tv_sec * NS + ts.tv_nsec;
}

static inline struct timespec ns_ts(int64_t ns)
{
	return (struct timespec){ .tv_sec = ns / NS, .tv_nsec = ns % NS };
}

static inline void arm(timer_t t, int flags, int64_t value, int64_t interval)
{
	struct itimerspec its = { ns_ts(interval), ns_ts(value) };
	SETUP(timer_settime(t, flags, &its, NULL) == 0, "timer_settime");
}

/* What is left until DEADLINE (CLOCK_REALTIME), at least 1 ns: the value
 * of a relative timer that falls due then (0 would disarm it). */
static inline int64_t left_until(int64_t deadline)
{
	int64_t left = deadline - real_ns();
	return left > 0 ? left : 1;
}

/* sigtimedwait for SIG until DEADLINE (CLOCK_REALTIME); SIG or -1. */
static inline int wait_signal(int sig, siginfo_t *si, int64_t deadline)
{
	sigset_t s;
	sigemptyset(&s);
	sigaddset(&s, sig);
	for (;;) {
		int64_t left = deadline - real_ns();
		struct timespec ts = ns_ts(left > 0 ? left : 0);
		int got = sigtimedwait(&s, si, &ts);
		if (got >= 0 || errno != EINTR)
			return got;
	}
}

/* A number of seconds, 1 to MAX, into *OUT: false if ARG is not one. */
static inline bool seconds_arg(const char *arg, long max, long *out)
{
	char *end;
	*out = strtol(arg, &end, 10);
	return !*end && end != arg && *out >= 1 && *out <= max;
}

#endif
