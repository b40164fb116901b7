/* attrs MODE: the process and thread attributes binmig carries, or the
 * ones it must refuse.
 *
 *   carried    oom_score_adj 345; nice 7; I/O priority best-effort 4;
 *              timer slack 123456 ns; THP disabled; child subreaper;
 *              keep-caps; machine-check kill early; securebits
 *              NO_SETUID_FIXUP; CAP_SYS_BOOT dropped from the bounding,
 *              permitted and effective sets; no_new_privs; and a second
 *              thread with SCHED_BATCH and reset-on-fork, nice 3, a time slice of its own
 *              (2.5 ms, Linux 6.12), timer slack 777 ns, bound to one CPU;
 *              mlockall(MCL_FUTURE | MCL_ONFAULT); the
 *              restore-ids mode of timer_create (Linux 6.15 or later); the
 *              global futex hash instead of a private one (PR_FUTEX_HASH
 *              slots 0, Linux 6.17, set once both threads exist).  After
 *              SIGUSR1 each is checked (the second thread checks its own,
 *              a new mapping must come locked on fault), PASS or FAIL.
 *   lockall    mlockall(MCL_FUTURE): a new mapping must come locked and
 *              populated
 *   baseslice  a second thread whose time slice is its own and exactly
 *              the base slice (Linux 6.12; set in two calls, as one with
 *              the slice a thread has changes nothing), the main thread's
 *              none; says "base slice N" before "ready".  Only the
 *              kernel's task structure tells it from none (tests/e2e/
 *              attrs.sh reads it with binmig's BPF reader); the thread
 *              checks that its slice reads as the base one still.
 *   creds      real/effective/saved uid 1000/1001/1002, gids 2000/2001/2002,
 *              supplementary groups 3000 and 3001, RLIMIT_NOFILE 100/900
 *              and RLIMIT_CORE 0/4096 (a root process that
 *              gave up root): the same ids, and no capabilities
 *   seccomp    runs under a seccomp filter that allows everything
 *   pdeathsig  asks for SIGTERM when its parent dies
 *   caps       has dropped CAP_SYS_BOOT from its effective set only
 *   numa       has a NUMA memory policy (MPOL_PREFERRED, node 0)
 *   mbind      has an area bound to node 0 (mbind MPOL_BIND)
 *   threadcreds  a thread with an effective uid of its own (raw setresuid)
 *   threadfs   a thread with a cwd and umask of its own (unshare CLONE_FS)
 *   threadfiles  a thread with a descriptor table of its own (unshare
 *              CLONE_FILES) in which it opened a file
 *   landlock   as user 65534 with no_new_privs, a thread in a Landlock
 *              domain of its own (no directory may be made), the main
 *              thread in none
 *   threadkeyring  a thread with a thread keyring (keyctl)
 *   processkeyring  a process keyring
 *   sessionkeys  a session keyring of its own holding a key
 *   iouring    a thread with an io_uring registered (IORING_REGISTER_RING_FDS)
 *              at index 3, its descriptor closed
 *   securebits  SECBIT_KEEP_CAPS, then user 65534 (not root: securebits
 *              binmig does not set again)
 *   deadline   runs under SCHED_DEADLINE (1 ms every 100 ms)
 * The refused modes only print "ready" and wait (binmig must refuse
 * them); SIGUSR1 makes them exit with PASS. */
#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <sched.h>
#include <stddef.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "testprog.h"

#define IOPRIO_WHO_PROCESS 1
#define IOPRIO_BE4 ((2 << 13) | 4)
#define CAP_BOOT_BIT (1ULL << CAP_SYS_BOOT)
/* prctl PR_TIMER_CREATE_RESTORE_IDS (Linux 6.15) and its arguments. */
#define TIMER_RESTORE_IDS 77
#define TIMER_RESTORE_IDS_ON 1
#define TIMER_RESTORE_IDS_GET 2
/* prctl PR_FUTEX_HASH (Linux 6.17) and its arguments. */
#define FUTEX_HASH 78
#define FUTEX_HASH_SET_SLOTS 1
#define FUTEX_HASH_GET_SLOTS 2

struct sched_attr_ {
	uint32_t size, sched_policy;
	uint64_t sched_flags;
	int32_t sched_nice;
	uint32_t sched_priority;
	uint64_t runtime, deadline, period;
	uint32_t util_min, util_max;
};

