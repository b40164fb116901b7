#!/usr/bin/env bash
# harness-analyze end to end on a synthetic run: summary, compare (same,
# slower, mismatched, malformed), plot (the figures exist; a clear error
# without gnuplot) and report (the verdict section).  Needs no root and
# migrates nothing.
set -euo pipefail

ROOT=${BINMIG_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
ASAN_BUILD=${ASAN_BUILD:-build/asan}
[[ $ASAN_BUILD == /* ]] || ASAN_BUILD=$ROOT/$ASAN_BUILD
ANALYZE=${HARNESS_ANALYZE:-$ASAN_BUILD/harness-analyze}
export BINMIG_ROOT=$ROOT
[[ -x $ANALYZE ]] || { echo "FAIL: $ANALYZE not built (make test-build)"; exit 1; }

TMP=$(mktemp -d /tmp/harness-analyze-e2e.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
# Runs harness-analyze, keeping its exit code, stdout and stderr.
run() {
	rc=0
	timeout 120 "$ANALYZE" "$@" >"$TMP/out" 2>"$TMP/err" || rc=$?
}
expect_rc() { # code, what
	[[ $rc == "$1" ]] || { cat "$TMP/out" "$TMP/err" >&2; fail "$2: exit $rc, expected $1"; }
}
contains() { # file, text
	grep -qF -- "$2" "$1" || { cat "$1" >&2; fail "$1 lacks: $2"; }
}
matches() { # file, extended regular expression
	grep -qE -- "$2" "$1" || { cat "$1" >&2; fail "$1 has no line matching: $2"; }
}

# A run: matmul (native) and recordstore (CLR), 3 migrations each in both
# modes; CLR checkpoint and address-space restore take twice the native
# time, suspend and context restore the same.  SLOW multiplies the
# checkpoint (to fake a regression).
write_run() { # file, slow factor, CLR workload name
	local file=$1 slow=$2 clr=$3
	echo "run_id,timestamp,src_host,dst_host,workload,class,size,threads,rss_mib,mode,compression,repetition,suspend_us,checkpoint_us,transfer_us,as_restore_us,ctx_restore_us,downtime_us,total_us,image_bytes,wire_bytes,pages_total,pages_zero,pages_stored,vmas,proc_threads,fds,verified,status,reason" >"$file"
	local w class factor mode rep jitter sus cp tr asr ctx down
	for w in matmul "$clr"; do
		if [[ $w == matmul ]]; then class=native factor=1 rss=66.2; else class=clr factor=2 rss=67.9; fi
		for mode in stream file; do
			for rep in 1 2 3; do
				jitter=$((rep * 7 - 14)) # -7, 0, 7 per mille
				sus=$((40 + rep))
				cp=$(((30000 * factor * (1000 + jitter) / 1000) * slow))
				tr=$((32000 * (1000 + jitter) / 1000))
				asr=$((45000 * factor * (1000 - jitter) / 1000))
				ctx=$((900 + rep * 5))
				down=$((sus + cp + asr + ctx))
				echo "e2e,2026-11-24T19:20:2${rep}Z,A,B,$w,$class,matched,1,$rss,$mode,none,$rep,$sus,$cp,$tr,$asr,$ctx,$down,$((down + 2000)),69000000,69001000,16900,12,16800,45,$((factor == 1 ? 1 : 7)),4,yes,ok," >>"$file"
			done
		done
	done
	echo "e2e,2026-11-24T19:21:00Z,A,B,matmul,native,matched,1,66.0,stream,none,4,41,,,,,,,,,,,,,,,no,failed,\"restore: PID 4242 taken, \"\"EEXIST\"\"\"" >>"$file"
}

mkdir -p "$TMP/run" "$TMP/slow" "$TMP/other"
write_run "$TMP/run/migrations.csv" 1 recordstore
write_run "$TMP/slow/migrations.csv" 2 recordstore
write_run "$TMP/other/migrations.csv" 1 filecopy
printf 'machine=e2e test box\nbinmig=deadbeef\n# a comment\noptions=--reps 3\n' >"$TMP/run/meta.txt"

# summary
run summary "$TMP/run/migrations.csv" -o "$TMP/summary.csv"
expect_rc 0 summary
contains "$TMP/out" "13 migrations, 12 ok, 1 failed"
contains "$TMP/out" "median 95% CI"
contains "$TMP/summary.csv" "workload,class,size,rss_target_mib,threads,compression,mode,phase,n,mean_us,sd_us,median_us"
contains "$TMP/summary.csv" "recordstore,clr,matched,,1,none,stream,checkpoint,3,60000.00,"
lines=$(wc -l <"$TMP/summary.csv")
(( lines == 1 + 2 * 2 * 7 )) || fail "summary.csv has $lines lines, expected 29"

# compare
run compare "$TMP/run/migrations.csv" "$TMP/run/migrations.csv"
expect_rc 0 "compare with itself"
contains "$TMP/out" "| matmul | native | matched | stream | checkpoint |"
contains "$TMP/out" "0 regressions, 0 improvements among 28 compared phases."
run compare "$TMP/run/migrations.csv" "$TMP/slow/migrations.csv" --threshold 10 --seed 7
expect_rc 1 "compare with a run twice as slow at checkpoint"
matches "$TMP/out" '^\| matmul \| native \| matched \| stream \| checkpoint \| 30\.00 \(3\) \| 60\.00 \(3\) \| 2\.000 \| \[[0-9.]+, [0-9.]+\] \| REGRESSION \|$'
matches "$TMP/out" '^\| recordstore \| CLR \| matched \| file \| as_restore \| .* \| no clear change \|$'
contains "$TMP/out" "12 regressions, 0 improvements among 28 compared phases."
# Two runs from different machines, loads and options: warned about before
# any verdict, pointing to harness ab; --normalize copy scales by the copy
# calibration and says so.
mkdir -p "$TMP/m1" "$TMP/m2"
cp "$TMP/run/migrations.csv" "$TMP/m1/"
cp "$TMP/run/migrations.csv" "$TMP/m2/"
meta() { # dir, hostname, cpu, cores, kernel, load, copy GB/s, interval
	printf 'hostname=%s\ncpu_model=%s\ncores=%s\nmemory_mib=4096\nkernel=%s\nos=Debian 12\nmono_version=6.8\nbinmig_cflags=-O2\nload_start=%s\nload_end=%s\ncalib_copy_gbps=%s\ninterval_ms=%s\nmodes=file, stream\n' \
		"$2" "$3" "$4" "$5" "$6" "$6" "$7" "$8" >"$1/meta.txt"
}
meta "$TMP/m1" box-a "AMD EPYC" 2 6.18.44 0.3 20.0 50
meta "$TMP/m2" box-b "Intel Xeon" 4 6.1.0 3.9 10.0 200
run compare "$TMP/m1/migrations.csv" "$TMP/m2/migrations.csv"
expect_rc 0 "compare across machines"
contains "$TMP/out" "warning: machine differs: \"box-a\" in $TMP/m1/migrations.csv, \"box-b\" in $TMP/m2/migrations.csv"
contains "$TMP/out" "warning: CPU model differs: \"AMD EPYC\""
contains "$TMP/out" "warning: core count differs"
contains "$TMP/out" "warning: kernel differs"
contains "$TMP/out" "warning: the machine's load differs: 0.30 in"
contains "$TMP/out" "warning: option interval-ms differs"
contains "$TMP/out" "\`harness ab --base REV --new REV\`"
contains "$TMP/out" "Times as measured (not normalised)."
# The warnings come before the verdict.
(( $(grep -n '^warning:' "$TMP/out" | tail -n 1 | cut -d: -f1) < $(grep -n 'regressions, ' "$TMP/out" | cut -d: -f1) )) ||
	fail "the warnings do not come before the verdict"
run compare "$TMP/m1/migrations.csv" "$TMP/m2/migrations.csv" --normalize copy
expect_rc 0 "compare normalised by a machine copying half as fast"
contains "$TMP/out" "0 regressions, 28 improvements among 28 compared phases."
contains "$TMP/out" "Normalised by the calibration \`copy\` (calib_copy_gbps: 20 in the baseline, 10 in the new run): the new run's times are multiplied by 0.500"
run compare "$TMP/slow/migrations.csv" "$TMP/m1/migrations.csv"
contains "$TMP/out" "warning: no meta.txt beside"
run compare "$TMP/m1/migrations.csv" "$TMP/m1/migrations.csv"
expect_rc 0 "compare a run with itself"
if grep -q '^warning:' "$TMP/out"; then cat "$TMP/out" >&2; fail "warnings for the same machine"; fi

run compare "$TMP/run/migrations.csv" "$TMP/other/migrations.csv"
expect_rc 2 "compare with other workloads"
contains "$TMP/err" "workloads present in one file only: only in $TMP/run/migrations.csv: recordstore; only in $TMP/other/migrations.csv: filecopy"
cut -d, -f1-13,15- "$TMP/run/migrations.csv" >"$TMP/nocheckpoint.csv"
run compare "$TMP/run/migrations.csv" "$TMP/nocheckpoint.csv"
expect_rc 2 "compare with a column missing"
contains "$TMP/err" "nocheckpoint.csv: missing column: checkpoint_us"
run compare "$TMP/run/migrations.csv" "$TMP/absent.csv"
expect_rc 2 "compare with a missing file"
contains "$TMP/err" "cannot read $TMP/absent.csv: No such file or directory"
head -n 1 "$TMP/run/migrations.csv" >"$TMP/header-only.csv"
run compare "$TMP/header-only.csv" "$TMP/run/migrations.csv"
expect_rc 2 "compare with an empty run"
contains "$TMP/err" "header-only.csv: no migrations"
[[ $(wc -l <"$TMP/err") == 1 ]] || fail "the error is not one line"

# plot without gnuplot: a clear error
rc=0
env -u GNUPLOT PATH=/nonexistent "$ANALYZE" plot "$TMP/run/migrations.csv" -o "$TMP/nofigures" \
	>"$TMP/out" 2>"$TMP/err" || rc=$?
expect_rc 3 "plot without gnuplot"
contains "$TMP/err" "gnuplot not found; install gnuplot-nox"

if ! command -v gnuplot >/dev/null; then
	echo "SKIP: gnuplot is not installed (make deps installs gnuplot-nox)"
	exit 77
fi

# plot
run plot "$TMP/run/migrations.csv"
expect_rc 0 plot
for figure in study scaling downtime modes covariates; do
	for ext in png svg; do
		f=$TMP/run/figures/$figure.$ext
		[[ -s $f ]] || fail "$f missing or empty"
	done
	[[ $(head -c 8 "$TMP/run/figures/$figure.png" | od -An -tx1 | tr -d ' \n') == 89504e470d0a1a0a ]] ||
		fail "$figure.png is not a PNG"
	contains "$TMP/run/figures/$figure.svg" "<svg"
done
[[ -s $TMP/run/figures/data/study.dat ]] || fail "the study figure's data file is missing"
# A third mode (the stream rows again as precopy, without their suspend):
# the modes figure draws every mode, three means per class and phase,
# and gnuplot has nothing to say about modes.gp (a mode without data in a panel
# is left out of it, not drawn empty).
mkdir -p "$TMP/three"
awk -F, -v OFS=, 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; print; next }
	{ print } $c["mode"] == "stream" && $c["status"] == "ok" { $c["mode"] = "precopy"; $c["suspend_us"] = ""; print }' \
	"$TMP/run/migrations.csv" >"$TMP/three/migrations.csv"
run plot "$TMP/three/migrations.csv"
expect_rc 0 "plot of three modes"
! grep -q 'modes\.gp' "$TMP/err" || { cat "$TMP/err" >&2; fail "plot of three modes: gnuplot warned about modes.gp"; }
awk '/^"/ && NF != 10 { bad = 1 } /^"/ { n++ } END { exit bad || n != 12 }' "$TMP/three/figures/data/modes.dat" ||
	{ cat "$TMP/three/figures/data/modes.dat" >&2; fail "the modes figure's data has not three modes per class and phase"; }
grep -q '^"native" [0-9.]* [0-9.]* [0-9.]* [0-9.]* [0-9.]* [0-9.]* ? ? ?$' "$TMP/three/figures/data/modes.dat" ||
	fail "the precopy rows' missing suspend is not '?' in the modes figure's data"
contains "$TMP/three/figures/modes.svg" "precopy"

# report (the figures exist now; a fresh directory makes it draw them)
printf '# NATIVE CLR\nnative/matmul clr/recordstore\n' >"$TMP/pairs"
run report "$TMP/run/migrations.csv" --pairs "$TMP/pairs"
expect_rc 0 report
r=$TMP/run/report.md
contains "$r" "| machine | e2e test box |"
contains "$r" "13 migrations recorded: 12 ok, 1 failed"
contains "$r" 'restore: PID 4242 taken, "EEXIST"'
contains "$r" "## The study's claims"
contains "$r" "Matched pairs from \`$TMP/pairs\`."
contains "$r" "1 matched pair; pooled = geometric mean"
contains "$r" "| matmul / recordstore (matched) | 3, 3 | "
matches "$r" '^- \*\*checkpoint\*\* \(study: ≈2×\): CLR/native = 2\.[0-9]+× \[[0-9.]+, [0-9.]+\] — \*\*holds\*\*' 
contains "$r" "**Conclusion (stream mode, matched size):**"
contains "$r" "**Conclusion (file mode, matched size):**"
contains "$r" "#### Matched resident size (the control)"
contains "$r" "## Why the phases differ"
contains "$r" "| checkpoint | 6 | "
contains "$r" "![Phase times against resident pages and threads](figures/covariates.png)"
contains "$r" "![Phase times, native vs CLR (mean, 95% CI)](figures/study.png)"
contains "$r" "### Medians per configuration (ms)"
cp "$TMP/run/migrations.csv" "$TMP/other/migrations.csv"
run report "$TMP/other/migrations.csv" -o "$TMP/other/r.md"
expect_rc 0 "report drawing its figures"
[[ -s $TMP/other/figures/study.png ]] || fail "report did not draw the figures"
contains "$TMP/other/r.md" "No meta.txt beside the results"
echo "harness-analyze: summary, compare, plot and report as expected"
