#!/usr/bin/env bash
# Frozen inside FUTEX_WAIT_BITSET with an absolute deadline: after the
# restore it times out (ETIMEDOUT, not EINTR) at the deadline, not before.
# Frozen inside pause(): after the restore (and once it sleeps there again)
# SIGUSR1 with a handler wakes it.  Both start together; the futex deadline
# (SLEEP_S) is far enough that even a slow or loaded machine dumps it
# inside the call, which its image must show.  /proc shows the same of
# each before the dump and after the restore, in the call again.
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/threads-lib.sh"
e2e_init sleeper
SLEEP_S=20

futex_out=$E2E_TMP/futex.out
e2e_start "$futex_out" "$PROGS/sleeper" futex "$SLEEP_S"
futex_pid=$E2E_PID
out=$E2E_TMP/pause.out
e2e_start "$out" "$PROGS/sleeper" pause
pid=$E2E_PID

# same PID IMAGE CALL: migrate_in_call, /proc showing the same of the
# process before the dump and after the restore, in CALL both times.
same() {
	e2e_wait_syscall "$1" "$3"
	e2e_procstate "$1" "$2.proc-before"
	migrate_in_call "$@"
	e2e_wait_syscall "$1" "$3"
	e2e_procstate "$1" "$2.proc-after"
	e2e_procstate_same "$2.proc" "sleeper in $3"
}

e2e_wait_ready "$futex_out" "$futex_pid"
same "$futex_pid" "$E2E_TMP/futex.img" futex

e2e_wait_ready "$out" "$pid"
same "$pid" "$E2E_TMP/pause.img" pause
# Only a signal that arrives while it sleeps in pause() again can wake it.
e2e_signal "$pid" "$out"
e2e_wait_exit "$pid" 20
e2e_expect_pass "$out"

e2e_wait_exit "$futex_pid" $((SLEEP_S + 60))
e2e_expect_pass "$futex_out"
