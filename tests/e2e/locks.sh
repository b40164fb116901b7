#!/usr/bin/env bash
# File locks (tests/progs/locks.c): POSIX record locks, an OFD lock shared
# by a dup, flock locks on files and a directory, a POSIX lock on an
# unlinked file, all carried by a dump and restore and checked by the
# program (its fdinfo "lock:" lines, and what another process sees);
# read locks of four owners (OFD and POSIX) on one file, in the order of
# the kernel's list (also without the BPF reader: descriptor order, as the
# dump warns), also of a tree's two members, by turns;
# a flock and an OFD lock a child took on descriptions it shares with its
# parent, taken again by the child (/proc names it, not the parent), also
# a flock whose descriptor the child closed since (through the parent's);
# a flock and an OFD lock a child took and exited, taken again by a
# stand-in (inspect names it) so that /proc names a gone process still;
# a flock a process outside the tree took and still holds, its
# descriptors closed, taken again by a stand-in with the taker's PID;
# a restore whose lock another process holds fails (exit 6, naming the
# holder) and leaves nothing behind, as does one whose stand-in cannot be
# made (fault point lock-standin), and succeeds once the holder is gone; refused (exit 4, one line, the process untouched): a lease, a
# lock on a named FIFO, a flock a child took through the descriptor table
# it shares with its parent (CLONE_FILES).  Across hosts: e2e/migrate-state, e2e/locks-migrate.
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/lib.sh"
e2e_init locks

# held_restore MODE DIR IMAGE LOCK: while a holder (locks MODE in
# $E2E_TMP/DIR) keeps LOCK from being taken, restoring IMAGE fails (exit
# 6) naming LOCK and the holder, whose checks then pass once woken.
# binmig's stderr stays in BM_ERR.
held_restore() {
	local holder holder_out=$E2E_TMP/$2.holder.out
	e2e_start "$holder_out" "$PROGS/locks" "$1" "$E2E_TMP/$2"
	holder=$E2E_PID
	e2e_wait_ready "$holder_out" "$holder"
	bm restore "$3"
	e2e_expect_error 6 "restore while another process holds a lock"
	grep -qF "cannot take its $4 again: process $holder holds a conflicting lock" "$BM_ERR" ||
		e2e_fail "the failed restore does not name the lock and its holder: $(cat "$BM_ERR")"
	e2e_signal "$holder" "$holder_out"
	e2e_wait_exit "$holder"
	e2e_expect_pass "$holder_out"
}
for d in carried shared closedtaker closedconflict outside order order-nobpf treeorder treeconflict conflict lease fifo table; do
	mkdir "$E2E_TMP/$d"
done

e2e_state_test locks carried "$E2E_TMP/carried"
# A tree: its root's group is the restorer's (e2e/tree checks groups).
E2E_PROCSTATE_ACCEPT=$E2E_PROCSTATE_GROUP e2e_state_test locks shared "$E2E_TMP/shared"

# A tree: a child took a flock through a description it shares with its
# parent, then closed its descriptor of it.  The image lists the lock as
# the child's, through the parent's descriptor (inspect), and the child
# takes it again through its copy of the description: fdinfo names it.
closedtaker_between() {
	bm inspect "$2"
	e2e_expect_ok "inspect"
	grep -qx "  lock through fd 3 of process $1: flock write lock, taken by this process, which holds that open file no more" "$BM_OUT" ||
		e2e_fail "inspect does not show the flock the child took: $(grep 'lock ' "$BM_OUT")"
}
E2E_BETWEEN=closedtaker_between E2E_PROCSTATE_ACCEPT=$E2E_PROCSTATE_GROUP \
	e2e_state_test locks closedtaker "$E2E_TMP/closedtaker"

# A flock taken by a process outside the tree that is still there, its
# descriptors of the file closed: the image has it taken by a stand-in
# with the taker's PID (inspect), which it gets once free (the taker ends
# with the original), so that fdinfo names it still.
outside_between() {
	local taker
	taker=$(sed -n 's/^taker //p' "$E2E_TMP/locks.out")
	[[ $taker =~ ^[0-9]+$ ]] || e2e_fail "the program did not name its lock's taker"
	bm inspect "$2"
	e2e_expect_ok "inspect"
	grep -qx "  lock fd 3: flock write lock, taken by a stand-in for its taker (PID $taker where free)" "$BM_OUT" ||
		e2e_fail "inspect does not show the flock of taker $taker: $(grep 'lock fd' "$BM_OUT")"
	"$TOOLS/pidwait" --reaped "$taker" 30 || e2e_fail "the taker $taker did not end with the process"
}
E2E_BETWEEN=outside_between e2e_state_test locks outside "$E2E_TMP/outside"

