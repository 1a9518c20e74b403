#!/bin/bash
# Start dockerd if it is not answering (no init system runs it here), with
# crun registered as a second runtime (docker run --runtime crun).
# --live-restore keeps containers running while dockerd is stopped.
set -euo pipefail
DOCKER=/usr/bin/docker
CONFIG=/etc/docker/daemon.json
CRUN=/usr/bin/crun

# crun goes into daemon.json, not on the command line: dockerd refuses a
# runtime given both ways, and a running dockerd reloads daemon.json's
# runtimes on SIGHUP (no restart: others' containers keep running).
register_crun() {
    [ -x "$CRUN" ] || return 0
    mkdir -p "$(dirname "$CONFIG")"
    /usr/bin/python3 - "$CONFIG" "$CRUN" <<'PY'
import json, os, sys
path, crun = sys.argv[1:3]
config = {}
if os.path.exists(path):
    with open(path) as f:
        config = json.load(f)
if config.get("runtimes", {}).get("crun", {}).get("path") != crun:
    config.setdefault("runtimes", {})["crun"] = {"path": crun}
    with open(path + ".tmp", "w") as f:
        json.dump(config, f, indent=2)
        f.write("\n")
    os.replace(path + ".tmp", path)
PY
}

# crun refuses a hybrid cgroup layout whose v2 hierarchy holds controllers
# ("drop all controllers from cgroupv2"); here the kernel left hugetlb
# there because nothing mounted it as v1. Mount such unused controllers as
# v1 hierarchies, as systemd's hybrid layout does (runc is fine either way).
crun_cgroups() {
    local unified=/sys/fs/cgroup/unified controller
    [ -x "$CRUN" ] && [ -r $unified/cgroup.controllers ] || return 0
    [ -z "$(cat $unified/cgroup.subtree_control)" ] || return 0
    for controller in $(cat $unified/cgroup.controllers); do
        mkdir -p /sys/fs/cgroup/$controller
        mount -t cgroup -o $controller cgroup /sys/fs/cgroup/$controller
    done
}

has_crun() {
    $DOCKER info --format '{{json .Runtimes}}' 2>/dev/null | grep -q '"crun"'
}

register_crun
crun_cgroups
if $DOCKER info >/dev/null 2>&1; then
    if [ -x "$CRUN" ] && ! has_crun; then
        kill -HUP "$(cat /var/run/docker.pid)"
        for _ in $(seq 1 20); do
            has_crun && exit 0
            sleep 0.5
        done
        echo "dockerd did not load crun from $CONFIG after SIGHUP" >&2
        exit 1
    fi
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
