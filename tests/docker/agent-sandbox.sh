# shellcheck shell=bash
# The checks are functions that check() (tests/docker/run) calls by name:
# shellcheck disable=SC2317 # reachable, through check()
# Sourced by tests/docker/run once the namegate image ($IMG) and the lab
# network ($NET) exist: examples/agent-sandbox, the image users build on
# namegate's .deb, and run-agent.sh, the launcher, run the way a user runs
# it (as a non-root user in the docker group, without a terminal) with a
# command, against a fake internet of its own on the lab network:
#
#   $V4.54  unbound: registry.npmjs.org, pypi.org, files.pythonhosted.org,
#           github.com -> $V4.80; registry.evil.test -> $V4.99 (off the list)
#   $V4.80  python3 -m http.server: an npm package document, a PyPI simple
#           index and a wheel, a git repository over (dumb) HTTP
#   $V4.99  the lab's "blocked" listener (tcp/443), never allowed

AGENT_CHECKS="agent.image.build agent.launcher-runs agent.npm-allowed agent.pip-allowed
agent.git-allowed agent.offlist-refused agent.direct-ip-refused agent.worktree-mounted
agent.uid-matches agent.worktree-pruned agent.container-gone agent.worktree-kept
agent.signal-cleanup agent.stale-pruned agent.config-inside-refused agent.rebuild-on-uid-change"

AGENT_UID=1000
AGENT_GID=1000
# git as root on the user's repository (owned by another uid).
rgit() { git -c safe.directory='*' "$@"; }

