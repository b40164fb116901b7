/* timers MODE [SECONDS [NEAR]]: timers armed before "ready" that a
 * migration must carry, checked after the wake-up (SIGUSR1, testprog.h).
 * Deadlines are SECONDS (default 10) after the arming, on the wall clock
 * the program reads (CLOCK_REALTIME).  The test wakes the program before
 * they fall due (a timer that falls due while frozen is the expired
 * mode's concern): each must then still be armed, for the time it has
 * left, and fires at its deadline, not early and no more than LATE_S
 * late.  With NEAR (less than SECONDS; SECONDS then as long as the test
 * may run, so that it wakes the program in time whatever the machine's
 * speed), each is checked at the wake-up, then set again as it was armed
 * to fall due NEAR seconds later, and fires as it should then (an
 * interval timer's grid is then the new deadline's: e2e/timers-expired
 * checks a carried grid).
 *   itimer   ITIMER_REAL every hour from SECONDS, ITIMER_VIRTUAL 100 s
 *            every 50 s, ITIMER_PROF 200 s: the time left and the
 *            intervals, then SIGALRM arrives, from the kernel, not before
 *            its deadline, and ITIMER_REAL goes on on its grid.
 *   posix    POSIX timers: A (MONOTONIC, SIGRTMIN to the process, one-shot),
 *            B (REALTIME, SIGRTMIN+1 to a second thread, every 60 s), C
 *            (BOOTTIME, SIGEV_NONE, 600 s every 7 s), P (CPU time of the
 *            process, 100 s), E (SIGEV_THREAD, glibc's helper thread), F
 *            (never armed); G1 and G2 (SIGRTMIN+3) fired before "ready",
 *            G1 first though created second, H (every 100 ms) whose
 *            signal is pending at "ready", and O (every 2 hours) whose last
 *            signal counted 4 overruns (timer_getoverrun), S (SIGRTMIN+7)
 *            that fired and was set again, 600 s ahead, which makes the
 *            kernel drop the signal it had queued, D (SIGRTMIN+8) that
 *            fired and was disarmed, which makes it drop its signal too
 *            (disarmed with its signal pending, like G1 and G2, whose
 *            signals are their own).  Afterwards
 *            /proc/self/timers is what it was (same ids, signals, values,
 *            targets, clocks), every timer_t still works with its
 *            settings, the pending signals come in their order with their
 *            values, A, B and E fire with their values on their threads,
 *            H goes on, O still reports its overruns, S's signal is
 *            pending yet dropped when taken, and S is armed, D's
 *            too, and D is disarmed.
 *   timerfd  a one-shot (nonblocking, and a dup of it), an absolute
 *            REALTIME one, one expired but not read, one every 20 ms never
 *            read, one never armed: times, flags, sharing and the
 *            expirations read.  (Not TFD_TIMER_CANCEL_ON_SET: where the
 *            wall clock is set now and then, as on this test machine, it
 *            is cancelled within moments.)
 *   epoll    two timerfds in an epoll instance: one expired (ready, its
 *            expiration not read), one armed: the first is ready with its
 *            data at once, the second at its deadline.
 *   all      itimer, posix, timerfd and epoll together (the live migration
 *            test).
 *   expired  ITIMER_REAL (every 250 ms), two POSIX timers (one every 250
 *            ms) and two timerfds (one every 250 ms), all due SECONDS (default 2)
 *            after the arming; prints "deadline NS" (CLOCK_REALTIME).  The
 *            test restores the process after the deadline: at the wake-up
 *            every signal is pending already and every timerfd readable,
 *            the interval timers kept their phase and counted what they
 *            missed.
 *   refuse-thread-cpu, refuse-foreign-cpu, refuse-order,
 *   refuse-exited-thread, refuse-timerfd-cancel, refuse-overrun,
 *   refuse-deleted, refuse-stale-interval, refuse-stale-mixed (a disarmed
 *   one-shot whose signal is queued behind that of an interval timer of
 *   the same number: taking it to tell whether it is stale would take the
 *   interval timer's first, which sets it again), refuse-cpu-pending (an
 *   interval timer on the process's CPU time with its signal queued:
 *   nothing shows whether it was set since)
 *            what binmig refuses (a timer on the CPU time of the thread
 *            that created it in a process of two threads, on another
 *            process's CPU time; a timer's pending signal queued before
 *            another of the same number; a timer whose thread has exited;
 *            a timer whose last signal counted overruns while another
 *            signal of its number is pending; a deleted timer's signal
 *            still queued; an interval timer set again with its signal
 *            queued, which the kernel then drops;
 *            a TFD_TIMER_CANCEL_ON_SET timerfd with an event not read):
 *            afterwards the state is intact.
 * Prints "ready" when set up. */
#include <poll.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/timerfd.h>

#include "testprog.h"
#include "timerlib.h"

/* Timers are rounded to microseconds (itimers) and the clocks read a few
 * microseconds apart: "not before its deadline" allows this much. */
#define SLACK_NS (2 * MS)
/* However slow the machine: a timer fires at most this late. */
#define LATE_S 30
#define LATE_NS (LATE_S * NS)
/* The kernel sets a CPU-time itimer one tick (up to 10 ms) later than
 * asked, each time it is set: once here, once per migration. */
#define TICKS_NS (100 * MS)

static int64_t span;      /* SECONDS in ns */
static int64_t armed_at;  /* CLOCK_REALTIME when the timers were armed */
/* CLOCK_REALTIME when the timers armed SECONDS ahead fall due: armed_at +
 * span, or NEAR seconds after the wake-up once the timers are set again. */
static int64_t due;
static int64_t near_ns; /* NEAR in ns, 0 without it */

static void block(int sig)
{
	sigset_t s;
	sigemptyset(&s);
	sigaddset(&s, sig);
	SETUP(sigprocmask(SIG_BLOCK, &s, NULL) == 0, "sigprocmask");
}

/* A timer with REMAINING_NS left now must expire at DEADLINE: not before,
 * and not more than LATE_NS after. */
static void check_deadline(const char *what, int64_t remaining_ns, int64_t deadline)
{
	int64_t expires = real_ns() + remaining_ns;
	CHECK(expires >= deadline - SLACK_NS, "%s expires %.6f s early", what, (deadline - expires) / 1e9);
	CHECK(expires <= deadline + LATE_NS, "%s expires %.3f s late", what, (expires - deadline) / 1e9);
}

/* A timer armed for due with REMAINING_NS left at the wake-up, which
 * comes before due: still armed, for its time. */
