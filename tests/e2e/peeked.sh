#!/usr/bin/env bash
# Empty messages the process peeked (migrator/sk_unix_peeked.c,
# tests/progs/peekedmsg.c): in socket pairs, a seqpacket pair and a
# datagram socket connected one way, those it
# peeked (at an offset, and at the head) and those it did not come back
# marked and unmarked as they were, after a dump and restore here (the
# program compares what a walk of each queue with peeks shows, and what
# reads take), and so do the source's after dump --leave-running; a
# named datagram socket with SO_PEEK_OFF set and messages
# queued, whose queue binmig cannot take, is refused (exit 4, the process
# untouched, its queue whole).  Such a socket with an empty message
# behind another that the process peeked at an offset, SO_PEEK_OFF off
# again, which no peek shows, is refused where binmig's BPF reader sees
# it (hidden), and goes unseen without it (the dump goes on, the source
# untouched); an empty message at the head of such a queue comes back
# marked as it was after a dump and restore (head: one peeked, one not),
# and dump --leave-running, whose peek would mark one not peeked in the
# original, is refused (the heads then as they were).
# tests/e2e/migrate-state.sh carries carried and head across two hops
# between the emulated hosts.
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/lib.sh"
e2e_init peekedmsg
e2e_state_test peekedmsg carried "$E2E_TMP"

# Dumped and left running: the queues taken and written back at the
# source, marked again as they were.
e2e_left_dump left peekedmsg carried "$E2E_TMP"
e2e_log "ok: the queues at the source after dump --leave-running"

out=$E2E_TMP/refused.out
e2e_start "$out" "$PROGS/peekedmsg" refused "$E2E_TMP"
pid=$E2E_PID
e2e_wait_ready "$out" "$pid"
bm dump "$pid" -o "$E2E_TMP/refused.img"
e2e_expect_error 4 "dump of a named datagram socket with SO_PEEK_OFF set"
grep -qF "with SO_PEEK_OFF set and messages queued" "$BM_ERR" || e2e_fail "the refusal does not say why: $(cat "$BM_ERR")"
[[ ! -e $E2E_TMP/refused.img ]] || e2e_fail "an image was left"
e2e_assert_alive "$pid"
e2e_signal "$pid" "$out"
e2e_wait_exit "$pid"
e2e_expect_pass "$out"
e2e_log "ok: refused: $(cat "$BM_ERR")"

e2e_refused_dump hidden "holding an empty message behind others (a peek at an offset skips one a peek showed before" \
	-- peekedmsg hidden "$E2E_TMP"

# Without binmig's BPF reader the hidden message goes unseen: the dump goes
# on, and the queue at the source is as it was.
BINMIG_TEST_NO_BPF=1 e2e_left_dump hidden-nobpf peekedmsg hidden "$E2E_TMP"
e2e_log "ok: without BPF the hidden message goes unseen, the source's queue untouched"

# The heads, one marked, one not, come back as they were after a dump and
# restore.  dump --leave-running is refused: its own peek at the head would
# mark the second in the original, which runs on (docs/process-state.md);
# the process is untouched, both heads as they were.
out=$E2E_TMP/head.out
e2e_start "$out" "$PROGS/peekedmsg" head "$E2E_TMP"
pid=$E2E_PID
e2e_wait_ready "$out" "$pid"
e2e_wait_syscall "$pid" rt_sigsuspend
bm dump "$pid" -o "$E2E_TMP/head-left.img" --leave-running
e2e_expect_error 4 "dump --leave-running of an unmarked empty head"
grep -q "has at its head an empty message no peek has shown: the dump's peek would mark it in the process, which runs on" \
	"$BM_ERR" || e2e_fail "the refusal does not say why: $(cat "$BM_ERR")"
[[ ! -e $E2E_TMP/head-left.img ]] || e2e_fail "the refused dump left an image"
e2e_assert_alive "$pid"
e2e_wait_syscall "$pid" rt_sigsuspend
e2e_migrate "$pid" "$E2E_TMP/head.img"
e2e_wait_syscall "$pid" rt_sigsuspend
e2e_signal "$pid" "$out"
e2e_wait_exit "$pid"
e2e_expect_pass "$out"
e2e_log "ok: the empty heads come back marked as they were"
