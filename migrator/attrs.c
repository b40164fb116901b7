/* Process and thread attributes (attrs.h): collected at dump, set again at
 * restore, refused where they cannot be set faithfully. */
#include "attrs.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/sched.h>

#include "attrs_modes.h"
#include "autogroup.h"
#include "fault.h"
#include "iouring_rings.h"
#include "keyrings.h"
#include "landlock.h"
#include "log.h"
#include "procfs.h"

#define SYS_SCHED_SETATTR 314
#define SYS_SCHED_GETATTR 315
#define IOPRIO_WHO_PROCESS 1
#define MPOL_DEFAULT 0
#define LINUX_CAPABILITY_VERSION_3 0x20080522
#define CAP_LAST_CAP_MAX 63
#define SECBITS_KNOWN 0xffu          /* SECBIT_NOROOT .. SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED */
#define SCHED_FLAG_RESET_ON_FORK_ 0x01u
#define SPEC_PRCTL (1u << 0)
#define SPEC_ENABLE (1u << 1)
#define SPEC_DISABLE (1u << 2)
#define SPEC_FORCE_DISABLE (1u << 3)
#define SPEC_DISABLE_NOEXEC (1u << 4)
/* The bounds the kernel holds a custom slice to (kernel/sched/syscalls.c). */
#define SCHED_SLICE_MIN 100000ull
#define SCHED_SLICE_MAX 100000000ull

struct sched_attr_ {
	uint32_t size, sched_policy;
	uint64_t sched_flags;
	int32_t sched_nice;
	uint32_t sched_priority;
	uint64_t sched_runtime, sched_deadline, sched_period;
	uint32_t sched_util_min, sched_util_max;
};

/* ---- /proc/PID/status ---- */

static bool status_field(const char *text, const char *key, const char **value)
{
	size_t klen = strlen(key);
	for (const char *line = text; line && *line; line = strchr(line, '\n'), line = line ? line + 1 : NULL)
		if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
			*value = line + klen + 1;
			return true;
		}
	return false;
}

int bm_attrs_parse_status(const char *text, struct bm_status_caps *out)
{
	memset(out, 0, sizeof *out);
	static const char *const caps[] = {"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"};
	uint64_t *dst[] = {&out->inh, &out->prm, &out->eff, &out->bnd, &out->amb};
	const char *v;
	int found = 0;
	for (int i = 0; i < 5; i++) {
		if (!status_field(text, caps[i], &v))
			continue;
		char *end;
		errno = 0;
		*dst[i] = strtoull(v, &end, 16);
		if (errno || end == v)
			return -EINVAL;
		found++;
	}
	out->has_caps = found == 5;
	if (status_field(text, "NoNewPrivs", &v))
		out->no_new_privs = (uint32_t)strtoul(v, NULL, 10);
	if (status_field(text, "Seccomp", &v))
		out->seccomp = (uint32_t)strtoul(v, NULL, 10);
	if (status_field(text, "VmLck", &v))
		out->vm_lck_kb = strtoull(v, NULL, 10);
	if (status_field(text, "Uid", &v))
		sscanf(v, "%u %u %u %u", &out->ids[0], &out->ids[1], &out->ids[2], &out->ids[3]);
	if (status_field(text, "Gid", &v))
		sscanf(v, "%u %u %u %u", &out->ids[4], &out->ids[5], &out->ids[6], &out->ids[7]);
	out->euid = out->ids[1];
	out->groups = 0xcbf29ce484222325ULL;
	if (status_field(text, "Groups", &v))
		for (; *v && *v != '\n'; v++)
			out->groups = (out->groups ^ (uint8_t)*v) * 0x100000001b3ULL;
	return 0;
}

bool bm_attrs_numa_bound(const char *text, uint64_t *addr, char *policy, size_t len)
{
	for (const char *line = text; line && *line;) {
		char *end;
		uint64_t a = strtoull(line, &end, 16);
		const char *p = end;
		while (*p == ' ')
			p++;
		size_t n = strcspn(p, " \n");
		if (end != line && n && !(n == 7 && strncmp(p, "default", 7) == 0)) {
			*addr = a;
			snprintf(policy, len, "%.*s", (int)n, p);
			return true;
		}
		line = strchr(line, '\n');
		line = line ? line + 1 : NULL;
	}
	return false;
}

/* ---- helpers ---- */

int bm_attrs_inject(struct bm_tracee *tr, const char *what, long nr, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4,
		    long *ret)
{
	long r;
	int rc = bm_inject(tr, nr, a1, a2, a3, a4, 0, 0, &r);
	if (rc < 0)
		return rc;
	if (r < 0 && r > -4096)
		return bm_error_errno(BM_EXIT_FAILURE, (int)-r, "%s in thread %d", what, tr->tid);
	if (ret)
		*ret = r;
	return 0;
}

/* An int the kernel wrote at scratch (prctl's "get" calls that take a
 * pointer). */
static int read_int(struct bm_tracee *tr, uint64_t scratch, int *v)
{
	int rc = bm_mem_read(tr->tid, scratch, v, sizeof *v);
	return rc < 0 ? bm_error_errno(BM_EXIT_FAILURE, -rc, "reading an injected result from thread %d", tr->tid) : 0;
}

int bm_attrs_online_cpus(uint8_t mask[BM_AFFINITY_BYTES])
{
	memset(mask, 0, BM_AFFINITY_BYTES);
	char *text;
	size_t len;
	int rc = bm_read_text("/sys/devices/system/cpu/online", &text, &len);
	if (rc < 0)
		return bm_error_errno(BM_EXIT_FAILURE, -rc, "cannot read /sys/devices/system/cpu/online");
	/* "0-3,6,8-9" */
	for (char *p = text; *p && *p != '\n';) {
		char *end;
		unsigned long lo = strtoul(p, &end, 10), hi = lo;
		if (end == p)
			break;
		if (*end == '-')
			hi = strtoul(end + 1, &end, 10);
		for (unsigned long c = lo; c <= hi && c < BM_AFFINITY_BYTES * 8; c++)
			mask[c / 8] |= (uint8_t)(1u << (c % 8));
		p = *end == ',' ? end + 1 : end;
	}
	free(text);
	return 0;
}

