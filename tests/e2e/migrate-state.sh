#!/usr/bin/env bash
# test-needs: hosts
# Kernel state across two hops between the emulated hosts (A -> B -> A),
# set up before the first and checked by the program after the last (issue
# 11: every carried state checked after two hops; the table of
# docs/process-state.md names this test in each row it covers): process
# and thread attributes, also of a process that gave up root, and
# mlockall (tests/progs/attrs.c); PID, session, comm, rlimits,
# personality, dumpable, cmdline, environment, auxv, exe and memory bounds
# (misc.c); regular files, directories and devices with their offsets,
# flags and shared descriptions, cwd and umask, and a descriptor table
# grown to 512 slots (files.c); signal handlers
# (signals.c) and pending signals, one with no siginfo queued
# (sigpending.c); private anonymous memory (memory.c), file mappings
# (mapfile.c), the heap (heap.c), AVX registers (avx.c); memory and pipe
# state (memstate.c); an eventfd's count (holder.c); signalfds and
# epoll instances, with fired one-shot registrations (watch.c); unlinked files, FIFOs and directories, a removed cwd, an
# O_TMPFILE file and O_PATH descriptors, and the access times, extended
# attributes, inode flags and reserved space of unlinked files, files only
# mapped and memfds (unlinked.c); inotify instances, with watch numbers
# far apart and the next number after the newest watch was removed
# (inotify.c); unix sockets with their names, peers, queues, accept
# queues, shutdowns (also before connecting), never connected ones,
# SO_PEERCRED and SO_PEERGROUPS of a process running as nobody
# (unixsock.c) and options (unixopts.c); mappings of unlinked files, with
# and without descriptors held, and memfds (delmap.c); descriptors in
# flight in unix socket queues, datagram, seqpacket and stream, held by
# the process or not (scmrights.c); empty messages in datagram and
# seqpacket queues that the process peeked and that it did not, and at
# the head of a queue others may send to, which binmig's BPF reader tells
# (peekedmsg.c carried, headpeeked); the id the next timer_create hands
# out, after deleted timers, none left, and timers made with given ids (timerids.c);
# memory-deny-write-execute, KSM merge-any, CPUID faulting, membarrier
# registrations, coredump_filter, login uid and AMX permission
# (modes.c); a thread's own time slice equal to the base slice, which
# a dump after the hops must read again (attrs.c baseslice); tree members made with clone() to send SIGUSR1 or no
# signal when they exit, one alive and one a zombie (their descriptor
# tables of the default 64 slots, the root's of 512), zombies that
# exited with credentials of their own, and members in sessions and
# groups whose leaders have exited (tree.c exitsig, zombiecreds, sessgone),
# children's tables of 64 slots while the tree shares eleven descriptions
# at descriptors 40 to 50 and maps files (tree.c smalltab),
# a child stopped in such a group (treestop.c gone); flock and OFD
# locks a tree's child and its parent took on descriptions both hold,
# each taken again by its taker (locks.c shared);
# signal-driven I/O with its owners and signals (sigio.c), and the
# number its signals report where that is not the file's only or first
# descriptor, and an owner's user ids the process no longer has (sigio.c
# numbers, credchange);
# guard regions and droppable memory (memguard.c, where the
# kernel has them); an IPv4 connection to a dual-stack listener with its window
# clamps (inetsock.c dualstack), SO_INCOMING_CPU and TCP_QUICKACK as the
# program set them (inetsock.c kernelset; migrate-inetsock has the other
# sockets), TCP and UDP sockets without a port shut down for writing
# (inetsock.c shutwr), an idle connection's segment sizes and the MSS a
# program set on a connection (inetsock.c mss), an empty datagram at the
# head of a UDP queue that the program peeked (inetsock.c udpheadpeeked); pipes whose buffers each
# hold a little, and a packet-mode pipe holding packets (pipelayout.c
# carried, packets); a unix stream queue of six writes, its head partly
# read (streamlayout.c carried);
# cgroup membership (cgroup.c, at the end), and the credentials that
# opened files by name, which decide what writes to cgroup.procs files
# through them may do (opener.c carried, beside it); and everything a plain
# process and its threads read about themselves, compared value by value
# (stateprobe.c none: prctl and arch_prctl queries, scheduling, keyrings,
# rseq, credentials, limits, /proc/self files), and so with speculation
# controls set (stateprobe.c spec, where the kernel lets a task choose).
# The hops go in every mode of migrate by turns (stream, file, precopy,
# postcopy, hybrid; the rotation is below), the cgroup part's in stream
# mode.
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
	misc files signals sigpending memory mapfile heap avx holder unixopts inetsock cgroup memguard sigio tree \
	stateprobe treestop locks pipelayout streamlayout opener
