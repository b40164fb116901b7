#!/usr/bin/env bash
# test-needs: hosts
# The vDSO proxy between the emulated hosts: both daemons forced to use it
# (serve --vdso-proxy always, through harness/hosts up), a process keeping
# pointers to four vDSO functions (tests/progs/vdso.c) goes A -> B -> A ->
# B; each daemon's log says it ran the process with the proxy; back in A
# after two hops, /proc shows the same of it as before, but for what the
# proxy changes (lib.sh's e2e_procstate_unproxied); after
# the last hop the program checks every function through its stored
# pointers and through glibc against the system calls.
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/migrate-lib.sh"
mig_init vdso --vdso-proxy=always
out=$E2E_TMP/vdso.out
pid=$(mig_spawn A "$out" --pid "$MIG_WORKLOAD_PID" "$PROGS/vdso")
mig_in A "$TOOLS/waitfor" --pid "$pid" -x "$out" ready 20 || { e2e_show "$out"; e2e_fail "vdso did not get ready"; }
mig_procstate A "$pid" "$E2E_TMP/vdso.proc-before"
here=A there=B
declare -A proxied=([A]=0 [B]=0)
for hop in 1 2 3; do
	mig_bm "$here" migrate "$pid" "${MIG_ADDR[$there]}:$MIG_PORT" --key "$MIG_KEY"
	e2e_expect_ok "hop $hop ($here -> $there)"
	mig_assert_running "$there" "$pid" "after hop $hop"
	mig_assert_gone "$here" "$pid" "after hop $hop"
	proxied[$there]=$((proxied[$there] + 1))
	n=$(grep -c "process $pid runs with the vDSO proxy (--vdso-proxy always)" "$HOSTS_STATE/serve-$there.log")
	((n == proxied[$there])) ||
		e2e_fail "hop $hop: serve-$there.log says $n times that it used the vDSO proxy, expected ${proxied[$there]}"
	if ((hop == 2)); then
		# Back in host A: /proc shows the same of it as before, but for
		# what the proxy changes (e2e_procstate_unproxied).
		mig_procstate A "$pid" "$E2E_TMP/vdso.proc-after"
		for f in "$E2E_TMP"/vdso.proc-{before,after}; do e2e_procstate_unproxied "$f"; done
		e2e_procstate_same "$E2E_TMP/vdso.proc" "vdso after two hops"
	fi
	tmp=$here here=$there there=$tmp
done
mig_in "$here" kill -USR1 "$pid"
mig_in "$here" "$TOOLS/waitfor" --pid "$pid" "$out" "PASS" 30 || true
mig_in "$here" "$TOOLS/pidwait" "$pid" 30 || e2e_fail "vdso did not end"
e2e_expect_pass "$out"
e2e_log "ok: stored vDSO pointers work after three hops, each through the proxy"
