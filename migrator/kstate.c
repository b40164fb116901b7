/* Kernel state read through BPF iterators (kstate.h). */
#include "kstate.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpf/kstate_rec.h"
#include "fault.h"
#include "log.h"
#include "pipe_layout.h"
#include "sk_unix_stream_layout.h"
#include "unlinked.h"

/* kstate.bpf.o, carried by kstate_obj.S */
extern const unsigned char bm_kstate_bpf_obj[], bm_kstate_bpf_obj_end[];

/* The programs, loaded once for the whole run: the verifier's work is the
 * cost, each read after is a few system calls. */
static struct {
	bool tried;
	int err;           /* 0: loaded */
	char why[640];     /* why not */
	struct bpf_object *obj;
	struct bpf_program *task, *file;
	int wanted_fd;
	int pipe_flags;    /* 1: not checked yet; 0: the kernel numbers a pipe buffer's flags as binmig reads them */
} k = {.pipe_flags = 1};

/* libbpf's messages: the last line of a failed load says why; kept for
 * WHY rather than printed, as the dump goes on without the programs. */
static char libbpf_said[256];

static int keep_message(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG)
		return 0;
	char line[sizeof libbpf_said];
	int n = vsnprintf(line, sizeof line, fmt, ap);
	if (n > 0) {
		line[strcspn(line, "\n")] = 0;
		if (line[0])
			memcpy(libbpf_said, line, sizeof line);
	}
	return 0;
}

static int unavailable(int err, const char *what)
{
	k.err = err < 0 ? err : -EINVAL;
	snprintf(k.why, sizeof k.why, "%s: %s%s%s", what, strerror(-k.err), libbpf_said[0] ? "; libbpf: " : "",
		 libbpf_said);
	if (k.obj)
		bpf_object__close(k.obj);
	k.obj = NULL;
	return k.err;
}

static int load(void)
{
	if (k.tried)
		return k.err;
	k.tried = true;
	if (bm_fault(BM_FP_KSTATE))
		return unavailable(-EPERM, "loading binmig's BPF programs (fault injected)");
	if (bm_test_no_bpf())
		return unavailable(-EPERM, "binmig's BPF programs (BINMIG_TEST_NO_BPF)");
	if (access("/sys/kernel/btf/vmlinux", R_OK) < 0)
		return unavailable(-errno, "this kernel has no BTF (/sys/kernel/btf/vmlinux)");
	libbpf_set_print(keep_message);
	LIBBPF_OPTS(bpf_object_open_opts, opts, .object_name = "binmig_kstate");
	k.obj = bpf_object__open_mem(bm_kstate_bpf_obj, (size_t)(bm_kstate_bpf_obj_end - bm_kstate_bpf_obj), &opts);
	if (!k.obj)
		return unavailable(-errno, "opening binmig's BPF programs");
	int rc = bpf_object__load(k.obj);
	if (rc < 0)
		return unavailable(rc, "loading binmig's BPF programs (CAP_BPF and CAP_PERFMON needed)");
	k.task = bpf_object__find_program_by_name(k.obj, "read_task");
	k.file = bpf_object__find_program_by_name(k.obj, "read_file");
	k.wanted_fd = bpf_object__find_map_fd_by_name(k.obj, "wanted");
	if (!k.task || !k.file || k.wanted_fd < 0)
		return unavailable(-ENOENT, "binmig's BPF object lacks a program or map");
	return k.err = 0;
}

static struct bm_fd *find_fd(struct bm_process *p, int32_t fd)
{
	for (uint32_t i = 0; i < p->nfds; i++)
		if (p->fds[i].fd == fd)
			return &p->fds[i];
	return NULL;
}

/* What the task program saw of the timer id counter. */
enum timer_seen { TIMER_NOT_SEEN, TIMER_READ, TIMER_NO_FIELD };