static const char *refusal = "; binmig cannot carry it";

/* A speculation control of one thread; 0 where the kernel has none. */
static int spec_ctrl(struct bm_tracee *tr, unsigned which, uint64_t *value)
{
	long r;
	int rc = bm_inject(tr, SYS_prctl, PR_GET_SPECULATION_CTRL, which, 0, 0, 0, 0, &r);
	*value = r < 0 ? 0 : (uint64_t)r;
	return rc;
}

/* ---- dump ---- */

static int locked_kb(pid_t pid, uint64_t *kb)
{
	char *text;
	struct bm_status_caps st;
	int rc = bm_read_proc_text(pid, "status", &text);
	if (rc < 0)
		return bm_error_errno(BM_EXIT_TARGET, -rc, "cannot read /proc/%d/status", pid);
	rc = bm_attrs_parse_status(text, &st);
	free(text);
	*kb = st.vm_lck_kb;
	return rc < 0 ? bm_error(BM_EXIT_TARGET, "cannot parse /proc/%d/status", pid) : 0;
}

/* mlockall(MCL_FUTURE) shows in no file: it makes every later mapping
 * locked.  So map a probe page and see: if the locked memory grew, new
 * mappings are locked; if the page is then resident without having been
 * touched, they are populated too (no MCL_ONFAULT). */
static int collect_mlockall(pid_t pid, struct bm_tracee *leader, uint64_t scratch, uint32_t *flags)
{
	uint64_t before, after;
	long probe;
	int rc = locked_kb(pid, &before);
	if (rc < 0 || (rc = bm_attrs_inject(leader, "mmap of a probe page", SYS_mmap, 0, 4096, PROT_READ | PROT_WRITE,
				       MAP_PRIVATE | MAP_ANONYMOUS, &probe)) < 0)
		return rc;
	uint8_t resident = 0;
	if ((rc = locked_kb(pid, &after)) == 0 &&
	    (rc = bm_attrs_inject(leader, "mincore", SYS_mincore, (uint64_t)probe, 4096, scratch, 0, NULL)) == 0)
		rc = bm_mem_read(leader->tid, scratch, &resident, 1) < 0
			     ? bm_error(BM_EXIT_FAILURE, "reading an injected result from thread %d", leader->tid)
			     : 0;
	int rc2 = bm_attrs_inject(leader, "munmap of the probe page", SYS_munmap, (uint64_t)probe, 4096, 0, 0, NULL);
	if (rc < 0 || rc2 < 0)
		return rc < 0 ? rc : rc2;
	*flags = after > before ? MCL_FUTURE | ((resident & 1) ? 0 : MCL_ONFAULT) : 0;
	return 0;
}

static int collect_process(pid_t pid, struct bm_tracee *leader, uint64_t scratch, struct bm_attrs *a,
			   struct bm_status_caps *lead)
{
	char *text;
	int rc = bm_read_proc_text(pid, "oom_score_adj", &text);
	if (rc < 0)
		return bm_error_errno(BM_EXIT_TARGET, -rc, "cannot read /proc/%d/oom_score_adj", pid);
	a->oom_score_adj = (int32_t)strtol(text, NULL, 10);
	free(text);

	struct bm_status_caps st;
	if ((rc = bm_read_proc_text(pid, "status", &text)) < 0)
		return bm_error_errno(BM_EXIT_TARGET, -rc, "cannot read /proc/%d/status", pid);
	rc = bm_attrs_parse_status(text, &st);
	free(text);
	if (rc < 0 || !st.has_caps)
		return bm_error(BM_EXIT_TARGET, "cannot read the capabilities in /proc/%d/status", pid);
	/* seccomp: refused before anything was injected (attrs_modes.h) */
	uint64_t given = st.euid == 0 ? st.bnd : 0; /* what its user ids give */
	if (st.inh || st.amb || st.prm != given || st.eff != given)
		return bm_error(BM_EXIT_UNSUPPORTED,
				"process %d has capabilities other than its user ids give (permitted %#llx, effective %#llx, "
				"inheritable %#llx, ambient %#llx)%s",
				pid, (unsigned long long)st.prm, (unsigned long long)st.eff, (unsigned long long)st.inh,
				(unsigned long long)st.amb, refusal);
	a->cap_bounding = st.bnd;
	a->no_new_privs = st.no_new_privs ? 1 : 0;
	*lead = st;

	/* An LSM label other than none or "unconfined". */
	if (bm_read_proc_text(pid, "attr/current", &text) == 0) {
		text[strcspn(text, "\n")] = 0;
		bool plain = !*text || strcmp(text, "unconfined") == 0;
		if (!plain)
			bm_error(BM_EXIT_UNSUPPORTED, "process %d runs under the security label \"%s\"%s", pid, text,
				 refusal);
		free(text);
		if (!plain)
			return -1;
	}

