#!/usr/bin/env bash
# test-timeout: 240
# test-needs: hosts
# File locks across the emulated hosts, which share this machine's files
# as hosts on a shared file system do (tests/progs/locks.c holds POSIX,
# OFD and flock locks, and checks them and what another process sees):
#  1. two hops, A -> B -> A: the source lets go of its locks, the
#     destination takes them, the program's checks pass at the end;
#  2. the destination fails after taking them (serve's set-context point):
#     the source takes them back and resumes, and its checks pass;
#  3. releasing a lock fails at the source (release-lock): the migration
#     fails, the source keeps its locks and resumes, checks pass;
#  4. the source cannot take a lock back (take-back-lock, after a failed
#     destination), nor make the stand-in that takes back a lock whose
#     taker has exited (lock-standin): migrate says so and leaves the
#     process stopped rather than resume it without its lock.
#  5. 1 and 2 with a tree (locks shared): a flock and an OFD lock the
#     child took and a flock the parent took on descriptions both hold
#     are taken at the destination, and back at the source after the
#     failed destination, by the member that took them (/proc names it).
#  6. 1 and 2 with read locks of four owners on one file (locks order),
#     and of a tree's two members by turns (locks treeorder): the first
#     lock F_OFD_GETLK names, through each open file, is the same after
#     the hops, and after the source took them back.
#  7. a flock taken by a process outside the tree that is still there
#     (locks outside), over two hops, taken again by a stand-in with the
#     taker's PID: the program checks its fdinfo, where the hosts, below
#     the first PID namespace, show the gone stand-in as 0 (README).
#  8. 1 and 2 with a flock a child took and whose descriptor it closed
#     since (locks closedtaker): taken by the child, through its copy of
#     the description the tree shares at the destination, through a copy
#     of its parent's descriptor at the source.
# In 1-3 and 5-8 what /proc shows of the program (e2e_procstate: its locks in
# fdinfo too) is the same at the end as when it got ready.
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/migrate-lib.sh"
# Before the hosts start their serve: it reads this file for each migration.
FAULT_DIR=$(mktemp -d /tmp/binmig-locks.XXXXXX)
E2E_TMP_MORE+=("$FAULT_DIR") # removed on every exit, a skip too
export BINMIG_SERVE_FAULT_FILE=$FAULT_DIR/serve-point
: >"$BINMIG_SERVE_FAULT_FILE"
mig_init locks
e2e_has_faults ||
	e2e_skip "$BINMIG is built without fault injection (make test-build)"

# start NAME [MODE]: the program in host A (mode carried, or MODE),
# ready; sets pid and out.
start() {
	mkdir -p "$E2E_TMP/$1"
	out=$E2E_TMP/$1.out
	pid=$(mig_spawn A "$out" --pid "$MIG_WORKLOAD_PID" "$PROGS/locks" "${2:-carried}" "$E2E_TMP/$1")
	mig_in A "$TOOLS/waitfor" --pid "$pid" -x "$out" ready 20 || { e2e_show "$out"; e2e_fail "locks did not get ready"; }
	mig_procstate A "$pid" "$out.proc-before"
}

# finish HOST WHAT: what /proc shows of the program there is what it
# showed when it got ready; wakes it and expects its checks to pass.
finish() {
	mig_procstate "$1" "$pid" "$out.proc-after"
	e2e_procstate_same "$out.proc" "$2"
	mig_in "$1" kill -USR1 "$pid"
	mig_in "$1" "$TOOLS/waitfor" --pid "$pid" "$out" "PASS" 30 || true
	mig_in "$1" "$TOOLS/pidwait" --reaped "$pid" 30 || e2e_fail "$2: locks did not end"
	e2e_expect_pass "$out"
	e2e_log "ok: $2"
}

start hops
mig_round_trip "$pid" "locks"
finish A "the locks were carried over two hops"

start destfail
echo set-context >"$BINMIG_SERVE_FAULT_FILE"
mig_bm A migrate "$pid" "${MIG_ADDR[B]}:$MIG_PORT" --key "$MIG_KEY"
: >"$BINMIG_SERVE_FAULT_FILE"
mig_expect_failure any "restore at the destination" "$pid" "a destination failing after it took the locks"
mig_assert_running A "$pid" "after the failed destination"
mig_assert_gone B "$pid" "after the failed destination"
finish A "a failed destination: the source took its locks back"

# The order of one file's read locks, over two hops and taken back.
start orderhops order
mig_round_trip "$pid" "locks order"
finish A "the order of a file's locks was carried over two hops"
start orderfail order
echo set-context >"$BINMIG_SERVE_FAULT_FILE"
mig_bm A migrate "$pid" "${MIG_ADDR[B]}:$MIG_PORT" --key "$MIG_KEY"
: >"$BINMIG_SERVE_FAULT_FILE"
mig_expect_failure any "restore at the destination" "$pid" "a destination failing after it took the ordered locks"
mig_assert_running A "$pid" "after the failed destination (order)"
finish A "a failed destination: the source took its locks back in their order"
start treeorderhops treeorder
mig_round_trip "$pid" "locks treeorder"
finish A "the order of a tree's locks on one file was carried over two hops"
start treeorderfail treeorder
echo set-context >"$BINMIG_SERVE_FAULT_FILE"
mig_bm A migrate "$pid" "${MIG_ADDR[B]}:$MIG_PORT" --key "$MIG_KEY"
: >"$BINMIG_SERVE_FAULT_FILE"
mig_expect_failure any "restore at the destination" "$pid" "a destination failing after the tree took its ordered locks"
mig_assert_running A "$pid" "after the failed destination (tree order)"
finish A "a failed destination: the tree took its locks back in their order"