/* What the programs read, kept until every read has succeeded. */
struct task_seen {
	enum timer_seen timer;
	bool sigchld;     /* exit_sends_sigchld */
	uint64_t *slices; /* per thread of p->attrs: its own slice, 0 for none; UINT64_MAX: not read */
	uint32_t *inet;   /* bm_kstate_inet's BITS, per descriptor of p; NULL: not asked */
	struct bm_kstate_queue *queues; /* bm_kstate_dgram's, per descriptor of p; NULL: not asked */
	bool fasync;      /* bm_kstate_fasync: its records are taken */
	struct bm_kstate_opener *openers; /* bm_kstate_openers', per descriptor of p; NULL: not asked */
	struct bm_kstate_lockpos *lockpos; /* bm_kstate_lockpos', per descriptor of p; NULL: not asked */
	struct bm_chunks pipes;   /* their layouts, read chunk by chunk */
	struct bm_chunks streams; /* the same, with queues */
};

/* A socket's receive queue as the file program walked it (bm_kstate_dgram). */
static void queue_seen(struct bm_process *p, const struct bm_kstate_rec *r, struct task_seen *seen)
{
	struct bm_fd *d = find_fd(p, r->fd);
	if (!d || !r->valid || (d->kind != BM_FD_UDP && d->kind != BM_FD_UNIX_SOCKET))
		return;
	seen->queues[d - p->fds] = (struct bm_kstate_queue){
		.read = true,
		.n = (uint32_t)r->a,
		.empty_behind = (uint32_t)(r->b & BM_KSTATE_DGRAM_BEHIND),
		.head_empty = (r->b & BM_KSTATE_DGRAM_HEAD_EMPTY) != 0,
		.head_marked = (r->b & BM_KSTATE_DGRAM_HEAD_MARKED) != 0,
		.more = (r->b & BM_KSTATE_DGRAM_MORE) || r->a > BM_KSTATE_DGRAM_MAX,
	};
}

/* A part of an open file's credentials (BM_KSTATE_OPENER). */
static void opener_seen(struct bm_process *p, const struct bm_kstate_rec *r, struct task_seen *seen)
{
	struct bm_fd *d = find_fd(p, r->fd);
	if (!d || !r->valid || r->part < 0)
		return;
	struct bm_kstate_opener *o = &seen->openers[d - p->fds];
	struct bm_creds *c = &o->creds;
	uint32_t lo_a = (uint32_t)r->a, hi_a = (uint32_t)(r->a >> 32), lo_b = (uint32_t)r->b, hi_b = (uint32_t)(r->b >> 32);
	switch (r->part) {
	case 0:
		c->uid[0] = lo_a, c->gid[0] = hi_a, c->uid[1] = lo_b, c->gid[1] = hi_b;
		break;
	case 1:
		c->uid[2] = lo_a, c->gid[2] = hi_a, c->uid[3] = lo_b, c->gid[3] = hi_b;
		break;
	case 2:
		c->cap_inh = r->a, c->cap_prm = r->b;
		break;
	case 3:
		c->cap_eff = r->a, c->cap_bnd = r->b;
		break;
	case 4:
		c->cap_amb = r->a, o->ngroups = lo_b;
		c->ngroups = o->ngroups < BM_MAX_GROUPS ? o->ngroups : BM_MAX_GROUPS;
		break;
	default: {
		const uint32_t four[4] = {lo_a, hi_a, lo_b, hi_b};
		uint32_t first = 4 * (uint32_t)(r->part - BM_KSTATE_OPENER_GROUPS);
		for (uint32_t k = 0; k < 4 && first + k < BM_MAX_GROUPS && first + k < o->ngroups; k++, o->groups_read++)
			c->groups[first + k] = four[k];
		return;
	}
	}
	o->parts |= 1u << r->part;
}

_Static_assert(BM_KSTATE_OPENER_GROUPS_MAX == BM_MAX_GROUPS, "the program reads the groups an image carries");

/* A thread's slice: its own (se.custom_slice), even one equal to the base
 * slice, which sched_getattr cannot tell from none (attrs.c); only under
 * a fair policy, where a slice is the thread's (a real-time thread keeps
 * the flag of its last fair policy, unused). */
static void thread_seen(const struct bm_process *p, const struct bm_kstate_rec *r, struct task_seen *seen)
{
	for (uint32_t i = 0; r->valid && i < p->attrs.nthreads; i++) {
		uint32_t policy = p->attrs.threads[i].sched_policy;
		if (p->attrs.threads[i].tid == r->fd &&
		    (policy == SCHED_OTHER || policy == SCHED_BATCH || policy == SCHED_IDLE))
			seen->slices[i] = r->b ? r->a : 0;
	}
}