agent_block() {
	local AIMG=$P-agent AG=$WORK/agent out t rc
	t=$(now_ms)
	if out=$(build "$WORK/agent-tools.log" --target tools -t "$CACHE:agent-tools" "$TOP/examples/agent-sandbox") &&
		out=$(build "$WORK/agent.log" -t "$AIMG" --build-arg NAMEGATE_IMAGE="${IMG:?}" \
			--build-arg HOST_UID=$AGENT_UID --build-arg HOST_GID=$AGENT_GID "$TOP/examples/agent-sandbox"); then
		pass agent.image.build
		note "agent-sandbox image built in $(($(now_ms) - t)) ms; size $(docker image inspect -f '{{.Size}}' "$AIMG" | awk '{ printf "%.1f MB", $1 / 1e6 }')"
	else
		fail agent.image.build "$out"
		for c in $AGENT_CHECKS; do [ "$c" = agent.image.build ] || skip "$c" "no agent image"; done
		return
	fi

	# ------------------------------------------------------------ the fake internet
	# The user's files: $WORK is root's 0700; the user gets a directory in it.
	chmod 0711 "$WORK"
	mkdir -p "$AG/srv/simple/namegate-demo" "$AG/srv/packages" "$AG/srv/namegate" "$AG/home" "$AG/conf"
	cat >"$AG/unbound.conf" <<EOF
server:
	interface: 0.0.0.0
	access-control: 0.0.0.0/0 allow
	do-daemonize: no
	chroot: ""
	username: ""
	use-syslog: no
	logfile: ""
	local-zone: "." refuse
	local-zone: "registry.npmjs.org." static
	local-data: "registry.npmjs.org. 300 IN A $V4.80"
	local-zone: "pypi.org." static
	local-data: "pypi.org. 300 IN A $V4.80"
	local-zone: "files.pythonhosted.org." static
	local-data: "files.pythonhosted.org. 300 IN A $V4.80"
	local-zone: "github.com." static
	local-data: "github.com. 300 IN A $V4.80"
	local-zone: "registry.evil.test." static
	local-data: "registry.evil.test. 300 IN A $V4.99"
remote-control:
	control-enable: no
EOF
	# npm: the package document `npm view` reads.
	cat >"$AG/srv/namegate-demo" <<EOF
{"_id":"namegate-demo","name":"namegate-demo","dist-tags":{"latest":"1.0.0"},
 "versions":{"1.0.0":{"name":"namegate-demo","version":"1.0.0",
  "dist":{"tarball":"http://registry.npmjs.org/namegate-demo/-/namegate-demo-1.0.0.tgz","shasum":"0000000000000000000000000000000000000000"}}},
 "time":{"created":"2026-01-01T00:00:00.000Z","1.0.0":"2026-01-01T00:00:00.000Z","modified":"2026-01-01T00:00:00.000Z"}}
EOF
	# PyPI: a wheel on files.pythonhosted.org, listed by pypi.org's simple index.
	python3 - "$AG/srv/packages/namegate_demo-1.0-py3-none-any.whl" <<'EOF'
import base64, hashlib, sys, zipfile
files = {
    "namegate_demo/__init__.py": b"VERSION = '1.0'\n",
    "namegate_demo-1.0.dist-info/METADATA": b"Metadata-Version: 2.1\nName: namegate-demo\nVersion: 1.0\n",
    "namegate_demo-1.0.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: namegate-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
}
record = ""
for n, b in files.items():
    h = base64.urlsafe_b64encode(hashlib.sha256(b).digest()).rstrip(b"=").decode()
    record += "%s,sha256=%s,%d\n" % (n, h, len(b))
record += "namegate_demo-1.0.dist-info/RECORD,,\n"
with zipfile.ZipFile(sys.argv[1], "w") as z:
    for n, b in files.items():
        z.writestr(n, b)
    z.writestr("namegate_demo-1.0.dist-info/RECORD", record)
EOF
	local sha
	sha=$(sha256sum "$AG/srv/packages/namegate_demo-1.0-py3-none-any.whl" | cut -d' ' -f1)
	echo "<html><body><a href=\"http://files.pythonhosted.org/packages/namegate_demo-1.0-py3-none-any.whl#sha256=$sha\">namegate_demo-1.0-py3-none-any.whl</a></body></html>" \
		>"$AG/srv/simple/namegate-demo/index.html"
	# git: a bare repository served over dumb HTTP.
	git init -q "$AG/src" && echo "hello from the fake github" >"$AG/src/README" &&
		git -C "$AG/src" add README && git -C "$AG/src" -c user.name=t -c user.email=t@t.invalid commit -qm demo &&
		git clone -q --bare "$AG/src" "$AG/srv/namegate/demo.git" &&
		git -C "$AG/srv/namegate/demo.git" update-server-info
	chmod -R a+rX "$AG/srv"

	docker run -d --name "$P-agentdns" --network "$NET" --ip "$V4.54" \
		-v "$AG/unbound.conf:/etc/unbound/agent.conf:ro" "$LABIMG" \
		unbound -d -c /etc/unbound/agent.conf >/dev/null
	docker run -d --name "$P-registry" --network "$NET" --ip "$V4.80" --entrypoint python3 \
		-v "$AG/srv:/srv:ro" "$AIMG" -m http.server 80 --bind 0.0.0.0 --directory /srv >/dev/null

	# ------------------------------------------------------------ the user
	# The example's own list, with the lab's resolver settings.
	# The fake registries are neighbour containers on the sandbox's own
	# network, which namegate refuses unless a line says inward: the same
	# names again with it (the real registries are not inward).
	{
		sed -e "s#^resolv_conf .*#resolv_conf = /run/namegate/resolv.conf.upstream#" \
			"$TOP/examples/agent-sandbox/sandbox.ini"
		for n in registry.npmjs.org pypi.org files.pythonhosted.org github.com; do
			echo "domain = $n tcp/80 tcp/443 inward"
		done
	} >"$AG/conf/sandbox.ini"
	git init -q "$AG/repo" && echo "the user's project" >"$AG/repo/PROJECT" &&
		git -C "$AG/repo" add PROJECT && git -C "$AG/repo" -c user.name=u -c user.email=u@u.invalid commit -qm init
	mkdir -p "$AG/cache"
	chown -R "$AGENT_UID:$AGENT_GID" "$AG/repo" "$AG/home" "$AG/conf" "$AG/cache"
	chmod 0755 "$AG" "$AG/conf"

	local docker_gid
	docker_gid=$(stat -c %g /var/run/docker.sock)
	# as_user UID COMMAND...: as a user in the docker group, in the repository.
	as_user() {
		local uid=$1
		shift
		(cd "$AG/repo" && setpriv --reuid="$uid" --regid="$AGENT_GID" --groups="$docker_gid" \
			--inh-caps=-all -- env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME="$AG/home" \
			AGENT_IMAGE="$AIMG" NAMEGATE_IMAGE="$IMG" NAMEGATE_CONFIG_DIR="$AG/conf" \
			AGENT_CACHE_DIR="$AG/cache" AGENT_DOCKER_ARGS="--network $NET --dns $V4.54" \
			DOCKER_BUILDKIT=0 "$@" </dev/null)
	}
	launcher() { as_user "$AGENT_UID" "$TOP/examples/agent-sandbox/run-agent.sh" "$@"; }

	# ------------------------------------------------------------ one session
	# Every probe prints a marker; the checks below look for them.
	local session
	# shellcheck disable=SC2016 # run in the agent container, expanded there
	session='
		npm view namegate-demo version --registry=http://registry.npmjs.org/ 2>&1 | grep -qx 1.0.0 && echo M-NPM
		pip download -q --no-deps --index-url http://pypi.org/simple/ --trusted-host pypi.org \
			--trusted-host files.pythonhosted.org -d /tmp/pip namegate-demo >/tmp/pip.log 2>&1 &&
			test -f /tmp/pip/namegate_demo-1.0-py3-none-any.whl && echo M-PIP
		git clone -q http://github.com/namegate/demo.git /tmp/demo 2>/tmp/git.log &&
			grep -q "fake github" /tmp/demo/README && echo M-GIT
		! getent hosts registry.evil.test >/dev/null && drill @127.0.0.1 registry.evil.test A | grep -q "rcode: NXDOMAIN" && echo M-OFFLIST-DNS
		timeout 10 npm view namegate-demo version --registry=http://registry.evil.test/ >/dev/null 2>&1 || echo M-OFFLIST-NPM
		t0=$(date +%s%N)
		timeout 3 bash -c "exec 3<>/dev/tcp/$0/443" 2>/dev/null || echo M-DIRECT-$((($(date +%s%N) - t0) / 1000000))
		test "$(pwd)" = /work && test -f /work/PROJECT && git -C /work status --porcelain | wc -l | grep -qx 0 && echo M-WT
		echo M-UID-$(id -u)
		for f in /tmp/pip.log /tmp/git.log; do sed "s#^#$f: #" $f; done
	'
	out=$(launcher sh -c "$session" "$V4.99" 2>&1)
	rc=$?
	if [ "$rc" -eq 0 ] && [[ $out == *M-UID-* ]]; then
		pass agent.launcher-runs
	else
		fail agent.launcher-runs "exit $rc" "$out"
	fi
	agent_marker() { # NAME MARKER: the session printed MARKER
		if [[ $out == *"$2"* ]]; then pass "$1"; else fail "$1" "no $2 in:" "$out"; fi
	}
	agent_marker agent.npm-allowed M-NPM
	agent_marker agent.pip-allowed M-PIP
	agent_marker agent.git-allowed M-GIT
	if [[ $out == *M-OFFLIST-DNS* && $out == *M-OFFLIST-NPM* ]]; then
		pass agent.offlist-refused
	else
		fail agent.offlist-refused "$out"
	fi
	local ms
	ms=$(printf '%s\n' "$out" | sed -n 's/^M-DIRECT-\([0-9]*\)$/\1/p')
	if [ -n "$ms" ] && [ "$ms" -lt 1500 ]; then
		pass agent.direct-ip-refused
	else
		fail agent.direct-ip-refused "not refused at once (${ms:-connected} ms)" "$out"
	fi
	agent_marker agent.worktree-mounted M-WT
	agent_marker agent.uid-matches "M-UID-$AGENT_UID"
	# The session changed nothing: its worktree and branch are gone.
	agent_pruned() {
		local left
		left=$(ls -A "$AG/cache/worktrees" 2>/dev/null)
		[ -z "$left" ] || { echo "left in the cache: $left"; return 1; }
		[ "$(rgit -C "$AG/repo" worktree list | wc -l)" -eq 1 ] || { rgit -C "$AG/repo" worktree list; return 1; }
		! rgit -C "$AG/repo" branch --list 'agent/*' | grep -q . || { rgit -C "$AG/repo" branch --list; return 1; }
	}
	check agent.worktree-pruned agent_pruned
	agent_gone() {
		local left
		left=$(docker ps -a --filter name=^agent- --format '{{.Names}} {{.Image}}' | grep " $AIMG\$")
		[ -z "$left" ] || { echo "still there: $left"; return 1; }
	}
	check agent.container-gone agent_gone

	# A session that leaves work keeps its worktree (and says where).
	agent_kept() {
		local o wt
		o=$(launcher sh -c 'echo work >/work/RESULT' 2>&1) || { echo "exit $?: $o"; return 1; }
		wt=
		for d in "$AG"/cache/worktrees/repo-*; do
			if [ -d "$d" ]; then
				wt=$d
				break
			fi
		done
		if [ -z "$wt" ] || [ ! -f "$wt/RESULT" ]; then
			echo "no worktree with RESULT: $o"
			return 1
		fi
		[ "$(stat -c %u "$wt/RESULT")" = "$AGENT_UID" ] || { echo "RESULT not the user's"; return 1; }
		expect_in "the session's work is in $wt" echo "$o" || return 1
		rgit -C "$AG/repo" worktree remove --force "$wt" && rgit -C "$AG/repo" branch -q -D "agent/${wt##*/repo-}" &&
			rm -f "$wt.lock"
	}
	check agent.worktree-kept agent_kept

	# A signal to the launcher (a supervisor stopping it, a closed terminal)
	# still runs its EXIT trap at once: the container and the unchanged
	# worktree are gone.
	agent_signal() {
		local lpid='' p job
		launcher sh -c 'sleep 61' >"$AG/signal.log" 2>&1 &
		job=$!
		for _ in $(seq 1 150); do
			docker ps --filter name=^agent- --format '{{.Image}}' | grep -qx "$AIMG" && break
			sleep 0.1
		done
		# The launcher's own pid: our run-agent.sh with this command, in the repository.
		for p in /proc/[0-9]*; do
			if [[ $(tr '\0' ' ' 2>/dev/null <"$p/cmdline") == *"/run-agent.sh sh -c sleep 61"* &&
				$(readlink "$p/cwd" 2>/dev/null) == "$AG/repo" ]]; then
				lpid=${p#/proc/}
			fi
		done
		if [ -z "$lpid" ] || ! docker ps --filter name=^agent- --format '{{.Image}}' | grep -qx "$AIMG"; then
			echo "no session running (launcher pid ${lpid:-none})"
			cat "$AG/signal.log"
			return 1
		fi
		kill -TERM "$lpid"
		for _ in $(seq 1 100); do
			kill -0 "$lpid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$lpid" 2>/dev/null; then
			echo "the launcher still runs 10 s after SIGTERM"
			return 1
		fi
		wait "$job"
		agent_gone && agent_pruned
	}
	check agent.signal-cleanup agent_signal

	# A launcher killed outright (SIGKILL: no trap runs) leaves its worktree
	# and lock; the next session removes them when they hold no change, and
	# keeps one that does.
	agent_stale() {
		local stale=$AG/cache/worktrees/repo-19990101-000000-1 dirty=$AG/cache/worktrees/repo-19990101-000000-2 o
		as_user "$AGENT_UID" sh -c "git worktree add -q -b agent/19990101-000000-1 $stale &&
			git worktree add -q -b agent/19990101-000000-2 $dirty && echo x >$dirty/NOTE &&
			: >$stale.lock && : >$dirty.lock" || return 1
		o=$(launcher true 2>&1) || { echo "exit $?: $o"; return 1; }
		if [ -e "$stale" ] || [ -e "$stale.lock" ]; then
			echo "the stale worktree is still there: $o"
			return 1
		fi
		! rgit -C "$AG/repo" rev-parse -q --verify agent/19990101-000000-1 >/dev/null || { echo "its branch is still there"; return 1; }
		[ -f "$dirty/NOTE" ] || { echo "the worktree with a change was removed: $o"; return 1; }
		rgit -C "$AG/repo" worktree remove --force "$dirty" && rgit -C "$AG/repo" branch -q -D agent/19990101-000000-2 &&
			rm -f "$dirty.lock" && agent_pruned
	}
	check agent.stale-pruned agent_stale

	# An allowlist the agent could write through its own mounts is refused,
	# before any container starts.
	agent_conf_inside() {
		local o
		mkdir -p "$AG/repo/namegate" && cp "$AG/conf/sandbox.ini" "$AG/repo/namegate/" &&
			chown -R "$AGENT_UID:$AGENT_GID" "$AG/repo/namegate"
		if o=$(as_user "$AGENT_UID" env NAMEGATE_CONFIG_DIR="$AG/repo/namegate" \
			"$TOP/examples/agent-sandbox/run-agent.sh" true 2>&1); then
			echo "started with the allowlist inside the repository: $o"
			return 1
		fi
		rm -rf "$AG/repo/namegate"
		expect_in "inside $AG/repo" echo "$o" && agent_gone && agent_pruned
	}
	check agent.config-inside-refused agent_conf_inside

	# Another uid: the launcher builds the image again, for it (its own
	# clone of the repository: git refuses a repository of another user).
	agent_rebuild() {
		local o u=$((AGENT_UID + 1))
		cp -a "$AG/repo" "$AG/repo2" && mkdir -p "$AG/home2" "$AG/cache2" &&
			chown -R "$u:$AGENT_GID" "$AG/repo2" "$AG/home2" "$AG/cache2" || return 1
		# shellcheck disable=SC2016 # $(id -u) is the agent container's, not ours
		o=$(as_user "$u" env HOME="$AG/home2" AGENT_REPO="$AG/repo2" AGENT_CACHE_DIR="$AG/cache2" \
			"$TOP/examples/agent-sandbox/run-agent.sh" sh -c 'echo M-UID-$(id -u)' 2>&1) ||
			{ echo "exit $?: $o"; return 1; }
		expect_in "building $AIMG for uid $u" echo "$o" && expect_in "M-UID-$u" echo "$o" &&
			expect_in "$u" docker image inspect -f '{{ index .Config.Labels "org.namegate.host-uid" }}' "$AIMG"
	}
	local first
	first=$(docker image inspect -f '{{.Id}}' "$AIMG")
	check agent.rebuild-on-uid-change agent_rebuild

	docker rm -f "$P-registry" "$P-agentdns" >/dev/null 2>&1
	docker rmi "$AIMG" "$first" >/dev/null 2>&1
}
