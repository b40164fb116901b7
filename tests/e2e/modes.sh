#!/usr/bin/env bash
# Modes the kernel keeps on how a process's code runs and its memory is
# shared (tests/progs/modes.c, migrator/attrs_modes.h): memory-deny-
# write-execute, KSM for all memory with one area unmerged again, and
# CPUID faulting in one thread, dumped and restored, checked by the
# program; syscall user dispatch is refused (exit 4) and the process runs
# on with it still on.
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/lib.sh"
e2e_init modes
e2e_state_test modes carried
e2e_refused_dump dispatch "has syscall user dispatch on" -- modes dispatch
