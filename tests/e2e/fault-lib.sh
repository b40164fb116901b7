# Checks shared by the tests that make binmig's steps fail on purpose
# (BINMIG_FAULT, migrator/fault.h): tests/e2e/fault-walk.sh,
# fault-walk-local.sh, inject-sweep.sh and migrate-sweep.sh.  Source after
# lib.sh, with BINMIG_FAULT_LOG exported and emptied.
# shellcheck shell=bash

FAULT_LOG_LINES=0
FAULTS_FIRED=0
# expect_fired POINT WHAT: POINT, and only it, failed since the last call.
expect_fired() {
	local n new
	n=$(wc -l <"$BINMIG_FAULT_LOG")
	new=$(tail -n +"$((FAULT_LOG_LINES + 1))" "$BINMIG_FAULT_LOG")
	FAULT_LOG_LINES=$n
	[[ $new == "$1" ]] || e2e_fail "$2: armed $1, but the fault log says: ${new:-nothing failed}"
	FAULTS_FIRED=$((FAULTS_FIRED + 1))
}

documented_failure() { # WHAT: BM_RC is a failure code binmig documents, and not a usage error
	((BM_RC >= 1 && BM_RC <= 8 && BM_RC != 2)) || e2e_fail "$1: exit $BM_RC"
}

untraced_running() { # PID WHAT (root namespace): every thread of PID
	local task tid state tracer
	[[ -d /proc/$1/task ]] || e2e_fail "$2: process $1 is gone"
	for task in "/proc/$1/task/"*; do
		tid=${task##*/}
		state=$(e2e_state "$1/task/$tid")
		tracer=$(e2e_tracer "$1/task/$tid")
		[[ -n $state && $state != [ZXxTt] && $tracer == 0 ]] ||
			e2e_fail "$2: thread $tid of process $1 is in state '${state:-gone}', traced by '${tracer:-?}'"
	done
}

# fault_hosts_init NAME PROGRAM...: for a test between the emulated hosts
# (source migrate-lib.sh first): a directory of its own (NAME in its name)
# for the fault log and the file serve reads its point from for each
# migration (BINMIG_SERVE_FAULT_FILE), both empty and exported before
# mig_init PROGRAM... starts the hosts' serve, which reads them; removed
# on every exit, a skip too.  Fails unless binmig is built with fault
# injection.
fault_hosts_init() {
	FAULT_DIR=$(mktemp -d "/tmp/binmig-$1.XXXXXX")
	E2E_TMP_MORE+=("$FAULT_DIR")
	export BINMIG_FAULT_LOG=$FAULT_DIR/log BINMIG_SERVE_FAULT_FILE=$FAULT_DIR/serve-point
	: >"$BINMIG_FAULT_LOG"
	: >"$BINMIG_SERVE_FAULT_FILE"
	mig_init "${@:2}"
	e2e_has_faults ||
		e2e_fail "$BINMIG is built without fault injection (make test-build)"
}

# fault_points_read: POINTS, the fault points `binmig fault-points` lists,
# in its order, and WHERE, each one's places (its WHERE column, as
# comma-separated words); lies_on POINT PLACE tells whether POINT lies on
# PLACE (dump, restore, src-stream, ...).
fault_points_read() {
	local number name where _
	declare -gA WHERE=()
	POINTS=()
	while read -r number name where _; do
		[[ $number =~ ^[0-9]+$ ]] || continue
		POINTS+=("$name")
		WHERE[$name]=$where
	done < <("$BINMIG" fault-points)
	((${#POINTS[@]} > 0)) || e2e_fail "binmig fault-points lists no points"
	e2e_log "${#POINTS[@]} fault points: ${POINTS[*]}"
}
lies_on() { [[ ,${WHERE[$1]}, == *,$2,* ]]; }

# snapshot PID: what a failed dump or migration must leave as it was.
# Left out: what changes by itself (scheduling counts, memory use, a
# timerfd's time left, SigQ: the signals queued for its user by any
# process) or by binmig's stop (state, tracer).
snapshot() {
	local pid=$1 t fd
	cat "/proc/$pid/maps" "/proc/$pid/timers"
	for fd in "/proc/$pid/fd/"*; do
		echo "fd ${fd##*/} $(readlink "$fd")"
		grep -v -E '^(it_value|ticks):' "/proc/$pid/fdinfo/${fd##*/}"
	done
	for t in "/proc/$pid/task/"*; do
		echo "thread ${t##*/}"
		grep -v -E '^(State|Vm|Rss|Hugetlb|voluntary_ctxt|nonvoluntary_ctxt|TracerPid|SigQ)' "$t/status"
	done
}

# anon_bytes FILE: the bytes of unnamed private read-write anonymous
# mappings in a snapshot; other_lines FILE: the snapshot without them.
ANON='^([0-9a-f]+)-([0-9a-f]+) rw-p 00000000 00:00 0 *$'
anon_bytes() {
	local line sum=0
	while IFS= read -r line; do
		[[ $line =~ $ANON ]] && sum=$((sum + 0x${BASH_REMATCH[2]} - 0x${BASH_REMATCH[1]}))
	done <"$1"
	echo "$sum"
}
other_lines() { grep -Ev "$ANON" "$1"; }

# same_but_unreturned_page BASE WHAT: BASE.after is BASE.before, or the
# failed call was the munmap that gives back a page binmig mapped in the
# process (a probe or scratch page): no call is left to give it back, so
# that one page may stay, alone or merged with an anonymous neighbour,
# and nothing else may differ.  It then stays in what the next runs must
# leave.
same_but_unreturned_page() {
	local base=$1 what=$2 grown
	cmp -s "$base.before" "$base.after" && return 0
	grown=$(($(anon_bytes "$base.after") - $(anon_bytes "$base.before")))
	if [[ $(e2e_said "$BM_ERR" | head -n 1) == "binmig: "*"injecting munmap into thread "* ]] && ((grown == 4096)) &&
		cmp -s <(other_lines "$base.before") <(other_lines "$base.after"); then
		e2e_log "$what: the page binmig could not unmap is left"
		cp "$base.after" "$base.before"
		return 0
	fi
	diff "$base.before" "$base.after" >&2
	e2e_fail "$what: the process changed (above)"
}

# injected_calls STATS: the syscalls_injected column of a --stats csv.
injected_calls() {
	awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "syscalls_injected") c = i }
		NR == 2 && c { print $c }' "$1"
}
