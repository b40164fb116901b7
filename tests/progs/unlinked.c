/* unlinked MODE DIR: files, FIFOs and directories whose name is gone
 * (migrator/unlinked.c), with DIR an empty scratch directory.
 *
 *   carried   sets up, then checks after the wake-up:
 *     - "a": 10000 bytes, unlinked, held read-write (offset 1234, with a dup
 *       at fd 90 sharing it) and, opened separately, read-only (offset 7):
 *       same contents, size, mtime and inode for both, writes through one
 *       seen through the other, each its own offset, the link text
 *       "DIR/a (deleted)", no name left;
 *     - "b": unlinked, O_WRONLY | O_APPEND, holding "hello": a write
 *       still appends;
 *     - "s": a sparse file of 1 MiB with data in its first page and at
 *       512 KiB, unlinked: the same data and holes (SEEK_DATA, SEEK_HOLE)
 *       and blocks (st_blocks) after the restore;
 *     - "c": unlinked, and a new file made at its name since: the old
 *       contents come back (without a name, as the README says), the new
 *       file is untouched;
 *     - "f": a FIFO, its read end held, 10 bytes in it, unlinked: the bytes
 *       come out;
 *     - "d": a directory, held open, removed: still a directory without
 *       links, and nothing can be made in it;
 *     - "cwd": the working directory, held open too, removed: getcwd fails
 *       with ENOENT, /proc/self/cwd says "DIR/cwd (deleted)", a relative
 *       open fails, and the descriptor is the cwd's directory.
 *   special   carried, checked after the wake-up:
 *     - "t": an O_TMPFILE file (never linked) holding "published!", at
 *       offset 3: same contents, offset and mode, F_GETFL still says
 *       O_TMPFILE, and it can still be published with linkat through
 *       /proc/self/fd;
 *     - O_TMPFILE files that linkat cannot publish, as in the original
 *       (ENOENT): one made with O_EXCL, one linked and unlinked since;
 *       and one that can, held only through a descriptor opened again
 *       through /proc/self/fd without O_TMPFILE (the kernel's inode says
 *       which: binmig reads it through BPF);
 *     - O_PATH descriptors, which hold no open file: on a regular file,
 *       a FIFO, a unix socket file, a symlink itself (O_NOFOLLOW) and an
 *       unlinked file: the same inode and mode, still O_PATH.
 *   hardlink  an unlinked file with another hard link left: refused.
 *   big       an unlinked file of 65 MiB (sparse): refused.
 *   fifowrite an unlinked FIFO held open for writing: refused.
 *   gonedir   an unlinked file whose directory was removed too: refused
 *             (nowhere to make it again).
 *   procself  a descriptor on the process's own /proc/PID/maps: refused
 *             (not unlinked, but a file binmig cannot reopen either).
 *   highfd    a descriptor at the open-files limit less one: the restore
 *             needs room above it (see tests/e2e/unlinked.sh).
 *   attrs     carried, checked after the wake-up (stat to the nanosecond,
 *             FS_IOC_GETFLAGS, every extended attribute and its value,
 *             st_blocks):
 *     - "x": an unlinked file of 5000 bytes held read-write, with the
 *       extended attributes user.a, user.empty (no value) and trusted.t,
 *       space reserved past its end in two ranges (fallocate
 *       FALLOC_FL_KEEP_SIZE), the inode flags append-only, nodump and
 *       noatime, and an access time long past;
 *     - "i": an unlinked file held read-only and mapped shared, immutable,
 *       with user.i and an access time long past;
 *     - "m": an unlinked file only mapped (no descriptor), with user.m,
 *       space reserved past its end, nodump and an access time long past;
 *     - a memfd with trusted.mf, nodump and an access time long past.
 *   xattrmany an unlinked file with 65 extended attributes: refused, its
 *             access time (long past) untouched by the dump's reading.
 *   unwritten an unlinked file with space reserved (fallocate) but not
 *             written within its size: refused.
 *   memfdfalloc  a memfd with space reserved past its end, which a memory
 *             file system does not place (no FIEMAP): refused.
 *   appendmap an unlinked file held read-write and mapped shared, made
 *             append-only since (mmap would refuse that mapping): refused.
 * In the refused modes the process is left alone and passes its checks. */
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/xattr.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "testprog.h"

