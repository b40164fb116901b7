# shellcheck shell=bash
# Helpers for the live-migration tests (tests/e2e/migrate-*.sh), on top of
# lib.sh: the emulated hosts (harness/hosts) with `binmig serve` in each,
# programs started inside a host, checks made from inside a host (a
# migrated process keeps its PID, which is a PID of the host's own PID
# namespace), the fault proxy and reference runs.
#
#   source "$(dirname "$0")/migrate-lib.sh"
#   mig_init                    # lib.sh's e2e_init, hosts up with serve, key
#   pid=$(mig_spawn A "$out" "${MIG_WORKLOAD[@]}")
#   mig_bm A migrate "$pid" 10.77.0.2:7707 --key "$MIG_KEY"
#   mig_expect_result B "$pid" "$out"   # stops it, checks it against an unmigrated run
#
# A helper, not a test: tests/run-tests skips *-lib.sh.

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

HOSTS_CMD=$BINMIG_ROOT/harness/hosts
HOSTS_STATE=/run/binmig-hosts
declare -A MIG_ADDR=([A]=10.77.0.1 [B]=10.77.0.2)
MIG_PORT=7707
MIG_PROXY_PORT=7800
MIG_KEY=
MIG_HOSTS_UP=
# What migrate --seal auto chooses here, as serve's log names it: AES-256-GCM
# where the CPU has AES-NI and PCLMULQDQ (seal.c).
MIG_SEAL=chacha20-poly1305
grep -qw aes /proc/cpuinfo && grep -qw pclmulqdq /proc/cpuinfo && MIG_SEAL=aes-256-gcm
# The workload the migration tests move: a native CPU-bound program from
# workloads/ (SHA-256 chain over its memory, which it keeps rewriting; its
# result covers all of that memory).  It works in batches of MIG_BATCH
# units until the test tells it to finish (--until MIG_STOP, set by
# mig_init), however fast or slow the machine, and is then checked against
# an unmigrated run of exactly the units it did (mig_expect_result).
MIG_WORKLOAD_BIN=$BINMIG_ROOT/workloads/build/native/hashchain
MIG_WORKLOAD_ARGS=(--mem 32)
MIG_BATCH=${MIG_BATCH:-100}
MIG_STOP='' MIG_WORKLOAD=()
# The workload gets a PID far from those the hosts hand out during a test
# (helpers from the bottom, a few hundred at most; serve's workers from the
# top), so that nothing in either host takes it while the workload is
# elsewhere.
MIG_WORKLOAD_PID=5000

# mig_init [PROGRAM | --HOSTS_UP_OPTION[=VALUE]]...: checks that the test
# programs named are built (lib.sh's e2e_init), brings the hosts up with
# `binmig serve` in each (the test's own key; the options go to
# harness/hosts up, --NAME=VALUE as --NAME VALUE) and arranges for them to
# come down on every path.  Skips if hosts exist already (another test or
# person is using them).
mig_init() {
	local arg progs=() hosts_opts=()
	for arg in "$@"; do
		case $arg in
		--*=*) hosts_opts+=("${arg%%=*}" "${arg#*=}") ;;
		--*) hosts_opts+=("$arg") ;;
		*) progs+=("$arg") ;;
		esac
	done
	e2e_init "${progs[@]}"
	mig_new_workload "$E2E_TMP/workload.stop"
	[[ -x $MIG_WORKLOAD_BIN ]] || e2e_fail "workload $MIG_WORKLOAD_BIN not built (make workloads)"
	[[ -x $TOOLS/faultproxy ]] || e2e_fail "tool $TOOLS/faultproxy not built (make test-build)"
	local tool
	for tool in ip ss unshare nsenter; do
		command -v "$tool" >/dev/null || e2e_skip "$tool is missing (iproute2, util-linux)"
	done
	local rc=0
	"$HOSTS_CMD" status >/dev/null 2>&1 || rc=$?
	((rc == 3)) || e2e_skip "emulated hosts (or parts of them) exist already; harness/hosts down removes them"
	MIG_KEY=$E2E_TMP/key
	"$BINMIG" keygen "$MIG_KEY" || e2e_fail "binmig keygen $MIG_KEY failed"
	trap mig_cleanup EXIT
	# A failed up removes what it created itself; a down after it could
	# hit hosts someone else brought up in the meantime.
	"$HOSTS_CMD" up --serve "$BINMIG" --key "$MIG_KEY" "${hosts_opts[@]}" >"$E2E_TMP/hosts-up.out" 2>&1 ||
		{ cat "$E2E_TMP/hosts-up.out" >&2; e2e_fail "harness/hosts up failed"; }
	MIG_HOSTS_UP=1
	e2e_log "hosts up, serve listening on ${MIG_ADDR[A]}:$MIG_PORT and ${MIG_ADDR[B]}:$MIG_PORT"
}

