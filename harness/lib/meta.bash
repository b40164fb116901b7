# harness run (harness/run): meta.txt, the machine, the versions and
# every option of a run (harness-analyze compare reads it to warn about
# runs that differ).  Sourced by the driver, whose variables and helpers
# it uses.
# shellcheck shell=bash

LOAD_START="" LOAD_END="" CALIB_START="" CALIB_END=""
# measure_machine start|end: the load (1-minute average) and the speed of
# a raw memory copy (benchfloor copy, GB/s), at the start and end of the run.
measure_machine() {
	local load calib=""
	read -r load _ </proc/loadavg
	if [[ -x $TOOLS/benchfloor ]]; then
		calib=$("$TOOLS/benchfloor" copy 64 2>/dev/null | sed -n 's/^copy_gbps=//p')
	fi
	if [[ $1 == start ]]; then
		LOAD_START=$load CALIB_START=$calib
	else
		LOAD_END=$load CALIB_END=$calib
	fi
}
# The calibration: the faster of the two measurements (the other was
# disturbed more), or the one there is.
calibration() {
	if [[ -n $CALIB_START && -n $CALIB_END ]]; then
		awk -v a="$CALIB_START" -v b="$CALIB_END" 'BEGIN { print (a > b ? a : b) }'
	else
		echo "$CALIB_START$CALIB_END"
	fi
}
binmig_cflags() { # the flags binmig was compiled with (the build's cflags file), or nothing
	local f
	f=$(dirname "$1")/cflags
	[[ -r $f ]] && cat "$f"
}

binmig_version() {
	local v
	if v=$(git -C "$ROOT" describe --always --dirty 2>/dev/null); then echo "$v"; else echo unknown; fi
}
write_meta() { # STATUS
	local cpu mem mono_v os key
	cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
	mem=$(awk '/^MemTotal:/ {print int($2 / 1024)}' /proc/meminfo)
	mono_v=$(mono --version 2>/dev/null | head -n 1 | sed -n 's/.*version \([^ ]*\).*/\1/p')
	os=$(. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME")
	{
		echo "run_id=$RUN_ID"
		echo "date=$(TZ=UTC printf '%(%Y-%m-%dT%H:%M:%SZ)T' "$((START_US / 1000000))")"
		echo "status=$1"
		echo "duration_s=$((($(now_us) - START_US) / 1000000))"
		echo "hostname=$(uname -n)"
		echo "cpu_model=$cpu"
		echo "cores=$(nproc)"
		echo "memory_mib=$mem"
		echo "kernel=$(uname -r)"
		echo "os=$os"
		echo "binmig_version=$(binmig_version)"
		echo "binmig=$BINMIG"
		echo "binmig_cflags=$(binmig_cflags "$BINMIG")"
		if [[ -n $BINMIG_NEW ]]; then
			echo "binmig_new=$BINMIG_NEW"
			echo "binmig_new_cflags=$(binmig_cflags "$BINMIG_NEW")"
		fi
		echo "load_start=$LOAD_START"
		[[ -z $LOAD_END ]] || echo "load_end=$LOAD_END"
		local calib
		calib=$(calibration)
		[[ -z $calib ]] || echo "calib_copy_gbps=$calib"
		echo "mono_version=${mono_v:-none}"
		echo "hosts_state=$HOSTS_STATE"
		echo "runs=${#RUNS[@]}"
		echo "migrations_total=$TOTAL_MIGRATIONS"
		echo "rows=$ROWS_WRITTEN"
		echo "rows_ok=$ROWS_OK"
		echo "failed_migrations=$FAILED_MIGRATIONS"
		echo "failed_runs=$FAILED_RUNS"
		[[ -z $FAKE_REFERENCE ]] || echo "fake_reference=$FAKE_REFERENCE"
		echo "out=$OUT"
		# Every option as it was in effect (binmig, binmig_new, out and run_id above).
		for key in $(printf '%s\n' "${!OPT[@]}" | sort); do
			[[ $key == @(out|run-id|binmig|binmig-new) ]] && continue
			echo "${key//-/_}=${OPT[$key]}"
		done
	} >"$META.tmp" && mv -f "$META.tmp" "$META"
}
