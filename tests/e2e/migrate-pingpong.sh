#!/usr/bin/env bash
# test-needs: hosts
# Live migration back and forth: a CPU-bound workload started in host A is
# migrated A -> B -> A -> ... 6 times while it works, in stream mode, then
# (a second run) 6 times in file mode (MIG_ROUNDS, an even number; make
# soak moves each workload run 25 times).  It works until it is told to
# finish, so before each migration its result is not out yet, whatever the
# machine's speed; each migrate succeeds, prints a CSV row with every
# phase, and leaves the process running (untraced) at the destination and
# nothing at the source.  Each run's result equals that of an unmigrated
# run of the same work, and what /proc shows of it that it does not
# change itself (its map and VmFlags, limits, descriptors) is as before
# the first migration.
source "$(dirname "$0")/migrate-lib.sh"
mig_init
ROUNDS=${MIG_ROUNDS:-6}
MIB=32

pid=$MIG_WORKLOAD_PID
for mode in stream file; do
	out=$E2E_TMP/$mode.out
	mig_new_workload "$E2E_TMP/$mode.stop"
	pid=$(mig_spawn A "$out" --pid $((pid + 1)) "${MIG_WORKLOAD[@]}")
	mig_in A "$TOOLS/waitfor" --pid "$pid" "$out" ready 20 || e2e_fail "workload $pid did not get ready"
	here=A there=B
	downtimes=()
	mig_live_state A "$pid" "$out.live-before"
	start=$SECONDS
	for ((round = 1; round <= ROUNDS; round++)); do
		what="$mode migration $round ($here -> $there)"
		mig_assert_unfinished "$out" "before $what"
		mig_assert_running "$here" "$pid" "before $what"
		mig_bm "$here" migrate "$pid" "${MIG_ADDR[$there]}:$MIG_PORT" --key "$MIG_KEY" --mode "$mode" --stats csv
		e2e_expect_ok "$what"
		mig_csv_check "$pid" "$MIB"
		downtimes+=("$(tail -n 1 "$BM_OUT" | cut -d, -f7)")
		mig_assert_running "$there" "$pid" "after $what"
		mig_assert_gone "$here" "$pid" "after $what"
		tmp=$here here=$there there=$tmp
	done
	e2e_log "$ROUNDS $mode migrations in $((SECONDS - start)) s; downtimes (us): ${downtimes[*]}"
	mig_live_state "$here" "$pid" "$out.live-after"
	e2e_procstate_same "$out.live" "$ROUNDS $mode migrations of $pid"
	mig_expect_result "$here" "$pid" "$out"
	for h in A B; do
		n=$(grep -c "process $pid migrated in ($mode mode, $MIG_SEAL)" "$HOSTS_STATE/serve-$h.log" || true)
		((n == ROUNDS / 2)) || e2e_fail "serve-$h.log shows $n $mode migrations in, expected $((ROUNDS / 2))"
	done
done
