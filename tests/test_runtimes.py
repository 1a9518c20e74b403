"""Runtimes other than Docker, for real: containerd through ctr (on the
containerd that dockerd runs, or a standalone one), podman through its API
service, and LXC.  Their containers must carry their runtime's id and name, and
-c must select them, as for Docker."""

import json
import os
import shutil
import subprocess
import time

import pytest

from conftest import DOCKER, IMAGE, ctr_command, docker, unavailable, unique
from ctrace.runtimes.docker import DockerAPI
from ctrace.runtimes.http import Unreachable

CTR_NAMESPACE = "ctrace-test"
CTR_IMAGE = "docker.io/library/" + IMAGE
PODMAN_SOCKET = "/run/podman/podman.sock"       # where ctrace looks for podman
PODMAN_IMAGE = "localhost/" + IMAGE
# This machine's hard nofile/nproc limits are below podman's defaults, which
# runc may not raise: ask for less.  podman prefers crun once it is
# installed, and crun 1.8 refuses this machine's hybrid cgroups: runc.
PODMAN_RUN = ["run", "--runtime", "runc", "--network", "none", "--ulimit", "nofile=1024:1024",
              "--ulimit", "nproc=1024:1024"]
# Containers per runtime in the --rm tests below: 50 where the test takes
# under a minute on a loaded 2-core machine (podman ~40 s, ctr ~30 s);
# `docker run` takes ~1.7 s there (86 s for 50), so 20.
RM_RUNS = {"docker": 20, "podman": 50, "containerd": 50}

pytestmark = pytest.mark.integration


def run(argv, **kw):
    return subprocess.run(argv, capture_output=True, text=True, timeout=300, **kw)


@pytest.fixture(scope="session")
def ctr(docker_ok):
    base = ctr_command(CTR_NAMESPACE)
    return lambda *args: run(base + list(args))


def ctr_remove(ctr, cid):
    ctr("task", "delete", "-f", cid)
    ctr("container", "delete", cid)


