#!/usr/bin/env bash
# Everything a process and its threads can read about themselves
# (tests/progs/stateprobe.c: every prctl and arch_prctl query, scheduling,
# keyrings, rseq, io_uring rings, credentials, limits, /proc/self ...),
# read before the dump and after the restore: any value that differs,
# but the autogroup's number (docs/process-state.md), fails.  Each group
# of values the program can set is tried alone: none (a plain process),
# slice (a thread's own time slice), autogroup (its session's nice),
# spec (speculation controls, those the kernel lets a task choose: none
# where the mitigations are off for all), guestperm (AMX for KVM guests,
# on a CPU with AMX), perfoff (PR_TASK_PERF_EVENTS_DISABLE).  The groups binmig
# refuses (keys, landlock, iouring) are refused with the process
# untouched.  migrate-state runs `stateprobe none` and `stateprobe spec`
# over two hops.
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/lib.sh"
e2e_init stateprobe
groups=(none slice autogroup spec perfoff)
if grep -qw amx_tile /proc/cpuinfo; then
	groups+=(guestperm)
else
	e2e_log "this CPU has no AMX: guestperm is not tried"
fi
for group in "${groups[@]}"; do
	e2e_state_test stateprobe "$group"
done
declare -A said=([keys]="keyring" [landlock]="is in a Landlock domain"
	[iouring]="has an io_uring instance registered")
for group in keys landlock iouring; do
	e2e_refused_dump "$group" "${said[$group]}" -- stateprobe "$group"
done
