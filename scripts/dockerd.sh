#!/usr/bin/env bash
# Make a Docker daemon answer on this machine, for BACKEND=docker and the
# docker-backed tests. Idempotent: exits at once when `docker info` works.
#
# Otherwise (as root) it installs Debian's docker.io when dockerd is missing,
# starts dockerd in the background with its log in $DOCKERD_LOG, and waits
# (bounded) until `docker info` answers. It tries dockerd's defaults first
# (these also give bridge networking, CHAOSLAB_DOCKER_NETWORK=bridge); where a
# sandbox has no usable iptables/bridge it falls back to
# `--iptables=false --ip6tables=false --bridge=none`, which is all host
# networking (the lab's default, CHAOSLAB_DOCKER_NETWORK=host) needs.
# DOCKERD_FLAGS, when set, is used instead of both.
#
# Exit 0 with the daemon up; non-zero with the reason otherwise (callers that
# can live without Docker: `scripts/dockerd.sh || echo "docker unavailable"`).
set -uo pipefail

LOG=${DOCKERD_LOG:-/tmp/chaoslab-dockerd.log}
WAIT_SECONDS=${DOCKERD_WAIT_SECONDS:-60}

say() { echo "dockerd.sh: $*"; }

daemon_up() { docker info >/dev/null 2>&1; }

print_version() {
	docker version --format 'docker client {{.Client.Version}}, daemon {{.Server.Version}} (API {{.Server.APIVersion}})' 2>/dev/null ||
		docker version
}

if command -v docker >/dev/null 2>&1 && daemon_up; then
	print_version
	exit 0
fi

if [ "$(id -u)" != 0 ]; then
	say "no docker daemon answers and this is not root: start dockerd yourself (sudo $0) or join the docker group"
	exit 1
fi

if ! command -v dockerd >/dev/null 2>&1 || ! command -v docker >/dev/null 2>&1; then
	say "installing docker.io (Debian) ..."
	export DEBIAN_FRONTEND=noninteractive
	if ! { apt-get update -qq && apt-get install -y -qq docker.io >/dev/null; }; then
		say "apt-get install docker.io failed"
		exit 1
	fi
fi

# start_dockerd FLAGS...: start dockerd detached and wait for `docker info`.
# Returns 0 once it answers; 1 if dockerd exits or the wait runs out (then
# the half-started daemon is stopped so a retry starts clean).
start_dockerd() {
	say "starting dockerd $* (log: $LOG)"
	nohup setsid dockerd "$@" >>"$LOG" 2>&1 </dev/null &
	local pid=$!
	local deadline=$((SECONDS + WAIT_SECONDS))
	while [ "$SECONDS" -lt "$deadline" ]; do
		if daemon_up; then
			return 0
		fi
		if ! kill -0 "$pid" 2>/dev/null; then
			say "dockerd exited; last log lines:"
			tail -n 5 "$LOG" | sed 's/^/  /'
			return 1
		fi
		sleep 0.5
	done
	say "dockerd did not answer within ${WAIT_SECONDS}s; stopping it"
	kill "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	return 1
}

if [ -n "${DOCKERD_FLAGS:-}" ]; then
	# shellcheck disable=SC2086 # word splitting is the point
	start_dockerd $DOCKERD_FLAGS || exit 1
elif ! start_dockerd; then
	start_dockerd --iptables=false --ip6tables=false --bridge=none || exit 1
fi
print_version
