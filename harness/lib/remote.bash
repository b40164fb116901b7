# harness run (harness/run): two real machines over ssh (--hosts
# ssh:USER@HOST1,ssh:USER@HOST2).  Sourced by the driver.
#
# What it takes of them: ssh by key without a password (BatchMode), as a
# user who may ptrace any process (root); the same kernel and CPU, as
# binmig needs; and a directory both hosts and the driver see at the same
# path (--shared-dir, as a cluster's NFS), because a migrated process
# finds its files at the same path on the other host.  The run's work
# directory is made there: binmig, the driver's tools and the workloads
# are copied into it, with the key, the workloads' output and the CLR
# workloads' files.  Mono must be installed on both hosts for CLR
# workloads.  One ssh connection per host is opened at the start and
# reused (ControlMaster), so that entering a host costs a round trip, not
# a handshake.
# shellcheck shell=bash

declare -A SSH_TARGET=()
SSH_CONTROL=
SSH_OPTS=()

# parse_ssh_hosts LIST: "ssh:USER@HOST1,ssh:USER@HOST2" into SSH_TARGET
# and ADDR (HOST: the address the other host migrates to).
parse_ssh_hosts() {
	local -a items
	mapfile -t items < <(split_list "$1")
	((${#items[@]} == 2)) || usage_error "--hosts $1: two ssh:USER@HOST, separated by a comma"
	local i h target
	for i in 0 1; do
		h=$([[ $i == 0 ]] && echo A || echo B)
		target=${items[i]#ssh:}
		[[ ${items[i]} == ssh:* && $target =~ ^([A-Za-z0-9._-]+@)?([A-Za-z0-9.:_-]+)$ ]] ||
			usage_error "--hosts: ${items[i]} is not ssh:USER@HOST"
		SSH_TARGET[$h]=$target
		ADDR[$h]=${BASH_REMATCH[2]}
	done
	[[ ${ADDR[A]} != "${ADDR[B]}" ]] || usage_error "--hosts: both are ${ADDR[A]}; a migration needs two hosts"
}

# ssh_exec HOST CMD...: CMD on HOST, in the driver's working directory,
# with the environment variables binmig and its sanitizers read.
ssh_exec() {
	local h=$1
	shift
	local -a env=()
	local v
	for v in ASAN_OPTIONS UBSAN_OPTIONS $(compgen -e BINMIG_); do env+=("$v=${!v}"); done
	local cmd
	cmd="cd $(printf '%q' "$PWD") 2>/dev/null; exec env $(printf '%q ' "${env[@]}" "$@")"
	ssh "${SSH_OPTS[@]}" "${SSH_TARGET[$h]}" -- "$cmd"
}

setup_ssh_hosts() {
	local h
	SSH_CONTROL=$(mktemp -d /tmp/binmig-ssh.XXXXXX) || die "cannot create a directory for the ssh connections"
	# ssh takes the first value given for an option: ControlMaster is
	# not among these, so that the master connection can say yes and
	# every other no (SSH_OPTS, for ssh_exec).
	local -a common=(-o BatchMode=yes -o ConnectTimeout=10 -o ServerAliveInterval=10 -o "ControlPath=$SSH_CONTROL/%C")
	[[ -z ${OPT[ssh-config]} ]] || common=(-F "${OPT[ssh-config]}" "${common[@]}")
	SSH_OPTS=("${common[@]}" -o ControlMaster=no)
	for h in A B; do
		# The one connection to the host, kept in the background.
		ssh "${common[@]}" -o ControlMaster=yes -o ControlPersist=yes -f -N "${SSH_TARGET[$h]}" \
			</dev/null >/dev/null 2>>"$OUT/logs/hosts.log" ||
			die "cannot ssh to ${SSH_TARGET[$h]} (host $h): $(one_line "$(tail -n 2 "$OUT/logs/hosts.log")")"
	done
	# Both hosts must see the work directory, at the same path.
	local token
	token=$(od -An -N8 -tx8 /dev/urandom | tr -d ' ')
	echo "$token" >"$WORK/shared-check"
	for h in A B; do
		[[ $(in_host "$h" cat "$WORK/shared-check" 2>/dev/null) == "$token" ]] ||
			die "host $h (${SSH_TARGET[$h]}) does not see $WORK: --shared-dir must name a directory both hosts" \
				"and this machine share at the same path (binmig finds a process's files at the same path on the other host)"
		# shellcheck disable=SC2016 # expanded on the host
		in_host "$h" sh -c '[ "$(id -u)" = 0 ]' ||
			die "${SSH_TARGET[$h]} is not root there (binmig needs ptrace of any process)"
	done
	copy_tree
	KEY=$WORK/key
	if [[ -n ${OPT[key]} ]]; then
		install -m 0600 "${OPT[key]}" "$KEY" || die "cannot copy --key ${OPT[key]} to $KEY"
	else
		"$BINMIG" keygen "$KEY" >/dev/null || die "binmig keygen failed"
	fi
	for h in A B; do
		if [[ -n $NEEDS_MONO ]]; then
			in_host "$h" sh -c 'command -v mono' >/dev/null || die "mono is missing on host $h (${SSH_TARGET[$h]})"
		fi
		serve_start "$h" "$HOST_BINMIG" "${OPT[port]}"
	done
	HOSTS_STATE=ssh
}

# binmig (both builds in an A/B run), the tools and the workloads into the
# shared work directory, where both hosts run them from.
copy_tree() {
	local tree=$WORK/tree
	mkdir -p "$tree/tools" "$tree/workloads" || die "cannot create $tree"
	cp "$BINMIG" "$tree/binmig" || die "cannot copy $BINMIG to $tree"
	[[ -z $BINMIG_NEW ]] || cp "$BINMIG_NEW" "$tree/binmig-new" || die "cannot copy $BINMIG_NEW to $tree"
	cp "$TOOLS/waitfor" "$TOOLS/pidwait" "$tree/tools/" || die "cannot copy the tools to $tree"
	cp -r "$WORKLOADS/build" "$tree/workloads/" || die "cannot copy the workloads to $tree"
	HOST_BINMIG=$tree/binmig
	HOST_BINMIG_NEW=$tree/binmig-new
	HOST_TOOLS=$tree/tools
	HOST_WORKLOADS=$tree/workloads
}

ssh_close() {
	local h
	[[ -n $SSH_CONTROL ]] || return 0
	for h in A B; do
		ssh "${SSH_OPTS[@]}" -O exit "${SSH_TARGET[$h]}" >/dev/null 2>&1
	done
	rm -rf "$SSH_CONTROL"
	SSH_CONTROL=
}
