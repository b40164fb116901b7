#!/usr/bin/env bash
# test-needs: hosts
# Strangers cannot keep an honest peer out of binmig serve, nor make it
# grow.  A serve of the test's own in host B, whose handshake deadline is
# 60 s, is attacked from a second address of host A (10.77.0.3, a stranger
# without the key): the hostile tool keeps 50 silent connections, one
# stream of random bytes and one peer trickling a HELLO one byte a second
# open against it, reopening each as soon as serve drops it.  Meanwhile
# the workload migrates A -> B (to the attacked serve) -> A three times.
# Every migration into B succeeds on its first attempt: had its handshake
# waited behind a stranger's, it would have outlasted migrate's own 10 s
# handshake limit and failed (the times are logged for comparison with
# the migration before the attack).  The attacked serve's descriptors stay
# within its bound (16 handshakes per source address) and its resident
# memory does not grow; it logs the drops, at most 10 lines per 10 s; its
# descriptors come back to where they were once the strangers leave.
# Then an authenticated peer that stalls after START holds a serve only
# until its --io-timeout, after which the next migration goes through.
source "$(dirname "$0")/migrate-lib.sh"
mig_init
STRANGER=10.77.0.3
ATTACKED_PORT=$((MIG_PORT + 1))
STALL_PORT=$((MIG_PORT + 2))
ip -n binmig-A addr add "$STRANGER/24" dev binmig-a || e2e_fail "cannot give host A a second address"

fds_of() { find "/proc/$1/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }
rss_of() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }

stop_own_serve() {
	kill -TERM "$SERVE_PID"
	"$TOOLS/pidwait" "$SERVE_JOB" 20 || e2e_fail "our serve in B did not stop"
}

MAX_FDS=0 MAX_RSS=0
sample_serve() {
	local f r
	f=$(fds_of "$ATTACKED")
	r=$(rss_of "$ATTACKED")
	((f > MAX_FDS)) && MAX_FDS=$f
	((r > MAX_RSS)) && MAX_RSS=$r
	return 0
}

# round_trip TAG: A -> B (the attacked serve) -> A, each on its first
# attempt; the time of the migration into B goes to TIMES.
TIMES=()
round_trip() {
	local tag=$1 t0
	mig_assert_unfinished "$MIG_OUT" "before $tag"
	t0=$(now_ms)
	mig_bm A migrate "$MIG_PID" "${MIG_ADDR[B]}:$ATTACKED_PORT" --key "$MIG_KEY"
	e2e_expect_ok "$tag: migration A -> B"
	TIMES+=("$tag:$(($(now_ms) - t0))ms")
	mig_assert_running B "$MIG_PID" "after $tag: migration A -> B"
	sample_serve
	mig_bm B migrate "$MIG_PID" "${MIG_ADDR[A]}:$MIG_PORT" --key "$MIG_KEY"
	e2e_expect_ok "$tag: migration B -> A"
	mig_assert_running A "$MIG_PID" "after $tag: migration B -> A"
	sample_serve
}

attacked_log=$E2E_TMP/serve-attacked.log
mig_own_serve B "$ATTACKED_PORT" "$attacked_log" --handshake-timeout 60
ATTACKED=$SERVE_PID
mig_start_workload
round_trip before
FDS0=$(fds_of "$ATTACKED")
RSS0=$(rss_of "$ATTACKED")
MAX_FDS=$FDS0 MAX_RSS=$RSS0
e2e_log "the attacked serve before the strangers: $FDS0 descriptors, $RSS0 KiB resident"

hostile_out=$E2E_TMP/hostile.out
HOSTILE=$(mig_spawn A "$hostile_out" "$TOOLS/hostile" "${MIG_ADDR[B]}:$ATTACKED_PORT" --idle 50 --garbage --trickle \
	--bind "$STRANGER" --limit 600)
mig_in A "$TOOLS/waitfor" --pid "$HOSTILE" -x "$hostile_out" ready 20 ||
	{ e2e_show "$hostile_out" "$hostile_out.err"; e2e_fail "the hostile tool did not start"; }
mig_wait_text "$attacked_log" "$STRANGER:" 1 "the attacked serve dropping strangers"
sample_serve
for round in 1 2 3; do
	round_trip "attack $round"