/* Runs PROG over the tasks of P, each record into P.  The kernel takes
 * P's PID in binmig's PID namespace (Linux 6.1: before, no iterator of
 * one process, and the programs would see PIDs of the first namespace). */
static int run(struct bpf_program *prog, struct bm_process *p, struct task_seen *seen)
{
	union bpf_iter_link_info info = {.task.pid = (uint32_t)p->pid};
	LIBBPF_OPTS(bpf_iter_attach_opts, opts, .link_info = &info, .link_info_len = sizeof info);
	struct bpf_link *link = bpf_program__attach_iter(prog, &opts);
	if (!link)
		return -errno;
	int fd = bpf_iter_create(bpf_link__fd(link)), rc = fd < 0 ? -errno : 0;
	struct bm_kstate_rec r;
	ssize_t n;
	while (rc == 0 && (n = read(fd, &r, sizeof r)) != 0) {
		if (n != (ssize_t)sizeof r) {
			rc = n < 0 ? -errno : -EPROTO;
			break;
		}
		if (r.kind == BM_KSTATE_PROCESS) {
			p->timers.next_id = (uint32_t)r.a & INT_MAX; /* the ids it hands out */
			seen->timer = r.valid ? TIMER_READ : TIMER_NO_FIELD;
		} else if (r.kind == BM_KSTATE_THREAD) {
			thread_seen(p, &r, seen);
		} else if (r.kind == BM_KSTATE_PARENT_EXEC) {
			seen->sigchld = (int)r.a != SIGCHLD && r.b;
		} else if (r.kind == BM_KSTATE_INOTIFY) {
			struct bm_fd *d = find_fd(p, r.fd);
			/* 0 and past INT_MAX hand out 1 next, as 1 does */
			if (d && d->kind == BM_FD_INOTIFY && r.valid)
				d->next_wd = r.a == 0 || r.a > INT_MAX ? 1 : (uint32_t)r.a;
		} else if (r.kind == BM_KSTATE_LINKABLE) {
			struct bm_fd *d = find_fd(p, r.fd);
			if (d && d->kind == BM_FD_UNLINKED_FILE && r.valid)
				d->object_flags |= BM_UNLINKED_LINK_KNOWN | (r.a ? BM_UNLINKED_LINKABLE : 0);
		} else if (r.kind == BM_KSTATE_PIPE) {
			bm_pipe_layout_record(p, &seen->pipes, &r);
		} else if (r.kind == BM_KSTATE_INET && seen->inet) {
			struct bm_fd *d = find_fd(p, r.fd);
			if (d && (d->kind == BM_FD_TCP || d->kind == BM_FD_UDP) && r.valid)
				seen->inet[d - p->fds] = (uint32_t)(r.a & BM_KSTATE_SK_ALL) | BM_KSTATE_SK_READ |
							 (uint32_t)(r.b & 0xffff) << BM_KSTATE_SK_USER_MSS_SHIFT;
		} else if (r.kind == BM_KSTATE_DGRAM && seen->queues) {
			queue_seen(p, &r, seen);
		} else if (r.kind == BM_KSTATE_STREAM && seen->queues) {
			bm_stream_layout_record(p, &seen->streams, &r);
		} else if (r.kind == BM_KSTATE_LOCKPOS && seen->lockpos) {
			struct bm_fd *d = find_fd(p, r.fd);
			if (d && r.valid)
				seen->lockpos[d - p->fds] = (struct bm_kstate_lockpos){
					.ofd = r.a < BM_KSTATE_LOCKPOS_MAX ? (int32_t)r.a : -1,
					.posix = r.b < BM_KSTATE_LOCKPOS_MAX ? (int32_t)r.b : -1,
					.read = true,
				};
		} else if (r.kind == BM_KSTATE_OPENER && seen->openers) {
			opener_seen(p, &r, seen);
		} else if (r.kind == BM_KSTATE_FASYNC && seen->fasync) {
			struct bm_fd *d = find_fd(p, r.fd);
			if (d && r.valid && r.a <= INT_MAX) {
				d->sig_async_fd = (int32_t)r.a;
				d->sig_known |= BM_SIGIO_ASYNC_FD_KNOWN;
			}
		}
	}
	if (fd >= 0)
		close(fd);
	bpf_link__destroy(link);
	return rc;
}

