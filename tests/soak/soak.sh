#!/usr/bin/env bash
# The soak run (make soak): native and CLR workloads migrated back and forth
# between the emulated hosts, hundreds of times, with random fault points
# armed (at the source or the destination) and the destination daemon
# killed at random moments, and restarted.  Whatever happens, a process
# must exist exactly once and finish with the answer of an unmigrated run.
#
#   tests/soak/soak.sh [--migrations N] [--per-run N] [--fault-rate PCT]
#                      [--kill-rate PCT] [--seed N]
#
# Defaults: 500 migrations, 25 per workload run, a fault armed in 25% of
# them, the daemon killed during 5%, seed 1.  Needs the test build (make
# test-build: fault injection) and root; brings the hosts up and down.
# Prints what happened to every migration and ends with a summary: tried,
# succeeded, failed cleanly, refused, lost (must be 0), duplicated (must
# be 0), wrong answers (must be 0), anomalies (must be 0: a migration
# that moved but failed, or failed without naming its phase, or left its
# image behind), and how the daemons' descriptors and memory grew.  Exit
# status 0 when nothing was lost, duplicated, wrong or anomalous.
set -uo pipefail
MIGRATIONS=500 PER_RUN=25 FAULT_RATE=25 KILL_RATE=5 SEED=1
usage() { sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
while (($#)); do
	case $1 in
	--migrations) MIGRATIONS=$2; shift 2 ;;
	--per-run) PER_RUN=$2; shift 2 ;;
	--fault-rate) FAULT_RATE=$2; shift 2 ;;
	--kill-rate) KILL_RATE=$2; shift 2 ;;
	--seed) SEED=$2; shift 2 ;;
	-h | --help) usage 0 ;;
	*) echo "soak: unknown option $1" >&2; usage 2 >&2 ;;
	esac
done
for v in "$MIGRATIONS" "$PER_RUN" "$FAULT_RATE" "$KILL_RATE" "$SEED"; do
	[[ $v =~ ^[0-9]+$ ]] || { echo "soak: not a number: $v" >&2; exit 2; }
done
((PER_RUN >= 1)) || { echo "soak: --per-run must be at least 1" >&2; exit 2; }

E2E_NAME=soak
# shellcheck source-path=SCRIPTDIR/../e2e
source "$(dirname "$0")/../e2e/migrate-lib.sh"
set +e # the soak counts what goes wrong instead of stopping at it
FAULT_DIR=$(mktemp -d /tmp/binmig-soak.XXXXXX)
E2E_TMP_MORE+=("$FAULT_DIR") # removed on every exit, a skip in mig_init too
export BINMIG_FAULT_LOG=$FAULT_DIR/log BINMIG_SERVE_FAULT_FILE=$FAULT_DIR/serve-point
: >"$BINMIG_FAULT_LOG"
: >"$BINMIG_SERVE_FAULT_FILE"
mig_init
"$BINMIG" fault-points | grep -qx "fault injection: built in (BINMIG_FAULT)" ||
	e2e_fail "$BINMIG is built without fault injection (make test-build)"
RANDOM=$SEED
WORKDIR=$E2E_TMP/workdir # the source's, for file mode
mkdir -p "$WORKDIR"

# (point place) pairs a migration can go through.
PAIRS=()
while read -r number name where _; do
	[[ $number =~ ^[0-9]+$ ]] || continue
	IFS=, read -r -a places <<<"$where"
	for pl in "${places[@]}"; do
		[[ $pl == src-* || $pl == dst-* ]] && PAIRS+=("$name $pl")
	done
done < <("$BINMIG" fault-points)

# The phases a failed migrate names (binmig: migrate: PHASE: why), read
# from the prefixes the migrator sets, so that a phase added there is
# known here without a second list to keep.
PHASES=$(grep -rhoE '"binmig: migrate: [a-z -]+"' "$BINMIG_ROOT/migrator" |
	sed 's/^"binmig: migrate: //; s/"$//' | sort -u | paste -sd '|')
[[ $PHASES == *suspend* ]] || e2e_fail "no phase names found in $BINMIG_ROOT/migrator/*.c"

# The workloads: command, options of their result, batch (--work).
NATIVE=$BINMIG_ROOT/workloads/build/native CLR=$BINMIG_ROOT/workloads/build/clr
WORKLOADS=("$NATIVE/hashchain|--mem 16|100" "$NATIVE/nbody|--threads 2|2000")
if command -v mono >/dev/null; then
	WORKLOADS+=("clr:$CLR/filecopy.exe||3000" "clr:$CLR/recordstore.exe||30000")
else
	e2e_log "mono is missing: native workloads only"
fi

tried=0 succeeded=0 failed_clean=0 refused=0 lost=0 duplicated=0 wrong=0 right=0 anomalies=0
faulted=0 killed=0 runs=0
declare -A SERVE_FIRST=() SERVE_MAX_FDS=() SERVE_MAX_RSS=() INSTANCES=([A]=0 [B]=0)

