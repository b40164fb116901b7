#!/usr/bin/env bash
# Process-wide state: pid/tid, comm, rlimits, personality, dumpable, session, cmdline,
# environ, auxv, exe, mm fields, the whole memory map, the vDSO.
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/lib.sh"
e2e_init misc
BM_TEST_MARKER="environment survives" e2e_state_test misc first "second argument" ""
