/* Credentials: their image form, taking them, reading one's own (creds.h). */
#include "creds.h"

#include <errno.h>
#include <linux/capability.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

/* The highest capability number a set may name (a 64-bit set); the
 * kernel's last is lower, and ends a loop over them with EINVAL. */
#define LAST_CAP_MAX 63

void bm_creds_encode(struct bm_wbuf *b, const struct bm_creds *c)
{
	for (int i = 0; i < 4; i++)
		bm_put_u32(b, c->uid[i]);
	for (int i = 0; i < 4; i++)
		bm_put_u32(b, c->gid[i]);
	bm_put_u32(b, c->ngroups);
	for (uint32_t i = 0; i < c->ngroups; i++)
		bm_put_u32(b, c->groups[i]);
	const uint64_t caps[] = {c->cap_inh, c->cap_prm, c->cap_eff, c->cap_bnd, c->cap_amb};
	for (int i = 0; i < 5; i++)
		bm_put_u64(b, caps[i]);
}

void bm_creds_decode(struct bm_rcur *cur, struct bm_creds *c)
{
	memset(c, 0, sizeof *c);
	for (int i = 0; i < 4; i++)
		c->uid[i] = bm_get_u32(cur);
	for (int i = 0; i < 4; i++)
		c->gid[i] = bm_get_u32(cur);
	uint32_t n = bm_get_count(cur, BM_MAX_GROUPS, 4, "supplementary groups");
	for (uint32_t i = 0; i < n && !bm_rcur_failed(cur); i++)
		c->groups[i] = bm_get_u32(cur);
	uint64_t *caps[] = {&c->cap_inh, &c->cap_prm, &c->cap_eff, &c->cap_bnd, &c->cap_amb};
	for (int i = 0; i < 5; i++)
		*caps[i] = bm_get_u64(cur);
	if (bm_rcur_failed(cur))
		return;
	c->ngroups = n;
	if ((c->cap_eff & ~c->cap_prm) || (c->cap_amb & ~(c->cap_prm & c->cap_inh)))
		bm_rcur_fail(cur, "capabilities no process has: effective %#llx, ambient %#llx beyond permitted %#llx "
			     "or inheritable %#llx", (unsigned long long)c->cap_eff, (unsigned long long)c->cap_amb,
			     (unsigned long long)c->cap_prm, (unsigned long long)c->cap_inh);
}

bool bm_creds_equal(const struct bm_creds *a, const struct bm_creds *b)
{
	return memcmp(a->uid, b->uid, sizeof a->uid) == 0 && memcmp(a->gid, b->gid, sizeof a->gid) == 0 &&
	       a->ngroups == b->ngroups && memcmp(a->groups, b->groups, a->ngroups * sizeof a->groups[0]) == 0 &&
	       a->cap_inh == b->cap_inh && a->cap_prm == b->cap_prm && a->cap_eff == b->cap_eff &&
	       a->cap_bnd == b->cap_bnd && a->cap_amb == b->cap_amb;
}

/* ---- system calls only: in a task that binmig's code is about to leave ---- */

static long capset3(uint64_t eff, uint64_t prm, uint64_t inh)
{
	struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct d[2] = {{(uint32_t)eff, (uint32_t)prm, (uint32_t)inh},
					      {(uint32_t)(eff >> 32), (uint32_t)(prm >> 32), (uint32_t)(inh >> 32)}};
	return syscall(SYS_capset, &h, d);
}

static int step(long r, const char *name, const char **what)
{
	if (r >= 0)
		return 0;
	*what = name;
	return -errno;
}

/* setfsuid or setfsgid (NR) to ID: they return the old id whatever
 * happens, so the new one is read back to tell. */
static int set_fs_id(long nr, uint32_t id, const char *name, const char **what)
{
	syscall(nr, id);
	if (syscall(nr, -1) == (long)id)
		return 0;
	errno = EPERM;
	return step(-1, name, what);
}

/* The order: the inheritable set while binmig's privileges allow any;
 * the bounding set while CAP_SETPCAP is effective; the group ids, then
 * the user ids with keep-caps so that the permitted set survives them;
 * then the permitted and effective sets (the inheritable one unchanged),
 * and ambient capabilities, which need both. */