static void check_due(const char *what, int64_t remaining_ns)
{
	CHECK(remaining_ns > 0, "%s is disarmed at the wake-up, before its deadline", what);
	if (remaining_ns > 0)
		check_deadline(what, remaining_ns, due);
}

/* A signal of a POSIX timer: which one, its value, arriving not early. */
static void check_timer_signal(const char *what, int sig, timer_t id, int value, int64_t deadline, int64_t not_before)
{
	siginfo_t si;
	memset(&si, 0, sizeof si);
	int got = wait_signal(sig, &si, deadline);
	int64_t now = real_ns();
	CHECK(got == sig, "%s: signal %d did not come (%s)", what, sig, got < 0 ? strerror(errno) : "another");
	if (got != sig)
		return;
	CHECK(si.si_code == SI_TIMER, "%s: si_code %d, not SI_TIMER", what, si.si_code);
	CHECK(si.si_timerid == (int)(intptr_t)id, "%s: from timer %d, not %d", what, si.si_timerid, (int)(intptr_t)id);
	CHECK(si.si_value.sival_int == value, "%s: value %d, not %d", what, si.si_value.sival_int, value);
	CHECK(now >= not_before - SLACK_NS, "%s: came %.6f s early", what, (not_before - now) / 1e9);
}

/* ---- itimer ---- */

#define REAL_EVERY_S 3600

static void itimer_setup(void)
{
	block(SIGALRM);
	block(SIGVTALRM);
	block(SIGPROF);
	struct itimerval real = { { REAL_EVERY_S, 0 }, { span / NS, (span % NS) / 1000 } };
	struct itimerval virt = { { 50, 0 }, { 100, 0 } };
	struct itimerval prof = { { 0, 0 }, { 200, 0 } };
	SETUP(setitimer(ITIMER_REAL, &real, NULL) == 0 && setitimer(ITIMER_VIRTUAL, &virt, NULL) == 0 &&
	      setitimer(ITIMER_PROF, &prof, NULL) == 0, "setitimer");
}

static int64_t tv_ns(struct timeval tv)
{
	return (int64_t)tv.tv_sec * NS + (int64_t)tv.tv_usec * 1000;
}

/* At the wake-up: each itimer's setting and the time it has left. */
static void itimer_check(void)
{
	struct itimerval it;
	sigset_t pending;
	CHECK(getitimer(ITIMER_REAL, &it) == 0, "getitimer");
	CHECK(tv_ns(it.it_interval) == REAL_EVERY_S * NS, "ITIMER_REAL has an interval of %lld ns",
	      (long long)tv_ns(it.it_interval));
	sigpending(&pending);
	check_due("ITIMER_REAL", tv_ns(it.it_value));
	CHECK(getitimer(ITIMER_VIRTUAL, &it) == 0 && tv_ns(it.it_interval) == 50 * NS, "ITIMER_VIRTUAL interval");
	CHECK(tv_ns(it.it_value) > 90 * NS && tv_ns(it.it_value) <= 100 * NS + TICKS_NS, "ITIMER_VIRTUAL has %.6f s left",
	      tv_ns(it.it_value) / 1e9);
	CHECK(getitimer(ITIMER_PROF, &it) == 0 && tv_ns(it.it_interval) == 0, "ITIMER_PROF interval");
	CHECK(tv_ns(it.it_value) > 190 * NS && tv_ns(it.it_value) <= 200 * NS + TICKS_NS, "ITIMER_PROF has %.6f s left",
	      tv_ns(it.it_value) / 1e9);
	CHECK(!sigismember(&pending, SIGVTALRM) && !sigismember(&pending, SIGPROF), "a CPU-time itimer fired");
}

static void itimer_near(void)
{
	int64_t us = left_until(due) / 1000 + 1; /* not before due */
	struct itimerval real = { { REAL_EVERY_S, 0 }, { us / 1000000, us % 1000000 } };
	SETUP(setitimer(ITIMER_REAL, &real, NULL) == 0, "setitimer");
}

/* Then: SIGALRM at the deadline, and ITIMER_REAL on its grid. */
static void itimer_fires(void)
{
	struct itimerval it;
	siginfo_t si;
	int got = wait_signal(SIGALRM, &si, due + LATE_NS);
	int64_t now = real_ns();
	CHECK(got == SIGALRM && si.si_code == SI_KERNEL, "SIGALRM did not come from the kernel (%d, code %d)", got,
	      got == SIGALRM ? si.si_code : 0);
	CHECK(now >= due - SLACK_NS, "SIGALRM came %.6f s early", (due - now) / 1e9);
	/* Taken, it started its next period on its grid. */
	CHECK(getitimer(ITIMER_REAL, &it) == 0 && tv_ns(it.it_interval) == REAL_EVERY_S * NS, "ITIMER_REAL's interval");
	check_deadline("ITIMER_REAL's second period", tv_ns(it.it_value), due + REAL_EVERY_S * NS);
}

/* ---- posix ---- */

enum { TA, TB, TC, TP, TE, TF, TG2, TG1, TH, TO, TS, TD, NT };
#define S_LATER (600 * NS)
static timer_t timer[NT];
static pid_t second_tid;
static pthread_t second;
static int64_t h_started;
#define O_OVERRUNS 4
#define O_EVERY (7200 * NS) /* more than SECONDS can be */
static int64_t o_next;
static char timers_before[8192];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static bool go, e_fired;
static int e_value;
static int64_t e_at;
static siginfo_t b_info;
static int b_got = -1;
static pid_t b_tid;
static int64_t b_at;

/* In the second thread: says its tid, then waits until main says go. */
static void second_says_tid_then_waits(void)
{
	pthread_mutex_lock(&lock);
	second_tid = gettid();
	pthread_cond_broadcast(&cond);
	while (!go)
		pthread_cond_wait(&cond, &lock);
	pthread_mutex_unlock(&lock);
}

/* Starts the second thread with FN, once it has said its tid. */
static void start_second(void *(*fn)(void *))
{
	SETUP(pthread_create(&second, NULL, fn, NULL) == 0, "pthread_create");
	pthread_mutex_lock(&lock);
	while (!second_tid)
		pthread_cond_wait(&cond, &lock);
	pthread_mutex_unlock(&lock);
}

/* The second thread: B's signal goes to it alone. */
static void *second_thread(void *arg)
{
	(void)arg;
	second_says_tid_then_waits();
	b_got = wait_signal(SIGRTMIN + 1, &b_info, due + LATE_NS);
	b_at = real_ns();
	b_tid = gettid();
	return NULL;
}

