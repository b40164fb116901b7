#!/usr/bin/env bash
# test-timeout: 600
# test-needs: hosts
# Real programs that are trees, migrated A -> B -> A -> B between the
# emulated hosts, each checked against an unmigrated run:
#  - a Python multiprocessing.Pool (Debian's python3, fork: 4 workers,
#    pipes, threads, POSIX semaphores in /dev/shm whose names are gone);
#  - `make -j4` of a small C project, caught with four compile steps
#    under way (each waits for a gate, so the moment does not depend on
#    the machine's speed); the program it links must be byte-identical;
#  - a CLR parent (Mono) that starts a child process with
#    System.Diagnostics.Process and reads its output through a pipe,
#    migrated while the child waits half-way through its output.
# After each hop every member runs at the destination with its parent and
# none is left at the source; after all of them, none of the /dev/shm
# files the members mapped with their names gone (the Pool's semaphores)
# has its name back (the hosts share /dev/shm; the restore names such a
# file for a moment).  Only those: the tests of the other lane make and
# remove /dev/shm files of their own meanwhile.
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/migrate-lib.sh"
mig_init procchild.exe
PY=/usr/bin/python3
for need in "$PY" make cc mono; do
	command -v "$need" >/dev/null || e2e_fail "$need is missing (make deps)"
done
CLR_ENV=(env MONO_DISABLE_SHARED_AREA=1) # see clr-pingpong.sh
SHM_GONE=() # /dev/shm/NAME the members map with that name gone

# shm_gone HOST MEMBER...: adds those of the members to SHM_GONE.
shm_gone() {
	local h=$1 p
	shift
	for p in "$@"; do
		# shellcheck disable=SC2016 # awk's fields
		mapfile -t -O "${#SHM_GONE[@]}" SHM_GONE < <(mig_in "$h" awk \
			'$6 ~ /^\/dev\/shm\// && $7 == "(deleted)" { print $6 }' "/proc/$p/maps" | sort -u)
	done
}

