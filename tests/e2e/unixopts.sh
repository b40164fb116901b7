#!/usr/bin/env bash
# Options of unix sockets (tests/progs/unixopts.c, migrator/sk_unix.c),
# dumped and restored here: every SOL_SOCKET option a program can read
# back reads the same after the restore (SO_PASSRIGHTS off, SO_BUF_LOCK
# as the buffer sizes left it or as set by itself, and the others binmig
# carries beyond those of tests/e2e/unixsock.sh), and a socket with
# SO_PASSRIGHTS off still refuses descriptors in flight; refused (exit 4,
# one line, the process untouched): SO_BINDTOIFINDEX (an interface number
# is the host's), SO_MAX_PACING_RATE, SO_TXTIME, SO_PASSPIDFD (a pidfd
# per message, which binmig does not carry), SO_TIMESTAMP, SO_TIMESTAMPNS
# and their 64-bit forms (_NEW), SO_TIMESTAMPING and SO_RXQ_OVFL.
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/lib.sh"
e2e_init unixopts
e2e_state_test unixopts carried
declare -A named=([ifindex]="SO_BINDTOIFINDEX (SO_BINDTODEVICE)" [pacing]=SO_MAX_PACING_RATE [txtime]=SO_TXTIME
	[passpidfd]=SO_PASSPIDFD [timestamp]=SO_TIMESTAMP [timestampns]=SO_TIMESTAMPNS [timestampnew]=SO_TIMESTAMP_NEW
	[timestampnsnew]=SO_TIMESTAMPNS_NEW [timestamping]=SO_TIMESTAMPING [rxqovfl]=SO_RXQ_OVFL)
for mode in ifindex pacing txtime passpidfd timestamp timestampns timestampnew timestampnsnew timestamping rxqovfl; do
	e2e_refused_dump "$mode" "with ${named[$mode]} set, which binmig does not carry" -- unixopts "$mode"
done
