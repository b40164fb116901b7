#!/usr/bin/env bash
# test-needs: hosts
# The workload's PID is taken in host B by another process (a placeholder
# started there with that very PID through ns_last_pid).  A migration to B
# must fail with the destination's reason (PID taken, exit status 6), in
# stream mode and in file mode; the workload runs on at the source and the
# placeholder is untouched.  Once the placeholder is gone, the migration
# succeeds and the workload finishes in B with the unmigrated run's result.
# (In stream mode the destination fails while the image still flows and
# the source's next send fails: the source must still report the RESULT's
# reason and class.  A wrong one is recorded and fails the test at its
# end, after the other checks.)
source "$(dirname "$0")/migrate-lib.sh"
mig_init
mig_start_workload

placeholder=$(mig_spawn B "$E2E_TMP/placeholder.out" --pid "$MIG_PID" sleep 300)
placeholder_start=$(mig_starttime B "$placeholder")
[[ -n $placeholder_start ]] || e2e_fail "the placeholder $placeholder in host B is gone"

failures=0
for mode in file stream; do
	what="$mode mode, PID $MIG_PID taken in host B"
	mig_bm A migrate "$MIG_PID" "${MIG_ADDR[B]}:$MIG_PORT" --key "$MIG_KEY" --mode "$mode"
	mig_expect_failure any "restore at the destination|checkpoint and transfer|transfer" "$MIG_PID" "$what"
	first=$(head -n 1 "$BM_ERR")
	[[ $BM_RC == 6 && $first == *"PID $MIG_PID is taken"* ]] ||
		mig_defer_fail "$what: migrate exited $BM_RC, expected 6 with the destination's reason: $first"
	mig_assert_running A "$MIG_PID" "$what"
	mig_assert_unfinished "$MIG_OUT" "$what"
	[[ $(mig_starttime B "$placeholder") == "$placeholder_start" ]] ||
		e2e_fail "$what: the placeholder in host B was disturbed"
	[[ $(mig_state B "$placeholder") == S ]] ||
		e2e_fail "$what: the placeholder in host B is in state '$(mig_state B "$placeholder")'"
	failures=$((failures + 1))
	mig_wait_log B "migration failed ($mode mode, $MIG_SEAL): PID $MIG_PID is taken" 1 "$what"
	e2e_log "ok: $what: refused with the destination's reason, the workload runs on in host A"
done

mig_in B kill -KILL "$placeholder"
mig_assert_gone B "$placeholder" "the placeholder, killed"
mig_bm A migrate "$MIG_PID" "${MIG_ADDR[B]}:$MIG_PORT" --key "$MIG_KEY"
e2e_expect_ok "migration once the PID is free"
mig_assert_running B "$MIG_PID" "after the migration"
mig_expect_result B "$MIG_PID" "$MIG_OUT"
mig_finish
