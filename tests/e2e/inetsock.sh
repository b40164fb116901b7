#!/usr/bin/env bash
# TCP and UDP sockets (tests/progs/inetsock.c), dumped and restored on this
# host (the source is gone after the dump, so its ports are free again):
# listeners on 0.0.0.0 and ::, new, bound and connected sockets of both
# protocols and families with their options, and established loopback
# connections with unread data both ways come back; after the restore the
# IPv4 listener accepts and answers a connection the test makes to the
# port the program reported; an IPv4 client connected to a dual-stack
# listener, both ends in the process, comes back too, and so do
# SO_INCOMING_CPU and TCP_QUICKACK as the program set them.  Refused at dump (exit 4, one line naming the
# descriptor and the reason, the process untouched): a connection waiting
# to be accepted, an empty datagram queued behind another (also one the
# program peeked at an offset, which only binmig's BPF reader sees; without
# it the dump goes on), a datagram
# queued on a socket with SO_PEEK_OFF set, an IPv6
# datagram too big to be sent again whole, a datagram queued on a socket
# with SO_REUSEPORT, or on a connected socket from another sender than
# its peer, a socket filter, an option binmig does not carry, a multicast
# membership, a connection to another process, a half-closed connection,
# a raw socket; urgent data or an urgent mark ahead in a connection, urgent
# data sent and not acknowledged (read by BPF), a SO_REUSEPORT group with a
# program attached (read by BPF), an
# error waiting on a UDP socket, corked UDP data, a socket shut down in
# either direction, options only a read of every option number finds,
# two UDP sockets on one address and port
# (each checked still there after the refusal).  Refused at restore (exit 6): a port still in use.
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/lib.sh"
e2e_init inetsock

out=$E2E_TMP/carried.out
e2e_start "$out" "$PROGS/inetsock" carried "$E2E_TMP"
pid=$E2E_PID
e2e_wait_ready "$out" "$pid"
port=$(awk '$1 == "port4" { print $2 }' "$E2E_TMP/ports")
[[ $port =~ ^[0-9]+$ ]] || e2e_fail "no IPv4 listener port in $E2E_TMP/ports"
e2e_migrate_same "$pid" "$E2E_TMP/carried.img" "inetsock carried"
bm inspect "$E2E_TMP/carried.img"
e2e_expect_ok "inspect"
grep -q "tcp listening, 0.0.0.0:$port, backlog 7" "$BM_OUT" || e2e_fail "inspect does not show the listener: $(grep -E 'tcp|udp' "$BM_OUT")"
grep -q "tcp connected, 127.0.0.1:.* -> 127.0.0.1:.*bytes to send" "$BM_OUT" || e2e_fail "inspect does not show the connection"
e2e_wait_syscall "$pid" rt_sigsuspend
exec {conn}<>"/dev/tcp/127.0.0.1/$port" || e2e_fail "cannot connect to the restored listener on port $port"
printf 'from the test' >&"$conn"
e2e_signal "$pid" "$out"
reply=
read -r -t 20 reply <&"$conn" || true
exec {conn}>&-
[[ $reply == "hello from the test" ]] || { e2e_show "$out"; e2e_fail "the restored listener answered \"$reply\""; }
e2e_wait_exit "$pid"
e2e_expect_pass "$out"
e2e_log "ok: sockets carried, the listener answers after the restore"

# Program mode MODE dumped and restored here, then checked by itself.
carried_mode() {
	local out=$E2E_TMP/$1.out pid
	e2e_start "$out" "$PROGS/inetsock" "$1" "$E2E_TMP"
	pid=$E2E_PID
	e2e_wait_ready "$out" "$pid"
	e2e_migrate_same "$pid" "$E2E_TMP/$1.img" "inetsock $1"
	e2e_signal "$pid" "$out"
	e2e_wait_exit "$pid"
	e2e_expect_pass "$out"
	e2e_log "ok: $2 carried"
}

# An IPv4 client of a dual-stack listener, both ends in the process: one
# connection, its ends of two families.
carried_mode dualstack "an IPv4 client of a dual-stack listener"
# SO_INCOMING_CPU and TCP_QUICKACK, which the kernel sets as well as the
# program, set by the program to values no packet gives: read the same
# after the restore (set last, once the restore's own segments are in).
carried_mode kernelset "SO_INCOMING_CPU and TCP_QUICKACK"
# New TCP and UDP sockets shut down for writing without a port, which
# only binmig's BPF reader sees, next to sockets that are not: the first
# fail to send after the restore, the others send.
carried_mode shutwr "the shutdown of sockets without a port"
# An empty datagram at the head of a UDP queue that the program peeked:
# still marked (a peek at an offset skips it) after the restore.  One no
# peek showed is refused (below): binmig's own peeks would mark it.
carried_mode udpheadpeeked "an empty head datagram, peeked"
# Segment sizes: an idle connection's ends read the TCP_MAXSEG they read
# (no window probe moves their windows), and a connection's MSS set by
# the program (read through BPF) bounds it once it has ended.
carried_mode mss "TCP_MAXSEG of an idle connection and the MSS set by the program"
bm inspect "$E2E_TMP/mss.img"
e2e_expect_ok "inspect"
for set in 1000 1200 536; do
	grep -q "TCP_MAXSEG $set set" "$BM_OUT" || e2e_fail "inspect does not show TCP_MAXSEG $set set: $(grep -E 'tcp' "$BM_OUT")"
