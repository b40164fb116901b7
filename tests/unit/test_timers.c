/* Tests of what the timers code decides without a live process: parsing
 * /proc/PID/timers and a timerfd's fdinfo (samples captured on this
 * kernel, malformed and cut text, and this process itself), the time that
 * passed while frozen, the two readings around the pending signals, which
 * clocks and notifications can be carried, the pending signals of timers
 * taken out of their queues, which overrun counts can be set again, and
 * finding a CLOCK_REALTIME timer in /proc/timer_list to tell whether it
 * was armed absolute. */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "procfs.h"
#include "timers.h"

#define NS 1000000000LL
#define SI_TIMER_CODE (-2)

static char *read_sample(const char *name)
{
	char path[PATH_MAX + 64], *text;
	const char *root = getenv("BINMIG_ROOT");
	if (root)
		snprintf(path, sizeof path, "%s/tests/unit/samples/%s", root, name);
	else /* built from the repository root: __FILE__ is tests/unit/test_timers.c */
		snprintf(path, sizeof path, "%.*s/samples/%s", (int)(strrchr(__FILE__, '/') - __FILE__), __FILE__, name);
	int r = bm_read_text(path, &text, NULL);
	if (r < 0)
		fail_msg("cannot read sample %s: %s", path, strerror(-r));
	return text;
}

/* ---- /proc/PID/timers ---- */

static void test_timers_sample(void **state)
{
	(void)state;
	/* tests/unit/samples/README.md says how the sampler made them. */
	static const struct bm_proc_timer expected[] = {
		{ 4, 14, 0, 0, 8089, -2 },
		{ 3, 32, 0x560f6e5ef460, 4, 8090, 7 },
		{ 2, 12, 0xfedcba9876543210, 4, 8089, -6 },
		{ 1, 0, 0xffffffff, 1, 8089, 0 },
		{ 0, 36, 0x1234abcd, 0, 8089, 1 },
	};
	char *text = read_sample("timers-sampler.txt");
	struct bm_proc_timer *t;
	size_t n;
	assert_int_equal(bm_parse_timers(text, &t, &n), 0);
	assert_int_equal(n, 5);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(t[i].id, expected[i].id);
		assert_int_equal(t[i].signo, expected[i].signo);
		assert_true(t[i].sigval == expected[i].sigval);
		assert_int_equal(t[i].notify, expected[i].notify);
		assert_int_equal(t[i].target, expected[i].target);
		assert_int_equal(t[i].clockid, expected[i].clockid);
	}
	free(t);
	/* Every cut: refused, or (exactly at the end of a timer) fewer timers. */
	size_t len = strlen(text);
	for (size_t k = 0; k < len; k++) {
		char *cut = strndup(text, k);
		assert_non_null(cut);
		int r = bm_parse_timers(cut, &t, &n);
		if (r == 0) {
			assert_true(k == 0 || cut[k - 1] == '\n');
			assert_true(n < 5 && strncmp(text + k, "ID: ", 4) == 0);
		} else {
			assert_int_equal(r, -EINVAL);
			assert_null(t);
		}
		free(t);
		free(cut);
	}
	free(text);
	assert_int_equal(bm_parse_timers("", &t, &n), 0);
	assert_int_equal(n, 0);
	assert_null(t);
}

