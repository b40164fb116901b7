#!/usr/bin/env bash
# --fd N=ACTION: descriptors whose peer stays behind, let go as the user
# says (binmig dump and restore; no emulated hosts).  The program (leaked)
# holds, at fd 251, the read end or the write end of a pipe, or one end of
# a socket pair, whose other end is in another process.
#   - Without --fd the dump is refused: exit 4, one line naming fd 251,
#     what it is and "--fd 251=null|close|file:PATH|broken"; the process
#     runs on untouched.
#   - With --fd 251=null, close, file:PATH and broken (for each kind; broken
#     also for datagram and seqpacket sockets) it is dumped and restored;
#     restore reports the replacement in one line; the restored process
#     finds at fd 251 /dev/null (reads end of file, writes succeed, flags
#     kept), nothing (EBADF), the file (a read end reads it from its start,
#     a write end appends to it), or a dead peer (end of file on read, EPIPE
#     on write with SIGPIPE ignored), and passes.  inspect shows it too.
#   - An --fd the process cannot take: a descriptor it does not have, broken
#     for a regular file (exit 2), a file to read that is missing (exit 7):
#     one line, the process untouched.
#   - Both ends of one pipe in the process, one given a policy: the other
#     end is refused, saying why; with a policy for each, it goes.
#   - An explicit --fd for stdout wins over --stdio.
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/lib.sh"
e2e_init leaked

FD=251

# start KIND ACTION [TEXT]: the program, ready.  Sets PID and OUT; the
# peer process is tracked for the cleanup.
start() {
	OUT=$E2E_TMP/$1-$2.out
	e2e_start "$OUT" "$PROGS/leaked" "$1" "$FD" "${@:2}"
	PID=$E2E_PID
	e2e_wait_ready "$OUT" "$PID"
	local peer
	peer=$(sed -n 's/^peer //p' "$OUT")
	[[ $peer == 0 ]] || e2e_track "$peer"
}

# refused CODE WHAT TEXT...: the last dump exited CODE with one line that
# contains every TEXT, left no image, and PID runs on untouched.
refused() {
	local code=$1 what=$2 text msg
	shift 2
	e2e_expect_error "$code" "$what"
	msg=$(<"$BM_ERR")
	for text in "$@"; do
		[[ $msg == *"$text"* ]] || e2e_fail "$what: the message does not say \"$text\": $msg"
	done
	[[ ! -e $E2E_TMP/refused.img && ! -e $E2E_TMP/refused.img.partial ]] || e2e_fail "$what: a refused dump left an image"
	e2e_assert_alive "$PID"
	e2e_log "ok: $what: $msg"
}

# finish: wakes the program and expects PASS.
finish() {
	e2e_signal "$PID" "$OUT"
	e2e_wait_exit "$PID"
	e2e_expect_pass "$OUT"
}

# The kind and /proc link of fd 251, as the report names them.
describe() {
	local link
	link=$(readlink "/proc/$PID/fd/$FD")
	case $link in
	pipe:*) echo "an anonymous pipe ($link)" ;;
	socket:*) echo "a socket ($link)" ;;
	*) e2e_fail "fd $FD of $PID is $link" ;;
	esac
}

# policy KIND SPEC ACTION NOW [TEXT]: dumps with --fd 251=SPEC and restores;
# the restore reports "fd 251 was ..., now NOW (--fd 251=SPEC)" and the
# program finds what ACTION says.
policy() {
	local kind=$1 spec=$2 action=$3 now=$4 text=${5:-} was line
	start "$kind" "$action" "$text"
	was=$(describe)
	e2e_dump "$PID" "$E2E_TMP/$kind-$action.img" --fd "$FD=$spec"
	bm inspect "$E2E_TMP/$kind-$action.img"
	e2e_expect_ok "inspect after --fd $FD=$spec"
	grep -qF "replaced: was $was, now $now (--fd $FD=$spec)" "$BM_OUT" ||
		e2e_fail "inspect does not show fd $FD replaced: $(grep -A1 "^ *$FD " "$BM_OUT")"
	e2e_restore "$E2E_TMP/$kind-$action.img" "$PID"
	line="binmig: process $PID: fd $FD was $was, now $now (--fd $FD=$spec)"
	[[ $(<"$BM_ERR") == "$line" ]] || e2e_fail "$kind, --fd $FD=$spec: restore said \"$(<"$BM_ERR")\", expected \"$line\""
	finish
	e2e_log "ok: $kind, --fd $FD=$spec: $now"
}

echo "== refused without --fd" >&2
for kind in pipe-read pipe-write stream; do
	start "$kind" none
	was=$(describe)
	bm dump "$PID" -o "$E2E_TMP/refused.img"
	refused 4 "$kind without --fd" "fd $FD of process $PID is $was" "binmig cannot migrate it" \
		"(--fd $FD=null|close|file:PATH|broken lets it go)"
	finish
