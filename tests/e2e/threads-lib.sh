# Helpers for the multi-threaded and Mono live-migration tests
# (threads-pingpong.sh, clr-pingpong.sh, stdio-migrate.sh), on top of
# migrate-lib.sh; migrate_in_call needs lib.sh only (sleep.sh,
# futex-pause.sh).  Sourced, not run (tests/run-tests skips *-lib.sh).
# shellcheck shell=bash

# migrate_in_call PID IMAGE CALL: PID, once blocked in the system call CALL
# (nanosleep, futex, ...), is dumped into IMAGE, which binmig inspect must
# show stopped inside CALL, and restored.  A dump that came too late, after
# the call had returned (a slow or loaded machine), fails here rather than
# passing for the wrong reason.
migrate_in_call() {
	local pid=$1 image=$2 call=$3
	e2e_wait_syscall "$pid" "$call"
	e2e_dump "$pid" "$image"
	bm inspect "$image"
	e2e_expect_ok "inspect $image"
	grep -q "^  stopped: in $call()" "$BM_OUT" ||
		e2e_fail "$(basename "$image"): the thread was not frozen inside $call(): $(grep 'stopped:' "$BM_OUT")"
	e2e_restore "$image" "$pid"
}

# tasks_in HOST PID: the TIDs of PID in HOST (/proc/PID/task inside the
# host), sorted, on one line with a space after each.
tasks_in() {
	mig_in "$1" ls "/proc/$2/task" 2>/dev/null | sort -n | tr '\n' ' '
}

# tids_named HOST PID NAME: the TIDs of PID's threads whose name is NAME.
tids_named() {
	# shellcheck disable=SC2016 # expanded in the host
	mig_in "$1" bash -c 'for t in /proc/$1/task/*; do
		[[ $(cat "$t/comm" 2>/dev/null) == "$2" ]] && echo "${t##*/}"
	done | sort -n | tr "\n" " "' tids-named "$2" "$3"
}

# csv_column NAME: that column of the CSV row the last binmig printed.
csv_column() {
	awk -F, -v name="$1" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == name) col = i }
		NR == 2 && col { print $col }' "$BM_OUT"
}

# show_fds HOST PID: its descriptors and their fdinfo (for failure reports).
show_fds() {
	echo "---- descriptors of $2 in host $1:" >&2
	# shellcheck disable=SC2016 # expanded in the host
	mig_in "$1" bash -c 'for f in /proc/$1/fd/*; do
		echo "${f##*/} -> $(readlink "$f") $(tr "\n" " " <"/proc/$1/fdinfo/${f##*/}")"
	done' show-fds "$2" >&2 || true
}

# left_source HOST PID STARTTIME WHAT: the process that was PID in HOST
# (with that start time) is gone from HOST.  Like migrate-lib.sh's
# mig_assert_gone, but the PID may have been reused meanwhile by another
# process of the host, even by the very pidwait that checks it, which then
# waits for itself until it times out: what counts is whether a process
# with the old start time is there.
left_source() {
	local h=$1 pid=$2 start=$3 what=$4 now i
	# Short waits, the start time checked between them: a pidwait that got
	# the freed PID itself would otherwise wait for itself until it times
	# out, while the workload runs on towards its end.
	for ((i = 0; i < 20; i++)); do
		now=$(mig_starttime "$h" "$pid")
		[[ -n $now && $now == "$start" ]] || return 0
		mig_in "$h" "$TOOLS/pidwait" --reaped "$pid" 1 2>/dev/null && return 0
	done
	e2e_fail "$what: process $pid (state $(mig_state "$h" "$pid")) is still in host $h"
}
