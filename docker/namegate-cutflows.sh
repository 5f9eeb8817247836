# shellcheck shell=bash
# Sourced by namegate-up (bash): cut what was open before the rules were in.
#
# The rules accept every packet of a flow conntrack already knows
# (ESTABLISHED), so a connection the agent opened before namegate-up would
# keep sending. Right after `namegate-nfq --setup`, ng_cut_flows therefore
#   1. closes every TCP socket (any state but LISTEN and TIME-WAIT) and every
#      connected UDP socket of this namespace whose flow the rules would not
#      let start now (ss -K: the peer gets a reset, the program an error),
#      and aborts every unconnected UDP socket of the agent's not bound to
#      loopback: one the kernel bound on its first sendto loses its port,
#      so its next datagram is a new flow from a new port;
#   2. deletes every conntrack entry that this container originated (from
#      one of its own non-loopback addresses), so that the next packet of
#      any old flow, an unconnected UDP socket's included, is a new flow and
#      meets the rules; flows the rules allow go on as new ones;
#   3. looks again, and fails (namegate-up exits 1, no ready) if a socket or
#      an entry the rules would not allow is left.
#
# "Would the rules let it start now" follows nfq/rules.c: a flow to or from
# a DNS port is the resolver's to an upstream, root's when Docker's embedded
# DNS is an upstream, or a client's to a listen address; any other flow over
# loopback is allowed; the rest must be in the sets (a `network =` line, or
# an address the resolver handed out, which at the first start is none).

# The IPs of this namespace's interfaces, loopback included.
ng_local_ips() {
	ip -o addr show 2>/dev/null | awk '{ a = $4; sub(/\/.*/, "", a); print a }'
}