static char dir[4096];

static void path_of(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", dir, name);
}

static int make_file(const char *name, int flags, const char *contents, size_t len)
{
	char path[4200];
	path_of(path, sizeof(path), name);
	int fd = open(path, flags | O_CREAT | O_TRUNC, 0640);
	SETUP(fd >= 0 && (len == 0 || write(fd, contents, len) == (ssize_t)len), name);
	return fd;
}

static void remove_name(const char *name)
{
	char path[4200];
	path_of(path, sizeof(path), name);
	SETUP(unlink(path) == 0, "unlink");
}

static bool link_text_is(int fd, const char *name)
{
	char link[64], got[4200], want[4200];
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	ssize_t n = readlink(link, got, sizeof(got) - 1);
	if (n < 0)
		return false;
	got[n] = 0;
	snprintf(want, sizeof(want), "%s/%s (deleted)", dir, name);
	return strcmp(got, want) == 0;
}

/* The data extents of FD ("[a,b) [c,d) ...") into BUF. */
static void extents_of(int fd, char *buf, size_t len)
{
	buf[0] = 0;
	off_t at = 0, size = lseek(fd, 0, SEEK_END);
	size_t used = 0;
	while (at < size) {
		off_t data = lseek(fd, at, SEEK_DATA), hole = data < 0 ? -1 : lseek(fd, data, SEEK_HOLE);
		if (data < 0 || hole < 0)
			break;
		used += (size_t)snprintf(buf + used, len > used ? len - used : 0, "[%lld,%lld) ", (long long)data,
					 (long long)hole);
		at = hole;
	}
}