mkdir -p "$E2E_TMP/work" "$E2E_TMP/unlinked" "$E2E_TMP/inotify" "$E2E_TMP/unixsock" "$E2E_TMP/delmap" "$E2E_TMP/delmapnofd" \
	"$E2E_TMP/delmapmemfd" "$E2E_TMP/scmrights" "$E2E_TMP/scmadopt" "$E2E_TMP/peeked" "$E2E_TMP/peekhead" \
	"$E2E_TMP/files" "$E2E_TMP/mapfile" "$E2E_TMP/special" "$E2E_TMP/shutrd" "$E2E_TMP/shutpre" \
	"$E2E_TMP/unconn" "$E2E_TMP/scmpipe" "$E2E_TMP/scmfile" "$E2E_TMP/scmstream" "$E2E_TMP/dualstack" "$E2E_TMP/unixuser" \
	"$E2E_TMP/memguard" "$E2E_TMP/sigio" "$E2E_TMP/treeexitsig" "$E2E_TMP/treecreds" "$E2E_TMP/unlattrs" \
	"$E2E_TMP/treesessgone" "$E2E_TMP/inogone" "$E2E_TMP/inofar" "$E2E_TMP/kernelset" "$E2E_TMP/lockshared" \
	"$E2E_TMP/treesmall" "$E2E_TMP/shutwr" "$E2E_TMP/mss"
# Before migrate-lib's cleanup, which ends the script: what a program
# stopped by a failure leaves (memstate's /dev/shm file), and the cgroups
# made below.
state_exit() {
	local rc=$?
	set +e
	rm -f "/dev/shm/memstate-$MIG_WORKLOAD_PID"
	! declare -F cg_remove >/dev/null || cg_remove
	(exit "$rc")
	mig_cleanup
}
trap state_exit EXIT
guarded=()
if why=$("$PROGS/memguard" probe); then
	guarded=("memguard carried $E2E_TMP/memguard")
else
	e2e_log "memguard skipped: $why"
