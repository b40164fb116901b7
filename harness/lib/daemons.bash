# harness run (harness/run): the binmig serve daemons the driver starts
# itself: both on hosts reached over ssh, and the new build's in an A/B
# run.  Each is recorded as "HOST PID PORT" and stopped by that PID (its
# command line checked first) on every way out.  Sourced by the driver.
# shellcheck shell=bash

DAEMONS=()
SERVE_READY_TIMEOUT=10

# serve_start HOST BINMIG PORT: BINMIG serve on ADDR[HOST]:PORT with the
# run's key, detached, logging to serve-HOST-PORT.log; returns once it
# listens (or dies saying why).
serve_start() {
	local h=$1 binmig=$2 port=$3 pid log=$LIVE_LOGS/serve-$1-$3.log
	# shellcheck disable=SC2016 # expanded in the host
	pid=$(in_host "$h" bash -c '
		for fd in /proc/$$/fd/*; do
			fd=${fd##*/}
			((fd > 2)) && { eval "exec $fd>&-"; } 2>/dev/null
		done
		log=$1
		shift
		setsid "$@" </dev/null >>"$log" 2>&1 &
		echo $!' harness-serve "$log" "$binmig" serve --listen "${ADDR[$h]}:$port" --key "$KEY" \
		"${SERVE_SEAL_ARGS[@]}") ||
		die "cannot start binmig serve in host $h"
	is_uint "$pid" || die "cannot start binmig serve in host $h: $(one_line "$pid")"
	DAEMONS+=("$h $pid $port")
	local deadline=$((SECONDS + SERVE_READY_TIMEOUT))
	# binmig serve says nothing when it is ready: look for its socket.
	until [[ -n $(in_host "$h" ss -Hltn "sport = :$port" 2>/dev/null) ]]; do
		in_host "$h" kill -0 "$pid" 2>/dev/null ||
			die "binmig serve in host $h exited before listening: $(one_line "$(tail -n 3 "$log")")"
		((SECONDS < deadline)) || die "binmig serve in host $h is not listening on ${ADDR[$h]}:$port after ${SERVE_READY_TIMEOUT}s"
		sleep 0.1
	done
}

# serve_stop_all: every daemon serve_start started, TERM then KILL.
serve_stop_all() {
	local entry h pid port
	for entry in "${DAEMONS[@]}"; do
		read -r h pid port <<<"$entry"
		# shellcheck disable=SC2016 # expanded in the host
		in_host "$h" bash -c '[[ $(tr "\0" " " </proc/$1/cmdline 2>/dev/null) == *" serve --listen "*":$2 "* ]] || exit 0
			kill -TERM "$1"
			"$3" "$1" 5 >/dev/null 2>&1 || kill -KILL "$1"' serve-stop "$pid" "$port" "$HOST_TOOLS/pidwait" ||
			say "cannot stop binmig serve $pid in host $h"
	done
	DAEMONS=()
}
