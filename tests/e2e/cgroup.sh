#!/usr/bin/env bash
# Control group membership (tests/progs/cgroup.c), in a cgroup of this
# test's own under the cgroup v2 root (and under one cgroup v1 hierarchy
# too where the machine mounts some):
#  - carried: dump and restore put the process back into the same
#    cgroups, as /proc/self/cgroup shows it, and /proc shows the same of
#    it (e2e_migrate_same; restored with --cgroup here, but for its
#    cgroups; refused, all of it);
#  - a cgroup that no longer exists fails the restore (exit 6, naming it
#    and --cgroup here); with --cgroup here it comes back in binmig's own
#    cgroups, which restore says;
#  - a thread placed in another cgroup than its process (cgroup v2
#    threaded mode) is refused (exit 4), the process untouched.
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/lib.sh"
e2e_init cgroup

# The mount points of the cgroup v2 hierarchy and of a cgroup v1 one.
V2=$(awk '$0 ~ / - cgroup2 / { print $5; exit }' /proc/self/mountinfo)
V1=$(awk '$0 ~ / - cgroup / { print $5; exit }' /proc/self/mountinfo)
[[ -n $V2 ]] || e2e_skip "no cgroup v2 hierarchy is mounted"
NAME=binmig-e2e-$$
DIRS=("$V2/$NAME/carried" "$V2/$NAME/missing" "$V2/$NAME/thread")
[[ -n $V1 ]] && DIRS+=("$V1/$NAME/carried")
remove_cgroups() { # kills what is left in them, then deepest first
	local d
	[[ -d $V2/$NAME ]] && e2e_cgroup_kill "$V2/$NAME"
	for d in "$V2/$NAME/thread/t" "${DIRS[@]}" "$V2/$NAME" ${V1:+"$V1/$NAME"}; do
		[[ -d $d ]] && { rmdir "$d" || e2e_log "cannot remove cgroup $d"; }
	done
	return 0
}
# Before lib.sh's cleanup, which ends the script.
trap 'rc=$?; set +e; remove_cgroups; (exit $rc); e2e_cleanup' EXIT
# A machine whose cgroup file system this test may not write (a container
# without delegation) cannot run it.
mkdir "$V2/$NAME" 2>/dev/null || e2e_skip "cannot make a cgroup under $V2 (not delegated here)"
if [[ -n $V1 ]] && ! mkdir "$V1/$NAME" 2>/dev/null; then
	e2e_log "cannot make a cgroup under $V1: cgroup v2 only"
	unset 'DIRS[3]'
	V1=
fi
mkdir -p "${DIRS[@]}" || e2e_fail "cannot make cgroups under $V2${V1:+ and $V1}"

# start NAME CGROUP_DIR... -- MODE: the program, moved into the cgroups first.
start() {
	local name=$1 dirs=() script=
	shift
	while [[ $1 != -- ]]; do dirs+=("$1"); shift; done
	shift
	for d in "${dirs[@]}"; do script+="echo \$\$ >'$d/cgroup.procs' && "; done
	out=$E2E_TMP/$name.out
	e2e_start "$out" sh -c "${script}exec '$PROGS/cgroup' $1"
	pid=$E2E_PID
	e2e_wait_ready "$out" "$pid"
}

carried_dirs=("$V2/$NAME/carried")
[[ -n $V1 ]] && carried_dirs+=("$V1/$NAME/carried")
start carried "${carried_dirs[@]}" -- carried
grep -q "^0::/.*$NAME/carried\$" "/proc/$pid/cgroup" || e2e_fail "the program is not in its cgroup: $(cat "/proc/$pid/cgroup")"
e2e_migrate_same "$pid" "$E2E_TMP/carried.img" "cgroup carried"
e2e_signal "$pid" "$out"
e2e_wait_exit "$pid"
e2e_expect_pass "$out"
e2e_log "ok: the restored process is back in its cgroups (${carried_dirs[*]})"

start missing "$V2/$NAME/missing" -- carried
e2e_wait_syscall "$pid" rt_sigsuspend
e2e_procstate "$pid" "$E2E_TMP/missing.proc-before"
e2e_dump "$pid" "$E2E_TMP/missing.img"
rmdir "$V2/$NAME/missing" || e2e_fail "cannot remove the emptied cgroup"
bm restore "$E2E_TMP/missing.img"
e2e_expect_error 6 "restore into a cgroup that is gone"
grep -q "process $pid was in cgroup /.*$NAME/missing of the cgroup v2 hierarchy, which has no such cgroup here; --cgroup here restores it into binmig's own" "$BM_ERR" ||
	e2e_fail "the failed restore does not name the cgroup and the way out: $(cat "$BM_ERR")"
e2e_assert_no_pid "$pid"
e2e_restore "$E2E_TMP/missing.img" "$pid" --cgroup here
grep -q "process $pid stays in binmig's cgroups (--cgroup here), not those it had" "$BM_ERR" ||
	e2e_fail "restore --cgroup here does not say where the process went: $(cat "$BM_ERR")"
[[ $(grep '^0::' "/proc/$pid/cgroup") == "$(grep '^0::' /proc/self/cgroup)" ]] ||
	e2e_fail "with --cgroup here the process is not in binmig's cgroup: $(cat "/proc/$pid/cgroup")"
# The same but for its cgroups, binmig's as restore said.
e2e_wait_syscall "$pid" rt_sigsuspend
e2e_procstate "$pid" "$E2E_TMP/missing.proc-after"
E2E_PROCSTATE_ACCEPT='^cgroup ' e2e_procstate_same "$E2E_TMP/missing.proc" "restored with --cgroup here"
kill -KILL "$pid"
e2e_wait_exit "$pid"
e2e_log "ok: a missing cgroup fails the restore; --cgroup here restores it into binmig's"

# A thread in a threaded child cgroup of its process's.
start thread "$V2/$NAME/thread" -- thread
tid=$(sed -n 's/^tid \([0-9]*\)$/\1/p' "$out")
mkdir "$V2/$NAME/thread/t" && echo threaded >"$V2/$NAME/thread/t/cgroup.type" &&
	echo "$tid" >"$V2/$NAME/thread/t/cgroup.threads" || e2e_fail "cannot place thread $tid in a threaded cgroup"
e2e_wait_syscall "$pid" rt_sigsuspend
e2e_procstate "$pid" "$E2E_TMP/thread.proc-before"
bm dump "$pid" -o "$E2E_TMP/thread.img"
e2e_expect_error 4 "dump of a process with a thread in another cgroup"
grep -q "thread $tid of process $pid is in another cgroup than the process" "$BM_ERR" ||
	e2e_fail "the refusal does not name the thread: $(cat "$BM_ERR")"
e2e_assert_alive "$pid"
e2e_wait_syscall "$pid" rt_sigsuspend
e2e_procstate "$pid" "$E2E_TMP/thread.proc-after"
e2e_procstate_same "$E2E_TMP/thread.proc" "the refused process"
echo "$tid" >"$V2/$NAME/thread/cgroup.threads" || e2e_fail "cannot bring thread $tid back"
e2e_signal "$pid" "$out"
e2e_wait_exit "$pid"
e2e_expect_pass "$out"
e2e_log "ok: a thread placed apart is refused, the process untouched"
