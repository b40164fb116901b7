#!/usr/bin/env bash
# test-needs: hosts
# The fault proxy the migration tests use (tests/tools/faultproxy.c), on
# loopback in the root namespace, between a client and a sink written in
# Perl: it forwards both ways unchanged; --drop-after N passes exactly N
# bytes and closes; --flip-at N changes exactly the lowest bit of byte N;
# it follows the frames of the wire protocol (16-byte headers, length at
# byte 4), says whether a flip landed in a header or a payload, and
# --flip-header-after N hits the length field of the first header at or
# after N; --hold-after N holds the client's bytes from N on until SIGUSR1;
# --flip-back-at N flips the lowest bit of byte N the server sends back,
# --flip-back-frame K that of the first payload byte of its frame K;
# on whole frames, --drop-frame, --repeat-frame, --swap-frames and
# --cut-frame do what they say to frame K and only to it; --record FILE
# keeps exactly what was forwarded, and --replay FILE sends it again to a
# server as a new client; bad command lines exit 2.  No binmig, no hosts.
source "$(dirname "$0")/migrate-lib.sh"


# A one-connection sink: stores what it receives in FILE, answers "ok N"
# (bytes received), or the contents of ANSWER when given, when the peer
# has finished sending, then closes.  Arguments: PORT FILE READYFILE
# [ANSWER].
# shellcheck disable=SC2016 # Perl's variables
PROXY_SELFTEST_SINK='
	my ($port, $file, $ready, $answer) = @ARGV;
	alarm 30;
	my $s = IO::Socket::INET->new(LocalAddr => "127.0.0.1", LocalPort => $port, Listen => 1, ReuseAddr => 1)
		or die "sink: listen: $!\n";
	open(my $r, ">", $ready) or die; print $r "listening\n"; close $r;
	my $c = $s->accept or die "sink: accept: $!\n";
	open(my $f, ">:raw", $file) or die "sink: $file: $!\n";
	my ($buf, $n, $total) = ("", 0, 0);
	while (($n = sysread($c, $buf, 65536)) > 0) { print $f $buf; $total += $n; }
	close $f;
	if (defined $answer) {
		open(my $in, "<:raw", $answer) or die;
		my $data = do { local $/; <$in> };
		print $c $data;
	} else {
		print $c "ok $total\n";
	}
	close $c;'

# A client: sends FILE, half-closes, writes what it gets back (or "none")
# to ANSWERFILE.  Arguments: PORT FILE ANSWERFILE.
# shellcheck disable=SC2016 # Perl's variables
PROXY_SELFTEST_CLIENT='
	alarm 30;
	my $c = IO::Socket::INET->new(PeerAddr => "127.0.0.1", PeerPort => $ARGV[0]) or die "client: $!\n";
	open(my $f, "<:raw", $ARGV[1]) or die; local $/; my $data = <$f>;
	my $off = 0;
	while ($off < length $data) {
		my $n = syswrite($c, $data, 65536, $off);
		defined $n or die "client: write: $!\n";
		$off += $n;
	}
	shutdown($c, SHUT_WR);
	my $answer = do { local $/; <$c> };
	open(my $a, ">:raw", $ARGV[2]) or die; print $a (defined $answer && length $answer ? $answer : "none\n");'

# Frames as the wire protocol cuts them (16-byte headers, length at byte
# 4), lengths 100, 5000, 70000, 10: 75174 bytes in all.
proxy_selftest_frames() { # FILE
	perl -e '
		open(my $f, ">:raw", $ARGV[0]) or die;
		my $i = 0;
		for my $len (100, 5000, 70000, 10) {
			print $f pack("a2CCVVV", "BM", 1, 4, $len, 0, 0);
			print $f pack("C", ($i++ * 37 + $_) & 255) for 1 .. $len;
		}' "$1"
}

