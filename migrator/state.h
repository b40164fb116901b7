/* The process model: everything binmig carries from the source to the
 * destination except page contents, which stream separately (image.h).
 * The dump side fills it from /proc and ptrace, the image encodes it, the
 * restore side rebuilds the process from it.  All addresses are in the
 * target's address space. */
#ifndef BINMIG_STATE_H
#define BINMIG_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/user.h>

#define BM_PAGE_SIZE 4096UL
#define BM_NSIG 64              /* signals 1..64 */
#define BM_NRLIMITS 16          /* RLIMIT_CPU .. RLIMIT_RTTIME */
#define BM_AUXV_MAX 64          /* auxv words, pairs included (AT_VECTOR_SIZE is 2*(2+20+...)) */
#define BM_SIGINFO_SIZE 128
#define BM_MAX_GROUPS 64
#define BM_CODE_WINDOW 96       /* bytes of code kept around each thread's rip */
#define BM_CODE_BEFORE 64       /* of which before rip */

/* Address ranges [start, end), sorted and disjoint. */
struct bm_range {
	uint64_t start, end;
};

/* Identity of a file at dump time; restore refuses a file that changed. */
struct bm_file_id {
	uint64_t dev;
	uint64_t ino;
	uint64_t size;
	int64_t mtime_ns;
};

enum bm_vma_kind {
	BM_VMA_ANON = 1,        /* private or shared anonymous memory (heap and stack included) */
	BM_VMA_FILE = 2,        /* mapping of a regular file */
	BM_VMA_VDSO = 3,        /* [vdso] */
	BM_VMA_VVAR = 4,        /* [vvar] */
	BM_VMA_VVAR_VCLOCK = 5, /* [vvar_vclock] */
	BM_VMA_VSYSCALL = 6,    /* [vsyscall]: fixed by the kernel, recorded for inspect only */
};

/* bm_vma.flags */
#define BM_VMA_SHARED 0x1u    /* MAP_SHARED (else private) */
#define BM_VMA_HEAP 0x2u      /* [heap] */
#define BM_VMA_STACK 0x4u     /* [stack] */
#define BM_VMA_GROWSDOWN 0x8u /* VM_GROWSDOWN ("gd" in smaps VmFlags) */
#define BM_VMA_DELETED 0x10u  /* file was " (deleted)" at dump */
#define BM_VMA_SHMEM 0x20u    /* shared anonymous (/dev/zero, MAP_SHARED|MAP_ANONYMOUS, "/SYSV..."), contents stored */
#define BM_VMA_HUGEPAGE 0x40u /* MADV_HUGEPAGE was set ("hg") */
#define BM_VMA_NOHUGEPAGE 0x80u /* MADV_NOHUGEPAGE was set ("nh") */
#define BM_VMA_DONTDUMP 0x100u /* MADV_DONTDUMP ("dd") */
#define BM_VMA_LOCKED 0x200u  /* mlocked ("lo") */
#define BM_VMA_SHMFILE 0x400u /* shared mapping of a file on a memory filesystem (/dev/shm): its
				 contents travel, and the file is created at the destination if missing */
#define BM_VMA_DONTFORK 0x800u    /* MADV_DONTFORK ("dc") */
#define BM_VMA_WIPEONFORK 0x1000u /* MADV_WIPEONFORK ("wf") */
#define BM_VMA_MERGEABLE 0x2000u  /* MADV_MERGEABLE ("mg") */
#define BM_VMA_SEQ_READ 0x4000u   /* MADV_SEQUENTIAL ("sr") */
#define BM_VMA_RAND_READ 0x8000u  /* MADV_RANDOM ("rr") */
#define BM_VMA_LOCKONFAULT 0x10000u /* mlock2(MLOCK_ONFAULT) ("lf") */
#define BM_VMA_NORESERVE 0x20000u /* MAP_NORESERVE ("nr") */
#define BM_VMA_SEALED 0x40000u    /* mseal() ("sl") */
#define BM_VMA_MAYWRITE 0x80000u  /* may be made writable ("mw"): for a shared file mapping, the
				     file was opened for writing */
#define BM_VMA_UNLINKED 0x100000u /* a file whose name was removed, made again by the unlinked
				     descriptor of the same file (unlinked_map.h); with BM_VMA_DELETED */
#define BM_VMA_ACCOUNT 0x200000u  /* accounted ("ac", VM_ACCOUNT): private and writable once; one
				     read-only now is mapped writable and then protected at restore,
				     as only that makes the kernel account it again */