/* Which descriptors a run of the file program reads. */
enum pass { PASS_FILES, PASS_INET, PASS_DGRAM, PASS_FASYNC, PASS_OPENER, PASS_LOCKPOS };

/* What the file program reads of descriptor D, or 0: for bm_kstate_inet
 * (PASS_INET) a TCP or UDP socket, for bm_kstate_dgram (PASS_DGRAM) the
 * queue of a UDP or unix socket (a stream's skbs), else an
 * inotify instance, an unlinked file or a buffered pipe or FIFO. */
static uint32_t want_of(const struct bm_fd *d, enum pass pass)
{
	if (pass == PASS_DGRAM)
		return d->shares_with >= 0 || d->in_flight ? 0 : d->kind == BM_FD_UDP ? BM_KSTATE_WANT_UDP_QUEUE :
			d->kind == BM_FD_UNIX_SOCKET ? BM_KSTATE_WANT_UNIX_DGRAM : 0;
	if (pass == PASS_INET)
		return d->shares_with >= 0 || d->in_flight ? 0 : d->kind == BM_FD_TCP ? BM_KSTATE_WANT_TCP :
			d->kind == BM_FD_UDP ? BM_KSTATE_WANT_UDP : 0;
	if (d->kind == BM_FD_INOTIFY && d->shares_with < 0 && !d->in_flight)
		return BM_KSTATE_WANT_INOTIFY;
	if (d->kind == BM_FD_UNLINKED_FILE && !(d->object_flags & BM_UNLINKED_MEMFD))
		return BM_KSTATE_WANT_LINKABLE;
	if (bm_pipe_layout_wanted(d) && k.pipe_flags == 0)
		return BM_KSTATE_WANT_PIPE;
	return 0;
}

/* Empties the map of the descriptors to read (the last run's). */
static int want_none(void)
{
	uint32_t next;
	while (bpf_map_get_next_key(k.wanted_fd, NULL, &next) == 0)
		if (bpf_map_delete_elem(k.wanted_fd, &next) < 0)
			return -errno;
	return 0;
}

/* The descriptors the file program reads (want_of; for PASS_FASYNC,
 * PASS_OPENER and PASS_LOCKPOS, those of ASK, with BM_KSTATE_WANT_FASYNC,
 * BM_KSTATE_WANT_OPENER or BM_KSTATE_WANT_LOCKPOS). */
static int want(const struct bm_process *p, enum pass pass, const bool *ask)
{
	uint32_t key, what;
	int rc = want_none();
	if (rc < 0)
		return rc;
	for (uint32_t i = 0; i < p->nfds; i++) {
		const struct bm_fd *d = &p->fds[i];
		key = (uint32_t)d->fd;
		what = pass == PASS_FASYNC ? (ask[i] ? BM_KSTATE_WANT_FASYNC : 0)
		     : pass == PASS_OPENER ? (ask[i] ? BM_KSTATE_WANT_OPENER : 0)
		     : pass == PASS_LOCKPOS ? (ask[i] ? BM_KSTATE_WANT_LOCKPOS : 0)
					   : want_of(d, pass);
		if (what && bpf_map_update_elem(k.wanted_fd, &key, &what, BPF_ANY) < 0)
			return -errno;
	}
	return 0;
}

/* The chunks the file program reads in a run after the first: of each
 * pipe's ring (KIND BM_KSTATE_WANT_PIPE) or unix stream's queue
 * (BM_KSTATE_WANT_UNIX_DGRAM) of P read in part, the next.  The number of
 * descriptors to read, or -errno. */
static int want_chunks(struct bm_process *p, struct task_seen *seen, uint32_t kind)
{
	int n = want_none();
	for (uint32_t i = 0; n >= 0 && i < p->nfds; i++) {
		uint32_t start = kind == BM_KSTATE_WANT_PIPE ? bm_pipe_layout_next(p, &seen->pipes, i)
							     : bm_stream_layout_next(p, &seen->streams, i);
		uint32_t key = (uint32_t)p->fds[i].fd, what = kind | start << BM_KSTATE_WANT_START_SHIFT;
		if (start && bpf_map_update_elem(k.wanted_fd, &key, &what, BPF_ANY) < 0)
			n = -errno;
		else if (start)
			n++;
	}
	return n;
}

