/* Fault points: the steps of dump, migrate (both sides) and restore where
 * something outside binmig can fail (the process, the network, the disk),
 * numbered, so that a test can make any one of them fail and check that
 * the failure is handled as promised (the source process resumes, nothing
 * is left at the destination, the message names the phase, the exit code
 * is the documented one).  SQLite's fault simulation and CRIU's FI_*
 * points are the model.
 *
 * A point is placed where the step's real call is made, so that an
 * injected failure takes the very path a real one would:
 *
 *	if (bm_fault(BM_FP_SEIZE) || ptrace(PTRACE_SEIZE, ...) < 0)
 *		... errno says why ...
 *
 * bm_fault() is false in ordinary builds.  In a build with
 * -DBM_FAULT_INJECTION (make test-build) one point can be armed: by name
 * or number, optionally ":N" for its N-th pass (default the first); it
 * fails once, with its errno.  With "/crash" after it, binmig instead
 * kills itself with SIGKILL there, as if it had crashed at that step.  The commands arm from the environment
 * variable BINMIG_FAULT; `binmig serve` arms each migration's worker from
 * the file named by BINMIG_SERVE_FAULT_FILE, read when the migration
 * starts, so a test can choose a point per migration.  When the variable
 * BINMIG_FAULT_LOG names a file, each injected failure appends its point's
 * name there.  `binmig fault-points` lists the points. */
#ifndef BINMIG_FAULT_H
#define BINMIG_FAULT_H

#include <stdbool.h>
#include <stdio.h>

/* Where a point lies: the commands and modes whose path goes through it
 * (the fault walk, tests/e2e/fault-walk.sh, arms it exactly there). */
enum bm_fault_where {
	BM_FW_DUMP = 1 << 0,       /* binmig dump */
	BM_FW_RESTORE = 1 << 1,    /* binmig restore */
	BM_FW_SRC_STREAM = 1 << 2, /* binmig migrate --mode stream */
	BM_FW_SRC_FILE = 1 << 3,   /* binmig migrate --mode file */
	BM_FW_DST_STREAM = 1 << 4, /* serve's worker, stream mode */
	BM_FW_DST_FILE = 1 << 5,   /* serve's worker, file mode */
	BM_FW_PRECOPY = 1 << 6,    /* binmig migrate --mode precopy, and the dump's page scan: the
				      failure makes binmig fall back, not fail (not walked) */
	BM_FW_LOCKS = 1 << 7,      /* binmig migrate of a process holding file locks (not walked: the
				      workload holds none; tests/e2e/locks-migrate.sh arms them) */
	BM_FW_POSTCOPY = 1 << 8,   /* binmig migrate --mode postcopy and its destination (not walked:
				      tests/e2e/migrate-postcopy.sh arms them) */
	BM_FW_SIGNAL = 1 << 9,     /* not a failure: a signal from outside reaching the process at that
				      step, which binmig must bear (not walked: tests/e2e/inject-sweep.sh
				      arms it) */
	BM_FW_FALLBACK = 1 << 10,  /* a kernel feature missing: binmig takes an older way, the
				      restore does not fail (not walked: the test of that way arms it) */
	BM_FW_OPENER = 1 << 11,    /* a restore opening a file as the other credentials that opened it
				      (not walked: the workload's files are binmig's own; tests/e2e/opener.sh
				      arms it) */
	BM_FW_SRC = BM_FW_SRC_STREAM | BM_FW_SRC_FILE,
	BM_FW_DST = BM_FW_DST_STREAM | BM_FW_DST_FILE,
	BM_FW_ALL = BM_FW_DUMP | BM_FW_RESTORE | BM_FW_SRC | BM_FW_DST,
};

/* X(NAME, ERRNO, WHERE, "what fails"): NAME in upper case for the enum;
 * its lower-case form with dashes is the name a test uses. */
