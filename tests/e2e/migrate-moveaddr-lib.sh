# shellcheck shell=bash
# The test of a TCP connection to a peer outside the process, whose local
# address moves with the process (migrate --move-addr, serve --movable),
# for one address family: e2e/migrate-moveaddr (IPv4) and
# e2e/migrate-moveaddr6 (IPv6) set
#   FAMILY       4 or 6
#   MOVED        the address that moves (on the peer LAN of harness/hosts
#                up --peer-net), HOST_PREFIX 32 or 128
#   NODAD        set for IPv6: the address is added in A without duplicate
#                address detection
#   PEER_ADDR    the outside peer's address (binmig-P), PEER_PORT its port
#   NOT_TAKEN    the --movable of a destination that does not take MOVED
#   NEIGH_DUMMY  an unused address of the LAN, for a neighbour entry that
#                shows that `ip monitor neigh` listens
#   ACCEPTED     set: the process listens (any address, dual-stack) and
#                the peer dials MOVED, rather than the process binding
#                MOVED and dialling the peer (tests/progs/outpeer.c)
# then call moveaddr_test; what it checks is said in those scripts.
# shellcheck source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/migrate-lib.sh"
ROUNDS=9

# has_addr HOST: whether HOST has the moving address.
has_addr() {
	[[ -n $(mig_in "$1" ip "-$FAMILY" -o addr show to "$MOVED/$HOST_PREFIX") ]]
}

# where WHAT HOST: the moving address is in HOST and only there.
where() {
	local other=B
	[[ $2 == B ]] && other=A
	has_addr "$2" || e2e_fail "$1: host $2 does not have $MOVED"
	! has_addr "$other" || e2e_fail "$1: host $other has $MOVED too"
}

# watch_neigh: a monitor of the peer's neighbour table, into NEIGH_LOG,
# known to be listening: it has reported an entry made for the purpose.
# An entry made before it subscribed goes unreported, so each try makes
# one with another hardware address, until one is reported (at most 50
# tries of 0.2 s).
NEIGH_N=0
watch_neigh() {
	local try lladdr rc
	NEIGH_N=$((NEIGH_N + 1))
	NEIGH_LOG=$E2E_TMP/neigh.$NEIGH_N
	e2e_start "$NEIGH_LOG" "$HOSTS_CMD" exec P -- ip monitor neigh dev binmig-br
	NEIGH_PID=$E2E_PID
	for ((try = 1; ; try++)); do
		((try <= 50)) || { e2e_show "$NEIGH_LOG.err"; e2e_fail "ip monitor neigh reports no entry made"; }
		lladdr=$(printf '02:00:00:00:%02x:%02x' "$NEIGH_N" "$try")
		"$HOSTS_CMD" exec P -- ip neigh replace "$NEIGH_DUMMY" lladdr "$lladdr" dev binmig-br
		rc=0
		"$TOOLS/waitfor" --pid "$NEIGH_PID" "$NEIGH_LOG" "$NEIGH_DUMMY lladdr $lladdr" 0.2 2>/dev/null || rc=$?
		((rc != 3)) || { e2e_show "$NEIGH_LOG.err"; e2e_fail "ip monitor neigh ended"; }
		((rc != 0)) || break
	done
	"$HOSTS_CMD" exec P -- ip neigh del "$NEIGH_DUMMY" dev binmig-br
}

# only_in WHAT HOST: within 10 s, the moving address is in HOST and only
# there (the other host may still be dropping it).
only_in() {
	local other=B deadline=$((SECONDS + 10))
	[[ $2 == B ]] && other=A
	until has_addr "$2" && ! has_addr "$other"; do
		((SECONDS < deadline)) || where "$1" "$2"
		sleep 0.1 # between two looks at a condition polled until the deadline
	done
}

# exchange HOST: one round at both ends, the process being in HOST.
exchange() {
	kill -USR1 "$peer"
	mig_in "$1" kill -USR1 "$pid"
	mig_in "$1" "$TOOLS/waitfor" --pid "$pid" -x "$out" "round $round ok" 30 ||
		{ e2e_show "$out" "$peer_out"; e2e_fail "round $round: the process in host $1 did not finish it"; }
	"$TOOLS/waitfor" --pid "$peer" -x "$peer_out" "round $round ok" 30 ||
		{ e2e_show "$out" "$peer_out"; e2e_fail "round $round: the peer did not finish it"; }
	round=$((round + 1))
}

