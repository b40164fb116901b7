# Checks shared by the tests that make binmig's steps fail on purpose
# (BINMIG_FAULT, migrator/fault.h): tests/e2e/fault-walk.sh and
# tests/e2e/inject-sweep.sh.  Source after lib.sh, with BINMIG_FAULT_LOG
# exported and emptied.
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
