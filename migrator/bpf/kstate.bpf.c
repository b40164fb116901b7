/* BPF iterator programs that read, for binmig's dump, the few pieces of a
 * process's kernel state no other interface shows without changing them
 * (kstate.h).  The kernel runs them over one process's tasks only
 * (bpf_iter_link_info.task.pid, taken in binmig's PID namespace), so they
 * need not know its PID, which they would see in the first namespace.  They only read: no helper they call writes to the kernel or
 * the process.  Compiled by clang for the BPF target into an object that
 * binmig carries in its read-only data (kstate_obj.S) and loads with
 * libbpf, which relocates every read against the running kernel (kernel.h). */
#include "kernel.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>

#include "kstate_rec.h"

char LICENSE[] SEC("license") = "GPL";

/* Its descriptors to read, with what to read (enum bm_kstate_want): as
 * many as an image holds (BM_IMG_MAX_FDS), allocated as they come. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, __u32);
} wanted SEC(".maps");

/* A thread's id as binmig's PID namespace numbers it (the task's pid
 * field is the first namespace's): the number of its struct pid at the
 * level of binmig's namespace, where that is binmig's; else 0. */
static __always_inline int ns_tid(struct task_struct *t)
{
	struct task_struct *me = (struct task_struct *)bpf_get_current_task();
	struct pid *mine = BPF_CORE_READ(me, thread_pid), *its = BPF_CORE_READ(t, thread_pid);
	unsigned int level = BPF_CORE_READ(mine, level);
	struct upid ours = {}, theirs = {};
	if (!its || level > 32 || BPF_CORE_READ(its, level) < level)
		return 0;
	bpf_core_read(&ours, sizeof ours, &mine->numbers[level]);
	bpf_core_read(&theirs, sizeof theirs, &its->numbers[level]);
	return theirs.ns == ours.ns ? theirs.nr : 0;
}

/* What is each thread's own: its time slice and whether it is its own
 * (sched_getattr shows only the slice); and, at the leader, its exit
 * signal and whether the kernel will send SIGCHLD instead
 * (kernel/signal.c do_notify_parent: its parent ran a program since). */
static __always_inline void read_thread(struct seq_file *seq, struct task_struct *t)
{
	struct bm_kstate_rec r = {.kind = BM_KSTATE_THREAD, .fd = ns_tid(t)};
	if (bpf_core_field_exists(t->se.custom_slice)) {
		r.a = BPF_CORE_READ(t, se.slice);
		r.b = BPF_CORE_READ(t, se.custom_slice);
		r.valid = 1;
	}
	bpf_seq_write(seq, &r, sizeof r);
	if (BPF_CORE_READ(t, pid) != BPF_CORE_READ(t, tgid))
		return;
	struct task_struct *parent = BPF_CORE_READ(t, real_parent);
	struct bm_kstate_rec e = {.kind = BM_KSTATE_PARENT_EXEC, .fd = -1, .valid = 1};
	e.a = (__u32)BPF_CORE_READ(t, exit_signal);
	e.b = BPF_CORE_READ(t, parent_exec_id) != BPF_CORE_READ(parent, self_exec_id);
	bpf_seq_write(seq, &e, sizeof e);
}

SEC("iter/task")
int read_task(struct bpf_iter__task *ctx)
{
	struct task_struct *t = ctx->task;
	if (!t)
		return 0;
	read_thread(ctx->meta->seq, t);
	if (BPF_CORE_READ(t, pid) != BPF_CORE_READ(t, tgid))
		return 0; /* what the process shares, read once: at its leader */
	struct bm_kstate_rec r = {.kind = BM_KSTATE_PROCESS, .fd = -1};
	/* An atomic_t since Linux 6.14, which hands out ids from it as they
	 * are; before, another counter with another search. */
	struct signal_struct *sig = BPF_CORE_READ(t, signal);
	if (bpf_core_field_exists(sig->next_posix_timer_id)) {
		r.a = (__u32)BPF_CORE_READ(sig, next_posix_timer_id.counter);
		r.valid = 1;
	}
	bpf_seq_write(ctx->meta->seq, &r, sizeof r);
	return 0;
}

