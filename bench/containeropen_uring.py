#!/usr/bin/python3
"""containeropen on io_uring opens: a container doing IORING_OP_OPENAT and
IORING_OP_CLOSE of one file through a ring, one at a time, as fast as it can
(uring -n COUNT open PATH), measured side by side in one run:

- untraced;
- with containeropen attached, printing every event to a file;
- with containeropen -s (counted in the kernel);
- with programs that do nothing on the two io_uring tracepoints the tool
  adds (io_uring_submit_req, io_uring_complete): the floor;
- and the syscall open loop (openloop) with only those empty io_uring
  programs attached: what the io_uring hooks cost a workload that does not
  use io_uring (nothing: they fire only for io_uring requests).

Every configuration runs ROUNDS times, interleaved with untraced runs;
ratios use medians. printed + lost must account for every open.
Writes bench/out/containeropen_uring.json and prints a small table."""

import os
import statistics
import sys
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import (IMAGE, OUT, PYTHON, TracerRun, docker, openloop_result,  # noqa: E402
                    parse_kv, ratio, save, tool_run)

COUNT = int(os.environ.get("BENCH_URING_OPENS", "50000"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
TARGET = "/tmp/bench-uring-target"
FLOOR_SCRIPT = """
import signal, sys
from bcc import BPF
b = BPF(text="TRACEPOINT_PROBE(io_uring, io_uring_submit_req) { return 0; }\\n"
             "TRACEPOINT_PROBE(io_uring, io_uring_complete) { return 0; }\\n")
sys.stderr.write("noop: tracing\\n"); sys.stderr.flush()
try:
    signal.pause()
except KeyboardInterrupt:
    pass
"""


def uring_loop(name):
    """ns per io_uring open+close in container NAME."""
    out = docker("exec", name, "uring", "-n", str(COUNT), "open", TARGET)
    r = parse_kv(out)
    if r.get("ops") != COUNT:
        raise RuntimeError("uring loop did not complete: %r" % out)
    return r["ns_per_op"]


def syscall_loop(name):
    return openloop_result(docker("exec", name, "openloop", TARGET, str(COUNT)), COUNT)


def printed_lines(path):
    with open(path, "rb") as f:
        return sum(1 for line in f if line.rstrip().endswith(b" " + TARGET.encode()))


def measure(name):
    runs = {k: [] for k in ("untraced", "tool", "summary", "floor", "sys_untraced",
                            "sys_floor")}
    printed, lost = [], []
    floor = [PYTHON, "-c", FLOOR_SCRIPT]
    for i in range(ROUNDS):
        runs["untraced"].append(uring_loop(name))
        runs["sys_untraced"].append(syscall_loop(name))
        out = os.path.join(OUT, "containeropen-uring-%d.out" % i)
        with tool_run("containeropen", "-c", name, out=out) as t:
            runs["tool"].append(uring_loop(name))
        printed.append(printed_lines(out))
        lost.append(t.lost())
        os.remove(out)
        with tool_run("containeropen", "-s", "3600", "-c", name,
                      out=os.path.join(OUT, "containeropen-uring-s.out")):
            runs["summary"].append(uring_loop(name))
        with TracerRun(floor, ": tracing", os.path.join(OUT, "noop-uring-floor.out")):
            runs["floor"].append(uring_loop(name))
            runs["sys_floor"].append(syscall_loop(name))
    runs["untraced"].append(uring_loop(name))
    return runs, printed, lost


def main():
    os.makedirs(OUT, exist_ok=True)
    name = "bench-uring-" + uuid.uuid4().hex[:6]
    docker("run", "-d", "--name", name, IMAGE, "sleep", "3600")
    try:
        docker("exec", name, "touch", TARGET)
        runs, printed, lost = measure(name)
    finally:
        docker("rm", "-f", name, check=False)
    med = {k: statistics.median(v) for k, v in runs.items()}
    result = {
        "tool": "containeropen",
        "workload": "io_uring OPENAT+CLOSE of one file x %d in a container (%d rounds)"
                    % (COUNT, ROUNDS),
        "untraced_ns_per_open": med["untraced"],
        "tool_ns_per_open": med["tool"],
        "summary_ns_per_open": med["summary"],
        "noop_ns_per_open": med["floor"],
        "ratio_tool": ratio(med["tool"], med["untraced"]),
        "ratio_summary": ratio(med["summary"], med["untraced"]),
        "ratio_noop_floor": ratio(med["floor"], med["untraced"]),
        "ratio_syscall_loop_uring_floor": ratio(med["sys_floor"], med["sys_untraced"]),
        "events_expected": COUNT * ROUNDS,
        "events_printed": sum(printed),
        "events_lost": sum(lost),
        "events_unaccounted": COUNT * ROUNDS - sum(printed) - sum(lost),
        "events_per_s": round(1e9 / med["tool"], 1),
        "raw": dict(runs, printed=printed, lost=lost),
        "notes": "io_uring opens: ratios of medians over %d interleaved rounds; printed + "
                 "lost = %d of %d opens; a syscall open loop under empty programs on the "
                 "io_uring tracepoints: %sx" % (ROUNDS, sum(printed) + sum(lost),
                                                 COUNT * ROUNDS,
                                                 ratio(med["sys_floor"], med["sys_untraced"])),
    }
    save("containeropen_uring", result)
    print("%-44s %10s %8s" % ("configuration", "ns/open", "ratio"))
    for label, key, r in (("untraced (io_uring loop)", "untraced", None),
                          ("containeropen, every event printed", "tool", "ratio_tool"),
                          ("containeropen -s", "summary", "ratio_summary"),
                          ("no-op on the 2 io_uring tracepoints", "floor", "ratio_noop_floor"),
                          ("syscall loop, untraced", "sys_untraced", None),
                          ("syscall loop, no-op on io_uring tracepoints", "sys_floor",
                           "ratio_syscall_loop_uring_floor")):
        print("%-44s %10.0f %7.2fx" % (label, med[key], result[r] if r else 1.0))
    print("containeropen: printed %d + lost %d of %d io_uring opens" % (
        sum(printed), sum(lost), COUNT * ROUNDS))
    return result


if __name__ == "__main__":
    main()
