/* Readers of /proc/PID files.  Each parser works on text so that it can be
 * tested against captured samples; the bm_read_* functions read the live
 * file and call the parser.  Return 0 or a negative errno; parse errors are
 * -EINVAL.  These functions do not call bm_error: the caller knows what
 * the failure means. */
#ifndef BINMIG_PROCFS_H
#define BINMIG_PROCFS_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* One line of /proc/PID/maps. */
struct bm_maps_entry {
	uint64_t start, end;
	char perms[5];           /* "rwxp" / "r--s" ... */
	uint64_t offset;
	uint32_t dev_major, dev_minor;
	uint64_t inode;
	char path[PATH_MAX];     /* "" for anonymous; "[heap]", "[stack]", "[vdso]", "[vvar]", "[vvar_vclock]", "[vsyscall]", "[anon:NAME]", a file path (may contain spaces) */
	bool deleted;            /* path ended in " (deleted)", which is stripped from path */
	uint32_t vmflags;        /* BM_VMFLAG_* from smaps, filled by bm_read_smaps_vmflags */
	char vmflag_unknown[3];  /* the first VmFlags code binmig does not know ("" if none) */
	int32_t pkey;            /* smaps "ProtectionKey:", -1 when smaps has none (no pkeys) */
};

/* smaps "VmFlags:" two-letter codes that say something the maps line
 * does not (procfs_maps.c lists every code Linux 6.18 shows on x86-64;
 * rd wr ex sh mr me ms sd are known and need no bit). */
#define BM_VMFLAG_GD 0x01u  /* grows down */
#define BM_VMFLAG_SH 0x02u  /* shared */
#define BM_VMFLAG_HG 0x04u  /* MADV_HUGEPAGE */
#define BM_VMFLAG_NH 0x08u  /* MADV_NOHUGEPAGE */
#define BM_VMFLAG_DD 0x10u  /* MADV_DONTDUMP */
#define BM_VMFLAG_LO 0x20u  /* locked */
#define BM_VMFLAG_SL 0x40u  /* sealed system mapping */
#define BM_VMFLAG_IO 0x80u  /* memory mapped I/O (VM_IO) */
#define BM_VMFLAG_PF 0x100u /* pure PFN range (VM_PFNMAP) */
#define BM_VMFLAG_DC 0x200u /* MADV_DONTFORK */
#define BM_VMFLAG_WF 0x400u /* MADV_WIPEONFORK */
#define BM_VMFLAG_MG 0x800u /* MADV_MERGEABLE (KSM) */
#define BM_VMFLAG_SR 0x1000u /* MADV_SEQUENTIAL */
#define BM_VMFLAG_RR 0x2000u /* MADV_RANDOM */
#define BM_VMFLAG_LF 0x4000u /* locked on fault (mlock2 MLOCK_ONFAULT) */
#define BM_VMFLAG_NR 0x8000u /* MAP_NORESERVE */
#define BM_VMFLAG_SS 0x10000u /* shadow stack (x86 CET) */
#define BM_VMFLAG_MW 0x20000u /* may write (VM_MAYWRITE) */
#define BM_VMFLAG_DP 0x40000u /* droppable (MAP_DROPPABLE) */
#define BM_VMFLAG_GU 0x80000u /* may hold guard regions (MADV_GUARD_INSTALL) */
#define BM_VMFLAG_HT 0x100000u /* huge pages (MAP_HUGETLB, hugetlbfs) */
#define BM_VMFLAG_DE 0x200000u /* not to be expanded (VM_DONTEXPAND: kernel memory mapped) */
#define BM_VMFLAG_MM 0x400000u /* mixed page frames (VM_MIXEDMAP: device, DAX) */
#define BM_VMFLAG_AR 0x800000u /* architecture flag (VM_PAT on x86: device memory) */
#define BM_VMFLAG_SF 0x1000000u /* synchronous page faults (MAP_SYNC, DAX) */
#define BM_VMFLAG_UF 0x2000000u /* registered with userfaultfd for missing or minor faults ("um", "ui") */
#define BM_VMFLAG_AC 0x4000000u /* accounted (VM_ACCOUNT): private and writable once */
#define BM_VMFLAG_UW 0x8000000u /* write-protected through userfaultfd ("uw") */

