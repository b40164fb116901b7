#!/usr/bin/env bash
# test-needs: hosts
# Damage on the wire: the fault proxy flips one bit of the client -> server
# stream, in stream mode at byte 1 MiB (inside an IMAGE_DATA payload) and in
# the length field of the first frame header past 1 MiB, and in file mode
# at byte 1 MiB.  The frames are sealed (the default): the destination
# must refuse the frame as an authentication failure, a payload by its
# AEAD tag, a header by its CRC before the length is used (serve's log
# says which), the source must fail naming the phase and report the
# destination's reason, the workload must run on at the source, and
# nothing may be left at its PID in host B.  Then the same daemon takes a
# normal migration and the workload finishes in B with the unmigrated
# run's result.  (The source's send fails first, as the destination closes
# after its RESULT; the source must still report that RESULT's reason.  A
# missing reason is recorded and fails the test at its end, after the
# other checks.)
source "$(dirname "$0")/migrate-lib.sh"
mig_init
mig_start_workload
failures=0

corrupt() { # MODE PROXY_FAULT N WHERE LOGGED
	local mode=$1 fault=$2 n=$3 where=$4 logged=$5 phase=transfer first out
	local what="$mode mode, a bit flipped in $where"
	out=$E2E_TMP/proxy-$mode$fault$n.out
	[[ $mode == stream ]] && phase="checkpoint and transfer"
	# The destination found the damage: reporting it under the phase of
	# the destination's restore is as right.
	phase+="|restore at the destination"
	mig_proxy "$out" "$fault" "$n"
	mig_bm A migrate "$MIG_PID" "127.0.0.1:$MIG_PROXY_PORT" --key "$MIG_KEY" --mode "$mode"
	mig_proxy_done
	grep -Eq "^flipped [0-9]+ \(frame [0-9]+ $where" "$out" || e2e_fail "$what: the proxy did not flip there: $(cat "$out")"
	e2e_log "proxy: $(grep '^flipped' "$out")"
	mig_expect_failure 8 "$phase" "$MIG_PID" "$what"
	mig_after_failure "$what"
	failures=$((failures + 1))
	mig_wait_log B "migration failed" "$failures" "$what"
	[[ $(grep "migration failed" "$HOSTS_STATE/serve-B.log" | tail -n 1) == *"($mode mode, $MIG_SEAL): $logged"* ]] ||
		e2e_fail "$what: serve-B.log does not say \"$logged\": $(tail -n 1 "$HOSTS_STATE/serve-B.log")"
	first=$(head -n 1 "$BM_ERR")
	[[ $first == *"$logged"* ]] ||
		mig_defer_fail "$what: the source does not report the destination's reason (\"$logged\"): $first"
}

corrupt stream --flip-at $((1 << 20)) payload "authentication failed: sealed IMAGE_DATA frame"
corrupt stream --flip-header-after $((1 << 20)) "header byte 4" "authentication failed: frame header CRC mismatch"
corrupt file --flip-at $((1 << 20)) payload "authentication failed: sealed IMAGE_DATA frame"

mig_bm A migrate "$MIG_PID" "${MIG_ADDR[B]}:$MIG_PORT" --key "$MIG_KEY"
e2e_expect_ok "migration after the corrupted ones"
mig_assert_running B "$MIG_PID" "after the migration"
mig_expect_result B "$MIG_PID" "$MIG_OUT"
mig_finish