# mig_new_workload STOP: MIG_WORKLOAD becomes the workload's command line
# for a run that finishes once STOP exists (MIG_STOP).
mig_new_workload() {
	MIG_STOP=$1
	MIG_WORKLOAD=("$MIG_WORKLOAD_BIN" "${MIG_WORKLOAD_ARGS[@]}" --work "$MIG_BATCH" --until "$MIG_STOP")
}

mig_cleanup() {
	local rc=$?
	set +e
	if ((rc)) && [[ -n $MIG_HOSTS_UP ]]; then
		local h
		for h in A B; do
			echo "---- serve-$h.log:" >&2
			tail -n 15 "$HOSTS_STATE/serve-$h.log" >&2 2>/dev/null
		done
	fi
	if [[ -n $MIG_HOSTS_UP ]]; then
		"$HOSTS_CMD" down >/dev/null 2>"$E2E_TMP/hosts-down.err" ||
			{ cat "$E2E_TMP/hosts-down.err" >&2; echo "cleanup: harness/hosts down failed" >&2; rc=1; }
	fi
	(exit "$rc")
	e2e_cleanup
}

# mig_in HOST CMD...: runs CMD inside HOST.
mig_in() {
	local h=$1
	shift
	"$HOSTS_CMD" exec "$h" -- "$@"
}

# mig_procstate HOST PID FILE [CALL]: e2e_procstate of PID in HOST, once it
# waits in sigsuspend (or the system call CALL: lib.sh's E2E_SYSCALL_NR)
# (compare two with e2e_procstate_same), with the pages of its private
# file mappings that are its own copies and the count of pages
# write-protected through a userfaultfd (procstate --pages), which the
# live modes must leave as they were.
mig_procstate() {
	local call=${4:-rt_sigsuspend}
	mig_in "$1" "$TOOLS/waitsyscall" "$2" "${E2E_SYSCALL_NR[$call]:?unknown system call $call}" 20 ||
		e2e_fail "process $2 does not wait in $call in host $1"
	mig_in "$1" "$TOOLS/procstate" --pages "$2" >"$3" || e2e_fail "cannot read /proc of process $2 in host $1"
}

# mig_procstate_each HOST WHEN BASE PID...: mig_procstate of each PID in
# HOST into BASE-PID.proc-WHEN (compare with lib.sh's
# e2e_procstate_same_each), once it waits in the call
# MIG_PROCSTATE_CALL[PID] names (default sigsuspend); a zombie or a
# stopped process (which waits in none) as it is.
declare -A MIG_PROCSTATE_CALL=()
mig_procstate_each() {
	local h=$1 when=$2 base=$3 p
	shift 3
	for p in "$@"; do
		case $(mig_state "$h" "$p") in
		Z | T | t) mig_procstate_running "$h" "$p" "$base-$p.proc-$when" ;;
		*) mig_procstate "$h" "$p" "$base-$p.proc-$when" "${MIG_PROCSTATE_CALL[$p]:-}" ;;
		esac
	done
}

# mig_procstate_running HOST PID FILE: e2e_procstate of PID in HOST,
# which works on (compare with E2E_PROCSTATE_RUNNING accepted).
mig_procstate_running() {
	mig_in "$1" "$TOOLS/procstate" "$2" >"$3" || e2e_fail "cannot read /proc of process $2 in host $1"
}

