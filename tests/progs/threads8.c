/* threads8 [--phases N] [--items N] [--cost N] [--gate FILE]: one
 * process, 13 threads, each kind of wait a migration can catch a thread in.
 *
 *   main       produces work items into a small queue (blocks on its mutex
 *              and condition variables), waits for each phase to complete
 *              (pthread_cond_wait: futex without a timeout), then folds the
 *              phase's per-item results in item order and hands them on:
 *              as records into an internal pipe, as a count into an
 *              eventfd, as a queued real-time signal to one thread.
 *   8 workers  take items from the queue (pthread_cond_timedwait: futex
 *              with a timeout) and compute them with AVX2 integer and
 *              double arithmetic under a non-default rounding mode, so
 *              lost vector registers or MXCSR change the answer.
 *   reader     blocks in read() on the pipe and folds the records in the
 *              order they were written; it digests each record slowly, so
 *              the pipe often holds unread records.  Main writes a phase's
 *              records only once the reader has digested those of the
 *              phase before the last (main waits in pthread_cond_wait):
 *              however slow the reader, at most two phases are behind, and
 *              the drain at the end is short at any speed.
 *   poller     poll() on the eventfd with a 70 ms timeout, adds up what it
 *              reads.
 *   waiter     sigtimedwait() for SIGRTMIN with a 90 ms timeout, folds the
 *              queued values in order.
 *   sleeper    nanosleep() of 113 ms in a loop (restarted with the time
 *              remaining after EINTR).
 * With --gate, after the N counted phases it goes on with uncounted ones
 * (the same work, through the same queue, pipe and signal queue, but left
 * out of every digest and of the output) until FILE exists: the tests keep
 * it working for as long as they migrate it, and its answer still depends
 * on the options only.
 * No wait may return early: a timeout that expires before its deadline,
 * or an error other than EINTR, is a failure.  At the end every thread
 * checks its own TID, mask, alternate stack, robust list, clear_child_tid
 * and rseq registration (threadstate.h), and main joins them all.
 *
 * Output: "ready" once every thread runs, "phase K" after each counted
 * phase, then "result HEX" (which depends only on the options) and exit 0;
 * or "FAIL: ..." lines and exit 1. */
#include <immintrin.h>
#include <limits.h>
#include <poll.h>
#include <sys/eventfd.h>

#include "threadstate.h"

#define NWORKERS 8
#define QUEUE_CAP 6
#define MAX_ITEMS 4096
#define POLL_MS 70
#define SIGWAIT_MS 90
#define SLEEP_MS 113
#define JOIN_TIMEOUT_S 20
#define STOP_VALUE (-1)
#define COUNTED_VALUE_MASK 0x3fffffff
#define UNCOUNTED_VALUE 0x40000000

struct record {
	uint64_t item;
	uint64_t value;
};

static struct {
	long phases, items, cost;
	const char *gate;
} opt = { .phases = 40, .items = 32, .cost = 60000 };

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t not_empty, not_full, phase_done;
static long queue[QUEUE_CAP];
static int queue_head, queue_len;
static uint64_t phase_seed;
static long items_done;
static uint64_t results[MAX_ITEMS];
static bool workers_stop;

static int pipefd[2] = { -1, -1 };
static int efd = -1;
static pthread_t waiter_thread;
static volatile int helpers_stop; /* sleeper, poller */
static uint64_t eventfd_expected;  /* set before helpers_stop */

static uint64_t reader_digest, reader_slow, poller_total, waiter_digest;

static pthread_mutex_t reader_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t reader_progress = PTHREAD_COND_INITIALIZER;
static long reader_phases; /* phases whose records the reader has digested */

static void reader_set_phases(long n)
{
	pthread_mutex_lock(&reader_lock);
	reader_phases = n;
	pthread_cond_signal(&reader_progress);
	pthread_mutex_unlock(&reader_lock);
}

static int64_t ms_to_ns(int ms)
{
	return (int64_t)ms * 1000000;
}

static uint64_t fold(uint64_t h, uint64_t w)
{
	return mix64(h ^ w) ^ 0x243f6a8885a308d3ull;
}

/* The item's value: xorshift on four 64-bit lanes and a chain of double
 * multiply-adds, all kept in ymm registers for COST rounds. */