static void test_timers_forms(void **state)
{
	(void)state;
	struct bm_proc_timer *t;
	size_t n;
	assert_int_equal(bm_parse_timers("ID: 2147483647\nsignal: -5/0\nnotify: thread/pid.1\nClockID: -2147483648\n", &t, &n),
			 0);
	assert_int_equal(n, 1);
	assert_int_equal(t[0].id, INT32_MAX);
	assert_int_equal(t[0].signo, -5);
	assert_int_equal(t[0].notify, 2);
	assert_int_equal(t[0].clockid, INT32_MIN);
	free(t);
	static const char *const bad[] = {
		"ID: 1\n",
		"ID: -1\nsignal: 14/0\nnotify: signal/pid.1\nClockID: 0\n",
		"ID: 2147483648\nsignal: 14/0\nnotify: signal/pid.1\nClockID: 0\n",
		"ID: 1\nsignal: 14\nnotify: signal/pid.1\nClockID: 0\n",
		"ID: 1\nsignal: 14/xyz\nnotify: signal/pid.1\nClockID: 0\n",
		"ID: 1\nsignal: 14/10000000000000000\nnotify: signal/pid.1\nClockID: 0\n",
		"ID: 1\nsignal: 14/0\nnotify: sometimes/pid.1\nClockID: 0\n",
		"ID: 1\nsignal: 14/0\nnotify: signal/gid.1\nClockID: 0\n",
		"ID: 1\nsignal: 14/0\nnotify: signal/pid.\nClockID: 0\n",
		"ID: 1\nsignal: 14/0\nnotify: signal/pid.1 \nClockID: 0\n",
		"ID: 1\nsignal: 14/0\nnotify: signal/pid.1\nClockID: 0",
		"ID: 1\nsignal: 14/0\nnotify: signal/pid.1\nClockID: 2147483648\n",
		"ID: 1\nsignal: 14/0\nClockID: 0\nnotify: signal/pid.1\n",
		"ID:1\nsignal: 14/0\nnotify: signal/pid.1\nClockID: 0\n",
		"ID: 1\nsignal: 14/0\nnotify: signal/pid.1\nClockID: 0\nID: 2\n",
		"ID: 1\nsignal: 14/0\nnotify: signal/pid.1\nClockID: 0\n\n",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		if (bm_parse_timers(bad[i], &t, &n) != -EINVAL)
			fail_msg("accepted \"%s\"", bad[i]);
}

static void test_timers_live(void **state)
{
	(void)state;
	struct sigevent ev = { .sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGRTMIN + 1 };
	ev.sigev_value.sival_int = 0x5a5a;
	timer_t id;
	assert_int_equal(timer_create(CLOCK_BOOTTIME, &ev, &id), 0);
	struct bm_proc_timer *t;
	size_t n;
	assert_int_equal(bm_read_timers(getpid(), &t, &n), 0);
	bool found = false;
	for (size_t i = 0; i < n; i++)
		if (t[i].id == (int32_t)(intptr_t)id) {
			found = true;
			assert_int_equal(t[i].signo, SIGRTMIN + 1);
			assert_true(t[i].sigval == 0x5a5a);
			assert_int_equal(t[i].notify, SIGEV_SIGNAL);
			assert_int_equal(t[i].target, getpid());
			assert_int_equal(t[i].clockid, CLOCK_BOOTTIME);
		}
	assert_true(found);
	free(t);
	timer_delete(id);
	assert_int_equal(bm_read_timers(999999999, &t, &n), -ENOENT);
}

/* ---- a timerfd's fdinfo ---- */

static void test_timerfd_fdinfo(void **state)
{
	(void)state;
	static const struct {
		const char *sample;
		int32_t clockid;
		uint64_t ticks;
		uint32_t flags;
		uint64_t value, interval;
	} samples[] = {
		{ "fdinfo-timerfd-armed.txt", CLOCK_MONOTONIC, 0, 0, 3 * NS + 499956758, 250000000 },
		{ "fdinfo-timerfd-abs.txt", CLOCK_REALTIME, 0, 3, 99 * NS + 999990181, 0 },
		{ "fdinfo-timerfd-expired.txt", CLOCK_BOOTTIME, 1, 0, 0, 0 },
	};
	struct bm_fdinfo f;
	for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++) {
		char *text = read_sample(samples[i].sample);
		assert_int_equal(bm_parse_fdinfo(text, &f), 0);
		assert_true(f.has_timerfd);
		assert_int_equal(f.tfd_clockid, samples[i].clockid);
		assert_true(f.tfd_ticks == samples[i].ticks);
		assert_int_equal(f.tfd_settime_flags, samples[i].flags);
		assert_true(f.tfd_value_ns == samples[i].value);
		assert_true(f.tfd_interval_ns == samples[i].interval);
		/* Cut after its first timerfd line and before its last: refused. */
		char *cut = strndup(text, (size_t)(strstr(text, "it_interval") - text));
		assert_int_equal(bm_parse_fdinfo(cut, &f), -EINVAL);
		free(cut);
		free(text);
	}
	static const char *const head = "pos:\t0\nflags:\t02\nmnt_id:\t17\nino:\t1039\n";
	static const char *const bad[] = {
		"clockid: 1\nticks: 0\nsettime flags: 00\nit_value: (0, 1000000000)\nit_interval: (0, 0)\n",
		"clockid: 1\nticks: 0\nsettime flags: 00\nit_value: (0 1)\nit_interval: (0, 0)\n",
		"clockid: 1\nticks: 0\nsettime flags: 00\nit_value: 0, 1\nit_interval: (0, 0)\n",
		"clockid: 1\nticks: 0\nsettime flags: 09\nit_value: (0, 1)\nit_interval: (0, 0)\n",
		"clockid: 1\nticks: -1\nsettime flags: 00\nit_value: (0, 1)\nit_interval: (0, 0)\n",
		"clockid: x\nticks: 0\nsettime flags: 00\nit_value: (0, 1)\nit_interval: (0, 0)\n",
		"clockid: 1\nticks: 0\nsettime flags: 00\nit_value: (18446744073, 709551616)\nit_interval: (0, 0)\n",
		"ticks: 0\nsettime flags: 00\nit_value: (0, 1)\nit_interval: (0, 0)\n",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char text[512];
		snprintf(text, sizeof text, "%s%s", head, bad[i]);
		if (bm_parse_fdinfo(text, &f) != -EINVAL)
			fail_msg("accepted \"%s\"", bad[i]);
	}
	int fd = timerfd_create(CLOCK_BOOTTIME, TFD_CLOEXEC);
	assert_true(fd >= 0);
	struct itimerspec its = { { 7, 0 }, { 100, 0 } };
	assert_int_equal(timerfd_settime(fd, 0, &its, NULL), 0);
	assert_int_equal(bm_read_fdinfo(getpid(), fd, &f), 0);
	assert_true(f.has_timerfd && f.tfd_clockid == CLOCK_BOOTTIME && f.tfd_interval_ns == 7 * NS);
	assert_true(f.tfd_value_ns > 99 * NS && f.tfd_value_ns <= 100 * NS);
	close(fd);
}