	long r;
	int mode = 0;
	if ((rc = bm_attrs_inject(leader, "get_mempolicy", SYS_get_mempolicy, scratch, 0, 0, 0, NULL)) < 0 ||
	    (rc = read_int(leader, scratch, &mode)) < 0)
		return rc;
	if (mode != MPOL_DEFAULT)
		return bm_error(BM_EXIT_UNSUPPORTED, "process %d has a NUMA memory policy (mode %d)%s", pid, mode,
				refusal);
	if ((rc = bm_read_proc_text(pid, "numa_maps", &text)) == 0) {
		uint64_t at;
		char policy[64];
		bool bound = bm_attrs_numa_bound(text, &at, policy, sizeof policy);
		free(text);
		if (bound)
			return bm_error(BM_EXIT_UNSUPPORTED, "process %d has memory at 0x%llx with a NUMA policy (%s)%s",
					pid, (unsigned long long)at, policy, refusal);
	} else if (rc != -ENOENT) { /* absent on kernels without NUMA */
		return bm_error_errno(BM_EXIT_TARGET, -rc, "cannot read /proc/%d/numa_maps", pid);
	}
	if ((rc = bm_attrs_inject(leader, "PR_GET_THP_DISABLE", SYS_prctl, PR_GET_THP_DISABLE, 0, 0, 0, &r)) < 0)
		return rc;
	if (r != 0 && r != 1 && r != (1 | BM_THP_DISABLE_EXCEPT_ADVISED))
		return bm_error(BM_EXIT_UNSUPPORTED, "process %d has a THP disable mode (PR_GET_THP_DISABLE %ld) that "
				"binmig does not know%s", pid, r, refusal);
	a->thp_disable = (uint32_t)r;
	int v = 0;
	if ((rc = bm_attrs_inject(leader, "PR_GET_CHILD_SUBREAPER", SYS_prctl, PR_GET_CHILD_SUBREAPER, scratch, 0, 0,
			     NULL)) < 0 ||
	    (rc = read_int(leader, scratch, &v)) < 0)
		return rc;
	a->child_subreaper = v ? 1 : 0;
	if ((rc = bm_attrs_inject(leader, "PR_GET_SECUREBITS", SYS_prctl, PR_GET_SECUREBITS, 0, 0, 0, &r)) < 0)
		return rc;
	a->securebits = (uint32_t)r;
	if (a->securebits && st.euid != 0)
		return bm_error(BM_EXIT_UNSUPPORTED, "process %d (not root) has securebits %#x%s", pid, a->securebits,
				refusal);
	if ((rc = bm_attrs_inject(leader, "PR_GET_KEEPCAPS", SYS_prctl, PR_GET_KEEPCAPS, 0, 0, 0, &r)) < 0)
		return rc;
	a->keepcaps = r ? 1 : 0;
	if ((rc = bm_attrs_inject(leader, "PR_MCE_KILL_GET", SYS_prctl, PR_MCE_KILL_GET, 0, 0, 0, &r)) < 0)
		return rc;
	a->mce_kill = (uint32_t)r;
	if ((rc = bm_attrs_inject(leader, "PR_GET_TSC", SYS_prctl, PR_GET_TSC, scratch, 0, 0, NULL)) < 0 ||
	    (rc = read_int(leader, scratch, &v)) < 0)
		return rc;
	a->tsc = (uint32_t)v;
	if ((rc = bm_autogroup_collect(pid, a)) < 0)
		return rc;
	return collect_mlockall(pid, leader, scratch, &a->mlockall);
}

/* Credentials and their flags belong to each thread, but a process is
 * carried with one set: a thread whose own differ from the leader's is
 * refused. */
static int same_as_leader(pid_t pid, struct bm_tracee *tr, const struct bm_attrs *a, const struct bm_status_caps *lead)
{
	char name[64], *text;
	snprintf(name, sizeof name, "task/%d/status", tr->tid);
	int rc = bm_read_proc_text(pid, name, &text);
	if (rc == -ENOENT)
		return 0; /* not this thread's to say: it has exited */
	if (rc < 0)
		return bm_error_errno(BM_EXIT_TARGET, -rc, "cannot read /proc/%d/%s", pid, name);
	struct bm_status_caps st;
	rc = bm_attrs_parse_status(text, &st);
	free(text);
	long secure, keep;
	if (rc == 0 && (rc = bm_attrs_inject(tr, "PR_GET_SECUREBITS", SYS_prctl, PR_GET_SECUREBITS, 0, 0, 0, &secure)) == 0)
		rc = bm_attrs_inject(tr, "PR_GET_KEEPCAPS", SYS_prctl, PR_GET_KEEPCAPS, 0, 0, 0, &keep);
	if (rc < 0)
		return rc;
	if (memcmp(st.ids, lead->ids, sizeof st.ids) != 0 || st.groups != lead->groups)
		return bm_error(BM_EXIT_UNSUPPORTED,
				"thread %d has user or group ids of its own (set by a raw system call), unlike the "
				"process's leader%s",
				tr->tid, refusal);
	if (st.prm != lead->prm || st.eff != lead->eff || st.bnd != lead->bnd || st.inh != lead->inh ||
	    st.amb != lead->amb || st.no_new_privs != lead->no_new_privs || st.seccomp != lead->seccomp ||
	    (uint32_t)secure != a->securebits || (keep != 0) != (a->keepcaps != 0))
		return bm_error(BM_EXIT_UNSUPPORTED,
				"thread %d has capabilities, securebits or no_new_privs of its own, unlike the process's "
				"leader%s",
				tr->tid, refusal);
	return 0;
}

static bool fair_policy(uint32_t policy)
{
	return policy == SCHED_OTHER || policy == SCHED_BATCH || policy == SCHED_IDLE;
}

/* The slice of a thread under a fair policy that has none of its own: what
 * sched_getattr gives binmig's own thread (0 before Linux 6.12, which
 * shows no slice). */
static uint64_t base_slice(void)
{
	struct sched_attr_ sa = {.size = sizeof sa};
	if (syscall(SYS_SCHED_GETATTR, 0, &sa, sizeof sa, 0) < 0 || !fair_policy(sa.sched_policy))
		return 0;
	return sa.sched_runtime;
}