fi
# Differences the README documents, by program.
declare -A accept=(
	[unlinked]='^fd [0-9]+ -> .*/unlinked/(c|#INODE) \(deleted\)$'
)
# The hops go in every mode of migrate, in a fixed rotation: program
# number i (from 0) goes in mode i mod 5 first and in mode i + 1 + i div 5
# (mod 5) back, so that each run of 25 programs has every ordered pair of
# modes once, each mode first and second five times.  A tree goes in
# stream mode where its mode moves single processes (migrate says so).
modes=(stream file precopy postcopy hybrid)
n=0
for prog in "attrs carried" "memstate $E2E_TMP/work" "watch carried" "unlinked carried $E2E_TMP/unlinked" \
	"inotify carried $E2E_TMP/inotify" "inotify gone $E2E_TMP/inogone carried" "inotify far $E2E_TMP/inofar" \
	"unixsock carried $E2E_TMP/unixsock" "delmap carried $E2E_TMP/delmap" \
	"delmap nofd $E2E_TMP/delmapnofd" "delmap memfd $E2E_TMP/delmapmemfd" "scmrights carried $E2E_TMP/scmrights" \
	"scmrights adopt $E2E_TMP/scmadopt" "peekedmsg carried $E2E_TMP/peeked" "timerids deleted" "timerids none" \
	"timerids given" "modes carried" \
	"misc first second" "files $E2E_TMP/files" "signals" "sigpending" "sigpending unqueued" "memory" \
	"mapfile $E2E_TMP/mapfile" "heap 2" "avx" "holder eventfd" \
	"attrs creds" "attrs lockall" "unlinked special $E2E_TMP/special" \
	"unixsock shutrd $E2E_TMP/shutrd" "unixsock shutpre $E2E_TMP/shutpre" "unixsock unconn $E2E_TMP/unconn" \
	"unixsock user $E2E_TMP/unixuser" \
	"unixopts carried" "scmrights pipe $E2E_TMP/scmpipe" "scmrights file $E2E_TMP/scmfile" \
	"scmrights stream $E2E_TMP/scmstream" "inetsock dualstack $E2E_TMP/dualstack" "${guarded[@]}" \
	"sigio carried $E2E_TMP/sigio" "tree $E2E_TMP/treeexitsig exitsig" "tree $E2E_TMP/treecreds zombiecreds" \
	"unlinked attrs $E2E_TMP/unlattrs" "stateprobe none" "tree $E2E_TMP/treesessgone sessgone" "treestop gone" \
	"inetsock kernelset $E2E_TMP/kernelset" "locks shared $E2E_TMP/lockshared" "tree $E2E_TMP/treesmall smalltab" \
	"attrs baseslice" "inetsock shutwr $E2E_TMP/shutwr" "inetsock mss $E2E_TMP/mss" "peekedmsg headpeeked $E2E_TMP/peekhead" \
	"sigio numbers" "sigio credchange" "pipelayout carried" "pipelayout packets" "streamlayout carried" \
	"stateprobe spec" "inetsock udpheadpeeked $E2E_TMP"; do
	read -r -a cmd <<<"$prog"
	out=$E2E_TMP/$((++n))-${cmd[0]}.out
	hops=("${modes[(n - 1) % 5]}" "${modes[(n + (n - 1) / 5) % 5]}")
	pid=$(mig_spawn A "$out" --pid "$MIG_WORKLOAD_PID" "$PROGS/${cmd[0]}" "${cmd[@]:1}")
	mig_in A "$TOOLS/waitfor" --pid "$pid" -x "$out" ready 20 || { e2e_show "$out"; e2e_fail "${cmd[0]} did not get ready"; }
	# What /proc shows of a program waiting in sigsuspend (not avx's and
	# holder's, which wait elsewhere) must be the same after the hops.
	compare=yes
	[[ ${cmd[0]} == avx || ${cmd[0]} == holder ]] && compare=
	[[ -n $compare ]] && mig_procstate A "$pid" "$out.proc-before"
	mig_round_trip "$pid" "${cmd[0]}" "${hops[@]}"
	if [[ -n $compare ]]; then
		mig_procstate A "$pid" "$out.proc-after"
		E2E_PROCSTATE_ACCEPT=${accept[${cmd[0]}]:-} e2e_procstate_same "$out.proc" "${cmd[*]} (${hops[*]})"
	fi
	# A thread's own slice equal to the base shows only to binmig's BPF
	# reader: dumped once more, the thread must still have it as its own.
	if [[ ${cmd[*]} == "attrs baseslice" ]]; then
		mig_bm A dump "$pid" -o "$out.img" --leave-running
		e2e_expect_ok "attrs baseslice: dump --leave-running after the hops"
		bm inspect "$out.img"
		e2e_expect_ok "inspect $out.img"
		base=$(sed -n 's/^base slice \([0-9]*\)$/\1/p' "$out")
		grep -Eq "^  thread [0-9]+: .*, time slice $base ns," "$BM_OUT" ||
			e2e_fail "attrs baseslice: no thread has its own slice of $base ns after the hops"
	fi
	mig_wake_expect_pass A "$pid" "$out" "${cmd[0]}"
	e2e_log "ok: ${cmd[*]} passed its checks after two hops (${hops[*]})"
done

# A migration that pre-copies peeks the queues at its first, short freeze,
# and the process runs on until the last: an empty message at the head of
# a unix queue binmig does not take, which no peek has shown (peekedmsg
# head's second socket), would come back marked.  Refused (exit 4) before
# anything is frozen for long; the process runs on and passes, its heads
# as they were.
out=$E2E_TMP/head-precopy.out
mkdir "$E2E_TMP/peekhead-precopy"
pid=$(mig_spawn A "$out" --pid "$MIG_WORKLOAD_PID" "$PROGS/peekedmsg" head "$E2E_TMP/peekhead-precopy")
mig_in A "$TOOLS/waitfor" --pid "$pid" -x "$out" ready 20 || { e2e_show "$out"; e2e_fail "peekedmsg head did not get ready"; }
mig_bm A migrate "$pid" "${MIG_ADDR[B]}:$MIG_PORT" --key "$MIG_KEY" --mode precopy
[[ $BM_RC == 4 ]] || e2e_fail "pre-copy of an unmarked empty head: migrate exited $BM_RC, expected 4"
grep -q "the dump's peek would mark it in the process, which runs on" "$BM_ERR" ||
	e2e_fail "the pre-copy refusal does not say why: $(cat "$BM_ERR")"
mig_assert_running A "$pid" "peekedmsg head after the refused pre-copy"
mig_wake_expect_pass A "$pid" "$out" "peekedmsg head"
e2e_log "ok: a pre-copy that would mark an empty head in the running process is refused"

