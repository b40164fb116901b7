/* inotify MODE DIR: inotify instances (migrator/fd_inotify.c), with DIR an
 * empty scratch directory.
 *
 *   carried   a non-blocking instance watching DIR (create, delete), DIR/file
 *             (modify), DIR/sub (create, only a directory) and DIR/one
 *             (one-shot attribute changes), with watch 3 removed before,
 *             so the numbers are 1, 2, 4, 5; and a blocking instance (dup'd
 *             to fd 80) watching DIR for moves.  After the wake-up: nothing
 *             queued, then each change is reported by its watch number,
 *             the one-shot watch once.
 *   rebuilt   an instance watching every event in DIR/busy, where the
 *             process holds a file, an unlinked file, a FIFO's read end and
 *             a bound unix socket, which the restore makes again or
 *             reopens: after the wake-up nothing is queued (none of the
 *             restore's own doings), then a new file there is reported.
 *             (Migrated between hosts sharing a kernel, the source's
 *             closing of those files would be reported: e2e/inotify only.)
 *   far       watches numbered far apart: DIR as 1, then DIR/file as
 *             FAR_WD (the numbers between taken and given back first, more
 *             of them than an instance can queue events for).  After the
 *             wake-up: nothing queued, each change reported by its watch
 *             number, and the next watch numbered FAR_WD + 1.
 *   gone      watches 1 and 2 on DIR and DIR/file, then its newest, 3 on
 *             DIR/sub, removed (argument WHERE after DIR).  After the
 *             wake-up: nothing queued, each change reported, and the next
 *             watch numbered 4 where the number was carried (WHERE
 *             "carried": the dump reads it, or migrate in the original), 3
 *             where it follows the newest watch (WHERE "lost": a dump that
 *             cannot read it, which warns).
 *   queued    an event queued and not read: refused.
 *   mapped    a watch on DIR for opens and closes, where DIR/lib is mapped:
 *             refused (the restore opens and closes the mapped file).
 *   unlinked  a watch on a file whose name is gone (the file held open):
 *             refused.
 * In the refused modes the process is left alone and passes its checks. */
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "testprog.h"

static char dir[4096];

static void path_of(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", dir, name);
}

static int watch(int in, const char *name, uint32_t mask)
{
	char path[4200];
	path_of(path, sizeof(path), name);
	int wd = inotify_add_watch(in, path, mask);
	SETUP(wd > 0, name);
	return wd;
}

static void touch(const char *name)
{
	char path[4200];
	path_of(path, sizeof(path), name);
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0644);
	SETUP(fd >= 0, name);
	close(fd);
}

static void drain(int in)
{
	char buf[4096];
	while (read(in, buf, sizeof(buf)) > 0)
		;
}

/* The next event: its watch number and mask, -1 when none is queued. */
static int next_event(int in, uint32_t *mask, char *name, size_t len)
{
	static char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	static ssize_t have, at;
	if (at >= have) {
		have = read(in, buf, sizeof(buf));
		at = 0;
		if (have <= 0) {
			have = 0;
			return -1;
		}
	}
	const struct inotify_event *ev = (const struct inotify_event *)(buf + at);
	at += (ssize_t)(sizeof(*ev) + ev->len);
	*mask = ev->mask;
	snprintf(name, len, "%s", ev->len ? ev->name : "");
	return ev->wd;
}

static void expect(int in, int wd, uint32_t mask, const char *name, const char *what)
{
	uint32_t got_mask = 0;
	char got_name[256] = "";
	int got = next_event(in, &got_mask, got_name, sizeof(got_name));
	CHECK(got == wd && (got_mask & mask) && strcmp(got_name, name) == 0,
	      "%s: event of watch %d, mask %#x, name \"%s\"; expected watch %d, mask %#x, \"%s\"", what, got, got_mask,
	      got_name, wd, mask, name);
}

/* Says ready, waits for the wake-up with the same descriptors, and checks
 * that nothing is queued in IN: the restore's own doings must not be. */
static void ready_then_nothing_queued(int in)
{
	struct fd_set_snapshot fds_before;
	fd_snapshot(&fds_before);
	say("ready");
	usr1_wait();
	fd_check_same(&fds_before);
	uint32_t mask;
	char got[256];
	int n = next_event(in, &mask, got, sizeof(got));
	CHECK(n == -1 && errno == EAGAIN, "an event was queued after the restore: mask %#x, \"%s\"", n == 1 ? mask : 0,
	      n == 1 ? got : "");
}

/* After the wake-up: DIR/new made and DIR/file written, each reported by
 * its watch. */
