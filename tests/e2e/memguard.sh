#!/usr/bin/env bash
# Guard regions (madvise MADV_GUARD_INSTALL) and droppable memory
# (MAP_DROPPABLE), as newer C libraries make them (tests/progs/memguard.c):
# guards at the start, in the middle and at the end of anonymous memory,
# of read-only memory and of a privately mapped file, a thread's stack
# with a guard at its low end, and droppable memory with data.  Dumped and
# restored; the program checks that each guard page faults, that the
# pages around keep their contents, that smaps VmFlags and pagemap's guard
# bits are as before.  Skipped, saying so, on a kernel without them.
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/lib.sh"
e2e_init memguard
if ! why=$("$PROGS/memguard" probe); then
	e2e_log "skipped: $why"
	exit 0
fi
mkdir -p "$E2E_TMP/work"
e2e_state_test memguard carried "$E2E_TMP/work"
