/* `binmig serve`: the destination daemon.  Its loop runs the handshakes of
 * every connection at once (serve_gate.c), so that strangers cannot keep an
 * honest peer out; a connection that has proved the key gets a forked
 * worker, which restores the process as its child.  One migration at a
 * time: a peer that proves the key while a worker runs is told the daemon
 * is busy.  The daemon is a child subreaper and reaps whatever ends up as
 * its child (its workers, the processes they restored once the worker has
 * gone, orphans), so it can run as PID 1 of a PID namespace. */
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
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include "cpu_profile.h"
#include "fault.h"
#include "log.h"
#include "memplan.h"
#include "postcopy.h"
#include "precopy.h"
#include "ptrace_ctl.h"
#include "restore.h"
#include "serve_gate.h"
#include "timers_next_id.h"
#include "wire.h"

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

/* One incoming restore: what the restore's hooks work on. */
struct incoming {
	struct bm_conn *conn;
	int timeout_ms;
	struct bm_stats *st;
	struct bm_result *res;
	bool streamed;                  /* src is in use (stream and pre-copy mode) */
	struct bm_wire_source src;
	struct bm_precopy_store *store; /* pre-copy mode; NULL otherwise */
	struct bm_postcopy_dest *lazy;  /* post-copy mode; NULL otherwise */
	bool replied;                   /* a RESULT with status 0 was sent, or tried */
	bool unconfirmed;               /* then neither CONFIRM nor ABORT came: the process runs */
};

static int finish_stream(void *ctx)
{
	return bm_wire_source_finish(&((struct incoming *)ctx)->src);
}

static int apply_store(void *ctx, pid_t pid)
{
	struct incoming *in = ctx;
	return in->store ? bm_precopy_store_apply(in->store, pid) : 0;
}

static void adopted(void *ctx, const struct bm_range *r, size_t n)
{
	bm_precopy_store_adopted(((struct incoming *)ctx)->store, r, n);
}

static int make_uffd(void *ctx, pid_t pid, struct bm_tracee *tr)
{
	struct incoming *in = ctx;
	return in->lazy ? bm_postcopy_make_uffd(in->lazy, pid, tr) : 0;
}

static void stream_figures(struct incoming *in)
{
	const struct bm_wire_source *src = &in->src;
	in->res->transfer_us = src->end_ns > src->first_frame_ns ? (src->end_ns - src->first_frame_ns) / 1000 : 0;
	in->res->image_bytes = src->image_bytes;
	in->res->wire_bytes = src->wire_bytes;
}

/* The process is complete and parked.  It runs only once the source has
 * ended its original, so that a source that resumes instead never has a
 * twin that ran meanwhile (docs/protocol.md §7): RESULT, then CONFIRM lets
 * it run and ABORT (or ERROR) has it killed.  A source that says neither
 * may have ended its original, so the process runs then too. */
static int send_result_and_hold(void *ctx, pid_t pid, struct bm_next_ids *ids)
{
	struct incoming *in = ctx;
	if (in->streamed)
		stream_figures(in);
	/* Post-copy: its memory waits for its pages from here on. */
	int rc = in->lazy ? bm_postcopy_register(in->lazy) : 0;
	if (rc < 0)
		return rc;
	in->res->pid = pid;
	in->res->as_restore_us = (uint64_t)in->st->as_restore_us;
	in->res->ctx_restore_us = (uint64_t)in->st->ctx_restore_us;
	in->replied = true;
	rc = bm_result_send(in->conn, in->res, in->timeout_ms);
	if (rc < 0)
		return rc; /* the source, without a RESULT, resumes its original */
	/* CONFIRM carries the timer id counters (timers_next_id.h). */
	size_t len;
	ids->n = ids->nwd = 0;
	uint8_t *payload = malloc(BM_NEXT_IDS_MAX_BYTES);
	rc = payload ? bm_frame_expect(in->conn, BM_MSG_CONFIRM, payload, BM_NEXT_IDS_MAX_BYTES, &len, in->timeout_ms)
		     : bm_error(BM_EXIT_FAILURE, "out of memory");
	if (rc == 0 && bm_next_ids_decode(payload, len, ids) < 0)
		bm_warn("CONFIRM's timer id counters are malformed; the process continues after its newest timers");
	free(payload);
	if (rc == -ECANCELED || rc == -EREMOTEIO)
		return rc;
	in->unconfirmed = rc < 0;
	return 0;
}