static int carried(void)
{
	char block[10000];
	for (size_t i = 0; i < sizeof(block); i++)
		block[i] = (char)('A' + i % 23);
	int a = make_file("a", O_RDWR, block, sizeof(block));
	char path[4200];
	path_of(path, sizeof(path), "a");
	int a_ro = open(path, O_RDONLY);
	SETUP(a_ro >= 0 && dup2(a, 90) == 90, "open a again, dup2");
	SETUP(lseek(a, 1234, SEEK_SET) == 1234 && lseek(a_ro, 7, SEEK_SET) == 7, "lseek a");
	struct stat a_before;
	SETUP(fstat(a, &a_before) == 0, "fstat a");
	remove_name("a");

	int sparse = make_file("s", O_RDWR, block, 4096);
	SETUP(pwrite(sparse, block, 4096, 512 << 10) == 4096 && ftruncate(sparse, 1 << 20) == 0, "sparse file");
	char s_extents[256], s_after[256];
	struct stat s_before;
	SETUP(fstat(sparse, &s_before) == 0, "fstat s");
	extents_of(sparse, s_extents, sizeof s_extents);
	remove_name("s");

	int b = make_file("b", O_WRONLY | O_APPEND, "hello", 5);
	remove_name("b");
	int c = make_file("c", O_RDWR, "old contents", 12);
	remove_name("c");
	int c_new = make_file("c", O_RDWR, "new", 3);

	char fifo_path[4200];
	path_of(fifo_path, sizeof(fifo_path), "f");
	SETUP(mkfifo(fifo_path, 0600) == 0, "mkfifo");
	int f = open(fifo_path, O_RDONLY | O_NONBLOCK);
	int f_writer = open(fifo_path, O_WRONLY | O_NONBLOCK);
	SETUP(f >= 0 && f_writer >= 0 && write(f_writer, "fifo bytes", 10) == 10, "fifo");
	close(f_writer);
	remove_name("f");

	char d_path[4200], cwd_path[4200];
	path_of(d_path, sizeof(d_path), "d");
	path_of(cwd_path, sizeof(cwd_path), "cwd");
	SETUP(mkdir(d_path, 0750) == 0 && mkdir(cwd_path, 0700) == 0, "mkdir");
	int d = open(d_path, O_RDONLY | O_DIRECTORY);
	SETUP(d >= 0 && rmdir(d_path) == 0, "removed directory");
	int cwd_fd = open(cwd_path, O_RDONLY | O_DIRECTORY);
	SETUP(cwd_fd >= 0 && chdir(cwd_path) == 0 && rmdir(cwd_path) == 0, "removed cwd");

	struct fd_set_snapshot fds_before;
	fd_snapshot(&fds_before);
	say("ready");
	usr1_wait();
	fd_check_same(&fds_before);

	/* a: one file behind two open files */
	struct stat st, st_ro;
	CHECK(fstat(a, &st) == 0 && fstat(a_ro, &st_ro) == 0 && st.st_ino == st_ro.st_ino && st.st_dev == st_ro.st_dev,
	      "the two open files of a are one file");
	CHECK(st.st_nlink == 0 && st.st_size == (off_t)sizeof(block), "a: %lu links, size %lld", (unsigned long)st.st_nlink,
	      (long long)st.st_size);
	CHECK(st.st_mtim.tv_sec == a_before.st_mtim.tv_sec && st.st_mtim.tv_nsec == a_before.st_mtim.tv_nsec &&
	      (st.st_mode & 07777) == 0640, "a: mtime or mode changed");
	CHECK(lseek(a, 0, SEEK_CUR) == 1234 && lseek(90, 0, SEEK_CUR) == 1234 && lseek(a_ro, 0, SEEK_CUR) == 7,
	      "a: offsets %lld, %lld", (long long)lseek(a, 0, SEEK_CUR), (long long)lseek(a_ro, 0, SEEK_CUR));
	char back[10000];
	CHECK(pread(a_ro, back, sizeof(back), 0) == (ssize_t)sizeof(back) && memcmp(back, block, sizeof(back)) == 0,
	      "a: contents");
	CHECK(write(a, "XY", 2) == 2 && lseek(90, 0, SEEK_CUR) == 1236, "a: the dup shares the offset");
	CHECK(pread(a_ro, back, 2, 1234) == 2 && memcmp(back, "XY", 2) == 0, "a: a write seen through the other open file");
	CHECK((fcntl(a_ro, F_GETFL) & O_ACCMODE) == O_RDONLY && (fcntl(a, F_GETFL) & O_ACCMODE) == O_RDWR, "a: modes");
	CHECK(link_text_is(a, "a") && link_text_is(a_ro, "a"), "a: the link text is not \"DIR/a (deleted)\"");
	CHECK(access(path, F_OK) < 0 && errno == ENOENT, "a: the name came back");

	/* s: sparse */
	extents_of(sparse, s_after, sizeof s_after);
	CHECK(strcmp(s_after, s_extents) == 0, "s: data at %s, was at %s", s_after, s_extents);
	CHECK(fstat(sparse, &st) == 0 && st.st_size == 1 << 20 && st.st_blocks == s_before.st_blocks,
	      "s: size %lld, %lld blocks, were %lld", (long long)st.st_size, (long long)st.st_blocks,
	      (long long)s_before.st_blocks);
	CHECK(pread(sparse, back, 4096, 512 << 10) == 4096 && memcmp(back, block, 4096) == 0, "s: contents");

	/* b: O_APPEND */
	CHECK((fcntl(b, F_GETFL) & O_APPEND) && write(b, " world", 6) == 6 && fstat(b, &st) == 0 && st.st_size == 11,
	      "b: append");
	/* c: old contents without a name; the new file is untouched */
	char cbuf[16] = {0};
	CHECK(pread(c, cbuf, sizeof(cbuf), 0) == 12 && memcmp(cbuf, "old contents", 12) == 0, "c: old contents \"%s\"",
	      cbuf);
	CHECK(fstat(c, &st) == 0 && st.st_nlink == 0, "c: has a name");
	CHECK(pread(c_new, cbuf, sizeof(cbuf), 0) == 3 && memcmp(cbuf, "new", 3) == 0, "c: the new file changed");

	/* f: the FIFO's bytes */
	char fbuf[16] = {0};
	CHECK(read(f, fbuf, sizeof(fbuf)) == 10 && memcmp(fbuf, "fifo bytes", 10) == 0, "f: read \"%s\"", fbuf);
	CHECK(fstat(f, &st) == 0 && S_ISFIFO(st.st_mode) && st.st_nlink == 0, "f: not an unlinked FIFO");
	CHECK(link_text_is(f, "f"), "f: link text");

	/* d and the cwd: removed directories */
	CHECK(fstat(d, &st) == 0 && S_ISDIR(st.st_mode) && st.st_nlink == 0 && (st.st_mode & 07777) == 0750,
	      "d: not a removed directory of mode 0750 (%lu links, mode %o)", (unsigned long)st.st_nlink,
	      (unsigned)st.st_mode);
	CHECK(openat(d, "x", O_WRONLY | O_CREAT, 0600) < 0 && errno == ENOENT, "d: a file was made in it");
	CHECK(link_text_is(d, "d"), "d: link text");
	char where[4200];
	CHECK(getcwd(where, sizeof(where)) == NULL && errno == ENOENT, "getcwd of a removed cwd");
	char cwd_link[4200], want[4300];
	ssize_t n = readlink("/proc/self/cwd", cwd_link, sizeof(cwd_link) - 1);
	cwd_link[n > 0 ? n : 0] = 0;
	snprintf(want, sizeof(want), "%s (deleted)", cwd_path);
	CHECK(strcmp(cwd_link, want) == 0, "cwd is \"%s\"", cwd_link);
	CHECK(open("relative", O_WRONLY | O_CREAT, 0600) < 0 && errno == ENOENT, "a file was made in the removed cwd");
	struct stat cwd_st, held_st;
	CHECK(stat(".", &cwd_st) == 0 && fstat(cwd_fd, &held_st) == 0 && cwd_st.st_ino == held_st.st_ino &&
		      cwd_st.st_dev == held_st.st_dev,
	      "the removed cwd and the descriptor held on it are two directories");
	return tp_finish();
}

