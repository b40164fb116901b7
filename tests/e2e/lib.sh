# Helpers shared by the end-to-end tests: sourced by each tests/e2e/*.sh.
# Executed directly (tests/run-tests does that to every *.sh here), it tests
# the helper tools and itself, without binmig.
#
# A test script:
#   source "$(dirname "$0")/lib.sh"
#   e2e_init heap              # root or skip, binaries (here progs/heap) present,
#                              # temp dir, cleanup trap
#   e2e_state_test heap 8      # start, migrate, wake, check PASS
# Everything that waits has a timeout; every process a test starts, or that
# restore creates, is killed on exit (matched by PID and start time, so a
# recycled PID is never hit); the temp dir is removed (kept with E2E_KEEP=1).
#
# Environment (tests/run-tests sets these): BINMIG, BUILD, BINMIG_ROOT.

set -euo pipefail

E2E_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${BINMIG_ROOT:=$(cd "$E2E_LIB_DIR/../.." && pwd)}"
: "${BINMIG:=build/asan/binmig}"
: "${BUILD:=build}"
[[ $BINMIG == /* ]] || BINMIG=$BINMIG_ROOT/$BINMIG
[[ $BUILD == /* ]] || BUILD=$BINMIG_ROOT/$BUILD
PROGS=$BUILD/progs
TOOLS=$BUILD/tools
# Same defaults as tests/run-tests, for scripts run by hand.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# No binmig command may run longer than this.
E2E_BINMIG_TIMEOUT=${E2E_BINMIG_TIMEOUT:-60}

# System call numbers (x86-64) for e2e_wait_syscall.
declare -A E2E_SYSCALL_NR=([read]=0 [pause]=34 [nanosleep]=35 [rt_sigsuspend]=130 [futex]=202
	[clock_nanosleep]=230 [poll]=7 [epoll_wait]=232 [wait4]=61 [rt_sigtimedwait]=128)

E2E_TMP=
E2E_TMP_MORE=() # other temp dirs of the test, made before e2e_init: removed with E2E_TMP
E2E_NAME=${E2E_NAME:-$(basename "$0" .sh)}
E2E_TRACKED=()        # "pid:starttime" of everything to kill on exit
declare -A E2E_CHILDREN=() # PIDs that are children of this shell (wait works)
E2E_PID=              # set by e2e_start
BM_RC='' BM_OUT='' BM_ERR='' BM_CMD='' # set by bm
E2E_BM_START=0 E2E_BM_GATE='' E2E_BM_HELD='' # bm, bm_held
E2E_BM_HELD_ARGS=()
E2E_BM_COUNT=0

e2e_log() { printf '[%s %s] %s\n' "$(date +%T.%3N)" "$E2E_NAME" "$*" >&2; }

# E2E_UNSEEN: the start of the warning binmig gives where it cannot load
# its BPF programs (BINMIG_TEST_NO_BPF), which names what goes unseen.
E2E_UNSEEN="warning: binmig cannot read what only the kernel's own structures show"

# e2e_said LOG: LOG (binmig's stderr) without that warning, which a test
# without the BPF programs expects on every run and checks on its own.
e2e_said() { grep -vF "$E2E_UNSEEN" "$1" || true; }

e2e_fail() {
	echo "FAIL: $*" >&2
	exit 1
}

e2e_skip() {
	echo "SKIP: $*"
	exit 77
}

# Sets up a test: skips unless root, fails if a binary is missing, makes
# the temp dir and installs the cleanup.  Arguments: the test programs used.
e2e_init() {
	[[ $(id -u) == 0 ]] || e2e_skip "needs root (ptrace of any process, restoring PIDs)"
	[[ -x $BINMIG ]] || e2e_fail "binmig not found at $BINMIG (make test-build)"
	e2e_init_common "$@"
}

# e2e_init without binmig (for the tool self-test).
e2e_init_common() {
	local prog tool
	for prog in "$@"; do
		[[ -x $PROGS/$prog ]] || e2e_fail "test program $PROGS/$prog not built (make test-build)"
	done
	for tool in pidwait waitfor waitsyscall zombie tracer; do
		[[ -x $TOOLS/$tool ]] || e2e_fail "tool $TOOLS/$tool not built (make test-build)"
	done
	E2E_TMP=$(mktemp -d /tmp/binmig-e2e.XXXXXX)
	trap e2e_cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	e2e_log "temp dir $E2E_TMP"
}

# Start time of PID (field 22 of /proc/PID/stat), empty if it does not exist.
e2e_starttime() {
	local stat
	{ read -r stat <"/proc/$1/stat"; } 2>/dev/null || return 0
	stat=${stat##*) }
	local -a fields
	read -r -a fields <<<"$stat"
	echo "${fields[19]}"
}

# State letter of PID (R, S, D, T, t, Z, ...), empty if it does not exist.
e2e_state() {
	local stat
	{ read -r stat <"/proc/$1/stat"; } 2>/dev/null || return 0
	stat=${stat##*) }
	echo "${stat%% *}"
}

# e2e_wait_state PID STATE WHAT: until PID's state (a letter of
# /proc/PID/stat) is STATE, within 10 s; else fails with WHAT.
e2e_wait_state() {
	local deadline=$((SECONDS + 10))
	until [[ $(e2e_state "$1") == "$2" ]]; do
		((SECONDS < deadline)) || e2e_fail "$3 (state '$(e2e_state "$1")', not $2)"
		sleep 0.01
	done
}

# TracerPid of PID.
e2e_tracer() {
	awk '/^TracerPid:/ { print $2 }' "/proc/$1/status" 2>/dev/null || true
}

# Remembers PID (as it is now) for the cleanup.
e2e_track() {
	local start
	start=$(e2e_starttime "$1")
	[[ -n $start ]] && E2E_TRACKED+=("$1:$start")
	return 0
}

e2e_cleanup() {
	local rc=$? entry pid
	set +e
	trap - EXIT
	for entry in "${E2E_TRACKED[@]}"; do
		pid=${entry%%:*}
		if [[ $(e2e_starttime "$pid") == "${entry#*:}" && $(e2e_state "$pid") != Z ]]; then
			e2e_log "cleanup: killing $pid"
			kill -KILL "$pid" 2>/dev/null
		fi
	done
	if [[ -n $E2E_TMP && -d $E2E_TMP ]]; then
		if [[ -n ${E2E_KEEP:-} ]]; then
			e2e_log "kept $E2E_TMP"
		else
			rm -rf "$E2E_TMP"
		fi
	fi
	[[ -n ${E2E_KEEP:-} ]] || rm -rf "${E2E_TMP_MORE[@]}"
	if ((rc == 0)); then e2e_log "ok"; fi
	exit "$rc"
}

# Closes every descriptor above 2 in the calling (sub)shell: programs under
# test must not inherit the harness's pipes, which binmig rightly refuses.
e2e_close_fds() {
	local path fd
	for path in "/proc/$BASHPID/fd/"*; do
		fd=${path##*/}
		((fd > 2)) && { eval "exec $fd>&-"; } 2>/dev/null
	done
	return 0
}

