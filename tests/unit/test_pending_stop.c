/* A SIGSTOP that reaches a process while binmig holds it (pending_stop.c):
 * refusing the dump, found in an image, and sent again to a process
 * whose threads owe it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "pending_stop.h"
#include "timers.h"

static struct bm_siginfo signal_info(int sig)
{
	struct bm_siginfo si;
	memset(&si, 0, sizeof si);
	memcpy(si.raw, &sig, sizeof sig);
	return si;
}

static void test_refuse_stop(void **state)
{
	(void)state;
	struct bm_tracee t[2] = {{.tid = 10}, {.tid = 11}};
	struct bm_siginfo usr = signal_info(SIGUSR1), stop = signal_info(SIGSTOP);
	struct bm_thread threads[2];
	memset(threads, 0, sizeof threads);
	struct bm_process p = {.pid = 10, .threads = threads, .nthreads = 2, .shared_pending = &usr,
			       .nshared_pending = 1};
	/* No SIGSTOP anywhere: dumped. */
	assert_int_equal(bm_pending_refuse_stop(&p, t, 2), 0);
	/* One a thread set aside during an injected call: refused. */
	t[1].stop_owed = true;
	assert_int_equal(bm_pending_refuse_stop(&p, t, 2), -1);
	t[1].stop_owed = false;
	/* One pending for the process, or for a thread: refused. */
	p.shared_pending = &stop;
	assert_int_equal(bm_pending_refuse_stop(&p, t, 2), -1);
	p.shared_pending = &usr;
	threads[0].pending = &stop;
	threads[0].npending = 1;
	assert_int_equal(bm_pending_refuse_stop(&p, t, 2), -1);
}

static void test_image_stop_pending(void **state)
{
	(void)state;
	struct bm_siginfo usr = signal_info(SIGUSR2), stop = signal_info(SIGSTOP);
	struct bm_thread threads[2];
	memset(threads, 0, sizeof threads);
	struct bm_process p = {.threads = threads, .nthreads = 2, .shared_pending = &usr, .nshared_pending = 1};
	assert_false(bm_image_stop_pending(&p));
	threads[1].pending = &stop; /* a thread's own */
	threads[1].npending = 1;
	assert_true(bm_image_stop_pending(&p));
	threads[1].npending = 0;
	p.shared_pending = &stop; /* the process's */
	assert_true(bm_image_stop_pending(&p));
}

static void test_give_owed_stop(void **state)
{
	(void)state;
	pid_t child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		for (;;)
			pause();
	}
	struct bm_tracee t = {.tid = child};
	/* Owed by none: the child runs on (WNOHANG finds no stop). */
	assert_int_equal(bm_give_owed_stop(child, &t, 1), 0);
	int status = 0;
	assert_int_equal(waitpid(child, &status, WUNTRACED | WNOHANG), 0);
	/* Owed: the child stops, by SIGSTOP. */
	t.stop_owed = true;
	assert_int_equal(bm_give_owed_stop(child, &t, 1), 0);
	assert_int_equal(waitpid(child, &status, WUNTRACED), child);
	assert_true(WIFSTOPPED(status));
	assert_int_equal(WSTOPSIG(status), SIGSTOP);
	kill(child, SIGKILL);
	assert_int_equal(waitpid(child, &status, 0), child);
	/* A process gone meanwhile is no error. */
	assert_int_equal(bm_give_owed_stop(child, &t, 1), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_refuse_stop),
		cmocka_unit_test(test_image_stop_pending),
		cmocka_unit_test(test_give_owed_stop),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
