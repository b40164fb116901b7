/* Established TCP connections through TCP_REPAIR (kernel
 * Documentation/networking/tcp-repair, include/uapi/linux/tcp.h): read
 * at dump from a copy of the process's descriptor, rebuilt at restore in
 * the new process.  Used by sk_inet.c. */
#ifndef BINMIG_SK_TCP_REPAIR_H
#define BINMIG_SK_TCP_REPAIR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "sk_inet.h"

/* A copy of descriptor FD of PID (pidfd_getfd), or -errno. */
int bm_sk_grab(pid_t pid, int fd);

/* ADDR as a sockaddr of FAMILY in *ss; its length. */
struct sockaddr_storage;
socklen_t bm_sk_sockaddr(uint32_t family, const struct bm_sk_addr *a, struct sockaddr_storage *ss);

/* The address a socket binds to at restore (sk_inet.c). */
struct bm_sk_addr bm_sk_bind_addr(const struct bm_sk_inet *sk);

/* At dump, S a copy of an established connection whose options are in
 * SK: fills sk->tcp and the two queues (*sendq, *recvq malloc'd; NULL
 * when empty).  The socket is in repair mode only meanwhile and is left
 * as it was.  0, -errno, or 1 with a refusal reason in why. */
int bm_tcp_repair_read(int s, struct bm_sk_inet *sk, uint8_t **sendq, uint8_t **recvq, char *why, size_t n);

/* Inside the new process: S a new socket with SK's options set.  Makes it
 * the connection, in repair mode, with its queues (what was not yet sent
 * excepted).  -1 with the reason in err. */
int bm_tcp_repair_open(int s, const struct bm_sk_inet *sk, char *err, size_t errlen);
/* Once both ends exist: repair mode off, and what was not yet sent is
 * written.  -1 with the reason in err. */
int bm_tcp_repair_finish(int s, const struct bm_sk_inet *sk, char *err, size_t errlen);

#endif
