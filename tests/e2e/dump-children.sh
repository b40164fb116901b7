#!/usr/bin/env bash
# What binmig does not carry in a process tree is refused (exit 4, naming
# the process and why) and left untouched:
#  - with --no-tree, any process with children (a running child: a shell
#    waiting for its background job; a zombie child: tools/zombie, which
#    never reaps it), as binmig moves one process then;
#  - a stopped child in the parent's group, led from outside the tree
#    (stopped children in groups of their own: tests/e2e/treestop.sh), a
#    child created with CLONE_VM, a child created with CLONE_FILES that
#    maps an unlinked file, a vfork child blocked before exec (binmig
#    waits 5 s for it to run a program, then gives up; carried once it
#    has: tests/e2e/migrate-tree-share.sh), such a child alone, a child
#    traced by its parent, a child asking for a signal when
#    its parent dies while the parent has two threads (or moved without
#    its parent; carried otherwise: tests/progs/tree.c), an unlinked file
#    that parent and child both map with no descriptor held, a memfd they
#    hold through two open file descriptions, a zombie with more
#    supplementary groups than binmig carries (64) or in a user namespace
#    of its own (its credentials are
#    carried otherwise, and a child made with clone() to send another
#    signal than SIGCHLD when it exits too: tests/e2e/tree.sh), children
#    in a session whose leader has exited with different parents outside
#    it, or with a process outside the tree in it (tests/progs/treerefuse.c;
#    carried otherwise: tests/e2e/tree.sh sessgone), a child made with
#    clone() to send SIGUSR1 at its exit whose parent has run a program
#    since, so that the kernel sends SIGCHLD instead (carried where the
#    parent has not: tests/e2e/tree.sh exitsig).
# A tree's refusal is looked at while binmig still lives (held before it
# exits): every process of the tree is as it was, traced by whom it was,
# stopped only if it was (a vfork parent that binmig has given up waiting
# for is not left traced with its stop pending), and it runs on.
# Trees themselves are carried: tests/e2e/tree.sh; anonymous memory and a
# memfd they share: tests/e2e/migrate-tree-shmem.sh.
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/lib.sh"
e2e_init treerefuse

# refused PID CHILD WHAT CALL: dump --no-tree refuses PID, naming CHILD;
# PID runs on, neither stopped nor traced, waiting in CALL again as /proc
# showed it before (e2e_procstate_same).
refused() {
	local pid=$1 child=$2 what=$3 base=$E2E_TMP/no-tree-$1.proc
	e2e_wait_syscall "$pid" "$4"
	e2e_procstate "$pid" "$base-before"
	bm dump "$pid" -o "$E2E_TMP/img" --no-tree
	e2e_expect_error 4 "dump --no-tree of $what"
	grep -q "process $pid has 1 child process ($child); with --no-tree binmig moves one process" "$BM_ERR" ||
		e2e_fail "$what: the refusal does not name the child $child: $(cat "$BM_ERR")"
	[[ ! -e $E2E_TMP/img && ! -e $E2E_TMP/img.partial ]] || e2e_fail "$what: an image was left"
	e2e_assert_alive "$pid"
	[[ $(e2e_tracer "$pid") == 0 ]] || e2e_fail "$what: process $pid is still traced"
	e2e_wait_syscall "$pid" "$4"
	e2e_procstate "$pid" "$base-after"
	e2e_procstate_same "$base" "$what after the refusal"
	e2e_log "ok: $what refused with --no-tree, naming child $child"
}

out=$E2E_TMP/zombie.out
e2e_start "$out" "$TOOLS/zombie"
parent=$E2E_PID
e2e_wait_line "$out" "" "$parent" 10
child=$(head -n 1 "$out")
[[ $child =~ ^[0-9]+$ && $(e2e_state "$child") == Z ]] || e2e_fail "tools/zombie printed \"$child\", not a zombie's PID"
refused "$parent" "$child" "a process with a zombie child" pause

