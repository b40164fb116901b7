/* The commands of the instruction-set analysis: `binmig cpu-profile`,
 * `binmig check PID --dest-cpu FILE`, `binmig inspect --isa IMAGE`, and
 * the check that `migrate` runs against the destination's profile. */
#ifndef BINMIG_ISA_CMD_H
#define BINMIG_ISA_CMD_H

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>

#include "cpu_profile.h"
#include "image.h"
#include "isa_process.h"

/* Prints this machine's profile.  An exit status. */
int bm_cmd_cpu_profile(FILE *out);

/* Analyzes process pid and judges it against `dest`, `here` being this
 * machine's profile (the source's).  0 when it can run there; -1 with the
 * error logged (class BM_EXIT_UNSUPPORTED when it cannot: the extension,
 * the count and an example address and symbol are named).  The report
 * goes to `out` if not NULL. */
int bm_isa_check(pid_t pid, const struct bm_cpu_profile *here, const struct bm_cpu_profile *dest, FILE *out,
		 struct bm_isa_report *report);

/* migrate's check, its analysis started on a thread of its own so that it
 * runs while the connection is set up (the destination's profile comes
 * at its end): bm_isa_job_start(pid) starts it (NULL when out of memory;
 * without a thread, the analysis is made when judged);
 * bm_isa_job_check() waits for it and judges it as bm_isa_check() does
 * (a refusal names what the destination lacks); bm_isa_job_end() waits
 * for it if it still runs and frees it, on every path. */
struct bm_isa_job {
	pthread_t thread;
	bool running;
	pid_t pid;
	int rc;
	struct bm_isa_report report;
};
struct bm_isa_job *bm_isa_job_start(pid_t pid);
int bm_isa_job_check(struct bm_isa_job *j, const struct bm_cpu_profile *here, const struct bm_cpu_profile *dest);
void bm_isa_job_end(struct bm_isa_job *j);

/* `inspect --isa`: the analysis of the process in an image (read from
 * the image's pages, and mapped files where the image has no page). */
int bm_inspect_isa(FILE *out, struct bm_image_reader *r);

#endif
