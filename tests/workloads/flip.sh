#!/usr/bin/env bash
# Flipping a single byte of a workload's state (its memory, or a file an
# I/O workload wrote) with --flip-at changes the result: at the start, in
# the middle and at the end of the default run.  With --expect of the
# reference the run then exits 1.
set -u
source "$(dirname "$0")/lib.bash"

mapfile -t names < <(wl_names)
for name in "${names[@]}"; do
	ref=$(wl_reference "$name")
	work=$(wl_default_work "$name")
	for at in 0 $((work / 2 + 1)) "$work"; do
		wl_run "$name" --flip-at "$at" --expect "$ref"
		[[ $wl_rc == 1 ]] || fail "$name --flip-at $at exited $wl_rc, expected 1: $wl_err"
		[[ $(head -n 1 <<<"$wl_out") == ready ]] || fail "$name --flip-at $at did not print ready first"
		result=$(wl_result)
		[[ -n $result ]] || fail "$name --flip-at $at printed no result: '$wl_out'"
		[[ $result != "$ref" ]] || fail "$name --flip-at $at: the flipped byte went unnoticed"
		grep -q "flipped byte" <<<"$wl_err" || fail "$name --flip-at $at did not say what it flipped"
		echo "ok   $name --flip-at $at: result $result"
	done
	wl_run "$name" --flip-at $((work + 1))
	[[ $wl_rc == 2 ]] || fail "$name --flip-at beyond --work exited $wl_rc, expected 2"
done
