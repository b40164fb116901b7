#!/usr/bin/env bash
# The credentials an open file keeps from its opening (f_cred;
# migrator/fd_opener.h, tests/progs/opener.c):
#  - carried: descriptors of cgroup v2 cgroup.procs files opened as root
#    with effective user 65534, as root, and as user 65534 (the process
#    then user 65534): after a dump and a restore a write of itself to
#    the first and the last is still refused (EACCES), the one to the
#    second still moves it, and /proc shows the same of it;
#  - without binmig's BPF reader (BINMIG_TEST_NO_BPF) the dump says the
#    files are opened again with binmig's credentials, and they are: the
#    program sees the first two writes let through (the difference the
#    README lists for that case);
#  - a file its opener (user 65534) may no longer open when it is
#    restored fails the restore (exit 6, naming the file and the user),
#    the process not restored; so does one where the task that opens it
#    as its opener cannot be made (fault point opener-task); restored
#    once it may, it reads the file;
#  - a file user 65534 could open only through the last of its 9, or 64,
#    supplementary groups is opened again at the restore (as those
#    groups: without the last the restore would fail); one opened by a
#    process of 65 groups, more than an image carries, is refused at dump
#    (exit 4), the process untouched, as is a process in 65 groups.
# It needs binmig's BPF reader (root, a kernel with BTF).
# A machine without a cgroup v2 hierarchy this test may write leaves the
# first two parts out, saying so.
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/lib.sh"
e2e_init opener
[[ $(id -u) == 0 && -r /sys/kernel/btf/vmlinux ]] || e2e_skip "binmig's BPF reader needs root and a kernel with BTF"

# The temp dir is root's alone (mktemp): 65534 reads its file through
# one it may enter.
mkdir -m 0755 "$E2E_TMP/open"
file=$E2E_TMP/open/file
echo text >"$file"
chmod 0644 "$file"
chmod 0711 "$E2E_TMP"
out=$E2E_TMP/user.out
e2e_start "$out" "$PROGS/opener" user "$file"
pid=$E2E_PID
e2e_wait_ready "$out" "$pid"
e2e_dump "$pid" "$E2E_TMP/user.img"
chmod 0600 "$file"
bm restore "$E2E_TMP/user.img"
e2e_expect_error 6 "restore of a file its opener may no longer open"
grep -qF "fd 3: cannot reopen $file as the credentials that opened it (uid 65534, gid 65534; open): Permission denied" "$BM_ERR" ||
	e2e_fail "the failed restore does not name the file and its opener: $(cat "$BM_ERR")"
e2e_assert_no_pid "$pid"
chmod 0644 "$file"
# The task that opens it as its opener cannot be made (as in a cgroup at
# pids.max): the restore fails too, naming the step (a build with fault
# injection, as make test's).
e2e_fault_restore opener-task "$E2E_TMP/user.img" "$pid" \
	"fd 3: cannot reopen $file as the credentials that opened it (uid 65534, gid 65534; clone (a task to open it as its opener)): Resource temporarily unavailable" \
	"an opening task that cannot be made"
e2e_restore "$E2E_TMP/user.img" "$pid"
e2e_signal "$pid" "$out"
e2e_wait_exit "$pid"
e2e_expect_pass "$out"
e2e_log "ok: a file its opener may not open fails the restore; restored once it may"

for n in 9 64; do
	echo text >"$E2E_TMP/open/groups$n"
	e2e_state_test opener groups "$n" "$E2E_TMP/open/groups$n"
done
echo text >"$E2E_TMP/open/groups65"
e2e_refused_dump groups65 "is a regular file ($E2E_TMP/open/groups65), opened by a process of 65 supplementary groups (binmig carries 64); binmig cannot migrate it" \
	-- opener groups 65 "$E2E_TMP/open/groups65"
e2e_refused_dump ingroups65 "is in more than 64 supplementary groups, more than binmig carries; binmig cannot migrate it" \
	-- opener ingroups 65

V2=$(awk '$0 ~ / - cgroup2 / { print $5; exit }' /proc/self/mountinfo)
NAME=binmig-e2e-opener-$$
CG=$V2/$NAME
remove_cgroups() { # what is left in them killed, then the deepest first
	[[ -n $V2 && -d $CG ]] || return 0
	e2e_cgroup_kill "$CG"
	local d
	for d in "$CG"/*/*/ "$CG"/*/ "$CG"; do
		[[ -d $d ]] && { rmdir "$d" || e2e_log "cannot remove cgroup $d"; }
	done
	return 0
}
# Before lib.sh's cleanup, which ends the script.
trap 'rc=$?; set +e; remove_cgroups; (exit $rc); e2e_cleanup' EXIT
[[ -n $V2 ]] || e2e_skip "no cgroup v2 hierarchy is mounted (the refusal passed)"
mkdir "$CG" 2>/dev/null || e2e_skip "cannot make a cgroup under $V2, not delegated here (the refusal passed)"

# opener_run LABEL: the program started on CG/LABEL's new cgroups a, b
# and c, and ready (pid, out).
opener_run() {
	local label=$1 dir=$CG/$1
	mkdir "$dir" "$dir/a" "$dir/b" "$dir/c" || e2e_fail "cannot make cgroups under $dir"
	out=$E2E_TMP/$label.out
	e2e_start "$out" "$PROGS/opener" carried "$dir"
	pid=$E2E_PID
	e2e_wait_ready "$out" "$pid"
}

opener_run carried
e2e_migrate_same "$pid" "$E2E_TMP/carried.img" "opener carried"
e2e_signal "$pid" "$out"
e2e_wait_exit "$pid"
e2e_expect_pass "$out"
e2e_log "ok: its descriptors act as their openers after a restore"

opener_run plain
e2e_wait_syscall "$pid" rt_sigsuspend
BINMIG_TEST_NO_BPF=1 bm dump "$pid" -o "$E2E_TMP/plain.img"
e2e_expect_ok "dump without the BPF reader"
grep -q "the files it opened by name are opened again with binmig's credentials" "$BM_ERR" ||
	e2e_fail "the dump does not say that its files are opened as binmig: $(cat "$BM_ERR")"
e2e_restore "$E2E_TMP/plain.img" "$pid"
e2e_signal "$pid" "$out"
e2e_wait_exit "$pid"
for cg in a b; do
	grep -q "^FAIL: .*: $cg's cgroup.procs, opened as .*: a write of itself returned 1 (done), expected EACCES" "$out" ||
		e2e_fail "opened as binmig, $cg's cgroup.procs did not let the write through: $(cat "$out")"
done
e2e_log "ok: without the reader the files come back opened as binmig, as the dump says"
