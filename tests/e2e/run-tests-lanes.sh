#!/usr/bin/env bash
# tests/run-tests itself, on a tree of stand-in tests: a test that runs
# harness/hosts without the line "# test-needs: hosts" fails (one with it
# passes), in two lanes and in one; and SIGTERM stops the test running in
# each lane, which cleans up, and the run.  Needs no root and no hosts:
# the stand-ins only ask harness/hosts for its help.
source "$(dirname "$0")/lib.sh"
e2e_init_common

# A tree run-tests takes for the project's: its own copy of run-tests (it
# works from its parent directory), the real harness and reaper.
TREE=$E2E_TMP/tree
mkdir -p "$TREE/tests/e2e" "$TREE/build/tools"
cp "$BINMIG_ROOT/tests/run-tests" "$TREE/tests/"
ln -s "$BINMIG_ROOT/harness" "$TREE/harness"
ln -s "$(cd "$TOOLS" && pwd)/reaper" "$TREE/build/tools/reaper"
stand_in() { # NAME MARK BODY: a test script
	printf '#!/usr/bin/env bash\n%s\n%s\n' "$2" "$3" >"$TREE/tests/e2e/$1.sh"
}
stand_in marked '# test-needs: hosts' '"$BINMIG_ROOT/harness/hosts" --help >/dev/null'
stand_in unmarked '# an ordinary test' '"$BINMIG_ROOT/harness/hosts" --help >/dev/null'
stand_in plain '# an ordinary test' 'exit 0'
stand_in skipped '# an ordinary test' 'echo "SKIP: nothing to do"; exit 77'

# The environment of a run of the tree's tests: their logs (which a failed
# or stopped run keeps) under the temp dir, two lanes unless told.
mkdir "$E2E_TMP/logs"
TREE_ENV=(env -u BINMIG_TEST_UNMARKED -u TEST_TIMEOUT BINMIG=/nonexistent BUILD=build ASAN_BUILD=build/asan
	TMPDIR="$E2E_TMP/logs" TEST_LANES=2)
# run_tree [ENV...]: runs the tree's tests, keeping the exit code in RC and
# the output in $E2E_TMP/out.
run_tree() {
	RC=0
	"${TREE_ENV[@]}" "$@" timeout 120 "$TREE/tests/run-tests" >"$E2E_TMP/out" 2>&1 || RC=$?
}
expect_out() { # WHAT TEXT: the run's output has a line with TEXT
	grep -qF -- "$2" "$E2E_TMP/out" || { cat "$E2E_TMP/out" >&2; e2e_fail "$1: no line with \"$2\""; }
}

for lanes in 2 1; do
	run_tree TEST_LANES=$lanes
	[[ $RC == 1 ]] || { cat "$E2E_TMP/out" >&2; e2e_fail "TEST_LANES=$lanes: run-tests exited $RC, expected 1"; }
	expect_out "TEST_LANES=$lanes" "PASS  e2e/marked"
	expect_out "TEST_LANES=$lanes" "FAIL  e2e/unmarked"
	expect_out "TEST_LANES=$lanes" 'this test ran harness/hosts --help without the line "# test-needs: hosts"'
	expect_out "TEST_LANES=$lanes" "PASS  e2e/plain"
	expect_out "TEST_LANES=$lanes" "SKIP  e2e/skipped"
	expect_out "TEST_LANES=$lanes" "2 passed, 1 failed, 1 skipped"
	e2e_log "TEST_LANES=$lanes: the unmarked test failed, naming what it ran"
done

# SIGTERM: a test in each lane waits for it (two minutes at most), then
# says it cleaned up.
rm "$TREE"/tests/e2e/*.sh
BLOCK='trap "kill \$idle; echo cleaned >>\"\$MARKS/\$NAME\"; exit 143" TERM
sleep 120 &
idle=$!
echo "$$ $idle" >"$MARKS/$NAME.pids"
echo started >>"$MARKS/$NAME"
wait $idle'
stand_in hosts-lane '# test-needs: hosts' "NAME=hosts-lane; $BLOCK"
stand_in other-lane '# an ordinary test' "NAME=other-lane; $BLOCK"
export MARKS=$E2E_TMP/marks
mkdir "$MARKS"
"${TREE_ENV[@]}" "$TREE/tests/run-tests" >"$E2E_TMP/out" 2>&1 &
runner=$!
e2e_track "$runner"
for lane in hosts-lane other-lane; do
	"$TOOLS/waitfor" -x --pid "$runner" "$MARKS/$lane" started 60 || e2e_fail "$lane did not start"
	for pid in $(<"$MARKS/$lane.pids"); do e2e_track "$pid"; done # ended on a failure
done
kill -TERM "$runner"
RC=0
wait "$runner" || RC=$?
[[ $RC == 2 ]] || { cat "$E2E_TMP/out" >&2; e2e_fail "SIGTERM: run-tests exited $RC, expected 2"; }
expect_out SIGTERM "run-tests: stopped by SIGTERM"
for lane in hosts-lane other-lane; do
	grep -qx cleaned "$MARKS/$lane" || e2e_fail "SIGTERM: $lane was not stopped (it would have said so)"
done
e2e_log "SIGTERM: both lanes' tests stopped and cleaned up, run-tests exited 2"