@pytest.fixture(scope="session")
def podman(docker_ok, tmp_path_factory):
    exe = shutil.which("podman")
    if exe is None:
        unavailable("podman is not installed")
    tar = str(tmp_path_factory.mktemp("podman") / "image.tar")
    r = run([DOCKER, "save", "-o", tar, IMAGE])
    if r.returncode == 0:
        r = run([exe, "load", "-i", tar])
    if r.returncode != 0:
        unavailable("loading the test image into podman failed: %s" % r.stderr.strip()[-300:])
    api = DockerAPI("podman", PODMAN_SOCKET)
    service = None
    if not api_answers(api):
        os.makedirs(os.path.dirname(PODMAN_SOCKET), exist_ok=True)
        service = subprocess.Popen([exe, "system", "service", "--time=0",
                                    "unix://" + PODMAN_SOCKET],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while not api_answers(api):
            if service.poll() is not None or time.monotonic() > deadline:
                service.kill()
                unavailable("podman system service did not answer on %s" % PODMAN_SOCKET)
            time.sleep(0.1)     # polling a socket that has no event to wait on
    yield lambda *args: run([exe] + list(args))
    if service is not None:
        service.terminate()
        service.wait(30)


def api_answers(api):
    try:
        api.list()
        return True
    except Unreachable:
        return False


def exec_of(t, args):
    return t.wait_for(lambda e: e["event"] == "exec" and e["args"] == args,
                      what="the exec of %r" % (args,))


def test_containerd_container_is_named_by_its_id(tool, ctr):
    """ctr puts a container in the cgroup /NAMESPACE/ID, a name any cgroup
    could have: the running task's bundle says it is containerd's."""
    t = tool("containerexec", "-j")
    cid = unique("ctr")
    r = ctr("run", "--rm", CTR_IMAGE, cid, "/bin/echo", "from-" + cid)
    assert r.returncode == 0 and r.stdout.strip() == "from-" + cid, r.stderr
    ev = exec_of(t, ["/bin/echo", "from-" + cid])
    assert (ev["container_runtime"], ev["container_id"], ev["container_name"]) == \
        ("containerd", cid, cid)
    assert ev["container"] == cid and ev["host"] is False and ev["vpid"] == 1


def test_containerd_container_filter(tool, ctr):
    a, b = unique("ctra"), unique("ctrb")
    try:
        for cid in (a, b):
            r = ctr("run", "-d", CTR_IMAGE, cid, "sleep", "600")
            assert r.returncode == 0, r.stderr
        t = tool("containerexec", "-j", "-c", a)
        assert ctr("task", "exec", "--exec-id", "b1", b, "/bin/echo", "from-b").returncode == 0
        assert ctr("task", "exec", "--exec-id", "a1", a, "/bin/echo", "from-a").returncode == 0
        exec_of(t, ["/bin/echo", "from-a"])
        assert {e["container_name"] for e in t.json_events() if e["event"] == "exec"} == {a}
    finally:
        for cid in (a, b):
            ctr_remove(ctr, cid)


def test_short_lived_podman_container_is_named(tool, podman):
    """podman run --rm: gone before its exec is formatted; named all the
    same, from podman's state files (its event stream tells too late)."""
    t = tool("containerexec", "-j")
    name = unique("pmrm")
    r = podman(*PODMAN_RUN, "--rm", "--name", name, PODMAN_IMAGE, "/bin/echo", "from-" + name)
    assert r.returncode == 0 and r.stdout.strip() == "from-" + name, r.stderr
    ev = exec_of(t, ["/bin/echo", "from-" + name])
    assert (ev["container_runtime"], ev["container_name"], ev["container_image"]) == \
        ("podman", name, PODMAN_IMAGE)


def test_podman_container_is_named_through_its_api(tool, podman):
    name = unique("pm")
    other = unique("pmother")
    try:
        r = podman(*PODMAN_RUN, "-d", "--name", name, PODMAN_IMAGE, "sleep", "600")
        assert r.returncode == 0, r.stderr
        cid = r.stdout.strip().splitlines()[-1]
        assert podman(*PODMAN_RUN, "-d", "--name", other, PODMAN_IMAGE,
                      "sleep", "600").returncode == 0
        every = tool("containerexec", "-j")
        only = tool("containerexec", "-j", "-c", name)
        assert podman("exec", other, "/bin/echo", "from-other").returncode == 0
        assert podman("exec", name, "/bin/echo", "from-" + name).returncode == 0
        ev = exec_of(every, ["/bin/echo", "from-" + name])
        assert (ev["container_runtime"], ev["container_id"], ev["container_name"],
                ev["container_image"]) == ("podman", cid, name, PODMAN_IMAGE)
        assert exec_of(every, ["/bin/echo", "from-other"])["container_name"] == other
        exec_of(only, ["/bin/echo", "from-" + name])
        assert {e["container_name"] for e in only.json_events() if e["event"] == "exec"} == {name}
    finally:
        podman("rm", "-f", "-t", "0", name, other)


def all_named(t, run_one, runtime, image):
    """RM_RUNS[RUNTIME] containers, each made by RUN_ONE(name, marker) to run
    one /bin/echo MARKER and be removed: every exec is named, with its image."""
    names = []
    for i in range(RM_RUNS[runtime]):
        name = unique("rm%d" % i)
        r = run_one(name, "from-" + name)
        assert r.returncode == 0 and r.stdout.strip() == "from-" + name, r.stderr
        names.append(name)
    wrong = []
    for name in names:
        ev = exec_of(t, ["/bin/echo", "from-" + name])
        got = (ev["container_runtime"], ev["container_name"], ev["container_image"])
        if got != (runtime, name, image):
            wrong.append(got)
    assert not wrong, "%d of %d named: %s" % (len(names) - len(wrong), len(names), wrong[:5])


def test_rm_docker_containers_are_all_named(tool, docker_ok):
    t = tool("containerexec", "-j")
    all_named(t, lambda name, marker: docker("run", "--rm", "--network", "none", "--name", name,
                                             IMAGE, "/bin/echo", marker, check=False),
              "docker", IMAGE)


@pytest.mark.parametrize("service", [True, False], ids=["api", "no-api"])
def test_rm_podman_containers_are_all_named(tool, podman, service):
    """With podman's API service and without it (CONTAINER_HOST names a
    socket that does not exist): its state files name every container."""
    env = None if service else {"CONTAINER_HOST": "unix:///nonexistent/podman.sock"}
    t = tool("containerexec", "-j", env=env)
    all_named(t, lambda name, marker: podman(*PODMAN_RUN, "--rm", "--name", name, PODMAN_IMAGE,
                                             "/bin/echo", marker),
              "podman", PODMAN_IMAGE)


def test_rm_ctr_containers_are_all_named(tool, ctr):
    """ctr run --rm: the bundle names it, containerd's database its image."""
    t = tool("containerexec", "-j")
    all_named(t, lambda name, marker: ctr("run", "--rm", CTR_IMAGE, name, "/bin/echo", marker),
              "containerd", CTR_IMAGE)


def test_renamed_docker_container_is_shown_under_its_new_name(tool, containers):
    t = tool("containerexec", "-j")
    old, new = unique("before"), unique("after")
    containers.run("sleep", "600", name=old, opts=["--network", "none"])
    containers.names.append(new)
    containers.exec(old, "/bin/echo", "one")
    assert exec_of(t, ["/bin/echo", "one"])["container_name"] == old
    docker("rename", old, new)
    containers.exec(new, "/bin/echo", "two")
    assert exec_of(t, ["/bin/echo", "two"])["container_name"] == new


def test_no_warning_for_a_runtime_that_is_not_there(tool):
    """Docker's and podman's sockets elsewhere, as on a host without them:
    the tool says nothing about them."""
    t = tool("containerexec", "-d", "1", env={"DOCKER_HOST": "unix:///nonexistent/docker.sock",
                                               "CONTAINER_HOST": "unix:///nonexistent/p.sock"})
    assert t.wait(60) == 0
    assert [line for line in t.err if "ctrace:" in line] == [], t.err


@pytest.fixture
def lxc(bpf_ok):
    """A stopped LXC container from the busybox template (the host's
    busybox-static), without a network; destroyed at the end."""
    if shutil.which("lxc-create") is None:
        unavailable("LXC is not installed (Debian package lxc)")
    name = unique("lxc")
    r = run(["lxc-create", "-n", name, "-t", "busybox"])
    if r.returncode != 0:
        unavailable("lxc-create -t busybox failed: %s" % r.stderr.strip()[-300:])
    config = "/var/lib/lxc/%s/config" % name
    with open(config) as f:
        lines = [l for l in f if not l.startswith("lxc.net.")]
    with open(config, "w") as f:
        f.writelines(lines + ["lxc.net.0.type = empty\n"])
    yield name
    run(["lxc-stop", "-n", name, "-k"])
    run(["lxc-destroy", "-n", name])


def test_lxc_container_is_named_and_selected(tool, lxc):
    """LXC runs the payload in the cgroup lxc.payload.NAME."""
    every = tool("containerexec", "-j")
    r = run(["lxc-execute", "-n", lxc, "--", "/bin/echo", "from-" + lxc])
    assert r.returncode == 0 and r.stdout.strip() == "from-" + lxc, r.stderr
    ev = exec_of(every, ["/bin/echo", "from-" + lxc])
    assert (ev["container_runtime"], ev["container_id"], ev["container_name"]) == \
        ("lxc", lxc, lxc)
    assert run(["lxc-start", "-n", lxc, "-d"]).returncode == 0
    only = tool("containerexec", "-j", "-c", lxc)
    r = run(["lxc-attach", "-n", lxc, "--", "/bin/echo", "attached"])
    assert r.returncode == 0 and r.stdout.strip() == "attached", r.stderr
    assert exec_of(only, ["/bin/echo", "attached"])["container_name"] == lxc


# -- the other end of a connection, whatever its runtime ------------------------

def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_output(read, text, timeout=30):
    deadline = time.monotonic() + timeout
    while text not in read():
        assert time.monotonic() < deadline, "never printed %r" % text
        time.sleep(0.1)         # polling a log: there is no event to wait on


def check_peers(t, s, client, server, runtime, port):
    """Both ends named, in lines (T) and in the summary (S)."""
    conn = t.wait_for(lambda e: e["event"] == "connect" and e["container_name"] == client,
                      what="the client's connect")
    assert conn["remote_port"] == port and conn["peer_container_name"] == server
    acc = t.wait_for(lambda e: e["event"] == "accept" and e["container_name"] == server,
                     what="the server's accept")
    assert acc["container_runtime"] == runtime and acc["peer_container_name"] == client
    s.wait_for(lambda e: e["event"] == "summary" and any(
        r["client"] == client and r["server"] == server and r["connections"] == 1
        for r in e["rows"]), what="the summary row %s -> %s" % (client, server))


def test_containernet_names_a_podman_peer(tool, podman, containers):
    """A podman server, a Docker client (both on the host's network, over
    loopback): each end names the other, in lines and with -s."""
    port = free_port()
    t = tool("containernet", "-j", "-P", port)
    s = tool("containernet", "-j", "-s", "0.5", "-P", port)
    server = unique("pmsrv")
    try:
        r = podman("run", "--network", "host", "--ulimit", "nofile=1024:1024",
                   "--ulimit", "nproc=1024:1024", "-d", "--name", server, PODMAN_IMAGE,
                   "tcpserver", str(port), "1")
        assert r.returncode == 0, r.stderr
        wait_output(lambda: podman("logs", server).stdout, "listening")
        client = unique("dkcli")
        r = containers.run("tcpclient", "127.0.0.1", str(port), "1", "100", name=client,
                           opts=["--network", "host"], detach=False)
        assert "connected=1" in r.stdout, r.stdout + r.stderr
        check_peers(t, s, client, server, "podman", port)
    finally:
        podman("rm", "-f", "-t", "0", server)


def test_containernet_names_a_containerd_peer(tool, ctr, containers):
    """The same with a containerd task (ctr, host network) as the server."""
    port = free_port()
    t = tool("containernet", "-j", "-P", port)
    s = tool("containernet", "-j", "-s", "0.5", "-P", port)
    server = unique("ctrsrv")
    try:
        r = ctr("run", "-d", "--net-host", CTR_IMAGE, server, "tcpserver", str(port), "1")
        assert r.returncode == 0, r.stderr
        client = unique("dkcli")
        deadline = time.monotonic() + 30
        while True:     # until the server listens (ctr keeps no log to wait on)
            r = containers.run("tcpclient", "127.0.0.1", str(port), "1", "100",
                               name=client, opts=["--network", "host"], detach=False)
            if "connected=1" in r.stdout:
                break
            docker("rm", "-f", client, check=False)
            assert time.monotonic() < deadline, r.stdout + r.stderr
        check_peers(t, s, client, server, "containerd", port)
    finally:
        ctr_remove(ctr, server)


def test_seccomp_wait_for_a_podman_container(podman, tmp_path, bpf_ok):
    """containersyscall --seccomp FILE --wait NAME: a podman container,
    recorded from its start, the profile written when it exits."""
    from conftest import Tool
    name = unique("pmsc")
    profile = tmp_path / "p.json"
    t = Tool("containersyscall", "--seccomp", str(profile), "--wait", name, "-d", "120").start()
    try:
        r = podman(*PODMAN_RUN, "--rm", "--name", name, PODMAN_IMAGE,
                   "sh", "-c", "cat /etc/hostname; mkdir /tmp/d")
        assert r.returncode == 0, r.stderr
        assert t.proc.wait(60) == 0, "\n".join(t.err)
    finally:
        t.kill()
    data = json.loads(profile.read_text())
    allowed = {n for rule in data["syscalls"] for n in rule["names"]}
    assert {"execve", "mkdir", "exit_group"} <= allowed or {"execve", "mkdirat"} <= allowed
