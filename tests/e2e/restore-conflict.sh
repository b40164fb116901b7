#!/usr/bin/env bash
# Restores that cannot be done here exit 6 with one "binmig: ..." line:
# a mapped file that changed after the dump (appended to), one that is
# missing, and a PID that is taken (dump --leave-running: the original keeps
# running, untouched, and is still the same process afterwards).  No
# process is left behind; once the PID is free the same image restores.
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/lib.sh"
e2e_init mapfile holder

for change in append remove; do
	dir=$E2E_TMP/$change
	mkdir "$dir"
	out=$E2E_TMP/$change.out
	e2e_start "$out" "$PROGS/mapfile" "$dir"
	pid=$E2E_PID
	e2e_wait_ready "$out" "$pid"
	e2e_dump "$pid" "$E2E_TMP/$change.img"
	if [[ $change == append ]]; then
		echo "one more line" >>"$dir/private.dat"
	else
		rm "$dir/shared.dat"
	fi
	bm restore "$E2E_TMP/$change.img"
	e2e_expect_error 6 "restore after the mapped file was changed ($change)"
	e2e_assert_no_pid "$pid"
done

out=$E2E_TMP/holder.out
image=$E2E_TMP/holder.img
e2e_start "$out" "$PROGS/holder" none
pid=$E2E_PID
e2e_wait_ready "$out" "$pid"
start=$(e2e_starttime "$pid")
bm dump "$pid" -o "$image" --leave-running
e2e_expect_ok "dump --leave-running"
e2e_assert_alive "$pid"
bm restore "$image"
e2e_expect_error 6 "restore while PID $pid is taken"
e2e_assert_alive "$pid"
[[ $(e2e_starttime "$pid") == "$start" ]] || e2e_fail "PID $pid is no longer the original process"
e2e_signal "$pid" "$out"
e2e_wait_exit "$pid"
status=0
wait "$pid" || status=$?
[[ $status == 0 ]] || e2e_fail "original exited with $status after dump --leave-running"
e2e_expect_pass "$out"
unset "E2E_CHILDREN[$pid]"
cp "$out" "$E2E_TMP/original.out"

# The PID is free now: the same image restores, and the copy finishes the
# work (its fixed-width "spun" line overwrites the original's).
e2e_restore "$image" "$pid"
e2e_signal "$pid" "$out"
e2e_wait_exit "$pid"
e2e_expect_pass "$out"
! cmp -s "$out" "$E2E_TMP/original.out" || e2e_fail "the restored copy wrote nothing"