/* Stream mode: restore while the image arrives (after the pre-copied
 * pages in in->store, in pre-copy mode). */
static int restore_streamed(struct incoming *in, pid_t *pid)
{
	in->streamed = true;
	bm_wire_source_init(&in->src, in->conn, in->timeout_ms);
	struct bm_image_reader r = {0};
	struct bm_restore_hook hook = {finish_stream, in, apply_store, send_result_and_hold};
	hook.memory_done = make_uffd;
	if (in->store) {
		hook.premapped = in->store->placed;
		hook.npremapped = in->store->nplaced;
		hook.adopted = adopted;
	}
	int rc = bm_image_reader_init(&r, bm_wire_source_as_source(&in->src));
	if (rc == 0)
		rc = bm_restore(&r, &hook, pid, in->st);
	stream_figures(in);
	bm_image_reader_free(&r);
	bm_wire_source_free(&in->src);
	return rc;
}

static int restore_from_file(struct incoming *in, const struct bm_serve_opts *o, pid_t *pid);

/* Stream or file mode with a memory plan: the process's memory made
 * ready first. */
static int restore_planned(struct incoming *in, const struct bm_serve_opts *o, pid_t *pid, const char *peer,
			   bool file)
{
	struct bm_precopy_store store;
	struct bm_memplan_figures fig;
	int rc = bm_memplan_receive(&store, in->conn, o->precopy_store_max, o->io_timeout_ms, &fig);
	if (rc == 0) {
		log_line(peer, "memory plan: %u of %u areas in place, %.1f MiB faulted in, %.1f ms", fig.placed,
			 fig.areas, fig.populated_bytes / 1048576.0, fig.us / 1000.0);
		in->store = &store;
		rc = file ? restore_from_file(in, o, pid) : restore_streamed(in, pid);
		in->store = NULL;
		if (rc == 0)
			log_line(peer, "memory plan: process %d kept %.1f MiB in place", *pid, store.adopted_bytes / 1048576.0);
	}
	bm_precopy_store_free(&store);
	return rc;
}

/* Pre-copy: the rounds into a store, then the final image streamed. */
static int restore_precopied(struct incoming *in, const struct bm_serve_opts *o, pid_t *pid, const char *peer)
{
	struct bm_precopy_store store;
	int rc = bm_precopy_receive(&store, in->conn, o->precopy_store_max, o->io_timeout_ms);
	/* Hybrid: the pages to come after the process runs, then as pre-copy. */
	if (rc == 0 && in->lazy)
		rc = bm_postcopy_receive_plan(in->lazy, in->conn, in->timeout_ms);
	if (rc == 0) {
		log_line(peer, "pre-copy: %llu rounds, %llu pages received, %llu held, %llu kept%s",
			 (unsigned long long)store.rounds, (unsigned long long)store.recv_pages,
			 (unsigned long long)store.held_pages, (unsigned long long)store.keep_pages,
			 store.untracked ? " (the source could not track its process: stream)" : "");
		in->store = &store;
		rc = restore_streamed(in, pid);
		in->store = NULL;
		if (rc == 0)
			log_line(peer, "pre-copy: process %d kept %llu pages in place, %llu copied", *pid,
				 (unsigned long long)store.adopted_pages, (unsigned long long)store.copied_pages);
	}
	bm_precopy_store_free(&store);
	return rc;
}

