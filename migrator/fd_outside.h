/* Open files that a process not moved holds too (fd_outside.c).
 *
 * A pipe, socket, eventfd, timerfd, epoll or inotify instance, or an
 * unlinked FIFO, is a channel: whoever holds it can put data in or take it out, or change
 * what it reports.  When a process that binmig does not move holds one of
 * the channels of the processes it moves (the same open file description,
 * inherited by a process that left the tree or passed to another one, or
 * another end of the same pipe), the restored process would hold a copy
 * that process no longer reaches: it would wait for data that never comes,
 * or see it where it should not.  So such a process is refused (exit 4),
 * naming the descriptor and the other process, unless a --fd/--stdio
 * policy replaces the descriptor.  So is a file or directory whose open
 * file description holds a flock or OFD lock, which that description
 * owns: binmig releases the process's locks at the source while the image
 * travels, and the other process would lose its lock with it.  Other
 * regular files, directories and devices are not channels of this kind
 * (the file is what is shared) and are not looked at; nor is a named FIFO, which the restore opens again by its
 * name, as anyone reaches it (its writers outside the process included).
 *
 * Every process in /proc is looked at (binmig itself and the processes
 * moved excepted): pipes and sockets by inode, unlinked FIFOs by device
 * and inode, the anonymous ones with kcmp: a readlink for each descriptor
 * of each process (about 4 us each here, 1.5 ms for 100 processes with
 * 360 descriptors).  Processes in another PID namespace, not in this
 * /proc, cannot be seen. */
#ifndef BINMIG_FD_OUTSIDE_H
#define BINMIG_FD_OUTSIDE_H

#include <stddef.h>

#include "state.h"

/* Refuses (negative after reporting) when a process outside PROCS holds a
 * channel of theirs; else 0. */
int bm_fd_outside_check(struct bm_process *const *procs, size_t nprocs);

#endif
