# harness run (harness/run): the two hosts: setting them up, entering
# them, starting a workload in one.  Sourced by the driver, whose
# variables and helpers it uses.
#

# The hosts are A and B: the emulated pair of harness/hosts (--hosts
# emulated), or two machines reached over ssh (--hosts
# ssh:USER@HOST1,ssh:USER@HOST2, harness/lib/remote.bash).  ADDR holds the
# address each host's daemons listen on and the other migrates to.
# shellcheck shell=bash

# ADDR is declared by the driver before --hosts is parsed (remote.bash fills it for ssh hosts).
in_host() { # HOST CMD...: runs CMD inside the host
	local h=$1
	shift
	if [[ $HOSTS_KIND == ssh ]]; then
		ssh_exec "$h" "$@"
	else
		"$HOSTS_CMD" exec "$h" -- "$@"
	fi
}

# The hosts, each with a binmig serve of the (base) build on --port, and
# in an A/B run one of the new build on --port-new.
setup_hosts() {
	if [[ $HOSTS_KIND == ssh ]]; then
		setup_ssh_hosts
	else
		setup_emulated_hosts
	fi
	if [[ -n $BINMIG_NEW ]]; then
		local h
		for h in A B; do serve_start "$h" "$HOST_BINMIG_NEW" "${OPT[port-new]}"; done
	fi
	echo "hosts ($HOSTS_STATE): A=${ADDR[A]} B=${ADDR[B]} port ${OPT[port]}${BINMIG_NEW:+, new build on ${OPT[port-new]}}" \
		>>"$OUT/logs/hosts.log"
}

setup_emulated_hosts() {
	local rc=0 status h line
	status=$("$HOSTS_CMD" status 2>&1) || rc=$?
	KEY=${OPT[key]}
	case $rc in
	3)
		if [[ -z $KEY ]]; then
			KEY=$WORK/key
			"$BINMIG" keygen "$KEY" >/dev/null || die "binmig keygen failed"
		fi
		[[ -r $KEY ]] || die "--key $KEY: cannot read it"
		HOSTS_BROUGHT_UP=1
		"$HOSTS_CMD" up --serve "$BINMIG" --key "$KEY" --port "${OPT[port]}" "${SERVE_SEAL_ARGS[@]}" \
			>>"$OUT/logs/hosts.log" 2>&1 ||
			die "harness/hosts up failed: $(tail -n 3 "$OUT/logs/hosts.log" | tr '\n' ' ')"
		status=$("$HOSTS_CMD" status 2>&1) || die "the hosts are not up after harness/hosts up: $status"
		HOSTS_STATE=started
		;;
	0)
		[[ -n $KEY ]] || die "the emulated hosts are up already (not started by this run): pass --key with" \
			"the key their binmig serve uses, or bring them down (harness/hosts down)"
		[[ -r $KEY ]] || die "--key $KEY: cannot read it"
		HOSTS_STATE=existing
		;;
	*) die "the emulated hosts are half up; harness/hosts down removes them. Status: $(one_line "$status")" ;;
	esac
	for h in A B; do
		line=$(grep "^host $h: up" <<<"$status") || die "host $h is not up: $(one_line "$status")"
		[[ $line =~ \ ([0-9]+\.[0-9]+\.[0-9]+\.[0-9]+)/[0-9]+ ]] || die "no address for host $h in: $line"
		ADDR[$h]=${BASH_REMATCH[1]}
		[[ $line == *" serve "[0-9]* ]] || die "host $h runs no binmig serve (bring the hosts down, or up with --serve)"
	done
}

# Everything the run brought up or started, in reverse (from cleanup).
teardown_hosts() {
	serve_stop_all
	if [[ -n $HOSTS_BROUGHT_UP ]]; then
		"$HOSTS_CMD" down >>"$OUT/logs/hosts.log" 2>&1 ||
			say "harness/hosts down failed (see $OUT/logs/hosts.log and $HOSTS_CMD status)"
	fi
	[[ $HOSTS_KIND == ssh ]] && ssh_close
	return 0
}

# A PID for the next workload that neither host will hand out while it
# runs: above what both hosts have handed out so far, with a gap larger
# than the helper processes and serve workers a run creates in a host.
PID_MAX=$(cat /proc/sys/kernel/pid_max)
PID_GAP=$((4 * MOVES_PER_RUN + 200))
next_workload_pid() {
	local a b top
	a=$(in_host A cat /proc/sys/kernel/ns_last_pid) || return 1
	b=$(in_host B cat /proc/sys/kernel/ns_last_pid) || return 1
	top=$((a > b ? a : b))
	if ((top + 2 * PID_GAP + 100 >= PID_MAX)); then
		# Near the end of the PID space: start low again, above the
		# hosts' init and serve, where nothing lives any more.
		top=300
	fi
	echo $((top + PID_GAP))
}

# spawn_in_host HOST PID OUT ERR CMD...: starts CMD inside HOST as PID
# (ns_last_pid is set just before the fork; retried if something took it
# first), detached (its parent is the host's init), with stdin /dev/null,
# stdout OUT, stderr ERR and no other descriptors.  Prints the PID.
spawn_in_host() {
	local h=$1 want=$2 out=$3 err=$4 pid
	shift 4
	for _ in 1 2 3 4 5; do
		# shellcheck disable=SC2016 # expanded in the host
		pid=$(in_host "$h" bash -c '
			for fd in /proc/$$/fd/*; do
				fd=${fd##*/}
				((fd > 2)) && { eval "exec $fd>&-"; } 2>/dev/null
			done
			out=$1 err=$2 want=$3
			shift 3
			echo $((want - 1)) >/proc/sys/kernel/ns_last_pid
			"$@" </dev/null >"$out" 2>"$err" &
			echo $!' harness-spawn "$out" "$err" "$want" "$@") || return 1
		is_uint "$pid" || return 1
		if ((pid == want)); then
			echo "$pid"
			return 0
		fi
		in_host "$h" kill -KILL "$pid" 2>/dev/null
		in_host "$h" "$HOST_TOOLS/pidwait" --reaped "$pid" 10 >/dev/null 2>&1
		want=$((want + 50))
	done
	return 1
}

# The workload's /proc/PID/cmdline in HOST (NULs as spaces), empty if none
# or a zombie.
host_cmdline() {
	local h=$1 pid=$2
	# shellcheck disable=SC2016 # expanded in the host
	in_host "$h" bash -c 's=$(</proc/$1/stat) || exit 1
		s=${s##*) }
		[[ $s != [ZX]* ]] || exit 1
		tr "\0" " " </proc/$1/cmdline' host-cmdline "$pid" 2>/dev/null
}
# The current workload still lives in HOST.
workload_in() {
	local line
	line=$(host_cmdline "$1" "$CUR_PID") || return 1
	[[ $line == "$CUR_CMDLINE" ]]
}

kill_workload() { # the current workload, wherever it is, by PID (checked by its command line)
	local h
	[[ -n $CUR_PID ]] || return 0
	for h in "$CUR_HOST" A B; do
		if workload_in "$h"; then
			in_host "$h" kill -KILL "$CUR_PID" 2>/dev/null
			in_host "$h" "$HOST_TOOLS/pidwait" "$CUR_PID" 10 >/dev/null 2>&1
		fi
	done
	CUR_PID=
}
