#!/usr/bin/python3
"""`make bench`: every tool's benchmark in one go, start-up times, and one
report, bench/results.md, with a PNG chart of the slowdown ratios.

Each bench/<tool>.py measures its workload untraced and traced side by side
in one run and writes bench/out/<tool>.json; this script runs them, then
measures every tool's start-up (launch to attached and ready, header printed)
next to bpftrace's for the same job."""

import json
import os
import platform
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import BENCH, OUT, PYTHON, ROOT, bpftrace_run, tool_run  # noqa: E402

TOOLS = ["containerexec", "containeropen", "containernet", "containersyscall",
         "containerescape"]
# Further benchmarks of a tool (bench/<name>.py, the tool's name first).
EXTRA_BENCHES = ["containeropen_uring"]
# bpftrace one-liners doing each tool's job, for start-up comparison.
BPFTRACE_JOBS = {
    "containerexec": 'tracepoint:sched:sched_process_exec { printf("%d %s\\n", pid, comm); }',
    "containeropen": 'tracepoint:syscalls:sys_enter_openat { printf("%d %s\\n", pid, str(args->filename)); }',
    "containernet": 'tracepoint:sock:inet_sock_set_state { printf("%d %d\\n", args->oldstate, args->newstate); }',
    "containersyscall": 'tracepoint:raw_syscalls:sys_enter { @[cgroup, args->id] = count(); }',
    "containerescape": 'tracepoint:raw_syscalls:sys_exit /args->id == 175 || args->id == 308/ '
                       '{ printf("%d %d\\n", pid, args->id); }',
}
RATIO_KEYS = ["ratio_tool", "ratio_summary", "ratio_bpftrace", "ratio_strace", "ratio_host"]
LABELS = {"ratio_tool": "ctrace tool, every event printed", "ratio_summary": "ctrace -s (in-kernel counts)",
          "ratio_bpftrace": "bpftrace one-liner", "ratio_strace": "strace -f",
          "ratio_host": "host process, tool watching containers"}

# Floors, measured in the same rounds: what programs that do (almost)
# nothing on a tool's hooks cost, the least any tool on those hooks can cost.
FLOORS = {
    "containeropen": [("ratio_noop_floor", "ratio_tool", "empty programs on the 8 open "
                       "tracepoints, container loop"),
                      ("ratio_host_noop_floor", "ratio_host", "the same, host loop")],
    "containeropen_uring": [("ratio_noop_floor", "ratio_tool", "empty programs on the 2 "
                             "io_uring tracepoints, io_uring open loop"),
                            ("ratio_syscall_loop_uring_floor", "ratio_syscall_loop_uring_floor",
                             "the same programs, syscall open loop (no io_uring)")],
    "containersyscall": [("ratio_noop_program", "ratio_tool", "an empty program on "
                          "raw_syscalls:sys_exit"),
                         ("ratio_number_program", "ratio_tool", "a program that only reads "
                          "the syscall number")],
    "containerescape": [("ratio_noop_floor", "ratio_tool", "empty programs on "
                         "raw_syscalls:sys_exit and the sched tracepoints, container loop"),
                        ("ratio_host_noop_floor", "ratio_host", "the same, host loop")],
}


def startup(name, runs=3):
    times = []
    for i in range(runs):
        with tool_run(name, out=os.path.join(OUT, "startup-%s.out" % name)) as t:
            pass
        times.append(t.startup_s)
    return round(statistics.median(times), 3)


def bpftrace_startup(name, runs=3):
    times = []
    for i in range(runs):
        with bpftrace_run(BPFTRACE_JOBS[name], os.path.join(OUT, "startup-bt-%s.out" % name)) as t:
            pass
        times.append(t.startup_s)
    return round(statistics.median(times), 3)


def machine():
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), "")
    except OSError:
        pass
    return "%s, %d cores, kernel %s, %s" % (cpu or platform.machine(), os.cpu_count(),
                                           platform.release(), time.strftime("%Y-%m-%d"))


def chart(results, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    labels, series = [], {k: [] for k in RATIO_KEYS}
    for name, r in results.items():
        labels.append(name)
        for k in RATIO_KEYS:
            series[k].append(r.get(k) or 0)
    fig, ax = plt.subplots(figsize=(9, 4.5))
    width = 0.16
    for i, k in enumerate(RATIO_KEYS):
        xs = [x + (i - 2) * width for x in range(len(labels))]
        ax.bar(xs, series[k], width, label=LABELS[k])
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_xticks(range(len(labels)))
    ax.set_xticklabels(labels)
    ax.set_ylabel("workload time / untraced (lower is better)")
    ax.set_yscale("log")
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter
    ax.yaxis.set_major_locator(FixedLocator([1, 1.2, 1.5, 2, 3, 5, 10, 20, 50, 100]))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: "%gx" % v))
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_title("ctrace: slowdown of each workload, measured side by side")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return True


