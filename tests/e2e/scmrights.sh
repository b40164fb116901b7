#!/usr/bin/env bash
# Descriptors in flight (SCM_RIGHTS) in unix socket queues
# (tests/progs/scmrights.c, migrator/sk_unix_rights.c): each the same open
# file description as a descriptor of the process (a regular file with its
# offset and flags, a pipe end, the sending socket itself) comes back with
# its message, over a seqpacket pair in the same grouping (bytes before it
# without rights), over a datagram pair, and over stream pairs, where a
# reader meets the same boundaries (the rights with the read that reaches
# their first byte, a read ending after them); inspect shows them.  A dump
# that leaves the process running leaves it the stream queue it read by
# taking it, whole.  Open files in flight that the process no longer
# holds (sk_unix_adopt.h) come back too: a pipe's two ends, a regular file
# (a stream's), and in the adopt run a pipe with bytes in it, one file
# twice, a socket with queues both ways and a socket whose own queue holds
# a file in flight; inspect shows them as only in flight, and nothing of
# them is left open in the process afterwards, restored or left running.
# Refused (exit 4, the process untouched, holding no more descriptors
# than before): a file in flight that the process holds a POSIX lock on,
# and an open file in flight that binmig would refuse anyway (a netlink
# socket), named as in flight.
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/lib.sh"
e2e_init scmrights
for mode in carried pipe file stream policy adopt locked netlink tree; do
	mkdir "$E2E_TMP/$mode"
done
e2e_state_test scmrights carried "$E2E_TMP/carried"
bm inspect "$E2E_TMP/scmrights.img"
e2e_expect_ok "inspect"
for text in "3 messages queued (13 bytes), 3 descriptors in flight" "2 messages queued (10 bytes), 2 descriptors in flight" \
	"6 messages queued (26 bytes), 4 descriptors in flight"; do
	grep -qF "$text" "$BM_OUT" || e2e_fail "inspect does not show \"$text\": $(grep -A1 ' unix ' "$BM_OUT")"
done
e2e_state_test scmrights pipe "$E2E_TMP/pipe"
e2e_state_test scmrights file "$E2E_TMP/file"
e2e_state_test scmrights stream "$E2E_TMP/stream"
e2e_state_test scmrights adopt "$E2E_TMP/adopt"
bm inspect "$E2E_TMP/scmrights.img"
e2e_expect_ok "inspect of adopt"
n=$(grep -c "only in flight in a unix socket queue" "$BM_OUT" || true)
[[ $n == 7 ]] || e2e_fail "inspect shows $n descriptors only in flight, not 7: $(cat "$BM_OUT")"
e2e_refused_dump locked "in the queue of its socket fd 4, with no descriptor of its own, on which it holds POSIX locks" -- scmrights locked "$E2E_TMP/locked"
e2e_refused_dump netlink "an open file in flight (SCM_RIGHTS) in the queue of socket fd 4 of process" \
	-- scmrights netlink "$E2E_TMP/netlink"
# left_running MODE WHAT: scmrights MODE dumped with --leave-running runs
# on as it was (its own checks: queues whole, no descriptor added).
left_running() {
	local out=$E2E_TMP/running-$1.out pid
	mkdir "$E2E_TMP/running-$1"
	e2e_start "$out" "$PROGS/scmrights" "$1" "$E2E_TMP/running-$1"
	pid=$E2E_PID
	e2e_wait_ready "$out" "$pid"
	bm dump "$pid" -o "$E2E_TMP/running-$1.img" --leave-running
	e2e_expect_ok "dump --leave-running of $1"
	e2e_signal "$pid" "$out"
	e2e_wait_exit "$pid"
	e2e_expect_pass "$out"
	e2e_log "ok: $1 dumped and left running, $2"
}
left_running carried "its queues whole"
# In a tree: the file in flight in the root's queue is held by its child
# only; adopted by the root, it comes back as the child's description.
out=$E2E_TMP/tree.out
e2e_start "$out" "$PROGS/scmrights" tree "$E2E_TMP/tree"
root=$E2E_PID
e2e_wait_ready "$out" "$root"
child=$(tr -d ' \n' <"/proc/$root/task/$root/children")
[[ -n $child ]] || e2e_fail "tree: no child"
e2e_track "$child"
e2e_wait_syscall "$root" rt_sigsuspend
for round in 1 2; do
	e2e_tree_dump_restore "$E2E_TMP/tree$round.img" "$round" "the tree" "$root" "$child"
	e2e_wait_syscall "$root" rt_sigsuspend
done
e2e_signal "$root" "$out"
e2e_wait_exit "$root"
e2e_expect_pass "$out"
e2e_log "ok: a file in flight that only a child holds, twice"
# Left running with open files given to it for the dump: they are closed
# again (the program counts its descriptors).
left_running adopt "nothing added to it"
# The data file (fd 3, after 0-2) replaced by a policy: what is in flight
# would come back as /dev/null.
e2e_refused_dump policy "unix socket fd 7: message 1 carries fd 3, which the process does not have, or a policy replaces" \
	--fd 3=null -- scmrights carried "$E2E_TMP/policy"
