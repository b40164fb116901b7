#!/usr/bin/env bash
# Descriptors in flight (SCM_RIGHTS) in unix socket queues
# (tests/progs/scmrights.c, migrator/sk_unix_rights.c): each the same open
# file description as a descriptor of the process (a regular file with its
# offset and flags, a pipe end, the sending socket itself) comes back with
# its message, over a stream pair in the same grouping (bytes before it
# without rights) and over a datagram pair; inspect shows them.  Refused
# (exit 4, naming the socket and the kind, the process untouched and its
# queue whole): a pipe end or a regular file in flight that the process no
# longer holds.
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/lib.sh"
e2e_init scmrights
for mode in carried pipe file stream policy; do
	mkdir "$E2E_TMP/$mode"
done
e2e_state_test scmrights carried "$E2E_TMP/carried"
bm inspect "$E2E_TMP/scmrights.img"
e2e_expect_ok "inspect"
for text in "3 messages queued (13 bytes), 3 descriptors in flight" "2 messages queued (10 bytes), 2 descriptors in flight"; do
	grep -qF "$text" "$BM_OUT" || e2e_fail "inspect does not show \"$text\": $(grep -A1 ' unix ' "$BM_OUT")"
done
e2e_refused_dump pipe "with a descriptor in flight (SCM_RIGHTS) in its queue that is a pipe end not open in the process" \
	-- scmrights pipe "$E2E_TMP/pipe"
e2e_refused_dump file "in its queue that is a regular file not open in the process" -- scmrights file "$E2E_TMP/file"
e2e_refused_dump stream "(a stream) with descriptors in flight (SCM_RIGHTS) in its queue: which bytes they ride with" \
	-- scmrights stream "$E2E_TMP/stream"
# The data file (fd 3, after 0-2) replaced by a policy: what is in flight
# would come back as /dev/null.
e2e_refused_dump policy "unix socket fd 7: message 1 carries fd 3, which the process does not have, or a policy replaces" \
	--fd 3=null -- scmrights carried "$E2E_TMP/policy"