/* What only the kernel's socket shows of a TCP or UDP socket (WANT):
 * its shutdown bits, a program attached to its SO_REUSEPORT group, and
 * for TCP whether urgent data it sent is not yet acknowledged (the
 * kernel's urgent mode: snd_up ahead of snd_una, tcp_urg_mode) and the
 * MSS the program set (getsockopt shows the segment size on a
 * connection). */
static __always_inline void read_inet(struct file *f, __u32 want, struct bm_kstate_rec *r)
{
	struct socket *so = BPF_CORE_READ(f, private_data);
	struct sock *sk = BPF_CORE_READ(so, sk);
	r->kind = BM_KSTATE_INET;
	if (!sk)
		return;
	r->a = BPF_CORE_READ_BITFIELD_PROBED(sk, sk_shutdown) & BM_KSTATE_SK_SHUTDOWN;
	struct sock_reuseport *group = BPF_CORE_READ(sk, sk_reuseport_cb);
	if (group && BPF_CORE_READ(group, prog))
		r->a |= BM_KSTATE_SK_REUSEPORT_PROG;
	struct tcp_sock *tp = (struct tcp_sock *)sk;
	if (want == BM_KSTATE_WANT_TCP) {
		if (BPF_CORE_READ(tp, snd_up) != BPF_CORE_READ(tp, snd_una))
			r->a |= BM_KSTATE_SK_URGENT;
		r->b = BPF_CORE_READ(tp, rx_opt.user_mss);
	}
	r->valid = 1;
}

/* A walk along a socket's receive queue (read_dgram), one message a step.
 * The steps branch only on what they read and on their index, never on
 * what they count: the verifier then sees every step alike, and checks
 * the step once rather than once for each count. */
struct dgram_walk {
	struct sk_buff *skb, *end; /* the next message; the queue's head, where it ends */
	__u32 first;               /* the messages of the queues walked before */
	__u32 n;                   /* messages walked, with those */
	__u64 b;                   /* BM_KSTATE_DGRAM_* */
};

static long dgram_step(__u64 i, void *ctx)
{
	struct dgram_walk *w = ctx;
	struct sk_buff *skb = w->skb;
	if (!skb || skb == w->end)
		return 1;
	if (i >= BM_KSTATE_DGRAM_MAX) {
		w->b |= BM_KSTATE_DGRAM_MORE;
		return 1;
	}
	if (BPF_CORE_READ(skb, len) == 0) {
		if (i > 0 || w->first)
			w->b += 1;
		else if (BPF_CORE_READ_BITFIELD_PROBED(skb, peeked))
			w->b |= BM_KSTATE_DGRAM_HEAD_EMPTY | BM_KSTATE_DGRAM_HEAD_MARKED;
		else
			w->b |= BM_KSTATE_DGRAM_HEAD_EMPTY;
	}
	w->n = w->first + (__u32)i + 1;
	w->skb = BPF_CORE_READ(skb, next);
	return 0;
}

/* Walks queue Q on from where W is: at most BM_KSTATE_DGRAM_MAX
 * messages, MORE if there are more. */
static __always_inline void walk_queue(struct sk_buff_head *q, struct dgram_walk *w)
{
	w->first = w->n;
	w->end = (struct sk_buff *)q;
	w->skb = BPF_CORE_READ(q, next);
	bpf_loop(BM_KSTATE_DGRAM_MAX + 1, dgram_step, w, 0);
}

/* The receive queue of a UDP socket (UDP), or of a unix datagram or
 * seqpacket socket, in the order its reads take it (a UDP socket's
 * reader_queue first), as a peek at an offset sees it: how many
 * messages, and where the empty ones are, which such a peek skips once a
 * peek showed them (net/core/datagram.c, __skb_try_recv_from_queue).
 * The walk takes no lock: the process is stopped, and what arrives
 * meanwhile, at the tail, no peek has shown.  0: nothing to read (a
 * stream). */
