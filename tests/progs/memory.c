/* memory: private anonymous memory of several kinds.
 *   - 16 read-write pages with a pattern, a PROT_NONE guard page splitting
 *     the mapping in two;
 *   - a page filled, then made read-only;
 *   - a page of code written at run time and made executable (called after);
 *   - a sparse 1 GiB MAP_NORESERVE region: 8 pages written with data, 4 with
 *     zeros, 2 written then dropped with MADV_DONTNEED, the rest untouched;
 *   - a 256 KiB array on the stack;
 *   - two read-write areas of 4 and 2 pages, each written, then moved side
 *     by side (mremap, as a runtime's realloc does): the kernel keeps
 *     them two areas (each has memory of its own, its anon_vma), though
 *     their permissions and flags are the same.
 * After the wake-up every byte is as it was (untouched and dropped pages
 * read zero), each region has the same address and permissions in
 * /proc/self/maps, and the code page still runs.  The script also checks
 * that the image does not carry the untouched gigabyte. */
#include <sys/mman.h>

#include "testprog.h"

#define PAGE 4096
#define SPARSE_SIZE (1ul << 30)

static const size_t sparse_data[8] = { 0, 1, 77, 4096, 65535, 100000, 200001, 262143 };
static const size_t sparse_zero[4] = { 2, 500, 70000, 262142 };
static const size_t sparse_dropped[2] = { 3, 150000 };

/* "perms" of the mapping containing ADDR in /proc/self/maps, with its range. */
static void region_of(const void *addr, char *out, size_t size)
{
	static char maps[65536];
	snprintf(out, size, "(not mapped)");
	ssize_t n = read_file("/proc/self/maps", maps, sizeof(maps) - 1);
	if (n <= 0)
		return;
	maps[n] = '\0';
	for (char *line = strtok(maps, "\n"); line; line = strtok(NULL, "\n")) {
		unsigned long start, end;
		char perms[8];
		if (sscanf(line, "%lx-%lx %7s", &start, &end, perms) == 3 && (uintptr_t)addr >= start &&
		    (uintptr_t)addr < end) {
			snprintf(out, size, "%lx-%lx %s", start, end, perms);
			return;
		}
	}
}

static bool page_is(const unsigned char *page, uint64_t seed)
{
	for (int i = 0; i < PAGE; i += 8)
		if (*(const uint64_t *)(page + i) != mix64(seed * PAGE + i))
			return false;
	return true;
}

static void fill_page(unsigned char *page, uint64_t seed)
{
	for (int i = 0; i < PAGE; i += 8)
		*(uint64_t *)(page + i) = mix64(seed * PAGE + i);
}

static bool page_zero(const unsigned char *page)
{
	for (int i = 0; i < PAGE; i++)
		if (page[i])
			return false;
	return true;
}

static bool in_list(size_t page, const size_t *list, int n)
{
	for (int i = 0; i < n; i++)
		if (list[i] == page)
			return true;
	return false;
}

