# Shared by the tests/workloads/*.sh scripts (sourced, not run as a test).
# Finds the built workloads, reads workloads/references and runs a workload
# with a time limit.

root=${BINMIG_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
wl_build=$root/workloads/build
wl_references=$root/workloads/references
wl_tmp=$(mktemp -d /tmp/binmig-wl-test.XXXXXX)
trap 'rm -rf "$wl_tmp"' EXIT

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

# The workloads with a reference, as KIND/NAME (native/matmul, clr/filecopy).
wl_names() {
	awk '!/^#/ && NF == 2 {print $1}' "$wl_references"
}

wl_reference() { # KIND/NAME
	awk -v n="$1" '$1 == n {print $2}' "$wl_references"
}

# Sets the array wl_cmd to the command that runs KIND/NAME; I/O workloads
# get a directory of their own under the test's temporary directory.
wl_command() { # KIND/NAME
	local kind=${1%%/*} name=${1#*/}
	case $kind in
	native) wl_cmd=("$wl_build/native/$name") ;;
	# Without its shared area (/dev/shm/mono.PID): a Mono that starts
	# removes the files of the Monos it does not see, those the other
	# lane's tests run in the emulated hosts (e2e/clr-pingpong.sh).
	clr) wl_cmd=(env MONO_DISABLE_SHARED_AREA=1 mono "$wl_build/clr/$name.exe" --dir "$wl_tmp/$name") ;;
	*) fail "unknown workload kind in '$1'" ;;
	esac
	local program=${wl_cmd[0]}
	[[ $kind == clr ]] && program=${wl_cmd[3]}
	[[ -f $program ]] || fail "$program is not built (make workloads)"
}

# Runs KIND/NAME with ARGS; sets wl_out, wl_err and wl_rc.
wl_run() { # KIND/NAME ARGS...
	local name=$1
	shift
	wl_command "$name"
	wl_rc=0
	timeout --kill-after=5 60 "${wl_cmd[@]}" "$@" >"$wl_tmp/out" 2>"$wl_tmp/err" </dev/null || wl_rc=$?
	wl_out=$(cat "$wl_tmp/out")
	wl_err=$(cat "$wl_tmp/err")
	[[ $wl_rc != 124 && $wl_rc != 137 ]] || fail "$name $* timed out"
}

# The default --work of KIND/NAME, from its --help.
wl_default_work() { # KIND/NAME
	wl_run "$1" --help
	[[ $wl_rc == 0 ]] || fail "$1 --help exited $wl_rc"
	local work
	work=$(sed -n 's/^ *--work N .*(default \([0-9]*\))$/\1/p' <<<"$wl_out")
	[[ -n $work ]] || fail "$1 --help does not give the default --work"
	echo "$work"
}

# The hex checksum of wl_out's `result` line, or nothing.
wl_result() {
	sed -n 's/^result \([0-9a-f]\{16\}\)$/\1/p' <<<"$wl_out"
}

command -v mono >/dev/null || fail "mono is not installed (make deps)"
[[ -f $wl_references ]] || fail "$wl_references is missing"
