#!/usr/bin/env bash
# binmig killed (SIGKILL, as if it crashed; fault point trace-new armed
# with "/crash") after it created the new process and before it traced
# it: the new process, and in a tree every new process, must end by
# itself at once rather than wait for a "go" that never comes, holding the
# image's PIDs and binmig's descriptors (in serve's worker, the
# connection: the source then waited 30 s for a peer that did not read).
# Then the same images restore.  A single process (sleeper pause) and a
# tree (tests/progs/tree.c).
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/lib.sh"
e2e_init sleeper tree

# crashed_restore IMAGE PID...: the restore crashes, and every PID ends
# (a zombie counts: reaping it is the job of whoever inherited it).
crashed_restore() {
	local image=$1 p
	shift
	BINMIG_FAULT=trace-new/crash bm restore "$image"
	for p in "$@"; do e2e_track "$p"; done # killed at the end if left over
	((BM_RC == 137)) || e2e_fail "restore with trace-new/crash exited $BM_RC, expected 137 (SIGKILL)"
	for p in "$@"; do
		"$TOOLS/pidwait" "$p" 10 || e2e_fail "process $p still runs 10 s after binmig died ($(e2e_state "$p"))"
	done
	for p in "$@"; do
		"$TOOLS/pidwait" --reaped "$p" 20 || e2e_fail "process $p not reaped 20 s after binmig died"
	done
}

out=$E2E_TMP/sleeper.out
e2e_start "$out" "$PROGS/sleeper" pause
pid=$E2E_PID
e2e_wait_ready "$out" "$pid"
e2e_wait_syscall "$pid" pause
e2e_dump "$pid" "$E2E_TMP/sleeper.img"
crashed_restore "$E2E_TMP/sleeper.img" "$pid"
e2e_restore "$E2E_TMP/sleeper.img" "$pid"
e2e_wait_syscall "$pid" pause
e2e_signal "$pid" "$out"
e2e_wait_exit "$pid"
e2e_expect_pass "$out"
e2e_log "ok: a single process ended when binmig crashed before tracing it, and restored afterwards"

out=$E2E_TMP/tree.out
mkdir "$E2E_TMP/work"
e2e_start "$out" "$PROGS/tree" "$E2E_TMP/work"
root=$E2E_PID
e2e_wait_ready "$out" "$root"
mapfile -t kids < <(tr ' ' '\n' <"/proc/$root/task/$root/children" | grep .)
for k in "${kids[@]}"; do e2e_track "$k"; done
e2e_wait_syscall "$root" rt_sigsuspend
e2e_tree_dump "$E2E_TMP/tree.img" 1 "the tree" "$root" "${kids[@]}"
crashed_restore "$E2E_TMP/tree.img" "$root" "${kids[@]}"
e2e_restore "$E2E_TMP/tree.img" "$root"
e2e_wait_syscall "$root" rt_sigsuspend
e2e_signal "$root" "$out"
e2e_wait_exit "$root"
e2e_expect_pass "$out"
e2e_log "ok: a tree ended when binmig crashed before tracing it, and restored afterwards"
