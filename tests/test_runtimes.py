"""Runtimes other than Docker, for real: containerd through ctr (on the
containerd that dockerd runs, or a standalone one), podman through its API
service, and LXC.  Their containers must carry their runtime's id and name, and
-c must select them, as for Docker."""

import json
import os
import shutil
import signal
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
# Containers per runtime in the --rm tests below.
RM_RUNS = {"docker": 50, "podman": 50, "containerd": 50}

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
    names, refused = [], []
    while len(names) < RM_RUNS[runtime]:
        name = unique("rm%d" % len(names))
        r = run_one(name, "from-" + name)
        if r.returncode == 0 and r.stdout.strip() == "from-" + name:
            names.append(name)
            continue
        # The runtime's own failure (seen once in ten busy runs of ctr),
        # not ctrace's: another container takes its place, a few times.
        refused.append((r.returncode, r.stdout[-200:], r.stderr[-300:]))
        assert len(refused) <= 3, refused
    wrong = []
    for name in names:
        ev = exec_of(t, ["/bin/echo", "from-" + name])
        got = (ev["container_runtime"], ev["container_name"], ev["container_image"])
        if got != (runtime, name, image):
            wrong.append(got)
    assert not wrong, "%d of %d named: %s" % (len(names) - len(wrong), len(names), wrong[:5])


@pytest.fixture(params=["idle", "busy"])
def load(request):
    """"busy": both cores kept busy by spinning shells while the test runs
    (the tool, the runtime and its state files all wait for a core)."""
    spinners = []
    if request.param == "busy":
        spinners = [subprocess.Popen(["/bin/sh", "-c", "while :; do :; done"])
                    for _ in range(os.cpu_count() or 2)]
    yield request.param
    for spinner in spinners:
        spinner.kill()
        spinner.wait()


def test_rm_docker_containers_are_all_named(tool, docker_ok, load):
    t = tool("containerexec", "-j")
    all_named(t, lambda name, marker: docker("run", "--rm", "--network", "none", "--name", name,
                                             IMAGE, "/bin/echo", marker, check=False),
              "docker", IMAGE)


@pytest.mark.parametrize("service", [True, False], ids=["api", "no-api"])
def test_rm_podman_containers_are_all_named(tool, podman, service, load):
    """With podman's API service and without it (CONTAINER_HOST names a
    socket that does not exist): its state files name every container."""
    env = None if service else {"CONTAINER_HOST": "unix:///nonexistent/podman.sock"}
    t = tool("containerexec", "-j", env=env)
    all_named(t, lambda name, marker: podman(*PODMAN_RUN, "--rm", "--name", name, PODMAN_IMAGE,
                                             "/bin/echo", marker),
              "podman", PODMAN_IMAGE)


def test_rm_ctr_containers_are_all_named(tool, ctr, load):
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


def pids_of(program):
    r = subprocess.run(["pidof", program], capture_output=True, text=True)
    return set(r.stdout.split())


def wait_until(check, what, timeout=60):
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "no %s after %ss" % (what, timeout)
        time.sleep(0.1)         # polling a process table: no event to wait on


def test_containerd_restart_mid_trace(tool, ctr):
    """containerd killed while a tool runs (its shim keeps the task alive,
    dockerd starts a new containerd): the running task's events keep its
    name, and a container made after the restart is named too."""
    old = pids_of("containerd")
    if not old:
        unavailable("containerd is not running")
    loop = unique("ctrloop")
    r = ctr("run", "-d", CTR_IMAGE, loop, "sh", "-c", "while true; do /bin/true; sleep 0.1; done")
    assert r.returncode == 0, r.stderr
    try:
        t = tool("containerexec", "-j")
        named = lambda e: (e["event"] == "exec" and e["args"] == ["/bin/true"] and
                           (e["container_runtime"], e["container_name"]) == ("containerd", loop))
        t.wait_for(named, what="an exec in %s" % loop)
        for pid in old:
            os.kill(int(pid), signal.SIGKILL)
        down = time.time()
        t.wait_for(lambda e: named(e) and e["timestamp"] > down,
                   what="an exec in %s after containerd was killed" % loop)
        wait_until(lambda: pids_of("containerd") - old, "new containerd")
        wait_until(lambda: ctr("version").returncode == 0, "answer from the new containerd")
        after = unique("ctrafter")
        r = ctr("run", "--rm", CTR_IMAGE, after, "/bin/echo", "from-" + after)
        assert r.returncode == 0 and r.stdout.strip() == "from-" + after, r.stderr
        ev = exec_of(t, ["/bin/echo", "from-" + after])
        assert (ev["container_runtime"], ev["container_name"], ev["container_image"]) == \
            ("containerd", after, CTR_IMAGE)
        assert t.proc.poll() is None, t.err
    finally:
        ctr_remove(ctr, loop)


def test_podman_service_restart_mid_trace(tool, podman, tmp_path):
    """podman's API service (on a socket of this test's own) stopped while
    a tool runs, its socket left behind: the tool says once that podman does
    not answer, still names podman's containers from its state files, and
    says podman answers again once a new service listens there."""
    sock = str(tmp_path / "podman.sock")
    serve = lambda: subprocess.Popen([shutil.which("podman"), "system", "service", "--time=0",
                                      "unix://" + sock],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    api = DockerAPI("podman", sock)
    service = serve()
    try:
        wait_until(lambda: api_answers(api), "answer from podman's service")
        t = tool("containerexec", "-j", env={"CONTAINER_HOST": "unix://" + sock})
        service.kill()
        service.wait(30)
        assert os.path.exists(sock), "the killed service took its socket with it"
        t.wait_stderr("podman at ", timeout=30)
        first = unique("pmdown")
        r = podman(*PODMAN_RUN, "--rm", "--name", first, PODMAN_IMAGE, "/bin/echo", "from-" + first)
        assert r.returncode == 0, r.stderr
        ev = exec_of(t, ["/bin/echo", "from-" + first])
        assert (ev["container_runtime"], ev["container_name"], ev["container_image"]) == \
            ("podman", first, PODMAN_IMAGE)
        os.unlink(sock)
        service = serve()
        wait_until(lambda: api_answers(api), "answer from podman's new service")
        t.wait_stderr("podman answers again", timeout=30)
        second = unique("pmup")
        r = podman(*PODMAN_RUN, "--rm", "--name", second, PODMAN_IMAGE, "/bin/echo", "from-" + second)
        assert r.returncode == 0, r.stderr
        ev = exec_of(t, ["/bin/echo", "from-" + second])
        assert (ev["container_name"], ev["container_image"]) == (second, PODMAN_IMAGE)
        assert len([l for l in t.err if "did not answer" in l]) == 1, t.err
    finally:
        service.kill()
        service.wait(30)
