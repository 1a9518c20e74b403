"""Hardening: container churn, a runtime going away, clean exits. Real BPF,
real Docker."""

import json
import os
import re
import select
import signal
import socket
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import (DOCKER, IMAGE, PYTHON, REQUIRE, ROOT, TOOLS, Tool, docker,
                      opens_accounted, spawn_tool, unexpected_stderr, unique)

pytestmark = pytest.mark.integration


def test_container_churn_every_exec_named(tool, docker_ok):
    """100 short-lived containers while containerexec runs: each one's exec
    is reported with its own name."""
    t = tool("containerexec", "-j")
    names = [unique("churn") for _ in range(100)]

    def one(name):
        docker("run", "--rm", "--name", name, IMAGE, "echo", name, timeout=120)
    try:
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(one, names))
    finally:
        docker("rm", "-f", *names, check=False)
    want = set(names)
    t.wait_for(lambda e: not want - {a for ev in t.json_events()
                                    if ev.get("event") == "exec" and ev["args"][:1] == ["echo"]
                                    for a in ev["args"][1:2] if ev["container_name"] == a},
               timeout=60, what="every churn container's exec, named")
    seen = {ev["args"][1]: ev for ev in t.json_events()
            if ev.get("event") == "exec" and ev["args"][:1] == ["echo"] and len(ev["args"]) == 2}
    for name in names:
        assert seen[name]["container_name"] == name
        assert seen[name]["container_image"] == IMAGE
    assert t.stop() == 0
    assert not [e for e in t.json_events() if e.get("event") == "lost"]
    assert unexpected_stderr(t) == [], t.err


def bpf_ids():
    ids = set()
    for kind in ("prog", "map"):
        r = subprocess.run(["bpftool", "-j", kind, "show"], capture_output=True, text=True)
        if r.returncode != 0:
            pytest.fail("bpftool %s show failed: %s" % (kind, r.stderr))
        ids |= {(kind, obj["id"]) for obj in json.loads(r.stdout or "[]")}
    return ids


def bpf_ids_of(pid):
    """(kind, id) of each BPF program and map process PID holds an fd of:
    the tool's own, not those of other tracers running meanwhile."""
    ids = set()
    fdinfo = "/proc/%d/fdinfo" % pid
    for fd in os.listdir(fdinfo):
        try:
            with open(os.path.join(fdinfo, fd)) as f:
                text = f.read()
        except OSError:
            continue
        for kind in ("prog", "map"):
            m = re.search(r"^%s_id:\s+(\d+)$" % kind, text, re.M)
            if m:
                ids.add((kind, int(m.group(1))))
    return ids