/* Post-copy: which pages come later, then the image without them. */
static int restore_postcopy(struct incoming *in, pid_t *pid)
{
	int rc = bm_postcopy_receive_plan(in->lazy, in->conn, in->timeout_ms);
	return rc < 0 ? rc : restore_streamed(in, pid);
}

/* Post-copy, once the process runs: its pages.  A failure now loses the
 * process: it is killed here, and the source ends its original. */
static int serve_pages(struct incoming *in, pid_t pid, const char *peer)
{
	uint64_t t0 = bm_now_us();
	struct bm_postcopy_dest *lazy = in->lazy;
	int rc = bm_postcopy_serve(lazy, in->conn, in->timeout_ms);
	if (rc < 0) {
		bm_postcopy_abandon(lazy);
		bm_send_message(in->conn, BM_MSG_ERROR, bm_exit_code(), bm_error_message(), 1000);
		log_line(peer, "post-copy failed after process %d ran here: %s; it cannot go on without its memory and "
			 "was killed (with any process it forked meanwhile)", pid, bm_error_message());
		return bm_exit_code();
	}
	log_line(peer, "post-copy: process %d has all its %llu pages, after %.1f ms; %llu faults waited for the source "
		 "(median %.2f ms, 99th percentile %.2f ms)", pid, (unsigned long long)lazy->fig.pages,
		 (bm_now_us() - t0) / 1000.0, (unsigned long long)lazy->fig.faults, lazy->fig.p50_us / 1000.0,
		 lazy->fig.p99_us / 1000.0);
	return 0;
}

/* File mode, the study's sequence: receive the whole image into a file,
 * then restore from it. */
