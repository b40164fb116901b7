/* files DIR: descriptors and file-system state, with DIR an empty scratch
 * directory.  Before "ready" it sets up, and after the wake-up checks:
 *   - fd 3-ish "data": written at an offset with pwrite, left at offset 1234
 *     by lseek; same offset, size and contents, still O_RDWR;
 *   - "append" opened O_APPEND, offset moved to 0: the flag is kept, so a
 *     new write still lands at the end;
 *   - "cloexec" opened O_CLOEXEC: FD_CLOEXEC is set, and not on the others;
 *   - "shared" and its dup at fd 77 share one open file: writing through one
 *     moves the other's offset;
 *   - a directory fd: fchdir and openat through it work;
 *   - /dev/null, /dev/zero (reads zeros) and /dev/urandom, the right devices;
 *   - cwd moved to DIR/cwd (relative paths resolve there), umask 027;
 *   - a packet-mode pipe (pipe2 O_DIRECT, non-blocking) still keeps
 *     writes apart; "data" opened again with O_NOATIME; /dev/null given
 *     O_APPEND | O_NONBLOCK with F_SETFL;
 *   - the set of open descriptors is exactly the same, each with the same
 *     status flags and FD_CLOEXEC;
 *   - a descriptor once at 300, closed, and "shared" dup'ed to 511, the
 *     table's last slot, kept: the table keeps the 512 slots it grew to
 *     (FDSize), no more and no fewer (the restore's own descriptors go
 *     below 511 then). */
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "testprog.h"

static char dir[4096];

static int open_in_dir(const char *name, int flags)
{
	char path[4200];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return open(path, flags, 0644);
}

static bool is_device(int fd, unsigned major_nr, unsigned minor_nr)
{
	struct stat st;
	return fstat(fd, &st) == 0 && S_ISCHR(st.st_mode) && major(st.st_rdev) == major_nr &&
	       minor(st.st_rdev) == minor_nr;
}

