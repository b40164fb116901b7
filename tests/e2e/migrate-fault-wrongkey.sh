#!/usr/bin/env bash
# test-needs: hosts
# A source holding another key is turned away in the handshake: migrate
# fails in the authentication phase, before the suspend; only the
# handshake's HELLO and PROOF (97 bytes) went to the destination (counted
# by the fault proxy, which forwards without a fault here); serve's log
# says it rejected the peer.  The workload was never stopped: it runs on
# in host A, untraced, and finishes with the unmigrated run's result;
# nothing appears at its PID in host B.
source "$(dirname "$0")/migrate-lib.sh"
mig_init
mig_start_workload

other_key=$E2E_TMP/other-key
"$BINMIG" keygen "$other_key" || e2e_fail "binmig keygen $other_key failed"
cmp -s "$MIG_KEY" "$other_key" && e2e_fail "keygen made the same key twice"

for mode in stream file; do
	what="$mode mode, another key"
	out=$E2E_TMP/proxy-$mode.out
	mig_proxy "$out"
	mig_bm A migrate "$MIG_PID" "127.0.0.1:$MIG_PROXY_PORT" --key "$other_key" --mode "$mode"
	mig_proxy_done
	mig_expect_failure 8 authentication "$MIG_PID" "$what"
	grep -q "authentication failed" "$BM_ERR" || e2e_fail "$what: migrate does not say authentication failed"
	if grep -q "resumed at the source" "$BM_ERR"; then
		e2e_fail "$what: migrate says it resumed the process: it was suspended before the handshake ended"
	fi
	grep -Eq "^closed up 97 down [0-9]+$" "$out" ||
		e2e_fail "$what: more than HELLO and PROOF went to the destination: $(tail -n 1 "$out")"
	mig_after_failure "$what"
done
mig_wait_log B "rejected: " 2 "a source with another key"
[[ $(grep -c "rejected: .*authentication failed" "$HOSTS_STATE/serve-B.log") == 2 ]] ||
	e2e_fail "serve-B.log does not say why it rejected the peers: $(grep 'rejected' "$HOSTS_STATE/serve-B.log")"
if grep -q "migrat" "$HOSTS_STATE/serve-B.log"; then
	e2e_fail "serve-B.log shows a migration from a rejected peer: $(grep 'migrat' "$HOSTS_STATE/serve-B.log")"
fi
mig_expect_result A "$MIG_PID" "$MIG_OUT"
