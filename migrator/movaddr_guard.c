/* The guardian of moved addresses: forked by binmig before the detach,
 * it puts them back should binmig die while the original lives on here
 * (movaddr_guard.h). */
#include "movaddr_guard.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <syslog.h>
#include <unistd.h>

#include "checkpoint.h"
#include "log.h"
#include "procfs.h"
#include "ptrace_ctl.h"
#include "sk_inet.h"
#include "sk_tcp_repair.h"

/* The one word binmig sends when it ends normally. */
#define WORD 'd'
/* How long the guardian waits for binmig in one step before asking
 * whether its parent changed (a copy of binmig's end that leaked would
 * hide the end of stream). */
#define STEP_MS 1000
/* After binmig's death, how long the kernel may take to let the original
 * go (binmig's tracing thread leaves after its descriptors are closed). */
#define UNTRACE_MS 5000
/* Between the two looks at the original: a process whose SIGKILL was
 * just dequeued shows neither the signal nor PF_EXITING for a moment. */
#define SECOND_LOOK_MS 100
/* How long dismissal waits for the guardian to exit. */
#define REAP_MS 5000
#define PF_EXITING 0x00000004u

/* --- the guardian ------------------------------------------------------- */

struct guardian {
	pid_t binmig, original;
	int word, pidfd;
	const struct bm_movaddr *m;
	struct bm_guard_sock *socks;
	size_t nsocks;
};

/* One line, on stderr and to syslog (a guardian may outlive the
 * terminal that saw binmig). */
