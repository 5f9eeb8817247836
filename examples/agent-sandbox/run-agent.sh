#!/bin/bash
# run-agent.sh [CMD...]: one agent session in a fresh sandbox container.
#
# Run it from inside a git repository (or set AGENT_REPO). It
#   1. builds the image (this directory's Dockerfile) for your uid/gid, and
#      builds it again when they no longer match the image's (a new machine,
#      another user);
#   2. makes a git worktree for this session under the cache directory, on a
#      new branch agent/<session>, from the current HEAD;
#   3. starts a fresh container (--rm) with only the capabilities namegate
#      needs, the worktree at /work, and the allowlist directory mounted
#      read-only at /etc/namegate; the agent runs CMD there (default: a shell);
#   4. on exit (the command's, a signal's, a failure's) removes the container
#      if it is still there, and removes the worktree and its branch if the
#      session changed nothing (no commit, no modified or untracked file);
#      else it says where the work is. Unchanged worktrees of sessions whose
#      launcher was killed outright are removed by the next session.
# The exit status is the command's.
#
# Environment:
#   AGENT_REPO           the repository (default: the one around $PWD)
#   AGENT_IMAGE          image name (default: agent-sandbox)
#   NAMEGATE_IMAGE       the namegate image to take namegate from (default: namegate)
#   NAMEGATE_CONFIG_DIR  the allowlist directory (default: ~/.config/namegate-agent);
#                        made from the image's default list if missing. It must lie
#                        outside the repository: the agent must never be able to
#                        write it through its own mounts.
#   AGENT_CACHE_DIR      where the worktrees go (default: ~/.cache/agent-sandbox)
#   AGENT_DOCKER_ARGS    more `docker run` arguments, split on blanks
#                        (e.g. "--network mynet", "-e ANTHROPIC_API_KEY")
#   AGENT_REBUILD=1      build the image even when it matches
set -u

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
IMAGE=${AGENT_IMAGE:-agent-sandbox}
NG_IMAGE=${NAMEGATE_IMAGE:-namegate}
CONF_DIR=${NAMEGATE_CONFIG_DIR:-${XDG_CONFIG_HOME:-$HOME/.config}/namegate-agent}
CACHE=${AGENT_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/agent-sandbox}

die() {
	echo "run-agent: $*" >&2
	exit 1
}

command -v docker >/dev/null || die "docker is not installed"
HOST_UID=$(id -u)
HOST_GID=$(id -g)
[[ $HOST_UID != 0 ]] || die "run it as your own user, not root: the agent gets your uid, and must not be root"

TOP=$(git -C "${AGENT_REPO:-$PWD}" rev-parse --show-toplevel 2>/dev/null) ||
	die "${AGENT_REPO:-$PWD} is not in a git repository (cd into one, or set AGENT_REPO)"
GIT_COMMON=$(git -C "$TOP" rev-parse --path-format=absolute --git-common-dir) || die "no git directory for $TOP"
git -C "$TOP" rev-parse -q --verify HEAD >/dev/null || die "$TOP has no commit yet to start a worktree from"

# ---------------------------------------------------------------- the allowlist

