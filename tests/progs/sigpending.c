/* sigpending [unqueued|sigtrap]: blocked signals that are pending across
 * the migration.
 *   SIGUSR2     sigqueue'd once to the process, value 0x1234
 *   SIGRTMIN+1  sigqueue'd twice to the process, values 1001 then 1002
 *   SIGRTMIN+3  queued to the thread alone (rt_tgsigqueueinfo), value 77
 * After the wake-up sigpending shows exactly these, and sigtimedwait hands
 * them back with their values, codes and sender, in order, the real-time
 * one twice and no more.
 *
 * unqueued: SIGUSR2 sigqueue'd with RLIMIT_SIGPENDING at 0, so that the
 * kernel marks it pending with no siginfo queued; it must still be pending
 * after the wake-up, and come as the kernel delivers such a signal (SI_USER
 * from pid 0, uid 0).
 *
 * sigtrap: SIGTRAP raised while blocked, which a dump refuses; after the
 * wake-up it must still be pending. */
#include <sys/resource.h>
#include <sys/syscall.h>

#include "testprog.h"

static void expect_signal(int sig, int value, int code, const char *what)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, sig);
	siginfo_t info;
	memset(&info, 0, sizeof(info));
	struct timespec zero = { 0, 0 };
	int got = sigtimedwait(&set, &info, &zero);
	CHECK(got == sig, "%s: sigtimedwait returned %d (%s)", what, got, got < 0 ? strerror(errno) : "");
	if (got != sig)
		return;
	CHECK(info.si_value.sival_int == value, "%s: value %d, sent %d", what, info.si_value.sival_int, value);
	CHECK(info.si_code == code, "%s: si_code %d, expected %d", what, info.si_code, code);
	CHECK(info.si_pid == getpid(), "%s: si_pid %d", what, info.si_pid);
	CHECK(info.si_uid == getuid(), "%s: si_uid %d", what, info.si_uid);
}

static int unqueued(void)
{
	sigset_t block;
	sigemptyset(&block);
	sigaddset(&block, SIGUSR2);
	SETUP(sigprocmask(SIG_BLOCK, &block, NULL) == 0, "block");
	struct rlimit none = {0, 0};
	SETUP(setrlimit(RLIMIT_SIGPENDING, &none) == 0, "RLIMIT_SIGPENDING");
	SETUP(sigqueue(getpid(), SIGUSR2, (union sigval){ .sival_int = 0x1234 }) == 0, "sigqueue SIGUSR2");
	say("ready");
	usr1_wait();
	sigset_t pending;
	CHECK(sigpending(&pending) == 0 && sigismember(&pending, SIGUSR2), "SIGUSR2 no longer pending");
	struct timespec zero = { 0, 0 };
	siginfo_t info;
	memset(&info, 0, sizeof info);
	CHECK(sigtimedwait(&block, &info, &zero) == SIGUSR2, "SIGUSR2 not taken: %s", strerror(errno));
	CHECK(info.si_code == SI_USER && info.si_pid == 0 && info.si_uid == 0,
	      "SIGUSR2 came with code %d from pid %d, uid %d", info.si_code, info.si_pid, info.si_uid);
	return tp_finish();
}

static int sigtrap(void)
{
	sigset_t block;
	sigemptyset(&block);
	sigaddset(&block, SIGTRAP);
	SETUP(sigprocmask(SIG_BLOCK, &block, NULL) == 0 && raise(SIGTRAP) == 0, "raise SIGTRAP");
	say("ready");
	usr1_wait();
	sigset_t pending;
	CHECK(sigpending(&pending) == 0 && sigismember(&pending, SIGTRAP), "SIGTRAP no longer pending");
	return tp_finish();
}

int main(int argc, char **argv)
{
	usr1_setup();
	if (argc == 2 && strcmp(argv[1], "unqueued") == 0)
		return unqueued();
	if (argc == 2 && strcmp(argv[1], "sigtrap") == 0)
		return sigtrap();
	sigset_t block;
	sigemptyset(&block);
	sigaddset(&block, SIGUSR2);
	sigaddset(&block, SIGRTMIN + 1);
	sigaddset(&block, SIGRTMIN + 3);
	SETUP(sigprocmask(SIG_BLOCK, &block, NULL) == 0, "block");
	SETUP(sigqueue(getpid(), SIGUSR2, (union sigval){ .sival_int = 0x1234 }) == 0, "sigqueue SIGUSR2");
	SETUP(sigqueue(getpid(), SIGRTMIN + 1, (union sigval){ .sival_int = 1001 }) == 0, "sigqueue RT 1");
	SETUP(sigqueue(getpid(), SIGRTMIN + 1, (union sigval){ .sival_int = 1002 }) == 0, "sigqueue RT 2");
	siginfo_t info;
	memset(&info, 0, sizeof(info));
	info.si_signo = SIGRTMIN + 3;
	info.si_code = SI_QUEUE;
	info.si_pid = getpid();
	info.si_uid = getuid();
	info.si_value.sival_int = 77;
	SETUP(syscall(SYS_rt_tgsigqueueinfo, getpid(), (pid_t)syscall(SYS_gettid), SIGRTMIN + 3, &info) == 0,
	      "rt_tgsigqueueinfo");

	say("ready");
	usr1_wait();

	sigset_t pending;
	CHECK(sigpending(&pending) == 0, "sigpending");
	for (int sig = 1; sig <= 64; sig++) {
		bool expected = sig == SIGUSR2 || sig == SIGRTMIN + 1 || sig == SIGRTMIN + 3;
		CHECK(sigismember(&pending, sig) == expected, "signal %d %s pending", sig,
		      expected ? "no longer" : "unexpectedly");
	}
	expect_signal(SIGUSR2, 0x1234, SI_QUEUE, "SIGUSR2");
	expect_signal(SIGRTMIN + 1, 1001, SI_QUEUE, "SIGRTMIN+1 first");
	expect_signal(SIGRTMIN + 1, 1002, SI_QUEUE, "SIGRTMIN+1 second");
	expect_signal(SIGRTMIN + 3, 77, SI_QUEUE, "SIGRTMIN+3 (thread)");
	sigset_t rt;
	sigemptyset(&rt);
	sigaddset(&rt, SIGRTMIN + 1);
	struct timespec zero = { 0, 0 };
	errno = 0;
	CHECK(sigtimedwait(&rt, NULL, &zero) < 0 && errno == EAGAIN, "a third SIGRTMIN+1 was pending");
	CHECK(sigpending(&pending) == 0 && sigisemptyset(&pending), "signals still pending");
	return tp_finish();
}