/* ---- time that passed ---- */

static void test_plan(void **state)
{
	(void)state;
	static const struct {
		int64_t due, elapsed;
		uint64_t interval;
		struct bm_timer_plan want;
	} cases[] = {
		/* due, elapsed, interval: value, missed, late */
		{ 10 * NS, 3 * NS, 0, { 7 * NS, 0, 0 } },              /* less what passed */
		{ 10 * NS, 3 * NS, 5 * NS, { 7 * NS, 0, 0 } },
		{ 10 * NS, -4 * NS, 0, { 10 * NS, 0, 0 } },            /* a clock that went back */
		{ 10 * NS, 0, 0, { 10 * NS, 0, 0 } },                  /* CPU clocks: nothing passed */
		{ 10 * NS, 10 * NS, 0, { 0, 1, 0 } },                  /* due exactly now */
		{ 10 * NS, 12 * NS, 0, { 0, 1, 2 * NS } },             /* one-shot, missed */
		{ 10 * NS, 12 * NS, 5 * NS, { 3 * NS, 1, 2 * NS } },   /* the next one on the grid */
		{ 10 * NS, 27 * NS, 5 * NS, { 3 * NS, 4, 17 * NS } },  /* due at 10, 15, 20, 25 */
		{ 10 * NS, 25 * NS, 5 * NS, { 5 * NS, 4, 15 * NS } },  /* a whole period to the next */
		{ 0, 0, 0, { 0, 1, 0 } },                              /* pending one-shot */
		{ -3 * NS, 1 * NS, 5 * NS, { 1 * NS, 1, 4 * NS } },    /* pending interval timer */
		{ -3 * NS, 0, 5 * NS, { 2 * NS, 1, 3 * NS } },         /* ... of a CPU clock */
		{ 1, 86400 * NS, 1, { 1, 86400 * NS, 86400 * NS - 1 } }, /* a day of 1 ns periods */
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct bm_timer_plan got;
		bm_timer_plan(cases[i].due, cases[i].interval, cases[i].elapsed, &got);
		if (got.value_ns != cases[i].want.value_ns || got.missed != cases[i].want.missed ||
		    got.late_ns != cases[i].want.late_ns)
			fail_msg("case %zu: value %llu missed %llu late %llu", i, (unsigned long long)got.value_ns,
				 (unsigned long long)got.missed, (unsigned long long)got.late_ns);
	}
}

