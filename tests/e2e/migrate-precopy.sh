#!/usr/bin/env bash
# Pre-copy live migration (migrate --mode precopy) between the emulated
# hosts:
#  1. the hashchain workload (rewrites its memory all the time) and the
#     threaded nbody carried 10 hops each, with the right answer, every hop
#     with rounds, pages per round and a downtime in --stats;
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
#     fine afterwards.
# No timing is asserted.
source "$(dirname "$0")/migrate-lib.sh"
mig_init mapchurn
HOPS=${PRECOPY_HOPS:-10}

# No userfaultfd registered in PID (host H): no descriptor of one, and no
# VMA with the uffd-wp flag.
no_uffd_left() { # H PID WHAT
	local h=$1 pid=$2 what=$3 n
	n=$(mig_in "$h" bash -c "grep -c '^VmFlags:.* uw' /proc/$pid/smaps" || true)
	[[ $n == 0 ]] || e2e_fail "$what: $n VMAs of $pid are still registered for write-protection"
	n=$(mig_in "$h" bash -c "ls -l /proc/$pid/fd | grep -c userfaultfd" || true)
	[[ $n == 0 ]] || e2e_fail "$what: process $pid holds a userfaultfd"
}

# precopy_csv PID: the last migrate's CSV has the pre-copy columns.
precopy_csv() {
	local header row i
	header=$(head -n 1 "$BM_OUT")
	row=$(tail -n 1 "$BM_OUT")
	IFS=, read -r -a names <<<"$header"
	IFS=, read -r -a values <<<"$row"
	declare -gA PC=()
	for i in "${!names[@]}"; do PC[${names[i]}]=${values[i]}; done
	[[ ${PC[pid]:-} == "$1" ]] || e2e_fail "CSV pid ${PC[pid]:-none}, expected $1: $row"
	for c in precopy_rounds precopy_pages precopy_bytes downtime_us total_us dirty_pages_per_s; do
		[[ ${PC[$c]:-} =~ ^[0-9]+$ ]] || e2e_fail "CSV has no numeric $c: $header / $row"
	done
	((PC[precopy_rounds] >= 1)) || e2e_fail "CSV: no pre-copy round: $row"
	((PC[precopy_pages] > 0)) || e2e_fail "CSV: no page pre-copied: $row"
	local detail=${PC[precopy_round_pages_bytes_us]:-}
	IFS=';' read -r -a rounds <<<"$detail"
	((${#rounds[@]} == PC[precopy_rounds])) || e2e_fail "CSV: ${#rounds[@]} rounds detailed, ${PC[precopy_rounds]} counted"
}

hops() { # OUT PID: HOPS pre-copy migrations A <-> B
	local out=$1 pid=$2 round
	here=A there=B
	downtimes=()
	for ((round = 1; round <= HOPS; round++)); do
		what="precopy migration $round of $pid ($here -> $there)"
		mig_assert_unfinished "$out" "before $what"
		mig_bm "$here" migrate "$pid" "${MIG_ADDR[$there]}:$MIG_PORT" --key "$MIG_KEY" --mode precopy --stats csv
		e2e_expect_ok "$what"
		precopy_csv "$pid"
		downtimes+=("${PC[downtime_us]}/${PC[precopy_rounds]}")
		mig_assert_running "$there" "$pid" "after $what"
		mig_assert_gone "$here" "$pid" "after $what"
		no_uffd_left "$there" "$pid" "after $what"
		tmp=$here here=$there there=$tmp
	done
	e2e_log "$HOPS precopy hops of $pid; downtime us / rounds: ${downtimes[*]}"
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
	hops "$out" "$pid"
	mig_expect_result "$here" "$pid" "$out"
	n=$(grep -c "process $pid migrated in (precopy mode, $MIG_SEAL)" "$HOSTS_STATE/serve-A.log" "$HOSTS_STATE/serve-B.log" |
		awk -F: '{s += $2} END {print s}')
	((n == HOPS)) || e2e_fail "the serve logs show $n precopy migrations of $pid in, expected $HOPS"
done
e2e_log "PASS so far"
