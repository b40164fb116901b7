/* A child of a unit test taken as binmig's freeze takes a process, for
 * tests that inject calls into it (test_timers_next_id.c,
 * test_inotify_next_wd.c). */
#ifndef BINMIG_UNIT_TRACE_H
#define BINMIG_UNIT_TRACE_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ptrace.h>

#include "ptrace_ctl.h"
#include "vdso.h"

/* Stops PID (a child, wherever it waits) as the freeze does and readies
 * TR for injected calls through its vDSO's syscall instruction. */
static inline void unit_trace(pid_t pid, struct bm_tracee *tr)
{
	int status;
	assert_int_equal(ptrace(PTRACE_SEIZE, pid, 0, PTRACE_O_EXITKILL), 0);
	assert_int_equal(ptrace(PTRACE_INTERRUPT, pid, 0, 0), 0);
	assert_int_equal(bm_wait_stop(pid, &status, 5000), 0);
	char path[64], line[512];
	snprintf(path, sizeof path, "/proc/%d/maps", pid);
	FILE *maps = fopen(path, "r");
	assert_non_null(maps);
	unsigned long start = 0, end = 0;
	while (fgets(line, sizeof line, maps))
		if (strstr(line, "[vdso]"))
			sscanf(line, "%lx-%lx", &start, &end);
	fclose(maps);
	assert_true(start && end);
	uint64_t syscall_ip;
	assert_int_equal(bm_find_vdso_syscall(pid, start, end, &syscall_ip), 0);
	assert_int_equal(bm_tracee_init(tr, pid, syscall_ip), 0);
}

#endif