# e2e_start OUT CMD [ARGS...]: runs CMD in the background with stdin
# /dev/null, stdout OUT, stderr OUT.err and no other descriptors.  Sets
# E2E_PID.
e2e_start() {
	local out=$1
	shift
	(
		e2e_close_fds
		exec "$@"
	) </dev/null >"$out" 2>"$out.err" &
	E2E_PID=$!
	E2E_CHILDREN[$E2E_PID]=1
	e2e_track "$E2E_PID"
	e2e_log "started $E2E_PID: $*"
}

# Shows a program's output files (for failure messages).
e2e_show() {
	local f
	for f in "$@"; do
		[[ -e $f ]] || continue
		echo "---- $f:" >&2
		tail -n 30 "$f" | cat -v >&2
	done
}

# e2e_wait_line OUT TEXT PID [TIMEOUT] [-x]: until OUT has a line starting
# with (with -x: equal to) TEXT; fails early if PID (may be empty) exits.
e2e_wait_line() {
	local out=$1 text=$2 pid=$3 timeout=${4:-20} exact=${5:-}
	local args=()
	[[ -n $exact ]] && args+=(-x)
	[[ -n $pid ]] && args+=(--pid "$pid")
	"$TOOLS/waitfor" "${args[@]}" "$out" "$text" "$timeout" ||
		{ e2e_show "$out.err"; e2e_fail "no line \"$text\" in $(basename "$out")"; }
}

e2e_wait_ready() { e2e_wait_line "$1" ready "$2" "${3:-20}"; }

# e2e_wait_syscall PID NAME [TIMEOUT]: until PID is blocked inside NAME.
e2e_wait_syscall() {
	local nr=${E2E_SYSCALL_NR[$2]:?unknown system call $2}
	"$TOOLS/waitsyscall" "$1" "$nr" "${3:-10}" || e2e_fail "process $1 is not blocked in $2"
}

# bm ARGS...: runs binmig; sets BM_RC, BM_OUT (stdout file), BM_ERR (stderr
# file).  Never fails by itself.
bm() {
	bm_begin "$1"
	BM_RC=0
	timeout -k 5 "$E2E_BINMIG_TIMEOUT" "$BINMIG" "$@" </dev/null >"$BM_OUT" 2>"$BM_ERR" || BM_RC=$?
	bm_ended "$@"
}

# bm_held ARGS...: runs binmig in the background, held before it exits
# (BINMIG_TEST_EXIT_GATE, test builds: migrator/fault.h), and returns once
# it is held, so that what it did (a refusal, say) is seen while binmig
# still lives: the kernel lets binmig's tracees go when it exits, whatever
# binmig did.  bm_unhold lets it exit and sets BM_RC as bm does.
bm_held() {
	bm_begin "$1"
	E2E_BM_GATE=$E2E_TMP/gate.$E2E_BM_COUNT
	mkdir "$E2E_BM_GATE"
	BINMIG_TEST_EXIT_GATE=$E2E_BM_GATE timeout -k 5 "$E2E_BINMIG_TIMEOUT" "$BINMIG" "$@" </dev/null \
		>"$BM_OUT" 2>"$BM_ERR" &
	E2E_BM_HELD=$!
	E2E_BM_HELD_ARGS=("$@")
	"$TOOLS/waitfor" --pid "$E2E_BM_HELD" -x "$E2E_BM_GATE/exiting" exiting "$E2E_BINMIG_TIMEOUT" ||
		{ e2e_show "$BM_ERR"; e2e_fail "binmig $1 ended, or did not come to its exit gate"; }
	local held
	held=$(cat "/proc/$E2E_BM_HELD/task/$E2E_BM_HELD/children")
	held=${held%% *}
	e2e_track "$held" # a failing test ends it
	e2e_log "binmig $* is held before it exits (process $held)"
}

