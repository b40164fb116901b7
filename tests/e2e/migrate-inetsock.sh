#!/usr/bin/env bash
# test-needs: hosts
# TCP and UDP sockets between the emulated hosts (tests/progs/inetsock.c):
# every kind binmig carries goes A -> B -> A (listeners, bound and
# connected sockets with their options, loopback connections with unread
# data both ways, re-created with TCP_REPAIR in each host's own loopback),
# and back in A the listener on 0.0.0.0 accepts and answers a connection
# from host B to A's address.  A UDP socket bound to A's own address
# (10.77.0.1) cannot be re-created in B: the migration is refused at the
# destination (exit 6, naming the descriptor and the address) and the
# process goes on in A with its loopback connection and queues intact.
# In both cases /proc shows the same of the process in A afterwards as
# before (mig_procstate, waiting in sigsuspend).
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/migrate-lib.sh"
mig_init inetsock

mkdir -p "$E2E_TMP/carried"
out=$E2E_TMP/carried.out
pid=$(mig_spawn A "$out" --pid "$MIG_WORKLOAD_PID" "$PROGS/inetsock" carried "$E2E_TMP/carried")
mig_in A "$TOOLS/waitfor" --pid "$pid" -x "$out" ready 20 || { e2e_show "$out"; e2e_fail "inetsock did not get ready"; }
port=$(awk '$1 == "port4" { print $2 }' "$E2E_TMP/carried/ports")
[[ $port =~ ^[0-9]+$ ]] || e2e_fail "no IPv4 listener port in $E2E_TMP/carried/ports"
mig_procstate A "$pid" "$E2E_TMP/carried.proc-before"
mig_round_trip "$pid" "inetsock"
mig_procstate A "$pid" "$E2E_TMP/carried.proc-after"
e2e_procstate_same "$E2E_TMP/carried.proc" "inetsock after two hops"
mig_in A kill -USR1 "$pid"
# shellcheck disable=SC2016 # expanded in host B
reply=$(mig_in B timeout 30 bash -c 'exec 3<>"/dev/tcp/$1/$2" && printf "from host B" >&3 && { read -r -t 20 line <&3 || true; } &&
	echo "$line"' connect "${MIG_ADDR[A]}" "$port") || true
[[ $reply == "hello from host B" ]] || { e2e_show "$out"; e2e_fail "the listener in A answered \"$reply\" after two hops"; }
mig_in A "$TOOLS/waitfor" --pid "$pid" "$out" "PASS" 30 || true
mig_in A "$TOOLS/pidwait" "$pid" 30 || e2e_fail "inetsock did not end"
e2e_expect_pass "$out"
e2e_log "ok: sockets carried over two hops, the listener answers host B in host A"

out=$E2E_TMP/bound.out
pid=$(mig_spawn A "$out" --pid "$MIG_WORKLOAD_PID" "$PROGS/inetsock" bound "${MIG_ADDR[A]}")
mig_in A "$TOOLS/waitfor" --pid "$pid" -x "$out" ready 20 || { e2e_show "$out"; e2e_fail "inetsock bound did not get ready"; }
what="a UDP socket bound to ${MIG_ADDR[A]}"
mig_procstate A "$pid" "$E2E_TMP/bound.proc-before"
mig_bm A migrate "$pid" "${MIG_ADDR[B]}:$MIG_PORT" --key "$MIG_KEY"
mig_expect_failure 6 "restore at the destination" "$pid" "$what"
grep -q "fd [0-9]*: a UDP socket bound to ${MIG_ADDR[A]}:[0-9]*, an address this host does not have" "$BM_ERR" ||
	e2e_fail "$what: the refusal does not name the address: $(head -n 1 "$BM_ERR")"
mig_assert_running A "$pid" "$what"
mig_assert_gone B "$pid" "$what"
mig_procstate A "$pid" "$E2E_TMP/bound.proc-after"
e2e_procstate_same "$E2E_TMP/bound.proc" "$what"
mig_wake_expect_pass A "$pid" "$out" "inetsock bound"
e2e_log "ok: $what refused at the destination, the process goes on in A with its connection"
