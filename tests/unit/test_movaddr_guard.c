/* The guardian of moving addresses (movaddr_guard.c), in a network
 * namespace the test creates and leaves (root only; skipped otherwise),
 * with a veth of its own (made by ip(8)).  The test plays binmig: it
 * forks an "original" (a child that waits), removes the address as the
 * detach would, and either dismisses the guardian or closes its end of
 * the socket without the word, as binmig's death would.
 *  - binmig dies, the original lives: the address is back on its
 *    interface, and a connection copy left in repair mode is out of it
 *    with SO_REUSEADDR as its image says;
 *  - dismissed: the guardian exits at once, the address stays away;
 *  - binmig dies, the original was killed (a zombie, as after EXITKILL):
 *    the address stays away;
 *  - the original exits while binmig lives: the guardian exits by itself;
 *  - the guardian keeps no descriptor of binmig's but its own (a listening
 *    socket of binmig's is not among them) and has left binmig's process
 *    group. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "movaddr_guard.h"

#define VETH "bmguard0" /* and its peer, bmguard0p */
#define UNIT_NETNS_VETH VETH
#include "unit_netns.h"

#define WAIT_MS 10000

/* The moving address, on the veth. */
static struct bm_movaddr moving(const char *text)
{
	struct bm_movaddr m = {0};
	assert_int_equal(bm_movaddr_add_option(&m, text), 0);
	m.addr[0].ifindex = (int)if_nametoindex(VETH);
	assert_true(m.addr[0].ifindex > 0);
	return m;
}

/* A child that waits until killed: the process whose address moves. */
static pid_t original(void)
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		for (;;)
			pause();
	}
	return pid;
}

/* Waits (bounded) for PID, a child, to exit, and reaps it: its status. */
static int reap(pid_t pid)
{
	int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	assert_true(pidfd >= 0);
	struct pollfd p = {pidfd, POLLIN, 0};
	int r = poll(&p, 1, WAIT_MS);
	close(pidfd);
	if (r != 1)
		kill(pid, SIGKILL);
	int status = 0;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_int_equal(r, 1);
	return status;
}

