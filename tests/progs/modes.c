/* modes carried|noinherit|dispatch|tiles: the modes the kernel keeps on how a
 * process's code runs and its memory is shared (migrator/attrs_modes.h).
 *
 * carried: a writable and executable area mapped first, then
 * memory-deny-write-execute (PR_SET_MDWE), KSM for all memory
 * (PR_SET_MEMORY_MERGE) with one area made unmergeable again, a second
 * thread whose CPUID faults (ARCH_SET_CPUID 0) while the main thread's
 * does not, membarrier registrations, a coredump_filter, a login uid and
 * the permission to use AMX tiles (ARCH_REQ_XCOMP_PERM), for itself and
 * for its KVM guests (ARCH_REQ_XCOMP_GUEST_PERM), THP disabled
 * except in areas advised MADV_HUGEPAGE (PR_THP_DISABLE_EXCEPT_ADVISED,
 * Linux 6.18) and a private futex hash of 128 slots (PR_FUTEX_HASH, Linux
 * 6.17; the kernel would give this process of two threads 16).  After the
 * wake-up (SIGUSR1, testprog.h) each must be as it was: the modes read
 * back, a new writable and executable mapping is refused, the unmergeable
 * area is still so while the others and a new one are mergeable, CPUID
 * faults in the second thread only, an expedited membarrier works.  A mode
 * this kernel or CPU cannot give is said and left out.
 *
 * noinherit: carried, its memory-deny-write-execute with
 * PR_MDWE_NO_INHERIT (children made later would not get it).
 *
 * dispatch: syscall user dispatch on (PR_SET_SYSCALL_USER_DISPATCH), which
 * a dump refuses; after the wake-up a system call with the selector set to
 * block must still reach the SIGSYS handler.
 *
 * tiles (CPUs with AMX only): tile data in use, which a dump refuses;
 * after the wake-up the tile still holds what was loaded.
 *
 * Prints "ready" when set up. */
#include <pthread.h>
#include <setjmp.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <asm/prctl.h>

#include "testprog.h"

#ifndef PR_GET_MDWE
#define PR_SET_MDWE 65
#define PR_GET_MDWE 66
#define PR_MDWE_REFUSE_EXEC_GAIN 1
#endif
#ifndef PR_MDWE_NO_INHERIT
#define PR_MDWE_NO_INHERIT 2
#endif
#ifndef PR_GET_MEMORY_MERGE
#define PR_SET_MEMORY_MERGE 67
#define PR_GET_MEMORY_MERGE 68
#endif
#ifndef PR_SET_SYSCALL_USER_DISPATCH
#define PR_SET_SYSCALL_USER_DISPATCH 59
#define PR_SYS_DISPATCH_ON 1
#endif
#define THP_DISABLE_EXCEPT_ADVISED (1 << 1)
#define FUTEX_HASH 78
#define FUTEX_HASH_SET_SLOTS 1
#define FUTEX_HASH_GET_SLOTS 2
#define FUTEX_SLOTS 128
#define ARCH_GET_XCOMP_PERM_ 0x1022
#define ARCH_REQ_XCOMP_PERM_ 0x1023
#define ARCH_GET_XCOMP_GUEST_PERM_ 0x1024
#define ARCH_REQ_XCOMP_GUEST_PERM_ 0x1025
#define XTILEDATA 18
#define MEMBARRIER_QUERY 0
#define MEMBARRIER_PRIVATE_EXPEDITED (1 << 3)
#define MEMBARRIER_REGISTER_PRIVATE_EXPEDITED (1 << 4)
#define MEMBARRIER_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE (1 << 6)
#define MEMBARRIER_GET_REGISTRATIONS (1 << 9)
#define LOGINUID 4242u
#define DISPATCH_ALLOW 0
#define DISPATCH_BLOCK 1

#define AREA (64 * 4096)

static bool mdwe, merge, cpuid;

/* ---- CPUID faulting, tried in the second thread ---- */

static __thread sigjmp_buf cpuid_jump;
static __thread volatile bool in_cpuid;

static void on_segv(int sig)
{
	(void)sig;
	if (!in_cpuid)
		_exit(3);
	siglongjmp(cpuid_jump, 1);
}

