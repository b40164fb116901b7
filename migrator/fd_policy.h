/* What to do with a descriptor binmig cannot carry as it is: the user's
 * explicit policy (--fd N=ACTION, --stdio), applied at dump, recorded in
 * the image with what the descriptor was, reported at restore.
 *
 * By default such a descriptor is refused: a migrator must never drop
 * state silently.  With a policy the destination gets /dev/null, nothing,
 * a file, or a pipe or socket end whose peer has gone ("broken"). */
#ifndef BINMIG_FD_POLICY_H
#define BINMIG_FD_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "state.h"

/* --stdio: what to do with a standard descriptor (0, 1, 2) whose peer
 * stays behind (a pipe to another process, a socket, a terminal): refuse
 * the dump (default), reattach it at the destination to /dev/null or, for
 * stdout and stderr, to the end of a file (stdin then gets /dev/null). */
enum bm_stdio_policy { BM_STDIO_REFUSE = 0, BM_STDIO_NULL, BM_STDIO_FILE };

/* One --fd N=ACTION. */
struct bm_fd_rule {
	int fd;
	enum bm_fd_action action;  /* BM_FD_TO_NULL .. BM_FD_TO_BROKEN */
	const char *path;          /* BM_FD_TO_FILE: points into the option's text */
	const char *spec;          /* the option's text, for messages */
};

struct bm_fd_policy {
	enum bm_stdio_policy stdio;
	const char *stdio_file;    /* BM_STDIO_FILE */
	struct bm_fd_rule *rules;  /* malloc'd, in the order given */
	size_t nrules;
	/* --move-addr: the local addresses that move with the process, whose
	 * TCP connections to outside peers are carried (movaddr.h); NULL if none. */
	const struct bm_movaddr *move_addrs;
	/* The process runs on after this dump (dump --leave-running, the
	 * first freeze of a migration that pre-copies): what the dump's own
	 * reads would change in it is refused (sk_dgram_kernel.h). */
	bool original_runs_on;
};

/* Parses an --fd value "N=null", "N=close", "N=file:PATH" or "N=broken"
 * (N a decimal descriptor number >= 0) and adds it to the policy.  SPEC
 * must outlive the policy.  A second rule for the same N is an error.
 * Errors are reported (BM_EXIT_USAGE) and give -EINVAL. */
int bm_fd_policy_add(struct bm_fd_policy *policy, const char *spec);
/* Parses a --stdio value: refuse, null or file:PATH.  -EINVAL if bad
 * (not reported: the caller names the option). */
int bm_fd_policy_set_stdio(struct bm_fd_policy *policy, const char *text);
void bm_fd_policy_free(struct bm_fd_policy *policy);

/* The explicit --fd rule for descriptor FD, or NULL.  It wins over --stdio. */
const struct bm_fd_rule *bm_fd_policy_rule(const struct bm_fd_policy *policy, int fd);
/* Whether --stdio reattaches descriptor FD, given that its peer stays
 * behind (and no --fd names it). */
bool bm_fd_policy_stdio_applies(const struct bm_fd_policy *policy, int fd);

/* What a descriptor is, from its /proc link text and st_mode, and how a
 * message names that ("an anonymous pipe"; "?" for an unknown value). */
enum bm_fd_origin bm_fd_origin_of(const char *link, mode_t mode);
const char *bm_fd_origin_name(uint32_t origin);

/* Whether a descriptor that is not carried has its peer outside (a pipe,
 * a socket, a terminal): what --stdio reattaches. */
bool bm_fd_peer_stays_behind(const char *link, mode_t mode);

/* A copy of descriptor FD of PID in binmig (pidfd_getfd: the tracer's
 * permission suffices), or -1 with errno set. */
int bm_fd_copy(pid_t pid, int fd);

/* The descriptor of the processes that a policy replaced and that was
 * ORIGIN with the /proc link LINK ("pipe:[5678]"), or NULL. */
const struct bm_fd *bm_fd_replaced_from(struct bm_process *const *procs, size_t nprocs, uint32_t origin,
					const char *link);

/* Refuses descriptor FD of PID (BM_EXIT_UNSUPPORTED, returns -1) in one
 * line: "fd FD of process PID is WHAT (LINK)DETAIL; binmig cannot migrate
 * it (--fd FD=... lets it go)", naming the actions that would apply. */
int bm_fd_refuse(pid_t pid, int fd, const char *link, mode_t mode, const char *detail);

/* At dump: replaces descriptor D of PID as RULE says.  D holds what
 * /proc says (fd, flags, pos, mode); LINK is its /proc link text.  Fills
 * in what the destination gets and what D was.  File targets are opened
 * now, to fail early.  0, or -1 after reporting: BM_EXIT_USAGE when the
 * action does not fit the descriptor, BM_EXIT_IO when the file cannot be
 * opened. */
int bm_fd_policy_apply(pid_t pid, struct bm_fd *d, const char *link, const struct bm_fd_rule *rule);
/* The same for --stdio, which bm_fd_policy_stdio_applies allowed. */
int bm_fd_policy_apply_stdio(struct bm_fd *d, const char *link, const struct bm_fd_policy *policy);
/* After all descriptors are described: every --fd names one of them (of
 * one of the processes, for a tree, where a rule applies to every process
 * that has that descriptor). */
int bm_fd_policy_check_present(const struct bm_fd_policy *policy, struct bm_process *const *procs, size_t nprocs);

/* One line, without the descriptor number, saying what replaced descriptor
 * D was, what it is now and which option did it: "was an anonymous pipe
 * (pipe:[5678]), now /dev/null, write-only (--fd 251=null)". */
void bm_fd_replacement_text(const struct bm_fd *d, char *buf, size_t len);
/* At restore, once the process runs: one line per replaced descriptor. */
void bm_fd_policy_report(const struct bm_process *p);

/* Inside the process being restored (system calls only): opens the pipe
 * or socket end of a BM_FD_BROKEN_* descriptor with its peer already
 * closed.  The new descriptor (close-on-exec, its status flags set), or
 * -errno. */
int bm_fd_open_broken(const struct bm_fd *d);

#endif