# mig_spawn HOST OUT [--pid PID] CMD...: starts CMD inside HOST, detached
# (its parent is the host's init), with stdin /dev/null, stdout OUT, stderr
# OUT.err and no other descriptors; prints its PID in HOST.  With --pid it
# gets exactly that PID (set through ns_last_pid just before the fork;
# retried if something else took it first) or the test fails; the host's
# next PIDs then come from PID + 5000 on, away from the PIDs of the
# process's children (the checks that follow would else run as PID+1,
# PID+2, ..., the very PIDs they look for, or a PID a test chose from
# them).
mig_spawn() {
	local h=$1 out=$2 want=0 pid
	shift 2
	if [[ $1 == --pid ]]; then
		want=$2
		shift 2
	fi
	for _ in 1 2 3 4 5; do
		# shellcheck disable=SC2016 # expanded in the host
		pid=$(mig_in "$h" bash -c '
			for fd in /proc/$$/fd/*; do
				fd=${fd##*/}
				((fd > 2)) && { eval "exec $fd>&-"; } 2>/dev/null
			done
			out=$1 want=$2
			shift 2
			((want == 0)) || echo $((want - 1)) >/proc/sys/kernel/ns_last_pid
			"$@" </dev/null >"$out" 2>"$out.err" &
			spawned=$!
			((want == 0 || $(</proc/sys/kernel/ns_last_pid) >= want + 5000)) || echo $((want + 5000)) >/proc/sys/kernel/ns_last_pid
			echo $spawned' mig-spawn "$out" "$want" "$@") || e2e_fail "cannot start $1 in host $h"
		[[ $pid =~ ^[0-9]+$ ]] || e2e_fail "starting $1 in host $h printed \"$pid\""
		if ((want == 0 || pid == want)); then
			e2e_log "started $pid in host $h: $*"
			echo "$pid"
			return 0
		fi
		e2e_log "wanted PID $want in host $h, got $pid (raced); retrying"
		mig_in "$h" kill -KILL "$pid" 2>/dev/null || true
		mig_in "$h" "$TOOLS/pidwait" --reaped "$pid" 10 || true
	done
	e2e_fail "could not start a process with PID $want in host $h"
}

# mig_stat HOST PID: the process's /proc/PID/stat line in HOST, empty if none.
mig_stat() {
	mig_in "$1" cat "/proc/$2/stat" 2>/dev/null || true
}

