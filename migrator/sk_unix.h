/* UNIX-domain sockets, both directions.
 *
 * A socket whose peers are all in the process travels as BM_FD_UNIX_SOCKET:
 * object_id is its inode, and its data (kept with the first descriptor of
 * it) says what it is, as sock_diag (NETLINK_SOCK_DIAG) and getsockopt show
 * it: type, name, peer, shutdown state, a listener's backlog and the
 * clients waiting in its accept queue, the options a program can read
 * back, and the messages queued for reading, read without taking them
 * (MSG_PEEK with SO_PEEK_OFF) with their boundaries, sender names and
 * credentials.  The restore makes every socket of the process again at
 * once: socket pairs, names bound again, listeners, connections made
 * through them (accepted first, then those left waiting), the queues
 * written back from the sending side in order, then shutdowns and options.
 *
 * Descriptors in flight (SCM_RIGHTS) travel as the descriptor of the
 * process that is the same open file description (kcmp): the restore
 * sends that descriptor with the message again, once every descriptor of
 * the process is back (bm_unix_fill_rights).  One the process does not
 * hold is given a descriptor for the dump first (sk_unix_adopt.h).  Over
 * a stream, where the piece they ride with begins cannot be peeked, the
 * queue is read by taking it and written straight back (sk_unix_take.h).
 * So is a datagram or seqpacket queue whose one possible sender is the
 * peer in the process, to find the empty messages the process peeked,
 * which no peek shows (sk_unix_peeked.h).
 *
 * Refused (exit 4): a peer outside the process (or gone), a descriptor in
 * flight that is none of the process's (left after adoption; named by
 * its kind), any over a stream whose queue
 * could not be written back once taken, one naming a
 * descriptor a policy replaces, credentials of another process in flight, a
 * connection waiting in an accept queue with data already sent or shut
 * down (before it connected or after cannot be told), an
 * out-of-band byte, a socket filter, SO_BINDTOIFINDEX, SO_MAX_PACING_RATE,
 * SO_TXTIME (and the timestamp options, SO_PASSPIDFD), a name that no longer names the
 * socket, a relative path name, messages queued with SO_PEEK_OFF set on
 * a socket whose queue is not taken, a connected socket named after a listener
 * that is no longer in the process, unless that name is abstract and free
 * (the restore then makes the connection through a listener of its own). */
#ifndef BINMIG_SK_UNIX_H
#define BINMIG_SK_UNIX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "state.h"

struct bm_fd_policy;

/* bm_unix_sock.flags */
#define BM_UNIX_LISTENING 0x1u /* listen()ed; icons are the clients in its accept queue */
#define BM_UNIX_ACCEPTED 0x2u  /* came out of accept() on the listener of the same name */
#define BM_UNIX_QUEUED 0x4u    /* connected, waiting in a listener's accept queue */
#define BM_UNIX_ORPHAN 0x8u    /* accepted from a listener since closed, whose abstract name is free */
#define BM_UNIX_RIGHTS 0x10u   /* its messages each say which descriptors ride with them */
#define BM_UNIX_PEEKS 0x20u    /* its messages each say whether the process peeked it (sk_unix_peeked.h) */
#define BM_UNIX_FLAGS 0x3fu
#define BM_UNIX_FROM_ACCEPT (BM_UNIX_ACCEPTED | BM_UNIX_ORPHAN)

#define BM_UNIX_NAME_MAX 108u  /* sizeof sun_path */
#define BM_UNIX_MSG_MAX (1u << 20)     /* bytes of one socket's description */
#define BM_UNIX_MAX_SOCKETS 1024u      /* unix sockets of one process */
#define BM_UNIX_MAX_QUEUED 16384u      /* messages queued in them all */
#define BM_UNIX_MAX_RIGHTS 253u        /* descriptors in flight with one message (SCM_MAX_FD) */

