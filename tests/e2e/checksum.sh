#!/usr/bin/env bash
# A 64 MiB computation migrated three times at different points gives the
# same output, line for line, as an unmigrated run.  After its 150 counted
# passes the migrated run goes on with uncounted ones until the test opens
# its gate after the last migration, so the last dump (at pass 100) never
# races the program's end, however fast or slow the machine.
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/lib.sh"
e2e_init checksum

ref=$E2E_TMP/reference.out
e2e_start "$ref" "$PROGS/checksum" 64 150
e2e_wait_exit "$E2E_PID" 60
wait "$E2E_PID" || e2e_fail "reference run failed (exit $?)"
grep -q '^result ' "$ref" || e2e_fail "reference run printed no result"
e2e_log "reference: $(grep '^result ' "$ref")"

out=$E2E_TMP/migrated.out
e2e_start "$out" "$PROGS/checksum" --gate "$out.gate" 64 150
pid=$E2E_PID
round=0
for at in 20 60 100; do
	round=$((round + 1))
	e2e_wait_line "$out" "pass $at" "$pid" 30 -x
	e2e_migrate "$pid" "$E2E_TMP/checksum$round.img"
	e2e_log "migrated after $(grep -c '^pass' "$out") passes"
done
touch "$out.gate"
e2e_wait_exit "$pid" 60
if ! cmp -s "$ref" "$out"; then
	diff "$ref" "$out" | head -n 20 >&2 || true
	e2e_fail "migrated run's output differs from the reference"
fi
e2e_log "migrated: $(grep '^result ' "$out")"
