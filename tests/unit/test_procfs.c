/* Tests of the /proc readers of procfs.c against this process: descriptor
 * and thread listings, auxv, links, whole files, the children list; and
 * every reader on a process that does not exist; the system call of a
 * blocked thread, and whether it is in vfork.  The parsers of maps,
 * status and stat, fdinfo have test_procfs_maps.c, test_procfs_status.c
 * and test_procfs_fdinfo.c. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/auxv.h>
#include <sys/wait.h>
#include <time.h>

#include "unit_procfs.h"

static bool fd_is_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0;
}

static void test_live_list_fds(void **state)
{
	(void)state;
	int extra = fcntl(0, F_DUPFD_CLOEXEC, 500);
	assert_true(extra >= 500);
	int *fds;
	size_t n;
	assert_int_equal(bm_list_fds(getpid(), &fds, &n), 0);
	assert_true(n > 0);
	bool found = false;
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			assert_true(fds[i - 1] < fds[i]);
		/* The listing's own directory descriptor must not show. */
		assert_true(fd_is_open(fds[i]));
		found |= fds[i] == extra;
	}
	assert_true(found);
	for (int fd = 0, i = 0; fd <= fds[n - 1] + 64; fd++) {
		bool listed = (size_t)i < n && fds[i] == fd;
		assert_int_equal(listed, fd_is_open(fd));
		i += listed;
	}
	free(fds);
	close(extra);
	assert_int_equal(bm_list_fds(getpid(), &fds, &n), 0);
	for (size_t i = 0; i < n; i++)
		assert_int_not_equal(fds[i], extra);
	free(fds);
}

struct waiting_thread {
	int report_fd, go_fd;
};

static void *wait_for_go(void *arg)
{
	struct waiting_thread *t = arg;
	pid_t tid = gettid();
	if (write(t->report_fd, &tid, sizeof tid) != sizeof tid)
		return NULL;
	struct pollfd p = { .fd = t->go_fd, .events = POLLIN };
	poll(&p, 1, 10000);
	return NULL;
}