static void test_readings(void **state)
{
	(void)state;
	assert_false(bm_timer_fired_between(5, 4, 0));
	assert_false(bm_timer_fired_between(0, 0, 0));
	assert_true(bm_timer_fired_between(5, 0, 0));
	assert_false(bm_timer_fired_between(5, 4, 10));
	assert_true(bm_timer_fired_between(1, 9, 10)); /* moved on to its next period */
	assert_true(bm_timer_fired_between(1, 0, 10)); /* ITIMER_REAL waits for its signal */
	bool fired;
	struct bm_itimer it;
	it = bm_itimer_settle(BM_ITIMER_REAL, (struct bm_itimer){ 5, 0 }, (struct bm_itimer){ 4, 0 }, false, &fired);
	assert_true(it.value_ns == 4 && it.interval_ns == 0 && !fired);
	it = bm_itimer_settle(BM_ITIMER_REAL, (struct bm_itimer){ 5, 0 }, (struct bm_itimer){ 0, 0 }, false, &fired);
	assert_true(it.value_ns == 0 && fired);
	/* Expired, its SIGALRM pending: a whole period from the restore. */
	it = bm_itimer_settle(BM_ITIMER_REAL, (struct bm_itimer){ 0, 7 }, (struct bm_itimer){ 0, 7 }, true, &fired);
	assert_true(it.value_ns == 7 && it.interval_ns == 7 && !fired);
	it = bm_itimer_settle(BM_ITIMER_REAL, (struct bm_itimer){ 2, 7 }, (struct bm_itimer){ 0, 7 }, false, &fired);
	assert_true(it.value_ns == 7 && it.interval_ns == 7 && fired);
	/* Expired while its SIGALRM was ignored: stopped for good. */
	it = bm_itimer_settle(BM_ITIMER_REAL, (struct bm_itimer){ 0, 7 }, (struct bm_itimer){ 0, 7 }, false, &fired);
	assert_true(it.value_ns == 0 && it.interval_ns == 0 && !fired);
	/* CPU-time timers start their next period at once. */
	it = bm_itimer_settle(BM_ITIMER_PROF, (struct bm_itimer){ 1, 7 }, (struct bm_itimer){ 6, 7 }, false, &fired);
	assert_true(it.value_ns == 6 && it.interval_ns == 7 && fired);
}

/* ---- what can be carried ---- */

