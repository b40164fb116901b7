/* memguard carried DIR: guard regions (madvise MADV_GUARD_INSTALL) and
 * droppable memory (MAP_DROPPABLE), as newer C libraries make them in
 * ordinary processes (tests/e2e/memguard.sh, migrate-state.sh,
 * migrate-precopy.sh, migrate-postcopy.sh):
 *   anon   16 pages of anonymous memory, guards at its first page, at
 *          pages 7 and 8, and at its last page;
 *   ro     8 read-only anonymous pages, a guard at page 4;
 *   file   DIR/file (8 pages) mapped privately, pages 1 and 5 written
 *          (copied), guards at pages 0, 3 and 7;
 *   stack  a thread's stack as glibc 2.42 makes it: one mapping with a
 *          guard at its low end instead of a PROT_NONE mapping; the
 *          thread, blocked in read(), holds data on it;
 *   drop   4 pages of droppable memory, filled (glibc 2.41 keeps its vDSO
 *          getrandom state in such memory);
 *   lockf  4 pages locked on fault (mlock2 MLOCK_ONFAULT), a guard at page 2;
 *   gone   4 pages whose guard (page 1) was removed again (MADV_GUARD_REMOVE):
 *          none left, but smaps still says "gu".
 * After SIGUSR1 it checks that touching each guard page faults (SIGSEGV,
 * reading and writing), that the other pages keep their contents, that
 * each area's smaps VmFlags and the guard bit of each page in pagemap are
 * as before, that the thread's stack kept its data, and the droppable
 * memory its contents and "dp".  "memguard probe" exits 0 if this kernel
 * has both, 77 saying why not. */
#include <pthread.h>
#include <setjmp.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include "testprog.h"

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif
#ifndef MADV_GUARD_REMOVE
#define MADV_GUARD_REMOVE 103
#endif
#ifndef MAP_DROPPABLE
#define MAP_DROPPABLE 0x08
#endif
#define PAGE 4096L
#define PM_GUARD (1ULL << 58)
#define STACK_PAGES 32
#define NAREAS 7

static struct area {
	const char *name;
	long pages;
	char *p;
	uint64_t guards;    /* bit i: page i is a guard */
	uint64_t written;   /* bit i: page i holds seed + i (file: else the file's page) */
	int seed;
	char vmflags[256];  /* before */
} areas[NAREAS] = {
	{"anon", 16, NULL, 1 | 3ull << 7 | 1ull << 15, 0xffff & ~(1 | 3ull << 7 | 1ull << 15), 1, ""},
	{"ro", 8, NULL, 1ull << 4, 0xff & ~(1ull << 4), 2, ""},
	{"file", 8, NULL, 1 | 1ull << 3 | 1ull << 7, 1ull << 1 | 1ull << 5, 3, ""},
	{"stack", STACK_PAGES, NULL, 1, 0, 4, ""},
	{"drop", 4, NULL, 0, 0xf, 5, ""},
	{"lockf", 4, NULL, 1ull << 2, 0xb, 6, ""},
	{"gone", 4, NULL, 0, 0xd, 7, ""},
};
enum { ANON, RO, FILEMAP, STACK, DROP, LOCKF, GONE };

static void fill(char *p, long n, int seed)
{
	for (long i = 0; i < n; i++)
		p[i] = (char)(i * 7 + seed);
}

static bool same(const char *p, long n, int seed)
{
	for (long i = 0; i < n; i++)
		if (p[i] != (char)(i * 7 + seed))
			return false;
	return true;
}

/* Takes the VmFlags code out of flags. */
static void drop_code(char *flags, const char *code)
{
	for (char *p = flags; (p = strstr(p, code)) != NULL; p++)
		if ((p == flags || p[-1] == ' ') && (p[2] == ' ' || p[2] == 0)) {
			memmove(p, p + 2 + (p[2] == ' '), strlen(p + 2 + (p[2] == ' ')) + 1);
			return;
		}
}

static sigjmp_buf fault_jmp;

static void on_segv(int sig)
{
	(void)sig;
	siglongjmp(fault_jmp, 1);
}