/* Whether CPUID faults in the calling thread. */
static bool cpuid_faults(void)
{
	if (sigsetjmp(cpuid_jump, 1)) {
		in_cpuid = false;
		return true;
	}
	in_cpuid = true;
	unsigned a = 0, b, c = 0, d;
	__asm__ volatile("cpuid" : "+a"(a), "=b"(b), "+c"(c), "=d"(d));
	in_cpuid = false;
	return false;
}

static int go[2], done[2];

static void *faulting_thread(void *arg)
{
	(void)arg;
	char ok = syscall(SYS_arch_prctl, ARCH_SET_CPUID, 0) == 0 ? 'y' : errno == ENODEV ? 'n' : 'e';
	if (write(done[1], &ok, 1) != 1 || read(go[0], &ok, 1) != 1)
		_exit(3);
	char failed = 0;
	if (cpuid) {
		long enabled = syscall(SYS_arch_prctl, ARCH_GET_CPUID, 0);
		failed |= enabled != 0;
		failed |= !cpuid_faults();
		if (failed)
			say("FAIL: the second thread: ARCH_GET_CPUID %ld, CPUID %s", enabled,
			    cpuid_faults() ? "faults" : "runs");
	}
	if (write(done[1], &failed, 1) != 1)
		_exit(3);
	return NULL;
}

static bool mergeable(void *addr)
{
	char flags[256];
	tp_vmflags(addr, flags, sizeof flags);
	return tp_has_vmflag(flags, "mg");
}

/* ---- membarrier, coredump_filter, loginuid, AMX permission ---- */

static long registrations = -1; /* -1: not on this kernel */
static bool loginuid_set, amx_permitted, thp_except_advised, futex_hash;

static bool write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	bool ok = fd >= 0 && write(fd, text, strlen(text)) == (ssize_t)strlen(text);
	if (fd >= 0)
		close(fd);
	return ok;
}

static unsigned long read_number(const char *path, int base)
{
	char buf[64] = "";
	ssize_t n = read_file(path, buf, sizeof buf - 1);
	buf[n > 0 ? n : 0] = 0;
	return strtoul(buf, NULL, base);
}

static uint64_t xcomp_perm(int get)
{
	uint64_t perm = 0;
	syscall(SYS_arch_prctl, get, &perm);
	return perm;
}

static void set_more_modes(void)
{
	long supported = syscall(SYS_membarrier, MEMBARRIER_QUERY, 0, 0);
	if (supported >= 0 && syscall(SYS_membarrier, MEMBARRIER_GET_REGISTRATIONS, 0, 0) >= 0) {
		SETUP(syscall(SYS_membarrier, MEMBARRIER_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0, "membarrier register");
		if (supported & MEMBARRIER_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE)
			SETUP(syscall(SYS_membarrier, MEMBARRIER_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE, 0, 0) == 0,
			      "membarrier register sync-core");
		registrations = syscall(SYS_membarrier, MEMBARRIER_GET_REGISTRATIONS, 0, 0);
	} else {
		say("membarrier registrations: not on this kernel; left out");
	}
	SETUP(write_file("/proc/self/coredump_filter", "0x7b"), "coredump_filter");
	loginuid_set = write_file("/proc/self/loginuid", "4242");
	if (!loginuid_set)
		say("login uid: cannot be set here (%s); left out", strerror(errno));
	amx_permitted = syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM_, XTILEDATA) == 0 &&
			syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_GUEST_PERM_, XTILEDATA) == 0;
	if (!amx_permitted)
		say("AMX: not on this CPU; left out");
	thp_except_advised = prctl(PR_SET_THP_DISABLE, 1, THP_DISABLE_EXCEPT_ADVISED, 0, 0) == 0;
	if (!thp_except_advised)
		say("THP disabled except where advised: not on this kernel (%s); left out", strerror(errno));
	futex_hash = prctl(FUTEX_HASH, FUTEX_HASH_SET_SLOTS, FUTEX_SLOTS, 0, 0) == 0;
	if (!futex_hash)
		say("private futex hash: not on this kernel (%s); left out", strerror(errno));
}

