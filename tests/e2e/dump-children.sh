#!/usr/bin/env bash
# A process with children is refused (exit 4, naming them) and left
# untouched: binmig moves one process, and its children would otherwise be
# left behind while the parent, restored alone, finds nobody to wait for.
# A running child (a shell waiting for its background job) and a zombie
# child (tools/zombie, which never reaps its exited child) are both
# children.
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/lib.sh"
e2e_init

# refused PID CHILD WHAT: dump and migrate-like checkpoint refuse PID,
# naming CHILD; PID runs on, neither stopped nor traced.
refused() {
	local pid=$1 child=$2 what=$3
	bm dump "$pid" -o "$E2E_TMP/img"
	e2e_expect_error 4 "dump of $what"
	grep -q "process $pid has 1 child process ($child); binmig moves one process, not a tree" "$BM_ERR" ||
		e2e_fail "$what: the refusal does not name the child $child: $(cat "$BM_ERR")"
	[[ ! -e $E2E_TMP/img && ! -e $E2E_TMP/img.partial ]] || e2e_fail "$what: an image was left"
	e2e_assert_alive "$pid"
	[[ $(e2e_tracer "$pid") == 0 ]] || e2e_fail "$what: process $pid is still traced"
	e2e_log "ok: $what refused, naming child $child"
}

out=$E2E_TMP/zombie.out
e2e_start "$out" "$TOOLS/zombie"
parent=$E2E_PID
e2e_wait_line "$out" "" "$parent" 10
child=$(head -n 1 "$out")
[[ $child =~ ^[0-9]+$ && $(e2e_state "$child") == Z ]] || e2e_fail "tools/zombie printed \"$child\", not a zombie's PID"
refused "$parent" "$child" "a process with a zombie child"

out=$E2E_TMP/shell.out
# The shell says its child's PID, then waits for it.
e2e_start "$out" sh -c 'sleep 600 & echo $!; wait'
parent=$E2E_PID
e2e_wait_line "$out" "" "$parent" 10
child=$(head -n 1 "$out")
[[ $child =~ ^[0-9]+$ ]] || e2e_fail "the shell printed \"$child\""
e2e_track "$child"
refused "$parent" "$child" "a shell waiting for its child"