/* Whether reading (or writing) *p faults. */
static bool faults(volatile char *p, bool write)
{
	if (sigsetjmp(fault_jmp, 1))
		return true;
	if (write)
		*p = 1;
	else
		tp_sink += (uint64_t)*p;
	return false;
}

/* Bit i: pagemap shows page i of a as a guard page. */
static uint64_t pagemap_guards(const struct area *a)
{
	uint64_t pm[64], bits = 0;
	int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (fd < 0 || pread(fd, pm, (size_t)a->pages * 8, (off_t)((uintptr_t)a->p / PAGE * 8)) != a->pages * 8)
		bits = ~0ull;
	for (long i = 0; bits != ~0ull && i < a->pages; i++)
		if (pm[i] & PM_GUARD)
			bits |= 1ull << i;
	if (fd >= 0)
		close(fd);
	return bits;
}

/* The thread on the guarded stack: data on its stack, then blocked in read(). */
static int wake[2], up[2];
static volatile int thread_ok = -1;
static pthread_t thread;

static void *on_guarded_stack(void *arg)
{
	(void)arg;
	volatile char local[3000];
	for (int i = 0; i < (int)sizeof local; i++)
		local[i] = (char)(i * 13 + 4);
	char c = 1;
	if (write(up[1], &c, 1) != 1)
		return NULL;
	ssize_t n;
	while ((n = read(wake[0], &c, 1)) < 0 && errno == EINTR)
		;
	int ok = n == 1;
	for (int i = 0; i < (int)sizeof local; i++)
		ok &= local[i] == (char)(i * 13 + 4);
	thread_ok = ok;
	return NULL;
}

static int probe(void)
{
	char *p = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED || madvise(p, PAGE, MADV_GUARD_INSTALL) != 0) {
		say("this kernel has no guard regions (MADV_GUARD_INSTALL): %s", strerror(errno));
		return 77;
	}
	struct area a = {"probe", 2, p, 1, 0, 0, ""};
	tp_vmflags(p, a.vmflags, sizeof a.vmflags);
	if (pagemap_guards(&a) != 1 || !tp_has_vmflag(a.vmflags, "gu")) {
		say("this kernel shows guard pages neither in pagemap nor in smaps (Linux 6.18)");
		return 77;
	}
	if (mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_DROPPABLE | MAP_ANONYMOUS, -1, 0) == MAP_FAILED) {
		say("this kernel has no droppable memory (MAP_DROPPABLE): %s", strerror(errno));
		return 77;
	}
	return 0;
}