static void check_more_modes(void)
{
	if (registrations >= 0) {
		long now = syscall(SYS_membarrier, MEMBARRIER_GET_REGISTRATIONS, 0, 0);
		CHECK(now == registrations, "membarrier registrations %#lx, were %#lx", now, registrations);
		CHECK(syscall(SYS_membarrier, MEMBARRIER_PRIVATE_EXPEDITED, 0, 0) == 0,
		      "an expedited membarrier failed: %s", strerror(errno));
	}
	unsigned long filter = read_number("/proc/self/coredump_filter", 16);
	CHECK(filter == 0x7b, "coredump_filter %#lx", filter);
	if (loginuid_set) {
		unsigned long uid = read_number("/proc/self/loginuid", 10);
		CHECK(uid == LOGINUID, "login uid %lu", uid);
	}
	if (amx_permitted) {
		CHECK(xcomp_perm(ARCH_GET_XCOMP_PERM_) & (1ULL << XTILEDATA), "AMX tiles no longer permitted (%#llx)",
		      (unsigned long long)xcomp_perm(ARCH_GET_XCOMP_PERM_));
		CHECK(xcomp_perm(ARCH_GET_XCOMP_GUEST_PERM_) & (1ULL << XTILEDATA),
		      "AMX tiles no longer permitted to its guests (%#llx)",
		      (unsigned long long)xcomp_perm(ARCH_GET_XCOMP_GUEST_PERM_));
	}
	if (thp_except_advised)
		CHECK(prctl(PR_GET_THP_DISABLE, 0, 0, 0, 0) == (1 | THP_DISABLE_EXCEPT_ADVISED), "PR_GET_THP_DISABLE %d",
		      prctl(PR_GET_THP_DISABLE, 0, 0, 0, 0));
	if (futex_hash)
		CHECK(prctl(FUTEX_HASH, FUTEX_HASH_GET_SLOTS, 0, 0, 0) == FUTEX_SLOTS, "a private futex hash of %d slots",
		      prctl(FUTEX_HASH, FUTEX_HASH_GET_SLOTS, 0, 0, 0));
}

/* What carried sets with PR_SET_MDWE. */
static unsigned mdwe_flags = PR_MDWE_REFUSE_EXEC_GAIN;