static int collect_thread(struct bm_tracee *tr, uint64_t scratch, const uint8_t all[BM_AFFINITY_BYTES],
			  uint64_t base, struct bm_thread_attrs *t)
{
	pid_t tid = tr->tid;
	t->tid = tid;
	long r;
	int rc, v = 0;
	if ((rc = bm_attrs_inject(tr, "PR_GET_TIMERSLACK", SYS_prctl, PR_GET_TIMERSLACK, 0, 0, 0, &r)) < 0)
		return rc;
	t->timerslack_ns = (uint64_t)r;
	if ((rc = bm_attrs_inject(tr, "PR_GET_PDEATHSIG", SYS_prctl, PR_GET_PDEATHSIG, scratch, 0, 0, NULL)) < 0 ||
	    (rc = read_int(tr, scratch, &v)) < 0)
		return rc;
	t->pdeath_signal = v; /* whether it can be carried: bm_attrs_check_pdeath */
	if ((rc = spec_ctrl(tr, PR_SPEC_STORE_BYPASS, &t->spec_store_bypass)) < 0 ||
	    (rc = spec_ctrl(tr, PR_SPEC_INDIRECT_BRANCH, &t->spec_indirect_branch)) < 0)
		return rc;

	struct sched_attr_ sa = {.size = sizeof sa};
	if (syscall(SYS_SCHED_GETATTR, tid, &sa, sizeof sa, 0) < 0)
		return bm_error_errno(BM_EXIT_TARGET, errno, "sched_getattr of thread %d", tid);
	if (sa.sched_policy == SCHED_DEADLINE)
		return bm_error(BM_EXIT_UNSUPPORTED, "thread %d runs under SCHED_DEADLINE%s", tid, refusal);
	t->sched_policy = sa.sched_policy;
	t->sched_flags = (uint32_t)(sa.sched_flags & SCHED_FLAG_RESET_ON_FORK_);
	t->sched_nice = sa.sched_nice;
	t->sched_priority = sa.sched_priority;
	/* A custom slice (Linux 6.12) shows as a slice other than the base
	 * one; one set to just the base slice looks as none here: the BPF
	 * reader, where it runs, tells them apart (kstate.h). */
	if (fair_policy(sa.sched_policy) && sa.sched_runtime != base && sa.sched_runtime)
		t->sched_slice = sa.sched_runtime;
	long prio = syscall(SYS_ioprio_get, IOPRIO_WHO_PROCESS, tid);
	if (prio < 0)
		return bm_error_errno(BM_EXIT_TARGET, errno, "ioprio_get of thread %d", tid);
	t->ioprio = (uint32_t)prio;

	cpu_set_t set;
	if (sched_getaffinity(tid, sizeof set, &set) < 0)
		return bm_error_errno(BM_EXIT_TARGET, errno, "sched_getaffinity of thread %d", tid);
	_Static_assert(sizeof set >= BM_AFFINITY_BYTES, "cpu_set_t holds the mask");
	memcpy(t->affinity, &set, BM_AFFINITY_BYTES);
	t->affinity_len = BM_AFFINITY_BYTES;
	while (t->affinity_len > 0 && t->affinity[t->affinity_len - 1] == 0)
		t->affinity_len--;
	t->affinity_all = memcmp(t->affinity, all, BM_AFFINITY_BYTES) == 0;
	return 0;
}

int bm_attrs_collect(pid_t pid, struct bm_tracee *tracees, size_t ntracees, uint64_t scratch, struct bm_attrs *a)
{
	memset(a, 0, sizeof *a);
	a->present = true;
	uint8_t all[BM_AFFINITY_BYTES];
	struct bm_status_caps lead = {0};
	int rc = bm_attrs_online_cpus(all);
	if (rc == 0)
		rc = collect_process(pid, &tracees[0], scratch, a, &lead);
	for (size_t i = 1; rc == 0 && i < ntracees; i++)
		rc = same_as_leader(pid, &tracees[i], a, &lead);
	if (rc == 0)
		rc = bm_landlock_check(pid, tracees, ntracees, lead.ids[0], lead.ids[4]);
	if (rc == 0)
		rc = bm_keyrings_check(pid, tracees, ntracees, scratch);
	if (rc == 0)
		rc = bm_iouring_rings_check(pid, tracees, ntracees);
	if (rc < 0)
		return rc;
	a->threads = calloc(ntracees, sizeof *a->threads);
	if (!a->threads)
		return bm_error(BM_EXIT_FAILURE, "out of memory");
	uint64_t base = base_slice();
	for (size_t i = 0; i < ntracees; i++) {
		if ((rc = collect_thread(&tracees[i], scratch, all, base, &a->threads[i])) < 0)
			return rc;
		a->nthreads++;
	}
	return bm_modes_collect(tracees, ntracees, scratch, a);
}

/* ---- restore ---- */

/* The value PR_SET_SPECULATION_CTRL takes to give a thread what `had`
 * says, or 0 where the control is not the process's to set. */
static uint64_t spec_setting(uint64_t had)
{
	if (!(had & SPEC_PRCTL))
		return 0;
	return had & SPEC_FORCE_DISABLE    ? SPEC_FORCE_DISABLE
	       : had & SPEC_DISABLE_NOEXEC ? SPEC_DISABLE_NOEXEC
	       : had & SPEC_DISABLE        ? SPEC_DISABLE
					   : SPEC_ENABLE;
}

