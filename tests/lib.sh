# shellcheck shell=bash
# Helpers shared by the shell suites (tests/docker/run, tests/kube/run),
# which source this. What the image's own scripts share is in
# docker/namegate-lib.sh.

# Milliseconds since the epoch.
now_ms() {
	date +%s%3N
}