static __always_inline int read_dgram(struct file *f, int udp, struct bm_kstate_rec *r)
{
	struct socket *so = BPF_CORE_READ(f, private_data);
	struct sock *sk = BPF_CORE_READ(so, sk);
	short type = BPF_CORE_READ(so, type);
	if (!sk || (!udp && type != 2 && type != 5)) /* SOCK_DGRAM, SOCK_SEQPACKET */
		return 0;
	struct dgram_walk w = {};
	if (udp)
		walk_queue(&((struct udp_sock *)sk)->reader_queue, &w);
	walk_queue(&sk->sk_receive_queue, &w);
	r->kind = BM_KSTATE_DGRAM;
	r->a = w.n;
	r->b = w.b;
	r->valid = 1;
	return 1;
}

/* A stream skb's record: its length, and whether descriptors ride with it. */
static __always_inline __u64 stream_skb(struct sk_buff *skb)
{
	struct unix_skb_parms *cb = (struct unix_skb_parms *)&skb->cb;
	return BPF_CORE_READ(skb, len) | (BPF_CORE_READ(cb, fp) ? BM_KSTATE_STREAM_RIGHTS : 0);
}

/* A walk past the first skbs of a unix stream queue (read_stream), one a
 * step. */
struct stream_skip {
	struct sk_buff *skb, *end; /* the next skb; the queue's head, where it ends */
};

static long stream_skip_step(__u64 i, void *ctx)
{
	struct stream_skip *w = ctx;
	struct sk_buff *skb = w->skb;
	if (!skb || skb == w->end)
		return 1;
	w->skb = BPF_CORE_READ(skb, next);
	return 0;
}

/* The receive queue of a unix stream socket, oldest first: how many
 * bytes each skb holds, as each write made it (unix_stream_sendmsg: one
 * skb per write up to a size), and how many of the head's reads took
 * (UNIXCB(skb).consumed; no other skb has any taken); of its skbs, the
 * chunk from START (BM_KSTATE_STREAM_CHUNK), the walk past those before
 * it one step each.  Read without the queue's lock: its writer is the
 * peer, in the frozen process. */
static __always_inline void read_stream(struct seq_file *seq, struct file *f, int fd, __u32 start)
{
	struct socket *so = BPF_CORE_READ(f, private_data);
	struct sock *sk = BPF_CORE_READ(so, sk);
	if (!sk || BPF_CORE_READ(so, type) != 1) /* SOCK_STREAM */
		return;
	struct sk_buff *end = (struct sk_buff *)&sk->sk_receive_queue;
	struct sk_buff *skb = BPF_CORE_READ(sk, sk_receive_queue.next);
	__u32 n = BPF_CORE_READ(sk, sk_receive_queue.qlen);
	struct bm_kstate_rec r = {.kind = BM_KSTATE_STREAM, .fd = fd, .valid = 1, .b = BM_KSTATE_STREAM_COUNT | n};
	if (skb && skb != end) {
		struct unix_skb_parms *cb = (struct unix_skb_parms *)&skb->cb;
		r.a = BPF_CORE_READ(cb, consumed);
	}
	r.a |= (__u64)start << BM_KSTATE_STREAM_START_SHIFT;
	bpf_seq_write(seq, &r, sizeof r);
	if (n > BM_KSTATE_STREAM_SKBS_MAX || start >= n)
		return;
	struct stream_skip w = {.skb = skb, .end = end};
	if (start)
		bpf_loop(start, stream_skip_step, &w, 0);
	skb = w.skb;
	for (unsigned int i = 0; i < BM_KSTATE_STREAM_CHUNK / 2 && skb && skb != end; i++) {
		r.a = stream_skb(skb);
		r.b = 0;
		skb = BPF_CORE_READ(skb, next);
		if (skb && skb != end) {
			r.b = stream_skb(skb);
			skb = BPF_CORE_READ(skb, next);
		}
		bpf_seq_write(seq, &r, sizeof r);
	}
}

/* The fasync list of F's object (fs/fcntl.c fasync_helper): a pipe's or
 * FIFO's readers' or writers' by the open file's mode, a socket's
 * (sock_fasync), an inotify instance's (fsnotify_fasync).  Asked only for
 * those kinds (kstate.c): the inode's type tells them apart. */
#define BM_S_IFMT 0170000
#define BM_S_IFIFO 0010000
#define BM_S_IFSOCK 0140000
#define BM_FMODE_READ 1