static void test_clocks_and_notifications(void **state)
{
	(void)state;
	const pid_t one[] = { 100 }, two[] = { 100, 101 };
	char why[256];
	bool wall;
	static const int32_t walls[] = { CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_BOOTTIME, CLOCK_REALTIME_ALARM,
					 CLOCK_BOOTTIME_ALARM, CLOCK_TAI };
	for (size_t i = 0; i < sizeof walls / sizeof walls[0]; i++) {
		assert_int_equal(bm_timer_clock_check(walls[i], 100, two, 2, &wall, why, sizeof why), 0);
		assert_true(wall);
	}
	/* CPU clocks: ((~pid) << 3) | per-thread << 2 | which (3: a device's). */
	const struct {
		int32_t clock;
		bool two_threads;
		const char *refusal;
	} cpu[] = {
		{ CLOCK_PROCESS_CPUTIME_ID, true, NULL },
		{ CLOCK_THREAD_CPUTIME_ID, false, NULL },
		{ CLOCK_THREAD_CPUTIME_ID, true, "the thread that created it" },
		{ -6 /* this process's, as glibc says it */, true, NULL },
		{ -2 /* the calling thread's */, false, NULL },
		{ -2, true, "which of the 2 threads" },
		{ (int32_t)((~100u << 3) | 2), true, NULL },
		{ (int32_t)((~101u << 3) | 4), true, NULL },
		{ (int32_t)((~101u << 3) | 4), false, "thread 101, not a thread of this process" },
		{ (int32_t)((~7u << 3) | 1), true, "the CPU time of process 7, which would stay behind" },
		{ (int32_t)((~5u << 3) | 3), true, "which binmig does not know" },
		{ 4 /* MONOTONIC_RAW */, true, "clock 4, which binmig does not know" },
		{ 10, true, "which binmig does not know" },
	};
	for (size_t i = 0; i < sizeof cpu / sizeof cpu[0]; i++) {
		why[0] = 0;
		int r = bm_timer_clock_check(cpu[i].clock, 100, cpu[i].two_threads ? two : one, cpu[i].two_threads ? 2 : 1,
					     &wall, why, sizeof why);
		if (cpu[i].refusal ? r != -1 || !strstr(why, cpu[i].refusal) : r != 0 || wall)
			fail_msg("case %zu, clock %d: %d \"%s\"", i, cpu[i].clock, r, why);
	}

	static const struct {
		struct bm_proc_timer t;
		const char *refusal;
	} timers[] = {
		{ { 1, 14, 0, SIGEV_SIGNAL, 100, CLOCK_MONOTONIC }, NULL },
		{ { 1, 0, 0, SIGEV_NONE, 100, CLOCK_MONOTONIC }, NULL },
		{ { 1, 32, 0, SIGEV_SIGNAL | 4, 101, CLOCK_BOOTTIME }, NULL },
		{ { 1, 14, 0, SIGEV_THREAD, 100, CLOCK_MONOTONIC }, NULL },
		{ { 1, 14, 0, SIGEV_SIGNAL | 4, 102, CLOCK_MONOTONIC }, "signals thread 102, which has exited" },
		{ { 1, 14, 0, SIGEV_SIGNAL, 55, CLOCK_MONOTONIC }, "signals process 55 instead of its own" },
		{ { 1, 14, 0, 6, 100, CLOCK_MONOTONIC }, "notifies in a way (6)" },
		{ { 1, 65, 0, SIGEV_SIGNAL, 100, CLOCK_MONOTONIC }, "sends signal 65" },
		{ { 1, 14, 0, SIGEV_SIGNAL, 100, 99 }, "runs on clock 99" },
	};
	for (size_t i = 0; i < sizeof timers / sizeof timers[0]; i++) {
		why[0] = 0;
		int r = bm_proc_timer_check(&timers[i].t, 100, two, 2, why, sizeof why);
		if (timers[i].refusal ? r != -1 || !strstr(why, timers[i].refusal) : r != 0)
			fail_msg("timer %zu: %d \"%s\"", i, r, why);
	}
}

/* ---- the pending signals of timers ---- */

static struct bm_siginfo si(int32_t signo, int32_t code, int32_t timer)
{
	struct bm_siginfo s;
	memset(&s, 0, sizeof s);
	memcpy(s.raw, &signo, 4);
	memcpy(s.raw + 8, &code, 4);
	memcpy(s.raw + 16, &timer, 4);
	return s;
}

static int32_t signo_of(const struct bm_siginfo *s)
{
	int32_t v;
	memcpy(&v, s->raw, 4);
	return v;
}