/* What the attrs mode carries of a file (through PATH, /proc/self/...):
 * its status, inode flags (-1: none kept) and extended attributes with
 * their values, in the order of their names. */
struct attr_snap {
	struct stat st;
	int iflags;
	char xattrs[2048];
};

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void snap_of(const char *path, struct attr_snap *s)
{
	memset(s, 0, sizeof *s);
	int fd = open(path, O_RDONLY | O_NOATIME | O_NONBLOCK);
	SETUP(fd >= 0 && fstat(fd, &s->st) == 0, path);
	if (ioctl(fd, FS_IOC_GETFLAGS, &s->iflags) < 0)
		s->iflags = -1;
	char names[1024], *list[64];
	ssize_t len = flistxattr(fd, names, sizeof names);
	size_t n = 0, used = 0;
	for (ssize_t at = 0; len > 0 && at < len && n < 64; at += (ssize_t)strlen(names + at) + 1)
		list[n++] = names + at;
	qsort(list, n, sizeof *list, by_name);
	for (size_t i = 0; i < n; i++) {
		char value[256];
		ssize_t v = fgetxattr(fd, list[i], value, sizeof value);
		used += (size_t)snprintf(s->xattrs + used, sizeof s->xattrs - used, "%s=%.*s;", list[i], v > 0 ? (int)v : 0,
					 value);
	}
	close(fd);
}