#define BM_FAULT_POINTS(X)                                                                   \
	/* taking the process (source) */                                                    \
	X(SEIZE, EPERM, BM_FW_DUMP | BM_FW_SRC, "seizing a thread with ptrace")                                      \
	X(STOP_WAIT, EIO, BM_FW_DUMP | BM_FW_SRC, "waiting for a seized thread to stop")                             \
	X(READ_REGS, EIO, BM_FW_ALL, "reading a thread's registers")                       \
	X(INJECT, EIO, BM_FW_ALL, "a system call run inside a process")                    \
	X(READ_MAPS, EIO, BM_FW_DUMP | BM_FW_SRC, "reading /proc/PID/maps")                                          \
	X(READ_XSTATE, EIO, BM_FW_DUMP | BM_FW_SRC, "reading a thread's FPU/AVX state")                              \
	X(READ_FDINFO, EIO, BM_FW_DUMP | BM_FW_SRC, "reading /proc/PID/fdinfo of a descriptor")                      \
	X(COPY_PIPE, EIO, BM_FW_DUMP | BM_FW_SRC, "copying the bytes buffered in a pipe")                            \
	X(READ_PAGEMAP, EIO, BM_FW_DUMP | BM_FW_SRC, "reading /proc/PID/pagemap")                                    \
	X(READ_MEMORY, EFAULT, BM_FW_DUMP | BM_FW_SRC, "reading the process's memory")                              \
	X(READ_TIMERS, EIO, BM_FW_DUMP | BM_FW_SRC, "reading the process's timers (/proc/PID/timers)")             \
	/* the image on disk */                                                              \
	X(WRITE_IMAGE, ENOSPC, BM_FW_DUMP | BM_FW_SRC_FILE, "writing the image file")                                     \
	X(SYNC_IMAGE, EIO, BM_FW_DUMP, "syncing the image file (dump)")                                  \
	X(RENAME_IMAGE, EIO, BM_FW_DUMP, "renaming IMAGE.partial to IMAGE (dump)")                       \
	X(READ_IMAGE, EIO, BM_FW_RESTORE | BM_FW_DST_FILE, "reading the image file")                                         \
	X(WRITE_RECEIVED, ENOSPC, BM_FW_DST_FILE, "writing a received image to the daemon's workdir")       \
	/* the network */                                                                    \
	X(CONNECT, ECONNREFUSED, BM_FW_SRC, "connecting to the destination")                            \
	X(SEND_HELLO, EPIPE, BM_FW_SRC, "sending HELLO")                                                \
	X(RECV_CHALLENGE, ECONNRESET, BM_FW_SRC, "receiving CHALLENGE")                                 \
	X(SEND_PROOF, EPIPE, BM_FW_SRC, "sending the client's PROOF")                                   \
	X(RECV_PROOF, ECONNRESET, BM_FW_SRC, "receiving the server's PROOF")                            \
	X(SEND_START, EPIPE, BM_FW_SRC, "sending START")                                                \
	X(RECV_START, ECONNRESET, BM_FW_DST, "receiving START")                                         \
	X(SEND_IMAGE, EPIPE, BM_FW_SRC, "sending IMAGE_DATA")                                           \
	X(RECV_IMAGE, ECONNRESET, BM_FW_DST, "receiving the image stream")                              \
	X(OPEN_FRAME, EBADMSG, BM_FW_SRC | BM_FW_DST, "authenticating a sealed frame (its AEAD tag)")        \
	X(SEND_IMAGE_END, EPIPE, BM_FW_SRC, "sending IMAGE_END")                                        \
	X(SEND_RESULT, EPIPE, BM_FW_DST, "sending RESULT")                                              \
	X(RECV_RESULT, ECONNRESET, BM_FW_SRC, "receiving RESULT")                                       \
	X(SEND_CONFIRM, EPIPE, BM_FW_SRC, "sending CONFIRM")                                            \
	X(RECV_CONFIRM, ECONNRESET, BM_FW_DST, "receiving CONFIRM")                                     \
	/* building the process (destination) */                                            \
	X(CLONE, EAGAIN, BM_FW_RESTORE | BM_FW_DST, "creating the new process with its PID")                            \
	X(TRACE_NEW, EPERM, BM_FW_RESTORE | BM_FW_DST, "tracing the new process")                                       \
	X(REOPEN_FD, ENOENT, BM_FW_RESTORE | BM_FW_DST, "reopening a descriptor in the new process")                    \
	X(MAP_MEMORY, ENOMEM, BM_FW_RESTORE | BM_FW_DST, "mapping a memory area in the new process")                    \
	X(WRITE_MEMORY, EFAULT, BM_FW_RESTORE | BM_FW_DST, "writing the new process's memory")                         \
	X(SET_MM, EINVAL, BM_FW_RESTORE | BM_FW_DST, "setting the new process's mm fields (PR_SET_MM_MAP)")             \
	X(CREATE_THREAD, EAGAIN, BM_FW_RESTORE | BM_FW_DST, "creating a thread with its TID")                           \
	X(SET_TIMERS, EINVAL, BM_FW_RESTORE | BM_FW_DST, "setting the new process's timers")                           \
	X(SET_CREDENTIALS, EPERM, BM_FW_RESTORE | BM_FW_DST, "setting a thread's credentials")                          \
	X(SET_CONTEXT, EIO, BM_FW_RESTORE | BM_FW_DST, "setting a thread's registers and FPU/AVX state")      \
	X(KSTATE, EPERM, BM_FW_FALLBACK, "loading binmig's BPF programs (the dump goes on without the counters they read, and warns)") \
	X(KSTATE_CHUNK, EIO, BM_FW_FALLBACK, "a run of binmig's BPF reader after the first, reading a pipe's ring or a unix stream's queue on (those read in part go as without the programs, and the dump warns)") \
	X(INOTIFY_NEXT_WD, ENOTTY, BM_FW_FALLBACK, "setting an inotify instance's next watch number (INOTIFY_IOC_SETNEXTWD; the restore takes the numbers between with fillers)") \
	X(SET_ATTRS, EPERM, BM_FW_RESTORE | BM_FW_DST, "setting a thread's scheduling attributes")                \
	X(DETACH, EIO, BM_FW_RESTORE | BM_FW_DST, "letting the new process run") \
	/* the memory plan of stream and file mode (memplan.h), before the freeze */ \
	X(MEMPLAN_SEND, EPIPE, BM_FW_SRC, "sending the memory plan (the process was never stopped)") \
	X(MEMPLAN_READY, EIO, BM_FW_DST, "making the planned memory ready at the destination") \
	/* pre-copy (migrate --mode precopy) and the dump's page scan */ \
	X(PAGEMAP_SCAN, ENOTTY, BM_FW_PRECOPY, "the PAGEMAP_SCAN ioctl (dump reads pagemap instead; pre-copy unavailable)") \
	X(PRECOPY_UFFD, ENOSYS, BM_FW_PRECOPY, "creating the pre-copy userfaultfd in the process (pre-copy unavailable)") \
	X(PRECOPY_SEND, EPIPE, BM_FW_PRECOPY, "sending a pre-copy round (the migration fails, the process runs on)") \
	/* post-copy (migrate --mode postcopy) */ \
	X(POSTCOPY_SEND, EPIPE, BM_FW_POSTCOPY, "sending pages after the process runs at the destination (the process is lost)") \
	X(POSTCOPY_PLACE, EIO, BM_FW_POSTCOPY, "placing an arrived page at the destination (the process is lost)") \
	/* file locks of a migrating process (file_locks.h) */ \
	X(RELEASE_LOCK, EIO, BM_FW_LOCKS, "releasing a file lock at the source (the migration fails, the process runs on)") \
	X(TAKE_BACK_LOCK, EAGAIN, BM_FW_LOCKS, "taking a file lock back at the source (the process is left stopped)") \
	X(OPENER_TASK, EAGAIN, BM_FW_OPENER, "making the task that opens a file as the credentials that opened it (as a cgroup at pids.max would: the restore fails)") \
	X(LOCK_STANDIN, EAGAIN, BM_FW_LOCKS, "making the stand-in that takes again a lock whose taker has exited (the restore fails; at the source the process is left stopped)") \
	/* not a failure: a signal from outside (pending_stop.h) */ \
	X(STOP_IN_CALL, 0, BM_FW_SIGNAL, "a SIGSTOP sent to a thread as a system call starts in it (set aside, given back)")