static void say(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(int prio, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	dprintf(STDERR_FILENO, "binmig: migrate guardian: %s\n", line);
	openlog("binmig", LOG_PID, LOG_DAEMON);
	syslog(prio, "migrate guardian: %s", line);
	closelog();
}

static bool exited(int pidfd, int timeout_ms)
{
	struct pollfd p = {pidfd, POLLIN, 0};
	int r;
	while ((r = poll(&p, 1, timeout_ms)) < 0 && errno == EINTR)
		;
	return r != 0;
}

/* Whether the original is gone or on its way: exited, a zombie, exiting,
 * or with a SIGKILL pending (EXITKILL, or binmig's own termination).
 * /proc is read before the pidfd is asked, so that a PID reused after
 * the exit cannot answer for it. */
static bool going(const struct guardian *g)
{
	struct bm_proc_status st;
	struct bm_proc_stat ps;
	const uint64_t kill_bit = 1ULL << (SIGKILL - 1);
	bool dying = bm_read_status(g->original, &st) < 0 || bm_read_stat(g->original, &ps) < 0 ||
		     st.state == 'Z' || st.state == 'X' || (ps.flags & PF_EXITING) || ((st.sig_pnd | st.shd_pnd) & kill_bit);
	return exited(g->pidfd, 0) || dying;
}

/* Waits until nobody traces the original (the kernel detaches it as
 * binmig's tracing thread leaves): 1 when untraced, 0 when gone, -ETIMEDOUT. */
static int wait_untraced(const struct guardian *g)
{
	for (int waited = 0; waited <= UNTRACE_MS; waited += 10) {
		struct bm_proc_status st;
		if (bm_read_status(g->original, &st) < 0 || exited(g->pidfd, 0))
			return 0;
		if (st.tracer_pid == 0)
			return 1;
		if (exited(g->pidfd, 10))
			return 0;
	}
	return -ETIMEDOUT;
}

static void text_of(const struct bm_netaddr *a, char *buf, size_t len)
{
	char name[IF_NAMESIZE];
	char addr[INET6_ADDRSTRLEN];
	if (!inet_ntop((int)a->family, a->addr, addr, sizeof addr))
		snprintf(addr, sizeof addr, "?");
	if (!if_indextoname((unsigned)a->ifindex, name))
		snprintf(name, sizeof name, "#%d", a->ifindex);
	snprintf(buf, len, "%s/%u on %s", addr, a->prefixlen, name);
}

/* Every address back (one binmig had not removed yet is there already),
 * announced; then the connections: repair mode off with a window probe,
 * which tells the peer, retransmitting to an address that was gone,
 * where things stand.  What was done or failed goes into REPORT. */
static void put_back(const struct guardian *g, char *report, size_t len)
{
	size_t used = 0;
	for (size_t i = 0; i < g->m->n && used < len; i++) {
		const struct bm_netaddr *a = &g->m->addr[i];
		char text[INET6_ADDRSTRLEN + IF_NAMESIZE + 16];
		text_of(a, text, sizeof text);
		int rc = bm_netaddr_add(a);
		if (rc == 0 || rc == -EEXIST) {
			int ann = bm_netaddr_announce(a);
			used += (size_t)snprintf(report + used, len - used, "%s%s %s%s%s", i ? ", " : "", text,
						 rc == 0 ? "put back" : "still there", ann < 0 ? " (announcing it failed: " : "",
						 ann < 0 ? strerror(-ann) : "");
			if (ann < 0 && used < len)
				used += (size_t)snprintf(report + used, len - used, ")");
		} else {
			used += (size_t)snprintf(report + used, len - used, "%scannot put back %s: %s", i ? ", " : "",
						 text, strerror(-rc));
		}
	}
	size_t repaired = 0, failed = 0;
	for (size_t i = 0; i < g->nsocks; i++) {
		const struct bm_guard_sock *s = &g->socks[i];
		int on = 0, off = TCP_REPAIR_OFF, one = 1;
		socklen_t sl = sizeof on;
		if (getsockopt(s->fd, IPPROTO_TCP, TCP_REPAIR, &on, &sl) < 0 || !on)
			continue;
		/* Leaving repair mode clears SO_REUSEADDR; the read had SO_PEEK_OFF off. */
		if (setsockopt(s->fd, IPPROTO_TCP, TCP_REPAIR, &off, sizeof off) < 0 ||
		    (s->reuseaddr && setsockopt(s->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0) ||
		    (s->peek_off >= 0 && setsockopt(s->fd, SOL_SOCKET, SO_PEEK_OFF, &s->peek_off, sizeof s->peek_off) < 0))
			failed++;
		else
			repaired++;
	}
	if (used < len && (repaired || failed))
		snprintf(report + used, len - used, "; %zu connection(s) taken out of repair mode%s", repaired + failed,
			 failed ? ", some failing" : "");
}

/* binmig died: the address goes where the process lives. */
static void decide(const struct guardian *g)
{
	int untraced = wait_untraced(g);
	if (untraced < 0) {
		say(LOG_ERR, "process %d is still traced %d ms after binmig (PID %d) died: its addresses stay away",
		    (int)g->original, UNTRACE_MS, (int)g->binmig);
		return;
	}
	if (untraced == 0 || going(g) || exited(g->pidfd, SECOND_LOOK_MS) || going(g)) {
		say(LOG_NOTICE, "process %d is gone from this host, binmig (PID %d) having died: its addresses stay away",
		    (int)g->original, (int)g->binmig);
		return;
	}
	char report[1024] = "";
	put_back(g, report, sizeof report);
	say(LOG_WARNING, "process %d runs on here, binmig (PID %d) having died after moving its addresses away: %s",
	    (int)g->original, (int)g->binmig, report);
}

static void guard(const struct guardian *g)
{
	for (;;) {
		struct pollfd p[2] = {{g->word, POLLIN, 0}, {g->pidfd, POLLIN, 0}};
		int r = poll(p, 2, STEP_MS);
		if (r < 0 && errno != EINTR)
			break; /* cannot happen with these descriptors; nothing safe to decide */
		if (r > 0 && (p[0].revents & (POLLIN | POLLHUP | POLLERR))) {
			char c = 0;
			ssize_t n;
			while ((n = read(g->word, &c, 1)) < 0 && errno == EINTR)
				;
			if (n == 1 && c == WORD)
				return;
			decide(g); /* an end of stream: binmig died */
			return;
		}
		if (r > 0 && (p[1].revents & POLLIN))
			return; /* the original ended: nothing left to guard */
		if (r == 0 && getppid() != g->binmig) {
			decide(g);
			return;
		}
	}
}

/* Keeps descriptors 0, 1, 2 and KEEP (N of them); the rest of binmig's
 * (its connection to the destination, the image file, listening sockets
 * of a caller) would otherwise stay open as long as the guardian lives. */
static void close_others(const int *keep, size_t n)
{
	int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (devnull >= 0) {
		dup2(devnull, STDIN_FILENO);
		dup2(devnull, STDOUT_FILENO);
	}
	unsigned lo = 3;
	for (;;) {
		unsigned next = ~0U;
		for (size_t i = 0; i < n; i++)
			if (keep[i] >= 0 && (unsigned)keep[i] >= lo && (unsigned)keep[i] < next)
				next = (unsigned)keep[i];
		if (next > lo)
			syscall(SYS_close_range, lo, next == ~0U ? ~0U : next - 1, 0);
		if (next == ~0U)
			break;
		lo = next + 1;
	}
}

static void guardian_main(struct guardian *g)
{
	/* Out of binmig's process group: a ^C meant for binmig kills binmig,
	 * which is exactly when the guardian is needed. */
	setpgid(0, 0);
	signal(SIGINT, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGQUIT, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGTTOU, SIG_IGN); /* its line, from outside the foreground group */
	size_t n = 2 + g->nsocks;
	int *keep = malloc(n * sizeof *keep);
	if (keep) {
		keep[0] = g->word;
		keep[1] = g->pidfd;
		for (size_t i = 0; i < g->nsocks; i++)
			keep[2 + i] = g->socks[i].fd;
		close_others(keep, n);
		free(keep);
	}
	guard(g);
}

/* --- binmig's side ------------------------------------------------------- */

static void close_socks(struct bm_guard_sock *socks, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (socks[i].fd >= 0)
			close(socks[i].fd);
}

int bm_movaddr_guard_spawn(struct bm_movaddr_guard *g, pid_t original, const struct bm_movaddr *m,
			   struct bm_guard_sock *socks, size_t n)
{
	*g = BM_MOVADDR_GUARD_NONE;
	int sv[2] = {-1, -1};
	int pidfd = (int)syscall(SYS_pidfd_open, original, 0);
	if (pidfd < 0 || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		int e = errno;
		if (pidfd >= 0)
			close(pidfd);
		close_socks(socks, n);
		return bm_error_errno(BM_EXIT_FAILURE, e, "cannot start the guardian of the moving addresses");
	}
	struct guardian gd = {getpid(), original, sv[1], pidfd, m, socks, n};
	pid_t pid = fork();
	if (pid == 0) {
		close(sv[0]);
		guardian_main(&gd);
		_exit(0);
	}
	int e = errno;
	close(sv[1]);
	close(pidfd);
	close_socks(socks, n);
	if (pid < 0) {
		close(sv[0]);
		return bm_error_errno(BM_EXIT_FAILURE, e, "cannot start the guardian of the moving addresses (fork)");
	}
	g->pid = pid;
	g->word = sv[0];
	return 0;
}

/* The connections of process P that the guardian keeps a copy of: the
 * established TCP ones whose local address moves, appended to *socks. */
static int grab_carried(pid_t pid, const struct bm_process *p, const struct bm_movaddr *m,
			struct bm_guard_sock **socks, size_t *n, size_t *cap)
{
	for (uint32_t i = 0; i < p->nfds; i++) {
		const struct bm_fd *d = &p->fds[i];
		struct bm_sk_inet sk;
		char why[160];
		if (d->kind != BM_FD_TCP || d->shares_with >= 0 || !bm_sk_inet_decode(d->data, d->data_len, &sk, why, sizeof why) ||
		    sk.type != SOCK_STREAM || sk.state != BM_SK_CONNECTED || !bm_movaddr_has(m, sk.family, sk.local.addr))
			continue;
		if (*n == *cap) {
			size_t more = *cap ? *cap * 2 : 8;
			struct bm_guard_sock *grown = realloc(*socks, more * sizeof *grown);
			if (!grown)
				return bm_error(BM_EXIT_FAILURE, "out of memory");
			*socks = grown;
			*cap = more;
		}
		int s = bm_sk_grab(pid, d->fd);
		if (s < 0)
			return bm_error_errno(BM_EXIT_TARGET, -s, "cannot look at the socket fd %d of process %d", d->fd, pid);
		(*socks)[(*n)++] = (struct bm_guard_sock){s, sk.opt[BM_SKO_REUSEADDR] != 0, sk.opt[BM_SKO_PEEK_OFF]};
	}
	return 0;
}

int bm_movaddr_guard_start(struct bm_movaddr_guard *g, const struct bm_movaddr *m, struct bm_frozen *f)
{
	*g = BM_MOVADDR_GUARD_NONE;
	if (!m || !m->n)
		return 0;
	struct bm_guard_sock *socks = NULL;
	size_t n = 0, cap = 0;
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < bm_frozen_count(f); i++) {
		struct bm_frozen *one = bm_frozen_at(f, i);
		rc = grab_carried(one->pid, &one->proc, m, &socks, &n, &cap);
	}
	if (rc == 0)
		rc = bm_movaddr_guard_spawn(g, f->pid, m, socks, n);
	else
		close_socks(socks, n);
	free(socks);
	return rc;
}

void bm_movaddr_guard_dismiss(struct bm_movaddr_guard *g)
{
	if (g->word < 0)
		return;
	char c = WORD;
	/* The guardian may be gone already (its original ended): no SIGPIPE. */
	if (send(g->word, &c, 1, MSG_NOSIGNAL) < 0 && errno != EPIPE && errno != ECONNRESET)
		bm_warn("cannot tell the guardian of the moving addresses (PID %d) to go: %s", (int)g->pid, strerror(errno));
	close(g->word);
	g->word = -1;
	int pidfd = (int)syscall(SYS_pidfd_open, g->pid, 0);
	if (pidfd >= 0 && !exited(pidfd, REAP_MS)) {
		bm_warn("the guardian of the moving addresses (PID %d) did not go within %d ms: killed", (int)g->pid,
			REAP_MS);
		kill(g->pid, SIGKILL);
	}
	if (pidfd >= 0)
		close(pidfd);
	while (waitpid(g->pid, NULL, 0) < 0 && errno == EINTR)
		;
	g->pid = 0;
}
