/* mapchurn SYNCDIR: changes its address space between pre-copy rounds and
 * checks, after the migration, that every page it keeps a model of holds
 * what it wrote there last.
 *
 * binmig's test build, with BINMIG_TEST_PRECOPY_SYNC=SYNCDIR, creates
 * SYNCDIR/round-K after pre-copy round K and waits for SYNCDIR/ack-K.
 * For each round-K this program does step K, then creates ack-K:
 *   - unmaps one area and maps a new one at the same address (new pages);
 *   - zaps a page of another (MADV_DONTNEED) and reads it (zero again),
 *     and writes one of its pages;
 *   - makes a third read-only, or writable again and writes a page;
 *   - grows its heap (brk) and fills the new pages;
 *   - moves a fourth (mremap to another address);
 *   - writes a page of its private writable file mapping (a copy on write);
 *   - zaps two pages of an area left alone otherwise, and reads one of
 *     them: pages pre-copied, then dropped (the last step's only after
 *     the last round) must be zero at the destination.
 * When SYNCDIR/done appears it prints "steps N", checks everything and
 * prints PASS or FAIL.  Every wait is bounded (120 s). */
#include <sys/mman.h>

#include "testprog.h"

#define PAGE 4096ul
#define NAREAS 6
#define AREA_PAGES 16
#define FILE_PAGES 16
#define HEAP_MAX 256
#define FROM_FILE 0xffffffffu

struct area {
	uint8_t *addr;
	uint32_t ver[AREA_PAGES]; /* 0: zero; FROM_FILE: the file's contents */
	int prot;
	uint32_t id;
};