enum bm_fault_point {
	BM_FP_NONE,
#define BM_FAULT_ENUM(name, err, where, what) BM_FP_##name,
	BM_FAULT_POINTS(BM_FAULT_ENUM)
#undef BM_FAULT_ENUM
	BM_FP_COUNT
};

#ifdef BM_FAULT_INJECTION
extern enum bm_fault_point bm_fault_armed;
bool bm_fault_fire(enum bm_fault_point p);
/* True (with errno set) when the armed point is reached for the chosen
 * time; the point is then disarmed. */
static inline bool bm_fault(enum bm_fault_point p)
{
	return p != BM_FP_NONE && bm_fault_armed == p && bm_fault_fire(p);
}
#else
static inline bool bm_fault(enum bm_fault_point p)
{
	(void)p;
	return false;
}
#endif

/* 0, or -errno of the injected failure: for calls that return -errno. */
int bm_fault_rc(enum bm_fault_point p);

/* Arms the point SPEC names ("name", "number", either with ":N"); NULL or
 * "" disarms.  -EINVAL for an unknown point (reported), -ENOTSUP in a build
 * without fault injection (a non-empty SPEC; reported). */
int bm_fault_arm(const char *spec);
/* Arms from the environment variable BINMIG_FAULT. */
int bm_fault_arm_from_env(void);
/* Arms from the first line of the file named by BINMIG_SERVE_FAULT_FILE
 * (nothing when unset or missing). */