static __always_inline struct fasync_struct *fasync_list(struct file *f)
{
	unsigned short type = BPF_CORE_READ(f, f_inode, i_mode) & BM_S_IFMT;
	if (type == BM_S_IFIFO) {
		struct pipe_inode_info *pipe = BPF_CORE_READ(f, private_data);
		return BPF_CORE_READ(f, f_mode) & BM_FMODE_READ ? BPF_CORE_READ(pipe, fasync_readers) :
								 BPF_CORE_READ(pipe, fasync_writers);
	}
	if (type == BM_S_IFSOCK) {
		struct socket *so = BPF_CORE_READ(f, private_data);
		return BPF_CORE_READ(so, wq.fasync_list);
	}
	struct fsnotify_group *g = BPF_CORE_READ(f, private_data);
	return BPF_CORE_READ(g, fsn_fa);
}

/* The number signals of F report (si_fd): fa_fd of F's entry, which the
 * F_SETFL that set O_ASYNC made (fasync_insert_entry) and which stays when
 * that descriptor is closed.  Not found within the first 256 entries: not
 * valid. */
static __always_inline void read_fasync(struct file *f, struct bm_kstate_rec *r)
{
	struct fasync_struct *fa = fasync_list(f);
	r->kind = BM_KSTATE_FASYNC;
	for (int i = 0; i < 256 && fa; i++) {
		if (BPF_CORE_READ(fa, fa_file) == f) {
			r->a = (__u32)BPF_CORE_READ(fa, fa_fd);
			r->valid = 1;
			return;
		}
		fa = BPF_CORE_READ(fa, fa_next);
	}
}

/* The buffers of a pipe or FIFO (its file's private_data), from the
 * oldest (tail) to the newest (head), as fs/pipe.c keeps them in its ring
 * (bufs, ring_size a power of two): what each holds and where in its
 * page, and its flags; of them, the chunk from START
 * (BM_KSTATE_PIPE_CHUNK).  Read without the pipe's lock: its ends are all
 * in frozen processes, or (a FIFO) the reader compares the sum of the
 * lengths with the bytes tee(2) took (pipe_layout.h). */
static __always_inline void read_pipe(struct seq_file *seq, struct file *f, int fd, __u32 start)
{
	struct pipe_inode_info *pipe = BPF_CORE_READ(f, private_data);
	struct pipe_buffer *bufs = BPF_CORE_READ(pipe, bufs);
	unsigned int head = BPF_CORE_READ(pipe, head), tail = BPF_CORE_READ(pipe, tail);
	unsigned int mask = BPF_CORE_READ(pipe, ring_size) - 1, n = head - tail;
	struct bm_kstate_rec r = {.kind = BM_KSTATE_PIPE, .fd = fd, .valid = 1, .a = start,
				  .b = BM_KSTATE_PIPE_COUNT | n};
	bpf_seq_write(seq, &r, sizeof r);
	if (n > BM_KSTATE_PIPE_BUFS_MAX)
		return;
	/* The kernel's size of a buffer, not kernel.h's: CO-RE relocates
	 * members, an array's stride only so. */
	__u64 size = bpf_core_type_size(struct pipe_buffer);
	for (unsigned int i = 0; i < BM_KSTATE_PIPE_CHUNK && start + i < n; i++) {
		struct pipe_buffer *buf = (struct pipe_buffer *)((char *)bufs + ((tail + start + i) & mask) * size);
		r.a = BPF_CORE_READ(buf, offset) | (__u64)BPF_CORE_READ(buf, len) << 32;
		r.b = BPF_CORE_READ(buf, flags);
		bpf_seq_write(seq, &r, sizeof r);
	}
}

/* The credentials F keeps from its opening (f_cred): BM_KSTATE_OPENER
 * records, the groups of the first BM_KSTATE_OPENER_GROUPS_MAX. */
