/* A SIGSTOP that reaches a process while binmig holds it (pending_stop.c):
 * counted in the image once, found in an image, and sent again to a
 * process whose threads owe it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
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

static void test_add_owed_stop(void **state)
{
	(void)state;
	struct bm_tracee t[2] = {{.tid = 10}, {.tid = 11}};
	struct bm_siginfo *pending = malloc(sizeof *pending);
	assert_non_null(pending);
	pending[0] = signal_info(SIGUSR1);
	uint32_t n = 1;
	/* No thread owes one: nothing added. */
	assert_int_equal(bm_pending_add_owed_stop(t, 2, &pending, &n), 0);
	assert_int_equal(n, 1);
	/* The second thread owes one: one SIGSTOP, after what was there. */
	t[1].stop_owed = true;
	assert_int_equal(bm_pending_add_owed_stop(t, 2, &pending, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(bm_si_i32(pending[0].raw), SIGUSR1);
	assert_int_equal(bm_si_i32(pending[1].raw), SIGSTOP);
	/* Pending already (a second reading): not twice. */
	t[0].stop_owed = true;
	assert_int_equal(bm_pending_add_owed_stop(t, 2, &pending, &n), 0);
	assert_int_equal(n, 2);
	free(pending);
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
		cmocka_unit_test(test_add_owed_stop),
		cmocka_unit_test(test_image_stop_pending),
		cmocka_unit_test(test_give_owed_stop),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
