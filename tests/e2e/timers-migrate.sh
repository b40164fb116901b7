#!/usr/bin/env bash
# Timers across live migrations: tests/progs/timers.c all (interval
# timers, POSIX timers with their ids, threads and pending signals,
# timerfds) is started in host A with its timers due TIMERS_S ahead,
# migrated A -> B -> A -> B -> A, and woken in A: every timer is what it
# was less the time that passed, and each fires as it should (not early,
# with its value, on its thread) in the host it ended in.  On a slow
# machine a timer may expire during a hop; it must then fire right after
# that restore, which the program checks as well.
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/migrate-lib.sh"
source "$(dirname "$0")/threads-lib.sh"
mig_init timers
TIMERS_S=20
HOPS=4
out=$E2E_TMP/timers.out
pid=$(mig_spawn A "$out" "$PROGS/timers" all "$TIMERS_S")
mig_in A "$TOOLS/waitfor" --pid "$pid" "$out" ready 20 || { e2e_show "$out" "$out.err"; e2e_fail "timers $pid did not get ready"; }
tids=$(tasks_in A "$pid")
here=A there=B
for ((hop = 1; hop <= HOPS; hop++)); do
	what="hop $hop ($here -> $there)"
	mig_assert_running "$here" "$pid" "before $what"
	started=$(mig_starttime "$here" "$pid")
	mig_bm "$here" migrate "$pid" "${MIG_ADDR[$there]}:$MIG_PORT" --key "$MIG_KEY" --stats csv
	((BM_RC == 0)) || show_fds "$here" "$pid"
	e2e_expect_ok "$what"
	mig_assert_running "$there" "$pid" "after $what"
	left_source "$here" "$pid" "$started" "after $what"
	[[ $(tasks_in "$there" "$pid") == "$tids" ]] || e2e_fail "after $what: threads $(tasks_in "$there" "$pid"), expected $tids"
	tmp=$here here=$there there=$tmp
done
mig_in "$here" kill -USR1 "$pid" || e2e_fail "cannot wake $pid in host $here"
mig_in "$here" "$TOOLS/waitfor" -x --pid "$pid" "$out" PASS $((TIMERS_S + 60)) ||
	{ e2e_show "$out" "$out.err"; e2e_fail "timers did not pass in host $here after $HOPS hops"; }
e2e_expect_pass "$out"
e2e_log "$HOPS hops, the timers carried: $(tail -n 1 "$out")"