def main():
    os.makedirs(OUT, exist_ok=True)
    results = {}
    for name in TOOLS + EXTRA_BENCHES:
        script = os.path.join(BENCH, name + ".py")
        tool = name.split("_")[0]
        if not os.path.exists(script) or not os.path.exists(os.path.join(ROOT, "tools", tool)):
            continue
        print("== %s" % name, flush=True)
        r = subprocess.run([PYTHON, script], timeout=1800)
        path = os.path.join(OUT, name + ".json")
        if r.returncode == 0 and os.path.exists(path):
            with open(path) as f:
                results[name] = json.load(f)
        else:
            results[name] = {"error": "benchmark failed (exit %d)" % r.returncode}
    starts = {}
    for name in TOOLS:
        if os.path.exists(os.path.join(ROOT, "tools", name)):
            starts[name] = (startup(name), bpftrace_startup(name))
    write_report(results, starts)


def fmt(v):
    return "-" if v is None else str(v)


def write_report(results, starts):
    lines = ["# ctrace benchmark report", "",
             "Measured by `make bench` on %s. Ratios are workload time traced / "
             "untraced, measured side by side in one run (the machine is shared and "
             "noisy: compare ratios, not absolute times)." % machine(), ""]
    lines += ["| tool | workload | tool | summary mode | bpftrace | strace | host process | "
              "events/s | printed | lost | tool peak RSS |",
              "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name, r in results.items():
        if "error" in r:
            lines.append("| %s | %s | | | | | | | | | |" % (name, r["error"]))
            continue
        lines.append("| %s | %s | %sx | %s | %s | %s | %s | %s | %s | %s | %s MiB |" % (
            name, r.get("workload", ""), fmt(r.get("ratio_tool")),
            fmt(r.get("ratio_summary")) + ("x" if r.get("ratio_summary") else ""),
            fmt(r.get("ratio_bpftrace")) + ("x" if r.get("ratio_bpftrace") else ""),
            fmt(r.get("ratio_strace")) + ("x" if r.get("ratio_strace") else ""),
            fmt(r.get("ratio_host")) + ("x" if r.get("ratio_host") else ""),
            fmt(r.get("events_per_s")), fmt(r.get("events_printed")),
            fmt(r.get("events_lost")), round(r.get("tool_peak_rss_kb", 0) / 1024, 1)))
    lines += ["", "## Start-up: launch to attached and ready (median of 3)", "",
              "A ctrace tool is ready when it prints `<tool>: tracing` on stderr, after "
              "compiling, loading and attaching its programs; bpftrace when it prints "
              "`Attaching N probes...`, which it does just before attaching.", "",
              "| tool | ctrace tool | bpftrace, same job | target |", "| --- | --- | --- | --- |"]
    for name, (tool_s, bt_s) in starts.items():
        lines.append("| %s | %.2f s | %.2f s | %s |" % (name, tool_s, bt_s,
                                                     "met (< 2 s)" if tool_s < 2 else "MISSED (>= 2 s)"))
    if chart({k: v for k, v in results.items() if "error" not in v},
             os.path.join(BENCH, "results.png")):
        lines += ["", "![slowdown ratios](results.png)"]
    floors = [(name, key, than, label) for name, fl in FLOORS.items()
              if name in results and "error" not in results[name]
              for key, than, label in fl if results[name].get(key) is not None]
    if floors:
        lines += ["", "## Floors: the hooks alone", "",
                  "Syscall tracepoints send every system call of the machine through "
                  "the kernel's slow path; kprobes and fentry, which would not, are "
                  "absent here. These programs do nothing, or only read the syscall "
                  "number, on the same hooks, in the same rounds: no tool on those "
                  "hooks can cost less.", "",
                  "| tool | floor program | floor | the tool |", "| --- | --- | --- | --- |"]
        for name, key, than, label in floors:
            lines.append("| %s | %s | %sx | %sx |" % (name, label, fmt(results[name][key]),
                                                      fmt(results[name].get(than))))
    lines += ["", "Raw figures: bench/out/*.json. Each tool's notes:", ""]
    for name, r in results.items():
        if r.get("notes"):
            lines.append("- %s: %s" % (name, r["notes"]))
    with open(os.path.join(BENCH, "results.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
