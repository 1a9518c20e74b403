#!/bin/bash
# Start dockerd if it is not answering (no init system runs it here).
# --live-restore keeps containers running while dockerd is stopped.
set -euo pipefail
DOCKER=/usr/bin/docker
if $DOCKER info >/dev/null 2>&1; then
    exit 0
fi
log=/var/log/ctrace-dockerd.log
setsid dockerd --iptables=false --live-restore >"$log" 2>&1 < /dev/null &
for _ in $(seq 1 60); do
    if $DOCKER info >/dev/null 2>&1; then
        exit 0
    fi
    sleep 0.5
done
echo "dockerd did not start; see $log" >&2
tail -n 20 "$log" >&2
exit 1
