#!/usr/bin/env bash
# test-needs: hosts
# harness run between two "real" hosts over ssh (--hosts
# ssh:USER@H1,ssh:USER@H2): the emulated hosts, each running Debian's
# OpenSSH server with host keys and a client key generated for this test,
# stand in for two machines.  The driver runs inside host A (the veth pair
# joins only the two hosts) and enters both with ssh only.  Checks that
#  1. the experiment exits 0 with 4 verified rows alternating A and B, and
#     meta.txt says hosts_state=ssh;
#  2. the work directory is gone, no workload and no binmig serve is left
#     in either host, and the ssh connections are closed;
#  3. a host that is not reachable is refused with exit 3, naming it.
# The sshd processes are started here, recorded by PID (inside their
# host) and stopped on every way out, before the hosts come down.
# Skips unless root, without openssh-server, or if emulated hosts exist.
source "$(dirname "$0")/lib.sh"
e2e_init

HOSTS_CMD=$BINMIG_ROOT/harness/hosts
RUN=$BINMIG_ROOT/harness/run
SSHD=/usr/sbin/sshd
T=$E2E_TMP
SEED=4343 # the workloads' --seed: marks this test's processes
declare -A ADDR=([A]=10.77.0.1 [B]=10.77.0.2)
rc=0
"$HOSTS_CMD" status >/dev/null 2>&1 || rc=$?
((rc == 3)) || e2e_skip "emulated hosts (or parts of them) exist already; harness/hosts down removes them"
[[ -x $SSHD ]] && command -v ssh >/dev/null && command -v ssh-keygen >/dev/null ||
	e2e_skip "openssh-server and openssh-client are needed (make deps installs them)"
for t in waitfor pidwait; do [[ -x $TOOLS/$t ]] || e2e_fail "$TOOLS/$t missing (make test-build)"; done

SSHD_PIDS=() # "HOST PID" of each sshd this test started
MADE_RUN_SSHD=
in_host() { local h=$1; shift; "$HOSTS_CMD" exec "$h" -- "$@"; }

# Each sshd by its PID inside its host, checked by its command line (our
# configuration file), TERM then KILL; then the hosts.
ssh_test_cleanup() {
	local status=$?
	set +e
	local entry h pid
	for entry in "${SSHD_PIDS[@]}"; do
		read -r h pid <<<"$entry"
		# shellcheck disable=SC2016 # expanded in the host
		in_host "$h" bash -c '[[ $(tr "\0" " " </proc/$1/cmdline 2>/dev/null) == *"$2"* ]] || exit 0
			kill -TERM "$1"; "$3" "$1" 5 >/dev/null 2>&1 || kill -KILL "$1"' stop "$pid" "$T/sshd-$h.conf" \
			"$TOOLS/pidwait" || echo "cleanup: cannot stop sshd $pid in host $h" >&2
	done
	e2e_hosts_down "$HOSTS_CMD"
	[[ -z $MADE_RUN_SSHD ]] || rmdir /run/sshd 2>/dev/null
	(exit "$status")
	e2e_cleanup
}
trap ssh_test_cleanup EXIT

"$HOSTS_CMD" up >"$T/up.out" 2>&1 || { e2e_show "$T/up.out"; e2e_fail "harness/hosts up failed"; }
# sshd's privilege separation directory (the hosts share the filesystem).
if [[ ! -d /run/sshd ]]; then
	mkdir -m 0755 /run/sshd || e2e_fail "cannot create /run/sshd"
	MADE_RUN_SSHD=1
fi

# Keys: one host key per host, one client key, known to each other only
# through the files of this test.
ssh-keygen -q -t ed25519 -N '' -C binmig-test-client -f "$T/client" || e2e_fail "ssh-keygen failed"
cp "$T/client.pub" "$T/authorized_keys"
: >"$T/known_hosts"
for h in A B; do
	ssh-keygen -q -t ed25519 -N '' -C "binmig-test-host-$h" -f "$T/host-$h" || e2e_fail "ssh-keygen failed"
	echo "${ADDR[$h]} $(cut -d' ' -f1,2 "$T/host-$h.pub")" >>"$T/known_hosts"
	cat >"$T/sshd-$h.conf" <<EOF
ListenAddress ${ADDR[$h]}
Port 22
HostKey $T/host-$h
PidFile $T/sshd-$h.pid
AuthorizedKeysFile $T/authorized_keys
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
MaxSessions 32
MaxStartups 32
LogLevel VERBOSE
# bash run by sshd reads ~/.bashrc unless SHLVL says it is nested: root's
# may take seconds (pyenv init takes 2.7 s here) for each of the driver's
# commands, which is that machine's shell, not what this test is about.
AcceptEnv SHLVL
EOF
done
cat >"$T/ssh_config" <<EOF
Host *
	IdentityFile $T/client
	IdentitiesOnly yes
	UserKnownHostsFile $T/known_hosts
	StrictHostKeyChecking yes
	GlobalKnownHostsFile /dev/null
	LogLevel ERROR
	SetEnv SHLVL=1
EOF

