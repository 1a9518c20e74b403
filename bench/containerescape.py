#!/usr/bin/python3
"""containerescape benchmark: open+close of one file as fast as it can
(openloop, read-only opens: no finding, dropped on their flags in the
kernel), in a container and on the host, in ROUNDS interleaved rounds
(common.Rounds): untraced; containerescape watching; with BENCH_KILL=1,
containerescape --kill all; the floor, programs that only return on its hooks
(raw_syscalls:sys_exit, sched:sched_process_exec, the workload rule's raw
sched tracepoints, io_uring's 2).  Checks: within +0.05 of the floor, in the
container and on the host, watching and with --kill all."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import (Floor, OUT, build_host_openloop, docker,  # noqa: E402
                    openloop_host, openloop_result, rounds_in_container,
                    save, tool_figures, tool_run)

COUNT = int(os.environ.get("BENCH_OPENS", "50000"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "16"))
# --kill all in the rounds too (BENCH_KILL=1): a tool start more per round.
KILL = os.environ.get("BENCH_KILL") == "1"
TARGET = "/tmp/bench-esc-target"
# As the tool attaches: its raw sys_exit program serves io_uring_complete too.
HOOKS = ["raw:sys_exit", "sched:sched_process_exec", "raw:sched_process_fork",
         "raw:sched_process_exec", "raw:sched_process_free",
         "io_uring:io_uring_submit_req", "raw:io_uring_complete"]
RATIOS = [("ratio_tool", "containerescape watching (container loop)", "c_tool", "c_base"),
          ("ratio_kill", "containerescape --kill all (container loop)", "c_kill", "c_base"),
          ("ratio_noop_floor", "floor: empty programs on its hooks (container loop)",
           "c_floor", "c_base"),
          ("ratio_host", "containerescape watching (host loop)", "h_tool", "h_base"),
          ("ratio_host_kill", "containerescape --kill all (host loop)", "h_kill", "h_base"),
          ("ratio_host_noop_floor", "floor (host loop)", "h_floor", "h_base")]
CHECKS = [("container loop: tool - floor <= +0.05", "ratio_tool", "ratio_noop_floor", 0.05),
          ("container loop: --kill all - floor <= +0.05", "ratio_kill", "ratio_noop_floor",
           0.05),
          ("host loop: tool - floor <= +0.05", "ratio_host", "ratio_host_noop_floor", 0.05),
          ("host loop: --kill all - floor <= +0.05", "ratio_host_kill",
           "ratio_host_noop_floor", 0.05)]


def configs(name, exe, host_target, runs):
    def both(suffix):
        c = openloop_result(docker("exec", name, "openloop", TARGET, str(COUNT)), COUNT)
        return {"c_" + suffix: c, "h_" + suffix: openloop_host(exe, COUNT, host_target)}

    floor = Floor(HOOKS)

    def tool(*args, suffix):
        def run():
            with tool_run("containerescape", *args,
                          out=os.path.join(OUT, "containerescape.out")) as t:
                row = both(suffix)
            runs.append(t)
            return row
        return run

    def with_floor():
        with floor:
            return both("floor")

    configs = {"base": lambda: both("base"), "tool": tool(suffix="tool"), "floor": with_floor}
    if KILL:
        configs["kill"] = tool("--kill", "all", suffix="kill")
    return configs


def main():
    os.makedirs(OUT, exist_ok=True)
    exe = build_host_openloop()
    host_target = os.path.join(OUT, "bench-esc-host-target")
    open(host_target, "w").close()
    runs = []
    rounds = rounds_in_container("bench-esc", ROUNDS,
                                 lambda name: configs(name, exe, host_target, runs),
                                 lambda name: docker("exec", name, "touch", TARGET))
    if KILL:
        result = rounds.summary(RATIOS, CHECKS)
    else:
        result = rounds.summary([r for r in RATIOS if "kill" not in r[0]],
                                [c for c in CHECKS if "kill" not in c[0]])
    result.update(tool_figures(runs))
    result.update({
        "tool": "containerescape",
        "workload": "openloop %d read-only opens of one file, in a container and on the "
                    "host" % COUNT,
        "events_per_s": round(2e9 / sorted(rounds.raw["c_tool"])[ROUNDS // 2]),
        "events_printed": 0, "events_lost": sum(t.lost() for t in runs),
        "notes": "no finding: the loop's opens are read-only, dropped on their flags "
                 "in the kernel"})
    save("containerescape", result)
    return result


if __name__ == "__main__":
    main()
