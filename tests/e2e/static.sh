#!/usr/bin/env bash
# Statically linked programs (no ld.so, the libc's own brk handling and vDSO
# lookup): heap and misc, built with -static.
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/lib.sh"
e2e_init heap-static misc-static
e2e_state_test heap-static 8
BM_TEST_MARKER="static" e2e_state_test misc-static one two