static __always_inline void read_opener(struct seq_file *seq, struct file *f, int fd)
{
	const struct cred *c = BPF_CORE_READ(f, f_cred);
	struct group_info *gi = BPF_CORE_READ(c, group_info);
	__u32 n = (__u32)BPF_CORE_READ(gi, ngroups);
	__u64 caps[5] = {};
	bpf_core_read(&caps[0], 8, &c->cap_inheritable);
	bpf_core_read(&caps[1], 8, &c->cap_permitted);
	bpf_core_read(&caps[2], 8, &c->cap_effective);
	bpf_core_read(&caps[3], 8, &c->cap_bset);
	bpf_core_read(&caps[4], 8, &c->cap_ambient);
	struct bm_kstate_rec r = {.kind = BM_KSTATE_OPENER, .fd = fd, .valid = 1};
	r.a = BPF_CORE_READ(c, uid.val) | (__u64)BPF_CORE_READ(c, gid.val) << 32;
	r.b = BPF_CORE_READ(c, euid.val) | (__u64)BPF_CORE_READ(c, egid.val) << 32;
	bpf_seq_write(seq, &r, sizeof r);
	r.part = 1;
	r.a = BPF_CORE_READ(c, suid.val) | (__u64)BPF_CORE_READ(c, sgid.val) << 32;
	r.b = BPF_CORE_READ(c, fsuid.val) | (__u64)BPF_CORE_READ(c, fsgid.val) << 32;
	bpf_seq_write(seq, &r, sizeof r);
	r.part = 2, r.a = caps[0], r.b = caps[1];
	bpf_seq_write(seq, &r, sizeof r);
	r.part = 3, r.a = caps[2], r.b = caps[3];
	bpf_seq_write(seq, &r, sizeof r);
	r.part = 4, r.a = caps[4], r.b = n;
	bpf_seq_write(seq, &r, sizeof r);
	for (__u32 i = 0; i < BM_KSTATE_OPENER_GROUPS_MAX / 4 && 4 * i < n; i++) {
		__u32 g[4] = {};
		for (__u32 k = 0; k < 4; k++)
			if (4 * i + k < n)
				bpf_core_read(&g[k], sizeof g[k], &gi->gid[4 * i + k]);
		r.part = (int)(BM_KSTATE_OPENER_GROUPS + i);
		r.a = g[0] | (__u64)g[1] << 32;
		r.b = g[2] | (__u64)g[3] << 32;
		bpf_seq_write(seq, &r, sizeof r);
	}
}

/* A walk of a file's POSIX and OFD locks (read_lockpos), one a step. */
struct lock_walk {
	struct list_head *at, *end; /* the next lock's list member; the list's head */
	struct file *f;             /* the open file whose OFD locks are sought */
	void *files;                /* the descriptor table whose POSIX locks are sought */
	__u64 offset;               /* flc_list's offset in struct file_lock_core */
	__u64 ofd, posix;           /* where its first of each kind is (BM_KSTATE_LOCKPOS_NONE: none yet) */
	int ended;                  /* the walk came back to the head */
};

static long lock_step(__u64 i, void *ctx)
{
	struct lock_walk *w = ctx;
	if (!w->at || w->at == w->end) {
		w->ended = w->at == w->end;
		return 1;
	}
	struct file_lock_core *c = (struct file_lock_core *)((char *)w->at - w->offset);
	void *owner = NULL;
	bpf_core_read(&owner, sizeof owner, &c->flc_owner);
	if (owner == (void *)w->f && w->ofd == BM_KSTATE_LOCKPOS_NONE)
		w->ofd = i;
	else if (owner == w->files && w->posix == BM_KSTATE_LOCKPOS_NONE)
		w->posix = i;
	struct list_head *at = w->at, *next = NULL;
	bpf_core_read(&next, sizeof next, &at->next);
	w->at = next;
	return 0;
}

/* Where the first OFD lock of open file F, and the first POSIX lock of
 * task T's process (of its descriptor table, taken through any open file
 * of F's inode), are in the list of the inode's POSIX and OFD locks
 * (fs/locks.c): the list keeps each owner's locks together, the owners in
 * the order they first took one, and a conflicting F_GETLK names the
 * first it meets.  Read without the list's lock: the process is stopped,
 * and kstate.c reads twice to see that no other process changed it. */