# members HOST ROOT: ROOT and its descendants in HOST, one per line.
members() {
	local h=$1 p
	local -a todo=("$2")
	while ((${#todo[@]})); do
		p=${todo[0]}
		todo=("${todo[@]:1}")
		echo "$p"
		# shellcheck disable=SC2207 # PIDs
		todo+=($(mig_in "$h" cat "/proc/$p/task/$p/children" 2>/dev/null))
	done
}

# settle HOST MEMBER...: until the compile steps and the CLR parent's
# child wait for their gate (waitfor in poll) and the CLR parent for its
# child's output (read), so that none is still starting.
settle() {
	local h=$1 p
	shift
	for p in "$@"; do
		case $(mig_in "$h" cat "/proc/$p/comm" 2>/dev/null) in
		waitfor) mig_in "$h" "$TOOLS/waitsyscall" "$p" "${E2E_SYSCALL_NR[poll]}" 20 || e2e_fail "process $p does not wait in poll" ;;
		mono) SETTLE_MONO=$p ;;
		esac
	done
	if [[ -n ${SETTLE_MONO:-} ]]; then
		mig_in "$h" "$TOOLS/waitsyscall" "$SETTLE_MONO" "${E2E_SYSCALL_NR[read]}" 20 || e2e_fail "mono $SETTLE_MONO does not wait in read"
		SETTLE_MONO=
	fi
}

# hops ROOT WHAT: three hops; the same members, each with its parent, run
# at each destination and are gone from the source.  What /proc shows of
# each member is the same after the second hop (back in host A) as before
# the first, but for the lines a working program changes by itself
# (E2E_PROCSTATE_RUNNING: the Pool's threads poll) and the process group
# (the root's is the restorer's): the size of the descriptor tables too
# (FDSize: the members' 64 slots hold the restore's own descriptors, one
# per mapped library, and the descriptions they share).
hops() {
	local root=$1 what=$2 here=A there=B tmp hop p base=$E2E_TMP/apps-$1-${2// /_}
	local -a before after
	mapfile -t before < <(members A "$root" | sort -n)
	settle A "${before[@]}"
	shm_gone A "${before[@]}"
	for p in "${before[@]}"; do mig_procstate_running A "$p" "$base-$p.proc-before"; done
	for hop in 1 2 3; do
		mapfile -t before < <(members "$here" "$root" | sort -n)
		((${#before[@]} > 1)) || e2e_fail "$what: the tree of $root in host $here has no children"
		mig_bm "$here" migrate "$root" "${MIG_ADDR[$there]}:$MIG_PORT" --key "$MIG_KEY"
		e2e_expect_ok "$what: hop $hop ($here -> $there)"
		mig_assert_running "$there" "$root" "$what after hop $hop"
		mapfile -t after < <(members "$there" "$root" | sort -n)
		[[ ${after[*]} == "${before[*]}" ]] ||
			e2e_fail "$what: hop $hop: the tree was [${before[*]}] in $here and is [${after[*]}] in $there"
		for p in "${before[@]}"; do
			mig_assert_gone "$here" "$p" "$what: process $p after hop $hop"
		done
		if ((hop == 2)); then
			settle A "${after[@]}"
			for p in "${after[@]}"; do mig_procstate_running A "$p" "$base-$p.proc-after"; done
			E2E_PROCSTATE_ACCEPT="$E2E_PROCSTATE_GROUP|$E2E_PROCSTATE_RUNNING" \
				e2e_procstate_same_each "$base" "$what after two hops" "${after[@]}"
		fi
		tmp=$here here=$there there=$tmp
	done
	e2e_log "ok: $what: ${#after[@]} processes, three hops"
}

# The Pool.
gate=$E2E_TMP/pool.gate out=$E2E_TMP/pool.out
root=$(mig_spawn A "$out" --pid "$MIG_WORKLOAD_PID" "$PY" "$BINMIG_ROOT/tests/progs/pypool.py" "$gate")
mig_in A "$TOOLS/waitfor" --pid "$root" -x "$out" ready 30 || { e2e_show "$out" "$out.err"; e2e_fail "the Pool did not get ready"; }
hops "$root" "the Pool"
touch "$gate"
mig_in B "$TOOLS/waitfor" --pid "$root" "$out" "result " 120 || { e2e_show "$out" "$out.err"; e2e_fail "the Pool did not finish"; }
touch "$E2E_TMP/pool-ref.gate"
expected=$("$PY" "$BINMIG_ROOT/tests/progs/pypool.py" "$E2E_TMP/pool-ref.gate" | tail -n 1)
[[ $(tail -n 1 "$out") == "$expected" ]] || e2e_fail "the migrated Pool printed \"$(tail -n 1 "$out")\", an unmigrated run \"$expected\""
e2e_log "ok: the Pool's answer is the unmigrated run's"

# make -j4.
project() { # DIR GATE: a project of 8 units and a main, each compile step waiting for GATE
	mkdir -p "$1"
	local i
	for i in 1 2 3 4 5 6 7 8; do
		printf 'unsigned long unit%d(unsigned long x)\n{\n\tfor (int i = 0; i < 1000; i++)\n\t\tx = x * 6364136223846793005ul + %d;\n\treturn x;\n}\n' "$i" "$i" >"$1/unit$i.c"
	done
	{
		echo '#include <stdio.h>'
		for i in 1 2 3 4 5 6 7 8; do echo "unsigned long unit$i(unsigned long);"; done
		echo 'int main(void) { unsigned long x = 1;'
		for i in 1 2 3 4 5 6 7 8; do echo "x = unit$i(x);"; done
		echo 'printf("%lu\n", x); return 0; }'
	} >"$1/main.c"
	printf 'OBJS := main.o %s\nprog: $(OBJS)\n\tcc -o $@ $(OBJS)\n%%.o: %%.c\n\t%s %s open 600 >/dev/null\n\tcc -O2 -c $< -o $@\n' \
		"$(echo unit{1..8}.o)" "$TOOLS/waitfor" "$2" >"$1/Makefile"
}
gate=$E2E_TMP/make.gate out=$E2E_TMP/make.out
project "$E2E_TMP/build" "$gate"
root=$(mig_spawn A "$out" --pid "$MIG_WORKLOAD_PID" make -C "$E2E_TMP/build" -j4)
# Until four compile steps wait for the gate (four inotify watchers), at
# most 60 s.
deadline=$((SECONDS + 60))
while :; do
	n=$(members A "$root" | while read -r p; do mig_in A cat "/proc/$p/comm" 2>/dev/null; done | grep -c '^waitfor$' || true)
	((n == 4)) && break
	((SECONDS < deadline)) || e2e_fail "make -j4 did not start four compile steps within 60 s (saw $n)"
	sleep 0.05
done
hops "$root" "make -j4"
echo open >"$gate"
mig_in B "$TOOLS/pidwait" --reaped "$root" 120 || e2e_fail "make did not finish"
[[ ! -s $out.err ]] || { e2e_show "$out" "$out.err"; e2e_fail "make wrote errors"; }
project "$E2E_TMP/ref" "$E2E_TMP/make-ref.gate"
echo open >"$E2E_TMP/make-ref.gate"
make -s -C "$E2E_TMP/ref" -j4 >/dev/null || e2e_fail "the unmigrated make failed"
cmp "$E2E_TMP/build/prog" "$E2E_TMP/ref/prog" || e2e_fail "the migrated build's program differs from the unmigrated build's"
e2e_log "ok: make -j4's program is byte-identical to an unmigrated build's"

# The CLR parent and its child.
gate=$E2E_TMP/clr.gate out=$E2E_TMP/clr.out child=$E2E_TMP/child.sh
cat >"$child" <<CHILD
#!/bin/sh
i=0; while [ \$i -lt 1000 ]; do echo "line \$i"; i=\$((i + 1)); done
"$TOOLS/waitfor" "\$1" open 600 >/dev/null
while [ \$i -lt 2000 ]; do echo "line \$i"; i=\$((i + 1)); done
CHILD
chmod +x "$child"
root=$(mig_spawn A "$out" --pid "$MIG_WORKLOAD_PID" "${CLR_ENV[@]}" mono "$PROGS/procchild.exe" "$child" "$gate")
mig_in A "$TOOLS/waitfor" --pid "$root" -x "$out" ready 30 || { e2e_show "$out" "$out.err"; e2e_fail "procchild did not get ready"; }
hops "$root" "the CLR parent and its child"
echo open >"$gate"
mig_in B "$TOOLS/waitfor" --pid "$root" "$out" "result " 60 || { e2e_show "$out" "$out.err"; e2e_fail "procchild did not finish"; }
echo open >"$E2E_TMP/clr-ref.gate"
expected=$("${CLR_ENV[@]}" mono "$PROGS/procchild.exe" "$child" "$E2E_TMP/clr-ref.gate" | tail -n 1)
[[ $(tail -n 1 "$out") == "$expected" ]] || e2e_fail "the migrated procchild printed \"$(tail -n 1 "$out")\", an unmigrated run \"$expected\""
e2e_log "ok: the CLR parent read its child's whole output, as unmigrated"

((${#SHM_GONE[@]})) || e2e_fail "no member maps a /dev/shm file whose name is gone (the Pool's semaphores)"
for name in $(printf '%s\n' "${SHM_GONE[@]}" | sort -u); do
	[[ ! -e $name ]] || e2e_fail "$name, which the trees mapped with its name gone, is back in /dev/shm"
done
e2e_log "ok: the $(printf '%s\n' "${SHM_GONE[@]}" | sort -u | wc -l) /dev/shm files the trees mapped with their names gone stay nameless"
