/* The few kernel types kstate.bpf.c reads, declared with only the members
 * it uses.  libbpf relocates every access by name against the running
 * kernel's BTF (CO-RE: preserve_access_index), so the layout here need
 * not match any kernel's; a member the kernel lacks fails the load, or,
 * where guarded by bpf_core_field_exists, reads as not valid. */
#ifndef BINMIG_KSTATE_KERNEL_H
#define BINMIG_KSTATE_KERNEL_H

typedef unsigned char __u8;
typedef signed char __s8;
typedef unsigned short __u16;
typedef short __s16;
typedef unsigned int __u32;
typedef int __s32;
typedef unsigned long long __u64;
typedef long long __s64;
typedef __u16 __be16;
typedef __u32 __be32;
typedef __u32 __wsum;

/* the map definitions of bpf_helpers.h */
enum bpf_map_type {
	BPF_MAP_TYPE_HASH = 1,
	BPF_MAP_TYPE_ARRAY = 2,
};

enum {
	BPF_F_NO_PREALLOC = 1,
};

#pragma clang attribute push(__attribute__((preserve_access_index)), apply_to = record)

typedef struct {
	int counter;
} atomic_t;

struct signal_struct {
	atomic_t next_posix_timer_id;
};

struct sched_entity {
	unsigned char custom_slice; /* Linux 6.12 */
	__u64 slice;
};

struct pid_namespace;

struct upid {
	int nr;
	struct pid_namespace *ns;
};

struct pid {
	unsigned int level;
	struct upid numbers[1];
};

struct task_struct {
	int pid;
	int tgid;
	struct pid *thread_pid;
	struct signal_struct *signal;
	struct sched_entity se;
	int exit_signal;
	struct task_struct *real_parent;
	__u64 parent_exec_id;
	__u64 self_exec_id;
	struct files_struct *files; /* its descriptor table: the owner of its POSIX locks */
};

struct idr {
	unsigned int idr_next;
};

struct inotify_group_private_data {
	struct idr idr;
};

struct fasync_struct;

struct fsnotify_group {
	union {
		void *private;
		struct inotify_group_private_data inotify_data;
	};
	struct fasync_struct *fsn_fa;
};

/* Its values are relocated too (bpf_core_enum_value): the kernel
 * renumbers them. */
enum inode_state_flags_t {
	I_LINKABLE = 1 << 11,
};

struct list_head {
	struct list_head *next;
};

/* A file's byte-range locks, POSIX and OFD in one list (fs/locks.c):
 * each owner's together, the owners in the order they first took one.
 * Since Linux 6.9 a lock's list member is in its file_lock_core. */
struct file_lock_context {
	struct list_head flc_posix;
};

struct file_lock_core {
	struct list_head flc_list;
	void *flc_owner; /* an OFD lock's: its open file; a POSIX lock's: its process's files_struct */
};

struct inode {
	unsigned short i_mode;
	enum inode_state_flags_t i_state;
	struct file_lock_context *i_flctx;
};

/* The credentials an open file keeps from its opening (kstate.bpf.c
 * read_opener): ids are structs of one number; a capability set is read
 * as the 8 bytes it is, a u64 since Linux 6.3 and two u32 before, which
 * on a little-endian machine hold the same value. */
typedef struct {
	__u32 val;
} kuid_t;

typedef struct {
	__u32 val;
} kgid_t;

typedef struct {
	__u64 val;
} kernel_cap_t;

struct group_info {
	int ngroups;
	kgid_t gid[];
};

struct cred {
	kuid_t uid, suid, euid, fsuid;
	kgid_t gid, sgid, egid, fsgid;
	kernel_cap_t cap_inheritable, cap_permitted, cap_effective, cap_bset, cap_ambient;
	struct group_info *group_info;
};

struct file {
	unsigned int f_mode;
	struct inode *f_inode;
	void *private_data;
	const struct cred *f_cred;
};

/* An open file's entry in its object's list of signal-driven I/O
 * (kstate.bpf.c read_fasync): fa_fd is what its signals report (si_fd). */
struct fasync_struct {
	int fa_fd;
	struct fasync_struct *fa_next;
	struct file *fa_file;
};

/* A pipe or FIFO: its signal-driven I/O (read_fasync) and its ring of
 * buffers (read_pipe; head and tail are members of an anonymous struct in
 * a union since Linux 6.14, found all the same). */
struct pipe_buffer {
	unsigned int offset;
	unsigned int len;
	unsigned int flags;
};

struct pipe_inode_info {
	unsigned int head;
	unsigned int tail;
	unsigned int ring_size;
	struct pipe_buffer *bufs;
	struct fasync_struct *fasync_readers;
	struct fasync_struct *fasync_writers;
};

/* A TCP or UDP socket (kstate.bpf.c read_inet) */
struct bpf_prog;

struct sock_reuseport {
	struct bpf_prog *prog;
};

struct sk_buff {
	struct sk_buff *next;
	unsigned int len;
	__u8 peeked : 1; /* an empty message a peek showed (net/core/datagram.c) */
	char cb[48];     /* the protocol's: a unix socket's struct unix_skb_parms */
};

struct scm_fp_list;

/* What af_unix keeps in an skb's cb (UNIXCB): of a stream's, the bytes
 * reads have taken from it (net/unix/af_unix.c, unix_skb_len). */
struct unix_skb_parms {
	struct scm_fp_list *fp; /* the descriptors in flight with it (SCM_RIGHTS), or NULL */
	__u32 consumed;
};

struct sk_buff_head {
	struct sk_buff *next;
	__u32 qlen;
};

struct sock {
	unsigned char sk_shutdown; /* a 2-bit field before Linux 6.5: read with BPF_CORE_READ_BITFIELD_PROBED */
	struct sock_reuseport *sk_reuseport_cb;
	struct sk_buff_head sk_receive_queue;
};

/* A UDP socket's datagrams: those its reads have moved from
 * sk_receive_queue, read first (net/ipv4/udp.c, __skb_recv_udp). */
struct udp_sock {
	struct sk_buff_head reader_queue;
};

struct tcp_options_received {
	__u16 user_mss;
};

struct tcp_sock {
	__u32 snd_una;
	__u32 snd_up;
	struct tcp_options_received rx_opt;
};

struct socket_wq {
	struct fasync_struct *fasync_list;
};

struct socket {
	short type;
	struct sock *sk;
	struct socket_wq wq;
};

struct seq_file;

struct bpf_iter_meta {
	struct seq_file *seq;
};

struct bpf_iter__task {
	struct bpf_iter_meta *meta;
	struct task_struct *task;
};

struct bpf_iter__task_file {
	struct bpf_iter_meta *meta;
	struct task_struct *task;
	__u32 fd;
	struct file *file;
};

#pragma clang attribute pop

#endif
