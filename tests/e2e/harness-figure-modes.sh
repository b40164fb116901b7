#!/usr/bin/env bash
# test-needs: hosts
# harness/figure-modes (make figure-modes) and the harness's modes, end to
# end:
#  1. a tiny figure (16 MiB, 1 %/s, one recorded migration per mode,
#     stream, precopy and postcopy) on the emulated hosts exits 0 and leaves the
#     CSV with the columns of docs/harness-run.md and a row per mode (the
#     precopy one with its rounds and their bytes), the data drawn (a
#     block per mode), a PNG and an SVG, no hosts and no dirtier;
#  2. a mode the harness does not know, and one the binmig in use lacks
#     (a stand-in whose migrate --help offers stream and file), are refused
#     with exit 2 by figure-modes and harness run, before anything starts;
#  3. a plan with `modes = stream, precopy` is accepted by harness run
#     (--dry-run: harness-run.sh migrates in precopy mode through it).
# Skips unless root, or if emulated hosts exist already.
source "$(dirname "$0")/lib.sh"
e2e_init dirtier

HOSTS_CMD=$BINMIG_ROOT/harness/hosts
FIG=$BINMIG_ROOT/harness/figure-modes
RUN=$BINMIG_ROOT/harness/run
T=$E2E_TMP
for tool in netfloor waitfor pidwait; do
	[[ -x $BUILD/tools/$tool ]] || e2e_fail "$BUILD/tools/$tool missing (make test-build)"
done
command -v gnuplot >/dev/null || e2e_skip "gnuplot is missing (make deps)"
rc=0
"$HOSTS_CMD" status >/dev/null 2>&1 || rc=$?
((rc == 3)) || e2e_skip "emulated hosts (or parts of them) exist already; harness/hosts down removes them"

figure_test_cleanup() {
	local status=$?
	set +e
	e2e_hosts_down "$HOSTS_CMD"
	(exit "$status")
	e2e_cleanup
}
trap figure_test_cleanup EXIT

# The columns of the figure's CSV as docs/harness-run.md lists them: the
# table after "### The modes figure" whose header is "| column | meaning |".
documented_columns() {
	awk -F'|' '
		/^### The modes figure/ { section = 1; next }
		section && /^\| column \| meaning \|/ { table = 1; next }
		table && /^\| ---/ { next }
		table && /^\|/ { gsub(/ /, "", $2); cols = cols (cols == "" ? "" : ",") $2; next }
		table { exit }
		END { print cols }' "$BINMIG_ROOT/docs/harness-run.md"
}

# ---- 1. a tiny figure ----------------------------------------------------------
rc=0
BINMIG=$BINMIG BUILD=$BUILD timeout -k 10 120 "$FIG" --sizes 16 --rates 10 --reps 1 --warmup 0 \
	--modes "stream precopy postcopy" --out "$T/fig" </dev/null >"$T/fig.out" 2>"$T/fig.err" || rc=$?
((rc == 0)) || { e2e_show "$T/fig.err"; e2e_fail "figure-modes exited $rc"; }
csv=$T/fig/modes-memory.csv
header=$(documented_columns)
[[ $header == timestamp,size_mib,*,mode,* ]] || e2e_fail "cannot read the columns of docs/harness-run.md: $header"
[[ $(head -n 1 "$csv") == "$header" ]] || e2e_fail "CSV header differs from docs/harness-run.md: $(head -n 1 "$csv")"
[[ $(wc -l <"$csv") == 4 ]] || { e2e_show "$csv"; e2e_fail "expected 3 rows in $csv"; }
awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; n = NF; next }
	{
		if (NF != n) { print "row " NR - 1 " has " NF " fields"; bad = 1 }
		if ($col["size_mib"] != 16 || $col["dirty_permille"] != 10 || $col["repetition"] != 1) {
			print "row " NR - 1 ": size/rate/repetition " $col["size_mib"] "/" $col["dirty_permille"] "/" $col["repetition"]; bad = 1
		}
		d = $col["downtime_us"]; t = $col["total_us"]
		if (d !~ /^[0-9]+$/ || t !~ /^[0-9]+$/ || d == 0 || d > t) { print "row " NR - 1 ": downtime " d ", total " t; bad = 1 }
		if ($col["image_bytes"] !~ /^[0-9]+$/) { print "row " NR - 1 ": image_bytes " $col["image_bytes"]; bad = 1 }
		modes = modes " " $col["mode"]
		if ($col["mode"] == "precopy") {
			if ($col["precopy_rounds"] < 1 || $col["precopy_bytes"] < 16 * 1048576) {
				print "precopy row: rounds " $col["precopy_rounds"] ", bytes " $col["precopy_bytes"] " for 16 MiB"; bad = 1
			}
		} else if ($col["mode"] == "postcopy") {
			if ($col["postcopy_bytes"] < 16 * 1048576 || $col["postcopy_us"] !~ /^[0-9]+$/ || $col["precopy_rounds"] != "") {
				print "postcopy row: " $0; bad = 1
			}
		} else if ($col["precopy_rounds"] != "" || $col["precopy_bytes"] != "" || $col["postcopy_bytes"] != "") {
			print "stream row with pre-copy figures: " $0; bad = 1
		} else if ($col["image_bytes"] < 16 * 1048576) {
			print "stream row: image of " $col["image_bytes"] " bytes for 16 MiB"; bad = 1
		}
	}
	END { if (modes != " stream precopy postcopy") { print "modes:" modes; bad = 1 }; exit bad }' "$csv" >"$T/check" ||
	{ cat "$T/check" >&2; e2e_fail "bad rows in $csv"; }
