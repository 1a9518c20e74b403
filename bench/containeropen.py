#!/usr/bin/python3
"""containeropen benchmark: a container doing open()+close() of one file as
fast as it can (openloop PATH COUNT), measured side by side in one run:

- untraced;
- with containeropen attached, printing every event to a file;
- with containeropen -s (counted in the kernel, a table at exit);
- with a bpftrace one-liner printing every openat of the container to a file;
- with programs that do nothing on the same 8 syscall tracepoints (the floor
  any tracepoint-based tool pays here);
- and openloop on the host while containeropen watches containers only
  (what an untraced host process pays for the tool being there), next to
  the floor: programs that do nothing on the same 8 syscall tracepoints.

Every traced configuration runs ROUNDS times, interleaved with untraced runs
(the machine is shared and drifts); ratios use medians. For the printing
tracers, printed + lost must account for every open of the workload.
Writes bench/out/containeropen.json and prints a small table."""

import os
import re
import statistics
import subprocess
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import (IMAGE, OUT, PYTHON, TracerRun, bpftrace_run,  # noqa: E402
                    build_host_openloop, docker, openloop_host, openloop_result, parse_kv,
                    ratio, save, tool_run)

COUNT = int(os.environ.get("BENCH_OPENS", "200000"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
TARGET = "/tmp/bench-open-target"
# The floor: BPF programs that only return, on the same 8 tracepoints.
FLOOR_SCRIPT = """
import signal, sys
from bcc import BPF
b = BPF(text="".join("TRACEPOINT_PROBE(syscalls, sys_%s_%s) { return 0; }\\n" % (d, c)
                     for c in ("open", "openat", "openat2", "creat")
                     for d in ("enter", "exit")))
sys.stderr.write("noop: tracing\\n"); sys.stderr.flush()
try:
    signal.pause()
except KeyboardInterrupt:
    pass
"""


def floor_run(out):
    return TracerRun([PYTHON, "-c", FLOOR_SCRIPT], ": tracing", out)


def in_container(name):
    return openloop_result(docker("exec", name, "openloop", TARGET, str(COUNT)), COUNT)


def find_waiting_shell():
    """The pid of the container's waiting sh, not the docker CLI that
    started it; None if it is not there (yet)."""
    for entry in os.listdir("/proc"):
        try:
            with open("/proc/%s/cmdline" % entry, "rb") as f:
                argv = f.read().split(b"\0")
            if entry.isdigit() and argv[0] == b"sh" and b"/tmp/go" in argv[-2]:
                return entry
        except OSError:
            continue
    return None


def strace_in_container(name, count):
    """ns per open under strace -f: the loop waits in the container for
    /tmp/go so that strace can attach to it first."""
    docker("exec", "-d", name, "sh", "-c",
           "while [ ! -e /tmp/go ]; do usleep 1000; done; "
           "exec openloop %s %d > /tmp/strace-result" % (TARGET, count))
    os.makedirs(OUT, exist_ok=True)
    log = os.path.join(OUT, "strace-open.out")
    deadline = time.monotonic() + 30
    tracer, why = None, "the strace workload did not start"
    # A pid seen in /proc may be gone (or not yet the loop) when strace
    # attaches: look again until one attaches.
    while tracer is None and time.monotonic() < deadline:
        pid = find_waiting_shell()
        if pid is None:
            time.sleep(0.01)
            continue
        if os.path.exists(log):
            os.remove(log)
        # The waiting loop's sleeps show that strace is attached.
        tracer = subprocess.Popen(["strace", "-f", "-qq", "-o", log, "-e",
                                   "trace=openat,nanosleep,clock_nanosleep", "-p", pid],
                                  stderr=subprocess.PIPE)
        while not (os.path.exists(log) and os.path.getsize(log)):
            if tracer.poll() is not None:
                why = "strace -p %s exited: %s" % (pid, tracer.stderr.read().decode().strip())
                tracer = None
                break
            time.sleep(0.01)
    if tracer is None:
        raise RuntimeError(why)
    docker("exec", name, "touch", "/tmp/go")
    tracer.wait(600)
    r = parse_kv(docker("exec", name, "cat", "/tmp/strace-result"))
    docker("exec", name, "rm", "-f", "/tmp/go")
    if r.get("opens") != count:
        raise RuntimeError("strace workload did not complete: %r" % r)
    return r["ns_per_open"]


def count_lines(path, needle):
    n = 0
    with open(path, "rb") as f:
        for line in f:
            if needle in line:
                n += 1
    return n


def bpftrace_lost(stderr):
    return sum(int(n) for n in re.findall(r"Lost (\d+) events", stderr))


def med(xs):
    return statistics.median(xs) if xs else None


def main():
    os.makedirs(OUT, exist_ok=True)
    exe = build_host_openloop()
    host_target = os.path.join(OUT, "bench-open-host-target")
    open(host_target, "w").close()
    name = "bench-open-" + uuid.uuid4().hex[:6]
    docker("run", "-d", "--name", name, IMAGE, "sleep", "3600")
    try:
        docker("exec", name, "touch", TARGET)
        cid = docker("inspect", "-f", "{{.Id}}", name).strip()
        cg = None
        for root in ("/sys/fs/cgroup/unified", "/sys/fs/cgroup"):
            for path in ("%s/docker/%s" % (root, cid), "%s/system.slice/docker-%s.scope" % (root, cid)):
                if os.path.isdir(path):
                    cg = cg or path
        bt_prog = ('tracepoint:syscalls:sys_enter_openat /cgroup == cgroupid("%s")/ '
                   '{ printf("%%d %%s %%s\\n", pid, comm, str(args->filename)); }' % cg)
        base, tool, summ, bt, host_base, host_tool, host_floor = [], [], [], [], [], [], []
        floor = []
        printed, lost, bt_printed, bt_lost_n = [], [], [], []
        rss, startup = [], []
        needle = (" " + TARGET).encode()
        for i in range(ROUNDS):
            base.append(in_container(name))
            out = os.path.join(OUT, "containeropen-%d.out" % i)
            with tool_run("containeropen", "-c", name, out=out) as t:
                tool.append(in_container(name))
            printed.append(count_lines(out, needle))
            os.remove(out)              # 16 MB of lines: counted, not kept
            lost.append(t.lost())
            rss.append(t.peak_rss_kb)
            startup.append(t.startup_s)
            with tool_run("containeropen", "-s", "3600", "-c", name,
                          out=os.path.join(OUT, "containeropen-s.out")) as t:
                summ.append(in_container(name))
            with floor_run(os.path.join(OUT, "noop-open-floor.out")):
                floor.append(in_container(name))
            btout = os.path.join(OUT, "bpftrace-open-%d.out" % i)
            with bpftrace_run(bt_prog, btout) as b:
                bt.append(in_container(name))
            bt_printed.append(count_lines(btout, needle))
            os.remove(btout)
            bt_lost_n.append(bpftrace_lost(b.stderr))
            host_base.append(openloop_host(exe, COUNT, host_target))
            with tool_run("containeropen", out=os.path.join(OUT, "containeropen-host.out")):
                host_tool.append(openloop_host(exe, COUNT, host_target))
            # The floor: programs that do nothing, on the same 8 tracepoints.
            with floor_run(os.path.join(OUT, "noop-open-floor.out")):
                host_floor.append(openloop_host(exe, COUNT, host_target))
        base.append(in_container(name))
        host_base.append(openloop_host(exe, COUNT, host_target))
        strace = strace_in_container(name, COUNT // 10)    # ~27x slower: fewer opens
    finally:
        docker("rm", "-f", name, check=False)

    untraced = med(base)
    result = {
        "tool": "containeropen",
        "workload": "openloop: open+close of one file x %d in a container (%d rounds)"
                    % (COUNT, ROUNDS),
        "untraced_ns_per_open": untraced,
        "tool_ns_per_open": med(tool),
        "summary_ns_per_open": med(summ),
        "bpftrace_ns_per_open": med(bt),
        "host_untraced_ns_per_open": med(host_base),
        "host_watched_ns_per_open": med(host_tool),
        "ratio_tool": ratio(med(tool), untraced),
        "ratio_summary": ratio(med(summ), untraced),
        "ratio_bpftrace": ratio(med(bt), untraced),
        "strace_ns_per_open": strace,
        "ratio_strace": ratio(strace, untraced),
        "noop_ns_per_open": med(floor),
        "ratio_noop_floor": ratio(med(floor), untraced),
        "ratio_host": ratio(med(host_tool), med(host_base)),
        "host_noop_ns_per_open": med(host_floor),
        "ratio_host_noop_floor": ratio(med(host_floor), med(host_base)),
        # best of ROUNDS: least disturbed by the other work of a shared machine
        "ratio_tool_best": ratio(min(tool), min(base)),
        "ratio_summary_best": ratio(min(summ), min(base)),
        "ratio_bpftrace_best": ratio(min(bt), min(base)),
        "ratio_noop_floor_best": ratio(min(floor), min(base)),
        "ratio_host_best": ratio(min(host_tool), min(host_base)),
        "ratio_host_noop_floor_best": ratio(min(host_floor), min(host_base)),
        "events_expected": COUNT * ROUNDS,
        "events_printed": sum(printed),
        "events_lost": sum(lost),
        "events_unaccounted": COUNT * ROUNDS - sum(printed) - sum(lost),
        "bpftrace_printed": sum(bt_printed),
        "bpftrace_lost": sum(bt_lost_n),
        "events_per_s": round(1e9 / med(tool), 1),
        "tool_peak_rss_kb": max(rss),
        "tool_startup_s": round(med(startup), 3),
        "raw": {"untraced": base, "tool": tool, "summary": summ, "bpftrace": bt,
                "noop_floor": floor,
                "host_untraced": host_base, "host_watched": host_tool,
                "host_noop_floor": host_floor,
                "printed": printed, "lost": lost},
        "notes": "ratios of medians over %d interleaved rounds (best-of ratios in the "
                 "JSON); printed + lost = %d of %d opens" % (
                     ROUNDS, sum(printed) + sum(lost), COUNT * ROUNDS),
    }
    save("containeropen", result)
    print("%-34s %12s %8s %8s" % ("configuration", "ns/open", "ratio", "best-of"))
    for label, key, r in (("untraced (container)", "untraced_ns_per_open", None),
                          ("containeropen, every event printed", "tool_ns_per_open", "tool"),
                          ("containeropen -s", "summary_ns_per_open", "summary"),
                          ("bpftrace one-liner, printed", "bpftrace_ns_per_open", "bpftrace"),
                          ("no-op on the 8 tracepoints", "noop_ns_per_open", "noop_floor"),
                          ("host, untraced", "host_untraced_ns_per_open", None),
                          ("host, containeropen watching", "host_watched_ns_per_open", "host"),
                          ("host, no-op on the 8 tracepoints", "host_noop_ns_per_open",
                           "host_noop_floor")):
        if r is None:
            print("%-34s %12.0f %7.2fx %7.2fx" % (label, result[key], 1.0, 1.0))
        else:
            print("%-34s %12.0f %7.2fx %7.2fx" % (label, result[key], result["ratio_" + r],
                                                  result["ratio_%s_best" % r]))
    print("containeropen: printed %d + lost %d of %d opens (%d unaccounted); "
          "bpftrace: printed %d, lost %d" % (
              sum(printed), sum(lost), COUNT * ROUNDS, result["events_unaccounted"],
              sum(bt_printed), sum(bt_lost_n)))
    return result


if __name__ == "__main__":
    main()
