#!/usr/bin/env bash
# Who owns a process's pipes and sockets (tests/progs/owners.c): a pipe
# made as root, then as user 65534 a pipe, a unix socket pair, a UDP socket
# and a TCP listener.  The restore makes them as root; after a dump and a
# restore each has its owner again (fstat; the UDP socket's uid in
# /proc/net/udp too).
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/lib.sh"
e2e_init owners
e2e_state_test owners