/* The options carried, by index (bm_unix_opt.id). */
enum bm_unix_optid {
	BM_UNIX_OPT_RCVBUF = 0, BM_UNIX_OPT_SNDBUF, BM_UNIX_OPT_PASSCRED, BM_UNIX_OPT_PASSSEC,
	BM_UNIX_OPT_RCVTIMEO, BM_UNIX_OPT_SNDTIMEO, BM_UNIX_OPT_PRIORITY, BM_UNIX_OPT_MARK,
	BM_UNIX_OPT_RCVLOWAT, BM_UNIX_OPT_KEEPALIVE, BM_UNIX_OPT_OOBINLINE, BM_UNIX_OPT_BROADCAST,
	BM_UNIX_OPT_DONTROUTE, BM_UNIX_OPT_REUSEADDR, BM_UNIX_OPT_LINGER, BM_UNIX_OPT_PEEK_OFF,
	/* Image version 10 on; each left out where the kernel at the dump
	 * does not know it.  SO_BUF_LOCK is set after the buffer sizes (which
	 * lock them). */
	BM_UNIX_OPT_BUF_LOCK, BM_UNIX_OPT_PASSRIGHTS, BM_UNIX_OPT_DEBUG, BM_UNIX_OPT_NO_CHECK, BM_UNIX_OPT_LOCK_FILTER,
	BM_UNIX_OPT_SELECT_ERR_QUEUE, BM_UNIX_OPT_BUSY_POLL, BM_UNIX_OPT_PREFER_BUSY_POLL, BM_UNIX_OPT_INCOMING_CPU,
	BM_UNIX_OPT_WIFI_STATUS, BM_UNIX_OPT_NOFCS, BM_UNIX_OPT_RCVMARK, BM_UNIX_OPT_RCVPRIORITY,
	BM_UNIX_NOPTS
};

/* How each is read and set: an int (SO_RCVBUF and SO_SNDBUF as the
 * kernel reports them, doubled), a struct timeval, a struct linger. */
enum bm_unix_optform { BM_UNIX_FORM_INT, BM_UNIX_FORM_BUF, BM_UNIX_FORM_TIME, BM_UNIX_FORM_LINGER };
struct bm_unix_optdef {
	int name;               /* SOL_SOCKET option */
	enum bm_unix_optform form;
	const char *text;
};
extern const struct bm_unix_optdef bm_unix_opts[BM_UNIX_NOPTS];

/* Two numbers per option: an int option's value and 0; a timeout's
 * seconds and microseconds; SO_LINGER's onoff and linger. */
struct bm_unix_opt {
	int64_t a, b;
};

/* One queued message: its bytes, its sender's name (datagrams; may be
 * empty), the credentials it carries (pid 0: none) and the descriptors
 * in flight with it (SCM_RIGHTS): each the same open file description
 * as descriptor N of the process, N as a little-endian i32 in rights. */
struct bm_unix_msg {
	const uint8_t *data;
	uint32_t len;
	const uint8_t *addr;
	uint32_t addr_len;
	int32_t pid;
	uint32_t uid, gid;
	uint32_t nrights;
	const uint8_t *rights;
	uint32_t peeked;        /* 1: an empty message the process peeked (marked by the kernel) */
};
/* The process's descriptor that in-flight descriptor K of M shares its description with. */
int bm_unix_right(const struct bm_unix_msg *m, uint32_t k);

/* A socket's data, decoded in place (pointers into it). */
struct bm_unix_sock {
	uint32_t type;          /* SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET */
	uint32_t flags;         /* BM_UNIX_* */
	uint64_t peer;          /* the peer's inode; 0: none (or waiting in an accept queue) */
	uint32_t shutdown;      /* 1 receive side, 2 send side, as the kernel keeps it */
	uint32_t backlog;       /* a listener's */
	uint32_t name_len;      /* 0: unnamed; name[0] == 0: abstract; else a path without its NUL */
	const uint8_t *name;
	uint64_t vfs_dev, vfs_ino; /* a path name: the socket file at dump (st_dev, st_ino) */
	uint32_t file_mode, file_uid, file_gid;
	int32_t cred_pid;       /* SO_PEERCRED: 0 none, else the process's own PID */
	uint32_t cred_uid, cred_gid; /* its effective ids then */
	bool has_opt[BM_UNIX_NOPTS];
	struct bm_unix_opt opt[BM_UNIX_NOPTS];
	uint32_t nicons;        /* a listener's accept queue: client inodes, oldest first */
	const uint8_t *icons;
	uint32_t nmsgs;         /* its receive queue, oldest first */
	const uint8_t *msgs;
	uint32_t msgs_len;
};

/* Blob encoding (the inverse of bm_unix_parse); MSGS[0..nmsgs).  0, or
 * -ENOMEM / -EINVAL (a field out of range). */
struct bm_wbuf;
int bm_unix_encode(struct bm_wbuf *b, const struct bm_unix_sock *s, const uint64_t *icons,
		   const struct bm_unix_msg *msgs);
/* Decodes D's data (bounds checked; it comes from the network).  false
 * with the reason in why. */
bool bm_unix_parse(const uint8_t *data, uint32_t len, struct bm_unix_sock *s, char *why, size_t n);
/* The description of D (a BM_FD_UNIX_SOCKET not sharing a lower
 * descriptor) up to its messages, which are not walked: for an image
 * already checked.  false if D is none or its head is malformed. */
