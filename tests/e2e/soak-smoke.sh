#!/usr/bin/env bash
# test-needs: hosts
# A short soak run (tests/soak/soak.sh; make soak runs the long one): 20
# migrations of native workloads (two runs of 10), with a fault armed in
# about a third of them and the destination daemon killed in a tenth.
# Nothing may be lost, duplicated or give a wrong answer.  Seed 7 draws a
# daemon kill (the first migration) and faults in both modes among them.
exec "$(dirname "$0")/../soak/soak.sh" --migrations 20 --per-run 10 --fault-rate 35 --kill-rate 10 --seed 7