static void create_and_modify(int in, int w_dir, int w_file)
{
	touch("new");
	expect(in, w_dir, IN_CREATE, "new", "create in DIR");
	char path[4200];
	path_of(path, sizeof(path), "file");
	int fd = open(path, O_WRONLY | O_APPEND);
	CHECK(fd >= 0 && write(fd, "x", 1) == 1, "write file");
	if (fd >= 0)
		close(fd);
	expect(in, w_file, IN_MODIFY, "", "modify file");
}

static int carried(void)
{
	touch("file");
	touch("gone");
	touch("one");
	char sub[4200];
	path_of(sub, sizeof(sub), "sub");
	SETUP(mkdir(sub, 0755) == 0, "mkdir sub");
	int in = inotify_init1(IN_NONBLOCK);
	SETUP(in >= 0, "inotify_init1");
	int w_dir = watch(in, ".", IN_CREATE | IN_DELETE);
	int w_file = watch(in, "file", IN_MODIFY);
	int w_gone = watch(in, "gone", IN_MODIFY);
	SETUP(inotify_rm_watch(in, w_gone) == 0, "inotify_rm_watch");
	int w_sub = watch(in, "sub", IN_CREATE | IN_ONLYDIR);
	int w_one = watch(in, "one", IN_ATTRIB | IN_ONESHOT);
	SETUP(w_dir == 1 && w_file == 2 && w_sub == 4 && w_one == 5, "watch numbers");
	int blocking = inotify_init1(IN_CLOEXEC);
	SETUP(blocking >= 0 && dup2(blocking, 80) == 80, "second instance");
	int w_moves = watch(blocking, ".", IN_MOVED_TO);
	drain(in); /* the IN_IGNORED of the removed watch */

	ready_then_nothing_queued(in);
	uint32_t mask;
	char name[256];
	create_and_modify(in, w_dir, w_file);
	char path[4200];
	char inner[4300];
	snprintf(inner, sizeof(inner), "%s/x", sub);
	CHECK(mkdir(inner, 0755) == 0, "mkdir sub/x");
	expect(in, w_sub, IN_CREATE, "x", "create in sub");
	path_of(path, sizeof(path), "one");
	CHECK(chmod(path, 0600) == 0 && chmod(path, 0644) == 0, "chmod one");
	expect(in, w_one, IN_ATTRIB, "", "one-shot attribute change");
	expect(in, w_one, IN_IGNORED, "", "one-shot watch ended");
	CHECK(next_event(in, &mask, name, sizeof(name)) == -1, "a second one-shot event");
	char from[4200];
	path_of(from, sizeof(from), "new");
	path_of(path, sizeof(path), "moved");
	CHECK(rename(from, path) == 0, "rename");
	expect(80, w_moves, IN_MOVED_TO, "moved", "move, on the blocking instance's dup");
	return tp_finish();
}

/* Beyond /proc/sys/fs/inotify/max_queued_events (16384 by default). */
#define FAR_WD 20002

static int far(void)
{
	touch("file");
	int in = inotify_init1(IN_NONBLOCK);
	SETUP(in >= 0, "inotify_init1");
	int w_dir = watch(in, ".", IN_CREATE);
	for (int wd = w_dir + 1; wd < FAR_WD; wd++) {
		SETUP(watch(in, "file", IN_MODIFY) == wd && inotify_rm_watch(in, wd) == 0, "a passing watch");
		drain(in); /* its IN_IGNORED */
	}
	int w_file = watch(in, "file", IN_MODIFY);
	SETUP(w_dir == 1 && w_file == FAR_WD, "watch numbers");

	ready_then_nothing_queued(in);
	create_and_modify(in, w_dir, w_file);
	char path[4200];
	path_of(path, sizeof(path), "new");
	int w_new = inotify_add_watch(in, path, IN_MODIFY);
	CHECK(w_new == FAR_WD + 1, "the next watch is numbered %d, expected %d", w_new, FAR_WD + 1);
	return tp_finish();
}

static int gone(const char *where)
{
	touch("file");
	char sub[4200];
	path_of(sub, sizeof(sub), "sub");
	SETUP(mkdir(sub, 0755) == 0, "mkdir sub");
	int in = inotify_init1(IN_NONBLOCK);
	SETUP(in >= 0, "inotify_init1");
	int w_dir = watch(in, ".", IN_CREATE);
	int w_file = watch(in, "file", IN_MODIFY);
	int w_sub = watch(in, "sub", IN_CREATE);
	SETUP(w_dir == 1 && w_file == 2 && w_sub == 3 && inotify_rm_watch(in, w_sub) == 0, "watch numbers");
	drain(in); /* the IN_IGNORED of the removed watch */
	int expected = strcmp(where, "carried") == 0 ? 4 : 3;

	ready_then_nothing_queued(in);
	create_and_modify(in, w_dir, w_file);
	int w_new = inotify_add_watch(in, sub, IN_CREATE);
	CHECK(w_new == expected, "the next watch is numbered %d, expected %d (%s)", w_new, expected, where);
	return tp_finish();
}

