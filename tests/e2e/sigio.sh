#!/usr/bin/env bash
# Signal-driven I/O (tests/progs/sigio.c, migrator/fd_sigio.c): O_ASYNC,
# the owner of an open file's signals (a thread, the process, its process
# group) and their signal (F_SETSIG) are carried, so that after the
# restore fcntl reads them back and writing to each file makes the same
# signal arrive at the same thread with the same siginfo; an owner that
# does not move with the process is refused (exit 4, one line naming it,
# the process untouched), and so is O_ASYNC on an open file held at two
# descriptor numbers (which one its signals name shows nowhere).  A tree of two sharing (fork) a pipe owned by
# their process group and one owned by the child: dumped and restored
# twice, each signal still reaches its process.  The same with the two
# as different users: the owner keeps the credentials of the process
# that set it (the restore sets it as that process), so the other
# process, which it may not signal, still gets nothing; refused when both
# hold the open file (either may have set it).
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/lib.sh"
e2e_init sigio
mkdir "$E2E_TMP/files"
e2e_state_test sigio carried "$E2E_TMP/files"
e2e_refused_dump outside "whose signals go to process " -- sigio outside
grep -qE "whose signals go to process $(sed -n 's/^owner //p' "$E2E_TMP/outside.out") \(F_SETOWN\), which does not move with it" \
	"$BM_ERR" || e2e_fail "the refusal does not name the owner: $(cat "$BM_ERR")"
e2e_refused_dump dupasync "too: its signals name the descriptor O_ASYNC was set through (si_fd), which binmig cannot tell" -- sigio dupasync
grep -qE "fd [0-9]+ of process [0-9]+ .* with O_ASYNC, held at fd [0-9]+ of process [0-9]+ too" "$BM_ERR" ||
	e2e_fail "the refusal does not name both descriptors: $(cat "$BM_ERR")"
mkdir "$E2E_TMP/fifoasync"
e2e_refused_dump fifoasync "with O_ASYNC, which open(2) sets without sending signals and fcntl(F_SETFL) with: binmig cannot tell which" -- sigio fifoasync "$E2E_TMP/fifoasync"

# run_tree MODE: sigio MODE, a tree of two, dumped and restored twice, then woken.
run_tree() {
	local mode=$1 out=$E2E_TMP/$1.out root kid round
	e2e_start "$out" "$PROGS/sigio" "$mode"
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
run_tree tree
run_tree creds
e2e_refused_dump shared "held by process " -- sigio creds shared
grep -q "of other users, whose credentials its owner keeps decide whether process [0-9]* gets its signals" "$BM_ERR" ||
	e2e_fail "the refusal does not say why: $(cat "$BM_ERR")"
