#!/usr/bin/env bash
# test-timeout: 900
# test-needs: hosts
# The fault walk: every fault point of the test build (`binmig
# fault-points`: each step of dump, migrate on both sides and restore where
# the process, the network or the disk can fail) is made to fail in every
# place it lies on (the WHERE column: dump, restore, the source or the
# destination of a migration in stream or file mode), and the promise is
# checked each time.  The process is threads8 (13 threads, an internal
# pipe with data in it, an eventfd, queued signals), working until its gate
# opens.
#
#  1. `binmig dump --leave-running` with the point armed (BINMIG_FAULT):
#     dump exits with a documented code (not 0, not 2), every thread of
#     the process runs on untraced, seen while binmig still lives (held
#     before it exits), and neither IMAGE nor IMAGE.partial is left.
#  2. `binmig restore IMAGE` with the point armed: restore exits with a
#     documented code, nothing is left at the PID, the image is unchanged.
#  3. A live migration between the emulated hosts with the point armed in
#     (in `make test`, one of the point's places, taken in turn from point
#     to point; FAULT_WALK=full, as `make fault-walk` sets, every place)
#     the source (BINMIG_FAULT for migrate) or in the destination (the file
#     BINMIG_SERVE_FAULT_FILE, which serve reads for each migration): the
#     process exists exactly once afterwards.  A migrate that fails exits
#     with a documented code, names the phase in its first line, has the
#     process running untraced at the source (resumed, unless it failed
#     before the suspend) and nothing at the destination, nor any image
#     file left in the source's workdir.  A migrate that succeeds (a point
#     after the commit: CONFIRM) left it running at the destination only.
#
# Each arming must make the point fail (BINMIG_FAULT_LOG records every
# injected failure), so the table cannot claim a place the code does not
# go through.  Both threads8 runs then finish with the answer of an
# unmigrated run.  Prints how many points there are and how many
# (point, place) pairs were walked.
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/migrate-lib.sh"
source "$(dirname "$0")/threads-lib.sh"
source "$(dirname "$0")/fault-lib.sh"
fault_hosts_init faults threads8
declare -A WHERE=() # point -> its places, comma-separated
POINTS=()
while read -r number name where _; do
	[[ $number =~ ^[0-9]+$ ]] || continue
	POINTS+=("$name")
	WHERE[$name]=$where
