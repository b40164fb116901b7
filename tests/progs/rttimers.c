/* rttimers MODE [SECONDS [NEAR]]: POSIX timers on CLOCK_REALTIME armed absolute
 * (TIMER_ABSTIME) and relative, which only a change of the wall clock tells
 * apart: an absolute one follows it, a relative one does not.  Without
 * setting the clock (a shared machine), this program looks where the
 * kernel queued each timer: an absolute one on the REALTIME clock base of
 * /proc/timer_list (root only), at its deadline, a relative one on the
 * MONOTONIC base.  Checked after the wake-up (SIGUSR1, testprog.h).
 *   carry    A absolute, due SECONDS (default 20) after the arming; R
 *            relative, due a second later; IA absolute and IR relative,
 *            every hour from 10 minutes on.  Before "ready" and again after
 *            the wake-up each is queued on its base, A and IA at their very
 *            deadlines; A and R then fire, not early, and IA and IR keep
 *            their interval.  The test wakes the program before A falls
 *            due (each must then be armed).  With NEAR (less than
 *            SECONDS; SECONDS then as long as the test may run, so that
 *            it wakes the program in time whatever the machine's speed),
 *            A and R are checked as they are at the wake-up, then set
 *            again as they were armed (absolute, relative) to fall due
 *            NEAR seconds and a second later.
 *   late     IR alone, due SECONDS after the arming, every hour; prints
 *            "deadline NS" (CLOCK_REALTIME).  The test restores it after
 *            the deadline: its signal must be pending at the wake-up, with
 *            no overrun, and once taken the timer queued again on its grid,
 *            an hour after the deadline, and on the REALTIME base: a
 *            relative interval timer that fell due can fire at once on its
 *            grid only absolute (the difference docs/process-state.md
 *            names).
 *   refuse-none     a SIGEV_NONE timer armed (never queued: nothing shows
 *                   how it was armed);
 *   refuse-pending  an interval timer whose signal is pending (not queued
 *                   again until the signal is taken);
 *   refuse-ignored  an interval timer whose signal is ignored, fired (not
 *                   queued again while it is ignored).
 *            What binmig refuses: afterwards the timer is as it was.
 * Prints "ready" when set up. */
#include <sys/syscall.h>

#include "testprog.h"
#include "timerlib.h"

#define SLACK_NS (2 * MS)
#define LATE_NS (30 * NS)
#define HOUR_NS (3600 * NS)
#define LATER_NS (600 * NS)
/* How far the wall clock's offset from CLOCK_MONOTONIC may move across one
 * timer_gettime without counting as set (binmig's own tolerance). */
#define STEP_NS (20 * 1000LL)
#define LIST_SIZE (16 << 20)

static timer_t make_timer(int notify, int sig)
{
	struct sigevent ev;
	memset(&ev, 0, sizeof ev);
	ev.sigev_notify = notify;
	ev.sigev_signo = sig;
	ev.sigev_value.sival_int = sig;
	timer_t t;
	SETUP(timer_create(CLOCK_REALTIME, &ev, &t) == 0, "timer_create");
	return t;
}

static char *list_buf;

/* Where the kernel queued timer T: 'A' on the REALTIME base (absolute),
 * 'R' on the MONOTONIC base (relative), '?' on neither, '!' on both; the
 * expiry found in *EXPIRES (on the REALTIME base where it is queued
 * there, else on the MONOTONIC base). */
static char queued_on(timer_t t, int64_t *expires)
{
	int64_t r0, m0, m1, r1, left;
	for (int attempt = 0;; attempt++) {
		struct itimerspec its;
		r0 = real_ns();
		m0 = mono_ns();
		SETUP(timer_gettime(t, &its) == 0, "timer_gettime");
		m1 = mono_ns();
		r1 = real_ns();
		left = ts_ns(its.it_value);
		int64_t moved = (r1 - m1) - (r0 - m0);
		if ((moved <= STEP_NS && moved >= -STEP_NS) || attempt == 9)
			break;
	}
	ssize_t n = read_file("/proc/timer_list", list_buf, LIST_SIZE - 1);
	SETUP(n > 0 && n < LIST_SIZE - 1, "reading /proc/timer_list");
	list_buf[n] = 0;
	int base = -1;
	bool on[2] = { false, false };
	for (char *line = list_buf; line && *line;) {
		char *next = strchr(line, '\n');
		if (next)
			*next++ = 0;
		unsigned index;
		unsigned long long soft, hard;
		if (sscanf(line, " clock %u:", &index) == 1 && strncmp(line, " clock ", 7) == 0)
			base = (int)index % 4;
		else if (strstr(line, ", posix_timer_fn, ") && next && sscanf(next, " # expires at %llu-%llu", &soft, &hard) == 2) {
			int64_t e = (int64_t)hard;
			if (base == 0 && e >= m0 + left - STEP_NS && e <= m1 + left + STEP_NS) {
				on[0] = true;
				if (!on[1])
					*expires = e;
			}
			if (base == 1 && e >= r0 + left - STEP_NS && e <= r1 + left + STEP_NS) {
				on[1] = true;
				*expires = e;
			}
		}
		line = next;
	}
	return on[0] && on[1] ? '!' : on[1] ? 'A' : on[0] ? 'R' : '?';
}