# same_as_before HOST WHAT: what /proc shows of the process in HOST, once
# it waits for its next round, is what it showed there the first time
# (before the first migration in A; after the first hop in B: the mount
# ids of its files are the host's), but for the offset of its stdout, as
# it says "round N ok" at each round.
same_as_before() {
	local n=$((++PROC_N)) base=$E2E_TMP/process-$1.proc
	if [[ ! -e $base ]]; then
		mig_procstate "$1" "$pid" "$base" rt_sigtimedwait
		return
	fi
	cp "$base" "$E2E_TMP/process-$n.proc-before"
	mig_procstate "$1" "$pid" "$E2E_TMP/process-$n.proc-after" rt_sigtimedwait
	E2E_PROCSTATE_ACCEPT='^fd 1 pos:' e2e_procstate_same "$E2E_TMP/process-$n.proc" "$2"
}
PROC_N=0

# moveaddr_test: the whole test, for the family the caller set.
moveaddr_test() {
	mig_init outpeer --peer-net "--movable=$MOVED"
	PID=$MIG_WORKLOAD_PID
	# nodad (IPv6): usable at once, as the daemons add it.
	mig_in A ip addr add "$MOVED/$HOST_PREFIX" dev binmig-pa ${NODAD:+"nodad"}
	peer_out=$E2E_TMP/peer.out
	out=$E2E_TMP/client.out
	if [[ -n ${ACCEPTED:-} ]]; then
		pid=$(mig_spawn A "$out" --pid "$PID" "$PROGS/outpeer" server "$PEER_PORT" "$ROUNDS")
		e2e_wait_line "$out" listening "" 10 -x
		e2e_start "$peer_out" "$HOSTS_CMD" exec P -- "$PROGS/outpeer" dial "$MOVED" "$PEER_PORT" "$ROUNDS"
		peer=$E2E_PID
	else
		e2e_start "$peer_out" "$HOSTS_CMD" exec P -- "$PROGS/outpeer" peer "$PEER_PORT" "$ROUNDS"
		peer=$E2E_PID
		e2e_wait_line "$peer_out" listening "$peer" 10 -x
		pid=$(mig_spawn A "$out" --pid "$PID" "$PROGS/outpeer" client "$MOVED" "$PEER_ADDR" "$PEER_PORT" "$ROUNDS")
	fi
	e2e_wait_line "$out" ready "" 10 -x
	e2e_wait_line "$peer_out" connected "$peer" 10 -x

	round=0
	exchange A
	same_as_before A "before the first migration"

	what="without --move-addr"
	mig_bm A migrate "$pid" "${MIG_ADDR[B]}:$MIG_PORT" --key "$MIG_KEY"
	[[ $BM_RC == 4 ]] || e2e_fail "$what: migrate exited $BM_RC, expected 4"
	grep -q "whose peer is not in the process.*--move-addr" "$BM_ERR" ||
		e2e_fail "$what: the refusal does not name --move-addr: $(head -n 1 "$BM_ERR")"
	mig_assert_running A "$pid" "$what"
	where "$what" A
	same_as_before A "$what"
	exchange A
	e2e_log "ok: $what: refused (exit 4), the connection works on in host A"

	what="a destination that does not take $MOVED"
	mig_own_serve B 7708 "$E2E_TMP/serve-b.log" --movable "$NOT_TAKEN"
	mig_bm A migrate "$pid" "${MIG_ADDR[B]}:7708" --key "$MIG_KEY" --move-addr "$MOVED"
	kill -TERM "$SERVE_PID"
	"$TOOLS/pidwait" "$SERVE_JOB" 20 || e2e_fail "our serve in B did not stop"
	[[ $BM_RC == 6 ]] || e2e_fail "$what: migrate exited $BM_RC, expected 6"
	grep -q "^binmig: migrate: moving addresses: .*does not take address $MOVED.*--movable" "$BM_ERR" ||
		e2e_fail "$what: the refusal does not say why: $(head -n 1 "$BM_ERR")"
	grep -q "process $pid runs on at the source (not stopped)" "$BM_ERR" ||
		e2e_fail "$what: migrate does not say that the process was not stopped"
	mig_assert_running A "$pid" "$what"
	where "$what" A
	same_as_before A "$what"
	exchange A
	e2e_log "ok: $what: refused before the freeze (exit 6), the connection works on in host A"

	what="a restore that fails in host B (PID $pid taken there)"
	placeholder=$(mig_spawn B "$E2E_TMP/placeholder.out" --pid "$pid" sleep 300)
	mig_bm A migrate "$pid" "${MIG_ADDR[B]}:$MIG_PORT" --key "$MIG_KEY" --move-addr "$MOVED"
	mig_expect_failure 6 "restore at the destination|checkpoint and transfer" "$pid" "$what"
	[[ $(head -n 1 "$BM_ERR") == *"PID $pid is taken"* ]] || e2e_fail "$what: not the destination's reason: $(head -n 1 "$BM_ERR")"
	mig_in B kill -KILL "$placeholder"
	mig_assert_gone B "$placeholder" "the placeholder, killed"
	mig_assert_running A "$pid" "$what"
	where "$what" A
	same_as_before A "$what"
	exchange A
	e2e_log "ok: $what: the address is back in host A, the connection works on there"

	what="a source binmig killed after the address left host A"
	BINMIG_FAULT=send-image/crash mig_bm A migrate "$pid" "${MIG_ADDR[B]}:$MIG_PORT" --key "$MIG_KEY" --move-addr "$MOVED"
	[[ $BM_RC == 137 ]] || e2e_fail "$what: migrate exited $BM_RC, expected 137 (SIGKILL at send-image)"
	"$TOOLS/waitfor" "$BM_ERR" "binmig: migrate guardian: process $pid runs on here" 20 ||
		e2e_fail "$what: the guardian did not say that it put the address back"
	grep -qF "$MOVED/$HOST_PREFIX on binmig-pa put back" "$BM_ERR" ||
		e2e_fail "$what: the guardian did not put $MOVED back: $(grep guardian "$BM_ERR")"
	only_in "$what" A
	mig_assert_running A "$pid" "$what"
	mig_assert_gone B "$pid" "$what: the destination's copy"
	same_as_before A "$what"
	exchange A
	e2e_log "ok: $what: its guardian put the address back, the connection works on in host A"

	here=A there=B
	for hop in 1 2; do
		what="hop $hop ($here -> $there) with --move-addr"
		watch_neigh
		mig_bm "$here" migrate "$pid" "${MIG_ADDR[$there]}:$MIG_PORT" --key "$MIG_KEY" --move-addr "$MOVED"
		e2e_expect_ok "$what"
		mig_assert_running "$there" "$pid" "$what"
		mig_assert_gone "$here" "$pid" "$what"
		where "$what" "$there"
		same_as_before "$there" "$what"
		# Neither end has been told to send.  At hop 2 host A still knows the
		# peer's address, so only the announcement moves the peer's entry; at
		# hop 1 host B's own ARP request or neighbour solicitation for the
		# peer (from the moved address, for the rebuilt connection's window
		# probe) may do it too.
		mac=$(mig_in "$there" cat "/sys/class/net/binmig-p${there,,}/address")
		"$TOOLS/waitfor" --pid "$NEIGH_PID" "$NEIGH_LOG" "$MOVED lladdr $mac" 10 ||
			e2e_fail "$what: the peer's neighbour entry for $MOVED does not name host $there's $mac"
		kill "$NEIGH_PID"
		exchange "$there"
		e2e_log "ok: $what: the address moved, the connection carries on"
		tmp=$here here=$there there=$tmp
	done
	what="a source binmig killed after RESULT"
	BINMIG_FAULT=send-confirm/crash mig_bm A migrate "$pid" "${MIG_ADDR[B]}:$MIG_PORT" --key "$MIG_KEY" --move-addr "$MOVED"
	[[ $BM_RC == 137 ]] || e2e_fail "$what: migrate exited $BM_RC, expected 137 (SIGKILL at send-confirm)"
	mig_wait_log B "process $pid migrated in" 2 "$what" # hop 1 and this one
	grep "process $pid migrated in" "$HOSTS_STATE/serve-B.log" | tail -n 1 | grep -q "the source did not confirm" ||
		e2e_fail "$what: serve-B.log: $(tail -n 1 "$HOSTS_STATE/serve-B.log")"
	# Dismissed and reaped before binmig died: no line of the guardian can come later.
	! grep -q "migrate guardian" "$BM_ERR" || e2e_fail "$what: the guardian acted: $(grep guardian "$BM_ERR")"
	where "$what" B
	mig_assert_running B "$pid" "$what"
	mig_assert_gone A "$pid" "$what"
	same_as_before B "$what"
	exchange B
	e2e_log "ok: $what: the process runs in host B, which alone has the address; the connection carries on there"

	exchange B # the last round: each end reads what the other wrote after the last migration
	mig_in B "$TOOLS/waitfor" --pid "$pid" -x "$out" PASS 10 || { e2e_show "$out"; e2e_fail "the process did not pass"; }
	"$TOOLS/waitfor" --pid "$peer" -x "$peer_out" PASS 10 || { e2e_show "$peer_out"; e2e_fail "the peer did not pass"; }
	mig_in B "$TOOLS/pidwait" "$pid" 10 || e2e_fail "the process did not end"
}