__attribute__((format(printf, 1, 2), noreturn)) static void die(const char *fmt, ...)
{
	char msg[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	say("FAIL: %s", msg);
	say("FAIL");
	exit(1);
}

#define ZAPPED (NAREAS + 1)
static struct area areas[NAREAS + 2]; /* [NAREAS]: the private file mapping; [ZAPPED]: zapped pages */
static uint8_t *heap_base;
static uint32_t heap_ver[HEAP_MAX];
static unsigned heap_pages;

static uint64_t word(uint32_t id, uint32_t page, uint32_t ver, uint32_t i)
{
	uint64_t x = ((uint64_t)id << 40) ^ ((uint64_t)page << 20) ^ ((uint64_t)ver << 8) ^ i;
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	return x | 1; /* never a zero page */
}

static void fill(uint8_t *p, uint32_t id, uint32_t page, uint32_t ver)
{
	uint64_t *w = (uint64_t *)p;
	for (uint32_t i = 0; i < PAGE / 8; i++)
		w[i] = word(id, page, ver, i);
}

static bool page_ok(const uint8_t *p, uint32_t id, uint32_t page, uint32_t ver)
{
	const uint64_t *w = (const uint64_t *)p;
	for (uint32_t i = 0; i < PAGE / 8; i++)
		if (w[i] != (ver == 0 ? 0 : word(id, page, ver, i)))
			return false;
	return true;
}

static void set_page(struct area *a, uint32_t page, uint32_t ver)
{
	fill(a->addr + page * PAGE, a->id, page, ver);
	a->ver[page] = ver;
}

static void new_area(struct area *a, uint8_t *at, uint32_t id, uint32_t ver)
{
	a->addr = mmap(at, AREA_PAGES * PAGE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | (at ? MAP_FIXED_NOREPLACE : 0), -1, 0);
	if (a->addr == MAP_FAILED || (at && a->addr != at))
		die("mmap: %s", strerror(errno));
	a->prot = PROT_READ | PROT_WRITE;
	a->id = id;
	for (uint32_t p = 0; p < AREA_PAGES; p++) {
		if (p % 3 == 2)
			a->ver[p] = 0; /* never touched */
		else
			set_page(a, p, ver);
	}
}

static void file_area(const char *dir)
{
	char path[512];
	snprintf(path, sizeof path, "%s/mapchurn.data", dir);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		die("open %s: %s", path, strerror(errno));
	static uint8_t buf[PAGE];
	for (uint32_t p = 0; p < FILE_PAGES; p++) {
		fill(buf, 999, p, 7);
		if (pwrite(fd, buf, PAGE, p * PAGE) != (ssize_t)PAGE)
			die("pwrite: %s", strerror(errno));
	}
	struct area *a = &areas[NAREAS];
	a->addr = mmap(NULL, FILE_PAGES * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	close(fd);
	if (a->addr == MAP_FAILED)
		die("mmap file: %s", strerror(errno));
	a->id = 999;
	a->prot = PROT_READ | PROT_WRITE;
	for (uint32_t p = 0; p < FILE_PAGES; p++)
		a->ver[p] = FROM_FILE;
	set_page(a, 1, 11); /* copied on write */
	a->ver[1] = 11;
}

static void grow_heap(uint32_t ver)
{
	if (heap_pages + 8 > HEAP_MAX)
		return;
	if (sbrk(8 * PAGE) == (void *)-1)
		die("sbrk: %s", strerror(errno));
	for (unsigned i = 0; i < 8; i++, heap_pages++) {
		fill(heap_base + heap_pages * PAGE, 500, heap_pages, ver);
		heap_ver[heap_pages] = ver;
	}
}

static void step(uint32_t k)
{
	uint32_t v = k * 100;
	/* Unmapped, and a new area at the same address. */
	struct area *a = &areas[k % NAREAS];
	uint8_t *at = a->addr;
	if (munmap(at, AREA_PAGES * PAGE) < 0)
		die("munmap: %s", strerror(errno));
	new_area(a, at, 100 + k, v + 1);
	/* A page zapped (and read again: zero), another written. */
	a = &areas[(k + 1) % NAREAS];
	if (a->prot & PROT_WRITE) {
		madvise(a->addr + 2 * PAGE, PAGE, MADV_DONTNEED);
		a->ver[2] = 0;
		volatile uint8_t r = a->addr[2 * PAGE];
		(void)r;
		set_page(a, 4, v + 2);
	}
	/* Read-only, or writable again and written. */
	a = &areas[(k + 2) % NAREAS];
	if (a->prot & PROT_WRITE) {
		a->prot = PROT_READ;
	} else {
		a->prot = PROT_READ | PROT_WRITE;
	}
	if (mprotect(a->addr, AREA_PAGES * PAGE, a->prot) < 0)
		die("mprotect: %s", strerror(errno));
	if (a->prot & PROT_WRITE)
		set_page(a, 1, v + 3);
	grow_heap(v + 4);
	/* Moved to another address. */
	a = &areas[(k + 3) % NAREAS];
	uint8_t *to = mmap(NULL, AREA_PAGES * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (to == MAP_FAILED)
		die("mmap: %s", strerror(errno));
	uint8_t *moved = mremap(a->addr, AREA_PAGES * PAGE, AREA_PAGES * PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, to);
	if (moved == MAP_FAILED)
		die("mremap: %s", strerror(errno));
	a->addr = moved;
	if (a->prot & PROT_WRITE)
		set_page(a, 7, v + 5);
	/* A copy on write in the file mapping. */
	set_page(&areas[NAREAS], 2 + k % (FILE_PAGES - 2), v + 6);
	/* Two pages dropped, one of them read again (the zero page). */
	a = &areas[ZAPPED];
	uint32_t p = (2 * k) % AREA_PAGES;
	madvise(a->addr + p * PAGE, 2 * PAGE, MADV_DONTNEED);
	a->ver[p] = a->ver[p + 1] = 0;
	volatile uint8_t r = a->addr[(p + 1) * PAGE];
	(void)r;
}

static bool exists(const char *dir, const char *name, unsigned k)
{
	char path[512];
	snprintf(path, sizeof path, "%s/%s-%u", dir, name, k);
	return access(path, F_OK) == 0;
}

static void touch(const char *dir, const char *name, unsigned k)
{
	char path[512];
	snprintf(path, sizeof path, "%s/%s-%u", dir, name, k);
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		die("create %s: %s", path, strerror(errno));
	close(fd);
}

static void verify(void)
{
	for (int i = 0; i <= ZAPPED; i++) {
		struct area *a = &areas[i];
		uint32_t n = i == NAREAS ? FILE_PAGES : AREA_PAGES;
		for (uint32_t p = 0; p < n; p++) {
			bool ok = a->ver[p] == FROM_FILE ? page_ok(a->addr + p * PAGE, 999, p, 7)
							  : page_ok(a->addr + p * PAGE, a->id, p, a->ver[p]);
			CHECK(ok, "area %d (id %u) page %u differs from version %u", i, a->id, p, a->ver[p]);
		}
	}
	for (unsigned p = 0; p < heap_pages; p++)
		CHECK(page_ok(heap_base + p * PAGE, 500, p, heap_ver[p]), "heap page %u differs", p);
}

int main(int argc, char **argv)
{
	if (argc != 2)
		die("usage: mapchurn SYNCDIR");
	const char *dir = argv[1];
	for (uint32_t i = 0; i < NAREAS; i++)
		new_area(&areas[i], NULL, i + 1, 1);
	file_area(dir);
	new_area(&areas[ZAPPED], NULL, 77, 1);
	for (uint32_t p = 0; p < AREA_PAGES; p++)
		set_page(&areas[ZAPPED], p, 1);
	heap_base = sbrk(0);
	grow_heap(2);
	say("ready");
	unsigned k = 1;
	for (long ms = 0; ms < 120000; ms++) {
		if (exists(dir, "round", k)) {
			step(k);
			touch(dir, "ack", k);
			k++;
			ms = 0;
			continue;
		}
		if (exists(dir, "done", 0))
			break;
		struct timespec ts = {0, 1000000};
		nanosleep(&ts, NULL);
	}
	say("steps %u", k - 1);
	verify();
	return tp_finish();
}
