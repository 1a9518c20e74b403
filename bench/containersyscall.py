#!/usr/bin/python3
"""containersyscall benchmark: open+close of one file as fast as it can
(openloop) in a container, in ROUNDS interleaved rounds (common.Rounds):
untraced; containersyscall in live mode (every syscall of every container
counted in the kernel, a refresh every second to a file); two floors, an
empty program on its hooks and one that only reads the syscall number; a
bpftrace one-liner counting per cgroup and syscall.  Checks: the tool within
+0.05 of the empty floor and not behind bpftrace."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import (Floor, OUT, bpftrace_run, docker,  # noqa: E402
                    openloop_result, rounds_in_container, save, tool_figures,
                    tool_run)

COUNT = int(os.environ.get("BENCH_OPENS", "50000"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "16"))
TARGET = "/tmp/bench-sys-target"
HOOKS = ["raw:sys_exit", "sched:sched_process_exit", "raw:cgroup_attach_task",
         "io_uring:io_uring_submit_req", "io_uring:io_uring_complete"]
NUMBER_PROGRAM = "TRACEPOINT_PROBE(raw_syscalls, sys_exit) { return args->id == -2; }"
BPFTRACE = 'tracepoint:raw_syscalls:sys_enter { @[cgroup, args->id] = count(); }'
RATIOS = [("ratio_tool", "containersyscall, live mode", "tool", "base"),
          ("ratio_noop_program", "floor: empty programs on its hooks", "floor", "base"),
          ("ratio_number_program", "floor: a program reading the syscall number only",
           "number", "base"),
          ("ratio_bpftrace", "bpftrace @[cgroup, id] = count()", "bpftrace", "base")]
CHECKS = [("tool - empty floor <= +0.05", "ratio_tool", "ratio_noop_program", 0.05),
          ("tool - bpftrace <= 0", "ratio_tool", "ratio_bpftrace", 0.0)]


def configs(name, runs):
    def loop():
        return openloop_result(docker("exec", name, "openloop", TARGET, str(COUNT)), COUNT)

    floor = Floor(HOOKS)
    number = Floor([], extra=NUMBER_PROGRAM)

    def tool():
        with tool_run("containersyscall", "1",
                      out=os.path.join(OUT, "containersyscall.out")) as t:
            ns = loop()
        runs.append(t)
        return {"tool": ns}

    def with_floor(which, key):
        def run():
            with which:
                return {key: loop()}
        return run

    def bpftrace():
        with bpftrace_run(BPFTRACE, os.path.join(OUT, "bpftrace-syscall.out")):
            return {"bpftrace": loop()}

    return {"base": lambda: {"base": loop()}, "tool": tool,
            "floor": with_floor(floor, "floor"), "number": with_floor(number, "number"),
            "bpftrace": bpftrace}


def main():
    os.makedirs(OUT, exist_ok=True)
    runs = []
    rounds = rounds_in_container("bench-sys", ROUNDS, lambda name: configs(name, runs),
                                 lambda name: docker("exec", name, "touch", TARGET))
    result = rounds.summary(RATIOS, CHECKS)
    result.update(tool_figures(runs))
    result.update({
        "tool": "containersyscall",
        "workload": "openloop %d opens of one file in a container (openat+close)" % COUNT,
        "events_per_s": round(2e9 / sorted(rounds.raw["tool"])[ROUNDS // 2]),
        "events_printed": 0, "events_lost": 0,
        "counters_dropped": any("not counted" in t.stderr for t in runs),
        "notes": "live mode: every syscall of every container counted in the kernel"})
    save("containersyscall", result)
    return result


if __name__ == "__main__":
    main()