#define BM_VMA_DROPPABLE 0x400000u /* MAP_DROPPABLE ("dp"): private anonymous memory the kernel may
				      empty under pressure; mapped so again (version 11) */
#define BM_VMA_MAYBE_GUARD 0x800000u /* may hold guard pages ("gu", which stays once a guard was
					installed): bm_process.guards says which (version 11) */

/* The advice a VMA carries as flags, and the madvise() that sets each
 * again at restore (memory.c). */
struct bm_vma_advice {
	uint32_t flag;  /* BM_VMA_* */
	int advice;     /* MADV_* */
};
extern const struct bm_vma_advice bm_vma_advice[];
extern const unsigned bm_vma_advice_count;

struct bm_vma {
	uint64_t start, end;    /* [start, end), page aligned */
	uint32_t prot;          /* PROT_READ | PROT_WRITE | PROT_EXEC */
	uint32_t kind;          /* enum bm_vma_kind */
	uint32_t flags;         /* BM_VMA_* */
	uint64_t pgoff;         /* file offset in bytes (BM_VMA_FILE) */
	char *path;             /* mapped file (BM_VMA_FILE), malloc'd; NULL otherwise */
	struct bm_file_id file; /* BM_VMA_FILE only */
};

enum bm_fd_kind {
	BM_FD_REGULAR = 1,   /* regular file: path, flags, offset */
	BM_FD_DIRECTORY = 2, /* opened directory */
	BM_FD_DEVICE = 3,    /* character device from the safe list: /dev/null, /dev/zero, /dev/full, /dev/random, /dev/urandom */
	BM_FD_PIPE = 4,      /* anonymous pipe whose ends are all inside the process, with its buffered data */
	BM_FD_EVENTFD = 5,   /* eventfd with its counter */
	BM_FD_FIFO = 6,      /* named FIFO, reopened by path (its buffer stays in the kernel with the other end) */
	/* Only for a descriptor replaced by a policy (bm_fd.replaced, fd_policy.h): */
	BM_FD_CLOSED = 7,    /* --fd N=close: not opened at the destination */
	BM_FD_BROKEN_PIPE = 8,   /* --fd N=broken: a pipe end (O_RDONLY read, O_WRONLY write) whose other end is closed */
	BM_FD_BROKEN_SOCKET = 9, /* --fd N=broken: an AF_UNIX socket pair end whose peer is closed; object_flags
				    is its type (SOCK_STREAM, SOCK_DGRAM or SOCK_SEQPACKET) */
	BM_FD_TIMERFD = 10,  /* timerfd: its clock and settings are in bm_process.timers (image version 3) */
	/* Carried again (fd_watch.h): */
	BM_FD_SIGNALFD = 11, /* signalfd: object_id is its signal mask (bit N-1 for signal N) */
	BM_FD_EPOLL = 12,    /* epoll instance: object_id is its inode; data holds its registrations */
	/* Objects whose name is gone (unlinked.h); path is the former name, object_id the inode: */
	BM_FD_UNLINKED_FILE = 13, /* regular file: file is its identity; data its contents, with its first descriptor */
	BM_FD_UNLINKED_FIFO = 14, /* named FIFO, open for reading: object_flags and data as BM_FD_FIFO */
	BM_FD_UNLINKED_DIR = 15,  /* directory */
	BM_FD_INOTIFY = 16,       /* inotify instance: data holds its watches (fd_inotify.h) */
	BM_FD_UNIX_SOCKET = 17,   /* UNIX-domain socket whose peers are in the process: object_id is its
				     inode; data describes it, with its queue (sk_unix.h) */
	/* TCP and UDP sockets (sk_inet.h): object_id is the socket's inode; data its family, addresses,
	   state, options and, for a connection, its repair state and queues: */
	BM_FD_TCP = 18,
	BM_FD_UDP = 19,
};
#define BM_FD_KIND_MAX BM_FD_UDP
#define BM_FD_IS_UNLINKED(kind) ((kind) >= BM_FD_UNLINKED_FILE && (kind) <= BM_FD_UNLINKED_DIR)

/* What a policy did to a descriptor the process had (--fd, --stdio). */
enum bm_fd_action {
	BM_FD_CARRIED = 0,       /* nothing: carried as it was */
	BM_FD_TO_NULL = 1,       /* replaced by /dev/null */
	BM_FD_TO_CLOSED = 2,     /* left out */
	BM_FD_TO_FILE = 3,       /* replaced by a regular file */
	BM_FD_TO_BROKEN = 4,     /* replaced by a pipe or socket end whose peer is closed */
};