static int apply_thread(const struct bm_thread_attrs *t, struct bm_tracee *tr)
{
	int rc = bm_attrs_inject(tr, "PR_SET_TIMERSLACK", SYS_prctl, PR_SET_TIMERSLACK, t->timerslack_ns, 0, 0, NULL);
	const uint64_t spec[2] = {t->spec_store_bypass, t->spec_indirect_branch};
	for (unsigned which = 0; rc == 0 && which < 2; which++) {
		uint64_t now, want = spec_setting(spec[which]);
		rc = spec_ctrl(tr, which, &now);
		if (rc == 0 && want && spec_setting(now) != want)
			rc = bm_attrs_inject(tr, "PR_SET_SPECULATION_CTRL", SYS_prctl, PR_SET_SPECULATION_CTRL,
					(uint64_t)which, want, 0, NULL);
	}
	if (rc < 0)
		return rc;
	/* A slice of its own equal to the one the thread has (the base slice
	 * of a thread just made) is no change to the kernel, which then leaves
	 * it not the thread's own (kernel/sched/syscalls.c:
	 * __sched_setscheduler returns early when policy, nice and slice are
	 * as asked; only a change sets se.custom_slice).  A first call with
	 * another slice makes the second a change. */
	struct sched_attr_ sa = {.size = sizeof sa, .sched_policy = t->sched_policy, .sched_flags = t->sched_flags,
				 .sched_nice = t->sched_nice, .sched_priority = t->sched_priority,
				 .sched_runtime = t->sched_slice};
	struct sched_attr_ other = sa;
	other.sched_runtime = t->sched_slice < SCHED_SLICE_MAX ? t->sched_slice + 1 : t->sched_slice - 1;
	if (bm_fault(BM_FP_SET_ATTRS) || (t->sched_slice && syscall(SYS_SCHED_SETATTR, tr->tid, &other, 0) < 0) ||
	    syscall(SYS_SCHED_SETATTR, tr->tid, &sa, 0) < 0)
		return bm_error_errno(BM_EXIT_CONFLICT, errno,
				      "thread %d: cannot set its scheduling (policy %u, nice %d, slice %llu ns)", tr->tid,
				      t->sched_policy, t->sched_nice, (unsigned long long)t->sched_slice);
	if (syscall(SYS_ioprio_set, IOPRIO_WHO_PROCESS, tr->tid, t->ioprio) < 0)
		return bm_error_errno(BM_EXIT_CONFLICT, errno, "thread %d: cannot set its I/O priority %#x", tr->tid,
				      t->ioprio);
	return 0;
}

/* The capability bounding set, in one thread (it is per thread). */
static int drop_bounding(uint64_t keep, struct bm_tracee *tr)
{
	for (int cap = 0; cap <= CAP_LAST_CAP_MAX; cap++) {
		if (keep & (1ULL << cap))
			continue;
		long r;
		int rc = bm_inject(tr, SYS_prctl, PR_CAPBSET_DROP, (uint64_t)cap, 0, 0, 0, 0, &r);
		if (rc < 0)
			return rc;
		if (r == -EINVAL)
			break; /* beyond the kernel's last capability */
		if (r < 0)
			return bm_error_errno(BM_EXIT_FAILURE, (int)-r, "PR_CAPBSET_DROP %d in thread %d", cap, tr->tid);
	}
	return 0;
}

/* THP disabled, for all areas or all but those madvise'd MADV_HUGEPAGE
 * (PR_THP_DISABLE_EXCEPT_ADVISED, which a kernel before 6.18 refuses:
 * exit 6, this host cannot give it). */
static int set_thp_disable(struct bm_tracee *leader, uint32_t mode)
{
	long r;
	int rc = bm_inject(leader, SYS_prctl, PR_SET_THP_DISABLE, 1, mode & BM_THP_DISABLE_EXCEPT_ADVISED, 0, 0, 0,
			   &r);
	if (rc == 0 && r < 0 && r > -4096)
		rc = bm_error_errno(BM_EXIT_CONFLICT, (int)-r, "restoring process %d: cannot disable THP%s as it was "
				    "(PR_SET_THP_DISABLE)", leader->tid,
				    mode & BM_THP_DISABLE_EXCEPT_ADVISED ? " except in areas advised MADV_HUGEPAGE" : "");
	return rc;
}

int bm_attrs_apply_before_credentials(const struct bm_attrs *a, struct bm_tracee *const *tracees, size_t n)
{
	if (!a->present)
		return 0;
	pid_t pid = tracees[0]->tid;
	char value[16];
	snprintf(value, sizeof value, "%d", a->oom_score_adj);
	int rc = bm_write_proc_text(pid, "oom_score_adj", value);
	if (rc < 0)
		return bm_error_errno(BM_EXIT_FAILURE, -rc, "cannot set the OOM score adjustment of process %d", pid);
	struct bm_tracee *leader = tracees[0];
	rc = bm_autogroup_apply(pid, a);
	if (rc == 0 && a->thp_disable)
		rc = set_thp_disable(leader, a->thp_disable);
	if (rc == 0 && a->child_subreaper)
		rc = bm_attrs_inject(leader, "PR_SET_CHILD_SUBREAPER", SYS_prctl, PR_SET_CHILD_SUBREAPER, 1, 0, 0, NULL);
	if (rc == 0)
		rc = bm_attrs_inject(leader, "PR_MCE_KILL", SYS_prctl, PR_MCE_KILL,
				a->mce_kill == PR_MCE_KILL_DEFAULT ? PR_MCE_KILL_CLEAR : PR_MCE_KILL_SET,
				a->mce_kill == PR_MCE_KILL_DEFAULT ? 0 : a->mce_kill, 0, NULL);
	if (rc == 0 && a->tsc)
		rc = bm_attrs_inject(leader, "PR_SET_TSC", SYS_prctl, PR_SET_TSC, a->tsc, 0, 0, NULL);
	/* Without MCL_CURRENT this only marks later mappings; the areas that
	 * were locked are locked one by one, as they were. */
	if (rc == 0 && a->mlockall)
		rc = bm_attrs_inject(leader, "mlockall", SYS_mlockall, a->mlockall, 0, 0, 0, NULL);
	for (size_t i = 0; rc == 0 && i < n && i < a->nthreads; i++) {
		rc = apply_thread(&a->threads[i], tracees[i]);
		if (rc == 0)
			rc = drop_bounding(a->cap_bounding, tracees[i]);
		if (rc == 0 && a->securebits)
			rc = bm_attrs_inject(tracees[i], "PR_SET_SECUREBITS", SYS_prctl, PR_SET_SECUREBITS, a->securebits, 0,
					0, NULL);
	}
	return rc;
}

