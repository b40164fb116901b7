/* The records the BPF iterator programs of kstate.bpf.c write and kstate.c
 * reads: one fixed layout, the same for the BPF target and x86-64. */
#ifndef BINMIG_KSTATE_REC_H
#define BINMIG_KSTATE_REC_H

enum bm_kstate_kind {
	BM_KSTATE_PROCESS = 1, /* a = the POSIX timer id counter (signal_struct.next_posix_timer_id) */
	BM_KSTATE_INOTIFY = 2, /* a = the instance's next watch number (its idr's idr_next) */
	BM_KSTATE_LINKABLE = 3, /* a = 1 if the unlinked file may be linked again (I_LINKABLE), else 0 */
	BM_KSTATE_THREAD = 4,  /* fd = the thread's id in binmig's PID namespace; a = its time slice
				  (se.slice), b = 1 if the slice is its own (se.custom_slice); valid: the
				  kernel has custom_slice (Linux 6.12) */
	BM_KSTATE_PARENT_EXEC = 5, /* the leader: a = its exit signal (exit_signal), b = 1 if its parent has
				      run a program since it made it (parent_exec_id is not the parent's
				      self_exec_id) */
	BM_KSTATE_INET = 6,    /* a = BM_KSTATE_SK_* of a TCP or UDP socket; b = a TCP socket's MSS set by the
				  program (rx_opt.user_mss, 0 none) */
	BM_KSTATE_PIPE = 7,    /* a pipe's or FIFO's buffers, oldest first, a chunk a run (BM_KSTATE_WANT_START):
				  first a record with a = the chunk's first buffer, b = BM_KSTATE_PIPE_COUNT
				  | the number of buffers (head - tail); then, where they are at most
				  BM_KSTATE_PIPE_BUFS_MAX, one per buffer of the chunk (at most
				  BM_KSTATE_PIPE_CHUNK), a = its offset | its len << 32, b = its flags as
				  the kernel has them (PIPE_BUF_FLAG_*) */
	BM_KSTATE_DGRAM = 8,   /* a UDP socket's, or a unix datagram or seqpacket socket's, receive queue:
				  a = its messages (those walked: BM_KSTATE_DGRAM_MAX at most in each of
				  a UDP socket's two queues), b = BM_KSTATE_DGRAM_* */
	BM_KSTATE_FASYNC = 9,  /* a = the descriptor number its signals report (si_fd: fa_fd of the open
				  file's entry in its object's fasync list); valid: the entry was found */
	BM_KSTATE_STREAM = 10, /* a unix stream socket's receive queue, oldest first, a chunk a run
				  (BM_KSTATE_WANT_START): first a record with a = the bytes reads took from
				  its head (UNIXCB consumed) | the chunk's first skb << 32, b =
				  BM_KSTATE_STREAM_COUNT | the number of its skbs (qlen); then, where they
				  are at most BM_KSTATE_STREAM_SKBS_MAX, one per two skbs of the chunk (at
				  most BM_KSTATE_STREAM_CHUNK): a = the first's len, b = the second's (0:
				  none), each ORed with BM_KSTATE_STREAM_RIGHTS where it carries
				  descriptors in flight (UNIXCB fp) */
	BM_KSTATE_OPENER = 11, /* the credentials its open file keeps from its opening (f_cred), in records
				  numbered by part: 0: a = uid | gid << 32, b = euid | egid << 32; 1: a =
				  suid | sgid << 32, b = fsuid | fsgid << 32; 2: a = the inheritable
				  capabilities, b = the permitted; 3: a = the effective, b = the bounding
				  set; 4: a = the ambient, b = its supplementary groups' count; from
				  BM_KSTATE_OPENER_GROUPS on, its groups, four to a record (a = the first |
				  the second << 32, b = the third | the fourth << 32), of the first
				  BM_KSTATE_OPENER_GROUPS_MAX */
	BM_KSTATE_LOCKPOS = 12, /* where in the list of its file's POSIX and OFD locks (0 the head) the
				   first OFD lock of its open file is (a) and the first POSIX lock of the
				   process (b), BM_KSTATE_LOCKPOS_NONE for none; valid: the list was
				   walked to its end within BM_KSTATE_LOCKPOS_MAX, on a kernel whose
				   locks binmig reads (Linux 6.9 on) */
};

#define BM_KSTATE_LOCKPOS_MAX 65536u
#define BM_KSTATE_LOCKPOS_NONE (~0ull)

#define BM_KSTATE_OPENER_GROUPS 5
#define BM_KSTATE_OPENER_GROUPS_MAX 64u

/* BM_KSTATE_PIPE: the first record of a chunk; the most buffers of one
 * chunk (513 records of 32 bytes stay within the 32 KiB an iterator writes
 * for one descriptor); and the most of a ring read, in chunks: as many as
 * a ring has slots (fs/pipe.c round_pipe_size: 2 GiB of pages at most). */
#define BM_KSTATE_PIPE_COUNT (1ull << 32)
#define BM_KSTATE_PIPE_CHUNK 512u
#define BM_KSTATE_PIPE_BUFS_MAX (1u << 19)