# mig_state HOST PID: its state letter (R, S, T, t, Z, ...), empty if none.
mig_state() {
	local stat
	stat=$(mig_stat "$1" "$2")
	[[ -n $stat ]] || return 0
	stat=${stat##*) }
	echo "${stat%% *}"
}

# mig_starttime HOST PID: its start time (field 22), empty if none.
mig_starttime() {
	local stat
	stat=$(mig_stat "$1" "$2")
	[[ -n $stat ]] || return 0
	stat=${stat##*) }
	local -a fields
	read -r -a fields <<<"$stat"
	echo "${fields[19]}"
}

# mig_assert_running HOST PID WHAT: PID exists in HOST, runs (not stopped,
# not a zombie) and is not traced.
mig_assert_running() {
	local h=$1 pid=$2 what=$3 state tracer
	state=$(mig_state "$h" "$pid")
	[[ -n $state && $state != [ZXxTt] ]] || e2e_fail "$what: process $pid in host $h is in state '${state:-gone}'"
	# shellcheck disable=SC2016 # awk's $2
	tracer=$(mig_in "$h" awk '/^TracerPid:/ { print $2 }' "/proc/$pid/status" 2>/dev/null || true)
	[[ $tracer == 0 ]] || e2e_fail "$what: process $pid in host $h is traced by ${tracer:-?}"
}

# mig_assert_gone HOST PID WHAT: nothing is left at PID in HOST (a process
# that was killed there is reaped by the host's init within 10 s).
mig_assert_gone() {
	local h=$1 pid=$2 what=$3
	mig_in "$h" "$TOOLS/pidwait" --reaped "$pid" 10 ||
		e2e_fail "$what: a process $pid (state $(mig_state "$h" "$pid")) is left in host $h"
}

# mig_children HOST PID: the PIDs of PID's children in HOST, one a line.
mig_children() {
	mig_in "$1" cat "/proc/$2/task/$2/children" | tr ' ' '\n' | grep . || true
}

# mig_assert_tree_moved FROM TO WHAT ROOT KID...: ROOT runs in TO and is
# gone from FROM; every KID is in TO (in whatever state), ROOT's child
# there, and gone from FROM.
mig_assert_tree_moved() {
	local from=$1 to=$2 what=$3 root=$4 k
	shift 4
	mig_assert_running "$to" "$root" "$what: root"
	mig_assert_gone "$from" "$root" "$what: root"
	for k in "$@"; do
		[[ -n $(mig_state "$to" "$k") ]] || e2e_fail "$what: process $k is missing in host $to"
		[[ $(mig_stat "$to" "$k" | awk '{ sub(/^.*\) /, ""); print $2 }') == "$root" ]] ||
			e2e_fail "$what: process $k is not $root's child in host $to"
		mig_assert_gone "$from" "$k" "$what: process $k"
	done
}

# mig_round_trip PID WHAT [MODE1 MODE2]: migrates PID from host A to B
# (migrate --mode MODE1) and back to A (--mode MODE2), each hop succeeding
# and leaving it running only where it went.  Without modes both hops are
# in migrate's default mode (stream), without --mode.
mig_round_trip() {
	local pid=$1 what=$2 here=A there=B tmp hop
	local -a modes=("${@:3}") mode
	for hop in 1 2; do
		mode=()
		[[ -n ${modes[hop - 1]:-} ]] && mode=(--mode "${modes[hop - 1]}")
		mig_bm "$here" migrate "$pid" "${MIG_ADDR[$there]}:$MIG_PORT" --key "$MIG_KEY" "${mode[@]}"
		e2e_expect_ok "$what: hop $hop ($here -> $there${mode[*]:+, ${mode[*]}})"
		mig_assert_running "$there" "$pid" "$what after hop $hop"
		mig_assert_gone "$here" "$pid" "$what after hop $hop"
		tmp=$here here=$there there=$tmp
	done
}

# mig_wake_expect_pass HOST PID OUT NAME: wakes program PID in HOST
# (SIGUSR1), waits for PASS in OUT and for the program to end (30 s each;
# NAME says which did not) and expects its PASS.
mig_wake_expect_pass() {
	mig_in "$1" kill -USR1 "$2"
	mig_in "$1" "$TOOLS/waitfor" --pid "$2" "$3" "PASS" 30 || true
	mig_in "$1" "$TOOLS/pidwait" "$2" 30 || e2e_fail "$4 did not end"
	e2e_expect_pass "$3"
}

# mig_bm HOST ARGS...: runs binmig inside HOST, like lib.sh's bm (BM_RC,
# BM_OUT, BM_ERR).
mig_bm() {
	local h=$1
	shift
	E2E_BM_COUNT=$((E2E_BM_COUNT + 1))
	BM_OUT=$E2E_TMP/binmig.$E2E_BM_COUNT.out
	BM_ERR=$E2E_TMP/binmig.$E2E_BM_COUNT.err
	BM_RC=0
	timeout -k 5 "$E2E_BINMIG_TIMEOUT" "$HOSTS_CMD" exec "$h" -- "$BINMIG" "$@" </dev/null >"$BM_OUT" 2>"$BM_ERR" ||
		BM_RC=$?
	e2e_log "host $h: binmig $* -> exit $BM_RC"
	head -n 10 "$BM_ERR" | sed 's/^/    stderr: /' >&2
	((BM_RC != 124)) || e2e_fail "binmig $1 in host $h did not finish within ${E2E_BINMIG_TIMEOUT}s"
	return 0
}

# mig_bm_bg HOST ARGS...: mig_bm in the background; mig_bm_wait waits for
# it and sets BM_RC, BM_OUT and BM_ERR (other binmig commands may run in
# between).
mig_bm_bg() {
	local h=$1
	shift
	E2E_BM_COUNT=$((E2E_BM_COUNT + 1))
	MIG_BG_OUT=$E2E_TMP/binmig.$E2E_BM_COUNT.out
	MIG_BG_ERR=$E2E_TMP/binmig.$E2E_BM_COUNT.err
	# There at once: a test may follow them while binmig runs.
	: >"$MIG_BG_OUT"
	: >"$MIG_BG_ERR"
	(
		rc=0
		timeout -k 5 "$E2E_BINMIG_TIMEOUT" "$HOSTS_CMD" exec "$h" -- "$BINMIG" "$@" </dev/null \
			>"$MIG_BG_OUT" 2>"$MIG_BG_ERR" || rc=$?
		echo "$rc" >"$MIG_BG_OUT.rc"
	) &
	MIG_BG_JOB=$!
	MIG_BG_WHAT="host $h: binmig $*"
}

mig_bm_wait() {
	wait "$MIG_BG_JOB" || true
	BM_OUT=$MIG_BG_OUT BM_ERR=$MIG_BG_ERR
	BM_RC=$(cat "$BM_OUT.rc" 2>/dev/null) || e2e_fail "$MIG_BG_WHAT: no exit status"
	e2e_log "$MIG_BG_WHAT -> exit $BM_RC"
	head -n 10 "$BM_ERR" | sed 's/^/    stderr: /' >&2
	((BM_RC != 124)) || e2e_fail "$MIG_BG_WHAT did not finish within ${E2E_BINMIG_TIMEOUT}s"
}

# mig_expect_failure CODE PHASES PID WHAT: the last binmig migrate exited
# with CODE (any non-zero if CODE is "any"), its first line names one of
# PHASES ("binmig: migrate: PHASE: ...", PHASES separated by "|"), its last
# line says PID resumed (unless the phase is connect, authentication, cpu
# check, memory plan or suspend, which leave the process as it was), and it printed nothing on
# stdout.
mig_expect_failure() {
	local code=$1 phases=$2 pid=$3 what=$4 first last phase named=
	if [[ $code == any ]]; then
		((BM_RC != 0)) || e2e_fail "$what: migrate succeeded"
	else
		[[ $BM_RC == "$code" ]] || e2e_fail "$what: migrate exited $BM_RC, expected $code"
	fi
	first=$(e2e_said "$BM_ERR" | head -n 1)
	last=$(tail -n 1 "$BM_ERR")
	IFS='|' read -r -a phase_list <<<"$phases"
	for phase in "${phase_list[@]}"; do
		[[ $first == "binmig: migrate: $phase: "* ]] && named=$phase
	done
	[[ -n $named ]] || e2e_fail "$what: the error does not name the phase ($phases): $first"
	if [[ $named != connect && $named != authentication && $named != "cpu check" && $named != "memory plan" &&
		$named != suspend ]]; then
		[[ $last == "binmig: migrate: process $pid resumed at the source" ]] ||
			e2e_fail "$what: migrate does not say that $pid resumed at the source (last line: $last)"
	fi
	[[ ! -s $BM_OUT ]] || e2e_fail "$what: migrate failed but printed on stdout: $(head -c 200 "$BM_OUT")"
}

# mig_csv_check PID MIB [SEAL]: the last binmig printed a CSV header and one
# row, with every phase, for PID and at least MIB MiB of memory sent (the
# image, and the page bytes of pre-copy's rounds or of post-copy), sealed with SEAL
# (default: MIG_SEAL, what --seal auto chooses).
MIG_PHASES=(suspend_us checkpoint_us transfer_us as_restore_us ctx_restore_us downtime_us total_us)
mig_csv_check() {
	local pid=$1 mib=$2 seal=${3:-$MIG_SEAL} header row col i
	local -a names values
	[[ $(wc -l <"$BM_OUT") == 2 ]] || e2e_fail "migrate --stats csv printed $(wc -l <"$BM_OUT") lines, expected 2"
	header=$(head -n 1 "$BM_OUT")
	row=$(tail -n 1 "$BM_OUT")
	IFS=, read -r -a names <<<"$header"
	IFS=, read -r -a values <<<"$row"
	((${#names[@]} == ${#values[@]})) || e2e_fail "CSV header has ${#names[@]} columns, the row ${#values[@]}"
	declare -A by_name=()
	for i in "${!names[@]}"; do
		by_name[${names[i]}]=${values[i]}
		[[ ${names[i]} == seal || ${names[i]} == precopy_round_pages_bytes_us ]] && continue
		[[ ${values[i]} =~ ^[0-9]+$ ]] || e2e_fail "CSV column ${names[i]} is \"${values[i]}\", not a number"
	done
	[[ ${by_name[seal]:-} == "$seal" ]] || e2e_fail "CSV says seal ${by_name[seal]:-none given}, expected $seal"
	for col in "${MIG_PHASES[@]}"; do
		[[ -n ${by_name[$col]:-} ]] || e2e_fail "CSV has no column $col: $header"
		((by_name[$col] > 0)) || e2e_fail "CSV column $col is 0: $row"
	done
	[[ ${by_name[pid]:-} == "$pid" ]] || e2e_fail "CSV says pid ${by_name[pid]:-none}, expected $pid"
	((by_name[downtime_us] <= by_name[total_us])) || e2e_fail "CSV: downtime longer than the total: $row"
	local sent=$((by_name[image_bytes] + ${by_name[precopy_bytes]:-0} + ${by_name[postcopy_bytes]:-0}))
	((sent >= mib << 20)) || e2e_fail "CSV: image and pages before or after of $sent bytes for $mib MiB: $row"
}

# mig_no_uffd_left HOST PID FLAG WHAT: PID in HOST holds no userfaultfd
# and no VMA with FLAG in its VmFlags (uw: registered for write-protection,
# pre-copy; um: for missing pages, post-copy).
mig_no_uffd_left() {
	local h=$1 pid=$2 flag=$3 what=$4 n
	n=$(mig_in "$h" bash -c "grep -c '^VmFlags:.* $flag' /proc/$pid/smaps" || true)
	[[ $n == 0 ]] || e2e_fail "$what: $n VMAs of $pid are still registered with a userfaultfd ($flag)"
	n=$(mig_in "$h" bash -c "ls -l /proc/$pid/fd | grep -c userfaultfd" || true)
	[[ $n == 0 ]] || e2e_fail "$what: process $pid holds a userfaultfd"
}

# mig_memguard_hops PID CHECK HOP...: tests/progs/memguard.c (guard
# regions, droppable memory) started in host A as PID and migrated once
# per HOP, "MODE [OPTION...]", from A to B and back by turns (CHECK PID
# HOST run after each, MODE set); then checked where it ended.  Skipped,
# saying so, on a kernel without guard regions or droppable memory.
mig_memguard_hops() {
	local pid=$1 check=$2 hop tmp why out=$E2E_TMP/memguard.out mode
	local -a opts
	shift 2
	if ! why=$("$PROGS/memguard" probe); then
		e2e_log "memguard skipped: $why"
		return 0
	fi
	mkdir -p "$E2E_TMP/memguard"
	pid=$(mig_spawn A "$out" --pid "$pid" "$PROGS/memguard" carried "$E2E_TMP/memguard")
	mig_in A "$TOOLS/waitfor" --pid "$pid" -x "$out" ready 20 || { e2e_show "$out"; e2e_fail "memguard did not get ready"; }
	here=A there=B
	for hop in "$@"; do
		read -r -a opts <<<"$hop"
		mode=${opts[0]}
		mig_bm "$here" migrate "$pid" "${MIG_ADDR[$there]}:$MIG_PORT" --key "$MIG_KEY" --mode "${opts[@]}" --stats csv
		e2e_expect_ok "$mode migration of memguard ($here -> $there)"
		mig_assert_running "$there" "$pid" "after the $mode migration of memguard"
		"$check" "$pid" "$there"
		tmp=$here here=$there there=$tmp
	done
	mig_in "$here" kill -USR1 "$pid"
	mig_in "$here" "$TOOLS/waitfor" --pid "$pid" "$out" PASS 30 || true
	e2e_expect_pass "$out"
	e2e_log "memguard: guard pages and droppable memory as they were after: $*"
}

# mig_csv_row PID COLUMN...: the last migrate's CSV row into the array PC
# (column name -> value); it is PID's, and each COLUMN is a number.
mig_csv_row() {
	local pid=$1 header row i c
	shift
	header=$(head -n 1 "$BM_OUT")
	row=$(tail -n 1 "$BM_OUT")
	IFS=, read -r -a names <<<"$header"
	IFS=, read -r -a values <<<"$row"
	declare -gA PC=()
	for i in "${!names[@]}"; do PC[${names[i]}]=${values[i]}; done
	[[ ${PC[pid]:-} == "$pid" ]] || e2e_fail "CSV pid ${PC[pid]:-none}, expected $pid: $row"
	for c in "$@"; do
		[[ ${PC[$c]:-} =~ ^[0-9]+$ ]] || e2e_fail "CSV has no numeric $c: $header / $row"
	done
}

# mig_live_state HOST PID FILE: what /proc shows of PID in HOST that a
# process does not change by itself while it runs, as procstate --pages
# prints it: its map with each area's flags (smaps VmFlags, page sizes),
# its limits, its descriptors' targets, the count of pages
# write-protected through a userfaultfd, and of it and each thread the
# credentials, capabilities, signals ignored and caught, seccomp and
# no_new_privs, allowed CPUs and memory nodes.  Two of them, taken before and
# after hops of a running workload, are compared with e2e_procstate_same
# (a waiting program's whole state: mig_procstate).
mig_live_state() {
	mig_in "$1" "$TOOLS/procstate" --pages "$2" >"$3.all" || e2e_fail "cannot read /proc of process $2 in host $1"
	grep -E '^(map |limits |fd [0-9]+ -> |pages uffd-wp )|^(status|thread [0-9]+) (Uid|Gid|Groups|Threads|SigIgn|SigCgt|Cap[A-Za-z]+|NoNewPrivs|Seccomp|Cpus_allowed_list|Mems_allowed_list):' \
		"$3.all" >"$3" || true
}

# mig_live_hops MODE CHECK FLAG EXTRA OUT PID: HOPS migrations of PID
# A <-> B with --mode MODE --stats csv, each checked: exit 0, `CHECK PID`
# on its CSV (which fills PC, mig_csv_row), the process running at the
# destination and gone from the source, nothing of the userfaultfd left
# (mig_no_uffd_left FLAG); after the last, what /proc shows of it that
# it does not change itself must be as before the first (mig_live_state).
# Leaves `here` at its last host and logs each hop's "downtime/EXTRA"
# (EXTRA a CSV column).
mig_live_hops() {
	local mode=$1 check=$2 flag=$3 extra=$4 out=$5 pid=$6 round there=B tmp what
	local -a downtimes=()
	here=A
	mig_live_state A "$pid" "$out.live-before"
	for ((round = 1; round <= HOPS; round++)); do
		what="$mode migration $round of $pid ($here -> $there)"
		mig_assert_unfinished "$out" "before $what"
		mig_bm "$here" migrate "$pid" "${MIG_ADDR[$there]}:$MIG_PORT" --key "$MIG_KEY" --mode "$mode" --stats csv
		e2e_expect_ok "$what"
		"$check" "$pid"
		downtimes+=("${PC[downtime_us]}/${PC[$extra]}")
		mig_assert_running "$there" "$pid" "after $what"
		mig_assert_gone "$here" "$pid" "after $what"
		mig_no_uffd_left "$there" "$pid" "$flag" "after $what"
		tmp=$here here=$there there=$tmp
	done
	mig_live_state "$here" "$pid" "$out.live-after"
	e2e_procstate_same "$out.live" "$HOPS $mode hops of $pid"
	e2e_log "$HOPS $mode hops of $pid; downtime us / $extra: ${downtimes[*]}"
}

# mig_expect_result HOST PID OUT: tells the workload to finish; it does
# so in HOST, and its output is ready, units M and the result of an
# unmigrated run of M units, with nothing on stderr.
mig_expect_result() {
	local h=$1 pid=$2 out=$3
	touch "$MIG_STOP"
	mig_in "$h" "$TOOLS/waitfor" --pid "$pid" "$out" "result " 120 ||
		{ e2e_show "$out" "$out.err"; e2e_fail "workload $pid in host $h did not finish"; }
	[[ ! -s $out.err ]] || { e2e_show "$out.err"; e2e_fail "workload wrote on stderr"; }
	e2e_until_result "$out" 300 "$MIG_WORKLOAD_BIN" "${MIG_WORKLOAD_ARGS[@]}"
	e2e_log "workload finished in host $h with the unmigrated run's result"
}

# mig_start_workload: starts the workload in host A at MIG_WORKLOAD_PID and
# waits until it is ready.  Sets MIG_PID and MIG_OUT.
mig_start_workload() {
	MIG_OUT=$E2E_TMP/workload.out
	MIG_PID=$(mig_spawn A "$MIG_OUT" --pid "$MIG_WORKLOAD_PID" "${MIG_WORKLOAD[@]}")
	mig_in A "$TOOLS/waitfor" --pid "$MIG_PID" "$MIG_OUT" ready 20 ||
		{ e2e_show "$MIG_OUT.err"; e2e_fail "workload $MIG_PID did not get ready"; }
}

# mig_after_failure WHAT: after a failed migration, the workload runs on in
# host A (not stopped, not traced, still working) and host B has nothing
# at its PID.
mig_after_failure() {
	mig_assert_running A "$MIG_PID" "$1"
	mig_assert_unfinished "$MIG_OUT" "$1"
	mig_assert_gone B "$MIG_PID" "$1"
	e2e_log "ok: $1: the workload runs on in host A, nothing is left in host B"
}

# mig_defer_fail MESSAGE: a failure that does not stop the test (the
# checks after it still run); mig_finish fails the test at its end if any
# was recorded.
MIG_DEFERRED=()
mig_defer_fail() {
	echo "FAIL (deferred): $*" >&2
	MIG_DEFERRED+=("$*")
}

mig_finish() {
	((${#MIG_DEFERRED[@]} == 0)) && return 0
	printf 'FAIL: %s\n' "${MIG_DEFERRED[@]}" >&2
	exit 1
}

# mig_assert_unfinished OUT WHAT: the workload has not printed its result.
mig_assert_unfinished() {
	if grep -q '^result' "$1"; then
		e2e_fail "$2: the workload finished already, before it was told to"
	fi
}

# mig_proxy OUT ARGS...: starts the fault proxy in host A, listening on
# 127.0.0.1:$MIG_PROXY_PORT and forwarding to serve in host B (on
# MIG_PROXY_TO_PORT, default MIG_PORT); waits until it listens.  Sets
# MIG_PROXY_PID (in A).
mig_proxy() {
	local out=$1
	shift
	MIG_PROXY_PID=$(mig_spawn A "$out" "$TOOLS/faultproxy" "127.0.0.1:$MIG_PROXY_PORT" \
		"${MIG_ADDR[B]}:${MIG_PROXY_TO_PORT:-$MIG_PORT}" "$@")
	e2e_wait_line "$out" listening "" 10 -x
}

# mig_proxy_done: waits for the proxy to exit.
mig_proxy_done() {
	mig_in A "$TOOLS/pidwait" "$MIG_PROXY_PID" 20 || e2e_fail "the fault proxy did not exit"
}

# mig_wait_text FILE TEXT COUNT WHAT: until FILE has COUNT lines containing
# TEXT (at most 30 s, which only a failing run waits).  tail -f follows
# the file with inotify.
mig_wait_text() {
	local file=$1 text=$2 count=$3 what=$4 got tail_pid follow
	exec {follow}< <(exec tail -n +1 -f "$file")
	tail_pid=$!
	got=$(timeout 30 grep -F -m "$count" -c -- "$text" <&"$follow") || true
	exec {follow}<&-
	kill "$tail_pid" 2>/dev/null || true
	[[ $got == "$count" ]] ||
		{ tail -n 5 "$file" >&2; e2e_fail "$what: $(basename "$file") has ${got:-no} lines with \"$text\", expected $count"; }
}

# mig_wait_log HOST TEXT COUNT WHAT: mig_wait_text on serve's log in HOST
# (serve may log a failure just after the source has reported it).
mig_wait_log() {
	mig_wait_text "$HOSTS_STATE/serve-$1.log" "${@:2}"
}

# mig_own_serve HOST PORT LOG [SERVE_OPTION...]: a serve of the test's own
# in HOST on PORT, as a child of this shell (through nsenter, which passes
# its exit status on), logging to LOG; waits until it listens.  Sets
# SERVE_JOB (nsenter) and SERVE_PID (serve, root namespace).
mig_own_serve() {
	local h=$1 port=$2 log=$3
	shift 3
	"$HOSTS_CMD" exec "$h" -- "$BINMIG" serve --listen "${MIG_ADDR[$h]}:$port" --key "$MIG_KEY" "$@" \
		</dev/null >/dev/null 2>"$log" &
	SERVE_JOB=$!
	e2e_track "$SERVE_JOB"
	e2e_wait_line "$log" "" "$SERVE_JOB" 10
	grep -q "binmig serve: listening on ${MIG_ADDR[$h]}:$port" "$log" || e2e_fail "serve in $h: $(cat "$log")"
	SERVE_PID=$(cat "/proc/$SERVE_JOB/task/$SERVE_JOB/children")
	SERVE_PID=${SERVE_PID% }
	[[ $SERVE_PID =~ ^[0-9]+$ ]] || e2e_fail "serve in $h: not found under nsenter $SERVE_JOB"
	e2e_track "$SERVE_PID"
}

# mig_serve_pid HOST: the root-namespace PID of serve in HOST, as harness/hosts recorded it.
mig_serve_pid() {
	local pid t
	read -r pid t <"$HOSTS_STATE/serve-$1.pid" || e2e_fail "no serve recorded for host $1"
	[[ $(e2e_starttime "$pid") == "$t" ]] || e2e_fail "serve in host $1 (PID $pid) is not running"
	echo "$pid"
}

# workers_done HOST WHAT: until serve in HOST has no worker (a child
# that is binmig) left, within 20 s; otherwise the next migration could
# find it busy.
workers_done() {
	local serve children c deadline=$((SECONDS + 20))
	serve=$(mig_serve_pid "$1")
	while :; do
		children=$(cat "/proc/$serve/task/$serve/children" 2>/dev/null)
		local busy=
		for c in $children; do
			[[ $(cat "/proc/$c/comm" 2>/dev/null) == binmig ]] && busy=$c
		done
		[[ -z $busy ]] && return 0
		((SECONDS < deadline)) || e2e_fail "$2: serve's worker $busy in host $1 is still running after 20 s"
		sleep 0.02
	done
}
