#!/usr/bin/env bash
# test-needs: hosts
# A tree whose members share kernel objects with their parents, and a
# vfork in flight (tests/progs/treeshare.c): children created with
# CLONE_FILES (one of them through another), CLONE_FS and both, the root
# then changing its root (chroot) to a directory of its own, which the
# CLONE_FS children share while their files lie outside it, and a
# spawner whose vfork child is held before it runs a program, migrated
# A -> B -> A -> B.  Each hop starts while the vfork child is held: binmig
# says that the freeze waits for it (held there at a gate of test builds,
# BINMIG_TEST_VFORK_GATE, until the test has let the child go on), and the tree
# moves once it has run its program.  Then the tree is dumped and restored
# in its host, its image showing what each child shares (inspect).  At the
# end the members check that what they shared is shared again (a
# descriptor or cwd one of them changes reaches exactly the members
# sharing it, the root is still that directory) and that every program a vfork child ran ended as it should.
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/migrate-lib.sh"
mig_init treeshare

fifo=$E2E_TMP/gate
mkfifo "$fifo"
out=$E2E_TMP/treeshare.out
root=$(mig_spawn A "$out" --pid "$MIG_WORKLOAD_PID" "$PROGS/treeshare" "$fifo")
mig_in A "$TOOLS/waitfor" --pid "$root" -x "$out" ready 20 || { e2e_show "$out"; e2e_fail "treeshare did not get ready"; }
mapfile -t kids < <(mig_children A "$root")
((${#kids[@]} == 4)) || e2e_fail "treeshare's root has ${#kids[@]} children, expected 4"
# R waits in sigsuspend, F, S, B and F's child G for commands in read; V,
# the spawner (R's child made last), is in its vfork until after the last
# hop, a zombie then.  What /proc shows of each but V is the same after
# the second hop (back in A) as before the moves, but for their stdout's
# offset, which V moves (the description is one); and of each, V too,
# the same after the restore in B as after the third hop.
mapfile -t kids < <(printf '%s\n' "${kids[@]}" | sort -n)
spawner=${kids[3]} waiters=("${kids[@]:0:3}")
mapfile -t grandkid < <(for k in "${waiters[@]}"; do mig_children A "$k"; done)
((${#grandkid[@]} == 1)) || e2e_fail "treeshare's F has not one child (G) but ${#grandkid[@]}"
waiters+=("${grandkid[0]}")
for k in "${waiters[@]}"; do MIG_PROCSTATE_CALL[$k]=read; done
mig_procstate_each A before "$E2E_TMP/share" "$root" "${waiters[@]}"
same() { # WHAT: the snapshots "$E2E_TMP/share" before and after
	E2E_PROCSTATE_ACCEPT="$E2E_PROCSTATE_GROUP|^fd 1 pos:" \
		e2e_procstate_same_each "$E2E_TMP/share" "treeshare $1" "$root" "${waiters[@]}" "${@:2}"
}

here=A there=B
for hop in 1 2 3; do
	mig_wait_text "$out" "vfork $hop waiting" 1 "hop $hop"
	# The freeze, having said it waits for the vfork child, is held at a
	# gate until the child has run its program: its bounded wait then
	# need not outlast this shell's answer on a slow machine.
	gate=$E2E_TMP/vfork-gate$hop
	mkdir "$gate"
	BINMIG_TEST_VFORK_GATE=$gate mig_bm_bg "$here" migrate "$root" "${MIG_ADDR[$there]}:$MIG_PORT" --key "$MIG_KEY"
	"$TOOLS/waitfor" --pid "$MIG_BG_JOB" -x "$gate/vfork" vfork "$E2E_BINMIG_TIMEOUT" ||
		{ e2e_show "$MIG_BG_ERR"; e2e_fail "hop $hop: migrate ended, or did not come to its vfork gate"; }
	mig_wait_text "$MIG_BG_ERR" "waits for its vfork child" 1 "hop $hop: binmig's note"
	timeout 10 sh -c 'printf x >"$1"' sh "$fifo" || e2e_fail "hop $hop: the vfork child did not open the gate"
	touch "$gate/go"
	mig_bm_wait
	e2e_expect_ok "hop $hop ($here -> $there)"
	mig_assert_tree_moved "$here" "$there" "hop $hop" "$root" "${kids[@]}"
	mig_wait_text "$out" "vfork $hop done" 1 "hop $hop"
	if ((hop == 2)); then
		mig_procstate_each A after "$E2E_TMP/share" "$root" "${waiters[@]}"
		same "after two hops"
	fi
	tmp=$here here=$there there=$tmp
done
e2e_log "ok: three hops, each with a vfork child held until the freeze waited for it"
mig_in "$here" "$TOOLS/pidwait" "$spawner" 10 || e2e_fail "the spawner did not end after its third vfork"
mig_procstate_each "$here" before "$E2E_TMP/share" "$root" "${waiters[@]}" "$spawner"

# Dumped and restored once more where it is: the image says what each
# child shares with its parent.
img=$E2E_TMP/tree.img
mig_bm "$here" dump "$root" -o "$img"
e2e_expect_ok "dump in host $here"
mig_bm "$here" inspect "$img"
e2e_expect_ok "inspect"
for shared in "descriptor table)" "cwd, root and umask)" "descriptor table, cwd, root and umask)"; do
	grep -qF "(its parent's $shared" "$BM_OUT" || { cat "$BM_OUT" >&2; e2e_fail "inspect does not show a child with its parent's $shared"; }
done
grep -q "^  root $E2E_TMP/treeshare\." "$BM_OUT" || { cat "$BM_OUT" >&2; e2e_fail "inspect does not show the root's own root"; }
mig_bm "$here" restore "$img"
e2e_expect_ok "restore in host $here"
mig_assert_running "$here" "$root" "after the restore"
mig_procstate_each "$here" after "$E2E_TMP/share" "$root" "${waiters[@]}" "$spawner"
same "after the restore in host $here" "$spawner"

mig_in "$here" kill -USR1 "$root"
mig_in "$here" "$TOOLS/pidwait" "$root" 30 || e2e_fail "the tree did not end"
e2e_expect_pass "$out"
e2e_log "ok: the descriptor table and the cwd are shared as before the moves"
