#!/usr/bin/env bash
# test-timeout: 900
# test-needs: hosts
# The fault walk between the emulated hosts: every fault point of the test
# build (`binmig fault-points`: each step of dump, migrate on both sides
# and restore where the process, the network or the disk can fail) that
# lies on a migration is made to fail in the places it lies on (the WHERE
# column: the source or the destination of a migration in stream or file
# mode; fault-walk-local.sh walks those on dump and restore), and the
# promise is checked each time.  The process is threads8 (13 threads, an
# internal pipe with data in it, an eventfd, queued signals), working
# until its gate opens.
#
# A live migration between the emulated hosts with the point armed (in
# `make test`, in one of the point's places, taken in turn from point to
# point; FAULT_WALK=full, as `make fault-walk` sets, in every place) in
# the source (BINMIG_FAULT for migrate) or in the destination (the file
# BINMIG_SERVE_FAULT_FILE, which serve reads for each migration): the
# process exists exactly once afterwards.  A migrate that fails exits
# with a documented code, names the phase in its first line, has the
# process running untraced at the source (resumed, unless it failed
# before the suspend) and nothing at the destination, nor any image file
# left in the source's workdir.  A migrate that succeeds (a point after
# the commit: CONFIRM) left it running at the destination only.
#
# Each arming must make the point fail (BINMIG_FAULT_LOG records every
# injected failure), so the table cannot claim a place the code does not
# go through.  threads8 then finishes with the answer of an unmigrated
# run.  Prints how many points there are and how many (point, place)
# pairs were walked.
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/migrate-lib.sh"
source "$(dirname "$0")/threads-lib.sh"
source "$(dirname "$0")/fault-lib.sh"
fault_hosts_init faults threads8
fault_points_read

T8=("$PROGS/threads8" --phases 20 --cost 500000)
touch "$E2E_TMP/open"
e2e_start "$E2E_TMP/reference.out" "${T8[@]}" --gate "$E2E_TMP/open"
REF_PID=$E2E_PID

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
cmp -s "$E2E_TMP/reference.out" "$out" ||
	{ e2e_show "$E2E_TMP/reference.out" "$out" "$out.err"; e2e_fail "the migrated run's answer differs from the unmigrated run's"; }
e2e_log "it gave the unmigrated run's $(tail -n 1 "$out")"
