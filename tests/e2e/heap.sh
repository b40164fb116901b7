#!/usr/bin/env bash
# Heap grown with sbrk and filled; after migration the pattern, the break and
# start_brk are unchanged and the heap still grows (sbrk and malloc).
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/lib.sh"
e2e_init heap
e2e_state_test heap 8
