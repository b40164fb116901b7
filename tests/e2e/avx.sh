#!/usr/bin/env bash
# Frozen in user code, in the middle of a loop that holds values in
# ymm0-ymm15, the x87 stack, the x87 control word, MXCSR and r12-r15, and
# checks them on every iteration; also a __thread variable and fs_base.
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/lib.sh"
e2e_init avx
out=$E2E_TMP/avx.out
e2e_start "$out" "$PROGS/avx"
pid=$E2E_PID
e2e_wait_line "$out" "" "$pid"
if grep -q '^SKIP' "$out"; then e2e_skip "$(head -n 1 "$out")"; fi
e2e_wait_ready "$out" "$pid"
# It spins: /proc must show the same of it after both migrations, but
# for what a running program changes itself (E2E_PROCSTATE_RUNNING).
e2e_procstate "$pid" "$E2E_TMP/avx.proc-before"
e2e_migrate "$pid" "$E2E_TMP/avx.img"
# Migrate once more, so the restored register state is itself dumped.
e2e_migrate "$pid" "$E2E_TMP/avx2.img"
state=$(e2e_state "$pid")
[[ $state == R ]] || { e2e_show "$out"; e2e_fail "restored spinning process is in state '$state'"; }
e2e_procstate "$pid" "$E2E_TMP/avx.proc-after"
E2E_PROCSTATE_ACCEPT=$E2E_PROCSTATE_RUNNING e2e_procstate_same "$E2E_TMP/avx.proc" "avx after two migrations"
e2e_signal "$pid" "$out"
e2e_wait_exit "$pid"
e2e_expect_pass "$out"
