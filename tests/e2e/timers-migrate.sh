#!/usr/bin/env bash
# test-needs: hosts
# Timers across live migrations: tests/progs/timers.c all (interval
# timers, POSIX timers with their ids, threads and pending signals,
# timerfds) and tests/progs/rttimers.c carry (CLOCK_REALTIME timers armed
# absolute and relative) are started in host A with their timers due
# TIMERS_S ahead, migrated A -> B -> A -> B -> A, and woken in A: every
# timer is what it was less the time that passed; each CLOCK_REALTIME
# timer is queued where its setting puts it (/proc/timer_list: an
# absolute one on the kernel's REALTIME clock base at its very deadline,
# a relative one on the MONOTONIC base; telling them apart otherwise needs
# the wall clock set, which this shared machine's tests must not do).
# TIMERS_S is the test's own time limit, so whatever the machine's speed
# no timer falls due during the hops (a timer that falls due while frozen
# is e2e/timers-expired's concern).  Once woken, each program sets its
# timers again as they were armed, due NEAR_S later, and each fires as it
# should (not early, with its value, on its thread) in the host it ended
# in.  What /proc shows of each, waiting in sigsuspend, must be the same
# before the hops and after them.
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/migrate-lib.sh"
source "$(dirname "$0")/threads-lib.sh"
mig_init timers rttimers
# The hops end before the timers fall due: TIMERS_S is run-tests' time
# limit for this test (its default, 300 s); with a longer TEST_TIMEOUT, a
# machine slow enough fails the check before the wake-up instead.
TIMERS_S=300 NEAR_S=2
HOPS=4
declare -A out=([timers]=$E2E_TMP/timers.out [rttimers]=$E2E_TMP/rttimers.out) pid tids
# No timer is due before this (each is armed after it, TIMERS_S ahead).
due=$(($(date +%s%N) + TIMERS_S * 1000000000))
pid[timers]=$(mig_spawn A "${out[timers]}" "$PROGS/timers" all "$TIMERS_S" "$NEAR_S")
pid[rttimers]=$(mig_spawn A "${out[rttimers]}" "$PROGS/rttimers" carry "$TIMERS_S" "$NEAR_S")
for prog in timers rttimers; do
	mig_in A "$TOOLS/waitfor" --pid "${pid[$prog]}" "${out[$prog]}" ready 20 ||
		{ e2e_show "${out[$prog]}" "${out[$prog]}.err"; e2e_fail "$prog ${pid[$prog]} did not get ready"; }
	tids[$prog]=$(tasks_in A "${pid[$prog]}")
	mig_procstate A "${pid[$prog]}" "${out[$prog]}.proc-before"
done
here=A there=B
for ((hop = 1; hop <= HOPS; hop++)); do
	for prog in timers rttimers; do
		p=${pid[$prog]} what="hop $hop of $prog ($here -> $there)"
		mig_assert_running "$here" "$p" "before $what"
		started=$(mig_starttime "$here" "$p")
		mig_bm "$here" migrate "$p" "${MIG_ADDR[$there]}:$MIG_PORT" --key "$MIG_KEY" --stats csv
		((BM_RC == 0)) || show_fds "$here" "$p"
		e2e_expect_ok "$what"
		mig_assert_running "$there" "$p" "after $what"
		left_source "$here" "$p" "$started" "after $what"
		[[ $(tasks_in "$there" "$p") == "${tids[$prog]}" ]] ||
			e2e_fail "after $what: threads $(tasks_in "$there" "$p"), expected ${tids[$prog]}"
	done
	tmp=$here here=$there there=$tmp
done
# What /proc shows of each, waiting in sigsuspend, is what it showed
# before the hops.
for prog in timers rttimers; do
	mig_procstate "$here" "${pid[$prog]}" "${out[$prog]}.proc-after"
done
(($(date +%s%N) < due)) || e2e_fail "the hops took more than TIMERS_S=$TIMERS_S s: the timers fell due during them"
for prog in timers rttimers; do
	e2e_procstate_same "${out[$prog]}.proc" "$prog after $HOPS hops"
done
for prog in timers rttimers; do
	mig_in "$here" kill -USR1 "${pid[$prog]}" || e2e_fail "cannot wake $prog ${pid[$prog]} in host $here"
done
for prog in timers rttimers; do
	mig_in "$here" "$TOOLS/waitfor" -x --pid "${pid[$prog]}" "${out[$prog]}" PASS $((NEAR_S + 60)) ||
		{ e2e_show "${out[$prog]}" "${out[$prog]}.err"; e2e_fail "$prog did not pass in host $here after $HOPS hops"; }
	e2e_expect_pass "${out[$prog]}"
	e2e_log "$HOPS hops, $prog's timers carried: $(tail -n 1 "${out[$prog]}")"
done
