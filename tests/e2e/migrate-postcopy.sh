#!/usr/bin/env bash
# test-needs: hosts
# Post-copy live migration (migrate --mode postcopy) between the emulated
# hosts:
#  1. the hashchain workload (rewrites its memory all the time) and the
#     threaded nbody carried 6 hops each (POSTCOPY_HOPS), with the right
#     answer, and nbody 6 hops more in hybrid mode; every hop reports
#     post-copy's figures in --stats, and leaves neither a userfaultfd nor
#     registered memory in the process; after the last hop what /proc
#     shows of it that it does not change itself is as before the first
#     (mig_live_state);
#  2. postchurn: four threads fault on missing pages at once, and while
#     most of its memory has not arrived (binmig's test build holds the
#     pages back until told) the process forks, moves memory (mremap),
#     drops some (MADV_DONTNEED) and unmaps some; every page must be what
#     the process expects, in it and in its child, then after one more hop;
#  3. postchurn changes its memory between binmig's scan of its present
#     pages (while it runs) and the freeze: moved, dropped and unmapped
#     memory and a fork; it checks every page after two hops;
#  3b. the source killed while the pages are held back: the destination
#     kills its process and says why, the original is gone too (nothing
#     left that could run with missing memory);
#  4. kernel support missing (fault point pagemap-scan): stream fallback,
#     or with --no-fallback a refusal (exit 4) that leaves the process
#     untouched;
#  5. hybrid (--mode hybrid): one pre-copy round, then post-copy; postchurn
#     changes its memory after the round (held there by the test build):
#     what it only read is kept in place at the destination, what it moved
#     comes after it runs; it checks everything after one more hop;
#  6. sending pages fails at the source (postcopy-send), placing them fails
#     at the destination (postcopy-place): the process is lost, both ends
#     say so, nothing of it is left on either host;
#  7. guard regions and droppable memory (tests/progs/memguard.c): a
#     post-copy hop and a hybrid one; guard pages are never lazy (the
#     source could not read them), droppable memory comes in the image;
#     checked after the last hop.
# No timing is asserted.
source "$(dirname "$0")/migrate-lib.sh"
# Before the hosts start their serve: it reads this file for each migration.
FAULT_DIR=$(mktemp -d /tmp/binmig-postcopy.XXXXXX)
E2E_TMP_MORE+=("$FAULT_DIR") # removed on every exit, a skip too
export BINMIG_SERVE_FAULT_FILE=$FAULT_DIR/serve-point
: >"$BINMIG_SERVE_FAULT_FILE"
mig_init postchurn memguard
e2e_has_faults ||
	e2e_skip "$BINMIG is built without fault injection (make test-build)"
HOPS=${POSTCOPY_HOPS:-6}

# postcopy_csv PID: the last migrate's CSV has post-copy's columns (and,
# in hybrid mode, one pre-copy round's; whether any page is left for
# after the process runs then depends on what it wrote meanwhile).
postcopy_csv() {
	mig_csv_row "$1" postcopy_pages postcopy_bytes postcopy_us postcopy_remote_faults postcopy_fault_p50_us \
		postcopy_fault_p90_us postcopy_fault_p99_us postcopy_fault_max_us downtime_us total_us
	local row
	row=$(tail -n 1 "$BM_OUT")
	if [[ ${mode:-postcopy} == hybrid ]]; then
		((PC[precopy_rounds] == 1)) || e2e_fail "CSV: hybrid with ${PC[precopy_rounds]:-no} pre-copy rounds: $row"
	else
		((PC[postcopy_pages] > 0)) || e2e_fail "CSV: no page came after the process ran: $row"
	fi
	mig_csv_check "$1" 1
	((PC[postcopy_fault_p50_us] <= PC[postcopy_fault_p99_us] && PC[postcopy_fault_p99_us] <= PC[postcopy_fault_max_us])) ||
		e2e_fail "CSV: fault latency percentiles out of order: $row"
}