int main(int argc, char **argv)
{
	if (argc != 2 || !realpath(argv[1], dir)) {
		say("FAIL: usage: files DIR (an existing directory)");
		return 2;
	}
	usr1_setup();

	int data = open_in_dir("data", O_RDWR | O_CREAT | O_TRUNC);
	SETUP(data >= 0, "open data");
	char block[100];
	for (int i = 0; i < 100; i++)
		block[i] = 'a' + i % 26;
	SETUP(write(data, block, sizeof(block)) == sizeof(block), "write data");
	SETUP(pwrite(data, "pw", 2, 5000) == 2, "pwrite data");
	SETUP(lseek(data, 1234, SEEK_SET) == 1234, "lseek data");

	int append = open_in_dir("append", O_WRONLY | O_CREAT | O_TRUNC | O_APPEND);
	SETUP(append >= 0, "open append");
	SETUP(write(append, "one\n", 4) == 4, "write append");
	SETUP(lseek(append, 0, SEEK_SET) == 0, "lseek append");

	int made = open_in_dir("cloexec", O_WRONLY | O_CREAT | O_TRUNC);
	SETUP(made >= 0, "create cloexec");
	close(made);
	int cloexec = open_in_dir("cloexec", O_RDONLY | O_CLOEXEC);
	SETUP(cloexec >= 0, "open cloexec");

	int shared = open_in_dir("shared", O_RDWR | O_CREAT | O_TRUNC);
	SETUP(shared >= 0, "open shared");
	int shared_dup = dup2(shared, 77);
	SETUP(shared_dup == 77, "dup2 shared");
	SETUP(write(shared, "abc", 3) == 3, "write shared");

	char sub[4200], cwd_path[4200];
	snprintf(sub, sizeof(sub), "%s/sub", dir);
	snprintf(cwd_path, sizeof(cwd_path), "%s/cwd", dir);
	SETUP(mkdir(sub, 0755) == 0 && mkdir(cwd_path, 0755) == 0, "mkdir");
	int made_in_sub = open_in_dir("sub/inside", O_WRONLY | O_CREAT | O_TRUNC);
	SETUP(made_in_sub >= 0 && write(made_in_sub, "in sub\n", 7) == 7, "sub/inside");
	close(made_in_sub);
	int dirfd_sub = open(sub, O_RDONLY | O_DIRECTORY);
	SETUP(dirfd_sub >= 0, "open sub");

	int devnull = open("/dev/null", O_WRONLY);
	int devzero = open("/dev/zero", O_RDONLY);
	int devrandom = open("/dev/urandom", O_RDONLY);
	SETUP(devnull >= 0 && devzero >= 0 && devrandom >= 0, "open devices");

	int packet[2];
	SETUP(pipe2(packet, O_DIRECT | O_NONBLOCK) == 0, "pipe2 O_DIRECT");
	int noatime = open_in_dir("data", O_RDONLY | O_NOATIME);
	SETUP(noatime >= 0, "open O_NOATIME");
	SETUP(fcntl(devnull, F_SETFL, O_APPEND | O_NONBLOCK) == 0, "F_SETFL /dev/null");

	SETUP(chdir(cwd_path) == 0, "chdir");
	int rel = open("relative", O_WRONLY | O_CREAT | O_TRUNC, 0644);
	SETUP(rel >= 0 && write(rel, "rel\n", 4) == 4, "relative file");
	close(rel);
	umask(027);

	SETUP(dup2(shared, 300) == 300 && close(300) == 0 && dup2(shared, 511) == 511, "descriptors 300 and 511");
	long table = tp_fd_table_size(getpid());
	SETUP(table == 512, "FDSize after descriptor 300");

	struct fd_set_snapshot fds_before;
	fd_snapshot(&fds_before);
	say("ready");
	usr1_wait();

	CHECK(tp_fd_table_size(getpid()) == table, "the descriptor table has %ld slots, had %ld",
	      tp_fd_table_size(getpid()), table);

	fd_check_same(&fds_before);

	/* cwd and umask, first, before anything moves the cwd */
	char where[4200];
	CHECK(getcwd(where, sizeof(where)) && strcmp(where, cwd_path) == 0, "cwd is \"%s\"", where);
	char relbuf[8] = { 0 };
	int relfd = open("relative", O_RDONLY);
	CHECK(relfd >= 0 && read(relfd, relbuf, 4) == 4 && memcmp(relbuf, "rel\n", 4) == 0,
	      "relative path in the cwd");
	if (relfd >= 0)
		close(relfd);
	int masked = open("masked", O_WRONLY | O_CREAT | O_EXCL, 0666);
	struct stat mst;
	CHECK(masked >= 0 && fstat(masked, &mst) == 0 && (mst.st_mode & 0777) == 0640,
	      "file created with 0666 has mode %03o, umask 027 gives 0640", (unsigned)(mst.st_mode & 0777));
	if (masked >= 0)
		close(masked);
	mode_t old_mask = umask(022);
	CHECK(old_mask == 027, "umask %03o", (unsigned)old_mask);

	/* data: offset, size, contents, access mode */
	CHECK(lseek(data, 0, SEEK_CUR) == 1234, "data offset %lld", (long long)lseek(data, 0, SEEK_CUR));
	struct stat st;
	CHECK(fstat(data, &st) == 0 && st.st_size == 5002, "data size %lld", (long long)st.st_size);
	char back[100] = { 0 };
	CHECK(pread(data, back, sizeof(back), 0) == sizeof(back) && memcmp(back, block, sizeof(back)) == 0,
	      "data contents");
	CHECK(pread(data, back, 2, 5000) == 2 && memcmp(back, "pw", 2) == 0, "data contents at 5000");
	CHECK((fcntl(data, F_GETFL) & O_ACCMODE) == O_RDWR, "data not O_RDWR");

	/* append: the flag and its effect */
	int append_flags = fcntl(append, F_GETFL);
	CHECK(append_flags >= 0 && (append_flags & O_APPEND), "O_APPEND lost (flags %#x)", append_flags);
	CHECK((append_flags & O_ACCMODE) == O_WRONLY, "append not O_WRONLY");
	CHECK(write(append, "two\n", 4) == 4, "write append");
	char app[16] = { 0 };
	int app_fd = open_in_dir("append", O_RDONLY);
	CHECK(app_fd >= 0 && read(app_fd, app, sizeof(app)) == 8 && memcmp(app, "one\ntwo\n", 8) == 0,
	      "append file holds \"%.8s\"", app);
	if (app_fd >= 0)
		close(app_fd);

	/* close-on-exec */
	CHECK(fcntl(cloexec, F_GETFD) == FD_CLOEXEC, "FD_CLOEXEC lost");
	CHECK(fcntl(data, F_GETFD) == 0 && fcntl(shared_dup, F_GETFD) == 0, "FD_CLOEXEC appeared");

	/* one open file behind two descriptors */
	CHECK(lseek(shared_dup, 0, SEEK_CUR) == 3, "dup offset %lld", (long long)lseek(shared_dup, 0, SEEK_CUR));
	CHECK(write(shared, "def", 3) == 3, "write shared");
	CHECK(lseek(shared_dup, 0, SEEK_CUR) == 6, "writing through fd %d did not move fd 77 (offset %lld)",
	      shared, (long long)lseek(shared_dup, 0, SEEK_CUR));

	/* the directory descriptor */
	int inside = openat(dirfd_sub, "inside", O_RDONLY);
	char in[8] = { 0 };
	CHECK(inside >= 0 && read(inside, in, 7) == 7 && memcmp(in, "in sub\n", 7) == 0, "openat through dir fd");
	if (inside >= 0)
		close(inside);
	CHECK(fchdir(dirfd_sub) == 0 && getcwd(where, sizeof(where)) && strcmp(where, sub) == 0,
	      "fchdir to the dir fd");

	/* packets */
	char pk[8] = { 0 };
	CHECK(write(packet[1], "ab", 2) == 2 && write(packet[1], "cde", 3) == 3 && read(packet[0], pk, sizeof(pk)) == 2 &&
	      read(packet[0], pk, sizeof(pk)) == 3, "the pipe is no longer in packet mode");
	CHECK(fcntl(noatime, F_GETFL) & O_NOATIME, "O_NOATIME lost");

	/* devices */
	CHECK(is_device(devnull, 1, 3) && write(devnull, "x", 1) == 1, "/dev/null");
	char zeros[4096];
	memset(zeros, 0xff, sizeof(zeros));
	bool all_zero = read(devzero, zeros, sizeof(zeros)) == sizeof(zeros);
	for (size_t i = 0; i < sizeof(zeros); i++)
		all_zero = all_zero && zeros[i] == 0;
	CHECK(is_device(devzero, 1, 5) && all_zero, "/dev/zero");
	char noise[16];
	CHECK(is_device(devrandom, 1, 9) && read(devrandom, noise, sizeof(noise)) == sizeof(noise), "/dev/urandom");
	return tp_finish();
}
