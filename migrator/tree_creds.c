/* A zombie's credentials in a process tree (tree_creds.h). */
#include "tree_creds.h"

#include <errno.h>
#include <sched.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <time.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "attrs.h"
#include "creds.h"
#include "log.h"
#include "procfs.h"

int bm_tree_creds_read(pid_t pid, int sig, struct bm_tree_creds *c)
{
	memset(c, 0, sizeof *c);
	char *text;
	struct bm_proc_status ss;
	struct bm_status_caps caps;
	int rc = bm_read_proc_text(pid, "status", &text);
	if (rc == 0) {
		rc = bm_parse_status(text, &ss) < 0 || bm_attrs_parse_status(text, &caps) < 0 || !caps.has_caps ? -EINVAL : 0;
		free(text);
	}
	if (rc == 0)
		rc = bm_read_groups(pid, c->ids.groups, BM_MAX_GROUPS, &c->ids.ngroups);
	if (rc < 0)
		return bm_error_errno(rc == -E2BIG ? BM_EXIT_UNSUPPORTED : BM_EXIT_TARGET, -rc,
				      "cannot read the credentials of zombie process %d%s", pid,
				      rc == -E2BIG ? " (more supplementary groups than binmig carries)" : "");
	for (int i = 0; i < 4; i++) {
		c->ids.uid[i] = ss.uid[i];
		c->ids.gid[i] = ss.gid[i];
	}
	c->ids.cap_inh = caps.inh;
	c->ids.cap_prm = caps.prm;
	c->ids.cap_eff = caps.eff;
	c->ids.cap_bnd = caps.bnd;
	c->ids.cap_amb = caps.amb;
	c->sig_blk = ss.sig_blk;
	c->sig_ign = ss.sig_ign;
	c->sig_cgt = ss.sig_cgt;
	c->sig_pnd = ss.sig_pnd;
	c->shd_pnd = ss.shd_pnd;
	/* Pending and not blocked: the signal that killed it, and SIGKILL,
	 * which the kernel adds then; any other (the kernel drops what is sent
	 * to a zombie: not seen in practice) could not be made pending again. */
	uint64_t due = (c->sig_pnd | c->shd_pnd) & ~c->sig_blk & ~(1ULL << (SIGKILL - 1)) & ~(sig ? 1ULL << (sig - 1) : 0);
	if (due)
		return bm_error(BM_EXIT_UNSUPPORTED, "zombie process %d has signals pending that it does not block (%#llx); "
				"binmig cannot make them pending again without delivering them", pid, (unsigned long long)due);
	uint8_t all[BM_AFFINITY_BYTES];
	cpu_set_t set;
	if ((rc = bm_attrs_online_cpus(all)) < 0)
		return rc;
	if (sched_getaffinity(pid, sizeof set, &set) < 0)
		return bm_error_errno(BM_EXIT_TARGET, errno, "sched_getaffinity of zombie process %d", pid);
	_Static_assert(sizeof set >= BM_AFFINITY_BYTES, "cpu_set_t holds the mask");
	memcpy(c->affinity, &set, BM_AFFINITY_BYTES);
	c->affinity_all = memcmp(c->affinity, all, BM_AFFINITY_BYTES) == 0;
	c->affinity_len = c->affinity_all ? 0 : BM_AFFINITY_BYTES;
	if (c->affinity_all)
		memset(c->affinity, 0, BM_AFFINITY_BYTES);
	while (c->affinity_len > 0 && c->affinity[c->affinity_len - 1] == 0)
		c->affinity_len--;
	c->loginuid = BM_LOGINUID_UNSET; /* without audit, no file */
	if ((rc = bm_read_proc_text(pid, "loginuid", &text)) == 0) {
		c->loginuid = (uint32_t)strtoul(text, NULL, 10);
		free(text);
	} else if (rc != -ENOENT) {
		return bm_error_errno(BM_EXIT_TARGET, -rc, "cannot read /proc/%d/loginuid", pid);
	}
	return 0;
}

int bm_tree_creds_check_userns(pid_t pid, pid_t parent)
{
	char path[64];
	struct stat own, theirs;
	snprintf(path, sizeof path, "/proc/%d/ns/user", (int)pid);
	int rc = stat(path, &own) < 0 ? -errno : 0;
	snprintf(path, sizeof path, "/proc/%d/ns/user", (int)parent);
	if (rc == 0 && stat(path, &theirs) < 0)
		rc = -errno;
	if (rc < 0)
		return bm_error_errno(BM_EXIT_TARGET, -rc, "cannot read the user namespace of zombie process %d or its parent",
				      pid);
	if (own.st_dev != theirs.st_dev || own.st_ino != theirs.st_ino)
		return bm_error(BM_EXIT_UNSUPPORTED, "zombie process %d is in another user namespace than its parent %d; "
				"binmig makes a zombie again in its parent's", pid, parent);
	return 0;
}

void bm_tree_creds_encode(struct bm_wbuf *b, const struct bm_tree_creds *c)
{
	bm_creds_encode(b, &c->ids);
	bm_put_u32(b, c->loginuid);
	bm_put_u64(b, c->sig_blk);
	bm_put_u64(b, c->sig_ign);
	bm_put_u64(b, c->sig_cgt);
	bm_put_u64(b, c->sig_pnd);
	bm_put_u64(b, c->shd_pnd);
	bm_put_u32(b, c->affinity_all);
	bm_put_u32(b, c->affinity_len);
	bm_put_bytes(b, c->affinity, c->affinity_len);
}

