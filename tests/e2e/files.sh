#!/usr/bin/env bash
# Regular files with offsets, O_APPEND, O_CLOEXEC, a dup'ed pair sharing one
# open file, a directory fd, /dev/null, /dev/zero, /dev/urandom, cwd, umask,
# and the size (FDSize) of a descriptor table that once had descriptor 300.
# The program's stdout is also a file: after migration it must continue at
# the right offset, so its output is exactly "ready" then "PASS".
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/lib.sh"
e2e_init files
mkdir "$E2E_TMP/work"
e2e_state_test files "$E2E_TMP/work"
[[ $(cat "$E2E_TMP/files.out") == $'ready\nPASS' ]] || e2e_fail "files.out is not exactly ready/PASS"
