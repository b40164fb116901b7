# The migration modes the harness drives (binmig migrate --mode), for
# harness run (harness/run) and the modes figure (harness/figure-modes).
# Sourced; needs nothing from its caller.
# shellcheck shell=bash

# THE list: every `binmig migrate --mode` value the harness accepts, in
# the order they are listed.  A new binmig mode needs only its name added
# here (and, if migrate needs options of its own for it, a line in
# MODE_ARGS below).  A mode listed here that a given binmig lacks is
# refused before anything runs (modes_check).
HARNESS_MODES=(file stream precopy postcopy hybrid)

# The modes the modes figure (harness/figure-modes) compares by default:
# the live ones, every listed mode but file, which is stream's algorithm
# (Total Copy) through a file.
# shellcheck disable=SC2034 # read by harness/figure-modes
MODES_NOT_LIVE=(file)

# What `migrate` is given besides --mode MODE, per mode.  WORKDIR is
# replaced by the caller's image directory.  precopy, postcopy, hybrid:
# --no-fallback, so that a row that names the mode was one (binmig
# otherwise falls back to stream mode, saying so only on stderr); the
# migration fails instead.
declare -A MODE_ARGS=([file]="--workdir WORKDIR" [precopy]="--no-fallback" [postcopy]="--no-fallback"
	[hybrid]="--no-fallback")

# modes_of_binmig BINMIG: the --mode values BINMIG's `migrate --help`
# names in its usage line ("[--mode stream|file|precopy|...]"), one a line;
# nothing when it cannot tell (no such file, no such line).
modes_of_binmig() {
	local help line
	help=$("$1" migrate --help 2>&1) || true
	line=$(grep -o -m 1 -E -- '--mode [a-z]+(\|[a-z]+)*' <<<"$help") || return 0
	tr '|' '\n' <<<"${line#--mode }"
}

# modes_check WHAT BINMIG MODE...: every MODE is in HARNESS_MODES and
# BINMIG has it.  Otherwise prints "WHAT: ..." on stderr and fails.
modes_check() {
	local what=$1 binmig=$2 m
	shift 2
	local -a have
	for m in "$@"; do
		[[ " ${HARNESS_MODES[*]} " == *" $m "* ]] || {
			echo "$what: \"$m\" is not a mode the harness knows (${HARNESS_MODES[*]})" >&2
			return 1
		}
	done
	mapfile -t have < <(modes_of_binmig "$binmig")
	((${#have[@]})) || { echo "$what: cannot read the modes of $binmig from its \`migrate --help\`" >&2; return 1; }
	for m in "$@"; do
		[[ " ${have[*]} " == *" $m "* ]] || {
			echo "$what: $binmig has no mode $m (its migrate --help offers: ${have[*]})" >&2
			return 1
		}
	done
}

# mode_args MODE WORKDIR: the words MODE_ARGS gives MODE, one a line.
mode_args() {
	local -a words
	read -r -a words <<<"${MODE_ARGS[$1]:-}"
	((${#words[@]})) || return 0
	local w
	for w in "${words[@]}"; do
		[[ $w == WORKDIR ]] && w=$2
		printf '%s\n' "$w"
	done
}
