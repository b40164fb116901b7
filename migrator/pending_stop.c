/* A SIGSTOP that reaches a process while binmig holds it (pending_stop.h). */
#include "pending_stop.h"

#include <errno.h>
#include <signal.h>

#include "log.h"
#include "timers.h"

static bool owed(const struct bm_tracee *t, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (t[i].stop_owed)
			return true;
	return false;
}

static bool has_stop(const struct bm_siginfo *si, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		if (bm_si_i32(si[i].raw) == SIGSTOP)
			return true;
	return false;
}

int bm_pending_refuse_stop(const struct bm_process *p, const struct bm_tracee *t, size_t nt)
{
	if (!owed(t, nt) && !bm_image_stop_pending(p))
		return 0;
	return bm_error(BM_EXIT_UNSUPPORTED, "process %d was stopped (SIGSTOP) while binmig dumped it; binmig does not "
			"carry a stopped process: continue it (SIGCONT) first", p->pid);
}

int bm_give_owed_stop(pid_t pid, const struct bm_tracee *t, size_t n)
{
	if (owed(t, n) && kill(pid, SIGSTOP) < 0 && errno != ESRCH)
		return bm_error_errno(BM_EXIT_FAILURE, errno, "cannot send process %d the SIGSTOP it received while binmig "
				      "held it", pid);
	return 0;
}

bool bm_image_stop_pending(const struct bm_process *p)
{
	bool stop = has_stop(p->shared_pending, p->nshared_pending);
	for (uint32_t i = 0; i < p->nthreads && !stop; i++)
		stop = has_stop(p->threads[i].pending, p->threads[i].npending);
	return stop;
}