# sample_serve HOST: fds and RSS of its serve, by instance (a restarted
# daemon starts afresh).
sample_serve() {
	local pid t fds rss
	read -r pid t <"$HOSTS_STATE/serve-$1.pid" 2>/dev/null || return 0
	fds=$(find "/proc/$pid/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
	rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status" 2>/dev/null)
	[[ -n $rss ]] || return 0
	local key="$1:$pid:$t"
	if [[ -z ${SERVE_FIRST[$key]:-} ]]; then
		SERVE_FIRST[$key]="$fds $rss"
		INSTANCES[$1]=$((INSTANCES[$1] + 1))
	fi
	((fds > ${SERVE_MAX_FDS[$key]:-0})) && SERVE_MAX_FDS[$key]=$fds
	((rss > ${SERVE_MAX_RSS[$key]:-0})) && SERVE_MAX_RSS[$key]=$rss
	return 0
}

# present HOST PID: the process runs in HOST (not a zombie, not traced).
present() {
	local state tracer
	state=$(mig_state "$1" "$2")
	[[ -n $state && $state != [ZXx] ]] || return 1
	tracer=$(mig_in "$1" awk '/^TracerPid:/ { print $2 }' "/proc/$2/status" 2>/dev/null)
	[[ $tracer == 0 ]]
}

# settle HOST: until serve in HOST has no worker left (20 s at most).
settle() {
	local pid t c deadline=$((SECONDS + 20)) busy
	read -r pid t <"$HOSTS_STATE/serve-$1.pid" 2>/dev/null || return 0
	while :; do
		busy=
		for c in $(cat "/proc/$pid/task/$pid/children" 2>/dev/null); do
			[[ $(cat "/proc/$c/comm" 2>/dev/null) == binmig ]] && busy=$c
		done
		[[ -z $busy ]] && return 0
		((SECONDS < deadline)) || { e2e_log "serve's worker $busy in host $1 still runs after 20 s"; return 0; }
		sleep 0.02
	done
}

say() { printf '%s\n' "$*" >&2; }

run_no=0
while ((tried < MIGRATIONS)); do
	spec=${WORKLOADS[run_no % ${#WORKLOADS[@]}]}
	run_no=$((run_no + 1))
	IFS='|' read -r prog opts batch <<<"$spec"
	read -r -a opts <<<"$opts"
	cmd=("$prog" "${opts[@]}")
	dir="" refdir=""
	if [[ $prog == clr:* ]]; then
		cmd=(env MONO_DISABLE_SHARED_AREA=1 mono "${prog#clr:}" "${opts[@]}")
		dir=$E2E_TMP/run$run_no refdir=$E2E_TMP/run$run_no.ref
	fi
	name=$(basename "${prog#clr:}" .exe)
	out=$E2E_TMP/run$run_no.out stop=$E2E_TMP/run$run_no.stop
	pid=$(mig_spawn A "$out" --pid "$MIG_WORKLOAD_PID" "${cmd[@]}" ${dir:+--dir "$dir"} --work "$batch" --until "$stop")
	if ! mig_in A "$TOOLS/waitfor" --pid "$pid" "$out" ready 60; then
		say "run $run_no ($name): did not get ready"
		anomalies=$((anomalies + 1))
		continue
	fi
	runs=$((runs + 1))
	here=A there=B gone=
	for ((i = 1; i <= PER_RUN && tried < MIGRATIONS; i++)); do
		tried=$((tried + 1))
		mode=stream
		((RANDOM % 2)) && mode=file
		armed="" kill=""
		if ((RANDOM % 100 < FAULT_RATE)); then
			mapfile -t fit < <(printf '%s\n' "${PAIRS[@]}" | grep -E " (src|dst)-$mode\$")
			armed=${fit[RANDOM % ${#fit[@]}]}
		fi
		((RANDOM % 100 < KILL_RATE)) && kill=1
		migrate=(migrate "$pid" "${MIG_ADDR[$there]}:$MIG_PORT" --key "$MIG_KEY" --mode "$mode" --workdir "$WORKDIR")
		[[ $armed == *" dst-"* ]] && echo "${armed%% *}" >"$BINMIG_SERVE_FAULT_FILE"
		if [[ -n $kill ]]; then
			if [[ $armed == *" src-"* ]]; then
				BINMIG_FAULT=${armed%% *} mig_bm_bg "$here" "${migrate[@]}"
			else
				mig_bm_bg "$here" "${migrate[@]}"
			fi
			# A random moment in the migration (what it cuts does not
			# matter; every outcome is checked below).
			sleep "0.$(printf '%03d' $((RANDOM % 400)))"
			"$HOSTS_CMD" restart-serve "$there" >>"$E2E_TMP/restarts.log" 2>&1 ||
				say "restarting serve in $there failed: $(tail -n 2 "$E2E_TMP/restarts.log")"
			mig_bm_wait
			killed=$((killed + 1))
		elif [[ $armed == *" src-"* ]]; then
			BINMIG_FAULT=${armed%% *} mig_bm "$here" "${migrate[@]}"
		else
			mig_bm "$here" "${migrate[@]}"
		fi
		: >"$BINMIG_SERVE_FAULT_FILE"
		settle "$there"
		[[ -n $armed ]] && faulted=$((faulted + 1))
		sample_serve A
		sample_serve B
		in_here=0 in_there=0
		present "$here" "$pid" && in_here=1
		# Back at the source: a destination whose daemon was killed ends
		# its copy as its worker dies, which takes a moment (10 s at most
		# before it counts as duplicated).
		((in_here)) && mig_in "$there" "$TOOLS/pidwait" --reaped "$pid" 10 >/dev/null 2>&1
		present "$there" "$pid" && in_there=1
		what="$name #$i $here->$there $mode${armed:+ fault ${armed}}${kill:+ daemon killed}"
		if ((in_here && in_there)); then
			duplicated=$((duplicated + 1))
			say "DUPLICATED: $what: it runs in both hosts (exit $BM_RC); the destination's copy is ended"
			mig_in "$there" kill -KILL "$pid"
			mig_in "$there" "$TOOLS/pidwait" --reaped "$pid" 10
		elif ((!in_here && !in_there)); then
			lost=$((lost + 1))
			say "LOST: $what: in neither host (exit $BM_RC: $(head -n 1 "$BM_ERR"))"
			gone=1
			break
		elif ((in_there)); then
			if ((BM_RC == 0)); then
				succeeded=$((succeeded + 1))
			else
				anomalies=$((anomalies + 1))
				say "ANOMALY: $what: it moved, but migrate exited $BM_RC: $(head -n 1 "$BM_ERR")"
			fi
			tmp=$here here=$there there=$tmp
		elif ((BM_RC == 0)); then
			anomalies=$((anomalies + 1))
			say "ANOMALY: $what: migrate exited 0, but the process is still in $here"
		elif grep -q "busy" "$BM_ERR" || ((BM_RC == 4)); then
			refused=$((refused + 1))
		elif head -n 1 "$BM_ERR" | grep -Eq "^binmig: migrate: ($PHASES): " &&
			((BM_RC >= 1 && BM_RC <= 8 && BM_RC != 2)); then
			failed_clean=$((failed_clean + 1))
		else
			anomalies=$((anomalies + 1))
			say "ANOMALY: $what: failed with exit $BM_RC and no phase: $(head -n 1 "$BM_ERR")"
		fi
		leftover=$(ls -A "$WORKDIR")
		if [[ -n $leftover ]]; then
			anomalies=$((anomalies + 1))
			say "ANOMALY: $what: image file left at the source: $leftover"
			rm -f "$WORKDIR"/*
		fi
		((tried % 50 == 0)) && say "soak: $tried/$MIGRATIONS migrations, $lost lost, $duplicated duplicated"
	done
	[[ -n $gone ]] && continue
	touch "$stop"
	if ! mig_in "$here" "$TOOLS/waitfor" --pid "$pid" "$out" "result " 300; then
		say "run $run_no ($name): no result in host $here"
		wrong=$((wrong + 1))
		mig_in "$here" kill -KILL "$pid" 2>/dev/null
		continue
	fi
	mig_in "$here" "$TOOLS/pidwait" --reaped "$pid" 30 >/dev/null 2>&1
	if (e2e_until_result "$out" 600 "${cmd[@]}" ${refdir:+--dir "$refdir"}) >>"$E2E_TMP/references.log" 2>&1 &&
		{ [[ -z $dir ]] || diff -rq "$dir" "$refdir" >/dev/null; }; then
		right=$((right + 1))
	else
		wrong=$((wrong + 1))
		say "WRONG: run $run_no ($name): its answer or files differ from an unmigrated run's (see $E2E_TMP)"
		E2E_KEEP=1
	fi
	rm -rf "$dir" "$refdir"
done

say ""
say "soak: $tried migrations tried: $succeeded succeeded, $failed_clean failed cleanly (the process resumed at the source), $refused refused"
say "      $faulted with a fault point armed, $killed with the destination daemon killed"
say "      $lost processes lost, $duplicated duplicated, $anomalies anomalies"
say "      $runs workload runs: $right right answers, $wrong wrong"
for key in "${!SERVE_FIRST[@]}"; do
	read -r f0 r0 <<<"${SERVE_FIRST[$key]}"
	pid=${key#*:}
	echo "      daemon ${key%%:*} (PID ${pid%%:*}): descriptors $f0 -> at most ${SERVE_MAX_FDS[$key]}, resident $r0 -> at most ${SERVE_MAX_RSS[$key]} KiB"
done | sort >&2
say "      daemons started: A ${INSTANCES[A]}, B ${INSTANCES[B]}"
((lost == 0 && duplicated == 0 && wrong == 0 && anomalies == 0))