static uint64_t compute(uint64_t seed, long cost)
{
	__m256i x = _mm256_set_epi64x(mix64(seed), mix64(seed + 1), mix64(seed + 2), mix64(seed + 3));
	__m256d d = _mm256_set_pd(1.0 / 3, 1.0 / 7, 1.0 / 11, 1.0 / 13);
	const __m256d mul = _mm256_set1_pd(1.6180339887498949);
	const __m256d add = _mm256_set1_pd(0.1);
	for (long i = 0; i < cost; i++) {
		x = _mm256_xor_si256(x, _mm256_slli_epi64(x, 13));
		x = _mm256_xor_si256(x, _mm256_srli_epi64(x, 7));
		x = _mm256_xor_si256(x, _mm256_slli_epi64(x, 17));
		d = _mm256_add_pd(_mm256_mul_pd(d, mul), add);
		d = _mm256_sub_pd(d, _mm256_floor_pd(d));
	}
	uint64_t lanes[4];
	double dl[4];
	_mm256_storeu_si256((__m256i *)lanes, x);
	_mm256_storeu_pd(dl, d);
	uint64_t h = seed;
	for (int i = 0; i < 4; i++) {
		uint64_t bits;
		memcpy(&bits, &dl[i], sizeof(bits));
		h = fold(fold(h, lanes[i]), bits);
	}
	return h;
}

static void check_not_early(int64_t deadline, const char *what)
{
	int64_t now = mono_ns();
	if (now < deadline)
		ts_fail("%s returned %.3f ms before its deadline", what, (deadline - now) / 1e6);
}

static void *worker_main(void *arg)
{
	static const char *names[NWORKERS] = { "worker0", "worker1", "worker2", "worker3",
					       "worker4", "worker5", "worker6", "worker7" };
	struct thread_state st;
	ts_record(&st, names[(long)arg]);
	_MM_SET_ROUNDING_MODE(_MM_ROUND_TOWARD_ZERO); /* MXCSR, per thread */
	for (;;) {
		pthread_mutex_lock(&lock);
		while (queue_len == 0 && !workers_stop) {
			struct timespec deadline;
			clock_gettime(CLOCK_MONOTONIC, &deadline);
			deadline.tv_nsec += 200 * 1000000;
			if (deadline.tv_nsec >= 1000000000) {
				deadline.tv_sec++;
				deadline.tv_nsec -= 1000000000;
			}
			int rc = pthread_cond_timedwait(&not_empty, &lock, &deadline);
			if (rc != 0 && rc != ETIMEDOUT)
				ts_fail("%s: pthread_cond_timedwait: %s", st.name, strerror(rc));
		}
		if (queue_len == 0) { /* stopping */
			pthread_mutex_unlock(&lock);
			break;
		}
		long item = queue[queue_head];
		queue_head = (queue_head + 1) % QUEUE_CAP;
		queue_len--;
		uint64_t seed = phase_seed;
		pthread_cond_signal(&not_full);
		pthread_mutex_unlock(&lock);

		uint64_t value = compute(fold(seed, item), opt.cost);

		pthread_mutex_lock(&lock);
		results[item] = value;
		if (++items_done == opt.items)
			pthread_cond_signal(&phase_done);
		pthread_mutex_unlock(&lock);
	}
	if (_MM_GET_ROUNDING_MODE() != _MM_ROUND_TOWARD_ZERO)
		ts_fail("%s: MXCSR rounding mode changed", st.name);
	ts_check(&st);
	return NULL;
}

static void *reader_main(void *arg)
{
	(void)arg;
	struct thread_state st;
	ts_record(&st, "reader");
	uint64_t h = 0, slow = 0;
	for (long records = 1;; records++) {
		struct record r;
		size_t got = 0;
		while (got < sizeof(r)) {
			ssize_t n = read(pipefd[0], (char *)&r + got, sizeof(r) - got);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0) {
				ts_fail("reader: read: %s", strerror(errno));
				break;
			}
			if (n == 0)
				break;
			got += n;
		}
		if (got == 0)
			break; /* the write end is closed: all records are in */
		if (got != sizeof(r)) {
			ts_fail("reader: a torn record (%zu bytes)", got);
			break;
		}
		/* Digest slowly: the next records wait in the pipe meanwhile. */
		uint64_t digest = compute(fold(r.item, r.value), opt.cost / 4);
		if (r.item < (uint64_t)(opt.phases * opt.items)) { /* a counted phase's */
			h = fold(fold(h, r.item), r.value);
			slow = fold(slow, digest);
		}
		if (records % opt.items == 0)
			reader_set_phases(records / opt.items);
	}
	reader_set_phases(LONG_MAX); /* main must not wait for a reader that is gone */
	reader_digest = h;
	reader_slow = slow;
	ts_check(&st);
	return NULL;
}

static void *poller_main(void *arg)
{
	(void)arg;
	struct thread_state st;
	ts_record(&st, "poller");
	uint64_t total = 0;
	for (;;) {
		struct pollfd p = { .fd = efd, .events = POLLIN };
		int64_t deadline = mono_ns() + ms_to_ns(POLL_MS);
		int n = poll(&p, 1, POLL_MS);
		if (n < 0 && errno != EINTR)
			ts_fail("poller: poll: %s", strerror(errno));
		if (n == 0)
			check_not_early(deadline, "poll");
		if (n == 1) {
			eventfd_t v;
			if (eventfd_read(efd, &v) == 0)
				total += v;
			else if (errno != EAGAIN)
				ts_fail("poller: eventfd read: %s", strerror(errno));
		}
		if (__atomic_load_n(&helpers_stop, __ATOMIC_ACQUIRE) &&
		    total == __atomic_load_n(&eventfd_expected, __ATOMIC_ACQUIRE))
			break;
	}
	poller_total = total;
	ts_check(&st);
	return NULL;
}

