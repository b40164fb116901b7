# harness run (harness/run): unmigrated reference runs and their cache.  Sourced by the driver, whose
# variables and helpers it uses.
# shellcheck shell=bash

# The cache: tab-separated lines "ref, sha256 of the workload's code, its
# arguments, result, seconds from ready to result".

declare -A CODE_SHA=()
code_sha() { # class/name
	[[ -n ${CODE_SHA[$1]:-} ]] || CODE_SHA[$1]=$(sha256sum "$(workload_file "$1")" | cut -c1-16)
	echo "${CODE_SHA[$1]}"
}

# cached_reference WORKLOAD ARGS -> "RESULT SECONDS" of the last entry
cached_reference() {
	awk -F'\t' -v sha="$(code_sha "$1")" -v args="$2" \
		'$1 == "ref" && $2 == sha && $3 == args { r = $4 " " $5 } END { if (r != "") print r; else exit 1 }' "$REF_CACHE"
}
# reference_run WORKLOAD LABEL ARGS...: the workload unmigrated, here, in
# the root namespace, with its own directory; sets REF_RESULT and REF_SECS
# (from ready to result) and adds them to the cache.
# ref_abandon MESSAGE: kills the reference run in progress and says why.
ref_abandon() {
	kill -KILL "$REF_CHILD" 2>/dev/null
	wait "$REF_CHILD" 2>/dev/null
	REF_CHILD=
	say "$1"
}

reference_run() {
	local w=$1 label=$2
	shift 2
	local -a cmd
	mapfile -t cmd < <(workload_cmd "$w")
	local out=$OUT/logs/$label.reference.out err=$OUT/logs/$label.reference.err dir=$WORK/$label.reference
	[[ $w == clr/* ]] && cmd+=(--dir "$dir")
	local work=$2 limit t_ready t_result status=0 result
	REF_RESULT="" REF_SECS=""
	# The migrated run did this work in about its run time; unmigrated it
	# needs less.  Generous, as a bound for a hang only.
	limit=$((3 * (work / ${RATE_GUESS[${w#*/}]:-1000} + 1) + 120))
	(
		for fd in "/proc/$BASHPID/fd/"*; do
			fd=${fd##*/}
			((fd > 2)) && { eval "exec $fd>&-"; } 2>/dev/null
		done
		exec "${cmd[@]}" "$@"
	) </dev/null >"$out" 2>"$err" &
	REF_CHILD=$!
	if ! "$TOOLS/waitfor" --pid "$REF_CHILD" -x "$out" ready 120 2>/dev/null; then
		ref_abandon "reference run of $w $* did not get ready: $(one_line "$(tail -n 3 "$err")")"
		return 1
	fi
	t_ready=$(now_us)
	if ! waiting "$TOOLS/waitfor" --pid "$REF_CHILD" "$out" "result " "$limit" 2>/dev/null; then
		ref_abandon "reference run of $w $* gave no result within ${limit}s: $(one_line "$(tail -n 3 "$err")")"
		return 1
	fi
	t_result=$(now_us)
	wait "$REF_CHILD" || status=$?
	REF_CHILD=
	rm -rf "$dir"
	result=$(sed -n 's/^result \([0-9a-f]\{16\}\)$/\1/p' "$out")
	if ((status != 0)) || [[ -z $result ]]; then
		say "reference run of $w $* exited $status: $(one_line "$(tail -n 3 "$err")")"
		return 1
	fi
	local ms=$(((t_result - t_ready) / 1000))
	REF_RESULT=$result
	REF_SECS=$((ms / 1000)).$(printf '%03d' $((ms % 1000)))
	printf 'ref\t%s\t%s\t%s\t%s\n' "$(code_sha "$w")" "$*" "$REF_RESULT" "$REF_SECS" >>"$REF_CACHE"
}

# reference_for WORKLOAD LABEL UNITS PARAMS...: the result of an
# unmigrated run of UNITS units with PARAMS, from the cache or run now;
# sets REF_RESULT.
reference_for() {
	local w=$1 label=$2 units=$3
	shift 3
	local got
	if got=$(cached_reference "$w" "--work $units $*"); then
		REF_RESULT=${got%% *}
		echo "reference $w --work $units $*: $REF_RESULT (cached)" >>"$OUT/logs/references.log"
		return 0
	fi
	reference_run "$w" "$label" --work "$units" "$@" || return 1
	echo "reference $w --work $units $*: $REF_RESULT ($REF_SECS s of work)" >>"$OUT/logs/references.log"
}