static void end(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

/* binmig's death, as the guardian sees it: its end closed without the word. */
static void die(struct bm_movaddr_guard *g)
{
	close(g->word);
	g->word = -1;
	assert_int_equal(reap(g->pid), 0);
	g->pid = 0;
}

static int opt(int s, int level, int name)
{
	int v = -1;
	socklen_t len = sizeof v;
	assert_int_equal(getsockopt(s, level, name, &v, &len), 0);
	return v;
}

static void test_died_original_lives(void **state)
{
	(void)state;
	if (unit_netns_home < 0)
		skip();
	struct bm_movaddr m = moving("10.79.0.5");
	assert_int_equal(bm_netaddr_add(&m.addr[0]), 0);
	pid_t orig = original();
	int client, server, one = 1, on = 1;
	unit_loopback_connection(&client, &server);
	assert_int_equal(setsockopt(server, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one), 0);
	/* binmig died while it read this connection: repair mode stays on. */
	assert_int_equal(setsockopt(server, IPPROTO_TCP, TCP_REPAIR, &on, sizeof on), 0);
	struct bm_guard_sock copy = {dup(server), true, -1};
	struct bm_movaddr_guard g;
	assert_int_equal(bm_movaddr_guard_spawn(&g, orig, &m, &copy, 1), 0);
	assert_int_equal(bm_netaddr_del(&m.addr[0]), 0); /* the detach */
	die(&g);
	assert_true(unit_listed(&m.addr[0]));
	assert_int_equal(opt(server, IPPROTO_TCP, TCP_REPAIR), 0);
	assert_int_equal(opt(server, SOL_SOCKET, SO_REUSEADDR), 1);
	/* and it works as a connection again */
	assert_int_equal(write(server, "x", 1), 1);
	char c = 0;
	assert_int_equal(read(client, &c, 1), 1);
	assert_int_equal(c, 'x');
	close(client);
	close(server);
	end(orig);
	assert_int_equal(bm_netaddr_del(&m.addr[0]), 0);
}

static void test_dismissed(void **state)
{
	(void)state;
	if (unit_netns_home < 0)
		skip();
	struct bm_movaddr m = moving("10.79.0.6");
	assert_int_equal(bm_netaddr_add(&m.addr[0]), 0);
	pid_t orig = original();
	struct bm_movaddr_guard g;
	assert_int_equal(bm_movaddr_guard_spawn(&g, orig, &m, NULL, 0), 0);
	assert_int_equal(bm_netaddr_del(&m.addr[0]), 0);
	bm_movaddr_guard_dismiss(&g);
	assert_int_equal(g.pid, 0);
	assert_int_equal(g.word, -1);
	assert_false(unit_listed(&m.addr[0]));
	bm_movaddr_guard_dismiss(&g); /* a second time: nothing */
	end(orig);
}

static void test_died_original_gone(void **state)
{
	(void)state;
	if (unit_netns_home < 0)
		skip();
	struct bm_movaddr m = moving("10.79.0.7");
	assert_int_equal(bm_netaddr_add(&m.addr[0]), 0);
	pid_t orig = original();
	struct bm_movaddr_guard g;
	assert_int_equal(bm_movaddr_guard_spawn(&g, orig, &m, NULL, 0), 0);
	assert_int_equal(bm_netaddr_del(&m.addr[0]), 0);
	/* Killed and not reaped: a zombie, as an original ended by EXITKILL
	 * whose parent has not waited yet. */
	kill(orig, SIGKILL);
	siginfo_t si;
	assert_int_equal(waitid(P_PID, (id_t)orig, &si, WEXITED | WNOWAIT), 0);
	die(&g);
	assert_false(unit_listed(&m.addr[0]));
	end(orig);
}

static void test_original_exits(void **state)
{
	(void)state;
	if (unit_netns_home < 0)
		skip();
	struct bm_movaddr m = moving("10.79.0.8");
	pid_t orig = original();
	struct bm_movaddr_guard g;
	assert_int_equal(bm_movaddr_guard_spawn(&g, orig, &m, NULL, 0), 0);
	end(orig);
	assert_int_equal(reap(g.pid), 0); /* gone without a word */
	g.pid = 0;
	close(g.word);
	assert_false(unit_listed(&m.addr[0]));
}

/* The number of descriptors PID has open, and whether INO is among them. */
static int descriptors(pid_t pid, ino_t ino, bool *has)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
	DIR *d = opendir(path);
	assert_non_null(d);
	int n = 0;
	*has = false;
	for (struct dirent *e; (e = readdir(d));) {
		if (e->d_name[0] == '.')
			continue;
		struct stat st;
		char fd[320];
		snprintf(fd, sizeof fd, "%s/%s", path, e->d_name);
		if (stat(fd, &st) == 0 && st.st_ino == ino)
			*has = true;
		n++;
	}
	closedir(d);
	return n;
}

static void test_descriptors(void **state)
{
	(void)state;
	if (unit_netns_home < 0)
		skip();
	struct bm_movaddr m = moving("10.79.0.9");
	int l = socket(AF_INET, SOCK_STREAM, 0); /* binmig's, not close-on-exec */
	assert_int_equal(listen(l, 1), 0);
	struct stat lst;
	assert_int_equal(fstat(l, &lst), 0);
	pid_t orig = original();
	struct bm_movaddr_guard g;
	assert_int_equal(bm_movaddr_guard_spawn(&g, orig, &m, NULL, 0), 0);
	/* 0, 1, 2, its end of the socket and the pidfd, once it has closed
	 * the rest. */
	bool has = true;
	int n = 0;
	for (int waited = 0; waited < WAIT_MS; waited += 10) {
		n = descriptors(g.pid, lst.st_ino, &has);
		if (n == 5 && !has)
			break;
		poll(NULL, 0, 10);
	}
	assert_int_equal(n, 5);
	assert_false(has);
	assert_int_equal(getpgid(g.pid), g.pid);
	bm_movaddr_guard_dismiss(&g);
	close(l);
	end(orig);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_died_original_lives),
		cmocka_unit_test(test_dismissed),
		cmocka_unit_test(test_died_original_gone),
		cmocka_unit_test(test_original_exits),
		cmocka_unit_test(test_descriptors),
	};
	return cmocka_run_group_tests(tests, enter_private_netns, leave_private_netns);
}
