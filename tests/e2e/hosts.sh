#!/usr/bin/env bash
# test-needs: hosts
# The emulated hosts (harness/hosts): up, what each host sees of itself,
# TCP between the hosts over their veth link, the `--serve` hook, a failing
# up that cleans up after itself, and down leaving nothing behind.
# Traffic goes only between the two namespaces this test creates.
set -euo pipefail
cd "$(dirname "$0")/../.."
hosts=harness/hosts
state=/run/binmig-hosts

[[ $EUID -eq 0 ]] || { echo "skipped: needs root"; exit 77; }
for tool in ip ss unshare nsenter gcc perl timeout; do
	command -v "$tool" >/dev/null || { echo "skipped: $tool is missing"; exit 77; }
done
rc=0
$hosts status >/dev/null 2>&1 || rc=$?
if ((rc != 3)); then
	echo "skipped: emulated hosts (or parts of them) exist already; harness/hosts down removes them"
	exit 77
fi

tmp=$(mktemp -d /tmp/binmig-hosts-test.XXXXXX)
cleanup() {
	local status=$?
	if ((status)); then
		echo "--- status at failure:"
		$hosts status || true
		tail -n 20 "$state"/*.log 2>/dev/null || true
	fi
	$hosts down >/dev/null 2>&1 || echo "cleanup: harness/hosts down failed" >&2
	rm -rf "$tmp"
	exit "$status"
}
trap cleanup EXIT

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

# "PID STARTTIME" of every process the hosts recorded.
recorded() { cat "$state"/*.init "$state"/*.unshare "$state"/serve-*.pid "$state"/serve-*.nsenter 2>/dev/null || true; }

alive() { # PID STARTTIME: that very process exists and has not ended
	local stat rest
	{ read -r stat <"/proc/$1/stat"; } 2>/dev/null || return 1
	rest=${stat##*) }
	# shellcheck disable=SC2086
	set -- "$1" "$2" $rest
	[[ $3 != Z && ${22} == "$2" ]]
}

check_nothing_left() { # "PID STARTTIME" lines recorded while up
	local pid t
	if ip netns list | grep -q '^binmig-[AB]\b'; then fail "network namespaces left: $(ip netns list)"; fi
	for dev in binmig-a binmig-b; do
		if ip link show "$dev" >/dev/null 2>&1; then fail "interface $dev left in the root namespace"; fi
	done
	while read -r pid t; do
		[[ -n $pid ]] || continue
		if alive "$pid" "$t"; then fail "process $pid is still running after down"; fi
	done <<<"$1"
	rc=0
	$hosts status >/dev/null || rc=$?
	((rc == 3)) || fail "status after down exits $rc, not 3"
}

echo "== up"
$hosts up
$hosts status >"$tmp/status" || fail "status after up exits non-zero: $(cat "$tmp/status")"
grep -q '^host A: up' "$tmp/status" || fail "status does not show host A up"
grep -q '^host B: up' "$tmp/status" || fail "status does not show host B up"
records=$(recorded)
[[ $(wc -l <<<"$records") -eq 4 ]] || fail "expected 4 recorded processes, found: $records"

echo "== a second up is refused and leaves the hosts alone"
if $hosts up 2>"$tmp/err"; then fail "a second up succeeded"; fi
grep -q 'exist already' "$tmp/err" || fail "a second up said: $(cat "$tmp/err")"
$hosts status >/dev/null || fail "the hosts are not up after a refused up"

echo "== each host has its own name"
name_cmd=(uname -n)
command -v hostname >/dev/null && name_cmd=(hostname)
[[ $($hosts exec A -- "${name_cmd[@]}") == binmig-a ]] || fail "host A's name is not binmig-a"
[[ $($hosts exec B -- "${name_cmd[@]}") == binmig-b ]] || fail "host B's name is not binmig-b"
[[ $(uname -n) != binmig-? ]] || fail "the root namespace's host name changed"

echo "== each host has its own PIDs and /proc"
read -r init_b _ <"$state/B.init"
[[ $($hosts exec B -- cat /proc/1/comm) == hostinit ]] || fail "PID 1 in host B is not hostinit"
grep -qP "^NSpid:\t$init_b\t1$" "/proc/$init_b/status" || fail "host B's init is not PID 1 of its own namespace"
# A process in B reports its PID as B sees it, then waits; the root's view
# of that same process (found by its namespace and inner PID) differs.
# shellcheck disable=SC2016 # expanded in host B
coproc INNER { exec $hosts exec B -- sh -c 'read -r pid rest </proc/self/stat; echo "$pid"; read -r _'; }
# Copies: bash unsets a coprocess's variables as soon as it ends.
# shellcheck disable=SC2153 # set by coproc
inner_job=$INNER_PID inner_in=${INNER[1]}
read -r -t 20 -u "${INNER[0]}" inner_pid || fail "no PID from the process in host B"
ns_b=$(readlink "/proc/$init_b/ns/pid")
outer_pid=""
for status_file in /proc/[0-9]*/status; do
	p=${status_file#/proc/}
	p=${p%/status}
	[[ $(readlink "/proc/$p/ns/pid" 2>/dev/null) == "$ns_b" ]] || continue
	nspid=$(grep -P '^NSpid:' "$status_file" 2>/dev/null) || continue
	[[ $nspid =~ [[:space:]]$inner_pid$ && $p != "$inner_pid" ]] && outer_pid=$p
done
echo >&"$inner_in"
wait "$inner_job"
[[ -n $outer_pid ]] || fail "no process in host B's PID namespace has inner PID $inner_pid with a different root PID"
echo "process in B: PID $inner_pid inside, $outer_pid in the root namespace"
procs_b=$($hosts exec B -- sh -c 'ls /proc | grep -c "^[0-9]"')
((procs_b < 10)) || fail "host B's /proc shows $procs_b processes: not its own /proc"

echo "== TCP from A to B over the veth link"
# shellcheck disable=SC2016 # Perl's variables
coproc LISTENER {
	exec $hosts exec B -- perl -MIO::Socket::INET -e '
		$SIG{ALRM} = sub { die "listener: no connection within 20 s\n" };
		alarm 20;
		my $s = IO::Socket::INET->new(LocalAddr => "10.77.0.2", LocalPort => 7799, Listen => 1, ReuseAddr => 1)
			or die "listen: $!\n";
		$| = 1;
		print "listening\n";
		my $c = $s->accept or die "accept: $!\n";
		my $line = <$c>;
		chomp $line;
		print $c $c->peerhost . " says $line\n";
		close $c;
		print "served\n";'
}
listener_job=$LISTENER_PID
exec {listener_out}<&"${LISTENER[0]}"
read -r -t 20 -u "$listener_out" line || fail "the listener in host B did not start"
[[ $line == listening ]] || fail "the listener said: $line"
# shellcheck disable=SC2016 # expanded in host A
reply=$(timeout 20 $hosts exec A -- bash -c \
	'exec 3<>/dev/tcp/10.77.0.2/7799 && echo hello >&3 && read -r -t 10 line <&3 && echo "$line"') ||
	fail "no TCP connection from A to B"
[[ $reply == "10.77.0.1 says hello" ]] || fail "B answered: $reply"
read -r -t 20 -u "$listener_out" line || fail "the listener in host B did not finish"
[[ $line == served ]] || fail "the listener said: $line"
wait "$listener_job" || fail "the listener in host B failed"
exec {listener_out}<&-

echo "== down"
$hosts down
check_nothing_left "$records"

echo "== up --serve starts a server in each host, down stops it"
cat >"$tmp/fake-binmig" <<'EOF'
#!/usr/bin/env bash
# Stands in for `binmig serve --listen ADDR:PORT --key KEYFILE`: answers
# every connection with its host's name.
[[ $# -eq 5 && $1 == serve && $2 == --listen && $4 == --key && -r $5 ]] || { echo "bad arguments: $*" >&2; exit 2; }
echo "serving on $3"
exec perl -MIO::Socket::INET -e '
	my $s = IO::Socket::INET->new(LocalAddr => $ARGV[0], LocalPort => $ARGV[1], Listen => 5, ReuseAddr => 1)
		or die "listen: $!\n";
	chomp(my $name = `uname -n`);
	while (my $c = $s->accept) { print $c "serve on $name\n"; close $c; }' "${3%:*}" "${3##*:}"
EOF
chmod +x "$tmp/fake-binmig"
(umask 077 && echo key >"$tmp/key")
$hosts up --serve "$tmp/fake-binmig" --key "$tmp/key" --port 7798 >"$tmp/status"
grep -q '^host A: up.* serve [0-9]' "$tmp/status" || fail "status does not show a server in A: $(cat "$tmp/status")"
grep -q '^host B: up.* serve [0-9]' "$tmp/status" || fail "status does not show a server in B: $(cat "$tmp/status")"
grep -q 'serving on 10.77.0.1:7798' "$state/serve-A.log" || fail "serve-A.log: $(cat "$state/serve-A.log")"
ask() { # FROM TO_ADDR
	timeout 20 $hosts exec "$1" -- bash -c "exec 3<>/dev/tcp/$2/7798 && read -r -t 10 line <&3 && echo \"\$line\""
}
[[ $(ask A 10.77.0.2) == "serve on binmig-b" ]] || fail "the server in B did not answer A"
[[ $(ask B 10.77.0.1) == "serve on binmig-a" ]] || fail "the server in A did not answer B"
records=$(recorded)
[[ $(wc -l <<<"$records") -eq 8 ]] || fail "expected 8 recorded processes, found: $records"
$hosts down
check_nothing_left "$records"

echo "== an up that fails removes what it created"
if $hosts up --serve /bin/false --key "$tmp/key" --port 7798 2>"$tmp/err"; then fail "up with a failing server succeeded"; fi
grep -q 'exited before listening' "$tmp/err" || fail "the failing up said: $(cat "$tmp/err")"
grep -q 'removing what it created' "$tmp/err" || fail "the failing up did not clean up: $(cat "$tmp/err")"
check_nothing_left ""

echo "PASS"