static void *waiter_main(void *arg)
{
	(void)arg;
	struct thread_state st;
	ts_record(&st, "waiter");
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGRTMIN);
	uint64_t h = 0;
	for (;;) {
		siginfo_t info;
		struct timespec timeout = { .tv_sec = 0, .tv_nsec = ms_to_ns(SIGWAIT_MS) };
		int64_t deadline = mono_ns() + ms_to_ns(SIGWAIT_MS);
		int sig = sigtimedwait(&set, &info, &timeout);
		if (sig < 0) {
			if (errno == EAGAIN)
				check_not_early(deadline, "sigtimedwait");
			else if (errno != EINTR)
				ts_fail("waiter: sigtimedwait: %s", strerror(errno));
			continue;
		}
		if (sig != SIGRTMIN || info.si_code != SI_QUEUE) {
			ts_fail("waiter: got signal %d code %d", sig, info.si_code);
			continue;
		}
		if (info.si_value.sival_int == STOP_VALUE)
			break;
		if (!(info.si_value.sival_int & UNCOUNTED_VALUE))
			h = fold(h, (uint32_t)info.si_value.sival_int);
	}
	waiter_digest = h;
	ts_check(&st);
	return NULL;
}

static void *sleeper_main(void *arg)
{
	(void)arg;
	struct thread_state st;
	ts_record(&st, "sleeper");
	while (!__atomic_load_n(&helpers_stop, __ATOMIC_ACQUIRE)) {
		struct timespec req = { .tv_sec = 0, .tv_nsec = ms_to_ns(SLEEP_MS) }, rem;
		int64_t deadline = mono_ns() + ms_to_ns(SLEEP_MS);
		while (nanosleep(&req, &rem) != 0) {
			if (errno != EINTR) {
				ts_fail("sleeper: nanosleep: %s", strerror(errno));
				break;
			}
			req = rem;
		}
		check_not_early(deadline, "nanosleep");
	}
	ts_check(&st);
	return NULL;
}

static long parse_long(const char *s, long min, long max)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || *end || end == s || v < min || v > max) {
		say("FAIL: usage: bad number \"%s\" (%ld..%ld)", s, min, max);
		exit(2);
	}
	return v;
}

static void parse_options(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (i + 1 >= argc)
			goto usage;
		if (strcmp(argv[i], "--phases") == 0)
			opt.phases = parse_long(argv[++i], 1, 1000000);
		else if (strcmp(argv[i], "--items") == 0)
			opt.items = parse_long(argv[++i], 1, MAX_ITEMS);
		else if (strcmp(argv[i], "--cost") == 0)
			opt.cost = parse_long(argv[++i], 8, 1L << 40);
		else if (strcmp(argv[i], "--gate") == 0)
			opt.gate = argv[++i];
		else
			goto usage;
	}
	return;
usage:
	say("FAIL: usage: threads8 [--phases N] [--items N] [--cost N] [--gate FILE]");
	exit(2);
}

static void push_item(long item)
{
	pthread_mutex_lock(&lock);
	while (queue_len == QUEUE_CAP)
		pthread_cond_wait(&not_full, &lock);
	queue[(queue_head + queue_len) % QUEUE_CAP] = item;
	queue_len++;
	pthread_cond_signal(&not_empty);
	pthread_mutex_unlock(&lock);
}

