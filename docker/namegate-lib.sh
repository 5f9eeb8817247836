# Shared by namegate-up and namegate-supervise (sourced, bash).
#
# Events are written the way the daemons write them (common/log.c): one line,
# `ts=<RFC 3339 UTC, ms> level=<lvl> event=<name> key=value ...` (logfmt), or
# the same keys as a JSON object with `[log] format = json`; to stderr and to
# `[log] file`.

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

# ng_conf_key FILE SECTION KEY: the raw value of KEY in [SECTION] of an ini
# file, comments stripped; empty if absent. Only for what must be known
# before the daemons can check the file (they fail on a missing resolv_conf).
ng_conf_key() {
	awk -v want_sec="$2" -v want_key="$3" '
		{ sub(/\r$/, "") }
		/^[ \t]*[;#]/ { next }
		/^[ \t]*\[/ { sec = $0; gsub(/^[ \t]*\[|\][ \t]*$/, "", sec); next }
		sec == want_sec {
			line = $0
			sub(/[ \t]+[;#].*$/, "", line)
			eq = index(line, "=")
			if (eq == 0) next
			k = substr(line, 1, eq - 1); v = substr(line, eq + 1)
			gsub(/^[ \t]+|[ \t]+$/, "", k); gsub(/^[ \t]+|[ \t]+$/, "", v)
			if (k == want_key) val = v
		}
		END { print val }' "$1"
}

# ng_eff KEY: a value from the effective config (namegate-nfq --check-config
# output in $NG_EFFECTIVE), the first of its section that has it.
ng_eff() {
	awk -v k="$1" '
		/^;/ { next }
		{ line = $0; sub(/[ \t]+;.*$/, "", line) }
		index(line, k " = ") == 1 { print substr(line, length(k) + 4); exit }' "$NG_EFFECTIVE"
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
	local stat
	read -r stat 2>/dev/null <"/proc/$1/stat" || return 1
	stat=${stat##*) } # the fields after the command name, which may hold spaces
	set -- $stat
	echo "${20}"
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