static bool timespec_same(struct timespec a, struct timespec b)
{
	return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

static void check_same(const char *what, const char *path, const struct attr_snap *before)
{
	struct attr_snap now;
	snap_of(path, &now);
	CHECK(timespec_same(now.st.st_atim, before->st.st_atim), "%s: atime %lld.%09ld, was %lld.%09ld", what,
	      (long long)now.st.st_atim.tv_sec, now.st.st_atim.tv_nsec, (long long)before->st.st_atim.tv_sec,
	      before->st.st_atim.tv_nsec);
	CHECK(timespec_same(now.st.st_mtim, before->st.st_mtim), "%s: mtime changed", what);
	CHECK(now.st.st_size == before->st.st_size && now.st.st_blocks == before->st.st_blocks && now.st.st_nlink == 0,
	      "%s: size %lld, %lld blocks, %lu links; was %lld, %lld", what, (long long)now.st.st_size,
	      (long long)now.st.st_blocks, (unsigned long)now.st.st_nlink, (long long)before->st.st_size,
	      (long long)before->st.st_blocks);
	CHECK(now.iflags == before->iflags, "%s: inode flags %#x, were %#x", what, now.iflags, before->iflags);
	CHECK(strcmp(now.xattrs, before->xattrs) == 0, "%s: extended attributes \"%s\", were \"%s\"", what, now.xattrs,
	      before->xattrs);
}

/* The status and flags the program gives a file in the attrs modes: an
 * access time long past, to the nanosecond, then FLAGS. */
static void age_and_flag(int fd, int flags)
{
	struct timespec t[2] = {{1000000000, 123456789}, {0, UTIME_OMIT}};
	SETUP(futimens(fd, t) == 0, "futimens");
	SETUP(flags == 0 || ioctl(fd, FS_IOC_SETFLAGS, &flags) == 0, "FS_IOC_SETFLAGS");
}

static void set_xattr(int fd, const char *name, const char *value)
{
	SETUP(fsetxattr(fd, name, value, strlen(value), 0) == 0, name);
}

static void self_path(char *buf, size_t len, int fd)
{
	snprintf(buf, len, "/proc/self/fd/%d", fd);
}

static int attrs(void)
{
	char block[12288], path[4200];
	for (size_t i = 0; i < sizeof block; i++)
		block[i] = (char)('a' + i % 26);
	int x = make_file("x", O_RDWR, block, 5000);
	set_xattr(x, "user.a", "alpha");
	set_xattr(x, "user.empty", "");
	set_xattr(x, "trusted.t", "T");
	SETUP(fallocate(x, FALLOC_FL_KEEP_SIZE, 8192, 65536) == 0 &&
		      fallocate(x, FALLOC_FL_KEEP_SIZE, 1 << 20, 4096) == 0, "fallocate x");
	remove_name("x"); /* (an append-only or immutable file keeps its name) */
	age_and_flag(x, FS_APPEND_FL | FS_NODUMP_FL | FS_NOATIME_FL);

	int i = make_file("i", O_RDWR, block, 4096);
	set_xattr(i, "user.i", "immutable");
	close(i);
	path_of(path, sizeof path, "i");
	i = open(path, O_RDONLY);
	char *i_map = mmap(NULL, 4096, PROT_READ, MAP_SHARED, i, 0);
	SETUP(i >= 0 && i_map != MAP_FAILED, "map i");
	remove_name("i");
	age_and_flag(i, FS_IMMUTABLE_FL);

	int m = make_file("m", O_RDWR, block, sizeof block);
	set_xattr(m, "user.m", "mapped");
	SETUP(fallocate(m, FALLOC_FL_KEEP_SIZE, 65536, 8192) == 0, "fallocate m");
	char *m_map = mmap(NULL, sizeof block, PROT_READ | PROT_WRITE, MAP_SHARED, m, 0);
	SETUP(m_map != MAP_FAILED, "map m");
	remove_name("m");
	age_and_flag(m, FS_NODUMP_FL);
	SETUP(close(m) == 0, "close m");
	char m_path[128];
	snprintf(m_path, sizeof m_path, "/proc/self/map_files/%lx-%lx", (unsigned long)m_map,
		 (unsigned long)m_map + sizeof block);

	int mf = memfd_create("attrs", 0);
	SETUP(mf >= 0 && write(mf, block, 6000) == 6000, "memfd");
	set_xattr(mf, "trusted.mf", "memfd");
	age_and_flag(mf, FS_NODUMP_FL);

	struct attr_snap before[4];
	char links[4][128];
	int fds[] = {x, i, -1, mf};
	for (int k = 0; k < 4; k++) {
		if (fds[k] >= 0)
			self_path(links[k], sizeof links[k], fds[k]);
		else
			snprintf(links[k], sizeof links[k], "%s", m_path);
		snap_of(links[k], &before[k]);
	}
	SETUP(before[0].st.st_blocks > 8 * 1 + 128 && before[2].st.st_blocks > 24, "the reservations made no blocks");

	struct fd_set_snapshot fds_before;
	fd_snapshot(&fds_before);
	say("ready");
	usr1_wait();
	fd_check_same(&fds_before);

	static const char *const names[] = {"x", "i", "m", "memfd"};
	for (int k = 0; k < 4; k++)
		check_same(names[k], links[k], &before[k]);
	/* Still what the flags say: x appends only, i is immutable. */
	CHECK(open(links[0], O_WRONLY) < 0 && errno == EPERM, "x: opened for writing without O_APPEND");
	CHECK(memcmp(i_map, block, 4096) == 0 && memcmp(m_map, block, sizeof block) == 0, "mapped contents");
	CHECK(fchmod(i, 0600) < 0 && errno == EPERM, "i: not immutable");
	return tp_finish();
}

/* A mode the attrs refusals set up: the file, then its access time. */
static int attrs_refused(const char *mode)
{
	int fd;
	if (strcmp(mode, "xattrmany") == 0) {
		fd = make_file("x", O_RDWR, "many", 4);
		for (int k = 0; k < 65; k++) {
			char name[32];
			snprintf(name, sizeof name, "user.n%d", k);
			set_xattr(fd, name, "v");
		}
	} else if (strcmp(mode, "unwritten") == 0) {
		fd = make_file("x", O_RDWR, "", 0);
		SETUP(fallocate(fd, 0, 0, 65536) == 0 && pwrite(fd, "start", 5, 0) == 5 && fdatasync(fd) == 0,
		      "fallocate within the size");
	} else if (strcmp(mode, "appendmap") == 0) {
		fd = make_file("x", O_RDWR, "appended", 8);
		SETUP(mmap(NULL, 8, PROT_READ, MAP_SHARED, fd, 0) != MAP_FAILED, "map x shared");
	} else {
		fd = memfd_create("falloc", 0);
		SETUP(fd >= 0 && write(fd, "memfd", 5) == 5 && fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, 65536) == 0,
		      "fallocate a memfd");
	}
	if (strcmp(mode, "memfdfalloc") != 0)
		remove_name("x");
	age_and_flag(fd, strcmp(mode, "appendmap") == 0 ? FS_APPEND_FL : 0);
	char link[64];
	self_path(link, sizeof link, fd);
	struct attr_snap before;
	snap_of(link, &before);
	say("ready");
	usr1_wait();
	check_same(mode, link, &before);
	return tp_finish();
}