static int restore_from_file(struct incoming *in, const struct bm_serve_opts *o, pid_t *pid)
{
	struct bm_conn *conn = in->conn;
	struct bm_result *res = in->res;
	char path[4096];
	snprintf(path, sizeof path, "%s/binmig-received.XXXXXX", o->workdir);
	int fd = mkostemp(path, O_CLOEXEC);
	if (fd < 0)
		return bm_error_errno(BM_EXIT_IO, errno, "cannot create an image file in %s", o->workdir);
	unlink(path); /* the descriptor is all that is needed, and nothing is left behind */
	uint8_t *buf = malloc(BM_FRAME_MAX_PAYLOAD);
	int rc = buf ? 0 : bm_error(BM_EXIT_FAILURE, "out of memory");
	uint64_t first = 0, total = 0;
	res->wire_bytes = 0;
	while (rc == 0) {
		uint8_t type;
		size_t len;
		rc = bm_fault(BM_FP_RECV_IMAGE)
			     ? bm_error_errno(BM_EXIT_NETWORK, errno, "receiving the image stream")
			     : bm_frame_recv(conn, &type, buf, BM_FRAME_MAX_PAYLOAD, &len, o->io_timeout_ms);
		if (rc < 0)
			break;
		if (!first)
			first = bm_now_us();
		res->wire_bytes += bm_conn_frame_size(conn, len);
		if (type == BM_MSG_IMAGE_DATA) {
			for (size_t done = 0; rc == 0 && done < len;) {
				ssize_t n = bm_fault(BM_FP_WRITE_RECEIVED) ? -1 : write(fd, buf + done, len - done);
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
		struct bm_restore_hook hook = {NULL, in, apply_store, send_result_and_hold};
		if (in->store) {
			hook.premapped = in->store->placed;
			hook.npremapped = in->store->nplaced;
			hook.adopted = adopted;
		}
		if (rc == 0)
			rc = bm_restore(&r, &hook, pid, in->st);
		bm_image_reader_free(&r);
	}
	close(fd);
	return rc;
}

static int send_profile(struct bm_conn *conn, const char *path, int timeout_ms)
{
	struct bm_cpu_profile *p = malloc(sizeof *p);
	char *text = NULL;
	size_t len = 0;
	int rc = !p ? bm_error(BM_EXIT_FAILURE, "out of memory") : path ? bm_cpu_profile_load(path, p)
									: bm_cpu_profile_local(p);
	if (rc == 0)
		rc = bm_cpu_profile_text(p, &text, &len);
	if (rc == 0 && len > BM_PROFILE_MAX_TEXT)
		rc = bm_error(BM_EXIT_FAILURE, "this machine's CPU profile is longer than %d bytes", BM_PROFILE_MAX_TEXT);
	if (rc == 0)
		rc = bm_frame_send_buf(conn, BM_MSG_PROFILE, text, len, timeout_ms);
	free(text);
	free(p);
	return rc;
}

/* One migration on conn, whose peer has proved the key.  Returns the exit
 * status. */
static int migrate_in(struct bm_conn *conn, const char *peer, const struct bm_serve_opts *o)
{
	uint8_t start[8];
	size_t len;
	int rc = bm_frame_expect(conn, BM_MSG_START, start, sizeof start, &len, o->io_timeout_ms);
	uint32_t flags = rc == 0 && len == sizeof start ? bm_load_le32(start + 4) : 0;
	if (rc == 0 && (len != sizeof start ||
			(start[0] < BM_MODE_STREAM || start[0] > BM_MODE_HYBRID) ||
			(flags & ~(BM_START_MEMPLAN | BM_START_MOVE_ADDRS)) ||
			((flags & BM_START_MEMPLAN) && start[0] != BM_MODE_STREAM && start[0] != BM_MODE_FILE)))
		rc = bm_error(BM_EXIT_NETWORK, "malformed START message");
	if (rc < 0) {
		log_line(peer, "failed before the image: %s", bm_error_message());
		return bm_exit_code();
	}
	/* The source checks its process against this machine's CPU before it
	 * freezes it (docs/protocol.md). */
	rc = send_profile(conn, o->cpu_profile, o->io_timeout_ms);
	if (rc == 0 && (flags & BM_START_MOVE_ADDRS))
		rc = bm_movaddr_answer(conn, o->movable, o->io_timeout_ms);
	if (rc < 0) {
		log_line(peer, "failed before the image: %s", bm_error_message());
		return bm_exit_code();
	}
	enum bm_transfer_mode mode = start[0];
	char how[64];
	snprintf(how, sizeof how, "%s mode, %s",
		 mode == BM_MODE_STREAM	   ? "stream"
		 : mode == BM_MODE_PRECOPY  ? "precopy"
		 : mode == BM_MODE_POSTCOPY ? "postcopy"
		 : mode == BM_MODE_HYBRID   ? "hybrid"
					    : "file",
		 conn->suite ? bm_seal_name(conn->suite) : "unsealed");
	struct bm_stats st;
	bm_stats_init(&st);
	struct bm_result res = {0};
	struct incoming in = {.conn = conn, .timeout_ms = o->io_timeout_ms, .st = &st, .res = &res};
	struct bm_postcopy_dest lazy = {.proc_fd = -1};
	if (mode == BM_MODE_POSTCOPY || mode == BM_MODE_HYBRID)
		in.lazy = &lazy;
	pid_t pid = 0;
	rc = flags & BM_START_MEMPLAN		? restore_planned(&in, o, &pid, peer, mode == BM_MODE_FILE)
	     : mode == BM_MODE_STREAM				? restore_streamed(&in, &pid)
	     : mode == BM_MODE_PRECOPY || mode == BM_MODE_HYBRID ? restore_precopied(&in, o, &pid, peer)
	     : mode == BM_MODE_POSTCOPY				? restore_postcopy(&in, &pid)
								: restore_from_file(&in, o, &pid);
	if (rc < 0)
		bm_movaddr_undo(); /* before the source, told, puts them back */
	if (rc < 0 && in.replied) {
		log_line(peer, "migration failed (%s) after the restore: %s; the process restored here was ended", how,
			 bm_error_message());
		bm_postcopy_dest_free(&lazy);
		return bm_exit_code();
	}
	if (rc < 0) {
		res.status = bm_exit_code();
		snprintf(res.message, sizeof res.message, "%s", bm_error_message());
		bm_result_send(conn, &res, o->io_timeout_ms);
		log_line(peer, "migration failed (%s): %s", how, bm_error_message());
		bm_postcopy_dest_free(&lazy);
		return bm_exit_code();
	}
	/* So that the source returns only once the process runs here. */
	if (!in.unconfirmed && bm_frame_send_buf(conn, BM_MSG_RUNNING, NULL, 0, o->io_timeout_ms) < 0)
		log_line(peer, "process %d runs here; telling the source so failed: %s", pid, bm_error_message());
	log_line(peer, "process %d migrated in (%s): image %.1f MiB, transfer %.1f ms, restore %.1f + %.1f ms%s", pid,
		 how, res.image_bytes / 1048576.0, res.transfer_us / 1000.0, res.as_restore_us / 1000.0,
		 res.ctx_restore_us / 1000.0,
		 in.unconfirmed ? "; the source did not confirm, it may have resumed its original too" : "");
	rc = in.lazy ? serve_pages(&in, pid, peer) : 0;
	bm_postcopy_dest_free(&lazy);
	return rc;
}

/* One migration, in a worker process, from a peer that has proved the
 * key; session is what its handshake settled.  Returns the exit status. */
static int handle(int fd, const char *peer, const struct bm_serve_opts *o, const struct bm_session *session)
{
	bm_set_log_prefix("binmig serve");
	/* The one log line per migration says what failed; the error itself
	 * is not printed on its own. */
	bm_hold_errors();
	bm_reset_errors();
	struct bm_conn conn;
	if (bm_fault_arm_from_serve_file() < 0 || bm_conn_open(&conn, fd, o->key, session, BM_ROLE_SERVER) < 0) {
		log_line(peer, "not started: %s", bm_error_message());
		return bm_exit_code();
	}
	int rc = migrate_in(&conn, peer, o);
	bm_conn_free(&conn);
	return rc;
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
	int fd = socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	int one = 1;
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
	    bind(fd, (struct sockaddr *)&addr, len) < 0 || listen(fd, BM_GATE_MAX_PENDING) < 0) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		return bm_error_errno(BM_EXIT_NETWORK, e, "cannot listen on %s", where);
	}
	return fd;
}

