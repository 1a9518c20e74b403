#!/usr/bin/python3
"""`make bench-scale`: how cost grows with the containers around.

Scenarios: 1, 50 and 200 idle containers (the test image, `sleep`), and a
churn of container starts beside the loop: `ctr run --rm --rootfs DIR ID
true` into Docker's containerd with crun as the OCI runtime, from
CHURN_WORKERS threads, pod-style: as a Kubernetes pod's containers do, they
share one shim (containerd's io.containerd.runc.v2.group annotation) and
the network, IPC and UTS namespaces of a sandbox container that sleeps
(each still gets its own mount and PID namespaces and cgroup).  `docker
run` tops out near 2 starts/s on 2 cores, ctr with a shim per container
near 7 alone and 4.4 beside the loop; sharing the shim saves a fifth of
each start's CPU.  The rate of successful starts is reported.  In each:
- the open loop's ratio under containeropen (every event printed), median
  of ROUNDS interleaved untraced/traced pairs with its 95% interval, of
  its wall time and of its own CPU time (what the programs add to each
  open, apart from the reader's competition for the CPUs, which a churn's
  starts make noisy);
- each tool's CPU (utime+stime over one run of the open loop), anonymous
  memory and peak RSS once tracing, and start-up;
- during churn, containerexec -j: exec events in a container whose
  container_name is null (a container left unnamed).
Writes bench/out/scale.json (bench/run.py's report shows it) and
bench/results-scale.md."""

import json
import os
import subprocess
import sys
import threading
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import (BENCH, IMAGE, OUT, Rounds, docker, fmt_ci, openloop_result,  # noqa: E402
                    tool_run)
import report  # noqa: E402

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "16"))
COUNT = int(os.environ.get("BENCH_OPENS", "50000"))
CHURN_WORKERS = int(os.environ.get("BENCH_CHURN_WORKERS", "6"))
IDLE = [int(n) for n in os.environ.get("BENCH_SCALE_IDLE", "1,50,200").split(",")]
TOOLS = ["containerexec", "containeropen", "containernet", "containersyscall",
         "containerescape"]
TARGET = "/tmp/bench-scale-target"
PREFIX = "bench-scale-"


CTR_SOCKET = "/run/docker/containerd/containerd.sock"
CTR_NAMESPACE = "ctrace-bench"


CTR = ["ctr", "-a", CTR_SOCKET, "-n", CTR_NAMESPACE]


def churn_rootfs():
    """The test image's files in a directory, the churn's containers' root
    (read-only use: they run `true`): no snapshot to make per start."""
    root = os.path.join(OUT, "churn-rootfs")
    if not os.path.isdir(os.path.join(root, "bin")):
        os.makedirs(root, exist_ok=True)
        name = PREFIX + "export-" + uuid.uuid4().hex[:4]
        docker("create", "--name", name, IMAGE, "true")
        try:
            export = subprocess.Popen(["docker", "export", name], stdout=subprocess.PIPE)
            subprocess.run(["tar", "-x", "-C", root], stdin=export.stdout, check=True)
            export.stdout.close()
            export.wait()
        finally:
            docker("rm", "-f", name, check=False)
    return root


def remove_churn_leftovers():
    """ctr containers of an interrupted churn (a run --rm cut short)."""
    r = subprocess.run(CTR + ["containers", "ls", "-q"], capture_output=True, text=True)
    for name in r.stdout.split():
        if name.startswith(PREFIX):
            ctr_remove(name)


def ctr_remove(name):
    subprocess.run(CTR + ["task", "kill", "-s", "KILL", name], capture_output=True)
    subprocess.run(CTR + ["task", "rm", "-f", name], capture_output=True)
    subprocess.run(CTR + ["containers", "rm", name], capture_output=True)


class Churn:
    """Containers started (and removed) continuously from a few threads:
    containerd's, run by crun, in one pod-like group around a sandbox
    container.  .rate: successful starts a second."""

    def __init__(self, workers):
        self.workers, self.started, self.failed = workers, 0, 0
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.root = churn_rootfs()
        self.sandbox = PREFIX + "pod-" + uuid.uuid4().hex[:8]
        self.pod_args = []

    def _run(self, *args):
        return subprocess.run(CTR + ["run", "--runc-binary", "/usr/bin/crun",
                                     "--annotation", "io.containerd.runc.v2.group=" +
                                     self.sandbox] + self.pod_args + list(args),
                              capture_output=True, text=True, timeout=120)

    def _start_sandbox(self):
        r = self._run("-d", "--rootfs", self.root, self.sandbox, "/bin/sleep", "36000")
        if r.returncode != 0:
            raise SystemExit("churn sandbox: %s" % r.stderr.strip())
        tasks = subprocess.run(CTR + ["task", "ls"], capture_output=True, text=True).stdout
        pid = next(int(f[1]) for f in (l.split() for l in tasks.splitlines())
                   if f and f[0] == self.sandbox)
        self.pod_args = [a for ns, name in (("network", "net"), ("ipc", "ipc"), ("uts", "uts"))
                         for a in ("--with-ns", "%s:/proc/%d/ns/%s" % (ns, pid, name))]

    def _work(self):
        while not self.stop.is_set():
            r = self._run("--rm", "--rootfs", self.root,
                          PREFIX + "churn-" + uuid.uuid4().hex[:8], "/bin/true")
            with self.lock:
                if r.returncode == 0:
                    self.started += 1
                else:
                    self.failed += 1

    def __enter__(self):
        self._start_sandbox()
        self.began = time.monotonic()
        self.threads = [threading.Thread(target=self._work, daemon=True)
                        for _ in range(self.workers)]
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join(120)
        self.rate = round(self.started / (time.monotonic() - self.began), 1)
        ctr_remove(self.sandbox)
        return False