static int go[2], done[2];
static int first_cpu;

static bool caps_of(uint64_t *eff, uint64_t *prm)
{
	struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct d[2];
	if (syscall(SYS_capget, &h, d) != 0)
		return false;
	*eff = d[0].effective | (uint64_t)d[1].effective << 32;
	*prm = d[0].permitted | (uint64_t)d[1].permitted << 32;
	return true;
}

static bool drop_cap(bool from_permitted)
{
	struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct d[2];
	if (syscall(SYS_capget, &h, d) != 0)
		return false;
	d[0].effective &= ~(1u << CAP_SYS_BOOT);
	if (from_permitted)
		d[0].permitted &= ~(1u << CAP_SYS_BOOT);
	return syscall(SYS_capset, &h, d) == 0;
}

/* The second thread: sets its own attributes, then checks them when main
 * says so, and answers with the number of failed checks. */
static void *second(void *unused)
{
	(void)unused;
	struct sched_attr_ sa = {.size = sizeof sa, .sched_policy = SCHED_BATCH, .sched_flags = 0x01 /* RESET_ON_FORK */,
				 .sched_nice = 3, .runtime = 2500000};
	cpu_set_t one;
	CPU_ZERO(&one);
	CPU_SET(first_cpu, &one);
	char ok = syscall(SYS_sched_setattr, 0, &sa, 0) == 0 && prctl(PR_SET_TIMERSLACK, 777) == 0 &&
		  sched_setaffinity(0, sizeof one, &one) == 0;
	/* the slice as this kernel shows it: 0 before Linux 6.12 */
	struct sched_attr_ set = {0};
	ok = ok && syscall(SYS_sched_getattr, 0, &set, sizeof set, 0) == 0 &&
	     (set.runtime == 2500000 || set.runtime == 0);
	tp_write_all(done[1], &ok, 1);
	char c;
	if (read(go[0], &c, 1) != 1)
		return NULL;
	int before = tp_failures;
	struct sched_attr_ now = {0};
	CHECK(syscall(SYS_sched_getattr, 0, &now, sizeof now, 0) == 0 && now.sched_policy == SCHED_BATCH &&
		      now.sched_nice == 3 && (now.sched_flags & 0x01),
	      "second thread: policy %u nice %d flags %#llx, expected SCHED_BATCH, 3 and reset-on-fork", now.sched_policy,
	      now.sched_nice, (unsigned long long)now.sched_flags);
	CHECK(now.runtime == set.runtime, "second thread: time slice %llu ns, was %llu", (unsigned long long)now.runtime,
	      (unsigned long long)set.runtime);
	CHECK(prctl(PR_GET_TIMERSLACK) == 777, "second thread: timer slack %d", prctl(PR_GET_TIMERSLACK));
	cpu_set_t got;
	CHECK(sched_getaffinity(0, sizeof got, &got) == 0 && CPU_EQUAL(&got, &one), "second thread: its CPUs");
	char failed = (char)(tp_failures - before);
	tp_write_all(done[1], &failed, 1);
	return NULL;
}

/* Whether a mapping made now comes locked, on fault or not as asked. */
static bool later_mapping_locked(bool on_fault)
{
	void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return false;
	char flags[256];
	tp_vmflags(p, flags, sizeof flags);
	unsigned char resident = 0;
	bool ok = tp_has_vmflag(flags, "lo") && tp_has_vmflag(flags, "lf") == on_fault &&
		  mincore(p, 4096, &resident) == 0 && (resident & 1) == !on_fault;
	if (!ok)
		say("a new mapping: VmFlags \"%s\", %s", flags, resident & 1 ? "resident" : "not resident");
	munmap(p, 4096);
	return ok;
}

/* mlockall(MCL_FUTURE) alone: later mappings locked and populated. */
static int lockall(void)
{
	SETUP(mlockall(MCL_FUTURE) == 0, "mlockall");
	say("ready");
	usr1_wait();
	CHECK(later_mapping_locked(false), "mlockall(MCL_FUTURE) lost");
	return tp_finish();
}

/* baseslice's second thread: its own slice, exactly BASE; answers 1 once
 * set, then, told to, the number of failed checks. */