/* CLOCK_REALTIME less CLOCK_MONOTONIC, to within 20 us: read between two
 * readings of the monotonic clock close enough together (a reading
 * preempted in between is taken again). */
static int64_t real_minus_mono(void)
{
	for (int attempt = 0; attempt < 1000; attempt++) {
		int64_t m0 = mono_ns(), r = real_ns(), m1 = mono_ns();
		if (m1 - m0 <= STEP_NS)
			return r - m0 - (m1 - m0) / 2;
	}
	SETUP(false, "reading the clocks close enough together");
	return 0;
}

/* ---- carry ---- */

enum { TA, TR, TIA, TIR, NT };
static const char *const names[NT] = { "A", "R", "IA", "IR" };
static const char expected[NT] = { 'A', 'R', 'A', 'R' };
static timer_t timer[NT];
static int64_t deadline[NT];

static void carry_setup(int64_t span)
{
	for (int i = 0; i < NT; i++)
		timer[i] = make_timer(SIGEV_SIGNAL, SIGRTMIN + i);
	int64_t now = real_ns();
	deadline[TA] = now + span;
	deadline[TR] = now + span + NS;
	deadline[TIA] = now + LATER_NS;
	deadline[TIR] = now + LATER_NS + NS;
	arm(timer[TA], TIMER_ABSTIME, deadline[TA], 0);
	arm(timer[TR], 0, span + NS, 0);
	arm(timer[TIA], TIMER_ABSTIME, deadline[TIA], HOUR_NS);
	arm(timer[TIR], 0, LATER_NS + NS, HOUR_NS);
	for (int i = 0; i < NT; i++) {
		int64_t expires = 0;
		char on = queued_on(timer[i], &expires);
		SETUP(on == expected[i], "the kernel queues the timers as this test expects");
		SETUP(on != 'A' || expires == deadline[i], "an absolute timer is queued at its deadline");
	}
}

static void carry_check(void)
{
	for (int i = 0; i < NT; i++) {
		int64_t expires = 0;
		struct itimerspec its;
		char on = queued_on(timer[i], &expires);
		int64_t now = real_ns();
		CHECK(timer_gettime(timer[i], &its) == 0, "timer %s: timer_gettime", names[i]);
		CHECK(ts_ns(its.it_value) > 0, "timer %s is disarmed at the wake-up, before its deadline", names[i]);
		if (ts_ns(its.it_value) <= 0)
			continue;
		CHECK(on == expected[i], "timer %s is queued %s, not %s", names[i],
		      on == 'A' ? "absolute" : on == 'R' ? "relative" : on == '!' ? "ambiguously" : "nowhere",
		      expected[i] == 'A' ? "absolute" : "relative");
		CHECK(on != 'A' || expires == deadline[i], "absolute timer %s expires at %lld, not %lld", names[i],
		      (long long)expires, (long long)deadline[i]);
		int64_t at = now + ts_ns(its.it_value);
		CHECK(at >= deadline[i] - SLACK_NS && at <= deadline[i] + LATE_NS, "timer %s expires %.6f s from its deadline",
		      names[i], (at - deadline[i]) / 1e9);
		CHECK(ts_ns(its.it_interval) == (i >= TIA ? HOUR_NS : 0), "timer %s has an interval of %lld ns", names[i],
		      (long long)ts_ns(its.it_interval));
	}
}

/* A and R set again as they were armed, due NEAR_NS from now and a
 * second later. */
static void carry_near(int64_t near_ns)
{
	int64_t now = real_ns();
	deadline[TA] = now + near_ns;
	deadline[TR] = now + near_ns + NS;
	arm(timer[TA], TIMER_ABSTIME, deadline[TA], 0);
	arm(timer[TR], 0, left_until(deadline[TR]), 0);
}

/* Then: A and R fire, not early. */
static void carry_fires(void)
{
	for (int i = TA; i <= TR; i++) {
		siginfo_t si;
		int got = wait_signal(SIGRTMIN + i, &si, deadline[i] + LATE_NS);
		int64_t now = real_ns();
		CHECK(got == SIGRTMIN + i && si.si_code == SI_TIMER && si.si_value.sival_int == SIGRTMIN + i,
		      "timer %s did not fire", names[i]);
		CHECK(now >= deadline[i] - SLACK_NS, "timer %s fired %.6f s early", names[i], (deadline[i] - now) / 1e9);
	}
}

/* ---- what binmig refuses ---- */

