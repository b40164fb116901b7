#!/usr/bin/env bash
# UNIX-domain sockets (tests/progs/unixsock.c, migrator/sk_unix.c), dumped
# and restored here: every kind binmig carries comes back with its names,
# peers, queues (message boundaries, senders, credentials), accept queue,
# shutdown state (also one end of a seqpacket or datagram pair shut down
# for reading, a client shut down before it connected, which its accepted
# end does not see), sockets never connected (named or not),
# options and SO_PEERCRED (also for a process running as
# nobody, whose supplementary groups SO_PEERGROUPS shows too), and still
# carries data; refused (exit 4,
# one line, the process untouched and its queues whole): a device (a
# pseudo-terminal master) in flight that it holds no descriptor of (tests/e2e/scmrights.sh has the others), another process's credentials in flight, a pair made by another
# process (SO_PEERCRED names it), a peer outside the process, a peer that closed, an out-of-band byte, a waiting connection
# that already sent data, a path in a removed directory, a pair made before
# the process changed its supplementary groups, a client waiting in an
# accept queue that shut down (before or after it connected cannot be
# told), the other end of a
# pair one end of which --fd replaces.  A path taken by
# another file, or an abstract name taken by another socket, at restore is
# refused (exit 6) and the restore succeeds once it is free again.
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/lib.sh"
e2e_init unixsock
for mode in carried user rights emptydgram foreign forked outside closed oob oobinline waiting removed groups path \
	shutrd shutpre unconn waitshut; do
	mkdir "$E2E_TMP/$mode"
done
e2e_state_test unixsock carried "$E2E_TMP/carried"
[[ $(stat -c %a "$E2E_TMP/carried/seq.sock") == 640 ]] || e2e_fail "seq.sock lost its mode"
bm inspect "$E2E_TMP/unixsock.img"
e2e_expect_ok "inspect"
for text in "stream, name @binmig-" "listening (backlog 7, 2 waiting)" "seqpacket, name $E2E_TMP/carried/seq.sock" \
	"waiting to be accepted" "datagram, name $E2E_TMP/carried/dgram.sock" "4 messages queued (41 bytes)" \
	"shut down for writing" "2 messages queued (11 bytes)"; do
	grep -qF "$text" "$BM_OUT" || e2e_fail "inspect does not show \"$text\": $(grep -A1 ' unix ' "$BM_OUT")"
done
e2e_state_test unixsock user "$E2E_TMP/user"
# Shutdown states: one end of a seqpacket or datagram pair shut down for
# reading; clients shut down before they connected, whose accepted ends
# do not see it; sockets never connected, named or not.
for mode in shutrd shutpre unconn; do
	e2e_state_test unixsock "$mode" "$E2E_TMP/$mode"
done

refused() { # MODE TEXT
	local out=$E2E_TMP/$1.out
	e2e_start "$out" "$PROGS/unixsock" "$1" "$E2E_TMP/$1"
	local pid=$E2E_PID peer
	e2e_wait_ready "$out" "$pid"
	peer=$(sed -n 's/^peer //p' "$out")
	[[ -z $peer ]] || e2e_track "$peer"
	bm dump "$pid" -o "$E2E_TMP/$1.img"
	e2e_expect_error 4 "dump with $1"
	grep -qF "$2" "$BM_ERR" || e2e_fail "$1: the refusal does not say \"$2\": $(cat "$BM_ERR")"
	grep -Eq "fd [0-9]+ of process $pid is a socket \(socket:\[[0-9]+\]\)|process $pid: |queue of socket fd [0-9]+ of process $pid," "$BM_ERR" ||
		e2e_fail "$1: the refusal does not name the descriptor: $(cat "$BM_ERR")"
	[[ ! -e $E2E_TMP/$1.img ]] || e2e_fail "$1: an image was left"
	e2e_assert_alive "$pid"
	e2e_signal "$pid" "$out"
	e2e_wait_exit "$pid"
	e2e_expect_pass "$out"
	e2e_log "ok: $1 refused: $(cat "$BM_ERR")"
}
refused rights "an open file in flight (SCM_RIGHTS) in the queue of socket fd 4 of process"
refused emptydgram "holding an empty message behind others"
refused foreign "with the credentials of process"
refused forked "whose peer credentials (SO_PEERCRED) name process"
refused outside "whose peer is outside the process"
refused closed "whose peer has closed, with data still queued"
refused oob "out-of-band byte"
refused oobinline "or data with SO_OOBINLINE set"
refused waiting "waiting in an accept queue with data already sent"
refused removed "which no longer names it"
refused groups "whose peer credentials carry other supplementary groups (SO_PEERGROUPS) than the process has now"
refused waitshut "waiting in an accept queue and shut down"