# Control group membership (tests/progs/cgroup.c carried), started in a
# cgroup of this test's own under the cgroup v2 hierarchy and under one
# cgroup v1 hierarchy where the machine mounts some.  The hosts see a
# /sys of their own (ip netns exec) without cgroup file systems, so the
# test mounts these hierarchies in each host, at the machine's mount
# points: both hosts then have the same cgroups, as hosts of one layout
# would, and each hop's restore must put the process back into them by
# their paths.  A machine whose cgroups this test may not make (no
# delegation) leaves this part out, saying so.
V2=$(awk '$0 ~ / - cgroup2 / { print $5; exit }' /proc/self/mountinfo)
V1=$(awk '$0 ~ / - cgroup / { print $5; exit }' /proc/self/mountinfo)
CG_NAME=binmig-e2e-$$
CG_DIRS=()
cg_remove() { # kills what is left in the cgroups, then removes them
	[[ -d $V2/$CG_NAME ]] || return 0
	e2e_cgroup_kill "$V2/$CG_NAME"
	local d
	for d in "${CG_DIRS[@]}"; do
		rmdir "$d" 2>/dev/null || e2e_log "cannot remove cgroup $d"
	done
	return 0
}
if [[ -z $V2 ]]; then
	e2e_log "no cgroup v2 hierarchy is mounted: cgroup membership left out"
elif ! mkdir "$V2/$CG_NAME" 2>/dev/null; then
	e2e_log "cannot make a cgroup under $V2 (not delegated here): cgroup membership left out"
else
	CG_DIRS=("$V2/$CG_NAME")
	[[ -n $V1 ]] && mkdir "$V1/$CG_NAME" 2>/dev/null && CG_DIRS+=("$V1/$CG_NAME")
	V1_OPTS=
	[[ ${#CG_DIRS[@]} == 2 ]] && V1_OPTS=$(awk -v m="$V1" '$5 == m && / - cgroup / { print $NF; exit }' /proc/self/mountinfo)
	for h in A B; do
		# shellcheck disable=SC2016 # expanded in the host
		mig_in "$h" sh -c 'mount -t tmpfs cgroups "${1%/*}" && mkdir -p "$1" && mount -t cgroup2 cgroup2 "$1" &&
			{ [ -z "$3" ] || { mkdir -p "$2" && mount -t cgroup -o "$3" cgroup "$2"; }; }' \
			cg-mount "$V2" "$V1" "$V1_OPTS" || e2e_fail "cannot mount the cgroup hierarchies in host $h"
	done
	enter=
	for d in "${CG_DIRS[@]}"; do enter+="echo \$\$ >'$d/cgroup.procs' && "; done
	out=$E2E_TMP/cgroup.out
	pid=$(mig_spawn A "$out" --pid "$MIG_WORKLOAD_PID" sh -c "${enter}exec '$PROGS/cgroup' carried")
	mig_in A "$TOOLS/waitfor" --pid "$pid" -x "$out" ready 20 || { e2e_show "$out"; e2e_fail "cgroup did not get ready"; }
	cgs=$(mig_in A cat "/proc/$pid/cgroup")
	[[ $(grep -c ":/$CG_NAME\$" <<<"$cgs") == "${#CG_DIRS[@]}" ]] ||
		e2e_fail "process $pid is not in its ${#CG_DIRS[@]} cgroups before the hops: $cgs"
	mig_round_trip "$pid" cgroup
	mig_wake_expect_pass A "$pid" "$out" "cgroup"
	e2e_log "ok: back in its cgroups (${CG_DIRS[*]}) after two hops"
	# The credentials its descriptors of cgroup.procs files were opened
	# with (opener.c carried), which decide whether a write moves it.
	op=$V2/$CG_NAME/opener
	mkdir "$op" "$op/a" "$op/b" "$op/c" || e2e_fail "cannot make the opener's cgroups under $op"
	CG_DIRS=("$op/a" "$op/b" "$op/c" "$op" "${CG_DIRS[@]}")
	out=$E2E_TMP/opener.out
	pid=$(mig_spawn A "$out" --pid "$MIG_WORKLOAD_PID" "$PROGS/opener" carried "$op")
	mig_in A "$TOOLS/waitfor" --pid "$pid" -x "$out" ready 20 || { e2e_show "$out"; e2e_fail "opener did not get ready"; }
	mig_procstate A "$pid" "$out.proc-before"
	mig_round_trip "$pid" opener precopy hybrid
	mig_procstate A "$pid" "$out.proc-after"
	e2e_procstate_same "$out.proc" "opener carried (precopy hybrid)"
	mig_wake_expect_pass A "$pid" "$out" "opener"
	e2e_log "ok: opener carried passed its checks after two hops (precopy hybrid)"
fi
