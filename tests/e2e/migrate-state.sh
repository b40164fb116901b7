#!/usr/bin/env bash
# Kernel state across two hops between the emulated hosts (A -> B -> A),
# set up before the first and checked by the program after the last (issue
# 11: every carried state checked after two hops; the table of
# docs/process-state.md names this test in each row it covers): process
# and thread attributes, also of a process that gave up root, and
# mlockall (tests/progs/attrs.c); PID, session, comm, rlimits,
# personality, cmdline, environment, auxv, exe and memory bounds
# (misc.c); regular files, directories and devices with their offsets,
# flags and shared descriptions, cwd and umask (files.c); signal handlers
# (signals.c) and pending signals, one with no siginfo queued
# (sigpending.c); private anonymous memory (memory.c), file mappings
# (mapfile.c), the heap (heap.c), AVX registers (avx.c); memory and pipe
# state (memstate.c); eventfd, pipe, epoll, unix socket pair and
# loopback TCP connection (holder.c); signalfds and epoll instances
# (watch.c); unlinked files, FIFOs and directories, a removed cwd, an
# O_TMPFILE file and O_PATH descriptors (unlinked.c); inotify instances
# (inotify.c); unix sockets with their names, peers, queues, accept
# queues, shutdowns (also before connecting), never connected ones
# (unixsock.c) and options (unixopts.c); mappings of unlinked files, with
# and without descriptors held, and memfds (delmap.c); descriptors in
# flight in unix socket queues, datagram, seqpacket and stream, held by
# the process or not (scmrights.c); empty messages in datagram and
# seqpacket queues that the process peeked and that it did not
# (peekedmsg.c); the id the next timer_create hands out, after deleted
# timers, none left, and timers made with given ids (timerids.c);
# memory-deny-write-execute, KSM merge-any, CPUID faulting, membarrier
# registrations, coredump_filter, login uid and AMX permission
# (modes.c); an IPv4 connection to a dual-stack listener with its window
# clamps (inetsock.c dualstack; migrate-inetsock has the other sockets).
# Left out, as the emulated hosts cannot show them: inotify rebuilt (the
# hosts share one kernel, so the destination's watch reports the
# source's doings: the original closing its files, the source removing
# the socket file it moved aside) and unlinked highfd (carried only where
# binmig has CAP_SYS_RESOURCE, which this machine's root lacks: refused).
# Other two-hop tests: timers-migrate, owners-migrate, locks-migrate,
# migrate-inetsock, migrate-tree*, migrate-vdso, threads-pingpong.
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/migrate-lib.sh"
mig_init attrs memstate watch unlinked inotify unixsock delmap scmrights peekedmsg timerids modes \
	misc files signals sigpending memory mapfile heap avx holder unixopts inetsock
mkdir -p "$E2E_TMP/work" "$E2E_TMP/unlinked" "$E2E_TMP/inotify" "$E2E_TMP/unixsock" "$E2E_TMP/delmap" "$E2E_TMP/delmapnofd" \
	"$E2E_TMP/delmapmemfd" "$E2E_TMP/scmrights" "$E2E_TMP/scmadopt" "$E2E_TMP/peeked" \
	"$E2E_TMP/files" "$E2E_TMP/mapfile" "$E2E_TMP/special" "$E2E_TMP/shutrd" "$E2E_TMP/shutpre" \
	"$E2E_TMP/unconn" "$E2E_TMP/scmpipe" "$E2E_TMP/scmfile" "$E2E_TMP/scmstream" "$E2E_TMP/dualstack"
n=0
for prog in "attrs carried" "memstate $E2E_TMP/work" "watch carried" "unlinked carried $E2E_TMP/unlinked" \
	"inotify carried $E2E_TMP/inotify" "unixsock carried $E2E_TMP/unixsock" "delmap carried $E2E_TMP/delmap" \
	"delmap nofd $E2E_TMP/delmapnofd" "delmap memfd $E2E_TMP/delmapmemfd" "scmrights carried $E2E_TMP/scmrights" \
	"scmrights adopt $E2E_TMP/scmadopt" "peekedmsg carried $E2E_TMP/peeked" "timerids deleted" "timerids none" \
	"timerids given" "modes carried" \
	"misc first second" "files $E2E_TMP/files" "signals" "sigpending" "sigpending unqueued" "memory" \
	"mapfile $E2E_TMP/mapfile" "heap 8" "avx" "holder eventfd" "holder pipe" "holder epoll" "holder socket" \
	"holder tcp" "attrs creds" "attrs lockall" "unlinked special $E2E_TMP/special" \
	"unixsock shutrd $E2E_TMP/shutrd" "unixsock shutpre $E2E_TMP/shutpre" "unixsock unconn $E2E_TMP/unconn" \
	"unixopts carried" "scmrights pipe $E2E_TMP/scmpipe" "scmrights file $E2E_TMP/scmfile" \
	"scmrights stream $E2E_TMP/scmstream" "inetsock dualstack $E2E_TMP/dualstack"; do
	read -r -a cmd <<<"$prog"
	out=$E2E_TMP/$((++n))-${cmd[0]}.out
	pid=$(mig_spawn A "$out" --pid "$MIG_WORKLOAD_PID" "$PROGS/${cmd[0]}" "${cmd[@]:1}")
	mig_in A "$TOOLS/waitfor" --pid "$pid" -x "$out" ready 20 || { e2e_show "$out"; e2e_fail "${cmd[0]} did not get ready"; }
	mig_round_trip "$pid" "${cmd[0]}"
	mig_in A kill -USR1 "$pid"
	mig_in A "$TOOLS/waitfor" --pid "$pid" "$out" "PASS" 30 || true
	mig_in A "$TOOLS/pidwait" "$pid" 30 || e2e_fail "${cmd[0]} did not end"
	e2e_expect_pass "$out"
	e2e_log "ok: ${cmd[*]} passed its checks after two hops"
done
