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
# io_uring registered and its descriptor closed.
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
	[iouring]="has an io_uring instance registered")
for mode in seccomp seccompkill pdeathsig caps numa mbind threadcreds threadfs threadfiles landlock threadkeyring \
	processkeyring sessionkeys iouring; do
	e2e_refused_dump "$mode" "${said[$mode]}" -- attrs "$mode"
done