static void test_take_timer_signals(void **state)
{
	(void)state;
	struct bm_posix_timer timers[] = {
		{ .id = 0, .notify = SIGEV_SIGNAL, .signo = 40 },
		{ .id = 1, .notify = SIGEV_SIGNAL | 4, .signo = 41, .tid = 101 },
		{ .id = 2, .notify = SIGEV_SIGNAL, .signo = 40 },
		{ .id = 3, .notify = SIGEV_NONE, .signo = 40 },
	};
	char why[256];
	uint32_t rank = 0;
	/* The process's queue: timer 2's signal, then timer 0's (same number),
	 * a plain one, one queued by hand with a timer's id but another number,
	 * one claiming the SIGEV_NONE timer, one of a deleted timer. */
	struct bm_siginfo shared[] = { si(40, SI_TIMER_CODE, 2), si(40, SI_TIMER_CODE, 0), si(10, SI_QUEUE, 0),
				       si(43, SI_TIMER_CODE, 0), si(40, SI_TIMER_CODE, 3), si(42, SI_TIMER_CODE, 9) };
	uint32_t n = 6;
	assert_int_equal(bm_take_timer_signals(shared, &n, timers, 4, 0, &rank, why, sizeof why), -1);
	assert_non_null(strstr(why, "the pending signal 40 of POSIX timer 2 is queued before another signal 40"));
	assert_int_equal(n, 6); /* untouched */
	assert_true(timers[0].pending == 0 && timers[2].pending == 0 && rank == 0);
	/* The deleted timer's, which the process sees pending until the kernel
	 * drops it, after timer 0's. */
	struct bm_siginfo gone[] = { shared[1], shared[5] };
	n = 2;
	assert_int_equal(bm_take_timer_signals(gone, &n, timers, 4, 0, &rank, why, sizeof why), -1);
	assert_non_null(strstr(why, "a signal 42 of POSIX timer 9, which no longer exists, is queued"));
	assert_true(n == 2 && timers[0].pending == 0 && rank == 0);
	n = 4; /* without the one claiming timer 3 and the deleted one's */
	assert_int_equal(bm_take_timer_signals(shared, &n, timers, 4, 0, &rank, why, sizeof why), 0);
	assert_int_equal(n, 2);
	assert_int_equal(signo_of(&shared[0]), 10);
	assert_int_equal(signo_of(&shared[1]), 43);
	assert_int_equal(timers[2].pending, 1); /* queued first */
	assert_int_equal(timers[0].pending, 2);
	/* Thread 101's queue: timer 1's; in the process's queue it would not be. */
	struct bm_siginfo thread[] = { si(41, SI_TIMER_CODE, 1) };
	n = 1;
	assert_int_equal(bm_take_timer_signals(thread, &n, timers, 4, 100, &rank, why, sizeof why), 0);
	assert_true(n == 1 && timers[1].pending == 0);
	assert_int_equal(bm_take_timer_signals(thread, &n, timers, 4, 101, &rank, why, sizeof why), 0);
	assert_true(n == 0 && timers[1].pending == 3 && rank == 3);
	n = 0;
	assert_int_equal(bm_take_timer_signals(NULL, &n, timers, 4, 0, &rank, why, sizeof why), 0);
}

/* Which overrun counts the restore can set again. */
static void test_overrun_check(void **state)
{
	(void)state;
	struct bm_siginfo leader_pending[] = { si(41, SI_QUEUE, 0) }, other_pending[] = { si(42, SI_QUEUE, 0) };
	struct bm_siginfo shared[] = { si(43, SI_QUEUE, 0) };
	struct bm_thread threads[2] = { { .tid = 100, .pending = leader_pending, .npending = 1 },
					{ .tid = 101, .pending = other_pending, .npending = 1 } };
	struct bm_process p = { .pid = 100, .threads = threads, .nthreads = 2, .shared_pending = shared,
				.nshared_pending = 1 };
	struct bm_posix_timer t = { .id = 5, .clockid = CLOCK_MONOTONIC, .notify = SIGEV_SIGNAL, .signo = 40,
				    .value_ns = NS, .interval_ns = 2 * NS };
	char why[256];
	assert_int_equal(bm_overrun_check(&p, &t, why, sizeof why), 0); /* no count */
	t.overrun = 3;
	assert_int_equal(bm_overrun_check(&p, &t, why, sizeof why), 0);
	/* A signal of its number where its own goes: the leader's queue, the process's. */
	t.signo = 41;
	assert_int_equal(bm_overrun_check(&p, &t, why, sizeof why), -1);
	assert_non_null(strstr(why, "has an overrun count of 3 while another signal 41 is pending"));
	t.signo = 43;
	assert_int_equal(bm_overrun_check(&p, &t, why, sizeof why), -1);
	/* To thread 101: its queue counts, the leader's does not. */
	t.notify = SIGEV_SIGNAL | 4;
	t.tid = 101;
	t.signo = 41;
	assert_int_equal(bm_overrun_check(&p, &t, why, sizeof why), 0);
	t.signo = 42;
	assert_int_equal(bm_overrun_check(&p, &t, why, sizeof why), -1);
	/* Its own signal pending: the process sees that signal's count first. */
	t.pending = 1;
	assert_int_equal(bm_overrun_check(&p, &t, why, sizeof why), 0);
	t.pending = 0;
	t.signo = 40;
	/* Only an armed interval timer on a wall clock. */
	t.interval_ns = 0;
	assert_int_equal(bm_overrun_check(&p, &t, why, sizeof why), -1);
	assert_non_null(strstr(why, "without being an armed interval timer"));
	t.interval_ns = 2 * NS;
	t.value_ns = 0;
	assert_int_equal(bm_overrun_check(&p, &t, why, sizeof why), -1);
	t.value_ns = NS;
	t.clockid = CLOCK_PROCESS_CPUTIME_ID;
	assert_int_equal(bm_overrun_check(&p, &t, why, sizeof why), -1);
	assert_non_null(strstr(why, "on a CPU-time clock"));
	/* On CLOCK_REALTIME only absolute: setting the count arms it so. */
	t.clockid = CLOCK_REALTIME;
	assert_int_equal(bm_overrun_check(&p, &t, why, sizeof why), -1);
	assert_non_null(strstr(why, "on CLOCK_REALTIME armed relative"));
	t.absolute = true;
	assert_int_equal(bm_overrun_check(&p, &t, why, sizeof why), 0);
}

