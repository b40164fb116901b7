#!/usr/bin/env bash
# The command line: --help (general and for dump) exits 0 and documents the
# exit codes; unknown commands, missing arguments and bad option values exit
# 2 with one "binmig: ..." line, without touching the target.
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/lib.sh"
e2e_init holder

for help in "--help" "dump --help"; do
	# shellcheck disable=SC2086
	bm $help
	e2e_expect_ok "binmig $help"
	text=$(cat "$BM_OUT" "$BM_ERR")
	grep -qi "exit" <<<"$text" || e2e_fail "binmig $help does not mention exit codes"
	for code in 0 1 2 3 4 5 6 7; do
		grep -Eq "(^|[^0-9])$code([^0-9]|$)" <<<"$text" || e2e_fail "binmig $help does not mention exit code $code"
	done
done

bm frobnicate
e2e_expect_error 2 "unknown command"
bm dump
e2e_expect_error 2 "dump without a PID"
bm restore
e2e_expect_error 2 "restore without an image"

out=$E2E_TMP/holder.out
e2e_start "$out" "$PROGS/holder" none
pid=$E2E_PID
e2e_wait_ready "$out" "$pid"
bm dump "$pid" -o "$E2E_TMP/x.img" --compress bogus
e2e_expect_error 2 "dump --compress bogus"
bm dump "$pid" -o "$E2E_TMP/x.img" --stats xml
e2e_expect_error 2 "dump --stats xml"
bm dump "$pid" -o "$E2E_TMP/x.img" --no-such-option
e2e_expect_error 2 "dump --no-such-option"
e2e_assert_alive "$pid"
e2e_signal "$pid" "$out"
e2e_wait_exit "$pid"
status=0
wait "$pid" || status=$?
[[ $status == 0 ]] || e2e_fail "holder exited with $status"
e2e_expect_pass "$out"