static int carried(void)
{
	struct sigaction sa = {.sa_handler = on_segv};
	SETUP(sigaction(SIGSEGV, &sa, NULL) == 0, "sigaction SIGSEGV");
	/* Made before MDWE, as a JIT's code area would be. */
	char *rwx = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	SETUP(rwx != MAP_FAILED, "mmap rwx");
	rwx[0] = (char)0xc3; /* ret */
	mdwe = prctl(PR_SET_MDWE, mdwe_flags, 0, 0, 0) == 0;
	if (!mdwe)
		say("memory-deny-write-execute: not on this kernel (%s); left out", strerror(errno));
	merge = prctl(PR_SET_MEMORY_MERGE, 1, 0, 0, 0) == 0;
	if (!merge)
		say("KSM merge-any: not on this kernel (%s); left out", strerror(errno));
	char *kept = mmap(NULL, AREA, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *unmerged = mmap(NULL, AREA, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	SETUP(kept != MAP_FAILED && unmerged != MAP_FAILED, "mmap");
	memset(kept, 0x5a, AREA);
	memset(unmerged, 0x5a, AREA);
	if (merge)
		SETUP(madvise(unmerged, AREA, MADV_UNMERGEABLE) == 0, "madvise MADV_UNMERGEABLE");
	if (merge)
		SETUP(mergeable(kept) && !mergeable(unmerged), "merge-any as expected before the dump");

	pthread_t t;
	char ok;
	SETUP(pipe(go) == 0 && pipe(done) == 0, "pipe");
	SETUP(pthread_create(&t, NULL, faulting_thread, NULL) == 0, "pthread_create");
	SETUP(read(done[0], &ok, 1) == 1 && ok != 'e', "ARCH_SET_CPUID");
	cpuid = ok == 'y';
	if (!cpuid)
		say("CPUID faulting: not on this CPU; left out");
	set_more_modes();
	say("ready");
	usr1_wait();

	if (mdwe) {
		CHECK(prctl(PR_GET_MDWE, 0, 0, 0, 0) == (int)mdwe_flags, "PR_GET_MDWE %d, not %u", prctl(PR_GET_MDWE, 0, 0, 0, 0),
		      mdwe_flags);
		void *wx = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		CHECK(wx == MAP_FAILED, "a new writable and executable mapping was allowed");
	} else {
		CHECK(prctl(PR_GET_MDWE, 0, 0, 0, 0) <= 0, "memory-deny-write-execute appeared");
	}
	CHECK(rwx[0] == (char)0xc3, "the writable and executable area lost its byte");
	((void (*)(void))rwx)();
	if (merge) {
		CHECK(prctl(PR_GET_MEMORY_MERGE, 0, 0, 0, 0) == 1, "PR_GET_MEMORY_MERGE %d",
		      prctl(PR_GET_MEMORY_MERGE, 0, 0, 0, 0));
		CHECK(mergeable(kept), "an area is no longer mergeable");
		CHECK(!mergeable(unmerged), "the area made unmergeable is mergeable again");
		char *later = mmap(NULL, AREA, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		CHECK(later != MAP_FAILED && mergeable(later), "a new area is not mergeable");
	}
	CHECK(syscall(SYS_arch_prctl, ARCH_GET_CPUID, 0) == 1 && !cpuid_faults(), "CPUID faults in the main thread");
	check_more_modes();
	char failed = 1;
	CHECK(write(go[1], "c", 1) == 1 && read(done[0], &failed, 1) == 1 && failed == 0,
	      "the second thread's checks failed");
	pthread_join(t, NULL);
	return tp_finish();
}

/* ---- syscall user dispatch ---- */

static volatile char selector = DISPATCH_ALLOW;
static volatile int dispatched;

static void on_sigsys(int sig)
{
	(void)sig;
	selector = DISPATCH_ALLOW; /* the handler's own return is a system call */
	dispatched++;
}

static int dispatch(void)
{
	struct sigaction sa = {.sa_handler = on_sigsys};
	SETUP(sigaction(SIGSYS, &sa, NULL) == 0, "sigaction SIGSYS");
	SETUP(prctl(PR_SET_SYSCALL_USER_DISPATCH, PR_SYS_DISPATCH_ON, 0, 0, &selector) == 0,
	      "PR_SET_SYSCALL_USER_DISPATCH");
	say("ready");
	usr1_wait();
	selector = DISPATCH_BLOCK;
	syscall(SYS_getppid);
	CHECK(dispatched == 1 && selector == DISPATCH_ALLOW, "a blocked system call reached the SIGSYS handler %d times",
	      dispatched);
	return tp_finish();
}

/* ---- AMX tile data in use ---- */

static int tiles(void)
{
	static uint8_t cfg[64] __attribute__((aligned(64))), in[1024], out[1024];
	SETUP(syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM_, XTILEDATA) == 0, "ARCH_REQ_XCOMP_PERM (a CPU with AMX?)");
	cfg[0] = 1;  /* palette 1 */
	cfg[16] = 64; /* tmm0: 64 bytes a row */
	cfg[48] = 16; /* and 16 rows */
	for (int i = 0; i < 1024; i++)
		in[i] = (uint8_t)(i * 5 + 3);
	__asm__ volatile("ldtilecfg %0" ::"m"(cfg));
	__asm__ volatile("tileloadd (%0,%1,1), %%tmm0" ::"r"(in), "r"(64L));
	say("ready");
	usr1_wait();
	__asm__ volatile("tilestored %%tmm0, (%0,%1,1)" ::"r"(out), "r"(64L) : "memory");
	__asm__ volatile("tilerelease");
	CHECK(memcmp(in, out, sizeof in) == 0, "the tile lost what was loaded");
	return tp_finish();
}

int main(int argc, char **argv)
{
	usr1_setup();
	if (argc == 2 && strcmp(argv[1], "carried") == 0)
		return carried();
	if (argc == 2 && strcmp(argv[1], "noinherit") == 0) {
		mdwe_flags |= PR_MDWE_NO_INHERIT;
		return carried();
	}
	if (argc == 2 && strcmp(argv[1], "dispatch") == 0)
		return dispatch();
	if (argc == 2 && strcmp(argv[1], "tiles") == 0)
		return tiles();
	say("FAIL: usage: modes carried|noinherit|dispatch|tiles");
	return 2;
}
