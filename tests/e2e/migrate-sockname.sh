#!/usr/bin/env bash
# A migration that fails after the destination has bound the process's
# path-named unix sockets (serve's map-memory point armed: the restore
# fails after the descriptors are made): the source resumes, and since
# the destination replaced the socket files on the shared file system,
# migrate says, for each such socket, that it runs on without its name
# (docs/process-state.md, the known gap), rather than resuming it
# silently different.  The next migration, unarmed, refuses the process
# for the names it lost (exit 4), leaving it running.
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/migrate-lib.sh"
# Before the hosts start their serve: it reads this file for each migration.
FAULT_DIR=$(mktemp -d /tmp/binmig-sockname.XXXXXX)
export BINMIG_SERVE_FAULT_FILE=$FAULT_DIR/serve-point
: >"$BINMIG_SERVE_FAULT_FILE"
mig_init unixsock
trap 'rc=$?; set +e; rm -rf "$FAULT_DIR"; (exit $rc); mig_cleanup' EXIT
echo map-memory >"$BINMIG_SERVE_FAULT_FILE"
mkdir -p "$E2E_TMP/unixsock"
out=$E2E_TMP/unixsock.out
pid=$(mig_spawn A "$out" --pid "$MIG_WORKLOAD_PID" "$PROGS/unixsock" carried "$E2E_TMP/unixsock")
mig_in A "$TOOLS/waitfor" --pid "$pid" -x "$out" ready 20 || { e2e_show "$out"; e2e_fail "unixsock did not get ready"; }

what="restore failing after the sockets were bound"
mig_bm A migrate "$pid" "${MIG_ADDR[B]}:$MIG_PORT" --key "$MIG_KEY"
mig_expect_failure any "restore at the destination" "$pid" "$what"
for sock in seq dgram; do
	grep -q "warning: process $pid runs on, but its unix socket fd [0-9]* lost its name $E2E_TMP/unixsock/$sock.sock: the destination replaced the socket file" "$BM_ERR" ||
		e2e_fail "$what: migrate does not say that $sock.sock lost its name: $(cat "$BM_ERR")"
done
mig_assert_running A "$pid" "$what"
mig_assert_gone B "$pid" "$what"
e2e_log "ok: $what: the source resumed and says which names were lost"

: >"$BINMIG_SERVE_FAULT_FILE"
# Without its names the process is one binmig can no longer move as it
# was: the next migration, unarmed, is refused and leaves it running.
mig_bm A migrate "$pid" "${MIG_ADDR[B]}:$MIG_PORT" --key "$MIG_KEY"
mig_expect_failure 4 "suspend" "$pid" "the next migration"
grep -q "bound to $E2E_TMP/unixsock/seq.sock, which no longer names it" "$BM_ERR" ||
	e2e_fail "the next migration is not refused for the lost name: $(cat "$BM_ERR")"
mig_assert_running A "$pid" "after the refused migration"
mig_in A kill -KILL "$pid"
mig_in A "$TOOLS/pidwait" --reaped "$pid" 20 || e2e_fail "unixsock $pid not reaped in host A"
e2e_log "ok: the next migration is refused for the lost name, the process untouched"
