#!/usr/bin/env bash
# test-needs: hosts
# harness run, end to end, on the emulated hosts:
#  1. a tiny experiment (one native and one CLR workload, 1 warm-up and 3
#     recorded migrations each) exits 0 and leaves migrations.csv with the
#     header of docs/results-csv.md and 6 verified rows (sealed, the
#     default: their seal column names the AEAD), meta.txt with its
#     keys, the workloads' logs, progress lines on stderr (not a terminal),
#     no hosts and no workload processes;
#  2. with a wrong expected answer (HARNESS_FAKE_REFERENCE) the run's rows
#     are verified=no and failed, with the reason, and the exit status is 1;
#  3. hosts that were up before are used only with their key, and are left
#     up; that run is in precopy mode, and its row says so, with the rounds.
# Skips unless root, or if emulated hosts exist already.
source "$(dirname "$0")/lib.sh"
e2e_init

HOSTS_CMD=${HARNESS_HOSTS:-$BINMIG_ROOT/harness/hosts}
RUN=$BINMIG_ROOT/harness/run
SEED=4242 # the workloads' --seed: marks this test's processes
T=$E2E_TMP
rc=0
"$HOSTS_CMD" status >/dev/null 2>&1 || rc=$?
((rc == 3)) || e2e_skip "emulated hosts (or parts of them) exist already; harness/hosts down removes them"
for w in native/hashchain clr/filecopy.exe; do
	[[ -e $BINMIG_ROOT/workloads/build/$w ]] || e2e_fail "workloads/build/$w missing (make workloads)"
done
command -v mono >/dev/null || e2e_skip "mono is missing"

# Whatever happens, no hosts are left behind by this test.
harness_test_cleanup() {
	local status=$?
	set +e
	e2e_hosts_down "$HOSTS_CMD"
	(exit "$status")
	e2e_cleanup
}
trap harness_test_cleanup EXIT

# harness_run NAME ARGS...: runs harness/run (at most 120 s) with the
# test's settings; sets HR_RC, HR_OUT (its directory), HR_STDOUT, HR_STDERR.
harness_run() {
	local name=$1
	shift
	HR_OUT=$T/$name HR_STDOUT=$T/$name.stdout HR_STDERR=$T/$name.stderr HR_RC=0
	timeout -k 10 120 "$RUN" --binmig "$BINMIG" --out "$HR_OUT" --ref-cache "$T/references.tsv" \
		--workload-seed "$SEED" --interval-ms 50 --sizes natural --modes file "$@" \
		</dev/null >"$HR_STDOUT" 2>"$HR_STDERR" || HR_RC=$?
	e2e_log "harness run $name -> exit $HR_RC"
	((HR_RC != 124)) || { e2e_show "$HR_STDERR"; e2e_fail "harness run $name did not finish within 120 s"; }
}

expect_no_hosts() {
	local status=0
	"$HOSTS_CMD" status >/dev/null 2>&1 || status=$?
	((status == 3)) || e2e_fail "$1: emulated hosts are left (status exit $status)"
}

