#!/usr/bin/env bash
# inotify instances (tests/progs/inotify.c): every watch comes back with its
# number (a removed one leaves its gap), mask and file, blocking or not,
# and reports the changes made after the restore, a one-shot watch once,
# and (mode rebuilt) nothing of what the restore rebuilds in a watched
# directory; (mode far) watch numbers far apart, and the next one after,
# with the kernel's INOTIFY_IOC_SETNEXTWD and without;
# refused (exit 4, one line, the process untouched): events queued and not
# read, a watch on a file whose name is gone, a watch for opens or closes
# on the directory of a file the process maps.
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/lib.sh"
e2e_init inotify
for mode in carried rebuilt far gone queued unlinked mapped; do
	mkdir "$E2E_TMP/$mode"
done
e2e_state_test inotify carried "$E2E_TMP/carried"
e2e_state_test inotify rebuilt "$E2E_TMP/rebuilt"
e2e_state_test inotify far "$E2E_TMP/far"
# The next watch number after the newest watch was removed: read by the
# dump (BPF, migrator/kstate.h) and set by the restore.  Where the dump
# cannot read it (fault point kstate) it warns, and the next watch
# follows the newest one.
e2e_state_test inotify gone "$E2E_TMP/gone" carried
mkdir "$E2E_TMP/gone-lost"
e2e_start "$E2E_TMP/gone-lost.out" "$PROGS/inotify" gone "$E2E_TMP/gone-lost" lost
pid=$E2E_PID
e2e_wait_ready "$E2E_TMP/gone-lost.out" "$pid"
e2e_wait_syscall "$pid" rt_sigsuspend
BINMIG_FAULT=kstate e2e_dump "$pid" "$E2E_TMP/gone-lost.img"
grep -q "cannot read what only the kernel's own structures show" "$BM_ERR" ||
	e2e_fail "a dump without its BPF programs did not warn"
e2e_restore "$E2E_TMP/gone-lost.img" "$pid"
e2e_signal "$pid" "$E2E_TMP/gone-lost.out"
e2e_wait_exit "$pid"
e2e_expect_pass "$E2E_TMP/gone-lost.out"
# The same where the kernel cannot set an instance's next watch number
# (INOTIFY_IOC_SETNEXTWD needs CONFIG_CHECKPOINT_RESTORE): the restore
# takes the numbers between with watches it removes again, and reads
# their events before the instance's queue overflows.
mkdir "$E2E_TMP/far-fillers"
BINMIG_FAULT=inotify-next-wd BINMIG_FAULT_LOG=$E2E_TMP/fired e2e_state_test inotify far "$E2E_TMP/far-fillers"
grep -qx inotify-next-wd "$E2E_TMP/fired" || e2e_fail "the restore never tried to set the next watch number"
e2e_refused_dump queued "bytes of events not read yet" -- inotify queued "$E2E_TMP/queued"
e2e_refused_dump unlinked "that has no name binmig can watch again" -- inotify unlinked "$E2E_TMP/unlinked"
e2e_refused_dump mapped "reports opens or closes of $E2E_TMP/mapped/lib, which the process maps" -- \
	inotify mapped "$E2E_TMP/mapped"