static void on_e(union sigval v)
{
	pthread_mutex_lock(&lock);
	e_fired = true;
	e_value = v.sival_int;
	e_at = real_ns();
	pthread_cond_broadcast(&cond);
	pthread_mutex_unlock(&lock);
}

static timer_t make_timer(clockid_t clock, int notify, int sig, int value, pid_t tid)
{
	struct sigevent ev;
	memset(&ev, 0, sizeof ev);
	ev.sigev_notify = notify;
	ev.sigev_signo = sig;
	ev.sigev_value.sival_int = value;
	if (notify == SIGEV_THREAD_ID)
		ev._sigev_un._tid = tid;
	if (notify == SIGEV_THREAD)
		ev.sigev_notify_function = on_e;
	timer_t t;
	SETUP(timer_create(clock, &ev, &t) == 0, "timer_create");
	return t;
}

/* Until one-shot timer T has expired (its signal is then queued). */
static void until_fired(timer_t t)
{
	struct itimerspec its;
	int64_t give_up = real_ns() + 10 * NS;
	do {
		SETUP(timer_gettime(t, &its) == 0 && real_ns() < give_up, "waiting for a timer to fire");
	} while (its.it_value.tv_sec || its.it_value.tv_nsec);
}

/* /proc/self/timers with its four-line records sorted, so that the order
 * the kernel lists them in does not count. */
static void timers_text(char *out, size_t size)
{
	char raw[8192], *rec[64];
	ssize_t n = read_file("/proc/self/timers", raw, sizeof raw - 1);
	SETUP(n >= 0, "read /proc/self/timers");
	raw[n] = 0;
	size_t count = 0;
	for (char *p = raw; *p && count < 64; count++) {
		rec[count] = p;
		for (int line = 0; line < 4 && *p; line++) {
			char *nl = strchr(p, '\n');
			p = nl ? nl + 1 : p + strlen(p);
		}
		if (p[-1] == '\n')
			p[-1] = 0;
	}
	for (size_t i = 1; i < count; i++)
		for (size_t j = i; j > 0 && strcmp(rec[j - 1], rec[j]) > 0; j--) {
			char *x = rec[j];
			rec[j] = rec[j - 1];
			rec[j - 1] = x;
		}
	out[0] = 0;
	for (size_t i = 0; i < count; i++)
		snprintf(out + strlen(out), size - strlen(out), "%s\n", rec[i]);
}

static void posix_setup(void)
{
	for (int s = SIGRTMIN; s <= SIGRTMIN + 8; s++)
		block(s);
	start_second(second_thread);
	timer[TA] = make_timer(CLOCK_MONOTONIC, SIGEV_SIGNAL, SIGRTMIN, 101, 0);
	timer[TB] = make_timer(CLOCK_REALTIME, SIGEV_THREAD_ID, SIGRTMIN + 1, 202, second_tid);
	timer[TC] = make_timer(CLOCK_BOOTTIME, SIGEV_NONE, 0, 303, 0);
	timer[TP] = make_timer(CLOCK_PROCESS_CPUTIME_ID, SIGEV_SIGNAL, SIGRTMIN + 2, 404, 0);
	timer[TE] = make_timer(CLOCK_MONOTONIC, SIGEV_THREAD, 0, 505, 0);
	timer[TF] = make_timer(CLOCK_REALTIME, SIGEV_SIGNAL, SIGRTMIN + 6, 606, 0);
	timer[TG2] = make_timer(CLOCK_MONOTONIC, SIGEV_SIGNAL, SIGRTMIN + 3, 702, 0);
	timer[TG1] = make_timer(CLOCK_MONOTONIC, SIGEV_SIGNAL, SIGRTMIN + 3, 701, 0);
	timer[TH] = make_timer(CLOCK_MONOTONIC, SIGEV_SIGNAL, SIGRTMIN + 4, 808, 0);
	timer[TO] = make_timer(CLOCK_REALTIME, SIGEV_SIGNAL, SIGRTMIN + 5, 909, 0);
	timer[TS] = make_timer(CLOCK_MONOTONIC, SIGEV_SIGNAL, SIGRTMIN + 7, 1001, 0);
	timer[TD] = make_timer(CLOCK_REALTIME, SIGEV_SIGNAL, SIGRTMIN + 8, 1101, 0);
	/* D's signal queued, then D disarmed: that signal is stale too. */
	arm(timer[TD], 0, 1, 0);
	until_fired(timer[TD]);
	arm(timer[TD], 0, 0, 0);
	/* S's signal queued, then S set again: that signal is stale. */
	arm(timer[TS], 0, 1, 0);
	until_fired(timer[TS]);
	arm(timer[TS], 0, S_LATER, 0);
	/* O's last signal counted O_OVERRUNS overruns: armed that many periods
	 * and one more before its next expiry, it fires at once and, taken,
	 * moves on to that expiry (long after the others). */
	o_next = real_ns() + O_EVERY - 100 * NS;
	arm(timer[TO], TIMER_ABSTIME, o_next - (O_OVERRUNS + 1) * O_EVERY, O_EVERY);
	siginfo_t osi;
	SETUP(wait_signal(SIGRTMIN + 5, &osi, real_ns() + 10 * NS) == SIGRTMIN + 5 && osi.si_overrun == O_OVERRUNS &&
	      timer_getoverrun(timer[TO]) == O_OVERRUNS, "giving timer O its overruns");
	arm(timer[TG1], 0, 1, 0);
	until_fired(timer[TG1]);
	arm(timer[TG2], 0, 1, 0);
	until_fired(timer[TG2]);
	h_started = real_ns();
	arm(timer[TH], 0, 1, 100 * MS);
	arm(timer[TA], 0, span, 0);
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	arm(timer[TB], TIMER_ABSTIME, ts_ns(now) + span, 60 * NS);
	arm(timer[TC], 0, 600 * NS, 7 * NS);
	arm(timer[TP], 0, 100 * NS, 0);
	arm(timer[TE], 0, span, 0);
	timers_text(timers_before, sizeof timers_before);
	/* E's timer_create started glibc's helper thread, which sets its
	 * signal mask only once it runs and then waits in rt_sigtimedwait:
	 * ready once it waits there, and the second thread in its futex, or
	 * a snapshot may catch the helper on its way with another SigBlk. */
	SETUP(tp_thread_blocked_in(second_tid, SYS_futex), "the second thread waits for main");
	SETUP(tp_other_threads_blocked_in(second_tid, SYS_rt_sigtimedwait) == 1,
	      "glibc's SIGEV_THREAD helper waits in rt_sigtimedwait");
}

