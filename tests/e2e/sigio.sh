#!/usr/bin/env bash
# Signal-driven I/O (tests/progs/sigio.c, migrator/fd_sigio.c): O_ASYNC,
# the owner of an open file's signals (a thread, the process, its process
# group) and their signal (F_SETSIG) are carried, so that after the
# restore fcntl reads them back and writing to each file makes the same
# signal arrive at the same thread with the same siginfo; an owner that
# does not move with the process is refused (exit 4, one line naming it,
# the process untouched).  The number signals report (si_fd), that of
# the descriptor O_ASYNC was set through, is read (BPF) and kept: an open
# file held at two numbers, set through the higher; one set through a
# number closed since (the restore sets it through a copy there, closed
# again); refused where another file holds that number now, and, without
# BPF (BINMIG_TEST_NO_BPF), where the open file is held at two numbers.
# The owner's recorded user ids: kept where the process changed its own
# since it set the owner (binmig sets it with them).  A tree of two sharing (fork) a pipe owned by
# their process group and one owned by the child: dumped and restored
# twice, each signal still reaches its process.  The same with the two
# as different users: the owner keeps the credentials of the process
# that set it (the restore sets it as that process), so the other
# process, which it may not signal, still gets nothing; also where both
# hold the open file (the owner's ids are read: those of the first).
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/lib.sh"
e2e_init sigio
mkdir "$E2E_TMP/files"
e2e_state_test sigio carried "$E2E_TMP/files"
e2e_refused_dump outside "whose signals go to process " -- sigio outside
grep -qE "whose signals go to process $(sed -n 's/^owner //p' "$E2E_TMP/outside.out") \(F_SETOWN\), which does not move with it" \
	"$BM_ERR" || e2e_fail "the refusal does not name the owner: $(cat "$BM_ERR")"
BINMIG_TEST_NO_BPF=1 e2e_refused_dump dupasync \
	"too: its signals name the descriptor O_ASYNC was set through (si_fd), which binmig cannot tell" -- sigio dupasync
grep -qE "fd [0-9]+ of process [0-9]+ .* with O_ASYNC, held at fd [0-9]+ of process [0-9]+ too" "$BM_ERR" ||
	e2e_fail "the refusal does not name both descriptors: $(cat "$BM_ERR")"
BINMIG_TEST_NO_BPF=1 e2e_refused_dump numbers-nobpf "held at fd 31 of process" -- sigio numbers
e2e_state_test sigio numbers
e2e_refused_dump taken "with O_ASYNC set through fd 32, which now holds another file" -- sigio taken
e2e_state_test sigio credchange
mkdir "$E2E_TMP/fifoasync"
e2e_refused_dump fifoasync "with O_ASYNC, which open(2) sets without sending signals and fcntl(F_SETFL) with: binmig cannot tell which" -- sigio fifoasync "$E2E_TMP/fifoasync"

# run_tree LABEL ARGS...: sigio ARGS, a tree of two, dumped and restored twice, then woken.
run_tree() {
	local mode=$1 out=$E2E_TMP/$1.out root kid round
	shift
	e2e_start "$out" "$PROGS/sigio" "$@"
	root=$E2E_PID
	e2e_wait_ready "$out" "$root"
	kid=$(sed -n 's/^child //p' "$out")
	e2e_track "$kid"
	for round in 1 2; do
		e2e_wait_syscall "$root" rt_sigsuspend
		e2e_wait_syscall "$kid" read
		e2e_tree_dump_restore "$E2E_TMP/$mode$round.img" "$round" "the tree ($mode)" "$root" "$kid"
	done
	e2e_wait_syscall "$root" rt_sigsuspend
	e2e_signal "$root" "$out"
	e2e_wait_exit "$root"
	e2e_expect_pass "$out"
	e2e_log "ok: $mode: the tree's owners and signals came back twice"
}
run_tree tree tree
run_tree creds creds
run_tree shared creds shared
