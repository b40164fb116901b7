#!/usr/bin/env bash
# test-needs: hosts
# Pre-copy live migration (migrate --mode precopy) between the emulated
# hosts:
#  1. the hashchain workload (rewrites its memory all the time) and the
#     threaded nbody carried 6 hops each (PRECOPY_HOPS), with the right
#     answer, every hop with rounds, pages per round and a downtime in
#     --stats, and after the last hop what /proc shows of it that it does
#     not change itself as before the first (mig_live_state);
#  2. a program that maps, unmaps, remaps, mprotects, zaps and grows its
#     heap between the rounds (a deterministic handshake: binmig's test
#     build waits for the program after each round) and verifies all of
#     its memory at the destination;
#  3. a writer faster than any round (hashchain over 64 MiB, threshold 0)
#     finishes with at most the round limit;
#  4. kernel support missing (fault point pagemap-scan) and a process that
#     cannot be tracked (precopy-uffd): stream fallback, or with
#     --no-fallback a refusal (exit 4) that leaves the process untouched;
#  5. a failure during the rounds (precopy-send): the process runs on at
#     the source with no userfaultfd left registered in it, and migrates
#     fine afterwards;
#  6. the destination keeps the pre-copied pages in place (serve's log
#     says how many), and so do a stream and a file migration with their
#     memory plan; a process so restored has the same map and VMA flags as
#     when its memory is mapped afresh (stream mode, --no-prefault);
#  7. guard regions and droppable memory (tests/progs/memguard.c): two
#     hops of up to 3 rounds, the guard pages of tracked memory looked at
#     in every round after the first (pagemap shows them written), the
#     droppable memory untracked and carried by the final image; checked
#     after the last hop;
#  8. the clean pages of private file mappings (tests/progs/delmap.c
#     carried) still follow the file after a pre-copy hop: the markers
#     write-protection leaves in pages never touched are not read as the
#     process's pages; and tests/progs/memory.c's untouched gigabyte goes
#     neither in the final image of a pre-copy hop nor after the process
#     runs in a hybrid one (nor do their figures count it).
# No timing is asserted.
source "$(dirname "$0")/migrate-lib.sh"
mig_init mapchurn memguard delmap memory
HOPS=${PRECOPY_HOPS:-6}