/* At the wake-up: /proc/self/timers, each timer's setting and time left,
 * the pending signals in their order, S's and D's stale ones. */
static void posix_check(void)
{
	char after[8192];
	timers_text(after, sizeof after);
	CHECK(strcmp(after, timers_before) == 0, "/proc/self/timers differs:\n%s---- was:\n%s", after, timers_before);
	struct itimerspec its;
	for (int i = 0; i < NT; i++)
		CHECK(timer_gettime(timer[i], &its) == 0, "timer %d: timer_gettime: %s", i, strerror(errno));
	timer_gettime(timer[TA], &its);
	check_due("POSIX timer A", ts_ns(its.it_value));
	timer_gettime(timer[TE], &its);
	check_due("SIGEV_THREAD timer E", ts_ns(its.it_value));
	timer_gettime(timer[TB], &its);
	check_due("POSIX timer B", ts_ns(its.it_value));
	CHECK(ts_ns(its.it_interval) == 60 * NS, "B's interval");
	timer_gettime(timer[TC], &its);
	CHECK(ts_ns(its.it_interval) == 7 * NS, "C's interval is %lld ns", (long long)ts_ns(its.it_interval));
	/* C runs every 7 s from armed_at + 600 s: the next of those times. */
	check_deadline("SIGEV_NONE timer C", ts_ns(its.it_value), armed_at + 600 * NS);
	timer_gettime(timer[TP], &its);
	CHECK(ts_ns(its.it_value) > 90 * NS && ts_ns(its.it_value) <= 100 * NS, "CPU-time timer P has %.6f s left",
	      ts_ns(its.it_value) / 1e9);
	timer_gettime(timer[TF], &its);
	CHECK(!ts_ns(its.it_value) && !ts_ns(its.it_interval), "timer F is armed");
	timer_gettime(timer[TH], &its);
	CHECK(ts_ns(its.it_interval) == 100 * MS, "H's interval");
	/* O: the overruns of its last signal, its next expiry where it was. */
	CHECK(timer_getoverrun(timer[TO]) == O_OVERRUNS, "timer O reports %d overruns, not %d", timer_getoverrun(timer[TO]),
	      O_OVERRUNS);
	timer_gettime(timer[TO], &its);
	CHECK(ts_ns(its.it_interval) == O_EVERY, "O's interval");
	check_deadline("timer O", ts_ns(its.it_value), o_next);

	/* Pending before "ready": G1, G2 in that order; H, which went on. */
	check_timer_signal("G1 (queued first)", SIGRTMIN + 3, timer[TG1], 701, real_ns(), 0);
	check_timer_signal("G2", SIGRTMIN + 3, timer[TG2], 702, real_ns(), 0);
	int64_t before = real_ns();
	siginfo_t si;
	int got = wait_signal(SIGRTMIN + 4, &si, before);
	int64_t periods = (real_ns() - h_started) / (100 * MS);
	CHECK(got == SIGRTMIN + 4 && si.si_value.sival_int == 808 && si.si_code == SI_TIMER, "H's pending signal");
	CHECK(got != SIGRTMIN + 4 || (si.si_overrun >= 0 && si.si_overrun <= periods + 1),
	      "H counts %d overruns in %lld periods", si.si_overrun, (long long)periods);
	check_timer_signal("H, once more", SIGRTMIN + 4, timer[TH], 808, real_ns() + LATE_NS, 0);

	/* S: its stale signal still queued, which the kernel drops when taken. */
	sigset_t pending;
	sigpending(&pending);
	CHECK(sigismember(&pending, SIGRTMIN + 7), "S's stale signal is not pending");
	CHECK(wait_signal(SIGRTMIN + 7, &si, real_ns()) < 0 && errno == EAGAIN, "S's stale signal was delivered");
	sigpending(&pending);
	CHECK(!sigismember(&pending, SIGRTMIN + 7), "S's stale signal is still pending once taken");
	timer_gettime(timer[TS], &its);
	CHECK(ts_ns(its.it_interval) == 0, "S's interval");
	check_deadline("timer S", ts_ns(its.it_value), armed_at + S_LATER);
	/* D: the same, and disarmed. */
	CHECK(sigismember(&pending, SIGRTMIN + 8), "D's stale signal is not pending");
	CHECK(wait_signal(SIGRTMIN + 8, &si, real_ns()) < 0 && errno == EAGAIN, "D's stale signal was delivered");
	sigpending(&pending);
	CHECK(!sigismember(&pending, SIGRTMIN + 8), "D's stale signal is still pending once taken");
	timer_gettime(timer[TD], &its);
	CHECK(ts_ns(its.it_value) == 0 && ts_ns(its.it_interval) == 0, "D is armed");
}

/* A, B and E set again as they were armed, to fall due at DUE. */
static void posix_near(void)
{
	arm(timer[TA], 0, left_until(due), 0);
	arm(timer[TB], TIMER_ABSTIME, due, 60 * NS);
	arm(timer[TE], 0, left_until(due), 0);
}

/* Then: A, E and B (on the second thread) fire with their values, not
 * early; P, F and O do not. */
static void posix_fires(void)
{
	check_timer_signal("A", SIGRTMIN, timer[TA], 101, due + LATE_NS, due);
	pthread_mutex_lock(&lock);
	go = true;
	pthread_cond_broadcast(&cond);
	struct timespec give_up = ns_ts(due + LATE_NS);
	while (!e_fired && pthread_cond_timedwait(&cond, &lock, &give_up) == 0)
		;
	pthread_mutex_unlock(&lock);
	CHECK(e_fired && e_value == 505, "SIGEV_THREAD timer E: fired %d, value %d", e_fired, e_value);
	CHECK(!e_fired || e_at >= due - SLACK_NS, "E fired %.6f s early", (due - e_at) / 1e9);
	sigset_t pending;
	sigpending(&pending);
	CHECK(!sigismember(&pending, SIGRTMIN + 2) && !sigismember(&pending, SIGRTMIN + 6) &&
	      !sigismember(&pending, SIGRTMIN + 5), "P, F or O fired");
	pthread_join(second, NULL);
	CHECK(b_got == SIGRTMIN + 1, "B's signal did not reach the second thread");
	CHECK(b_tid == second_tid, "B's signal taken by thread %d, not %d", b_tid, second_tid);
	CHECK(b_got != SIGRTMIN + 1 || (b_info.si_value.sival_int == 202 && b_info.si_code == SI_TIMER &&
					b_info.si_timerid == (int)(intptr_t)timer[TB]),
	      "B's signal: value %d, code %d", b_info.si_value.sival_int, b_info.si_code);
	CHECK(b_at >= due - SLACK_NS, "B fired %.6f s early", (due - b_at) / 1e9);
}

