#!/usr/bin/env bash
# test-needs: hosts
# Real servers from Debian packages, migrated between the emulated hosts
# between requests, A -> B -> A, each listening on 0.0.0.0 and answered
# after every hop by a client in the other host, at the address of the
# host the server is on now:
#  - Python's HTTP server (python3 -m http.server) serving a file;
#  - redis-server with 500 keys loaded: the client reads them all back
#    and writes a new one after each hop.
# Back in A, /proc shows the same of each as before the first hop, but
# for what a running program changes itself (E2E_PROCSTATE_RUNNING) and
# the HTTP server's stderr offset (it logs each request there).
# (A client connected during a migration would be a TCP connection to a
# peer outside the process: refused, the server runs on; see
# e2e/migrate-inetsock.)
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/migrate-lib.sh"
PY=/usr/bin/python3
REDIS=/usr/bin/redis-server
REDIS_CLI=/usr/bin/redis-cli
mig_init
for f in "$PY" "$REDIS" "$REDIS_CLI"; do
	[[ -x $f ]] || e2e_fail "$f is missing (make deps)"
done
WWW=$E2E_TMP/www
mkdir -p "$WWW" "$E2E_TMP/redis"
echo "served by binmig's test, $$" >"$WWW/hello.txt"
HTTP_PORT=18080 REDIS_PORT=16379 KEYS=500

http_out=$E2E_TMP/http.out
http=$(mig_spawn A "$http_out" --pid "$MIG_WORKLOAD_PID" "$PY" -u -m http.server "$HTTP_PORT" --bind 0.0.0.0 \
	--directory "$WWW")
mig_in A "$TOOLS/waitfor" --pid "$http" "$http_out" "Serving HTTP" 30 || { e2e_show "$http_out" "$http_out.err"; e2e_fail "the HTTP server did not start"; }
redis_out=$E2E_TMP/redis.out
redis=$(mig_spawn A "$redis_out" --pid $((MIG_WORKLOAD_PID + 100)) "$REDIS" --port "$REDIS_PORT" --bind 0.0.0.0 \
	--protected-mode no --save "" --appendonly no --daemonize no --dir "$E2E_TMP/redis")
# Its log lines start with its PID and a time: asked until it answers
# (each question given 20 s, which only a server that does not answer uses).
redis_up=
for _ in $(seq 150); do
	[[ $(mig_in A timeout 20 "$REDIS_CLI" -h "${MIG_ADDR[A]}" -p "$REDIS_PORT" PING 2>/dev/null) == PONG ]] &&
		{ redis_up=1; break; }
	sleep 0.2
done
[[ -n $redis_up ]] || { e2e_show "$redis_out"; e2e_fail "redis-server did not answer PING in 150 tries"; }
# The keys, in one pipeline from the host's own client.
for i in $(seq "$KEYS"); do echo "SET key:$i value-$i-$((i * 7919))"; done |
	mig_in A timeout 30 "$REDIS_CLI" -h "${MIG_ADDR[A]}" -p "$REDIS_PORT" >/dev/null || e2e_fail "cannot load the keys"

# check_servers HOST CLIENT HOP: both answer at HOST's address, asked from CLIENT.
check_servers() {
	local h=$1 client=$2 hop=$3 got n
	got=$(mig_in "$client" timeout 20 "$PY" -c 'import sys, urllib.request
print(urllib.request.urlopen(sys.argv[1], timeout=10).read().decode(), end="")' \
		"http://${MIG_ADDR[$h]}:$HTTP_PORT/hello.txt") || e2e_fail "hop $hop: the HTTP server in host $h does not answer"
	[[ $got == "$(cat "$WWW/hello.txt")" ]] || e2e_fail "hop $hop: the HTTP server answered \"$got\""
	n=$(mig_in "$client" timeout 20 "$REDIS_CLI" -h "${MIG_ADDR[$h]}" -p "$REDIS_PORT" DBSIZE) ||
		e2e_fail "hop $hop: redis-server in host $h does not answer"
	[[ $n == $((KEYS + hop)) ]] || e2e_fail "hop $hop: redis holds $n keys, expected $((KEYS + hop))"
	for i in 1 $((KEYS / 2)) "$KEYS"; do
		got=$(mig_in "$client" timeout 20 "$REDIS_CLI" -h "${MIG_ADDR[$h]}" -p "$REDIS_PORT" GET "key:$i")
		[[ $got == "value-$i-$((i * 7919))" ]] || e2e_fail "hop $hop: key:$i is \"$got\""
	done
	got=$(mig_in "$client" timeout 20 "$REDIS_CLI" -h "${MIG_ADDR[$h]}" -p "$REDIS_PORT" SET "hop:$hop" "$h")
	[[ $got == OK ]] || e2e_fail "hop $hop: SET answered \"$got\""
}

check_servers A B 0
for pid in "$http" "$redis"; do mig_procstate_running A "$pid" "$E2E_TMP/server-$pid.proc-before"; done
here=A there=B
for hop in 1 2; do
	for pid in "$http" "$redis"; do
		mig_bm "$here" migrate "$pid" "${MIG_ADDR[$there]}:$MIG_PORT" --key "$MIG_KEY"
		e2e_expect_ok "hop $hop of $pid ($here -> $there)"
		mig_assert_running "$there" "$pid" "after hop $hop"
		mig_assert_gone "$here" "$pid" "after hop $hop"
	done
	check_servers "$there" "$here" "$hop"
	e2e_log "ok: hop $hop: both servers answer in host $there"
	tmp=$here here=$there there=$tmp
done
for pid in "$http" "$redis"; do
	mig_procstate_running A "$pid" "$E2E_TMP/server-$pid.proc-after"
	accept=$E2E_PROCSTATE_RUNNING
	# The HTTP server logs each request it answers on its stderr.
	[[ $pid == "$http" ]] && accept+='|^fd 2 pos:'
	E2E_PROCSTATE_ACCEPT=$accept e2e_procstate_same "$E2E_TMP/server-$pid.proc" "server $pid after two hops"
done
