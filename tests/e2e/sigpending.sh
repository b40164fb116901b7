#!/usr/bin/env bash
# Blocked, pending signals (process-wide and thread-directed, a real-time one
# queued twice) survive migration with their values and order; so does a
# signal pending with no siginfo queued (RLIMIT_SIGPENDING reached).  A
# pending SIGTRAP is refused (binmig's single-steps would take it).
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/lib.sh"
e2e_init sigpending
e2e_state_test sigpending
e2e_state_test sigpending unqueued
e2e_refused_dump sigtrap "has a SIGTRAP pending" -- sigpending sigtrap
