#!/usr/bin/env bash
# File mappings: a private read-write mapping with some pages modified, a
# private read-only mapping at an offset, a shared mapping; after migration
# modified pages keep their data, the rest still follow the file, and the
# shared mapping writes to the file.
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/lib.sh"
e2e_init mapfile
mkdir "$E2E_TMP/data"
e2e_state_test mapfile "$E2E_TMP/data"
grep -q "written after the migration" "$E2E_TMP/data/shared.dat" ||
	e2e_fail "shared.dat does not hold what the migrated process wrote through its mapping"
