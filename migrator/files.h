/* File descriptors: collected at dump (checkpoint.h: bm_collect_fds),
 * checked and reopened at restore. */
#ifndef BINMIG_FILES_H
#define BINMIG_FILES_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "state.h"

/* What to do with a standard descriptor (0, 1, 2) whose peer stays behind
 * (a pipe to another process, a socket, a terminal): refuse the dump
 * (default), or reattach it at the destination to /dev/null or, for
 * stdout and stderr, to the end of a file. */
enum bm_stdio_policy { BM_STDIO_REFUSE = 0, BM_STDIO_NULL, BM_STDIO_FILE };
struct bm_fd_policy {
	enum bm_stdio_policy stdio;
	const char *stdio_file;   /* BM_STDIO_FILE */
};

/* Describes every descriptor of PID into p; refuses (BM_EXIT_UNSUPPORTED,
 * naming the descriptor) what cannot be carried.  read_data: also copy the
 * bytes buffered in pipes (only while the process is stopped). */
int bm_collect_fds(pid_t pid, struct bm_process *p, const struct bm_fd_policy *policy, bool read_data);

/* Checks before restoring that every descriptor's file can be reopened. */
int bm_check_fds(const struct bm_process *p);

/* Runs inside the new process before it loses binmig's code: opens every
 * descriptor at its number, with its flags and offset.  No descriptor of
 * the image may be open yet, nor any at or above spare_fd.  On failure writes the reason to err and
 * returns -1 (the child reports it to the parent over a pipe). */
int bm_restore_fds(const struct bm_process *p, int spare_fd, char *err, size_t errlen);

#endif
