#!/usr/bin/env bash
# --stats and --compress: three migrations in a row,
#   dump --compress zlib --stats csv    -> a header line and one row
#   restore --stats json                -> the PID, then one JSON object
#   dump --compress zlib:9 --stats json -> one JSON object
#   restore; dump --compress none; restore
# the compressed image is smaller than the raw one, and the program passes.
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/lib.sh"
e2e_init heap
out=$E2E_TMP/heap.out
e2e_start "$out" "$PROGS/heap" 4
pid=$E2E_PID
e2e_wait_ready "$out" "$pid"
e2e_wait_syscall "$pid" rt_sigsuspend

e2e_dump "$pid" "$E2E_TMP/zlib.img" --compress zlib --stats csv
mapfile -t csv <"$BM_OUT"
((${#csv[@]} == 2)) || e2e_fail "dump --stats csv printed ${#csv[@]} lines, expected a header and one row"
IFS=, read -r -a header <<<"${csv[0]}"
IFS=, read -r -a row <<<"${csv[1]}"
((${#header[@]} >= 2 && ${#header[@]} == ${#row[@]})) ||
	e2e_fail "CSV header has ${#header[@]} fields, the row ${#row[@]}"
for field in "${header[@]}"; do
	[[ $field =~ ^[A-Za-z_] ]] || e2e_fail "CSV header field \"$field\" is not a name"
done
numbers=0
for field in "${row[@]}"; do
	# empty: a phase or counter that does not apply to a dump
	[[ -z $field || $field =~ ^-?[0-9]+(\.[0-9]+)?$ ]] || e2e_fail "CSV field \"$field\" is not a number"
	[[ -n $field ]] && numbers=$((numbers + 1))
done
((numbers >= 2)) || e2e_fail "the CSV row has $numbers numbers"

e2e_restore "$E2E_TMP/zlib.img" "$pid" --stats json
tail -n +2 "$BM_OUT" >"$E2E_TMP/restore.json"
e2e_json_object "$E2E_TMP/restore.json" || e2e_fail "restore --stats json: not one JSON object after the PID line"
e2e_wait_syscall "$pid" rt_sigsuspend

e2e_dump "$pid" "$E2E_TMP/zlib9.img" --compress zlib:9 --stats json
e2e_json_object "$BM_OUT" || e2e_fail "dump --stats json: not one JSON object"
e2e_restore "$E2E_TMP/zlib9.img" "$pid"
e2e_wait_syscall "$pid" rt_sigsuspend

e2e_dump "$pid" "$E2E_TMP/raw.img" --compress none
e2e_restore "$E2E_TMP/raw.img" "$pid"
compressed=$(stat -c %s "$E2E_TMP/zlib9.img") raw=$(stat -c %s "$E2E_TMP/raw.img")
e2e_log "image sizes: zlib:9 $compressed, raw $raw"
((compressed < raw)) || e2e_fail "the zlib:9 image ($compressed bytes) is not smaller than the raw one ($raw)"

e2e_wait_syscall "$pid" rt_sigsuspend
e2e_signal "$pid" "$out"
e2e_wait_exit "$pid"
e2e_expect_pass "$out"
