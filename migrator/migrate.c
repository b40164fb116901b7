/* `binmig migrate`: the source side of a live migration. */
#include "migrate.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include "checkpoint.h"
#include "fault.h"
#include "file_locks.h"
#include "isa_cmd.h"
#include "kstate.h"
#include "pipe_layout.h"
#include "log.h"
#include "memplan.h"
#include "movaddr_guard.h"
#include "pagescan.h"
#include "postcopy.h"
#include "precopy.h"
#include "procfs.h"
#include "ptrace_ctl.h"
#include "sk_unix.h"
#include "inotify_next_wd.h"
#include "timers_next_id.h"
#include "tree.h"
#include "xstate.h"

int bm_parse_hostport(const char *text, struct sockaddr_storage *addr, socklen_t *len)
{
	char host[256];
	const char *port;
	if (text[0] == '[') {
		const char *close = strchr(text, ']');
		if (!close || close[1] != ':' || (size_t)(close - text - 1) >= sizeof host)
			return -EINVAL;
		memcpy(host, text + 1, (size_t)(close - text - 1));
		host[close - text - 1] = 0;
		port = close + 2;
	} else {
		const char *colon = strrchr(text, ':');
		if (!colon || (size_t)(colon - text) >= sizeof host)
			return -EINVAL;
		memcpy(host, text, (size_t)(colon - text));
		host[colon - text] = 0;
		port = colon + 1;
	}
	if (!host[0] || !port[0])
		return -EINVAL;
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV}, *res;
	if (getaddrinfo(host, port, &hints, &res) != 0)
		return -EHOSTUNREACH;
	memcpy(addr, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

static int connect_to(const char *target)
{
	struct sockaddr_storage addr;
	socklen_t len;
	if (bm_parse_hostport(target, &addr, &len) < 0)
		return bm_error(BM_EXIT_NETWORK, "cannot resolve '%s' (expected HOST:PORT)", target);
	int fd = socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return bm_error_errno(BM_EXIT_NETWORK, errno, "socket");
	int rc = bm_fault(BM_FP_CONNECT) ? -1 : connect(fd, (struct sockaddr *)&addr, len);
	if (rc < 0 && errno == EINPROGRESS) {
		struct pollfd p = {fd, POLLOUT, 0};
		rc = poll(&p, 1, BM_CONNECT_TIMEOUT_MS);
		int err = ETIMEDOUT;
		socklen_t el = sizeof err;
		if (rc == 1)
			getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el);
		errno = err;
		rc = err ? -1 : 0;
	}
	if (rc < 0) {
		int e = errno;
		close(fd);
		return bm_error_errno(BM_EXIT_NETWORK, e, "cannot connect to %s", target);
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	return fd;
}

static int send_start(struct bm_conn *c, enum bm_transfer_mode mode, uint32_t flags)
{
	uint8_t payload[8] = {0};
	payload[0] = (uint8_t)mode;
	bm_store_le32(payload + 4, flags);
	return bm_frame_send_buf(c, BM_MSG_START, payload, sizeof payload, BM_IO_TIMEOUT_MS);
}

/* File mode: the image goes to a local file first, as in the study. */
static int checkpoint_to_file(struct bm_frozen *f, const struct bm_migrate_opts *o, struct bm_stats *st,
			      char *path, size_t pathlen, int *fd)
{
	snprintf(path, pathlen, "%s/binmig-%d.XXXXXX", o->workdir, f->pid);
	*fd = mkostemp(path, O_CLOEXEC);
	if (*fd < 0)
		return bm_error_errno(BM_EXIT_IO, errno, "cannot create an image file in %s", o->workdir);
	struct bm_image_writer w;
	int rc = bm_image_writer_init(&w, bm_fd_sink(fd), o->zlib_level);
	if (rc == 0)
		rc = bm_checkpoint(f, &w, st);
	bm_image_writer_free(&w);
	return rc;
}

static int send_file(int img_fd, struct bm_wire_sink *ws)
{
	if (lseek(img_fd, 0, SEEK_SET) < 0)
		return bm_error_errno(BM_EXIT_IO, errno, "rewinding the image file");
	static uint8_t buf[1 << 20];
	struct bm_sink sink = bm_wire_sink_as_sink(ws);
	for (;;) {
		ssize_t n = read(img_fd, buf, sizeof buf);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return bm_error_errno(BM_EXIT_IO, errno, "reading the image file");
		if (n == 0)
			return 0;
		struct iovec iov = {buf, (size_t)n};
		int rc = sink.writev(sink.ctx, &iov, 1);
		if (rc < 0)
			return rc;
	}
}

/* After a failed send: did the destination explain itself first?  A
 * RESULT (or ERROR) it sent before closing is still readable. */
static bool peer_reason(struct bm_conn *c, struct bm_result *res)
{
	uint8_t type;
	static uint8_t buf[BM_RESULT_FIXED_SIZE + BM_MESSAGE_MAX];
	size_t len;
	/* An error here is not the first one: it is not printed (errors are held). */
	return bm_frame_recv(c, &type, buf, sizeof buf, &len, 2000) == 0 && bm_peer_failure(type, buf, len, res);
}

/* The two CPU profiles, this machine's and the destination's, read before
 * the freeze: after it, each thread's saved state is rewritten for the
 * destination's xstate layout where it differs (xstate.h). */
struct profiles {
	struct bm_cpu_profile here, dest;
};

/* The destination's CPU profile (PROFILE, the reply to START) and this
 * machine's into *prof, and the process's code, analysed by `job` while
 * the connection was set up (NULL: --no-cpu-check), judged against them:
 * refused (exit 4) before anything is frozen when the code uses an
 * extension the destination lacks or the saved register state could not
 * be translated to its xstate layout.  What the check adds, the wait for
 * the analysis and the verdict, goes to st->cpu_check_us.  Ends the job. */
static int check_cpu(struct bm_conn *c, struct bm_isa_job *job, const struct bm_migrate_opts *o,
		     struct profiles *prof, struct bm_stats *st)
{
	char *text = malloc(BM_PROFILE_MAX_TEXT);
	size_t len;
	int rc = text ? 0 : bm_error(BM_EXIT_FAILURE, "out of memory");
	if (rc == 0)
		rc = bm_frame_expect(c, BM_MSG_PROFILE, text, BM_PROFILE_MAX_TEXT, &len, BM_IO_TIMEOUT_MS);
	char why[160];
	if (rc == 0 && bm_cpu_profile_parse(text, len, &prof->dest, why, sizeof why) < 0)
		rc = bm_error(BM_EXIT_NETWORK, "the destination sent a malformed CPU profile: %s", why);
	free(text);
	if (rc == 0)
		rc = bm_cpu_profile_local(&prof->here);
	if (rc < 0 || o->skip_cpu_check) {
		bm_isa_job_end(job);
		return rc;
	}
	bm_set_log_prefix("binmig: migrate: cpu check");
	uint64_t t0 = bm_now_us();
	rc = bm_isa_job_check(job, &prof->here, &prof->dest);
	if (st)
		st->cpu_check_us = (int64_t)(bm_now_us() - t0);
	if (rc == 0)
		bm_debug("cpu check: %.2f MiB of code, %u files (%u cached), analysed in %.1f ms beside the connection",
			 job->report.bytes / 1048576.0, job->report.files, job->report.files_cached,
			 job->report.scan_us / 1000.0);
	bm_isa_job_end(job);
	return rc;
}

/* Connects, authenticates and sends START(mode, flags): *conn is ready for the image. */
static int open_conn(const struct bm_migrate_opts *o, enum bm_transfer_mode mode, uint32_t flags, struct bm_conn *conn)
{
	bm_set_log_prefix("binmig: migrate: connect");
	int fd = connect_to(o->target);
	if (fd < 0)
		return -1;
	bm_set_log_prefix("binmig: migrate: authentication");
	struct bm_session session;
	int rc = bm_auth_client(fd, o->key, o->seal, BM_AUTH_TIMEOUT_MS, &session);
	if (rc == 0)
		rc = bm_conn_open(conn, fd, o->key, &session, BM_ROLE_CLIENT);
	if (rc == 0 && (rc = send_start(conn, mode, flags)) < 0)
		bm_conn_free(conn);
	if (rc < 0)
		close(fd);
	return rc;
}

static void close_conn(struct bm_conn *conn)
{
	close(conn->fd);
	bm_conn_free(conn);
}

/* Whether this migration pre-copies: where the kernel cannot, stream mode
 * (said on stderr) or, with --no-fallback, a refusal before anything. */
static bool moves_a_tree(pid_t pid)
{
	pid_t kid;
	size_t kids = 0;
	return bm_tree_enabled && bm_list_children(pid, &kid, 1, &kids) == 0 && kids;
}

static int choose_mode(pid_t pid, const struct bm_migrate_opts *o, enum bm_transfer_mode *mode)
{
	*mode = o->mode;
	bool pre = o->mode == BM_MODE_PRECOPY || o->mode == BM_MODE_HYBRID;
	if (!pre && o->mode != BM_MODE_POSTCOPY)
		return 0;
	const char *name = o->mode == BM_MODE_PRECOPY ? "pre-copy" : o->mode == BM_MODE_HYBRID ? "hybrid" : "post-copy";
	char why[256];
	if (moves_a_tree(pid))
		snprintf(why, sizeof why, "it %s one process, and process %d has children (a tree moves in stream mode)",
			 o->mode == BM_MODE_PRECOPY ? "tracks" : "moves", (int)pid);
	else if ((pre ? bm_precopy_probe(why, sizeof why) : bm_pagescan_probe(why, sizeof why)) == 0)
		return 0;
	bm_set_log_prefix(o->mode == BM_MODE_PRECOPY ? "binmig: migrate: pre-copy"
			  : o->mode == BM_MODE_HYBRID ? "binmig: migrate: hybrid"
						      : "binmig: migrate: post-copy");
	if (o->precopy.no_fallback)
		return bm_error(BM_EXIT_UNSUPPORTED, "%s is unavailable: %s (--no-fallback: not migrated)", name, why);
	fprintf(stderr, "binmig: migrate: %s is unavailable: %s; falling back to stream mode\n", name, why);
	*mode = BM_MODE_STREAM;
	return 0;
}

/* The pre-copy rounds, while the process runs.  A process that cannot be
 * tracked goes as in stream mode (said on stderr) or, with --no-fallback,
 * is refused; either way it runs on untouched. */
static int precopy_rounds(struct bm_precopy *pc, pid_t pid, const struct bm_migrate_opts *o, struct bm_conn *conn)
{
	bm_set_log_prefix("binmig: migrate: pre-copy");
	int rc = bm_precopy_start(pc, pid, &o->fd_policy);
	if (rc == -EOPNOTSUPP) {
		if (o->precopy.no_fallback)
			return bm_error(BM_EXIT_UNSUPPORTED, "process %d cannot be pre-copied: %s (--no-fallback: not migrated)",
					pid, pc->why);
		fprintf(stderr, "binmig: migrate: pre-copy: process %d cannot be tracked: %s; it goes as in stream mode\n",
			pid, pc->why);
	} else if (rc < 0) {
		return rc;
	}
	bm_hold_errors();
	rc = bm_precopy_rounds(pc, conn, &o->precopy);
	struct bm_result res = {0};
	if (rc < 0 && peer_reason(conn, &res)) {
		bm_release_errors(false);
		bm_set_log_prefix("binmig: migrate: pre-copy at the destination");
		bm_error(res.status <= BM_EXIT_NETWORK ? (enum bm_exit)res.status : BM_EXIT_FAILURE, "%s", res.message);
	}
	bm_release_errors(true);
	return rc;
}

/* Gives up before the freeze: the destination is told, the tracking ends. */
/* Once frozen, before any of the image leaves: what the destination
 * must take over on a shared file system (file locks, the names of
 * path-bound unix sockets) is let go of by the source. */
static int let_go(struct bm_frozen *f)
{
	int rc = bm_locks_release(f);
	for (size_t i = 0; rc == 0 && i < bm_frozen_count(f); i++)
		rc = bm_unix_stash_names(&bm_frozen_at(f, i)->proc);
	return rc;
}

/* After a failure once frozen: the process takes back its socket names
 * and file locks and runs on where it stopped (or, having lost a lock,
 * stays stopped). */
static void resume_source(struct bm_frozen *f, pid_t pid)
{
	bm_frozen_unpark(f); /* the locks are taken back by injected calls */
	for (size_t i = 0; i < bm_frozen_count(f); i++) {
		bm_unix_unstash_names(&bm_frozen_at(f, i)->proc, false);
		bm_unix_report_lost_names(&bm_frozen_at(f, i)->proc);
	}
	bool as_it_was = bm_locks_take_back(f) == 0;
	if (bm_release(f, false) == 0 && as_it_was)
		fprintf(stderr, "binmig: migrate: process %d resumed at the source\n", pid);
}

/* After a RESULT with status 0 the destination holds its copy, with the
 * file locks and socket names it took over: told ABORT, it ends the copy
 * (and reaps it), then closes the connection.  Until then the original
 * could not take them back: this waits for that close, each wait for the
 * peer bounded as every other. */
static void await_copy_ended(struct bm_conn *conn)
{
	static uint8_t buf[BM_RESULT_FIXED_SIZE + BM_MESSAGE_MAX];
	uint8_t type;
	size_t len;
	/* Its errors are not the first: not printed (errors are held). */
	while (bm_frame_recv(conn, &type, buf, sizeof buf, &len, BM_IO_TIMEOUT_MS) == 0)
		;
}

static int give_up(struct bm_conn *conn, struct bm_precopy *pc, int rc)
{
	bm_send_message(conn, BM_MSG_ABORT, bm_exit_code(), bm_error_message(), 1000);
	bm_precopy_end(pc);
	close_conn(conn);
	return rc;
}

/* A migration from the freeze on.  It runs on the tracing thread
 * (bm_run_traced): should the freeze be refused, what it could not let go
 * of is let go before the destination is told. */
struct move {
	pid_t pid;
	const struct bm_migrate_opts *o;
	struct bm_stats *st;
	uint64_t t0;
	enum bm_transfer_mode mode;
	struct bm_conn *conn;
	struct bm_precopy *pc;
	struct bm_postcopy_src *lazy;
	struct profiles *prof;
	bool frozen;
};

static int move(void *arg)
{
	struct move *m = arg;
	pid_t pid = m->pid;
	const struct bm_migrate_opts *o = m->o;
	struct bm_stats *st = m->st;
	struct bm_conn *conn = m->conn;
	struct bm_precopy *pc = m->pc;
	enum bm_transfer_mode mode = m->mode;
	uint64_t t0 = m->t0;
	bm_set_log_prefix("binmig: migrate: suspend");
	struct bm_frozen f;
	int rc = bm_freeze(pid, &f, &o->fd_policy, st);
	if (rc < 0)
		return rc;
	m->frozen = true;
	/* The counters read here travel in the image; where they cannot be,
	 * they are read in the original after the point of no return. */
	char why[800];
	if (bm_kstate_read_frozen(&f, why, sizeof why) < 0)
		bm_kstate_warn_unseen(why, true);
	rc = bm_tree_check_exit_signals(&f);
	if (rc == 0)
		rc = bm_pipe_refuse_packets(&f);
	bm_set_log_prefix("binmig: migrate: cpu check");
	if (rc == 0)
		rc = bm_xstate_translate_threads(&f.proc, &m->prof->here, &m->prof->dest);
	bm_set_log_prefix("binmig: migrate: suspend");
	if (rc == 0)
		rc = let_go(&f);
	/* Should binmig die from here on, the original runs on here (parked:
	 * its threads as they resume; its file locks and socket names stay let
	 * go of), and the guardian puts moved addresses back (movaddr_guard.h). */
	struct bm_movaddr_guard guard = BM_MOVADDR_GUARD_NONE;
	if (rc == 0)
		rc = bm_frozen_park(&f);
	if (rc == 0)
		rc = bm_movaddr_guard_start(&guard, o->move_addrs, &f);
	if (rc == 0)
		rc = bm_movaddr_detach(o->move_addrs, &f); /* puts them back itself if it fails */
	if (rc < 0) {
		bm_set_log_prefix("binmig: migrate");
		resume_source(&f, pid);
		bm_movaddr_guard_dismiss(&guard);
		return give_up(conn, pc, rc);
	}

	uint64_t t_suspend = f.t_suspend_start;
	struct bm_wire_sink ws;
	char path[4096] = "";
	int img_fd = -1;
	/* A destination that fails while the image flows says why in a RESULT
	 * and closes: sending then fails too, but its reason is the one to
	 * report (see peer_reason). */
	bm_hold_errors();
	struct bm_postcopy_src *lazy = m->lazy;
	bool pre = mode == BM_MODE_PRECOPY || mode == BM_MODE_HYBRID;
	bool post = mode == BM_MODE_POSTCOPY || mode == BM_MODE_HYBRID;
	if (pre) {
		bm_set_log_prefix("binmig: migrate: pre-copy final");
		rc = bm_precopy_final(pc, &f);
	}
	if (rc == 0 && post) {
		bm_set_log_prefix("binmig: migrate: post-copy plan");
		rc = bm_postcopy_plan(lazy, &f, conn);
	}
	bool sink_ready = false;
	if (rc == 0)
		sink_ready = (rc = bm_wire_sink_init(&ws, conn, BM_IO_TIMEOUT_MS)) == 0;
	else
		memset(&ws, 0, sizeof ws);
	if (rc == 0 && mode != BM_MODE_FILE) {
		bm_set_log_prefix("binmig: migrate: checkpoint and transfer");
		struct bm_image_writer w;
		rc = bm_image_writer_init(&w, bm_wire_sink_as_sink(&ws), o->zlib_level);
		if (rc == 0)
			rc = bm_checkpoint(&f, &w, st);
		bm_image_writer_free(&w);
	} else if (rc == 0) {
		bm_set_log_prefix("binmig: migrate: checkpoint");
		rc = checkpoint_to_file(&f, o, st, path, sizeof path, &img_fd);
		bm_set_log_prefix("binmig: migrate: transfer");
		if (rc == 0)
			rc = send_file(img_fd, &ws);
	}
	if (rc == 0)
		rc = bm_wire_sink_finish(&ws);
	struct bm_result res = {0};
	/* A failure of this side's own while every send went through (reading
	 * the process, writing the image file) is the reason: the destination,
	 * waiting for more, has nothing to say, and asking it would keep the
	 * process frozen for peer_reason's 2 s. */
	bool own_failure = sink_ready && !ws.failed;
	if (rc < 0 && !own_failure && peer_reason(conn, &res)) {
		bm_release_errors(false);
		bm_set_log_prefix("binmig: migrate: restore at the destination");
		bm_error(res.status <= BM_EXIT_NETWORK ? (enum bm_exit)res.status : BM_EXIT_FAILURE, "%s", res.message);
	}
	bm_release_errors(true);

	if (rc == 0) {
		bm_set_log_prefix("binmig: migrate: restore at the destination");
		rc = bm_result_recv(conn, &res, BM_RESULT_TIMEOUT_MS);
		if (rc == 0 && res.status != 0)
			rc = bm_error(res.status <= BM_EXIT_NETWORK ? (enum bm_exit)res.status : BM_EXIT_FAILURE, "%s",
				      res.message[0] ? res.message : "failed");
	}
	if (img_fd >= 0) {
		close(img_fd);
		unlink(path);
	}
	/* Read only now, the destination holding its copy: reading them
	 * changes them (timers_next_id.h, inotify_next_wd.h).  A timer call
	 * that fails before anything changed fails the migration, the
	 * original as it was; the watch numbers come last, once the original
	 * cannot resume. */
	struct bm_next_ids *ids = NULL;
	uint8_t *confirm = NULL;
	size_t confirm_len = 0;
	bool copy_held = rc == 0;
	if (rc == 0) {
		bm_set_log_prefix("binmig: migrate: timer ids");
		ids = calloc(1, sizeof *ids);
		confirm = malloc(BM_NEXT_IDS_MAX_BYTES);
		if (ids && confirm) {
			if ((rc = bm_timers_take_next_ids(&f, ids)) == 0) {
				bm_set_log_prefix("binmig: migrate: inotify watch numbers");
				bm_inotify_take_next_wds(&f, ids);
				confirm_len = bm_next_ids_encode(ids, confirm);
			}
			st->syscalls_injected = bm_frozen_injected(&f); /* with these calls */
		} else {
			bm_warn("out of memory: the next POSIX timer ids and inotify watch numbers are not carried");
		}
	}
	if (rc < 0) {
		free(ids);
		free(confirm);
		/* Never lost: the original runs on where it stopped. */
		bm_send_message(conn, BM_MSG_ABORT, bm_exit_code(), bm_error_message(), 1000);
		if (copy_held)
			await_copy_ended(conn);
		bm_set_log_prefix("binmig: migrate");
		bm_movaddr_reattach(o->move_addrs);
		resume_source(&f, pid);
		bm_movaddr_guard_dismiss(&guard);
		bm_precopy_end(pc); /* after the resume: its memory is unregistered, nothing left in it */
		bm_postcopy_src_free(lazy);
		bm_wire_sink_free(&ws);
		close_conn(conn);
		return rc;
	}

	/* The process is the destination's now: should binmig die from here
	 * on, the destination runs its copy (docs/protocol.md §7), and the
	 * addresses stay there. */
	bm_movaddr_guard_dismiss(&guard);
	bm_set_log_prefix("binmig: migrate: termination");
	for (size_t i = 0; i < bm_frozen_count(&f); i++)
		bm_unix_unstash_names(&bm_frozen_at(&f, i)->proc, true);
	/* Post-copy keeps the original frozen, its pages still to be read,
	 * until the destination has them all; it never runs again. */
	rc = post ? bm_postcopy_bind_original(&f) : bm_release(&f, true);
	if (rc == 0)
		rc = bm_frame_send_buf(conn, BM_MSG_CONFIRM, confirm, confirm_len, BM_IO_TIMEOUT_MS);
	free(ids);
	free(confirm);
	/* The destination lets its process run when CONFIRM arrives, and says
	 * so: migrate returns once the process runs there. */
	size_t len;
	int running = rc == 0 ? bm_frame_expect(conn, BM_MSG_RUNNING, NULL, 0, &len, BM_IO_TIMEOUT_MS) : rc;
	uint64_t t_running = bm_now_us();
	if (post) {
		bm_set_log_prefix("binmig: migrate: post-copy");
		int lost = rc < 0 ? rc : bm_postcopy_send(lazy, conn);
		bm_release(&f, true);
		if (lost < 0) {
			fprintf(stderr, "binmig: migrate: process %d is lost: it ran at the destination as %d before all "
				"its memory was there, and post-copy then failed (above); the destination ends it, and its "
				"original here was terminated\n", pid, res.pid);
			bm_postcopy_src_free(lazy);
			bm_wire_sink_free(&ws);
			close_conn(conn);
			return lost;
		}
	}
	bm_set_log_prefix("binmig");
	if (rc < 0)
		bm_warn("process %d runs at the destination as %d, but confirming that failed", pid, res.pid);
	else if (running < 0)
		bm_warn("process %d was confirmed at the destination as %d, which then did not say it runs (above)",
			pid, res.pid);
	st->pid = res.pid;
	st->transfer_us = (int64_t)res.transfer_us;
	st->as_restore_us = (int64_t)res.as_restore_us;
	st->ctx_restore_us = (int64_t)res.ctx_restore_us;
	st->downtime_us = (int64_t)(t_running - t_suspend);
	st->wire_bytes = (int64_t)ws.wire_bytes;
	st->total_us = (int64_t)(bm_now_us() - t0);
	st->seal = bm_seal_name(conn->suite);
	if (pre)
		bm_precopy_stats(pc, st);
	if (post)
		bm_postcopy_stats(lazy, st);
	bm_postcopy_src_free(lazy);
	bm_precopy_end(pc);
	bm_wire_sink_free(&ws);
	close_conn(conn);
	return 0;
}

int bm_migrate(pid_t pid, const struct bm_migrate_opts *o, struct bm_stats *st)
{
	uint64_t t0 = bm_now_us();
	enum bm_transfer_mode mode = BM_MODE_STREAM;
	struct bm_conn conn;
	struct bm_precopy pc = {.uffd = -1, .pagemap = -1};
	struct profiles *prof = malloc(sizeof *prof);
	struct bm_isa_job *job = NULL;
	int rc = prof ? choose_mode(pid, o, &mode) : bm_error(BM_EXIT_FAILURE, "out of memory");
	/* The process's code is analysed while the connection is set up. */
	if (rc == 0 && !o->skip_cpu_check)
		job = bm_isa_job_start(pid);
	/* The BPF programs read at the freeze: loaded now, so that their cost
	 * is neither downtime nor a longer last pre-copy round (kstate.h). */
	if (rc == 0)
		bm_kstate_prepare();
	/* Stream and file mode have the destination's memory ready before
	 * the freeze (memplan.h); a tree's restore does not use it. */
	bool plan = rc == 0 && (mode == BM_MODE_STREAM || mode == BM_MODE_FILE) && !o->no_prefault && !moves_a_tree(pid);
	bool moving = o->move_addrs && o->move_addrs->n;
	if (rc == 0 && moving) {
		bm_set_log_prefix("binmig: migrate");
		rc = bm_movaddr_locate(o->move_addrs);
	}
	uint32_t flags = (plan ? BM_START_MEMPLAN : 0) | (moving ? BM_START_MOVE_ADDRS : 0);
	if (rc < 0 || (rc = open_conn(o, mode, flags, &conn)) < 0) {
		bm_isa_job_end(job);
		free(prof);
		return rc;
	}
	if ((rc = check_cpu(&conn, job, o, prof, st)) < 0) {
		free(prof);
		return give_up(&conn, &pc, rc);
	}
	if (moving) {
		bm_set_log_prefix("binmig: migrate: moving addresses");
		if ((rc = bm_movaddr_offer(&conn, o->move_addrs, BM_IO_TIMEOUT_MS)) < 0) {
			free(prof);
			fprintf(stderr, "binmig: migrate: process %d runs on at the source (not stopped)\n", pid);
			return give_up(&conn, &pc, rc);
		}
	}
	if (plan) {
		bm_set_log_prefix("binmig: migrate: memory plan");
		if ((rc = bm_memplan_send(pid, &conn, BM_RESULT_TIMEOUT_MS)) < 0) {
			free(prof);
			fprintf(stderr, "binmig: migrate: process %d runs on at the source (not stopped)\n", pid);
			return give_up(&conn, &pc, rc);
		}
	}
	/* Hybrid: one round, then post-copy. */
	struct bm_migrate_opts one = *o;
	if (mode == BM_MODE_HYBRID)
		one.precopy.max_rounds = 1;
	if ((mode == BM_MODE_PRECOPY || mode == BM_MODE_HYBRID) && (rc = precopy_rounds(&pc, pid, &one, &conn)) < 0) {
		free(prof);
		fprintf(stderr, "binmig: migrate: process %d runs on at the source, untracked\n", pid);
		return give_up(&conn, &pc, rc);
	}

	/* Post-copy: which pages are present is read while the process runs,
	 * so that the freeze need not walk its page tables. */
	struct bm_postcopy_src lazy = {0};
	if (mode == BM_MODE_POSTCOPY) {
		bm_set_log_prefix("binmig: migrate: post-copy plan");
		if ((rc = bm_postcopy_find(&lazy, pid)) < 0) {
			free(prof);
			bm_postcopy_src_free(&lazy);
			fprintf(stderr, "binmig: migrate: process %d runs on at the source (not stopped)\n", pid);
			return give_up(&conn, &pc, rc);
		}
		const char *dir = getenv("BINMIG_TEST_POSTCOPY_FOUND");
		if (dir && *dir)
			bm_test_gate(dir, "found", "found", "go");
	}

	struct move m = {pid, o, st, t0, mode, &conn, &pc, &lazy, prof, false};
	rc = bm_run_traced(move, &m);
	free(prof);
	bm_postcopy_src_free(&lazy);
	return m.frozen ? rc : give_up(&conn, &pc, rc);
}
