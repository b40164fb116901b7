#!/usr/bin/env bash
# test-needs: hosts
# No daemon listens on the port: migrate fails in the connect phase (exit
# 8, "refused"), before the suspend, and the workload runs on untouched in
# host A and finishes with the unmigrated run's result.  Also an address
# of the hosts' link that no host has (nothing answers ARP): the connect
# fails within its 10 s limit, with the same outcome (checked with room:
# within 30 s, where the kernel alone would retry its SYN for 2 minutes).
source "$(dirname "$0")/migrate-lib.sh"
mig_init
mig_start_workload

what="no daemon on ${MIG_ADDR[B]}:$((MIG_PORT + 1))"
mig_bm A migrate "$MIG_PID" "${MIG_ADDR[B]}:$((MIG_PORT + 1))" --key "$MIG_KEY"
mig_expect_failure 8 connect "$MIG_PID" "$what"
grep -qi "refused" "$BM_ERR" || e2e_fail "$what: migrate does not say the connection was refused"
if grep -q "resumed at the source" "$BM_ERR"; then e2e_fail "$what: migrate says it had suspended the process"; fi
mig_after_failure "$what"

what="nobody at 10.77.0.3"
start=$SECONDS
mig_bm A migrate "$MIG_PID" "10.77.0.3:$MIG_PORT" --key "$MIG_KEY"
mig_expect_failure 8 connect "$MIG_PID" "$what"
((SECONDS - start <= 30)) || e2e_fail "$what: migrate took $((SECONDS - start)) s to give up"
if grep -q "resumed at the source" "$BM_ERR"; then e2e_fail "$what: migrate says it had suspended the process"; fi
mig_after_failure "$what"

mig_expect_result A "$MIG_PID" "$MIG_OUT"
