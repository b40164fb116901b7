#!/usr/bin/env bash
# test-needs: hosts
# A migration that fails after the destination has bound the process's
# path-named unix sockets (serve's map-memory point armed: the restore
# fails after the descriptors are made), between hosts that share the
# file system: the source had moved its socket files aside before the
# image left, and puts them back over what the destination left at their
# names, so it resumes with every name (no warning that one was lost);
# its socket files are the originals (same inodes), and /proc shows the
# same of it as before.  The next migration, unarmed, then succeeds; back
# in A after one more, /proc shows the same of it as before, and the
# program's checks of its sockets, names included, pass.
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/migrate-lib.sh"
# Before the hosts start their serve: it reads this file for each migration.
FAULT_DIR=$(mktemp -d /tmp/binmig-sockname.XXXXXX)
E2E_TMP_MORE+=("$FAULT_DIR") # removed on every exit, a skip too
export BINMIG_SERVE_FAULT_FILE=$FAULT_DIR/serve-point
: >"$BINMIG_SERVE_FAULT_FILE"
mig_init unixsock
echo map-memory >"$BINMIG_SERVE_FAULT_FILE"
mkdir -p "$E2E_TMP/unixsock"
out=$E2E_TMP/unixsock.out
pid=$(mig_spawn A "$out" --pid "$MIG_WORKLOAD_PID" "$PROGS/unixsock" carried "$E2E_TMP/unixsock")
mig_in A "$TOOLS/waitfor" --pid "$pid" -x "$out" ready 20 || { e2e_show "$out"; e2e_fail "unixsock did not get ready"; }
declare -A inode
for sock in seq dgram; do
	inode[$sock]=$(stat -c %i "$E2E_TMP/unixsock/$sock.sock") || e2e_fail "no socket file $sock.sock"
done

mig_procstate A "$pid" "$E2E_TMP/failed.proc-before"
cp "$E2E_TMP/failed.proc-before" "$E2E_TMP/moved.proc-before"
what="restore failing after the sockets were bound"
mig_bm A migrate "$pid" "${MIG_ADDR[B]}:$MIG_PORT" --key "$MIG_KEY"
mig_expect_failure any "restore at the destination" "$pid" "$what"
! grep -q "lost its name" "$BM_ERR" || e2e_fail "$what: a socket lost its name: $(cat "$BM_ERR")"
for sock in seq dgram; do
	[[ $(stat -c %i "$E2E_TMP/unixsock/$sock.sock" 2>/dev/null) == "${inode[$sock]}" ]] ||
		e2e_fail "$what: $sock.sock is not the source's socket file again"
done
[[ -z $(find "$E2E_TMP/unixsock" -name '*.binmig-*') ]] || e2e_fail "$what: a moved-aside socket file was left"
mig_assert_running A "$pid" "$what"
mig_assert_gone B "$pid" "$what"
mig_procstate A "$pid" "$E2E_TMP/failed.proc-after"
e2e_procstate_same "$E2E_TMP/failed.proc" "$what"
e2e_log "ok: $what: the source resumed with its socket files at their names"

: >"$BINMIG_SERVE_FAULT_FILE"
mig_bm A migrate "$pid" "${MIG_ADDR[B]}:$MIG_PORT" --key "$MIG_KEY"
e2e_expect_ok "the next migration"
mig_assert_running B "$pid" "after the next migration"
[[ -z $(find "$E2E_TMP/unixsock" -name '*.binmig-*') ]] || e2e_fail "a moved-aside socket file was left after the migration"
# And back, where /proc shows the same of it as before the failed one.
mig_bm B migrate "$pid" "${MIG_ADDR[A]}:$MIG_PORT" --key "$MIG_KEY"
e2e_expect_ok "the migration back to host A"
mig_assert_running A "$pid" "after the migration back"
mig_procstate A "$pid" "$E2E_TMP/moved.proc-after"
e2e_procstate_same "$E2E_TMP/moved.proc" "after the migration back"
mig_in A kill -USR1 "$pid"
mig_in A "$TOOLS/waitfor" --pid "$pid" "$out" "PASS" 30 || true
mig_in A "$TOOLS/pidwait" --reaped "$pid" 30 || e2e_fail "unixsock did not end"
e2e_expect_pass "$out"
e2e_log "ok: the next migration carried the names; back in host A /proc shows the process as before; its checks passed"
