#!/usr/bin/python3
"""`make bench`: every tool's benchmark in one go, the start-up split by
phase, memory, and one report, bench/results.md, with a PNG chart of the
slowdown ratios and their 95% intervals.

Each bench/<tool>.py measures its workload in interleaved rounds
(common.Rounds) and writes bench/out/<tool>.json; this script runs them,
then measures every tool's start-up (per option set, phase by phase, from
the line ctrace.bpf prints under CTRACE_TIMINGS=1; default options also as
a boot's first start, before any start kept the kernel offsets: ctrace.btfcache)
next to BCC's own floor
(import bcc + compile an empty program) and bpftrace's for the same job."""

import json
import os
import platform
import subprocess
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import (BENCH, IMAGE, OUT, PYTHON, ROOT, bpftrace_run,  # noqa: E402
                    container_cgroup, docker, median_ci, tool_run)
import containernet  # noqa: E402
sys.path.insert(0, ROOT)
from ctrace import btfcache  # noqa: E402
import report  # noqa: E402

TOOLS = ["containerexec", "containeropen", "containernet", "containersyscall",
         "containerescape"]
# Further benchmarks of a tool (bench/<name>.py, the tool's name first).
EXTRA_BENCHES = []       # containeropen_uring: make bench-scale
STARTUP_RUNS = int(os.environ.get("BENCH_STARTUP_RUNS", "6"))
# Option sets whose start-up is measured ({c}: a running container's name).
# The default options' start-up comes from the benchmarks' 16 rounds.
OPTION_SETS = {
    "containeropen": [["-s", "3600"]],
    "containernet": [["-s", "3600"]],
    "containersyscall": [["--seccomp", "{out}/seccomp.json", "-c", "{c}"]],
    "containerescape": [["-t", "mount"], ["--all"]],
}
# bpftrace doing each tool's job (one-liners, containernet's a program), for start-up
# comparison (CGROUP_PATH: a running container's cgroup).
BPFTRACE_JOBS = {
    "containerexec": 'tracepoint:sched:sched_process_exec { printf("%d %s\\n", pid, comm); }',
    "containeropen": 'tracepoint:syscalls:sys_enter_openat { printf("%d %s\\n", pid, str(args->filename)); }',
    "containernet": containernet.BPFTRACE,
    "containersyscall": 'tracepoint:raw_syscalls:sys_enter { @[cgroup, args->id] = count(); }',
    "containerescape": 'tracepoint:raw_syscalls:sys_exit /args->id == 175 || args->id == 308/ '
                       '{ printf("%d %d\\n", pid, args->id); }',
}
# BCC's floor: what any BCC tool pays before its own work.
BCC_FLOOR = """
import time
t0 = time.monotonic()
import bcc
t1 = time.monotonic()
b = bcc.BPF(text="int empty(void *ctx) { return 0; }")
t2 = time.monotonic()
print("import_bcc=%f compile=%f" % (t1 - t0, t2 - t1))
"""


def bcc_floor():
    rows = []
    for _ in range(STARTUP_RUNS):
        launched = time.monotonic()
        out = subprocess.run([PYTHON, "-c", BCC_FLOOR], capture_output=True, text=True,
                             check=True).stdout
        total = time.monotonic() - launched
        row = dict((k, float(v)) for k, v in (kv.split("=") for kv in out.split()))
        row["total"] = total
        rows.append(row)
    return {k: median_ci([r[k] for r in rows]) for k in rows[0]}


def tool_startup(name, options, container, first_of_boot=False):
    """FIRST_OF_BOOT: each start without the offsets a start before kept
    (ctrace.btfcache), as a boot's first start is."""
    argv = [a.format(c=container, out=OUT) for a in options]
    runs = []
    for _ in range(STARTUP_RUNS):
        if first_of_boot:
            btfcache.forget(name + ".bpf.c")
        with tool_run(name, *argv, out=os.path.join(OUT, "startup-%s.out" % name)) as t:
            pass
        runs.append(dict(t.timings or {}, total=t.startup_s, memory=t.memory))
    return startup_stats(runs)


def startup_stats(runs):
    """Medians (and intervals) of start-up records (common.tool_figures)."""
    phases = {}
    for key in ("start", "import_bcc", "text", "compile", "verifier", "attach",
                "listing_beside", "listing",
                "anon_before_trim_kb", "anon_after_trim_kb", "trim_after_ready", "total"):
        phases[key] = median_ci([r.get(key) for r in runs])
    for key in ("anonymous", "private_dirty", "private_clean", "peak_rss"):
        phases[key + "_kb"] = median_ci([r["memory"].get(key) for r in runs])
    return phases


def bpftrace_startup(name, container, runs=3):
    program = BPFTRACE_JOBS[name].replace("CGROUP_PATH", container_cgroup(container))
    times = []
    for _ in range(runs):
        with bpftrace_run(program, os.path.join(OUT, "startup-bt-%s.out" % name)) as t:
            pass
        times.append(t.startup_s)
    return median_ci(times)


def startups(results):
    container = "bench-start-" + uuid.uuid4().hex[:6]
    docker("run", "-d", "--name", container, IMAGE, "sleep", "3600")
    try:
        result = {"bcc_floor": bcc_floor(), "tools": {}, "bpftrace": {}}
        for name in TOOLS:
            if results.get(name, {}).get("startup_runs"):
                result["tools"][name] = startup_stats(results[name]["startup_runs"])
            for options in OPTION_SETS.get(name, []):
                label = " ".join([name] + [o for o in options if "{" not in o])
                print("== start-up: %s" % label, flush=True)
                result["tools"][label] = tool_startup(name, options, container)
            label = "%s, a boot's first start" % name
            print("== start-up: %s" % label, flush=True)
            result["tools"][label] = tool_startup(name, [], container, first_of_boot=True)
            result["bpftrace"][name] = bpftrace_startup(name, container)
    finally:
        docker("rm", "-f", container, check=False)
    return result


def machine():
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), "")
    except OSError:
        pass
    return "%s, %d cores, kernel %s, %s" % (cpu or platform.machine(), os.cpu_count(),
                                           platform.release(), time.strftime("%Y-%m-%d"))


def main():
    os.makedirs(OUT, exist_ok=True)
    began = time.monotonic()
    results = {}
    only = sys.argv[1:]
    for name in TOOLS + EXTRA_BENCHES:
        script = os.path.join(BENCH, name + ".py")
        tool = name.split("_")[0]
        if only and name not in only:
            continue
        if not os.path.exists(script) or not os.path.exists(os.path.join(ROOT, "tools", tool)):
            continue
        print("== %s" % name, flush=True)
        started = time.monotonic()
        r = subprocess.run([PYTHON, script], timeout=1800)
        path = os.path.join(OUT, name + ".json")
        if r.returncode == 0 and os.path.exists(path):
            with open(path) as f:
                results[name] = json.load(f)
            results[name]["bench_seconds"] = round(time.monotonic() - started)
        else:
            results[name] = {"error": "benchmark failed (exit %d)" % r.returncode}
    starts = startups(results)
    with open(os.path.join(OUT, "startup.json"), "w") as f:
        json.dump(starts, f, indent=2, sort_keys=True)
    scale = None
    if os.path.exists(os.path.join(OUT, "scale.json")):
        with open(os.path.join(OUT, "scale.json")) as f:
            scale = json.load(f)
    text = report.write(results, starts, scale, machine(), time.monotonic() - began)
    print(text)


if __name__ == "__main__":
    main()