/* So that a flood of strangers cannot flood the log (migrate.h). */
#define DROP_LINES BM_SERVE_DROP_LINES
#define DROP_WINDOW_S BM_SERVE_DROP_WINDOW_S

struct daemon {
	const struct bm_serve_opts *o;
	struct bm_gate gate;
	pid_t worker;             /* the migration under way, 0 if none */
	bool stopping;
	int lfd, sfd;
	sigset_t old_mask;
	uint64_t window_start_ns;
	unsigned window_lines;
	unsigned suppressed[BM_GATE_REFUSED];   /* by enum bm_gate_drop, of those rate-limited */
};

static void end_drop_window(struct daemon *d, uint64_t now_ns, bool force)
{
	if (now_ns < d->window_start_ns)
		now_ns = d->window_start_ns;
	if (!force && now_ns - d->window_start_ns < (uint64_t)DROP_WINDOW_S * 1000000000u)
		return;
	unsigned total = d->suppressed[BM_GATE_TIMED_OUT] + d->suppressed[BM_GATE_EVICTED] + d->suppressed[BM_GATE_FAILED];
	if (total)
		log_line(NULL, "%u more connections dropped before authentication in %.0f s (%u timed out, %u evicted, "
			 "%u failed the handshake)", total, (now_ns - d->window_start_ns) / 1e9, d->suppressed[BM_GATE_TIMED_OUT],
			 d->suppressed[BM_GATE_EVICTED], d->suppressed[BM_GATE_FAILED]);
	memset(d->suppressed, 0, sizeof d->suppressed);
	d->window_lines = 0;
	d->window_start_ns = now_ns;
}

