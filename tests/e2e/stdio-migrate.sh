#!/usr/bin/env bash
# test-needs: hosts
# --stdio across the emulated hosts.  A two-threaded program (peers) is
# started in host A with its stdout and stderr on one pipe to a `cat` that
# stays in A.  Migrating it to B without --stdio is refused (exit 4, the
# message names fd 1 and points to --stdio) and it runs on in A, untraced.
# With --stdio file:PATH it moves to B, where fds 1 and 2 are PATH; cat in A
# sees the end of its input; the program migrates back to A (PATH is now an
# ordinary file, carried as such) and finishes there.  What cat got followed
# by PATH is exactly an unmigrated run's output.  The program stops after
# step 5 and works on, uncounted and silent, until the test opens its gate
# after the migrations: it is alive and unfinished for all of them, and
# steps 6 on go to PATH, however fast or slow the machine.  What /proc
# shows of it (but what it changes as it works, E2E_PROCSTATE_RUNNING) is
# the same after the refusal, and after the hops but for fds 1 and 2.
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/migrate-lib.sh"
source "$(dirname "$0")/threads-lib.sh"
mig_init peers
WORK=(--steps 30 --cost 4000000)
gate=$E2E_TMP/gate

ref=$E2E_TMP/reference.out
e2e_start "$ref" "$PROGS/peers" none "${WORK[@]}"
ref_pid=$E2E_PID

# In host A: peers, stdout and stderr into a pipe to cat; its PID in A.
catout=$E2E_TMP/cat.out
pidfile=$E2E_TMP/peers.pid
# shellcheck disable=SC2016 # expanded in the host
mig_in A bash -c '
	for fd in /proc/$$/fd/*; do
		fd=${fd##*/}
		((fd > 2)) && { eval "exec $fd>&-"; } 2>/dev/null
	done
	pidfile=$1 catout=$2
	shift 2
	( echo "$BASHPID" >"$pidfile"; exec "$@" 2>&1 ) </dev/null | cat >"$catout" 2>/dev/null &
	echo "$!" >"$pidfile.cat"' stdio-spawn "$pidfile" "$catout" "$PROGS/peers" none "${WORK[@]}" \
	--gate "$gate" --gate-after 5 ||
	e2e_fail "cannot start peers in host A"
"$TOOLS/waitfor" "$pidfile" "" 10 || e2e_fail "peers did not start in host A"
pid=$(<"$pidfile")
cat_pid=$(<"$pidfile.cat")
e2e_log "peers $pid in host A, stdout to cat $cat_pid there"
mig_in A "$TOOLS/waitfor" --pid "$pid" "$catout" "step 3 " 30 || { e2e_show "$catout"; e2e_fail "peers made no progress"; }

# Without --stdio: refused, and it runs on in A, as /proc shows it.
mig_procstate_running A "$pid" "$E2E_TMP/peers.proc-before"
cp "$E2E_TMP/peers.proc-before" "$E2E_TMP/peers-refused.proc-before"
mig_bm A migrate "$pid" "${MIG_ADDR[B]}:$MIG_PORT" --key "$MIG_KEY"
((BM_RC == 4)) || e2e_fail "migrate without --stdio: exit $BM_RC, expected 4: $(head -n 3 "$BM_ERR")"
grep -q "fd 1 of process $pid .*see --stdio" "$BM_ERR" ||
	e2e_fail "migrate without --stdio: the message does not name fd 1 and --stdio: $(head -n 3 "$BM_ERR")"
[[ ! -s $BM_OUT ]] || e2e_fail "a refused migrate printed on stdout: $(head -c 200 "$BM_OUT")"
mig_assert_running A "$pid" "after the refused migrate"
mig_in B "$TOOLS/pidwait" "$pid" 0 || e2e_fail "after the refused migrate a process $pid exists in host B"
mig_assert_unfinished "$catout" "after the refused migrate"
mig_procstate_running A "$pid" "$E2E_TMP/peers-refused.proc-after"
E2E_PROCSTATE_ACCEPT=$E2E_PROCSTATE_RUNNING e2e_procstate_same "$E2E_TMP/peers-refused.proc" "after the refused migrate"

# With --stdio file:PATH: to B, then back to A.
later=$E2E_TMP/later.out
started=$(mig_starttime A "$pid")
mig_bm A migrate "$pid" "${MIG_ADDR[B]}:$MIG_PORT" --key "$MIG_KEY" --stdio "file:$later" --stats csv
e2e_expect_ok "migrate --stdio file:$later"
mig_assert_running B "$pid" "after migrate --stdio"
left_source A "$pid" "$started" "after migrate --stdio"
for fd in 1 2; do
	target=$(mig_in B readlink "/proc/$pid/fd/$fd")
	[[ $target == "$later" ]] || e2e_fail "after migrate --stdio, fd $fd in host B is $target, not $later"
done
mig_in A "$TOOLS/pidwait" "$cat_pid" 10 || e2e_fail "cat in host A did not end after its writer left"
mig_assert_unfinished "$later" "after migrate --stdio"
started=$(mig_starttime B "$pid")
mig_bm B migrate "$pid" "${MIG_ADDR[A]}:$MIG_PORT" --key "$MIG_KEY"
e2e_expect_ok "migrate back to A (stdout now a file)"
mig_assert_running A "$pid" "after the migration back"
left_source B "$pid" "$started" "after the migration back"
# /proc shows it as before the hops, but for fds 1 and 2: PATH now.
mig_procstate_running A "$pid" "$E2E_TMP/peers.proc-after"
E2E_PROCSTATE_ACCEPT="$E2E_PROCSTATE_RUNNING|^fd [12] " e2e_procstate_same "$E2E_TMP/peers.proc" "after the hops"
touch "$gate"

mig_in A "$TOOLS/waitfor" --pid "$pid" "$later" "result " 60 || { e2e_show "$later"; e2e_fail "peers did not finish in host A"; }
e2e_wait_exit "$ref_pid" 60
cat "$catout" "$later" >"$E2E_TMP/joined.out"
cmp -s "$ref" "$E2E_TMP/joined.out" || { e2e_show "$ref" "$catout" "$later"; e2e_fail "cat's part and $later differ from the unmigrated run's output"; }
grep -q '^step' "$later" || e2e_fail "no step went to $later"
e2e_log "--stdio file: $(wc -l <"$catout") lines through cat in A, $(wc -l <"$later") into $later; as unmigrated"
