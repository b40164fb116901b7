/* stateprobe GROUP: reads everything a process and each of its two
 * threads can read about themselves (every query of prctl and arch_prctl
 * of Linux 6.18, sched_getattr, I/O priority, nice, affinity, signal mask,
 * alternate stack, robust list, rseq, registered io_uring rings, keyrings,
 * LSM attributes, a Landlock domain's effect, credentials, capabilities,
 * limits, interval timers, NUMA policy, membarrier registrations, umask,
 * the settable lines of /proc/self/status, stat, sched and the other
 * /proc/self files a process can set), before "ready" and after the
 * wake-up, and fails with one "DIFF KEY: BEFORE | AFTER" line for each
 * value that changed, but the autogroup's number (the kernel's count,
 * docs/process-state.md).  GROUP first sets values a process can set
 * to something else than a new process has (each group alone, so that a
 * refusal of one hides no other):
 *
 *   none       nothing (what every process has)
 *   slice      a time slice of its own (sched_setattr's sched_runtime
 *              under SCHED_OTHER, Linux 6.12) and nice 3 in the second thread
 *   autogroup  a session of its own, its autogroup's nice 7
 *   spec       store bypass disabled in the second thread, indirect
 *              branch speculation force-disabled in the main one
 *   guestperm  AMX tile data for its KVM guests (ARCH_REQ_XCOMP_GUEST_PERM;
 *              CPUs with AMX)
 *   perfoff    PR_TASK_PERF_EVENTS_DISABLE (nothing reads it back)
 * and, refused by a dump (tests/e2e/attrs.sh has their own tests):
 *   keys       a session keyring with a key, a process keyring, a thread
 *              keyring in the second thread
 *   landlock   a Landlock domain (no directory may be made)
 *   iouring    an io_uring registered at index 0, its descriptor closed
 *
 * Prints "ready" when set up, PASS or FAIL at the end. */
#include <pthread.h>
#include <stddef.h>
#include <sched.h>
#include <semaphore.h>
#include <sys/mman.h>
#include <sys/fsuid.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <asm/prctl.h>
/* its struct sched_param is glibc's (sched.h) too */
#define sched_param linux_sched_param
#include <linux/sched/types.h>
#undef sched_param

#include "testprog.h"

extern const ptrdiff_t __rseq_offset;
extern const unsigned int __rseq_size;

#define RSEQ_SIG 0x53053053
#define BUF (64 * 1024)

struct snap {
	char text[BUF];
	size_t len;
};

__attribute__((format(printf, 3, 4))) static void put(struct snap *s, const char *key, const char *fmt, ...)
{
	char value[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(value, sizeof value, fmt, ap);
	va_end(ap);
	int n = snprintf(s->text + s->len, BUF - s->len, "%s\t%s\n", key, value);
	if (n > 0 && (size_t)n < BUF - s->len)
		s->len += (size_t)n;
}

/* A call's result as "RET" or "-ERRNO". */
static void put_ret(struct snap *s, const char *key, long r)
{
	if (r < 0)
		put(s, key, "-%d", errno);
	else
		put(s, key, "%ld", r);
}

static void put_file(struct snap *s, const char *key, const char *path)
{
	char buf[4096];
	ssize_t n = read_file(path, buf, sizeof buf - 1);
	if (n < 0) {
		put(s, key, "-%d", errno);
		return;
	}
	buf[n] = 0;
	for (char *p = buf; *p; p++)
		if (*p == '\n')
			*p = *(p + 1) ? ';' : 0;
	put(s, key, "%s", buf);
}

/* The lines "NAME: VALUE" of a /proc file, each its own key, less those
 * that count (or, with ONLY, just those it names). */
static void put_lines(struct snap *s, const char *prefix, const char *path, const char *const *only)
{
	static const char *const counting[] = {"Vm", "Rss", "voluntary", "nonvoluntary", "Threads", "SigQ", "Tgid",
					       "Pid", "PPid", "TracerPid", "NSpid", "NStgid", "NSpgid", "NSsid",
					       "State", "Kthread", "HugetlbPages", "CoreDumping", "Untag", NULL};
	char buf[8192];
	ssize_t n = read_file(path, buf, sizeof buf - 1);
	if (n <= 0)
		return;
	buf[n] = 0;
	for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
		char *colon = strchr(line, ':');
		if (!colon)
			continue;
		*colon = 0;
		for (char *end = colon; end > line && end[-1] == ' '; *--end = 0)
			;
		bool skip = only != NULL;
		for (int i = 0; !only && counting[i]; i++)
			skip |= strncmp(line, counting[i], strlen(counting[i])) == 0;
		for (int i = 0; only && only[i]; i++)
			skip &= strcmp(line, only[i]) != 0;
		if (skip)
			continue;
		char key[128];
		snprintf(key, sizeof key, "%s%s", prefix, line);
		char *v = colon + 1;
		while (*v == ' ' || *v == '\t')
			v++;
		put(s, key, "%s", v);
	}
}

