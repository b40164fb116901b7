#!/usr/bin/env bash
# Memory and pipe state that once came back silently different
# (tests/progs/memstate.c): madvise flags, locked, on-fault-locked,
# no-reserve and sealed areas; one file mapped five ways; a full 1 MiB
# pipe with reopened and dup'd ends; a named FIFO with bytes and no
# writer.  Dumped and restored; the program checks it all.
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/lib.sh"
e2e_init memstate
mkdir -p "$E2E_TMP/work"
e2e_state_test memstate "$E2E_TMP/work"