# Runs the proxy with ARGS between a client sending FILE and the sink;
# leaves the sink's copy in $t/got, the proxy's lines in $t/proxy.out and
# the client's answer in $t/answer.
proxy_selftest_run() { # FILE [--hold] ARGS...
	local file=$1 hold='' port=$((MIG_PROXY_PORT + 100)) t=$E2E_TMP
	shift
	[[ ${1:-} == --hold ]] && { hold=1; shift; }
	rm -f "$t/got" "$t/sink.ready" "$t/proxy.out" "$t/answer"
	printf '%s' "$PROXY_SELFTEST_SINK" >"$t/sink.pl"
	printf '%s' "$PROXY_SELFTEST_CLIENT" >"$t/client.pl"
	e2e_start "$t/sink.out" perl -MIO::Socket::INET "$t/sink.pl" "$port" "$t/got" "$t/sink.ready" \
		${PROXY_SELFTEST_ANSWER:+"$PROXY_SELFTEST_ANSWER"}
	local sink=$E2E_PID
	e2e_wait_line "$t/sink.ready" listening "$sink" 10 -x
	e2e_start "$t/proxy.out" "$TOOLS/faultproxy" 127.0.0.1:$MIG_PROXY_PORT "127.0.0.1:$port" --idle 20 "$@"
	local proxy=$E2E_PID
	e2e_wait_line "$t/proxy.out" listening "$proxy" 10 -x
	e2e_start "$t/client.out" perl -MIO::Socket::INET -MSocket "$t/client.pl" "$MIG_PROXY_PORT" "$file" "$t/answer"
	local client=$E2E_PID
	if [[ -n $hold ]]; then
		e2e_wait_line "$t/proxy.out" holding "$proxy" 10
		[[ ! -e $t/answer ]] || e2e_fail "proxy: the client finished while the proxy held its data"
		kill -USR1 "$proxy"
	fi
	e2e_wait_exit "$client" 30
	e2e_wait_exit "$proxy" 30
	e2e_wait_exit "$sink" 30
	wait "$client" "$proxy" "$sink" 2>/dev/null || true
}

