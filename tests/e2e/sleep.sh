#!/usr/bin/env bash
# Frozen inside a timed sleep: nanosleep with and without a rem pointer, and
# an absolute clock_nanosleep.  After the restore each call returns 0, not
# EINTR, and not before its deadline.  Each sleeper starts right before
# its own dump, with a deadline (SLEEP_S) some thirty times what its
# start, dump and restore take here (0.6 s beside another test run), so
# that even a much slower machine dumps it inside its call, which its
# image must show; then each sleeps out the rest of its time, so the test
# takes about SLEEP_S.
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/threads-lib.sh"
e2e_init sleeper
SLEEP_S=20
MODES=(nanosleep-rem:nanosleep nanosleep-null:nanosleep clock-abs:clock_nanosleep)
declare -A pids
for mode in "${MODES[@]}"; do
	name=${mode%%:*} call=${mode#*:}
	e2e_start "$E2E_TMP/$name.out" "$PROGS/sleeper" "$name" "$SLEEP_S"
	pids[$name]=$E2E_PID
	e2e_wait_ready "$E2E_TMP/$name.out" "${pids[$name]}"
	migrate_in_call "${pids[$name]}" "$E2E_TMP/$name.img" "$call"
done
for mode in "${MODES[@]}"; do
	name=${mode%%:*}
	e2e_wait_exit "${pids[$name]}" $((SLEEP_S + 60))
	e2e_expect_pass "$E2E_TMP/$name.out"
	e2e_log "$name: $(grep slept "$E2E_TMP/$name.out")"
done