int bm_parse_maps_line(const char *line, struct bm_maps_entry *e);
/* Parses a whole maps text into a malloc'd array. */
int bm_parse_maps(const char *text, struct bm_maps_entry **out, size_t *n);
int bm_read_maps(pid_t pid, struct bm_maps_entry **out, size_t *n);
/* The executable mappings one at a time, without the text of the others
 * (the PROCMAP_QUERY ioctl): bm_maps_query_open gives a descriptor (or
 * -errno); bm_maps_query_next_exec fills *e (as bm_parse_maps_line would,
 * but without vmflags) with the first executable mapping that ends above
 * addr: 1, 0 when there is none, -ENOTTY on a kernel without the ioctl,
 * other -errno. */
int bm_maps_query_open(pid_t pid);
int bm_maps_query_next_exec(int fd, uint64_t addr, struct bm_maps_entry *e);
/* Parses a whole smaps text and sets vmflags, vmflag_unknown and pkey of
 * the matching entries (matched by start address). */
int bm_parse_smaps_vmflags(const char *text, struct bm_maps_entry *e, size_t n);
int bm_read_smaps_vmflags(pid_t pid, struct bm_maps_entry *e, size_t n);

/* /proc/PID/status */
struct bm_proc_status {
	char name[64];           /* "Name:" with the kernel's escaping undone */
	char state;              /* 'R', 'S', 'D', 'T', 't', 'Z', 'X', 'I' */
	pid_t tgid, pid, ppid, tracer_pid;
	int threads;
	uint32_t umask;          /* "Umask:" */
	bool kthread;            /* "Kthread: 1" (kernels >= 6.7) */
	uint64_t sig_pnd, shd_pnd, sig_blk, sig_ign, sig_cgt;
	uint32_t uid[4], gid[4]; /* real, effective, saved, fs */
	uint32_t fd_size;        /* "FDSize:": the slots of its descriptor table (fd_table.h); 0 if absent */
};
int bm_parse_status(const char *text, struct bm_proc_status *s);
int bm_read_status(pid_t pid, struct bm_proc_status *s);

/* The supplementary groups of PID ("Groups:" of /proc/PID/status, in the
 * kernel's order: ascending) into GROUPS[0..*N), at most MAX (-E2BIG). */
int bm_read_groups(pid_t pid, uint32_t *groups, uint32_t max, uint32_t *n);

/* /proc/PID/stat (and /proc/PID/task/TID/stat).  comm may contain spaces
 * and parentheses: it runs from the first '(' to the last ')'. */
struct bm_proc_stat {
	pid_t pid;
	char comm[64];
	char state;
	pid_t ppid, pgrp, session;
	uint32_t flags;          /* PF_* (PF_KTHREAD = 0x00200000) */
	uint64_t num_threads;
	uint64_t starttime;
	uint64_t start_code, end_code, start_stack;    /* fields 26-28 */
	int exit_signal;         /* field 38: what the parent gets at its exit (-1 for a thread) */
	uint64_t start_data, end_data, start_brk;      /* fields 45-47 */
	uint64_t arg_start, arg_end, env_start, env_end; /* fields 48-51 */
	int exit_code;           /* field 52 */
};
int bm_parse_stat(const char *text, struct bm_proc_stat *s);
int bm_read_stat(pid_t pid, struct bm_proc_stat *s);

/* /proc/PID/fdinfo/FD */
struct bm_fdinfo {
	uint64_t pos;
	uint32_t flags;          /* octal "flags:" */
	uint32_t mnt_id;
	uint64_t ino;
	bool has_eventfd;        /* "eventfd-count:" present */
	uint64_t eventfd_count;
	uint32_t locks;          /* "lock:" lines: locks held through this descriptor (file_locks.h) */
	uint32_t scm_fds;        /* "scm_fds:" (unix sockets): descriptors in flight in its receive queue */
	bool has_timerfd;        /* all five timerfd lines present (a line of them alone is -EINVAL) */
	int32_t tfd_clockid;     /* "clockid:" */
	uint64_t tfd_ticks;      /* "ticks:", expirations not read yet */
	uint32_t tfd_settime_flags; /* octal "settime flags:" */
	uint64_t tfd_value_ns;   /* "it_value: (S, NS)", the time left */
	uint64_t tfd_interval_ns; /* "it_interval: (S, NS)" */
};
int bm_parse_fdinfo(const char *text, struct bm_fdinfo *f);
int bm_read_fdinfo(pid_t pid, int fd, struct bm_fdinfo *f);

/* One POSIX timer of /proc/PID/timers (four lines: "ID:", "signal:
 * SIGNO/SIGVAL" with SIGVAL in hex, "notify: HOW/pid.N" or ".../tid.N",
 * "ClockID:"). */
