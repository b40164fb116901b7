/* The guardian of the addresses that leave the source with a process
 * (migrate --move-addr, movaddr.h), for the case binmig cannot handle
 * itself: binmig dying (SIGKILL, the OOM killer, a crash) after it took
 * the addresses off this host.
 *
 * The source seizes its process without PTRACE_O_EXITKILL: should binmig
 * die before the destination's copy runs, the kernel detaches the frozen
 * original and it runs on here, where its moved addresses are gone and
 * its connections to outside peers are cut off (and one that binmig was
 * reading at that moment is left in repair mode: the kernel keeps a
 * socket's repair mode when the descriptor copy that set it is closed).
 * Rule: the address goes where the process lives.
 *
 * Right before the detach, binmig forks a guardian (no exec) that holds a
 * pidfd of the original (the root of a tree), copies of the carried
 * connections (those whose local address moves) and the list of
 * addresses, and waits on a socket from binmig (a pipe that cannot raise
 * SIGPIPE in binmig should the guardian be gone first).  binmig, ending
 * normally, sends one word (bm_movaddr_guard_dismiss): it has either put
 * the addresses back itself (a failure) or handed the process to the
 * destination (a RESULT with status 0: from then on the destination runs
 * its copy whatever binmig does, docs/protocol.md §7).  An end of stream
 * without that word means binmig died.  The guardian then waits (bounded)
 * until the original is no longer traced, the kernel having let it go,
 * and looks at it twice, 100 ms apart: if it still exists and is not
 * being killed (no SIGKILL pending, not exiting, not a zombie), it puts
 * each address back on its interface, announces it (gratuitous ARP),
 * takes each connection copy out of repair mode if it is in it (and gives
 * it back the SO_REUSEADDR and SO_PEEK_OFF its image holds, which the read
 * changes meanwhile), logs one line on stderr and to syslog, and exits;
 * if the original is gone, it does nothing.
 *
 * The guardian leaves binmig's process group (a terminal's ^C to binmig
 * does not take it too), keeps only its own descriptors (the socket, the
 * pidfd, the connection copies, stderr; stdin and stdout become
 * /dev/null), exits when the original exits (nothing is left to guard),
 * and waits for binmig in bounded steps, asking at each whether its
 * parent changed.  It learns of binmig's death from the end of stream
 * rather than PR_SET_PDEATHSIG, which follows the thread that forked
 * (binmig's tracing thread, bm_run_traced).  binmig reaps it on dismissal.
 *
 * What remains (docs/protocol.md §7.4): binmig dying after the
 * destination sent a RESULT with status 0 but before binmig read it.  The
 * destination, hearing nothing, lets its copy run (§7), and the original
 * runs on at the source too: the guardian puts the addresses back there,
 * so both hosts hold them until one is removed by hand; the peer's
 * neighbour entry names whichever announced last.  Both copies running is
 * §7's own window; the guardian cannot tell it from a destination that
 * failed, having no connection to it. */
#ifndef BINMIG_MOVADDR_GUARD_H
#define BINMIG_MOVADDR_GUARD_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "movaddr.h"

struct bm_movaddr_guard {
	pid_t pid;  /* the guardian, 0 when none */
	int word;   /* binmig's end of the socket, -1 when none; closed
		       without the word, it tells the guardian binmig died */
};
#define BM_MOVADDR_GUARD_NONE ((struct bm_movaddr_guard){0, -1})

/* A copy of a carried connection, as the guardian holds it. */
struct bm_guard_sock {
	int fd;
	bool reuseaddr;     /* SO_REUSEADDR, as the image holds it */
	int peek_off;       /* SO_PEEK_OFF, as the image holds it (-1: off) */
};

/* Starts the guardian of process F (frozen, the addresses of M still on
 * their interfaces) before bm_movaddr_detach.  0, or the error reported
 * (nothing is left: the migration gives up before the detach). */
struct bm_frozen;
int bm_movaddr_guard_start(struct bm_movaddr_guard *g, const struct bm_movaddr *m, struct bm_frozen *f);

/* The same for ORIGINAL with N connection copies SOCKS, which are handed
 * over: closed here in every case, the guardian keeping its own. */
int bm_movaddr_guard_spawn(struct bm_movaddr_guard *g, pid_t original, const struct bm_movaddr *m,
			   struct bm_guard_sock *socks, size_t n);

/* binmig ends normally: the word, and the guardian reaped (waited for at
 * most a few seconds, then killed).  Nothing for a guard never started. */
void bm_movaddr_guard_dismiss(struct bm_movaddr_guard *g);

#endif
