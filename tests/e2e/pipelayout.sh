#!/usr/bin/env bash
# How a pipe's bytes lie in its buffers, read at dump through binmig's BPF
# reader (migrator/pipe_layout.h): a pipe whose buffers each hold a little
# (a buffer starting within its page, one copied with tee, a packet, small
# writes after each) takes as many bytes more in small non-blocking writes,
# and gives the same reads, after a dump and restore as a twin measured
# before; a packet-mode pipe holding packets of 1, 100, 4096 and 3000 bytes
# gives one packet per read.  Where binmig cannot read the buffers
# (BINMIG_TEST_NO_BPF), the packet-mode pipe is refused as before, the
# process untouched.
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/lib.sh"
e2e_init pipelayout
[[ $(id -u) == 0 && -r /sys/kernel/btf/vmlinux ]] || e2e_skip "binmig's BPF reader needs root and a kernel with BTF"
e2e_state_test pipelayout carried
e2e_state_test pipelayout packets
BINMIG_TEST_NO_BPF=1 e2e_refused_dump "packets without BPF" "a packet-mode pipe (O_DIRECT) holding data" \
	-- pipelayout packets
