/* delmap MODE DIR: mappings of files whose name was removed
 * (migrator/unlinked_map.c), with DIR an empty scratch directory.
 *
 *   carried   sets up, then checks after the wake-up:
 *     - "m": 5 pages, held read-write at fd 60, unlinked, mapped four
 *       times: A shared read-write at offset 0 (2 pages, written through
 *       before the dump), B shared read-only at offset 2 pages, C private
 *       read-write at offset 1 page (2 pages, its first one modified: a
 *       private copy), D private read-only at offset 4 pages; a second
 *       descriptor (fd 61, read-only) opened on it separately;
 *     - "r": 3 pages, held read-only, unlinked, mapped shared read-only
 *       (E) and private read+exec (F);
 *     after restore: every mapping at the same address with the same
 *     protection, offset, sharing and "DIR/NAME (deleted)" in
 *     /proc/self/maps; the contents; the private copy kept; writes
 *     through the descriptor seen in the shared mappings and in the
 *     unmodified private page, writes through A seen by the descriptors;
 *     the files still without a name, of the same size.
 *   nofd      sets up, then checks after the wake-up, with no descriptor
 *     held on either file:
 *     - "n": 4 pages, mapped three times: N1 shared read-write at offset
 *       0 (2 pages, written through before the dump), N2 shared read-only
 *       at offset 1 page (2 pages: N1's second page is its first), N3
 *       private read-write at offset 2 pages (1 page, modified: a private
 *       copy); its last page is mapped nowhere;
 *     - "x": 2 pages, mapped private read+exec;
 *     after restore: the mappings as in carried; the contents, the
 *     private copy kept, the page mapped nowhere; N1 and N2 one file (a
 *     write through N1 seen in N2); the files nameless, of the same size,
 *     mode and mtime; as many descriptors as before (none left behind).
 *   hardlink  a mapped file whose name was removed but with another hard
 *             link left (no descriptor held): refused.
 *   big       a mapped unlinked file of 65 MiB (sparse): refused.
 *   bignofd   the same, with no descriptor held: refused.
 *   memfd     sets up, then checks after the wake-up:
 *     - "delmap": a memfd (sealing allowed) of 3 pages and 100 bytes, mode
 *       0640, held read-write at fd 62 (offset 1234), mapped shared
 *       read-write at offset 1 page (2 pages, written through before the
 *       dump) and private read-write at offset 0 (modified: a private
 *       copy), then sealed against shrinking and growing;
 *     - "plain": a memfd made without MFD_ALLOW_SEALING (so sealed with
 *       F_SEAL_SEAL), held read-only at fd 63, holding "memfd";
 *     - "nofd": a memfd of one page mapped shared read-write, written,
 *       sealed against growing, its descriptor closed;
 *     - "exe": a memfd holding /bin/true at fd 61, memfd_create's own
 *       descriptor, which fexecve must still run after the restore;
 *     after restore: the names "/memfd:NAME (deleted)" of descriptors and
 *     mappings, the seals, size, mode, offsets, contents, the private
 *     copy kept; a write through the shared mapping seen by the
 *     descriptor, and growing refused by the seal; "nofd" mapped again
 *     with its contents and seal, and no descriptor more than before.
 *   memfdsealed  a memfd mapped shared read-write, then sealed against
 *     future writes (F_SEAL_FUTURE_WRITE): refused, as it could not be
 *     mapped so again.
 * In the refused modes the process is left alone and passes its checks. */
#include <sys/mman.h>
#include <sys/stat.h>

#include "testprog.h"

#define PG 4096
static char dir[4096];

static unsigned char pattern(const char *name, size_t off)
{
	return (unsigned char)(name[0] * 31 + off * 7 + off / PG);
}

/* Makes DIR/NAME of NPAGES with the pattern, opens it FLAGS at fd AT,
 * and removes its name (unless keep). */
static int make_file(const char *name, size_t npages, int flags, int at, bool keep)
{
	char path[4200];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0640);
	SETUP(fd >= 0, name);
	static unsigned char buf[PG];
	for (size_t p = 0; p < npages; p++) {
		for (size_t i = 0; i < PG; i++)
			buf[i] = pattern(name, p * PG + i);
		SETUP(pwrite(fd, buf, PG, (off_t)(p * PG)) == PG, "write");
	}
	close(fd);
	fd = open(path, flags);
	SETUP(fd >= 0 && dup2(fd, at) == at && close(fd) == 0, "reopen");
	SETUP(keep || unlink(path) == 0, "unlink");
	return at;
}

