#!/usr/bin/env bash
# The dump's page scan: with PAGEMAP_SCAN (one ioctl per private area) and
# without it (fault point pagemap-scan: /proc/PID/pagemap read as before),
# the same process gives the same pages (counts and inspect's listing,
# apart from the time the timers were read), and the image made with the
# scan restores the process, which checks its memory (PASS).  memstate
# holds anonymous, file-backed private and shared memory, zero pages and
# holes.
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/lib.sh"
e2e_init memstate
out=$E2E_TMP/memstate.out
mkdir -p "$E2E_TMP/work"
e2e_start "$out" "$PROGS/memstate" "$E2E_TMP/work"
pid=$E2E_PID
e2e_wait_ready "$out" "$pid"
e2e_wait_syscall "$pid" rt_sigsuspend
counts() { tail -n 1 "$BM_OUT" | cut -d, -f5-8; }
bm dump "$pid" -o "$E2E_TMP/scan.img" --leave-running --stats csv
e2e_expect_ok "dump with PAGEMAP_SCAN"
with=$(counts)
BINMIG_FAULT=pagemap-scan bm dump "$pid" -o "$E2E_TMP/pagemap.img" --leave-running --stats csv
e2e_expect_ok "dump reading pagemap"
without=$(counts)
[[ $with == "$without" ]] || e2e_fail "image bytes, pages total/zero/stored: $with with the scan, $without without"
for img in scan pagemap; do
	bm inspect "$E2E_TMP/$img.img"
	e2e_expect_ok "inspect $img.img"
	grep -v "read at CLOCK_" "$BM_OUT" >"$E2E_TMP/$img.txt"
done
diff "$E2E_TMP/scan.txt" "$E2E_TMP/pagemap.txt" >&2 || e2e_fail "inspect differs between the two dumps"
e2e_log "same pages both ways: $with"
e2e_dump "$pid" "$E2E_TMP/final.img"
e2e_restore "$E2E_TMP/final.img" "$pid"
e2e_wait_syscall "$pid" rt_sigsuspend
e2e_signal "$pid" "$out"
e2e_wait_exit "$pid"
e2e_expect_pass "$out"
