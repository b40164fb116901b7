#!/usr/bin/env bash
# --rss sizes every workload by resident memory: at `ready`, VmRSS is within
# 15% of what was asked for, for the native and the CLR workloads alike (the
# matched pairs of workloads/README.md rely on this).
set -u
source "$(dirname "$0")/lib.bash"

target_mib=96
pid=
stop() {
	[[ -n $pid ]] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	pid=
}
trap 'stop; rm -rf "$wl_tmp"' EXIT

mapfile -t names < <(wl_names)
for name in "${names[@]}"; do
	wl_command "$name"
	# Work enough to outlast the measurement; the process is killed after.
	coproc WORKLOAD { exec "${wl_cmd[@]}" --rss "$target_mib" --work 100000000 2>/dev/null; }
	pid=$WORKLOAD_PID
	line=
	read -r -t 60 -u "${WORKLOAD[0]}" line || true
	[[ $line == ready ]] || fail "$name --rss $target_mib did not print ready"
	rss_kib=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status")
	stop
	low=$((target_mib * 1024 * 85 / 100)) high=$((target_mib * 1024 * 115 / 100))
	((rss_kib >= low && rss_kib <= high)) ||
		fail "$name --rss $target_mib: resident $rss_kib KiB at ready, outside [$low, $high]"
	echo "ok   $name --rss $target_mib: resident $((rss_kib / 1024)) MiB at ready"
done