for h in A B; do
	"$SSHD" -t -f "$T/sshd-$h.conf" 2>"$T/sshd-$h.check" || { e2e_show "$T/sshd-$h.check"; e2e_fail "sshd -t: bad configuration"; }
	# sshd listens, then detaches itself (its parent becomes the host's
	# init), and the detached one writes its PID as the host sees it.
	in_host "$h" "$SSHD" -f "$T/sshd-$h.conf" -E "$T/sshd-$h.log" || { e2e_show "$T/sshd-$h.log"; e2e_fail "sshd did not start in host $h"; }
	"$TOOLS/waitfor" "$T/sshd-$h.pid" "" 10 >/dev/null || { e2e_show "$T/sshd-$h.log"; e2e_fail "sshd in host $h wrote no PID file within 10 s"; }
	SSHD_PIDS+=("$h $(<"$T/sshd-$h.pid")")
	# Reachable by key, from the other host too.
	out=$(in_host A timeout 20 ssh -F "$T/ssh_config" -o BatchMode=yes "root@${ADDR[$h]}" hostname 2>&1) ||
		{ e2e_show "$T/sshd-$h.log"; e2e_fail "cannot ssh to host $h: $out"; }
	[[ $out == "binmig-${h,,}" ]] || e2e_fail "ssh to host $h reached \"$out\""
done
e2e_log "sshd up in both hosts: ${SSHD_PIDS[*]}"

# ---- 1. the experiment over ssh -------------------------------------------------------
hosts_arg="ssh:root@${ADDR[A]},ssh:root@${ADDR[B]}"
rc=0
in_host A timeout -k 10 150 "$RUN" --binmig "$BINMIG" --hosts "$hosts_arg" --ssh-config "$T/ssh_config" \
	--shared-dir "$T" --out "$T/run" --ref-cache "$T/references.tsv" --workload-seed "$SEED" \
	--workloads hashchain --sizes natural --modes file --warmup 0 --migrations 4 --interval-ms 50 \
	</dev/null >"$T/run.stdout" 2>"$T/run.stderr" || rc=$?
e2e_log "harness run over ssh -> exit $rc"
((rc == 0)) || { e2e_show "$T/run.stderr"; e2e_show "$T/run/logs/hosts.log"; e2e_fail "harness run over ssh exited $rc"; }
csv=$T/run/migrations.csv
[[ $(wc -l <"$csv") == 5 ]] || { e2e_show "$csv"; e2e_fail "expected 4 rows in $csv"; }
awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
	{ if ($col["status"] != "ok" || $col["verified"] != "yes") bad = 1; path = path $col["src_host"] $col["dst_host"] " " }
	END { if (path != "AB BA AB BA ") { print "path: " path; bad = 1 } exit bad }' "$csv" >"$T/check" ||
	{ cat "$T/check" "$csv" >&2; e2e_fail "the rows are not 4 verified migrations A->B->A->B->A"; }
grep -qx "hosts_state=ssh" "$T/run/meta.txt" || e2e_fail "meta.txt: $(grep '^hosts_state=' "$T/run/meta.txt")"
grep -qx "hosts=$hosts_arg" "$T/run/meta.txt" || e2e_fail "meta.txt: $(grep '^hosts=' "$T/run/meta.txt")"
ls "$T"/run/logs/serve-A-*.log "$T"/run/logs/serve-B-*.log >/dev/null 2>&1 || e2e_fail "the daemons' logs are not in the run's logs"
e2e_log "ok: 4 verified migrations between the ssh hosts"

# ---- 2. nothing left ----------------------------------------------------------------------
compgen -G "$T/binmig-harness.*" >/dev/null && e2e_fail "the work directory is left: $(echo "$T"/binmig-harness.*)"
for h in A B; do
	# shellcheck disable=SC2016 # expanded in the host
	left=$(in_host "$h" bash -c 'for f in /proc/[0-9]*/cmdline; do
		[[ $f == /proc/$$/* ]] && continue # this script names what it looks for
		c=$(tr "\0" " " <"$f" 2>/dev/null) || continue
		case $c in *" serve --listen "* | *"--seed $1 "* | "ssh "*) echo "${f%/cmdline}: $c" ;; esac; done' left "$SEED")
	[[ -z $left ]] || e2e_fail "left in host $h: $left"
done
e2e_log "ok: no work directory, daemon, workload or ssh connection left"

# ---- 3. an unreachable host ---------------------------------------------------------------
rc=0
in_host A timeout -k 10 60 "$RUN" --binmig "$BINMIG" --hosts "ssh:root@${ADDR[A]},ssh:root@10.77.0.99" \
	--ssh-config "$T/ssh_config" --shared-dir "$T" --out "$T/bad" --workloads hashchain --sizes natural \
	--migrations 1 </dev/null >"$T/bad.stdout" 2>"$T/bad.stderr" || rc=$?
((rc == 3)) || { e2e_show "$T/bad.stderr"; e2e_fail "an unreachable host: exit $rc, expected 3"; }
grep -q 'cannot ssh to root@10.77.0.99 (host B)' "$T/bad.stderr" || { e2e_show "$T/bad.stderr"; e2e_fail "the refusal does not name the host"; }
e2e_log "ok: an unreachable host is refused, named"