/* ---- timerfd ---- */

enum { FD_ONCE, FD_DUP, FD_ABS, FD_EXPIRED, FD_PERIODIC, FD_IDLE, NFD };
static int tfd[NFD];
static int64_t periodic_started;

static void tfd_set(int fd, int flags, int64_t value, int64_t interval)
{
	struct itimerspec its = { ns_ts(interval), ns_ts(value) };
	SETUP(timerfd_settime(fd, flags, &its, NULL) == 0, "timerfd_settime");
}

static void timerfd_setup(void)
{
	tfd[FD_ONCE] = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	tfd[FD_DUP] = dup(tfd[FD_ONCE]);
	tfd[FD_ABS] = timerfd_create(CLOCK_REALTIME, 0);
	tfd[FD_EXPIRED] = timerfd_create(CLOCK_BOOTTIME, 0);
	tfd[FD_PERIODIC] = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
	tfd[FD_IDLE] = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
	for (int i = 0; i < NFD; i++)
		SETUP(tfd[i] >= 0, "timerfd_create");
	tfd_set(tfd[FD_EXPIRED], 0, 1, 0);
	struct pollfd pfd = { tfd[FD_EXPIRED], POLLIN, 0 };
	SETUP(poll(&pfd, 1, 10000) == 1, "waiting for a timerfd to expire");
	periodic_started = real_ns();
	tfd_set(tfd[FD_PERIODIC], 0, 20 * MS, 20 * MS);
	tfd_set(tfd[FD_ONCE], 0, span, 0);
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	tfd_set(tfd[FD_ABS], TFD_TIMER_ABSTIME, ts_ns(now) + span, 0);
}

/* Reads a timerfd's expirations, waiting for the first until DEADLINE. */
static uint64_t tfd_read(int fd, int64_t deadline)
{
	struct pollfd pfd = { fd, POLLIN, 0 };
	int64_t left = deadline - real_ns();
	uint64_t n = 0;
	if (poll(&pfd, 1, left > 0 ? (int)(left / MS) + 1 : 0) == 1 && read(fd, &n, sizeof n) != sizeof n)
		n = 0;
	return n;
}

/* At the wake-up: flags, sharing, settings, time left, expirations. */
static void timerfd_check(void)
{
	static const struct {
		int fl, fd;
	} flags[NFD] = {
		{ O_NONBLOCK, FD_CLOEXEC }, { O_NONBLOCK, 0 }, { 0, 0 }, { 0, 0 }, { O_NONBLOCK, 0 }, { 0, FD_CLOEXEC },
	};
	for (int i = 0; i < NFD; i++) {
		CHECK((fcntl(tfd[i], F_GETFL) & O_NONBLOCK) == flags[i].fl, "timerfd %d: O_NONBLOCK", i);
		CHECK(fcntl(tfd[i], F_GETFD) == flags[i].fd, "timerfd %d: FD_CLOEXEC", i);
	}
	CHECK(syscall(SYS_kcmp, getpid(), getpid(), 0 /* KCMP_FILE */, tfd[FD_ONCE], tfd[FD_DUP]) == 0,
	      "the dup no longer shares the timerfd");
	struct itimerspec its;
	CHECK(timerfd_gettime(tfd[FD_IDLE], &its) == 0 && !ts_ns(its.it_value) && !ts_ns(its.it_interval),
	      "the idle timerfd is armed");
	CHECK(tfd_read(tfd[FD_EXPIRED], real_ns()) == 1, "the expired timerfd does not hold its one expiration");
	int64_t before = real_ns();
	uint64_t n = tfd_read(tfd[FD_PERIODIC], before);
	int64_t periods_before = (before - periodic_started) / (20 * MS), periods_after = (real_ns() - periodic_started) / (20 * MS);
	CHECK(n + 2 >= (uint64_t)periods_before && n <= (uint64_t)periods_after + 1,
	      "the 20 ms timerfd read %llu expirations in %lld to %lld periods", (unsigned long long)n,
	      (long long)periods_before, (long long)periods_after);
	CHECK(timerfd_gettime(tfd[FD_PERIODIC], &its) == 0 && ts_ns(its.it_interval) == 20 * MS, "its interval");
	for (int i = FD_ONCE; i <= FD_ABS; i += FD_ABS - FD_ONCE) {
		CHECK(timerfd_gettime(tfd[i], &its) == 0 && !ts_ns(its.it_interval), "timerfd %d: interval", i);
		check_due(i == FD_ONCE ? "the one-shot timerfd" : "the absolute timerfd", ts_ns(its.it_value));
	}
}

static void timerfd_near(void)
{
	tfd_set(tfd[FD_ONCE], 0, left_until(due), 0);
	tfd_set(tfd[FD_ABS], TFD_TIMER_ABSTIME, due, 0);
}

/* Then: the one-shot and the absolute one expire once, not early; the
 * dup shares the first's expiration. */
static void timerfd_fires(void)
{
	uint64_t n = tfd_read(tfd[FD_ONCE], due + LATE_NS);
	CHECK(n == 1, "the one-shot timerfd read %llu", (unsigned long long)n);
	CHECK(real_ns() >= due - SLACK_NS, "the one-shot timerfd expired early");
	CHECK(read(tfd[FD_DUP], &n, sizeof n) < 0 && errno == EAGAIN, "its dup still had expirations");
	n = tfd_read(tfd[FD_ABS], due + LATE_NS);
	CHECK(n == 1, "the absolute timerfd read %llu", (unsigned long long)n);
	CHECK(real_ns() >= due - SLACK_NS, "the absolute timerfd expired early");
}

/* ---- epoll ---- */

enum { EP_FIRED, EP_ARMED, NEP };
static int ep_fd, ep_tfd[NEP];
static const uint64_t ep_data[NEP] = { 0x7e57000000000001ull, 0x7e57000000000002ull };

