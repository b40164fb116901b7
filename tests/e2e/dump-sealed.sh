#!/usr/bin/env bash
# Sealed image files: a process holding a known 32-byte secret is dumped
# with --key.  The image holds the secret neither as bytes nor as the hex
# digits of its command line (a plain dump holds both, which shows the
# search can fail); inspect and restore without the key say it is needed
# (status 2); with another key, with a byte altered anywhere (file header,
# a frame header, a page, the last tag), cut short, or lengthened, they
# are refused (status 5) and nothing is left at the PID; a plain image is
# refused where --key asks for a sealed one; with the right key inspect
# prints the image and restore brings the process back (seal column in
# --stats), which then finds its secret intact.
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/lib.sh"
e2e_init secret

secret=$(head -c 32 /dev/urandom | od -An -tx1 -v | tr -d ' \n')
[[ ${#secret} == 64 ]] || e2e_fail "could not make a secret"
key=$E2E_TMP/key other=$E2E_TMP/other-key
"$BINMIG" keygen "$key" && "$BINMIG" keygen "$other" || e2e_fail "binmig keygen failed"

# holds FILE HEX: FILE contains the bytes HEX spells.
holds() {
	perl -0777 -e 'open(my $f, "<:raw", $ARGV[0]) or die; local $/; my $d = <$f>;
		exit(index($d, pack("H*", $ARGV[1])) >= 0 ? 0 : 1)' "$1" "$2"
}
# holds_text FILE TEXT
holds_text() { grep -aqF -- "$2" "$1"; }

out=$E2E_TMP/secret.out
start_secret() {
	e2e_start "$out" "$PROGS/secret" "$secret"
	pid=$E2E_PID
	e2e_wait_ready "$out" "$pid"
	e2e_wait_syscall "$pid" rt_sigsuspend
}

# The plain image: the search finds the secret.
start_secret
plain=$E2E_TMP/plain.img
bm dump "$pid" -o "$plain" --leave-running
e2e_expect_ok "plain dump"
holds "$plain" "$secret" || e2e_fail "the plain image does not hold the secret: the search cannot find it"
holds_text "$plain" "$secret" || e2e_fail "the plain image does not hold the command line's hex digits"

# The sealed image: neither form.
sealed=$E2E_TMP/sealed.img
e2e_dump "$pid" "$sealed" --key "$key" --stats csv
[[ $(head -n 1 "$BM_OUT") == *,seal ]] || e2e_fail "dump --key --stats csv has no seal column: $(head -n 1 "$BM_OUT")"
suite=$(tail -n 1 "$BM_OUT" | awk -F, '{ print $NF }')
[[ $suite == aes-256-gcm || $suite == chacha20-poly1305 ]] || e2e_fail "dump --key sealed with \"$suite\""
holds "$sealed" "$secret" && e2e_fail "the sealed image holds the secret"
holds_text "$sealed" "$secret" && e2e_fail "the sealed image holds the command line's hex digits"
[[ $(head -c 4 "$sealed" | od -An -c | tr -d ' ') == '211BMS' ]] || e2e_fail "the sealed image does not start with its magic"
e2e_log "ok: the sealed image ($suite, $(stat -c %s "$sealed") bytes) holds no trace of the secret"

# refused CODE WHAT TEXT COMMAND...: binmig COMMAND fails with CODE, one
# line containing TEXT, and nothing is left at the PID.
refused() {
	local code=$1 what=$2 text=$3
	shift 3
	bm "$@"
	e2e_expect_error "$code" "$what"
	grep -qF -- "$text" "$BM_ERR" || e2e_fail "$what: the message does not say \"$text\": $(cat "$BM_ERR")"
	[[ ! -e /proc/$pid ]] || e2e_fail "$what: a process $pid is left ($(e2e_state "$pid"))"
}

refused 2 "restore without --key" "the image is sealed: it needs the key" restore "$sealed"
refused 2 "inspect without --key" "the image is sealed: it needs the key" inspect "$sealed"
refused 5 "restore with another key" "sealed with another key" restore "$sealed" --key "$other"
refused 5 "inspect with another key" "sealed with another key" inspect "$sealed" --key "$other"
[[ ! -s $BM_OUT ]] || e2e_fail "inspect with another key printed something"
refused 5 "a plain image with --key" "the image is not sealed" restore "$plain" --key "$key"

# Altered: one byte changed in the file header, the first frame's header,
# the middle (page data), and the last byte (IMAGE_END's tag).
size=$(stat -c %s "$sealed")
for at in 20 70 $((size / 2)) $((size - 1)); do
	cp "$sealed" "$E2E_TMP/altered.img"
	printf '%s' "$(dd if="$sealed" bs=1 skip="$at" count=1 status=none | od -An -tu1 | tr -d ' ')" |
		perl -e 'my $v = <STDIN>; open(my $f, "+<:raw", $ARGV[0]) or die; seek($f, $ARGV[1], 0);
			print $f chr(($v ^ 0x40) & 255); close $f' "$E2E_TMP/altered.img" "$at"
	cmp -s "$sealed" "$E2E_TMP/altered.img" && e2e_fail "byte $at was not changed"
	bm restore "$E2E_TMP/altered.img" --key "$key"
	e2e_expect_error 5 "restore of an image altered at byte $at"
	grep -Eq "altered|another key" "$BM_ERR" || e2e_fail "altered at byte $at: $(cat "$BM_ERR")"
	[[ ! -e /proc/$pid ]] || e2e_fail "altered at byte $at: a process $pid is left ($(e2e_state "$pid"))"
done
e2e_log "ok: an image altered in its header, a frame header, a page or the last tag is refused"

head -c $((size - 100)) "$sealed" >"$E2E_TMP/short.img"
refused 5 "an image cut short" "cut short" restore "$E2E_TMP/short.img" --key "$key"
# IMAGE_END is the last 40 bytes (header, count, tag): a cut right before
# it leaves whole frames only, and is still refused.
head -c $((size - 40)) "$sealed" >"$E2E_TMP/short.img"
refused 5 "an image cut before its last frame" "before its last frame" restore "$E2E_TMP/short.img" --key "$key"
{ cat "$sealed"; printf x; } >"$E2E_TMP/long.img"
refused 5 "an image lengthened" "bytes follow its last frame" restore "$E2E_TMP/long.img" --key "$key"

# The right key.
bm inspect "$sealed" --key "$key"
e2e_expect_ok "inspect --key"
grep -q "THREAD" "$BM_OUT" || e2e_fail "inspect --key printed no thread: $(head -n 5 "$BM_OUT")"
e2e_restore "$sealed" "$pid" --key "$key" --stats csv
[[ $(tail -n 1 "$BM_OUT") == *",$suite" ]] || e2e_fail "restore --key --stats csv does not name $suite: $(tail -n 1 "$BM_OUT")"
e2e_wait_syscall "$pid" rt_sigsuspend
e2e_signal "$pid" "$out"
e2e_wait_exit "$pid"
e2e_expect_pass "$out"
e2e_log "ok: restored with the right key, the secret intact"
