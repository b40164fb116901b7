#!/usr/bin/env bash
# test-needs: hosts
# The destination daemon dies (SIGKILL to serve and to its worker) in the
# middle of the transfer.  The connection goes through the fault proxy,
# which holds the stream after 8 MiB of the 32 MiB image and says so; the
# test waits until serve's worker has taken all of that in.  At that point
# the workload is frozen at the source and, in stream mode, half built at
# the destination (in file mode nothing is built before the whole image is
# in).  Then both daemon processes are killed.  migrate must fail naming the
# phase, the workload must run on at the source and finish with the
# unmigrated run's result, and nothing may be left at its PID in host B.
# Stream mode against the serve harness/hosts started in B, then file mode
# against a second serve this test starts there.
source "$(dirname "$0")/migrate-lib.sh"
mig_init
mig_start_workload
HOLD_AT=$((8 << 20))
SECOND_PORT=$((MIG_PORT + 1))

# queues PORT: the Send-Q of the proxy's connection to serve (in A) and
# the Recv-Q of serve's end (in B), as "SENDQ RECVQ".
queues() {
	local send recv
	send=$(ip netns exec binmig-A ss -tnH state established "( dport = :$1 )" | awk '{ print $2 }')
	recv=$(ip netns exec binmig-B ss -tnH state established "( sport = :$1 )" | awk '{ print $1 }')
	echo "${send:-?} ${recv:-?}"
}

# wait_drained PORT: until both queues are empty (at most 20 s).  The
# kernel has no notification for this; it is read every 10 ms.
wait_drained() {
	local deadline=$((SECONDS + 20)) q
	while q=$(queues "$1") && [[ $q != "0 0" ]]; do
		((SECONDS < deadline)) || e2e_fail "the connection to serve did not drain: Send-Q Recv-Q = $q"
		sleep 0.01
	done
}

# kill_during_transfer MODE PORT SERVE: SERVE is serve's root-namespace PID.
kill_during_transfer() {
	local mode=$1 port=$2 serve=$3 proxy_out=$E2E_TMP/proxy-$1.out worker phase
	# shellcheck disable=SC2034 # for mig_proxy_done
	MIG_PROXY_PID=$(mig_spawn A "$proxy_out" "$TOOLS/faultproxy" "127.0.0.1:$MIG_PROXY_PORT" \
		"${MIG_ADDR[B]}:$port" --hold-after "$HOLD_AT")
	e2e_wait_line "$proxy_out" listening "" 10 -x
	mig_bm_bg A migrate "$MIG_PID" "127.0.0.1:$MIG_PROXY_PORT" --key "$MIG_KEY" --mode "$mode"
	"$TOOLS/waitfor" "$proxy_out" "holding $HOLD_AT" 30 ||
		{ e2e_show "$proxy_out" "$BM_ERR"; e2e_fail "$mode: the proxy never held the stream"; }
	worker=$(cat "/proc/$serve/task/$serve/children" 2>/dev/null) || true
	worker=${worker% }
	[[ $worker =~ ^[0-9]+$ ]] || e2e_fail "$mode: serve $serve has not one worker during the transfer: '$worker'"
	# The worker has taken in everything the proxy let through: nothing
	# unacknowledged on the proxy's side, nothing unread on the worker's,
	# and the worker blocked in poll (done with what it read).  The proxy
	# holds, so none of this can change again.
	wait_drained "$port"
	e2e_wait_syscall "$worker" poll 20
	[[ $(mig_state A "$MIG_PID") == t ]] ||
		e2e_fail "$mode: the workload is in state '$(mig_state A "$MIG_PID")' during the transfer, not stopped"
	local built
	built=$(mig_state B "$MIG_PID")
	if [[ $mode == stream ]]; then
		[[ -n $built ]] || e2e_fail "stream: nothing is built at the destination after $HOLD_AT bytes"
		e2e_log "stream: a half-built process $MIG_PID (state $built) exists in host B"
	else
		[[ -z $built ]] || e2e_fail "file: a process $MIG_PID (state $built) exists in host B before the image is in"
	fi
	e2e_log "$mode: killing serve $serve and its worker $worker (root PIDs)"
	kill -KILL "$serve" "$worker"
	mig_bm_wait
	mig_proxy_done
	e2e_log "$mode: proxy: $(tr '\n' ' ' <"$proxy_out")"
	phase=transfer
	[[ $mode == stream ]] && phase="checkpoint and transfer"
	mig_expect_failure any "$phase" "$MIG_PID" "$mode: serve killed"
	mig_after_failure "$mode: serve killed during the transfer"
}

kill_during_transfer stream "$MIG_PORT" "$(mig_serve_pid B)"

# A second daemon in B.  hosts exec ends in nsenter, which forks serve into
# B's PID namespace: serve is nsenter's child.
"$HOSTS_CMD" exec B -- "$BINMIG" serve --listen "${MIG_ADDR[B]}:$SECOND_PORT" --key "$MIG_KEY" \
	</dev/null >/dev/null 2>"$E2E_TMP/serve2.log" &
nsenter_pid=$!
e2e_track "$nsenter_pid"
disown "$nsenter_pid" # it ends killed with its serve; no job report for that
e2e_wait_line "$E2E_TMP/serve2.log" "" "$nsenter_pid" 10
grep -q "binmig serve: listening on ${MIG_ADDR[B]}:$SECOND_PORT" "$E2E_TMP/serve2.log" ||
	e2e_fail "second serve: $(cat "$E2E_TMP/serve2.log")"
serve2=$(cat "/proc/$nsenter_pid/task/$nsenter_pid/children")
serve2=${serve2% }
[[ $serve2 =~ ^[0-9]+$ ]] || e2e_fail "second serve: cannot find it under nsenter $nsenter_pid"
kill_during_transfer file "$SECOND_PORT" "$serve2"

mig_expect_result A "$MIG_PID" "$MIG_OUT"
