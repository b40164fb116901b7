/* Fault points (fault.c): the specs BINMIG_FAULT takes (POINT, a number,
 * POINT:N for its N-th pass, POINT/crash), the failure with the point's
 * errno on the chosen pass only, and "/crash", which kills binmig at the
 * point instead (seen from a parent).  The unit tests are built with
 * fault injection (make test-build). */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "fault.h"
#include "log.h"

static void refused(const char *spec)
{
	FILE *saved = stderr;
	stderr = fopen("/dev/null", "w");
	int rc = bm_fault_arm(spec);
	fclose(stderr);
	stderr = saved;
	assert_int_equal(rc, -EINVAL);
	assert_int_equal(bm_exit_code(), BM_EXIT_USAGE);
	bm_reset_errors();
}

static void test_specs(void **state)
{
	(void)state;
	assert_true(bm_fault_injection_built());
	refused("no-such-point");
	refused("trace-new:0");
	refused("trace-new:2x");
	refused("trace-new/crashed");
	refused("/crash");
	refused("trace-new:/crash");
	/* By name, for its second pass: the first passes, the second fails
	 * with the point's errno, once. */
	assert_int_equal(bm_fault_arm("trace-new:2"), 0);
	assert_false(bm_fault(BM_FP_TRACE_NEW));
	errno = 0;
	assert_true(bm_fault(BM_FP_TRACE_NEW));
	assert_int_equal(errno, EPERM);
	assert_false(bm_fault(BM_FP_TRACE_NEW));
	/* By number; another point does not fire. */
	char spec[16];
	snprintf(spec, sizeof spec, "%d\n", (int)BM_FP_TRACE_NEW);
	assert_int_equal(bm_fault_arm(spec), 0);
	assert_false(bm_fault(BM_FP_SEIZE));
	assert_true(bm_fault(BM_FP_TRACE_NEW));
	assert_int_equal(bm_fault_arm(""), 0);
	assert_false(bm_fault(BM_FP_TRACE_NEW));
}

/* "/crash": the process dies of SIGKILL at the point, on its pass. */
static void test_crash(void **state)
{
	(void)state;
	pid_t child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		if (bm_fault_arm("trace-new:2/crash") < 0 || bm_fault(BM_FP_TRACE_NEW))
			_exit(1);
		bm_fault(BM_FP_TRACE_NEW);
		_exit(2); /* still alive after the armed pass */
	}
	int status;
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGKILL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_specs),
		cmocka_unit_test(test_crash),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
