#!/usr/bin/env bash
# Signal handlers with SA_SIGINFO, SA_RESTART, SA_NODEFER, SA_ONSTACK,
# SA_RESETHAND and masks, an ignored SIGPIPE and an alternate stack: the same
# dispositions after migration, and each handler runs as its flags say.
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/lib.sh"
e2e_init signals
e2e_state_test signals
