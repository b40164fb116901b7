#!/usr/bin/env bash
# Frozen inside FUTEX_WAIT_BITSET with an absolute deadline: after the
# restore it times out (ETIMEDOUT, not EINTR) at the deadline.  Frozen inside
# pause(): after the restore (and once it sleeps there again) SIGUSR1 with a
# handler wakes it.
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/lib.sh"
e2e_init sleeper

out=$E2E_TMP/futex.out
e2e_start "$out" "$PROGS/sleeper" futex
pid=$E2E_PID
e2e_wait_ready "$out" "$pid"
e2e_wait_syscall "$pid" futex
e2e_migrate "$pid" "$E2E_TMP/futex.img"
e2e_wait_exit "$pid" 20
e2e_expect_pass "$out"

out=$E2E_TMP/pause.out
e2e_start "$out" "$PROGS/sleeper" pause
pid=$E2E_PID
e2e_wait_ready "$out" "$pid"
e2e_wait_syscall "$pid" pause
e2e_migrate "$pid" "$E2E_TMP/pause.img"
# Only a signal that arrives while it sleeps in pause() again can wake it.
e2e_wait_syscall "$pid" pause
e2e_signal "$pid" "$out"
e2e_wait_exit "$pid" 20
e2e_expect_pass "$out"