static int refusal(const char *mode)
{
	timer_t t;
	int sig = SIGRTMIN;
	if (strcmp(mode, "refuse-none") == 0) {
		t = make_timer(SIGEV_NONE, 0);
		arm(t, 0, LATER_NS, 0);
	} else if (strcmp(mode, "refuse-pending") == 0) {
		t = make_timer(SIGEV_SIGNAL, sig);
		arm(t, 0, 1, HOUR_NS);
		sigset_t pending;
		int64_t give_up = mono_ns() + 10 * NS;
		do
			SETUP(sigpending(&pending) == 0 && mono_ns() < give_up, "waiting for the timer to fire");
		while (!sigismember(&pending, sig));
	} else if (strcmp(mode, "refuse-ignored") == 0) {
		sig = SIGRTMIN + 1;
		SETUP(signal(sig, SIG_IGN) != SIG_ERR, "signal");
		sigset_t s;
		sigemptyset(&s);
		sigaddset(&s, sig);
		SETUP(sigprocmask(SIG_UNBLOCK, &s, NULL) == 0, "sigprocmask");
		t = make_timer(SIGEV_SIGNAL, sig);
		arm(t, 0, 1, HOUR_NS);
		struct itimerspec its;
		int64_t give_up = mono_ns() + 10 * NS;
		do /* fired: its next expiry an hour away */
			SETUP(timer_gettime(t, &its) == 0 && mono_ns() < give_up, "waiting for the timer to fire");
		while (ts_ns(its.it_value) < HOUR_NS / 2);
	} else {
		say("FAIL: usage: rttimers carry [SECONDS [NEAR]] | late|refuse-none|refuse-pending|refuse-ignored [SECONDS]");
		return 2;
	}
	struct itimerspec before, after;
	SETUP(timer_gettime(t, &before) == 0, "timer_gettime");
	say("ready");
	usr1_wait();
	/* The refused dump left the timer as it was. */
	CHECK(timer_gettime(t, &after) == 0, "timer_gettime: %s", strerror(errno));
	CHECK(ts_ns(after.it_interval) == ts_ns(before.it_interval), "the timer's interval changed");
	CHECK(ts_ns(after.it_value) > 0 && ts_ns(after.it_value) <= ts_ns(before.it_value), "the timer has %.6f s left",
	      ts_ns(after.it_value) / 1e9);
	if (strcmp(mode, "refuse-pending") == 0) {
		siginfo_t si;
		CHECK(wait_signal(sig, &si, real_ns()) == sig && si.si_code == SI_TIMER &&
		      si.si_timerid == (int)(intptr_t)t, "the timer's pending signal");
	}
	return tp_finish();
}

int main(int argc, char **argv)
{
	const char *mode = argc >= 2 && argc <= 4 ? argv[1] : "";
	long seconds = 20, near_s = 0;
	if (argc >= 3 && !seconds_arg(argv[2], 300, &seconds))
		mode = "";
	if (argc == 4 && (strcmp(mode, "carry") != 0 || !seconds_arg(argv[3], 300, &near_s) || near_s >= seconds))
		mode = "";
	SETUP((list_buf = malloc(LIST_SIZE)) != NULL, "malloc");
	usr1_setup();
	sigset_t s;
	sigemptyset(&s);
	for (int i = 0; i < NT; i++)
		sigaddset(&s, SIGRTMIN + i);
	SETUP(sigprocmask(SIG_BLOCK, &s, NULL) == 0, "sigprocmask");
	if (strcmp(mode, "late") == 0) {
		timer_t t = make_timer(SIGEV_SIGNAL, SIGRTMIN);
		arm(t, 0, seconds * NS, HOUR_NS);
		/* Its grid as the kernel holds it, however long after a clock
		 * reading the arming came (a busy machine preempts). */
		int64_t mono_due = 0;
		SETUP(queued_on(t, &mono_due) == 'R', "the timer queued relative");
		int64_t due = mono_due + real_minus_mono();
		say("deadline %lld", (long long)due);
		say("ready");
		usr1_wait();
		siginfo_t si;
		struct timespec zero = {0, 0};
		CHECK(sigtimedwait(&s, &si, &zero) == SIGRTMIN && si.si_code == SI_TIMER &&
		      si.si_timerid == (int)(intptr_t)t && si.si_overrun == 0, "the timer's signal, pending at the wake-up");
		int64_t expires = 0;
		char on = queued_on(t, &expires);
		CHECK(on == 'A' && expires >= due + HOUR_NS - SLACK_NS && expires <= due + HOUR_NS + SLACK_NS,
		      "the timer is queued %c at %lld, not absolute on its grid at %lld", on, (long long)expires,
		      (long long)(due + HOUR_NS));
		return tp_finish();
	}
	if (strcmp(mode, "carry") != 0)
		return refusal(mode);
	carry_setup(seconds * NS);
	say("ready");
	usr1_wait();
	CHECK(real_ns() < deadline[TA], "woken %.3f s after A fell due: the test gives it SECONDS to wait",
	      (real_ns() - deadline[TA]) / 1e9);
	carry_check();
	if (near_s)
		carry_near(near_s * NS);
	carry_fires();
	return tp_finish();
}
