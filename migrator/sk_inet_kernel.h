/* What only the kernel's own structures show of a TCP or UDP socket, read
 * at dump through binmig's BPF reader (kstate.h) with the rest of each
 * socket, before the process is stopped and again once it is:
 *   - the shutdown for writing of a socket without a port (neither bound
 *     nor connected), which neither poll() nor sock_diag shows: carried
 *     (bm_sk_inet.shut_wr), the restore shuts its new socket down too;
 *   - a program attached to a SO_REUSEPORT group (SO_ATTACH_REUSEPORT_CBPF
 *     or _EBPF), which no option reads back: refused;
 *   - urgent data (MSG_OOB) a TCP connection sent that its peer has not
 *     acknowledged, which the restore would send as ordinary data:
 *     refused;
 *   - the shutdown of a socket no option or sock_diag shows (one without
 *     a port, or a bound TCP socket): refused;
 *   - the MSS a program set on a TCP socket (rx_opt.user_mss), which
 *     TCP_MAXSEG shows only on a socket not connected, and there not
 *     apart from a new socket's when set to 536: carried
 *     (bm_sk_inet.user_mss).
 * Where binmig cannot load its BPF programs nothing is read here (the
 * dump warns after the freeze), and these go unseen as before (a TCP
 * socket not connected then carries the MSS TCP_MAXSEG shows, unless
 * it is 536). */
#ifndef BINMIG_SK_INET_KERNEL_H
#define BINMIG_SK_INET_KERNEL_H

#include <sys/types.h>

#include "state.h"

/* P's TCP and UDP sockets (described; P->pid is PID): marks those shut
 * down for writing that can be carried, and each TCP socket's MSS set
 * by the program; 0, or -1 after refusing one (exit 4) or an error. */
int bm_sk_inet_kernel_check(pid_t pid, struct bm_process *p);

/* At restore: new socket S (no port yet) shut down for writing.  0 or -1
 * (errno). */
int bm_sk_inet_shut_back(int s);

#endif