static unsigned char *map(size_t npages, int prot, int flags, int fd, size_t pgoff)
{
	void *p = mmap(NULL, npages * PG, prot, flags, fd, (off_t)(pgoff * PG));
	SETUP(p != MAP_FAILED, "mmap");
	return p;
}

/* Whether /proc/self/maps has the VMA [addr, addr+npages) with PERMS,
 * offset PGOFF and "DIR/NAME (deleted)". */
static bool maps_has(const void *addr, size_t npages, const char *perms, size_t pgoff, const char *name)
{
	static char maps[1 << 16];
	ssize_t n = read_file("/proc/self/maps", maps, sizeof(maps) - 1);
	if (n <= 0)
		return false;
	maps[n] = 0;
	char want[4400];
	snprintf(want, sizeof(want), "%lx-%lx %s %08lx ", (unsigned long)addr, (unsigned long)addr + npages * PG, perms,
		 (unsigned long)(pgoff * PG));
	char *line = strstr(maps, want);
	if (!line)
		return false;
	char *end = strchr(line, '\n');
	if (end)
		*end = 0;
	char tail[4300];
	snprintf(tail, sizeof(tail), " %s/%s (deleted)", dir, name);
	size_t ll = strlen(line), tl = strlen(tail);
	return ll > tl && strcmp(line + ll - tl, tail) == 0;
}

static bool same_as_file(const unsigned char *p, size_t len, const char *name, size_t off)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] != pattern(name, off + i))
			return false;
	return true;
}

static int carried(void)
{
	int m = make_file("m", 5, O_RDWR, 60, false);
	char mpath[4200];
	snprintf(mpath, sizeof(mpath), "%s/m", dir);
	int m2 = open("/proc/self/fd/60", O_RDONLY);
	SETUP(m2 >= 0 && dup2(m2, 61) == 61 && close(m2) == 0, "second open file");
	m2 = 61;
	unsigned char *a = map(2, PROT_READ | PROT_WRITE, MAP_SHARED, m, 0);
	unsigned char *b = map(2, PROT_READ, MAP_SHARED, m, 2);
	unsigned char *c = map(2, PROT_READ | PROT_WRITE, MAP_PRIVATE, m, 1);
	unsigned char *d = map(1, PROT_READ, MAP_PRIVATE, m, 4);
	memcpy(a + 100, "shared-before", 13);
	memcpy(c + 5, "private-copy", 12);
	int r = make_file("r", 3, O_RDONLY, 62, false);
	unsigned char *e = map(3, PROT_READ, MAP_SHARED, r, 0);
	unsigned char *f = map(2, PROT_READ | PROT_EXEC, MAP_PRIVATE, r, 1);
	struct stat m_before, r_before;
	SETUP(fstat(m, &m_before) == 0 && fstat(r, &r_before) == 0, "fstat");

	say("ready");
	usr1_wait();

	CHECK(maps_has(a, 2, "rw-s", 0, "m"), "A: address, protection, offset or name");
	CHECK(maps_has(b, 2, "r--s", 2, "m"), "B: address, protection, offset or name");
	CHECK(maps_has(c, 2, "rw-p", 1, "m"), "C: address, protection, offset or name");
	CHECK(maps_has(d, 1, "r--p", 4, "m"), "D: address, protection, offset or name");
	CHECK(maps_has(e, 3, "r--s", 0, "r"), "E: address, protection, offset or name");
	CHECK(maps_has(f, 2, "r-xp", 1, "r"), "F: address, protection, offset or name");

	/* contents */
	CHECK(memcmp(a + 100, "shared-before", 13) == 0 && same_as_file(a, 100, "m", 0) &&
	      same_as_file(a + 113, 2 * PG - 113, "m", 113), "A: contents");
	CHECK(same_as_file(b, 2 * PG, "m", 2 * PG), "B: contents");
	CHECK(memcmp(c + 5, "private-copy", 12) == 0 && same_as_file(c, 5, "m", PG) &&
	      same_as_file(c + 17, 2 * PG - 17, "m", PG + 17), "C: contents with its private copy");
	CHECK(same_as_file(d, PG, "m", 4 * PG), "D: contents");
	CHECK(same_as_file(e, 3 * PG, "r", 0) && same_as_file(f, 2 * PG, "r", PG), "E, F: contents");
	char buf[32] = {0};
	CHECK(pread(m2, buf, 13, 100) == 13 && memcmp(buf, "shared-before", 13) == 0,
	      "the write through A before the dump is in the file");
	CHECK(pread(m2, buf, 12, PG + 5) == 12 && same_as_file((unsigned char *)buf, 12, "m", PG + 5),
	      "the private copy leaked into the file");

	/* one file: descriptors and mappings share it */
	CHECK(pwrite(m, "via-fd", 6, 2 * PG + 10) == 6 && memcmp(b + 10, "via-fd", 6) == 0 &&
	      memcmp(c + PG + 10, "via-fd", 6) == 0, "a write through the descriptor is not seen in B and C's clean page");
	CHECK(pwrite(m, "fd-again", 8, PG + 5) == 8 && memcmp(c + 5, "private-copy", 12) == 0,
	      "the private copy changed with the file");
	memcpy(a + PG + 20, "via-map", 7);
	CHECK(pread(m2, buf, 7, PG + 20) == 7 && memcmp(buf, "via-map", 7) == 0,
	      "a write through A is not seen through the other descriptor");
	struct stat st, st2;
	CHECK(fstat(m, &st) == 0 && fstat(m2, &st2) == 0 && st.st_ino == st2.st_ino && st.st_nlink == 0 &&
	      st.st_size == 5 * PG && (st.st_mode & 07777) == 0640, "m: one nameless file of 5 pages");
	CHECK(fstat(r, &st) == 0 && st.st_nlink == 0 && st.st_size == 3 * PG && st.st_mtim.tv_sec == r_before.st_mtim.tv_sec &&
	      st.st_mtim.tv_nsec == r_before.st_mtim.tv_nsec, "r: size, links or mtime");
	CHECK(access(mpath, F_OK) < 0 && errno == ENOENT, "m: the name came back");
	char link[4300];
	ssize_t n = readlink("/proc/self/fd/60", link, sizeof(link) - 1);
	link[n > 0 ? n : 0] = 0;
	char want[4300];
	snprintf(want, sizeof(want), "%s (deleted)", mpath);
	CHECK(strcmp(link, want) == 0, "fd 60 links to \"%s\"", link);
	return tp_finish();
}

