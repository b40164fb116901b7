#!/usr/bin/env bash
# Targets that cannot be dumped, exit 3 with one "binmig: ..." line:
# a PID nobody uses, binmig itself, a kernel thread, a zombie, and a process
# another tracer holds (the message names the tracer; the process runs on).
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/lib.sh"
e2e_init holder
img=$E2E_TMP/x.img

free=$(e2e_free_pid)
bm dump "$free" -o "$img"
e2e_expect_error 3 "dump of unused PID $free"

# binmig asked to dump itself: the shell execs binmig, keeping its PID.
bm_self() {
	BM_OUT=$E2E_TMP/self.out BM_ERR=$E2E_TMP/self.err BM_RC=0
	# shellcheck disable=SC2016 # expanded by the inner shell
	timeout -k 5 "$E2E_BINMIG_TIMEOUT" bash -c 'exec "$0" dump $$ -o "$1"' "$BINMIG" "$img" \
		</dev/null >"$BM_OUT" 2>"$BM_ERR" || BM_RC=$?
	e2e_log "binmig dump (itself) -> exit $BM_RC: $(cat "$BM_ERR")"
}
bm_self
e2e_expect_error 3 "dump of binmig itself"

# A kernel thread: PF_KTHREAD (0x00200000) in the flags, field 9 of stat.
kthread=
for stat in /proc/2/stat /proc/[0-9]*/stat; do
	line=$(cat "$stat" 2>/dev/null) || continue
	rest=${line##*) }
	read -r -a fields <<<"$rest"
	if (((fields[6] & 0x00200000) != 0)); then
		kthread=${stat#/proc/}
		kthread=${kthread%/stat}
		break
	fi
done
[[ -n $kthread ]] || e2e_fail "found no kernel thread"
e2e_log "kernel thread: $kthread ($(cat "/proc/$kthread/comm"))"
bm dump "$kthread" -o "$img"
e2e_expect_error 3 "dump of kernel thread $kthread"

# A zombie.
e2e_start "$E2E_TMP/zombie.out" "$TOOLS/zombie"
parent=$E2E_PID
e2e_wait_line "$E2E_TMP/zombie.out" "" "$parent"
zombie=$(head -n 1 "$E2E_TMP/zombie.out")
[[ $(e2e_state "$zombie") == Z ]] || e2e_fail "$zombie is not a zombie"
bm dump "$zombie" -o "$img"
e2e_expect_error 3 "dump of zombie $zombie"
[[ $(e2e_state "$zombie") == Z ]] || e2e_fail "zombie $zombie changed state to '$(e2e_state "$zombie")'"
e2e_assert_alive "$parent"

# A process that is already traced.
out=$E2E_TMP/traced.out
e2e_start "$out" "$PROGS/holder" none
traced=$E2E_PID
e2e_wait_ready "$out" "$traced"
e2e_start "$E2E_TMP/tracer.out" "$TOOLS/tracer" "$traced"
tracer=$E2E_PID
e2e_wait_line "$E2E_TMP/tracer.out" "tracing $traced" "$tracer"
bm dump "$traced" -o "$img"
e2e_expect_error 3 "dump of traced process $traced"
grep -Eq "(^|[^0-9])$tracer([^0-9]|$)" "$BM_ERR" || e2e_fail "the message does not name the tracer $tracer"
e2e_assert_alive "$traced" "$tracer"
e2e_signal "$traced" "$out" # the tracer passes it on
e2e_wait_exit "$traced"
status=0
wait "$traced" || status=$?
[[ $status == 0 ]] || e2e_fail "traced process exited with $status"
e2e_expect_pass "$out"
e2e_wait_exit "$tracer" 10
