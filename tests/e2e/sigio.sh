#!/usr/bin/env bash
# Signal-driven I/O (tests/progs/sigio.c, migrator/fd_sigio.c): O_ASYNC,
# the owner of an open file's signals (a thread, the process, its process
# group) and their signal (F_SETSIG) are carried, so that after the
# restore fcntl reads them back and writing to each file makes the same
# signal arrive at the same thread with the same siginfo; an owner that
# does not move with the process is refused (exit 4, one line naming it,
# the process untouched).
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/lib.sh"
e2e_init sigio
mkdir "$E2E_TMP/files"
e2e_state_test sigio carried "$E2E_TMP/files"
e2e_refused_dump outside "whose signals go to process " -- sigio outside
grep -qE "whose signals go to process $(sed -n 's/^owner //p' "$E2E_TMP/outside.out") \(F_SETOWN\), which does not move with it" \
	"$BM_ERR" || e2e_fail "the refusal does not name the owner: $(cat "$BM_ERR")"
mkdir "$E2E_TMP/fifoasync"
e2e_refused_dump fifoasync "with O_ASYNC, which open(2) sets without sending signals and fcntl(F_SETFL) with: binmig cannot tell which" -- sigio fifoasync "$E2E_TMP/fifoasync"