void bm_tree_creds_decode(struct bm_rcur *cur, struct bm_tree_creds *c)
{
	memset(c, 0, sizeof *c);
	bm_creds_decode(cur, &c->ids);
	c->loginuid = bm_get_u32(cur);
	c->sig_blk = bm_get_u64(cur);
	c->sig_ign = bm_get_u64(cur);
	c->sig_cgt = bm_get_u64(cur);
	c->sig_pnd = bm_get_u64(cur);
	c->shd_pnd = bm_get_u64(cur);
	c->affinity_all = bm_get_u32(cur);
	uint32_t alen = bm_get_count(cur, BM_AFFINITY_BYTES, 1, "bytes of CPU affinity");
	bm_get_bytes(cur, c->affinity, alen);
	if (bm_rcur_failed(cur))
		return;
	c->affinity_len = alen;
	if (c->affinity_all > 1 || (c->affinity_all ? alen != 0 : alen == 0 || c->affinity[alen - 1] == 0)) {
		bm_rcur_fail(cur, "CPU affinity: every CPU %u, %u bytes", c->affinity_all, alen);
		return;
	}
	const uint64_t fixed = (1ULL << (SIGKILL - 1)) | (1ULL << (SIGSTOP - 1)); /* never blocked, ignored or caught */
	if (((c->sig_blk | c->sig_ign | c->sig_cgt) & fixed) || (c->sig_ign & c->sig_cgt))
		bm_rcur_fail(cur, "signal sets no process has: blocked %#llx, ignored %#llx, caught %#llx",
			     (unsigned long long)c->sig_blk, (unsigned long long)c->sig_ign, (unsigned long long)c->sig_cgt);
}

/* ---- in the process that becomes the zombie: system calls only ---- */

static int step(long r, const char *name, const char **what)
{
	if (r >= 0)
		return 0;
	*what = name;
	return -errno;
}

static void zombie_handler(int sig)
{
	(void)sig; /* never runs: every signal pending was taken before the mask let one through */
}

int bm_tree_zombie_affinity(pid_t pid, const struct bm_tree_creds *c)
{
	uint8_t all[BM_AFFINITY_BYTES];
	int rc = bm_attrs_online_cpus(all);
	if (rc < 0)
		return rc;
	cpu_set_t set;
	CPU_ZERO(&set);
	memcpy(&set, c->affinity_all ? all : c->affinity, c->affinity_all ? BM_AFFINITY_BYTES : c->affinity_len);
	if (sched_setaffinity(pid, sizeof set, &set) < 0)
		return bm_error_errno(BM_EXIT_CONFLICT, errno, "zombie process %d was bound to CPUs this host does not have "
				      "online", pid);
	return 0;
}

int bm_tree_zombie_exit(const struct bm_tree_creds *c, int sig)
{
	/* Nothing pending may be delivered once the mask lets it through. */
	uint64_t every = ~0ULL;
	struct timespec now = {0, 0};
	while (syscall(SYS_rt_sigtimedwait, &every, NULL, &now, 8) > 0)
		;
	for (int s = 1; s <= 64; s++) {
		if (s == SIGKILL || s == SIGSTOP)
			continue;
		uint64_t bit = 1ULL << (s - 1);
		struct sigaction act = {.sa_handler = (c->sig_ign & bit) ? SIG_IGN : (c->sig_cgt & bit) && s != sig ? zombie_handler : SIG_DFL};
		if (syscall(SYS_rt_sigaction, s, &act, NULL, 8) < 0)
			return -errno;
	}
	uint64_t mask = sig ? c->sig_blk & ~(1ULL << (sig - 1)) : c->sig_blk;
	if (syscall(SYS_rt_sigprocmask, SIG_SETMASK, &mask, NULL, 8) < 0)
		return -errno;
	/* Its pending signals, blocked: sent to its thread or to itself as a
	 * process, as they were queued. */
	long pid = syscall(SYS_getpid), tid = syscall(SYS_gettid);
	for (int s = 1; s <= 64; s++) {
		uint64_t bit = 1ULL << (s - 1);
		if (!(mask & bit))
			continue;
		if (((c->sig_pnd & bit) && syscall(SYS_tgkill, pid, tid, s) < 0) ||
		    ((c->shd_pnd & bit) && syscall(SYS_kill, pid, s) < 0))
			return -errno;
	}
	return 0;
}

/* The login uid, when it is not the one inherited from binmig: written
 * as a decimal number to /proc/self/loginuid (CAP_AUDIT_CONTROL). */
static int take_loginuid(uint32_t want, const char **what)
{
	char now[16] = "", text[16];
	int fd = (int)syscall(SYS_open, "/proc/self/loginuid", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return want == BM_LOGINUID_UNSET ? 0 : step(-1, "open(/proc/self/loginuid)", what);
	long n = syscall(SYS_read, fd, now, sizeof now - 1);
	syscall(SYS_close, fd);
	size_t len = 0;
	char digits[16];
	uint32_t v = want;
	do {
		digits[len++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	for (size_t i = 0; i < len; i++)
		text[i] = digits[len - 1 - i];
	if (n == (long)len && memcmp(now, text, len) == 0)
		return 0;
	fd = (int)syscall(SYS_open, "/proc/self/loginuid", O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return step(-1, "open(/proc/self/loginuid)", what);
	n = syscall(SYS_write, fd, text, len);
	int e = errno;
	syscall(SYS_close, fd);
	errno = e;
	return n == (long)len ? 0 : step(-1, "writing /proc/self/loginuid", what);
}

/* The login uid while binmig's privileges allow it, then the rest
 * (creds.h). */
int bm_tree_creds_take(const struct bm_tree_creds *c, const char **what)
{
	int rc = take_loginuid(c->loginuid, what);
	return rc == 0 ? bm_creds_take(&c->ids, what) : rc;
}
