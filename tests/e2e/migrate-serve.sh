#!/usr/bin/env bash
# test-needs: hosts
# binmig serve and keygen around a migration:
#  - one migration at a time: while a first migration is held right after
#    its handshake and START (the fault proxy holds the client's bytes
#    after those 120), a second source that proves the key is turned away
#    with "busy" in place of the server's proof, before it suspends
#    anything, and serve logs it;
#  - SIGTERM during that migration stops serve only after it: the held
#    migration, released, completes; serve then exits 0 and logs "stopped",
#    and its port is closed; SIGTERM to an idle serve, likewise;
#  - serve listens only on the address it is told (not on the host's
#    loopback);
#  - keygen writes a 0600 key of 64 hex digits and refuses to overwrite a
#    file or to follow a symbolic link;
#  - a key file that others may read (0644) is refused by migrate (the
#    process untouched) and by serve, with a message saying what to do.
source "$(dirname "$0")/migrate-lib.sh"
mig_init
mig_start_workload
OWN_PORT=$((MIG_PORT + 1))
# What the client sends of a migration before the image (docs/protocol.md):
# HELLO (16-byte header + 33 bytes), PROOF (16 + 32) and the sealed START
# (16 + 8 + a 16-byte tag).
HANDSHAKE_AND_START=$((49 + 48 + 40))

# stopped_cleanly LOG WHAT: our serve exits 0 within 20 s and logs "stopped".
stopped_cleanly() {
	local log=$1 what=$2 status=0
	"$TOOLS/pidwait" "$SERVE_JOB" 20 || e2e_fail "$what: serve did not stop"
	wait "$SERVE_JOB" || status=$?
	((status == 0)) || e2e_fail "$what: serve exited $status"
	[[ $(tail -n 1 "$log") == *"binmig serve: stopped" ]] || e2e_fail "$what: serve's last words: $(tail -n 1 "$log")"
	e2e_log "ok: $what: serve exited 0 and logged \"stopped\""
}

echo "== busy, and SIGTERM during a migration" >&2
log=$E2E_TMP/serve-own-B.log
mig_own_serve B "$OWN_PORT" "$log"
proxy_out=$E2E_TMP/proxy.out
MIG_PROXY_PID=$(mig_spawn A "$proxy_out" "$TOOLS/faultproxy" "127.0.0.1:$MIG_PROXY_PORT" \
	"${MIG_ADDR[B]}:$OWN_PORT" --hold-after "$HANDSHAKE_AND_START")
e2e_wait_line "$proxy_out" listening "" 10 -x
# Without a memory plan, the source suspends right after START (with
# one, it would wait for the plan's reply first).
mig_bm_bg A migrate "$MIG_PID" "127.0.0.1:$MIG_PROXY_PORT" --key "$MIG_KEY" --stats csv --no-prefault
"$TOOLS/waitfor" -x "$proxy_out" "holding $HANDSHAKE_AND_START" 10 || e2e_fail "the proxy did not hold the first migration"
# The held migration freezes the process once it has checked that the
# destination's CPU can run it, after START: that migration's tracer.
frozen_by() {
	local deadline=$((SECONDS + 30)) state tracer
	while :; do
		state=$(mig_state A "$MIG_PID")
		tracer=$(mig_in A awk '/^TracerPid:/ { print $2 }' "/proc/$MIG_PID/status")
		[[ $state == [tT] && -n $tracer && $tracer != 0 ]] && { echo "$tracer"; return 0; }
		((SECONDS < deadline)) || { echo "state '$state', tracer '$tracer'"; return 1; }
		sleep 0.05
	done
}
held=$(frozen_by) || e2e_fail "the held migration did not freeze process $MIG_PID within 30 s: $held"
# The client sends START only after the server's PROOF, which serve sends
# as it hands the connection to a worker: the worker runs by now.
mig_bm A migrate "$MIG_PID" "${MIG_ADDR[B]}:$OWN_PORT" --key "$MIG_KEY"
mig_expect_failure 8 authentication "$MIG_PID" "a second migration while one is under way"
grep -q "busy" "$BM_ERR" || e2e_fail "the second migration was not told that the destination is busy"
# The held migration has the process frozen still; the refused one, turned
# away in its handshake, never touched it.
now=$(frozen_by) && [[ $now == "$held" ]] ||
	e2e_fail "after the busy refusal: process $MIG_PID is not frozen by the held migration (tracer $held): $now"
if grep -q "resumed" "$BM_ERR"; then e2e_fail "the refused migration suspended the process"; fi
grep -q "refused: destination busy with another migration" "$log" || e2e_fail "serve did not log the busy refusal: $(tail -n 2 "$log")"
e2e_log "ok: a second source is turned away with \"busy\""