done < <("$BINMIG" fault-points)
((${#POINTS[@]} > 0)) || e2e_fail "binmig fault-points lists no points"
e2e_log "${#POINTS[@]} fault points: ${POINTS[*]}"
lies_on() { [[ ,${WHERE[$1]}, == *,$2,* ]]; } # POINT PLACE

T8=("$PROGS/threads8" --phases 20 --cost 500000)
touch "$E2E_TMP/open"
e2e_start "$E2E_TMP/reference.out" "${T8[@]}" --gate "$E2E_TMP/open"
REF_PID=$E2E_PID

echo "== 1. dump" >&2
local_out=$E2E_TMP/local.out
e2e_start "$local_out" "${T8[@]}" --gate "$E2E_TMP/local-gate"
LOCAL=$E2E_PID
e2e_wait_ready "$local_out" "$LOCAL"
img=$E2E_TMP/walk.img
for p in "${POINTS[@]}"; do
	lies_on "$p" dump || continue
	what="dump, $p failing"
	BINMIG_FAULT=$p bm_held dump "$LOCAL" -o "$img" --leave-running
	untraced_running "$LOCAL" "$what"
	bm_unhold
	expect_fired "$p" "$what"
	documented_failure "$what"
	[[ ! -e $img && ! -e $img.partial ]] || e2e_fail "$what: an image is left: $(ls "$img"*)"
done
touch "$E2E_TMP/local-gate"
e2e_wait_line "$local_out" "result " "$LOCAL" 120

echo "== 2. restore" >&2
victim_out=$E2E_TMP/victim.out
e2e_start "$victim_out" "${T8[@]}" --gate "$E2E_TMP/victim-gate"
VICTIM=$E2E_PID
e2e_wait_ready "$victim_out" "$VICTIM"
bm dump "$VICTIM" -o "$img"
e2e_expect_ok "dump for the restores"
wait "$VICTIM" 2>/dev/null || true
cp "$img" "$img.orig"
for p in "${POINTS[@]}"; do
	lies_on "$p" restore || continue
	what="restore, $p failing"
	BINMIG_FAULT=$p bm restore "$img"
	expect_fired "$p" "$what"
	documented_failure "$what"
	[[ ! -e /proc/$VICTIM ]] || e2e_fail "$what: process $VICTIM is left ($(e2e_state "$VICTIM"))"
	cmp -s "$img" "$img.orig" || e2e_fail "$what: the image changed"
done

echo "== 3. migrate" >&2
out=$E2E_TMP/threads8.out
wd=$E2E_TMP/workdir
mkdir -p "$wd"
PID=$(mig_spawn A "$out" --pid "$MIG_WORKLOAD_PID" "${T8[@]}" --gate "$E2E_TMP/gate")
mig_in A "$TOOLS/waitfor" --pid "$PID" "$out" ready 20 || { e2e_show "$out" "$out.err"; e2e_fail "threads8 did not get ready"; }
here=A there=B
PHASES="connect|authentication|memory plan|suspend|checkpoint|transfer|checkpoint and transfer|restore at the destination"
succeeded=0 failed=0 i=0
for p in "${POINTS[@]}"; do
	places=()
	for place in src-stream src-file dst-stream dst-file; do
		lies_on "$p" "$place" && places+=("$place")
	done
	# The quick walk (make test) takes one place per point, in turn, so
	# that both modes and both sides come up; FAULT_WALK=full every one.
	((${#places[@]})) && [[ ${FAULT_WALK:-quick} != full ]] && places=("${places[i++ % ${#places[@]}]}")
	for place in "${places[@]}"; do
		mode=${place#*-}
		what="$p failing at the ${place%-*} ($mode mode, $here -> $there)"
		mig_assert_unfinished "$out" "before $what"
		migrate=(migrate "$PID" "${MIG_ADDR[$there]}:$MIG_PORT" --key "$MIG_KEY" --mode "$mode" --workdir "$wd")
		if [[ $place == src-* ]]; then
			BINMIG_FAULT=$p mig_bm "$here" "${migrate[@]}"
		else
			echo "$p" >"$BINMIG_SERVE_FAULT_FILE"
			mig_bm "$here" "${migrate[@]}"
			: >"$BINMIG_SERVE_FAULT_FILE"
		fi
		# The destination's worker may still be at it (logging, or
		# waiting for the CONFIRM the source sent before it exited).
		workers_done "$there" "$what"
		expect_fired "$p" "$what"
		if ((BM_RC == 0)); then
			succeeded=$((succeeded + 1))
			mig_assert_running "$there" "$PID" "after $what (migrate succeeded)"
			mig_assert_gone "$here" "$PID" "after $what (migrate succeeded)"
			tmp=$here here=$there there=$tmp
		else
			failed=$((failed + 1))
			mig_expect_failure any "$PHASES" "$PID" "$what"
			documented_failure "$what"
			mig_assert_running "$here" "$PID" "after $what (migrate failed)"
			mig_assert_gone "$there" "$PID" "after $what (migrate failed)"
		fi
		leftovers=$(ls -A "$wd")
		[[ -z $leftovers ]] || e2e_fail "$what: files left in the source's workdir: $leftovers"
	done
done
e2e_log "migrations: $failed failed as promised, $succeeded succeeded (the failure came after the commit)"
echo "fault walk: ${#POINTS[@]} fault points, $FAULTS_FIRED (point, place) pairs walked, every one failed where it lies" >&2

# The answers.
e2e_wait_exit "$REF_PID" 120
wait "$REF_PID" || e2e_fail "the unmigrated run exited with status $?"
touch "$E2E_TMP/gate"
mig_in "$here" "$TOOLS/waitfor" --pid "$PID" "$out" "result " 120 ||
	{ e2e_show "$out" "$out.err"; e2e_fail "threads8 did not finish in host $here"; }
for o in "$local_out" "$out"; do
	cmp -s "$E2E_TMP/reference.out" "$o" ||
		{ e2e_show "$E2E_TMP/reference.out" "$o" "$o.err"; e2e_fail "$(basename "$o") differs from the unmigrated run's"; }
done
e2e_log "both runs gave the unmigrated run's $(tail -n 1 "$out")"
