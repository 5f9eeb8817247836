# shellcheck shell=bash
# Shared by the image's scripts (sourced, bash): namegate-up,
# namegate-supervise, namegate-kube, namegate-probe, namegate-as-agent.
#
# Events are written the way the daemons write them (common/log.c): one line,
# `ts=<RFC 3339 UTC, ms> level=<lvl> event=<name> key=value ...` (logfmt), or
# the same keys as a JSON object with `[log] format = json`; to stderr and to
# `[log] file`.

# shellcheck disable=SC2034 # NG_CONF, NG_RUN, NG_SUPERVISE_PID: for the scripts that source this
NG_CONF=${NAMEGATE_CONF:-/etc/namegate/sandbox.ini}
NG_RUN=/run/namegate
NG_SUPERVISE_PID=$NG_RUN/supervise.pid
NG_LOG_FILE=/var/log/namegate.log
NG_LOG_FORMAT=text
# Set to 1 to keep events off stderr (the log file still gets them).
NG_NO_STDERR=${NG_NO_STDERR:-0}

ng_now() {
	date -u +%Y-%m-%dT%H:%M:%S.%3NZ
}

# A logfmt value: bare when it is plain, else double-quoted with \ and "
# escaped (as log.c does).
ng_fmt_text() {
	local v=$1
	if [[ -n $v && $v != *[[:space:]\"=\\]* ]]; then
		printf '%s' "$v"
	else
		v=${v//\\/\\\\}
		v=${v//\"/\\\"}
		printf '"%s"' "$v"
	fi
}

ng_fmt_json() {
	local v=$1
	v=${v//\\/\\\\}
	v=${v//\"/\\\"}
	printf '"%s"' "$v"
}

# Which program the lines come from, as the daemons' own lines say.
NG_DAEMON=${NG_DAEMON:-namegate-up}

# ng_log LEVEL EVENT [key=value ...]
ng_log() {
	local level=$1 event=$2 line kv k v
	shift 2
	set -- "daemon=$NG_DAEMON" "$@"
	if [[ $NG_LOG_FORMAT == json ]]; then
		line="{\"ts\":\"$(ng_now)\",\"level\":\"$level\",\"event\":\"$event\""
		for kv in "$@"; do
			k=${kv%%=*} v=${kv#*=}
			if [[ $v =~ ^[0-9]+$ ]]; then
				line+=",\"$k\":$v"
			else
				line+=",\"$k\":$(ng_fmt_json "$v")"
			fi
		done
		line+="}"
	else
		line="ts=$(ng_now) level=$level event=$event"
		for kv in "$@"; do
			k=${kv%%=*} v=${kv#*=}
			line+=" $k=$(ng_fmt_text "$v")"
		done
	fi
	if [[ $NG_NO_STDERR != 1 ]]; then
		printf '%s\n' "$line" >&2 2>/dev/null
	fi
	if [[ -n $NG_LOG_FILE ]]; then
		printf '%s\n' "$line" >>"$NG_LOG_FILE" 2>/dev/null
	fi
	return 0
}

ng_die() {
	ng_log error daemon "msg=$*"
	exit 1
}

# ng_conf_get KEY...: the effective value of each sandbox.ini key of
# $NG_CONF ("section.key", defaults applied) on a line of its own, in order,
# as namegate-nfq --get prints them: the daemons' own parser reads the file,
# never one of ours. resolv_conf is read only for resolver.upstream. A config
# that does not load (or that the agent could change): the daemon's
# "file:line: message" on stderr, and its exit status (2).
ng_conf_get() {
	local err rc
	namegate-nfq -c "$NG_CONF" "${@/#/--get=}" 2>/dev/null && return 0
	# The same again for its message: stdout is what the caller reads.
	err=$(namegate-nfq -c "$NG_CONF" "${@/#/--get=}" 2>&1 >/dev/null)
	rc=$?
	printf '%s: %s\n' "$NG_DAEMON" "${err:-namegate-nfq --get failed}" >&2
	return $((rc ? rc : 2))
}

# Milliseconds since the epoch, without a fork.
ng_now_ms() {
	local us=${EPOCHREALTIME//[!0-9]/} # seconds and microseconds, whatever the locale's point
	echo $((10#$us / 1000))
}

# ng_has_caps BIT...: is each of these capabilities (linux/capability.h
# numbers) in this process's effective set (CapEff of /proc/self/status)?
ng_has_caps() {
	local k v b
	while read -r k v; do
		[[ $k == CapEff: ]] && break
	done </proc/self/status
	[[ $k == CapEff: && $v =~ ^[0-9a-f]+$ ]] || return 1
	for b in "$@"; do
		(((16#$v >> b) & 1)) || return 1
	done
}

# Milliseconds since this container's PID 1 started (10 ms resolution).
ng_ms_since_start() {
	local up start hz
	read -r up _ </proc/uptime
	start=$(awk '{ print $22 }' /proc/1/stat)
	hz=$(getconf CLK_TCK)
	awk -v up="$up" -v s="$start" -v hz="$hz" 'BEGIN { printf "%d\n", up * 1000 - s * 1000 / hz }'
}

# A process's start time (clock ticks since boot), from /proc/PID/stat; with
# the pid it names one process for good, where a pid alone is reused (a
# restarted container counts its pids from 1 again).
ng_starttime() {
	local stat f
	read -r stat 2>/dev/null <"/proc/$1/stat" || return 1
	stat=${stat##*) } # the fields after the command name, which may hold spaces
	read -ra f <<<"$stat"
	echo "${f[19]}"
}

# ng_supervisor_pid: the running supervisor's pid, or nothing. Builtins only:
# a program run here could itself get the pid being checked.
ng_supervisor_pid() {
	local pid start comm
	[[ -r $NG_SUPERVISE_PID ]] || return 1
	read -r pid start <"$NG_SUPERVISE_PID" || return 1
	[[ $pid =~ ^[0-9]+$ && -n $start ]] || return 1
	read -r comm 2>/dev/null <"/proc/$pid/comm" || return 1
	[[ $comm == namegate-superv* ]] || return 1
	[[ $(ng_starttime "$pid") == "$start" ]] || return 1
	echo "$pid"
}
