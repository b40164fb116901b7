#!/usr/bin/env bash
# Image I/O failures exit 7 and lose nothing: a dump whose image cannot be
# created, and one whose writes fail half-way (file size limit, SIGXFSZ
# ignored so write(2) returns EFBIG), leave the process running, not
# stopped, not traced, its work undisturbed; so does a binmig killed while
# it writes (write-image/crash: the threads were parked as they resume,
# checkpoint.h, so the kernel lets them run on); a restore from a missing
# file or from a directory exits 7.
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/lib.sh"
e2e_init holder

out=$E2E_TMP/holder.out
e2e_start "$out" "$PROGS/holder" none
pid=$E2E_PID
e2e_wait_ready "$out" "$pid"

bm dump "$pid" -o "$E2E_TMP/no/such/dir/x.img"
e2e_expect_error 7 "dump into a missing directory"
e2e_assert_alive "$pid"

BM_OUT=$E2E_TMP/fsize.out BM_ERR=$E2E_TMP/fsize.err BM_RC=0
(
	ulimit -f 16 # 16 KiB: less than the memory pages alone
	trap '' XFSZ
	exec timeout -k 5 "$E2E_BINMIG_TIMEOUT" "$BINMIG" dump "$pid" -o "$E2E_TMP/small.img"
) </dev/null >"$BM_OUT" 2>"$BM_ERR" || BM_RC=$?
e2e_log "binmig dump with a 16 KiB file size limit -> exit $BM_RC: $(cat "$BM_ERR")"
e2e_expect_error 7 "dump that runs out of file size"
e2e_assert_alive "$pid"

BINMIG_FAULT=write-image/crash bm dump "$pid" -o "$E2E_TMP/crash.img"
[[ $BM_RC == 137 ]] || e2e_fail "dump killed while it writes: exit $BM_RC, not 137 (SIGKILL)"
e2e_assert_alive "$pid"
[[ $(e2e_tracer "$pid") == 0 ]] || e2e_fail "after the killed dump, the process is still traced"
[[ $(awk '{ sub(/^.*\) /, ""); print $1 }' "/proc/$pid/stat") != [Tt] ]] ||
	e2e_fail "after the killed dump, the process is stopped"

e2e_signal "$pid" "$out"
e2e_wait_exit "$pid"
status=0
wait "$pid" || status=$?
[[ $status == 0 ]] || e2e_fail "holder exited with $status after the failed dumps"
e2e_expect_pass "$out"

bm restore "$E2E_TMP/no-such.img"
e2e_expect_error 7 "restore from a missing file"
mkdir "$E2E_TMP/a-directory"
bm restore "$E2E_TMP/a-directory"
e2e_expect_error 7 "restore from a directory"
