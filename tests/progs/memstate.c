/* memstate DIR: memory and pipe state that once came back silently
 * different after a restore.
 *
 *   - anonymous areas with each madvise() flag the kernel shows in smaps
 *     VmFlags (dc, wf, mg, sr, rr, dd, hg, nh), one mlock()ed, one locked
 *     on fault, one MAP_NORESERVE, one mseal()ed (where the kernel has
 *     mseal): the same VmFlags afterwards;
 *   - a file mapped six times: shared read-only, shared read-write with a
 *     page made read-only by mprotect, private at an offset with a
 *     modified page, private with modified pages then made read-only and
 *     PROT_NONE, private executable, and private read-only with its second
 *     page made writable and read-only again (ld.so's RELRO: the kernel
 *     accounts it, "ac", and keeps it apart): the same contents,
 *     protections, VmFlags and maps lines;
 *   - a pipe of 1 MiB, full, its read end reopened through /proc/self/fd
 *     (non-blocking) and dup'd, its write end reopened likewise
 *     (non-blocking): each reopened end its own open file with its own
 *     flags, every byte in order through any of the read ends, and the
 *     write ends still write;
 *   - a named FIFO in DIR opened read-only, with bytes in it and no writer
 *     left: the bytes are still there;
 *   - a pipe whose write end is closed, with bytes in it (what make gives
 *     its jobs as stdin): the bytes, then end of file; a pipe whose read
 *     end is closed: a write fails with EPIPE;
 *   - an anonymous area of three pages: the first read-only from the
 *     start, the second written and made read-only, the third written,
 *     emptied (MADV_DONTNEED) and made PROT_NONE, as a thread stack's
 *     guard is (the kernel accounts the last two, "ac", and keeps them
 *     apart from the first): the same contents, VmFlags and maps lines;
 *   - an anonymous area named with PR_SET_VMA_ANON_NAME: the same name;
 *   - a POSIX shared memory file (/dev/shm) mapped shared: its contents,
 *     and the mapping still writes into the file;
 *   - another one, mapped shared and then unlinked (as sem_open's
 *     semaphores are): its contents, its maps line still names it and
 *     says "(deleted)", and no file of that name is left.
 *   - execute-only memory (PROT_EXEC alone, a function written there
 *     first), which the kernel puts under a protection key of its own on
 *     a CPU with them: still execute-only, under the same key, and the
 *     function runs.
 * Protocol of testprog.h: ready, SIGUSR1, PASS or FAIL. */
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "testprog.h"

#define AREA (4u << 20)
#define PIPE_BYTES (1u << 20)

static const struct {
	const char *code;
	int advice;
} advised[] = {
	{"dc", MADV_DONTFORK}, {"wf", MADV_WIPEONFORK}, {"mg", MADV_MERGEABLE}, {"sr", MADV_SEQUENTIAL},
	{"rr", MADV_RANDOM},   {"dd", MADV_DONTDUMP},   {"hg", MADV_HUGEPAGE},  {"nh", MADV_NOHUGEPAGE},
};
#define NADVISED (sizeof advised / sizeof advised[0])

static void *anon(int extra)
{
	void *p = mmap(NULL, AREA, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | extra, -1, 0);
	SETUP(p != MAP_FAILED, "mmap");
	memset(p, 0x5a, 4096);
	return p;
}

