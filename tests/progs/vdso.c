/* Calls into the vDSO across migrations, directly and through pointers
 * stored before them (what glibc itself keeps), for the vDSO proxy test
 * (e2e/vdso-proxy.sh).
 *
 * Before "ready" it finds clock_gettime, gettimeofday, time and getcpu in
 * the vDSO the auxiliary vector names (its dynamic symbol table) and keeps
 * the four pointers.  After SIGUSR1, pinned to one CPU, it checks each
 * pointer and each glibc wrapper against the system call itself: a time
 * read through the vDSO lies between two read by system calls, and getcpu
 * names the CPU the system call names.  The vDSO the auxiliary vector
 * names must still be an ELF image exporting the four. */
#include <elf.h>
#include <sched.h>
#include <sys/auxv.h>
#include <sys/syscall.h>
#include <sys/time.h>

#include "testprog.h"

typedef int (*clock_gettime_fn)(clockid_t, struct timespec *);
typedef int (*gettimeofday_fn)(struct timeval *, void *);
typedef time_t (*time_fn)(time_t *);
typedef long (*getcpu_fn)(unsigned *, unsigned *, void *);

static struct {
	clock_gettime_fn clock_gettime;
	gettimeofday_fn gettimeofday;
	time_fn time;
	getcpu_fn getcpu;
} stored;

/* The address of NAME in the vDSO mapped at base, or NULL. */
static void *vdso_symbol(uintptr_t base, const char *name)
{
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)base;
	if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0)
		return NULL;
	const Elf64_Phdr *ph = (const Elf64_Phdr *)(base + eh->e_phoff);
	uintptr_t bias = 0;
	for (int i = 0; i < eh->e_phnum; i++)
		if (ph[i].p_type == PT_LOAD && ph[i].p_offset == 0)
			bias = ph[i].p_vaddr;
	const Elf64_Shdr *sh = (const Elf64_Shdr *)(base + eh->e_shoff);
	for (int i = 0; i < eh->e_shnum; i++) {
		if (sh[i].sh_type != SHT_DYNSYM)
			continue;
		const Elf64_Sym *sym = (const Elf64_Sym *)(base + sh[i].sh_offset);
		const char *str = (const char *)(base + sh[sh[i].sh_link].sh_offset);
		for (size_t k = 0; k < sh[i].sh_size / sizeof *sym; k++)
			if (sym[k].st_shndx != SHN_UNDEF && strcmp(str + sym[k].st_name, name) == 0)
				return (void *)(base + sym[k].st_value - bias);
	}
	return NULL;
}

static bool find_all(uintptr_t base)
{
	stored.clock_gettime = (clock_gettime_fn)vdso_symbol(base, "__vdso_clock_gettime");
	stored.gettimeofday = (gettimeofday_fn)vdso_symbol(base, "__vdso_gettimeofday");
	stored.time = (time_fn)vdso_symbol(base, "__vdso_time");
	stored.getcpu = (getcpu_fn)vdso_symbol(base, "__vdso_getcpu");
	return stored.clock_gettime && stored.gettimeofday && stored.time && stored.getcpu;
}

