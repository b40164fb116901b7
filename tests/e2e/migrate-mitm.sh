#!/usr/bin/env bash
# test-needs: hosts
# A man in the middle of a sealed migration (the default), between the
# emulated hosts: the fault proxy lets the handshake through and then
#   (b) drops a frame, (c) repeats one, (d) swaps two (stream mode, and a
#       drop in file mode too): the destination refuses the frame as an
#       authentication failure (serve's log says so), the source fails
#       with the destination's reason;
#   (e) cuts the stream cleanly between two frames: the destination has
#       no IMAGE_END and refuses the image;
#   (f) replays a whole recorded session to the destination later: its
#       handshake fails (a fresh challenge), nothing else is read.
#   On the way back, it flips a bit of RESULT after the destination has
#   restored the process: the source refuses RESULT, resumes its original
#   and aborts, and the destination ends the process it restored.
# Each time the workload runs on at the source and nothing is left at its
# PID in host B; at the end it finishes with the unmigrated run's result.
# (A flipped bit is migrate-fault-corrupt.sh's; a connection cut in the
# middle of a frame is migrate-fault-drop.sh's.)
source "$(dirname "$0")/migrate-lib.sh"
mig_init
mig_start_workload
failures=0

# Frames from the client: 0 HELLO, 1 PROOF, 2 START, 3 MEM_PLAN (stream
# mode; file mode has none), then IMAGE_DATA (the workload's 32 MiB make
# a dozen or more).  Frame 5 is an IMAGE_DATA frame in both modes.
K=5

# meddle MODE PROXY_FAULT SAID LOGGED: a migration through the proxy doing
# PROXY_FAULT (which it confirms by saying SAID) fails as it must, and
# serve's log in B says LOGGED.
meddle() {
	local mode=$1 fault=$2 said=$3 logged=$4 out
	local what="$mode mode, the proxy with $fault $K"
	out=$E2E_TMP/proxy-$mode$fault.out
	mig_proxy "$out" "$fault" "$K"
	mig_bm A migrate "$MIG_PID" "127.0.0.1:$MIG_PROXY_PORT" --key "$MIG_KEY" --mode "$mode"
	mig_proxy_done
	grep -q "^$said" "$out" || e2e_fail "$what: the proxy did not do it: $(cat "$out")"
	e2e_log "proxy: $(grep "^$said" "$out")"
	local phase="transfer"
	[[ $mode == stream ]] && phase="checkpoint and transfer"
	mig_expect_failure 8 "$phase|restore at the destination" "$MIG_PID" "$what"
	mig_after_failure "$what"
	failures=$((failures + 1))
	mig_wait_log B "migration failed" "$failures" "$what"
	local last
	last=$(grep "migration failed" "$HOSTS_STATE/serve-B.log" | tail -n 1)
	[[ $last == *"($mode mode, $MIG_SEAL): $logged"* ]] || e2e_fail "$what: serve-B.log does not say \"$logged\": $last"
	if [[ $logged == "authentication failed"* ]]; then
		# The source hears the destination's reason (deferred: see
		# migrate-fault-corrupt.sh on why it may not).
		[[ $(head -n 1 "$BM_ERR") == *"$logged"* ]] ||
			mig_defer_fail "$what: the source does not report the destination's reason: $(head -n 1 "$BM_ERR")"
	fi
}

refused="authentication failed: sealed IMAGE_DATA frame 3 from the peer does not verify"
meddle stream --drop-frame "dropped frame $K (type 4," "$refused"
meddle stream --repeat-frame "repeated frame $K (type 4," "authentication failed: sealed IMAGE_DATA frame 4 from the peer"
meddle stream --swap-frames "swapped frames $K and $((K + 1)) (the second: type 4," "$refused"
meddle file --drop-frame "dropped frame $K (type 4," "$refused"
meddle stream --cut-frame "cut at frame $K " \
	"connection closed by peer while waiting for the image stream, after 3 sealed frames: the stream has no authenticated end"

# The way back: the server sends CHALLENGE, PROOF, then sealed PROFILE (its
# sealed frame 0), MEM_READY (1) and RESULT (2): frame 4.
what="stream mode, a bit of RESULT flipped on its way back"
out=$E2E_TMP/proxy-back.out
mig_proxy "$out" --flip-back-frame 4
mig_bm A migrate "$MIG_PID" "127.0.0.1:$MIG_PROXY_PORT" --key "$MIG_KEY"
mig_proxy_done
grep -q "^flipped back [0-9]* (frame 4 payload byte 0)$" "$out" || e2e_fail "$what: the proxy did not flip: $(cat "$out")"
mig_expect_failure 8 "restore at the destination" "$MIG_PID" "$what"
grep -q "authentication failed: sealed RESULT frame 2 from the peer does not verify" "$BM_ERR" ||
	e2e_fail "$what: the source does not say that RESULT does not verify: $(head -n 1 "$BM_ERR")"
mig_after_failure "$what"
failures=$((failures + 1))
mig_wait_log B "migration failed" "$failures" "$what"
last=$(grep "migration failed" "$HOSTS_STATE/serve-B.log" | tail -n 1)
[[ $last == *"(stream mode, $MIG_SEAL) after the restore: "*"the process restored here was ended"* ]] ||
	e2e_fail "$what: serve-B.log does not say that the restored process was ended: $last"

# (f) A session recorded while it succeeded, replayed once the workload is
# back in host A.
record=$E2E_TMP/session.rec
mig_proxy "$E2E_TMP/proxy-record.out" --record "$record"
mig_bm A migrate "$MIG_PID" "127.0.0.1:$MIG_PROXY_PORT" --key "$MIG_KEY"
mig_proxy_done
e2e_expect_ok "the recorded migration"
mig_assert_running B "$MIG_PID" "after the recorded migration"
mig_bm B migrate "$MIG_PID" "${MIG_ADDR[A]}:$MIG_PORT" --key "$MIG_KEY"
e2e_expect_ok "the migration back to A"
mig_assert_running A "$MIG_PID" "back in host A"
size=$(stat -c %s "$record")
((size > 32 << 20)) || e2e_fail "the recording has only $size bytes"
replay_out=$E2E_TMP/replay.out
mig_in A "$TOOLS/faultproxy" --replay "$record" "${MIG_ADDR[B]}:$MIG_PORT" --idle 20 >"$replay_out" ||
	e2e_fail "the replay failed: $(cat "$replay_out")"
e2e_log "replay: $(tail -n 1 "$replay_out")"
mig_wait_log B "rejected: " 1 "the replayed session"
grep -q "rejected: .*authentication failed: the client's proof does not match" "$HOSTS_STATE/serve-B.log" ||
	e2e_fail "serve-B.log does not say why it rejected the replay: $(grep 'rejected' "$HOSTS_STATE/serve-B.log")"
mig_after_failure "a replayed session"
[[ $(grep -c "process $MIG_PID migrated in" "$HOSTS_STATE/serve-B.log") == 1 ]] ||
	e2e_fail "serve-B.log shows a migration in beside the recorded one: $(grep 'migrated in' "$HOSTS_STATE/serve-B.log")"

mig_expect_result A "$MIG_PID" "$MIG_OUT"
mig_finish
