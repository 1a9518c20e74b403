"""What a hostile or unlucky user found (issue 14), each driven through the
real tools: a stdout nobody reads when Ctrl-C comes, a tool in a private
mount namespace, a runtime that answers garbage or nothing, and a name its
runtime gives only late.  Real BPF, real Docker; the runtime's API is stood
in for by a socket the test serves (or a proxy to the real one)."""

import os
import re
import select
import signal
import socket
import subprocess
import threading
import time

import pytest

from conftest import PROMPT_EXIT, PYTHON, TOOLS, docker, unexpected_stderr, unique
from test_registry import FakeAPI

pytestmark = pytest.mark.integration
REAL_DOCKER = "/var/run/docker.sock"


class Stalled:
    """A tool whose stdout is a pipe nobody reads until the test says."""

    def __init__(self, name, *args):
        self.read_end, write_end = os.pipe()
        self.proc = subprocess.Popen([PYTHON, os.path.join(TOOLS, name)] + list(args),
                                     stdout=write_end, stderr=subprocess.PIPE,
                                     stdin=subprocess.DEVNULL)
        os.close(write_end)
        self.err = []
        self.ready = threading.Event()
        threading.Thread(target=self._read_err, daemon=True).start()
        assert self.ready.wait(60), self.err

    def _read_err(self):
        for line in self.proc.stderr:
            self.err.append(line.decode("utf-8", "replace"))
            if b": tracing " in line:
                self.ready.set()

    def stdout(self):
        """Everything the tool wrote (read once it has exited)."""
        chunks = []
        while select.select([self.read_end], [], [], 0)[0]:
            data = os.read(self.read_end, 1 << 16)
            if not data:
                break
            chunks.append(data)
        os.close(self.read_end)
        return b"".join(chunks)

    def lost(self):
        final = [l for l in self.err if "events lost" in l]
        return int(re.search(r"(\d+) events lost", final[-1]).group(1)) if final else 0

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def storm(containers, tool_name):
    """(tool arguments, run the workload -> events it made, line predicate)."""
    name = containers.run("sleep", "600")
    if tool_name == "containeropen":
        target = "/tmp/" + unique("storm")
        containers.exec(name, "touch", target)

        def run():
            out = containers.exec(name, "openloop", target, "300000", timeout=300).stdout
            return int(re.search(r"opens=(\d+)", out).group(1))
        return ["-c", name, "--path", target], run, lambda l: l.endswith(target.encode())
    if tool_name == "containerexec":
        def run():
            out = containers.exec(name, "execloop", "3000", "/bin/true", timeout=300).stdout
            return int(re.search(r"execs=(\d+)", out).group(1))
        return ["-c", name, "-n", "true"], run, lambda l: l.endswith(b" /bin/true")
    # containernet: a server already listening (no LISTEN event), then a
    # client's connections: connect, accept and two closes each.
    containers.exec(name, "sh", "-c", "tcpserver 7300 0 >/dev/null 2>&1 &")
    deadline = time.monotonic() + 30
    while "connected=1" not in containers.exec(name, "tcpclient", "127.0.0.1", "7300", "1",
                                               check=False).stdout:
        assert time.monotonic() < deadline, "the server never listened"

    def run():
        out = containers.exec(name, "tcpclient", "127.0.0.1", "7300", "15000", timeout=300).stdout
        return 4 * int(re.search(r"connected=(\d+)", out).group(1))
    return ["-c", name, "-P", "7300"], run, lambda l: l and not l.startswith(b"CONTAINER")


@pytest.mark.parametrize("tool_name", ["containeropen", "containerexec", "containernet"])
def test_ctrl_c_ends_soon_when_stdout_is_not_read(bpf_ok, containers, tool_name):
    """The tool is blocked on a full pipe when Ctrl-C comes: it ends within
    about a second, and what it could not print is counted as lost."""
    args, run, ours = storm(containers, tool_name)
    t = Stalled(tool_name, *args)
    try:
        count = run()
        start = time.monotonic()
        t.proc.send_signal(signal.SIGINT)
        assert t.proc.wait(30) == 0, t.err
        took = time.monotonic() - start
    finally:
        t.kill()
    # whole lines only: the last one may have been cut when stdout stalled
    printed = sum(1 for l in t.stdout().split(b"\n")[:-1] if ours(l))
    assert took < 3.0, "Ctrl-C took %.1f s" % took
    assert printed + t.lost() == count, (printed, t.lost(), count, t.err)
    assert any("not printed" in l for l in t.err), t.err


