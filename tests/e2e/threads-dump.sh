#!/usr/bin/env bash
# Multi-threaded processes dumped and restored on this host (no emulated
# hosts needed).
#  1. threads8 (13 threads: workers on mutexes and condition variables,
#     threads blocked in read on an internal pipe, in poll on an eventfd,
#     in sigtimedwait and in nanosleep) is dumped and restored three times
#     while it works: every time all 13 threads are back with the same
#     TIDs, and its output in the end equals an unmigrated run's.  The
#     program itself checks each thread's TID, mask, alternate stack,
#     robust list, clear_child_tid and rseq, and that no wait returned
#     before its deadline.
#  2. threadspawn keeps creating and joining short-lived threads (batches
#     of 4, from two threads); it is dumped and restored five times, so
#     dumps happen while threads are being born and dying.  Each spawner
#     keeps a whole batch alive until the next has started, so every dump
#     must catch at least main, the two spawners and two batches; a thread
#     that the dump missed would also be absent after the restore and its
#     joiner would wait in vain (the program fails after 20 s); its output
#     must equal an unmigrated run's.  That run comes first, alone: its
#     thousands of threads wrap the PID space (32768 numbers here), and
#     one of them once took the dumped process's free PID before the
#     restore could (exit 6, "taken by a running process").
# Both programs, once done with their counted work, go on with uncounted
# work until the test opens their gate (creates the file after --gate)
# after the last restore: they are alive and unfinished at every dump,
# however fast or slow the machine, and their output does not change.
# What /proc shows of each, as it works, is the same before every dump and
# after the restore, but for what a working program changes by itself
# (E2E_PROCSTATE_RUNNING, its stdout's offset; for threads8 its eventfd's
# count, for threadspawn its threads and mappings).
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/lib.sh"
e2e_init threads8 threadspawn

# Sorted TIDs of PID (from /proc/PID/task), one line.
tasks() {
	local dir tids=()
	for dir in "/proc/$1/task/"*; do
		[[ -e $dir ]] && tids+=("${dir##*/}")
	done
	printf '%s\n' "${tids[@]}" | sort -n | tr '\n' ' '
}

# unfinished OUT WHAT: the program has not printed its result yet (its
# gate is still closed).
unfinished() {
	! grep -q '^result' "$1" || e2e_fail "$2: the program finished already, though its gate is closed"
}

# same_output REF OUT: OUT equals the reference run's output, and no
# program wrote on stderr.
same_output() {
	local ref=$1 out=$2
	cmp -s "$ref" "$out" || { e2e_show "$ref" "$out" "$out.err"; e2e_fail "$(basename "$out") differs from the unmigrated run's"; }
	[[ ! -s $out.err && ! -s $ref.err ]] || { e2e_show "$out.err" "$ref.err"; e2e_fail "a run wrote on stderr"; }
	grep -q '^result [0-9a-f]\{16\}$' "$out" || e2e_fail "$(basename "$out") has no result line"
}

# Both write their progress on stdout as they work.
WRITING='^fd 1 pos:'
# threads8's main hands each phase's count to its poller through an
# eventfd: a snapshot may catch one not yet read.
COUNTING='^fd [0-9]+ eventfd-count:'

# ---- 1. threads8, three dumps and restores
T8=("$PROGS/threads8" --phases 30 --cost 1000000)
ref=$E2E_TMP/threads8-ref.out
e2e_start "$ref" "${T8[@]}"
ref_pid=$E2E_PID
out=$E2E_TMP/threads8.out
e2e_start "$out" "${T8[@]}" --gate "$out.gate"
pid=$E2E_PID
e2e_wait_ready "$out" "$pid"
before=$(tasks "$pid")
(($(wc -w <<<"$before") == 13)) || e2e_fail "threads8 has the threads $before, expected 13"
for round in 1 2 3; do
	e2e_wait_line "$out" "phase $((round * 4))" "$pid" 60 -x
	unfinished "$out" "before dump $round"
	e2e_procstate "$pid" "$E2E_TMP/threads8.proc-before"
	e2e_dump "$pid" "$E2E_TMP/threads8.img" --stats csv
	e2e_log "dump $round: $(tail -n 1 "$BM_OUT")"
	e2e_restore "$E2E_TMP/threads8.img" "$pid"
	after=$(tasks "$pid")
	[[ $after == "$before" ]] || e2e_fail "after restore $round threads8 has the threads $after, expected $before"
	e2e_procstate "$pid" "$E2E_TMP/threads8.proc-after"
	E2E_PROCSTATE_ACCEPT="$E2E_PROCSTATE_RUNNING|$WRITING|$COUNTING" \
		e2e_procstate_same "$E2E_TMP/threads8.proc" "threads8, restore $round"
	rm -f "$E2E_TMP/threads8.img"
done
touch "$out.gate"
e2e_wait_exit "$pid" 120
e2e_wait_exit "$ref_pid" 120
same_output "$ref" "$out"
e2e_log "threads8: 3 dumps, TIDs kept, $(tail -n 1 "$out") as unmigrated"

# ---- 2. threadspawn, five dumps and restores while threads come and go
BATCH=4
TS=("$PROGS/threadspawn" --items 24000 --cost 20000 --batch "$BATCH")
ref=$E2E_TMP/threadspawn-ref.out
e2e_start "$ref" "${TS[@]}"
e2e_wait_exit "$E2E_PID" 120
out=$E2E_TMP/threadspawn.out
e2e_start "$out" "${TS[@]}" --gate "$out.gate"
pid=$E2E_PID
e2e_wait_ready "$out" "$pid"
caught=()
# Its threads and their stacks come and go.
SPAWNING='^(thread [0-9]+ |map )'
for round in 1 2 3 4 5; do
	e2e_wait_line "$out" "spawned $((round * 2000))" "$pid" 60 -x
	unfinished "$out" "before dump $round"
	e2e_procstate "$pid" "$E2E_TMP/threadspawn.proc-before"
	e2e_dump "$pid" "$E2E_TMP/threadspawn.img" --stats csv
	threads=$(awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "threads") col = i } NR == 2 { print $col }' "$BM_OUT")
	[[ $threads =~ ^[0-9]+$ ]] || e2e_fail "dump --stats csv shows no thread count: $(cat "$BM_OUT")"
	((threads >= 3 + 2 * BATCH)) ||
		e2e_fail "dump $round caught $threads threads, expected at least $((3 + 2 * BATCH)) (main, 2 spawners, 2 batches)"
	caught+=("$threads")
	e2e_restore "$E2E_TMP/threadspawn.img" "$pid"
	rm -f "$E2E_TMP/threadspawn.img"
	e2e_procstate "$pid" "$E2E_TMP/threadspawn.proc-after"
	E2E_PROCSTATE_ACCEPT="$E2E_PROCSTATE_RUNNING|$WRITING|$SPAWNING" \
		e2e_procstate_same "$E2E_TMP/threadspawn.proc" "threadspawn, restore $round"
done
touch "$out.gate"
e2e_wait_exit "$pid" 120
same_output "$ref" "$out"
e2e_log "threadspawn: 5 dumps (caught ${caught[*]} threads), $(tail -n 1 "$out") as unmigrated"
