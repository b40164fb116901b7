#!/usr/bin/env bash
# --until PATH makes --work a batch: the workload finishes after the first
# batch at whose end PATH exists, prints `units M` before its result, and
# that result (and, for the CLR workloads, every file it wrote) is what a
# run with --work M gives.  For every workload:
#  - PATH there from the start: exactly one batch, the reference result;
#    --flip-at the end of it gives what --work N --flip-at N gives;
#  - PATH created once `ready` is out (seen with waitfor, no sleeping): M
#    is a positive multiple of the batch, and --work M gives the same result
#    and files (the threaded ones run with 3 threads, so that the threads
#    must agree on the batches);
#  - an empty or missing PATH, or --until with --work 0, is a usage error;
#    --help names the option;
#  - a PATH that never appears does not let a CLR workload's files fill the
#    disk: on a filesystem with under 1 GiB free it finishes after its first
#    batch, says why on stderr, and gives the reference result.
# Nothing here depends on how many batches fit before PATH appears.
set -u
source "$(dirname "$0")/lib.bash"

tools=${BUILD:-build}
[[ $tools == /* ]] || tools=$root/$tools
tools+=/tools
for tool in waitfor pidwait; do
	[[ -x $tools/$tool ]] || fail "$tools/$tool is not built (make test-build)"
done

pid= lowfs=
stop() {
	[[ -n $pid ]] && kill -KILL "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	pid=
}
trap 'stop; [[ -n $lowfs ]] && umount "$lowfs"; rm -rf "$wl_tmp"' EXIT

# Sets the array extra to the further arguments of the --until run (WHICH
# until) or of its --work M reference (WHICH work): a directory of its own
# for a CLR workload's files (the last --dir wins over wl_command's), and
# threads: nbody and recsort give the same result with any number of them,
# logappend and wordcount only with the same number.
extra_args() { # KIND/NAME WHICH
	extra=()
	[[ $1 == clr/* ]] && extra+=(--dir "$wl_tmp/${1#*/}.$2")
	case $2:$1 in
	until:native/nbody | until:native/recsort | *:clr/logappend | *:clr/wordcount) extra+=(--threads 3) ;;
	esac
}

# wl_out must be exactly `ready`, `units UNITS` and a result; sets result.
until_output() { # WHAT UNITS
	local -a lines
	mapfile -t lines <<<"$wl_out"
	if ((${#lines[@]} != 3)) || [[ ${lines[0]} != ready || ${lines[1]} != "units $2" ]]; then
		fail "$1 printed '$wl_out', expected ready, units $2 and a result"
	fi
	result=$(wl_result)
	[[ -n $result ]] || fail "$1 printed no result: '$wl_out'"
}

# The batch for the run whose PATH appears after `ready`: a millisecond or
# less of work, so that on a typical machine several batches end in the
# time the test takes to see `ready` and create the file (whatever the
# number, the checks hold); odd sizes, so that batches end inside the
# workloads' own rounds (recsort's phases, nbody's sweeps over the clusters,
# filecopy's window, logappend's turns between the threads).  A sieve or
# recsort unit takes a millisecond or more by itself.
batch_of() { # KIND/NAME
	case $1 in
	native/sieve | native/recsort) echo 1 ;;
	native/hashchain | clr/filecopy | clr/wordcount) echo 3 ;;
	native/matmul) echo 7 ;;
	native/nbody | clr/logappend) echo 51 ;;
	clr/recordstore) echo 101 ;;
	*) fail "no batch size for $1" ;;
	esac
}

expect_usage_error() { # KIND/NAME ARGS...
	wl_run "$@"
	[[ $wl_rc == 2 ]] || fail "$* exited $wl_rc, expected 2 (usage)"
}