/* Which option asked for it. */
enum bm_fd_option { BM_FD_BY_FD_OPTION = 0, BM_FD_BY_STDIO_OPTION = 1 };

/* What a replaced descriptor was at the source, as its refusal would have
 * said it (fd_policy.c names them). */
enum bm_fd_origin {
	BM_ORIGIN_NONE = 0,      /* not replaced */
	BM_ORIGIN_REGULAR = 1,
	BM_ORIGIN_DIRECTORY = 2,
	BM_ORIGIN_CHARDEV = 3,
	BM_ORIGIN_TERMINAL = 4,
	BM_ORIGIN_BLOCKDEV = 5,
	BM_ORIGIN_FIFO = 6,      /* named FIFO */
	BM_ORIGIN_PIPE = 7,      /* anonymous pipe */
	BM_ORIGIN_SOCKET = 8,
	BM_ORIGIN_EVENTFD = 9,
	BM_ORIGIN_EPOLL = 10,
	BM_ORIGIN_SIGNALFD = 11,
	BM_ORIGIN_TIMERFD = 12,
	BM_ORIGIN_INOTIFY = 13,
	BM_ORIGIN_PIDFD = 14,
	BM_ORIGIN_ANON_INODE = 15, /* another anonymous inode */
	BM_ORIGIN_OTHER = 16,
};
#define BM_ORIGIN_MAX BM_ORIGIN_OTHER

/* The data extents of an unlinked file (unlinked_holes.h): [start, end)
 * ascending; a file's bytes elsewhere are holes. */
struct bm_extent {
	uint64_t start, end;
};
struct bm_holes {
	uint32_t n;
	struct bm_extent *x;    /* malloc'd */
	bool known;             /* false: an image before version 10: written whole */
};

/* What an unlinked file carries besides its contents, size, mode, owner
 * and mtime (unlinked_attrs.h; image version 11). */
struct bm_xattr {
	char *name;             /* "user.x", malloc'd */
	uint32_t len;
	uint8_t *value;         /* malloc'd, NULL when empty */
};
struct bm_file_attrs {
	bool known;             /* false: not an unlinked file's first entry, or an image before version 11 */
	int64_t atime_ns;       /* st_atim */
	uint32_t iflags;        /* FS_IOC_GETFLAGS, the flags chattr sets (BM_IFLAGS_CARRIED) */
	uint32_t nxattrs;
	struct bm_xattr *xattrs; /* malloc'd */
	struct bm_holes reserved; /* space allocated past the end (FALLOC_FL_KEEP_SIZE): [start, end) */
};
void bm_file_attrs_free(struct bm_file_attrs *a); /* unlinked_attrs.c */

/* bm_fd.sig_known */
#define BM_SIGIO_ASYNC_FD_KNOWN 1u /* sig_async_fd (BPF, kstate.h) */
#define BM_SIGIO_CREDS_KNOWN 2u    /* sig_cred_uid, sig_cred_euid (F_GETOWNER_UIDS) */
#define BM_SIGIO_KNOWN_ALL 3u
/* One buffer of a pipe's ring (pipe_layout.h). */
struct bm_pipe_buf {
	uint32_t offset, len; /* where its bytes lie in its page */
	uint32_t flags;       /* BM_PIPE_BUF_* */
};

/* A set of credentials (creds.h). */
struct bm_creds {
	uint32_t uid[4], gid[4];       /* real, effective, saved, filesystem */
	uint32_t ngroups;              /* supplementary groups, <= BM_MAX_GROUPS */
	uint32_t groups[BM_MAX_GROUPS];
	uint64_t cap_inh, cap_prm, cap_eff, cap_bnd, cap_amb;
};

