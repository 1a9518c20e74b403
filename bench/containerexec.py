#!/usr/bin/python3
"""containerexec benchmark: a container doing fork+exec of /bin/true as fast as
it can (execloop), untraced, traced by containerexec (every event printed to
a file), by a bpftrace one-liner doing the same, and by strace -f, side by
side in one run."""

import os
import subprocess
import sys
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import (IMAGE, OUT, bpftrace_run, docker, parse_kv, ratio,  # noqa: E402
                    save, tool_run)

COUNT = int(os.environ.get("BENCH_EXECS", "3000"))


def run_loop(tracer=None):
    """One container whose main process waits for /tmp/go, then runs the
    loop; returns ns per exec as the workload measured it."""
    name = "bench-exec-" + uuid.uuid4().hex[:6]
    docker("run", "-d", "--name", name, IMAGE, "execloop", str(COUNT), "/bin/true", "/tmp/go")
    strace = None
    try:
        if tracer == "strace":
            pid = docker("inspect", "-f", "{{.State.Pid}}", name).strip()
            strace = subprocess.Popen(["strace", "-f", "-qq", "-e", "trace=execve", "-o",
                                       os.path.join(OUT, "strace-exec.out"), "-p", pid],
                                      stderr=subprocess.DEVNULL)
            # strace -p attaches before it runs anything else; give it its
            # first syscall stop by waiting for the output file to appear.
            while not os.path.exists(os.path.join(OUT, "strace-exec.out")):
                pass
        docker("exec", name, "touch", "/tmp/go")
        docker("wait", name)
        result = parse_kv(docker("logs", name))
    finally:
        docker("rm", "-f", name, check=False)
        if strace:
            strace.wait(60)
    if result.get("execs") != COUNT:
        raise RuntimeError("workload did not complete: %r" % result)
    return result["ns_per_exec"]


def main():
    os.makedirs(OUT, exist_ok=True)
    base = run_loop()
    with tool_run("containerexec") as tool:
        traced = run_loop()
    printed = tool.lines() - 1
    with bpftrace_run('tracepoint:sched:sched_process_exec { printf("%d %s\\n", pid, comm); }',
                      os.path.join(OUT, "bpftrace-exec.out")) as bt:
        bpftrace = run_loop()
    strace = run_loop("strace")
    base2 = run_loop()          # the machine drifts: untraced again, use the mean
    untraced = (base + base2) / 2
    result = {
        "tool": "containerexec",
        "workload": "execloop %d /bin/true in a container (fork+exec+wait)" % COUNT,
        "untraced_ns_per_exec": untraced,
        "ratio_tool": ratio(traced, untraced),
        "ratio_bpftrace": ratio(bpftrace, untraced),
        "ratio_strace": ratio(strace, untraced),
        "events_expected": COUNT,
        "events_printed": printed,
        "events_lost": tool.lost(),
        "events_per_s": round(1e9 / traced, 1),
        "tool_peak_rss_kb": tool.peak_rss_kb,
        "tool_startup_s": round(tool.startup_s, 3),
        "bpftrace_startup_s": round(bt.startup_s, 3),
    }
    save("containerexec", result)
    for k, v in result.items():
        print("%-22s %s" % (k, v))
    return result


if __name__ == "__main__":
    main()
