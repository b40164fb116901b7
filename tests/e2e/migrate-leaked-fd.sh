#!/usr/bin/env bash
# test-needs: hosts
# --fd across the emulated hosts (fd-policy.sh covers dump and restore).
# A program (leaked) is started in host A holding, at fd 251, the write end
# of a pipe whose read end is in another process that stays in A.
# Migrating it to B without --fd is refused (exit 4, the message names fd
# 251 and "--fd 251=null|close|file:PATH|broken") and it runs on in A,
# untraced.  With --fd 251=null it moves to B; serve in B logs the
# replacement in one line (what fd 251 was, that it is /dev/null now, and
# the option); the program finds /dev/null there (writes succeed, access
# mode and flags kept) and passes.  Brings the hosts up: run it under
# flock /tmp/binmig-hosts.lock like every migrate-* test.
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/migrate-lib.sh"
source "$(dirname "$0")/threads-lib.sh"
mig_init
[[ -x $PROGS/leaked ]] || e2e_fail "test program $PROGS/leaked not built (make test-build)"
FD=251

out=$E2E_TMP/leaked.out
pid=$(mig_spawn A "$out" "$PROGS/leaked" pipe-write "$FD" null)
mig_in A "$TOOLS/waitfor" --pid "$pid" "$out" ready 20 || { e2e_show "$out"; e2e_fail "leaked did not get ready in host A"; }
peer=$(sed -n 's/^peer //p' "$out")
link=$(mig_in A readlink "/proc/$pid/fd/$FD")
[[ $link == pipe:* ]] || e2e_fail "fd $FD of $pid in host A is $link, not a pipe"
e2e_log "leaked $pid in host A, fd $FD $link to its peer $peer there"

# Without --fd: refused, and it runs on in A.
mig_bm A migrate "$pid" "${MIG_ADDR[B]}:$MIG_PORT" --key "$MIG_KEY"
((BM_RC == 4)) || e2e_fail "migrate without --fd: exit $BM_RC, expected 4: $(head -n 3 "$BM_ERR")"
[[ $(wc -l <"$BM_ERR") == 1 ]] || e2e_fail "migrate without --fd: $(wc -l <"$BM_ERR") lines on stderr"
grep -qF "fd $FD of process $pid is an anonymous pipe ($link) whose other end is outside the process; binmig cannot migrate it (--fd $FD=null|close|file:PATH|broken lets it go)" "$BM_ERR" ||
	e2e_fail "migrate without --fd: the message does not name fd $FD and --fd: $(<"$BM_ERR")"
[[ ! -s $BM_OUT ]] || e2e_fail "a refused migrate printed on stdout: $(head -c 200 "$BM_OUT")"
mig_assert_running A "$pid" "after the refused migrate"
mig_in B "$TOOLS/pidwait" "$pid" 0 || e2e_fail "after the refused migrate a process $pid exists in host B"

# With --fd 251=null: to B.
started=$(mig_starttime A "$pid")
mig_bm A migrate "$pid" "${MIG_ADDR[B]}:$MIG_PORT" --key "$MIG_KEY" --fd "$FD=null"
e2e_expect_ok "migrate --fd $FD=null"
mig_assert_running B "$pid" "after migrate --fd $FD=null"
left_source A "$pid" "$started" "after migrate --fd $FD=null"
target=$(mig_in B readlink "/proc/$pid/fd/$FD")
[[ $target == /dev/null ]] || e2e_fail "after migrate --fd $FD=null, fd $FD in host B is $target"
line="process $pid: fd $FD was an anonymous pipe ($link), now /dev/null, write-only (--fd $FD=null)"
mig_wait_log B "binmig serve: $line" 1 "serve's report of the replaced descriptor"
# The peer left behind in A ended with the original.
mig_in A "$TOOLS/pidwait" "$peer" 10 || e2e_fail "the peer $peer in host A outlived the original"

mig_in B kill -USR1 "$pid"
mig_in B "$TOOLS/pidwait" "$pid" 20 || e2e_fail "leaked $pid did not finish in host B"
e2e_expect_pass "$out"
e2e_log "ok: fd $FD went to host B as /dev/null, serve logged: $line"