struct bm_fd {
	int32_t fd;
	uint32_t kind;          /* enum bm_fd_kind */
	uint32_t flags;         /* open(2) flags as in fdinfo "flags:" (O_ACCMODE, O_APPEND, O_NONBLOCK, O_CLOEXEC, ...) */
	uint64_t pos;           /* file offset */
	int32_t shares_with;    /* lower fd number that refers to the same open file (kcmp), or -1 */
	uint32_t mode;          /* st_mode at dump */
	uint64_t rdev;          /* BM_FD_DEVICE */
	char *path;             /* malloc'd */
	struct bm_file_id file; /* BM_FD_REGULAR */
	uint64_t object_id;     /* BM_FD_PIPE: the pipe's inode (ends with one id are one pipe);
				   BM_FD_EVENTFD: the counter; BM_FD_SIGNALFD: the mask; BM_FD_EPOLL: the inode */
	uint32_t object_flags;  /* BM_FD_PIPE: capacity in bytes; BM_FD_EVENTFD: 1 for EFD_SEMAPHORE */
	uint32_t data_len;      /* BM_FD_PIPE: bytes buffered in the pipe, kept with its first read end;
				   BM_FD_EPOLL: its registrations, BM_WATCH_SIZE bytes each (fd_watch.h) */
	uint8_t *data;          /* malloc'd */
	/* A descriptor replaced by a policy: the fields above describe what the
	 * destination gets, these what the source had (for the report). */
	uint32_t replaced;      /* enum bm_fd_action */
	uint32_t replaced_by;   /* enum bm_fd_option */
	uint32_t was;           /* enum bm_fd_origin */
	char *was_link;         /* /proc/PID/fd/N at the source, malloc'd; NULL when not replaced */
	uint32_t locks_seen;    /* at dump only (not in the image): "lock:" lines in its fdinfo */
	uint32_t scm_fds_seen;  /* at dump only: a unix socket's descriptors in flight (fdinfo "scm_fds:") */
	uint32_t queue_seen;    /* at dump only: a unix socket's queue as binmig's BPF reader saw it
				   (BM_QUEUE_* of sk_dgram_kernel.h); 0: not read */
	/* 1: not a descriptor the process held, but an open file description
	 * in flight (SCM_RIGHTS) in one of its unix socket queues that it
	 * holds no descriptor of; the dump gave it this number (sk_unix_adopt.h)
	 * and the restore closes it once the queue is written (image version 8). */
	uint32_t in_flight;
	/* st_uid and st_gid at dump (image version 9): a pipe's or socket's
	 * owner is whoever made it, which the restore gives again. */
	uint32_t owner_uid, owner_gid;
	bool owner_known;       /* false: an image from before version 9 */
	struct bm_holes holes;  /* BM_FD_UNLINKED_FILE, with its data: where it has data (version 10) */
	/* Where its open file's signals go (fd_sigio.h; version 11): the owner
	 * as F_GETOWN_EX says (sig_owner 0: none; sig_owner_type F_OWNER_TID,
	 * F_OWNER_PID or F_OWNER_PGRP) and the signal of F_SETSIG (0: SIGIO).
	 * O_ASYNC is in flags. */
	int32_t sig_owner;
	uint32_t sig_owner_type;
	uint32_t sig;
	/* Read at dump for it too (version 15), each where sig_known says
	 * (BM_SIGIO_*_KNOWN): the number its signals report (si_fd), which
	 * the descriptor O_ASYNC was set through had; and the user ids (real,
	 * effective) its owner recorded from whoever set it. */
	uint32_t sig_known;
	int32_t sig_async_fd;
	uint32_t sig_cred_uid, sig_cred_euid;
	struct bm_file_attrs attrs; /* BM_FD_UNLINKED_FILE, with its data (version 11) */
	/* BM_FD_INOTIFY, an instance's first descriptor: the number its next
	 * watch gets, 1..INT_MAX, read at dump (kstate.h; version 14); 0: not
	 * read. */
	uint32_t next_wd;
	/* A pipe's or FIFO's descriptor that carries its bytes: how they lie
	 * in the buffers of its ring, oldest first, read at dump (kstate.h;
	 * version 15); none: not read, the restore writes them in one go
	 * (pipe_layout.h).  malloc'd. */
	uint32_t npipe_bufs;
	struct bm_pipe_buf *pipe_bufs;
	/* A unix stream socket's first descriptor: the lengths of the skbs of
	 * its receive queue, oldest first, and the bytes reads took from the
	 * head, read at dump (kstate.h; version 16); none: not read, the
	 * restore writes the queue in one go (sk_unix_stream_layout.h).
	 * malloc'd. */
	uint32_t nstream_skbs, stream_consumed;
	uint32_t *stream_skbs;
	/* A file the restore opens by name: the credentials its open file
	 * keeps from its opening (f_cred), read at dump (fd_opener.h; version
	 * 18); NULL: not read, opened as binmig.  malloc'd. */
	struct bm_creds *opener;
};

/* struct kernel_sigaction as the rt_sigaction system call sees it on x86-64. */
struct bm_sigaction {
	uint64_t handler;
	uint64_t flags;
	uint64_t restorer;
	uint64_t mask;
};

/* A queued signal, as PTRACE_PEEKSIGINFO returns it (raw siginfo_t). */
struct bm_siginfo {
	uint8_t raw[BM_SIGINFO_SIZE];
};

/* How a thread stopped, decided at dump by analysing the code at its
 * instruction pointer (analysis.h) and its registers. */
