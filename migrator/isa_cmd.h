/* The commands of the instruction-set analysis: `binmig cpu-profile`,
 * `binmig check PID --dest-cpu FILE`, `binmig inspect --isa IMAGE`, and
 * the check that `migrate` runs against the destination's profile. */
#ifndef BINMIG_ISA_CMD_H
#define BINMIG_ISA_CMD_H

#include <stdio.h>
#include <sys/types.h>

#include "cpu_profile.h"
#include "image.h"
#include "isa_process.h"

/* Prints this machine's profile.  An exit status. */
int bm_cmd_cpu_profile(FILE *out);

/* Analyzes process pid and judges it against `dest` (this machine being
 * the source).  0 when it can run there; -1 with the error logged (class
 * BM_EXIT_UNSUPPORTED when it cannot: the extension, the count and an
 * example address and symbol are named).  The report goes to `out` if
 * not NULL. */
int bm_isa_check(pid_t pid, const struct bm_cpu_profile *dest, FILE *out, struct bm_isa_report *report);

/* `inspect --isa`: the analysis of the process in an image (read from
 * the image's pages, and mapped files where the image has no page). */
int bm_inspect_isa(FILE *out, struct bm_image_reader *r);

#endif
