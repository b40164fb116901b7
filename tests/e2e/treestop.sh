#!/usr/bin/env bash
# Stopped children in a tree (tests/progs/treestop.c): one whose stop its
# parent collected, one whose stop it did not, and a zombie.  After a
# dump and restore both are stopped again; the parent's
# waitpid(WUNTRACED) reports the second stop and not the first; SIGCONT
# continues both.  Done twice (a restored tree dumps again).  A child
# continued after a stop that its parent has not collected is refused
# (exit 4), untouched; so is a stopped child in a group led from outside
# the tree (that group is orphaned at the destination when binmig exits).
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/lib.sh"
e2e_init treestop

out=$E2E_TMP/treestop.out
e2e_start "$out" "$PROGS/treestop"
root=$E2E_PID
e2e_wait_ready "$out" "$root"
mapfile -t kids < <(tr ' ' '\n' <"/proc/$root/task/$root/children" | grep .)
((${#kids[@]} == 3)) || e2e_fail "the root has ${#kids[@]} children, expected 3"
for k in "${kids[@]}"; do e2e_track "$k"; done
e2e_wait_syscall "$root" rt_sigsuspend
# State, parent and group of the children; the root's group is outside
# the tree (binmig's at restore): shown as "outer".
states() {
	local rpg p
	rpg=$(awk '{ sub(/^.*\) /, ""); print $3 }' "/proc/$root/stat")
	for p in "${kids[@]}"; do
		awk -v rpg="$rpg" '{ sub(/^.*\) /, ""); print $1, $2, ($3 == rpg ? "outer" : $3) }' "/proc/$p/stat"
	done
}
before=$(states)
for round in 1 2; do
	image=$E2E_TMP/treestop$round.img
	e2e_tree_dump_restore "$image" "$round" "a tree with stopped children" "$root" "${kids[@]}"
	after=$(states)
	[[ $after == "$before" ]] || e2e_fail "round $round: states differ: before [$before] after [$after]"
	e2e_wait_syscall "$root" rt_sigsuspend
	e2e_log "round $round: both children stopped again, the zombie a zombie"
done
bm inspect "$E2E_TMP/treestop2.img"
e2e_expect_ok "inspect of a tree with stopped children"
grep -q "stopped  treestop (its stop not yet collected by its parent)" "$BM_OUT" &&
	grep -q "stopped  treestop (its stop collected by its parent)" "$BM_OUT" ||
	e2e_fail "inspect does not show the stopped children: $(cat "$BM_OUT")"
e2e_signal "$root" "$out"
e2e_wait_exit "$root"
e2e_expect_pass "$out"

e2e_refused_dump continued "has not collected that yet" -- treestop continued
e2e_refused_dump outer "which is led from outside the tree" -- treestop outer