struct rseq_ {
	uint32_t cpu_id_start, cpu_id;
	uint64_t rseq_cs;
	uint32_t flags, node_id, mm_cid;
};

/* What the calling thread reads about itself. */
static void probe_thread(struct snap *s)
{
	char key[64];
	long r;
	/* prctl's queries that take no pointer and return the value. */
	static const struct { int op; const char *name; } plain[] = {
		{PR_GET_DUMPABLE, "dumpable"}, {PR_GET_KEEPCAPS, "keepcaps"}, {21, "seccomp"},
		{PR_GET_SECUREBITS, "securebits"}, {PR_GET_TIMERSLACK, "timerslack"}, {PR_MCE_KILL_GET, "mce_kill"},
		{PR_GET_NO_NEW_PRIVS, "no_new_privs"}, {PR_GET_THP_DISABLE, "thp_disable"}, {13, "timing"},
		{58, "io_flusher"}, {66, "mdwe"}, {68, "memory_merge"}, {56, "tagged_addr_ctrl"},
		{79, "indir_br_lp_status"}, {5, "unalign"}, {9, "fpemu"}, {11, "fpexc"}, {19, "endian"},
		{46, "fp_mode"}, {51, "sve_vl"}, {64, "sme_vl"}, {61, "pac_keys"}, {70, "riscv_v"},
	};
	for (size_t i = 0; i < sizeof plain / sizeof *plain; i++) {
		snprintf(key, sizeof key, "prctl.%s", plain[i].name);
		errno = 0;
		put_ret(s, key, prctl(plain[i].op, 0, 0, 0, 0));
	}
	/* ... those that write an int or a long. */
	static const struct { int op; const char *name; } ptr[] = {
		{PR_GET_PDEATHSIG, "pdeathsig"}, {PR_GET_CHILD_SUBREAPER, "child_subreaper"}, {PR_GET_TSC, "tsc"},
		{74, "shadow_stack_status"},
	};
	for (size_t i = 0; i < sizeof ptr / sizeof *ptr; i++) {
		unsigned long v = 0;
		snprintf(key, sizeof key, "prctl.%s", ptr[i].name);
		r = prctl(ptr[i].op, &v, 0, 0, 0);
		if (r < 0)
			put(s, key, "-%d", errno);
		else
			put(s, key, "%ld %#lx", r, v);
	}
	for (unsigned which = 0; which < 4; which++) {
		snprintf(key, sizeof key, "prctl.speculation.%u", which);
		put_ret(s, key, prctl(PR_GET_SPECULATION_CTRL, which, 0, 0, 0));
	}
	put_ret(s, "prctl.sched_core", prctl(62, 0, 0, 0, 0)); /* PR_SCHED_CORE_GET of itself */
	put_ret(s, "prctl.timer_create_restore_ids", prctl(77, 2, 0, 0, 0));
	put_ret(s, "prctl.futex_hash_slots", prctl(78, 2, 0, 0, 0));
	put_ret(s, "prctl.futex_hash_immutable", prctl(78, 3, 0, 0, 0));
	put_ret(s, "prctl.dexcr", prctl(72, 0, 0, 0, 0));
	char name[17] = {0};
	prctl(PR_GET_NAME, name, 0, 0, 0);
	put(s, "prctl.name", "%s", name);
	uint64_t capb = 0, amb = 0;
	for (int cap = 0; cap < 64; cap++) {
		if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) == 1)
			capb |= 1ull << cap;
		if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, cap, 0, 0) == 1)
			amb |= 1ull << cap;
	}
	put(s, "prctl.capbset", "%#llx", (unsigned long long)capb);
	put(s, "prctl.ambient", "%#llx", (unsigned long long)amb);
	void *tid_address = NULL;
	r = prctl(40, &tid_address, 0, 0, 0);
	put(s, "prctl.tid_address", "%ld %p", r, tid_address);

	/* arch_prctl's queries. */
	static const struct { int op; const char *name; } arch[] = {
		{0x1003, "fs"}, {0x1004, "gs"}, {0x1011, "cpuid"}, {0x1021, "xcomp_supp"}, {0x1022, "xcomp_perm"},
		{0x1024, "xcomp_guest_perm"}, {0x5005, "shstk_status"}, {0x4001, "untag_mask"},
		{0x4003, "max_tag_bits"},
	};
	for (size_t i = 0; i < sizeof arch / sizeof *arch; i++) {
		unsigned long v = 0;
		snprintf(key, sizeof key, "arch_prctl.%s", arch[i].name);
		r = syscall(SYS_arch_prctl, arch[i].op, &v);
		if (r < 0)
			put(s, key, "-%d", errno);
		else
			put(s, key, "%ld %#lx", r, v);
	}

	struct sched_attr sa = {.size = sizeof sa};
	r = syscall(315, 0, &sa, sizeof sa, 0);
	put(s, "sched_getattr", "%ld policy %u flags %#llx nice %d prio %u runtime %llu deadline %llu period %llu "
	    "util %u-%u", r, sa.sched_policy, (unsigned long long)sa.sched_flags, sa.sched_nice, sa.sched_priority,
	    (unsigned long long)sa.sched_runtime, (unsigned long long)sa.sched_deadline,
	    (unsigned long long)sa.sched_period, sa.sched_util_min, sa.sched_util_max);
	put_ret(s, "ioprio", syscall(SYS_ioprio_get, 1, 0));
	errno = 0;
	r = getpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid));
	put(s, "getpriority", "%ld %d", r, errno);
	cpu_set_t set;
	CPU_ZERO(&set);
	sched_getaffinity(0, sizeof set, &set);
	/* every CPU online (a restore elsewhere gives every CPU there), or which */
	unsigned long mask0 = 0;
	memcpy(&mask0, &set, sizeof mask0);
	if (CPU_COUNT(&set) == sysconf(_SC_NPROCESSORS_ONLN))
		put(s, "affinity", "all online");
	else
		put(s, "affinity", "%#lx", mask0);
	stack_t ss;
	sigaltstack(NULL, &ss);
	put(s, "sigaltstack", "%p %zu %#x", ss.ss_sp, ss.ss_size, ss.ss_flags);
	sigset_t mask;
	sigprocmask(SIG_SETMASK, NULL, &mask);
	put(s, "sigmask", "%#lx", *(unsigned long *)&mask);
	void *head = NULL;
	size_t len = 0;
	r = syscall(SYS_get_robust_list, 0, &head, &len);
	put(s, "robust_list", "%ld %p %zu", r, head, len);

	/* rseq: glibc's registration, updated by the kernel, and busy. */
	struct rseq_ *rs = (struct rseq_ *)((char *)__builtin_thread_pointer() + __rseq_offset);
	bool cpu_ok = false;
	for (int i = 0; i < 1000 && !cpu_ok; i++) {
		unsigned cpu = 0;
		syscall(SYS_getcpu, &cpu, NULL, NULL);
		cpu_ok = rs->cpu_id == cpu && rs->cpu_id_start == cpu;
	}
	put(s, "rseq.size", "%u", __rseq_size);
	put(s, "rseq.cpu_id_follows", "%d", cpu_ok);
	put(s, "rseq.flags", "%u", rs->flags);
	errno = 0;
	r = syscall(SYS_rseq, rs, __rseq_size < 32 ? 32 : __rseq_size, 0, RSEQ_SIG);
	put(s, "rseq.register_again", "%ld %d", r, errno);

	/* an io_uring registered at an index (IORING_ENTER_REGISTERED_RING:
	 * EINVAL without any, EBADF for an empty index) */
	for (int idx = 0; idx < 16; idx++) {
		snprintf(key, sizeof key, "io_uring.registered.%d", idx);
		put_ret(s, key, syscall(426, idx, 0, 0, 16, NULL, 0));
	}
	/* keyrings: which exist, and what they are (their serials differ on
	 * any other host) */
	static const struct { int id; const char *name; } rings[] = {
		{-1, "thread"}, {-2, "process"}, {-3, "session"}, {-4, "user"}, {-5, "user_session"}};
	for (size_t i = 0; i < sizeof rings / sizeof *rings; i++) {
		snprintf(key, sizeof key, "keyring.%s", rings[i].name);
		long id = syscall(SYS_keyctl, 0, rings[i].id, 0); /* KEYCTL_GET_KEYRING_ID, no create */
		if (id < 0) {
			put(s, key, "-%d", errno);
			continue;
		}
		char desc[256] = "";
		syscall(SYS_keyctl, 6, id, desc, sizeof desc - 1); /* KEYCTL_DESCRIBE */
		int32_t keys[16];
		long n = syscall(SYS_keyctl, 11, id, keys, sizeof keys); /* KEYCTL_READ */
		put(s, key, "%s; %ld keys", desc, n < 0 ? -1 : n / 4);
	}
	/* the LSM attributes (lsm_get_self_attr LSM_ATTR_CURRENT) */
	char lsm[512];
	uint32_t lsm_size = sizeof lsm;
	put_ret(s, "lsm_get_self_attr.current", syscall(459, 100, lsm, &lsm_size, 0));
	put_ret(s, "landlock.abi", syscall(444, NULL, 0, 1));
	/* in a Landlock domain without the right to make directories, this
	 * fails with EACCES */
	char dir[64];
	snprintf(dir, sizeof dir, "/tmp/stateprobe-%ld", (long)syscall(SYS_gettid));
	r = mkdir(dir, 0700);
	put(s, "landlock.mkdir", "%ld %d", r, r < 0 ? errno : 0);
	if (r == 0)
		rmdir(dir);

	char path[128];
	snprintf(path, sizeof path, "/proc/self/task/%ld/", (long)syscall(SYS_gettid));
	char *end = path + strlen(path);
	put_lines(s, "status.", strcat(path, "status"), NULL);
	strcpy(end, "comm");
	put_file(s, "comm", path);
	/* stat fields a thread can set: nice 19, priority 18, rt_priority 40,
	 * policy 41, exit_signal 38 */
	static const int fields[] = {18, 19, 38, 40, 41};
	for (size_t i = 0; i < sizeof fields / sizeof *fields; i++) {
		unsigned long long v = 0;
		snprintf(key, sizeof key, "stat.%d", fields[i]);
		self_stat_field(fields[i], &v); /* the process's (leader's) line; good enough for these */
		put(s, key, "%llu", v);
	}
}

