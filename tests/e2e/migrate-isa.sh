#!/usr/bin/env bash
# test-needs: hosts
# migrate checks the process's code against the destination's CPU before
# it freezes it.  A serve in host B reports this machine's profile without
# the line of the extension the C library's string functions use here
# (serve --cpu-profile): avx2, or avx512bw on a CPU with AVX-512, where
# glibc resolves them to its EVEX variants (lib.sh e2e_glibc_variants):
#   - the workload, whose C library resolved its string functions to
#     those variants, is refused in the "cpu check" phase with exit 4, the
#     message naming the extension, a count and an example address; it was never
#     stopped, runs on in host A and finishes with the unmigrated result;
#   - the same workload started with those variants disabled
#     (GLIBC_TUNABLES=glibc.cpu.hwcaps=-AVX2 or -AVX512BW; the workload
#     itself is built without them) migrates to that serve and finishes there correctly;
#   - --no-cpu-check lets the first kind through (the CPU is really the
#     same), and the process finishes correctly in host B;
#   - a serve that reports another xstate layout (every component 256
#     bytes further, as on a CPU with more of them): the source rewrites
#     the saved register state for that layout after the freeze (the
#     destination sees 256 bytes more), the destination, whose CPU is
#     really this one, refuses the state at the start of the restore
#     (exit 6, both layouts named), and the process resumes in host A and
#     finishes right.  The translation itself, there and back between
#     real layouts, is unit test_xstate's.
source "$(dirname "$0")/migrate-lib.sh"
variants=$(e2e_glibc_variants)
[[ -n $variants ]] || e2e_skip "this CPU has no AVX2"
vext=${variants% *} vcap=${variants#* }
mig_init
export BINMIG_ISA_CACHE=$E2E_TMP/cache
"$BINMIG" cpu-profile | grep -vx "$vext" >"$E2E_TMP/no-$vext.prof"
port=$((MIG_PORT + 11))
mig_own_serve B "$port" "$E2E_TMP/serve.log" --cpu-profile "$E2E_TMP/no-$vext.prof"
dest=${MIG_ADDR[B]}:$port

what="$vext variants resolved, destination without $vext"
mig_start_workload
mig_bm A migrate "$MIG_PID" "$dest" --key "$MIG_KEY"
mig_expect_failure 4 "cpu check" "$MIG_PID" "$what"
grep -Eq "lacks $vext: [0-9]+ instructions, e\.g\. at 0x[0-9a-f]+ in " "$BM_ERR" ||
	e2e_fail "$what: the refusal does not name $vext, a count and an address: $(cat "$BM_ERR")"
grep -q "resumed at the source" "$BM_ERR" && e2e_fail "$what: migrate says it had suspended the process"
mig_after_failure "$what"
mig_expect_result A "$MIG_PID" "$MIG_OUT"
mig_in A "$TOOLS/pidwait" --reaped "$MIG_PID" 20 || e2e_fail "workload $MIG_PID not reaped in host A"

what="$vext variants disabled"
mig_new_workload "$E2E_TMP/workload2.stop"
MIG_WORKLOAD=(env "GLIBC_TUNABLES=glibc.cpu.hwcaps=-$vcap" "${MIG_WORKLOAD[@]}")
mig_start_workload
mig_bm A migrate "$MIG_PID" "$dest" --key "$MIG_KEY"
e2e_expect_ok "$what"
mig_assert_running B "$MIG_PID" "$what"
mig_assert_gone A "$MIG_PID" "$what"
mig_expect_result B "$MIG_PID" "$MIG_OUT"
mig_in B "$TOOLS/pidwait" --reaped "$MIG_PID" 20 || e2e_fail "workload $MIG_PID not reaped in host B"

what="--no-cpu-check"
mig_new_workload "$E2E_TMP/workload3.stop"
mig_start_workload
mig_bm A migrate "$MIG_PID" "$dest" --key "$MIG_KEY" --no-cpu-check
e2e_expect_ok "$what"
mig_assert_running B "$MIG_PID" "$what"
mig_expect_result B "$MIG_PID" "$MIG_OUT"

what="another xstate layout declared"
size=$("$BINMIG" cpu-profile | sed -n 's/^xstate size \([0-9]*\)$/\1/p')
[[ -n $size ]] || e2e_skip "this CPU has no xstate layout"
"$BINMIG" cpu-profile | awk '/^xstate size / { $3 += 256 } /^xstate component / { $5 += 256 } { print }' \
	>"$E2E_TMP/shifted.prof"
mig_own_serve B "$((port + 1))" "$E2E_TMP/serve-shifted.log" --cpu-profile "$E2E_TMP/shifted.prof"
mig_new_workload "$E2E_TMP/workload4.stop"
mig_start_workload
mig_bm A migrate "$MIG_PID" "${MIG_ADDR[B]}:$((port + 1))" --key "$MIG_KEY"
mig_expect_failure 6 "restore at the destination" "$MIG_PID" "$what"
grep -Eq "saved register state is laid out for another CPU \($((size + 256)) bytes, components 0x[0-9a-f]+\) than this one \($size bytes" \
	"$BM_ERR" || e2e_fail "$what: the destination did not see the state translated to the declared layout: $(cat "$BM_ERR")"
mig_after_failure "$what"
mig_expect_result A "$MIG_PID" "$MIG_OUT"
mig_in A "$TOOLS/pidwait" --reaped "$MIG_PID" 20 || e2e_fail "workload $MIG_PID not reaped in host A"
e2e_log "ok: $what: translated at the source, refused by the real CPU, resumed at the source"
