/* bm_park (ptrace_ctl.c): a thread parked from a single-step's SIGTRAP
 * stop or from an interrupt stop runs on, unharmed, when its tracer dies
 * without detaching: what lets a restored process held for CONFIRM run if
 * serve's worker dies (docs/protocol.md §7).  The control: a tracee that
 * is not parked is killed with its tracer (PTRACE_O_EXITKILL, as restore
 * sets it), so the test sees the difference.
 *
 * This process becomes a child subreaper so that the tracee, orphaned by
 * its tracer, is reparented here and its end can be checked. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/ptrace.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "ptrace_ctl.h"

enum how { PARK_AFTER_STEP, PARK_AFTER_INTERRUPT, NOT_PARKED };

/* The tracer: traces its child the way restore does, leaves it in the
 * stop HOW says, tells the test the child's PID and dies. */
static void tracer(enum how how, volatile int *go, int ctl)
{
	pid_t c = fork();
	if (c == 0) {
		while (!*go)
			; /* spins, so that a single-step completes at once */
		_exit(0);
	}
	int status, ok = c > 0 && ptrace(PTRACE_SEIZE, c, 0, PTRACE_O_EXITKILL) == 0 &&
			 ptrace(PTRACE_INTERRUPT, c, 0, 0) == 0 && bm_wait_stop(c, &status, 20000) == 0;
	if (ok && how == PARK_AFTER_STEP)
		ok = ptrace(PTRACE_SINGLESTEP, c, 0, 0) == 0 && bm_wait_stop(c, &status, 20000) == 0 &&
		     WIFSTOPPED(status) && WSTOPSIG(status) == SIGTRAP && (status >> 16) == 0;
	if (ok && how != NOT_PARKED)
		ok = bm_park(c) == 0;
	pid_t report = ok ? c : -1;
	if (write(ctl, &report, sizeof report) != sizeof report)
		_exit(2);
	_exit(0); /* without detaching */
}

/* How the tracee ended once its tracer had died (a wait status). */
static int tracee_end(enum how how)
{
	volatile int *go = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(go != MAP_FAILED);
	int ctl[2];
	assert_int_equal(pipe(ctl), 0);
	pid_t t = fork();
	assert_true(t >= 0);
	if (t == 0) {
		close(ctl[0]);
		tracer(how, go, ctl[1]);
	}
	close(ctl[1]);
	/* The tracer waits up to 20 s twice for its child to stop, then parks it. */
	struct pollfd p = {.fd = ctl[0], .events = POLLIN};
	assert_int_equal(poll(&p, 1, 60000), 1);
	pid_t c;
	assert_int_equal(read(ctl[0], &c, sizeof c), sizeof c);
	close(ctl[0]);
	int status;
	assert_int_equal(waitpid(t, &status, 0), t);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_true(c > 0); /* the tracer did what it was asked */
	*go = 1;
	int pidfd = (int)syscall(SYS_pidfd_open, c, 0);
	if (pidfd >= 0) { /* else it has ended and been reparented already */
		struct pollfd q = {.fd = pidfd, .events = POLLIN};
		assert_int_equal(poll(&q, 1, 30000), 1);
		close(pidfd);
	}
	assert_int_equal(waitpid(c, &status, 0), c);
	munmap((void *)go, 4096);
	return status;
}

static void parked_after_a_step_runs_on(void **state)
{
	(void)state;
	int status = tracee_end(PARK_AFTER_STEP);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static void parked_after_an_interrupt_runs_on(void **state)
{
	(void)state;
	int status = tracee_end(PARK_AFTER_INTERRUPT);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static void not_parked_dies_with_its_tracer(void **state)
{
	(void)state;
	int status = tracee_end(NOT_PARKED);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGKILL);
}

int main(void)
{
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0) {
		perror("PR_SET_CHILD_SUBREAPER");
		return 1;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(parked_after_a_step_runs_on),
		cmocka_unit_test(parked_after_an_interrupt_runs_on),
		cmocka_unit_test(not_parked_dies_with_its_tracer),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
