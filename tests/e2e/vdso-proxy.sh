#!/usr/bin/env bash
# The vDSO proxy, forced on one kernel (restore --vdso-proxy always): a
# process that keeps pointers to four vDSO functions (tests/progs/vdso.c)
# goes through three hops, the first two with the proxy (the second
# proxies the first's vDSO again: a chain of jumps), the third without
# (the vDSO is then the same, so it moves into place as usual).  After
# each proxied hop the kernel's [vdso] has moved away from where the
# process had it, and the old place holds a private read-execute copy.
# Then the program checks every function through its stored pointers and
# through glibc against the system calls; /proc shows the same of it as
# before, but for what the proxy changes (e2e_procstate_unproxied).  Also: --vdso-proxy never
# restores a process whose vDSO is the same, and a bad value is a usage
# error.
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/lib.sh"
e2e_init vdso

# vdso_line PID: the "START-END PERMS" of PID's [vdso].
vdso_line() { awk '$NF == "[vdso]" { print $1, $2 }' "/proc/$1/maps"; }

# mapping_at PID START: the maps line of PID that starts at START.
mapping_at() { awk -v s="$2" 'index($1, s "-") == 1' "/proc/$1/maps"; }

e2e_start "$E2E_TMP/vdso.out" "$PROGS/vdso"
pid=$E2E_PID
e2e_wait_ready "$E2E_TMP/vdso.out" "$pid"
e2e_wait_syscall "$pid" rt_sigsuspend
first=$(vdso_line "$pid")
[[ -n $first ]] || e2e_fail "process $pid has no [vdso]"
e2e_procstate "$pid" "$E2E_TMP/vdso.proc-before"

bm restore --vdso-proxy sometimes "$E2E_TMP/none.img"
e2e_expect_error 2 "bad --vdso-proxy value 'sometimes'" "a bad --vdso-proxy value"

for hop in 1 2 3; do
	before=$(vdso_line "$pid")
	mode=always
	((hop == 3)) && mode=never
	e2e_dump "$pid" "$E2E_TMP/hop$hop.img"
	e2e_restore "$E2E_TMP/hop$hop.img" "$pid" --vdso-proxy "$mode"
	e2e_wait_syscall "$pid" rt_sigsuspend
	after=$(vdso_line "$pid")
	old_start=${before%%-*}
	if [[ $mode == always ]]; then
		grep -q "process $pid runs with the vDSO proxy (--vdso-proxy always): [0-9]* entry points of its vDSO at 0x$old_start" "$BM_ERR" ||
			e2e_fail "hop $hop: restore does not say that the proxy is used: $(cat "$BM_ERR")"
		[[ ${after%%-*} != "$old_start" ]] || e2e_fail "hop $hop: the proxied [vdso] stayed at $old_start"
		copy=$(mapping_at "$pid" "$old_start")
		read -r _ perms _ _ inode rest <<<"$copy"
		[[ $perms == r-xp && $inode == 0 && -z $rest ]] ||
			e2e_fail "hop $hop: at $old_start, where the [vdso] was, expected a private anonymous r-x copy: '$copy'"
		e2e_log "hop $hop (proxy): [vdso] $before -> ${after%% *}, a copy at $old_start"
	else
		[[ $after == "$before" ]] || e2e_fail "hop $hop (no proxy): [vdso] moved from '$before' to '$after'"
		e2e_log "hop $hop (never): [vdso] back at ${after%% *}"
	fi
done
[[ -n $(mapping_at "$pid" "${first%%-*}") ]] || e2e_fail "the first [vdso]'s place is empty after the hops"
# /proc shows the same of it as before, but for what the proxy changes
# (e2e_procstate_unproxied; its copies are checked above).
e2e_procstate "$pid" "$E2E_TMP/vdso.proc-after"
for f in "$E2E_TMP"/vdso.proc-{before,after}; do e2e_procstate_unproxied "$f"; done
e2e_procstate_same "$E2E_TMP/vdso.proc" "vdso after three hops"

e2e_signal "$pid" "$E2E_TMP/vdso.out"
e2e_wait_exit "$pid" 30
e2e_expect_pass "$E2E_TMP/vdso.out"
e2e_log "stored vDSO pointers and glibc's work after two proxied hops and one without"