enum bm_stop_kind {
	BM_STOP_USER = 1,            /* in user code, not in a system call */
	BM_STOP_SYSCALL_RESTART = 2, /* in a system call that the kernel restarts (rax holds -ERESTART*) */
	BM_STOP_SYSCALL_DONE = 3,    /* a system call had completed (or returned -EINTR because of the stop) */
};

struct bm_thread {
	int32_t tid;
	char comm[16];                 /* the thread's name (PR_SET_NAME), NUL terminated */
	uint32_t stop_kind;            /* enum bm_stop_kind */
	struct user_regs_struct regs;  /* GPRs incl. fs_base/gs_base, orig_rax as the kernel reported them */
	uint8_t *xstate;               /* NT_X86_XSTATE, malloc'd */
	uint32_t xstate_len;
	uint64_t sigmask;
	uint64_t altstack_sp;          /* sigaltstack */
	uint64_t altstack_size;
	uint32_t altstack_flags;       /* SS_DISABLE / SS_AUTODISARM */
	uint64_t rseq_addr;            /* 0 = not registered */
	uint32_t rseq_len;
	uint32_t rseq_sig;
	uint64_t robust_list;          /* head, 0 = none */
	uint64_t robust_list_len;
	uint64_t clear_child_tid;      /* set_tid_address, 0 = none */
	struct bm_siginfo *pending;    /* thread-directed pending signals, malloc'd */
	uint32_t npending;
	/* Code around rip captured at dump, so that `inspect` can disassemble
	 * it from the image alone: code_len bytes starting at code_addr
	 * (normally rip - 64 .. rip + 32, clipped to readable memory). */
	uint64_t code_addr;
	uint32_t code_len;
	uint8_t code[BM_CODE_WINDOW];
};

/* Timers (timers.h).  Times are in nanoseconds, read at dump at
 * bm_timers.realtime_ns; restore counts what passed since as time that
 * passed for the clocks that run while a process is frozen. */
enum bm_itimer_which { BM_ITIMER_REAL = 0, BM_ITIMER_VIRTUAL = 1, BM_ITIMER_PROF = 2 };
#define BM_NITIMERS 3

struct bm_itimer {
	uint64_t value_ns;             /* until the next expiry not yet signalled; 0 = disarmed */
	uint64_t interval_ns;          /* 0 = one-shot */
};

struct bm_posix_timer {
	int32_t id;                    /* the kernel's timer id, which the process holds as timer_t */
	int32_t clockid;               /* as timer_create got it (CPU clocks encoded with a PID/TID or 0) */
	uint32_t notify;               /* sigev_notify as the kernel has it: SIGEV_SIGNAL, SIGEV_NONE,
					  SIGEV_THREAD, SIGEV_SIGNAL|SIGEV_THREAD_ID */
	int32_t signo;
	int32_t tid;                   /* SIGEV_THREAD_ID: the thread it signals; else 0 */
	uint64_t sigval;               /* sigev_value */
	uint64_t value_ns;             /* timer_gettime: until the next expiry; 0 = disarmed */
	uint64_t interval_ns;
	uint32_t pending;              /* 0, or, when its signal was queued and not yet delivered, its place
					  (1, 2, ...) among such timers in the order their signals were queued */
	int32_t overrun;               /* timer_getoverrun: the overruns counted in its last signal taken */
	bool absolute;                 /* CLOCK_REALTIME, armed with TIMER_ABSTIME: its deadline is
					  bm_timers.realtime_ns + value_ns, on the wall clock */
	bool stale;                    /* its pending signal was queued before the timer was set again
					  (a one-shot armed since): the kernel drops it at delivery */
	bool newest;                   /* the one the process made last (/proc/PID/timers lists it
					  first): the restore makes it last, and the kernel's id counter
					  follows it (timers_next_id.h) */
};

struct bm_timerfd {
	int32_t fd;                    /* a BM_FD_TIMERFD descriptor that shares with no lower one */
	int32_t clockid;
	uint32_t settime_flags;        /* TFD_TIMER_ABSTIME 1, TFD_TIMER_CANCEL_ON_SET 2 */
	uint64_t value_ns;             /* until the next expiry; 0 = disarmed */
	uint64_t interval_ns;
	uint64_t ticks;                /* expirations not read yet */
};

