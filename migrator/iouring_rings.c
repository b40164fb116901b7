/* Registered io_uring instances, refused at dump (iouring_rings.h). */
#include "iouring_rings.h"

#include <errno.h>
#include <sys/syscall.h>

#include "log.h"

#define SYS_IO_URING_ENTER 426
#define IORING_ENTER_REGISTERED_RING_ 16u
#define IO_RINGFD_REG_MAX_ 16

/* io_uring_enter with nothing to submit or wait for, on registered ring
 * IDX: 0 where there is one; EINVAL where the thread has no io_uring
 * context at all (or a kernel before 5.18 knows no such flag), EBADF for
 * an empty slot. */
static int enter(struct bm_tracee *tr, int idx, long *r)
{
	return bm_inject(tr, SYS_IO_URING_ENTER, (uint64_t)idx, 0, 0, IORING_ENTER_REGISTERED_RING_, 0, 0, r);
}

int bm_iouring_rings_check(pid_t pid, struct bm_tracee *tracees, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		long r;
		int rc = enter(&tracees[i], 0, &r);
		for (int idx = 1; rc == 0 && r == -EBADF && idx < IO_RINGFD_REG_MAX_; idx++)
			rc = enter(&tracees[i], idx, &r);
		if (rc < 0)
			return rc;
		if (r >= 0)
			return bm_error(BM_EXIT_UNSUPPORTED,
					"thread %d of process %d has an io_uring instance registered "
					"(IORING_REGISTER_RING_FDS), which binmig cannot carry; binmig cannot migrate it",
					tracees[i].tid, pid);
	}
	return 0;
}