static int rebuilt(void)
{
	/* made first, so that its number comes before the files' */
	int in = inotify_init1(IN_NONBLOCK);
	SETUP(in >= 0, "inotify_init1");
	char busy[4200], name[4300];
	path_of(busy, sizeof(busy), "busy");
	SETUP(mkdir(busy, 0755) == 0, "mkdir busy");
	snprintf(name, sizeof(name), "%s/held", busy);
	SETUP(open(name, O_RDWR | O_CREAT, 0600) >= 0, "held");
	snprintf(name, sizeof(name), "%s/ghost", busy);
	SETUP(open(name, O_RDWR | O_CREAT, 0600) >= 0 && unlink(name) == 0, "ghost");
	snprintf(name, sizeof(name), "%s/fifo", busy);
	SETUP(mkfifo(name, 0600) == 0 && open(name, O_RDONLY | O_NONBLOCK) >= 0, "fifo");
	int sock = socket(AF_UNIX, SOCK_DGRAM, 0);
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	snprintf(name, sizeof(name), "%s/sock", busy);
	SETUP(strlen(name) < sizeof(a.sun_path), "a socket path that fits");
	memcpy(a.sun_path, name, strlen(name));
	SETUP(sock >= 0 && bind(sock, (struct sockaddr *)&a, sizeof(a)) == 0, "socket");
	int w_busy = watch(in, "busy", IN_ALL_EVENTS);

	ready_then_nothing_queued(in);
	touch("busy/new");
	expect(in, w_busy, IN_CREATE, "new", "create in DIR/busy");
	return tp_finish();
}

static int refused(const char *mode)
{
	int in = inotify_init1(IN_NONBLOCK);
	SETUP(in >= 0, "inotify_init1");
	int held = -1;
	if (strcmp(mode, "queued") == 0) {
		watch(in, ".", IN_CREATE);
		touch("made");
	} else if (strcmp(mode, "mapped") == 0) {
		touch("lib");
		char path[4200];
		path_of(path, sizeof(path), "lib");
		int fd = open(path, O_RDWR);
		SETUP(fd >= 0 && write(fd, "mapped", 6) == 6 && mmap(NULL, 6, PROT_READ, MAP_PRIVATE, fd, 0) != MAP_FAILED,
		      "map lib");
		close(fd);
		watch(in, ".", IN_OPEN | IN_CLOSE_NOWRITE);
	} else {
		touch("x");
		char path[4200];
		path_of(path, sizeof(path), "x");
		held = open(path, O_RDWR);
		SETUP(held >= 0, "open x");
		watch(in, "x", IN_MODIFY);
		SETUP(unlink(path) == 0, "unlink x");
	}
	say("ready");
	usr1_wait();
	uint32_t mask;
	char name[256];
	if (held >= 0) {
		CHECK(write(held, "y", 1) == 1, "write x");
		CHECK(next_event(in, &mask, name, sizeof(name)) == 1 && (mask & IN_MODIFY), "the watch on x");
	} else if (strcmp(mode, "mapped") == 0) {
		CHECK(next_event(in, &mask, name, sizeof(name)) == -1, "an event of the mapped file");
	} else {
		CHECK(next_event(in, &mask, name, sizeof(name)) == 1 && strcmp(name, "made") == 0, "the queued event");
	}
	return tp_finish();
}

int main(int argc, char **argv)
{
	bool gone_mode = argc == 4 && strcmp(argv[1], "gone") == 0 &&
			 (strcmp(argv[3], "carried") == 0 || strcmp(argv[3], "lost") == 0);
	if ((argc != 3 && !gone_mode) || !realpath(argv[2], dir) || chdir(dir) < 0) {
		say("FAIL: usage: inotify carried|rebuilt|far|queued|unlinked|mapped DIR, or inotify gone DIR "
		    "carried|lost (DIR an existing directory)");
		return 2;
	}
	usr1_setup();
	if (gone_mode)
		return gone(argv[3]);
	if (strcmp(argv[1], "carried") == 0)
		return carried();
	if (strcmp(argv[1], "rebuilt") == 0)
		return rebuilt();
	if (strcmp(argv[1], "far") == 0)
		return far();
	if (strcmp(argv[1], "queued") == 0 || strcmp(argv[1], "unlinked") == 0 || strcmp(argv[1], "mapped") == 0)
		return refused(argv[1]);
	say("FAIL: unknown mode %s", argv[1]);
	return 2;
}
