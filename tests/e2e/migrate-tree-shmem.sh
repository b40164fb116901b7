#!/usr/bin/env bash
# test-needs: hosts
# Shared anonymous memory in a process tree (tests/progs/shmtree.c: a
# parent and eight children sharing MAP_SHARED|MAP_ANONYMOUS memory, a
# token ring of pipes with bytes in flight, a zombie, a stopped child, a
# mapping split by mprotect, a second mapping of one object, pages only a
# child wrote, a sealed memfd that all hold through one description and
# the children map), migrated A -> B -> A -> B.  After every hop each member
# runs at the destination under its parent and the memory is one object
# again: every member's mappings of it show one inode, and child 2's own
# object another.  After the last hop the tree's checks (writes made after
# the moves reach the other processes) pass, and its digest of the memory
# is that of an unmigrated run.  What /proc shows of each member (waiting,
# stopped or a zombie) is the same after the second hop, back in host A,
# as before the moves, but for the process group (the root's is the
# restorer's); the descriptor tables have their 64 slots still.
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/migrate-lib.sh"
mig_init shmtree

# objects HOST PID...: the distinct inodes of shared anonymous memory the
# processes map.
objects() {
	local h=$1
	shift
	for p in "$@"; do
		mig_in "$h" cat "/proc/$p/maps" | awk '$6 == "/dev/zero" && $7 == "(deleted)" { print $5 }'
	done | sort -u | wc -l
}

# The unmigrated run, in host A.
ref=$E2E_TMP/ref.out
pid=$(mig_spawn A "$ref" "$PROGS/shmtree")
mig_in A "$TOOLS/waitfor" --pid "$pid" -x "$ref" ready 20 || { e2e_show "$ref"; e2e_fail "the reference run did not get ready"; }
mig_in A kill -USR1 "$pid"
mig_in A "$TOOLS/pidwait" "$pid" 30 || e2e_fail "the reference run did not end"
e2e_expect_pass "$ref"

out=$E2E_TMP/shmtree.out
root=$(mig_spawn A "$out" --pid "$MIG_WORKLOAD_PID" "$PROGS/shmtree")
mig_in A "$TOOLS/waitfor" --pid "$root" -x "$out" ready 20 || { e2e_show "$out"; e2e_fail "shmtree did not get ready"; }
mapfile -t kids < <(mig_children A "$root")
((${#kids[@]} == 8)) || e2e_fail "shmtree's root has ${#kids[@]} children, expected 8"
live=("$root" "${kids[@]:0:7}")
n=$(objects A "${live[@]}")
((n == 2)) || e2e_fail "before the moves the tree maps $n objects of shared anonymous memory, expected 2"
mig_procstate_each A before "$E2E_TMP/shm" "$root" "${kids[@]}"

here=A there=B
for hop in 1 2 3; do
	mig_bm "$here" migrate "$root" "${MIG_ADDR[$there]}:$MIG_PORT" --key "$MIG_KEY"
	e2e_expect_ok "hop $hop ($here -> $there)"
	mig_assert_tree_moved "$here" "$there" "hop $hop" "$root" "${kids[@]}"
	[[ $(mig_state "$there" "${kids[6]}") == T && $(mig_state "$there" "${kids[7]}") == Z ]] ||
		e2e_fail "hop $hop: children 6 and 7 are in states $(mig_state "$there" "${kids[6]}")$(mig_state "$there" "${kids[7]}"), expected stopped and zombie"
	n=$(objects "$there" "${live[@]}")
	((n == 2)) || e2e_fail "hop $hop: the tree maps $n objects of shared anonymous memory, expected 2"
	if ((hop == 2)); then
		mig_procstate_each A after "$E2E_TMP/shm" "$root" "${kids[@]}"
		E2E_PROCSTATE_ACCEPT=$E2E_PROCSTATE_GROUP \
			e2e_procstate_same_each "$E2E_TMP/shm" "shmtree after two hops" "$root" "${kids[@]}"
	fi
	tmp=$here here=$there there=$tmp
done
e2e_log "ok: three hops, every member in place, its shared memory one object"

mig_in "$here" kill -USR1 "$root"
mig_in "$here" "$TOOLS/pidwait" "$root" 30 || e2e_fail "the tree did not end"
e2e_expect_pass "$out"
want=$(grep '^digest ' "$ref") got=$(grep '^digest ' "$out")
[[ -n $want && $got == "$want" ]] || e2e_fail "the migrated tree's memory ends as \"$got\", an unmigrated run's as \"$want\""
e2e_log "ok: the migrated tree passed its checks; its memory ends as an unmigrated run's"
