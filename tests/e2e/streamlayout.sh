#!/usr/bin/env bash
# How a unix stream queue's bytes lie in its skbs, read at dump through
# binmig's BPF reader (migrator/sk_unix_stream_layout.h): a queue of six
# writes, the head partly read, charges its writer's send buffer
# (SIOCOUTQ) as much, takes as many bytes more in small non-blocking
# writes, and gives the same bytes, after a dump and restore as a twin
# measured before; so does a queue with a descriptor in flight, which the
# dump takes and writes back (after a dump --leave-running too), and a
# queue of 2500 small writes, which binmig's reader reads in three runs.
# Where binmig cannot read the skbs
# (BINMIG_TEST_NO_BPF), the queue is written back in one go: the same
# bytes, but a smaller charge and more room, as documented.  inspect
# shows the skbs a dump read.
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/lib.sh"
e2e_init streamlayout
[[ $(id -u) == 0 && -r /sys/kernel/btf/vmlinux ]] || e2e_skip "binmig's BPF reader needs root and a kernel with BTF"
e2e_state_test streamlayout carried
# 2500 skbs, more than the reader reads in one run.
e2e_state_test streamlayout big
# Without the BPF programs: only the send buffer's charge differs.
out=$E2E_TMP/nobpf.out
e2e_start "$out" "$PROGS/streamlayout" carried
pid=$E2E_PID
e2e_wait_ready "$out" "$pid"
BINMIG_TEST_NO_BPF=1 e2e_migrate_same "$pid" "$E2E_TMP/nobpf.img" "streamlayout without BPF"
e2e_signal "$pid" "$out"
e2e_wait_exit "$pid"
grep -q "^FAIL.*: SIOCOUTQ" "$out" && grep -q "^FAIL.*100-byte writes add" "$out" &&
	grep -q "^FAIL.*with a descriptor in flight: SIOCOUTQ" "$out" ||
	{ e2e_show "$out"; e2e_fail "without BPF the skbs were carried that only BPF reads?"; }
[[ $(grep -c '^FAIL:' "$out") == 3 ]] || { e2e_show "$out"; e2e_fail "without BPF more than the send buffer differs"; }
e2e_log "ok: without BPF only the send buffer's charge differs, as documented"
# What the dump read, as inspect shows it.
e2e_start "$E2E_TMP/inspect.out" "$PROGS/streamlayout" carried
e2e_wait_ready "$E2E_TMP/inspect.out" "$E2E_PID"
bm dump "$E2E_PID" -o "$E2E_TMP/inspect.img" --leave-running
e2e_expect_ok "dump --leave-running"
bm inspect "$E2E_TMP/inspect.img"
e2e_expect_ok "inspect"
grep -qF "its queue in 6 skbs as written (bytes): 4 (3 read) 100 1 3000 5000 7" "$BM_OUT" &&
	grep -qF "its queue in 5 skbs as written (bytes): 3 (1 read) 40 50 (with descriptors) 7 9" "$BM_OUT" ||
	e2e_fail "inspect does not show the skbs: $(grep -A2 ' unix ' "$BM_OUT")"
e2e_signal "$E2E_PID" "$E2E_TMP/inspect.out"
e2e_wait_exit "$E2E_PID"
e2e_expect_pass "$E2E_TMP/inspect.out"