# Read locks of four owners on one file, in another order than their
# descriptors': the GETLK commands name the same first lock after the restore.
e2e_state_test locks order "$E2E_TMP/order"
# The image lists them in that order, with their owners' places (inspect).
bm inspect "$E2E_TMP/locks.img"
e2e_expect_ok "inspect"
[[ $(grep '^  lock fd' "$BM_OUT") == "  lock fd 5: OFD read lock on bytes 0-99, its owner's first at place 1 of the file's locks
  lock fd 3: POSIX read lock on bytes 50-109, its owner's first at place 2 of the file's locks
  lock fd 4: OFD read lock on bytes 120-129, its owner's first at place 3 of the file's locks
  lock fd 3: OFD read lock on bytes 100-199, its owner's first at place 4 of the file's locks" ]] ||
	e2e_fail "inspect does not list the locks in their file's order: $(grep 'lock fd' "$BM_OUT")"
# ... and of a child and its parent, by turns: the members take theirs
# again in one sequence.
E2E_PROCSTATE_ACCEPT=$E2E_PROCSTATE_GROUP e2e_state_test locks treeorder "$E2E_TMP/treeorder"
# A member that cannot take its lock (another process holds bytes 0-9)
# fails the tree's restore, naming the holder; the member after it in the
# sequence does not wait for turns that no longer come (its wait would
# have added its own message).  With the holder gone, the restore passes.
out=$E2E_TMP/treeconflict.out image=$E2E_TMP/treeconflict.img
e2e_start "$out" "$PROGS/locks" treeorder "$E2E_TMP/treeconflict"
root=$E2E_PID
e2e_wait_ready "$out" "$root"
# (its children: the one with locks, and a zombie)
mapfile -t kids < <(tr ' ' '\n' <"/proc/$root/task/$root/children" | grep .)
((${#kids[@]} == 2)) || e2e_fail "the tree's root has ${#kids[@]} children, expected 2"
for k in "${kids[@]}"; do e2e_track "$k"; done
e2e_wait_syscall "$root" rt_sigsuspend
e2e_tree_dump "$image" 1 "the tree holding ordered locks" "$root" "${kids[@]}"
held_restore holdtree treeconflict "$image" "POSIX read lock on bytes 0-99"
! grep -qF "of their file locks in" "$BM_ERR" ||
	e2e_fail "a member waited for the turns of the member that failed: $(cat "$BM_ERR")"
for p in "$root" "${kids[@]}"; do e2e_assert_no_pid "$p"; done
e2e_restore "$image" "$root"
for k in "${kids[@]}"; do e2e_track "$k"; done
e2e_wait_syscall "$root" rt_sigsuspend
e2e_signal "$root" "$out"
e2e_wait_exit "$root"
e2e_expect_pass "$out"
e2e_log "ok: a member's held lock failed the tree's restore at once; with the holder gone it passed"
# The child of closedtaker cannot take its flock again through its copy of
# the description while another open file holds the file: the restore
# fails naming it, and leaves nothing; with the holder gone it passes.
out=$E2E_TMP/closedconflict.out image=$E2E_TMP/closedconflict.img
e2e_start "$out" "$PROGS/locks" closedtaker "$E2E_TMP/closedconflict"
root=$E2E_PID
e2e_wait_ready "$out" "$root"
kid=$(tr ' ' '\n' <"/proc/$root/task/$root/children" | grep .)
[[ $kid =~ ^[0-9]+$ ]] || e2e_fail "closedtaker's root has children '$kid', expected one"
e2e_track "$kid"
e2e_wait_syscall "$root" rt_sigsuspend
e2e_tree_dump "$image" 1 "the tree whose child took a flock through its parent's file" "$root" "$kid"
holder_out=$E2E_TMP/closedconflict.holder.out
e2e_start "$holder_out" "$PROGS/locks" holdflock "$E2E_TMP/closedconflict"
holder=$E2E_PID
e2e_wait_ready "$holder_out" "$holder"
bm restore "$image"
e2e_expect_error 6 "restore while another open file holds the child's flock"
grep -qF "restoring process $kid: fd 3 of process $root ($E2E_TMP/closedconflict/c): cannot take its flock write lock again, which this process took: another open file holds a conflicting lock" "$BM_ERR" ||
	e2e_fail "the failed restore does not name the child's flock: $(cat "$BM_ERR")"
for p in "$root" "$kid"; do e2e_assert_no_pid "$p"; done
e2e_signal "$holder" "$holder_out"
e2e_wait_exit "$holder"
e2e_expect_pass "$holder_out"
e2e_restore "$image" "$root"
e2e_track "$kid"
e2e_wait_syscall "$root" rt_sigsuspend
e2e_signal "$root" "$out"
e2e_wait_exit "$root"
e2e_expect_pass "$out"
e2e_log "ok: a held flock failed the restore of the child that took it; with the holder gone it passed"
# Without the BPF reader, which reads that order, the dump says so and the
# locks come back in descriptor order, which the program tells apart.
out=$E2E_TMP/order-nobpf.out
e2e_start "$out" "$PROGS/locks" order "$E2E_TMP/order-nobpf"
pid=$E2E_PID
e2e_wait_ready "$out" "$pid"
e2e_wait_syscall "$pid" rt_sigsuspend
BINMIG_TEST_NO_BPF=1 bm dump "$pid" -o "$E2E_TMP/order-nobpf.img"
e2e_expect_ok "dump without the BPF reader"
grep -qF "the order of a file's locks" "$BM_ERR" ||
	e2e_fail "the dump does not say that the order of the locks goes unseen: $(cat "$BM_ERR")"
e2e_restore "$E2E_TMP/order-nobpf.img" "$pid"
e2e_wait_syscall "$pid" rt_sigsuspend
e2e_signal "$pid" "$out"
e2e_wait_exit "$pid"
grep -qF "after: a write lock through C from byte 110 meets 100+100 pid -1, expected 120+10 pid -1" "$out" ||
	e2e_fail "taken again in descriptor order, the locks do not differ as expected: $(cat "$out")"
e2e_log "ok: without the reader the locks come back in descriptor order, as the dump says"

# The dump lets go of the locks with the process; a holder takes one of
# them before the restore, which then cannot.
out=$E2E_TMP/conflict.out image=$E2E_TMP/conflict.img
e2e_start "$out" "$PROGS/locks" carried "$E2E_TMP/conflict"
pid=$E2E_PID
e2e_wait_ready "$out" "$pid"
e2e_wait_syscall "$pid" rt_sigsuspend
e2e_dump "$pid" "$image"
# The flock of g, whose taker has exited, goes to a stand-in (inspect says so).
bm inspect "$image"
e2e_expect_ok "inspect"
grep -Eq "^  lock fd [0-9]+: flock write lock, taken by a stand-in for its (taker \(PID [0-9]+ where free|gone taker \(any PID)\)$" \
	"$BM_OUT" || e2e_fail "inspect does not show the flock of a gone taker: $(grep 'lock fd' "$BM_OUT")"
held_restore hold conflict "$image" "POSIX write lock on bytes 0-99"
e2e_assert_no_pid "$pid"
# A stand-in that cannot be made fails the restore too, naming the lock
# (a build with fault injection, as make test's).
e2e_fault_restore lock-standin "$image" "$pid" \
	"cannot take its flock write lock again: the stand-in that takes it for its taker could not be made or reaped: Resource temporarily unavailable" \
	"a stand-in that cannot be made"
e2e_restore "$image" "$pid"
e2e_wait_syscall "$pid" rt_sigsuspend
e2e_signal "$pid" "$out"
e2e_wait_exit "$pid"
e2e_expect_pass "$out"
e2e_log "a held lock failed the restore; with the holder gone the restore took it"

e2e_refused_dump lease "as a lease does; binmig does not carry leases" -- \
	locks lease "$E2E_TMP/lease"
e2e_refused_dump fifo "holds a lock; binmig takes locks again only on files and directories" -- \
	locks fifo "$E2E_TMP/fifo"
e2e_refused_dump table "through the descriptor table it shares with process" -- \
	locks table "$E2E_TMP/table"
