#!/usr/bin/env bash
# Files, FIFOs and directories whose name is gone (tests/progs/unlinked.c):
# unlinked files with their contents, offsets, flags and the sharing of
# separately opened descriptors, one whose name was taken again since, an
# unlinked FIFO with its bytes, a removed directory held open and a removed
# working directory also held open (one directory), all carried and checked
# by the program; refused (exit 4, one line, the process untouched): an
# unlinked file with another hard link left, one larger than the image
# carries, an unlinked FIFO held open for writing, one whose directory was
# removed too, a removed cwd and another removed directory of its name
# held open, a file made with O_TMPFILE and linked since, a pipe end
# opened again for reading and writing, a descriptor on
# the process's own /proc/PID/maps.  Carried too (mode special): an
# O_TMPFILE file, still linkable, and O_PATH descriptors on a regular file,
# a FIFO, a socket file, a symlink and an unlinked file.  A descriptor at
# the open-files limit less one is carried where binmig may raise its own
# limit above it (CAP_SYS_RESOURCE), refused otherwise.
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/lib.sh"
e2e_init unlinked
for mode in carried special attrs xattrmany unwritten memfdfalloc appendmap hardlink big fifowrite gonedir twodirs tmplinked tmpreopen piperdwr procself highfd; do
	mkdir "$E2E_TMP/$mode"
done
# "c" exists again: its unlinked file comes back without a name (README).
E2E_PROCSTATE_ACCEPT='^fd [0-9]+ -> .*/carried/(c|#INODE) \(deleted\)$' \
	e2e_state_test unlinked carried "$E2E_TMP/carried"
e2e_state_test unlinked special "$E2E_TMP/special"
# Access time, extended attributes, inode flags and space reserved past
# the end of unlinked files, a file only mapped and a memfd (image
# version 11); what cannot be carried exactly is refused, the access time
# left as it was.
e2e_state_test unlinked attrs "$E2E_TMP/attrs"
e2e_refused_dump xattrmany "has 65 extended attributes, more than the 64 binmig carries" -- \
	unlinked xattrmany "$E2E_TMP/xattrmany"
e2e_refused_dump unwritten "has space reserved (fallocate) but not written within its size" -- \
	unlinked unwritten "$E2E_TMP/unwritten"
e2e_refused_dump memfdfalloc "allocated beyond its data (fallocate), which binmig cannot place" -- \
	unlinked memfdfalloc "$E2E_TMP/memfdfalloc"
e2e_refused_dump appendmap "maps the append-only deleted file" -- unlinked appendmap "$E2E_TMP/appendmap"
e2e_refused_dump hardlink "whose name was removed while other hard links to it remain" -- \
	unlinked hardlink "$E2E_TMP/hardlink"
e2e_refused_dump big "an unlinked file larger than the 64 MiB an image carries" -- unlinked big "$E2E_TMP/big"
e2e_refused_dump fifowrite "open for writing, and only read ends are reopened" -- \
	unlinked fifowrite "$E2E_TMP/fifowrite"
e2e_refused_dump gonedir "whose directory was removed too" -- unlinked gonedir "$E2E_TMP/gonedir"
e2e_refused_dump twodirs "another removed directory of that name" -- unlinked twodirs "$E2E_TMP/twodirs"
# A file made with O_TMPFILE and linked since keeps the link text of the
# nameless file ("#INODE (deleted)"), with a link count: refused as such.
e2e_refused_dump tmplinked "whose name was removed while other hard links to it remain" -- \
	unlinked tmplinked "$E2E_TMP/tmplinked"
# An O_TMPFILE file opened again through /proc at a lower number: only the
# open that makes a file can say O_TMPFILE, and the restore makes it
# through the lower descriptor.
e2e_refused_dump tmpreopen "also held at fd 10 with O_TMPFILE" -- unlinked tmpreopen "$E2E_TMP/tmpreopen"
e2e_refused_dump piperdwr "open for both reading and writing" -- unlinked piperdwr "$E2E_TMP/piperdwr"
e2e_refused_dump procself "a file in the process's own /proc directory" -- unlinked procself "$E2E_TMP/procself"
# CAP_SYS_RESOURCE is bit 24 of the effective capabilities.
if (( (16#$(awk '/^CapEff/ {print $2}' /proc/self/status) >> 24) & 1 )); then
	e2e_state_test unlinked highfd "$E2E_TMP/highfd"
else
	e2e_refused_dump highfd "too near the most descriptors binmig may open" -- unlinked highfd "$E2E_TMP/highfd"
fi
