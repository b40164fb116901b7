#!/usr/bin/env bash
# The native multi-threaded workloads give their reference result with any
# number of threads (the default is 2); the CLR ones, whose files depend on
# the thread count, give the same result twice with 3 threads, however the
# threads were scheduled.
set -u
source "$(dirname "$0")/lib.bash"

for name in native/nbody native/recsort; do
	ref=$(wl_reference "$name")
	for threads in 1 3; do
		wl_run "$name" --threads "$threads" --expect "$ref"
		[[ $wl_rc == 0 ]] || fail "$name --threads $threads: result $(wl_result), reference $ref"
		echo "ok   $name --threads $threads"
	done
done
for name in clr/logappend clr/wordcount; do
	wl_run "$name" --threads 3
	[[ $wl_rc == 0 ]] || fail "$name --threads 3 exited $wl_rc: $wl_err"
	first=$(wl_result)
	[[ $first != "$(wl_reference "$name")" ]] || fail "$name: the thread count does not reach the result"
	wl_run "$name" --threads 3 --expect "$first"
	[[ $wl_rc == 0 ]] || fail "$name --threads 3 gave $first, then $(wl_result)"
	echo "ok   $name --threads 3: $first twice"
done
for name in native/matmul clr/filecopy; do
	wl_run "$name" --threads 2
	[[ $wl_rc == 2 ]] || fail "$name is single-threaded but accepted --threads"
done
