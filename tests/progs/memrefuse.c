/* memrefuse MODE [FILE]: holds one kind of memory binmig refuses to carry
 * (tests/e2e/memrefuse.sh), then waits for SIGUSR1 and checks that it is
 * still as it was: a refused dump must leave the process untouched.
 *   guardshared  shared anonymous memory with a guard page (MADV_GUARD_INSTALL;
 *                guard pages elsewhere are carried: memguard.c)
 *   guardlocked  locked memory (mlock) with a guard page: the guard first,
 *                then mlock, which fails on it but locks the area
 *   hugetlb      private huge-page memory (MAP_HUGETLB)
 *   hugetlb-shared  shared huge-page memory
 *   shmemfd      shared anonymous memory and a descriptor of it opened
 *                through /proc/self/map_files
 *   shmemfd-priv such a descriptor mapped privately, the descriptor closed
 *   pkey-area    an area under a protection key (pkey_mprotect)
 *   pkru         a key allocated and its rights changed (pkey_set), no area
 *   pkey-alloc   a key allocated with the default rights, no area
 *   pkey-hole    keys 1 and 2 allocated and key 1 freed, no area
 *   uffd-wp      an area write-protected through a userfaultfd that only a
 *                process of its own holds (until this one exits)
 *   uffd-missing an area registered for missing pages likewise
 *   secret       secret memory (memfd_secret) mapped, its descriptor closed
 *   secretfd     a descriptor of secret memory, not mapped
 * "memrefuse probe MODE" exits 0 if this machine can make MODE's memory,
 * 77 (saying why) if not. */
#include <linux/userfaultfd.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include "testprog.h"

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif
#ifndef MAP_HUGETLB
#define MAP_HUGETLB 0x40000
#endif
#ifndef PKEY_DISABLE_ACCESS
#define PKEY_DISABLE_ACCESS 1
#define PKEY_DISABLE_WRITE 2
#endif
#define PAGE 4096L
#define HUGE (2L << 20)

static unsigned rdpkru(void)
{
	unsigned eax, edx;
	__asm__ volatile(".byte 0x0f,0x01,0xee" : "=a"(eax), "=d"(edx) : "c"(0));
	return eax;
}

static void wrpkru(unsigned pkru)
{
	__asm__ volatile(".byte 0x0f,0x01,0xef" : : "a"(pkru), "c"(0), "d"(0) : "memory");
}

static int pkey_alloc_(unsigned rights)
{
	return (int)syscall(SYS_pkey_alloc, 0, rights);
}

static char *fill(char *p, long n, int seed)
{
	for (long i = 0; i < n; i++)
		p[i] = (char)(i * 7 + seed);
	return p;
}

static bool same(const char *p, long n, int seed)
{
	for (long i = 0; i < n; i++)
		if (p[i] != (char)(i * 7 + seed))
			return false;
	return true;
}

/* A userfaultfd with P registered (write-protected with wp), held from
 * now on only by a process of its own, which exits when this one does. */
static void uffd_elsewhere(char *p, long len, bool wp)
{
	int uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC);
	struct uffdio_api api = {.api = UFFD_API, .features = 0};
	SETUP(uffd >= 0 && ioctl(uffd, UFFDIO_API, &api) == 0, "userfaultfd");
	struct uffdio_register reg = {.range = {(unsigned long)p, (unsigned long)len},
				      .mode = wp ? UFFDIO_REGISTER_MODE_WP : UFFDIO_REGISTER_MODE_MISSING};
	SETUP(ioctl(uffd, UFFDIO_REGISTER, &reg) == 0, "UFFDIO_REGISTER");
	pid_t self = getpid();
	if (tp_fork_peer() == 0) {
		struct pollfd pfd = {.fd = (int)syscall(SYS_pidfd_open, self, 0), .events = POLLIN};
		while (pfd.fd >= 0 && poll(&pfd, 1, -1) < 0 && errno == EINTR)
			;
		_exit(0);
	}
	close(uffd);
}

/* Whether this machine can make MODE's memory: 0, or 77 saying why not. */
static int probe(const char *mode)
{
	int rc = 0;
	if (strncmp(mode, "guard", 5) == 0) {
		char *p = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED || madvise(p, PAGE, MADV_GUARD_INSTALL) != 0)
			rc = 77;
	} else if (strncmp(mode, "hugetlb", 7) == 0) {
		if (mmap(NULL, HUGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0) == MAP_FAILED)
			rc = 77;
	} else if (strncmp(mode, "uffd", 4) == 0) {
		int uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC);
		struct uffdio_api api = {.api = UFFD_API, .features = 0};
		if (uffd < 0 || ioctl(uffd, UFFDIO_API, &api) != 0)
			rc = 77;
	} else if (strncmp(mode, "pkey", 4) == 0 || strcmp(mode, "pkru") == 0) {
		if (pkey_alloc_(0) < 0)
			rc = 77;
	} else if (strncmp(mode, "secret", 6) == 0) {
		if (syscall(SYS_memfd_secret, O_CLOEXEC) < 0) /* off unless the kernel was told so before 6.5 */
			rc = 77;
	}
	if (rc)
		say("%s: this machine cannot make it: %s", mode, strerror(errno));
	return rc;
}