static void test_live_list_tids(void **state)
{
	(void)state;
	pid_t *tids;
	size_t n;
	assert_int_equal(bm_list_tids(getpid(), &tids, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(tids[0], getpid());
	free(tids);

	int report[2], go[2];
	assert_int_equal(pipe2(report, O_CLOEXEC), 0);
	assert_int_equal(pipe2(go, O_CLOEXEC), 0);
	struct waiting_thread t = { report[1], go[0] };
	pthread_t thread;
	assert_int_equal(pthread_create(&thread, NULL, wait_for_go, &t), 0);
	struct pollfd p = { .fd = report[0], .events = POLLIN };
	pid_t tid = 0;
	int ready = poll(&p, 1, 10000);
	if (ready == 1)
		assert_int_equal(read(report[0], &tid, sizeof tid), sizeof tid);
	int r = bm_list_tids(getpid(), &tids, &n);
	close(go[1]); /* the thread's poll returns */
	struct timespec deadline;
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += 10;
	assert_int_equal(pthread_timedjoin_np(thread, NULL, &deadline), 0);
	close(go[0]);
	close(report[0]);
	close(report[1]);
	assert_int_equal(ready, 1);
	assert_int_equal(r, 0);
	assert_int_equal(n, 2);
	assert_int_equal(tids[0], getpid() < tid ? getpid() : tid);
	assert_int_equal(tids[1], getpid() < tid ? tid : getpid());
	free(tids);
}

static void test_live_auxv(void **state)
{
	(void)state;
	uint64_t words[512];
	uint32_t n;
	assert_int_equal(bm_read_auxv(getpid(), words, 512, &n), 0);
	assert_true(n >= 4 && n % 2 == 0);
	assert_int_equal(words[n - 2], AT_NULL);
	bool saw_pagesz = false;
	for (uint32_t i = 0; i + 2 < n; i += 2) {
		if (words[i] == AT_PAGESZ) {
			assert_int_equal(words[i + 1], 4096);
			saw_pagesz = true;
		}
		if (words[i] == AT_ENTRY || words[i] == AT_PHDR || words[i] == AT_SYSINFO_EHDR || words[i] == AT_RANDOM)
			assert_int_equal(words[i + 1], getauxval(words[i]));
	}
	assert_true(saw_pagesz);
	uint32_t needed;
	assert_int_equal(bm_read_auxv(getpid(), words, 4, &needed), -ENOSPC);
	assert_int_equal(needed, n);
}

static void test_readlink(void **state)
{
	(void)state;
	char path[64], link[64], buf[PATH_MAX];
	int fd = make_temp_file(path, sizeof path);
	snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
	bool deleted = true;
	assert_int_equal(bm_readlink(link, buf, sizeof buf, &deleted), 0);
	assert_string_equal(buf, path);
	assert_false(deleted);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(bm_readlink(link, buf, sizeof buf, &deleted), 0);
	assert_string_equal(buf, path);
	assert_true(deleted);
	assert_int_equal(bm_readlink(link, buf, sizeof buf, NULL), 0);
	assert_string_equal(buf, path);
	/* The deleted target's name and " (deleted)" fit exactly, but not the NUL. */
	size_t raw = strlen(path) + strlen(" (deleted)");
	assert_int_equal(bm_readlink(link, buf, raw, NULL), -ENAMETOOLONG);
	assert_int_equal(bm_readlink(link, buf, raw + 1, NULL), 0);
	assert_string_equal(buf, path);
	assert_int_equal(bm_readlink(link, buf, 0, NULL), -EINVAL);
	close(fd);
	assert_int_equal(bm_readlink(link, buf, sizeof buf, NULL), -ENOENT);
}

static void test_read_text(void **state)
{
	(void)state;
	char path[64];
	int fd = make_temp_file(path, sizeof path);
	char content[10000];
	for (size_t i = 0; i < sizeof content; i++)
		content[i] = (char)('a' + i % 26);
	content[5000] = '\0'; /* binary content is kept whole */
	assert_int_equal(write(fd, content, sizeof content), (ssize_t)sizeof content);
	char *text;
	size_t len;
	assert_int_equal(bm_read_text(path, &text, &len), 0);
	assert_int_equal(len, sizeof content);
	assert_memory_equal(text, content, sizeof content);
	assert_int_equal(text[len], '\0');
	free(text);
	assert_int_equal(ftruncate(fd, 0), 0);
	assert_int_equal(bm_read_text(path, &text, &len), 0);
	assert_int_equal(len, 0);
	assert_string_equal(text, "");
	free(text);
	close(fd);
	unlink(path);
	assert_int_equal(bm_read_text(path, &text, &len), -ENOENT);
	assert_null(text);
	/* A proc file longer than the first buffer, which stat reports as empty. */
	assert_int_equal(bm_read_text("/proc/self/smaps", &text, &len), 0);
	assert_true(len > 4096);
	assert_int_equal(strlen(text), len);
	free(text);
}

/* /proc/PID/task/TID/children, as the kernel writes it. */
static void test_syscall_text(void **state)
{
	(void)state;
	long nr;
	uint64_t a[6];
	assert_int_equal(bm_parse_syscall("58 0x55df66fbd099 0x7ffd553a1178 0x7ffd553a1188 0x7f8da72d5850 0x0 "
					  "0x7f8da74bd6d0 0x7ffd553a1040 0x7f8da73963b8\n", &nr, a), 0);
	assert_int_equal(nr, 58);
	assert_true(a[0] == 0x55df66fbd099ULL && a[4] == 0 && a[5] == 0x7f8da74bd6d0ULL);
	assert_int_equal(bm_parse_syscall("running\n", &nr, a), 0);
	assert_int_equal(nr, -1);
	assert_int_equal(bm_parse_syscall("-1 0x7ffd553a1040 0x7f8da73963b8\n", &nr, a), 0);
	assert_int_equal(nr, -1);
	assert_int_equal(bm_parse_syscall("", &nr, a), -EINVAL);
	assert_int_equal(bm_parse_syscall("58 0x1 0x2\n", &nr, a), -EINVAL);
	assert_int_equal(bm_parse_syscall("58 1 2 3 4 5 6\n", &nr, a), -EINVAL);
}

/* Waits (at most 10 s) until pid is in uninterruptible sleep. */
static void wait_state_d(pid_t pid)
{
	char path[64], buf[512];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	for (int i = 0; i < 10000; i++) {
		int fd = open(path, O_RDONLY);
		ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
		if (fd >= 0)
			close(fd);
		buf[n > 0 ? n : 0] = 0;
		const char *rp = strrchr(buf, ')');
		if (rp && rp[1] == ' ' && rp[2] == 'D')
			return;
		struct timespec ts = {0, 1000000};
		nanosleep(&ts, NULL);
	}
	fail_msg("process %d never blocked", (int)pid);
}

/* A child blocked in vfork is told, with its vfork child; this process,
 * and a child blocked in a pipe read, are not. */
static void test_live_vfork(void **state)
{
	(void)state;
	int hold[2];
	assert_int_equal(pipe(hold), 0);
	pid_t parent = fork();
	assert_true(parent >= 0);
	if (parent == 0) {
		pid_t v = vfork();
		if (v == 0) {
			char b;
			_exit(read(hold[0], &b, 1) == 1 ? 0 : 1);
		}
		_exit(0);
	}
	wait_state_d(parent);
	pid_t child = -1;
	assert_int_equal(bm_vfork_child(parent, &child), 1);
	pid_t kids[4];
	size_t n;
	assert_int_equal(bm_list_children(parent, kids, 4, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(child, kids[0]);
	assert_int_equal(bm_vfork_child(child, &child), 0); /* blocked in read */
	assert_int_equal(bm_vfork_child(getpid(), &child), 0);
	assert_int_equal(write(hold[1], "x", 1), 1);
	int status;
	assert_int_equal(waitpid(parent, &status, 0), parent);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	close(hold[0]);
	close(hold[1]);
}

static void test_pid_list(void **state)
{
	(void)state;
	pid_t p[2];
	size_t n;
	assert_int_equal(bm_parse_pid_list("", p, 2, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(bm_parse_pid_list("4711 ", p, 2, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(p[0], 4711);
	/* More than there is room for: counted, not stored. */
	assert_int_equal(bm_parse_pid_list("12 34 56 \n", p, 2, &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(p[0], 12);
	assert_int_equal(p[1], 34);
	assert_int_equal(bm_parse_pid_list("12 x", p, 2, &n), -EINVAL);
	assert_int_equal(bm_parse_pid_list("-3", p, 2, &n), -EINVAL);
	assert_int_equal(bm_parse_pid_list("0", p, 2, &n), -EINVAL);
	assert_int_equal(bm_parse_pid_list("99999999999", p, 2, &n), -EINVAL);
	assert_int_equal(bm_parse_pid_list("7 8", NULL, 0, &n), 0);
	assert_int_equal(n, 2);
}

static void test_nonexistent_process(void **state)
{
	(void)state;
	const pid_t gone = INT_MAX; /* above PID_MAX_LIMIT: never a process */
	struct bm_maps_entry *e = (void *)1;
	size_t n = 1;
	assert_int_equal(bm_read_maps(gone, &e, &n), -ENOENT);
	assert_null(e);
	assert_int_equal(n, 0);
	struct bm_maps_entry one = { .start = 0x1000, .end = 0x2000 };
	assert_int_equal(bm_read_smaps_vmflags(gone, &one, 1), -ENOENT);
	struct bm_proc_status s;
	assert_int_equal(bm_read_status(gone, &s), -ENOENT);
	struct bm_proc_stat st;
	assert_int_equal(bm_read_stat(gone, &st), -ENOENT);
	struct bm_fdinfo f;
	assert_int_equal(bm_read_fdinfo(gone, 0, &f), -ENOENT);
	int unused = fcntl(0, F_DUPFD, 600);
	assert_true(unused >= 0);
	close(unused);
	assert_int_equal(bm_read_fdinfo(getpid(), unused, &f), -ENOENT);
	int *fds;
	assert_int_equal(bm_list_fds(gone, &fds, &n), -ENOENT);
	pid_t *tids;
	assert_int_equal(bm_list_tids(gone, &tids, &n), -ENOENT);
	uint64_t words[8];
	uint32_t nwords;
	assert_int_equal(bm_read_auxv(gone, words, 8, &nwords), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_live_list_fds),
		cmocka_unit_test(test_live_list_tids),
		cmocka_unit_test(test_live_auxv),
		cmocka_unit_test(test_readlink),
		cmocka_unit_test(test_read_text),
		cmocka_unit_test(test_pid_list),
		cmocka_unit_test(test_syscall_text),
		cmocka_unit_test(test_live_vfork),
		cmocka_unit_test(test_nonexistent_process),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