static void *own_base_slice(void *arg)
{
	uint64_t base = *(const uint64_t *)arg;
	struct sched_attr_ sa = {.size = sizeof sa, .sched_policy = SCHED_OTHER, .runtime = base + 1};
	char ok = syscall(SYS_sched_setattr, 0, &sa, 0) == 0;
	sa.runtime = base;
	ok = ok && syscall(SYS_sched_setattr, 0, &sa, 0) == 0;
	tp_write_all(done[1], &ok, 1);
	char c;
	if (read(go[0], &c, 1) != 1)
		return NULL;
	struct sched_attr_ now = {0};
	char failed = syscall(SYS_sched_getattr, 0, &now, sizeof now, 0) != 0 || now.runtime != base;
	if (failed)
		say("second thread: time slice %llu ns, expected %llu", (unsigned long long)now.runtime,
		    (unsigned long long)base);
	tp_write_all(done[1], &failed, 1);
	return NULL;
}

static int baseslice(void)
{
	SETUP(pipe(go) == 0 && pipe(done) == 0, "pipe");
	struct sched_attr_ sa = {.size = sizeof sa};
	SETUP(syscall(SYS_sched_getattr, 0, &sa, sizeof sa, 0) == 0 && sa.runtime, "the base time slice (Linux 6.12)");
	uint64_t base = sa.runtime;
	pthread_t t;
	SETUP(pthread_create(&t, NULL, own_base_slice, &base) == 0, "pthread_create");
	char ok = 0, failed = 1;
	SETUP(read(done[0], &ok, 1) == 1 && ok, "the second thread's slice");
	say("base slice %llu", (unsigned long long)base);
	say("ready");
	usr1_wait();
	CHECK(write(go[1], "g", 1) == 1 && read(done[0], &failed, 1) == 1 && failed == 0, "the second thread's slice");
	pthread_join(t, NULL);
	return tp_finish();
}

