#!/usr/bin/env bash
# Memory binmig does not carry is refused at dump (exit 4, one line naming
# it), the process left running untouched (tests/progs/memrefuse.c):
# guard regions (MADV_GUARD_INSTALL) in shared memory and in locked memory
# (elsewhere they are carried: memguard.sh), huge pages (MAP_HUGETLB,
# private and shared), a descriptor of shared anonymous memory opened
# through /proc/PID/map_files and a private mapping of one, an area under
# a protection key, changed protection key rights (PKRU), a protection key
# allocated with no area, and one left above a freed one, secret memory
# (memfd_secret) mapped and held by a descriptor.  What this
# machine cannot make (an older kernel, no PKU, no huge pages) is skipped,
# saying so.  Huge pages are reserved for the test (vm.nr_hugepages 4)
# when none are, and given back at the end.
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/lib.sh"
e2e_init memrefuse

hugepages_before=$(cat /proc/sys/vm/nr_hugepages)
if ((hugepages_before == 0)); then
	trap 'rc=$?; set +e; echo 0 >/proc/sys/vm/nr_hugepages; (exit $rc); e2e_cleanup' EXIT
	echo 4 >/proc/sys/vm/nr_hugepages 2>/dev/null || e2e_log "cannot reserve huge pages"
fi

declare -A said=(
	[guardshared]="has guard regions (madvise MADV_GUARD_INSTALL) in shared memory at 0x"
	[guardlocked]="has guard regions (madvise MADV_GUARD_INSTALL) in locked memory (mlock) at 0x"
	[hugetlb]="huge-page memory (hugetlb: MAP_HUGETLB or hugetlbfs, VmFlags ht)"
	[hugetlb-shared]="huge-page memory (hugetlb: MAP_HUGETLB or hugetlbfs, VmFlags ht)"
	[shmemfd]="(/dev/zero (deleted)), the object of shared anonymous memory (opened through /proc/PID/map_files)"
	[shmemfd-priv]="maps shared anonymous memory (/dev/zero) privately at 0x"
	[pkey-area]="rw-p anonymous) under the protection key 1 (pkey_mprotect); binmig cannot carry protection keys"
	[pkru]="has the protection key rights (PKRU) 0x55555558, not the default 0x55555554"
	[pkey-alloc]="has the protection key 1 allocated (pkey_alloc"
	[pkey-hole]="has the protection key 2 allocated (pkey_alloc); binmig cannot carry protection keys"
	[uffd-wp]="has memory write-protected through userfaultfd at 0x"
	[uffd-missing]="has memory registered with userfaultfd at 0x"
	[secret]="maps secret memory (memfd_secret) at 0x"
	[secretfd]="secret memory (memfd_secret), whose contents the kernel shows to nobody but the process"
)
for mode in guardshared guardlocked hugetlb hugetlb-shared shmemfd shmemfd-priv pkey-area pkru pkey-alloc pkey-hole uffd-wp uffd-missing \
	secret secretfd; do
	if ! why=$("$PROGS/memrefuse" probe "$mode"); then
		e2e_log "skipped: $why"
		continue
	fi
	e2e_refused_dump "$mode" "${said[$mode]}" -- memrefuse "$mode" "$E2E_TMP/$mode.file"
done