out=$E2E_TMP/shell.out
# The shell says its child's PID, then waits for it.
e2e_start "$out" sh -c 'sleep 600 & echo $!; wait'
parent=$E2E_PID
e2e_wait_line "$out" "" "$parent" 10
child=$(head -n 1 "$out")
[[ $child =~ ^[0-9]+$ ]] || e2e_fail "the shell printed \"$child\""
e2e_track "$child"
refused "$parent" "$child" "a shell waiting for its child" rt_sigsuspend

# start_treerefuse MODE OUT: treerefuse MODE, ready; sets PID (the
# parent) and KID (the child it names).
start_treerefuse() {
	e2e_start "$2" "$PROGS/treerefuse" "$1"
	PID=$E2E_PID
	e2e_wait_ready "$2" "$PID"
	KID=$(head -n 1 "$2")
	e2e_track "$KID"
}

# tree_pids PID: PID and all its descendants.
tree_pids() {
	local kid kids
	echo "$1"
	kids=$(cat "/proc/$1/task/"*/children 2>/dev/null) || true
	for kid in $kids; do
		tree_pids "$kid"
	done
}

# as_it_is PID: each process of the tree of PID with its tracer and
# whether it is stopped.
as_it_is() {
	local p state
	for p in $(tree_pids "$1"); do
		state=$(e2e_state "$p")
		[[ $state == [tT] ]] || state=-
		echo "$p tracer $(e2e_tracer "$p") stopped $state"
	done
}

# tree_refused MODE EXPECT: the tree of treerefuse MODE is refused with
# EXPECT (CHILD stands for the child's PID) in the message.  Right after
# the refusal, binmig still alive (held before it exits), every process
# of the tree is as it was: traced by whom it was, stopped only if it
# was, and as /proc showed it before (e2e_procstate_same_each, the parent
# waiting in sigsuspend again); and it runs on (the parent checks the child, ends it and says PASS).
tree_refused() {
	local mode=$1 expect=$2
	local out=$E2E_TMP/$mode.out
	start_treerefuse "$mode" "$out"
	local pid=$PID kid=$KID before after members
	members=$(tree_pids "$pid")
	e2e_wait_syscall "$pid" rt_sigsuspend
	# shellcheck disable=SC2086 # one PID a word
	e2e_procstate_each before "$E2E_TMP/$mode" $members
	before=$(as_it_is "$pid")
	bm_held dump "$pid" -o "$E2E_TMP/$mode.img"
	after=$(as_it_is "$pid")
	[[ $after == "$before" ]] || e2e_fail "$mode: after the refusal, with binmig still alive, the tree is"$'\n'"$after"$'\n'"where it was"$'\n'"$before"
	e2e_wait_syscall "$pid" rt_sigsuspend
	# shellcheck disable=SC2086
	e2e_procstate_each after "$E2E_TMP/$mode" $members
	# shellcheck disable=SC2086
	e2e_procstate_same_each "$E2E_TMP/$mode" "$mode: after the refusal" $members
	e2e_assert_alive "$pid"
	e2e_signal "$pid" "$out"
	e2e_wait_exit "$pid"
	e2e_expect_pass "$out"
	bm_unhold
	if [[ $mode == vfork ]]; then
		# Said first: the freeze waits for the vfork child.
		grep -q "waits for its vfork child $kid to run a program or exit; the freeze waits for that" "$BM_ERR" ||
			e2e_fail "vfork: binmig did not say that it waits for the vfork child: $(cat "$BM_ERR")"
		sed -i '/the freeze waits for that/d' "$BM_ERR"
	fi
	e2e_expect_error 4 "dump of a tree with a $mode child"
	grep -qF "${expect//CHILD/$kid}" "$BM_ERR" || e2e_fail "$mode: the refusal does not say \"${expect//CHILD/$kid}\": $(cat "$BM_ERR")"
	[[ ! -e $E2E_TMP/$mode.img && ! -e $E2E_TMP/$mode.img.partial ]] || e2e_fail "$mode: an image was left"
	e2e_log "ok: a tree with a $mode child refused, all of it untouched"
}
tree_refused stopped "process CHILD (treerefuse) is stopped in process group"
tree_refused clonevm "process CHILD shares its memory (CLONE_VM) with its parent"
tree_refused filesmap "process CHILD shares its descriptor table (CLONE_FILES) with its parent"
grep -qF "and maps the unlinked file /tmp/treerefuse." "$BM_ERR" || e2e_fail "filesmap: the refusal does not name the file: $(cat "$BM_ERR")"
tree_refused vfork "waits for its vfork child CHILD, which has neither run a program nor exited within 5000 ms"