done

echo "== null, close, file:PATH, broken" >&2
policy pipe-read null null "/dev/null, read-only"
policy pipe-write null null "/dev/null, write-only"
policy stream null null "/dev/null, read-write"
for kind in pipe-read pipe-write stream; do
	policy "$kind" close close closed
done
input=$E2E_TMP/input.txt
printf 'what the read end reads' >"$input"
policy pipe-read "file:$input" file "$input, read from its start" "what the read end reads"
output=$E2E_TMP/output.txt
printf 'there before\n' >"$output"
policy pipe-write "file:$output" file "$output, appending" "appended by the write end"
[[ $(<"$output") == $'there before\nappended by the write end' ]] || e2e_fail "file: $output holds \"$(<"$output")\""
created=$E2E_TMP/created.txt
policy stream "file:$created" file "$created, read-write, appending" "written to a new file"
[[ $(<"$created") == "written to a new file" ]] || e2e_fail "file: $created holds \"$(<"$created")\""
[[ $(stat -c %a "$created") == 644 ]] || e2e_fail "file: $created was created with mode $(stat -c %a "$created")"
policy pipe-read broken broken "the read end of a pipe whose write end is closed"
policy pipe-write broken broken "the write end of a pipe whose read end is closed"
policy stream broken broken "a unix stream socket whose peer is closed"
policy dgram broken broken "a unix datagram socket whose peer is closed"
policy seqpacket broken broken "a unix seqpacket socket whose peer is closed"

echo "== an --fd the process cannot take" >&2
start pipe-read none
bm dump "$PID" -o "$E2E_TMP/refused.img" --fd "$FD=null" --fd 300=close
refused 2 "--fd for a descriptor the process does not have" "--fd 300=close: process $PID has no descriptor 300"
bm dump "$PID" -o "$E2E_TMP/refused.img" --fd 1=broken
refused 2 "broken for a regular file" "--fd 1=broken: fd 1 of process $PID is a regular file" \
	"not a pipe end or a socket"
bm dump "$PID" -o "$E2E_TMP/refused.img" --fd "$FD=file:$E2E_TMP/missing.txt"
refused 7 "file: to read that is missing" "--fd $FD=file:$E2E_TMP/missing.txt: cannot open"
finish

echo "== both ends of one pipe in the process" >&2
start pipe-both split
bm dump "$PID" -o "$E2E_TMP/refused.img" --fd $((FD + 1))=null
refused 4 "only the write end given a policy" "fd $FD of process $PID is an anonymous pipe" \
	"whose other end here, fd $((FD + 1)), is replaced by a policy" "(--fd $FD=null|close|file:PATH|broken lets it go)"
e2e_dump "$PID" "$E2E_TMP/both.img" --fd "$FD=broken" --fd $((FD + 1))=null
e2e_restore "$E2E_TMP/both.img" "$PID"
[[ $(grep -c "^binmig: process $PID: fd " "$BM_ERR") == 2 ]] || e2e_fail "both ends: restore reported $(<"$BM_ERR")"
finish

echo "== --fd for stdout wins over --stdio" >&2
out=$E2E_TMP/stdio.out
later=$E2E_TMP/stdio.later
exec {to_cat}> >(exec cat >"$out")
(
	e2e_close_fds
	exec "$PROGS/leaked" pipe-read "$FD" null
) </dev/null 1>&"$to_cat" 2>"$out.err" &
PID=$!
OUT=$later
E2E_CHILDREN[$PID]=1
e2e_track "$PID"
exec {to_cat}>&-
e2e_wait_ready "$out" "$PID"
e2e_track "$(sed -n 's/^peer //p' "$out")"
bm dump "$PID" -o "$E2E_TMP/refused.img" --fd "$FD=null"
refused 4 "stdout a pipe, no --stdio" "fd 1 of process $PID is an anonymous pipe" "see --stdio"
e2e_dump "$PID" "$E2E_TMP/stdio.img" --stdio null --fd "$FD=null" --fd "1=file:$later"
e2e_restore "$E2E_TMP/stdio.img" "$PID"
[[ $(readlink "/proc/$PID/fd/1") == "$later" ]] || e2e_fail "--fd 1 with --stdio: stdout is $(readlink "/proc/$PID/fd/1")"
grep -q "fd 1 was an anonymous pipe (pipe:\[[0-9]*\]), now $later, appending (--fd 1=file:$later)" "$BM_ERR" ||
	e2e_fail "--fd 1 with --stdio: restore said $(<"$BM_ERR")"
finish
e2e_log "ok: --fd 1=file:PATH with --stdio null: the program's PASS went to $later"
