/* The destination side: rebuild a process from an image, with the same
 * PID, memory, registers, files and signal state, and let it run. */
#ifndef BINMIG_RESTORE_H
#define BINMIG_RESTORE_H

#include <sys/types.h>

#include "image.h"
#include "stats.h"

/* Reads the image from the reader (header already checked), recreates the
 * process and detaches from it.  On success *pid is the running process.
 * On failure nothing is left behind: a half-built process is killed. */
int bm_restore(struct bm_image_reader *r, pid_t *pid, struct bm_stats *st);

#endif
