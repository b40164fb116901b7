#!/usr/bin/env bash
# The workloads compute what they say: the sieve counts pi(2^24) and
# pi(2^21) right, recsort ends with its array fully sorted when given enough
# phases, wordcount counts every word it wrote, and recordstore and
# logappend find nothing wrong in a clean run.  (hashchain checks SHA-256
# against the FIPS 180-4 examples itself, before each run.)
set -u
source "$(dirname "$0")/lib.bash"

check_err() { # NAME EXPECTED-STDERR-FRAGMENT ARGS...
	local name=$1 want=$2
	shift 2
	wl_run "$name" "$@"
	[[ $wl_rc == 0 ]] || fail "$name $* exited $wl_rc: $wl_err"
	grep -qF -- "$want" <<<"$wl_err" || fail "$name $*: expected '$want' on stderr, got '$wl_err'"
	echo "ok   $name $*: $want"
}

check_err native/sieve "1077871 primes in [0, 16777216)" --seed 0 --work 8 --mem 1
check_err native/sieve "155611 primes in [0, 2097152)" --seed 0 --work 1 --mem 1
# 4 blocks need 4 phases: 2 + 1 + 2 + 1 windows.
check_err native/recsort "65536 of 65536 records in order" --mem 2 --work 6
check_err clr/wordcount "300000 words" --work 300
check_err clr/wordcount "50000 words" --work 50 --threads 1

wl_run clr/recordstore --work 20000
[[ $wl_rc == 0 && $wl_err != *CRC* ]] || fail "recordstore found CRC failures in a clean run: $wl_err"
wl_run clr/logappend --work 5000
[[ $wl_rc == 0 && $wl_err != *differ* ]] || fail "logappend read back something else: $wl_err"
echo "ok   recordstore and logappend clean"
