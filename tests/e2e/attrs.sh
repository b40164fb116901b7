#!/usr/bin/env bash
# Process and thread attributes (tests/progs/attrs.c): OOM score, nice,
# I/O priority, timer slack, THP disable, child subreaper, keep-caps,
# machine-check policy, securebits, a smaller bounding set, no_new_privs,
# mlockall(MCL_FUTURE) with and without MCL_ONFAULT,
# and a second thread with its own policy, nice, slack and CPU; and, in
# another run, the user and group ids of a process that gave up root:
# dumped and restored, the program checks them all.  What binmig cannot carry is
# refused (exit 4, one line naming it) and the process runs on untouched:
# a seccomp filter (also one that kills the process on mmap: the refusal
# comes before binmig injects anything), a parent-death signal, capabilities other than the
# user ids give, a NUMA policy for the process or for one area (mbind), a
# thread with user ids of its own (raw setresuid in that thread only), a
# thread with a cwd and umask or a descriptor table of its own (unshare
# CLONE_FS, CLONE_FILES in that thread), a thread in a Landlock domain (in
# a process of user 65534, its main thread in none), a thread keyring, a
# process keyring, a session keyring holding a key, a thread with an
# io_uring registered and its descriptor closed, securebits in a process
# that is not root (SECBIT_KEEP_CAPS kept across setuid), a thread under
# SCHED_DEADLINE.
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/lib.sh"
e2e_init attrs
e2e_state_test attrs carried
e2e_state_test attrs creds
e2e_state_test attrs lockall

declare -A said=([seccomp]="runs under seccomp" [seccompkill]="runs under seccomp" [pdeathsig]="when its parent dies"
	[caps]="capabilities other than its user ids give" [numa]="NUMA memory policy" [mbind]="with a NUMA policy (bind"
	[threadcreds]="has user or group ids of its own (set by a raw system call), unlike the process's leader"
	[threadfs]="does not share its cwd, root and umask (CLONE_FS) with the process's leader"
	[threadfiles]="does not share its descriptor table (CLONE_FILES) with the process's leader"
	[landlock]="is in a Landlock domain" [threadkeyring]="has a thread keyring"
	[processkeyring]="has a process keyring" [sessionkeys]="has keys in its session keyring"
	[iouring]="has an io_uring instance registered" [securebits]="(not root) has securebits 0x10"
	[deadline]="runs under SCHED_DEADLINE")
for mode in seccomp seccompkill pdeathsig caps numa mbind threadcreds threadfs threadfiles landlock threadkeyring \
	processkeyring sessionkeys iouring securebits deadline; do
	e2e_refused_dump "$mode" "${said[$mode]}" -- attrs "$mode"
done

# A thread whose own time slice is exactly the base slice (attrs
# baseslice): sched_getattr cannot tell it from none; only the kernel's
# task structure does (se.custom_slice), which binmig's BPF reader reads
# (migrator/kstate.h).  The image carries the slice, the main thread's
# none (inspect), and the restored thread has it as its own: a second
# dump of the restored process (--leave-running) reads it again.
slice_of() { # IMAGE TID: the time slice inspect shows of thread TID
	bm inspect "$1"
	e2e_expect_ok "inspect $1"
	sed -n "s/^  thread $2: .*, time slice \([0-9]*\) ns,.*/\1/p" "$BM_OUT"
}
out=$E2E_TMP/baseslice.out
e2e_start "$out" "$PROGS/attrs" baseslice
pid=$E2E_PID
e2e_wait_ready "$out" "$pid"
base=$(sed -n 's/^base slice \([0-9]*\)$/\1/p' "$out")
tid=
for t in /proc/"$pid"/task/*; do [[ ${t##*/} == "$pid" ]] || tid=${t##*/}; done
[[ $base =~ ^[0-9]+$ && $tid =~ ^[0-9]+$ ]] || e2e_fail "baseslice: no base slice ($base) or no second thread"
e2e_migrate_same "$pid" "$E2E_TMP/baseslice.img" "attrs baseslice"
bm dump "$pid" -o "$E2E_TMP/baseslice.again.img" --leave-running
e2e_expect_ok "dump --leave-running of the restored $pid"
for img in "$E2E_TMP/baseslice.img" "$E2E_TMP/baseslice.again.img"; do
	got=$(slice_of "$img" "$tid")
	[[ $got == "$base" ]] || e2e_fail "${img##*/}: thread $tid's own slice is not $base ns but '$got'"
	[[ $(slice_of "$img" "$pid") == 0 ]] || e2e_fail "${img##*/}: the main thread has a slice of its own"
done
e2e_signal "$pid" "$out"
e2e_wait_exit "$pid"
e2e_expect_pass "$out"
e2e_log "baseslice: the thread's own base slice carried"
