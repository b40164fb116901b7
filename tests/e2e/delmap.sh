#!/usr/bin/env bash
# Mappings of files whose name was removed (tests/progs/delmap.c): shared
# and private, read-only and writable, several of one file at different
# offsets and protections, with the descriptors held on the same files,
# carried through a local dump and restore (and through two in a row) and
# checked by the program
# (contents, addresses, the private copy, one file behind descriptors and
# mappings, "(deleted)" in /proc/self/maps); the same with no descriptor
# held at all (the contents travel on their own, and no descriptor is
# left behind); memfds, held by descriptors or only mapped, with their
# names and seals; refused (exit 4, one line, the process untouched): a
# mapped deleted file with another hard link left, one larger than the
# image carries (with and without a descriptor), a memfd mapped shared and
# writable and then sealed against future writes.
# The same state across two hops between the emulated hosts is in
# e2e/migrate-state.
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/lib.sh"
e2e_init delmap
for mode in carried nofd hardlink big bignofd memfd memfdsealed; do
	mkdir "$E2E_TMP/$mode"
done
e2e_state_test delmap carried "$E2E_TMP/carried"
e2e_state_test delmap nofd "$E2E_TMP/nofd"
e2e_state_test delmap memfd "$E2E_TMP/memfd"
# Twice in a row: a restored process's mappings of its rebuilt files are
# themselves carried again.
mkdir "$E2E_TMP/twice"
out=$E2E_TMP/twice.out
e2e_start "$out" "$PROGS/delmap" carried "$E2E_TMP/twice"
pid=$E2E_PID
e2e_wait_ready "$out" "$pid"
for hop in 1 2; do
	e2e_wait_syscall "$pid" rt_sigsuspend
	e2e_migrate "$pid" "$E2E_TMP/twice-$hop.img"
done
e2e_wait_syscall "$pid" rt_sigsuspend
e2e_signal "$pid" "$out"
e2e_wait_exit "$pid"
e2e_expect_pass "$out"
e2e_log "delmap: PASS after two dumps and restores"
e2e_refused_dump hardlink "whose name was removed while other hard links to it remain" -- \
	delmap hardlink "$E2E_TMP/hardlink"
e2e_refused_dump big "an unlinked file larger than the 64 MiB an image carries" -- delmap big "$E2E_TMP/big"
e2e_refused_dump bignofd "an unlinked file larger than the 64 MiB an image carries" -- \
	delmap bignofd "$E2E_TMP/bignofd"
e2e_refused_dump memfdsealed "and the memfd is sealed against future writes (F_SEAL_FUTURE_WRITE)" -- \
	delmap memfdsealed "$E2E_TMP/memfdsealed"
