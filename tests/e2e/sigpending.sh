#!/usr/bin/env bash
# Blocked, pending signals (process-wide and thread-directed, a real-time one
# queued twice) survive migration with their values and order.
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/lib.sh"
e2e_init sigpending
e2e_state_test sigpending
