#!/usr/bin/env bash
# A short soak run (tests/soak/soak.sh; make soak runs the long one): 30
# migrations of a native workload and, with Mono, a CLR one, with a fault
# armed in a third of them and the destination daemon killed in a tenth.
# Nothing may be lost, duplicated or give a wrong answer.
exec "$(dirname "$0")/../soak/soak.sh" --migrations 30 --per-run 15 --fault-rate 35 --kill-rate 10 --seed 7
