#!/usr/bin/env bash
# Descriptors binmig carries although they are no files: an eventfd (its
# count), an anonymous pipe with both ends in the process (its buffered
# bytes), an epoll instance watching such a pipe (reports it readable), a
# unix socket pair with both ends in the process (its queued bytes) and a
# TCP connection over loopback with both ends in the process (its unread
# bytes).
# The program spins while it is migrated, then checks them.  What /proc
# shows of it is the same before the dump and after the restore, but for
# what a working program changes by itself (E2E_PROCSTATE_RUNNING).
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/lib.sh"
e2e_init holder
for mode in eventfd pipe epoll socket tcp; do
	out=$E2E_TMP/$mode.out
	e2e_start "$out" "$PROGS/holder" "$mode"
	pid=$E2E_PID
	e2e_wait_ready "$out" "$pid"
	e2e_procstate "$pid" "$E2E_TMP/$mode.proc-before"
	e2e_migrate "$pid" "$E2E_TMP/$mode.img"
	e2e_procstate "$pid" "$E2E_TMP/$mode.proc-after"
	E2E_PROCSTATE_ACCEPT=$E2E_PROCSTATE_RUNNING e2e_procstate_same "$E2E_TMP/$mode.proc" "holder $mode"
	e2e_signal "$pid" "$out"
	e2e_wait_exit "$pid"
	e2e_expect_pass "$out"
done