bool bm_unix_head(const struct bm_fd *d, struct bm_unix_sock *s);
/* A migration's source, the process frozen: moves the socket file of
 * each path-bound socket of P aside (beside it, as PATH.binmig-PID),
 * so that the destination, on the same file system, can bind the name
 * anew while the source keeps its file.  Afterwards the files come
 * back to their names (the migration failed: over whatever the
 * destination left there) or are removed (MIGRATED). */
int bm_unix_stash_names(const struct bm_process *p);
void bm_unix_unstash_names(const struct bm_process *p, bool migrated);
/* After a failed migration, at the source: a warning for each path-bound
 * socket of P whose file is not at its name (the socket runs on, but
 * clients cannot reach it by that path). */
void bm_unix_report_lost_names(const struct bm_process *p);
/* Message I walking: *at starts at 0. */
void bm_unix_next_msg(const struct bm_unix_sock *s, uint32_t *at, struct bm_unix_msg *m);
uint64_t bm_unix_icon(const struct bm_unix_sock *s, uint32_t i);

/* How the restore sends message M to socket fds[ri] (decoded as R): from
 * fds[*from] (-1: a socket of its own, unnamed), with send() when
 * *connected, else sendto() R's name.  false when no way gives the
 * receiver the same message. */
bool bm_unix_sender(const struct bm_fd *fds, uint32_t nfds, uint32_t ri, const struct bm_unix_sock *r,
		    const struct bm_unix_msg *m, int *from, bool *connected);
/* Index of the (first) BM_FD_UNIX_SOCKET descriptor of inode INO, or -1. */
int bm_unix_find(const struct bm_fd *fds, uint32_t nfds, uint64_t ino);

/* For inspect: "\n      stream, name @x, peer 123, listening (backlog
 * 7, 2 waiting), 3 messages queued (40 bytes), shut down for writing". */
void bm_unix_describe_text(FILE *out, const struct bm_fd *d);

/* Image rules over the whole (sorted) descriptor list: each socket well
 * formed, its peer, listener and senders in the list as the restore needs
 * them.  false with the reason in why. */
bool bm_unix_check(const struct bm_fd *fds, uint32_t nfds, char *why, size_t n);

/* At dump, for a socket descriptor: 1 if it is a UNIX-domain socket (out
 * kind and object_id set), 0 if another family, negative after reporting. */
int bm_unix_describe(pid_t pid, int fd, const struct stat *st, struct bm_fd *out);
/* At dump, once every descriptor of the processes is described: checks
 * and describes each socket, reading its queue when READ_DATA (the
 * processes are stopped); refuses what cannot be carried. */
int bm_unix_collect(struct bm_process *const *procs, size_t nprocs, const struct bm_fd_policy *policy, bool read_data);

/* At dump, the process stopped and its descriptors described: peeks every
 * unix socket queue of P for descriptors in flight and notes in A those
 * P holds no descriptor of (sk_unix_adopt.h).  Refuses what the reading
 * of a queue refuses (an empty message behind others, seen only once).
 * 0, or negative after reporting. */
struct bm_unix_adoption;
int bm_unix_gather_in_flight(const struct bm_process *p, struct bm_unix_adoption *a);
/* Whether a unix socket of P has descriptors in flight in its queue (as
 * fdinfo counted them when P's descriptors were described).  Before the
 * freeze a peer or a pipe end that P does not hold may be one of them,
 * which only the frozen dump gives a descriptor to. */
bool bm_unix_in_flight_somewhere(const struct bm_process *p);

/* Whether nobody holds U's abstract name in this network namespace. */
bool bm_unix_abstract_free(const struct bm_unix_sock *u);

/* At restore, before the process is made: an abstract name a socket binds
 * (or a closed listener had) is free; a path a socket is bound to is
 * free, or still the socket file of the dump.  -1 after reporting
 * (BM_EXIT_CONFLICT). */
int bm_unix_precheck(const struct bm_process *p);
/* Inside the new process (system calls only): makes every socket of p and
 * puts each at its descriptor (those sharing one with a lower descriptor
 * excepted).  -1 with the reason in err. */
int bm_unix_restore(const struct bm_process *p, int spare_fd, char *err, size_t errlen);
/* Inside the new process, once all its descriptors are back: fills the
 * queues that hold descriptors in flight (bm_unix_restore leaves them).
 * -1 with the reason in err. */
int bm_unix_fill_rights(const struct bm_process *p, char *err, size_t errlen);

#endif
