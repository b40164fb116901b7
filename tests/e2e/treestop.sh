#!/usr/bin/env bash
# Stopped children in a tree (tests/progs/treestop.c): one whose stop
# (SIGTTIN) its parent collected, two whose stops (SIGTSTP, SIGSTOP) it did
# not, and a zombie.  After a dump and restore all three are stopped
# again; the parent's waitpid(WUNTRACED) reports the uncollected stops with
# their signals and not the first; SIGCONT continues them.  Done twice (a restored tree dumps again);
# then again with the unseen child in a group whose leader has exited
# (treestop gone: a stand-in makes that group again).  A child
# continued after a stop that its parent has not collected is refused
# (exit 4), untouched; so is a stopped child in a group led from outside
# the tree (that group is orphaned at the destination when binmig exits),
# and a child stopped by SIGTSTP in a group that would be orphaned at the
# destination (the kernel would drop the SIGTSTP that stops it again).
# A stopped process given to binmig, alone or with a child, is refused
# (exit 4) and left stopped, untraced.
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/lib.sh"
e2e_init treestop

# stopped_tree MODE: treestop MODE ("" or gone) dumped and restored twice,
# its children as they were each time; then it checks itself.
stopped_tree() {
	local mode=$1
	out=$E2E_TMP/treestop$mode.out
	e2e_start "$out" "$PROGS/treestop" ${mode:+"$mode"}
	root=$E2E_PID
	e2e_wait_ready "$out" "$root"
	mapfile -t kids < <(tr ' ' '\n' <"/proc/$root/task/$root/children" | grep .)
	((${#kids[@]} == 4)) || e2e_fail "the root has ${#kids[@]} children, expected 4"
	for k in "${kids[@]}"; do e2e_track "$k"; done
	e2e_wait_syscall "$root" rt_sigsuspend
	before=$(states)
	for p in "$root" "${kids[@]}"; do e2e_procstate "$p" "$E2E_TMP/treestop$mode-$p.proc-before"; done
	for round in 1 2; do
		image=$E2E_TMP/treestop$mode$round.img
		e2e_tree_dump_restore "$image" "$round" "a tree with stopped children ($mode)" "$root" "${kids[@]}"
		after=$(states)
		[[ $after == "$before" ]] || e2e_fail "$mode round $round: states differ: before [$before] after [$after]"
		e2e_wait_syscall "$root" rt_sigsuspend
		# What /proc shows of each, but for the group, which states() checks.
		for p in "$root" "${kids[@]}"; do
			e2e_procstate "$p" "$E2E_TMP/treestop$mode-$p.proc-after"
			E2E_PROCSTATE_ACCEPT=$E2E_PROCSTATE_GROUP \
				e2e_procstate_same "$E2E_TMP/treestop$mode-$p.proc" "$mode round $round: process $p"
		done
		e2e_log "$mode round $round: the children stopped again, the zombie a zombie"
	done
	if [[ -z $mode ]]; then
		bm inspect "$E2E_TMP/treestop2.img"
		e2e_expect_ok "inspect of a tree with stopped children"
		grep -q "stopped  treestop (by signal 20, its stop not yet collected by its parent)" "$BM_OUT" &&
			grep -q "stopped  treestop (by signal 19, its stop not yet collected by its parent)" "$BM_OUT" &&
			grep -q "stopped  treestop (by signal 21, its stop collected by its parent)" "$BM_OUT" ||
			e2e_fail "inspect does not show the stopped children: $(cat "$BM_OUT")"
	fi
	e2e_signal "$root" "$out"
	e2e_wait_exit "$root"
	e2e_expect_pass "$out"
}
# State, parent and group of the children; the root's group is outside
# the tree (binmig's at restore): shown as "outer".
states() {
	local rpg p
	rpg=$(awk '{ sub(/^.*\) /, ""); print $3 }' "/proc/$root/stat")
	for p in "${kids[@]}"; do
		awk -v rpg="$rpg" '{ sub(/^.*\) /, ""); print $1, $2, ($3 == rpg ? "outer" : $3) }' "/proc/$p/stat"
	done
}
stopped_tree ""
# The unseen child stopped in a group whose leader has exited.
stopped_tree gone

e2e_refused_dump continued "has not collected that yet" -- treestop continued
e2e_refused_dump outer "which is led from outside the tree" -- treestop outer
e2e_refused_dump orphan "is stopped by signal 20 (job control); binmig makes such a stop again with that signal, which the kernel would drop at the destination: its process group would be orphaned there" -- treestop orphan

# Until PID is in a group stop (state T), at most 10 s.
wait_stopped() {
	local i
	for ((i = 0; i < 2000; i++)); do
		[[ $(e2e_state "$1") == T ]] && return 0
		sleep 0.005
	done
	e2e_fail "process $1 did not stop: state $(e2e_state "$1")"
}
for mode in root rootkids; do
	out=$E2E_TMP/$mode.out
	e2e_start "$out" "$PROGS/treestop" "$mode"
	pid=$E2E_PID
	e2e_wait_ready "$out" "$pid"
	wait_stopped "$pid"
	bm dump "$pid" -o "$E2E_TMP/$mode.img"
	e2e_expect_error 4 "dump of a stopped process ($mode)"
	grep -q "process $pid (treestop) is stopped" "$BM_ERR" ||
		e2e_fail "$mode: the refusal does not name the stop: $(cat "$BM_ERR")"
	[[ ! -e $E2E_TMP/$mode.img ]] || e2e_fail "$mode: an image was left"
	[[ $(e2e_state "$pid") == T ]] || e2e_fail "$mode: process $pid is in state $(e2e_state "$pid") after the refusal, not stopped"
	[[ $(e2e_tracer "$pid") == 0 ]] || e2e_fail "$mode: process $pid is still traced"
	kill -CONT "$pid"
	e2e_signal "$pid" "$out"
	e2e_wait_exit "$pid"
	e2e_expect_pass "$out"
	e2e_log "ok: a stopped process ($mode) refused, left stopped"
done