/* A root thread's permitted and effective sets are its bounding set, as
 * after an execve as root; binmig's own are all capabilities. */
static int root_capabilities(uint64_t caps, struct bm_tracee *tr, uint64_t scratch)
{
	struct {
		uint32_t version;
		int32_t pid;
		struct { uint32_t effective, permitted, inheritable; } data[2];
	} set = {LINUX_CAPABILITY_VERSION_3, 0,
		 {{(uint32_t)caps, (uint32_t)caps, 0}, {(uint32_t)(caps >> 32), (uint32_t)(caps >> 32), 0}}};
	int rc = bm_mem_write(tr->tid, scratch, &set, sizeof set);
	if (rc < 0)
		return bm_error_errno(BM_EXIT_FAILURE, -rc, "writing to the scratch page");
	return bm_attrs_inject(tr, "capset", SYS_capset, scratch, scratch + 8, 0, 0, NULL);
}

int bm_attrs_check_pdeath(const struct bm_process *p, const struct bm_process *parent)
{
	const struct bm_attrs *a = &p->attrs;
	for (uint32_t i = 0; i < a->nthreads; i++) {
		const struct bm_thread_attrs *t = &a->threads[i];
		if (!t->pdeath_signal)
			continue;
		if (!parent)
			return bm_error(BM_EXIT_UNSUPPORTED,
					"thread %d asks for signal %d when its parent dies (PR_SET_PDEATHSIG), and its "
					"parent, process %d, is not moved with it: at the destination its parent would "
					"be binmig, whose exit would send the signal%s",
					t->tid, t->pdeath_signal, p->ppid, refusal);
		/* The signal follows the thread that created the process, which
		 * /proc does not name; restored, that is the parent's first. */
		if (parent->nthreads != 1)
			return bm_error(BM_EXIT_UNSUPPORTED,
					"thread %d asks for signal %d when its parent dies (PR_SET_PDEATHSIG), and its "
					"parent, process %d, has %u threads: which of them created it, and so whose exit "
					"sends the signal, cannot be told%s",
					t->tid, t->pdeath_signal, parent->pid, parent->nthreads, refusal);
	}
	return 0;
}

int bm_attrs_apply_after_credentials(const struct bm_attrs *a, struct bm_tracee *const *tracees, size_t n,
				     bool root, uint64_t scratch)
{
	if (!a->present)
		return 0;
	int rc = 0;
	/* A change of credentials clears the parent-death signal: set last. */
	for (size_t i = 0; rc == 0 && i < n && i < a->nthreads; i++)
		if (a->threads[i].pdeath_signal)
			rc = bm_attrs_inject(tracees[i], "PR_SET_PDEATHSIG", SYS_prctl, PR_SET_PDEATHSIG,
					(uint64_t)a->threads[i].pdeath_signal, 0, 0, NULL);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		if (root)
			rc = root_capabilities(a->cap_bounding, tracees[i], scratch);
		if (rc == 0 && a->keepcaps)
			rc = bm_attrs_inject(tracees[i], "PR_SET_KEEPCAPS", SYS_prctl, PR_SET_KEEPCAPS, 1, 0, 0, NULL);
		if (rc == 0 && a->no_new_privs)
			rc = bm_attrs_inject(tracees[i], "PR_SET_NO_NEW_PRIVS", SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, NULL);
	}
	return rc;
}

int bm_attrs_apply_affinity(const struct bm_attrs *a, struct bm_tracee *const *tracees, size_t n)
{
	uint8_t all[BM_AFFINITY_BYTES];
	int rc = bm_attrs_online_cpus(all);
	for (size_t i = 0; rc == 0 && i < n && i < a->nthreads; i++) {
		const struct bm_thread_attrs *t = &a->threads[i];
		cpu_set_t set;
		CPU_ZERO(&set);
		memcpy(&set, t->affinity_all ? all : t->affinity, t->affinity_all ? BM_AFFINITY_BYTES : t->affinity_len);
		if (sched_setaffinity(tracees[i]->tid, sizeof set, &set) < 0)
			rc = bm_error_errno(BM_EXIT_CONFLICT, errno,
					    "thread %d was bound to CPUs this host does not have online", tracees[i]->tid);
	}
	return rc;
}

/* ---- the ATTRS section ---- */