_Static_assert(BM_KSTATE_PIPE_BUFS_MAX >> (32 - BM_KSTATE_WANT_START_SHIFT) == 0 &&
		       BM_KSTATE_STREAM_SKBS_MAX >> (32 - BM_KSTATE_WANT_START_SHIFT) == 0,
	       "a chunk's start fits above BM_KSTATE_WANT_START_SHIFT");

/* Reads on, after the first run, the rings or queues (KIND, as
 * want_chunks) it read in part: a run a chunk of each, until each is read
 * whole.  A run that fails, or takes nothing more, ends it, with a
 * warning: the layouts still read in part are then dropped
 * (bm_pipe_layout_end, bm_stream_layout_end), their bytes written in one
 * go or in pieces. */
static void read_chunks(struct bm_process *p, struct task_seen *seen, uint32_t kind)
{
	for (;;) {
		uint64_t before = kind == BM_KSTATE_WANT_PIPE ? seen->pipes.taken : seen->streams.taken;
		int n = want_chunks(p, seen, kind), rc = n;
		if (n > 0)
			rc = bm_fault(BM_FP_KSTATE_CHUNK) ? -errno : run(k.file, p, seen);
		uint64_t after = kind == BM_KSTATE_WANT_PIPE ? seen->pipes.taken : seen->streams.taken;
		if (n == 0)
			return;
		if (rc < 0 || after == before) {
			bm_warn("process %d: binmig could not read the rest of %s (%s): restored, %s", p->pid,
				kind == BM_KSTATE_WANT_PIPE ? "the buffers of its largest pipes" :
							      "the skbs of its longest unix stream queues",
				rc < 0 ? strerror(-rc) : "nothing more read",
				kind == BM_KSTATE_WANT_PIPE ? "those pipes' bytes are written in one go, and a packet-mode "
							      "pipe holding packets is refused" :
							      "those queues are written in pieces, their writers' send "
							      "buffers charged less");
			return;
		}
	}
}

/* Whether the kernel numbers a pipe buffer's flags as pipe_layout.h
 * reads them (#defines, which BPF cannot relocate), and the ring is read
 * at its stride: checked once, on two pipes of binmig's own.  A write to
 * a plain pipe makes a buffer that may be merged into, one to a
 * packet-mode pipe a packet, which tee then copies into the plain pipe
 * as its second buffer, still a packet (fs/splice.c link_pipe).  0, or
 * -errno (the layouts are then not read). */
static int check_pipe_flags(void)
{
	if (k.pipe_flags <= 0)
		return k.pipe_flags;
	int ends[2][2] = {{-1, -1}, {-1, -1}}, rc = 0;
	struct bm_fd fds[2] = {{.kind = BM_FD_PIPE, .shares_with = -1, .data_len = 2, .data = (uint8_t *)"xx"},
			       {.kind = BM_FD_PIPE, .shares_with = -1, .data_len = 1, .data = (uint8_t *)"x"}};
	struct bm_process self = {.pid = getpid(), .fds = fds, .nfds = 2};
	struct task_seen seen = {.timer = TIMER_NOT_SEEN};
	uint32_t key, what = BM_KSTATE_WANT_PIPE;
	for (int i = 0; i < 2 && rc == 0; i++) {
		if (pipe2(ends[i], O_CLOEXEC | O_NONBLOCK | (i ? O_DIRECT : 0)) < 0 || write(ends[i][1], "x", 1) != 1)
			rc = -errno;
		fds[i].fd = ends[i][0];
	}
	if (rc == 0 && tee(ends[1][0], ends[0][1], 1, SPLICE_F_NONBLOCK) != 1)
		rc = -errno;
	if (rc == 0)
		rc = want_none();
	for (int i = 0; i < 2 && rc == 0; i++)
		if (key = (uint32_t)fds[i].fd, bpf_map_update_elem(k.wanted_fd, &key, &what, BPF_ANY) < 0)
			rc = -errno;
	if (rc == 0)
		rc = run(k.file, &self, &seen);
	bm_pipe_layout_end(&self, &seen.pipes);
	if (rc == 0 && (fds[0].npipe_bufs != 2 || fds[0].pipe_bufs[0].flags != BM_PIPE_BUF_CAN_MERGE ||
			fds[0].pipe_bufs[1].flags != BM_PIPE_BUF_PACKET || fds[1].npipe_bufs != 1 ||
			fds[1].pipe_bufs[0].flags != BM_PIPE_BUF_PACKET))
		rc = -ENOTSUP;
	bm_pipe_layout_drop(&self);
	for (int i = 0; i < 2; i++)
		for (int e = 0; e < 2; e++)
			if (ends[i][e] >= 0)
				close(ends[i][e]);
	return k.pipe_flags = rc;
}