start releasefail
BINMIG_FAULT=release-lock mig_bm A migrate "$pid" "${MIG_ADDR[B]}:$MIG_PORT" --key "$MIG_KEY"
mig_expect_failure any "suspend" "$pid" "a lock that cannot be released"
grep -q "cannot release the POSIX write lock on bytes 0-99 of fd 3 of process $pid" "$BM_ERR" ||
	e2e_fail "the failed release is not named: $(cat "$BM_ERR")"
mig_assert_running A "$pid" "after the failed release"
mig_assert_gone B "$pid" "after the failed release"
finish A "a lock that could not be released: the migration failed, the source kept its locks"

# lost NAME POINT LOCK FILE [CAUSE]: a failed destination, and at the
# source POINT makes taking LOCK back on FILE fail (CAUSE named as well):
# migrate says which lock the source lost and leaves the process stopped.
lost() {
	start "$1"
	echo set-context >"$BINMIG_SERVE_FAULT_FILE"
	BINMIG_FAULT=$2 mig_bm A migrate "$pid" "${MIG_ADDR[B]}:$MIG_PORT" --key "$MIG_KEY"
	: >"$BINMIG_SERVE_FAULT_FILE"
	((BM_RC != 0)) || e2e_fail "$1: the migration with a failing destination succeeded"
	grep -qF "warning: process $pid could not take back its $3 on $E2E_TMP/$1/$4 after the failed migration" "$BM_ERR" ||
		e2e_fail "$1: migrate does not say which lock the source lost: $(cat "$BM_ERR")"
	[[ -z ${5:-} ]] || grep -qF "$5" "$BM_ERR" || e2e_fail "$1: migrate does not say \"$5\": $(cat "$BM_ERR")"
	! grep -q "resumed at the source" "$BM_ERR" || e2e_fail "$1: migrate says the source resumed as it was"
	mig_assert_gone B "$pid" "after the lost lock"
	# migrate queued the SIGSTOP before letting go of it: the stop follows.
	local state
	for _ in $(seq 100); do
		state=$(mig_state A "$pid")
		[[ $state == T ]] && break
		sleep 0.1
	done
	[[ $state == T ]] || e2e_fail "$1: the process that lost its lock is in state '$state', expected T (stopped)"
	mig_in A kill -KILL "$pid"
	mig_in A "$TOOLS/pidwait" --reaped "$pid" 20 || e2e_fail "locks $pid not reaped in host A"
	e2e_log "ok: $1: a lock the source could not take back left it stopped, and migrate said which"
}
lost lost take-back-lock "POSIX write lock on bytes 0-99" p "after the failed migration (another process may hold it now)"
lost loststandin lock-standin "flock write lock" g \
	"after the failed migration (the stand-in that takes it for its taker could not be made or reaped: Resource temporarily unavailable)"

# A flock whose taker, outside the tree, is still there (locks outside):
# at B, where no process has the taker's PID, the stand-in that takes it
# gets that PID; so it does back at A, once the taker has ended with the
# original there.  (Seen from the first PID namespace, as e2e/locks sees
# it, /proc would name the taker's PID.)
start outsidehops outside
taker=$(sed -n 's/^taker //p' "$out")
[[ $taker =~ ^[0-9]+$ ]] || e2e_fail "locks outside did not name its lock's taker"
mig_bm A migrate "$pid" "${MIG_ADDR[B]}:$MIG_PORT" --key "$MIG_KEY"
e2e_expect_ok "locks outside: hop 1 (A -> B)"
mig_assert_running B "$pid" "locks outside after hop 1"
mig_in A "$TOOLS/pidwait" --reaped "$taker" 30 || e2e_fail "the taker $taker did not end with the original in host A"
mig_bm B migrate "$pid" "${MIG_ADDR[A]}:$MIG_PORT" --key "$MIG_KEY"
e2e_expect_ok "locks outside: hop 2 (B -> A)"
# (In the hosts, below the first PID namespace, /proc shows the gone
# stand-in as 0, where it showed the taker: the program checks that line.)
E2E_PROCSTATE_ACCEPT='^fd 3 lock:' finish A "a flock whose taker outside the tree was still there was carried over two hops"

# A flock a child took through a description it shares with its parent
# and then closed its descriptor of (locks closedtaker): the child takes
# it at the destination through its copy of the description, and back at
# the source after a failed destination through a copy of its parent's
# descriptor.
start closedhops closedtaker
mig_round_trip "$pid" "locks closedtaker"
finish A "a flock whose taker closed its descriptor was taken by that child over two hops"
start closeddestfail closedtaker
echo set-context >"$BINMIG_SERVE_FAULT_FILE"
mig_bm A migrate "$pid" "${MIG_ADDR[B]}:$MIG_PORT" --key "$MIG_KEY"
: >"$BINMIG_SERVE_FAULT_FILE"
mig_expect_failure any "restore at the destination" "$pid" "a destination failing after a child took its flock"
mig_assert_running A "$pid" "after the failed destination (closedtaker)"
finish A "a failed destination: the child took back the flock whose descriptor it had closed"

start treehops shared
mig_round_trip "$pid" "locks"
finish A "a tree's locks on shared descriptions were taken by their takers over two hops"

start treedestfail shared
echo set-context >"$BINMIG_SERVE_FAULT_FILE"
mig_bm A migrate "$pid" "${MIG_ADDR[B]}:$MIG_PORT" --key "$MIG_KEY"
: >"$BINMIG_SERVE_FAULT_FILE"
mig_expect_failure any "restore at the destination" "$pid" "a destination failing after it took a tree's locks"
mig_assert_running A "$pid" "after the failed destination"
mig_assert_gone B "$pid" "after the failed destination"
finish A "a failed destination: the tree's members took their locks back"
