#!/usr/bin/env bash
# Every workload, run with its default parameters, prints exactly `ready`
# and then `result` with the value kept in workloads/references, and exits 0
# with --expect of that value and 1 with --expect of any other.  Also: every
# workload source has a reference, workloads/pairs pairs each CLR workload
# with a distinct native one, --help works and a bad option exits 2.
set -u
source "$(dirname "$0")/lib.bash"

mapfile -t names < <(wl_names)
((${#names[@]} >= 9)) || fail "workloads/references lists ${#names[@]} workloads, expected at least 9"
for src in "$root"/workloads/native/*.c "$root"/workloads/clr/*.cs; do
	base=$(basename "$src")
	base=${base%.*}
	[[ $base == common ]] && continue
	kind=$(basename "$(dirname "$src")")
	[[ -n $(wl_reference "$kind/$base") ]] || fail "$kind/$base has no line in workloads/references"
done

mapfile -t pairs < <(awk '!/^#/ && NF' "$root/workloads/pairs")
((${#pairs[@]} >= 4)) || fail "workloads/pairs lists ${#pairs[@]} pairs, expected at least 4"
paired=()
for pair in "${pairs[@]}"; do
	read -r native clr extra <<<"$pair"
	[[ $native == native/* && $clr == clr/* && -z $extra ]] || fail "bad line in workloads/pairs: '$pair'"
	for name in "$native" "$clr"; do
		[[ -n $(wl_reference "$name") ]] || fail "workloads/pairs names $name, which has no reference"
		[[ " ${paired[*]} " != *" $name "* ]] || fail "workloads/pairs uses $name twice"
		paired+=("$name")
	done
done

for name in "${names[@]}"; do
	ref=$(wl_reference "$name")
	wl_run "$name" --expect "$ref"
	[[ $wl_rc == 0 ]] || fail "$name --expect $ref exited $wl_rc: $wl_err"
	[[ $wl_out == $'ready\nresult '"$ref" ]] ||
		fail "$name printed '$wl_out', expected ready and result $ref"
	echo "ok   $name result $ref"

	wrong=$(printf '%016x' $((0x$ref ^ 0x100)))
	wl_run "$name" --expect "$wrong"
	[[ $wl_rc == 1 ]] || fail "$name --expect $wrong (not its result) exited $wl_rc, expected 1"
	[[ $(wl_result) == "$ref" ]] || fail "$name --expect $wrong printed '$wl_out'"

	wl_run "$name" --help
	[[ $wl_rc == 0 ]] || fail "$name --help exited $wl_rc"
	for opt in --work --mem --rss --seed --expect --flip-at; do
		grep -q -- "$opt" <<<"$wl_out" || fail "$name --help does not mention $opt"
	done
	wl_run "$name" --no-such-option
	[[ $wl_rc == 2 ]] || fail "$name --no-such-option exited $wl_rc, expected 2"
	wl_run "$name" --work
	[[ $wl_rc == 2 ]] || fail "$name --work without a value exited $wl_rc, expected 2"
done
echo "all ${#names[@]} workloads match their references"
