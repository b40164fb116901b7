/* owners DIR: who owns the pipes, sockets and unlinked files of a
 * process.  The kernel gives a new pipe or socket the fsuid and fsgid of
 * whoever made it (fstat's st_uid and st_gid; a socket's uid is also the
 * one /proc/net shows); binmig's restore makes them, and the unlinked
 * files it carries, itself, and must give them their owners back.  As
 * root, a pipe, two files in DIR held open and unlinked, one of them
 * given to 65534, a file of root's mapped with no descriptor held and
 * unlinked (not checked: no way to look at it as 65534), and as its cwd
 * DIR/gone (mode 0751), removed; then as user and
 * group 65534: a pipe, a unix socket pair, a UDP socket and a TCP listener
 * on 127.0.0.1.  After the wake-up (SIGUSR1, testprog.h) each has its
 * owner (the cwd its mode too), and the UDP socket's line in /proc/net/udp
 * names 65534; then the UDP socket sends one datagram to 127.0.0.1 port 9
 * (a test's firewall rule may count it by its sender's user).
 * Prints "ready" when set up. */
#include <netinet/in.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <grp.h>

#include "testprog.h"

#define NOBODY 65534u

struct owned {
	int fd;
	uid_t uid;
	const char *what;
};

static void expect_owner(const struct owned *o)
{
	struct stat st;
	CHECK(fstat(o->fd, &st) == 0 && st.st_uid == o->uid && st.st_gid == o->uid, "%s: owner %u:%u, expected %u:%u",
	      o->what, (unsigned)st.st_uid, (unsigned)st.st_gid, (unsigned)o->uid, (unsigned)o->uid);
}

/* The uid /proc/net/udp shows for the socket of inode INO, or -1. */
static long udp_uid(ino_t ino)
{
	static char text[1 << 16];
	ssize_t n = read_file("/proc/net/udp", text, sizeof text - 1);
	if (n <= 0)
		return -1;
	text[n] = 0;
	for (char *line = strchr(text, '\n'); line && line[1]; line = strchr(line + 1, '\n')) {
		unsigned long uid, inode;
		/* sl local rem st tx:rx tr:when retrnsmt uid timeout inode */
		if (sscanf(line + 1, "%*s %*s %*s %*s %*s %*s %*s %lu %*s %lu", &uid, &inode) == 2 && inode == ino)
			return (long)uid;
	}
	return -1;
}

/* DIR/NAME made, held open, given to OWNER and unlinked. */
static int unlinked(const char *dir, const char *name, uid_t owner)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
	SETUP(fd >= 0 && write(fd, name, strlen(name)) == (ssize_t)strlen(name), "an unlinked file");
	SETUP(fchown(fd, owner, owner) == 0 && unlink(path) == 0, "its owner, unlinking it");
	return fd;
}

/* DIR/NAME of root's (mode 0640) mapped, its descriptor closed and its
 * name removed: the mapping is all that is left of it. */
static void *mapped_only(const char *dir, const char *name)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
	SETUP(fd >= 0 && ftruncate(fd, 4096) == 0, "a file to map");
	void *at = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);
	SETUP(at != MAP_FAILED && close(fd) == 0 && unlink(path) == 0, "mapping it, closing and unlinking it");
	return at;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		say("FAIL: usage: owners DIR");
		return 2;
	}
	struct owned o[9];
	int n = 0, p[2];
	SETUP(pipe(p) == 0, "pipe as root");
	o[n++] = (struct owned){p[0], 0, "a pipe made as root"};
	o[n++] = (struct owned){unlinked(argv[1], "root-file", 0), 0, "an unlinked file of root's"};
	o[n++] = (struct owned){unlinked(argv[1], "nobody-file", NOBODY), NOBODY, "an unlinked file of 65534's"};
	/* Carried too (its owner in the image's MAPPED_FILES); a process of
	 * 65534's cannot look at it (/proc/self/map_files needs CAP_SYS_ADMIN). */
	(void)mapped_only(argv[1], "mapped-file");
	char gone[4096];
	snprintf(gone, sizeof gone, "%s/gone", argv[1]);
	SETUP(mkdir(gone, 0751) == 0 && chmod(gone, 0751) == 0 && chdir(gone) == 0 && rmdir(gone) == 0,
	      "a removed cwd");
	const gid_t none[] = {NOBODY};
	SETUP(setgroups(1, none) == 0 && setresgid(NOBODY, NOBODY, NOBODY) == 0 && setresuid(NOBODY, NOBODY, NOBODY) == 0,
	      "becoming 65534");
	SETUP(pipe(p) == 0, "pipe");
	o[n++] = (struct owned){p[0], NOBODY, "a pipe's read end"};
	o[n++] = (struct owned){p[1], NOBODY, "a pipe's write end"};
	int sv[2];
	SETUP(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, "socketpair");
	o[n++] = (struct owned){sv[0], NOBODY, "a unix socket"};
	int udp = socket(AF_INET, SOCK_DGRAM, 0), tcp = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in lo = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	SETUP(udp >= 0 && bind(udp, (struct sockaddr *)&lo, sizeof lo) == 0, "a UDP socket");
	SETUP(tcp >= 0 && bind(tcp, (struct sockaddr *)&lo, sizeof lo) == 0 && listen(tcp, 4) == 0, "a TCP listener");
	o[n++] = (struct owned){udp, NOBODY, "a UDP socket"};
	o[n++] = (struct owned){tcp, NOBODY, "a TCP listener"};
	struct stat st;
	SETUP(fstat(udp, &st) == 0 && udp_uid(st.st_ino) == NOBODY, "the UDP socket in /proc/net/udp");
	usr1_setup();
	say("ready");
	usr1_wait();

	for (int i = 0; i < n; i++)
		expect_owner(&o[i]);
	long uid = fstat(udp, &st) == 0 ? udp_uid(st.st_ino) : -2;
	CHECK(uid == NOBODY, "the UDP socket's uid in /proc/net/udp is %ld", uid);
	CHECK(stat("/proc/self/cwd", &st) == 0 && st.st_uid == 0 && st.st_gid == 0 && (st.st_mode & 07777) == 0751,
	      "the removed cwd: owner %u:%u, mode %o, expected 0:0 and 751", (unsigned)st.st_uid, (unsigned)st.st_gid,
	      (unsigned)(st.st_mode & 07777));
	struct sockaddr_in discard = {.sin_family = AF_INET, .sin_port = htons(9), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	CHECK(sendto(udp, "x", 1, 0, (struct sockaddr *)&discard, sizeof discard) == 1, "sending from the UDP socket: %s",
	      strerror(errno));
	return tp_finish();
}
