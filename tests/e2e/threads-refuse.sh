#!/usr/bin/env bash
# Peers left behind (no emulated hosts needed; binmig dump).  The program
# (peers: two threads, prints "step K HEX" lines while it works) holds a
# descriptor whose other end belongs to another process:
#   - its stdout is a pipe to `cat`;
#   - fd 7 is a pipe to a child process;
#   - fd 7 is a socket pair with the other end in a child process;
#   - fd 7 is a TCP connection on loopback from a child process.
# Each dump is refused with exit 4 and one line that names the descriptor
# (and says "see --stdio" for fd 1 only); the process runs on untouched
# (not stopped, not traced), its peer gets every byte, and its output
# equals an unmigrated run's.
# Then --stdio for a program whose stdout (and stderr) is a pipe to cat:
#   - --stdio null: the dump succeeds, the restored process has /dev/null
#     as stdout, what it printed before the dump is all cat got, and its
#     result (also written to a regular file) is right;
#   - --stdio file:PATH with stdout and stderr on one pipe: both are PATH
#     after the restore, and cat's part followed by PATH is exactly the
#     unmigrated run's output.
# Each program but the reference run stops after step 5 and works on,
# uncounted and silent, until the test opens its gate (creates the file
# after --gate) once the dumps are done: it is alive and unfinished for all
# of them, and the later steps and the result come after them, however fast
# or slow the machine.
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/lib.sh"
e2e_init peers

PEERS=("$PROGS/peers")
WORK=(--steps 30 --cost 4000000)
GATED=(--gate-after 5 --gate) # followed by the gate's path
CAT_PID=

# start_to_cat CATOUT MERGE CMD...: runs CMD in the background with stdin
# /dev/null and stdout a pipe to `cat >CATOUT`; stderr goes into that pipe
# too with MERGE=merge, else to CATOUT.err.  Sets E2E_PID (the program)
# and CAT_PID.
start_to_cat() {
	local catout=$1 merge=$2 pidfile=$E2E_TMP/program.pid
	shift 2
	rm -f "$pidfile"
	if [[ $merge == merge ]]; then
		(
			e2e_close_fds
			echo "$BASHPID" >"$pidfile"
			exec "$@" 2>&1
		) </dev/null | cat >"$catout" &
	else
		(
			e2e_close_fds
			echo "$BASHPID" >"$pidfile"
			exec "$@" 2>"$catout.err"
		) </dev/null | cat >"$catout" &
	fi
	CAT_PID=$!
	e2e_track "$CAT_PID"
	"$TOOLS/waitfor" --pid "$CAT_PID" "$pidfile" "" 10 || e2e_fail "the program did not start"
	E2E_PID=$(<"$pidfile")
	e2e_track "$E2E_PID"
	e2e_log "started $E2E_PID (stdout to cat $CAT_PID): $*"
}

# expect_refused PID FD WHAT [TEXT]: the last dump exited 4 with one line
# naming FD of PID (and TEXT), and PID runs on untouched.
expect_refused() {
	local pid=$1 fd=$2 what=$3 text=${4:-}
	e2e_expect_error 4 "$what"
	local msg
	msg=$(<"$BM_ERR")
	[[ $msg == *"fd $fd of process $pid "* ]] || e2e_fail "$what: the message does not name fd $fd of $pid: $msg"
	[[ -z $text || $msg == *"$text"* ]] || e2e_fail "$what: the message does not say \"$text\": $msg"
	if ((fd <= 2)); then
		[[ $msg == *"see --stdio"* ]] || e2e_fail "$what: the message does not point to --stdio: $msg"
	else
		[[ $msg != *"--stdio"* ]] || e2e_fail "$what: --stdio mentioned for fd $fd: $msg"
	fi
	[[ ! -e $E2E_TMP/refused.img && ! -e $E2E_TMP/refused.img.partial ]] || e2e_fail "$what: a refused dump left an image"
	e2e_assert_alive "$pid"
	e2e_log "$what: refused: $msg"
}

# same_as_reference OUT WHAT: OUT is exactly the unmigrated run's output.
same_as_reference() {
	cmp -s "$REF" "$1" || { e2e_show "$REF" "$1"; e2e_fail "$2: the output differs from the unmigrated run's"; }
}

# The unmigrated run, for its output.
REF=$E2E_TMP/reference.out
e2e_start "$REF" "${PEERS[@]}" none "${WORK[@]}"
ref_pid=$E2E_PID