static bool check_attrs(const struct bm_attrs *a, const int32_t *tids, uint32_t ntids, char *why, size_t n)
{
	if (a->oom_score_adj < -1000 || a->oom_score_adj > 1000)
		return bm_why(why, n, "oom_score_adj %d is not in -1000..1000", a->oom_score_adj);
	if (a->no_new_privs > 1 || a->child_subreaper > 1 || a->keepcaps > 1 || a->autogroup_own > 1)
		return bm_why(why, n, "a flag is neither 0 nor 1");
	if (a->thp_disable > 1 && a->thp_disable != (1 | BM_THP_DISABLE_EXCEPT_ADVISED))
		return bm_why(why, n, "THP disable %u is not 0, 1 or 3", a->thp_disable);
	if (a->securebits & ~SECBITS_KNOWN)
		return bm_why(why, n, "securebits %#x have unknown bits", a->securebits);
	if (a->mce_kill > PR_MCE_KILL_DEFAULT)
		return bm_why(why, n, "machine-check policy %u is unknown", a->mce_kill);
	if (a->autogroup_nice < -20 || a->autogroup_nice > 19)
		return bm_why(why, n, "autogroup nice %d is not in -20..19", a->autogroup_nice);
	if (a->tsc > PR_TSC_SIGSEGV)
		return bm_why(why, n, "TSC mode %u is unknown", a->tsc);
	if (a->mlockall && a->mlockall != MCL_FUTURE && a->mlockall != (MCL_FUTURE | MCL_ONFAULT))
		return bm_why(why, n, "mlockall flags %#x", a->mlockall);
	if (a->nthreads != ntids)
		return bm_why(why, n, "%u threads, the image has %u", a->nthreads, ntids);
	for (uint32_t i = 0; i < a->nthreads; i++) {
		const struct bm_thread_attrs *t = &a->threads[i];
		if (t->tid != tids[i])
			return bm_why(why, n, "thread %u is %d, the image's is %d", i, t->tid, tids[i]);
		if (t->sched_policy != SCHED_NORMAL && t->sched_policy != SCHED_FIFO && t->sched_policy != SCHED_RR &&
		    t->sched_policy != SCHED_BATCH && t->sched_policy != SCHED_IDLE)
			return bm_why(why, n, "thread %d: scheduling policy %u is not carried", t->tid, t->sched_policy);
		if (t->sched_flags & ~SCHED_FLAG_RESET_ON_FORK_)
			return bm_why(why, n, "thread %d: scheduling flags %#x", t->tid, t->sched_flags);
		if (t->sched_nice < -20 || t->sched_nice > 19 || t->sched_priority > 99)
			return bm_why(why, n, "thread %d: nice %d or priority %u out of range", t->tid, t->sched_nice,
				   t->sched_priority);
		if (t->affinity_all > 1 || t->affinity_len > BM_AFFINITY_BYTES || (!t->affinity_all && !t->affinity_len))
			return bm_why(why, n, "thread %d: affinity of %u bytes", t->tid, t->affinity_len);
		if (t->pdeath_signal < 0 || t->pdeath_signal > BM_NSIG)
			return bm_why(why, n, "thread %d: parent-death signal %d", t->tid, t->pdeath_signal);
		if (t->ioprio >> 16)
			return bm_why(why, n, "thread %d: I/O priority %#x", t->tid, t->ioprio);
		if (t->cpuid_faulting > 1)
			return bm_why(why, n, "thread %d: CPUID faulting %u is neither 0 nor 1", t->tid, t->cpuid_faulting);
		if (t->sched_slice &&
		    (!fair_policy(t->sched_policy) || t->sched_slice < SCHED_SLICE_MIN || t->sched_slice > SCHED_SLICE_MAX))
			return bm_why(why, n, "thread %d: time slice %llu ns under policy %u", t->tid,
				   (unsigned long long)t->sched_slice, t->sched_policy);
	}
	if (a->mdwe & ~BM_MDWE_KNOWN)
		return bm_why(why, n, "memory-deny-write-execute flags %#x have unknown bits", a->mdwe);
	if (a->memory_merge > 1)
		return bm_why(why, n, "KSM merge-any %u is neither 0 nor 1", a->memory_merge);
	if (a->membarrier & ~BM_MEMBARRIER_KNOWN)
		return bm_why(why, n, "membarrier registrations %#x have unknown bits", a->membarrier);
	if (a->coredump_filter & ~BM_COREDUMP_FILTER_KNOWN)
		return bm_why(why, n, "coredump_filter %#x has unknown bits", a->coredump_filter);
	if (a->futex_slots != BM_FUTEX_SLOTS_UNKNOWN && (a->futex_slots & (a->futex_slots - 1)))
		return bm_why(why, n, "futex hash slots %u is not a power of two", a->futex_slots);
	return true;
}

int bm_encode_attrs(struct bm_wbuf *b, const struct bm_attrs *a, const int32_t *tids, uint32_t ntids, char *why,
		    size_t why_size)
{
	bm_put_u32(b, a->present);
	if (!a->present) /* a model made by hand (tests): nothing was recorded */
		return b->failed ? -ENOMEM : 0;
	if (!check_attrs(a, tids, ntids, why, why_size))
		return -EINVAL;
	bm_put_i32(b, a->oom_score_adj);
	const uint32_t words[] = {a->no_new_privs, a->thp_disable, a->child_subreaper, a->securebits,
				  a->keepcaps,     a->mce_kill,    a->tsc,             a->mlockall};
	for (size_t i = 0; i < sizeof words / sizeof *words; i++)
		bm_put_u32(b, words[i]);
	bm_put_u64(b, a->cap_bounding);
	bm_put_u32(b, a->nthreads);
	for (uint32_t i = 0; i < a->nthreads; i++) {
		const struct bm_thread_attrs *t = &a->threads[i];
		bm_put_i32(b, t->tid);
		bm_put_u64(b, t->timerslack_ns);
		bm_put_u32(b, t->sched_policy);
		bm_put_u32(b, t->sched_flags);
		bm_put_i32(b, t->sched_nice);
		bm_put_u32(b, t->sched_priority);
		bm_put_u32(b, t->ioprio);
		bm_put_u32(b, t->affinity_all);
		bm_put_u32(b, t->affinity_len);
		bm_put_bytes(b, t->affinity, t->affinity_len);
		bm_put_u64(b, t->spec_store_bypass);
		bm_put_u64(b, t->spec_indirect_branch);
		bm_put_i32(b, t->pdeath_signal);
		bm_put_u32(b, t->cpuid_faulting);
	}
	bm_put_u32(b, a->mdwe);
	bm_put_u32(b, a->memory_merge);
	bm_put_u64(b, a->xcomp_perm);
	bm_put_u32(b, a->membarrier);
	bm_put_u32(b, a->coredump_filter);
	bm_put_u32(b, a->loginuid);
	bm_put_u32(b, a->futex_slots);
	for (uint32_t i = 0; i < a->nthreads; i++)
		bm_put_u64(b, a->threads[i].sched_slice);
	bm_put_u64(b, a->xcomp_guest_perm);
	bm_put_u32(b, a->autogroup_own);
	bm_put_i32(b, a->autogroup_nice);
	return b->failed ? -ENOMEM : 0;
}

