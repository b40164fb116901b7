#!/usr/bin/env bash
# Frozen inside a timed sleep: nanosleep with and without a rem pointer, and
# an absolute clock_nanosleep.  After the restore each call returns 0, not
# EINTR, and not before its 3 s deadline.
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/lib.sh"
e2e_init sleeper
for mode in nanosleep-rem:nanosleep nanosleep-null:nanosleep clock-abs:clock_nanosleep; do
	name=${mode%%:*} call=${mode#*:}
	out=$E2E_TMP/$name.out
	e2e_start "$out" "$PROGS/sleeper" "$name"
	pid=$E2E_PID
	e2e_wait_ready "$out" "$pid"
	e2e_wait_syscall "$pid" "$call"
	e2e_migrate "$pid" "$E2E_TMP/$name.img"
	e2e_wait_exit "$pid" 20
	e2e_expect_pass "$out"
	e2e_log "$name: $(grep slept "$out")"
done