static void epoll_setup(void)
{
	ep_fd = epoll_create1(EPOLL_CLOEXEC);
	SETUP(ep_fd >= 0, "epoll_create1");
	for (int i = 0; i < NEP; i++) {
		ep_tfd[i] = timerfd_create(i == EP_FIRED ? CLOCK_BOOTTIME : CLOCK_MONOTONIC, TFD_NONBLOCK);
		struct epoll_event ev = { .events = EPOLLIN, .data.u64 = ep_data[i] };
		SETUP(ep_tfd[i] >= 0 && epoll_ctl(ep_fd, EPOLL_CTL_ADD, ep_tfd[i], &ev) == 0, "a timerfd into epoll");
	}
	tfd_set(ep_tfd[EP_FIRED], 0, 1, 0);
	struct epoll_event ev;
	SETUP(epoll_wait(ep_fd, &ev, 1, 10000) == 1 && ev.data.u64 == ep_data[EP_FIRED], "waiting for a timerfd in epoll");
	tfd_set(ep_tfd[EP_ARMED], 0, span, 0);
}

static void epoll_check(void)
{
	/* The expired one is ready at once, with its data and its expiration;
	 * the armed one too only once its deadline has passed. */
	struct epoll_event ev[NEP];
	int n = epoll_wait(ep_fd, ev, NEP, 0);
	int64_t after = real_ns();
	bool ready[NEP] = { false, false };
	for (int i = 0; i < n; i++)
		for (int k = 0; k < NEP; k++)
			if (ev[i].data.u64 == ep_data[k] && ev[i].events == EPOLLIN)
				ready[k] = true;
	CHECK(n >= 1 && ready[EP_FIRED], "epoll reports %d ready, not the expired timerfd (0x%llx, events 0x%x)", n,
	      n > 0 ? (unsigned long long)ev[0].data.u64 : 0ull, n > 0 ? ev[0].events : 0);
	CHECK(!ready[EP_ARMED] || after >= due - SLACK_NS, "the armed timerfd was ready %.6f s early",
	      (due - after) / 1e9);
	uint64_t count = 0;
	CHECK(read(ep_tfd[EP_FIRED], &count, sizeof count) == sizeof count && count == 1,
	      "the expired timerfd read %llu", (unsigned long long)count);
	struct itimerspec its;
	CHECK(timerfd_gettime(ep_tfd[EP_ARMED], &its) == 0, "timerfd_gettime");
	check_due("the armed timerfd in epoll", ts_ns(its.it_value));
}

static void epoll_near(void)
{
	tfd_set(ep_tfd[EP_ARMED], 0, left_until(due), 0);
}

/* Then: the armed one becomes ready at its deadline, not before. */
static void epoll_fires(void)
{
	struct epoll_event ev[NEP];
	uint64_t count = 0;
	int64_t left = due + LATE_NS - real_ns();
	int n = epoll_wait(ep_fd, ev, NEP, left > 0 ? (int)(left / MS) + 1 : 0);
	int64_t now = real_ns();
	CHECK(n == 1 && ev[0].data.u64 == ep_data[EP_ARMED], "epoll did not report the armed timerfd alone (%d)", n);
	CHECK(now >= due - SLACK_NS, "the armed timerfd was ready %.6f s early", (due - now) / 1e9);
	CHECK(read(ep_tfd[EP_ARMED], &count, sizeof count) == sizeof count && count == 1,
	      "the armed timerfd read %llu", (unsigned long long)count);
}

/* ---- expired ---- */

enum { XA, XK, NX };
#define X_PERIOD (250 * MS) /* of the interval timers */
static timer_t xtimer[NX];
static int xfd[2];

static void expired_setup(void)
{
	block(SIGALRM);
	block(SIGRTMIN);
	block(SIGRTMIN + 1);
	xtimer[XA] = make_timer(CLOCK_MONOTONIC, SIGEV_SIGNAL, SIGRTMIN, 111, 0);
	xtimer[XK] = make_timer(CLOCK_REALTIME, SIGEV_SIGNAL, SIGRTMIN + 1, 222, 0);
	xfd[0] = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
	xfd[1] = timerfd_create(CLOCK_BOOTTIME, TFD_NONBLOCK);
	SETUP(xfd[0] >= 0 && xfd[1] >= 0, "timerfd_create");
	armed_at = real_ns();
	struct itimerval real = { { 0, X_PERIOD / 1000 }, { span / NS, (span % NS) / 1000 } };
	SETUP(setitimer(ITIMER_REAL, &real, NULL) == 0, "setitimer");
	arm(xtimer[XA], 0, span, 0);
	arm(xtimer[XK], TIMER_ABSTIME, armed_at + span, X_PERIOD); /* its phase exactly */
	tfd_set(xfd[0], 0, span, 0);
	tfd_set(xfd[1], 0, span, X_PERIOD);
	say("deadline %lld", (long long)(armed_at + span));
}

static int64_t real_left(void)
{
	struct itimerval it;
	return getitimer(ITIMER_REAL, &it) == 0 ? tv_ns(it.it_value) : -1;
}

static int64_t xk_left(void)
{
	struct itimerspec its;
	return timer_gettime(xtimer[XK], &its) == 0 ? ts_ns(its.it_value) : -1;
}

/* An interval timer that fell due while frozen kept its phase: its next
 * expiry (LEFT, read between two clock readings not preempted apart) a
 * whole number of periods after the deadline, give or take 10 ms. */
static void check_phase(const char *what, int64_t (*left)(void))
{
	for (int attempt = 0; attempt < 20; attempt++) {
		int64_t t1 = real_ns(), l = left(), t2 = real_ns();
		if (t2 - t1 > 5 * MS)
			continue; /* preempted in between: read again */
		CHECK(l > 0, "%s is disarmed", what);
		int64_t off = (t1 + l - due) % X_PERIOD;
		if (off > X_PERIOD / 2)
			off -= X_PERIOD;
		CHECK(off > -10 * MS && off < 10 * MS, "%s's phase moved by %.6f s", what, off / 1e9);
		return;
	}
	CHECK(false, "%s: every reading of it was preempted", what);
}