/* An O_PATH descriptor on NAME in dir (with O_NOFOLLOW for a symlink). */
static int opath(const char *name, int extra)
{
	char path[4200];
	path_of(path, sizeof(path), name);
	int fd = open(path, O_PATH | extra);
	SETUP(fd >= 0, name);
	return fd;
}

/* linkat through /proc/self/fd of FD to NAME in dir: 0 or errno; the
 * name removed again. */
static int publish(int fd, const char *name)
{
	char self[64], path[4200];
	snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
	path_of(path, sizeof(path), name);
	if (linkat(AT_FDCWD, self, AT_FDCWD, path, AT_SYMLINK_FOLLOW) < 0)
		return errno;
	unlink(path);
	return 0;
}

static int special(void)
{
	int t = open(dir, O_RDWR | O_TMPFILE, 0640);
	SETUP(t >= 0 && write(t, "published!", 10) == 10 && lseek(t, 3, SEEK_SET) == 3, "O_TMPFILE");
	/* never to be linked; linked and unlinked; linkable through another open */
	int excl = open(dir, O_RDWR | O_TMPFILE | O_EXCL, 0600), once = open(dir, O_RDWR | O_TMPFILE, 0600);
	int made = open(dir, O_WRONLY | O_TMPFILE, 0600), again = -1;
	SETUP(excl >= 0 && once >= 0 && made >= 0 && publish(once, "once") == 0, "O_TMPFILE files");
	char made_self[64];
	snprintf(made_self, sizeof(made_self), "/proc/self/fd/%d", made);
	SETUP((again = open(made_self, O_RDWR)) >= 0 && close(made) == 0, "O_TMPFILE opened again");
	char path[4200], fifo_path[4200], sock_path[4200], link_path[4200];
	int plain = make_file("plain", O_RDWR, "plain", 5);
	close(plain);
	path_of(fifo_path, sizeof(fifo_path), "fifo");
	path_of(sock_path, sizeof(sock_path), "sock");
	path_of(link_path, sizeof(link_path), "link");
	SETUP(mkfifo(fifo_path, 0600) == 0 && symlink("plain", link_path) == 0, "mkfifo, symlink");
	int s = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	SETUP(strlen(sock_path) < sizeof(a.sun_path), "a socket path that fits");
	memcpy(a.sun_path, sock_path, strlen(sock_path));
	SETUP(s >= 0 && bind(s, (struct sockaddr *)&a, sizeof(a)) == 0 && close(s) == 0, "socket file");
	int held[] = {opath("plain", 0), opath("fifo", 0), opath("sock", 0), opath("link", O_NOFOLLOW),
		      make_file("gone", O_RDWR, "gone", 4)};
	close(held[4]);
	held[4] = opath("gone", 0);
	remove_name("gone");
	struct stat before[5], t_before;
	for (int i = 0; i < 5; i++)
		SETUP(fstat(held[i], &before[i]) == 0, "fstat");
	SETUP(fstat(t, &t_before) == 0, "fstat t");

	struct fd_set_snapshot fds_before;
	fd_snapshot(&fds_before);
	say("ready");
	usr1_wait();
	fd_check_same(&fds_before);

	struct stat st;
	char back[16] = {0};
	CHECK(fstat(t, &st) == 0 && st.st_nlink == 0 && st.st_size == 10 && (st.st_mode & 07777) == 0640 &&
	      st.st_mtim.tv_sec == t_before.st_mtim.tv_sec && st.st_mtim.tv_nsec == t_before.st_mtim.tv_nsec,
	      "t: size, mode or mtime changed");
	CHECK(lseek(t, 0, SEEK_CUR) == 3 && pread(t, back, sizeof(back), 0) == 10 && memcmp(back, "published!", 10) == 0,
	      "t: offset or contents");
	CHECK((fcntl(t, F_GETFL) & O_TMPFILE) == O_TMPFILE, "t: F_GETFL %#o lacks O_TMPFILE", fcntl(t, F_GETFL));
	char self[64];
	snprintf(self, sizeof(self), "/proc/self/fd/%d", t);
	path_of(path, sizeof(path), "pub");
	CHECK(linkat(AT_FDCWD, self, AT_FDCWD, path, AT_SYMLINK_FOLLOW) == 0, "t: linkat: %s", strerror(errno));
	CHECK(fstat(t, &st) == 0 && st.st_nlink == 1, "t: not published");
	unlink(path);
	int e;
	CHECK((e = publish(excl, "excl")) == ENOENT, "O_TMPFILE | O_EXCL: linkat gave %s, not ENOENT", strerror(e));
	CHECK((e = publish(once, "once")) == ENOENT, "O_TMPFILE linked and unlinked: linkat gave %s, not ENOENT",
	      strerror(e));
	CHECK((e = publish(again, "again")) == 0, "O_TMPFILE opened again: linkat: %s", strerror(e));
	for (int i = 0; i < 5; i++) {
		CHECK(fstat(held[i], &st) == 0 && st.st_mode == before[i].st_mode &&
		      (i == 4 ? st.st_nlink == 0 : st.st_ino == before[i].st_ino),
		      "O_PATH %d: mode %o, was %o", i, (unsigned)st.st_mode, (unsigned)before[i].st_mode);
		CHECK(fcntl(held[i], F_GETFL) & O_PATH, "O_PATH %d: no longer O_PATH", i);
	}
	return tp_finish();
}

