#!/usr/bin/env bash
# binmig inspect: on an image of a process asleep in sigsuspend it prints
# the sections, the mappings (the program's file), the descriptors (the
# output file) and a disassembly around the stop with "=>" and, next to it,
# the syscall instruction the thread is in.  On a truncated image: exit 5.
# The image still restores afterwards.
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/lib.sh"
e2e_init heap
out=$E2E_TMP/heap.out
image=$E2E_TMP/heap.img
e2e_start "$out" "$PROGS/heap" 1
pid=$E2E_PID
e2e_wait_ready "$out" "$pid"
e2e_wait_syscall "$pid" rt_sigsuspend
e2e_dump "$pid" "$image"

bm inspect "$image"
e2e_expect_ok "inspect"
text=$BM_OUT
grep -q -- "=>" "$text" || e2e_fail "inspect marks no instruction with =>"
grep -qi "syscall" "$text" || e2e_fail "inspect shows no syscall instruction"
window=$(grep -B 3 -A 3 -- "=>" "$text")
grep -qi syscall <<<"$window" || e2e_fail "no syscall instruction within 3 lines of the => mark"
grep -qF "$PROGS/heap" "$text" || e2e_fail "inspect does not list the program's mapping"
grep -qF "$out" "$text" || e2e_fail "inspect does not list the output file descriptor"
e2e_log "inspect printed $(wc -l <"$text") lines"

head -c $(($(stat -c %s "$image") / 2)) "$image" >"$E2E_TMP/half.img"
bm inspect "$E2E_TMP/half.img"
e2e_expect_error 5 "inspect of a truncated image"

e2e_restore "$image" "$pid"
e2e_signal "$pid" "$out"
e2e_wait_exit "$pid"
e2e_expect_pass "$out"
