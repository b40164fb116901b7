#!/usr/bin/env bash
# Modes the kernel keeps on how a process's code runs and its memory is
# shared (tests/progs/modes.c, migrator/attrs_modes.h): memory-deny-
# write-execute (without and, in a second run, with PR_MDWE_NO_INHERIT), KSM for all memory with one area unmerged again, and
# CPUID faulting in one thread, membarrier registrations, coredump_filter,
# login uid, AMX permission (its own and its KVM guests'), THP disabled except where advised and the
# size of the private futex hash, dumped and restored, checked by the
# program; syscall user dispatch and (on a CPU with AMX) tile data in use
# are refused (exit 4) and the process runs on with them.
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/lib.sh"
e2e_init modes
e2e_state_test modes carried
e2e_state_test modes noinherit
e2e_refused_dump dispatch "has syscall user dispatch on" -- modes dispatch
if grep -qw amx_tile /proc/cpuinfo; then
	e2e_refused_dump tiles "has AMX tile data in use" -- modes tiles
else
	e2e_log "this CPU has no AMX: the refusal of tile data in use is not tried"
fi