bm_unhold() {
	touch "$E2E_BM_GATE/go"
	BM_RC=0
	wait "$E2E_BM_HELD" || BM_RC=$?
	bm_ended "${E2E_BM_HELD_ARGS[@]}"
}

# The output files of the next binmig command, and its name.
bm_begin() {
	E2E_BM_COUNT=$((E2E_BM_COUNT + 1))
	BM_CMD=${1:-}
	BM_OUT=$E2E_TMP/binmig.$E2E_BM_COUNT.out
	BM_ERR=$E2E_TMP/binmig.$E2E_BM_COUNT.err
	E2E_BM_START=$SECONDS
}

# The binmig command ARGS has ended with BM_RC: said, with its stderr.
bm_ended() {
	e2e_log "binmig $* -> exit $BM_RC ($((SECONDS - E2E_BM_START))s)"
	head -n 40 "$BM_ERR" | sed 's/^/    stderr: /' >&2
	((BM_RC == 124)) && e2e_fail "binmig $1 did not finish within ${E2E_BINMIG_TIMEOUT}s"
	return 0
}

# e2e_expect_error CODE [WHAT]: the last binmig command exited with CODE and
# printed exactly one line on stderr, starting with "binmig: ".
e2e_expect_error() {
	local code=$1 what=${2:-binmig}
	local -a lines=()
	mapfile -t lines <"$BM_ERR"
	[[ $BM_RC == "$code" ]] || e2e_fail "$what: exit $BM_RC, expected $code"
	((${#lines[@]} == 1)) || e2e_fail "$what: ${#lines[@]} lines on stderr, expected exactly one"
	[[ ${lines[0]} == "binmig: "* ]] || e2e_fail "$what: stderr line does not start with \"binmig: \""
	# A failed restore must not print a PID that scripts would take for a process.
	[[ $BM_CMD != restore || ! -s $BM_OUT ]] || e2e_fail "$what: failed but printed on stdout: $(head -c 200 "$BM_OUT")"
}

# e2e_expect_ok WHAT: the last binmig command succeeded.
e2e_expect_ok() {
	[[ $BM_RC == 0 ]] || e2e_fail "$1: exit $BM_RC: $(head -n 3 "$BM_ERR")"
}

# e2e_reap PID: after a dump, the process is gone: a child of ours must have
# been killed by SIGKILL (and is reaped now); any other process must be
# reaped by its parent (tests/run-tests' reaper, or init when a test runs
# by itself) before its PID can be restored.
e2e_reap() {
	local pid=$1 status=0
	"$TOOLS/pidwait" "$pid" 10 || e2e_fail "process $pid still runs after the dump"
	if [[ -n ${E2E_CHILDREN[$pid]:-} ]]; then
		wait "$pid" || status=$?
		unset "E2E_CHILDREN[$pid]"
		[[ $status == 137 ]] || e2e_fail "process $pid ended with status $status after the dump, expected 137 (SIGKILL)"
	else
		"$TOOLS/pidwait" --reaped "$pid" 20 || e2e_fail "process $pid not reaped 20 s after the dump"
	fi
}

# e2e_assert_alive PID: exists, is neither a zombie nor stopped, and is not
# traced (a refused or failed dump must leave it exactly so).
e2e_assert_alive() {
	local pid=$1 state tracer
	state=$(e2e_state "$pid")
	[[ -n $state && $state != [ZXxTt] ]] || e2e_fail "process $pid is in state '${state:-gone}'"
	tracer=$(e2e_tracer "$pid")
	[[ $tracer == "${2:-0}" ]] || e2e_fail "process $pid is traced by $tracer"
}

# e2e_glibc_variants: the extension of the string-function variants the
# C library resolves on this CPU, and the name of the hwcaps tunable that
# turns them off (glibc 2.36, sysdeps/x86_64/multiarch/ifunc-avx2.h):
# "avx512bw AVX512BW" where it picks its EVEX variants (AVX512VL,
# AVX512BW and BMI2 beside AVX2), else "avx2 AVX2" where the CPU has
# AVX2; nothing without.
e2e_glibc_variants() {
	local flags
	flags=" $(grep -m1 '^flags' /proc/cpuinfo) "
	[[ $flags == *" avx2 "* ]] || return 0
	if [[ $flags == *" avx512vl "* && $flags == *" avx512bw "* && $flags == *" bmi2 "* ]]; then
		echo "avx512bw AVX512BW"
	else
		echo "avx2 AVX2"
	fi
}

# e2e_cgroup_kill DIR: kills what is left in the cgroup v2 DIR and below
# (cgroup.kill) and waits, at most 10 s, until they have left it.
e2e_cgroup_kill() {
	echo 1 >"$1/cgroup.kill" 2>/dev/null
	for _ in $(seq 100); do
		grep -qx "populated 0" "$1/cgroup.events" 2>/dev/null && return 0
		sleep 0.1
	done
	e2e_log "processes are still in cgroup $1 10 s after it was killed"
}

# e2e_assert_no_pid PID: after a failed restore nothing lives at PID (a
# half-built process may linger as a zombie only until it is reaped).
e2e_assert_no_pid() {
	local pid=$1 state
	state=$(e2e_state "$pid")
	[[ -z $state ]] && return 0
	if [[ $state != Z ]]; then
		# On a busy machine an unrelated process may have taken the PID
		# since: only binmig itself or a test program there is a leftover.
		local exe
		exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || exe=
		case $exe in
		"$(readlink -f "$BINMIG")" | "$(readlink -f "$BUILD")"/progs/* | "$(readlink -f "$BUILD")"/tools/*) ;;
		*) return 0 ;;
		esac
		e2e_track "$pid"
		e2e_fail "a process $pid (state $state, $exe) is left after the failed restore"
	fi
	"$TOOLS/pidwait" --reaped "$pid" 10 || e2e_fail "zombie $pid left after the failed restore"
}

# e2e_dump PID IMAGE [ARGS...]: a dump that must succeed and kill PID.
e2e_dump() {
	local pid=$1 image=$2
	shift 2
	bm dump "$pid" -o "$image" "$@"
	e2e_expect_ok "dump of $pid"
	[[ -s $image ]] || e2e_fail "dump of $pid succeeded but $image is empty or missing"
	e2e_reap "$pid"
}

# e2e_restore IMAGE PID [ARGS...]: a restore that must succeed and recreate
# PID, running and untraced.
e2e_restore() {
	local image=$1 pid=$2 first
	shift 2
	bm restore "$image" "$@"
	e2e_expect_ok "restore of $image"
	first=$(head -n 1 "$BM_OUT")
	[[ $first == "$pid" ]] || e2e_fail "restore printed \"$first\" on its first line, expected $pid"
	e2e_track "$pid"
	local state
	state=$(e2e_state "$pid")
	[[ -n $state ]] || e2e_fail "restored process $pid does not exist"
	[[ $state != [TtXx] ]] || e2e_fail "restored process $pid is in state $state"
	[[ $(e2e_tracer "$pid") == 0 ]] || e2e_fail "restored process $pid is still traced"
}

# e2e_migrate PID IMAGE: dump then restore; in between, the command
# E2E_BETWEEN names, if any, with PID and IMAGE (what a test checks or
# awaits there).
e2e_migrate() {
	e2e_dump "$1" "$2"
	[[ -z ${E2E_BETWEEN:-} ]] || $E2E_BETWEEN "$1" "$2"
	e2e_restore "$2" "$1"
}

# e2e_signal PID OUT [SIGNAL]: sends SIGNAL (default USR1) to the program
# whose output is OUT; if it is gone already, shows why.
e2e_signal() {
	local pid=$1 out=$2 sig=${3:-USR1} state
	state=$(e2e_state "$pid")
	if [[ -z $state || $state == [ZXx] ]] || ! kill -"$sig" "$pid" 2>/dev/null; then
		e2e_show "$out" "$out.err"
		e2e_fail "process $pid ended before it was sent SIG$sig"
	fi
}

# e2e_wait_exit PID [TIMEOUT]: until PID (child or not) has exited.
e2e_wait_exit() {
	"$TOOLS/pidwait" "$1" "${2:-20}" || e2e_fail "process $1 did not exit within ${2:-20} s"
}

# e2e_until_result OUT TIMEOUT CMD...: a workload started with `--work
# BATCH --until STOP` (workloads/README.md) has been told to finish (STOP
# created) and has finished: its output OUT must be exactly `ready`,
# `units M` and `result HEX`, and HEX must be the result of an unmigrated
# run of CMD (the workload and its options, without --work and --until)
# with --work M, run here and now within TIMEOUT seconds.  Whatever the
# machine's speed, the workload was still working when it was told.  Sets
# E2E_UNITS and E2E_RESULT.
e2e_until_result() {
	local out=$1 timeout=$2
	shift 2
	E2E_UNITS=$(sed -n 's/^units \([0-9][0-9]*\)$/\1/p' "$out")
	E2E_RESULT=$(sed -n 's/^result \([0-9a-f]\{16\}\)$/\1/p' "$out")
	[[ -n $E2E_UNITS && -n $E2E_RESULT && $(wc -l <"$out") == 3 && $(head -n 1 "$out") == ready ]] ||
		{ e2e_show "$out" "$out.err"; e2e_fail "$(basename "$out") is not ready / units M / result HEX"; }
	local ref=$E2E_TMP/reference-$E2E_UNITS.out status=0
	timeout -k 5 "$timeout" "$@" --work "$E2E_UNITS" </dev/null >"$ref" 2>"$ref.err" || status=$?
	((status == 0)) || { e2e_show "$ref.err"; e2e_fail "the unmigrated run of $E2E_UNITS units exited $status"; }
	[[ $(tail -n 1 "$ref") == "result $E2E_RESULT" ]] ||
		{ e2e_show "$out" "$ref"; e2e_fail "after $E2E_UNITS units the migrated run's result differs from the unmigrated run's"; }
	e2e_log "the migrated run did $E2E_UNITS units; its result $E2E_RESULT is the unmigrated run's"
}

# e2e_expect_pass OUT: the program printed PASS as its last line, no FAIL,
# and the file has no NUL bytes (which a lost stdout offset leaves behind).
e2e_expect_pass() {
	local out=$1 size nonul
	[[ -s $out ]] || { e2e_show "$out.err"; e2e_fail "$(basename "$out") is empty"; }
	size=$(stat -c %s "$out")
	nonul=$(tr -d '\000' <"$out" | wc -c)
	[[ $size == "$nonul" ]] || { e2e_show "$out"; e2e_fail "$(basename "$out") contains NUL bytes"; }
	if grep -q '^FAIL' "$out" || [[ $(tail -n 1 "$out") != PASS ]]; then
		e2e_show "$out" "$out.err"
		e2e_fail "$(basename "$out") does not end in PASS"
	fi
}

# e2e_procstate PID FILE: what /proc shows of PID, as tests/tools/procstate
# --pages prints it (with the pages of private file mappings that are the
# process's own copies, and those write-protected through a userfaultfd),
# into FILE.
e2e_procstate() {
	"$TOOLS/procstate" --pages "$1" >"$2" || e2e_fail "cannot read /proc of process $1"
}

# The lines of e2e_procstate that name the process group, for a tree's
# members (its test checks their groups itself: the root's is the
# restorer's, stat field 5 and NSpgid).
E2E_PROCSTATE_GROUP='^((status|thread [0-9]+) NSpgid:|(stat|thread [0-9]+) 5 )'

# The lines of e2e_procstate that a program changes by itself while it
# works (its memory's sizes, its number of threads, the signals its
# threads block for a moment or have on their way, the pages of a private
# file mapping it writes to first), left out where a test
# compares a program that works on while it is dumped (with
# E2E_PROCSTATE_ACCEPT); what such a program maps, or threads it makes
# and ends, its test leaves out too.
E2E_PROCSTATE_RUNNING='^((status|thread [0-9]+) (Vm[A-Za-z]+|Threads|SigPnd|ShdPnd|SigBlk):|(stat|thread [0-9]+) 20 |pages copied )'

# e2e_procstate_same BASE WHAT: BASE-before and BASE-after (e2e_procstate)
# must be the same, but for lines matching the extended regular expression
# E2E_PROCSTATE_ACCEPT (a difference the README documents); else fails,
# showing the difference.
e2e_procstate_same() {
	local base=$1 f
	if [[ -n ${E2E_PROCSTATE_ACCEPT:-} ]]; then
		for f in "$base"-before "$base"-after; do
			grep -Ev "$E2E_PROCSTATE_ACCEPT" "$f" >"$f.kept" || true
			mv "$f.kept" "$f"
		done
	fi
	if ! diff -u "$base-before" "$base-after" >"$base-diff"; then
		e2e_show "$base-diff"
		e2e_fail "$2: /proc shows another process (above: - before, + after)"
	fi
}

# e2e_procstate_unproxied FILE: leaves out of FILE (e2e_procstate) what
# the vDSO proxy changes, as README says ("The vDSO may differ between
# the hosts"): the areas of the kernel's vDSO ([vdso], [vvar],
# [vvar_vclock]), which a proxied restore maps where the destination's
# kernel puts them, the private anonymous read-execute copies of the old
# vDSO it leaves in their place (a test that forces the proxy checks them
# itself), and the sizes they count in (VmSize, VmLib).
e2e_procstate_unproxied() {
	awk '!/^map / { drop = 0 }
		/^map [0-9a-f]+-[0-9a-f]+ / { drop = $NF ~ /^\[(vdso|vvar|vvar_vclock)\]$/ || (NF == 4 && $3 == "r-xp") }
		!drop && !/^(status|thread [0-9]+) (VmSize|VmLib):/' "$1" >"$1.kept" || e2e_fail "cannot filter $1"
	mv "$1.kept" "$1"
}

# e2e_procstate_each WHEN BASE PID...: e2e_procstate of each PID into
# BASE-PID.proc-WHEN (WHEN: before, or after), for the members of a tree
# or processes of a test compared one by one (e2e_procstate_same_each).
e2e_procstate_each() {
	local when=$1 base=$2 p
	shift 2
	for p in "$@"; do e2e_procstate "$p" "$base-$p.proc-$when"; done
}

# e2e_procstate_same_each BASE WHAT PID...: e2e_procstate_same of each
# PID's snapshots (e2e_procstate_each), matched by PID.
e2e_procstate_same_each() {
	local base=$1 what=$2 p
	shift 2
	for p in "$@"; do e2e_procstate_same "$base-$p.proc" "$what: process $p"; done
}

# e2e_migrate_same PID IMAGE WHAT: once PID waits in sigsuspend, a dump
# with --leave-running must leave it waiting there exactly as it was
# (binmig's own calls, pages and descriptors all gone), then e2e_migrate
# through IMAGE; it must wait there again, and /proc show the same of it
# (e2e_procstate_same).
e2e_migrate_same() {
	local pid=$1 base=$2.proc
	e2e_wait_syscall "$pid" rt_sigsuspend
	e2e_procstate "$pid" "$base-before"
	bm dump "$pid" -o "$2.left" --leave-running
	e2e_expect_ok "dump --leave-running of $pid"
	rm -f "$2.left"
	e2e_wait_syscall "$pid" rt_sigsuspend
	cp "$base-before" "$base.left-before"
	e2e_procstate "$pid" "$base.left-after"
	E2E_PROCSTATE_ACCEPT= e2e_procstate_same "$base.left" "$3 (the original after dump --leave-running)"
	e2e_migrate "$pid" "$2"
	e2e_wait_syscall "$pid" rt_sigsuspend
	e2e_procstate "$pid" "$base-after"
	e2e_procstate_same "$base" "$3"
}

# e2e_state_test PROG [ARGS...]: the standard protocol.  Starts PROG, waits
# for "ready" and for it to sleep in sigsuspend, migrates it, checks that it
# sleeps there again and that /proc shows the same of it as before
# (e2e_procstate: every line but those no restore can keep; lines matching
# the extended regular expression E2E_PROCSTATE_ACCEPT, a difference the
# README documents, left out), wakes it with SIGUSR1 and expects PASS.
e2e_state_test() {
	local prog=$1 name
	name=$(basename "$prog")
	local out=$E2E_TMP/$name.out image=$E2E_TMP/$name.img
	e2e_start "$out" "$PROGS/$prog" "${@:2}"
	local pid=$E2E_PID
	e2e_wait_ready "$out" "$pid"
	e2e_migrate_same "$pid" "$image" "$prog"
	e2e_signal "$pid" "$out"
	e2e_wait_exit "$pid"
	e2e_expect_pass "$out"
	e2e_log "$prog: PASS after migration"
}

# e2e_has_faults: binmig is built with fault injection (make test-build).
e2e_has_faults() { "$BINMIG" fault-points | grep -qx "fault injection: built in (BINMIG_FAULT)"; }

# e2e_fault_restore POINT IMAGE PID MESSAGE WHAT: where binmig has fault
# injection, a restore of IMAGE failing at POINT exits 6 with MESSAGE,
# leaving nothing at PID (WHAT names it); else says that it was not tried.
e2e_fault_restore() {
	if ! e2e_has_faults; then
		e2e_log "$BINMIG is built without fault injection: $5 is not tried"
		return 0
	fi
	BINMIG_FAULT=$1 bm restore "$2"
	e2e_expect_error 6 "restore where $5"
	grep -qF "$4" "$BM_ERR" || e2e_fail "$5: the failed restore does not say \"$4\": $(cat "$BM_ERR")"
	e2e_assert_no_pid "$3"
}

# e2e_tree_dump IMAGE ROUND WHAT ROOT KIDS...: dumps the tree of ROOT to
# IMAGE, checks that every process of it is gone and reaps ROOT if it is
# the test's own child (ROUND 1).
e2e_tree_dump() {
	local image=$1 round=$2 what=$3 root=$4 p
	shift 4
	bm dump "$root" -o "$image"
	e2e_expect_ok "dump of $what (round $round)"
	for p in "$root" "$@"; do
		"$TOOLS/pidwait" "$p" 10 || e2e_fail "process $p still runs after the dump"
	done
	[[ $round == 1 ]] && { wait "$root" 2>/dev/null || true; unset "E2E_CHILDREN[$root]"; }
	return 0
}

# e2e_tree_dump_restore IMAGE ROUND WHAT ROOT KIDS...: e2e_tree_dump, then
# restores the tree and tracks the children.
e2e_tree_dump_restore() {
	local image=$1 root=$4 p
	e2e_tree_dump "$@"
	e2e_restore "$image" "$root"
	for p in "${@:5}"; do e2e_track "$p"; done
}

# e2e_left_dump LABEL PROG [ARGS...]: starts PROG, dumps it with
# --leave-running (exit 0), wakes it and expects PASS: the source as it
# was before the dump.
e2e_left_dump() {
	local label=$1 out=$E2E_TMP/$1.out pid
	e2e_start "$out" "$PROGS/$2" "${@:3}"
	pid=$E2E_PID
	e2e_wait_ready "$out" "$pid"
	bm dump "$pid" -o "$E2E_TMP/$label.img" --leave-running
	e2e_expect_ok "dump --leave-running of $label"
	e2e_signal "$pid" "$out"
	e2e_wait_exit "$pid"
	e2e_expect_pass "$out"
}

# e2e_refused_dump LABEL EXPECT [DUMP_OPTION...] -- PROG [ARGS...]: starts
# PROG, waits for "ready", dumps it (with the options) and expects exit 4
# with EXPECT in the message, no image left, and the process running on
# untraced; then wakes it with SIGUSR1 and expects PASS.
e2e_refused_dump() {
	local label=$1 expect=$2 options=()
	shift 2
	while [[ $# -gt 0 && $1 != -- ]]; do
		options+=("$1")
		shift
	done
	shift
	local out=$E2E_TMP/$label.out image=$E2E_TMP/$label.img
	e2e_start "$out" "$PROGS/$1" "${@:2}"
	local pid=$E2E_PID
	e2e_wait_ready "$out" "$pid"
	bm dump "$pid" -o "$image" "${options[@]}"
	e2e_expect_error 4 "dump of $label"
	grep -qF "$expect" "$BM_ERR" || e2e_fail "$label: the refusal does not say \"$expect\": $(cat "$BM_ERR")"
	[[ ! -e $image ]] || e2e_fail "$label: an image was left"
	e2e_assert_alive "$pid"
	[[ $(e2e_tracer "$pid") == 0 ]] || e2e_fail "$label: the process is still traced"
	e2e_signal "$pid" "$out"
	e2e_wait_exit "$pid"
	e2e_expect_pass "$out"
	e2e_log "ok: $label refused, the process untouched"
}

# e2e_hosts_down HOSTS_CMD: brings the emulated hosts down if any part of
# them is up (for EXIT traps of tests that start them through the harness).
e2e_hosts_down() {
	local left=0
	"$1" status >/dev/null 2>&1 || left=$?
	((left == 3)) || "$1" down >/dev/null 2>&1 || echo "cleanup: harness/hosts down failed" >&2
}

# e2e_flip_bit FILE OFFSET BIT: flips one bit of FILE in place.
e2e_flip_bit() {
	local file=$1 offset=$2 bit=$3 byte
	byte=$(od -An -tu1 -j "$offset" -N 1 "$file" | tr -d ' ')
	[[ -n $byte ]] || e2e_fail "offset $offset is past the end of $file"
	# shellcheck disable=SC2059 # the format is the escape sequence
	printf "\\x$(printf %02x $((byte ^ (1 << bit))))" |
		dd of="$file" bs=1 seek="$offset" conv=notrunc status=none
}

# e2e_write_bytes FILE OFFSET HEX...: overwrites bytes at OFFSET.
e2e_write_bytes() {
	local file=$1 offset=$2 hex data=
	shift 2
	for hex in "$@"; do data+="\\x$hex"; done
	# shellcheck disable=SC2059 # the format is the escape sequences
	printf "$data" | dd of="$file" bs=1 seek="$offset" conv=notrunc status=none
}

# e2e_json_object FILE: FILE holds exactly one JSON object.
e2e_json_object() {
	if command -v jq >/dev/null; then
		jq -e -s 'length == 1 and (.[0] | type) == "object"' "$1" >/dev/null 2>&1
	elif command -v python3 >/dev/null; then
		python3 -c 'import json, sys; sys.exit(0 if isinstance(json.load(open(sys.argv[1])), dict) else 1)' "$1" 2>/dev/null
	else
		e2e_fail "neither jq nor python3 to check JSON with"
	fi
}

# A PID that no process uses right now.
e2e_free_pid() {
	local max pid
	max=$(</proc/sys/kernel/pid_max)
	for ((pid = max - 1; pid > 300; pid--)); do
		[[ -e /proc/$pid ]] || { echo "$pid"; return 0; }
	done
	e2e_fail "no free PID"
}

# ---------------------------------------------------------------------------
# Executed directly: test the tools and the helpers above.

e2e_selftest_expect() { # CODE WHAT CMD...: CMD exits with CODE
	local code=$1 what=$2 rc=0
	shift 2
	"$@" 2>"$E2E_TMP/selftest.err" || rc=$?
	[[ $rc == "$code" ]] || { cat "$E2E_TMP/selftest.err" >&2; e2e_fail "$what: exit $rc, expected $code"; }
	e2e_log "ok: $what"
}

e2e_selftest() {
	E2E_NAME=lib
	[[ $(id -u) == 0 ]] || e2e_skip "needs root (ptrace)"
	e2e_init_common
	local t=$E2E_TMP

	# pidwait
	e2e_selftest_expect 0 "pidwait: free PID counts as gone" "$TOOLS/pidwait" "$(e2e_free_pid)" 1
	e2e_selftest_expect 2 "pidwait: bad usage" "$TOOLS/pidwait" x 1
	e2e_start "$t/sleep.out" sleep 60
	local sleeper=$E2E_PID
	e2e_selftest_expect 1 "pidwait: timeout on a live process" "$TOOLS/pidwait" "$sleeper" 0.2
	# waitsyscall: coreutils sleep sleeps in clock_nanosleep
	e2e_selftest_expect 0 "waitsyscall: blocked in clock_nanosleep" "$TOOLS/waitsyscall" "$sleeper" 230 20
	e2e_selftest_expect 1 "waitsyscall: not blocked in read" "$TOOLS/waitsyscall" "$sleeper" 0 0.2
	kill -KILL "$sleeper"
	e2e_selftest_expect 0 "pidwait: process killed" "$TOOLS/pidwait" "$sleeper" 20
	wait "$sleeper" || true
	e2e_selftest_expect 3 "waitsyscall: process gone" "$TOOLS/waitsyscall" "$sleeper" 230 1

	# zombie, and pidwait --reaped
	e2e_start "$t/zombie.out" "$TOOLS/zombie"
	local holder=$E2E_PID zpid
	e2e_wait_line "$t/zombie.out" "" "$holder" 10
	zpid=$(head -n 1 "$t/zombie.out")
	[[ $(e2e_state "$zpid") == Z ]] || e2e_fail "zombie tool: $zpid is in state '$(e2e_state "$zpid")'"
	e2e_selftest_expect 0 "pidwait: a zombie has exited" "$TOOLS/pidwait" "$zpid" 1
	e2e_selftest_expect 1 "pidwait --reaped: a zombie is still there" "$TOOLS/pidwait" --reaped "$zpid" 0.3
	kill -KILL "$holder"
	e2e_selftest_expect 0 "pidwait --reaped: init reaps the orphan" "$TOOLS/pidwait" --reaped "$zpid" 15
	[[ ! -e /proc/$zpid ]] || e2e_fail "zombie $zpid still in /proc after pidwait --reaped"

	# waitfor
	printf 'alpha\npass 10\nbeta' >"$t/lines"
	e2e_selftest_expect 0 "waitfor: prefix" "$TOOLS/waitfor" "$t/lines" "pass 1" 1
	e2e_selftest_expect 0 "waitfor: exact" "$TOOLS/waitfor" -x "$t/lines" "pass 10" 1
	e2e_selftest_expect 1 "waitfor: exact does not take a prefix" "$TOOLS/waitfor" -x "$t/lines" "pass 1" 0.2
	e2e_selftest_expect 1 "waitfor: unfinished line" "$TOOLS/waitfor" "$t/lines" "beta" 0.2
	e2e_selftest_expect 2 "waitfor: bad usage" "$TOOLS/waitfor" "$t/lines" beta
	local waiter rc
	printf 'alpha\n' >"$t/more-lines"
	for target in "$t/more-lines" "$t/created-later"; do
		"$TOOLS/waitfor" "$target" "gamma" 10 &
		waiter=$!
		E2E_CHILDREN[$waiter]=1
		e2e_track "$waiter"
		e2e_wait_syscall "$waiter" poll
		echo gamma >>"$target"
		rc=0
		wait "$waiter" || rc=$?
		[[ $rc == 0 ]] || e2e_fail "waitfor: woken by an append to $target: exit $rc"
		e2e_log "ok: waitfor woken by inotify ($(basename "$target"))"
	done
	e2e_start "$t/quits.out" sh -c 'echo nothing; exit 0'
	e2e_selftest_expect 3 "waitfor: --pid process exits first" "$TOOLS/waitfor" --pid "$E2E_PID" "$t/quits.out" ready 10
	e2e_start "$t/late.out" sh -c 'echo ready; exit 0'
	e2e_selftest_expect 0 "waitfor: line written just before exit" "$TOOLS/waitfor" --pid "$E2E_PID" "$t/late.out" ready 10

	# tracer: attaches, shows as TracerPid, passes signals on
	e2e_start "$t/traced.out" sleep 60
	local traced=$E2E_PID tracer
	e2e_start "$t/tracer.out" "$TOOLS/tracer" "$traced"
	tracer=$E2E_PID
	e2e_wait_line "$t/tracer.out" "tracing $traced" "$tracer" 10
	e2e_assert_alive "$traced" "$tracer"
	kill -TERM "$traced"
	e2e_selftest_expect 0 "tracer: tracee ended" "$TOOLS/pidwait" "$tracer" 10
	grep -qx "tracee killed by signal 15" "$t/tracer.out" || e2e_fail "tracer did not pass SIGTERM on"
	e2e_log "ok: tracer"

	# e2e_expect_pass and e2e_flip_bit
	printf 'ready\nPASS\n' >"$t/good.out"
	e2e_expect_pass "$t/good.out"
	local bad
	for bad in 'ready\nFAIL: x\nPASS\n' 'ready\nPASS\nmore\n' 'ready\n\0\0PASS\n' ''; do
		# shellcheck disable=SC2059 # the samples are formats
		printf "$bad" >"$t/bad.out"
		rc=0
		(e2e_expect_pass "$t/bad.out") 2>/dev/null || rc=$?
		[[ $rc == 1 ]] || e2e_fail "e2e_expect_pass accepted \"$bad\""
	done
	e2e_log "ok: e2e_expect_pass"
	printf 'abcd' >"$t/bits"
	e2e_flip_bit "$t/bits" 2 0
	e2e_write_bytes "$t/bits" 0 41
	[[ $(cat "$t/bits") == Abbd ]] || e2e_fail "e2e_flip_bit/e2e_write_bytes gave $(cat "$t/bits")"
	e2e_log "ok: e2e_flip_bit, e2e_write_bytes"
	[[ -n $(e2e_starttime $$) && $(e2e_state $$) == [RS] ]] || e2e_fail "e2e_starttime/e2e_state on ourselves"
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
	e2e_selftest
fi
