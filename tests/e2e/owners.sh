#!/usr/bin/env bash
# Who owns a process's pipes, sockets and unlinked files
# (tests/progs/owners.c): a pipe made as root and two unlinked files held
# open, one of root's and one of 65534's, then as user 65534 a pipe, a
# unix socket pair, a UDP socket and a TCP listener.  The restore makes
# them itself; after a dump and a restore each has its owner again (fstat;
# the UDP socket's uid in /proc/net/udp too).
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/lib.sh"
e2e_init owners
mkdir "$E2E_TMP/owners"
e2e_state_test owners "$E2E_TMP/owners"
