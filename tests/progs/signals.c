/* signals: signal dispositions.  Installs handlers with distinct flags and
 * masks, ignores SIGPIPE and sets an alternate stack.  After the wake-up,
 * sigaction reports exactly what it reported before (handler, flags,
 * restorer, mask) for every signal, sigaltstack too, and raising each signal
 * behaves as its flags say:
 *   SIGUSR2  SA_SIGINFO, mask {SIGINT}: gets a siginfo from raise (SI_TKILL,
 *            our pid) and a ucontext; SIGINT and SIGUSR2 blocked inside
 *   SIGHUP   SA_RESTART, mask {SIGTERM, SIGQUIT}: those and SIGHUP blocked inside
 *   SIGALRM  SA_NODEFER: SIGALRM not blocked inside
 *   SIGWINCH SA_ONSTACK: runs on the alternate stack
 *   SIGPROF  SA_RESETHAND|SA_SIGINFO: runs once, then the disposition is SIG_DFL
 *   SIGRTMIN+2  plain, mask {SIGRTMAX}
 *   SIGPIPE  SIG_IGN: raising it is harmless */
#include "testprog.h"

#define ALTSTACK_SIZE (64 * 1024)
static char altstack[ALTSTACK_SIZE] __attribute__((aligned(16)));

static volatile sig_atomic_t hits[65];
static volatile sig_atomic_t handler_ok[65];

static bool blocked_now(int sig)
{
	sigset_t cur;
	sigprocmask(SIG_SETMASK, NULL, &cur);
	return sigismember(&cur, sig) == 1;
}

static void on_usr2(int sig, siginfo_t *info, void *uc)
{
	handler_ok[sig] = info && info->si_signo == SIGUSR2 && info->si_code == SI_TKILL &&
			  info->si_pid == getpid() && uc != NULL && blocked_now(SIGINT) && blocked_now(SIGUSR2);
	hits[sig]++;
}

static void on_hup(int sig)
{
	handler_ok[sig] = blocked_now(SIGHUP) && blocked_now(SIGTERM) && blocked_now(SIGQUIT) && !blocked_now(SIGINT);
	hits[sig]++;
}

static void on_alrm(int sig)
{
	handler_ok[sig] = !blocked_now(SIGALRM);
	hits[sig]++;
}

static void on_winch(int sig)
{
	char here;
	stack_t ss;
	handler_ok[sig] = (uintptr_t)&here >= (uintptr_t)altstack &&
			  (uintptr_t)&here < (uintptr_t)altstack + ALTSTACK_SIZE && sigaltstack(NULL, &ss) == 0 &&
			  (ss.ss_flags & SS_ONSTACK);
	hits[sig]++;
}

static void on_prof(int sig, siginfo_t *info, void *uc)
{
	(void)uc;
	handler_ok[sig] = info && info->si_signo == SIGPROF;
	hits[sig]++;
}

static void on_rt(int sig)
{
	handler_ok[sig] = blocked_now(SIGRTMAX) && blocked_now(sig);
	hits[sig]++;
}

static void install(int sig, void *handler, int flags, const int *mask_sigs)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	if (flags & SA_SIGINFO)
		sa.sa_sigaction = handler;
	else
		sa.sa_handler = handler;
	sa.sa_flags = flags;
	sigemptyset(&sa.sa_mask);
	for (; mask_sigs && *mask_sigs; mask_sigs++)
		sigaddset(&sa.sa_mask, *mask_sigs);
	SETUP(sigaction(sig, &sa, NULL) == 0, "sigaction");
}

/* What the kernel reports for every signal, before and after. */
struct disposition {
	bool valid;
	struct sigaction sa;
};
static struct disposition before[65];

static void snapshot(struct disposition *d)
{
	for (int sig = 1; sig <= 64; sig++) {
		memset(&d[sig].sa, 0, sizeof(d[sig].sa));
		d[sig].valid = sigaction(sig, NULL, &d[sig].sa) == 0;
	}
}

static void compare_dispositions(void)
{
	struct disposition now[65];
	snapshot(now);
	for (int sig = 1; sig <= 64; sig++) {
		struct sigaction *a = &before[sig].sa, *b = &now[sig].sa;
		CHECK(before[sig].valid == now[sig].valid, "signal %d: sigaction validity", sig);
		if (!before[sig].valid || !now[sig].valid)
			continue;
		CHECK(a->sa_handler == b->sa_handler, "signal %d: handler %p, was %p", sig, (void *)b->sa_handler,
		      (void *)a->sa_handler);
		CHECK(a->sa_flags == b->sa_flags, "signal %d: flags %#x, was %#x", sig, b->sa_flags, a->sa_flags);
		CHECK(a->sa_restorer == b->sa_restorer, "signal %d: restorer %p, was %p", sig,
		      (void *)b->sa_restorer, (void *)a->sa_restorer);
		CHECK(same_sigset(&a->sa_mask, &b->sa_mask), "signal %d: sa_mask differs", sig);
	}
}

static void raise_and_check(int sig, const char *name)
{
	int hits_before = hits[sig];
	handler_ok[sig] = 0;
	CHECK(raise(sig) == 0, "raise %s", name);
	CHECK(hits[sig] == hits_before + 1, "%s handler ran %d times", name, hits[sig] - hits_before);
	CHECK(handler_ok[sig], "%s handler saw the wrong context (mask, siginfo or stack)", name);
}

int main(void)
{
	usr1_setup();
	install(SIGUSR2, on_usr2, SA_SIGINFO, (const int[]){ SIGINT, 0 });
	install(SIGHUP, on_hup, SA_RESTART, (const int[]){ SIGTERM, SIGQUIT, 0 });
	install(SIGALRM, on_alrm, SA_NODEFER, NULL);
	install(SIGWINCH, on_winch, SA_ONSTACK, NULL);
	install(SIGPROF, on_prof, SA_RESETHAND | SA_SIGINFO, NULL);
	install(SIGRTMIN + 2, on_rt, 0, (const int[]){ SIGRTMAX, 0 });
	SETUP(signal(SIGPIPE, SIG_IGN) != SIG_ERR, "ignore SIGPIPE");
	stack_t ss = { .ss_sp = altstack, .ss_size = ALTSTACK_SIZE, .ss_flags = 0 };
	SETUP(sigaltstack(&ss, NULL) == 0, "sigaltstack");
	snapshot(before);

	say("ready");
	usr1_wait();

	compare_dispositions();
	stack_t now_ss;
	CHECK(sigaltstack(NULL, &now_ss) == 0 && now_ss.ss_sp == altstack && now_ss.ss_size == ALTSTACK_SIZE &&
		      now_ss.ss_flags == 0,
	      "alternate stack %p size %zu flags %#x", now_ss.ss_sp, now_ss.ss_size, now_ss.ss_flags);

	raise_and_check(SIGUSR2, "SIGUSR2");
	raise_and_check(SIGHUP, "SIGHUP");
	raise_and_check(SIGALRM, "SIGALRM");
	raise_and_check(SIGWINCH, "SIGWINCH");
	raise_and_check(SIGPROF, "SIGPROF");
	raise_and_check(SIGRTMIN + 2, "SIGRTMIN+2");
	struct sigaction prof;
	CHECK(sigaction(SIGPROF, NULL, &prof) == 0 && prof.sa_handler == SIG_DFL,
	      "SA_RESETHAND did not reset SIGPROF");
	CHECK(raise(SIGPIPE) == 0, "raise SIGPIPE"); /* ignored: we are still here */
	return tp_finish();
}