static void expired_check(void)
{
	int64_t wake = real_ns();
	CHECK(wake >= due, "woken %.3f s before the deadline: the test restored too early", (due - wake) / 1e9);
	/* Fired right after the restore: pending before this process ran. */
	sigset_t pending;
	sigpending(&pending);
	CHECK(sigismember(&pending, SIGALRM), "SIGALRM is not pending");
	CHECK(sigismember(&pending, SIGRTMIN) && sigismember(&pending, SIGRTMIN + 1), "a POSIX timer's signal is not pending");
	struct pollfd pfd[2] = { { xfd[0], POLLIN, 0 }, { xfd[1], POLLIN, 0 } };
	CHECK(poll(pfd, 2, 0) == 2, "a timerfd is not readable");
	siginfo_t si;
	CHECK(wait_signal(SIGALRM, &si, wake) == SIGALRM && si.si_code == SI_KERNEL, "SIGALRM");
	check_phase("ITIMER_REAL", real_left);
	check_timer_signal("the one-shot POSIX timer", SIGRTMIN, xtimer[XA], 111, wake, due);
	/* The interval timer counts the periods it missed, and keeps its phase. */
	int64_t before = real_ns();
	int got = wait_signal(SIGRTMIN + 1, &si, before);
	int64_t after = real_ns(), period = X_PERIOD;
	CHECK(got == SIGRTMIN + 1 && si.si_value.sival_int == 222, "the interval POSIX timer's signal");
	CHECK(got != SIGRTMIN + 1 || (si.si_overrun + 1 >= (wake - due) / period && si.si_overrun <= (after - due) / period + 1),
	      "the interval POSIX timer counts %d overruns %.3f s after its first expiry", si.si_overrun, (after - due) / 1e9);
	check_phase("the interval POSIX timer", xk_left);
	uint64_t n = 0;
	CHECK(read(xfd[0], &n, sizeof n) == sizeof n && n == 1, "the one-shot timerfd read %llu", (unsigned long long)n);
	before = real_ns();
	CHECK(read(xfd[1], &n, sizeof n) == sizeof n, "the interval timerfd");
	after = real_ns();
	CHECK(n + 1 >= (uint64_t)((before - due) / period + 1) && n <= (uint64_t)((after - due) / period + 2),
	      "the interval timerfd read %llu expirations %.3f s after its first", (unsigned long long)n, (after - due) / 1e9);
}

/* ---- what binmig refuses ---- */

static void *idle_thread(void *arg)
{
	(void)arg;
	second_says_tid_then_waits();
	return NULL;
}

static void end_idle_thread(void)
{
	pthread_mutex_lock(&lock);
	go = true;
	pthread_cond_broadcast(&cond);
	pthread_mutex_unlock(&lock);
	pthread_join(second, NULL);
}

static int refusal(const char *mode)
{
	timer_t t = 0;
	int fd = -1;
	block(SIGRTMIN);
	if (strcmp(mode, "refuse-thread-cpu") == 0) {
		start_second(idle_thread);
		t = make_timer(CLOCK_THREAD_CPUTIME_ID, SIGEV_SIGNAL, SIGRTMIN, 1, 0);
		arm(t, 0, 100 * NS, 0);
	} else if (strcmp(mode, "refuse-foreign-cpu") == 0) {
		clockid_t clock;
		SETUP(clock_getcpuclockid(getppid(), &clock) == 0, "clock_getcpuclockid");
		t = make_timer(clock, SIGEV_SIGNAL, SIGRTMIN, 1, 0);
	} else if (strcmp(mode, "refuse-order") == 0) {
		t = make_timer(CLOCK_MONOTONIC, SIGEV_SIGNAL, SIGRTMIN, 31, 0);
		arm(t, 0, 1, 0);
		until_fired(t);
		SETUP(sigqueue(getpid(), SIGRTMIN, (union sigval){ .sival_int = 32 }) == 0, "sigqueue");
	} else if (strcmp(mode, "refuse-overrun") == 0) {
		/* 4 overruns in its last signal, and a signal of its number queued by hand. */
		t = make_timer(CLOCK_REALTIME, SIGEV_SIGNAL, SIGRTMIN, 41, 0);
		arm(t, TIMER_ABSTIME, real_ns() + O_EVERY - 100 * NS - (O_OVERRUNS + 1) * O_EVERY, O_EVERY);
		siginfo_t si;
		SETUP(wait_signal(SIGRTMIN, &si, real_ns() + 10 * NS) == SIGRTMIN && si.si_overrun == O_OVERRUNS,
		      "giving the timer its overruns");
		SETUP(sigqueue(getpid(), SIGRTMIN, (union sigval){ .sival_int = 42 }) == 0, "sigqueue");
	} else if (strcmp(mode, "refuse-deleted") == 0) {
		/* Deleted with its signal queued: the kernel drops that signal
		 * when it is taken; until then the process sees it pending. */
		t = make_timer(CLOCK_MONOTONIC, SIGEV_SIGNAL, SIGRTMIN, 51, 0);
		arm(t, 0, 1, 0);
		until_fired(t);
		SETUP(timer_delete(t) == 0, "timer_delete");
	} else if (strcmp(mode, "refuse-stale-interval") == 0) {
		t = make_timer(CLOCK_MONOTONIC, SIGEV_SIGNAL, SIGRTMIN, 61, 0);
		arm(t, 0, 1, S_LATER);
		sigset_t pending;
		int64_t give_up = real_ns() + 10 * NS;
		do
			SETUP(sigpending(&pending) == 0 && real_ns() < give_up, "waiting for the timer to fire");
		while (!sigismember(&pending, SIGRTMIN));
		arm(t, 0, S_LATER, S_LATER);
	} else if (strcmp(mode, "refuse-stale-mixed") == 0) {
		timer_t every = make_timer(CLOCK_MONOTONIC, SIGEV_SIGNAL, SIGRTMIN, 71, 0);
		arm(every, 0, 1, S_LATER);
		sigset_t pending;
		int64_t give_up = real_ns() + 10 * NS;
		do
			SETUP(sigpending(&pending) == 0 && real_ns() < give_up, "waiting for the interval timer to fire");
		while (!sigismember(&pending, SIGRTMIN));
		t = make_timer(CLOCK_MONOTONIC, SIGEV_SIGNAL, SIGRTMIN, 72, 0);
		arm(t, 0, 1, 0);
		until_fired(t);
	} else if (strcmp(mode, "refuse-cpu-pending") == 0) {
		t = make_timer(CLOCK_PROCESS_CPUTIME_ID, SIGEV_SIGNAL, SIGRTMIN, 81, 0);
		arm(t, 0, MS, 1000 * NS);
		sigset_t pending;
		int64_t give_up = real_ns() + 10 * NS;
		do /* spins: CPU time passes only so */
			SETUP(sigpending(&pending) == 0 && real_ns() < give_up, "waiting for the CPU-time timer to fire");
		while (!sigismember(&pending, SIGRTMIN));
	} else if (strcmp(mode, "refuse-exited-thread") == 0) {
		start_second(idle_thread);
		t = make_timer(CLOCK_MONOTONIC, SIGEV_THREAD_ID, SIGRTMIN, 1, second_tid);
		end_idle_thread();
	} else if (strcmp(mode, "refuse-timerfd-cancel") == 0) {
		/* Expired (its deadline passed): an event not read, which binmig
		 * cannot tell from a cancellation. */
		fd = timerfd_create(CLOCK_REALTIME, TFD_NONBLOCK);
		SETUP(fd >= 0, "timerfd_create");
		tfd_set(fd, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, 1, 0);
	} else {
		say("FAIL: usage: timers itimer|posix|timerfd|epoll|all [SECONDS [NEAR]] | expired [SECONDS] | refuse-...");
		return 2;
	}
	say("ready");
	usr1_wait();
	/* The refused dump left everything as it was. */
	if (strcmp(mode, "refuse-order") == 0) {
		check_timer_signal("the timer's signal, first", SIGRTMIN, t, 31, real_ns(), 0);
		siginfo_t si;
		CHECK(wait_signal(SIGRTMIN, &si, real_ns()) == SIGRTMIN && si.si_code == SI_QUEUE && si.si_value.sival_int == 32,
		      "the queued signal, second");
	} else if (strcmp(mode, "refuse-overrun") == 0) {
		CHECK(timer_getoverrun(t) == O_OVERRUNS, "the timer's overrun count");
		siginfo_t si;
		CHECK(wait_signal(SIGRTMIN, &si, real_ns()) == SIGRTMIN && si.si_code == SI_QUEUE && si.si_value.sival_int == 42,
		      "the queued signal");
	} else if (strcmp(mode, "refuse-cpu-pending") == 0) {
		check_timer_signal("the CPU-time timer's signal", SIGRTMIN, t, 81, real_ns(), 0);
	} else if (strcmp(mode, "refuse-stale-mixed") == 0) {
		siginfo_t si;
		CHECK(wait_signal(SIGRTMIN, &si, real_ns()) == SIGRTMIN && si.si_code == SI_TIMER && si.si_value.sival_int == 71,
		      "the interval timer's signal, first");
		check_timer_signal("the one-shot's signal, second", SIGRTMIN, t, 72, real_ns(), 0);
	} else if (strcmp(mode, "refuse-deleted") == 0 || strcmp(mode, "refuse-stale-interval") == 0) {
		sigset_t pending;
		siginfo_t si;
		CHECK(sigpending(&pending) == 0 && sigismember(&pending, SIGRTMIN), "the stale signal is not pending");
		CHECK(wait_signal(SIGRTMIN, &si, real_ns()) < 0 && errno == EAGAIN, "the stale signal was delivered");
		struct itimerspec its;
		CHECK(strcmp(mode, "refuse-deleted") == 0 || (timer_gettime(t, &its) == 0 && ts_ns(its.it_value) > 0 &&
					 ts_ns(its.it_value) <= S_LATER && ts_ns(its.it_interval) == S_LATER),
		      "the interval timer is not armed as it was");
	} else if (fd >= 0) {
		uint64_t n = 0;
		ssize_t got = read(fd, &n, sizeof n);
		CHECK((got == sizeof n && n == 1) || (got < 0 && errno == ECANCELED), "the timerfd's event: %zd, %llu (%s)",
		      got, (unsigned long long)n, got < 0 ? strerror(errno) : "");
	} else {
		struct itimerspec its;
		CHECK(timer_gettime(t, &its) == 0, "the timer: %s", strerror(errno));
	}
	if (strcmp(mode, "refuse-thread-cpu") == 0)
		end_idle_thread();
	return tp_finish();
}

