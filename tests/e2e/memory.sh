#!/usr/bin/env bash
# Private anonymous memory: read-write with a PROT_NONE guard, read-only,
# executable code written at run time, a sparse 1 GiB region (data pages,
# zero pages, dropped pages), a big stack array.  The image must not carry
# the untouched gigabyte.
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/lib.sh"
e2e_init memory
e2e_state_test memory
size=$(stat -c %s "$E2E_TMP/memory.img")
e2e_log "image size $size bytes"
((size < 64 * 1024 * 1024)) || e2e_fail "image of a process with 1 GiB mostly untouched is $size bytes"