int bm_creds_take(const struct bm_creds *c, const char **what)
{
	struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct now[2];
	int rc = step(syscall(SYS_capget, &h, now), "capget", what);
	if (rc == 0)
		rc = step(capset3(now[0].effective | (uint64_t)now[1].effective << 32,
				  now[0].permitted | (uint64_t)now[1].permitted << 32, c->cap_inh),
			  "capset of the inheritable set", what);
	for (int cap = 0; rc == 0 && cap <= LAST_CAP_MAX; cap++) {
		if (c->cap_bnd & (1ULL << cap))
			continue;
		if (syscall(SYS_prctl, PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
			if (errno == EINVAL)
				break; /* beyond the kernel's last capability */
			rc = step(-1, "PR_CAPBSET_DROP", what);
		}
	}
	if (rc == 0)
		rc = step(syscall(SYS_setgroups, c->ngroups, c->groups), "setgroups", what);
	if (rc == 0)
		rc = step(syscall(SYS_setresgid, c->gid[0], c->gid[1], c->gid[2]), "setresgid", what);
	if (rc == 0)
		rc = set_fs_id(SYS_setfsgid, c->gid[3], "setfsgid", what);
	if (rc == 0)
		rc = step(syscall(SYS_prctl, PR_SET_KEEPCAPS, 1, 0, 0, 0), "PR_SET_KEEPCAPS", what);
	if (rc == 0)
		rc = step(syscall(SYS_setresuid, c->uid[0], c->uid[1], c->uid[2]), "setresuid", what);
	if (rc == 0)
		rc = set_fs_id(SYS_setfsuid, c->uid[3], "setfsuid", what);
	if (rc == 0)
		rc = step(capset3(c->cap_eff, c->cap_prm, c->cap_inh), "capset", what);
	for (int cap = 0; rc == 0 && cap <= LAST_CAP_MAX; cap++)
		if (c->cap_amb & (1ULL << cap))
			rc = step(syscall(SYS_prctl, PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0), "PR_CAP_AMBIENT_RAISE",
				  what);
	if (rc == 0)
		rc = step(syscall(SYS_prctl, PR_SET_KEEPCAPS, 0, 0, 0, 0), "PR_SET_KEEPCAPS", what);
	return rc;
}

int bm_creds_of_self(struct bm_creds *c)
{
	memset(c, 0, sizeof *c);
	struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct d[2];
	if (syscall(SYS_getresuid, &c->uid[0], &c->uid[1], &c->uid[2]) < 0 ||
	    syscall(SYS_getresgid, &c->gid[0], &c->gid[1], &c->gid[2]) < 0 || syscall(SYS_capget, &h, d) < 0)
		return -errno;
	/* An id that is no id (-1) changes nothing and returns the current one. */
	c->uid[3] = (uint32_t)syscall(SYS_setfsuid, -1);
	c->gid[3] = (uint32_t)syscall(SYS_setfsgid, -1);
	long n = syscall(SYS_getgroups, BM_MAX_GROUPS, c->groups);
	if (n < 0)
		return errno == EINVAL ? -E2BIG : -errno;
	c->ngroups = (uint32_t)n;
	c->cap_eff = d[0].effective | (uint64_t)d[1].effective << 32;
	c->cap_prm = d[0].permitted | (uint64_t)d[1].permitted << 32;
	c->cap_inh = d[0].inheritable | (uint64_t)d[1].inheritable << 32;
	for (int cap = 0; cap <= LAST_CAP_MAX; cap++) {
		long in_bset = syscall(SYS_prctl, PR_CAPBSET_READ, cap, 0, 0, 0);
		if (in_bset < 0)
			break; /* beyond the kernel's last capability */
		c->cap_bnd |= in_bset ? 1ULL << cap : 0;
		c->cap_amb |= syscall(SYS_prctl, PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, cap, 0, 0) > 0 ? 1ULL << cap : 0;
	}
	return 0;
}
