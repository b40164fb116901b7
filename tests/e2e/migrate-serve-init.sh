#!/usr/bin/env bash
# test-needs: hosts
# binmig serve as PID 1 of each host's PID namespace (harness/hosts up
# --serve-as-init), as a container runs a daemon: nothing else reaps the
# host's orphans.  A workload started in host A (an orphan of PID 1 there)
# goes A -> B -> A -> B -> A with the same PID.  Each hop needs its PID free
# at the destination, where the original of the hop before was killed:
# serve must have reaped it (a zombie would hold the PID).  Each daemon
# logs the end of every process it reaped: the two originals killed in its
# host, and in A the workload's own normal end.
source "$(dirname "$0")/migrate-lib.sh"
mig_init --serve-as-init
for h in A B; do
	[[ $(mig_in "$h" cat /proc/1/comm) == binmig ]] || e2e_fail "host $h's PID 1 is $(mig_in "$h" cat /proc/1/comm), not binmig"
	[[ $(mig_in "$h" cat /proc/1/cmdline | tr "\0" " ") == *" serve --listen "* ]] ||
		e2e_fail "host $h's PID 1 is not binmig serve"
done
e2e_log "binmig serve is PID 1 in both hosts"

mig_start_workload
here=A there=B
for round in 1 2 3 4; do
	what="migration $round ($here -> $there)"
	mig_assert_unfinished "$MIG_OUT" "before $what"
	mig_assert_running "$here" "$MIG_PID" "before $what"
	mig_bm "$here" migrate "$MIG_PID" "${MIG_ADDR[$there]}:$MIG_PORT" --key "$MIG_KEY" --stats csv
	e2e_expect_ok "$what"
	mig_csv_check "$MIG_PID" 32
	mig_assert_running "$there" "$MIG_PID" "after $what"
	mig_assert_gone "$here" "$MIG_PID" "after $what"
	tmp=$here here=$there there=$tmp
done
[[ $here == A ]] || e2e_fail "the workload should be back in host A"
for h in A B; do
	mig_wait_log "$h" "process $MIG_PID ended (killed by signal 9)" 2 "serve in $h reaping the originals"
done
mig_expect_result A "$MIG_PID" "$MIG_OUT"
mig_wait_log A "process $MIG_PID ended (exit status 0)" 1 "serve in A reaping the workload's end"
