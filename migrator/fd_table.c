/* The size of a process's descriptor table (fd_table.h). */
#include "fd_table.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <linux/kcmp.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "procfs.h"

bool bm_fd_table_size_check(uint32_t size, char *why, size_t n)
{
	if (size == 0 || (size % BM_FD_TABLE_DEFAULT == 0 && size <= BM_FD_TABLE_MAX))
		return true;
	return bm_why(why, n, "descriptor table size %u is not a multiple of %u up to %u", size, BM_FD_TABLE_DEFAULT,
		      BM_FD_TABLE_MAX);
}

int bm_fd_table_slot(uint32_t size)
{
	return size > BM_FD_TABLE_DEFAULT ? (int)(size / 2) : -1;
}

int bm_fd_table_place(const struct bm_process *p, unsigned need)
{
	int prev = 2; /* the highest number taken so far */
	for (uint32_t i = 0; i < p->nfds; i++)
		if (p->fds[i].fd > prev)
			prev = p->fds[i].fd;
	int above = prev + 1;
	if (p->fd_table_size == 0 || (uint64_t)above + need <= p->fd_table_size)
		return above;
	prev = 2;
	for (uint32_t i = 0; i < p->nfds; i++) {
		int fd = p->fds[i].fd; /* ascending */
		if (fd > prev && (uint64_t)(fd - prev - 1) >= need)
			return prev + 1;
		if (fd > prev)
			prev = fd;
	}
	return above;
}

unsigned bm_fd_table_need(unsigned nfiles, uint32_t made)
{
	return 1 + nfiles + 2 * made + 16;
}

int bm_fd_table_dup_low(int fd, int at, bool (*avoid)(int n, const void *arg), const void *arg)
{
	for (;;) {
		int got = fcntl(fd, F_DUPFD_CLOEXEC, at);
		if (got < 0 || !avoid(got, arg))
			return got < 0 ? -errno : got;
		close(got);
		at = got + 1;
	}
}

/* Closes the descriptors from *from up to KEPT, and goes on above it. */
static void close_up_to(unsigned *from, int kept)
{
	if ((unsigned)kept > *from)
		syscall(SYS_close_range, *from, (unsigned)kept - 1, 0);
	*from = (unsigned)kept + 1;
}

void bm_fd_table_close_all_but(int kept, const int *keep, uint32_t n)
{
	unsigned from = 0;
	for (uint32_t i = 0; i < n; i++) {
		if (kept >= 0 && kept < keep[i]) {
			close_up_to(&from, kept);
			kept = -1;
		}
		close_up_to(&from, keep[i]);
	}
	if (kept >= 0)
		close_up_to(&from, kept);
	syscall(SYS_close_range, from, ~0U, 0);
}

void bm_fd_table_encode(struct bm_wbuf *b, const struct bm_process *p)
{
	bm_put_u32(b, p->fd_table_size);
}

void bm_fd_table_decode(struct bm_rcur *c, struct bm_process *p)
{
	size_t at = c->pos;
	char why[128];
	p->fd_table_size = bm_get_u32(c);
	if (!bm_rcur_failed(c) && !bm_fd_table_size_check(p->fd_table_size, why, sizeof why))
		bm_rcur_fail_at(c, at, "%s", why);
}

int bm_fd_table_own(unsigned keep_below)
{
	return syscall(SYS_close_range, keep_below, ~0U, CLOSE_RANGE_UNSHARE) < 0 ? -errno : 0;
}

#define OWN_TIMEOUT_US 10000000ULL
#define OWN_STEP_NS 100000L

int bm_fd_table_wait_own(pid_t child)
{
	uint64_t deadline = bm_now_us() + OWN_TIMEOUT_US;
	for (;;) {
		long same = syscall(SYS_kcmp, getpid(), child, KCMP_FILES, 0, 0);
		if (same != 0)
			return same < 0 && errno != ESRCH ? bm_error_errno(BM_EXIT_FAILURE, errno, "kcmp of process %d", child)
							  : 0;
		if (bm_now_us() >= deadline)
			return bm_error(BM_EXIT_FAILURE, "the new process %d did not take a descriptor table of its own "
					"within %llu ms", child, OWN_TIMEOUT_US / 1000);
		struct timespec ts = {0, OWN_STEP_NS};
		nanosleep(&ts, NULL);
	}
}

/* The table's size now, 0 if not known (a kernel without FDSize). */
static int table_size(pid_t pid, uint32_t *size)
{
	struct bm_proc_status st;
	int rc = bm_read_status(pid, &st);
	if (rc < 0)
		return bm_error_errno(BM_EXIT_FAILURE, -rc, "cannot read /proc/%d/status", pid);
	*size = st.fd_size;
	return 0;
}

int bm_fd_table_grow(struct bm_tracee *tr, pid_t pid, const struct bm_process *p, int open_fd)
{
	int slot = bm_fd_table_slot(p->fd_table_size);
	uint32_t now = 0;
	if (slot < 0)
		return 0;
	if (table_size(pid, &now) < 0)
		return -1;
	if (now == 0 || now >= p->fd_table_size)
		return 0; /* grown already: by the restore, or by a thread or tree member sharing it */
	/* The process's own open-files limit is set later: until then it has
	 * binmig's, which must admit the slot (the original may have lowered
	 * its own below its table's size since). */
	struct rlimit lim;
	if (prlimit(pid, RLIMIT_NOFILE, NULL, &lim) < 0)
		return bm_error_errno(BM_EXIT_FAILURE, errno, "cannot read the open-files limit of process %d", pid);
	if (lim.rlim_cur <= (rlim_t)slot) {
		lim.rlim_cur = (rlim_t)slot + 1;
		if (lim.rlim_max < lim.rlim_cur)
			lim.rlim_max = lim.rlim_cur;
		if (prlimit(pid, RLIMIT_NOFILE, &lim, NULL) < 0)
			return bm_error_errno(BM_EXIT_CONFLICT, errno, "restoring process %d: its descriptor table had %u "
					      "slots, above the open-files limit binmig can give it", pid, p->fd_table_size);
	}
	long got = 0;
	int rc = bm_inject(tr, SYS_dup3, (uint64_t)open_fd, (uint64_t)slot, O_CLOEXEC, 0, 0, 0, &got);
	if (rc == 0 && got < 0)
		return bm_error_errno(BM_EXIT_CONFLICT, (int)-got, "restoring process %d: cannot grow its descriptor table "
				      "to %u slots as the original's (fs.nr_open?)", pid, p->fd_table_size);
	if (rc == 0 && (rc = bm_inject(tr, SYS_close, (uint64_t)slot, 0, 0, 0, 0, 0, &got)) == 0 && got < 0)
		rc = (int)got;
	return rc < 0 ? bm_error_errno(BM_EXIT_FAILURE, -rc, "restoring process %d: growing its descriptor table", pid)
		      : 0;
}

uint32_t bm_fd_table_check(pid_t pid, const struct bm_process *p)
{
	struct bm_proc_status st;
	if (!p->fd_table_size || bm_read_status(pid, &st) < 0 || st.fd_size == 0)
		return 0;
	uint32_t now = st.fd_size;
	if (now != p->fd_table_size)
		bm_warn("restored process %d: its descriptor table has %u slots (FDSize), the original's had %u: %s", pid,
			now, p->fd_table_size,
			now > p->fd_table_size ? "the restore's own descriptors found no room below its size, and a "
						 "table never shrinks"
					       : "this kernel grew it to another size than the slot asked for");
	return now;
}
