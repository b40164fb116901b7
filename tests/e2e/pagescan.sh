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
# One dump's counts (image bytes, pages total/zero/stored) and inspect's
# listing but for the time the timers were read, as NAME.counts and
# NAME.txt; with the scan unless FAULT names the pagemap path.
dump_pages() {
	local name=$1 fault=${2:-}
	BINMIG_FAULT=$fault bm dump "$pid" -o "$E2E_TMP/$name.img" --leave-running --stats csv
	e2e_expect_ok "dump $name"
	tail -n 1 "$BM_OUT" | cut -d, -f5-8 >"$E2E_TMP/$name.counts"
	bm inspect "$E2E_TMP/$name.img"
	e2e_expect_ok "inspect $name.img"
	grep -v "read at CLOCK_" "$BM_OUT" >"$E2E_TMP/$name.txt"
}
same_pages() { cmp -s "$E2E_TMP/$1.counts" "$E2E_TMP/$2.counts" && cmp -s "$E2E_TMP/$1.txt" "$E2E_TMP/$2.txt"; }
# The kernel may change which pages are present while the process waits:
# khugepaged collapses memstate's MADV_HUGEPAGE area into a huge page,
# holes and all, whenever its scan comes by.  So the pagemap dump lies
# between two scan dumps, and counts only where those two agree; each
# collapse happens once, so a few tries are enough.
tries=0
for tries in 1 2 3 4 5; do
	dump_pages scan
	dump_pages pagemap pagemap-scan
	dump_pages scan-again
	same_pages scan scan-again && break
	e2e_log "the process's pages changed between the two scan dumps (a collapse into a huge page); again"
	tries=
done
[[ -n $tries ]] || e2e_fail "the process's pages kept changing between dumps"
with=$(cat "$E2E_TMP/scan.counts") without=$(cat "$E2E_TMP/pagemap.counts")
[[ $with == "$without" ]] || e2e_fail "image bytes, pages total/zero/stored: $with with the scan, $without without"
diff "$E2E_TMP/scan.txt" "$E2E_TMP/pagemap.txt" >&2 || e2e_fail "inspect differs between the two dumps"
e2e_log "same pages both ways: $with"
e2e_dump "$pid" "$E2E_TMP/final.img"
e2e_restore "$E2E_TMP/final.img" "$pid"
e2e_wait_syscall "$pid" rt_sigsuspend
e2e_signal "$pid" "$out"
e2e_wait_exit "$pid"
e2e_expect_pass "$out"
