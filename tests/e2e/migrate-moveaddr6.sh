#!/usr/bin/env bash
# test-needs: hosts
# migrate-moveaddr for IPv6: a TCP connection from a peer outside the
# process, to fd00:78::100, an address that moves with the process
# (migrate --move-addr, serve --movable), on the peer LAN's fd00:78::/64
# (harness/hosts up --peer-net); the peer (tests/progs/outpeer.c) at
# fd00:78::fe in binmig-P dials it, the process accepts on a dual-stack
# listener (which it keeps): a connection the process never bound, with
# IPV6_V6ONLY clear.  (On this LAN the destination's kernel chooses the
# moved /128 for the peer itself, so the connection is rebuilt bound to
# the wildcard; the case where it would choose another address is unit
# test_tcp_repair's.)  The same steps as for IPv4
# (migrate-moveaddr-lib.sh): the refusal without --move-addr (exit 4) and
# by a destination whose --movable does not hold the address (exit 6,
# before the freeze); a failed restore after which the source puts the
# address back (without duplicate address detection, usable at once),
# announces it and the connection works on; two hops, A -> B -> A, after
# each of which the address is on exactly one host, the peer's neighbour
# entry names the destination's interface through the destination's
# unsolicited Neighbour Advertisement (the hop-2 check), and both ends
# check the other's sequence-numbered byte stream; /proc shows the same
# of the process after each as the first time in that host.
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/migrate-moveaddr-lib.sh"
FAMILY=6 MOVED=fd00:78::100 HOST_PREFIX=128 NODAD=1
PEER_ADDR=fd00:78::fe PEER_PORT=7901 NOT_TAKEN=fd00:78::200/127 NEIGH_DUMMY=fd00:78::250 ACCEPTED=1
moveaddr_test