/* What only the process as a whole has. */
static void probe_process(struct snap *s)
{
	char key[64];
	for (int res = 0; res < RLIM_NLIMITS; res++) {
		struct rlimit rl;
		getrlimit(res, &rl);
		snprintf(key, sizeof key, "rlimit.%d", res);
		put(s, key, "%llu %llu", (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max);
	}
	for (int which = 0; which < 3; which++) {
		struct itimerval it;
		getitimer(which, &it);
		snprintf(key, sizeof key, "itimer.%d", which);
		put(s, key, "armed %d interval %ld.%06ld", it.it_value.tv_sec || it.it_value.tv_usec,
		    (long)it.it_interval.tv_sec, (long)it.it_interval.tv_usec);
	}
	gid_t groups[64];
	int ng = getgroups(64, groups);
	put(s, "getgroups", "%d first %d", ng, ng > 0 ? (int)groups[0] : -1);
	uid_t ru, eu, su;
	gid_t rg, eg, sg;
	getresuid(&ru, &eu, &su);
	getresgid(&rg, &eg, &sg);
	put(s, "getresuid", "%u %u %u fs %d", ru, eu, su, setfsuid((uid_t)-1));
	put(s, "getresgid", "%u %u %u fs %d", rg, eg, sg, setfsgid((gid_t)-1));
	struct { uint32_t version; int pid; } hdr = {0x20080522, 0};
	struct { uint32_t eff, prm, inh; } data[2] = {{0}};
	syscall(SYS_capget, &hdr, data);
	put(s, "capget", "%#x %#x %#x %#x %#x %#x", data[0].eff, data[0].prm, data[0].inh, data[1].eff, data[1].prm,
	    data[1].inh);
	put(s, "personality", "%#x", personality(0xffffffff));
	int mode = -1;
	unsigned long nodes[16] = {0};
	long r = syscall(SYS_get_mempolicy, &mode, nodes, 1024, NULL, 0);
	put(s, "get_mempolicy", "%ld mode %d nodes %#lx", r, mode, nodes[0]);
	put_ret(s, "membarrier.registrations", syscall(SYS_membarrier, 1 << 9, 0, 0));
	static const char *const files[] = {"limits", "oom_score_adj", "oom_adj", "loginuid", "sessionid",
					   "personality", "coredump_filter", "attr/current",
					   "attr/prev", "attr/exec", "attr/fscreate", "attr/keycreate",
					   "attr/sockcreate", "ksm_stat", "cgroup", "timers", "cmdline", "environ",
					   "make-it-fail", "fail-nth", "projid_map", "setgroups", "comm", "wchan",
					   "cpuset", "timerslack_ns", NULL};
	for (int i = 0; files[i]; i++) {
		char path[64];
		snprintf(path, sizeof path, "/proc/self/%s", files[i]);
		snprintf(key, sizeof key, "proc.%s", files[i]);
		put_file(s, key, path);
	}
	/* of /proc/self/sched the lines a process sets; the rest counts */
	static const char *const set_sched[] = {"policy", "prio", "se.slice", NULL};
	put_lines(s, "proc.sched.", "/proc/self/sched", set_sched);
	/* the autogroup: its number is the kernel's count, its nice the
	 * process's */
	char ag[128] = "";
	ssize_t agn = read_file("/proc/self/autogroup", ag, sizeof ag - 1);
	ag[agn > 0 ? agn : 0] = 0;
	char *nice = strstr(ag, " nice ");
	if (nice)
		*nice = 0;
	put(s, "proc.autogroup_number", "%s", ag);
	put(s, "proc.autogroup_nice", "%s", nice ? nice + 6 : "");
	char buf[16384];
	ssize_t n = read_file("/proc/self/auxv", buf, sizeof buf);
	uint64_t h = 0;
	for (ssize_t i = 0; i < n; i++)
		h = mix64(h ^ (uint8_t)buf[i]);
	put(s, "auxv", "%zd %#llx", n, (unsigned long long)h);
	mode_t mask = umask(0);
	umask(mask);
	put(s, "umask", "%#o", mask);
}

/* ---- the second thread: probes itself when asked ---- */

static sem_t ask, done;
static struct snap *thread_snap;
static const char *group;

static void set_thread(void);

static void *second(void *arg)
{
	(void)arg;
	prctl(PR_SET_NAME, "probe-second", 0, 0, 0);
	set_thread();
	sem_post(&done);
	for (;;) {
		while (sem_wait(&ask) < 0 && errno == EINTR)
			;
		probe_thread(thread_snap);
		sem_post(&done);
	}
	return NULL;
}

static void take(struct snap *proc, struct snap *main_thread, struct snap *other)
{
	proc->len = main_thread->len = other->len = 0;
	probe_process(proc);
	probe_thread(main_thread);
	thread_snap = other;
	sem_post(&ask);
	while (sem_wait(&done) < 0 && errno == EINTR)
		;
}

/* Each line of `after` whose value differs from `before`'s for its key. */
static int compare(const char *who, const struct snap *before, struct snap *after)
{
	int diffs = 0;
	char *saveb = NULL;
	char b[BUF];
	memcpy(b, before->text, before->len);
	b[before->len] = 0;
	after->text[after->len] = 0;
	for (char *line = strtok_r(b, "\n", &saveb); line; line = strtok_r(NULL, "\n", &saveb)) {
		char *tab = strchr(line, '\t');
		*tab = 0;
		const char *found = NULL;
		size_t klen = strlen(line);
		for (const char *p = after->text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
			if (strncmp(p, line, klen) == 0 && p[klen] == '\t') {
				found = p + klen + 1;
				break;
			}
		size_t vlen = found ? strcspn(found, "\n") : 0;
		if (!found || strlen(tab + 1) != vlen || strncmp(found, tab + 1, vlen) != 0) {
			say("DIFF %s.%s: %s | %.*s", who, line, tab + 1, (int)vlen, found ? found : "(gone)");
			/* the kernel's count: a re-created session has a new one */
			diffs += strcmp(line, "proc.autogroup_number") != 0;
		}
	}
	return diffs;
}

/* ---- the setters ---- */

static bool is(const char *g) { return strcmp(group, g) == 0; }

/* Whether this kernel lets a task set speculation control WHICH
 * (PR_SPEC_PRCTL in what PR_GET_SPECULATION_CTRL gives); a note if not. */
static bool spec_choosable(int which, const char *what)
{
	int got = prctl(PR_GET_SPECULATION_CTRL, which, 0, 0, 0);
	if (got >= 0 && (got & PR_SPEC_PRCTL))
		return true;
	say("note: this kernel does not let a task set its %s speculation control (%d): not set", what, got);
	return false;
}

static void set_thread(void)
{
	if (!is("none") && !is("slice") && !is("autogroup") && !is("spec") && !is("guestperm") && !is("perfoff") &&
	    !is("keys") && !is("landlock") && !is("iouring")) {
		say("FAIL: usage: stateprobe none|slice|autogroup|spec|guestperm|perfoff|keys|landlock|iouring");
		exit(2);
	}
	if (is("slice")) {
		struct sched_attr sa = {.size = sizeof sa, .sched_policy = SCHED_OTHER, .sched_nice = 3,
					 .sched_runtime = 2500000};
		SETUP(syscall(314, 0, &sa, 0) == 0, "sched_setattr with a slice");
	}
	if (is("keys"))
		SETUP(syscall(SYS_keyctl, 0, -1, 1) > 0, "a thread keyring");
	if (is("spec") && spec_choosable(0, "store bypass"))
		SETUP(prctl(PR_SET_SPECULATION_CTRL, 0, 4, 0, 0) == 0, "store bypass disabled");
}

static void set_process(void)
{
	if (is("autogroup")) {
		SETUP(setsid() > 0, "setsid");
		int fd = open("/proc/self/autogroup", O_WRONLY);
		SETUP(fd >= 0 && write(fd, "7", 1) == 1, "the autogroup's nice");
		close(fd);
	}
	if (is("keys")) {
		SETUP(syscall(SYS_keyctl, 1, "stateprobe") > 0, "a session keyring");
		SETUP(syscall(SYS_add_key, "user", "stateprobe-key", "secret", 6, -3) > 0, "a key");
		SETUP(syscall(SYS_keyctl, 0, -2, 1) > 0, "a process keyring");
	}
	/* Only where the kernel lets a task choose (PR_SPEC_PRCTL): with its
	 * mitigation off for all (spectre_v2_user=off, STIBP disabled) it
	 * refuses with EPERM, and every task reads the same. */
	if (is("spec") && spec_choosable(1, "indirect branch"))
		SETUP(prctl(PR_SET_SPECULATION_CTRL, 1, 8, 0, 0) == 0, "indirect branch force-disabled");
	if (is("iouring")) {
		uint32_t params[30] = {0};
		int fd = (int)syscall(425, 4, params);
		SETUP(fd >= 0, "io_uring_setup");
		struct { uint32_t offset, resv; uint64_t data; } reg = {(uint32_t)-1, 0, (uint64_t)fd};
		SETUP(syscall(427, fd, 20 /* IORING_REGISTER_RING_FDS */, &reg, 1) == 1, "registering the ring");
		close(fd);
	}
	if (is("perfoff"))
		SETUP(prctl(PR_TASK_PERF_EVENTS_DISABLE, 0, 0, 0, 0) == 0, "PR_TASK_PERF_EVENTS_DISABLE");
	if (is("guestperm"))
		SETUP(syscall(SYS_arch_prctl, 0x1025, 18) == 0, "ARCH_REQ_XCOMP_GUEST_PERM");
	if (is("landlock")) {
		struct { uint64_t fs; uint64_t net; uint64_t scoped; } attr = {.fs = 1ull << 7};
		int fd = (int)syscall(444, &attr, sizeof attr.fs, 0);
		SETUP(fd >= 0, "landlock_create_ruleset");
		SETUP(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0, "no_new_privs");
		SETUP(syscall(446, fd, 0) == 0, "landlock_restrict_self");
		close(fd);
	}
}

static struct snap before[3], after[3];

int main(int argc, char **argv)
{
	group = argc > 1 ? argv[1] : "none";
	usr1_setup();
	set_process();
	sem_init(&ask, 0, 0);
	sem_init(&done, 0, 0);
	pthread_t t;
	SETUP(pthread_create(&t, NULL, second, NULL) == 0, "pthread_create");
	while (sem_wait(&done) < 0 && errno == EINTR)
		;
	take(&before[0], &before[1], &before[2]);
	say("ready");
	usr1_wait();
	take(&after[0], &after[1], &after[2]);
	int diffs = compare("process", &before[0], &after[0]) + compare("main", &before[1], &after[1]) +
		    compare("second", &before[2], &after[2]);
	CHECK(diffs == 0, "%d values differ", diffs);
	if (getenv("STATEPROBE_PRINT"))
		tp_write_all(1, after[0].text, after[0].len), tp_write_all(1, after[1].text, after[1].len),
			tp_write_all(1, after[2].text, after[2].len);
	return tp_finish();
}