static void on_dropped(void *ctx, const char *name, enum bm_gate_drop why, const char *detail)
{
	struct daemon *d = ctx;
	if (why == BM_GATE_REFUSED) {
		/* A peer that holds the key: always worth a line. */
		log_line(name, "refused: %s", detail);
		return;
	}
	end_drop_window(d, bm_now_us() * 1000, false);
	if (d->window_lines >= DROP_LINES) {
		d->suppressed[why]++;
		return;
	}
	d->window_lines++;
	static const char *const what[] = {
		[BM_GATE_TIMED_OUT] = "timed out", [BM_GATE_EVICTED] = "evicted", [BM_GATE_FAILED] = "rejected"};
	log_line(name, "%s: %s", what[why], detail && *detail ? detail : "closed");
}

/* Why a peer that has proved the key cannot have a worker now, or NULL. */
static const char *refusal(void *ctx)
{
	struct daemon *d = ctx;
	if (d->worker)
		return "destination busy with another migration";
	return d->stopping ? "destination is stopping" : NULL;
}

/* A peer has proved the key: a worker takes it, unless one became busy
 * while the server's PROOF was on its way. */
static void on_authenticated(void *ctx, int conn, const char *name, const struct bm_session *session)
{
	struct daemon *d = ctx;
	const char *why = refusal(d);
	if (why) {
		/* The handshake is over: the peer expects this sealed. */
		struct bm_conn c;
		if (bm_conn_open(&c, conn, d->o->key, session, BM_ROLE_SERVER) == 0) {
			bm_send_message(&c, BM_MSG_ERROR, BM_EXIT_NETWORK, why, 1000);
			bm_conn_free(&c);
		}
		log_line(name, "refused: %s", why);
		close(conn);
		return;
	}
	/* The worker waits on the connection as the blocking code it runs
	 * expects; its own timeouts bound every wait. */
	int flags = fcntl(conn, F_GETFL);
	if (flags >= 0)
		fcntl(conn, F_SETFL, flags & ~O_NONBLOCK);
	int one = 1;
	setsockopt(conn, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	pid_t child = fork_worker();
	if (child == 0) {
		close(d->lfd);
		close(d->sfd);
		bm_gate_forget_all(&d->gate);
		sigprocmask(SIG_SETMASK, &d->old_mask, NULL);
		_exit(handle(conn, name, d->o, session));
	}
	if (child < 0)
		log_line(name, "cannot fork a worker: %s", strerror(errno));
	else
		d->worker = child;
	close(conn);
}

static const char *describe_status(const siginfo_t *si, char *buf, size_t len)
{
	if (si->si_code == CLD_EXITED)
		snprintf(buf, len, "exit status %d", si->si_status);
	else
		snprintf(buf, len, "killed by signal %d%s", si->si_status, si->si_code == CLD_DUMPED ? ", core dumped" : "");
	return buf;
}

/* Reaps every child that has ended.  The daemon's children are its workers
 * and what the kernel hands a subreaper: processes restored by a worker
 * that has finished, and orphans.  A process a worker is still restoring is
 * that worker's child and is not seen here. */
static void reap(struct daemon *d)
{
	for (;;) {
		siginfo_t si = {0};
		if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | __WALL) < 0 || si.si_pid == 0)
			return;
		if (si.si_pid == d->worker) {
			d->worker = 0;
			if (si.si_code != CLD_EXITED) {
				char how[64];
				log_line(NULL, "worker %d %s", (int)si.si_pid, describe_status(&si, how, sizeof how));
			}
			continue;
		}
		char how[64];
		log_line(NULL, "process %d ended (%s)", (int)si.si_pid, describe_status(&si, how, sizeof how));
	}
}

static void read_signals(struct daemon *d)
{
	struct signalfd_siginfo si;
	while (read(d->sfd, &si, sizeof si) == sizeof si) {
		if (si.ssi_signo == SIGCHLD || d->stopping)
			continue;
		d->stopping = true;
		log_line(NULL, "stopping (%s)%s", si.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT",
			 d->worker ? ", after the migration under way" : "");
		bm_gate_close_all(&d->gate);
	}
}