def test_a_second_ctrl_c_ends_at_once(bpf_ok, containers):
    args, run, _ = storm(containers, "containeropen")
    t = Stalled("containeropen", *args)
    try:
        run()
        start = time.monotonic()
        # Python runs pending handlers in signal-number order: SIGINT's
        # first, whether or not the tool handled it before SIGTERM came.
        t.proc.send_signal(signal.SIGINT)
        t.proc.send_signal(signal.SIGTERM)
        rc = t.proc.wait(30)
        took = time.monotonic() - start
    finally:
        t.kill()
        t.stdout()
    # At once: exit 1 without the final report an orderly stop prints after
    # waiting a second (STALL_SECONDS) for the stalled reader.
    assert rc == 1 and took < PROMPT_EXIT, (rc, took, t.err)
    assert any("stopped at once" in l for l in t.err), t.err
    assert not any("not printed" in l for l in t.err), t.err
    assert not any("Traceback" in l for l in t.err), t.err


def test_host_processes_are_the_host_in_a_private_mount_namespace(tool, containers):
    """A tool started in a mount namespace of its own (systemd PrivateTmp=,
    unshare -m) still tells host processes from containers."""
    t = tool("containerexec", "-j", "--host", prefix=["unshare", "-m"])
    marker = unique("hostexec")
    subprocess.run(["/bin/sh", "-c", "exec /bin/echo %s" % marker], check=True,
                   stdout=subprocess.DEVNULL)
    ev = t.wait_for(lambda e: e["event"] == "exec" and e["args"] == ["/bin/echo", marker],
                    what="the host's exec")
    assert ev["host"] is True and ev["container"] == "host" and ev["container_id"] is None
    name = containers.run("sleep", "600")
    containers.exec(name, "/bin/echo", marker + "-c")
    ev = t.wait_for(lambda e: e["event"] == "exec" and e["args"] == ["/bin/echo", marker + "-c"],
                    what="the container's exec")
    assert ev["container_name"] == name and ev["host"] is False
    assert t.stop() == 0
    assert unexpected_stderr(t) == [], t.err       # no warning about its namespaces


@pytest.mark.parametrize("body", [b"<html>not JSON</html>", b"[1, 2, 3]"])
def test_a_runtime_answering_garbage_costs_only_names(tool, containers, tmp_path, body):
    """Docker's socket answers 200 with garbage: the tool starts, every event
    is printed with the container's name (from Docker's own state file), one
    warning, no traceback."""
    api = FakeAPI(str(tmp_path / "docker.sock"))
    try:
        api.answers["/"] = (200, body)
        t = tool("containerexec", "-j", env={"DOCKER_HOST": "unix://" + api.path})
        name = containers.run("sleep", "600")
        cid = docker("inspect", "-f", "{{.Id}}", name).stdout.strip()
        marker = unique("garbage")
        for i in range(3):
            containers.exec(name, "/bin/echo", "%s-%d" % (marker, i))
        evs = [t.wait_for(lambda e: e["event"] == "exec" and
                          e["args"] == ["/bin/echo", "%s-%d" % (marker, i)], what="exec %d" % i)
               for i in range(3)]
        assert t.stop() == 0
    finally:
        api.close()
    assert all(e["container_id"] == cid and e["container_name"] == name for e in evs), evs
    assert len([l for l in t.err if "docker" in l and "did not answer" in l]) == 1, t.err
    assert not any("Traceback" in l or "Exception ignored" in l for l in t.err), t.err


def test_container_filter_says_when_the_runtime_does_not_answer(bpf_ok, tmp_path):
    """A socket that takes the connection and never answers: -c NAME says
    the runtime did not answer, not that no such container runs."""
    path = str(tmp_path / "silent.sock")
    server = socket.socket(socket.AF_UNIX)
    server.bind(path)
    server.listen(8)
    try:
        r = subprocess.run([PYTHON, os.path.join(TOOLS, "containerexec"), "-c", "web-x"],
                           capture_output=True, text=True, timeout=60,
                           env=dict(os.environ, DOCKER_HOST="unix://" + path))
    finally:
        server.close()
    assert r.returncode == 2, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "docker did not answer" in r.stderr and "no running container" not in r.stderr