static int refused(const char *mode)
{
	char path[4200], other[4200];
	path_of(path, sizeof(path), "x");
	int fd;
	if (strcmp(mode, "hardlink") == 0) {
		fd = make_file("x", O_RDWR, "linked", 6);
		path_of(other, sizeof(other), "y");
		SETUP(link(path, other) == 0, "link");
		remove_name("x");
	} else if (strcmp(mode, "big") == 0) {
		fd = make_file("x", O_RDWR, "", 0);
		SETUP(ftruncate(fd, 65 << 20) == 0, "ftruncate");
		remove_name("x");
	} else if (strcmp(mode, "gonedir") == 0) {
		char sub[4200];
		path_of(sub, sizeof(sub), "sub");
		SETUP(mkdir(sub, 0700) == 0, "mkdir");
		fd = make_file("sub/x", O_RDWR, "inside", 6);
		remove_name("sub/x");
		SETUP(rmdir(sub) == 0, "rmdir");
	} else if (strcmp(mode, "twodirs") == 0) {
		/* A removed directory held open, and a removed cwd of the same name. */
		SETUP(mkdir(path, 0700) == 0, "mkdir");
		fd = open(path, O_RDONLY | O_DIRECTORY);
		SETUP(fd >= 0 && rmdir(path) == 0 && mkdir(path, 0700) == 0 && chdir(path) == 0 && rmdir(path) == 0,
		      "two removed directories of one name");
	} else if (strcmp(mode, "tmplinked") == 0) {
		/* Made with O_TMPFILE, then published with linkat. */
		fd = open(dir, O_TMPFILE | O_RDWR, 0600);
		char self[64];
		snprintf(self, sizeof self, "/proc/self/fd/%d", fd);
		SETUP(fd >= 0 && write(fd, "published", 9) == 9 && linkat(AT_FDCWD, self, AT_FDCWD, path, AT_SYMLINK_FOLLOW) == 0,
		      "O_TMPFILE and linkat");
	} else if (strcmp(mode, "tmpreopen") == 0) {
		/* Made with O_TMPFILE at 10, opened again through /proc at a lower
		 * number, without O_TMPFILE. */
		int t = open(dir, O_TMPFILE | O_RDWR, 0600);
		char self[64];
		snprintf(self, sizeof self, "/proc/self/fd/%d", 10);
		SETUP(t >= 0 && dup2(t, 10) == 10 && close(t) == 0, "O_TMPFILE at 10");
		fd = open(self, O_RDWR);
		SETUP(fd >= 0 && fd < 10, "opened again below it");
	} else if (strcmp(mode, "piperdwr") == 0) {
		/* A pipe end opened again for reading and writing. */
		int p[2];
		char self[64];
		SETUP(pipe(p) == 0, "pipe");
		snprintf(self, sizeof self, "/proc/self/fd/%d", p[0]);
		fd = open(self, O_RDWR);
		SETUP(fd >= 0, "open the pipe read-write");
	} else if (strcmp(mode, "procself") == 0) {
		fd = open("/proc/self/maps", O_RDONLY);
		SETUP(fd >= 0, "open /proc/self/maps");
	} else if (strcmp(mode, "highfd") == 0) {
		struct rlimit lim;
		SETUP(getrlimit(RLIMIT_NOFILE, &lim) == 0, "getrlimit");
		lim.rlim_cur = lim.rlim_max;
		SETUP(setrlimit(RLIMIT_NOFILE, &lim) == 0, "setrlimit");
		fd = make_file("x", O_RDWR, "high", 4);
		SETUP(dup2(fd, (int)lim.rlim_cur - 1) == (int)lim.rlim_cur - 1 && close(fd) == 0, "dup2 to the limit");
		fd = (int)lim.rlim_cur - 1;
	} else {
		SETUP(mkfifo(path, 0600) == 0, "mkfifo");
		fd = open(path, O_RDWR);
		SETUP(fd >= 0, "open the FIFO");
		remove_name("x");
	}
	say("ready");
	usr1_wait();
	struct stat st;
	CHECK(fstat(fd, &st) == 0, "fstat");
	return tp_finish();
}

