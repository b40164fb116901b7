#!/usr/bin/env bash
# test-needs: hosts
# The connection drops in the middle of the image: the fault proxy closes
# both sides after N bytes of the client -> server stream (1 MiB and 12 MiB
# into the 32 MiB image in stream mode, 1 MiB in file mode).  Each time
# migrate must fail naming the phase, the workload must run on at the
# source, and nothing may be left at its PID in host B.  Then the same
# daemon takes a normal migration, and the workload finishes in B with the
# unmigrated run's result.
source "$(dirname "$0")/migrate-lib.sh"
mig_init
mig_start_workload

drop() { # MODE N
	local mode=$1 n=$2 phase=transfer what="$1 mode, connection dropped after $2 bytes"
	[[ $mode == stream ]] && phase="checkpoint and transfer"
	mig_proxy "$E2E_TMP/proxy-$mode-$n.out" --drop-after "$n"
	mig_bm A migrate "$MIG_PID" "127.0.0.1:$MIG_PROXY_PORT" --key "$MIG_KEY" --mode "$mode"
	mig_proxy_done
	grep -qx "dropped $n" "$E2E_TMP/proxy-$mode-$n.out" ||
		e2e_fail "$what: the proxy did not drop: $(cat "$E2E_TMP/proxy-$mode-$n.out")"
	mig_expect_failure 8 "$phase" "$MIG_PID" "$what"
	mig_after_failure "$what"
	# The destination saw the stream end in the middle of the image.
	failures=$((failures + 1))
	mig_wait_log B "migration failed" "$failures" "$what"
	[[ $(grep "migration failed" "$HOSTS_STATE/serve-B.log" | tail -n 1) == *"($mode mode, $MIG_SEAL): connection closed"* ]] ||
		e2e_fail "$what: serve-B.log: $(tail -n 1 "$HOSTS_STATE/serve-B.log")"
}
failures=0

drop stream $((1 << 20))
drop stream $((12 << 20))
drop file $((1 << 20))

mig_bm A migrate "$MIG_PID" "${MIG_ADDR[B]}:$MIG_PORT" --key "$MIG_KEY"
e2e_expect_ok "migration after the drops"
mig_assert_running B "$MIG_PID" "after the migration"
mig_expect_result B "$MIG_PID" "$MIG_OUT"