/* Says, where the check of the flags failed (RC), that P's pipes holding
 * bytes get them back in one go (the programs loaded: no other warning
 * says it). */
static void warn_pipes_unread(const struct bm_process *p, int rc)
{
	for (uint32_t i = 0; rc < 0 && i < p->nfds; i++)
		if (bm_pipe_layout_wanted(&p->fds[i])) {
			bm_warn("process %d: binmig cannot read how the bytes of its pipes lie in their buffers on this "
				"kernel (its flags are not numbered as binmig knows: %s): restored, each pipe's bytes are "
				"written in one go, and a packet-mode pipe holding packets is refused", p->pid,
				strerror(-rc));
			return;
		}
}

bool bm_kstate_pipes_readable(void)
{
	return load() == 0 && check_pipe_flags() == 0;
}

void bm_kstate_prepare(void)
{
	if (load() == 0)
		check_pipe_flags();
}

int bm_kstate_read(struct bm_process *p, char *why, size_t why_size)
{
	int rc = load();
	if (rc < 0) {
		snprintf(why, why_size, "%s", k.why);
		return rc;
	}
	struct task_seen seen = {.timer = TIMER_NOT_SEEN, .slices = malloc((p->attrs.nthreads + 1) * sizeof *seen.slices)};
	for (uint32_t i = 0; seen.slices && i < p->attrs.nthreads; i++)
		seen.slices[i] = UINT64_MAX;
	const char *step = "reading its timer id counter";
	warn_pipes_unread(p, check_pipe_flags());
	if (!seen.slices)
		rc = -ENOMEM;
	else if ((rc = run(k.task, p, &seen)) == 0 && (step = "choosing its descriptors", rc = want(p, PASS_FILES, NULL)) == 0)
		step = "reading its descriptors", rc = run(k.file, p, &seen);
	if (rc == 0 && seen.timer == TIMER_NOT_SEEN)
		step = "its leader was not found by the BPF iterator", rc = -ENOENT; /* gone: nothing of it */
	if (rc == 0)
		read_chunks(p, &seen, BM_KSTATE_WANT_PIPE);
	bm_pipe_layout_end(p, &seen.pipes);
	if (rc < 0) {
		bm_pipe_layout_drop(p);
		snprintf(why, why_size, "%s: %s", step, strerror(-rc));
		p->timers.next_id = 0;
		for (uint32_t i = 0; i < p->nfds; i++) {
			p->fds[i].next_wd = 0;
			if (p->fds[i].kind == BM_FD_UNLINKED_FILE)
				p->fds[i].object_flags &= ~BM_UNLINKED_LINK_BITS;
		}
		free(seen.slices);
		return rc;
	}
	p->exit_sends_sigchld = seen.sigchld;
	for (uint32_t i = 0; i < p->attrs.nthreads; i++)
		if (seen.slices[i] != UINT64_MAX)
			p->attrs.threads[i].sched_slice = seen.slices[i];
	free(seen.slices);
	/* Each field is read or not on its own: a kernel without this
	 * counter still shows the rest. */
	if (seen.timer == TIMER_NO_FIELD) {
		p->timers.next_id = 0;
		snprintf(why, why_size, "this kernel keeps its timer id counter otherwise (before Linux 6.14)");
		return -ENOENT;
	}
	p->timers.next_id_known = true;
	return 0;
}

int bm_kstate_read_frozen(struct bm_frozen *f, char *why, size_t why_size)
{
	int first = 0;
	for (size_t m = 0; m < bm_frozen_count(f); m++) {
		struct bm_frozen *one = bm_frozen_at(f, m);
		if (!one->ntracees)
			continue; /* a zombie: no timers, no descriptors */
		char one_why[700];
		int rc = bm_kstate_read(&one->proc, one_why, sizeof one_why);
		if (rc < 0 && !first) {
			first = rc;
			snprintf(why, why_size, "process %d: %s", one->pid, one_why);
		}
		if (rc < 0 && k.err)
			break; /* not loaded: so for every one */
	}
	return first;
}