def wait_gone(ours, timeout=10):
    """Those of OURS still loaded after TIMEOUT: BPF objects are freed
    asynchronously (RCU) after the last fd closes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        left = bpf_ids() & ours
        if not left:
            return left
        time.sleep(0.1)
    return bpf_ids() & ours


TOOL_NAMES = ["containerexec", "containeropen", "containernet", "containersyscall",
              "containerescape"]


def host_exec():
    subprocess.run(["/bin/true"])


def host_refused_connect():
    with socket.socket() as s:
        s.connect_ex(("127.0.0.1", 9))      # discard: nothing listens here


def host_core_pattern_open(path="/nonexistent-ctrace-reliability/core_pattern"):
    """A refused write-open of a path named core_pattern (ENOENT: nothing is
    created), a finding judged on its name; repeats are folded, so one line
    a second."""
    try:
        os.close(os.open(path, os.O_WRONLY))
    except OSError:
        pass


# Arguments under which each tool prints soon (closed stdout), with the host
# activity that makes it print.
CHATTY = {"containerexec": (["--host"], host_exec),
          "containeropen": (["--host"], host_exec),
          "containernet": (["--host"], host_refused_connect),
          "containersyscall": (["0.2", "--host"], host_exec),
          "containerescape": (["--host"], host_core_pattern_open)}


ENDINGS = [(name, how) for name in TOOL_NAMES
           for how in ("SIGINT", "SIGTERM", "SIGHUP", "duration", "closed-stdout")]


class HostActivity:
    """ACTION (host_exec, ...) run on the host in a loop (bounded): events for
    the chatty tools while a test waits for something else."""

    def __init__(self, action=host_exec, limit=60):
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(action, limit), daemon=True)

    def _run(self, action, limit):
        deadline = time.monotonic() + limit
        while not self.done.is_set() and time.monotonic() < deadline:
            action()
            self.done.wait(0.05)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.done.set()
        self.thread.join()


def run_with_closed_stdout(argv, timeout=60):
    """Start ARGV, read its first stdout line, close the pipe as `| head -n 1`
    does, and return (exit status, stderr, the BPF objects it held) once it
    has ended by itself."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL)
    err = []
    reader = threading.Thread(target=lambda: err.extend(l.decode("utf-8", "replace")
                                                        for l in proc.stderr), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + timeout
        first = b""
        while not first.endswith(b"\n"):
            left = deadline - time.monotonic()
            ready, _, _ = select.select([proc.stdout], [], [], max(0, left))
            assert ready, "no stdout line within %ss: %s" % (timeout, "".join(err))
            chunk = os.read(proc.stdout.fileno(), 4096)
            assert chunk, "stdout ended before a line: rc=%s %s" % (proc.poll(), "".join(err))
            first += chunk
        ours = bpf_ids_of(proc.pid)
        proc.stdout.close()
        rc = proc.wait(timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    reader.join(timeout)
    return rc, "".join(err), ours


@pytest.mark.parametrize("name,how", ENDINGS)
def test_clean_exit_leaves_nothing_loaded(bpf_ok, name, how):
    """After any way of ending, no BPF program or map of the tool remains;
    each way ends with status 0 after tracing had started."""
    if how == "closed-stdout":
        args, action = CHATTY[name]
        with HostActivity(action):
            rc, err, ours = run_with_closed_stdout([PYTHON, os.path.join(TOOLS, name)] + args)
        assert ": tracing " in err, err
        assert rc == 0, err
        assert "Traceback" not in err and "BrokenPipe" not in err, err
    else:
        t = Tool(name, *(["-d", "1"] if how == "duration" else [])).start()
        ours = bpf_ids_of(t.proc.pid)
        if how == "duration":
            assert t.wait(60, "-d 1") == 0, t.err
        else:
            assert t.stop(getattr(signal, how)) == 0, t.err
        assert not any("Traceback" in l for l in t.err), t.err
    assert {kind for kind, _ in ours} == {"prog", "map"}, "the tool held no program?"
    assert wait_gone(ours) == set()


def test_runtime_down_keeps_ids_and_recovers_names(tool, containers):
    """dockerd stopped while a tool runs (--live-restore keeps containers):
    events keep their container ids and names (Docker's state files name
    them without dockerd); the tool says once that dockerd does not answer
    if its socket is left behind (not if it is gone: a runtime that does not
    run is no fault), and that it answers again when it is back."""
    live = docker("info", "--format", "{{.LiveRestoreEnabled}}").stdout.strip()
    if live != "true":
        if REQUIRE:
            pytest.fail("dockerd runs without --live-restore (start it with scripts/start-dockerd.sh)")
        pytest.skip("dockerd runs without --live-restore")
    name = containers.run("sh", "-c", "while true; do /bin/true; sleep 0.1; done")
    cid = docker("inspect", "-f", "{{.Id}}", name).stdout.strip()
    running = tool("containerexec", "-j", "-c", name)
    running.wait_for(lambda e: e["event"] == "exec" and e["container_name"] == name)
    pid = subprocess.run(["pidof", "dockerd"], capture_output=True, text=True).stdout.split()
    assert pid, "dockerd is not running"
    os.kill(int(pid[0]), signal.SIGTERM)
    try:
        deadline = time.monotonic() + 30
        while subprocess.run(["pidof", "dockerd"], capture_output=True).returncode == 0:
            assert time.monotonic() < deadline, "dockerd did not stop"
            time.sleep(0.1)
        socket_left = os.path.exists("/var/run/docker.sock")
        # A tool started while dockerd is down: named from the state files.
        fresh = tool("containerexec", "-j")
        ev = fresh.wait_for(lambda e: e["event"] == "exec" and e["container_id"] == cid)
        assert (ev["container_name"], ev["container_image"], ev["host"]) == (name, IMAGE, False)
        if socket_left:
            fresh.wait_stderr("docker at ")
        down = time.time()
        ev = running.wait_for(lambda e: e["event"] == "exec" and e["timestamp"] > down,
                              what="an exec after dockerd stopped")
        assert ev["container_id"] == cid and ev["container_name"] == name   # cached name kept
    finally:
        subprocess.run(["bash", os.path.join(ROOT, "scripts", "start-dockerd.sh")], check=True)
    if socket_left:
        fresh.wait_stderr("docker answers again", timeout=30)
    mark = time.time()
    ev = fresh.wait_for(lambda e: e["event"] == "exec" and e["container_id"] == cid and
                        e["timestamp"] > mark and e["container_name"] == name, timeout=30)
    assert ev["container_image"] == IMAGE
    warnings = [l for l in fresh.err if "did not answer" in l]
    assert len(warnings) == int(socket_left), fresh.err


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        return int(next(l for l in f if l.startswith("VmRSS:")).split()[1])


def wait_for_output(path, nbytes, workload, timeout=60):
    """Until the tool has written NBYTES to PATH (it flushes every batch of
    events); the workload must still be running then."""
    deadline = time.monotonic() + timeout
    while os.path.getsize(path) < nbytes:
        assert workload.poll() is None, "the storm ended before %d bytes were printed" % nbytes
        assert time.monotonic() < deadline, "no storm output after %ss" % timeout
        time.sleep(0.02)        # polling a file's size: no event to wait on


def test_open_storm_every_event_printed_or_counted(containers, tmp_path):
    """Two openloops in one container (both cores) for 10 seconds while
    containeropen prints every event to a file: the tool stays up, its
    memory stays bounded, and printed + lost equals the opens done."""
    name = containers.run("sleep", "600")
    target = "/tmp/" + unique("storm")
    containers.exec(name, "touch", target)
    out_path = tmp_path / "storm.out"
    with open(out_path, "wb") as out:
        t = Tool("containeropen", "-c", name, "--path", target)
        t.proc = None
        proc, err = spawn_tool(t.argv, stdout=out)
        try:
            workload = subprocess.Popen(
                [DOCKER, "exec", name, "sh", "-c",
                 "openloop %s 0 10 & openloop %s 0 10; wait" % (target, target)],
                stdout=subprocess.PIPE, text=True)
            # Sample memory once the storm's events flow, then at the end.
            wait_for_output(out_path, 1 << 20, workload)
            rss_early = rss_kb(proc.pid)
            assert workload.poll() is None, "sampled after the storm, not during it"
            stdout, _ = workload.communicate(timeout=120)
            assert proc.poll() is None, "the tool died during the storm: %s" % err
            rss_late = rss_kb(proc.pid)
            proc.send_signal(signal.SIGINT)
            assert proc.wait(120) == 0, err
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    opens = sum(int(n) for n in re.findall(r"opens=(\d+)", stdout))
    assert opens > 100000, stdout
    with open(out_path, "rb") as f:
        printed, lost = opens_accounted(f.read(), err, target)
    print("storm: opens=%d printed=%d lost=%d rss=%d..%d KiB" % (opens, printed, lost, rss_early, rss_late))
    assert printed + lost == opens, (printed, lost, opens, err)
    assert rss_late < 400 * 1024, "peak memory unbounded? %d KiB" % rss_late
    assert rss_late - rss_early < 64 * 1024, (rss_early, rss_late)


def map_of(pid, name):
    """The id of the BPF map NAME that process PID holds."""
    for kind, map_id in bpf_ids_of(pid):
        if kind == "map":
            r = subprocess.run(["bpftool", "-j", "map", "show", "id", str(map_id)],
                               capture_output=True, text=True)
            if r.returncode == 0 and json.loads(r.stdout).get("name") == name:
                return map_id
    pytest.fail("process %d holds no map %s" % (pid, name))


def map_u32(map_id):
    r = subprocess.run(["bpftool", "-j", "map", "lookup", "id", str(map_id),
                        "key", "0", "0", "0", "0"], capture_output=True, text=True, check=True)
    return int.from_bytes(bytes(int(b, 16) for b in json.loads(r.stdout)["value"]), "little")


def main_thread_switches(pid):
    """How many times process PID's main thread has run (its wakeups)."""
    with open("/proc/%d/task/%d/schedstat" % (pid, pid)) as f:
        return int(f.read().split()[2])


# A tool; two markers; what makes it print a line of a marker in a
# container; whether a line is of that marker.
IDLE_WAKERS = {
    "containerexec": (lambda: (unique("first"), unique("idle")),
                      lambda c, n, m: c.exec(n, "echo", m),
                      lambda e, m: e.get("event") == "exec" and m in e["args"]),
    "containeropen": (lambda: (unique("first"), unique("idle")),
                      lambda c, n, m: c.exec(n, "cat", "/" + m, check=False),
                      lambda e, m: m in (e.get("path") or "")),
    # findings: two kernel files opened for writing (refused: /proc is
    # read-only there), two files, or the second would be a repeat
    "containerescape": (lambda: ("/proc/sys/kernel/core_pattern", "/proc/sysrq-trigger"),
                        lambda c, n, m: c.exec(n, "sh", "-c", "echo x > " + m, check=False),
                        lambda e, m: e.get("technique") == "sensitive-write" and
                        e.get("path") == m),
}


@pytest.mark.parametrize("name", sorted(IDLE_WAKERS))
def test_idle_reader_sleeps_and_the_next_event_wakes_it(tool, containers, name):
    """With every ring read, the reader sleeps (its programs' ct_reader_idle
    flag set) without waking on a timer, and the next event wakes it at
    once: with the idle timer at 60 s, a missed wakeup would be late by a
    minute."""
    markers, action, is_line = IDLE_WAKERS[name]
    first, later = markers()
    container = containers.run("sleep", "600")
    t = tool(name, "-j", env={"CTRACE_IDLE_POLL_SECONDS": "60"})
    flag = map_of(t.proc.pid, "ct_reader_idle")
    # A container's first event wakes the reader anyway (CT_F_NEW_CGROUP):
    # one first, so that the one after the sleep is not.
    action(containers, container, first)
    t.wait_for(lambda e: is_line(e, first), timeout=10, what="the container's first event")
    deadline = time.monotonic() + 20
    while map_u32(flag) != 1:
        assert time.monotonic() < deadline, "the reader never went to sleep"
        time.sleep(0.05)
    before = main_thread_switches(t.proc.pid)
    time.sleep(1.0)             # asleep: nothing should wake it
    assert main_thread_switches(t.proc.pid) - before <= 2
    action(containers, container, later)
    t.wait_for(lambda e: is_line(e, later), timeout=10, what="the event after a sleep")
    assert t.stop() == 0
