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
# taking it, whole.  Refused (exit 4, naming the socket and the kind, the
# process untouched and its queue whole): a pipe end or a regular file in
# flight over a stream that the process no longer holds.
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/lib.sh"
e2e_init scmrights
for mode in carried pipe file stream policy running; do
	mkdir "$E2E_TMP/$mode"
done
e2e_state_test scmrights carried "$E2E_TMP/carried"
bm inspect "$E2E_TMP/scmrights.img"
e2e_expect_ok "inspect"
for text in "3 messages queued (13 bytes), 3 descriptors in flight" "2 messages queued (10 bytes), 2 descriptors in flight" \
	"6 messages queued (26 bytes), 4 descriptors in flight"; do
	grep -qF "$text" "$BM_OUT" || e2e_fail "inspect does not show \"$text\": $(grep -A1 ' unix ' "$BM_OUT")"
done
e2e_refused_dump pipe "with a descriptor in flight (SCM_RIGHTS) in its queue that is a pipe end not open in the process" \
	-- scmrights pipe "$E2E_TMP/pipe"
e2e_refused_dump file "in its queue that is a regular file not open in the process" -- scmrights file "$E2E_TMP/file"
e2e_state_test scmrights stream "$E2E_TMP/stream"
# Dumped and left running: its queues as they were.
out=$E2E_TMP/running.out
e2e_start "$out" "$PROGS/scmrights" carried "$E2E_TMP/running"
pid=$E2E_PID
e2e_wait_ready "$out" "$pid"
bm dump "$pid" -o "$E2E_TMP/running.img" --leave-running
e2e_expect_ok "dump --leave-running"
e2e_signal "$pid" "$out"
e2e_wait_exit "$pid"
e2e_expect_pass "$out"
e2e_log "ok: dumped and left running, its queues whole"
# The data file (fd 3, after 0-2) replaced by a policy: what is in flight
# would come back as /dev/null.
e2e_refused_dump policy "unix socket fd 7: message 1 carries fd 3, which the process does not have, or a policy replaces" \
	--fd 3=null -- scmrights carried "$E2E_TMP/policy"