static void accept_all(struct daemon *d)
{
	for (int i = 0; i < BM_GATE_MAX_PENDING; i++) {
		struct sockaddr_storage peer;
		socklen_t plen = sizeof peer;
		int conn = accept4(d->lfd, (struct sockaddr *)&peer, &plen, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (conn < 0)
			return;
		bm_gate_admit(&d->gate, conn, &peer, bm_now_us() * 1000);
	}
}

int bm_serve(const struct bm_serve_opts *o)
{
	struct daemon d = {.o = o, .worker = 0};
	d.lfd = listen_on(o->listen);
	if (d.lfd < 0)
		return -1;
	if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0)
		bm_warn("cannot become a child subreaper (%s): processes restored here are reaped by init", strerror(errno));
	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGCHLD);
	sigprocmask(SIG_BLOCK, &mask, &d.old_mask);
	d.sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (d.sfd < 0) {
		close(d.lfd);
		return bm_error_errno(BM_EXIT_FAILURE, errno, "signalfd");
	}
	/* Handshake failures are logged by the gate's owner, one line each,
	 * never printed as errors of the daemon itself. */
	bm_hold_errors();
	struct bm_gate_events ev = {refusal, on_authenticated, on_dropped, &d};
	bm_gate_init(&d.gate, o->key, o->seal_accept, BM_GATE_MAX_PENDING, BM_GATE_MAX_PER_SOURCE, o->handshake_timeout_ms,
		     &ev);
	d.window_start_ns = bm_now_us() * 1000;
	log_line(NULL, "listening on %s (%s)", o->listen,
		 o->seal_accept == BM_SEAL_ACCEPT(BM_SEAL_NONE) ? "unsealed frames only, --seal none"
		 : o->seal_accept == BM_SEAL_ACCEPT_AEAD	? "sealed frames: aes-256-gcm or chacha20-poly1305"
		 : o->seal_accept & BM_SEAL_ACCEPT(BM_SEAL_AES_256_GCM) ? "sealed frames: aes-256-gcm only"
								  : "sealed frames: chacha20-poly1305 only");
	/* Something may have become our child before the first SIGCHLD
	 * could be caught (a PID namespace's orphans). */
	reap(&d);
	int rc = 0;
	while (!d.stopping || d.worker) {
		struct pollfd p[2 + BM_GATE_MAX_PENDING];
		p[0] = (struct pollfd){d.sfd, POLLIN, 0};
		p[1] = (struct pollfd){d.lfd, d.stopping ? 0 : POLLIN, 0};
		int n = bm_gate_pollfds(&d.gate, p + 2, BM_GATE_MAX_PENDING);
		uint64_t now = bm_now_us() * 1000;
		int timeout = bm_gate_timeout_ms(&d.gate, now);
		/* Wake at least once a window, to log what was suppressed. */
		if (timeout < 0 || timeout > DROP_WINDOW_S * 1000)
			timeout = DROP_WINDOW_S * 1000;
		if (poll(p, (nfds_t)(2 + n), timeout) < 0) {
			if (errno != EINTR) {
				rc = bm_error_errno(BM_EXIT_FAILURE, errno, "poll");
				break;
			}
			n = 0; /* nothing to look at this time round */
		}
		read_signals(&d);
		reap(&d);
		now = bm_now_us() * 1000;
		/* Connections under way first, then new ones: a newcomer may
		 * evict a waiting connection, never before that one's bytes
		 * that have arrived were looked at. */
		bm_gate_service(&d.gate, p + 2, n, now);
		if (p[1].revents & POLLIN)
			accept_all(&d);
		end_drop_window(&d, bm_now_us() * 1000, false);
	}
	bm_gate_close_all(&d.gate);
	end_drop_window(&d, bm_now_us() * 1000, true);
	close(d.sfd);
	close(d.lfd);
	log_line(NULL, rc ? "stopped on an error" : "stopped");
	return rc;
}
