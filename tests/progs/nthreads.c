/* nthreads N idle|busy: a process of N threads (main included) for the
 * suspend and context-restore benchmark (tests/bench/run-bench-threads).
 *   idle   the N-1 other threads wait on a condition variable (futex
 *          without a timeout)
 *   busy   they spin, each on its own chain of 64-bit mixes
 * Main prints "ready" once all run and sleeps in sigsuspend until SIGUSR1;
 * then every thread checks its own TID, mask, alternate stack, robust list,
 * clear_child_tid and rseq (threadstate.h), main joins them and prints
 * "PASS" (exit 0), or "FAIL: ..." lines and "FAIL" (exit 1). */
#include "threadstate.h"

#define MAX_THREADS 1024
#define JOIN_TIMEOUT_S 20

static bool busy;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;
static bool stop;
static int running;

static void *thread_main(void *arg)
{
	struct thread_state st;
	ts_record(&st, "nthreads-worker");
	pthread_mutex_lock(&lock);
	running++;
	pthread_cond_broadcast(&wake);
	pthread_mutex_unlock(&lock);
	if (busy) {
		uint64_t x = (uint64_t)(uintptr_t)arg;
		while (!__atomic_load_n(&stop, __ATOMIC_RELAXED))
			for (int i = 0; i < 4096; i++)
				x = mix64(x);
		if (x == 0)
			say("x"); /* practically never; keeps the chain from being optimised away */
	} else {
		pthread_mutex_lock(&lock);
		while (!stop)
			pthread_cond_wait(&wake, &lock);
		pthread_mutex_unlock(&lock);
	}
	ts_check(&st);
	return NULL;
}

int main(int argc, char **argv)
{
	char *end = NULL;
	long n = argc == 3 ? strtol(argv[1], &end, 10) : 0;
	if (argc != 3 || *end || n < 1 || n > MAX_THREADS ||
	    (strcmp(argv[2], "idle") != 0 && strcmp(argv[2], "busy") != 0)) {
		say("FAIL: usage: nthreads N idle|busy (1 <= N <= %d)", MAX_THREADS);
		return 2;
	}
	busy = strcmp(argv[2], "busy") == 0;
	usr1_setup();
	struct thread_state st;
	ts_record(&st, "nthreads");
	static pthread_t threads[MAX_THREADS];
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	for (long i = 1; i < n; i++)
		SETUP(pthread_create(&threads[i], &attr, thread_main, (void *)i) == 0, "pthread_create");
	pthread_mutex_lock(&lock);
	while (running < n - 1)
		pthread_cond_wait(&wake, &lock);
	pthread_mutex_unlock(&lock);
	say("ready");
	usr1_wait();

	pthread_mutex_lock(&lock);
	__atomic_store_n(&stop, true, __ATOMIC_RELAXED);
	pthread_cond_broadcast(&wake);
	pthread_mutex_unlock(&lock);
	for (long i = 1; i < n; i++)
		ts_join(threads[i], "a thread", JOIN_TIMEOUT_S);
	ts_check(&st);
	return tp_finish();
}
