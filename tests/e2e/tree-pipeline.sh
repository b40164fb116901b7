#!/usr/bin/env bash
# A shell pipeline dumped and restored with its children, twice:
#   sh -c 'treeprod 16 READY STOP | gzip -1 | sha256sum > OUT'
# The producer (tests/progs/treeprod.c) writes half of its 16 MiB, says
# ready and waits for STOP, which the test creates only after the second
# restore; so the pipeline is caught mid-way whatever the machine's
# speed.  OUT must be byte-identical to an unmigrated run's.
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/lib.sh"
e2e_init treeprod
command -v gzip >/dev/null && command -v sha256sum >/dev/null || e2e_skip "gzip or sha256sum missing"

ready=$E2E_TMP/ready stop=$E2E_TMP/stop out=$E2E_TMP/pipeline.out
e2e_start "$E2E_TMP/sh.out" sh -c "'$PROGS/treeprod' 16 '$ready' '$stop' | gzip -1 | sha256sum >'$out'"
root=$E2E_PID
"$TOOLS/waitfor" --pid "$root" "$ready" ready 20 || e2e_fail "the producer did not get ready"
mapfile -t kids < <(tr ' ' '\n' <"/proc/$root/task/$root/children" | grep .)
((${#kids[@]} == 3)) || e2e_fail "the shell has ${#kids[@]} children, expected 3"
for k in "${kids[@]}"; do e2e_track "$k"; done

# What /proc shows of each process once it waits: the shell in wait4, the
# producer in clock_nanosleep, gzip and sha256sum in read (the group is the
# restorer's, as tree.sh says).
quiet() {
	local p
	e2e_wait_syscall "$root" wait4
	for p in "${kids[@]}"; do
		if [[ $(cat "/proc/$p/comm") == treeprod ]]; then
			e2e_wait_syscall "$p" clock_nanosleep
		else
			e2e_wait_syscall "$p" read
		fi
	done
	for p in "$root" "${kids[@]}"; do e2e_procstate "$p" "$E2E_TMP/pipe-$p.proc-$1"; done
}
quiet before
for round in 1 2; do
	e2e_tree_dump_restore "$E2E_TMP/pipeline$round.img" "$round" "the pipeline" "$root" "${kids[@]}"
	quiet after
	for p in "$root" "${kids[@]}"; do
		E2E_PROCSTATE_ACCEPT=$E2E_PROCSTATE_GROUP \
			e2e_procstate_same "$E2E_TMP/pipe-$p.proc" "round $round: process $p"
	done
	[[ ! -e $out || ! -s $out ]] || e2e_fail "the pipeline finished before it was dumped"
	for k in "${kids[@]}"; do
		[[ $(awk '{ sub(/^.*\) /, ""); print $2 }' "/proc/$k/stat") == "$root" ]] ||
			e2e_fail "round $round: process $k is not the shell's child after the restore"
	done
	e2e_log "round $round: the shell and its three children are back"
done
touch "$stop"
"$TOOLS/pidwait" "$root" 60 || e2e_fail "the pipeline did not finish after STOP"
expected=$("$PROGS/treeprod" 16 - - | gzip -1 | sha256sum)
[[ $(cat "$out") == "$expected" ]] || e2e_fail "the restored pipeline wrote \"$(cat "$out")\", an unmigrated run \"$expected\""
e2e_log "ok: the pipeline's output is the unmigrated run's ($expected)"