# One end of a pair given a policy: the other end has lost its peer.
out=$E2E_TMP/policy.out
mkdir "$E2E_TMP/policy"
e2e_start "$out" "$PROGS/unixsock" oob "$E2E_TMP/policy"
pid=$E2E_PID
e2e_wait_ready "$out" "$pid"
bm dump "$pid" -o "$E2E_TMP/policy.img" --fd 3=close
e2e_expect_error 4 "dump with one end of a pair closed by --fd"
grep -qF "fd 4 of process $pid is a socket" "$BM_ERR" && grep -qF "whose peer here, fd 3, is replaced by a policy" "$BM_ERR" ||
	e2e_fail "the refusal does not name the policy: $(cat "$BM_ERR")"
e2e_assert_alive "$pid"
e2e_signal "$pid" "$out"
e2e_wait_exit "$pid"
e2e_expect_pass "$out"

# An abstract name taken at the destination by another socket.
out=$E2E_TMP/squat.out
mkdir "$E2E_TMP/squat"
e2e_start "$out" "$PROGS/unixsock" user "$E2E_TMP/squat"
pid=$E2E_PID
e2e_wait_ready "$out" "$pid"
e2e_wait_syscall "$pid" rt_sigsuspend
e2e_dump "$pid" "$E2E_TMP/squat.img"
e2e_start "$E2E_TMP/squatter.out" python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(b"\0binmig-" + sys.argv[1].encode() + b"-user")
print("ready", flush=True)
time.sleep(60)' "$pid"
squatter=$E2E_PID
e2e_wait_ready "$E2E_TMP/squatter.out" "$squatter"
bm restore "$E2E_TMP/squat.img"
e2e_expect_error 6 "restore onto a taken abstract name"
grep -qF "the abstract unix socket name @binmig-$pid-user is taken here" "$BM_ERR" ||
	e2e_fail "the restore does not name the abstract name: $(cat "$BM_ERR")"
e2e_assert_no_pid "$pid"
kill "$squatter"
wait "$squatter" || true
e2e_restore "$E2E_TMP/squat.img" "$pid"
e2e_wait_syscall "$pid" rt_sigsuspend
e2e_signal "$pid" "$out"
e2e_wait_exit "$pid"
e2e_expect_pass "$out"

# The path of a socket taken at the destination by another file.
out=$E2E_TMP/path.out
e2e_start "$out" "$PROGS/unixsock" path "$E2E_TMP/path"
pid=$E2E_PID
e2e_wait_ready "$out" "$pid"
e2e_wait_syscall "$pid" rt_sigsuspend
e2e_dump "$pid" "$E2E_TMP/path.img"
rm "$E2E_TMP/path/p.sock"
echo squatter >"$E2E_TMP/path/p.sock"
bm restore "$E2E_TMP/path.img"
e2e_expect_error 6 "restore onto a taken path"
grep -qF "the unix socket path $E2E_TMP/path/p.sock is taken by another file" "$BM_ERR" ||
	e2e_fail "the restore does not name the taken path: $(cat "$BM_ERR")"
e2e_assert_no_pid "$pid"
rm "$E2E_TMP/path/p.sock"
e2e_restore "$E2E_TMP/path.img" "$pid"
e2e_wait_syscall "$pid" rt_sigsuspend
e2e_signal "$pid" "$out"
e2e_wait_exit "$pid"
e2e_expect_pass "$out"
