#!/usr/bin/env bash
# The content cache of JIT code is never weaker than a scan: a process's
# anonymous executable page, checked twice (the second time from the
# cache), is then rewritten with an AVX2 instruction; the next check must
# scan it again and refuse the profile without AVX2 (exit 4), naming the
# anonymous area.  glibc's AVX2 variants are disabled with a tunable so
# that only the page decides.
source "$(dirname "$0")/lib.sh"
e2e_init
export BINMIG_ISA_CACHE=$E2E_TMP/cache

bm cpu-profile
e2e_expect_ok "cpu-profile"
grep -qx avx2 "$BM_OUT" || e2e_skip "this CPU has no AVX2"
grep -vx avx2 "$BM_OUT" >"$E2E_TMP/no-avx2.prof"

e2e_start "$E2E_TMP/jit.out" env GLIBC_TUNABLES=glibc.cpu.hwcaps=-AVX2 \
	"$PROGS/jitrewrite" "$E2E_TMP/rewrite" "$E2E_TMP/stop"
e2e_wait_ready "$E2E_TMP/jit.out" "$E2E_PID"
bm check "$E2E_PID" --dest-cpu "$E2E_TMP/no-avx2.prof"
e2e_expect_ok "check of the baseline page (scanned)"
bm check "$E2E_PID" --dest-cpu "$E2E_TMP/no-avx2.prof"
e2e_expect_ok "check of the baseline page (cached)"
grep -Eq "[0-9.]*[1-9][0-9.]* MiB of memory from the cache" "$BM_OUT" ||
	e2e_fail "second check took nothing from the cache: $(head -n 1 "$BM_OUT")"
touch "$E2E_TMP/rewrite"
e2e_wait_line "$E2E_TMP/jit.out" rewritten "$E2E_PID" 20
bm check "$E2E_PID" --dest-cpu "$E2E_TMP/no-avx2.prof"
e2e_expect_error 4 "check of the rewritten page"
grep -q "avx2" "$BM_ERR" || e2e_fail "refusal does not name avx2: $(cat "$BM_ERR")"
grep -q "anon" "$BM_ERR" || e2e_fail "refusal does not name the anonymous area: $(cat "$BM_ERR")"
touch "$E2E_TMP/stop"
"$TOOLS/pidwait" "$E2E_PID" 20 || e2e_fail "jitrewrite did not stop"