# postchurn_start N OUT: a fresh sync directory, and postchurn ready in
# host A at MIG_WORKLOAD_PID + N, its output OUT; sets pid and out.
postchurn_start() {
	rm -rf "$sync"
	mkdir -p "$sync"
	out=$2
	pid=$(mig_spawn A "$out" --pid $((MIG_WORKLOAD_PID + $1)) "$PROGS/postchurn")
	mig_in A "$TOOLS/waitfor" --pid "$pid" "$out" ready 20 || e2e_fail "postchurn $pid did not get ready"
}

# churned_hop MODE GATE MADE TEXT ACK HOST: migrates postchurn A -> B in
# MODE with the test build's gate (environment variable GATE=$sync);
# once binmig waits there ($sync/MADE holds TEXT), postchurn, in HOST,
# changes its memory and checks it (SIGUSR1); $sync/ACK lets binmig go
# on.  The migration and the changes must succeed.
churned_hop() {
	local mode=$1 gate=$2 made=$3 text=$4 ack=$5 h=$6
	export "$gate=$sync"
	mig_bm_bg A migrate "$pid" "${MIG_ADDR[B]}:$MIG_PORT" --key "$MIG_KEY" --mode "$mode" --stats csv
	unset "$gate"
	"$TOOLS/waitfor" "$sync/$made" "$text" 60 || { mig_bm_wait; e2e_fail "$mode: binmig did not reach $made"; }
	mig_in "$h" kill -USR1 "$pid"
	mig_in "$h" "$TOOLS/waitfor" --pid "$pid" "$out" "churned" 60 || true
	touch "$sync/$ack"
	mig_bm_wait
	e2e_expect_ok "$mode migration of postchurn (changed at $made)"
	grep -q "churned OK" "$out" || { e2e_show "$out"; e2e_fail "postchurn's changes at $made went wrong"; }
}

# postchurn_back MODE: one more hop B -> A, then postchurn checks all of
# its memory (SIGUSR2) and passes.
postchurn_back() {
	mig_bm B migrate "$pid" "${MIG_ADDR[A]}:$MIG_PORT" --key "$MIG_KEY" --mode "$1"
	e2e_expect_ok "$1 migration of postchurn back"
	mig_in A kill -USR2 "$pid"
	mig_in A "$TOOLS/waitfor" --pid "$pid" "$out" PASS 30 || true
	e2e_expect_pass "$out"
}

echo "== 1. workloads, $HOPS hops each" >&2
pid=$MIG_WORKLOAD_PID
for w in "postcopy hashchain --mem 32" "postcopy nbody --threads 2" "hybrid nbody --threads 2"; do
	read -r mode name args <<<"$w"
	MIG_WORKLOAD_BIN=$BINMIG_ROOT/workloads/build/native/$name
	read -r -a MIG_WORKLOAD_ARGS <<<"$args"
	out=$E2E_TMP/$mode-$name.out
	mig_new_workload "$E2E_TMP/$mode-$name.stop"
	pid=$((pid + 1))
	pid=$(mig_spawn A "$out" --pid "$pid" "${MIG_WORKLOAD[@]}")
	mig_in A "$TOOLS/waitfor" --pid "$pid" "$out" ready 20 || e2e_fail "$name $pid did not get ready"
	mig_live_hops "$mode" postcopy_csv um postcopy_remote_faults "$out" "$pid"
	mig_expect_result "$here" "$pid" "$out"
	n=$(cat "$HOSTS_STATE/serve-A.log" "$HOSTS_STATE/serve-B.log" | grep -c "post-copy: process $pid has all its")
	((n == HOPS)) || e2e_fail "the serve logs show $n finished post-copy migrations of $pid, expected $HOPS"
done

mode=postcopy
echo "== 2. faults from four threads, fork, mremap, MADV_DONTNEED, munmap while pages are missing" >&2
sync=$E2E_TMP/sync
postchurn_start 10 "$E2E_TMP/postchurn.out"
churned_hop postcopy BINMIG_TEST_POSTCOPY_SYNC running running go B
postcopy_csv "$pid"
((PC[postcopy_remote_faults] > 0)) || e2e_fail "no thread of postchurn waited for a page: $(tail -n 1 "$BM_OUT")"
mig_no_uffd_left B "$pid" um "after postchurn's migration"
postchurn_back postcopy
e2e_log "postchurn: remote faults ${PC[postcopy_remote_faults]}, latency p50/p99/max ${PC[postcopy_fault_p50_us]}/${PC[postcopy_fault_p99_us]}/${PC[postcopy_fault_max_us]} us"

