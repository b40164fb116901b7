/* Per-thread kernel state that a migration must carry, recorded by a thread
 * when it starts and checked by the same thread before it ends: its TID,
 * signal mask, alternate signal stack, robust futex list, clear_child_tid
 * address and rseq registration.  Used by the multi-threaded test programs
 * (threads8, threadspawn).  Failures are reported with say() as "FAIL: ..."
 * lines and counted in tp_failures (atomically: many threads report). */
#ifndef THREADSTATE_H
#define THREADSTATE_H

#include <pthread.h>
#include <sys/prctl.h>
#include <sys/rseq.h>
#include <sys/syscall.h>

#include "testprog.h"

#ifndef PR_GET_TID_ADDRESS
#define PR_GET_TID_ADDRESS 40
#endif

#define TS_ALTSTACK_SIZE (64 * 1024)

struct thread_state {
	const char *name;
	pid_t tid;
	sigset_t mask;
	stack_t altstack;
	void *robust_head;
	size_t robust_len;
	void *tid_address;     /* NULL when the kernel cannot tell (no CONFIG_CHECKPOINT_RESTORE) */
	bool tid_address_known;
};

static inline void ts_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline void ts_fail(const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	__atomic_add_fetch(&tp_failures, 1, __ATOMIC_SEQ_CST);
	say("FAIL: %s", msg);
}

static inline pid_t ts_gettid(void)
{
	return (pid_t)syscall(SYS_gettid);
}

/* Gives the calling thread an alternate signal stack of its own and records
 * its state.  Call at the start of the thread (after changing its mask). */
static inline void ts_record(struct thread_state *s, const char *name)
{
	s->name = name;
	s->tid = ts_gettid();
	prctl(PR_SET_NAME, name, 0, 0, 0);
	stack_t ss = { .ss_sp = malloc(TS_ALTSTACK_SIZE), .ss_size = TS_ALTSTACK_SIZE, .ss_flags = 0 };
	if (!ss.ss_sp || sigaltstack(&ss, NULL) != 0)
		ts_fail("%s: cannot set up an alternate signal stack", name);
	sigaltstack(NULL, &s->altstack);
	pthread_sigmask(SIG_SETMASK, NULL, &s->mask);
	if (syscall(SYS_get_robust_list, 0, &s->robust_head, &s->robust_len) != 0)
		ts_fail("%s: get_robust_list: %s", name, strerror(errno));
	s->tid_address_known = prctl(PR_GET_TID_ADDRESS, &s->tid_address, 0, 0, 0) == 0;
}

static inline bool ts_same_mask(const sigset_t *a, const sigset_t *b)
{
	for (int sig = 1; sig <= 64; sig++)
		if (sigismember(a, sig) != sigismember(b, sig))
			return false;
	return true;
}

/* Checks, in the thread that recorded S, that its state is what it was. */
static inline void ts_check(const struct thread_state *s)
{
	pid_t tid = ts_gettid();
	if (tid != s->tid)
		ts_fail("%s: TID %d, was %d", s->name, tid, s->tid);
	sigset_t mask;
	pthread_sigmask(SIG_SETMASK, NULL, &mask);
	if (!ts_same_mask(&mask, &s->mask))
		ts_fail("%s: signal mask changed", s->name);
	stack_t ss;
	if (sigaltstack(NULL, &ss) != 0 || ss.ss_sp != s->altstack.ss_sp || ss.ss_size != s->altstack.ss_size ||
	    ss.ss_flags != s->altstack.ss_flags)
		ts_fail("%s: alternate stack %p+%zu flags %d, was %p+%zu flags %d", s->name, ss.ss_sp, ss.ss_size,
			ss.ss_flags, s->altstack.ss_sp, s->altstack.ss_size, s->altstack.ss_flags);
	void *head = NULL;
	size_t len = 0;
	if (syscall(SYS_get_robust_list, 0, &head, &len) != 0 || head != s->robust_head || len != s->robust_len)
		ts_fail("%s: robust list %p/%zu, was %p/%zu", s->name, head, len, s->robust_head, s->robust_len);
	if (s->tid_address_known) {
		void *addr = NULL;
		if (prctl(PR_GET_TID_ADDRESS, &addr, 0, 0, 0) != 0 || addr != s->tid_address)
			ts_fail("%s: clear_child_tid %p, was %p", s->name, addr, s->tid_address);
	}
	/* glibc registered an rseq area for the thread.  Registering it again
	 * fails (EBUSY, or EINVAL for another length) while the kernel still
	 * has a registration; it succeeds only if the registration was lost. */
	if (__rseq_size > 0) {
		void *area = (char *)__builtin_thread_pointer() + __rseq_offset;
		long rc = syscall(SYS_rseq, area, 32, 0, RSEQ_SIG);
		if (rc == 0)
			ts_fail("%s: the thread had no rseq registration", s->name);
	}
}

/* Threads that have finished their work.  A thread given a gate works for
 * as long as the test keeps the gate closed, so its joiner waits for it
 * here, with no time limit (the test's own waits have theirs), and only
 * then joins it with ts_join, whose timeout is then for the thread's exit
 * alone, however fast or slow the machine. */
struct ts_finished {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int count;
};
#define TS_FINISHED_INIT { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0 }

/* Called by a thread when its work is done, just before it returns. */
static inline void ts_finish(struct ts_finished *f)
{
	pthread_mutex_lock(&f->lock);
	f->count++;
	pthread_cond_broadcast(&f->cond);
	pthread_mutex_unlock(&f->lock);
}

/* Until N threads have called ts_finish on F. */
static inline void ts_wait_finished(struct ts_finished *f, int n)
{
	pthread_mutex_lock(&f->lock);
	while (f->count < n)
		pthread_cond_wait(&f->cond, &f->lock);
	pthread_mutex_unlock(&f->lock);
}

/* Joins THREAD, failing (rather than hanging) if it does not end within
 * TIMEOUT_S seconds: a lost clear_child_tid leaves pthread_join waiting
 * for ever. */
static inline void ts_join(pthread_t thread, const char *name, int timeout_s)
{
	struct timespec deadline;
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += timeout_s;
	int rc = pthread_timedjoin_np(thread, NULL, &deadline);
	if (rc != 0)
		ts_fail("join %s: %s", name, strerror(rc));
}

#endif
