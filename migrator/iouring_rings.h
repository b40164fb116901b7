/* io_uring instances a thread registered (io_uring_register
 * IORING_REGISTER_RING_FDS): the thread reaches them by index
 * (IORING_ENTER_REGISTERED_RING) even once it has closed their
 * descriptors, which then show nowhere.  binmig carries no io_uring (a
 * descriptor of one is refused with the other descriptors it cannot
 * carry), and a new thread has no registered ring: a dump refuses a thread
 * with one. */
#ifndef BINMIG_IOURING_RINGS_H
#define BINMIG_IOURING_RINGS_H

#include <stddef.h>
#include <sys/types.h>

#include "ptrace_ctl.h"

/* Dump: refused (BM_EXIT_UNSUPPORTED) if a thread of the frozen process
 * PID has an io_uring registered.  One injected io_uring_enter per
 * thread; up to 16 in a thread that has used io_uring. */
int bm_iouring_rings_check(pid_t pid, struct bm_tracee *tracees, size_t n);

#endif
