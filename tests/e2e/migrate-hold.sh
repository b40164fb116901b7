#!/usr/bin/env bash
# test-needs: hosts
# The destination holds the restored process until the source confirms
# (docs/protocol.md §7): a copy whose source resumes instead never runs.
# hostmark appends the name of each host it runs in to a log in the
# directory both hosts share.  The source fails on receiving RESULT (an
# injected reset, the case `make soak` once met): it resumes the original
# in A and sends ABORT, and the destination kills its held copy.  If that
# copy had run even one turn of its loop, the log would name host B.  Then
# a migration that succeeds must add B to the log (so the log does see a
# copy that runs), the way back adds A, and the program finishes.  A
# source killed while it sends the image (send-image/crash) leaves the
# original running in A as it was (parked, checkpoint.h) and no copy in B.
source "$(dirname "$0")/migrate-lib.sh"
mig_init hostmark
e2e_has_faults ||
	e2e_fail "$BINMIG is built without fault injection (make test-build)"
log=$E2E_TMP/hosts.log out=$E2E_TMP/hostmark.out gate=$E2E_TMP/gate
PID=$(mig_spawn A "$out" --pid "$MIG_WORKLOAD_PID" "$PROGS/hostmark" "$log" "$gate")
mig_in A "$TOOLS/waitfor" --pid "$PID" "$out" ready 20 || { e2e_show "$out" "$out.err"; e2e_fail "hostmark did not get ready"; }
expect_log() { # LINES... WHAT: the log is exactly these lines
	local want what=${*: -1}
	want=$(printf '%s\n' "${@:1:$#-1}")
	[[ $(cat "$log") == "$want" ]] || e2e_fail "$what: the hosts log is [$(tr '\n' ' ' <"$log")], expected [${want//$'\n'/ }]"
}
expect_log binmig-a "at the start"

aborted=0
for mode in stream file; do
	what="$mode mode, the source failing on RESULT"
	BINMIG_FAULT=recv-result mig_bm A migrate "$PID" "${MIG_ADDR[B]}:$MIG_PORT" --key "$MIG_KEY" --mode "$mode"
	mig_expect_failure 8 "restore at the destination" "$PID" "$what"
	aborted=$((aborted + 1))
	mig_wait_log B "after the restore" "$aborted" "$what"
	grep "after the restore" "$HOSTS_STATE/serve-B.log" | tail -n 1 | grep -q "the process restored here was ended" ||
		e2e_fail "$what: serve-B.log: $(tail -n 1 "$HOSTS_STATE/serve-B.log")"
	mig_assert_running A "$PID" "$what"
	mig_assert_gone B "$PID" "$what"
	expect_log binmig-a "$what"
done

what="the source killed while it sends the image"
BINMIG_FAULT=send-image/crash mig_bm A migrate "$PID" "${MIG_ADDR[B]}:$MIG_PORT" --key "$MIG_KEY"
[[ $BM_RC == 137 ]] || e2e_fail "$what: binmig exited $BM_RC, not 137 (SIGKILL)"
mig_assert_running A "$PID" "$what"
mig_assert_gone B "$PID" "$what"
expect_log binmig-a "$what"

mig_bm A migrate "$PID" "${MIG_ADDR[B]}:$MIG_PORT" --key "$MIG_KEY"
e2e_expect_ok "migration to B"
mig_assert_running B "$PID" "after the migration to B"
mig_assert_gone A "$PID" "after the migration to B"
# It runs in B: the next turn of its loop writes there (waited for, up to 20 s).
mig_in B "$TOOLS/waitfor" --pid "$PID" "$log" binmig-b 20 || e2e_fail "hostmark in B did not log host B"
mig_bm B migrate "$PID" "${MIG_ADDR[A]}:$MIG_PORT" --key "$MIG_KEY"
e2e_expect_ok "migration back to A"
mig_assert_running A "$PID" "after the migration back to A"
touch "$gate"
mig_in A "$TOOLS/waitfor" --pid "$PID" "$out" "result " 60 || { e2e_show "$out" "$out.err"; e2e_fail "hostmark did not finish"; }
mig_in A "$TOOLS/pidwait" --reaped "$PID" 10 || true
expect_log binmig-a binmig-b binmig-a "at the end"
grep -qx "result 3" "$out" || e2e_fail "hostmark says $(tail -n 1 "$out"), expected result 3"
e2e_log "a held copy never ran in two failed migrations; the process ran in A, B, A"