static int carried(void)
{
	SETUP(pipe(go) == 0 && pipe(done) == 0, "pipe");
	cpu_set_t mine;
	SETUP(sched_getaffinity(0, sizeof mine, &mine) == 0, "sched_getaffinity");
	for (first_cpu = 0; !CPU_ISSET(first_cpu, &mine); first_cpu++)
		;
	int fd = open("/proc/self/oom_score_adj", O_WRONLY);
	SETUP(fd >= 0 && write(fd, "345", 3) == 3, "oom_score_adj");
	close(fd);
	SETUP(setpriority(PRIO_PROCESS, 0, 7) == 0, "nice");
	SETUP(syscall(SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, IOPRIO_BE4) == 0, "ioprio_set");
	SETUP(prctl(PR_SET_TIMERSLACK, 123456) == 0, "PR_SET_TIMERSLACK");
	SETUP(prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0) == 0, "PR_SET_THP_DISABLE");
	SETUP(prctl(PR_SET_CHILD_SUBREAPER, 1) == 0, "PR_SET_CHILD_SUBREAPER");
	SETUP(prctl(PR_MCE_KILL, PR_MCE_KILL_SET, PR_MCE_KILL_EARLY, 0, 0) == 0, "PR_MCE_KILL");
	/* A kernel without the mode says EINVAL, and binmig has nothing to carry. */
	bool restore_ids = prctl(TIMER_RESTORE_IDS, TIMER_RESTORE_IDS_ON, 0, 0, 0) == 0;
	SETUP(restore_ids || errno == EINVAL, "PR_TIMER_CREATE_RESTORE_IDS");
	/* Credentials and their flags are per thread: set before the second
	 * thread exists, so that it inherits them (binmig refuses threads
	 * whose own differ). */
	SETUP(prctl(PR_SET_SECUREBITS, 0x4 /* SECBIT_NO_SETUID_FIXUP */) == 0, "PR_SET_SECUREBITS");
	SETUP(prctl(PR_SET_KEEPCAPS, 1) == 0, "PR_SET_KEEPCAPS"); /* bit 0x10 of securebits */
	SETUP(prctl(PR_CAPBSET_DROP, CAP_SYS_BOOT) == 0 && drop_cap(true), "dropping CAP_SYS_BOOT");
	SETUP(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0, "PR_SET_NO_NEW_PRIVS");
	pthread_t t;
	SETUP(pthread_create(&t, NULL, second, NULL) == 0, "pthread_create");
	char ok = 0;
	SETUP(read(done[0], &ok, 1) == 1 && ok, "the second thread's attributes");
	uint64_t eff0, prm0;
	SETUP(caps_of(&eff0, &prm0), "capget");
	SETUP(mlockall(MCL_FUTURE | MCL_ONFAULT) == 0, "mlockall");
	/* The kernel gave the process a private hash with its second thread. */
	bool global_hash = prctl(FUTEX_HASH, FUTEX_HASH_SET_SLOTS, 0, 0, 0) == 0;
	SETUP(global_hash || errno == EINVAL, "PR_FUTEX_HASH");

	say("ready");
	usr1_wait();

	char buf[32] = {0};
	CHECK(read_file("/proc/self/oom_score_adj", buf, sizeof buf) > 0 && atoi(buf) == 345, "oom_score_adj %s", buf);
	errno = 0;
	int nice = getpriority(PRIO_PROCESS, 0);
	CHECK(nice == 7, "nice %d", nice);
	long io = syscall(SYS_ioprio_get, IOPRIO_WHO_PROCESS, 0);
	CHECK(io == IOPRIO_BE4, "I/O priority %#lx", io);
	CHECK(prctl(PR_GET_TIMERSLACK) == 123456, "timer slack %d", prctl(PR_GET_TIMERSLACK));
	CHECK(prctl(PR_GET_THP_DISABLE, 0, 0, 0, 0) == 1, "THP not disabled");
	int sub = 0;
	CHECK(prctl(PR_GET_CHILD_SUBREAPER, &sub) == 0 && sub == 1, "not a child subreaper");
	CHECK(prctl(PR_GET_KEEPCAPS) == 1, "keep-caps lost");
	CHECK(prctl(PR_MCE_KILL_GET, 0, 0, 0, 0) == PR_MCE_KILL_EARLY, "machine-check policy %d",
	      prctl(PR_MCE_KILL_GET, 0, 0, 0, 0));
	CHECK(prctl(PR_GET_SECUREBITS) == 0x14, "securebits %#x", prctl(PR_GET_SECUREBITS));
	CHECK(!restore_ids || prctl(TIMER_RESTORE_IDS, TIMER_RESTORE_IDS_GET, 0, 0, 0) == 1,
	      "restore-ids mode of timer_create lost");
	CHECK(prctl(PR_CAPBSET_READ, CAP_SYS_BOOT) == 0, "CAP_SYS_BOOT is back in the bounding set");
	uint64_t eff, prm;
	CHECK(caps_of(&eff, &prm) && eff == eff0 && prm == prm0, "capabilities %#llx/%#llx, were %#llx/%#llx",
	      (unsigned long long)eff, (unsigned long long)prm, (unsigned long long)eff0, (unsigned long long)prm0);
	CHECK(prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1, "no_new_privs lost");
	CHECK(later_mapping_locked(true), "mlockall(MCL_FUTURE | MCL_ONFAULT) lost");
	CHECK(!global_hash || prctl(FUTEX_HASH, FUTEX_HASH_GET_SLOTS, 0, 0, 0) == 0, "a private futex hash of %d slots",
	      prctl(FUTEX_HASH, FUTEX_HASH_GET_SLOTS, 0, 0, 0));
	cpu_set_t now;
	CHECK(sched_getaffinity(0, sizeof now, &now) == 0 && CPU_COUNT(&now) >= 1, "main thread's CPUs");
	char failed = 1;
	CHECK(write(go[1], "c", 1) == 1 && read(done[0], &failed, 1) == 1 && failed == 0,
	      "the second thread's checks failed");
	pthread_join(t, NULL);
	return tp_finish();
}