struct bm_timers {
	int64_t realtime_ns;           /* CLOCK_REALTIME once the timers had been read; 0 if not read */
	uint32_t restore_ids;          /* prctl(PR_TIMER_CREATE_RESTORE_IDS) mode, 0 or 1 */
	bool next_id_known;            /* next_id read at dump (kstate.h; image version 14) */
	uint32_t next_id;              /* the id the next timer_create hands out, 0..INT_MAX */
	struct bm_itimer itimers[BM_NITIMERS];
	struct bm_posix_timer *posix;  /* ascending ids, malloc'd */
	uint32_t nposix;
	struct bm_timerfd *timerfds;   /* ascending descriptors, malloc'd */
	uint32_t ntimerfds;
};

/* prctl(PR_SET_MM_MAP) fields and the exe link. */
struct bm_mm {
	uint64_t start_code, end_code;
	uint64_t start_data, end_data;
	uint64_t start_brk, brk;
	uint64_t start_stack;
	uint64_t arg_start, arg_end;
	uint64_t env_start, env_end;
	uint64_t auxv[BM_AUXV_MAX];
	uint32_t auxv_len;             /* words used in auxv, AT_NULL pair included */
	char *exe_path;                /* /proc/PID/exe at dump, malloc'd */
	struct bm_file_id exe_file;
};

struct bm_rlimit {
	uint64_t cur, max;
};

/* Process and thread attributes beside memory and registers (attrs.h). */
#define BM_AFFINITY_BYTES 128 /* 1024 CPUs */
#define BM_MDWE_KNOWN 0x3u    /* PR_MDWE_REFUSE_EXEC_GAIN | PR_MDWE_NO_INHERIT */
/* The registrations MEMBARRIER_CMD_GET_REGISTRATIONS reports: REGISTER_GLOBAL_EXPEDITED,
 * REGISTER_PRIVATE_EXPEDITED, ..._SYNC_CORE, ..._RSEQ. */
#define BM_MEMBARRIER_KNOWN ((1u << 2) | (1u << 4) | (1u << 6) | (1u << 8))
#define BM_COREDUMP_FILTER_KNOWN 0x1ffu /* bits 0..8 of coredump_filter */
#define BM_COREDUMP_FILTER_DEFAULT 0x33u /* a kernel without the file: the default */
#define BM_LOGINUID_UNSET 0xffffffffu
/* PR_GET_THP_DISABLE reads 1, or 1 | this where PR_SET_THP_DISABLE was
 * given PR_THP_DISABLE_EXCEPT_ADVISED (Linux 6.18): areas madvise'd
 * MADV_HUGEPAGE still get huge pages. */
#define BM_THP_DISABLE_EXCEPT_ADVISED 0x2u
/* futex_slots of a process whose kernel has no private futex hash
 * (before Linux 6.17: PR_FUTEX_HASH fails), or of an image before version 12. */
#define BM_FUTEX_SLOTS_UNKNOWN 0xffffffffu

struct bm_thread_attrs {
	int32_t tid;
	uint64_t timerslack_ns;        /* prctl(PR_GET_TIMERSLACK) */
	uint32_t sched_policy;         /* sched_getattr() */
	uint32_t sched_flags;          /* SCHED_FLAG_RESET_ON_FORK only */
	int32_t sched_nice;
	uint32_t sched_priority;
	uint32_t ioprio;               /* ioprio_get(IOPRIO_WHO_PROCESS) */
	uint32_t affinity_all;         /* 1: every CPU the source had online (the default) */
	uint32_t affinity_len;         /* bytes of affinity used */
	uint8_t affinity[BM_AFFINITY_BYTES];
	uint64_t spec_store_bypass;    /* prctl(PR_GET_SPECULATION_CTRL) */
	uint64_t spec_indirect_branch;
	int32_t pdeath_signal;         /* prctl(PR_GET_PDEATHSIG), 0 for none; version 6 */
	uint32_t cpuid_faulting;       /* 1: CPUID faults (arch_prctl ARCH_SET_CPUID 0); version 10 (attrs_modes.h) */
	uint64_t sched_slice;          /* a custom time slice (sched_setattr's sched_runtime under SCHED_OTHER, BATCH
					  or IDLE, Linux 6.12) in ns, 0 for the base slice; version 12 */
};