int main(int argc, char **argv)
{
	if (argc != 3 || !realpath(argv[2], dir)) {
		say("FAIL: usage: unlinked carried|special|attrs|xattrmany|unwritten|memfdfalloc|appendmap|hardlink|big|fifowrite|gonedir|twodirs|tmplinked|tmpreopen|piperdwr|procself|highfd DIR "
		    "(an existing directory)");
		return 2;
	}
	usr1_setup();
	if (strcmp(argv[1], "carried") == 0)
		return carried();
	if (strcmp(argv[1], "special") == 0)
		return special();
	if (strcmp(argv[1], "attrs") == 0)
		return attrs();
	if (strcmp(argv[1], "xattrmany") == 0 || strcmp(argv[1], "unwritten") == 0 || strcmp(argv[1], "memfdfalloc") == 0 || strcmp(argv[1], "appendmap") == 0)
		return attrs_refused(argv[1]);
	static const char *const refused_modes[] = {"hardlink", "big", "fifowrite", "gonedir", "twodirs", "tmplinked",
						    "tmpreopen", "piperdwr", "procself", "highfd"};
	for (size_t i = 0; i < sizeof(refused_modes) / sizeof(*refused_modes); i++)
		if (strcmp(argv[1], refused_modes[i]) == 0)
			return refused(argv[1]);
	say("FAIL: unknown mode %s", argv[1]);
	return 2;
}