/* The status of the file mapped at addr (through /proc/self/map_files),
 * and a descriptor of it in *fd when fd is given. */
static bool mapped_stat(const void *addr, size_t npages, struct stat *st, int *fd)
{
	char link[96];
	snprintf(link, sizeof(link), "/proc/self/map_files/%lx-%lx", (unsigned long)addr,
		 (unsigned long)addr + npages * PG);
	int f = open(link, O_RDONLY);
	if (f < 0)
		return false;
	bool ok = fstat(f, st) == 0;
	if (fd && ok)
		*fd = f;
	else
		close(f);
	return ok;
}

/* The entries of /proc/self/fd. */
static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;
	if (!d)
		return -1;
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

static int nofd(void)
{
	int fd = make_file("n", 4, O_RDWR, 60, false);
	unsigned char *n1 = map(2, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	unsigned char *n2 = map(2, PROT_READ, MAP_SHARED, fd, 1);
	unsigned char *n3 = map(1, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 2);
	memcpy(n1 + 100, "shared-before", 13);
	memcpy(n3 + 7, "private-copy", 12);
	struct stat n_before, x_before;
	SETUP(fstat(fd, &n_before) == 0 && close(fd) == 0, "n");
	fd = make_file("x", 2, O_RDONLY, 60, false);
	unsigned char *x = map(2, PROT_READ | PROT_EXEC, MAP_PRIVATE, fd, 0);
	SETUP(fstat(fd, &x_before) == 0 && close(fd) == 0, "x");
	/* Free numbers below a held one: where a file made at restore for its
	 * mappings would stay if it were left open. */
	SETUP(dup2(0, 9) == 9, "fd 9");
	for (int free_fd = 3; free_fd < 9; free_fd++)
		close(free_fd);
	int fds_before = count_fds();

	say("ready");
	usr1_wait();

	CHECK(maps_has(n1, 2, "rw-s", 0, "n"), "N1: address, protection, offset or name");
	CHECK(maps_has(n2, 2, "r--s", 1, "n"), "N2: address, protection, offset or name");
	CHECK(maps_has(n3, 1, "rw-p", 2, "n"), "N3: address, protection, offset or name");
	CHECK(maps_has(x, 2, "r-xp", 0, "x"), "X: address, protection, offset or name");
	CHECK(count_fds() == fds_before, "%d descriptors where there were %d", count_fds(), fds_before);

	CHECK(memcmp(n1 + 100, "shared-before", 13) == 0 && same_as_file(n1, 100, "n", 0) &&
	      same_as_file(n1 + 113, 2 * PG - 113, "n", 113), "N1: contents");
	CHECK(same_as_file(n2 + PG, PG, "n", 2 * PG), "N2: contents");
	CHECK(memcmp(n3 + 7, "private-copy", 12) == 0 && same_as_file(n3, 7, "n", 2 * PG) &&
	      same_as_file(n3 + 19, PG - 19, "n", 2 * PG + 19), "N3: contents with its private copy");
	CHECK(same_as_file(x, 2 * PG, "x", 0), "X: contents");
	struct stat st, st2;
	int nfd = -1;
	char buf[PG];
	CHECK(mapped_stat(n1, 2, &st, &nfd) && mapped_stat(n2, 2, &st2, NULL) && st.st_ino == st2.st_ino &&
	      st.st_dev == st2.st_dev, "N1 and N2 are not one file");
	CHECK(st.st_nlink == 0 && st.st_size == 4 * PG && (st.st_mode & 07777) == 0640 &&
	      st.st_mtim.tv_sec == n_before.st_mtim.tv_sec && st.st_mtim.tv_nsec == n_before.st_mtim.tv_nsec,
	      "n: links, size, mode or mtime");
	CHECK(nfd >= 0 && pread(nfd, buf, PG, 3 * PG) == PG && same_as_file((unsigned char *)buf, PG, "n", 3 * PG),
	      "n: the page mapped nowhere");
	CHECK(nfd >= 0 && pread(nfd, buf, 13, 100) == 13 && memcmp(buf, "shared-before", 13) == 0,
	      "n: the write through N1 before the dump is not in the file");
	if (nfd >= 0)
		close(nfd);
	memcpy(n1 + PG + 30, "via-n1", 6);
	CHECK(memcmp(n2 + 30, "via-n1", 6) == 0, "a write through N1 is not seen in N2");
	CHECK(mapped_stat(x, 2, &st, NULL) && st.st_nlink == 0 && st.st_size == 2 * PG &&
	      st.st_mtim.tv_sec == x_before.st_mtim.tv_sec && st.st_mtim.tv_nsec == x_before.st_mtim.tv_nsec,
	      "x: links, size or mtime");
	char npath[4200];
	snprintf(npath, sizeof(npath), "%s/n", dir);
	CHECK(access(npath, F_OK) < 0 && errno == ENOENT, "n: the name came back");
	return tp_finish();
}

static int refused(const char *mode)
{
	void *p;
	if (strcmp(mode, "hardlink") == 0) {
		int fd = make_file("h", 2, O_RDWR, 60, true);
		char from[4200], to[4200];
		snprintf(from, sizeof(from), "%s/h", dir);
		snprintf(to, sizeof(to), "%s/h2", dir);
		SETUP(link(from, to) == 0 && unlink(from) == 0, "hard link");
		p = map(2, PROT_READ, MAP_SHARED, fd, 0);
		close(fd); /* the mapping's own refusal, not the descriptor's */
	} else if (strcmp(mode, "memfdsealed") == 0) {
		int fd = memfd_create("delmap", MFD_ALLOW_SEALING);
		SETUP(fd >= 0 && write(fd, "memfd", 5) == 5, "memfd");
		p = map(1, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		SETUP(fcntl(fd, F_ADD_SEALS, F_SEAL_FUTURE_WRITE) == 0, "F_SEAL_FUTURE_WRITE");
	} else {
		int fd = make_file("b", 1, O_RDWR, 60, false);
		SETUP(ftruncate(fd, 65 << 20) == 0, "grow");
		p = map(1, PROT_READ, MAP_PRIVATE, fd, 0);
		if (strcmp(mode, "bignofd") == 0)
			close(fd);
	}
	say("ready");
	usr1_wait();
	if (strcmp(mode, "memfdsealed") == 0)
		CHECK(memcmp(p, "memfd", 5) == 0, "the memfd changed");
	else
		CHECK(*(volatile unsigned char *)p == pattern(mode[0] == 'h' ? "h" : "b", 0),
		      "the mapping changed");
	return tp_finish();
}

/* Whether /proc/self/maps says "/memfd:NAME (deleted)" for the VMA at addr. */
static bool maps_memfd(const void *addr, const char *name)
{
	static char maps[1 << 16];
	ssize_t n = read_file("/proc/self/maps", maps, sizeof(maps) - 1);
	if (n <= 0)
		return false;
	maps[n] = 0;
	char start[32], want[128];
	snprintf(start, sizeof(start), "%lx-", (unsigned long)addr);
	snprintf(want, sizeof(want), " /memfd:%s (deleted)\n", name);
	char *line = strstr(maps, start);
	char *end = line ? strchr(line, '\n') : NULL;
	char *hit = line ? strstr(line, want) : NULL;
	return hit && end && hit + strlen(want) - 1 == end;
}

static int memfd(void)
{
	const size_t size = 3 * PG + 100;
	int fd = memfd_create("delmap", MFD_ALLOW_SEALING);
	SETUP(fd >= 0 && dup2(fd, 62) == 62 && close(fd) == 0, "memfd");
	fd = 62;
	static unsigned char buf[3 * PG + 100];
	for (size_t i = 0; i < size; i++)
		buf[i] = pattern("delmap", i);
	SETUP(pwrite(fd, buf, size, 0) == (ssize_t)size && fchmod(fd, 0640) == 0, "fill the memfd");
	unsigned char *shared = map(2, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 1);
	unsigned char *priv = map(1, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	shared[5] = 0xa5;  /* file offset PG + 5 */
	priv[7] = 0x5a;    /* a private copy */
	SETUP(fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) == 0, "seal");
	SETUP(lseek(fd, 1234, SEEK_SET) == 1234, "lseek");
	int plain = memfd_create("plain", 0);
	SETUP(plain >= 0 && write(plain, "memfd", 5) == 5, "plain memfd");
	char self[64];
	snprintf(self, sizeof(self), "/proc/self/fd/%d", plain);
	int ro = open(self, O_RDONLY);
	SETUP(ro >= 0 && dup2(ro, 63) == 63 && close(ro) == 0 && close(plain) == 0, "plain memfd read-only");
	int nofd = memfd_create("nofd", MFD_ALLOW_SEALING);
	SETUP(nofd >= 0 && ftruncate(nofd, PG) == 0, "nofd memfd");
	unsigned char *only = map(1, PROT_READ | PROT_WRITE, MAP_SHARED, nofd, 0);
	memcpy(only, "mapped only", 11);
	SETUP(fcntl(nofd, F_ADD_SEALS, F_SEAL_GROW) == 0 && close(nofd) == 0, "seal and close nofd");
	/* "exe": a program in a memfd, run with fexecve (as container runtimes
	 * do): memfd_create's own descriptor counts as no writer of it. */
	int exe = memfd_create("exe", MFD_CLOEXEC), prog = open("/bin/true", O_RDONLY | O_CLOEXEC);
	static char code[1 << 20];
	ssize_t code_len = prog >= 0 ? read(prog, code, sizeof code) : -1;
	SETUP(exe >= 0 && code_len > 0 && write(exe, code, (size_t)code_len) == code_len && dup2(exe, 61) == 61 &&
		      close(exe) == 0 && close(prog) == 0 && fcntl(61, F_SETFD, FD_CLOEXEC) == 0,
	      "the program in a memfd");
	struct stat before;
	SETUP(fstat(fd, &before) == 0, "fstat");
	struct fd_set_snapshot fds_before;
	fd_snapshot(&fds_before);
	say("ready");
	usr1_wait();
	fd_check_same(&fds_before);

	char link[128] = "";
	CHECK(readlink("/proc/self/fd/62", link, sizeof(link) - 1) > 0 && strcmp(link, "/memfd:delmap (deleted)") == 0,
	      "fd 62 leads to \"%s\"", link);
	memset(link, 0, sizeof(link));
	CHECK(readlink("/proc/self/fd/63", link, sizeof(link) - 1) > 0 && strcmp(link, "/memfd:plain (deleted)") == 0,
	      "fd 63 leads to \"%s\"", link);
	CHECK(maps_memfd(shared, "delmap") && maps_memfd(priv, "delmap"), "the mappings are not of /memfd:delmap");
	CHECK(fcntl(fd, F_GET_SEALS) == (F_SEAL_SHRINK | F_SEAL_GROW), "fd 62's seals are %#x", fcntl(fd, F_GET_SEALS));
	CHECK(fcntl(63, F_GET_SEALS) == F_SEAL_SEAL, "fd 63's seals are %#x", fcntl(63, F_GET_SEALS));
	CHECK((fcntl(63, F_GETFL) & O_ACCMODE) == O_RDONLY, "fd 63 is no longer read-only");
	struct stat st;
	CHECK(fstat(fd, &st) == 0 && st.st_size == (off_t)size && (st.st_mode & 07777) == 0640 && st.st_nlink == 0 &&
	      st.st_mtim.tv_sec == before.st_mtim.tv_sec && st.st_mtim.tv_nsec == before.st_mtim.tv_nsec,
	      "fd 62: size %lld, mode %o, links %lu, or mtime changed", (long long)st.st_size, st.st_mode & 07777,
	      (unsigned long)st.st_nlink);
	CHECK(lseek(fd, 0, SEEK_CUR) == 1234, "fd 62's offset is %lld", (long long)lseek(fd, 0, SEEK_CUR));
	static unsigned char now[3 * PG + 100];
	CHECK(pread(fd, now, size, 0) == (ssize_t)size, "pread");
	buf[PG + 5] = 0xa5;
	CHECK(memcmp(now, buf, size) == 0, "the memfd's contents changed");
	CHECK(priv[7] == 0x5a && priv[8] == pattern("delmap", 8), "the private copy is lost");
	shared[PG + 9] = 0x33; /* file offset 2 PG + 9 */
	unsigned char c = 0;
	CHECK(pread(fd, &c, 1, 2 * PG + 9) == 1 && c == 0x33, "a write through the shared mapping is not in the memfd");
	CHECK(ftruncate(fd, 8 * PG) < 0 && errno == EPERM, "the memfd could grow");
	char five[8] = "";
	CHECK(pread(63, five, 5, 0) == 5 && memcmp(five, "memfd", 5) == 0, "fd 63 holds \"%s\"", five);
	pid_t child = fork();
	if (child == 0) {
		char *argv[] = {"true", NULL}, *envp[] = {NULL};
		fexecve(61, argv, envp);
		_exit(errno == ETXTBSY ? 100 : 101);
	}
	int status = -1;
	CHECK(child > 0 && waitpid(child, &status, 0) == child && WIFEXITED(status) && WEXITSTATUS(status) == 0,
	      "the program in the memfd does not run (status %#x; 100: ETXTBSY)", status);
	CHECK(maps_memfd(only, "nofd") && memcmp(only, "mapped only", 11) == 0, "the memfd mapped alone is lost");
	char mapped[96];
	snprintf(mapped, sizeof(mapped), "/proc/self/map_files/%lx-%lx", (unsigned long)only, (unsigned long)only + PG);
	int again = open(mapped, O_RDWR);
	CHECK(again >= 0 && fcntl(again, F_GET_SEALS) == F_SEAL_GROW, "the memfd mapped alone has the seals %#x",
	      again >= 0 ? fcntl(again, F_GET_SEALS) : -1);
	only[20] = 'x';
	char x = 0;
	CHECK(again >= 0 && pread(again, &x, 1, 20) == 1 && x == 'x', "the memfd mapped alone is not its file");
	if (again >= 0)
		close(again);
	return tp_finish();
}

int main(int argc, char **argv)
{
	if (argc != 3 || !realpath(argv[2], dir)) {
		say("FAIL: usage: delmap carried|nofd|hardlink|big|bignofd|memfd|memfdsealed DIR (an existing directory)");
		return 2;
	}
	usr1_setup();
	if (strcmp(argv[1], "carried") == 0)
		return carried();
	if (strcmp(argv[1], "nofd") == 0)
		return nofd();
	if (strcmp(argv[1], "memfd") == 0)
		return memfd();
	if (strcmp(argv[1], "hardlink") == 0 || strcmp(argv[1], "big") == 0 || strcmp(argv[1], "bignofd") == 0 ||
	    strcmp(argv[1], "memfdsealed") == 0)
		return refused(argv[1]);
	say("FAIL: unknown mode %s", argv[1]);
	return 2;
}
