#!/usr/bin/env bash
# SO_INCOMING_CPU and TCP_QUICKACK (tests/progs/inetsock.c kernelset) when
# loopback takes packets in on another CPU than the one that sent them:
# in a network namespace of its own, RPS sends loopback's packets to
# another CPU than the one the test and binmig run on, so the segments the
# restore's rebuilt connections exchange (the window probe each sends
# leaving repair mode, and the answers) may be taken in after binmig's
# system call returned.  The restore sets SO_INCOMING_CPU only once each
# connection's peer counted them in (migrator/sk_inet_last.c): every round
# must read the values the program set.  Without that wait about one round
# in eight read the CPU of a restore-time segment here, so the rounds are
# many.  Needs two CPUs.
# shellcheck source-path=SCRIPTDIR
if [[ ${1:-} != inside ]]; then
	(($(nproc) >= 2)) || { echo "SKIP: needs two CPUs"; exit 77; }
	exec unshare --net --mount --propagation private bash "$0" inside
fi
source "$(dirname "$0")/lib.sh"
e2e_init inetsock
mount -t sysfs sysfs /sys || e2e_fail "cannot mount this namespace's /sys"
ip link set lo up || e2e_fail "cannot bring loopback up"
# Everything here on the first allowed CPU, loopback's packets to another.
read -r -a cpus < <(taskset -pc $$ | sed 's/.*: //; s/,/ /g; s/-/ /g')
((${#cpus[@]} >= 2)) || e2e_skip "this test may use one CPU only"
taskset -pc "${cpus[0]}" $$ >/dev/null || e2e_fail "cannot pin the test to CPU ${cpus[0]}"
printf '%x' $((1 << cpus[1])) >/sys/class/net/lo/queues/rx-0/rps_cpus ||
	e2e_fail "cannot steer loopback's packets to CPU ${cpus[1]}"
for round in $(seq 24); do
	out=$E2E_TMP/kernelset-$round.out
	e2e_start "$out" "$PROGS/inetsock" kernelset "$E2E_TMP"
	pid=$E2E_PID
	e2e_wait_ready "$out" "$pid"
	e2e_wait_syscall "$pid" rt_sigsuspend
	e2e_migrate "$pid" "$E2E_TMP/kernelset.img"
	e2e_signal "$pid" "$out"
	e2e_wait_exit "$pid"
	e2e_expect_pass "$out"
	rm -f "$E2E_TMP/kernelset.img"
done
e2e_log "ok: SO_INCOMING_CPU and TCP_QUICKACK carried in 24 rounds, loopback taking packets in on CPU ${cpus[1]}"
