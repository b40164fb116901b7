#!/usr/bin/env bash
# How a pipe's bytes lie in its buffers, read at dump through binmig's BPF
# reader (migrator/pipe_layout.h): a pipe whose buffers each hold a little
# (a buffer starting within its page, one copied with tee, a packet, small
# writes after each) takes as many bytes more in small non-blocking writes,
# and gives the same reads, after a dump and restore as a twin measured
# before; a packet-mode pipe holding packets of 1, 100, 4096 and 3000 bytes
# gives one packet per read; both again shared with a child, a tree
# dumped and restored; a pipe of 1300 such buffers, which binmig's reader
# reads in three runs, alike its twin too.  Where binmig cannot read the
# buffers (BINMIG_TEST_NO_BPF), the packet-mode pipe is refused as before,
# the process untouched.  inspect shows the buffers a dump read.
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/lib.sh"
e2e_init pipelayout
[[ $(id -u) == 0 && -r /sys/kernel/btf/vmlinux ]] || e2e_skip "binmig's BPF reader needs root and a kernel with BTF"
e2e_state_test pipelayout carried
e2e_state_test pipelayout packets
# A pipe of 1300 buffers, more than the reader reads in one run: its ring of
# 2048 pages passes the default fs.pipe-max-size, which root may pass with
# CAP_SYS_RESOURCE (bit 24 of the effective capabilities).
if (( (16#$(awk '/^CapEff/ {print $2}' /proc/self/status) >> 24) & 1 )) ||
	(( $(cat /proc/sys/fs/pipe-max-size) >= 2048 * 4096 )); then
	e2e_state_test pipelayout big
else
	e2e_log "pipelayout big not run: a pipe of 2048 pages needs CAP_SYS_RESOURCE or fs.pipe-max-size of 8 MiB"
fi
# The same pipes shared with a child: a tree's restore makes each once.
e2e_start "$E2E_TMP/tree.out" "$PROGS/pipelayout" tree
root=$E2E_PID
e2e_wait_ready "$E2E_TMP/tree.out" "$root"
mapfile -t kids < <(tr ' ' '\n' <"/proc/$root/task/$root/children" | grep .)
((${#kids[@]} == 1)) || e2e_fail "the tree's root has ${#kids[@]} children, expected 1"
e2e_track "${kids[0]}"
e2e_tree_dump_restore "$E2E_TMP/tree.img" 1 "a tree sharing the pipes" "$root" "${kids[0]}"
e2e_signal "$root" "$E2E_TMP/tree.out"
e2e_wait_exit "$root"
e2e_expect_pass "$E2E_TMP/tree.out"
BINMIG_TEST_NO_BPF=1 e2e_refused_dump "packets without BPF" "a packet-mode pipe (O_DIRECT) holding data" \
	-- pipelayout packets
# What the dump read, as inspect shows it: the packets, each a buffer.
e2e_start "$E2E_TMP/inspect.out" "$PROGS/pipelayout" packets
e2e_wait_ready "$E2E_TMP/inspect.out" "$E2E_PID"
bm dump "$E2E_PID" -o "$E2E_TMP/inspect.img" --leave-running
e2e_expect_ok "dump --leave-running of the packets"
bm inspect "$E2E_TMP/inspect.img"
e2e_expect_ok "inspect"
grep -qF "its 7197 bytes in 4 buffers (bytes at offset, flags): 1@0 packet 100@0 packet 4096@0 packet 3000@0 packet" \
	"$BM_OUT" || e2e_fail "inspect does not show the four packets: $(grep -A1 pipe "$BM_OUT")"
e2e_signal "$E2E_PID" "$E2E_TMP/inspect.out"
e2e_wait_exit "$E2E_PID"
e2e_expect_pass "$E2E_TMP/inspect.out"