class Proxy:
    """Docker's API through a socket of the test's: 503 while blocked, then
    the real dockerd's answers (event streams included)."""

    def __init__(self, path, target=REAL_DOCKER):
        self.blocked = True
        self.target = target
        self.server = socket.socket(socket.AF_UNIX)
        self.server.bind(path)
        self.server.listen(64)
        self.path = path
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        if self.blocked:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n"
                         b"Connection: close\r\n\r\n")
            conn.close()
            return
        upstream = socket.socket(socket.AF_UNIX)
        upstream.connect(self.target)

        def pipe(src, dst):
            try:
                while True:
                    data = src.recv(65536)
                    if not data:
                        break
                    dst.sendall(data)
            except OSError:
                pass
            finally:
                for s in (src, dst):
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
        threading.Thread(target=pipe, args=(conn, upstream), daemon=True).start()
        pipe(upstream, conn)

    def close(self):
        self.server.close()


LATE = {
    # tool arguments, and a line or JSON object of container NAME's activity
    "containerexec": (["-j"], lambda name: ["cat", "/etc/hostname"],
                      lambda e, name: e.get("event") == "exec" and e["args"][:1] == ["cat"]),
    "containeropen": (["-j"], lambda name: ["cat", "/etc/hostname"],
                      lambda e, name: e.get("event") == "open" and e["path"] == "/etc/hostname"),
    "containernet": (["-j"], lambda name: ["tcpclient", "127.0.0.1", "7999", "1"],
                     lambda e, name: e.get("event") == "failed"),
    "containersyscall": (["-j", "0.5", "-t", "0"], lambda name: ["cat", "/etc/hostname"],
                         lambda e, name: e.get("event") == "summary"),
}


def late_label(e, cid):
    """The CONTAINER label of container CID in E (an event or a summary)."""
    if e.get("event") == "summary":
        labels = {r["container"] for r in e["rows"] if r.get("container_id") == cid}
        return labels.pop() if len(labels) == 1 else None
    return e["container"] if e.get("container_id") == cid else None


@pytest.mark.parametrize("tool_name", sorted(LATE))
def test_a_late_api_does_not_cost_the_name(tool, containers, tmp_path, tool_name):
    """Docker's API answers nothing (503) while the container's first events
    happen: every tool names the container all the same, from the file
    Docker writes at create (config.v2.json)."""
    proxy = Proxy(str(tmp_path / "docker.sock"))
    try:
        args, activity, ours = LATE[tool_name]
        t = tool(tool_name, *args, env={"DOCKER_HOST": "unix://" + proxy.path})
        name = containers.run("sleep", "600")
        cid = docker("inspect", "-f", "{{.Id}}", name).stdout.strip()
        containers.exec(name, *activity(name), check=False)
        ev = t.wait_for(lambda e: isinstance(e, dict) and ours(e, name) and
                        late_label(e, cid) is not None, what="an event of the container")
        assert late_label(ev, cid) == name, ev
        assert t.stop() == 0
    finally:
        proxy.close()


def test_every_json_object_names_the_node(tool, containers):
    """Events of many nodes can be merged: every JSON object carries node,
    $NODE_NAME where set (a Kubernetes pod's downward API), else the host's
    name."""
    node = unique("node")
    ev_tool = tool("containerexec", "-j", env={"NODE_NAME": node})
    sum_tool = tool("containersyscall", "-j", "0.5", env={"NODE_NAME": node})
    plain = tool("containeropen", "-j")
    name = containers.run("sleep", "600")
    containers.exec(name, "cat", "/etc/hostname")
    ev = ev_tool.wait_for(lambda e: e["event"] == "exec" and e["container_name"] == name,
                          what="an exec")
    summary = sum_tool.wait_for(lambda e: e["event"] == "summary", what="a summary")
    opened = plain.wait_for(lambda e: e["event"] == "open" and e["container_name"] == name,
                            what="an open")
    assert ev["node"] == node and summary["node"] == node
    assert opened["node"] == socket.gethostname()