# Runs KIND/NAME with --work BATCH --until PATH, creates PATH once `ready`
# is out, and checks that it did a whole number of batches, M units, with
# the result (and files) of --work M.  Sets units and result.
until_after_ready() { # KIND/NAME BATCH TRY
	local name=$1 batch=$2 try=$3 rc
	local stop_file=$wl_tmp/stop-${name#*/}.$try out=$wl_tmp/until.out
	wl_command "$name"
	extra_args "$name" until
	"${wl_cmd[@]}" "${extra[@]}" --work "$batch" --until "$stop_file" >"$out" 2>"$out.err" </dev/null &
	pid=$!
	"$tools/waitfor" -x --pid "$pid" "$out" ready 60 || fail "$name --until: no ready: $(cat "$out.err")"
	touch "$stop_file"
	"$tools/pidwait" "$pid" 60 || fail "$name --until: still working 60 s after $stop_file appeared"
	rc=0
	wait "$pid" || rc=$?
	pid=
	wl_out=$(cat "$out")
	[[ $rc == 0 ]] || fail "$name --until exited $rc: $(cat "$out.err")"
	units=$(sed -n 's/^units \([0-9]*\)$/\1/p' <<<"$wl_out")
	if [[ -z $units ]] || ((units == 0 || units % batch != 0)); then
		fail "$name --work $batch --until: units '$units' is no positive multiple of $batch"
	fi
	until_output "$name --work $batch --until" "$units"

	extra_args "$name" work
	wl_run "$name" "${extra[@]}" --work "$units"
	[[ $wl_rc == 0 && $(wl_result) == "$result" ]] ||
		fail "$name: --work $batch --until gave $result after $units units, --work $units $(wl_result) (exit $wl_rc)"
	if [[ $name == clr/* ]]; then
		[[ -n $(find "$wl_tmp/${name#*/}.until" -type f -size +0) ]] || fail "$name --until left no files"
		diff -r "$wl_tmp/${name#*/}.until" "$wl_tmp/${name#*/}.work" >/dev/null ||
			fail "$name: the files of --work $batch --until differ from those of --work $units"
	fi
}

existing=$wl_tmp/exists
touch "$existing"
mapfile -t names < <(wl_names)
for name in "${names[@]}"; do
	ref=$(wl_reference "$name")
	work=$(wl_default_work "$name")
	wl_run "$name" --help
	grep -q -- "--until PATH" <<<"$wl_out" || fail "$name --help does not mention --until"
	expect_usage_error "$name" --until=
	expect_usage_error "$name" --until ""
	expect_usage_error "$name" --until
	expect_usage_error "$name" --work 0 --until "$existing"

	# PATH there from the start: one batch.
	wl_run "$name" --until "$existing" --expect "$ref"
	[[ $wl_rc == 0 ]] || fail "$name --until (existing) exited $wl_rc: $wl_err"
	until_output "$name --until (existing)" "$work"
	[[ $result == "$ref" ]] || fail "$name --until (existing): result $result, reference $ref"
	wl_run "$name" --flip-at "$work"
	flipped=$(wl_result)
	wl_run "$name" --until "$existing" --flip-at "$work" --expect "$ref"
	[[ $wl_rc == 1 ]] || fail "$name --until --flip-at $work exited $wl_rc, expected 1: $wl_err"
	until_output "$name --until --flip-at $work" "$work"
	[[ -n $flipped && $result == "$flipped" ]] ||
		fail "$name --until --flip-at $work: result $result, without --until $flipped"
	echo "ok   $name --until (existing): units $work, result $ref; flipped at the end $result"

	# PATH created after `ready`: some batches, then the same as --work M.
	# Any number of batches passes; a run of one is tried again, twice at
	# most, for the sake of a run that goes on past the first batch.
	batch=$(batch_of "$name") || exit 1
	for try in 1 2 3; do
		until_after_ready "$name" "$batch" "$try"
		((units > batch)) && break
	done
	echo "ok   $name --work $batch --until: units $units (K=$((units / batch))), result $result as --work $units"
done

# A 64 MiB tmpfs has less than the 1 GiB reserve free from the start.
mkdir -p "$wl_tmp/lowfs"
mount -t tmpfs -o size=64M binmig-lowfs "$wl_tmp/lowfs" || fail "cannot mount a tmpfs on $wl_tmp/lowfs"
lowfs=$wl_tmp/lowfs
for name in "${names[@]}"; do
	[[ $name == clr/* ]] || continue
	ref=$(wl_reference "$name")
	work=$(wl_default_work "$name")
	wl_run "$name" --dir "$lowfs/${name#*/}" --until "$wl_tmp/never" --expect "$ref"
	[[ $wl_rc == 0 ]] || fail "$name --until (low on space) exited $wl_rc: $wl_err"
	until_output "$name --until (low on space)" "$work"
	grep -q -- "--until: only .* MiB left on the filesystem of $lowfs/${name#*/}; finishing after $work units" <<<"$wl_err" ||
		fail "$name --until (low on space) did not say why it finished: '$wl_err'"
	echo "ok   $name --until a path that never appears, 64 MiB filesystem: finished after one batch"
done
echo "--until works in all ${#names[@]} workloads"