int main(int argc, char **argv)
{
	parse_options(argc, argv);
	struct thread_state st;

	/* SIGRTMIN is for the waiter only: blocked everywhere (the threads
	 * inherit the mask), taken with sigtimedwait. */
	sigset_t rt;
	sigemptyset(&rt);
	sigaddset(&rt, SIGRTMIN);
	SETUP(pthread_sigmask(SIG_BLOCK, &rt, NULL) == 0, "block SIGRTMIN");
	ts_record(&st, "threads8");

	pthread_condattr_t mono_clock;
	pthread_condattr_init(&mono_clock);
	pthread_condattr_setclock(&mono_clock, CLOCK_MONOTONIC);
	pthread_cond_init(&not_empty, &mono_clock);
	pthread_cond_init(&not_full, NULL);
	pthread_cond_init(&phase_done, NULL);
	SETUP(pipe2(pipefd, O_CLOEXEC) == 0, "pipe");
	efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	SETUP(efd >= 0, "eventfd");

	pthread_t workers[NWORKERS], reader, poller, sleeper;
	for (long i = 0; i < NWORKERS; i++)
		SETUP(pthread_create(&workers[i], NULL, worker_main, (void *)i) == 0, "pthread_create worker");
	SETUP(pthread_create(&reader, NULL, reader_main, NULL) == 0, "pthread_create reader");
	SETUP(pthread_create(&poller, NULL, poller_main, NULL) == 0, "pthread_create poller");
	SETUP(pthread_create(&waiter_thread, NULL, waiter_main, NULL) == 0, "pthread_create waiter");
	SETUP(pthread_create(&sleeper, NULL, sleeper_main, NULL) == 0, "pthread_create sleeper");
	say("ready");

	uint64_t chain = 0x6a09e667f3bcc908ull, records_digest = 0, waiter_expected = 0;
	uint64_t eventfd_sum = 0;
	struct record recs[MAX_ITEMS];
	for (long phase = 0;; phase++) {
		/* Past the counted phases, work on (uncounted) until the gate opens. */
		bool counted = phase < opt.phases;
		if (!counted && (!opt.gate || access(opt.gate, F_OK) == 0))
			break;
		pthread_mutex_lock(&lock);
		phase_seed = fold(chain, phase);
		items_done = 0;
		pthread_mutex_unlock(&lock);
		for (long item = 0; item < opt.items; item++)
			push_item(item);
		pthread_mutex_lock(&lock);
		while (items_done < opt.items)
			pthread_cond_wait(&phase_done, &lock);
		pthread_mutex_unlock(&lock);

		for (long item = 0; item < opt.items; item++) {
			recs[item] = (struct record){ .item = phase * opt.items + item, .value = results[item] };
			if (counted) {
				chain = fold(chain, results[item]);
				records_digest = fold(fold(records_digest, recs[item].item), recs[item].value);
			}
		}
		/* At most two phases behind: phase - 2 digested before phase goes out. */
		pthread_mutex_lock(&reader_lock);
		while (reader_phases < phase - 1)
			pthread_cond_wait(&reader_progress, &reader_lock);
		pthread_mutex_unlock(&reader_lock);
		size_t bytes = opt.items * sizeof(struct record);
		SETUP(write(pipefd[1], recs, bytes) == (ssize_t)bytes, "write to the pipe");
		int value = (int)(chain & COUNTED_VALUE_MASK);
		if (counted) {
			eventfd_t count = (chain & 0xffff) + 1;
			SETUP(eventfd_write(efd, count) == 0, "eventfd write");
			eventfd_sum += count;
			waiter_expected = fold(waiter_expected, (uint32_t)value);
		} else {
			value |= UNCOUNTED_VALUE;
		}
		SETUP(pthread_sigqueue(waiter_thread, SIGRTMIN, (union sigval){ .sival_int = value }) == 0,
		      "pthread_sigqueue");
		if (counted)
			say("phase %ld", phase + 1);
	}

	pthread_mutex_lock(&lock);
	workers_stop = true;
	pthread_cond_broadcast(&not_empty);
	pthread_mutex_unlock(&lock);
	close(pipefd[1]);
	__atomic_store_n(&eventfd_expected, eventfd_sum, __ATOMIC_RELEASE);
	__atomic_store_n(&helpers_stop, 1, __ATOMIC_RELEASE);
	SETUP(pthread_sigqueue(waiter_thread, SIGRTMIN, (union sigval){ .sival_int = STOP_VALUE }) == 0,
	      "pthread_sigqueue stop");
	for (int i = 0; i < NWORKERS; i++)
		ts_join(workers[i], "a worker", JOIN_TIMEOUT_S);
	ts_join(reader, "reader", JOIN_TIMEOUT_S);
	ts_join(poller, "poller", JOIN_TIMEOUT_S);
	ts_join(waiter_thread, "waiter", JOIN_TIMEOUT_S);
	ts_join(sleeper, "sleeper", JOIN_TIMEOUT_S);
	ts_check(&st);

	if (reader_digest != records_digest)
		ts_fail("the reader's records digest %016llx, written %016llx", (unsigned long long)reader_digest,
			(unsigned long long)records_digest);
	if (poller_total != eventfd_sum)
		ts_fail("the poller read %llu from the eventfd, written %llu", (unsigned long long)poller_total,
			(unsigned long long)eventfd_sum);
	if (waiter_digest != waiter_expected)
		ts_fail("the waiter's signal digest %016llx, sent %016llx", (unsigned long long)waiter_digest,
			(unsigned long long)waiter_expected);
	if (tp_failures) {
		say("FAIL");
		return 1;
	}
	uint64_t result = fold(fold(fold(fold(chain, reader_digest), reader_slow), poller_total), waiter_digest);
	say("result %016llx", (unsigned long long)result);
	return 0;
}