# ---- stdout is a pipe to cat
out=$E2E_TMP/stdout-pipe.out
start_to_cat "$out" separate "${PEERS[@]}" none "${WORK[@]}" "${GATED[@]}" "$out.gate"
pid=$E2E_PID
e2e_wait_line "$out" "step 2 " "$pid" 30
bm dump "$pid" -o "$E2E_TMP/refused.img"
expect_refused "$pid" 1 "stdout piped to cat" "pipe"
touch "$out.gate"
e2e_wait_exit "$pid" 60
"$TOOLS/pidwait" "$CAT_PID" 10 || e2e_fail "cat did not end"
e2e_wait_exit "$ref_pid" 60
same_as_reference "$out" "stdout piped to cat"
[[ ! -s $out.err ]] || { e2e_show "$out.err"; e2e_fail "the program wrote on stderr"; }

# ---- fd 7: pipe, socket pair, TCP connection to a child process
for mode in pipe socketpair tcp; do
	out=$E2E_TMP/$mode.out
	e2e_start "$out" "${PEERS[@]}" "$mode" "${WORK[@]}" "${GATED[@]}" "$out.gate"
	pid=$E2E_PID
	e2e_wait_line "$out" "step 2 " "$pid" 30
	bm dump "$pid" -o "$E2E_TMP/refused.img"
	case $mode in
	pipe) expect_refused "$pid" 7 "$mode to a child" "pipe" ;;
	*) expect_refused "$pid" 7 "$mode to a child" "socket" ;;
	esac
	# The same again with --stdio null: it covers fds 0-2 only.
	bm dump "$pid" -o "$E2E_TMP/refused.img" --stdio null
	expect_refused "$pid" 7 "$mode to a child, --stdio null"
	touch "$out.gate"
	e2e_wait_exit "$pid" 60
	wait "$pid" || e2e_fail "$mode: the program exited with status $? (its child lost data?)"
	same_as_reference "$out" "$mode to a child"
done

# ---- --stdio null
out=$E2E_TMP/stdio-null.out
record=$E2E_TMP/stdio-null.record
start_to_cat "$out" separate "${PEERS[@]}" none "${WORK[@]}" --record "$record" "${GATED[@]}" "$out.gate"
pid=$E2E_PID
e2e_wait_line "$out" "step 3 " "$pid" 30
e2e_dump "$pid" "$E2E_TMP/null.img" --stdio null
"$TOOLS/pidwait" "$CAT_PID" 10 || e2e_fail "cat did not end after the dump"
e2e_restore "$E2E_TMP/null.img" "$pid"
[[ $(readlink "/proc/$pid/fd/1") == /dev/null ]] ||
	e2e_fail "--stdio null: the restored stdout is $(readlink "/proc/$pid/fd/1"), not /dev/null"
touch "$out.gate"
e2e_wait_exit "$pid" 60
ref_result=$(tail -n 1 "$REF")
[[ $(cat "$record") == "$ref_result" ]] || e2e_fail "--stdio null: recorded \"$(cat "$record")\", expected \"$ref_result\""
# What cat got is the start of the reference output, without the result.
n=$(wc -c <"$out")
cmp -s "$out" <(head -c "$n" "$REF") || { e2e_show "$out"; e2e_fail "--stdio null: cat got other output than the reference's start"; }
! grep -q '^result' "$out" || e2e_fail "--stdio null: the result went to cat, not to /dev/null"
[[ ! -s $out.err ]] || { e2e_show "$out.err"; e2e_fail "the program wrote on stderr"; }
e2e_log "--stdio null: $(wc -l <"$out") lines before the dump, result right"

# ---- --stdio file:PATH, stdout and stderr on the same pipe
out=$E2E_TMP/stdio-file.out
later=$E2E_TMP/later/stdio-file.after
mkdir -p "$(dirname "$later")"
start_to_cat "$out" merge "${PEERS[@]}" none "${WORK[@]}" "${GATED[@]}" "$out.gate"
pid=$E2E_PID
e2e_wait_line "$out" "step 3 " "$pid" 30
e2e_dump "$pid" "$E2E_TMP/file.img" --stdio "file:$later"
"$TOOLS/pidwait" "$CAT_PID" 10 || e2e_fail "cat did not end after the dump"
e2e_restore "$E2E_TMP/file.img" "$pid"
for fd in 1 2; do
	target=$(readlink "/proc/$pid/fd/$fd")
	[[ $target == "$later" ]] || e2e_fail "--stdio file: the restored fd $fd is $target, not $later"
done
touch "$out.gate"
e2e_wait_exit "$pid" 60
cat "$out" "$later" >"$E2E_TMP/stdio-file.joined"
same_as_reference "$E2E_TMP/stdio-file.joined" "--stdio file: cat's part then $later"
grep -q '^step' "$later" || e2e_fail "--stdio file: no step went to $later"
e2e_log "--stdio file: $(wc -l <"$out") lines to cat, $(wc -l <"$later") to $later, as unmigrated"