/* /proc/timer_list: a sample taken with two CLOCK_REALTIME timers armed,
 * one absolute (due 1796528708 s on the wall clock) and one relative (200 s
 * ahead, on CLOCK_MONOTONIC), among other processes' timers. */
static void test_timer_list(void **state)
{
	(void)state;
	char *text = read_sample("timer-list.txt");
	struct bm_hrtimer_entry *list;
	size_t n;
	assert_int_equal(bm_parse_timer_list(text, &list, &n), 0);
	assert_int_equal(n, 7);
	assert_int_equal(list[3].base, 0);
	assert_true(list[3].expires_ns == 1211571429866ULL);
	assert_int_equal(list[6].base, 1);
	assert_true(list[6].expires_ns == 1796528708000000000ULL);
	free(list);
	free(text);
	/* An entry without its expiry, or outside a clock base. */
	static const char *const bad[] = {
		" clock 1:\n #0: <00000000871b57ed>, posix_timer_fn, S:01\n",
		" clock 1:\n #0: <00000000871b57ed>, posix_timer_fn, S:01\n # expires at 12 nsecs\n",
		" #0: <00000000871b57ed>, posix_timer_fn, S:01\n # expires at 1-1 nsecs [in 1 to 1 nsecs]\n",
		" clock 9:\n #0: <00000000871b57ed>, posix_timer_fn, S:01\n # expires at 1-1 nsecs [in 1 to 1 nsecs]\n",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		assert_int_equal(bm_parse_timer_list(bad[i], &list, &n), -EINVAL);
		assert_null(list);
	}
	/* Other timers are skipped; a soft base counts as its hard one. */
	assert_int_equal(bm_parse_timer_list(" clock 5:\n #0: <1>, hrtimer_wakeup, S:01\n # expires at 1-2 nsecs [in 1 to 1 nsecs]\n"
					     " #1: <2>, posix_timer_fn, S:01\n # expires at 7-9 nsecs [in 1 to 1 nsecs]\n", &list, &n),
			 0);
	assert_true(n == 1 && list[0].base == 5 && list[0].expires_ns == 9);
	free(list);
}

