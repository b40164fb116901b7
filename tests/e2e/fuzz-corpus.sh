#!/usr/bin/env bash
# Replays the committed fuzz corpus: every file of tests/fuzz/corpus/TARGET/
# through the target built with replay.c and the test build's ASan and
# UBSan ($ASAN_BUILD/replay/TARGET, from make test-build).  Any sanitizer
# report, leaks included, fails the test.  Needs neither root nor clang.
set -uo pipefail
cd "$(dirname "$0")/../.."
ASAN_BUILD=${ASAN_BUILD:-build/asan}
# Unlike the rest of the suite nothing here runs under ptrace: leaks count.
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

failed=()
for src in tests/fuzz/fuzz_*.c; do
	t=$(basename "$src" .c)
	t=${t#fuzz_}
	[[ $t == common ]] && continue
	corpus=tests/fuzz/corpus/$t
	bin=$ASAN_BUILD/replay/$t
	if [[ ! -x $bin ]]; then
		echo "FAIL: $bin is not built (make test-build)"
		failed+=("$t")
	elif [[ -z $(find "$corpus" -type f 2>/dev/null) ]]; then
		echo "FAIL: target $t has no corpus in $corpus"
		failed+=("$t")
	elif ! "$bin" "$corpus"; then
		echo "FAIL: replaying $corpus"
		failed+=("$t")
	fi
done
if ((${#failed[@]})); then
	echo "FAIL: ${failed[*]}"
	exit 1
fi
echo PASS