done
mig_in A kill -TERM "$HOSTILE"
mig_in A "$TOOLS/pidwait" "$HOSTILE" 20 || e2e_fail "the hostile tool did not stop"
read -r _ opened _ closed _ sent < <(grep '^opened ' "$hostile_out") || e2e_fail "the hostile tool said: $(cat "$hostile_out")"
e2e_log "strangers: $opened connections opened, $closed closed by serve, $sent bytes sent"
e2e_log "migration times into the attacked serve: ${TIMES[*]}"
((closed > 50)) || e2e_fail "serve closed only $closed of the strangers' connections"

# Its own descriptors, 16 handshakes of the stranger (the per-source
# bound), the honest peer's connection and the migration under way.
e2e_log "the attacked serve: at most $MAX_FDS descriptors, $MAX_RSS KiB resident"
((MAX_FDS <= FDS0 + 16 + 4)) || e2e_fail "the attacked serve held $MAX_FDS descriptors, $FDS0 before the strangers"
((MAX_RSS <= RSS0 + 2048)) || e2e_fail "the attacked serve grew from $RSS0 to $MAX_RSS KiB"
deadline=$((SECONDS + 20))
until (($(fds_of "$ATTACKED") <= FDS0)); do
	((SECONDS < deadline)) || e2e_fail "the attacked serve still holds $(fds_of "$ATTACKED") descriptors, $FDS0 before"
	"$TOOLS/pidwait" "$ATTACKED" 1 2>/dev/null && e2e_fail "the attacked serve exited"
done
lines=$(grep -c "binmig serve: $STRANGER:" "$attacked_log" || true)
windows=$(grep -c "more connections dropped before authentication" "$attacked_log" || true)
e2e_log "the attacked serve logged $lines drops one by one and $windows summaries"
((lines <= 10 * (windows + 1))) || e2e_fail "the attacked serve logged $lines drops in $windows windows, beyond 10 a window"
stop_own_serve

echo "== an authenticated peer that stalls" >&2
stall_log=$E2E_TMP/serve-stall.log
mig_own_serve B "$STALL_PORT" "$stall_log" --io-timeout 2
# What the client sends before the image: HELLO (16 + 33 bytes), PROOF
# (16 + 32) and the sealed START (16 + 8 + a 16-byte tag).  The proxy
# forwards those, then nothing more.
proxy_out=$E2E_TMP/proxy.out
MIG_PROXY_PID=$(mig_spawn A "$proxy_out" "$TOOLS/faultproxy" "127.0.0.1:$MIG_PROXY_PORT" \
	"${MIG_ADDR[B]}:$STALL_PORT" --hold-after $((49 + 48 + 40)))
e2e_wait_line "$proxy_out" listening "" 10 -x
mig_bm_bg A migrate "$MIG_PID" "127.0.0.1:$MIG_PROXY_PORT" --key "$MIG_KEY"
"$TOOLS/waitfor" -x "$proxy_out" "holding 137" 10 || e2e_fail "the proxy did not hold the migration after START"
mig_wait_text "$stall_log" "migration failed" 1 "the stalled peer's migration ending at serve's --io-timeout"
grep "migration failed" "$stall_log" | grep -q "nothing from the peer for 2000 ms" ||
	e2e_fail "serve did not say the peer stalled: $(grep 'migration failed' "$stall_log")"
# The source may still be held by the proxy: let it go (both sides reset).
# When serve closed, the proxy passed that on and ended by itself.
mig_in A kill -USR2 "$MIG_PROXY_PID" 2>/dev/null || true
mig_bm_wait
((BM_RC != 0)) || e2e_fail "the stalled migration succeeded"
# The source waits for the destination's memory plan reply before it
# freezes the process: it never stopped it.
grep -q "^binmig: migrate: memory plan: the destination gave up: .*nothing from the peer for 2000 ms" "$BM_ERR" ||
	e2e_fail "the stalled migration's source does not give the destination's reason: $(head -n 1 "$BM_ERR")"
[[ $(tail -n 1 "$BM_ERR") == "binmig: migrate: process $MIG_PID runs on at the source (not stopped)" ]] ||
	e2e_fail "the stalled migration's source does not say its process runs on: $(tail -n 1 "$BM_ERR")"
mig_proxy_done
mig_after_failure "after the stalled migration"
stop_own_serve
mig_bm A migrate "$MIG_PID" "${MIG_ADDR[B]}:$MIG_PORT" --key "$MIG_KEY"
e2e_expect_ok "the migration after the stalled one"
mig_assert_running B "$MIG_PID" "after the migration after the stalled one"
mig_expect_result B "$MIG_PID" "$MIG_OUT"