struct bm_attrs {
	bool present;                  /* images before version 3 have none */
	int32_t oom_score_adj;
	uint32_t no_new_privs;
	uint32_t thp_disable;          /* PR_GET_THP_DISABLE: 0, 1, or 1 | BM_THP_DISABLE_EXCEPT_ADVISED (version 12) */
	uint32_t child_subreaper;
	uint32_t securebits;
	uint32_t keepcaps;
	uint32_t mce_kill;             /* PR_MCE_KILL_GET */
	uint32_t tsc;                  /* PR_GET_TSC: PR_TSC_ENABLE or PR_TSC_SIGSEGV */
	uint32_t mlockall;             /* 0, MCL_FUTURE or MCL_FUTURE | MCL_ONFAULT */
	uint64_t cap_bounding;
	bool has_modes;                /* version 10: the fields of attrs_modes.h below were recorded */
	uint32_t mdwe;                 /* PR_GET_MDWE flags; version 10 (attrs_modes.h) */
	uint32_t memory_merge;         /* PR_GET_MEMORY_MERGE: KSM for all its memory; version 10 */
	uint64_t xcomp_perm;           /* arch_prctl(ARCH_GET_XCOMP_PERM): xstate features permitted (AMX); version 10 */
	uint32_t membarrier;           /* MEMBARRIER_CMD_GET_REGISTRATIONS: the registrations made; version 10 */
	uint32_t coredump_filter;      /* /proc/PID/coredump_filter; version 10 */
	uint32_t loginuid;             /* /proc/PID/loginuid (4294967295: unset); version 10 */
	uint32_t futex_slots;          /* PR_FUTEX_HASH_GET_SLOTS (BM_FUTEX_SLOTS_UNKNOWN: not read); version 12 */
	uint64_t xcomp_guest_perm;     /* arch_prctl(ARCH_GET_XCOMP_GUEST_PERM): xstate features its KVM guests may
					  use; version 12 */
	uint32_t autogroup_own;        /* 1: it leads its session (inspect says so); version 12 */
	int32_t autogroup_nice;        /* /proc/PID/autogroup's nice value, -20..19, written where its session is
					  one the restore made (autogroup.h); version 12 */
	uint32_t nthreads;
	struct bm_thread_attrs *threads; /* in the order of the image's threads, malloc'd */
};

struct bm_file_lock; /* file_locks.h */

/* An unlinked regular file that the process maps but holds no descriptor
 * of (unlinked_map.h): its contents travel on their own, once. */
struct bm_mapped_file {
	struct bm_file_id file; /* at the source: what its mappings name */
	uint32_t mode;          /* permission bits */
	char *path;             /* its former name, malloc'd */
	uint8_t *data;          /* file.size bytes, malloc'd */
	uint32_t memfd;         /* a memfd: BM_UNLINKED_MEMFD | its seals, else 0 (unlinked.h); version 6 */
	uint32_t owner_uid, owner_gid; /* its st_uid, st_gid; version 9 */
	bool owner_known;
	struct bm_holes holes;  /* where it has data; version 10 */
	struct bm_file_attrs attrs; /* version 11 */
};

struct bm_process {
	int32_t pid;
	int32_t ppid, pgid, sid;       /* informational except for session/group re-creation */
	char comm[16];                 /* NUL terminated */
	uint32_t personality;
	uint32_t umask;
	uint32_t uid[4], gid[4];       /* real, effective, saved, filesystem */
	uint32_t ngroups;              /* supplementary groups, <= BM_MAX_GROUPS */
	uint32_t groups[BM_MAX_GROUPS];
	uint32_t dumpable;             /* prctl(PR_GET_DUMPABLE) */
	char *cwd;                     /* malloc'd */
	bool cwd_removed;              /* the cwd was removed (unlinked.h); version 3 */
	uint32_t cwd_mode, cwd_uid, cwd_gid; /* a removed cwd's permission bits and owner; version 9 */
	bool cwd_known;                /* whether those were read (cwd_removed, an image of version 9) */
	char *root;                    /* malloc'd */
	char *cgroups;                 /* cgroup.h: a "CONTROLLERS:PATH" line per hierarchy, malloc'd; version 4
					  (NULL in an older image) */
	struct bm_rlimit rlimits[BM_NRLIMITS];
	struct bm_mm mm;

	struct bm_vma *vmas;           /* sorted by start, malloc'd */
	uint32_t nvmas;
	struct bm_range *guards;       /* guard pages (madvise MADV_GUARD_INSTALL), sorted, each within one
					  private VMA (memguard.h), malloc'd; version 11 */
	uint32_t nguards;
	struct bm_fd *fds;             /* sorted by fd, malloc'd */
	uint32_t nfds;
	uint32_t fd_table_size;        /* slots of its descriptor table ("FDSize:", fd_table.h); version 13 (0: not
					  recorded, and the restore leaves the table as it makes it) */
	struct bm_sigaction sigactions[BM_NSIG]; /* index = signal number - 1 */
	struct bm_siginfo *shared_pending;       /* process-directed pending signals, malloc'd */
	uint32_t nshared_pending;
	struct bm_thread *threads;     /* threads[0] is the thread group leader, malloc'd */
	uint32_t nthreads;
	struct bm_attrs attrs;
	struct bm_timers timers;
	struct bm_file_lock *locks;    /* file locks held (file_locks.h), malloc'd; version 4 */
	uint32_t nlocks;
	struct bm_mapped_file *mapped_files; /* unlinked files mapped with no descriptor (unlinked_map.h),
						malloc'd; version 5 */
	uint32_t nmapped_files;
	/* Read at dump (kstate.h), not in the image: it was made with an exit
	 * signal other than SIGCHLD and its parent has run a program since,
	 * so its exit sends SIGCHLD instead (refused in a tree, tree.h). */
	bool exit_sends_sigchld;
};