expect_no_workloads() { # no process runs with the test's workload seed
	local f cmdline
	for f in /proc/[0-9]*/cmdline; do
		cmdline=$(tr '\0' ' ' 2>/dev/null <"$f") || continue
		if [[ $cmdline == *workloads/build/*" --seed $SEED "* ]]; then
			e2e_fail "$1: a workload is left running: ${f%/cmdline}: $cmdline"
		fi
	done
}

# The columns docs/results-csv.md lists, in its order (a cell may name
# several: "src_host, dst_host").
expected_header() {
	awk -F'|' '
		/^\| column \| meaning \|/ { table = 1; next }
		table && /^\| ---/ { next }
		table && /^\|/ { gsub(/ /, "", $2); cols = cols (cols == "" ? "" : ",") $2; next }
		table { exit }
		END { print cols }' "$BINMIG_ROOT/docs/results-csv.md"
}

# ---- 1. a tiny experiment -------------------------------------------------
harness_run ok --workloads hashchain,filecopy --warmup 1 --migrations 3
[[ $HR_RC == 0 ]] || { e2e_show "$HR_STDERR"; e2e_fail "harness run exited $HR_RC"; }
csv=$HR_OUT/migrations.csv
header=$(expected_header)
[[ $header == run_id,timestamp,* && $header == *,reason,build ]] || e2e_fail "cannot read the columns of docs/results-csv.md: $header"
[[ $(head -n 1 "$csv") == "$header" ]] || e2e_fail "CSV header differs from docs/results-csv.md: $(head -n 1 "$csv")"
[[ $(wc -l <"$csv") == 7 ]] || { e2e_show "$csv"; e2e_fail "expected 6 rows in $csv"; }
ncols=$(awk -F, 'NR == 1 { print NF }' "$csv")
# Every row: the run's id, ok, verified, every phase measured; per
# workload, repetitions 1..3, alternating hosts.
awk -F, -v n="$ncols" '
	NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
	{
		if (NF != n) { print "row " NR - 1 " has " NF " fields"; bad = 1 }
		if ($col["run_id"] != "ok") { print "row " NR - 1 ": run_id " $col["run_id"]; bad = 1 }
		if ($col["status"] != "ok" || $col["verified"] != "yes" || $col["reason"] != "") {
			print "row " NR - 1 ": status " $col["status"] ", verified " $col["verified"] ", reason " $col["reason"]; bad = 1
		}
		if ($col["timestamp"] !~ /^[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]Z$/) { print "row " NR - 1 ": timestamp " $col["timestamp"]; bad = 1 }
		if ($col["mode"] != "file" || $col["compression"] != "none" || $col["size"] != "natural" || $col["threads"] != "1") {
			print "row " NR - 1 ": mode/compression/size/threads " $col["mode"] "/" $col["compression"] "/" $col["size"] "/" $col["threads"]; bad = 1
		}
		if ($col["seal"] !~ /^(aes-256-gcm|chacha20-poly1305)$/) { print "row " NR - 1 ": seal \"" $col["seal"] "\" (the default seals)"; bad = 1 }
		split("suspend_us checkpoint_us transfer_us as_restore_us ctx_restore_us downtime_us total_us image_bytes pages_total vmas proc_threads fds", phases, " ")
		for (p in phases) if ($col[phases[p]] !~ /^[0-9]+$/ || $col[phases[p]] == 0) { print "row " NR - 1 ": " phases[p] " is \"" $col[phases[p]] "\""; bad = 1 }
		if ($col["rss_mib"] !~ /^[0-9]+\.[0-9]$/ || $col["rss_mib"] < 1) { print "row " NR - 1 ": rss_mib " $col["rss_mib"]; bad = 1 }
		w = $col["workload"] "/" $col["class"]
		reps[w] = reps[w] $col["repetition"]
		if ($col["src_host"] == $col["dst_host"] || $col["src_host"] !~ /^[AB]$/ || $col["dst_host"] !~ /^[AB]$/) { print "row " NR - 1 ": " $col["src_host"] " -> " $col["dst_host"]; bad = 1 }
		if (w in last && last[w] != $col["src_host"]) { print "row " NR - 1 ": starts in " $col["src_host"] ", the last one ended in " last[w]; bad = 1 }
		last[w] = $col["dst_host"]
	}
	END {
		if (reps["hashchain/native"] != "123" || reps["filecopy/clr"] != "123") {
			print "repetitions: hashchain " reps["hashchain/native"] ", filecopy " reps["filecopy/clr"]; bad = 1
		}
		exit bad
	}' "$csv" >"$T/csv-check" || { cat "$T/csv-check" >&2; e2e_fail "bad rows in $csv"; }
e2e_log "ok: 6 rows, header as documented, all verified"

meta=$HR_OUT/meta.txt
for key in run_id date cpu_model cores memory_mib kernel binmig_version mono_version status \
	workloads sizes rss threads modes compress warmup migrations interval_ms pingpong seed workload_seed seal; do
	grep -q "^$key=" "$meta" || e2e_fail "meta.txt has no $key"
done
for key in run_id date cpu_model cores memory_mib kernel binmig_version mono_version; do
	grep -q "^$key=." "$meta" || e2e_fail "meta.txt: $key is empty"
done
grep -qx "status=complete" "$meta" || e2e_fail "meta.txt: $(grep '^status=' "$meta")"
grep -qx "migrations=3" "$meta" || e2e_fail "meta.txt does not record --migrations 3"
grep -qx "run_id=ok" "$meta" || e2e_fail "meta.txt: $(grep '^run_id=' "$meta")"
for w in hashchain filecopy; do
	out=$(ls "$HR_OUT"/logs/*-"$w"-natural-file-none.out)
	grep -qE '^result [0-9a-f]{16}$' "$out" || e2e_fail "the $w run's log has no result"
done
[[ $(wc -l <"$HR_STDOUT") == 1 ]] || e2e_fail "not a terminal, yet more than a summary line: $(cat "$HR_STDOUT")"
grep -q "6 migrations recorded (6 ok)" "$HR_STDOUT" || e2e_fail "summary line: $(cat "$HR_STDOUT")"
# Off a terminal, progress lines on stderr (as in a log file): the first
# at the start, the last at the end, each with done/total, the run,
# elapsed time and failures, and an ETA once a migration is done.
grep -qE '^harness run: progress: 0/8 migrations \(0%\), run 1/2 .*, elapsed [0-9]+s, failures 0$' "$HR_STDERR" ||
	{ e2e_show "$HR_STDERR"; e2e_fail "no first progress line on stderr"; }
grep -qE '^harness run: progress: 8/8 migrations \(100%\), run 2/2 \(done\), elapsed [0-9hms]+, ETA 0s, failures 0$' "$HR_STDERR" ||
	{ e2e_show "$HR_STDERR"; e2e_fail "no final progress line on stderr"; }
grep -q $'\r' "$HR_STDERR" "$HR_STDOUT" && e2e_fail "a terminal's progress line went to a file"
expect_no_hosts "after the experiment"
expect_no_workloads "after the experiment"
e2e_log "ok: meta.txt, logs, summary line, nothing left"

# ---- 2. a wrong answer ----------------------------------------------------------
HARNESS_FAKE_REFERENCE=0123456789abcdef harness_run wrong --workloads hashchain --warmup 0 --migrations 2
[[ $HR_RC == 1 ]] || { e2e_show "$HR_STDERR"; e2e_fail "a run with a wrong answer exited $HR_RC, expected 1"; }
csv=$HR_OUT/migrations.csv
[[ $(wc -l <"$csv") == 3 ]] || { e2e_show "$csv"; e2e_fail "expected 2 rows in $csv"; }
awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
	$col["verified"] != "no" || $col["status"] != "failed" { bad = 1 }
	END { exit bad }' "$csv" || { e2e_show "$csv"; e2e_fail "rows of a wrong answer are not verified=no, status=failed"; }
[[ $(grep -c 'differs from the reference 0123456789abcdef' "$csv") == 2 ]] ||
	{ e2e_show "$csv"; e2e_fail "rows of a wrong answer do not give the reason"; }
grep -q 'FAILED: .*differs from the reference 0123456789abcdef' "$HR_STDERR" ||
	{ e2e_show "$HR_STDERR"; e2e_fail "the wrong answer is not reported on stderr"; }
grep -qx "status=failures" "$HR_OUT/meta.txt" || e2e_fail "meta.txt: $(grep '^status=' "$HR_OUT/meta.txt")"
grep -qx "fake_reference=0123456789abcdef" "$HR_OUT/meta.txt" || e2e_fail "meta.txt does not say the reference was faked"
expect_no_hosts "after the failed run"
expect_no_workloads "after the failed run"
e2e_log "ok: a wrong answer fails the run, loudly, and leaves nothing"

# ---- 3. hosts that were up already ---------------------------------------------
"$BINMIG" keygen "$T/key" >/dev/null || e2e_fail "binmig keygen failed"
"$HOSTS_CMD" up --serve "$BINMIG" --key "$T/key" >"$T/up.out" 2>&1 || { cat "$T/up.out" >&2; e2e_fail "harness/hosts up failed"; }
harness_run nokey --workloads hashchain --warmup 0 --migrations 1
[[ $HR_RC == 3 ]] || { e2e_show "$HR_STDERR"; e2e_fail "a run on hosts up already, without --key, exited $HR_RC, expected 3"; }
grep -q -- '--key' "$HR_STDERR" || { e2e_show "$HR_STDERR"; e2e_fail "the refusal does not mention --key"; }
harness_run withkey --workloads hashchain --warmup 0 --migrations 1 --key "$T/key" --modes precopy
[[ $HR_RC == 0 ]] || { e2e_show "$HR_STDERR"; e2e_fail "a run on hosts up already, with their key, exited $HR_RC"; }
awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
	$col["mode"] != "precopy" || $col["status"] != "ok" || !($col["precopy_rounds"] >= 1) || !($col["precopy_bytes"] > 0) { bad = 1 }
	END { exit bad || NR != 2 }' "$HR_OUT/migrations.csv" ||
	{ e2e_show "$HR_OUT/migrations.csv"; e2e_fail "the precopy run's row is not an ok pre-copy with its rounds"; }
grep -qx "hosts_state=existing" "$HR_OUT/meta.txt" || e2e_fail "meta.txt: $(grep '^hosts_state=' "$HR_OUT/meta.txt")"
"$HOSTS_CMD" status >/dev/null 2>&1 || e2e_fail "harness run brought down hosts it had not brought up"
expect_no_workloads "after the run on existing hosts"
"$HOSTS_CMD" down >/dev/null 2>&1 || e2e_fail "harness/hosts down failed"
e2e_log "ok: existing hosts need their key and are left up; a precopy run through harness run"
