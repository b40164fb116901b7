# harness run (harness/run): progress reports and failure reports.
# Sourced by the driver, whose variables and helpers it uses.
#
# --progress auto (default): on a terminal (stdout) one line rewritten in
# place; otherwise a line on stderr at the first migration, then at most
# every --progress-every seconds, and at the end.  `line` and `lines`
# choose one of the two, `no` neither (`yes` is `line`).
# shellcheck shell=bash

PROGRESS=
case ${OPT[progress]} in
line | yes) PROGRESS=line ;;
lines) PROGRESS=lines ;;
auto) if [[ -t 1 ]]; then PROGRESS=line; else PROGRESS=lines; fi ;;
esac
PROGRESS_EVERY_US=$((OPT[progress-every] * 1000000))
# Progress lines go to the driver's stderr even from inside a command
# whose stderr is redirected (waiting, below).
exec {PROGRESS_FD}>&2
PROGRESS_LAST_US=
PROGRESS_SHOWN=
TERM_COLS=100
if [[ $PROGRESS == line && -t 1 ]]; then
	read -r _ TERM_COLS < <(stty size </dev/tty 2>/dev/null) || TERM_COLS=100
	is_uint "${TERM_COLS:-}" && ((TERM_COLS > 20)) || TERM_COLS=100
fi
START_US=$(now_us)
MIG_START_US=
DONE_MIGRATIONS=0
FAILED_MIGRATIONS=0
FAILED_RUNS=0
ROWS_WRITTEN=0
ROWS_OK=0
RUN_NO=0
RUN_START_US=0
CURRENT_LABEL=

progress_clear() {
	[[ -n ${PROGRESS_SHOWN:-} ]] && printf '\r\e[K'
	PROGRESS_SHOWN=
}
progress_text() { # the state: done/total, the run, elapsed, ETA, failures
	local now elapsed eta=""
	now=$(now_us)
	elapsed=$(((now - START_US) / 1000000))
	if [[ -n $MIG_START_US ]] && ((DONE_MIGRATIONS > 0)); then
		local spent=$((now - MIG_START_US))
		eta=", ETA $(fmt_duration $((spent * (TOTAL_MIGRATIONS - DONE_MIGRATIONS) / DONE_MIGRATIONS / 1000000)))"
	fi
	echo "$DONE_MIGRATIONS/$TOTAL_MIGRATIONS migrations ($((100 * DONE_MIGRATIONS / TOTAL_MIGRATIONS))%), run $RUN_NO/${#RUNS[@]} $CURRENT_LABEL, elapsed $(fmt_duration "$elapsed")$eta, failures $((FAILED_MIGRATIONS + FAILED_RUNS))"
}
progress() { # [final]: the line rewritten in place, or a line on stderr when it is time for one
	case $PROGRESS in
	line)
		[[ ${1:-} == final ]] && return 0
		local text
		text=$(progress_text)
		printf '\r\e[K%s' "${text:0:$((TERM_COLS - 1))}"
		PROGRESS_SHOWN=1 ;;
	lines)
		local now
		now=$(now_us)
		if [[ ${1:-} == final || -z $PROGRESS_LAST_US ]] || ((now - PROGRESS_LAST_US >= PROGRESS_EVERY_US)); then
			echo "harness run: progress: $(progress_text)" >&"$PROGRESS_FD"
			PROGRESS_LAST_US=$now
		fi ;;
	esac
	return 0
}
# waiting CMD... SECONDS: runs CMD (a waitfor, whose last argument is its
# time limit) with SECONDS as that limit; in `lines` mode in slices of
# --progress-every seconds with a progress line after each slice that
# timed out (waitfor's exit 1), so that a long reference run or a long
# wait for a result still shows that the run is alive.  Returns CMD's status.
waiting() {
	local -a cmd=("${@:1:$#-1}")
	local limit=${*: -1} slice rc
	if [[ $PROGRESS != lines ]] || ((OPT[progress-every] < 1)); then
		"${cmd[@]}" "$limit"
		return
	fi
	while :; do
		slice=$((limit < OPT[progress-every] ? limit : OPT[progress-every]))
		rc=0
		"${cmd[@]}" "$slice" || rc=$?
		limit=$((limit - slice))
		((rc == 1 && limit > 0)) || return "$rc"
		progress
	done
}
loud() { # a failure: always on stderr, above the progress line
	progress_clear
	echo "harness run: FAILED: $*" >&2
}