int bm_fault_arm_from_serve_file(void);

/* Prints "NUMBER NAME WHERE  what fails" for every point, WHERE a comma
 * list of dump, restore, src-stream, src-file, dst-stream, dst-file,
 * precopy, locks, postcopy. */
void bm_fault_list(FILE *out);
bool bm_fault_injection_built(void);

/* Test builds only (nothing in others): a point where a test looks at
 * what binmig has done before binmig goes on.  binmig creates DIR/MADE
 * holding the line LINE and waits, at most 30 s, for DIR/AWAITED. */
void bm_test_gate(const char *dir, const char *made, const char *line, const char *awaited);
/* The same without waiting: creates DIR/MADE (once) and says whether
 * DIR/AWAITED exists (always true in other builds). */
bool bm_test_gate_open(const char *dir, const char *made, const char *line, const char *awaited);
/* With BINMIG_TEST_EXIT_GATE=DIR, binmig, its command done, stops at the
 * gate DIR/exiting ("exiting"), DIR/go before it exits: a test sees what
 * a refusal or a failure left while binmig still lives (its tracees are
 * let go by the kernel once it exits, whatever binmig did). */
void bm_test_exit_gate(void);
/* With BINMIG_TEST_LOOKED_GATE=DIR, a dump or migration, having looked at
 * the process in /proc (its root, for a tree) and not yet stopped it,
 * stops at the gate DIR/looked ("looked"), DIR/go before it goes on: a
 * test changes the process meanwhile (an execve, a new session), which
 * the dump must see. */
void bm_test_looked_gate(void);
/* With BINMIG_TEST_VFORK_GATE=DIR, a freeze that has said it waits for a
 * thread's vfork child stops at the gate DIR/vfork ("vfork"), DIR/go
 * before that wait and its bound begin: a test lets the child run its
 * program meanwhile, however slowly the machine answers. */
void bm_test_vfork_gate(void);
/* With BINMIG_TEST_NO_BPF set (not 0), binmig takes its BPF programs
 * (kstate.h) for unavailable for the whole run, as on a kernel without
 * BTF: a test sweeps the older way of reading what they read, which a
 * single fault point (kstate) cannot combine with another. */
bool bm_test_no_bpf(void);

#endif
