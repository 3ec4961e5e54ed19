#!/usr/bin/env bash
# Start dockerd in the background unless /var/run/docker.sock already answers; wait until it does.
# Idempotent: a running daemon is left alone. Installs Debian's docker.io when dockerd is missing.
# Jobs run with network_mode=none, so the daemon needs neither iptables rules nor the default bridge.
set -euo pipefail

SOCK=${DOCKER_SOCK:-/var/run/docker.sock}
LOG=${DOCKERD_LOG:-/var/log/cloudai-dockerd.log}
TIMEOUT=${DOCKERD_TIMEOUT:-60}

answers() {
    # The daemon's ping endpoint; no docker CLI needed (its version may be newer than the daemon's API).
    curl -fsS --max-time 2 --unix-socket "$SOCK" http://localhost/_ping >/dev/null 2>&1
}

if answers; then
    exit 0
fi

if ! command -v curl >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq curl >/dev/null
fi
if ! command -v dockerd >/dev/null 2>&1; then
    echo "dockerd not found; installing docker.io" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null
fi
if answers; then  # the package's postinst may have started it
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "dockerd is not running and only root can start it; run: sudo $0" >&2
    exit 1
fi

# A stale socket or pid file from a dead daemon would make dockerd refuse to start.
pidfile=/var/run/docker.pid
if [ -f "$pidfile" ] && ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    rm -f "$pidfile"
fi
if ! pgrep -x dockerd >/dev/null 2>&1; then
    rm -f "$SOCK"
    mkdir -p "$(dirname "$LOG")"
    nohup setsid dockerd --iptables=false --bridge=none >>"$LOG" 2>&1 </dev/null &
fi

for _ in $(seq $((TIMEOUT * 5))); do
    if answers; then
        exit 0
    fi
    sleep 0.2
done
echo "dockerd did not answer on $SOCK within ${TIMEOUT} s; see $LOG" >&2
exit 1
