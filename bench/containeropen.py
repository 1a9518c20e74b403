#!/usr/bin/python3
"""containeropen benchmark: open()+close() of one file as fast as it can
(openloop PATH COUNT), in a container and on the host, in ROUNDS
interleaved rounds (common.Rounds), each running once:

- untraced;
- containeropen watching every container, every event printed to a file
  (the host loop: what an untraced host process pays for the tool);
- the floor: programs that only return, on the tool's hooks (the 4 open
  syscalls' exit tracepoints, io_uring's 2, the workload rule's raw sched ones);
- a bpftrace one-liner printing every openat of the container.

Ratios are per round (traced / untraced of the same round), medians with
95% intervals; checks: the tool within +0.05 of the floor, and not behind
bpftrace.  For the printing tool, printed + lost must account for every
open.  Writes bench/out/containeropen.json."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import (Floor, OUT, bpftrace_run, build_host_openloop, container_cgroup,  # noqa: E402
                    docker, openloop_host, openloop_result, rounds_in_container, save,
                    tool_figures, tool_run)

COUNT = int(os.environ.get("BENCH_OPENS", "50000"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "16"))
TARGET = "/tmp/bench-open-target"
HOOKS = (["syscalls:sys_exit_%s" % c for c in ("open", "openat", "openat2", "creat")]
         + ["io_uring:io_uring_submit_req", "io_uring:io_uring_complete",
            "raw:sched_process_fork", "raw:sched_process_exec", "raw:sched_process_free"])


def count_lines(path, needle):
    with open(path, "rb") as f:
        return sum(1 for line in f if needle in line)


def configs(name, exe, host_target, tally):
    def c_loop():
        return openloop_result(docker("exec", name, "openloop", TARGET, str(COUNT)), COUNT)

    def h_loop():
        return openloop_host(exe, COUNT, host_target)

    floor = Floor(HOOKS)
    bt_prog = ('tracepoint:syscalls:sys_enter_openat /cgroup == cgroupid("%s")/ '
               '{ printf("%%d %%s %%s\\n", pid, comm, str(args->filename)); }'
               % container_cgroup(name))
    out = os.path.join(OUT, "containeropen-run.out")

    def tool():
        with tool_run("containeropen", out=out) as t:
            row = {"c_tool": c_loop(), "h_tool": h_loop()}
        tally["printed"].append(count_lines(out, (" " + TARGET).encode()))
        tally["lost"].append(t.lost())
        tally["runs"].append(t)
        os.remove(out)              # MBs of lines: counted, not kept
        return row

    def with_floor():
        with floor:
            return {"c_floor": c_loop(), "h_floor": h_loop()}

    def bpftrace():
        btout = os.path.join(OUT, "bpftrace-open.out")
        with bpftrace_run(bt_prog, btout):
            row = {"c_bpftrace": c_loop()}
        os.remove(btout)
        return row

    return {"base": lambda: {"c_base": c_loop(), "h_base": h_loop()},
            "tool": tool, "floor": with_floor, "bpftrace": bpftrace}


RATIOS = [("ratio_tool", "containeropen, every event printed (container loop)", "c_tool", "c_base"),
          ("ratio_noop_floor", "floor: empty programs on its hooks (container loop)",
           "c_floor", "c_base"),
          ("ratio_bpftrace", "bpftrace one-liner, every openat printed", "c_bpftrace", "c_base"),
          ("ratio_host", "host loop, containeropen watching containers", "h_tool", "h_base"),
          ("ratio_host_noop_floor", "floor, host loop", "h_floor", "h_base")]
CHECKS = [("container loop: tool - floor <= +0.05", "ratio_tool", "ratio_noop_floor", 0.05),
          ("host loop: tool - floor <= +0.05", "ratio_host", "ratio_host_noop_floor", 0.05),
          ("container loop: tool - bpftrace <= 0", "ratio_tool", "ratio_bpftrace", 0.0)]


def main():
    os.makedirs(OUT, exist_ok=True)
    exe = build_host_openloop()
    host_target = os.path.join(OUT, "bench-open-host-target")
    open(host_target, "w").close()
    tally = {"printed": [], "lost": [], "runs": []}
    rounds = rounds_in_container("bench-open", ROUNDS,
                                 lambda name: configs(name, exe, host_target, tally),
                                 lambda name: docker("exec", name, "touch", TARGET))
    result = rounds.summary(RATIOS, CHECKS)
    expected = COUNT * ROUNDS
    result.update(tool_figures(tally["runs"]))
    result.update({
        "tool": "containeropen",
        "workload": "openloop: open+close of one file x %d, in a container and on the host"
                    % COUNT,
        "events_expected": expected, "events_printed": sum(tally["printed"]),
        "events_lost": sum(tally["lost"]),
        "events_unaccounted": expected - sum(tally["printed"]) - sum(tally["lost"]),
        "events_per_s": round(1e9 / (sorted(rounds.raw["c_tool"])[ROUNDS // 2])),
        "notes": "printed + lost = %d of %d opens" % (
            sum(tally["printed"]) + sum(tally["lost"]), expected)})
    save("containeropen", result)
    print(result["notes"])
    return result


if __name__ == "__main__":
    main()