static int creds(void)
{
	gid_t groups[] = {3000, 3001};
	/* Lowered limits: an unprivileged process's limits cannot be read or
	 * set with prlimit by a tracer lacking CAP_SYS_RESOURCE. */
	struct rlimit nofile = {100, 900}, core = {0, 4096};
	SETUP(setrlimit(RLIMIT_NOFILE, &nofile) == 0 && setrlimit(RLIMIT_CORE, &core) == 0, "lowering limits");
	SETUP(setgroups(2, groups) == 0 && setresgid(2000, 2001, 2002) == 0 && setresuid(1000, 1001, 1002) == 0,
	      "setting the credentials");
	say("ready");
	usr1_wait();
	uid_t r, e, s;
	gid_t rg, eg, sg, got[8];
	CHECK(getresuid(&r, &e, &s) == 0 && r == 1000 && e == 1001 && s == 1002, "uids %u %u %u", r, e, s);
	CHECK(getresgid(&rg, &eg, &sg) == 0 && rg == 2000 && eg == 2001 && sg == 2002, "gids %u %u %u", rg, eg, sg);
	int n = getgroups(8, got);
	CHECK(n == 2 && got[0] == 3000 && got[1] == 3001, "%d supplementary groups", n);
	struct rlimit rl;
	CHECK(getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur == 100 && rl.rlim_max == 900, "RLIMIT_NOFILE %llu/%llu",
	      (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max);
	CHECK(getrlimit(RLIMIT_CORE, &rl) == 0 && rl.rlim_cur == 0 && rl.rlim_max == 4096, "RLIMIT_CORE %llu/%llu",
	      (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max);
	uint64_t eff, prm;
	CHECK(caps_of(&eff, &prm) && eff == 0 && prm == 0, "capabilities %#llx/%#llx", (unsigned long long)eff,
	      (unsigned long long)prm);
	return tp_finish();
}

/* threadcreds, threadfs, threadfiles: a thread that takes another
 * effective uid by the raw system call (glibc's setresuid would change
 * every thread), or a cwd and umask, or a descriptor table of its own,
 * says so on the pipe, and waits for the process to end. */
static int own_uid_ready[2];

static bool own_state(const char *mode)
{
	if (strcmp(mode, "threadfs") == 0)
		return unshare(CLONE_FS) == 0 && chdir("/tmp") == 0 && (umask(077), true);
	if (strcmp(mode, "threadfiles") == 0)
		return unshare(CLONE_FILES) == 0 && open("/dev/null", O_RDONLY) >= 0;
	if (strcmp(mode, "threadkeyring") == 0)
		return syscall(SYS_keyctl, 0 /* KEYCTL_GET_KEYRING_ID */, -1 /* thread */, 1 /* create */) > 0;
	if (strcmp(mode, "iouring") == 0) {
		uint32_t params[30] = {0}; /* struct io_uring_params */
		int fd = (int)syscall(425 /* io_uring_setup */, 4, params);
		struct { uint32_t offset, resv; uint64_t data; } reg = {3, 0, (uint64_t)fd};
		return fd >= 0 && syscall(427 /* io_uring_register */, fd, 20 /* IORING_REGISTER_RING_FDS */, &reg, 1) == 1 &&
		       close(fd) == 0;
	}
	if (strcmp(mode, "landlock") == 0) {
		uint64_t handled = 1ull << 7; /* LANDLOCK_ACCESS_FS_MAKE_DIR */
		int fd = (int)syscall(444 /* landlock_create_ruleset */, &handled, sizeof handled, 0);
		return fd >= 0 && syscall(446 /* landlock_restrict_self */, fd, 0) == 0 && close(fd) == 0 &&
		       mkdir("/tmp/attrs-landlock", 0700) < 0 && errno == EACCES;
	}
	return syscall(SYS_setresuid, -1, 65534, -1) == 0;
}

static void *own_uid_thread(void *arg)
{
	char ok = own_state(arg) ? 'y' : 'n';
	if (write(own_uid_ready[1], &ok, 1) != 1)
		_exit(3);
	for (;;)
		pause();
	return NULL;
}

static int refused(const char *mode)
{
	SETUP(pipe(own_uid_ready) == 0, "pipe");
	if (strcmp(mode, "seccomp") == 0) {
		struct sock_filter allow[] = {BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)};
		struct sock_fprog prog = {1, allow};
		SETUP(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 &&
			      syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) == 0,
		      "seccomp");
	} else if (strcmp(mode, "seccompkill") == 0) {
		/* Kills the process on mmap, which binmig's scratch page would be:
		 * the refusal must come before anything is injected. */
		struct sock_filter kill_mmap[] = {
			BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
			BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_mmap, 0, 1),
			BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
			BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		};
		struct sock_fprog prog = {4, kill_mmap};
		SETUP(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 &&
			      syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) == 0,
		      "seccomp");
	} else if (strcmp(mode, "pdeathsig") == 0) {
		SETUP(prctl(PR_SET_PDEATHSIG, SIGTERM) == 0, "PR_SET_PDEATHSIG");
	} else if (strcmp(mode, "caps") == 0) {
		SETUP(drop_cap(false), "capset");
	} else if (strcmp(mode, "numa") == 0) {
		unsigned long node0 = 1;
		SETUP(syscall(SYS_set_mempolicy, 1 /* MPOL_PREFERRED */, &node0, 64) == 0, "set_mempolicy");
	} else if (strcmp(mode, "threadcreds") == 0 || strcmp(mode, "threadfs") == 0 ||
		   strcmp(mode, "threadfiles") == 0 || strcmp(mode, "landlock") == 0 ||
		   strcmp(mode, "threadkeyring") == 0 || strcmp(mode, "iouring") == 0) {
		if (strcmp(mode, "landlock") == 0)
			SETUP(setresgid(65534, 65534, 65534) == 0 && setresuid(65534, 65534, 65534) == 0 &&
				      prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0,
			      "user 65534, no_new_privs");
		pthread_t t;
		SETUP(pthread_create(&t, NULL, own_uid_thread, (void *)mode) == 0, "pthread_create");
		char c;
		SETUP(read(own_uid_ready[0], &c, 1) == 1 && c == 'y', "the thread's own state");
	} else if (strcmp(mode, "processkeyring") == 0) {
		SETUP(syscall(SYS_keyctl, 0 /* KEYCTL_GET_KEYRING_ID */, -2 /* process */, 1 /* create */) > 0,
		      "a process keyring");
	} else if (strcmp(mode, "sessionkeys") == 0) {
		SETUP(syscall(SYS_keyctl, 1 /* KEYCTL_JOIN_SESSION_KEYRING */, "attrs-session") > 0 &&
			      syscall(SYS_add_key, "user", "attrs-key", "secret", 6, -3 /* session */) > 0,
		      "a session keyring with a key");
	} else if (strcmp(mode, "securebits") == 0) {
		/* Kept across setuid (only an execve clears it): securebits in
		 * a process that is not root, its kept capabilities dropped. */
		struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
		struct __user_cap_data_struct none[2] = {{0}};
		SETUP(prctl(PR_SET_SECUREBITS, 0x10 /* SECBIT_KEEP_CAPS */) == 0 && setresgid(65534, 65534, 65534) == 0 &&
			      setresuid(65534, 65534, 65534) == 0 && syscall(SYS_capset, &h, none) == 0 &&
			      prctl(PR_GET_SECUREBITS) == 0x10,
		      "SECBIT_KEEP_CAPS, user 65534");
	} else if (strcmp(mode, "deadline") == 0) {
		struct {
			uint32_t size, policy;
			uint64_t flags;
			int32_t nice;
			uint32_t priority;
			uint64_t runtime, deadline, period;
		} attr = {48, 6 /* SCHED_DEADLINE */, 0, 0, 0, 1000000, 100000000, 100000000};
		/* The kernel admits a deadline task only where it may run on
		 * every CPU of its root domain: not where a test run is pinned
		 * (taskset), so every CPU first. */
		cpu_set_t all;
		CPU_ZERO(&all);
		for (int cpu = 0; cpu < CPU_SETSIZE; cpu++)
			CPU_SET(cpu, &all);
		SETUP(sched_setaffinity(0, sizeof all, &all) == 0, "sched_setaffinity(every CPU)");
		SETUP(syscall(SYS_sched_setattr, 0, &attr, 0) == 0, "sched_setattr(SCHED_DEADLINE)");
	} else if (strcmp(mode, "mbind") == 0) {
		unsigned long node0 = 1;
		void *area = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		SETUP(area != MAP_FAILED && syscall(SYS_mbind, area, 1 << 20, 2 /* MPOL_BIND */, &node0, 64, 0) == 0, "mbind");
	} else {
		say("FAIL: usage: attrs carried|creds|lockall|baseslice|seccomp|seccompkill|pdeathsig|caps|numa|mbind|"
		    "threadcreds|threadfs|threadfiles|landlock|threadkeyring|processkeyring|sessionkeys|iouring|"
		    "securebits|deadline");
		return 2;
	}
	say("ready");
	usr1_wait();
	return tp_finish();
}

int main(int argc, char **argv)
{
	usr1_setup();
	if (argc == 2 && strcmp(argv[1], "carried") == 0)
		return carried();
	if (argc == 2 && strcmp(argv[1], "creds") == 0)
		return creds();
	if (argc == 2 && strcmp(argv[1], "lockall") == 0)
		return lockall();
	if (argc == 2 && strcmp(argv[1], "baseslice") == 0)
		return baseslice();
	return refused(argc == 2 ? argv[1] : "");
}