/* A new file NAME of SIZE bytes on /dev/shm, mapped shared. */
static char *shm_map(const char *name, size_t size)
{
	int fd = open(name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	SETUP(fd >= 0 && ftruncate(fd, (off_t)size) == 0, name);
	char *at = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	SETUP(at != MAP_FAILED, "mmap of a shared memory file");
	close(fd);
	return at;
}

/* How many lines of /proc/self/maps cover [at, at + len). */
static int maps_lines(const void *at, size_t len)
{
	FILE *f = fopen("/proc/self/maps", "r");
	SETUP(f != NULL, "/proc/self/maps");
	unsigned long start, end, lo = (unsigned long)at, hi = lo + len;
	int n = 0, c;
	while (fscanf(f, "%lx-%lx", &start, &end) == 2) {
		n += start < hi && end > lo;
		while ((c = fgetc(f)) != EOF && c != '\n')
			;
	}
	fclose(f);
	return n;
}

/* Execute-only memory: a page holding a function that returns 42, made
 * PROT_EXEC alone; KEY gets its smaps ProtectionKey ("" without keys). */
static const unsigned char ret42[] = {0xb8, 42, 0, 0, 0, 0xc3}; /* mov $42, %eax; ret */

static void *xonly_setup(char *key, size_t len)
{
	void *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	SETUP(page != MAP_FAILED, "mmap");
	memcpy(page, ret42, sizeof ret42);
	SETUP(mprotect(page, 4096, PROT_EXEC) == 0, "execute-only mprotect");
	tp_smaps_field(page, "ProtectionKey:", key, len);
	return page;
}

static void xonly_check(void *page, const char *key_before)
{
	char key[32], flags[256];
	tp_smaps_field(page, "ProtectionKey:", key, sizeof key);
	CHECK(strcmp(key, key_before) == 0, "execute-only memory has protection key \"%s\", had \"%s\"", key, key_before);
	tp_vmflags(page, flags, sizeof flags);
	CHECK(tp_has_vmflag(flags, "ex") && !tp_has_vmflag(flags, "rd") && !tp_has_vmflag(flags, "wr"),
	      "execute-only memory: VmFlags \"%s\"", flags);
	int (*fn)(void) = (int (*)(void))page;
	CHECK(fn() == 42, "the function in execute-only memory");
}

int main(int argc, char **argv)
{
	SETUP(argc == 2, "usage: memstate DIR");
	usr1_setup();
	char flags[256];

	/* Advice, locks, seal. */
	void *areas[NADVISED];
	char before[NADVISED][256];
	for (size_t i = 0; i < NADVISED; i++) {
		areas[i] = anon(0);
		SETUP(madvise(areas[i], AREA, advised[i].advice) == 0, advised[i].code);
		tp_vmflags(areas[i], before[i], sizeof before[i]);
		SETUP(tp_has_vmflag(before[i], advised[i].code), "the kernel shows the advice");
	}
	void *locked = anon(0), *onfault = anon(0), *noreserve = anon(MAP_NORESERVE), *sealed = anon(0);
	SETUP(mlock(locked, AREA) == 0, "mlock");
	SETUP(syscall(SYS_mlock2, onfault, AREA, 1 /* MLOCK_ONFAULT */) == 0, "mlock2");
	bool can_seal = syscall(462 /* mseal */, sealed, AREA, 0) == 0;
	/* A POSIX shared memory file, mapped shared; another one unlinked once mapped. */
	char shm_name[64], gone_name[64];
	snprintf(shm_name, sizeof shm_name, "/dev/shm/memstate-%d", (int)getpid());
	snprintf(gone_name, sizeof gone_name, "/dev/shm/memstate-gone-%d", (int)getpid());
	char *shared = shm_map(shm_name, 65536);
	for (int k = 0; k < 65536; k++)
		shared[k] = (char)mix64((uint64_t)k + 7);
	char *gone = shm_map(gone_name, 8192);
	SETUP(unlink(gone_name) == 0, "unlinking the shared memory file");
	memset(gone, 'g', 8192);

	char xkey[32];
	void *xonly = xonly_setup(xkey, sizeof xkey);

	/* Naming needs CONFIG_ANON_VMA_NAME; without it there is nothing to carry. */
	char *named = anon(0);
	bool can_name = prctl(0x53564d41 /* PR_SET_VMA */, 0 /* ANON_NAME */, named, AREA, "memstate-name") == 0;

	/* One file, six mappings. */
	char path[4096];
	snprintf(path, sizeof path, "%s/mapped", argv[1]);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	SETUP(fd >= 0 && ftruncate(fd, 4 * 4096) == 0, "the mapped file");
	for (int pg = 0; pg < 4; pg++)
		SETUP(pwrite(fd, (char[]){'A' + pg}, 1, pg * 4096) == 1, "pwrite");
	char *shared_ro = mmap(NULL, 4 * 4096, PROT_READ, MAP_SHARED, fd, 0);
	char *shared_rw = mmap(NULL, 4 * 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	char *priv_off = mmap(NULL, 2 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 4096);
	char *priv_ro = mmap(NULL, 2 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	char *priv_x = mmap(NULL, 4 * 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE, fd, 0);
	char *relro = mmap(NULL, 2 * 4096, PROT_READ, MAP_PRIVATE, fd, 0);
	SETUP(shared_ro != MAP_FAILED && shared_rw != MAP_FAILED && priv_off != MAP_FAILED && priv_ro != MAP_FAILED &&
		      priv_x != MAP_FAILED && relro != MAP_FAILED,
	      "mmap of the file");
	/* As ld.so does with RELRO: the second page writable for a while
	 * makes it accounted ("ac"), which keeps it apart from the first. */
	SETUP(mprotect(relro + 4096, 4096, PROT_READ | PROT_WRITE) == 0 && mprotect(relro + 4096, 4096, PROT_READ) == 0,
	      "mprotect");
	char relro_flags[2][256];
	tp_vmflags(relro, relro_flags[0], sizeof relro_flags[0]);
	tp_vmflags(relro + 4096, relro_flags[1], sizeof relro_flags[1]);
	SETUP(maps_lines(relro, 2 * 4096) == 2 && tp_has_vmflag(relro_flags[1], "ac"), "the kernel keeps them apart");
	char *anon3 = mmap(NULL, 3 * 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	SETUP(anon3 != MAP_FAILED && mprotect(anon3 + 4096, 2 * 4096, PROT_READ | PROT_WRITE) == 0, "anonymous pages");
	anon3[4096] = 'w';
	anon3[2 * 4096] = 'x';
	SETUP(madvise(anon3 + 2 * 4096, 4096, MADV_DONTNEED) == 0 && mprotect(anon3 + 4096, 4096, PROT_READ) == 0 &&
		      mprotect(anon3 + 2 * 4096, 4096, PROT_NONE) == 0,
	      "anonymous pages made read-only");
	char anon3_flags[3][256];
	for (int pg = 0; pg < 3; pg++)
		tp_vmflags(anon3 + pg * 4096, anon3_flags[pg], sizeof anon3_flags[pg]);
	SETUP(maps_lines(anon3, 3 * 4096) == 3 && !tp_has_vmflag(anon3_flags[0], "ac") &&
		      tp_has_vmflag(anon3_flags[1], "ac") && tp_has_vmflag(anon3_flags[2], "ac"),
	      "the kernel accounts the anonymous pages once writable");
	shared_rw[1] = 's';
	SETUP(mprotect(shared_rw + 4096, 4096, PROT_READ) == 0, "mprotect");
	char ro_before[256];
	tp_vmflags(shared_rw + 4096, ro_before, sizeof ro_before);
	priv_off[1] = 'o';
	priv_ro[1] = 'p';
	priv_ro[4096 + 1] = 'q';
	SETUP(mprotect(priv_ro, 4096, PROT_READ) == 0 && mprotect(priv_ro + 4096, 4096, PROT_NONE) == 0, "mprotect");
	close(fd);

	/* A full pipe of 1 MiB, with its ends reopened and dup'd. */
	int p[2];
	SETUP(pipe(p) == 0, "pipe");
	SETUP(fcntl(p[1], F_SETPIPE_SZ, PIPE_BYTES) == (int)PIPE_BYTES, "F_SETPIPE_SZ");
	static char chunk[65536];
	for (unsigned off = 0; off < PIPE_BYTES; off += sizeof chunk) {
		for (size_t k = 0; k < sizeof chunk; k++)
			chunk[k] = (char)mix64(off + k);
		SETUP(write(p[1], chunk, sizeof chunk) == (ssize_t)sizeof chunk, "filling the pipe");
	}
	char link[64];
	snprintf(link, sizeof link, "/proc/self/fd/%d", p[0]);
	int reader2 = open(link, O_RDONLY);
	snprintf(link, sizeof link, "/proc/self/fd/%d", p[1]);
	int writer2 = open(link, O_WRONLY | O_NONBLOCK);
	int reader3 = dup(p[0]);
	SETUP(reader2 >= 0 && writer2 >= 0 && reader3 >= 0, "reopening the pipe's ends");
	SETUP(fcntl(reader2, F_SETFL, O_NONBLOCK) == 0, "a non-blocking reader");

	/* A named FIFO, read-only, bytes in it, its writer gone. */
	snprintf(path, sizeof path, "%s/fifo", argv[1]);
	unlink(path);
	SETUP(mkfifo(path, 0600) == 0, "mkfifo");
	int fifo = open(path, O_RDONLY | O_NONBLOCK);
	int fifo_w = open(path, O_WRONLY);
	SETUP(fifo >= 0 && fifo_w >= 0 && write(fifo_w, "still here", 10) == 10, "the FIFO");
	int widowed[2], orphaned[2];
	SETUP(pipe2(widowed, O_CLOEXEC) == 0 && write(widowed[1], "last words", 10) == 10 && close(widowed[1]) == 0,
	      "a pipe without a writer");
	SETUP(pipe2(orphaned, O_CLOEXEC) == 0 && close(orphaned[0]) == 0 && signal(SIGPIPE, SIG_IGN) != SIG_ERR,
	      "a pipe without a reader");
	close(fifo_w);

	say("ready");
	usr1_wait();
	xonly_check(xonly, xkey);

	for (size_t i = 0; i < NADVISED; i++) {
		tp_vmflags(areas[i], flags, sizeof flags);
		CHECK(strcmp(flags, before[i]) == 0, "madvise %s: VmFlags \"%s\", were \"%s\"", advised[i].code, flags,
		      before[i]);
	}
	tp_vmflags(locked, flags, sizeof flags);
	CHECK(tp_has_vmflag(flags, "lo"), "mlock()ed area: VmFlags \"%s\"", flags);
	tp_vmflags(onfault, flags, sizeof flags);
	CHECK(tp_has_vmflag(flags, "lo") && tp_has_vmflag(flags, "lf"), "area locked on fault: VmFlags \"%s\"", flags);
	tp_vmflags(noreserve, flags, sizeof flags);
	CHECK(tp_has_vmflag(flags, "nr"), "MAP_NORESERVE area: VmFlags \"%s\"", flags);
	if (can_seal) {
		tp_vmflags(sealed, flags, sizeof flags);
		CHECK(tp_has_vmflag(flags, "sl"), "mseal()ed area: VmFlags \"%s\"", flags);
		CHECK(munmap(sealed, AREA) != 0 && errno == EPERM, "the sealed area can be unmapped");
	}

	CHECK(shared_ro[0] == 'A' && shared_ro[1] == 's' && shared_ro[4096] == 'B', "shared read-only mapping");
	CHECK(priv_off[0] == 'B' && priv_off[1] == 'o' && priv_off[4096] == 'C', "private mapping at an offset");
	CHECK(priv_ro[0] == 'A' && priv_ro[1] == 'p', "private page made read-only");
	CHECK(mprotect(priv_ro + 4096, 4096, PROT_READ) == 0 && priv_ro[4096] == 'B' && priv_ro[4096 + 1] == 'q',
	      "private page made PROT_NONE");
	CHECK(priv_x[0] == 'A' && priv_x[1] == 's', "private executable mapping");
	CHECK(maps_lines(relro, 2 * 4096) == 2, "two read-only pages of the file, one accounted, merged: %d maps lines",
	      maps_lines(relro, 2 * 4096));
	for (int pg = 0; pg < 2; pg++) {
		tp_vmflags(relro + pg * 4096, flags, sizeof flags);
		CHECK(strcmp(flags, relro_flags[pg]) == 0, "read-only page %d of the file: VmFlags \"%s\", were \"%s\"", pg,
		      flags, relro_flags[pg]);
	}
	CHECK(maps_lines(anon3, 3 * 4096) == 3, "three anonymous pages, two accounted: %d maps lines",
	      maps_lines(anon3, 3 * 4096));
	for (int pg = 0; pg < 3; pg++) {
		tp_vmflags(anon3 + pg * 4096, flags, sizeof flags);
		CHECK(strcmp(flags, anon3_flags[pg]) == 0, "anonymous page %d: VmFlags \"%s\", were \"%s\"", pg, flags,
		      anon3_flags[pg]);
	}
	CHECK(anon3[0] == 0 && anon3[4096] == 'w', "the anonymous pages' contents");
	CHECK(mprotect(anon3 + 2 * 4096, 4096, PROT_READ) == 0 && anon3[2 * 4096] == 0, "the emptied page");
	shared_rw[3 * 4096] = 't';
	CHECK(shared_ro[3 * 4096] == 't', "the shared mappings no longer share the file");
	tp_vmflags(shared_rw + 4096, flags, sizeof flags);
	CHECK(strcmp(flags, ro_before) == 0, "the shared page made read-only: VmFlags \"%s\", were \"%s\"", flags,
	      ro_before);
	CHECK(mprotect(shared_rw + 4096, 4096, PROT_READ | PROT_WRITE) == 0, "the read-only shared page cannot be "
	      "made writable again: %s", strerror(errno));

	/* Each reopened end its own open file, with its own flags; the dup shares one. */
	pid_t self = getpid();
	CHECK(syscall(SYS_kcmp, self, self, 0 /* KCMP_FILE */, p[0], reader3) == 0 &&
		      syscall(SYS_kcmp, self, self, 0, p[0], reader2) != 0 &&
		      syscall(SYS_kcmp, self, self, 0, p[1], writer2) != 0,
	      "the pipe's reopened ends share an open file with its own ends");
	CHECK(!(fcntl(p[0], F_GETFL) & O_NONBLOCK) && (fcntl(reader2, F_GETFL) & O_NONBLOCK) &&
		      !(fcntl(p[1], F_GETFL) & O_NONBLOCK) && (fcntl(writer2, F_GETFL) & O_NONBLOCK),
	      "the pipe's ends lost their own flags");
	int queued = -1;
	CHECK(ioctl(reader2, FIONREAD, &queued) == 0 && queued == (int)PIPE_BYTES, "the pipe holds %d bytes", queued);
	CHECK(fcntl(p[1], F_GETPIPE_SZ) == (int)PIPE_BYTES, "the pipe's capacity");
	int readers[] = {p[0], reader2, reader3};
	unsigned got = 0;
	bool in_order = true;
	for (int r = 0; got < PIPE_BYTES; r = (r + 1) % 3) {
		ssize_t n = read(readers[r], chunk, 4096);
		if (n <= 0)
			break;
		for (ssize_t k = 0; k < n; k++)
			in_order &= chunk[k] == (char)mix64(got + k);
		got += (unsigned)n;
	}
	CHECK(got == PIPE_BYTES && in_order, "the pipe gave %u bytes, %s", got, in_order ? "in order" : "out of order");
	CHECK(write(p[1], "x", 1) == 1 && write(writer2, "y", 1) == 1 && read(reader3, chunk, 2) == 2 &&
		      chunk[0] == 'x' && chunk[1] == 'y',
	      "the pipe's write ends");

	char maps[1 << 16], want[64];
	snprintf(want, sizeof want, "%lx-", (unsigned long)named);
	ssize_t mn = read_file("/proc/self/maps", maps, sizeof maps - 1);
	maps[mn > 0 ? mn : 0] = 0;
	char *line = strstr(maps, want);
	char *eol = line ? strchr(line, '\n') : NULL;
	if (eol)
		*eol = 0;
	CHECK(!can_name || (line && strstr(line, "[anon:memstate-name]")), "the named area: %s", line ? line : "not found");
	if (eol)
		*eol = '\n';
	snprintf(want, sizeof want, "%lx-", (unsigned long)gone);
	line = strstr(maps, want);
	eol = line ? strchr(line, '\n') : NULL;
	if (eol)
		*eol = 0;
	char gone_line[128];
	snprintf(gone_line, sizeof gone_line, "%s (deleted)", gone_name);
	CHECK(line && strstr(line, gone_line), "the unlinked shared memory file's maps line: %s", line ? line : "not found");
	CHECK(access(gone_name, F_OK) < 0 && errno == ENOENT, "%s exists again", gone_name);
	bool gone_same = true;
	for (int k = 0; k < 8192; k++)
		gone_same &= gone[k] == 'g';
	CHECK(gone_same, "the unlinked shared memory file's contents");

	bool shm_same = true;
	for (int k = 0; k < 65536; k++)
		shm_same &= shared[k] == (char)mix64((uint64_t)k + 7);
	CHECK(shm_same, "the shared memory file's contents");
	shared[0] = 'S';
	char first = 0;
	int again = open(shm_name, O_RDONLY | O_CLOEXEC);
	CHECK(again >= 0 && pread(again, &first, 1, 0) == 1 && first == 'S', "the mapping no longer writes into %s",
	      shm_name);
	if (again >= 0)
		close(again);
	unlink(shm_name);

	char got_fifo[16] = {0};
	CHECK(read(fifo, got_fifo, sizeof got_fifo) == 10 && memcmp(got_fifo, "still here", 10) == 0,
	      "the FIFO holds \"%s\"", got_fifo);
	char words[16] = {0};
	CHECK(read(widowed[0], words, sizeof words) == 10 && memcmp(words, "last words", 10) == 0 &&
		      read(widowed[0], words, sizeof words) == 0,
	      "the pipe without a writer holds \"%s\", then its end", words);
	CHECK(write(orphaned[1], "x", 1) < 0 && errno == EPIPE, "the pipe without a reader takes a write");
	return tp_finish();
}