echo "== 3. memory changed between the scan of present pages and the freeze" >&2
# binmig's test build stops right after it found the present pages
# (BINMIG_TEST_POSTCOPY_FOUND): postchurn then moves an area (its pages
# are new where they are now: the image carries them), drops pages (sent
# as zero) and unmaps some (not sent), and forks.
postchurn_start 15 "$E2E_TMP/found.out"
churned_hop postcopy BINMIG_TEST_POSTCOPY_FOUND found found go A
postcopy_csv "$pid"
((PC[image_bytes] >= 8 << 20)) || e2e_fail "the moved 8 MiB are not in the image (${PC[image_bytes]} bytes)"
postchurn_back postcopy
e2e_log "changed after the scan: image ${PC[image_bytes]} bytes, ${PC[postcopy_pages]} pages after the process ran"

echo "== 3b. the source dies while pages are missing" >&2
postchurn_start 20 "$E2E_TMP/lost.out"
pidfile=$E2E_TMP/migrate.pid
# shellcheck disable=SC2016 # expanded in the host
BINMIG_TEST_POSTCOPY_SYNC=$sync mig_in A bash -c 'echo $$ >"$1"; shift; exec "$@"' sh "$pidfile" \
	"$BINMIG" migrate "$pid" "${MIG_ADDR[B]}:$MIG_PORT" --key "$MIG_KEY" --mode postcopy \
	</dev/null >"$E2E_TMP/lost.migrate.out" 2>&1 &
job=$!
"$TOOLS/waitfor" "$sync/running" running 60 || e2e_fail "post-copy did not reach the held pages"
mig_in A kill -KILL "$(cat "$pidfile")"
wait "$job" || true
mig_wait_log B "post-copy failed after process $pid ran here" 1 "the source's death"
mig_in B "$TOOLS/pidwait" "$pid" 20 || e2e_fail "process $pid still runs in host B without its memory"
mig_in A "$TOOLS/pidwait" "$pid" 20 || e2e_fail "the original $pid runs on in host A after the destination ran it"
grep "post-copy failed after process $pid" "$HOSTS_STATE/serve-B.log" | tail -n 1 | sed 's/^/    /' >&2

echo "== 4. no kernel support" >&2
MIG_WORKLOAD_BIN=$BINMIG_ROOT/workloads/build/native/hashchain
MIG_WORKLOAD_ARGS=(--mem 16)
mig_new_workload "$E2E_TMP/fallback.stop"
out=$E2E_TMP/fallback.out
pid=$(mig_spawn A "$out" --pid $((MIG_WORKLOAD_PID + 30)) "${MIG_WORKLOAD[@]}")
mig_in A "$TOOLS/waitfor" --pid "$pid" "$out" ready 20 || e2e_fail "hashchain $pid did not get ready"
before=$(mig_starttime A "$pid")
BINMIG_FAULT=pagemap-scan mig_bm A migrate "$pid" "${MIG_ADDR[B]}:$MIG_PORT" --key "$MIG_KEY" --mode postcopy \
	--no-fallback
[[ $BM_RC == 4 ]] || e2e_fail "pagemap-scan failing, --no-fallback: exit $BM_RC, expected 4"
grep -q "post-copy is unavailable: .*(--no-fallback: not migrated)" "$BM_ERR" ||
	e2e_fail "no clear refusal: $(cat "$BM_ERR")"
mig_assert_running A "$pid" "after the refusal"
[[ $(mig_starttime A "$pid") == "$before" ]] || e2e_fail "process $pid was replaced"
BINMIG_FAULT=pagemap-scan mig_bm A migrate "$pid" "${MIG_ADDR[B]}:$MIG_PORT" --key "$MIG_KEY" --mode postcopy
e2e_expect_ok "postcopy migration without kernel support"
grep -q "falling back to stream mode" "$BM_ERR" || e2e_fail "the fallback is not said: $(cat "$BM_ERR")"
mig_expect_result B "$pid" "$out"

