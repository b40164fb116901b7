#!/usr/bin/env bash
# test-needs: hosts
# Process trees migrated between the emulated hosts, A -> B -> A, each
# process keeping its PID and parent:
#  - tests/progs/tree.c (a pipe with bytes in flight between two children,
#    a child in its own group, a session leader, a zombie with status 42,
#    a file description shared through fork), which checks itself after
#    the second hop; asked to go in pre-copy mode, which tracks one
#    process, each hop says so and moves the tree in stream mode; then
#    once more as user 65534 (its zombie's user ids carried);
#  - tests/progs/treestop.c (three stopped children, by SIGTTIN, SIGTSTP
#    and SIGSTOP, the first stop collected by the parent, the others not,
#    and a zombie), which checks itself after the second hop;
#  - tests/progs/timerids.c tree (a parent whose newest timers were
#    deleted, a child that made timers with given ids): each process's
#    next timer_create hands out the id its original would have;
#  - sh -c 'treeprod 16 READY STOP | gzip -1 | sha256sum > OUT', told to
#    finish only after the second hop, whose OUT must be byte-identical to
#    an unmigrated run's;
#  - a tree whose migration fails because one of its PIDs is taken at the
#    destination: the whole tree resumes at the source, nothing of it is
#    left at the destination, and it still passes its checks; the same
#    when the PID taken is that of a session's leader that has exited
#    (tests/progs/tree.c sessgone: the restore needs it for a stand-in),
#    by a process, then by a session whose own leader has exited.
# What /proc shows of each member (e2e_procstate, once it waits) is the
# same before the hops and after them, but for the process group (checked
# apart), and the same after a failed migration as before it.
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/migrate-lib.sh"
mig_init tree treeprod treestop timerids

