#!/usr/bin/env bash
# Process and thread attributes (tests/progs/attrs.c): OOM score, nice,
# I/O priority, timer slack, THP disable, child subreaper, keep-caps,
# machine-check policy, securebits, a smaller bounding set, no_new_privs,
# mlockall(MCL_FUTURE) with and without MCL_ONFAULT,
# and a second thread with its own policy, nice, slack and CPU; and, in
# another run, the user and group ids of a process that gave up root:
# dumped and restored, the program checks them all.  What binmig cannot carry is
# refused (exit 4, one line naming it) and the process runs on untouched:
# a seccomp filter, a parent-death signal, capabilities other than the
# user ids give, a NUMA policy for the process or for one area (mbind).
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/lib.sh"
e2e_init attrs
e2e_state_test attrs carried
e2e_state_test attrs creds
e2e_state_test attrs lockall

declare -A said=([seccomp]="runs under seccomp" [pdeathsig]="when its parent dies"
	[caps]="capabilities other than its user ids give" [numa]="NUMA memory policy" [mbind]="with a NUMA policy (bind")
for mode in seccomp pdeathsig caps numa mbind; do
	out=$E2E_TMP/$mode.out
	e2e_start "$out" "$PROGS/attrs" "$mode"
	pid=$E2E_PID
	e2e_wait_ready "$out" "$pid"
	bm dump "$pid" -o "$E2E_TMP/$mode.img"
	e2e_expect_error 4 "dump of a process with $mode"
	grep -q "${said[$mode]}" "$BM_ERR" || e2e_fail "$mode: the refusal does not say \"${said[$mode]}\": $(cat "$BM_ERR")"
	[[ ! -e $E2E_TMP/$mode.img ]] || e2e_fail "$mode: an image was left"
	e2e_assert_alive "$pid"
	[[ $(e2e_tracer "$pid") == 0 ]] || e2e_fail "$mode: the process is still traced"
	e2e_signal "$pid" "$out"
	e2e_wait_exit "$pid"
	e2e_expect_pass "$out"
	e2e_log "ok: $mode refused, the process untouched"
done