void bm_decode_attrs(struct bm_rcur *c, struct bm_attrs *a, const int32_t *tids, uint32_t ntids)
{
	memset(a, 0, sizeof *a);
	a->futex_slots = BM_FUTEX_SLOTS_UNKNOWN;
	size_t at = c->pos;
	uint32_t present = bm_get_u32(c);
	if (bm_rcur_failed(c) || present == 0)
		return;
	if (present != 1) {
		bm_rcur_fail_at(c, at, "present is %u, not 0 or 1", present);
		return;
	}
	a->oom_score_adj = bm_get_i32(c);
	uint32_t *words[] = {&a->no_new_privs, &a->thp_disable, &a->child_subreaper, &a->securebits,
			     &a->keepcaps,     &a->mce_kill,    &a->tsc,             &a->mlockall};
	for (size_t i = 0; i < sizeof words / sizeof *words; i++)
		*words[i] = bm_get_u32(c);
	a->cap_bounding = bm_get_u64(c);
	uint32_t n = bm_get_count(c, ntids, 56, "thread count");
	if (bm_rcur_failed(c))
		return;
	a->threads = calloc(n ? n : 1, sizeof *a->threads);
	if (!a->threads) {
		bm_rcur_nomem(c);
		return;
	}
	for (uint32_t i = 0; i < n && !bm_rcur_failed(c); i++) {
		struct bm_thread_attrs *t = &a->threads[i];
		t->tid = bm_get_i32(c);
		t->timerslack_ns = bm_get_u64(c);
		t->sched_policy = bm_get_u32(c);
		t->sched_flags = bm_get_u32(c);
		t->sched_nice = bm_get_i32(c);
		t->sched_priority = bm_get_u32(c);
		t->ioprio = bm_get_u32(c);
		t->affinity_all = bm_get_u32(c);
		at = c->pos;
		t->affinity_len = bm_get_u32(c);
		if (!bm_rcur_failed(c) && t->affinity_len > BM_AFFINITY_BYTES) {
			bm_rcur_fail_at(c, at, "thread %u: affinity of %u bytes, at most %d", i, t->affinity_len,
					BM_AFFINITY_BYTES);
			return;
		}
		bm_get_bytes(c, t->affinity, t->affinity_len);
		t->spec_store_bypass = bm_get_u64(c);
		t->spec_indirect_branch = bm_get_u64(c);
		if (c->version >= 6)
			t->pdeath_signal = bm_get_i32(c);
		if (c->version >= 10)
			t->cpuid_faulting = bm_get_u32(c);
		a->nthreads = i + 1;
	}
	if (c->version >= 10) {
		a->mdwe = bm_get_u32(c);
		a->memory_merge = bm_get_u32(c);
		a->xcomp_perm = bm_get_u64(c);
		a->membarrier = bm_get_u32(c);
		a->coredump_filter = bm_get_u32(c);
		a->loginuid = bm_get_u32(c);
		a->has_modes = true;
	}
	if (c->version >= 12)
		a->futex_slots = bm_get_u32(c);
	for (uint32_t i = 0; c->version >= 12 && i < a->nthreads; i++)
		a->threads[i].sched_slice = bm_get_u64(c);
	if (c->version >= 12) {
		a->xcomp_guest_perm = bm_get_u64(c);
		a->autogroup_own = bm_get_u32(c);
		a->autogroup_nice = bm_get_i32(c);
	}
	char why[200];
	if (!bm_rcur_failed(c) && !check_attrs(a, tids, ntids, why, sizeof why))
		bm_rcur_fail_at(c, 0, "%s", why);
	a->present = !bm_rcur_failed(c);
}

void bm_attrs_free(struct bm_attrs *a)
{
	free(a->threads);
	memset(a, 0, sizeof *a);
}

void bm_attrs_describe(const struct bm_attrs *a, char *buf, size_t len)
{
	if (!a->present) {
		snprintf(buf, len, "not recorded (an image before version 3)");
		return;
	}
	char slots[16] = "not read";
	if (a->futex_slots != BM_FUTEX_SLOTS_UNKNOWN)
		snprintf(slots, sizeof slots, "%u", a->futex_slots);
	snprintf(buf, len,
		 "oom_score_adj %d, no_new_privs %u, THP disabled %u, child subreaper %u, securebits %#x, keep-caps %u, "
		 "MCE kill %u, TSC %u, bounding set %#llx, mlockall %s, memory-deny-write-execute %#x, KSM merge-any %u, "
		 "xstate permitted %#llx (guests %#llx), membarrier %#x, coredump_filter %#x, loginuid %u, futex hash slots %s, "
		 "autogroup nice %d%s",
		 a->oom_score_adj, a->no_new_privs, a->thp_disable, a->child_subreaper, a->securebits, a->keepcaps,
		 a->mce_kill, a->tsc, (unsigned long long)a->cap_bounding,
		 !a->mlockall                  ? "none"
		 : a->mlockall == MCL_FUTURE   ? "future"
					       : "future on-fault",
		 a->mdwe, a->memory_merge, (unsigned long long)a->xcomp_perm, (unsigned long long)a->xcomp_guest_perm,
		 a->membarrier, a->coredump_filter, a->loginuid, slots, a->autogroup_nice,
		 a->autogroup_own ? " (its own session's)" : "");
}
