#!/usr/bin/env bash
# test-needs: hosts
# --seal between the emulated hosts, with a process holding a known
# 32-byte secret (tests/progs/secret):
#  1. ends that disagree fail the handshake with a message that says so
#     (migrate --seal none to a sealed serve, migrate sealed to a serve
#     --seal none), before anything is suspended;
#  2. migrated unsealed through a recording proxy (both ends --seal none),
#     the secret is in the recorded bytes: the search can find it; --stats
#     csv says seal none;
#  3. back with --seal chacha20-poly1305 (either AEAD is taken by a serve
#     --seal auto): --stats json says so, and so does serve's log;
#  4. migrated sealed (the default) through a recording proxy: neither
#     the secret nor the hex digits of its command line are in the
#     recorded bytes; --stats csv names the suite;
#  5. the secret is intact at the end.
source "$(dirname "$0")/migrate-lib.sh"
mig_init secret

secret=$(head -c 32 /dev/urandom | od -An -tx1 -v | tr -d ' \n')
[[ ${#secret} == 64 ]] || e2e_fail "could not make a secret"
out=$E2E_TMP/secret.out
PID=$(mig_spawn A "$out" --pid "$MIG_WORKLOAD_PID" "$PROGS/secret" "$secret")
mig_in A "$TOOLS/waitfor" --pid "$PID" "$out" ready 20 || { e2e_show "$out.err"; e2e_fail "secret did not get ready"; }

# holds FILE HEX: FILE contains the bytes HEX spells.
holds() {
	perl -0777 -e 'open(my $f, "<:raw", $ARGV[0]) or die; local $/; my $d = <$f>;
		exit(index($d, pack("H*", $ARGV[1])) >= 0 ? 0 : 1)' "$1" "$2"
}

# A daemon in host B that takes only unsealed frames.
PLAIN_PORT=7708
mig_own_serve B "$PLAIN_PORT" "$E2E_TMP/serve-plain.log" --seal none
grep -q "unsealed frames only" "$E2E_TMP/serve-plain.log" || e2e_fail "serve --seal none: $(cat "$E2E_TMP/serve-plain.log")"

# 1. Disagreement, both ways.
mismatch() { # WHAT TARGET_PORT MIGRATE_OPTIONS...
	local what=$1 port=$2
	shift 2
	mig_bm A migrate "$PID" "${MIG_ADDR[B]}:$port" --key "$MIG_KEY" "$@"
	mig_expect_failure 8 authentication "$PID" "$what"
	grep -q "both ends must use the same --seal" "$BM_ERR" || e2e_fail "$what: the message does not say why: $(cat "$BM_ERR")"
	! grep -q "resumed at the source" "$BM_ERR" || e2e_fail "$what: the process was suspended"
	mig_assert_running A "$PID" "$what"
}
mismatch "unsealed source, sealed destination" "$MIG_PORT" --seal none
mismatch "sealed source, unsealed destination" "$PLAIN_PORT"
mig_wait_log B "rejected: the source asks for unsealed frames" 1 "the unsealed source"
grep -q "rejected: the source asks for sealed frames" "$E2E_TMP/serve-plain.log" ||
	e2e_fail "serve --seal none does not say why it rejected a sealed source: $(cat "$E2E_TMP/serve-plain.log")"
e2e_log "ok: ends that disagree on --seal fail the handshake, the process untouched"

# 2. Unsealed, recorded: the secret shows (the search works).
plain_rec=$E2E_TMP/plain.rec
MIG_PROXY_TO_PORT=$PLAIN_PORT mig_proxy "$E2E_TMP/proxy-plain.out" --record "$plain_rec"
mig_bm A migrate "$PID" "127.0.0.1:$MIG_PROXY_PORT" --key "$MIG_KEY" --seal none --stats csv
mig_proxy_done
e2e_expect_ok "the unsealed migration"
mig_csv_check "$PID" 0 none
mig_assert_running B "$PID" "after the unsealed migration"
holds "$plain_rec" "$secret" || e2e_fail "the unsealed recording does not hold the secret: the search cannot find it"
grep -aqF "$secret" "$plain_rec" || e2e_fail "the unsealed recording does not hold the secret's hex digits"
e2e_log "ok: unsealed, the secret is in the recorded bytes ($(stat -c %s "$plain_rec") bytes)"

# 3. Back, sealed with the other AEAD.
mig_bm B migrate "$PID" "${MIG_ADDR[A]}:$MIG_PORT" --key "$MIG_KEY" --seal chacha20-poly1305 --stats json
e2e_expect_ok "the ChaCha20-Poly1305 migration"
e2e_json_object "$BM_OUT" || e2e_fail "--stats json: not one JSON object: $(cat "$BM_OUT")"
grep -q '"seal":"chacha20-poly1305"' "$BM_OUT" || e2e_fail "--stats json does not name the seal: $(cat "$BM_OUT")"
mig_wait_log A "process $PID migrated in (stream mode, chacha20-poly1305)" 1 "the ChaCha20-Poly1305 migration"
mig_assert_running A "$PID" "back in host A"

# 4. Sealed (the default), recorded: no trace of the secret.
sealed_rec=$E2E_TMP/sealed.rec
mig_proxy "$E2E_TMP/proxy-sealed.out" --record "$sealed_rec"
mig_bm A migrate "$PID" "127.0.0.1:$MIG_PROXY_PORT" --key "$MIG_KEY" --stats csv
mig_proxy_done
e2e_expect_ok "the sealed migration"
mig_csv_check "$PID" 0
mig_assert_running B "$PID" "after the sealed migration"
size=$(stat -c %s "$sealed_rec")
((size > 100000)) || e2e_fail "the sealed recording has only $size bytes"
holds "$sealed_rec" "$secret" && e2e_fail "the sealed recording holds the secret"
grep -aqF "$secret" "$sealed_rec" && e2e_fail "the sealed recording holds the secret's hex digits"
e2e_log "ok: sealed, no trace of the secret in the $size recorded bytes"

# 5. The secret arrived intact.
mig_in B kill -USR1 "$PID"
mig_in B "$TOOLS/waitfor" --pid "$PID" "$out" PASS 30 || { e2e_show "$out" "$out.err"; e2e_fail "secret did not pass"; }
