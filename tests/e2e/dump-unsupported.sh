#!/usr/bin/env bash
# State binmig cannot carry: a socket whose peer is in another process, an attached System V
# shared memory segment, shared anonymous memory that a process not dumped
# maps too, a pipe whose ends a process not dumped holds too, a POSIX
# message queue, a file on a mount of its own mount namespace, an owner
# for a descriptor's signals (F_SETOWN_EX) that is a process group with processes not dumped in it
# (signal-driven I/O within what moves is carried: e2e/sigio), a directory watched
# with F_NOTIFY (dnotify), a packet-mode pipe
# holding packets where binmig cannot read their boundaries (its BPF
# reader off: BINMIG_TEST_NO_BPF; e2e/pipelayout carries them), a mapping of a deleted file that has another name left
# (a deleted file with one name is carried: e2e/delmap), a socket of a
# family binmig does not carry (netlink, AF_PACKET), a pidfd, a
# userfaultfd, a fanotify group, a pipe to another process
# as stdout.  Each dump exits 4 with one "binmig: ..." line (for the
# socket naming the descriptor and "socket"), and leaves the process
# running, not stopped, not traced, its work (a register-heavy loop checked
# afterwards) undisturbed.
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/lib.sh"
e2e_init holder

# sysvshm-id0: the same segment in a new IPC namespace, where it is the
# first and has the id 0, the inode its mapping shows in /proc/PID/maps.
for mode in socket-out sysvshm sysvshm-id0 shmem-out shared-out mqueue mountns owner dnotify packet delmap \
	netlink af-packet pidfd userfaultfd fanotify; do
	out=$E2E_TMP/$mode.out
	if [[ $mode == sysvshm-id0 ]]; then
		e2e_start "$out" unshare --ipc "$PROGS/holder" sysvshm "$E2E_TMP/$mode.file"
	else
		e2e_start "$out" "$PROGS/holder" "$mode" "$E2E_TMP/$mode.file"
	fi
	pid=$E2E_PID
	e2e_wait_ready "$out" "$pid"
	read -r _ fd_a fd_b < <(grep '^fds ' "$out")
	if [[ $mode == packet ]]; then
		BINMIG_TEST_NO_BPF=1 bm dump "$pid" -o "$E2E_TMP/$mode.img"
	else
		bm dump "$pid" -o "$E2E_TMP/$mode.img"
	fi
	e2e_expect_error 4 "dump of a process holding a $mode"
	if [[ $mode == sysvshm* ]]; then
		grep -q "System V shared memory segment" "$BM_ERR" || e2e_fail "the message does not name the segment: $(cat "$BM_ERR")"
	fi
	if [[ $mode == shmem-out ]]; then
		grep -q "process $pid shares anonymous memory (MAP_SHARED, at 0x[0-9a-f]*) with process [0-9]*, which is not dumped with it" "$BM_ERR" ||
			e2e_fail "the message does not name the memory and the other process: $(cat "$BM_ERR")"
	fi
	if [[ $mode == shared-out ]]; then
		grep -Eq "fd ($fd_a|$fd_b) of process $pid is an anonymous pipe \(pipe:\[[0-9]+\]\) that process [0-9]+ \(holder\), which does not move with it, holds too" "$BM_ERR" ||
			e2e_fail "the message does not name the pipe and the other process: $(cat "$BM_ERR")"
	fi
	if [[ $mode == mqueue ]]; then
		grep -q "fd $fd_a of process $pid is a regular file (/binmig-holder-$pid), a POSIX message queue (mq_open)" "$BM_ERR" ||
			e2e_fail "the message does not name the message queue: $(cat "$BM_ERR")"
	fi
	if [[ $mode == mountns ]]; then
		grep -q "fd $fd_a of process $pid is a regular file (.*held) whose name leads binmig to another file or to none" "$BM_ERR" ||
			e2e_fail "the message does not name the file out of reach: $(cat "$BM_ERR")"
	fi
	if [[ $mode == delmap ]]; then
		grep -q "maps the deleted file $E2E_TMP/delmap.file at 0x[0-9a-f]*, whose name was removed while other hard links" "$BM_ERR" ||
			e2e_fail "the message does not name the file and its other link: $(cat "$BM_ERR")"
	fi
	# the owner of fd_a's signals, without O_ASYNC
	want=
	case $mode in
	owner) want="whose signals go to process group [0-9]* (F_SETOWN), which has process [0-9]*, which does not move with it" ;;
	dnotify) want="whose signals go to process $pid (F_SETOWN or F_NOTIFY, with F_SETSIG), which may be dnotify's" ;;
	esac
	[[ -z $want ]] || grep -q "fd $fd_a of process $pid is .* $want" "$BM_ERR" ||
		e2e_fail "the message does not say \"$want\": $(cat "$BM_ERR")"
	# a descriptor of a kind binmig does not carry, named with what a policy may put there
	case $mode in
	netlink | af-packet) want="a socket (socket:\[[0-9]*\])" ;;
	pidfd) want="a pidfd (anon_inode:\[pidfd\])" ;;
	userfaultfd | fanotify) want="an anonymous inode (anon_inode:\[$mode\])" ;;
	*) want= ;;
	esac
	[[ -z $want ]] || grep -q "fd $fd_a of process $pid is $want; binmig cannot migrate it (--fd $fd_a=" "$BM_ERR" ||
		e2e_fail "the message does not say \"$want\" and the policies: $(cat "$BM_ERR")"
	if [[ $mode == packet ]]; then
		grep -q "a packet-mode pipe (O_DIRECT) holding data" "$BM_ERR" || e2e_fail "the message does not name the packets: $(cat "$BM_ERR")"
	fi
	if [[ $mode == socket-out ]]; then
		grep -qi socket "$BM_ERR" || e2e_fail "the message does not say \"socket\""
		grep -Eq "(^|[^0-9])($fd_a|$fd_b)([^0-9]|$)" "$BM_ERR" ||
			e2e_fail "the message names neither socket descriptor ($fd_a, $fd_b)"
	fi
	e2e_assert_alive "$pid"
	e2e_signal "$pid" "$out"
	e2e_wait_exit "$pid"
	status=0
	wait "$pid" || status=$?
	[[ $status == 0 ]] || e2e_fail "$mode holder exited with $status after the refused dump"
	e2e_expect_pass "$out"
done

# stdout is a pipe (to a cat the script owns).
out=$E2E_TMP/piped.out
exec {to_cat}> >(exec cat >"$out")
(
	e2e_close_fds
	exec "$PROGS/holder" none
) </dev/null 1>&"$to_cat" 2>"$out.err" &
pid=$!
E2E_CHILDREN[$pid]=1
e2e_track "$pid"
exec {to_cat}>&-
e2e_wait_ready "$out" "$pid"
bm dump "$pid" -o "$E2E_TMP/piped.img"
e2e_expect_error 4 "dump of a process whose stdout is a pipe"
e2e_assert_alive "$pid"
e2e_signal "$pid" "$out"
e2e_wait_exit "$pid"
status=0
wait "$pid" || status=$?
[[ $status == 0 ]] || e2e_fail "piped holder exited with $status after the refused dump"
e2e_wait_line "$out" PASS "" 10 -x # cat may still be copying
e2e_expect_pass "$out"
