#!/usr/bin/env bash
# A process tree dumped and restored as one unit (tests/progs/tree.c): the
# root with a writer and a reader joined by a pipe holding bytes in
# flight, a reader in a process group of its own, a session leader, a
# zombie with exit status 42, a file description shared by the root and
# the writer through fork.  Every process comes back with its PID and
# parent; the root checks groups, sessions, the zombie, the shared
# description, then wakes its children and waits for each by PID.  Done
# twice, so that a restored tree dumps again.  `inspect` shows the tree.
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/lib.sh"
e2e_init tree

out=$E2E_TMP/tree.out
mkdir "$E2E_TMP/work"
e2e_start "$out" "$PROGS/tree" "$E2E_TMP/work"
root=$E2E_PID
e2e_wait_ready "$out" "$root"
mapfile -t kids < <(cat "/proc/$root/task/$root/children" | tr ' ' '\n' | grep .)
((${#kids[@]} == 4)) || e2e_fail "the root has ${#kids[@]} children, expected 4"
for k in "${kids[@]}"; do e2e_track "$k"; done
e2e_wait_syscall "$root" rt_sigsuspend

before=$E2E_TMP/before.txt after=$E2E_TMP/after.txt
# PID, state, parent, group and session of the root and its children; the
# root's parent and group are outside the tree (binmig's group at restore),
# so they are shown as "outer" where they are the root's.
tree_shape() {
	local p rootpg
	rootpg=$(awk '{ sub(/^.*\) /, ""); print $3 }' "/proc/$root/stat")
	for p in "$root" "${kids[@]}"; do
		awk -v p="$p" -v root="$root" -v rpg="$rootpg" '{ sub(/^.*\) /, "");
			ppid = p == root ? "outer" : $2; pg = $3 == rpg ? "outer" : $3
			print p, $1, ppid, pg, $4 }' "/proc/$p/stat"
	done
}
tree_shape >"$before"
for round in 1 2; do
	image=$E2E_TMP/tree$round.img
	e2e_tree_dump_restore "$image" "$round" "the tree" "$root" "${kids[@]}"
	tree_shape >"$after"
	diff "$before" "$after" >&2 || e2e_fail "round $round: the tree's PIDs, parents, groups or sessions differ"
	e2e_wait_syscall "$root" rt_sigsuspend
	e2e_log "round $round: the tree came back with its PIDs, parents, groups, sessions and zombie"
done
bm inspect "$E2E_TMP/tree2.img"
e2e_expect_ok "inspect of a tree image"
grep -q "tree of 5 processes" "$BM_OUT" || e2e_fail "inspect does not show the tree: $(head -5 "$BM_OUT")"
e2e_signal "$root" "$out"
e2e_wait_exit "$root"
e2e_expect_pass "$out"