/* Finding a CLOCK_REALTIME timer by its expiry. */
static void test_timer_mode(void **state)
{
	(void)state;
	struct bm_hrtimer_entry list[] = { { 0, 1000 + 500 }, { 1, 900000 + 500 }, { 4, 7000 + 500 }, { 2, 5000 + 500 },
					   { 1, 800000 + 500 }, { 5, 800000 + 510 } };
	struct bm_rt_window w = { .mono_lo = 990, .mono_hi = 1010, .real_lo = 899990, .real_hi = 900010 };
	uint64_t deadline = 0;
	assert_int_equal(bm_timer_mode_find(list, 1, &w, 500, NULL, 0, &deadline), BM_RT_RELATIVE);
	assert_int_equal(bm_timer_mode_find(list, 2, &w, 500, NULL, 0, &deadline), BM_RT_BOTH);
	assert_int_equal(bm_timer_mode_find(list + 1, 1, &w, 500, NULL, 0, &deadline), BM_RT_ABSOLUTE);
	assert_true(deadline == 900500);
	/* The process's own CLOCK_MONOTONIC timer, certainly queued, whose
	 * window holds only that entry: it is that timer's, not this one's. */
	struct bm_ns_range own[] = { { 1495, 1505 }, { 1400, 1600 } };
	assert_int_equal(bm_timer_mode_find(list, 2, &w, 500, own, 1, &deadline), BM_RT_ABSOLUTE);
	/* Its window reaching out of this one's: it may be another entry's. */
	struct bm_hrtimer_entry more[] = { list[0], list[1], { 0, 1580 } };
	assert_int_equal(bm_timer_mode_find(more, 3, &w, 500, own + 1, 1, &deadline), BM_RT_BOTH);
	/* Two entries, one own timer: one may be this timer's. */
	struct bm_hrtimer_entry two[] = { list[0], list[1], { 0, 1501 } };
	assert_int_equal(bm_timer_mode_find(two, 3, &w, 500, own, 1, &deadline), BM_RT_BOTH);
	assert_int_equal(bm_timer_mode_find(two, 3, &w, 500, (struct bm_ns_range[]){ { 1495, 1505 }, { 1500, 1502 } }, 2,
					    &deadline), BM_RT_ABSOLUTE);
	/* Out of the window by one, or on another base (BOOTTIME): unseen. */
	assert_int_equal(bm_timer_mode_find(list + 1, 1, &w, 511, NULL, 0, &deadline), BM_RT_UNSEEN);
	w = (struct bm_rt_window){ .mono_lo = 5000, .mono_hi = 5000, .real_lo = 0, .real_hi = 0 };
	assert_int_equal(bm_timer_mode_find(list, 6, &w, 500, NULL, 0, &deadline), BM_RT_UNSEEN);
	/* MONOTONIC_SOFT counts as MONOTONIC. */
	w = (struct bm_rt_window){ .mono_lo = 7000, .mono_hi = 7000, .real_lo = 0, .real_hi = 0 };
	assert_int_equal(bm_timer_mode_find(list, 6, &w, 500, NULL, 0, &deadline), BM_RT_RELATIVE);
	/* Two absolute timers of different deadlines in the window. */
	w = (struct bm_rt_window){ .mono_lo = 0, .mono_hi = 0, .real_lo = 800000, .real_hi = 800010 };
	assert_int_equal(bm_timer_mode_find(list, 6, &w, 500, NULL, 0, &deadline), BM_RT_UNCLEAR);
	w.real_hi = 800005;
	assert_int_equal(bm_timer_mode_find(list, 6, &w, 500, NULL, 0, &deadline), BM_RT_ABSOLUTE);
	assert_true(deadline == 800500);
	/* Counting on one base, soft variant included. */
	assert_int_equal(bm_timer_list_count(list, 6, 1, 800500, 800510), 2);
	assert_int_equal(bm_timer_list_count(list, 6, 2, 5500, 5500), 1);
	assert_int_equal(bm_timer_list_count(list, 6, 3, 0, UINT64_MAX), 0);
}

/* Which signals the process ignores, as the kernel judges it. */
static void test_signal_ignored(void **state)
{
	(void)state;
	static struct bm_process p;
	p.sigactions[SIGUSR1 - 1].handler = (uint64_t)(uintptr_t)SIG_IGN;
	p.sigactions[SIGUSR2 - 1].handler = 0x401000;
	assert_true(bm_signal_ignored(&p, SIGUSR1));
	assert_false(bm_signal_ignored(&p, SIGUSR2));
	assert_false(bm_signal_ignored(&p, SIGRTMIN)); /* SIG_DFL terminates */
	assert_true(bm_signal_ignored(&p, SIGCHLD) && bm_signal_ignored(&p, SIGWINCH) && bm_signal_ignored(&p, SIGURG));
	assert_false(bm_signal_ignored(&p, 0) || bm_signal_ignored(&p, 65));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_timers_sample),
		cmocka_unit_test(test_timers_forms),
		cmocka_unit_test(test_timers_live),
		cmocka_unit_test(test_timerfd_fdinfo),
		cmocka_unit_test(test_plan),
		cmocka_unit_test(test_readings),
		cmocka_unit_test(test_clocks_and_notifications),
		cmocka_unit_test(test_take_timer_signals),
		cmocka_unit_test(test_overrun_check),
		cmocka_unit_test(test_timer_list),
		cmocka_unit_test(test_timer_mode),
		cmocka_unit_test(test_signal_ignored),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
