#!/usr/bin/env bash
# A process tree dumped and restored as one unit (tests/progs/tree.c): the
# root with a writer and a reader joined by a pipe holding bytes in
# flight, a reader in a process group of its own, a session leader, a
# zombie with exit status 42, a file description shared by the root and
# the writer through fork.  Every process comes back with its PID and
# parent; the root checks groups, sessions, the zombie, the shared
# description, then wakes its children and waits for each by PID.  Done
# twice, so that a restored tree dumps again.  `inspect` shows the tree.
# Then once more with the tree run as user 65534 (setpriv): the zombie
# comes back with that user's ids (waitid's si_uid, /proc), not binmig's.
# Then with two children made by clone() to send SIGUSR1 (alive) and
# nothing (a zombie) when they exit (tree exitsig), and with two zombies
# that exited with credentials of their own, other user and group ids,
# groups and capabilities than their parent's (tree zombiecreds): each
# comes back as it was, and the root checks what wait and /proc say.
# Then with members in a session and in groups whose leaders have exited
# (tree sessgone): each comes back in them (stand-ins with the leaders'
# PIDs make them, and leave nothing), woken through its group; once more
# by a binmig that was started with SIGCHLD ignored.  Then with the
# children's tables at the default 64 slots while the tree shares eleven
# descriptions at descriptors 40 to 50 and maps files (tree smalltab): the
# descriptions binmig opens once for the tree and each member's own
# restore descriptors must find room below 64, and each table comes back
# with 64 slots (the program and e2e_procstate check FDSize).  Once more
# with those descriptions just below the open-files limit, which binmig
# has too, and 24 more (tree hightab): the restore must open them below it.
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/lib.sh"
e2e_init tree

# run_tree LABEL ROUNDS MODE [PREFIX...]: tree in MODE ("" for none),
# started through PREFIX (a command that runs it as another user, say),
# dumped and restored ROUNDS times, then woken; it must say PASS.
run_tree() {
	local label=$1 rounds=$2 mode=$3 nkids=4
	shift 3
	[[ -z $mode || $mode == smalltab || $mode == hightab ]] || nkids=6
	[[ $mode != sessgone ]] || nkids=9
	out=$E2E_TMP/$label.out
	mkdir -m 777 "$E2E_TMP/$label"
	e2e_start "$out" "$@" "$PROGS/tree" "$E2E_TMP/$label" ${mode:+"$mode"}
	root=$E2E_PID
	e2e_wait_ready "$out" "$root"
	mapfile -t kids < <(cat "/proc/$root/task/$root/children" | tr ' ' '\n' | grep .)
	((${#kids[@]} == nkids)) || e2e_fail "the root has ${#kids[@]} children, expected $nkids"
	for k in "${kids[@]}"; do e2e_track "$k"; done
	# sessgone: Z, a grandchild, goes with the tree too.
	mapfile -t grandkids < <(for k in "${kids[@]}"; do cat "/proc/$k/task/$k/children"; done | tr ' ' '\n' | grep .)
	for k in "${grandkids[@]}"; do e2e_track "$k"; done
	settled

	local before=$E2E_TMP/before.txt after=$E2E_TMP/after.txt round image p
	tree_shape >"$before"
	for p in "$root" "${kids[@]}"; do e2e_procstate "$p" "$E2E_TMP/$label-$p.proc-before"; done
	for ((round = 1; round <= rounds; round++)); do
		image=$E2E_TMP/$label$round.img
		e2e_tree_dump_restore "$image" "$round" "the tree ($label)" "$root" "${kids[@]}" "${grandkids[@]}"
		settled
		tree_shape >"$after"
		diff "$before" "$after" >&2 || e2e_fail "$label round $round: the tree's PIDs, parents, groups or sessions differ"
		# Each process as /proc shows it; the process group is tree_shape's
		# (the root's is the restorer's).
		for p in "$root" "${kids[@]}"; do
			e2e_procstate "$p" "$E2E_TMP/$label-$p.proc-after"
			E2E_PROCSTATE_ACCEPT=$E2E_PROCSTATE_GROUP \
				e2e_procstate_same "$E2E_TMP/$label-$p.proc" "$label round $round: process $p"
		done
		e2e_log "$label round $round: the tree came back with its PIDs, parents, groups, sessions and zombie"
	done
	if [[ $label == tree ]]; then
		bm inspect "$E2E_TMP/tree2.img"
		e2e_expect_ok "inspect of a tree image"
		grep -q "tree of 5 processes" "$BM_OUT" || e2e_fail "inspect does not show the tree: $(head -5 "$BM_OUT")"
	else
		# What inspect must say of the tree image of this label, if anything.
		local want=()
		case $label in
		sessgone) want=("(the leader of its session and of its group has exited)"
			"(the leader of its session has exited)" "(the leader of its group has exited)") ;;
		exitsig) want=("its exit sends its parent signal 10" "its exit sends its parent no signal") ;;
		zombiecreds) want=("exited as uid 65533/65534/65535/65533 gid 65530/65531/65532/65529, 2 groups") ;;
		esac
		if ((${#want[@]})); then
			bm inspect "$E2E_TMP/${label}2.img"
			e2e_expect_ok "inspect of a tree image ($label)"
		fi
		for w in "${want[@]}"; do
			grep -qF "$w" "$BM_OUT" || e2e_fail "inspect does not say \"$w\": $(cat "$BM_OUT")"
		done
	fi
	e2e_signal "$root" "$out"
	e2e_wait_exit "$root"
	e2e_expect_pass "$out"
}

# Until the root and every live child wait in sigsuspend (a process just
# restored may still show state R).
settled() {
	local p
	for p in "$root" "${kids[@]}"; do
		[[ $(e2e_state "$p") == Z ]] || e2e_wait_syscall "$p" rt_sigsuspend
	done
}

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

run_tree tree 2 ""
run_tree exitsig 2 exitsig
run_tree zombiecreds 2 zombiecreds
run_tree sessgone 2 sessgone
run_tree smalltab 2 smalltab
printf '#!/bin/sh\nulimit -n 4096 && exec "$@"\n' >"$E2E_TMP/nofile"
printf '#!/bin/sh\nulimit -n 4096 && exec "%s" "$@"\n' "$(realpath "$BINMIG")" >"$E2E_TMP/binmig-nofile"
chmod +x "$E2E_TMP/nofile" "$E2E_TMP/binmig-nofile"
BINMIG=$E2E_TMP/binmig-nofile run_tree hightab 1 hightab "$E2E_TMP/nofile"
# The same with binmig started with SIGCHLD ignored, which it inherits
# through exec: the zombie and the stand-ins must stay for their parents
# to wait for, not be reaped by the kernel.
printf '#!/bin/sh\nexec env --ignore-signal=CHLD "%s" "$@"\n' "$(realpath "$BINMIG")" >"$E2E_TMP/binmig-ignchld"
chmod +x "$E2E_TMP/binmig-ignchld"
BINMIG=$E2E_TMP/binmig-ignchld run_tree ignchld 1 sessgone
# The tree program and its directory, reachable by user 65534.
chmod 711 "$E2E_TMP"
run_tree nobody 1 "" setpriv --reuid 65534 --regid 65534 --clear-groups