/* BM_KSTATE_STREAM: the first record of a chunk; the most skbs of one
 * chunk (two to a record: 513 records stay within the 32 KiB); and the
 * most of a queue read, in chunks.  The send buffer bounds a queue's skbs
 * (each charged some 768 bytes at least): this many take 48 MiB of it,
 * more than SO_SNDBUF gives without SO_SNDBUFFORCE where
 * net.core.wmem_max is the kernel's default.  Each chunk's run walks the
 * queue from its head, so a whole queue's runs take time as the square of
 * its skbs: this bound keeps them within a tenth of a second. */
#define BM_KSTATE_STREAM_COUNT (1ull << 32)
#define BM_KSTATE_STREAM_START_SHIFT 32
#define BM_KSTATE_STREAM_CHUNK 1024u
#define BM_KSTATE_STREAM_SKBS_MAX (1u << 16)
#define BM_KSTATE_STREAM_RIGHTS (1ull << 31)

/* BM_KSTATE_INET: its sk_shutdown (RCV_SHUTDOWN 1, SEND_SHUTDOWN 2) in the
 * low bits, and: */
#define BM_KSTATE_SK_SHUTDOWN 3ull
#define BM_KSTATE_SK_REUSEPORT_PROG 4ull /* a program chooses in its SO_REUSEPORT group */
#define BM_KSTATE_SK_URGENT 8ull         /* TCP: urgent data sent, not acknowledged (snd_up != snd_una) */
#define BM_KSTATE_SK_ALL 15ull
#define BM_KSTATE_SK_READ 0x100u         /* kstate.c: the socket was read */
#define BM_KSTATE_SK_USER_MSS_SHIFT 16   /* kstate.c: b, the user's MSS, in the bits above */

/* BM_KSTATE_DGRAM: in B's low 32 bits, how many empty messages are
 * behind the head (a peek at an offset skips one a peek showed before:
 * skb->peeked), and: */
#define BM_KSTATE_DGRAM_BEHIND 0xffffffffull
#define BM_KSTATE_DGRAM_HEAD_EMPTY (1ull << 32)  /* the head is an empty message */
#define BM_KSTATE_DGRAM_HEAD_MARKED (1ull << 33) /* ... that a peek showed (skb->peeked) */
#define BM_KSTATE_DGRAM_MORE (1ull << 34)        /* a queue of more than BM_KSTATE_DGRAM_MAX: not all walked */
#define BM_KSTATE_DGRAM_MAX 4096u

/* What the file iterator reads of a descriptor (the map "wanted"). */
enum bm_kstate_want {
	BM_KSTATE_WANT_INOTIFY = 1,
	BM_KSTATE_WANT_LINKABLE = 2,
	BM_KSTATE_WANT_TCP = 3,
	BM_KSTATE_WANT_UDP = 4,
	BM_KSTATE_WANT_PIPE = 5, /* its buffers (BM_KSTATE_PIPE) */
	BM_KSTATE_WANT_UNIX_DGRAM = 6, /* a unix socket's queue: datagram or seqpacket (BM_KSTATE_DGRAM), stream
					  (BM_KSTATE_STREAM) */
	BM_KSTATE_WANT_UDP_QUEUE = 7,  /* a UDP socket's queue (BM_KSTATE_DGRAM): apart from WANT_UDP, so
					  that the pass over the sockets does not walk it too */
};

/* A flag ORed into the value, beside one of the above (compared as
 * value & BM_KSTATE_WANT_KIND): also a BM_KSTATE_FASYNC record, for a
 * pipe, FIFO, socket or inotify instance with O_ASYNC. */
#define BM_KSTATE_WANT_KIND 0xffu
#define BM_KSTATE_WANT_FASYNC 0x100u
/* ... and, for a file the restore opens by name, BM_KSTATE_OPENER records. */
#define BM_KSTATE_WANT_OPENER 0x200u
/* ... and, for the first descriptor of an open file holding a POSIX or
 * OFD lock, a BM_KSTATE_LOCKPOS record. */
#define BM_KSTATE_WANT_LOCKPOS 0x400u

/* And in the bits from BM_KSTATE_WANT_START_SHIFT up, for
 * BM_KSTATE_WANT_PIPE and a unix stream's BM_KSTATE_WANT_UNIX_DGRAM: the
 * first buffer or skb of the chunk to read (0: the first chunk; kstate.c
 * asks for the others in runs after it). */
#define BM_KSTATE_WANT_START_SHIFT 12

struct bm_kstate_rec {
	unsigned int kind; /* enum bm_kstate_kind */
	int part;          /* BM_KSTATE_OPENER: the record's part; else 0 */
	int fd;            /* a file's records: the descriptor; BM_KSTATE_THREAD: the thread (above);
			      else -1 */
	unsigned int valid; /* 1: A was read; 0: this kernel has no such field */
	unsigned long long a;
	unsigned long long b;
};

#endif
