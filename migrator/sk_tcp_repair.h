/* Established TCP connections through TCP_REPAIR (kernel
 * Documentation/networking/tcp-repair, include/uapi/linux/tcp.h): read
 * at dump from a copy of the process's descriptor, rebuilt at restore in
 * the new process.  Used by sk_inet.c. */
#ifndef BINMIG_SK_TCP_REPAIR_H
#define BINMIG_SK_TCP_REPAIR_H

#include <netinet/tcp.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "sk_inet.h"

/* A copy of descriptor FD of PID (pidfd_getfd), or -errno. */
int bm_sk_grab(pid_t pid, int fd);

/* struct tcp_info as the kernel has it beyond glibc's copy. */
struct bm_tcp_info_more {
	struct tcp_info ti;
	uint64_t pacing_rate, max_pacing_rate, bytes_acked, bytes_received;
	uint32_t segs_out, segs_in;
};

/* The other end of connection D (decoded in SK) among P's descriptors,
 * or NULL: a peer outside the process. */
const struct bm_fd *bm_sk_inet_peer_end(const struct bm_process *p, const struct bm_fd *d, const struct bm_sk_inet *sk);

/* ADDR as a sockaddr of FAMILY in *ss; its length. */
struct sockaddr_storage;
socklen_t bm_sk_sockaddr(uint32_t family, const struct bm_sk_addr *a, struct sockaddr_storage *ss);

/* S's SO_BUF_LOCK back to SK's once its buffer sizes are set (setting
 * one locks it), if SK has it (buf_lock >= 0).  0 or -1 (errno). */
int bm_sk_buf_lock_back(int s, const struct bm_sk_inet *sk);

/* The address a socket binds to at restore (sk_inet.c). */
struct bm_sk_addr bm_sk_bind_addr(const struct bm_sk_inet *sk);

/* At dump, S a copy of an established connection whose options are in
 * SK: fills sk->tcp and the two queues (*sendq, *recvq malloc'd; NULL
 * when empty), each queue with its length and sequence numbers read until
 * two reads around its bytes agree.  The socket is in repair mode only
 * meanwhile and is left as it was.  0, -errno, or 1 with a refusal reason
 * in why (queues too large, or never still). */
int bm_tcp_repair_read(int s, struct bm_sk_inet *sk, uint8_t **sendq, uint8_t **recvq, char *why, size_t n);

/* One direction of a connection whose two ends were read at dump, one
 * after the other while the kernel moved its segments: how SENDER's image
 * stands against RECEIVER's.  Restored, the receiver's rcv_nxt must lie
 * between the sender's snd_una and snd_nxt:
 *  - below snd_una, bytes the sender saw acknowledged would be held by
 *    neither image: the receiver was read too early, READ_RECEIVER_AGAIN;
 *  - above the sender's write_seq, the images contradict each other:
 *    INCONSISTENT;
 *  - above snd_nxt, the receiver holds bytes the sender's image has as not
 *    sent yet: they were sent after the sender was read, and *notsent
 *    counts them as sent.  Restored as unsent, every ACK of the receiver
 *    would acknowledge data the sender never sent, which TCP ignores, and
 *    with the sender's window closed the connection would stall for good.
 * An overlap (rcv_nxt above snd_una) is harmless: TCP drops what arrives
 * twice.  *notsent is the sender's notsent bytes to restore. */
enum bm_tcp_pair { BM_TCP_CONSISTENT, BM_TCP_READ_RECEIVER_AGAIN, BM_TCP_INCONSISTENT };
enum bm_tcp_pair bm_tcp_repair_pair(const struct bm_sk_tcp *sender, const struct bm_sk_tcp *receiver, uint32_t *notsent);

/* Inside the new process: S a new socket with SK's options set.  Makes it
 * the connection, in repair mode, with its queues (what was not yet sent
 * excepted).  -1 with the reason in err. */
int bm_tcp_repair_open(int s, const struct bm_sk_inet *sk, char *err, size_t errlen);
/* Once both ends exist: repair mode off, and what was not yet sent is
 * written.  -1 with the reason in err. */
int bm_tcp_repair_finish(int s, const struct bm_sk_inet *sk, char *err, size_t errlen);

#endif