struct bm_proc_timer {
	int32_t id;              /* >= 0 */
	int32_t signo;           /* as given to timer_create (not checked by the kernel for SIGEV_NONE) */
	uint64_t sigval;
	uint32_t notify;         /* "signal" 0 (SIGEV_SIGNAL), "none" 1, "thread" 2, plus 4 (SIGEV_THREAD_ID) for "tid" */
	pid_t target;            /* the process (pid) or thread (tid) it signals, as this PID namespace sees it */
	int32_t clockid;
};
/* The timers in the order of the file (malloc'd; NULL when there are none). */
int bm_parse_timers(const char *text, struct bm_proc_timer **out, size_t *n);
int bm_read_timers(pid_t pid, struct bm_proc_timer **out, size_t *n);

/* An armed POSIX timer's hrtimer as /proc/timer_list (root only) shows it:
 * the clock base it is queued on ("clock N:", the kernel's base index:
 * 0 MONOTONIC, 1 REALTIME, 2 BOOTTIME, 3 TAI, 4..7 their soft variants)
 * and its expiry on that base's clock, in ns.  A CLOCK_REALTIME timer
 * armed with TIMER_ABSTIME is queued on REALTIME, one armed relative on
 * MONOTONIC (it must not follow a change of the wall clock). */
struct bm_hrtimer_entry {
	uint32_t base;
	uint64_t expires_ns;
};
/* The posix_timer_fn entries of every CPU, in the order of the file
 * (malloc'd; NULL when there are none).  -EINVAL for such an entry that is
 * not under a "clock N:" line or lacks its "# expires at" line. */
int bm_parse_timer_list(const char *text, struct bm_hrtimer_entry **out, size_t *n);
int bm_read_timer_list(struct bm_hrtimer_entry **out, size_t *n);

/* Sorted lists of open descriptors and of thread ids (malloc'd). */
int bm_list_fds(pid_t pid, int **fds, size_t *n);
int bm_list_tids(pid_t pid, pid_t **tids, size_t *n);

/* /proc/PID/limits: soft and hard limit of resources 0..n-1, in the
 * kernel's row order (RLIMIT_CPU first); "unlimited" is RLIM_INFINITY.
 * Readable without CAP_SYS_RESOURCE, unlike prlimit on another user's
 * process.  -EINVAL unless exactly n well-formed rows follow the header. */
int bm_parse_limits(const char *text, uint64_t (*lim)[2], int n);
int bm_read_limits(pid_t pid, uint64_t (*lim)[2], int n);

/* /proc/PID/auxv as 64-bit words, AT_NULL pair included. */
int bm_read_auxv(pid_t pid, uint64_t *words, uint32_t max_words, uint32_t *nwords);

/* readlink of /proc/PID/fd/FD (or any link), NUL terminated; " (deleted)"
 * is stripped and reported in *deleted (may be NULL). */
int bm_readlink(const char *link, char *buf, size_t len, bool *deleted);

/* Reads a whole (proc) file into a malloc'd NUL-terminated buffer. */
int bm_read_text(const char *path, char **text, size_t *len);
/* The same for /proc/PID/NAME. */
int bm_read_proc_text(pid_t pid, const char *name, char **text);
/* Writes TEXT to /proc/PID/NAME in one write: 0 or -errno. */
int bm_write_proc_text(pid_t pid, const char *name, const char *text);

/* A list of PIDs as /proc/PID/task/TID/children has it ("12 34 \n"):
 * stores the first max of them in pids (which may be NULL when max is 0),
 * their total count in *n.  -EINVAL for anything but positive numbers
 * separated by spaces. */
int bm_parse_pid_list(const char *text, pid_t *pids, size_t max, size_t *n);
/* The children of every thread of PID (zombies included): the first max in
 * children, the total in *n. */
int bm_list_children(pid_t pid, pid_t *children, size_t max, size_t *n);

/* /proc/TID/syscall: the system call a blocked thread is in and its six
 * arguments; *nr is -1 when it is in none ("running", or "-1 SP PC").
 * -EINVAL for text of another form. */
int bm_parse_syscall(const char *text, long *nr, uint64_t args[6]);
/* Whether thread tid is blocked in vfork (vfork, or clone or clone3 with
 * CLONE_VFORK): the parent of a child that shares its memory until the
 * child runs a program or exits.  1 with that child in *child (0 if it
 * cannot be told), 0 if not, -errno. */
int bm_vfork_child(pid_t tid, pid_t *child);
/* Whether kid is the vfork child of a thread of process pid. */
bool bm_is_vfork_child(pid_t pid, pid_t kid);

#endif