int main(void)
{
	usr1_setup();
	unsigned char *rw = mmap(NULL, 17 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	unsigned char *ro = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	unsigned char *code = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	unsigned char *sparse = mmap(NULL, SPARSE_SIZE, PROT_READ | PROT_WRITE,
				     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	SETUP(rw != MAP_FAILED && ro != MAP_FAILED && code != MAP_FAILED && sparse != MAP_FAILED, "mmap");
	for (int p = 0; p < 17; p++)
		fill_page(rw + p * PAGE, 100 + p);
	SETUP(mprotect(rw + 8 * PAGE, PAGE, PROT_NONE) == 0, "guard page");
	fill_page(ro, 200);
	SETUP(mprotect(ro, PAGE, PROT_READ) == 0, "read-only page");
	/* mov eax, 0x2a2a2a2a; ret */
	static const unsigned char fn[] = { 0xb8, 0x2a, 0x2a, 0x2a, 0x2a, 0xc3 };
	memcpy(code, fn, sizeof(fn));
	SETUP(mprotect(code, PAGE, PROT_READ | PROT_EXEC) == 0, "code page");
	for (int i = 0; i < 8; i++)
		fill_page(sparse + sparse_data[i] * PAGE, 300 + i);
	for (int i = 0; i < 4; i++)
		memset(sparse + sparse_zero[i] * PAGE, 0, PAGE);
	for (int i = 0; i < 2; i++) {
		fill_page(sparse + sparse_dropped[i] * PAGE, 400 + i);
		SETUP(madvise(sparse + sparse_dropped[i] * PAGE, PAGE, MADV_DONTNEED) == 0, "madvise");
	}
	unsigned char *pair = mmap(NULL, 6 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	unsigned char *moved = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	SETUP(pair != MAP_FAILED && moved != MAP_FAILED && munmap(pair + 4 * PAGE, 2 * PAGE) == 0, "the pair");
	for (int p = 0; p < 6; p++)
		fill_page(p < 4 ? pair + p * PAGE : moved + (p - 4) * PAGE, 500 + p);
	SETUP(mremap(moved, 2 * PAGE, 2 * PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, pair + 4 * PAGE) == pair + 4 * PAGE,
	      "mremap next to the pair's first area");
	volatile unsigned char on_stack[256 * 1024];
	for (size_t i = 0; i < sizeof(on_stack); i++)
		on_stack[i] = (unsigned char)mix64(i);

	const void *probes[] = { rw, rw + 8 * PAGE, rw + 9 * PAGE, ro, code, sparse, (const void *)on_stack,
				 pair, pair + 4 * PAGE };
	const int nprobes = sizeof(probes) / sizeof(probes[0]);
	char regions_before[9][64];
	for (int i = 0; i < nprobes; i++)
		region_of(probes[i], regions_before[i], sizeof(regions_before[i]));
	SETUP(strcmp(regions_before[7], regions_before[8]) != 0, "the pair is two areas");

	say("ready");
	usr1_wait();

	for (int i = 0; i < nprobes; i++) {
		char now[64];
		region_of(probes[i], now, sizeof(now));
		if (probes[i] == (const void *)on_stack) {
			/* The stack may have grown since (the SIGUSR1 frame): same
			 * end and permissions, a start no higher than before. */
			unsigned long start0, end0, start1, end1;
			char perms0[8], perms1[8];
			bool parsed = sscanf(regions_before[i], "%lx-%lx %7s", &start0, &end0, perms0) == 3 &&
				      sscanf(now, "%lx-%lx %7s", &start1, &end1, perms1) == 3;
			CHECK(parsed && end1 == end0 && start1 <= start0 && strcmp(perms0, perms1) == 0,
			      "stack mapping is \"%s\", was \"%s\"", now, regions_before[i]);
			continue;
		}
		CHECK(strcmp(now, regions_before[i]) == 0, "mapping of %p is \"%s\", was \"%s\"", probes[i], now,
		      regions_before[i]);
	}
	for (int p = 0; p < 17; p++)
		if (p != 8)
			CHECK(page_is(rw + p * PAGE, 100 + p), "read-write page %d changed", p);
	CHECK(page_is(ro, 200), "read-only page changed");
	for (int p = 0; p < 6; p++)
		CHECK(page_is(pair + p * PAGE, 500 + p), "page %d of the pair changed", p);
	int (*fnp)(void) = (int (*)(void))(void *)code;
	CHECK(fnp() == 0x2a2a2a2a, "code page returned the wrong value");
	size_t bad_data = 0, bad_zero = 0;
	for (size_t p = 0; p < SPARSE_SIZE / PAGE; p += 1) {
		bool data = in_list(p, sparse_data, 8);
		/* reading every untouched page would fault in a gigabyte of zero
		 * pages; a sample of them is enough */
		if (!data && !in_list(p, sparse_zero, 4) && !in_list(p, sparse_dropped, 2) && p % 997)
			continue;
		if (data) {
			int i = 0;
			while (sparse_data[i] != p)
				i++;
			bad_data += !page_is(sparse + p * PAGE, 300 + i);
		} else {
			bad_zero += !page_zero(sparse + p * PAGE);
		}
	}
	CHECK(bad_data == 0, "%zu data pages of the sparse region changed", bad_data);
	CHECK(bad_zero == 0, "%zu pages of the sparse region that must be zero are not", bad_zero);
	size_t bad_stack = 0;
	for (size_t i = 0; i < sizeof(on_stack); i++)
		bad_stack += on_stack[i] != (unsigned char)mix64(i);
	CHECK(bad_stack == 0, "%zu stack bytes changed", bad_stack);
	return tp_finish();
}
