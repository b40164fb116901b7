/* The witness of landlock.h: a process of the witness's user in no
 * Landlock domain may inspect it (kcmp), one in a domain may not, as
 * user 65534 and as root. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "landlock.h"

/* In a child as user UID (65534, or root as it is), in a Landlock domain
 * or not: kcmp of itself and the witness W.  1 when allowed, 0 when
 * refused with EPERM, -1 otherwise. */
static int inspects(uid_t uid, bool domain, pid_t w)
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (uid && (setresgid(uid, uid, uid) < 0 || setresuid(uid, uid, uid) < 0))
			_exit(10);
		if (domain) {
			uint64_t handled = 1ull << 7; /* LANDLOCK_ACCESS_FS_MAKE_DIR */
			int fd = (int)syscall(444, &handled, sizeof handled, 0);
			if (fd < 0 || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || syscall(446, fd, 0) < 0)
				_exit(11);
		}
		long r = syscall(312 /* kcmp */, getpid(), w, 1 /* KCMP_VM */, 0, 0);
		_exit(r >= 0 ? 1 : errno == EPERM ? 0 : 12);
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status) <= 1 ? WEXITSTATUS(status) : -WEXITSTATUS(status);
}

static void test_witness(void **state)
{
	(void)state;
	if (getuid() != 0)
		skip();
	static const uid_t users[] = {65534, 0};
	for (size_t i = 0; i < 2; i++) {
		struct bm_landlock_witness w;
		assert_int_equal(bm_landlock_witness_start(users[i], users[i], &w), 0);
		if (!w.pid)
			skip(); /* no Landlock in this kernel */
		assert_int_equal(inspects(users[i], false, w.pid), 1);
		assert_int_equal(inspects(users[i], true, w.pid), 0);
		bm_landlock_witness_stop(&w);
		assert_int_equal(w.pid, 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_witness),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