/* The areas, apart (a page between each), so that none merges with another. */
static void setup(const char *dir)
{
	long total = 0;
	for (int i = 0; i < NAREAS; i++)
		total += areas[i].pages + 1;
	char *base = mmap(NULL, (size_t)total * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	SETUP(base != MAP_FAILED && munmap(base, (size_t)total * PAGE) == 0, "reserving room");
	char path[4096];
	snprintf(path, sizeof path, "%s/file", dir);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	char contents[8 * PAGE];
	fill(contents, sizeof contents, 9);
	SETUP(fd >= 0 && write(fd, contents, sizeof contents) == (ssize_t)sizeof contents, path);
	char *at = base;
	for (int i = 0; i < NAREAS; i++) {
		struct area *a = &areas[i];
		size_t len = (size_t)a->pages * PAGE;
		int flags = MAP_FIXED_NOREPLACE | (i == DROP ? MAP_DROPPABLE : MAP_PRIVATE) | (i == FILEMAP ? 0 : MAP_ANONYMOUS);
		a->p = mmap(at, len, PROT_READ | PROT_WRITE, flags, i == FILEMAP ? fd : -1, 0);
		SETUP(a->p == at, a->name);
		at += len + PAGE;
		for (long pg = 0; pg < a->pages; pg++)
			if (a->written >> pg & 1)
				fill(a->p + pg * PAGE, PAGE, a->seed + (int)pg);
		for (long pg = 0; pg < a->pages; pg++)
			if (a->guards >> pg & 1)
				SETUP(madvise(a->p + pg * PAGE, PAGE, MADV_GUARD_INSTALL) == 0, a->name);
	}
	close(fd);
	SETUP(mprotect(areas[RO].p, (size_t)areas[RO].pages * PAGE, PROT_READ) == 0, "mprotect");
	SETUP(madvise(areas[GONE].p + PAGE, PAGE, MADV_GUARD_INSTALL) == 0 &&
		      madvise(areas[GONE].p + PAGE, PAGE, MADV_GUARD_REMOVE) == 0, "MADV_GUARD_REMOVE");
	SETUP(syscall(SYS_mlock2, areas[LOCKF].p, areas[LOCKF].pages * PAGE, 1 /* MLOCK_ONFAULT */) == 0, "mlock2");
	SETUP(pipe2(wake, O_CLOEXEC) == 0 && pipe2(up, O_CLOEXEC) == 0, "pipe2");
	pthread_attr_t attr;
	SETUP(pthread_attr_init(&attr) == 0 &&
		      pthread_attr_setstack(&attr, areas[STACK].p + PAGE, (STACK_PAGES - 1) * PAGE) == 0 &&
		      pthread_create(&thread, &attr, on_guarded_stack, NULL) == 0,
	      "a thread on the guarded stack");
	char c;
	SETUP(read(up[0], &c, 1) == 1, "the thread's start");
	for (int i = 0; i < NAREAS; i++) {
		tp_vmflags(areas[i].p, areas[i].vmflags, sizeof areas[i].vmflags);
		SETUP(pagemap_guards(&areas[i]) == areas[i].guards, areas[i].name);
	}
	SETUP(tp_has_vmflag(areas[DROP].vmflags, "dp") && tp_has_vmflag(areas[ANON].vmflags, "gu") &&
		      tp_has_vmflag(areas[GONE].vmflags, "gu"),
	      "VmFlags dp and gu");
}

static void check(void)
{
	struct sigaction sa = {.sa_handler = on_segv};
	sigemptyset(&sa.sa_mask);
	SETUP(sigaction(SIGSEGV, &sa, NULL) == 0, "sigaction");
	for (int i = 0; i < NAREAS; i++) {
		struct area *a = &areas[i];
		char now[256];
		tp_vmflags(a->p, now, sizeof now);
		if (i == RO) /* anonymous memory made read-only comes back unaccounted (docs/process-state.md) */
			drop_code(now, "ac"), drop_code(areas[RO].vmflags, "ac");
		CHECK(strcmp(now, a->vmflags) == 0, "%s: VmFlags %s, were %s", a->name, now, a->vmflags);
		uint64_t pm = pagemap_guards(a);
		CHECK(pm == a->guards, "%s: pagemap shows guard pages %#llx, not %#llx", a->name, (unsigned long long)pm,
		      (unsigned long long)a->guards);
		for (long pg = 0; pg < a->pages; pg++) {
			char *page = a->p + pg * PAGE;
			if (a->guards >> pg & 1) {
				CHECK(faults(page, false), "%s: reading guard page %ld does not fault", a->name, pg);
				CHECK(faults(page + PAGE - 1, true), "%s: writing guard page %ld does not fault", a->name, pg);
			} else if (a->written >> pg & 1) {
				CHECK(same(page, PAGE, a->seed + (int)pg), "%s: page %ld lost its contents", a->name, pg);
			} else if (i == FILEMAP) {
				/* The file's contents (seed 9 from its start). */
				bool ok = true;
				for (long k = 0; k < PAGE; k++)
					ok &= page[k] == (char)((pg * PAGE + k) * 7 + 9);
				CHECK(ok, "%s: page %ld is not the file's", a->name, pg);
			}
		}
	}
	CHECK(faults(areas[RO].p, true) && faults(areas[RO].p + 5 * PAGE, true), "ro: a write does not fault");
	char c = 1;
	CHECK(write(wake[1], &c, 1) == 1, "waking the thread");
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 20;
	CHECK(pthread_timedjoin_np(thread, NULL, &until) == 0, "the thread on the guarded stack did not end in 20 s");
	CHECK(thread_ok == 1, "the thread on the guarded stack: %s", thread_ok < 0 ? "no answer" : "its data changed");
}

int main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "probe") == 0)
		return probe();
	SETUP(argc == 3 && strcmp(argv[1], "carried") == 0, "usage: memguard carried DIR | memguard probe");
	usr1_setup();
	setup(argv[2]);
	say("ready");
	usr1_wait();
	check();
	return tp_finish();
}
