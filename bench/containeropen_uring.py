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
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import (Floor, OUT, docker, openloop_result, parse_kv,  # noqa: E402
                    rounds_in_container, save, tool_run)

COUNT = int(os.environ.get("BENCH_URING_OPENS", "30000"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "16"))
TARGET = "/tmp/bench-uring-target"


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


RATIOS = [("ratio_tool", "containeropen, every io_uring open printed", "tool", "untraced"),
          ("ratio_summary", "containeropen -s", "summary", "untraced"),
          ("ratio_noop_floor", "floor: empty programs on the 2 io_uring tracepoints",
           "floor", "untraced"),
          ("ratio_syscall_loop_uring_floor", "the same floor, syscall open loop",
           "sys_floor", "sys_untraced")]
CHECKS = [("tool - floor <= +0.05", "ratio_tool", "ratio_noop_floor", 0.05)]


def configs(name, tally):
    floor = Floor(["io_uring:io_uring_submit_req", "io_uring:io_uring_complete"])

    def tool():
        out = os.path.join(OUT, "containeropen-uring.out")
        with tool_run("containeropen", "-c", name, out=out) as t:
            row = {"tool": uring_loop(name)}
        tally["printed"].append(printed_lines(out))
        tally["lost"].append(t.lost())
        os.remove(out)
        return row

    def summary():
        with tool_run("containeropen", "-s", "3600", "-c", name,
                      out=os.path.join(OUT, "containeropen-uring-s.out")):
            return {"summary": uring_loop(name)}

    def with_floor():
        with floor:
            return {"floor": uring_loop(name), "sys_floor": syscall_loop(name)}

    return {"base": lambda: {"untraced": uring_loop(name), "sys_untraced": syscall_loop(name)},
            "tool": tool, "summary": summary, "floor": with_floor}


def main():
    os.makedirs(OUT, exist_ok=True)
    tally = {"printed": [], "lost": []}
    rounds = rounds_in_container("bench-uring", ROUNDS, lambda name: configs(name, tally),
                                 lambda name: docker("exec", name, "touch", TARGET))
    result = rounds.summary(RATIOS, CHECKS)
    expected = COUNT * ROUNDS
    result.update({
        "tool": "containeropen",
        "workload": "io_uring OPENAT+CLOSE of one file x %d in a container" % COUNT,
        "events_expected": expected, "events_printed": sum(tally["printed"]),
        "events_lost": sum(tally["lost"]),
        "events_unaccounted": expected - sum(tally["printed"]) - sum(tally["lost"]),
        "events_per_s": round(1e9 / sorted(rounds.raw["tool"])[ROUNDS // 2]),
        "notes": "io_uring opens: printed + lost = %d of %d" % (
            sum(tally["printed"]) + sum(tally["lost"]), expected)})
    save("containeropen_uring", result)
    return result


if __name__ == "__main__":
    main()