# hops ROOT KIDS...: ROOT's tree A -> B -> A (migrate also given
# HOPS_ARGS); after each hop every member runs at the destination with its
# parent, and is gone from the source.
HOPS_ARGS=()
hops() {
	local root=$1 here=A there=B tmp
	shift
	mig_procstate_each A before "$E2E_TMP/hops-$root" "$root" "$@"
	for hop in 1 2; do
		mig_bm "$here" migrate "$root" "${MIG_ADDR[$there]}:$MIG_PORT" --key "$MIG_KEY" "${HOPS_ARGS[@]}"
		e2e_expect_ok "tree of $root: hop $hop ($here -> $there)"
		if ((${#HOPS_ARGS[@]})); then
			grep -q "pre-copy is unavailable: it tracks one process, and process $root has children (a tree moves in stream mode); falling back to stream mode" "$BM_ERR" ||
				e2e_fail "hop $hop: migrate --mode precopy of a tree does not say it falls back: $(cat "$BM_ERR")"
		fi
		mig_assert_tree_moved "$here" "$there" "hop $hop" "$root" "$@"
		tmp=$here here=$there there=$tmp
	done
	# Each member as /proc shows it; the process group is checked apart
	# (the root's is the restorer's, as tree.sh says).
	mig_procstate_each A after "$E2E_TMP/hops-$root" "$root" "$@"
	E2E_PROCSTATE_ACCEPT=$E2E_PROCSTATE_GROUP \
		e2e_procstate_same_each "$E2E_TMP/hops-$root" "tree of $root after two hops" "$root" "$@"
}

# unmoved WHEN ROOT KIDS...: the snapshots (WHEN: before, or after) of a
# tree whose migration fails, which must leave every member as it was.
unmoved() {
	local when=$1 root=$2
	mig_procstate_each A "$when" "$E2E_TMP/failed-$root" "${@:2}"
	[[ $when == before ]] || e2e_procstate_same_each "$E2E_TMP/failed-$root" "tree of $root after the failed migration" "${@:2}"
}

# tree_ready WHAT ROOT OUT N: ROOT (in A) said ready in OUT and has N
# children, left in kids.
tree_ready() {
	mig_in A "$TOOLS/waitfor" --pid "$2" -x "$3" ready 20 || { e2e_show "$3"; e2e_fail "$1 did not get ready"; }
	mapfile -t kids < <(mig_children A "$2")
	((${#kids[@]} == $4)) || e2e_fail "$1's root has ${#kids[@]} children, expected $4"
}

# tree_passed WHAT ROOT OUT: ROOT, woken, ends with PASS in OUT.
tree_passed() {
	mig_in A kill -USR1 "$2"
	mig_in A "$TOOLS/pidwait" "$2" 30 || e2e_fail "$1 did not end"
	e2e_expect_pass "$3"
}

# The self-checking tree.
mkdir "$E2E_TMP/work"
out=$E2E_TMP/tree.out
root=$(mig_spawn A "$out" --pid "$MIG_WORKLOAD_PID" "$PROGS/tree" "$E2E_TMP/work")
tree_ready "the tree" "$root" "$out" 4
HOPS_ARGS=(--mode precopy)
hops "$root" "${kids[@]}"
HOPS_ARGS=()
tree_passed "the tree" "$root" "$out"
e2e_log "ok: the tree passed its checks after two hops"

# The same tree run as user 65534 (as tree.sh's nobody run): its zombie's
# user ids, which the image holds, and waitid's si_uid still say 65534
# after two hops.
chmod 711 "$E2E_TMP"
mkdir -m 777 "$E2E_TMP/nobody"
out=$E2E_TMP/nobody.out
root=$(mig_spawn A "$out" --pid 5800 setpriv --reuid 65534 --regid 65534 --clear-groups "$PROGS/tree" "$E2E_TMP/nobody")
tree_ready "the tree (65534)" "$root" "$out" 4
hops "$root" "${kids[@]}"
tree_passed "the tree (65534)" "$root" "$out"
e2e_log "ok: the tree of user 65534 passed its checks after two hops"

# Stopped children (tests/progs/treestop.c): each stopped again after
# every hop, the parent's stop reports as they were; it checks itself.
out=$E2E_TMP/treestop.out
root=$(mig_spawn A "$out" --pid 5300 "$PROGS/treestop")
tree_ready treestop "$root" "$out" 4
hops "$root" "${kids[@]}"
states=$(for k in "${kids[@]}"; do mig_state A "$k"; done | sort | tr -d '\n')
[[ $states == TTTZ ]] || e2e_fail "after two hops the children are in states $states, expected three stopped and a zombie"
tree_passed treestop "$root" "$out"
e2e_log "ok: stopped children stayed stopped over two hops and passed their checks"

# The timer id counter of each member (tests/progs/timerids.c tree).
out=$E2E_TMP/timerids.out
root=$(mig_spawn A "$out" --pid 5600 "$PROGS/timerids" tree)
tree_ready "timerids tree" "$root" "$out" 1
hops "$root" "${kids[@]}"
tree_passed "timerids tree" "$root" "$out"
e2e_log "ok: each member's next timer id carried over two hops"

# The pipeline.
ready=$E2E_TMP/ready stop=$E2E_TMP/stop pout=$E2E_TMP/pipeline.out
root=$(mig_spawn A "$E2E_TMP/sh.out" --pid 5200 sh -c "'$PROGS/treeprod' 16 '$ready' '$stop' | gzip -1 | sha256sum >'$pout'")
mig_in A "$TOOLS/waitfor" --pid "$root" "$ready" ready 20 || e2e_fail "the producer did not get ready"
mapfile -t kids < <(mig_children A "$root")
((${#kids[@]} == 3)) || e2e_fail "the shell has ${#kids[@]} children, expected 3"
# The shell waits in wait4, the producer in clock_nanosleep, gzip and
# sha256sum in read.
MIG_PROCSTATE_CALL=([$root]=wait4)
for k in "${kids[@]}"; do
	MIG_PROCSTATE_CALL[$k]=read
	[[ $(mig_in A cat "/proc/$k/comm") != treeprod ]] || MIG_PROCSTATE_CALL[$k]=clock_nanosleep
done
hops "$root" "${kids[@]}"
MIG_PROCSTATE_CALL=()
[[ ! -s $pout ]] || e2e_fail "the pipeline finished before it was told to"
touch "$stop"
mig_in A "$TOOLS/pidwait" "$root" 60 || e2e_fail "the pipeline did not finish after STOP"
expected=$("$PROGS/treeprod" 16 - - | gzip -1 | sha256sum)
[[ $(cat "$pout") == "$expected" ]] || e2e_fail "the migrated pipeline wrote \"$(cat "$pout")\", an unmigrated run \"$expected\""
e2e_log "ok: the migrated pipeline's output is the unmigrated run's"

# A failed migration: the writer's PID is taken in host B.
rm -rf "$E2E_TMP/work" && mkdir "$E2E_TMP/work"
out=$E2E_TMP/tree2.out
root=$(mig_spawn A "$out" --pid 5400 "$PROGS/tree" "$E2E_TMP/work")
mig_in A "$TOOLS/waitfor" --pid "$root" -x "$out" ready 20 || { e2e_show "$out"; e2e_fail "tree did not get ready"; }
mapfile -t kids < <(mig_children A "$root")
blocker=$(mig_spawn B "$E2E_TMP/blocker.out" --pid "${kids[1]}" sleep 600)
unmoved before "$root" "${kids[@]}"
mig_bm A migrate "$root" "${MIG_ADDR[B]}:$MIG_PORT" --key "$MIG_KEY"
mig_expect_failure 6 "restore at the destination" "$root" "a tree whose PID ${kids[1]} is taken at the destination"
grep -q "PID ${kids[1]} is taken" "$BM_ERR" || e2e_fail "the failure does not name PID ${kids[1]}: $(cat "$BM_ERR")"
mig_assert_running A "$root" "root after the failed migration"
for k in "${kids[@]}"; do
	[[ -n $(mig_state A "$k") ]] || e2e_fail "process $k is gone from host A after the failed migration"
	[[ $k == "$blocker" ]] || mig_assert_gone B "$k" "process $k in host B after the failed migration"
done
mig_assert_gone B "$root" "root in host B after the failed migration"
unmoved after "$root" "${kids[@]}"
mig_in B kill -KILL "$blocker"
tree_passed "the tree after the failed migration" "$root" "$out"
e2e_log "ok: after a failed migration the whole tree resumed at the source and passed its checks"

# The PID of a session's leader that has exited (its members carried:
# migrate-state, tree sessgone) taken in host B.
rm -rf "$E2E_TMP/work" && mkdir "$E2E_TMP/work"
out=$E2E_TMP/sessgone.out
root=$(mig_spawn A "$out" --pid 5900 "$PROGS/tree" "$E2E_TMP/work" sessgone)
tree_ready "tree sessgone" "$root" "$out" 9
sids=$(for k in "${kids[@]}"; do mig_in A awk '{ sub(/^.*\) /, ""); print $4 }' "/proc/$k/stat"; done | sort -u)
gone=
for s in $sids; do
	[[ $s == 0 || -n $(mig_state A "$s") ]] || gone=$s
done
[[ -n $gone ]] || e2e_fail "tree sessgone: no child is in a session whose leader has exited (sessions $sids)"
blocker=$(mig_spawn B "$E2E_TMP/blocker2.out" --pid "$gone" sleep 600)
unmoved before "$root" "${kids[@]}"
mig_bm A migrate "$root" "${MIG_ADDR[B]}:$MIG_PORT" --key "$MIG_KEY"
mig_expect_failure 6 "restore at the destination" "$root" "a tree whose gone session leader's PID $gone is taken"
grep -q "PID $gone is taken" "$BM_ERR" || e2e_fail "the failure does not name PID $gone: $(cat "$BM_ERR")"
for k in "$root" "${kids[@]}"; do
	[[ -n $(mig_state A "$k") ]] || e2e_fail "process $k is gone from host A after the failed migration"
	mig_assert_gone B "$k" "process $k in host B after the failed migration"
done
mig_in B kill -KILL "$blocker"
mig_in B "$TOOLS/pidwait" --reaped "$blocker" 10 || e2e_fail "the blocker $blocker in host B is not gone"

# The same PID held in host B by a session whose leader has exited too:
# no process has it, and clone3 cannot have it (EEXIST, tried for 5 s).
# (its child, which keeps it, far from the tree's PIDs)
mig_spawn B "$E2E_TMP/holder.out" --pid "$gone" setsid sh -c \
	"echo 7999 >/proc/sys/kernel/ns_last_pid; sleep 600 & echo \$! >'$E2E_TMP/holder.pid'" >/dev/null
mig_in B "$TOOLS/pidwait" --reaped "$gone" 10 || e2e_fail "the session leader $gone in host B did not exit"
holder=$(cat "$E2E_TMP/holder.pid")
[[ -n $(mig_state B "$holder") && -z $(mig_state B "$gone") ]] || e2e_fail "no session $gone without its leader in host B"
mig_bm A migrate "$root" "${MIG_ADDR[B]}:$MIG_PORT" --key "$MIG_KEY"
mig_expect_failure 6 "restore at the destination" "$root" "a tree whose gone session leader's PID $gone is held by a session"
grep -q "clone3 with the PID of a session's or group's leader, gone: File exists" "$BM_ERR" ||
	e2e_fail "the failure does not say the leader's PID is taken: $(cat "$BM_ERR")"
for k in "$root" "${kids[@]}"; do
	[[ -n $(mig_state A "$k") ]] || e2e_fail "process $k is gone from host A after the failed migration"
	mig_assert_gone B "$k" "process $k in host B after the failed migration"
done
mig_in B kill -KILL "$holder"
unmoved after "$root" "${kids[@]}"
tree_passed "tree sessgone after the failed migration" "$root" "$out"
e2e_log "ok: with a gone leader's PID taken (by a process, then by a session) the tree resumed at the source and passed its checks"