void bm_kstate_warn_unseen(const char *why, bool counters_later)
{
	bm_warn("binmig cannot read what only the kernel's own structures show (%s): restored, the process %san "
		"O_TMPFILE file may be linked as its opening says, each pipe's bytes and each unix stream's queue "
		"come back in one go, an open file's O_ASYNC set through a descriptor closed since is set through "
		"the one it is held at, and a thread's own slice equal to the base slice, a tree member's exit "
		"signal its parent's execve made SIGCHLD, and what only a TCP or UDP socket's kernel side shows (a "
		"shutdown without a port, urgent data sent, a SO_REUSEPORT program, the MSS a program set on a "
		"connection) are not seen, the order of a file's locks is that of the descriptors, and the files "
		"it opened by name are opened again with binmig's credentials, not those that opened them (README, "
		"\"What a restored process can still tell apart\")",
		why,
		counters_later ? ""
			       : "gives its next POSIX timer and inotify watch the numbers after its newest, ");
}

/* One run of the file program over P for PASS (ASK: PASS_FASYNC's), its
 * records into SEEN; WHAT says what it reads where it fails. */
static int read_files(struct bm_process *p, enum pass pass, const bool *ask, struct task_seen *seen,
		      const char *what, char *why, size_t why_size)
{
	int rc = load();
	if (rc < 0) {
		snprintf(why, why_size, "%s", k.why);
		return rc;
	}
	if ((rc = want(p, pass, ask)) == 0)
		rc = run(k.file, p, seen);
	if (rc < 0)
		snprintf(why, why_size, "reading %s: %s", what, strerror(-rc));
	return rc;
}

int bm_kstate_inet(struct bm_process *p, uint32_t *bits, char *why, size_t why_size)
{
	memset(bits, 0, p->nfds * sizeof *bits);
	struct task_seen seen = {.timer = TIMER_NOT_SEEN, .inet = bits};
	int rc = read_files(p, PASS_INET, NULL, &seen, "its sockets", why, why_size);
	if (rc < 0)
		memset(bits, 0, p->nfds * sizeof *bits);
	return rc;
}

int bm_kstate_dgram(struct bm_process *p, struct bm_kstate_queue *queues, char *why, size_t why_size)
{
	memset(queues, 0, p->nfds * sizeof *queues);
	struct task_seen seen = {.timer = TIMER_NOT_SEEN, .queues = queues};
	bm_stream_layout_drop(p);
	int rc = read_files(p, PASS_DGRAM, NULL, &seen, "its socket queues", why, why_size);
	if (rc == 0)
		read_chunks(p, &seen, BM_KSTATE_WANT_UNIX_DGRAM);
	bm_stream_layout_end(p, &seen.streams);
	if (rc < 0) {
		memset(queues, 0, p->nfds * sizeof *queues);
		bm_stream_layout_drop(p);
	}
	return rc;
}

int bm_kstate_fasync(struct bm_process *p, const bool *ask, char *why, size_t why_size)
{
	struct task_seen seen = {.timer = TIMER_NOT_SEEN, .fasync = true};
	return read_files(p, PASS_FASYNC, ask, &seen, "its descriptors' signal-driven I/O", why, why_size);
}

int bm_kstate_openers(struct bm_process *p, const bool *ask, struct bm_kstate_opener *openers, char *why,
		      size_t why_size)
{
	memset(openers, 0, p->nfds * sizeof *openers);
	struct task_seen seen = {.timer = TIMER_NOT_SEEN, .openers = openers};
	return read_files(p, PASS_OPENER, ask, &seen, "the credentials its files were opened with", why, why_size);
}

int bm_kstate_lockpos(struct bm_process *p, const bool *ask, struct bm_kstate_lockpos *pos, char *why,
		      size_t why_size)
{
	memset(pos, 0, p->nfds * sizeof *pos);
	struct task_seen seen = {.timer = TIMER_NOT_SEEN, .lockpos = pos};
	return read_files(p, PASS_LOCKPOS, ask, &seen, "where its file locks are in their files' lists", why,
			  why_size);
}