# The byte at OFFSET of A and B differ exactly by the lowest bit, and
# nothing else differs.
proxy_selftest_one_flip() { # A B OFFSET
	local diffs
	diffs=$(cmp -l "$1" "$2" || true)
	[[ $(wc -l <<<"$diffs") == 1 ]] || e2e_fail "proxy: expected one differing byte, got: $(head -n 3 <<<"$diffs")"
	local -a d
	read -r -a d <<<"$diffs"
	# cmp -l: 1-based offset, octal byte values.
	((d[0] - 1 == $3)) || e2e_fail "proxy: byte $((d[0] - 1)) changed, expected $3"
	(((8#${d[1]} ^ 8#${d[2]}) == 1)) || e2e_fail "proxy: byte $3 changed by more than its lowest bit"
}

proxy_selftest() {
	command -v perl >/dev/null || e2e_skip "perl is missing"
	[[ -x $TOOLS/faultproxy ]] || e2e_fail "tool $TOOLS/faultproxy not built (make test-build)"
	e2e_init_common
	local t=$E2E_TMP data=$E2E_TMP/data frames=$E2E_TMP/frames size
	head -c 300000 /dev/urandom >"$data"
	proxy_selftest_frames "$frames"
	[[ $(stat -c %s "$frames") == 75174 ]] || e2e_fail "test frames have the wrong size"

	proxy_selftest_run "$data"
	cmp -s "$data" "$t/got" || e2e_fail "proxy without a fault changed the data"
	[[ $(cat "$t/answer") == "ok 300000" ]] || e2e_fail "proxy: the answer did not come back: $(cat "$t/answer")"
	grep -qx "closed up 300000 down 10" "$t/proxy.out" || e2e_fail "proxy: $(cat "$t/proxy.out")"
	e2e_log "ok: forwards both ways unchanged"

	proxy_selftest_run "$data" --drop-after 123457
	size=$(stat -c %s "$t/got")
	((size == 123457)) || e2e_fail "proxy --drop-after 123457: the server got $size bytes"
	cmp -s "$t/got" <(head -c 123457 "$data") || e2e_fail "proxy --drop-after: the bytes differ"
	grep -qx "dropped 123457" "$t/proxy.out" || e2e_fail "proxy --drop-after: $(cat "$t/proxy.out")"
	[[ $(cat "$t/answer" 2>/dev/null) != ok* ]] || e2e_fail "proxy --drop-after: the client got an answer"
	e2e_log "ok: --drop-after"

	proxy_selftest_run "$data" --flip-at 200000
	proxy_selftest_one_flip "$data" "$t/got" 200000
	e2e_log "ok: --flip-at"

	# The sink's answer "ok 300000": 'o' (0x6f) comes back as 'n'.
	proxy_selftest_run "$data" --flip-back-at 0
	cmp -s "$data" "$t/got" || e2e_fail "proxy --flip-back-at changed the client's bytes"
	[[ $(cat "$t/answer") == "nk 300000" ]] || e2e_fail "proxy --flip-back-at 0: the answer is $(cat "$t/answer")"
	grep -qx "flipped back 0" "$t/proxy.out" || e2e_fail "proxy --flip-back-at: $(cat "$t/proxy.out")"
	e2e_log "ok: --flip-back-at"

	# The sink answers with the frames: frame 2's payload starts at 5148.
	PROXY_SELFTEST_ANSWER=$frames proxy_selftest_run "$data" --flip-back-frame 2
	cmp -s "$data" "$t/got" || e2e_fail "proxy --flip-back-frame changed the client's bytes"
	proxy_selftest_one_flip "$frames" "$t/answer" 5148
	grep -qx "flipped back 5148 (frame 2 payload byte 0)" "$t/proxy.out" ||
		e2e_fail "proxy --flip-back-frame: $(cat "$t/proxy.out")"
	e2e_log "ok: --flip-back-frame"

	# Frame 1 (5000 bytes) starts at 116, frame 2 at 5132, frame 3 at 75148.
	proxy_selftest_run "$frames" --flip-at 5140
	proxy_selftest_one_flip "$frames" "$t/got" 5140
	grep -qx "flipped 5140 (frame 2 header byte 8)" "$t/proxy.out" || e2e_fail "proxy: $(cat "$t/proxy.out")"
	proxy_selftest_run "$frames" --flip-at 6000
	grep -qx "flipped 6000 (frame 2 payload byte 852)" "$t/proxy.out" || e2e_fail "proxy: $(cat "$t/proxy.out")"
	proxy_selftest_run "$frames" --flip-header-after 117
	proxy_selftest_one_flip "$frames" "$t/got" $((5132 + 4))
	grep -qx "flipped 5136 (frame 2 header byte 4)" "$t/proxy.out" || e2e_fail "proxy: $(cat "$t/proxy.out")"
	proxy_selftest_run "$frames" --flip-header-after 5132
	grep -qx "flipped 5136 (frame 2 header byte 4)" "$t/proxy.out" || e2e_fail "proxy: $(cat "$t/proxy.out")"
	e2e_log "ok: frames are followed; --flip-header-after"

	# Frames: 0 at 0 (116 bytes), 1 at 116 (5016), 2 at 5132 (70016), 3 at 75148 (26).
	local f0 f1 f2 f3
	f0=$t/f0 f1=$t/f1 f2=$t/f2 f3=$t/f3
	part() { dd if="$frames" of="$1" iflag=skip_bytes,count_bytes bs=64K skip="$2" count="$3" status=none; }
	part "$f0" 0 116
	part "$f1" 116 5016
	part "$f2" 5132 70016
	part "$f3" 75148 26
	proxy_selftest_run "$frames" --drop-frame 1 --record "$t/recorded"
	cmp -s "$t/got" <(cat "$f0" "$f2" "$f3") || e2e_fail "proxy --drop-frame 1: the server got other bytes"
	grep -qx "dropped frame 1 (type 4, 5016 bytes)" "$t/proxy.out" || e2e_fail "proxy: $(cat "$t/proxy.out")"
	cmp -s "$t/got" "$t/recorded" || e2e_fail "proxy --record: the recording differs from what was forwarded"
	proxy_selftest_run "$frames" --repeat-frame 1
	cmp -s "$t/got" <(cat "$f0" "$f1" "$f1" "$f2" "$f3") || e2e_fail "proxy --repeat-frame 1: the server got other bytes"
	grep -qx "repeated frame 1 (type 4, 5016 bytes)" "$t/proxy.out" || e2e_fail "proxy: $(cat "$t/proxy.out")"
	proxy_selftest_run "$frames" --swap-frames 1
	cmp -s "$t/got" <(cat "$f0" "$f2" "$f1" "$f3") || e2e_fail "proxy --swap-frames 1: the server got other bytes"
	grep -qx "swapped frames 1 and 2 (the second: type 4, 70016 bytes)" "$t/proxy.out" ||
		e2e_fail "proxy: $(cat "$t/proxy.out")"
	proxy_selftest_run "$frames" --cut-frame 2
	cmp -s "$t/got" <(cat "$f0" "$f1") || e2e_fail "proxy --cut-frame 2: the server got other bytes"
	grep -qx "cut at frame 2 (byte 5132)" "$t/proxy.out" || e2e_fail "proxy: $(cat "$t/proxy.out")"
	e2e_log "ok: --drop-frame, --repeat-frame, --swap-frames, --cut-frame, --record"

	# A replay is a new client: the sink gets the recording and answers.
	local port=$((MIG_PROXY_PORT + 100))
	rm -f "$t/got" "$t/sink.ready"
	e2e_start "$t/sink.out" perl -MIO::Socket::INET "$t/sink.pl" "$port" "$t/got" "$t/sink.ready"
	local sink=$E2E_PID
	e2e_wait_line "$t/sink.ready" listening "$sink" 10 -x
	"$TOOLS/faultproxy" --replay "$t/recorded" "127.0.0.1:$port" --idle 20 >"$t/replay.out" ||
		e2e_fail "proxy --replay failed: $(cat "$t/replay.out")"
	e2e_wait_exit "$sink" 30
	cmp -s "$t/got" "$t/recorded" || e2e_fail "proxy --replay: the server got other bytes"
	grep -qx "replayed $(stat -c %s "$t/recorded") back 9" "$t/replay.out" || e2e_fail "proxy --replay: $(cat "$t/replay.out")"
	e2e_log "ok: --replay"

	proxy_selftest_run "$data" --hold --hold-after 70000
	grep -qx "holding 70000" "$t/proxy.out" || e2e_fail "proxy --hold-after: $(cat "$t/proxy.out")"
	grep -qx "released" "$t/proxy.out" || e2e_fail "proxy --hold-after: not released: $(cat "$t/proxy.out")"
	cmp -s "$data" "$t/got" || e2e_fail "proxy --hold-after: the data changed"
	[[ $(cat "$t/answer") == "ok 300000" ]] || e2e_fail "proxy --hold-after: answer $(cat "$t/answer")"
	e2e_log "ok: --hold-after and release"

	local rc=0
	"$TOOLS/faultproxy" 127.0.0.1:1 127.0.0.1:2 --flip-at 1 --drop-after 2 2>/dev/null || rc=$?
	((rc == 2)) || e2e_fail "proxy with two faults: exit $rc, expected 2"
	rc=0
	"$TOOLS/faultproxy" 127.0.0.1:1 127.0.0.1:2 --flip-at x 2>/dev/null || rc=$?
	((rc == 2)) || e2e_fail "proxy with a bad number: exit $rc, expected 2"
	rc=0
	"$TOOLS/faultproxy" 127.0.0.1:1 127.0.0.1:2 --drop-frame 1 --swap-frames 2 2>/dev/null || rc=$?
	((rc == 2)) || e2e_fail "proxy with two frame faults: exit $rc, expected 2"
	e2e_log "ok: usage errors"
}

proxy_selftest
