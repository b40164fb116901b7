#!/usr/bin/env bash
# Process-wide state: pid/tid, comm, rlimits, personality, dumpable, session, cmdline,
# environ, auxv, exe, mm fields, the whole memory map, the vDSO.
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/lib.sh"
e2e_init misc
BM_TEST_MARKER="environment survives" e2e_state_test misc first "second argument" ""

# A dump that looked at the process in /proc and, before it stopped it
# (held there: BINMIG_TEST_LOOKED_GATE), saw it run another program and
# start a new session (tests/progs/misc.c --exec): the image is of the
# process it stopped, its memory layout, name and session (a layout read
# before the execve fails the dump or the restore, or leaves
# /proc/PID/stat and cmdline another's); /proc shows after the restore
# what it showed then.  Once alone, once as the root of a tree, with a
# child (tests/progs/sleeper.c pause) made before the execve.
looked() {
	local label=$1 gate=$E2E_TMP/$1.gate out=$E2E_TMP/$1.out img=$E2E_TMP/$1.img
	shift
	mkdir "$gate"
	e2e_start "$out" "$@" "$PROGS/misc" --exec first "second argument" ""
	local pid=$E2E_PID kids=()
	e2e_wait_line "$out" waiting "$pid"
	e2e_wait_syscall "$pid" rt_sigsuspend
	mapfile -t kids < <(tr ' ' '\n' <"/proc/$pid/task/$pid/children" | grep .)
	for k in "${kids[@]}"; do e2e_track "$k"; done
	bm_begin dump
	BINMIG_TEST_LOOKED_GATE=$gate timeout -k 5 "$E2E_BINMIG_TIMEOUT" "$BINMIG" dump "$pid" -o "$img" </dev/null \
		>"$BM_OUT" 2>"$BM_ERR" &
	local dumper=$!
	"$TOOLS/waitfor" --pid "$dumper" -x "$gate/looked" looked 30 ||
		{ e2e_show "$BM_ERR"; e2e_fail "$label: the dump did not come to its gate"; }
	kill -USR2 "$pid"
	e2e_wait_ready "$out" "$pid"
	e2e_wait_syscall "$pid" rt_sigsuspend
	# The child too has done all it does before it waits (its "ready"
	# moves the stdout it shares).
	for k in "${kids[@]}"; do e2e_wait_syscall "$k" pause; done
	e2e_procstate_each before "$img" "$pid" "${kids[@]}"
	touch "$gate/go"
	BM_RC=0
	wait "$dumper" || BM_RC=$?
	bm_ended dump "$pid"
	e2e_expect_ok "$label: dump of $pid, looked at before its execve"
	for k in "${kids[@]}"; do "$TOOLS/pidwait" "$k" 10 || e2e_fail "$label: process $k still runs after the dump"; done
	e2e_reap "$pid"
	e2e_restore "$img" "$pid"
	e2e_wait_syscall "$pid" rt_sigsuspend
	for k in "${kids[@]}"; do e2e_track "$k"; e2e_wait_syscall "$k" pause; done
	e2e_procstate_each after "$img" "$pid" "${kids[@]}"
	# The child's group and session were the test's, led from outside
	# the tree: the restorer's now (tree.sh).
	E2E_PROCSTATE_ACCEPT=${kids[*]:+$E2E_PROCSTATE_GROUP|^(status|thread [0-9]+) NSsid:|^(stat|thread [0-9]+) 6 } \
		e2e_procstate_same_each "$img" "$label: looked at before its execve and setsid" "$pid" "${kids[@]}"
	e2e_signal "$pid" "$out"
	e2e_wait_exit "$pid"
	e2e_expect_pass "$out"
	e2e_log "$label: dumped as it was once stopped, not as it was when looked at"
}
looked exec env BM_TEST_MARKER="environment survives"
# shellcheck disable=SC2016 # expanded by sh
looked exectree env BM_TEST_MARKER="environment survives" sh -c '"$0" pause & exec "$@"' "$PROGS/sleeper"