# ADDR:PORT as ss prints it -> "IP PORT"; [v6]:p and [::ffff:v4]:p too,
# without a %interface.
ng_split_addr() {
	local a=$1 ip port
	port=${a##*:}
	ip=${a%:*}
	ip=${ip#\[}
	ip=${ip%\]}
	ip=${ip%%\%*}
	ip=${ip#::ffff:}
	echo "$ip $port"
}

ng_is_loopback() {
	[[ $1 == 127.* || $1 == ::1 ]]
}

# ng_flow_allowed PROTO PEER_IP PEER_PORT LOCAL_IP LOCAL_PORT UID
# UID is "?" for a conntrack entry, which has no owner: then a DNS flow to
# an upstream counts as the resolver's (it is asked again as a new flow, and
# the rules decide by owner).
ng_flow_allowed() {
	local proto=$1 pip=$2 pport=$3 lip=$4 lport=$5 uid=$6 a ip v6=
	[[ $pip == *:* ]] && v6=6
	if [[ " $NG_CUT_DNS_PORTS " == *" $pport "* || " $NG_CUT_DNS_PORTS " == *" $lport "* ]]; then
		for a in $NG_CUT_LISTEN; do
			ip=$(listen_ip "$a")
			[[ $ip == "$pip" && $(listen_port "$a") == "$pport" ]] && return 0
			[[ $ip == "$lip" && $(listen_port "$a") == "$lport" ]] && ng_is_loopback "$pip" && return 0
		done
		if [[ $uid == "$NG_CUT_RUID" || $uid == "?" ]]; then
			for a in $NG_CUT_UPSTREAMS; do
				[[ $(listen_ip "$a") == "$pip" && $(listen_port "$a") == "$pport" ]] && return 0
			done
		fi
		if ((NG_CUT_DOCKER_DNS)) && [[ $uid == 0 || $uid == "?" ]] && ! ng_is_loopback "$pip" &&
			[[ " $NG_CUT_LOCAL " != *" $pip "* ]]; then
			return 0
		fi
		return 1
	fi
	ng_is_loopback "$pip" && return 0
	[[ " $NG_CUT_LOCAL " == *" $pip "* ]] && return 0
	[[ $proto == tcp || $proto == udp ]] || return 1
	if [[ -n $v6 ]]; then
		ipset -q test namegate6 "$pip,$proto:$pport" || ipset -q test namegate-net6 "$pip,$proto:$pport"
	else
		ipset -q test namegate4 "$pip,$proto:$pport" || ipset -q test namegate-net4 "$pip,$proto:$pport"
	fi
}

# Lines "proto state local peer uid inode" of the TCP sockets and connected
# UDP sockets that may carry data, and (peer "*") the unconnected UDP
# sockets not bound to loopback.
ng_open_sockets() {
	ss -H -n -e -a -t -u 2>/dev/null | awk '
		$2 == "LISTEN" || $2 == "TIME-WAIT" { next }
		$1 == "udp" && $2 == "UNCONN" {
			if ($5 ~ /^(127\.|\[::1\]:)/) next
			$6 = "*"
		}
		$1 == "tcp" && $2 == "UNCONN" { next }
		$6 ~ /.:\*$/ { next }
		{
			uid = 0; ino = 0
			for (i = 7; i <= NF; i++) {
				if ($i ~ /^uid:/) uid = substr($i, 5)
				if ($i ~ /^ino:/) ino = substr($i, 5)
			}
			print $1, $2, $5, $6, uid, ino
		}'
}

# Prints "proto local peer uid inode" of each open socket the rules would
# not allow.
ng_denied_sockets() {
	local proto laddr peer uid ino lip lport pip pport
	while read -r proto _ laddr peer uid ino; do
		read -r lip lport < <(ng_split_addr "$laddr")
		if [[ $peer == "*" ]]; then
			# unconnected: root's and the resolver's are ours
			[[ $uid == 0 || $uid == "$NG_CUT_RUID" ]] || echo "$proto $laddr $peer $uid $ino"
			continue
		fi
		read -r pip pport < <(ng_split_addr "$peer")
		ng_flow_allowed "$proto" "$pip" "$pport" "$lip" "$lport" "$uid" ||
			echo "$proto $laddr $peer $uid $ino"
	done < <(ng_open_sockets)
}

# Prints "family proto dst dport" of each conntrack entry this container
# originated that the rules would not allow; fails if conntrack cannot be
# read.
ng_denied_conntrack() {
	local fam ip out proto dst dport
	for fam in ipv4 ipv6; do
		for ip in $NG_CUT_LOCAL; do
			ng_is_loopback "$ip" && continue
			[[ $fam == ipv6 && $ip != *:* || $fam == ipv4 && $ip == *:* ]] && continue
			out=$(conntrack -L -f "$fam" -s "$ip" 2>/dev/null) || return 1
			while read -r proto dst dport; do
				[[ -n $proto ]] || continue
				ng_flow_allowed "$proto" "$dst" "$dport" "$ip" "" "?" ||
					echo "$fam $proto $dst ${dport:--}"
			done < <(awk '{
				d = ""; p = ""
				for (i = 2; i <= NF; i++) {
					if (d == "" && $i ~ /^dst=/) d = substr($i, 5)
					if (p == "" && $i ~ /^dport=/) p = substr($i, 7)
				}
				print $1, d, p }' <<<"$out")
		done
	done
}

# ng_cut_flows RESOLVER_UID "LISTEN..." "UPSTREAMS..."
ng_cut_flows() {
	local proto laddr peer uid ino lip lport pip pport a left denied
	NG_CUT_RUID=$1
	NG_CUT_LISTEN=$2
	NG_CUT_UPSTREAMS=$3
	NG_CUT_LOCAL=" $(ng_local_ips | tr '\n' ' ') "
	NG_CUT_DNS_PORTS="53 853"
	NG_CUT_DOCKER_DNS=0
	for a in $NG_CUT_LISTEN $NG_CUT_UPSTREAMS; do
		NG_CUT_DNS_PORTS+=" $(listen_port "$a")"
	done
	for a in $NG_CUT_UPSTREAMS; do
		[[ $(listen_ip "$a") == 127.0.0.11 ]] && NG_CUT_DOCKER_DNS=1
	done
	if ! command -v ss >/dev/null || ! command -v conntrack >/dev/null; then
		ng_die "cannot cut the flows opened before namegate-up: ss (iproute2) or conntrack missing"
	fi

	# Taken after --setup: every socket opened before the rules is on it;
	# one opened since met the rules with its first packet.
	denied=$(ng_denied_sockets)
	while read -r proto laddr peer uid ino; do
		[[ -n $proto ]] || continue
		read -r lip lport < <(ng_split_addr "$laddr")
		if [[ $peer == "*" ]]; then
			ss -K -a -H -n --udp "src $laddr" >/dev/null 2>&1
			ng_log warn flow.cut proto=udp "src=$lip" "sport=$lport" "uid=$uid" \
				"msg=unconnected UDP socket from before namegate-up: aborted"
			continue
		fi
		ss -K -H -n "--$proto" "src $laddr and dst $peer" >/dev/null 2>&1
		read -r pip pport < <(ng_split_addr "$peer")
		ng_log warn flow.cut "proto=$proto" "src=$lip" "sport=$lport" "dst=$pip" "dport=$pport" \
			"uid=$uid" "msg=opened before namegate-up, not allowed: closed"
	done <<<"$denied"
	for a in $NG_CUT_LOCAL; do
		ng_is_loopback "$a" && continue
		if [[ $a == *:* ]]; then
			conntrack -D -f ipv6 -s "$a" >/dev/null 2>&1
		else
			conntrack -D -f ipv4 -s "$a" >/dev/null 2>&1
		fi
	done

	# Whatever is still open of those could not be closed. (An unconnected
	# UDP socket that was bound explicitly stays bound: not a flow.)
	left=
	while read -r proto _ laddr peer uid ino; do
		[[ $peer != "*" && $ino != 0 && $'\n'$denied$'\n' == *" $ino"$'\n'* ]] && left+="$proto $laddr $peer uid $uid; "
	done < <(ng_open_sockets)
	[[ -z $left ]] ||
		ng_die "cannot close connections opened before namegate-up (kernel without CONFIG_INET_DIAG_DESTROY?): $left"
	left=$(ng_denied_conntrack) ||
		ng_die "cannot read conntrack (nf_conntrack_netlink) to forget the flows opened before namegate-up"
	[[ -z $left ]] ||
		ng_die "conntrack still holds flows opened before namegate-up: $(tr '\n' ';' <<<"$left")"
}