def idle(n):
    have = [l for l in docker("ps", "--filter", "name=%sidle-" % PREFIX,
                              "--format", "{{.Names}}").split() if l]
    for i in range(len(have), n):
        docker("run", "-d", "--name", "%sidle-%d-%s" % (PREFIX, i, uuid.uuid4().hex[:4]),
               IMAGE, "sleep", "36000")


def cpu_busy(seconds=1.0):
    """The share of all CPUs' time spent busy (not idle or iowait) over
    SECONDS, from /proc/stat."""
    def sample():
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
        return sum(fields), fields[3] + fields[4]
    total0, idle0 = sample()
    time.sleep(seconds)
    total1, idle1 = sample()
    return 1 - (idle1 - idle0) / max(1, total1 - total0)


def settle(limit=60, busy=0.10):
    """Wait until the containers just started are idle: the machine busy
    under BUSY for a second (dockerd and the shims finish their starts
    for a while; a loop measured meanwhile shares the CPUs with them, and
    the tool's reader more than the loop). Seconds waited."""
    began = time.monotonic()
    while time.monotonic() - began < limit and cpu_busy() >= busy:
        pass
    return round(time.monotonic() - began, 1)


def measure(scenario, loop_name):
    def loop_figures(config):
        """{CONFIG: wall ns, CONFIG_cpu: the loop's own CPU ns} per open."""
        out = docker("exec", loop_name, "openloop", TARGET, str(COUNT))
        return {config: openloop_result(out, COUNT),
                config + "_cpu": openloop_result(out, COUNT, "cpu_ns_per_open")}

    def loop():
        return loop_figures("base")["base"]

    def traced():
        with tool_run("containeropen", out=os.path.join(OUT, "scale-open.out")):
            return loop_figures("tool")
    rounds = Rounds(ROUNDS).run({"base": lambda: loop_figures("base"), "tool": traced})
    summary = rounds.summary([("ratio", "open loop", "tool", "base"),
                              ("cpu_ratio", "open loop, its own CPU", "tool_cpu", "base_cpu")],
                             [])
    rows = []
    for tool in TOOLS:
        with tool_run(tool, out=os.path.join(OUT, "scale-%s.out" % tool)) as t:
            loop()
        rows.append({"scenario": scenario, "tool": tool, "cpu_s": round(t.cpu_s or 0, 2),
                     "anon_mib": round(t.memory.get("anonymous", 0) / 1024, 1),
                     "peak_mib": round(t.memory.get("peak_rss", 0) / 1024, 1),
                     "startup_s": round(t.startup_s, 2)})
    rows[1]["ratio"] = summary["ratios"]["ratio"]
    rows[1]["cpu_ratio"] = summary["ratios"]["cpu_ratio"]
    return rows


def unnamed_during_churn(scenario):
    """containerexec -j while containers churn: the churn's execs (`true`)
    whose container_name is null."""
    out = os.path.join(OUT, "scale-exec.json")
    with tool_run("containerexec", "-j", out=out):
        with Churn(CHURN_WORKERS) as churn:
            time.sleep(float(os.environ.get("BENCH_CHURN_SECONDS", "20")))
    seen = unnamed = 0
    with open(out) as f:
        for line in f:
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            if ev.get("comm") == "true" and not ev.get("host"):
                seen += 1
                unnamed += ev.get("container_name") is None
    return {"scenario": scenario, "tool": "containerexec -j", "unnamed":
            "%d of %d churn execs (%.1f starts/s)" % (unnamed, seen, churn.rate)}


def main():
    os.makedirs(OUT, exist_ok=True)
    loop_name = PREFIX + "loop-" + uuid.uuid4().hex[:4]
    docker("run", "-d", "--name", loop_name, IMAGE, "sleep", "36000")
    docker("exec", loop_name, "touch", TARGET)
    rows = []
    try:
        for n in IDLE:
            idle(n)
            print("== %d idle containers (settled after %.1f s)" % (n, settle()), flush=True)
            rows += measure("%d idle containers" % n, loop_name)
        print("== churn", flush=True)
        with Churn(CHURN_WORKERS) as churn:
            rows += measure("churn", loop_name)
        for row in rows[-len(TOOLS):]:
            row["scenario"] = "churn, %.1f starts/s (%d idle)" % (churn.rate, IDLE[-1])
        if churn.failed:
            print("churn: %d starts failed" % churn.failed, flush=True)
        rows.append(unnamed_during_churn("churn"))
    finally:
        names = docker("ps", "-a", "--filter", "name=" + PREFIX, "--format", "{{.Names}}",
                       check=False).split()
        for i in range(0, len(names), 50):
            docker("rm", "-f", *names[i:i + 50], check=False)
        remove_churn_leftovers()
    scale = {"date": time.strftime("%Y-%m-%d"), "rows": rows,
             "method": "open loop: %d opens in a container, containeropen printing every "
                       "event, %d interleaved rounds, median [95%% CI] of the loop's time per open "
                       "and of its own CPU time per open (user + system: the tool's programs "
                       "run in its system calls; the tool's reader does not); CPU: "
                       "utime+stime of one tool run over one open loop (start-up included)"
                       % (COUNT, ROUNDS)}
    with open(os.path.join(OUT, "scale.json"), "w") as f:
        json.dump(scale, f, indent=2)
    text = "\n".join(["# ctrace: how cost grows", ""] + report.scaling(scale)) + "\n"
    with open(os.path.join(BENCH, "results-scale.md"), "w") as f:
        f.write(text)
    print(text)
    print(fmt_ci(rows[1].get("ratio")))


if __name__ == "__main__":
    main()
