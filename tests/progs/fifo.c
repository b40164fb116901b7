/* fifo PATH: a named FIFO whose write end the test script holds open.
 *   1. opens PATH read-only, prints "ready", waits for SIGUSR1; meanwhile
 *      the script writes "buffered\n" into the FIFO and migrates us: the
 *      data must still be there (it stays in the kernel while the script's
 *      end is open), read without blocking;
 *   2. prints "reading" and blocks in one read(2); the script migrates us
 *      again while we are inside it, then writes "wake\n": that single read
 *      must return those bytes (not EINTR, no retry loop here to hide one).
 * The descriptor stays the same FIFO (inode) and read-only. */
#include <sys/stat.h>

#include "testprog.h"

int main(int argc, char **argv)
{
	if (argc != 2) {
		say("FAIL: usage: fifo PATH");
		return 2;
	}
	usr1_setup();
	int fd = open(argv[1], O_RDONLY);
	SETUP(fd >= 0, "open fifo");
	struct stat st_before;
	SETUP(fstat(fd, &st_before) == 0 && S_ISFIFO(st_before.st_mode), "fstat fifo");

	say("ready");
	usr1_wait();

	struct stat st;
	CHECK(fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode) && st.st_ino == st_before.st_ino &&
		      st.st_dev == st_before.st_dev,
	      "fd %d is no longer the FIFO", fd);
	CHECK((fcntl(fd, F_GETFL) & (O_ACCMODE | O_NONBLOCK)) == O_RDONLY, "fifo flags %#x", fcntl(fd, F_GETFL));
	char buf[64] = { 0 };
	const char *first = "buffered\n";
	int flags = fcntl(fd, F_GETFL);
	fcntl(fd, F_SETFL, flags | O_NONBLOCK); /* the data must already be there */
	ssize_t n = read(fd, buf, strlen(first));
	CHECK(n == (ssize_t)strlen(first) && memcmp(buf, first, n) == 0, "buffered data: read %zd bytes \"%.*s\" (%s)",
	      n, n > 0 ? (int)n : 0, buf, n < 0 ? strerror(errno) : "");
	fcntl(fd, F_SETFL, flags);

	say("reading");
	memset(buf, 0, sizeof(buf));
	n = read(fd, buf, sizeof(buf));
	CHECK(n == 5 && memcmp(buf, "wake\n", 5) == 0, "blocked read returned %zd \"%.*s\" (%s)", n,
	      n > 0 ? (int)n : 0, buf, n < 0 ? strerror(errno) : "");
	return tp_finish();
}
