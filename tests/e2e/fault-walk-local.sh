#!/usr/bin/env bash
# The fault walk of dump and restore: every fault point of the test build
# (`binmig fault-points`) that lies on dump or restore (its WHERE column)
# is made to fail there, and the promise is checked each time
# (fault-walk.sh walks the points of a migration between the emulated
# hosts).  The process is threads8 (13 threads, an internal pipe with data
# in it, an eventfd, queued signals), working until its gate opens.
#
#  1. `binmig dump --leave-running` with the point armed (BINMIG_FAULT):
#     dump exits with a documented code (not 0, not 2), every thread of
#     the process runs on untraced, seen while binmig still lives (held
#     before it exits), and neither IMAGE nor IMAGE.partial is left.
#  2. `binmig restore IMAGE` with the point armed: restore exits with a
#     documented code, nothing is left at the PID, the image is unchanged.
#
# Each arming must make the point fail (BINMIG_FAULT_LOG records every
# injected failure), so the table cannot claim a place the code does not
# go through.  The process dumped with every point failing then finishes
# with the answer of an unmigrated run.
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/fault-lib.sh"
e2e_init threads8
e2e_has_faults ||
	e2e_fail "$BINMIG is built without fault injection (make test-build)"
export BINMIG_FAULT_LOG=$E2E_TMP/fault.log
: >"$BINMIG_FAULT_LOG"
fault_points_read

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
echo "fault walk: ${#POINTS[@]} fault points, $FAULTS_FIRED failed on dump or restore where they lie" >&2

# The answer.
e2e_wait_exit "$REF_PID" 120
wait "$REF_PID" || e2e_fail "the unmigrated run exited with status $?"
cmp -s "$E2E_TMP/reference.out" "$local_out" ||
	{ e2e_show "$E2E_TMP/reference.out" "$local_out" "$local_out.err"; e2e_fail "the run dumped with each point failing answers differently from the unmigrated run"; }
e2e_log "it gave the unmigrated run's $(tail -n 1 "$local_out")"