kill -TERM "$SERVE_PID"
mig_wait_text "$log" "stopping (SIGTERM), after the migration under way" 1 "SIGTERM during a migration"
mig_in A kill -USR1 "$MIG_PROXY_PID"
mig_bm_wait
e2e_expect_ok "the held migration, released after serve's SIGTERM"
mig_csv_check "$MIG_PID" 32
mig_proxy_done
stopped_cleanly "$log" "SIGTERM during a migration"
mig_assert_running B "$MIG_PID" "after the held migration"
mig_assert_gone A "$MIG_PID" "after the held migration"
if mig_in A bash -c "exec 3<>/dev/tcp/${MIG_ADDR[B]}/$OWN_PORT" 2>/dev/null; then
	e2e_fail "serve's port ${MIG_ADDR[B]}:$OWN_PORT still accepts connections after it stopped"
fi

echo "== SIGTERM to an idle serve" >&2
log=$E2E_TMP/serve-own-A.log
mig_own_serve A "$OWN_PORT" "$log"
kill -TERM "$SERVE_PID"
stopped_cleanly "$log" "SIGTERM to an idle serve"
grep -q "stopping (SIGTERM)$" "$log" || e2e_fail "idle serve's log: $(cat "$log")"

echo "== serve listens only where it is told" >&2
listeners=$(ip netns exec binmig-B ss -Hltn | awk '{ print $4 }')
[[ $listeners == "${MIG_ADDR[B]}:$MIG_PORT" ]] || e2e_fail "listening sockets in host B: $listeners"
mig_in B bash -c "exec 3<>/dev/tcp/${MIG_ADDR[B]}/$MIG_PORT" || e2e_fail "cannot connect to serve on ${MIG_ADDR[B]}:$MIG_PORT"
if mig_in B bash -c "exec 3<>/dev/tcp/127.0.0.1/$MIG_PORT" 2>/dev/null; then
	e2e_fail "serve listening on ${MIG_ADDR[B]} accepts connections on 127.0.0.1 too"
fi
e2e_log "ok: serve is reachable on ${MIG_ADDR[B]}:$MIG_PORT only"

echo "== keygen" >&2
fresh=$E2E_TMP/fresh-key
bm keygen "$fresh"
e2e_expect_ok "keygen"
[[ $(stat -c %a "$fresh") == 600 ]] || e2e_fail "keygen made a key of mode $(stat -c %a "$fresh")"
if ! grep -Eqx '[0-9a-fA-F]{64}' "$fresh" || [[ $(wc -l <"$fresh") != 1 ]]; then
	e2e_fail "keygen's file is not 64 hex digits and a newline: $(cat -v "$fresh")"
fi
cp -p "$MIG_KEY" "$E2E_TMP/key.copy"
bm keygen "$MIG_KEY"
e2e_expect_error 7 "keygen over an existing key"
grep -q "already exists" "$BM_ERR" || e2e_fail "keygen over an existing key: $(cat "$BM_ERR")"
cmp -s "$MIG_KEY" "$E2E_TMP/key.copy" || e2e_fail "keygen changed the existing key"
ln -s "$E2E_TMP/no-such-target" "$E2E_TMP/link-key"
bm keygen "$E2E_TMP/link-key"
((BM_RC != 0)) || e2e_fail "keygen wrote through a symbolic link"
[[ ! -e $E2E_TMP/no-such-target ]] || e2e_fail "keygen created the target of a symbolic link"
e2e_log "ok: keygen"

echo "== a key file others may read" >&2
open_key=$E2E_TMP/open-key
cp "$MIG_KEY" "$open_key"
chmod 644 "$open_key"
mig_bm B migrate "$MIG_PID" "${MIG_ADDR[A]}:$MIG_PORT" --key "$open_key"
((BM_RC != 0)) || e2e_fail "migrate accepted a key file of mode 0644"
grep -q "readable by others (mode 0644); chmod 600 it" "$BM_ERR" ||
	e2e_fail "migrate with a 0644 key file said: $(cat "$BM_ERR")"
if grep -q "resumed" "$BM_ERR"; then e2e_fail "migrate with a 0644 key file suspended the process"; fi
mig_assert_running B "$MIG_PID" "after migrate refused the 0644 key"
mig_bm B serve --listen "${MIG_ADDR[B]}:$OWN_PORT" --key "$open_key"
((BM_RC != 0)) || e2e_fail "serve accepted a key file of mode 0644"
grep -q "readable by others (mode 0644); chmod 600 it" "$BM_ERR" ||
	e2e_fail "serve with a 0644 key file said: $(cat "$BM_ERR")"
e2e_log "ok: 0644 key files refused"

mig_expect_result B "$MIG_PID" "$MIG_OUT"
