#!/usr/bin/env bash
# A named FIFO read by the program; the script holds the other end open
# (O_RDWR, so opening never blocks).  First migration: the program sleeps in
# sigsuspend with data buffered in the FIFO, which must still be readable.
# Second migration: the program is blocked inside read(2); the data written
# after the restore must come out of that very read (not EINTR).
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/lib.sh"
e2e_init fifo
fifo=$E2E_TMP/fifo
out=$E2E_TMP/fifo.out
mkfifo "$fifo"
exec {writer}<>"$fifo"

e2e_start "$out" "$PROGS/fifo" "$fifo"
pid=$E2E_PID
e2e_wait_ready "$out" "$pid"
e2e_wait_syscall "$pid" rt_sigsuspend
echo buffered >&"$writer"
e2e_procstate "$pid" "$E2E_TMP/fifo1.proc-before"
e2e_migrate "$pid" "$E2E_TMP/fifo1.img"
e2e_wait_syscall "$pid" rt_sigsuspend
e2e_procstate "$pid" "$E2E_TMP/fifo1.proc-after"
e2e_procstate_same "$E2E_TMP/fifo1.proc" "fifo, waiting in sigsuspend"
e2e_signal "$pid" "$out"

e2e_wait_line "$out" reading "$pid"
e2e_wait_syscall "$pid" read
e2e_procstate "$pid" "$E2E_TMP/fifo2.proc-before"
e2e_migrate "$pid" "$E2E_TMP/fifo2.img"
e2e_wait_syscall "$pid" read
e2e_procstate "$pid" "$E2E_TMP/fifo2.proc-after"
e2e_procstate_same "$E2E_TMP/fifo2.proc" "fifo, blocked in read"
echo wake >&"$writer"
e2e_wait_exit "$pid"
e2e_expect_pass "$out"