tree_refused traced "process CHILD (treerefuse) of the tree is traced by process"
tree_refused pdeathsig "thread CHILD asks for signal 15 when its parent dies (PR_SET_PDEATHSIG), and its parent, process"
grep -q "has 2 threads" "$BM_ERR" || e2e_fail "pdeathsig: the refusal does not name the parent's threads: $(cat "$BM_ERR")"

# alone_refused MODE EXPECT WHAT: the child of treerefuse MODE, dumped
# without its parent, is refused with EXPECT (CHILD and PARENT stand for
# the PIDs) and runs on untouched.
alone_refused() {
	local mode=$1 expect=$2 what=$3
	local out=$E2E_TMP/$mode-alone.out
	start_treerefuse "$mode" "$out"
	local pid=$PID kid=$KID
	bm dump "$kid" -o "$E2E_TMP/$mode-alone.img"
	e2e_expect_error 4 "dump of $what"
	expect=${expect//CHILD/$kid}
	grep -qF "${expect//PARENT/$pid}" "$BM_ERR" || e2e_fail "$mode alone: the refusal does not say \"${expect//PARENT/$pid}\": $(cat "$BM_ERR")"
	e2e_assert_alive "$kid"
	[[ $(e2e_tracer "$kid") == 0 ]] || e2e_fail "$mode alone: process $kid is still traced"
	e2e_signal "$pid" "$out"
	e2e_wait_exit "$pid"
	e2e_expect_pass "$out"
	e2e_log "ok: $what refused"
}
# Its parent stays behind, and at the destination binmig, its parent for
# a moment, would send the signal as it exits.
alone_refused pdeathsig "thread CHILD asks for signal 15 when its parent dies (PR_SET_PDEATHSIG), and its parent, process PARENT, is not moved with it" \
	"a child asking for a parent-death signal, without its parent"
# Its memory is its parent's, which stays behind.
alone_refused vfork "process CHILD (treerefuse) is a vfork child of process " "a vfork child without its parent"
tree_refused unlinkedmap "and CHILD both reach the unlinked file /tmp/treerefuse."
tree_refused memfdapart "of process CHILD reach the unlinked file /memfd:treerefuse through different open file descriptions"
tree_refused zombiegroups "cannot read the credentials of zombie process CHILD (more supplementary groups than binmig carries)"
tree_refused zombieuserns "zombie process CHILD is in another user namespace than its parent "
# Two processes in a session whose leader has exited, with different
# parents outside it (one stand-in makes such a session again: carried
# with one parent, tests/e2e/tree.sh sessgone); the child alone, with a
# process outside its tree in that session.
# A child made to send SIGUSR1 at its exit whose parent has run a program
# since: the kernel sends SIGCHLD instead (seen by binmig's BPF reader).
tree_refused execed "process CHILD (treerefuse) of the tree was made with clone() to send its parent signal 10 at its exit, and its parent has run a program since (execve)"
tree_refused sessgone "whose leader has exited, and have different parents ("
alone_refused sessgone "whose leader has exited and is not in the tree, and so is process " \
	"a child in a session whose leader has exited, with a process outside its tree in it"
