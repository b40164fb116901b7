/* File descriptors: collected at dump (checkpoint.h: bm_collect_fds),
 * checked and reopened at restore. */
#ifndef BINMIG_FILES_H
#define BINMIG_FILES_H

#include <stddef.h>

#include "state.h"

/* Checks before restoring that every descriptor's file can be reopened. */
int bm_check_fds(const struct bm_process *p);

/* Runs inside the new process before it loses binmig's code: opens every
 * descriptor at its number, with its flags and offset.  No descriptor of
 * the image may be open yet.  On failure writes the reason to err and
 * returns -1 (the child reports it to the parent over a pipe). */
int bm_restore_fds(const struct bm_process *p, char *err, size_t errlen);

#endif