int main(int argc, char **argv)
{
	SETUP(argc >= 2, "usage: memrefuse MODE [FILE]");
	const char *mode = argv[1];
	if (strcmp(mode, "probe") == 0 && argc == 3)
		return probe(argv[2]);
	usr1_setup();
	char *p = NULL;
	int fd = -1, key = -1;
	unsigned pkru = 0;
	if (strncmp(mode, "guard", 5) == 0) {
		int share = strcmp(mode, "guardshared") == 0 ? MAP_SHARED : MAP_PRIVATE;
		p = fill(mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE, share | MAP_ANONYMOUS, -1, 0), 4 * PAGE, 1);
		SETUP(madvise(p + PAGE, PAGE, MADV_GUARD_INSTALL) == 0, "MADV_GUARD_INSTALL");
		if (share == MAP_PRIVATE) {
			char flags[256];
			(void)mlock(p, 4 * PAGE);
			tp_vmflags(p, flags, sizeof flags);
			SETUP(tp_has_vmflag(flags, "lo"), "mlock of the guarded area");
		}
	} else if (strncmp(mode, "hugetlb", 7) == 0) {
		int share = strcmp(mode, "hugetlb-shared") == 0 ? MAP_SHARED : MAP_PRIVATE;
		p = mmap(NULL, HUGE, PROT_READ | PROT_WRITE, share | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
		SETUP(p != MAP_FAILED, "mmap MAP_HUGETLB");
		fill(p, HUGE, 7);
	} else if (strncmp(mode, "shmemfd", 7) == 0) {
		p = fill(mmap(NULL, 3 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0), 3 * PAGE, 9);
		char path[96];
		snprintf(path, sizeof path, "/proc/self/map_files/%lx-%lx", (unsigned long)p, (unsigned long)p + 3 * PAGE);
		fd = open(path, O_RDWR | O_CLOEXEC);
		SETUP(fd >= 0, path);
		if (strcmp(mode, "shmemfd-priv") == 0) {
			char *priv = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, PAGE);
			SETUP(priv != MAP_FAILED, "private mapping of the descriptor");
			close(fd);
			fd = -1;
			SETUP(munmap(p, 3 * PAGE) == 0, "munmap of the shared mapping");
			p = priv;
		}
	} else if (strcmp(mode, "pkey-area") == 0) {
		p = fill(mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), PAGE, 11);
		SETUP((key = pkey_alloc_(0)) > 0, "pkey_alloc");
		SETUP(syscall(SYS_pkey_mprotect, p, PAGE, PROT_READ | PROT_WRITE, key) == 0, "pkey_mprotect");
	} else if (strcmp(mode, "pkru") == 0) {
		SETUP((key = pkey_alloc_(PKEY_DISABLE_WRITE)) > 0, "pkey_alloc");
	} else if (strcmp(mode, "pkey-alloc") == 0) {
		SETUP((key = pkey_alloc_(PKEY_DISABLE_ACCESS)) > 0, "pkey_alloc");
	} else if (strcmp(mode, "pkey-hole") == 0) {
		int first = pkey_alloc_(PKEY_DISABLE_ACCESS);
		SETUP(first > 0 && (key = pkey_alloc_(PKEY_DISABLE_ACCESS)) > 0, "pkey_alloc");
		SETUP(syscall(SYS_pkey_free, first) == 0, "pkey_free");
	} else if (strncmp(mode, "uffd", 4) == 0) {
		p = fill(mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), 2 * PAGE, 13);
		uffd_elsewhere(p, 4 * PAGE, strcmp(mode, "uffd-wp") == 0);
	} else if (strncmp(mode, "secret", 6) == 0) {
		fd = (int)syscall(SYS_memfd_secret, O_CLOEXEC);
		SETUP(fd >= 0 && ftruncate(fd, 2 * PAGE) == 0, "memfd_secret");
		if (strcmp(mode, "secret") == 0) {
			p = fill(mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), 2 * PAGE, 15);
			close(fd);
			fd = -1;
		}
	} else {
		SETUP(false, "unknown mode");
	}
	if (key > 0)
		pkru = rdpkru();
	say("ready");
	usr1_wait();

	if (strncmp(mode, "guard", 5) == 0) {
		/* (Reading a guard page would kill the process.) */
		CHECK(same(p, PAGE, 1) && same(p + 2 * PAGE, 2 * PAGE, 1), "memory around the guard page");
	} else if (strncmp(mode, "hugetlb", 7) == 0) {
		CHECK(same(p, HUGE, 7), "huge-page contents");
		char flags[256];
		tp_vmflags(p, flags, sizeof flags);
		CHECK(tp_has_vmflag(flags, "ht"), "VmFlags %s without ht", flags);
	} else if (strcmp(mode, "shmemfd") == 0) {
		char c = 0;
		p[0] = 'X';
		CHECK(pread(fd, &c, 1, 0) == 1 && c == 'X', "the descriptor no longer shows the mapping's write");
	} else if (strcmp(mode, "shmemfd-priv") == 0) {
		CHECK(same(p, 2 * PAGE, 9), "private mapping's contents");
	} else if (strncmp(mode, "uffd", 4) == 0) {
		char flags[256];
		tp_vmflags(p, flags, sizeof flags);
		CHECK(tp_has_vmflag(flags, strcmp(mode, "uffd-wp") == 0 ? "uw" : "um"), "VmFlags %s", flags);
		CHECK(same(p, 2 * PAGE, 13), "the registered area's contents");
	} else if (strcmp(mode, "secret") == 0) {
		CHECK(same(p, 2 * PAGE, 15), "the secret memory's contents");
	} else if (key > 0) {
		CHECK(rdpkru() == pkru, "PKRU %#x, was %#x", rdpkru(), pkru);
		if (strcmp(mode, "pkey-area") == 0) {
			wrpkru(pkru & ~(3u << (2 * key)));
			CHECK(same(p, PAGE, 11), "the keyed area's contents");
			wrpkru(pkru);
		}
		CHECK(syscall(SYS_pkey_free, key) == 0, "pkey_free of the key it allocated: %s", strerror(errno));
	}
	return tp_finish();
}