dat=$T/fig/data/modes-memory.dat
[[ $(grep -c '^# ' "$dat") == 3 ]] || { e2e_show "$dat"; e2e_fail "expected a block per mode in $dat"; }
grep -qE '^16 [0-9.]+ [0-9.]+ [0-9.]+ [0-9.]+ [0-9.]+ [0-9.]+$' "$dat" || { e2e_show "$dat"; e2e_fail "no line for 16 MiB in $dat"; }
[[ $(head -c 8 "$T/fig/modes-memory.png" | od -An -tx1 | tr -d ' \n') == 89504e470d0a1a0a ]] ||
	e2e_fail "modes-memory.png is not a PNG"
grep -q '<svg' "$T/fig/modes-memory.svg" || e2e_fail "modes-memory.svg is not an SVG"
grep -qE '^  precopy, 1 %/s +16 ' "$T/fig.out" || { e2e_show "$T/fig.out"; e2e_fail "no median line for precopy on stdout"; }
grep -q '^figure-modes: \[3/3\] 16 MiB, 1 %/s, postcopy rep 1: downtime' "$T/fig.err" ||
	{ e2e_show "$T/fig.err"; e2e_fail "no progress line for the last migration"; }
rc=0
"$HOSTS_CMD" status >/dev/null 2>&1 || rc=$?
((rc == 3)) || e2e_fail "figure-modes left the emulated hosts up (status exit $rc)"
for f in /proc/[0-9]*/cmdline; do
	[[ $(tr '\0' ' ' 2>/dev/null <"$f") == "$BUILD/progs/dirtier 16 10 " ]] && e2e_fail "a dirtier is left: ${f%/cmdline}"
done
e2e_log "ok: a row per mode, the columns documented, PNG and SVG drawn, nothing left"

# ---- 2. modes refused before anything starts -------------------------------------
# A binmig without precopy, as builds before it were.
cat >"$T/oldbinmig" <<'EOF'
#!/bin/sh
echo "Usage: binmig migrate PID HOST:PORT --key KEYFILE [--mode stream|file] [--seal SUITE]"
EOF
chmod +x "$T/oldbinmig"
expect_refused() { # WHAT MESSAGE COMMAND...
	local what=$1 msg=$2 rc=0
	shift 2
	timeout -k 5 60 "$@" </dev/null >"$T/refused.out" 2>"$T/refused.err" || rc=$?
	((rc == 2)) || { e2e_show "$T/refused.err"; e2e_fail "$what: exit $rc, expected 2"; }
	grep -qF -- "$msg" "$T/refused.err" || { e2e_show "$T/refused.err"; e2e_fail "$what: no \"$msg\""; }
}
expect_refused "figure-modes, a mode binmig lacks" "has no mode precopy" \
	env BINMIG="$T/oldbinmig" BUILD="$BUILD" "$FIG" --sizes 16 --modes "stream precopy" --out "$T/old"
expect_refused "figure-modes, an unknown mode" '"nosuchmode" is not a mode the harness knows' \
	env BINMIG="$BINMIG" BUILD="$BUILD" "$FIG" --sizes 16 --modes nosuchmode --out "$T/unknown"
[[ ! -e $T/old && ! -e $T/unknown ]] || e2e_fail "figure-modes created its output before refusing"
expect_refused "harness run, a mode binmig lacks" "has no mode precopy" \
	"$RUN" --binmig "$T/oldbinmig" --workloads hashchain --sizes natural --modes stream,precopy --out "$T/run-old"
expect_refused "harness run, an unknown mode" "--modes: nosuchmode is not one of" \
	"$RUN" --workloads hashchain --sizes natural --modes nosuchmode --out "$T/run-unknown"
rc=0
"$HOSTS_CMD" status >/dev/null 2>&1 || rc=$?
((rc == 3)) || e2e_fail "a refused run brought the hosts up"
e2e_log "ok: unknown modes and modes binmig lacks are refused first, with exit 2"

# ---- 3. a plan naming precopy --------------------------------------------------
# (harness-run.sh migrates with --modes precopy through harness run.)
printf 'workloads = hashchain\nsizes = natural\nmodes = stream, precopy\nmigrations = 2\n' >"$T/precopy.plan"
rc=0
timeout -k 10 60 "$RUN" --plan "$T/precopy.plan" --binmig "$BINMIG" --dry-run </dev/null >"$T/dry.out" 2>"$T/dry.err" || rc=$?
((rc == 0)) || { e2e_show "$T/dry.err"; e2e_fail "harness run --dry-run of a plan with modes = stream, precopy exited $rc"; }
if ! grep -q '^2 workload runs' "$T/dry.out" || ! grep -q 'hashchain-natural-precopy-none' "$T/dry.out" ||
	! grep -q 'hashchain-natural-stream-none' "$T/dry.out"; then
	e2e_show "$T/dry.out"
	e2e_fail "the plan's runs are not a stream and a precopy one"
fi
e2e_log "ok: a plan with modes = stream, precopy is accepted"