# precopy_csv PID: the last migrate's CSV has the pre-copy columns.
precopy_csv() {
	mig_csv_row "$1" precopy_rounds precopy_pages precopy_bytes downtime_us total_us dirty_pages_per_s
	local row
	row=$(tail -n 1 "$BM_OUT")
	((PC[precopy_rounds] >= 1)) || e2e_fail "CSV: no pre-copy round: $row"
	((PC[precopy_pages] > 0)) || e2e_fail "CSV: no page pre-copied: $row"
	local detail=${PC[precopy_round_pages_bytes_us]:-}
	IFS=';' read -r -a rounds <<<"$detail"
	((${#rounds[@]} == PC[precopy_rounds])) || e2e_fail "CSV: ${#rounds[@]} rounds detailed, ${PC[precopy_rounds]} counted"
}

echo "== 1. workloads, $HOPS hops each" >&2
pid=$MIG_WORKLOAD_PID
for w in "hashchain --mem 32" "nbody --threads 2"; do
	read -r name args <<<"$w"
	MIG_WORKLOAD_BIN=$BINMIG_ROOT/workloads/build/native/$name
	read -r -a MIG_WORKLOAD_ARGS <<<"$args"
	out=$E2E_TMP/$name.out
	mig_new_workload "$E2E_TMP/$name.stop"
	pid=$((pid + 1))
	pid=$(mig_spawn A "$out" --pid "$pid" "${MIG_WORKLOAD[@]}")
	mig_in A "$TOOLS/waitfor" --pid "$pid" "$out" ready 20 || e2e_fail "$name $pid did not get ready"
	mig_live_hops precopy precopy_csv uw precopy_rounds "$out" "$pid"
	mig_expect_result "$here" "$pid" "$out"
	n=$(grep -c "process $pid migrated in (precopy mode, $MIG_SEAL)" "$HOSTS_STATE/serve-A.log" "$HOSTS_STATE/serve-B.log" |
		awk -F: '{s += $2} END {print s}')
	((n == HOPS)) || e2e_fail "the serve logs show $n precopy migrations of $pid in, expected $HOPS"
done

echo "== 2. the map changes between the rounds" >&2
sync=$E2E_TMP/sync
mkdir -p "$sync"
out=$E2E_TMP/mapchurn.out
pid=$(mig_spawn A "$out" --pid $((MIG_WORKLOAD_PID + 10)) "$PROGS/mapchurn" "$sync")
mig_in A "$TOOLS/waitfor" --pid "$pid" "$out" ready 20 || e2e_fail "mapchurn $pid did not get ready"
BINMIG_TEST_PRECOPY_SYNC=$sync mig_bm A migrate "$pid" "${MIG_ADDR[B]}:$MIG_PORT" --key "$MIG_KEY" \
	--mode precopy --precopy-threshold 0 --precopy-rounds 6 --stats csv
e2e_expect_ok "precopy migration of mapchurn"
precopy_csv "$pid"
mig_assert_running B "$pid" "after the migration of mapchurn"
[[ -e $sync/ack-1 ]] || e2e_fail "mapchurn changed nothing between the rounds (no ack-1)"
touch "$sync/done-0"
mig_in B "$TOOLS/waitfor" --pid "$pid" "$out" PASS 30 || true
e2e_expect_pass "$out"
e2e_log "mapchurn: $(grep steps "$out"), rounds ${PC[precopy_rounds]}, memory as it left it"

echo "== 3. a writer faster than the rounds stops at the round limit" >&2
MIG_WORKLOAD_BIN=$BINMIG_ROOT/workloads/build/native/hashchain
MIG_WORKLOAD_ARGS=(--mem 64)
mig_new_workload "$E2E_TMP/fast.stop"
out=$E2E_TMP/fast.out
pid=$(mig_spawn A "$out" --pid $((MIG_WORKLOAD_PID + 20)) "${MIG_WORKLOAD[@]}")
mig_in A "$TOOLS/waitfor" --pid "$pid" "$out" ready 20 || e2e_fail "hashchain $pid did not get ready"
mig_bm A migrate "$pid" "${MIG_ADDR[B]}:$MIG_PORT" --key "$MIG_KEY" --mode precopy --precopy-rounds 3 \
	--precopy-threshold 0 --stats csv
e2e_expect_ok "precopy migration of a fast writer"
precopy_csv "$pid"
((PC[precopy_rounds] <= 3)) || e2e_fail "${PC[precopy_rounds]} rounds with --precopy-rounds 3"
mig_expect_result B "$pid" "$out"

echo "== 4. no kernel support, a process that cannot be tracked" >&2
MIG_WORKLOAD_ARGS=(--mem 32)
mig_new_workload "$E2E_TMP/fallback.stop"
out=$E2E_TMP/fallback.out
pid=$(mig_spawn A "$out" --pid $((MIG_WORKLOAD_PID + 30)) "${MIG_WORKLOAD[@]}")
mig_in A "$TOOLS/waitfor" --pid "$pid" "$out" ready 20 || e2e_fail "hashchain $pid did not get ready"
before=$(mig_starttime A "$pid")
for point in pagemap-scan precopy-uffd; do
	BINMIG_FAULT=$point mig_bm A migrate "$pid" "${MIG_ADDR[B]}:$MIG_PORT" --key "$MIG_KEY" \
		--mode precopy --no-fallback
	[[ $BM_RC == 4 ]] || e2e_fail "$point failing, --no-fallback: exit $BM_RC, expected 4"
	grep -q "(--no-fallback: not migrated)" "$BM_ERR" || e2e_fail "$point failing: no clear refusal: $(cat "$BM_ERR")"
	mig_assert_running A "$pid" "after the refusal ($point)"
	[[ $(mig_starttime A "$pid") == "$before" ]] || e2e_fail "process $pid was replaced"
	mig_in B test ! -e "/proc/$pid" || e2e_fail "a process $pid exists in host B after the refusal"
	mig_no_uffd_left A "$pid" uw "after the refusal ($point)"
done
here=A there=B
for point in pagemap-scan precopy-uffd; do
	BINMIG_FAULT=$point mig_bm "$here" migrate "$pid" "${MIG_ADDR[$there]}:$MIG_PORT" --key "$MIG_KEY" \
		--mode precopy
	e2e_expect_ok "$point failing: fallback"
	case $point in
	pagemap-scan) grep -q "pre-copy is unavailable: .*; falling back to stream mode" "$BM_ERR" ;;
	precopy-uffd) grep -q "cannot be tracked: .*; it goes as in stream mode" "$BM_ERR" ;;
	esac || e2e_fail "$point failing: the fallback is not said: $(cat "$BM_ERR")"
	mig_assert_running "$there" "$pid" "after the fallback ($point)"
	mig_assert_gone "$here" "$pid" "after the fallback ($point)"
	tmp=$here here=$there there=$tmp
done
grep -q "process $pid migrated in (stream mode" "$HOSTS_STATE/serve-B.log" ||
	e2e_fail "the pagemap-scan fallback did not migrate in stream mode"
mig_expect_result "$here" "$pid" "$out"

echo "== 5. failure during the rounds" >&2
mig_new_workload "$E2E_TMP/fail.stop"
out=$E2E_TMP/fail.out
pid=$(mig_spawn A "$out" --pid $((MIG_WORKLOAD_PID + 40)) "${MIG_WORKLOAD[@]}")
mig_in A "$TOOLS/waitfor" --pid "$pid" "$out" ready 20 || e2e_fail "hashchain $pid did not get ready"
# Registered while the rounds run: binmig waits after round 1 until ack-1.
sync=$E2E_TMP/sync2
mkdir -p "$sync"
BINMIG_TEST_PRECOPY_SYNC=$sync mig_bm_bg A migrate "$pid" "${MIG_ADDR[B]}:$MIG_PORT" --key "$MIG_KEY" \
	--mode precopy --precopy-rounds 2 --precopy-threshold 0
"$TOOLS/waitfor" "$sync/round-1" round 30 || e2e_fail "no pre-copy round 1 within 30 s"
n=$(mig_in A bash -c "grep -c '^VmFlags:.* uw' /proc/$pid/smaps" || true)
((n > 0)) || e2e_fail "no VMA of $pid is registered during the rounds"
touch "$sync/ack-1" "$sync/ack-2"
mig_bm_wait
e2e_expect_ok "precopy migration with a pause after round 1"
mig_assert_running B "$pid" "after the paused migration"
BINMIG_FAULT=precopy-send mig_bm B migrate "$pid" "${MIG_ADDR[A]}:$MIG_PORT" --key "$MIG_KEY" --mode precopy
((BM_RC != 0)) || e2e_fail "precopy-send failing: migrate succeeded"
grep -q "^binmig: migrate: pre-copy: sending a pre-copy round" "$BM_ERR" || e2e_fail "precopy-send: $(head -n 1 "$BM_ERR")"
grep -q "process $pid runs on at the source, untracked" "$BM_ERR" || e2e_fail "precopy-send: the source's fate is not said"
mig_assert_running B "$pid" "after the failed rounds"
mig_in A test ! -e "/proc/$pid" || e2e_fail "a process $pid exists in host A after the failed rounds"
mig_no_uffd_left B "$pid" uw "after the failed rounds"
mig_bm B migrate "$pid" "${MIG_ADDR[A]}:$MIG_PORT" --key "$MIG_KEY" --mode precopy
e2e_expect_ok "precopy migration after the failed one"
mig_expect_result A "$pid" "$out"

echo "== 6. memory kept in place, and the same map as memory mapped afresh" >&2
out=$E2E_TMP/dirtier.out
# Writing nothing, so that every page is kept whatever the machine's speed.
pid=$(mig_spawn A "$out" --pid $((MIG_WORKLOAD_PID + 50)) "$PROGS/dirtier" 16 0)
mig_in A "$TOOLS/waitfor" --pid "$pid" "$out" ready 20 || e2e_fail "dirtier $pid did not get ready"
# Every VMA's line and flags.
layout() { mig_in "$1" grep -E '^[0-9a-f]+-[0-9a-f]+ |^VmFlags' "/proc/$2/smaps"; }
mig_bm A migrate "$pid" "${MIG_ADDR[B]}:$MIG_PORT" --key "$MIG_KEY" --mode precopy
e2e_expect_ok "precopy migration of dirtier"
mig_wait_log B "pre-copy: process $pid kept " 1 "the kept pages of dirtier"
kept=$(grep -o "pre-copy: process $pid kept [0-9]* pages in place" "$HOSTS_STATE/serve-B.log" | awk '{print $5}')
((kept >= 4096)) || e2e_fail "dirtier kept $kept pages in place, expected most of its 16 MiB (4096 pages)"
layout B "$pid" >"$E2E_TMP/layout.precopy"
# Stream mode has the destination's memory ready before the freeze (the memory plan).
mig_bm B migrate "$pid" "${MIG_ADDR[A]}:$MIG_PORT" --key "$MIG_KEY"
e2e_expect_ok "stream migration of dirtier"
mig_wait_log A "memory plan: process $pid kept " 1 "the memory plan of dirtier"
planned=$(grep -o "memory plan: process $pid kept [0-9]*" "$HOSTS_STATE/serve-A.log" | awk '{print $6}')
((planned >= 16)) || e2e_fail "dirtier kept $planned MiB in place in stream mode, expected its 16 MiB"
layout A "$pid" >"$E2E_TMP/layout.stream"
# So has file mode.
mig_bm A migrate "$pid" "${MIG_ADDR[B]}:$MIG_PORT" --key "$MIG_KEY" --mode file
e2e_expect_ok "file migration of dirtier"
mig_wait_log B "memory plan: process $pid kept " 1 "the memory plan of dirtier in file mode"
filed=$(grep -o "memory plan: process $pid kept [0-9]*" "$HOSTS_STATE/serve-B.log" | awk '{print $6}')
((filed >= 16)) || e2e_fail "dirtier kept $filed MiB in place in file mode, expected its 16 MiB"
layout B "$pid" >"$E2E_TMP/layout.file"
mig_bm B migrate "$pid" "${MIG_ADDR[A]}:$MIG_PORT" --key "$MIG_KEY" --no-prefault
e2e_expect_ok "stream migration of dirtier without a memory plan"
[[ $(grep -c "memory plan: process $pid" "$HOSTS_STATE/serve-A.log") == 1 ]] ||
	e2e_fail "--no-prefault: serve in A still made a plan"
layout A "$pid" >"$E2E_TMP/layout.fresh"
for kind in precopy stream file; do
	diff "$E2E_TMP/layout.fresh" "$E2E_TMP/layout.$kind" >&2 ||
		e2e_fail "the map of dirtier restored with memory kept in place ($kind) differs from memory mapped afresh"
done
mig_in A kill -USR1 "$pid"
mig_in A "$TOOLS/waitfor" --pid "$pid" "$out" PASS 30 || true
e2e_expect_pass "$out"
e2e_log "dirtier: $kept pages kept in place (pre-copy), $planned MiB (stream), $filed MiB (file); $(grep -c . "$E2E_TMP/layout.fresh") lines of map and flags alike"

echo "== 7. guard regions and droppable memory" >&2
memguard_precopy() {
	precopy_csv "$1"
	mig_no_uffd_left "$2" "$1" uw "after the pre-copy migration of memguard"
}
mig_memguard_hops $((MIG_WORKLOAD_PID + 60)) memguard_precopy "precopy --precopy-rounds 3 --precopy-threshold 0" \
	"precopy --precopy-rounds 3 --precopy-threshold 0"

echo "== 8. clean pages of private file mappings" >&2
mkdir -p "$E2E_TMP/delmap"
out=$E2E_TMP/delmap.out
pid=$(mig_spawn A "$out" --pid $((MIG_WORKLOAD_PID + 70)) "$PROGS/delmap" carried "$E2E_TMP/delmap")
mig_in A "$TOOLS/waitfor" --pid "$pid" -x "$out" ready 20 || { e2e_show "$out"; e2e_fail "delmap did not get ready"; }
mig_bm A migrate "$pid" "${MIG_ADDR[B]}:$MIG_PORT" --key "$MIG_KEY" --mode precopy --no-fallback
e2e_expect_ok "precopy migration of delmap"
mig_assert_running B "$pid" "after the pre-copy migration of delmap"
mig_no_uffd_left B "$pid" uw "after the pre-copy migration of delmap"
mig_in B kill -USR1 "$pid"
mig_in B "$TOOLS/waitfor" --pid "$pid" "$out" PASS 30 || true
e2e_expect_pass "$out"
e2e_log "delmap: its clean file pages follow the file after a pre-copy hop"
# memory's 1 GiB region has 14 pages written; the rest, 262130 pages,
# was never touched: pages of the image and post-copy's stay far below.
out=$E2E_TMP/memory.out
pid=$(mig_spawn A "$out" --pid $((MIG_WORKLOAD_PID + 80)) "$PROGS/memory")
mig_in A "$TOOLS/waitfor" --pid "$pid" -x "$out" ready 20 || { e2e_show "$out"; e2e_fail "memory did not get ready"; }
here=A there=B
for mode in precopy hybrid; do
	mig_bm "$here" migrate "$pid" "${MIG_ADDR[$there]}:$MIG_PORT" --key "$MIG_KEY" --mode "$mode" --no-fallback --stats csv
	e2e_expect_ok "$mode migration of memory"
	mig_csv_row "$pid" pages_total precopy_final_pages
	for c in pages_total precopy_final_pages postcopy_pages; do
		((${PC[$c]:-0} < 10000)) || e2e_fail "$mode migration of memory: $c ${PC[$c]}, the untouched gigabyte counted"
	done
	mig_no_uffd_left "$there" "$pid" uw "after the $mode migration of memory"
	e2e_log "memory, $mode: pages_total ${PC[pages_total]}, precopy_final_pages ${PC[precopy_final_pages]}, postcopy_pages ${PC[postcopy_pages]:-}"
	tmp=$here here=$there there=$tmp
done
mig_in A kill -USR1 "$pid"
mig_in A "$TOOLS/waitfor" --pid "$pid" "$out" PASS 30 || true
e2e_expect_pass "$out"