/* Frees everything the process model owns and zeroes it. */
void bm_process_free(struct bm_process *p);
/* Frees P's descriptors only (p->fds, p->nfds zero). */
void bm_process_free_fds(struct bm_process *p);

/* The descriptor numbered FD in FDS[0..count), sorted by number, or NULL. */
const struct bm_fd *bm_fd_find(const struct bm_fd *fds, uint32_t count, int32_t fd);

/* A process tree (tree.h): the dumped process and its descendants.  Each
 * node says where the process sits; a live or stopped one also has a
 * bm_process, in the same order. */
enum bm_tree_state {
	BM_TREE_LIVE = 0,
	BM_TREE_STOPPED = 1,     /* group-stopped (SIGSTOP, job control): stays stopped */
	BM_TREE_ZOMBIE = 2,      /* exited, not yet reaped: a zombie again, with its wait status */
	BM_TREE_STANDIN = 3,     /* never in an image: a stand-in of the plan (tree_standin.h) */
};

/* A member's session or group whose leader had exited at dump and was
 * not in the tree (image version 12): made again by a stand-in with the
 * leader's PID (tree_standin.h). */
#define BM_TREE_GONE_SID 1u
#define BM_TREE_GONE_PGID 2u

/* Wait reports a parent has not collected yet (waitid WNOWAIT at dump). */
#define BM_TREE_REPORT_STOPPED 1u   /* WSTOPPED would report it */
#define BM_TREE_REPORT_CONTINUED 2u /* WCONTINUED would report it */

/* What a member shares with its parent, which is a member too (image
 * version 7): one kernel object, made once by the parent and taken by the
 * child as it is created. */
#define BM_TREE_SHARES_FILES 1u /* the descriptor table (CLONE_FILES); the parent's record describes it */
#define BM_TREE_SHARES_FS 2u    /* cwd, root and umask (CLONE_FS) */

/* A zombie's credentials, signal sets and CPU affinity as /proc/PID/status
 * shows them (tree_creds.h). */

struct bm_tree_creds {
	struct bm_creds ids;           /* its ids, groups and capability sets */
	uint32_t loginuid;             /* /proc/PID/loginuid (BM_LOGINUID_UNSET: unset) */
	uint64_t sig_blk, sig_ign, sig_cgt; /* its blocked, ignored and caught signals (bit n-1: signal n) */
	uint64_t sig_pnd, shd_pnd;     /* its pending signals: its thread's, and the process's */
	uint32_t affinity_all;         /* 1: every CPU the source had online; else affinity: */
	uint32_t affinity_len;         /* bytes of affinity used */
	uint8_t affinity[BM_AFFINITY_BYTES]; /* its CPU affinity (Cpus_allowed) */
};

struct bm_tree_node {
	int32_t pid, ppid, pgid, sid;
	uint32_t state;                /* enum bm_tree_state */
	int32_t exit_status;           /* a zombie's wait status (WIFEXITED/WIFSIGNALED form); a stopped
					* process's stop (WIFSTOPPED form: its signal; image version 10) */
	uint32_t reports;              /* BM_TREE_REPORT_* */
	char comm[16];                 /* its name, NUL terminated (a zombie has no other record) */
	uint32_t shares;               /* BM_TREE_SHARES_* (after reports in the image) */
	int32_t exit_signal;           /* what its parent gets when it exits (clone's termination signal, 0
					* for none; /proc/PID/stat field 38); SIGCHLD before version 11 */
	uint32_t has_creds;            /* 1: creds below are the zombie's own (version 11); 0: its parent's */
	struct bm_tree_creds creds;    /* a zombie's credentials (tree_creds.h) */
	uint32_t gone;                 /* BM_TREE_GONE_* (version 12) */
};

struct bm_tree {
	struct bm_tree_node *nodes;    /* [0] is the root; parents before their children; malloc'd */
	uint32_t n;
};

#endif
