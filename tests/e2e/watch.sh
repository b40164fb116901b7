#!/usr/bin/env bash
# Signalfds and epoll instances (tests/progs/watch.c): carried with their
# masks and registrations, so that after the restore exactly the ready
# registrations are reported and the others wake up with their files,
# fired one-shot registrations (on an eventfd, a pipe holding a byte, a
# socket; on a timerfd, an inotify instance, a signalfd and an epoll
# instance, which report nothing then) stay quiet even when their files
# hang up or report, fdinfo shows every registration's events as before, and a process asleep in epoll_wait is
# woken there by its signalfd's signal; refused (exit 4, one line naming
# the registration, the process untouched) when a registration's
# descriptor was closed or replaced since it was added, or when --fd
# replaces the descriptor it watches, for a one-shot registration that
# fired on a file that can hang up and reports no event (an empty pipe),
# or for one that fired on a signalfd for SIGCONT alone.
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/lib.sh"
e2e_init watch
e2e_state_test watch carried

# Asleep in epoll_wait across the migration; SIGUSR2 (a signalfd's) wakes it.
out=$E2E_TMP/blocked.out
e2e_start "$out" "$PROGS/watch" blocked
pid=$E2E_PID
e2e_wait_ready "$out" "$pid"
e2e_wait_syscall "$pid" epoll_wait
e2e_migrate "$pid" "$E2E_TMP/blocked.img"
e2e_wait_syscall "$pid" epoll_wait
kill -USR2 "$pid"
e2e_wait_exit "$pid"
e2e_expect_pass "$out"

declare -A said=([stale]="watching fd 20, whose file is no longer open at that number"
	[closed]="watching fd 21, whose file is no longer open at that number"
	[replaced]="watching fd 9, which a --fd or --stdio policy replaces"
	[fired]="a one-shot registration (EPOLLONESHOT) that fired, on a file that reports no event now"
	[jobctl]="a one-shot registration (EPOLLONESHOT) that fired, on a signalfd for job-control signals only")
e2e_refused_dump stale "${said[stale]}" -- watch stale
e2e_refused_dump closed "${said[closed]}" -- watch closed
e2e_refused_dump replaced "${said[replaced]}" --fd 9=null -- watch replaced
e2e_refused_dump fired "${said[fired]}" -- watch fired
e2e_refused_dump jobctl "${said[jobctl]}" -- watch jobctl