echo "== 5. hybrid: one pre-copy round, then post-copy" >&2
# postchurn changes its memory right after the round (binmig's test build
# waits for it there): its readers' area is kept in place, the area it
# moves arrives after the process runs.
postchurn_start 50 "$E2E_TMP/hybrid.out"
churned_hop hybrid BINMIG_TEST_PRECOPY_SYNC round-1 "round 1" ack-1 A
mig_csv_row "$pid" precopy_rounds precopy_pages postcopy_pages downtime_us
((PC[precopy_rounds] == 1)) || e2e_fail "hybrid: ${PC[precopy_rounds]} pre-copy rounds, expected 1"
((PC[postcopy_pages] >= 2048)) || e2e_fail "hybrid: ${PC[postcopy_pages]} pages after the process ran, expected the moved 8 MiB at least"
mig_wait_log B "pre-copy: process $pid kept " 1 "hybrid's kept pages"
kept=$(grep -o "pre-copy: process $pid kept [0-9]* pages in place" "$HOSTS_STATE/serve-B.log" | awk '{print $5}')
((kept >= 8192)) || e2e_fail "hybrid: $kept pages kept in place, expected the readers' 32 MiB at least"
mig_wait_log B "post-copy: process $pid has all its" 1 "hybrid's post-copy"
mig_no_uffd_left B "$pid" um "after the hybrid migration"
postchurn_back hybrid
e2e_log "hybrid: round 1 ${PC[precopy_pages]} pages, $kept kept in place, ${PC[postcopy_pages]} after the process ran"

echo "== 6. a failure once the process ran loses it, and says so" >&2
next=$((MIG_WORKLOAD_PID + 40))
for side in source destination; do
	out=$E2E_TMP/fail-$side.out
	pid=$(mig_spawn A "$out" --pid $((next++)) "$PROGS/postchurn")
	mig_in A "$TOOLS/waitfor" --pid "$pid" "$out" ready 20 || e2e_fail "postchurn $pid did not get ready"
	if [[ $side == source ]]; then
		BINMIG_FAULT=postcopy-send mig_bm A migrate "$pid" "${MIG_ADDR[B]}:$MIG_PORT" --key "$MIG_KEY" --mode postcopy
	else
		echo postcopy-place >"$BINMIG_SERVE_FAULT_FILE"
		mig_bm A migrate "$pid" "${MIG_ADDR[B]}:$MIG_PORT" --key "$MIG_KEY" --mode postcopy
		: >"$BINMIG_SERVE_FAULT_FILE"
	fi
	((BM_RC != 0)) || e2e_fail "post-copy failing at the $side: migrate succeeded"
	grep -q "process $pid is lost: it ran at the destination" "$BM_ERR" ||
		e2e_fail "post-copy failing at the $side: migrate does not say the process is lost: $(cat "$BM_ERR")"
	mig_wait_log B "post-copy failed after process $pid ran here" 1 "post-copy failing at the $side"
	mig_in B "$TOOLS/pidwait" "$pid" 20 || e2e_fail "post-copy failing at the $side: $pid runs on in host B"
	mig_in A "$TOOLS/pidwait" "$pid" 20 || e2e_fail "post-copy failing at the $side: the original $pid runs on in host A"
	e2e_log "post-copy failing at the $side: $(head -n 1 "$BM_ERR")"
done
echo "== 7. guard regions and droppable memory" >&2
memguard_postcopy() {
	# (postcopy_csv would want 1 MiB: memguard has less.)
	mig_csv_row "$1" postcopy_pages
	[[ $mode == hybrid ]] || ((PC[postcopy_pages] > 0)) || e2e_fail "memguard: no page came after it ran"
	mig_no_uffd_left "$2" "$1" um "after the $mode migration of memguard"
}
mig_memguard_hops $((next++)) memguard_postcopy postcopy hybrid
mig_finish