static __always_inline void read_lockpos(struct seq_file *seq, struct task_struct *t, struct file *f, int fd)
{
	struct bm_kstate_rec r = {.kind = BM_KSTATE_LOCKPOS, .fd = fd};
	struct lock_walk w = {.f = f, .files = BPF_CORE_READ(t, files), .ofd = BM_KSTATE_LOCKPOS_NONE, .posix = BM_KSTATE_LOCKPOS_NONE};
	if (bpf_core_type_exists(struct file_lock_core) && bpf_core_field_exists(struct inode, i_flctx)) {
		struct file_lock_context *ctx = BPF_CORE_READ(f, f_inode, i_flctx);
		w.offset = bpf_core_field_offset(struct file_lock_core, flc_list);
		if (ctx) {
			w.end = &ctx->flc_posix;
			w.at = BPF_CORE_READ(ctx, flc_posix.next);
			bpf_loop(BM_KSTATE_LOCKPOS_MAX + 1, lock_step, &w, 0);
		}
		r.valid = (unsigned int)(!ctx || w.ended);
	}
	r.a = w.ofd;
	r.b = w.posix;
	bpf_seq_write(seq, &r, sizeof r);
}

SEC("iter/task_file")
int read_file(struct bpf_iter__task_file *ctx)
{
	struct task_struct *t = ctx->task;
	struct file *f = ctx->file;
	__u32 fd = ctx->fd;
	if (!f || !t)
		return 0;
	__u32 *want = bpf_map_lookup_elem(&wanted, &fd);
	if (!want)
		return 0;
	__u32 kind = *want & BM_KSTATE_WANT_KIND, start = *want >> BM_KSTATE_WANT_START_SHIFT;
	if (*want & BM_KSTATE_WANT_FASYNC) {
		struct bm_kstate_rec fa = {.fd = (int)fd};
		read_fasync(f, &fa);
		bpf_seq_write(ctx->meta->seq, &fa, sizeof fa);
	}
	if (*want & BM_KSTATE_WANT_OPENER)
		read_opener(ctx->meta->seq, f, (int)fd);
	if (*want & BM_KSTATE_WANT_LOCKPOS)
		read_lockpos(ctx->meta->seq, t, f, (int)fd);
	struct bm_kstate_rec r = {.fd = (int)fd};
	if (kind == BM_KSTATE_WANT_UNIX_DGRAM || kind == BM_KSTATE_WANT_UDP_QUEUE) {
		if (read_dgram(f, kind == BM_KSTATE_WANT_UDP_QUEUE, &r))
			bpf_seq_write(ctx->meta->seq, &r, sizeof r);
		else if (kind == BM_KSTATE_WANT_UNIX_DGRAM)
			read_stream(ctx->meta->seq, f, (int)fd, start);
		return 0;
	}
	if (kind == BM_KSTATE_WANT_INOTIFY) {
		struct fsnotify_group *g = BPF_CORE_READ(f, private_data);
		r.kind = BM_KSTATE_INOTIFY;
		r.a = BPF_CORE_READ(g, inotify_data.idr.idr_next);
		r.valid = 1;
	} else if (kind == BM_KSTATE_WANT_LINKABLE) {
		/* An O_TMPFILE file made without O_EXCL and not linked since:
		 * linkat may give it a name (fs/namei.c, vfs_link). */
		struct inode *inode = BPF_CORE_READ(f, f_inode);
		r.kind = BM_KSTATE_LINKABLE;
		if (bpf_core_field_exists(inode->i_state) &&
		    bpf_core_enum_value_exists(enum inode_state_flags_t, I_LINKABLE)) {
			__u32 linkable = bpf_core_enum_value(enum inode_state_flags_t, I_LINKABLE);
			r.a = (BPF_CORE_READ(inode, i_state) & linkable) != 0;
			r.valid = 1;
		}
	} else if (kind == BM_KSTATE_WANT_TCP || kind == BM_KSTATE_WANT_UDP) {
		read_inet(f, kind, &r);
	} else if (kind == BM_KSTATE_WANT_PIPE) {
		read_pipe(ctx->meta->seq, f, (int)fd, start);
		return 0;
	} else {
		return 0;
	}
	bpf_seq_write(ctx->meta->seq, &r, sizeof r);
	return 0;
}