done
# Where binmig cannot load its BPF programs the MSS set where only they
# read it is lost: the ended connection reads its segment size instead,
# and the listener with 536 set (a new socket's) announces more.
out=$E2E_TMP/mss-nobpf.out
e2e_start "$out" "$PROGS/inetsock" mss "$E2E_TMP"
pid=$E2E_PID
e2e_wait_ready "$out" "$pid"
BINMIG_TEST_NO_BPF=1 e2e_migrate_same "$pid" "$E2E_TMP/mss-nobpf.img" "inetsock mss without BPF"
e2e_signal "$pid" "$out"
e2e_wait_exit "$pid"
grep -q "^FAIL.*not the 1000 set (the user MSS)" "$out" &&
	grep -q "^FAIL.*listener with TCP_MAXSEG 536 set sends segments of .* (the user MSS)" "$out" ||
	{ e2e_show "$out"; e2e_fail "without BPF an MSS set was carried that only BPF reads?"; }
[[ $(grep -c '^FAIL:' "$out") == 2 ]] || { e2e_show "$out"; e2e_fail "without BPF more than the MSS set differs"; }
e2e_log "ok: without BPF only the MSS set is lost, as documented"
bm inspect "$E2E_TMP/shutwr.img"
e2e_expect_ok "inspect"
[[ $(grep -c "new, 0.0.0.0:0, shut down for writing" "$BM_OUT") == 2 ]] ||
	e2e_fail "inspect does not show two sockets shut down: $(grep -E 'tcp|udp' "$BM_OUT")"

modes=(backlog udpempty udphead udphidden udppeekoff udpbig6 udpreuseport udpforeign filter ttl multicast outside halfclosed raw
	urgent urgentread soerror udpcork udpmore udpshutwr udpshutrdwr tcpshutrd v6ipttl ipoptions udpsegment
	udpsameport urgentsent reuseportbpf)
declare -A said=([backlog]="with 1 connection waiting to be accepted"
	[udpempty]="a UDP socket holding an empty datagram behind others"
	[udphead]="a UDP socket whose next datagram is empty and no peek has shown it"
	[udphidden]="a UDP socket holding an empty datagram behind others (a peek at an offset skips one a peek showed before"
	[udppeekoff]="a UDP socket with SO_PEEK_OFF set and datagrams queued"
	[udpbig6]="a UDP socket holding a datagram of 65500 bytes sent over IPv6, more than the 65488 binmig can send again in one IPv6 packet"
	[udpreuseport]="a UDP socket with SO_REUSEPORT holding datagrams"
	[udpforeign]="a connected UDP socket holding a datagram from 127.0.0.1:"
	[filter]="option SO_ATTACH_FILTER set"
	[ttl]="option IP_TTL set"
	[multicast]="a socket that joined a multicast group"
	[outside]="whose peer is not in the process"
	[halfclosed]="a TCP socket in state FIN_WAIT2"
	[raw]="binmig carries TCP and UDP"
	[urgent]="a TCP connection with urgent data (MSG_OOB) not yet read"
	[urgentread]="a TCP connection with an urgent mark (MSG_OOB) ahead in its receive queue"
	[soerror]="a UDP socket with an error not yet read"
	[udpcork]="a UDP socket with UDP_CORK set"
	[udpmore]="a UDP socket holding a datagram begun with MSG_MORE"
	[udpshutwr]="a UDP socket shut down for writing"
	[udpshutrdwr]="a UDP socket shut down for reading and writing"
	[tcpshutrd]="a TCP socket shut down for reading"
	[v6ipttl]="a UDP socket with option IP_TTL set"
	[ipoptions]="a UDP socket with option IP_OPTIONS set"
	[udpsegment]="a UDP socket with option UDP_SEGMENT set"
	[udpsameport]="is (the kernel gives their datagrams to one chosen by the order they were bound in"
	[urgentsent]="with urgent data (MSG_OOB) sent and not yet acknowledged"
	[reuseportbpf]="whose SO_REUSEPORT group has a program attached")
for mode in "${modes[@]}"; do
	e2e_refused_dump "$mode" "${said[$mode]}" -- inetsock "$mode" "$E2E_TMP"
	grep -q "^binmig: fd [0-9]* of process [0-9]* is a socket" "$BM_ERR" || e2e_fail "$mode: the refusal names no descriptor"
done

# Where binmig cannot load its BPF programs, the empty datagram the
# program peeked at an offset is not seen (docs/process-state.md): the dump
# goes on, and the queue at the source is as it was.
BINMIG_TEST_NO_BPF=1 e2e_left_dump udphidden-nobpf inetsock udphidden "$E2E_TMP"
e2e_log "ok: without BPF the hidden empty datagram goes unseen, the source's queue untouched"

# A port still taken at the restore (the original left running): exit 6,
# nothing restored, the original untouched.
out=$E2E_TMP/bound.out
e2e_start "$out" "$PROGS/inetsock" bound 127.0.0.1
pid=$E2E_PID
e2e_wait_ready "$out" "$pid"
bm dump "$pid" -o "$E2E_TMP/bound.img" --leave-running
e2e_expect_ok "dump --leave-running"
bm restore "$E2E_TMP/bound.img"
e2e_expect_error 6 "restore while the port is taken"
grep -q "a UDP socket bound to 127.0.0.1:[0-9]*, which is in use on this host" "$BM_ERR" ||
	e2e_fail "the refusal does not name the port: $(cat "$BM_ERR")"
e2e_assert_alive "$pid"
e2e_signal "$pid" "$out"
e2e_wait_exit "$pid"
e2e_expect_pass "$out"
