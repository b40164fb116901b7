#!/usr/bin/env bash
# test-needs: hosts
# tests/progs/owners.c across two hops between the emulated hosts
# (A -> B -> A): its pipes, sockets and unlinked files keep their owners,
# and the UDP socket it made as user 65534 still sends as that user: a
# firewall rule of host A that counts what user 65534's sockets send to
# port 9 (nftables' meta skuid, which reads the credentials the socket's
# open file recorded when it was made) counts its datagram after the hops.
# A kernel without nf_tables skips only that count, saying so.  What /proc
# shows of it is the same before the hops and after them.
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/migrate-lib.sh"
mig_init owners
command -v nft >/dev/null || e2e_fail "nft is missing (make deps installs nftables)"
counting=1
if ! mig_in A nft add table inet binmig_owners 2>"$E2E_TMP/nft.err"; then
	counting=0
	e2e_log "this kernel has no nftables (nft: $(head -n 1 "$E2E_TMP/nft.err")): the firewall's count is not checked"
fi
if ((counting)); then
	mig_in A nft add chain inet binmig_owners out '{ type filter hook output priority 0; }' ||
		e2e_fail "cannot add an output chain in host A"
	mig_in A nft add rule inet binmig_owners out meta skuid 65534 udp dport 9 counter ||
		e2e_fail "cannot add the counting rule in host A"
fi
mkdir "$E2E_TMP/owners"
out=$E2E_TMP/owners.out
pid=$(mig_spawn A "$out" --pid "$MIG_WORKLOAD_PID" "$PROGS/owners" "$E2E_TMP/owners")
mig_in A "$TOOLS/waitfor" --pid "$pid" -x "$out" ready 20 || { e2e_show "$out"; e2e_fail "owners did not get ready"; }
mig_procstate A "$pid" "$out.proc-before"
mig_round_trip "$pid" owners
mig_procstate A "$pid" "$out.proc-after"
e2e_procstate_same "$out.proc" "owners after two hops"
mig_wake_expect_pass A "$pid" "$out" "owners"
if ((counting)); then
	counted=$(mig_in A nft list chain inet binmig_owners out | sed -n 's/.*counter packets \([0-9]*\) .*/\1/p')
	[[ $counted == 1 ]] || e2e_fail "host A's rule counted ${counted:-no} datagrams of user 65534's sockets, expected 1"
	e2e_log "ok: its UDP socket still sends as user 65534 (host A's firewall counted it)"
fi
e2e_log "ok: owners kept over two hops"
