/* `binmig serve`: the destination daemon.  One migration at a time: each
 * connection is handled by a forked worker (so the restored process is the
 * worker's child and, once the worker exits, belongs to the host's init);
 * a connection that arrives while a worker runs is told the daemon is busy. */
#include "migrate.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/sched.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include "log.h"
#include "ptrace_ctl.h"
#include "restore.h"

static void peer_name(const struct sockaddr_storage *a, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN] = "?";
	int port = 0;
	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)a;
		inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
		port = ntohs(in->sin_port);
	} else if (a->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)a;
		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
		port = ntohs(in6->sin6_port);
	}
	snprintf(buf, len, "%s:%d", host, port);
}

static void log_line(const char *peer, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void log_line(const char *peer, const char *fmt, ...)
{
	char msg[1400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct tm tm;
	gmtime_r(&ts.tv_sec, &tm);
	fprintf(stderr, "%04d-%02d-%02dT%02d:%02d:%02dZ binmig serve: %s%s%s\n", tm.tm_year + 1900, tm.tm_mon + 1,
		tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, peer ? peer : "", peer ? ": " : "", msg);
}

static int finish_stream(void *ctx)
{
	return bm_wire_source_finish(ctx);
}

/* Stream mode: restore while the image arrives. */
static int restore_streamed(int conn, pid_t *pid, struct bm_stats *st, struct bm_result *res)
{
	struct bm_wire_source src;
	bm_wire_source_init(&src, conn, BM_IO_TIMEOUT_MS);
	struct bm_image_reader r = {0};
	struct bm_restore_hook hook = {finish_stream, &src};
	int rc = bm_image_reader_init(&r, bm_wire_source_as_source(&src));
	if (rc == 0)
		rc = bm_restore(&r, &hook, pid, st);
	res->transfer_us = src.end_ns > src.first_frame_ns ? (src.end_ns - src.first_frame_ns) / 1000 : 0;
	res->image_bytes = src.image_bytes;
	res->wire_bytes = src.wire_bytes;
	bm_image_reader_free(&r);
	bm_wire_source_free(&src);
	return rc;
}

/* File mode, the study's sequence: receive the whole image into a file,
 * then restore from it. */
static int restore_from_file(int conn, const char *workdir, pid_t *pid, struct bm_stats *st, struct bm_result *res)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/binmig-received.XXXXXX", workdir);
	int fd = mkostemp(path, O_CLOEXEC);
	if (fd < 0)
		return bm_error_errno(BM_EXIT_IO, errno, "cannot create an image file in %s", workdir);
	unlink(path); /* the descriptor is all that is needed, and nothing is left behind */
	uint8_t *buf = malloc(BM_FRAME_MAX_PAYLOAD);
	int rc = buf ? 0 : bm_error(BM_EXIT_FAILURE, "out of memory");
	uint64_t first = 0, total = 0;
	res->wire_bytes = 0;
	while (rc == 0) {
		uint8_t type;
		size_t len;
		rc = bm_frame_recv(conn, &type, buf, BM_FRAME_MAX_PAYLOAD, &len, BM_IO_TIMEOUT_MS);
		if (rc < 0)
			break;
		if (!first)
			first = bm_now_us();
		res->wire_bytes += BM_FRAME_HEADER_SIZE + len;
		if (type == BM_MSG_IMAGE_DATA) {
			for (size_t done = 0; rc == 0 && done < len;) {
				ssize_t n = write(fd, buf + done, len - done);
				if (n < 0 && errno != EINTR)
					rc = bm_error_errno(BM_EXIT_IO, errno, "writing the received image");
				else if (n > 0)
					done += (size_t)n;
			}
			total += len;
		} else if (type == BM_MSG_IMAGE_END) {
			uint64_t announced = 0;
			if (len == 8)
				memcpy(&announced, buf, 8);
			if (len != 8 || announced != total)
				rc = bm_error(BM_EXIT_NETWORK, "IMAGE_END announces %llu bytes, %llu arrived",
					      (unsigned long long)announced, (unsigned long long)total);
			break;
		} else if (type == BM_MSG_ABORT || type == BM_MSG_ERROR) {
			enum bm_exit class;
			char msg[BM_MESSAGE_MAX + 1];
			bm_decode_message(buf, len, &class, msg, sizeof msg);
			rc = bm_error(class, "the source gave up: %s", msg);
		} else {
			rc = bm_error(BM_EXIT_NETWORK, "peer sent %s during the image transfer", bm_msg_name(type));
		}
	}
	free(buf);
	res->transfer_us = first ? bm_now_us() - first : 0;
	res->image_bytes = total;
	if (rc == 0 && lseek(fd, 0, SEEK_SET) < 0)
		rc = bm_error_errno(BM_EXIT_IO, errno, "rewinding the received image");
	if (rc == 0) {
		struct bm_image_reader r = {0};
		rc = bm_image_reader_init(&r, bm_fd_source(&fd));
		if (rc == 0)
			rc = bm_restore(&r, NULL, pid, st);
		bm_image_reader_free(&r);
	}
	close(fd);
	return rc;
}

/* One migration, in a worker process.  Returns the exit status. */
static int handle(int conn, const char *peer, const struct bm_serve_opts *o)
{
	bm_set_log_prefix("binmig serve");
	/* The one log line per migration below says what failed; the error
	 * itself is not printed on its own. */
	bm_hold_errors();
	if (bm_auth_server(conn, o->key, BM_AUTH_TIMEOUT_MS) < 0) {
		log_line(peer, "rejected: %s", bm_error_message());
		return bm_exit_code();
	}
	uint8_t start[8];
	size_t len;
	int rc = bm_frame_expect(conn, BM_MSG_START, start, sizeof start, &len, BM_IO_TIMEOUT_MS);
	if (rc == 0 && (len != sizeof start || (start[0] != BM_MODE_STREAM && start[0] != BM_MODE_FILE)))
		rc = bm_error(BM_EXIT_NETWORK, "malformed START message");
	if (rc < 0) {
		log_line(peer, "failed before the image: %s", bm_error_message());
		return bm_exit_code();
	}
	enum bm_transfer_mode mode = start[0];
	struct bm_stats st;
	bm_stats_init(&st);
	struct bm_result res = {0};
	pid_t pid = 0;
	rc = mode == BM_MODE_STREAM ? restore_streamed(conn, &pid, &st, &res)
				    : restore_from_file(conn, o->workdir, &pid, &st, &res);
	if (rc < 0) {
		res.status = bm_exit_code();
		snprintf(res.message, sizeof res.message, "%s", bm_error_message());
		bm_result_send(conn, &res, BM_IO_TIMEOUT_MS);
		log_line(peer, "migration failed (%s mode): %s", mode == BM_MODE_STREAM ? "stream" : "file",
			 bm_error_message());
		return bm_exit_code();
	}
	res.pid = pid;
	res.as_restore_us = (uint64_t)st.as_restore_us;
	res.ctx_restore_us = (uint64_t)st.ctx_restore_us;
	rc = bm_result_send(conn, &res, BM_IO_TIMEOUT_MS);
	/* The process runs here already.  If the source never hears of it, it
	 * resumes its original: the one case where both run (see protocol.md). */
	if (rc == 0)
		rc = bm_frame_expect(conn, BM_MSG_CONFIRM, NULL, 0, &len, BM_RESULT_TIMEOUT_MS);
	log_line(peer, "process %d migrated in (%s mode): image %.1f MiB, transfer %.1f ms, restore %.1f + %.1f ms%s", pid,
		 mode == BM_MODE_STREAM ? "stream" : "file", res.image_bytes / 1048576.0, res.transfer_us / 1000.0,
		 res.as_restore_us / 1000.0, res.ctx_restore_us / 1000.0,
		 rc == 0 ? "" : "; the source did not confirm, it may have resumed its original too");
	return 0;
}

/* Forks a worker with a PID near the top of the range, so that it does not
 * hold a PID or thread ID that an arriving process needs: PIDs are handed
 * out from the bottom, and a migrated process keeps its own.  Falls back to
 * an ordinary fork where choosing is not allowed. */
static pid_t fork_worker(void)
{
	static pid_t next;
	if (!next) {
		FILE *f = fopen("/proc/sys/kernel/pid_max", "re");
		int max = 32768;
		if (f) {
			if (fscanf(f, "%d", &max) != 1)
				max = 32768;
			fclose(f);
		}
		next = max - 1;
	}
	for (int tries = 0; tries < 64; tries++, next = next > 301 ? next - 1 : next) {
		pid_t want = next;
		struct clone_args args = {.exit_signal = SIGCHLD, .set_tid = (uint64_t)&want, .set_tid_size = 1};
		long pid = syscall(SYS_clone3, &args, sizeof args);
		if (pid >= 0) {
			next = next > 301 ? next - 1 : next;
			return (pid_t)pid;
		}
		if (errno != EEXIST)
			break;
	}
	return fork();
}

static int listen_on(const char *where)
{
	struct sockaddr_storage addr;
	socklen_t len;
	if (bm_parse_hostport(where, &addr, &len) < 0)
		return bm_error(BM_EXIT_USAGE, "cannot resolve --listen '%s' (expected ADDR:PORT)", where);
	int fd = socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
	    bind(fd, (struct sockaddr *)&addr, len) < 0 || listen(fd, 8) < 0) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		return bm_error_errno(BM_EXIT_NETWORK, e, "cannot listen on %s", where);
	}
	return fd;
}