/* The parts of the carry modes, in the order they are checked: what each
 * timer is at the wake-up, how each is set again to fall due NEAR seconds
 * later, how each fires. */
enum { P_TIMERFD, P_EPOLL, P_ITIMER, P_POSIX, NPARTS };
static const struct {
	void (*check)(void), (*near)(void), (*fires)(void);
} parts[NPARTS] = {
	[P_TIMERFD] = {timerfd_check, timerfd_near, timerfd_fires},
	[P_EPOLL] = {epoll_check, epoll_near, epoll_fires},
	[P_ITIMER] = {itimer_check, itimer_near, itimer_fires},
	[P_POSIX] = {posix_check, posix_near, posix_fires},
};

int main(int argc, char **argv)
{
	const char *mode = argc >= 2 && argc <= 4 ? argv[1] : "";
	bool expired = strcmp(mode, "expired") == 0;
	long seconds = expired ? 2 : 10, near = 0;
	if (argc >= 3 && !seconds_arg(argv[2], 3600, &seconds))
		mode = "";
	span = seconds * NS;
	usr1_setup();
	/* Before any thread is created, so that every thread has them blocked:
	 * a process-wide timer signal goes to any thread that takes it. */
	block(SIGALRM);
	block(SIGVTALRM);
	block(SIGPROF);
	for (int s = SIGRTMIN; s <= SIGRTMIN + 8; s++)
		block(s);
	bool all = strcmp(mode, "all") == 0;
	bool itimer = all || strcmp(mode, "itimer") == 0, posix = all || strcmp(mode, "posix") == 0,
	     tfds = all || strcmp(mode, "timerfd") == 0, in_epoll = all || strcmp(mode, "epoll") == 0;
	bool carry = itimer || posix || tfds || in_epoll;
	if (argc == 4 && (!carry || !seconds_arg(argv[3], 3600, &near) || near >= seconds))
		return refusal(""); /* says how to call */
	near_ns = near * NS;
	if (!carry && !expired)
		return refusal(mode);
	/* Taken before any is armed: none may expire before armed_at + span. */
	if (expired)
		expired_setup();
	else
		armed_at = real_ns();
	due = armed_at + span;
	if (posix)
		posix_setup();
	if (tfds)
		timerfd_setup();
	if (in_epoll)
		epoll_setup();
	if (itimer)
		itimer_setup();
	say("ready");
	usr1_wait();
	if (carry)
		CHECK(real_ns() < due, "woken %.3f s after the timers fell due: the test gives them SECONDS to wait",
		      (real_ns() - due) / 1e9);
	if (expired)
		expired_check();
	const bool on[NPARTS] = {[P_TIMERFD] = tfds, [P_EPOLL] = in_epoll, [P_ITIMER] = itimer, [P_POSIX] = posix};
	for (int i = 0; i < NPARTS; i++)
		if (on[i])
			parts[i].check();
	/* The test woke the program before SECONDS passed: none has fired. */
	if (near)
		due = real_ns() + near_ns;
	for (int i = 0; i < NPARTS && near; i++)
		if (on[i])
			parts[i].near();
	for (int i = 0; i < NPARTS; i++)
		if (on[i])
			parts[i].fires();
	return tp_finish();
}
