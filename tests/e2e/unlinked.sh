#!/usr/bin/env bash
# Files, FIFOs and directories whose name is gone (tests/progs/unlinked.c):
# unlinked files with their contents, offsets, flags and the sharing of
# separately opened descriptors, one whose name was taken again since, an
# unlinked FIFO with its bytes, a removed directory held open and a removed
# working directory, all carried and checked by the program; refused
# (exit 4, one line, the process untouched): an unlinked file with another
# hard link left, one larger than the image carries, an unlinked FIFO held
# open for writing.
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/lib.sh"
e2e_init unlinked
for mode in carried hardlink big fifowrite; do
	mkdir "$E2E_TMP/$mode"
done
e2e_state_test unlinked carried "$E2E_TMP/carried"
e2e_refused_dump hardlink "whose name was removed while other hard links to it remain" -- \
	unlinked hardlink "$E2E_TMP/hardlink"
e2e_refused_dump big "an unlinked file larger than the 64 MiB an image carries" -- unlinked big "$E2E_TMP/big"
e2e_refused_dump fifowrite "open for writing, and only read ends are reopened" -- \
	unlinked fifowrite "$E2E_TMP/fifowrite"