int bm_serve(const struct bm_serve_opts *o)
{
	int lfd = listen_on(o->listen);
	if (lfd < 0)
		return -1;
	sigset_t mask, old;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGCHLD);
	sigprocmask(SIG_BLOCK, &mask, &old);
	int sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	if (sfd < 0) {
		close(lfd);
		return bm_error_errno(BM_EXIT_FAILURE, errno, "signalfd");
	}
	log_line(NULL, "listening on %s", o->listen);
	pid_t worker = 0;
	bool stopping = false;
	while (!stopping || worker) {
		struct pollfd p[2] = {{sfd, POLLIN, 0}, {lfd, stopping ? 0 : POLLIN, 0}};
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[0].revents & POLLIN) {
			struct signalfd_siginfo si;
			if (read(sfd, &si, sizeof si) == sizeof si && si.ssi_signo != SIGCHLD && !stopping) {
				stopping = true;
				log_line(NULL, "stopping (%s)%s", si.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT",
					 worker ? ", after the migration under way" : "");
			}
			int status;
			while (worker && waitpid(worker, &status, WNOHANG) == worker)
				worker = 0;
		}
		if (!(p[1].revents & POLLIN))
			continue;
		struct sockaddr_storage peer;
		socklen_t plen = sizeof peer;
		int conn = accept4(lfd, (struct sockaddr *)&peer, &plen, SOCK_CLOEXEC);
		if (conn < 0)
			continue;
		char name[80];
		peer_name(&peer, name, sizeof name);
		int one = 1;
		setsockopt(conn, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		if (worker) {
			bm_send_message(conn, BM_MSG_ERROR, BM_EXIT_NETWORK, "destination busy with another migration", 1000);
			log_line(name, "refused: busy with another migration");
			close(conn);
			continue;
		}
		pid_t child = fork_worker();
		if (child == 0) {
			close(lfd);
			close(sfd);
			sigprocmask(SIG_SETMASK, &old, NULL);
			_exit(handle(conn, name, o));
		}
		if (child < 0)
			log_line(name, "cannot fork a worker: %s", strerror(errno));
		else
			worker = child;
		close(conn);
	}
	close(sfd);
	close(lfd);
	log_line(NULL, "stopped");
	return 0;
}
