#!/usr/bin/python3
"""containernet overhead: TCP connect/accept/close loops in one container.

A container runs tcpserver and tcpclient over loopback (127.0.0.1) for a
fixed number of connections; the client's own time per connection (its
loop's, without docker exec's start) is measured in ROUNDS
interleaved rounds (common.Rounds): untraced, with containernet printing
every connection (stdout to a file), and with the floor (programs that only return, on its hooks). Events the tool lost
are read from its stderr.

Run as root: /usr/bin/python3 bench/containernet.py [--count N] [--rounds R]
Writes bench/out/containernet.json.
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import (Floor, OUT, docker, parse_kv, rounds_in_container,  # noqa: E402
                    save, tool_figures, tool_run)

PORT = 7700


def wait_for(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.02)
    raise SystemExit("timed out waiting for %s" % what)


def one_run(name, count, port):
    """Start a server for COUNT connections, run the client loop; the
    client's own ns per connection (docker exec's start is not in it)."""
    log = "/tmp/server-%d.log" % port
    docker("exec", "-d", name, "sh", "-c", "tcpserver %d %d > %s" % (port, count, log))
    wait_for(lambda: "listening" in docker("exec", name, "cat", log, check=False),
             30, "tcpserver")
    out = docker("exec", name, "tcpclient", "127.0.0.1", str(port), str(count))
    if "connected=%d " % count not in out:
        raise SystemExit("client: %s" % out)
    return parse_kv(out)["ns_per_connection"]


HOOKS = ["sock:inet_sock_set_state", "tcp:tcp_receive_reset", "syscalls:sys_exit_accept4",
         "syscalls:sys_exit_accept", "io_uring:io_uring_submit_req", "io_uring:io_uring_complete"]
RATIOS = [("ratio_tool", "containernet, every connection printed", "tool", "base"),
          ("ratio_noop_floor", "floor: empty programs on its hooks", "floor", "base")]
CHECKS = [("tool - floor <= +0.05", "ratio_tool", "ratio_noop_floor", 0.05)]



def configs(name, count, tally):
    port = [PORT + 1]
    floor = Floor(HOOKS)

    def loop():
        port[0] += 1
        return one_run(name, count, port[0])

    def tool(label, *targs):
        def run():
            with tool_run("containernet", *targs,
                          out=os.path.join(OUT, "containernet-%s.out" % label)) as t:
                seconds = loop()
            tally["lines"][label] += t.lines() - 1
            tally["lost"] += t.lost()
            tally["runs"].append(t)
            return {label: seconds}
        return run

    def with_floor():
        with floor:
            return {"floor": loop()}

    return {"base": lambda: {"base": loop()}, "tool": tool("tool"), "floor": with_floor}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--count", type=int, default=int(os.environ.get("BENCH_CONNECTIONS", "3000")),
                   help="connections per run")
    p.add_argument("--rounds", type=int, default=int(os.environ.get("BENCH_ROUNDS", "16")))
    args = p.parse_args([] if argv is None else argv)   # main(): the defaults
    if os.geteuid() != 0:
        raise SystemExit("run as root")
    tally = {"lines": {"tool": 0}, "lost": 0, "runs": []}

    def prepare(name):
        one_run(name, 200, PORT)            # warm up
    rounds = rounds_in_container("ctbench", args.rounds,
                                 lambda name: configs(name, args.count, tally), prepare)
    result = rounds.summary(RATIOS, CHECKS)
    result.update(tool_figures(tally["runs"]))
    result.update({
        "tool": "containernet",
        "workload": "TCP connect/accept/close loop over loopback in one container "
                    "(tcpserver + tcpclient), %d connections" % args.count,
        "events_printed": tally["lines"]["tool"], "events_lost": tally["lost"],
        "events_expected": 4 * args.count * args.rounds,
        "events_per_s": round(4e9 / sorted(rounds.raw["tool"])[args.rounds // 2]),
        "notes": "4 events per connection (connect, accept, two closes) printed to a "
                 "file; the client's own ns per connection"})
    save("containernet", result)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