mkdir -p "$CACHE/worktrees" || die "cannot create $CACHE"
CACHE=$(realpath "$CACHE")
# Inside the repository, its git directory or the worktrees the agent
# writes to, the agent could rewrite its own allowlist. Refused.
inside() { # PATH DIR: is PATH DIR or below it?
	[[ $1/ == "$2"/* ]]
}
conf_real=$(realpath -m "$CONF_DIR")
for d in "$TOP" "$GIT_COMMON" "$CACHE"; do
	if inside "$conf_real" "$d"; then
		die "the allowlist directory $conf_real is inside $d, which the agent can write to; keep it outside (NAMEGATE_CONFIG_DIR)"
	fi
done

# ---------------------------------------------------------------- the image

# Built for this uid/gid (labels), again when they differ.
label() {
	docker image inspect -f "{{ index .Config.Labels \"$1\" }}" "$IMAGE" 2>/dev/null
}
if [[ ${AGENT_REBUILD:-0} == 1 || $(label org.namegate.host-uid) != "$HOST_UID" ||
	$(label org.namegate.host-gid) != "$HOST_GID" ]]; then
	echo "run-agent: building $IMAGE for uid $HOST_UID gid $HOST_GID" >&2
	docker build -q -t "$IMAGE" --build-arg NAMEGATE_IMAGE="$NG_IMAGE" \
		--build-arg HOST_UID="$HOST_UID" --build-arg HOST_GID="$HOST_GID" "$HERE" >/dev/null ||
		die "docker build of $IMAGE failed"
fi

if [[ ! -e $CONF_DIR/sandbox.ini ]]; then
	mkdir -p "$CONF_DIR" || die "cannot create $CONF_DIR"
	if ! docker run --rm --entrypoint cat "$IMAGE" /etc/namegate/sandbox.ini >"$CONF_DIR/sandbox.ini.tmp" ||
		! mv "$CONF_DIR/sandbox.ini.tmp" "$CONF_DIR/sandbox.ini"; then
		die "cannot write the default allowlist to $CONF_DIR"
	fi
	echo "run-agent: the allowlist is $CONF_DIR/sandbox.ini (edits apply within 2 s)" >&2
fi

# ---------------------------------------------------------------- the session

SESSION=$(date +%Y%m%d-%H%M%S)-$$
NAME=agent-$SESSION
BRANCH=agent/$SESSION
WT=$CACHE/worktrees/$(basename "$TOP")-$SESSION
BASE=$(git -C "$TOP" rev-parse HEAD)
CONTAINER_STARTED=0
WT_MADE=0

cleanup() {
	local st=$?
	trap - EXIT HUP INT TERM
	if ((CONTAINER_STARTED)); then
		# --rm removes it when it exits; this is for the client killed first.
		docker rm -f "$NAME" >/dev/null 2>&1
	fi
	if ((WT_MADE)); then
		if [[ -z $(git -C "$WT" status --porcelain 2>/dev/null) &&
			$(git -C "$WT" rev-parse HEAD 2>/dev/null) == "$BASE" ]]; then
			if git -C "$TOP" worktree remove --force "$WT" &&
				git -C "$TOP" branch -q -D "$BRANCH"; then
				rm -f "$WT.lock"
			else
				echo "run-agent: could not remove the worktree $WT" >&2
			fi
		else
			echo "run-agent: the session's work is in $WT (branch $BRANCH)" >&2
		fi
	elif [[ -n ${WT:-} ]]; then
		rm -f "$WT.lock"
	fi
	git -C "$TOP" worktree prune 2>/dev/null
	exit "$st"
}
trap cleanup EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

# Every live session holds a lock on its worktree's .lock file.
exec 8>"$WT.lock" || die "cannot open $WT.lock"
flock -n 8 || die "cannot lock $WT.lock"
git -C "$TOP" worktree add -q -b "$BRANCH" "$WT" "$BASE" || die "git worktree add $WT failed"
WT_MADE=1

# Sessions of this repository whose launcher was killed (SIGKILL, a crash)
# before its EXIT trap ran: no lock held, so no launcher; removed when they
# changed nothing (clean, and their branch never moved since it was made).
for old in "$CACHE/worktrees/$(basename "$TOP")"-*.lock; do
	owt=${old%.lock}
	[[ -e $old && $owt != "$WT" ]] || continue
	# shellcheck disable=SC2094 # the lock is on fd 9, open on $old: removing the name while holding it is the point
	(
		flock -n 9 || exit 0
		# A worktree removed by hand: its branch is yours, only the lock goes.
		if [[ -d $owt ]]; then
			obranch=agent/${owt##*/"$(basename "$TOP")"-}
			[[ -z $(git -C "$owt" status --porcelain 2>/dev/null) &&
				$(git -C "$TOP" reflog show --format=%H "refs/heads/$obranch" -- 2>/dev/null | wc -l) == 1 ]] || exit 0
			git -C "$TOP" worktree remove --force "$owt" || exit 0
			git -C "$TOP" branch -q -D "$obranch" || exit 0
			echo "run-agent: removed $owt, left unchanged by a session that did not clean up" >&2
		fi
		rm -f "$old"
	) 9<"$old"
done

# A terminal only when there is one: `docker run -t` without one fails.
tty=()
if [[ -t 0 && -t 1 ]]; then
	tty=(-t)
fi
# The worktree's .git names the repository's git directory by its host path:
# mount it there. Its hooks and config stay read-only, so the agent cannot
# plant something that runs on the host at your next git command.
mkdir -p "$GIT_COMMON/hooks"
extra=()
read -r -a extra <<<"${AGENT_DOCKER_ARGS:-}"

run=(docker run --rm -i "${tty[@]}" --name "$NAME" --hostname agent
	--cap-drop ALL --cap-add NET_ADMIN --cap-add NET_RAW --cap-add SETUID --cap-add SETGID
	--security-opt no-new-privileges
	-v "$CONF_DIR:/etc/namegate:ro"
	-v "$WT:/work" -w /work
	-v "$GIT_COMMON:$GIT_COMMON"
	-v "$GIT_COMMON/hooks:$GIT_COMMON/hooks:ro"
	-v "$GIT_COMMON/config:$GIT_COMMON/config:ro"
	"${extra[@]}" "$IMAGE" "$@")
CONTAINER_STARTED=1
if ((${#tty[@]})); then
	# On a terminal the container has it (^C goes to the agent); the traps
	# run when it exits.
	"${run[@]}"
else
	# Without one, in the background and waited for, so that a signal to
	# this script runs the traps at once (and the container is removed)
	# instead of after the session. stdin stays the caller's.
	"${run[@]}" <&0 &
	wait "$!"
fi