static int64_t ts_ns(struct timespec t)
{
	return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static void check_clock(clockid_t clock, const char *name)
{
	for (int round = 0; round < 1000; round++) {
		struct timespec a, v, g, b;
		syscall(SYS_clock_gettime, clock, &a);
		int rv = stored.clock_gettime(clock, &v);
		int rg = clock_gettime(clock, &g);
		syscall(SYS_clock_gettime, clock, &b);
		CHECK(rv == 0 && rg == 0, "%s: the vDSO's clock_gettime returned %d, glibc's %d", name, rv, rg);
		CHECK(ts_ns(a) <= ts_ns(v) && ts_ns(v) <= ts_ns(g) && ts_ns(g) <= ts_ns(b),
		      "%s: system call %lld, stored pointer %lld, glibc %lld, system call %lld ns", name,
		      (long long)ts_ns(a), (long long)ts_ns(v), (long long)ts_ns(g), (long long)ts_ns(b));
		if (tp_failures)
			return;
	}
}

static void check_wall(void)
{
	struct timeval a, v, g, b;
	syscall(SYS_gettimeofday, &a, NULL);
	int rv = stored.gettimeofday(&v, NULL);
	int rg = gettimeofday(&g, NULL);
	syscall(SYS_gettimeofday, &b, NULL);
	int64_t ua = a.tv_sec * 1000000LL + a.tv_usec, uv = v.tv_sec * 1000000LL + v.tv_usec;
	int64_t ug = g.tv_sec * 1000000LL + g.tv_usec, ub = b.tv_sec * 1000000LL + b.tv_usec;
	CHECK(rv == 0 && rg == 0 && ua <= uv && uv <= ug && ug <= ub,
	      "gettimeofday: system call %lld, stored pointer %lld, glibc %lld, system call %lld us", (long long)ua,
	      (long long)uv, (long long)ug, (long long)ub);
	time_t ta = (time_t)syscall(SYS_time, NULL), tv = stored.time(NULL), tg = time(NULL);
	time_t tb = (time_t)syscall(SYS_time, NULL);
	CHECK(ta <= tv && tv <= tg && tg <= tb, "time: system call %lld, stored pointer %lld, glibc %lld, system call %lld",
	      (long long)ta, (long long)tv, (long long)tg, (long long)tb);
}

static void check_cpu(void)
{
	unsigned cpu_sys = ~0u, node_sys = ~0u, cpu_v = ~0u, node_v = ~0u, cpu_g = ~0u;
	CHECK(syscall(SYS_getcpu, &cpu_sys, &node_sys, NULL) == 0, "getcpu system call: %s", strerror(errno));
	cpu_set_t one;
	CPU_ZERO(&one);
	CPU_SET(cpu_sys, &one);
	CHECK(sched_setaffinity(0, sizeof one, &one) == 0, "pinning to CPU %u: %s", cpu_sys, strerror(errno));
	CHECK(syscall(SYS_getcpu, &cpu_sys, &node_sys, NULL) == 0, "getcpu system call: %s", strerror(errno));
	CHECK(stored.getcpu(&cpu_v, &node_v, NULL) == 0, "the stored getcpu failed");
	CHECK(getcpu(&cpu_g, NULL) == 0, "glibc's getcpu failed");
	CHECK(cpu_v == cpu_sys && node_v == node_sys && cpu_g == cpu_sys,
	      "getcpu: system call CPU %u node %u, stored pointer CPU %u node %u, glibc CPU %u", cpu_sys, node_sys,
	      cpu_v, node_v, cpu_g);
}

int main(void)
{
	uintptr_t base = getauxval(AT_SYSINFO_EHDR);
	SETUP(base != 0, "no vDSO in the auxiliary vector");
	SETUP(find_all(base), "the vDSO lacks one of the four functions");
	usr1_setup();
	say("ready");
	usr1_wait();

	check_clock(CLOCK_MONOTONIC, "CLOCK_MONOTONIC");
	check_clock(CLOCK_REALTIME, "CLOCK_REALTIME");
	check_clock(CLOCK_BOOTTIME, "CLOCK_BOOTTIME");
	check_wall();
	check_cpu();
	/* What the auxiliary vector names is still a vDSO with the four. */
	void *saved[4] = { (void *)stored.clock_gettime, (void *)stored.gettimeofday, (void *)stored.time,
			   (void *)stored.getcpu };
	CHECK(getauxval(AT_SYSINFO_EHDR) == base, "AT_SYSINFO_EHDR moved from 0x%lx to 0x%lx", (unsigned long)base,
	      (unsigned long)getauxval(AT_SYSINFO_EHDR));
	CHECK(find_all(base) && memcmp(saved, &stored, sizeof saved) == 0,
	      "the vDSO at 0x%lx no longer exports the four functions where they were", (unsigned long)base);
	return tp_finish();
}
