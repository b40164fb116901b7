#!/usr/bin/env bash
# test-needs: hosts
# A TCP connection to a peer outside the process, whose local address
# moves with the process (migrate --move-addr, serve --movable).  The
# hosts get the peer LAN (harness/hosts up --peer-net): the peer
# (tests/progs/outpeer.c) runs in binmig-P and reaches the process's
# address, 10.78.0.100, through the bridge at whichever host has it.  Both
# ends hold records of the other unread at every migration, and check the
# byte stream (sequence numbers) at every round.
#   - without --move-addr the dump refuses the connection (exit 4, the
#     message names the option), the process runs on untouched;
#   - a destination that does not take the address refuses it before the
#     freeze (exit 6), the process runs on untouched;
#   - a restore that fails at the destination once it added the address
#     (the process's PID taken there) removes it there, and the source
#     puts it back, announces it and resumes: the connection works on;
#   - a source binmig killed after it took the address away (fault point
#     send-image/crash: SIGKILL in the image transfer, before the
#     destination could run anything): its guardian (movaddr_guard.h) sees
#     the process run on in host A, puts the address back there and says
#     so; the destination drops what it built; the connection works on;
#   - with --move-addr the process goes A -> B -> A, the address with it,
#     the destination announces it (the peer's neighbour entry for it
#     names the destination's interface, seen through `ip monitor neigh`,
#     before either end is told to send),
#     and the connection carries on after each hop, both ways;
#     afterwards the address is on exactly one host;
#   - a source binmig killed after RESULT (send-confirm/crash: it has
#     dismissed its guardian and terminated the original): the
#     destination, not confirmed, lets its copy run in host B, which alone
#     has the address, the guardian says nothing, and the connection
#     carries on there.
# After each of these, once it waits for its next round, /proc shows the
# same of the process as the first time in that host (before the first
# migration in A, after hop 1 in B), but for its stdout's offset.
# The steps are in migrate-moveaddr-lib.sh, shared with migrate-moveaddr6
# (the same for IPv6).
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/migrate-moveaddr-lib.sh"
FAMILY=4 MOVED=10.78.0.100 HOST_PREFIX=32 NODAD=
PEER_ADDR=10.78.0.254 PEER_PORT=7900 NOT_TAKEN=10.78.0.200 NEIGH_DUMMY=10.78.0.250
moveaddr_test
